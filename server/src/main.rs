//! `hakanai-server`: parse flags, set up JSON logging and OpenTelemetry export, run until SIGTERM.

use std::time::Duration;

use clap::Parser;

use hakanai_server::telemetry::{
    get_subscriber_with_otel, init_subscriber, otel_from_env, stdout_log_writer,
};
use hakanai_server::{reset_tokens, Application, Config};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    // Built before the subscriber so that the log and span bridges can join it; an error is
    // reported once the JSON log is up.
    let otel = otel_from_env();
    let (log_writer, _log_guard) = stdout_log_writer();
    init_subscriber(get_subscriber_with_otel(
        "info",
        log_writer,
        otel.as_ref().ok().and_then(Option::as_ref),
    ));
    let otel = match otel {
        Ok(otel) => otel,
        Err(e) => {
            tracing::error!(error = %e, "OpenTelemetry configuration refused");
            eprintln!("hakanai-server: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match &otel {
        Some(o) => tracing::info!(
            traces = ?o.config.traces,
            metrics = ?o.config.metrics,
            logs = ?o.config.logs,
            service_name = %o.config.service_name,
            "OpenTelemetry export enabled"
        ),
        None => tracing::info!(
            "OpenTelemetry export off: OTEL_EXPORTER_OTLP_ENDPOINT unset or OTEL_SDK_DISABLED=true"
        ),
    }
    let gauge_refresh = otel.as_ref().and_then(|o| o.metric_interval());
    if gauge_refresh.is_some() {
        hakanai_server::metrics::record_histograms_in_otel();
    }
    let result = run(config, gauge_refresh).await;
    let code = match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "hakanai-server failed");
            eprintln!("hakanai-server: {e}");
            std::process::ExitCode::FAILURE
        }
    };
    if let Some(otel) = otel {
        // The exporters need the runtime's workers while flushing, so flush off them.
        let _ = tokio::task::spawn_blocking(move || otel.shutdown()).await;
    }
    code
}

async fn run(
    config: Config,
    gauge_refresh: Option<Duration>,
) -> Result<(), hakanai_server::StartupError> {
    if config.reset_admin_token || config.reset_user_tokens {
        let tokens = reset_tokens(&config).await?;
        print_tokens(&tokens);
        return Ok(());
    }
    let mut app = Application::build(config).await?;
    if let Some(interval) = gauge_refresh {
        app.refresh_gauges_every(interval);
    }
    print_tokens(&app.new_tokens);
    app.run_until_stopped().await?;
    Ok(())
}

/// Tokens go to stderr, outside the JSON log stream, and are shown this once only.
fn print_tokens(tokens: &hakanai_server::NewTokens) {
    if let Some(t) = &tokens.admin {
        eprintln!("Admin token (shown once, store it now): {t}");
    }
    if let Some(t) = &tokens.user {
        eprintln!("User token (shown once, store it now): {t}");
    }
}

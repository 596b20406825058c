//! `hakanai-server`: parse flags, set up JSON logging and OpenTelemetry export, run until SIGTERM.

use std::time::Duration;

use clap::Parser;

use hakanai_server::telemetry::{
    get_subscriber_with_otel, init_subscriber, otel_from_env, stdout_log_writer,
};
use hakanai_server::{reset_tokens, Application, Config, TokenDestination};

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
    // Never the log stream (stderr ends up in journald and container logs): the terminal when
    // a person watches, else a 0600 file.
    let tokens_to = TokenDestination::choose(config.token_file.as_deref());
    if config.reset_admin_token || config.reset_user_tokens {
        reset_tokens(&config, &tokens_to).await?;
        return Ok(());
    }
    let mut app = Application::build_with(config, &tokens_to).await?;
    if let Some(interval) = gauge_refresh {
        app.refresh_gauges_every(interval);
    }
    app.run_until_stopped().await?;
    Ok(())
}

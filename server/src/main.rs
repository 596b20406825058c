//! `hakanai-server`: parse flags, set up JSON logging, run until SIGTERM.

use clap::Parser;

use hakanai_server::telemetry::{get_subscriber, init_subscriber};
use hakanai_server::{reset_tokens, Application, Config};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    init_subscriber(get_subscriber("info", std::io::stdout));
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "hakanai-server failed");
            eprintln!("hakanai-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), hakanai_server::StartupError> {
    if config.reset_admin_token || config.reset_user_tokens {
        let tokens = reset_tokens(&config).await?;
        print_tokens(&tokens);
        return Ok(());
    }
    let app = Application::build(config).await?;
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

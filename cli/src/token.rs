//! `hakanai token`: user tokens through the admin API.

use std::io::IsTerminal;
use std::time::{Duration, UNIX_EPOCH};

use crate::cli::{Cli, TokenArgs, TokenCommand, TokenCreateArgs};
use crate::client::Api;
use crate::error::CliError;
use crate::{passphrase, terminal};

pub fn run(global: &Cli, args: &TokenArgs) -> Result<(), CliError> {
    let api = Api::new(&global.server)?;
    match &args.command {
        None => create(&api, &args.create),
        Some(TokenCommand::Create(create_args)) => create(&api, create_args),
        Some(TokenCommand::List) => list(&api),
        Some(TokenCommand::Revoke { id }) => {
            api.revoke_token(&admin_token()?, id)?;
            eprintln!("revoked token {id}");
            Ok(())
        }
    }
}

fn admin_token() -> Result<String, CliError> {
    if let Ok(token) = std::env::var("HAKANAI_ADMIN_TOKEN") {
        let token = token.trim().to_string();
        if !token.is_empty() {
            return Ok(token);
        }
    }
    if passphrase::can_prompt() {
        let token = rpassword::prompt_password("Admin token: ")
            .map_err(|e| CliError::io("cannot read the admin token from the terminal", e))?;
        return Ok(token.trim().to_string());
    }
    Err(CliError::usage(
        "the admin token is required",
        "set HAKANAI_ADMIN_TOKEN, or run the command in a terminal to be asked for it",
    ))
}

fn create(api: &Api, args: &TokenCreateArgs) -> Result<(), CliError> {
    let admin = admin_token()?;
    let created = api.create_token(&admin, args.limit.as_deref(), args.ttl.0, args.one_time)?;
    println!("{}", created.token);
    if std::io::stderr().is_terminal() {
        eprintln!(
            "token id {} (for `hakanai token revoke`); the token is shown only once",
            created.id
        );
    } else {
        eprintln!("token id {}", created.id);
    }
    Ok(())
}

fn list(api: &Api) -> Result<(), CliError> {
    let tokens = api.list_tokens(&admin_token()?)?;
    println!(
        "{:<24} {:>12} {:<8} {:<20} {:<20}",
        "ID", "LIMIT", "ONE-TIME", "CREATED", "EXPIRES"
    );
    for t in tokens {
        println!(
            "{:<24} {:>12} {:<8} {:<20} {:<20}",
            // The server's text: no escape sequences onto a terminal.
            terminal::for_stdout(&t.id),
            t.upload_size_limit,
            if t.one_time { "yes" } else { "no" },
            time(t.created_at),
            t.expires_at.map_or_else(|| "never".to_string(), time),
        );
    }
    Ok(())
}

fn time(unix: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix)).to_string()
}

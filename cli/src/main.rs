//! `hakanai`: the command-line client. A thin layer over `crypto_core` (all cryptography,
//! links and metadata) and the server's HTTP API.

#![forbid(unsafe_code)]

mod bundle_io;
mod cli;
mod client;
mod error;
mod files;
mod get;
mod interrupt;
mod names;
mod passphrase;
mod progress;
mod send;
mod terminal;
mod token;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{exit, CliError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Send(args) => send::run(&cli, args),
        Command::Get(args) => get::run(&cli, args),
        Command::Token(args) => token::run(&cli, args),
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            // Messages can carry a server's text: no escape sequences reach the terminal.
            eprintln!("{}", terminal::for_stderr(&format!("error: {e}")));
            if let Some(hint) = e.hint() {
                eprintln!("{}", terminal::for_stderr(&format!("hint: {hint}")));
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// The user token for uploads: `--token-file`, else `HAKANAI_TOKEN`, else none (anonymous).
fn user_token(cli: &Cli) -> Result<Option<String>, CliError> {
    if let Some(path) = &cli.token_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(CliError::usage(
                format!("{} is empty", path.display()),
                "put the token on the file's first line",
            ));
        }
        return Ok(Some(token.to_string()));
    }
    Ok(std::env::var("HAKANAI_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

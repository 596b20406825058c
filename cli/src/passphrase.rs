//! Passphrases from the command line or the terminal.

use std::io::IsTerminal;

use zeroize::Zeroizing;

use crate::error::CliError;

/// A passphrase, wiped from memory when dropped.
pub type Passphrase = Zeroizing<String>;

/// Whether a prompt can be shown (both stdin and stderr are a terminal).
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Reads a passphrase from the terminal without echo.
pub fn prompt(label: &str) -> Result<Passphrase, CliError> {
    let p = Zeroizing::new(
        rpassword::prompt_password(label)
            .map_err(|e| CliError::io("cannot read a passphrase from the terminal", e))?,
    );
    if p.is_empty() {
        return Err(crypto_core::Error::EmptyPassphrase.into());
    }
    Ok(p)
}

/// The sender's passphrase: given, asked twice, or none.
pub fn for_send(given: Option<&str>, ask: bool) -> Result<Option<Passphrase>, CliError> {
    if let Some(p) = given {
        return Ok(Some(Zeroizing::new(p.to_string())));
    }
    if !ask {
        return Ok(None);
    }
    let first = prompt("Passphrase: ")?;
    let second = prompt("Repeat the passphrase: ")?;
    if first != second {
        return Err(CliError::usage(
            "the passphrases do not match",
            "run the command again",
        ));
    }
    Ok(Some(first))
}

/// The reader's passphrase: given, asked once, or none.
pub fn for_get(given: Option<&str>, ask: bool) -> Result<Option<Passphrase>, CliError> {
    match (given, ask) {
        (Some(p), _) => Ok(Some(Zeroizing::new(p.to_string()))),
        (None, true) => prompt("Passphrase: ").map(Some),
        (None, false) => Ok(None),
    }
}

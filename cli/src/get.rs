//! `hakanai get`: download, decrypt while downloading, keep the output only if it is complete.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crypto_core::io::{crypto_error, DecryptingReader};
use crypto_core::{parse_link, Argon2Params, KeySchedule, Kind, Metadata, SecretKey};
use indicatif::ProgressBar;
use reqwest::header::CONTENT_LENGTH;
use tempfile::NamedTempFile;

use crate::bundle_io::Extractor;
use crate::cli::{Cli, GetArgs};
use crate::client::Api;
use crate::error::CliError;
use crate::files::{persist, temp_file, Persisted, Spool};
use crate::{interrupt, passphrase, progress};

/// Envelope bytes read per step.
const CHUNK: usize = 256 * 1024;

pub fn run(global: &Cli, args: &GetArgs) -> Result<(), CliError> {
    let parsed = parse_link(&args.url)?;
    let id = parsed.require_id()?.to_string();
    let key = match (&args.key, parsed.key) {
        (Some(given), Some(in_link)) => {
            let given = SecretKey::parse(given)?;
            if given != in_link {
                return Err(CliError::usage(
                    "the link already contains a different key than --key",
                    "omit --key for links that contain '#'",
                ));
            }
            given
        }
        (Some(given), None) => SecretKey::parse(given)?,
        (None, Some(in_link)) => in_link,
        (None, None) => return Err(crypto_core::Error::MissingKey.into()),
    };
    let base = parsed.base.unwrap_or_else(|| global.server.clone());
    let dir = args
        .output_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    if !args.to_stdout && !dir.is_dir() {
        return Err(CliError::usage(
            format!("{} is not a directory", dir.display()),
            "create it first, or choose another --output-dir",
        ));
    }

    interrupt::install();
    let mut pass = passphrase::for_get(args.passphrase.as_deref(), args.ask_passphrase)?;
    let api = Api::new(&base)?;
    let (keys, response) = loop {
        let keys = match &pass {
            Some(p) => {
                KeySchedule::with_passphrase(key.clone(), p.as_bytes(), Argon2Params::DEFAULT)?
            }
            None => KeySchedule::new(key.clone()),
        };
        let verifier = keys.verifier().map(|v| v.to_hex());
        match api.download(&id, verifier.as_deref()) {
            Ok(response) => break (keys, response),
            // Asking without a passphrase costs no attempt: prompt once if we can.
            Err(CliError::Api(e))
                if e.status == 401
                    && e.code == "passphrase_required"
                    && pass.is_none()
                    && passphrase::can_prompt() =>
            {
                pass = Some(passphrase::prompt("Passphrase: ")?);
            }
            Err(e) => return Err(e),
        }
    };
    let total = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    decrypt_to_output(response, total, keys, args, &dir)
}

fn decrypt_to_output(
    response: impl Read,
    total: Option<u64>,
    keys: KeySchedule,
    args: &GetArgs,
    dir: &Path,
) -> Result<(), CliError> {
    let bar = progress::bar(total, "downloading");
    let result = decrypt_with_progress(response, &bar, keys, args, dir);
    bar.finish_and_clear();
    result
}

fn decrypt_with_progress(
    response: impl Read,
    bar: &ProgressBar,
    keys: KeySchedule,
    args: &GetArgs,
    dir: &Path,
) -> Result<(), CliError> {
    // A passphrase given for a secret without one: the key alone opens it.
    let mut reader =
        DecryptingReader::new(bar.wrap_read(response), keys, CHUNK).allow_unneeded_passphrase();
    let metadata = reader.metadata().map_err(download_error)?.clone();
    if reader.passphrase_ignored() {
        eprintln!("note: this secret has no passphrase; the key alone opens it");
    }
    let mut sink = Sink::open(&metadata, args, dir)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => sink.write(&buf[..n])?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(download_error(e)),
        }
    }
    // Only now is the secret known to be complete and authentic.
    sink.commit(args.force)
}

/// A failure of the decrypting reader: a crypto error, or the download's own.
fn download_error(e: std::io::Error) -> CliError {
    match crypto_error(&e) {
        Some(crypto) => CliError::Crypto(crypto.clone()),
        None => CliError::Download(e),
    }
}

/// Where decrypted content goes until it is known to be complete.
enum Sink {
    Stdout(Spool),
    File {
        dir: PathBuf,
        name: String,
        temp: NamedTempFile,
    },
    Bundle(Extractor),
}

impl Sink {
    fn open(metadata: &Metadata, args: &GetArgs, dir: &Path) -> Result<Sink, CliError> {
        let to_stdout =
            args.to_stdout || (metadata.kind == Kind::Text && args.output_dir.is_none());
        if to_stdout {
            return Ok(Sink::Stdout(Spool::Memory(Vec::new())));
        }
        if metadata.kind == Kind::Bundle {
            return Ok(Sink::Bundle(Extractor::new(dir)));
        }
        Ok(Sink::File {
            dir: dir.to_path_buf(),
            name: metadata.safe_file_name(),
            temp: temp_file(dir)?,
        })
    }

    fn write(&mut self, data: &[u8]) -> Result<(), CliError> {
        if data.is_empty() {
            return Ok(());
        }
        match self {
            Sink::Stdout(spool) => spool.write(data),
            Sink::File { temp, .. } => temp
                .write_all(data)
                .map_err(|e| CliError::io("writing a temporary file", e)),
            Sink::Bundle(extractor) => extractor.write(data),
        }
    }

    fn commit(self, force: bool) -> Result<(), CliError> {
        match self {
            Sink::Stdout(spool) => spool.print(),
            Sink::File { dir, name, temp } => {
                let mut outcome = Persisted::default();
                persist(temp, &dir, &name, force, &mut outcome)?;
                outcome.finish()
            }
            Sink::Bundle(extractor) => extractor.commit(force),
        }
    }
}

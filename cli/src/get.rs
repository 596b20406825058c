//! `hakanai get`: download, decrypt while downloading, keep the output only if it is complete.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use crypto_core::hakanai_v3;
use crypto_core::io::{crypto_error, DecryptingReader};
use crypto_core::{parse_key, parse_link, Argon2Params, KeySchedule, Kind, Metadata};
use indicatif::ProgressBar;
use reqwest::header::CONTENT_LENGTH;
use tempfile::NamedTempFile;
use zeroize::Zeroizing;

use crate::bundle_io::Extractor;
use crate::cli::{Cli, GetArgs};
use crate::client::Api;
use crate::error::CliError;
use crate::files::{persist, temp_file, Persisted, Spool};
use crate::{interrupt, passphrase, progress};

/// Envelope bytes read per step.
const CHUNK: usize = 256 * 1024;

/// The longest link read from stdin: far more than any link, far less than a mistaken file.
const MAX_LINK_INPUT: u64 = 64 * 1024;

pub fn run(global: &Cli, args: &GetArgs) -> Result<(), CliError> {
    let link = link_text(args.url.as_deref())?;
    let parsed = parse_link(&link)?;
    let id = parsed.require_id()?.to_string();
    let in_link = parsed.key.map(|k| (k, parsed.content_hash));
    let (key, content_hash) = match (&args.key, in_link) {
        (Some(given), Some(in_link)) => {
            let given = parse_key(given)?;
            if given.0 != in_link.0 {
                return Err(CliError::usage(
                    "the link already contains a different key than --key",
                    "omit --key for links that contain '#'",
                ));
            }
            (given.0, given.1.or(in_link.1))
        }
        (Some(given), None) => parse_key(given)?,
        (None, Some(in_link)) => in_link,
        (None, None) if args.ask_key && passphrase::can_prompt() => {
            let typed = passphrase::prompt("Key: ")?;
            parse_key(&typed)?
        }
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
        let keys = match (content_hash, &pass) {
            (Some(hash), pass) => Keys::HakanaiV3(hakanai_v3::Keys::new(
                key.clone(),
                hash,
                pass.as_ref().map(|p| p.as_bytes()),
            )?),
            (None, Some(p)) => Keys::Envelope(KeySchedule::with_passphrase(
                key.clone(),
                p.as_bytes(),
                Argon2Params::DEFAULT,
            )?),
            (None, None) => Keys::Envelope(KeySchedule::new(key.clone())),
        };
        let verifier = match &keys {
            Keys::Envelope(k) => k.verifier().map(|v| v.to_hex()),
            Keys::HakanaiV3(k) => k.passphrase_header().map(str::to_owned),
        };
        // Hakanai v3 secrets have no read token.
        let read_token = match &keys {
            Keys::Envelope(k) => Some(k.read_token().to_hex()),
            Keys::HakanaiV3(_) => None,
        };
        match api.download(&id, verifier.as_deref(), read_token.as_deref()) {
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

/// The link: the argument (or HAKANAI_LINK, which clap puts there), else stdin for `-` or
/// when no link is given and stdin is not a terminal. Only its first non-empty line counts.
fn link_text(given: Option<&str>) -> Result<Zeroizing<String>, CliError> {
    let stdin = std::io::stdin();
    match given {
        Some(link) if link != "-" => return Ok(Zeroizing::new(link.to_string())),
        None if stdin.is_terminal() => {
            return Err(CliError::usage(
                "no link given",
                "pass the link as an argument, on stdin (`hakanai get - < file`) or in \
                 HAKANAI_LINK",
            ))
        }
        _ => {}
    }
    let mut input = Zeroizing::new(String::new());
    stdin
        .lock()
        .take(MAX_LINK_INPUT)
        .read_to_string(&mut input)
        .map_err(|e| CliError::io("reading the link from stdin", e))?;
    match input.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => Ok(Zeroizing::new(line.to_string())),
        None => Err(CliError::usage(
            "no link on stdin",
            "pipe the link into `hakanai get -`, or pass it as an argument or in HAKANAI_LINK",
        )),
    }
}

/// What opens the secret: an envelope of ours, or a Hakanai v3 secret (its link has `:hash`).
enum Keys {
    Envelope(KeySchedule),
    HakanaiV3(hakanai_v3::Keys),
}

fn decrypt_to_output(
    response: impl Read,
    total: Option<u64>,
    keys: Keys,
    args: &GetArgs,
    dir: &Path,
) -> Result<(), CliError> {
    let bar = progress::bar(total, "downloading");
    let result = match keys {
        Keys::Envelope(keys) => decrypt_with_progress(response, &bar, keys, args, dir),
        Keys::HakanaiV3(keys) => open_hakanai_v3(response, &bar, &keys, args, dir),
    };
    bar.finish_and_clear();
    result
}

/// A Hakanai v3 secret is one AES-GCM message: read it whole, then open it.
fn open_hakanai_v3(
    response: impl Read,
    bar: &ProgressBar,
    keys: &hakanai_v3::Keys,
    args: &GetArgs,
    dir: &Path,
) -> Result<(), CliError> {
    let mut body = zeroize::Zeroizing::new(Vec::new());
    bar.wrap_read(response)
        .read_to_end(&mut body)
        .map_err(CliError::Download)?;
    let (metadata, content) = keys.open(&body)?;
    let content = zeroize::Zeroizing::new(content);
    let mut sink = Sink::open(&metadata, args, dir)?;
    sink.write(&content)?;
    sink.commit(args.force)
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
    /// `--extract` of a ZIP (Hakanai v3's form for several files): unpacked once complete.
    Zip {
        dir: PathBuf,
        data: Vec<u8>,
    },
}

fn is_zip(metadata: &Metadata, name: &str) -> bool {
    metadata.media_type.as_deref() == Some("application/zip")
        || name.to_ascii_lowercase().ends_with(".zip")
}

impl Sink {
    fn open(metadata: &Metadata, args: &GetArgs, dir: &Path) -> Result<Sink, CliError> {
        let to_stdout = args.to_stdout
            || (metadata.kind == Kind::Text
                && args.output_dir.is_none()
                && args.filename.is_none());
        if to_stdout {
            return Ok(Sink::Stdout(Spool::Memory(Vec::new())));
        }
        if metadata.kind == Kind::Bundle && args.filename.is_none() {
            return Ok(Sink::Bundle(Extractor::new(dir)));
        }
        let name = match &args.filename {
            Some(name) => crypto_core::sanitize_file_name(name),
            None => metadata.safe_file_name(),
        };
        if args.extract && is_zip(metadata, &name) {
            return Ok(Sink::Zip {
                dir: dir.to_path_buf(),
                data: Vec::new(),
            });
        }
        Ok(Sink::File {
            dir: dir.to_path_buf(),
            name,
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
            Sink::Zip { data: buf, .. } => {
                buf.extend_from_slice(data);
                Ok(())
            }
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
            Sink::Zip { dir, data } => crate::bundle_io::extract_zip(&data, &dir, force),
        }
    }
}

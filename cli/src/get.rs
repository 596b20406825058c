//! `hakanai get`: download, decrypt while downloading, keep the output only if it is complete.

use std::fs::File;
use std::io::{IsTerminal, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crypto_core::{
    format, parse_link, run_ready, Argon2Params, Decryptor, KeySchedule, Kind, Metadata, Pure,
    SecretKey,
};
use indicatif::ProgressBar;
use reqwest::header::CONTENT_LENGTH;
use tempfile::NamedTempFile;

use crate::bundle_io::Extractor;
use crate::cli::{Cli, GetArgs};
use crate::client::Api;
use crate::error::CliError;
use crate::{interrupt, passphrase, progress};

/// Envelope bytes read per step.
const CHUNK: usize = 256 * 1024;
/// Output for stdout is held in memory up to this size, then in an unlinked temporary file.
const SPOOL_IN_MEMORY: usize = 8 * 1024 * 1024;

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
    mut response: impl Read,
    bar: &ProgressBar,
    keys: KeySchedule,
    args: &GetArgs,
    dir: &Path,
) -> Result<(), CliError> {
    // A passphrase given for a secret without one: the key alone opens it. Keep the bytes
    // that may hold the header until it has been read, to start over without the passphrase.
    let mut fallback = keys.argon2_params().map(|_| keys.key().clone());
    let mut prefix = Vec::new();
    let mut decryptor = Decryptor::new(Pure, keys);
    let mut sink: Option<Sink> = None;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CliError::Download(e)),
        };
        bar.inc(n as u64);
        let plain = match run_ready(decryptor.push(&buf[..n])) {
            Err(crypto_core::Error::PassphraseNotExpected) if fallback.is_some() => {
                eprintln!("note: this secret has no passphrase; the key alone opens it");
                let key = fallback
                    .take()
                    .ok_or(crypto_core::Error::PassphraseNotExpected)?;
                decryptor = Decryptor::new(Pure, KeySchedule::new(key));
                prefix.extend_from_slice(&buf[..n]);
                run_ready(decryptor.push(&std::mem::take(&mut prefix)))?
            }
            result => result?,
        };
        if fallback.is_some() {
            if prefix.len() < format::MAX_HEADER_LEN {
                prefix.extend_from_slice(&buf[..n]);
            } else {
                // The header has been read: the passphrase was right to give.
                fallback = None;
                prefix = Vec::new();
            }
        }
        if sink.is_none() {
            if let Some(metadata) = decryptor.metadata() {
                sink = Some(Sink::open(metadata, args, dir)?);
            }
        }
        if let Some(sink) = sink.as_mut() {
            sink.write(&plain)?;
        }
    }
    let last = run_ready(decryptor.finish())?;
    let mut sink = match sink {
        Some(sink) => sink,
        None => {
            let metadata = decryptor.metadata().ok_or(crypto_core::Error::Truncated)?;
            Sink::open(metadata, args, dir)?
        }
    };
    sink.write(&last)?;
    // Only now is the secret known to be complete and authentic.
    sink.commit(args.force)
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

/// Creates a private temporary file in `dir`, deleted unless persisted.
pub(crate) fn temp_file(dir: &Path) -> Result<NamedTempFile, CliError> {
    let temp = tempfile::Builder::new()
        .prefix(".hakanai-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| CliError::io(format!("cannot create a file in {}", dir.display()), e))?;
    interrupt::register(temp.path());
    Ok(temp)
}

/// The results of saving files, so that one conflict does not lose the others.
#[derive(Default)]
pub(crate) struct Persisted {
    conflict: Option<(PathBuf, PathBuf)>,
}

impl Persisted {
    pub(crate) fn finish(self) -> Result<(), CliError> {
        match self.conflict {
            Some((path, kept)) => Err(CliError::Exists { path, kept }),
            None => Ok(()),
        }
    }
}

/// Moves `temp` to `dir/name`; an existing file is replaced only with `force`, otherwise the
/// content is kept under the first free `name.N` and the conflict recorded.
pub(crate) fn persist(
    temp: NamedTempFile,
    dir: &Path,
    name: &str,
    force: bool,
    outcome: &mut Persisted,
) -> Result<(), CliError> {
    let target = dir.join(name);
    let saving =
        |e: std::io::Error, p: &Path| CliError::io(format!("cannot save {}", p.display()), e);
    if force {
        temp.persist(&target)
            .map_err(|e| saving(e.error, &target))?;
        eprintln!("saved {}", target.display());
        return Ok(());
    }
    let mut temp = match temp.persist_noclobber(&target) {
        Ok(_) => {
            eprintln!("saved {}", target.display());
            return Ok(());
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => e.file,
        Err(e) => return Err(saving(e.error, &target)),
    };
    for n in 1..1000 {
        let kept = dir.join(format!("{name}.{n}"));
        match temp.persist_noclobber(&kept) {
            Ok(_) => {
                outcome.conflict.get_or_insert((target, kept));
                return Ok(());
            }
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => temp = e.file,
            Err(e) => return Err(saving(e.error, &kept)),
        }
    }
    let kept = temp
        .into_temp_path()
        .keep()
        .map_err(|e| saving(e.error, dir))?;
    outcome.conflict.get_or_insert((target, kept));
    Ok(())
}

/// Output for stdout, held back until the secret is complete.
enum Spool {
    Memory(Vec<u8>),
    File(File),
}

impl Spool {
    fn write(&mut self, data: &[u8]) -> Result<(), CliError> {
        if let Spool::Memory(buf) = self {
            if buf.len() + data.len() <= SPOOL_IN_MEMORY {
                buf.extend_from_slice(data);
                return Ok(());
            }
            let mut file =
                tempfile::tempfile().map_err(|e| CliError::io("creating a temporary file", e))?;
            file.write_all(buf)
                .map_err(|e| CliError::io("writing a temporary file", e))?;
            *self = Spool::File(file);
        }
        match self {
            Spool::File(file) => file
                .write_all(data)
                .map_err(|e| CliError::io("writing a temporary file", e)),
            Spool::Memory(_) => unreachable!("switched to a file above"),
        }
    }

    fn print(self) -> Result<(), CliError> {
        let mut stdout = std::io::stdout().lock();
        let result = match self {
            Spool::Memory(buf) => stdout.write_all(&buf),
            Spool::File(mut file) => file
                .rewind()
                .and_then(|()| std::io::copy(&mut file, &mut stdout).map(drop)),
        };
        result
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::io("writing to stdout", e))?;
        if std::io::stdout().is_terminal() {
            // Keep the shell prompt off the secret's last line.
            eprintln!();
        }
        Ok(())
    }
}

//! `hakanai send`: read the secret, encrypt it while uploading, print the link.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crypto_core::io::{crypto_error, EncryptingReader};
use crypto_core::{
    build_link, run_ready, EncryptOptions, Encryptor, KeySchedule, Kind, Metadata, Pure, SecretKey,
};
use qrcode::render::unicode;
use qrcode::QrCode;

use crate::cli::{Cli, SendArgs};
use crate::client::{Api, UploadOptions};
use crate::error::CliError;
use crate::files::{file_name, open_file};
use crate::{bundle_io, passphrase, progress, user_token};

/// Plaintext read per step; the encryptor holds at most about two segments on top.
const CHUNK: usize = 256 * 1024;

/// What is being sent: its metadata and a reader over its content.
struct Source {
    metadata: Metadata,
    reader: Box<dyn Read + Send>,
}

pub fn run(global: &Cli, args: &SendArgs) -> Result<(), CliError> {
    let token = user_token(global)?;
    let mut source = open_source(&args.files)?;
    as_file(&mut source.metadata, args.as_file, args.filename.as_deref());
    let passphrase = passphrase::for_send(args.passphrase.as_deref(), args.ask_passphrase)?;

    let key = SecretKey::generate()?;
    let keys = match &passphrase {
        Some(p) => KeySchedule::with_passphrase(
            key.clone(),
            p.as_bytes(),
            crypto_core::Argon2Params::DEFAULT,
        )?,
        None => KeySchedule::new(key.clone()),
    };
    let options = UploadOptions {
        ttl: args.ttl,
        allowed_ips: args.allow_ips.clone(),
        allowed_countries: args.allow_countries.clone(),
        allowed_asns: args.allow_asns.clone(),
        passphrase_hash: keys.verifier().map(|v| v.server_hash_hex()),
        read_token_hash: Some(keys.read_token().server_hash_hex()),
    };

    let encryptor = run_ready(Encryptor::new(
        &Pure,
        &keys,
        &source.metadata,
        &EncryptOptions::default(),
    ))?;
    let bar = progress::bar(source.metadata.size, "uploading");
    let failure = Arc::new(Mutex::new(None));
    let reader = FirstFailure {
        inner: EncryptingReader::new(bar.wrap_read(source.reader), encryptor, CHUNK),
        failure: Arc::clone(&failure),
    };

    let api = Api::new(&global.server)?;
    let result = api.upload(token.as_deref(), &options, reader);
    bar.finish_and_clear();
    // A failure while reading or encrypting surfaces as a broken upload; report the cause.
    if let Some(cause) = failure.lock().ok().and_then(|mut f| f.take()) {
        return Err(cause);
    }
    let created = result?;

    let shared_key = (!args.separate_key).then_some(&key);
    let link = build_link(api.base(), &created.id, shared_key)?;
    let mut stdout = std::io::stdout().lock();
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(out, "{link}")?;
        if args.separate_key {
            writeln!(out, "{}", key.to_text())?;
        }
        if args.qr {
            writeln!(out, "{}", qr(&link)?)?;
        }
        out.flush()
    };
    write(&mut stdout).map_err(|e| CliError::io("writing the link", e))?;
    if args.separate_key && std::io::stderr().is_terminal() {
        eprintln!(
            "The second line is the key: share it through a different channel than the link."
        );
    }
    Ok(())
}

fn qr(link: &str) -> std::io::Result<String> {
    let code = QrCode::new(link.as_bytes()).map_err(std::io::Error::other)?;
    Ok(code
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .build())
}

/// `--as-file` makes text a file; `--filename` names a file (as in Hakanai v3, text sent
/// without `--as-file` stays text).
fn as_file(metadata: &mut Metadata, as_file: bool, filename: Option<&str>) {
    if as_file && metadata.kind == Kind::Text {
        metadata.kind = Kind::File;
        metadata.media_type = None;
    }
    if let Some(name) = filename.filter(|_| metadata.kind != Kind::Text) {
        metadata.name = Some(name.to_string());
    }
}

fn open_source(files: &[PathBuf]) -> Result<Source, CliError> {
    match files {
        [] => stdin_source(),
        [path] => file_source(path),
        paths => bundle_io::source(paths).map(|(metadata, reader)| Source { metadata, reader }),
    }
}

/// Stdin up to this size is read whole, to tell text from binary; beyond it, it streams.
const STDIN_WHOLE_LIMIT: u64 = 1 << 20;

fn stdin_source() -> Result<Source, CliError> {
    let mut stdin = std::io::stdin().lock();
    if stdin.is_terminal() {
        eprintln!("Type the secret, then press Ctrl-D on a new line:");
    }
    let mut head = Vec::new();
    (&mut stdin)
        .take(STDIN_WHOLE_LIMIT + 1)
        .read_to_end(&mut head)
        .map_err(|e| CliError::io("reading stdin", e))?;
    if head.is_empty() {
        return Err(CliError::usage(
            "nothing to send: stdin is empty",
            "pipe the secret into `hakanai send`, or use --file",
        ));
    }
    if head.len() as u64 > STDIN_WHOLE_LIMIT {
        // A large stream (e.g. `tar c dir | hakanai send`): sent as an unnamed file of
        // unknown length, encrypted as it arrives, with bounded memory.
        return Ok(Source {
            metadata: Metadata {
                kind: Kind::File,
                name: None,
                media_type: Some("application/octet-stream".into()),
                size: None,
            },
            // `Stdin` (not the lock) continues from the same buffer and can cross threads.
            reader: Box::new(std::io::Cursor::new(head).chain(std::io::stdin())),
        });
    }
    let size = head.len() as u64;
    let metadata = if std::str::from_utf8(&head).is_ok() {
        Metadata::text(size)
    } else {
        Metadata {
            kind: Kind::File,
            name: None,
            media_type: Some("application/octet-stream".into()),
            size: Some(size),
        }
    };
    Ok(Source {
        metadata,
        reader: Box::new(std::io::Cursor::new(head)),
    })
}

fn file_source(path: &Path) -> Result<Source, CliError> {
    let (file, size) = open_file(path)?;
    Ok(Source {
        metadata: Metadata {
            kind: Kind::File,
            name: Some(file_name(path)?),
            media_type: None,
            size: Some(size),
        },
        reader: Box::new(file),
    })
}

/// Keeps the first error of `inner` (reading the secret or encrypting it) for the report: the
/// HTTP client, which consumes the body, only says that the upload broke.
struct FirstFailure<R> {
    inner: R,
    failure: Arc<Mutex<Option<CliError>>>,
}

impl<R: Read> Read for FirstFailure<R> {
    fn read(&mut self, dst: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(dst).inspect_err(|e| {
            let cause = match crypto_error(e) {
                Some(crypto) => CliError::Crypto(crypto.clone()),
                None => CliError::io(
                    "reading the secret",
                    std::io::Error::new(e.kind(), e.to_string()),
                ),
            };
            if let Ok(mut slot) = self.failure.lock() {
                slot.get_or_insert(cause);
            }
        })
    }
}

//! The `std::io` adapters: round trips through readers of every chunk size, the passphrase
//! fallback, and failures that must surface as errors (never as a short, complete-looking read).

use std::io::{self, Read};

use crypto_core::io::{crypto_error, DecryptingReader, EncryptingReader};
use crypto_core::{
    decrypt_sync, encrypt_sync_with, run_ready, Encryptor, Error, KeySchedule, Pure, SecretKey,
};

mod common;
use common::{file, options, FAST};

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Content of `len` bytes and its envelope under `key` alone.
fn sealed(key: &SecretKey, len: usize) -> (Vec<u8>, Vec<u8>) {
    let plain = content(len);
    let envelope = encrypt_sync_with(
        &KeySchedule::new(key.clone()),
        &file(len),
        &plain,
        &options(),
    )
    .unwrap();
    (plain, envelope)
}

fn with_passphrase(key: &SecretKey) -> KeySchedule {
    KeySchedule::with_passphrase(key.clone(), b"hunter2", FAST).unwrap()
}

/// Reads everything in reads of `step` bytes.
fn read_all(mut reader: impl Read, step: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; step];
    loop {
        match reader.read(&mut buf)? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn crypto(result: io::Result<Vec<u8>>) -> Error {
    let error = result.expect_err("must fail");
    assert_eq!(error.kind(), io::ErrorKind::Other);
    crypto_error(&error).expect("a crypto error").clone()
}

#[test]
fn encrypting_reader_round_trips_at_every_chunking() {
    let key = SecretKey::generate().unwrap();
    for len in [0, 1, 255, 256, 257, 1000, 3 * 256 + 5] {
        let plain = content(len);
        for (chunk, step) in [(1, 1), (7, 4096), (256, 13), (4096, 1)] {
            let keys = KeySchedule::new(key.clone());
            let encryptor =
                run_ready(Encryptor::new(&Pure, &keys, &file(len), &options())).unwrap();
            let reader = EncryptingReader::new(plain.as_slice(), encryptor, chunk);
            let envelope = read_all(reader, step).unwrap();
            let (metadata, decrypted) = decrypt_sync(KeySchedule::new(key.clone()), &envelope)
                .unwrap_or_else(|e| panic!("len {len} chunk {chunk}: {e}"));
            assert_eq!(metadata, file(len));
            assert_eq!(decrypted, plain, "len {len} chunk {chunk} step {step}");
        }
    }
}

#[test]
fn decrypting_reader_round_trips_and_knows_the_metadata_first() {
    let key = SecretKey::generate().unwrap();
    for len in [0, 1, 256, 1000] {
        let plain = content(len);
        let envelope = encrypt_sync_with(
            &KeySchedule::new(key.clone()),
            &file(len),
            &plain,
            &options(),
        )
        .unwrap();
        for (chunk, step) in [(1, 1), (5, 4096), (4096, 3)] {
            let mut reader =
                DecryptingReader::new(envelope.as_slice(), KeySchedule::new(key.clone()), chunk);
            assert_eq!(reader.metadata().unwrap(), &file(len));
            assert_eq!(
                read_all(&mut reader, step).unwrap(),
                plain,
                "len {len} chunk {chunk}"
            );
            assert!(!reader.passphrase_ignored());
        }
    }
}

#[test]
fn truncation_is_an_error_every_time_never_an_end() {
    let key = SecretKey::generate().unwrap();
    let (_, envelope) = sealed(&key, 1000);
    for cut in [0, 10, envelope.len() / 2, envelope.len() - 1] {
        let mut reader = DecryptingReader::new(&envelope[..cut], KeySchedule::new(key.clone()), 64);
        let first = read_all(&mut reader, 100);
        assert!(first.is_err(), "cut at {cut} read as complete");
        // Reading again after the failure must not look like a clean end.
        assert!(
            read_all(&mut reader, 100).is_err(),
            "cut at {cut}: second read ended"
        );
    }
    // Nothing at all: the end came before the header.
    let empty = DecryptingReader::new(&envelope[..0], KeySchedule::new(key.clone()), 64);
    assert_eq!(crypto(read_all(empty, 100)), Error::Truncated);
    // A byte short: the last segment is incomplete and cannot authenticate.
    let short = DecryptingReader::new(
        &envelope[..envelope.len() - 1],
        KeySchedule::new(key.clone()),
        64,
    );
    assert!(matches!(
        crypto(read_all(short, 100)),
        Error::SegmentAuthentication { .. } | Error::Truncated
    ));
}

#[test]
fn wrong_key_is_a_header_authentication_failure() {
    let plain = content(10);
    let envelope = encrypt_sync_with(
        &KeySchedule::new(SecretKey::generate().unwrap()),
        &file(10),
        &plain,
        &options(),
    )
    .unwrap();
    let mut reader = DecryptingReader::new(
        envelope.as_slice(),
        KeySchedule::new(SecretKey::generate().unwrap()),
        4096,
    );
    let error = reader.metadata().expect_err("wrong key");
    assert_eq!(crypto_error(&error), Some(&Error::HeaderAuthentication));
}

#[test]
fn an_unneeded_passphrase_fails_unless_allowed_then_the_key_alone_opens_it() {
    let key = SecretKey::generate().unwrap();
    let (plain, envelope) = sealed(&key, 700);

    let strict = DecryptingReader::new(envelope.as_slice(), with_passphrase(&key), 4096);
    assert_eq!(crypto(read_all(strict, 4096)), Error::PassphraseNotExpected);

    // Chunks of one byte: the header arrives over many reads before it can be judged.
    for chunk in [1, 3, 4096] {
        let mut lenient = DecryptingReader::new(envelope.as_slice(), with_passphrase(&key), chunk)
            .allow_unneeded_passphrase();
        assert_eq!(lenient.metadata().unwrap(), &file(700));
        assert_eq!(read_all(&mut lenient, 50).unwrap(), plain, "chunk {chunk}");
        assert!(lenient.passphrase_ignored());
    }
}

#[test]
fn a_needed_passphrase_is_used_when_the_fallback_is_allowed() {
    let key = SecretKey::generate().unwrap();
    let plain = content(700);
    let envelope =
        encrypt_sync_with(&with_passphrase(&key), &file(700), &plain, &options()).unwrap();
    for chunk in [1, 4096] {
        let reader = DecryptingReader::new(envelope.as_slice(), with_passphrase(&key), chunk)
            .allow_unneeded_passphrase();
        let mut reader = reader;
        assert_eq!(read_all(&mut reader, 64).unwrap(), plain);
        assert!(!reader.passphrase_ignored());
    }
    // Without the passphrase, the envelope says it needs one.
    let without = DecryptingReader::new(envelope.as_slice(), KeySchedule::new(key), 4096);
    assert_eq!(crypto(read_all(without, 64)), Error::PassphraseRequired);
}

/// Fails with `kind` after `good` bytes.
struct Failing {
    data: Vec<u8>,
    good: usize,
    kind: io::ErrorKind,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.good == 0 {
            return Err(io::Error::new(self.kind, "the wire broke"));
        }
        let n = buf.len().min(self.good).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data.drain(..n);
        self.good -= n;
        Ok(n)
    }
}

#[test]
fn errors_of_the_wrapped_reader_pass_through_unchanged() {
    let key = SecretKey::generate().unwrap();
    let (plain, envelope) = sealed(&key, 1000);
    let inner = Failing {
        data: envelope,
        good: 300,
        kind: io::ErrorKind::ConnectionReset,
    };
    let error = read_all(
        DecryptingReader::new(inner, KeySchedule::new(key.clone()), 64),
        64,
    )
    .expect_err("the download broke");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    assert!(crypto_error(&error).is_none());

    let keys = KeySchedule::new(key);
    let encryptor = run_ready(Encryptor::new(&Pure, &keys, &file(1000), &options())).unwrap();
    let inner = Failing {
        data: plain,
        good: 500,
        kind: io::ErrorKind::PermissionDenied,
    };
    let error = read_all(EncryptingReader::new(inner, encryptor, 64), 64).expect_err("read fails");
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    assert!(crypto_error(&error).is_none());
}

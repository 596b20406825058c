//! Property tests: round-trips at the segment boundaries, arbitrary chunking in both
//! directions, and tampering that must always be rejected, never panic.

use crypto_core::{
    decrypt_sync, encrypt_sync_with, run_ready, Decryptor, EncryptOptions, Encryptor, Error,
    KeySchedule, Metadata, Pure, SecretKey,
};
use proptest::prelude::*;

mod common;
use common::{file, options, FAST, SEG};

fn schedule(key: &SecretKey, passphrase: bool) -> KeySchedule {
    if passphrase {
        KeySchedule::with_passphrase(key.clone(), b"hunter2", FAST).unwrap()
    } else {
        KeySchedule::new(key.clone())
    }
}

/// Streams `content` through an encryptor (padding as `pad` says) and a decryptor in the
/// given chunk sizes.
fn stream_round_trip(
    content: &[u8],
    passphrase: bool,
    chunk: usize,
    pad: bool,
) -> (Metadata, Vec<u8>) {
    let key = SecretKey::generate().unwrap();
    let keys = schedule(&key, passphrase);
    let metadata = file(content.len());
    let options = EncryptOptions { pad, ..options() };
    let envelope = run_ready(async {
        let mut enc = Encryptor::new(&Pure, &keys, &metadata, &options).await?;
        let mut envelope = Vec::new();
        for piece in content.chunks(chunk.max(1)) {
            let out = enc.push(piece).await?;
            // Output never lags more than a segment (plus header) behind the input.
            assert!(out.len() <= piece.len() + 2 * (SEG as usize + 16) + 200);
            envelope.extend(out);
        }
        envelope.extend(enc.finish().await?);
        Ok(envelope)
    })
    .unwrap();
    let expected_len = expected_envelope_len(content.len(), &metadata, passphrase, pad);
    assert_eq!(envelope.len(), expected_len, "envelope length formula");
    if pad {
        let predicted = crypto_core::envelope_len(&metadata, content.len() as u64, passphrase, SEG);
        assert_eq!(predicted.unwrap(), envelope.len() as u64, "envelope_len");
    }
    run_ready(async {
        let mut dec = Decryptor::new(Pure, schedule(&key, passphrase));
        let mut plain = Vec::new();
        for piece in envelope.chunks(chunk.max(1)) {
            plain.extend(dec.push(piece).await?);
        }
        plain.extend(dec.finish().await?);
        Ok((dec.metadata().cloned().unwrap(), plain))
    })
    .unwrap()
}

/// Header + ciphertext length, as `docs/FORMAT.md` states it: the server learns only this.
fn expected_envelope_len(
    content: usize,
    metadata: &Metadata,
    passphrase: bool,
    pad: bool,
) -> usize {
    let header = 65 + if passphrase { 12 } else { 0 };
    let json = serde_json::to_vec(metadata).unwrap().len();
    let padding = match metadata.size {
        Some(size) if pad => crypto_core::padding::padding_len(json, size),
        _ => 0,
    };
    let plaintext = 4 + json + padding + content;
    let segments = plaintext.div_ceil(SEG as usize).max(1);
    header + plaintext + 16 * segments
}

#[test]
fn boundary_sizes_round_trip() {
    // Content sizes chosen so the *plaintext* (record + content) hits every boundary.
    let record = 4 + serde_json::to_vec(&file(0)).unwrap().len();
    let seg = SEG as usize;
    for plaintext in [
        record,
        record + 1,
        seg - 1,
        seg,
        seg + 1,
        2 * seg,
        5 * seg + 17,
    ] {
        let len = plaintext.saturating_sub(record);
        let content: Vec<u8> = (0..len).map(|i| i as u8).collect();
        // Unpadded, the plaintext lands exactly on each boundary; padded, on its bucket's.
        for (passphrase, pad) in [(false, false), (true, false), (false, true), (true, true)] {
            for chunk in [1, 7, seg, usize::MAX] {
                let (metadata, plain) =
                    stream_round_trip(&content, passphrase, chunk.min(1 << 20), pad);
                assert_eq!(plain, content);
                assert_eq!(metadata.size, Some(len as u64));
            }
        }
    }
}

#[test]
fn short_texts_make_envelopes_of_one_length() {
    // What the server (or an observer of the upload) learns about a password: nothing.
    let keys = KeySchedule::new(SecretKey::generate().unwrap());
    let lens: Vec<usize> = [0usize, 1, 8, 64, 150]
        .iter()
        .map(|&n| {
            let text = vec![b'x'; n];
            let envelope =
                encrypt_sync_with(&keys, &Metadata::text(n as u64), &text, &options()).unwrap();
            assert_eq!(decrypt_sync(keys.clone(), &envelope).unwrap().1, text);
            envelope.len()
        })
        .collect();
    assert!(lens.iter().all(|&l| l == lens[0]), "{lens:?}");
}

#[test]
fn length_mismatch_is_refused_on_both_sides() {
    let keys = KeySchedule::new(SecretKey::generate().unwrap());
    let err = encrypt_sync_with(&keys, &file(3), b"four", &options()).unwrap_err();
    assert_eq!(
        err,
        Error::LengthMismatch {
            expected: 3,
            actual: 4
        }
    );
    let err = encrypt_sync_with(&keys, &file(5), b"four", &options()).unwrap_err();
    assert_eq!(
        err,
        Error::LengthMismatch {
            expected: 5,
            actual: 4
        }
    );
}

#[test]
fn closed_streams_refuse_more_input() {
    let keys = KeySchedule::new(SecretKey::generate().unwrap());
    run_ready(async {
        let mut enc = Encryptor::new(&Pure, &keys, &Metadata::text(0), &options()).await?;
        enc.finish().await?;
        assert_eq!(enc.push(b"x").await.unwrap_err(), Error::StreamClosed);
        let mut dec = Decryptor::new(Pure, KeySchedule::new(SecretKey::generate()?));
        assert_eq!(dec.push(b"nope").await.unwrap_err(), Error::NotAnEnvelope);
        assert_eq!(dec.push(b"HKNI").await.unwrap_err(), Error::StreamClosed);
        Ok(())
    })
    .unwrap();
}

#[test]
fn segment_size_is_validated() {
    let keys = KeySchedule::new(SecretKey::generate().unwrap());
    for bad in [0, 63, 16 * 1024 * 1024 + 1] {
        let options = EncryptOptions {
            segment_size: bad,
            ..EncryptOptions::default()
        };
        let err = encrypt_sync_with(&keys, &Metadata::text(0), b"", &options).unwrap_err();
        assert_eq!(err.code(), "malformed_header");
        let err = crypto_core::envelope_len(&Metadata::text(0), 0, false, bad).unwrap_err();
        assert_eq!(err.code(), "malformed_header");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_content_any_chunking(content in prop::collection::vec(any::<u8>(), 0..3000),
                                chunk in 1usize..700, passphrase in any::<bool>()) {
        let (_, plain) = stream_round_trip(&content, passphrase, chunk, true);
        prop_assert_eq!(plain, content);
    }

    #[test]
    fn any_bit_flip_is_rejected(content in prop::collection::vec(any::<u8>(), 0..1200),
                                at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let key = SecretKey::generate().unwrap();
        let mut envelope = encrypt_sync_with(&KeySchedule::new(key.clone()), &file(content.len()), &content, &options()).unwrap();
        let i = at.index(envelope.len());
        envelope[i] ^= 1 << bit;
        prop_assert!(decrypt_sync(KeySchedule::new(key), &envelope).is_err());
    }

    #[test]
    fn any_truncation_or_extension_is_rejected(content in prop::collection::vec(any::<u8>(), 0..1200),
                                               cut in any::<prop::sample::Index>(),
                                               extra in prop::collection::vec(any::<u8>(), 1..300)) {
        let key = SecretKey::generate().unwrap();
        let envelope = encrypt_sync_with(&KeySchedule::new(key.clone()), &file(content.len()), &content, &options()).unwrap();
        let cut_at = cut.index(envelope.len());
        prop_assert!(decrypt_sync(KeySchedule::new(key.clone()), &envelope[..cut_at]).is_err());
        let mut longer = envelope.clone();
        longer.extend_from_slice(&extra);
        prop_assert!(decrypt_sync(KeySchedule::new(key), &longer).is_err());
    }

    #[test]
    fn garbage_never_panics(garbage in prop::collection::vec(any::<u8>(), 0..400), prefix in any::<bool>()) {
        let mut input = if prefix { b"HKNI\x01\x00".to_vec() } else { Vec::new() };
        input.extend(garbage);
        let _ = decrypt_sync(KeySchedule::new(SecretKey::from_bytes([3; 32])), &input);
        let _ = crypto_core::parse_link(&String::from_utf8_lossy(&input));
    }
}

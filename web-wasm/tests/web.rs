//! wasm tests, run in Node and in headless Chromium (`cargo xtask test`): the shared
//! known-answer vectors on both backends, backend interchangeability, and the JS-facing API.

#![cfg(target_arch = "wasm32")]

use crypto_core::testkit::{
    check_envelope, check_hakanai_v3, check_link, envelope_vectors, hakanai_v3_vectors,
    link_vectors,
};
use crypto_core::{
    Backend, EncryptOptions, HeaderRandomness, KeySchedule, Kind, Metadata, Pure, SecretKey,
    WebCrypto,
};
use hakanai_wasm::{
    decrypt, encrypt, parse_link, safe_file_name, sanitize_file_name, Decryptor, Encryptor,
    SecretKeys,
};
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::convert::TryFromJsValue;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

#[wasm_bindgen_test]
async fn envelope_vectors_pure_backend() {
    for v in envelope_vectors() {
        check_envelope(&Pure, &v).await.unwrap();
    }
}

#[wasm_bindgen_test]
async fn envelope_vectors_webcrypto_backend() {
    assert!(
        WebCrypto::available(),
        "crypto.subtle must exist in the test runners"
    );
    for v in envelope_vectors() {
        check_envelope(&WebCrypto, &v).await.unwrap();
    }
}

#[wasm_bindgen_test]
fn link_vectors_pass() {
    for v in link_vectors() {
        check_link(&v).unwrap();
    }
}

#[wasm_bindgen_test]
fn hakanai_v3_vectors_pass() {
    let vectors = hakanai_v3_vectors();
    assert!(vectors.len() >= 5);
    for v in vectors {
        check_hakanai_v3(&v).unwrap();
    }
}

async fn encrypt_with<B: Backend>(backend: &B, content: &[u8]) -> Vec<u8> {
    let keys = KeySchedule::new(SecretKey::from_bytes([5; 32]));
    let metadata = Metadata {
        kind: Kind::File,
        name: Some("x".into()),
        media_type: None,
        size: Some(content.len() as u64),
    };
    let options = EncryptOptions {
        segment_size: 256,
        randomness: Some(HeaderRandomness {
            salt: [1; 16],
            nonce_prefix: [2; 7],
        }),
        pad: true,
    };
    crypto_core::encrypt(backend, &keys, &metadata, content, &options)
        .await
        .unwrap()
}

#[wasm_bindgen_test]
async fn backends_are_byte_identical_and_read_each_other() {
    for len in [0usize, 1, 255, 256, 257, 5 * 256 + 3, 70_000] {
        let content: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let pure = encrypt_with(&Pure, &content).await;
        let web = encrypt_with(&WebCrypto, &content).await;
        assert_eq!(pure, web, "length {len}");
        let keys = || KeySchedule::new(SecretKey::from_bytes([5; 32]));
        let (_, a) = crypto_core::decrypt(Pure, keys(), &web).await.unwrap();
        let (_, b) = crypto_core::decrypt(WebCrypto, keys(), &pure)
            .await
            .unwrap();
        assert_eq!(a, content);
        assert_eq!(b, content);
        let mut tampered = web.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let err = crypto_core::decrypt(WebCrypto, keys(), &tampered)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "segment_authentication");
    }
}

fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

fn code_of(error: &JsValue) -> String {
    Reflect::get(error, &"code".into())
        .unwrap()
        .as_string()
        .unwrap()
}

async fn bytes(promise: js_sys::Promise) -> Result<Vec<u8>, JsValue> {
    Ok(JsFuture::from(promise)
        .await?
        .unchecked_into::<Uint8Array>()
        .to_vec())
}

#[wasm_bindgen_test]
async fn js_api_one_shot_with_passphrase() {
    let key = hakanai_wasm::generate_key().unwrap();
    let fast = object(&[
        ("mCostKib", 64.into()),
        ("tCost", 1.into()),
        ("pCost", 1.into()),
    ]);
    let keys = SecretKeys::new(&key, Some("pw".into()), fast.clone()).unwrap();
    assert_eq!(keys.verifier().unwrap().len(), 64);
    // The read token is the key's alone: the same with or without the passphrase.
    let plain = SecretKeys::new(&key, None, JsValue::UNDEFINED).unwrap();
    assert_eq!(keys.read_token(), plain.read_token());
    let expected =
        crypto_core::KeySchedule::new(crypto_core::SecretKey::parse(&key).unwrap()).read_token();
    assert_eq!(keys.read_token().unwrap(), expected.to_hex());
    assert_eq!(keys.read_token_hash().unwrap(), expected.server_hash_hex());
    for backend in ["pure", "webcrypto", "auto"] {
        let options = object(&[("backend", backend.into())]);
        let envelope = bytes(encrypt(
            b"hi there".to_vec(),
            &keys,
            JsValue::UNDEFINED,
            options.clone(),
        ))
        .await
        .unwrap();
        let result = JsFuture::from(decrypt(envelope.clone(), &keys, options.clone()))
            .await
            .unwrap();
        let plaintext = Reflect::get(&result, &"plaintext".into()).unwrap();
        assert_eq!(
            plaintext.unchecked_into::<Uint8Array>().to_vec(),
            b"hi there"
        );
        // The length the page checks against the upload limit before encrypting is exact.
        let predicted =
            hakanai_wasm::envelope_length(JsValue::UNDEFINED, 8.0, true, options.clone());
        assert_eq!(predicted.unwrap(), envelope.len() as f64);
        let metadata = Reflect::get(&result, &"metadata".into()).unwrap();
        assert_eq!(Reflect::get(&metadata, &"kind".into()).unwrap(), "text");
        assert_eq!(Reflect::get(&metadata, &"size".into()).unwrap(), 8);

        let wrong = SecretKeys::new(&key, Some("pw!".into()), fast.clone()).unwrap();
        let err = JsFuture::from(decrypt(envelope.clone(), &wrong, options.clone()))
            .await
            .unwrap_err();
        assert_eq!(code_of(&err), "header_authentication");
        let none = SecretKeys::new(&key, None, JsValue::UNDEFINED).unwrap();
        let err = JsFuture::from(decrypt(envelope, &none, options))
            .await
            .unwrap_err();
        assert_eq!(code_of(&err), "passphrase_required");
    }
}

#[wasm_bindgen_test]
async fn js_api_streaming() {
    let key = hakanai_wasm::generate_key().unwrap();
    let keys = SecretKeys::new(&key, None, JsValue::UNDEFINED).unwrap();
    let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let metadata = object(&[
        ("kind", "file".into()),
        ("name", "data.bin".into()),
        ("size", (content.len() as u32).into()),
    ]);
    let options = object(&[("segmentSize", 1024.into())]);
    let predicted = hakanai_wasm::envelope_length(
        metadata.clone(),
        content.len() as f64,
        false,
        options.clone(),
    );
    let encryptor: Encryptor = JsFuture::from(Encryptor::create(&keys, metadata, options))
        .await
        .map(|v| Encryptor::try_from_js_value(v).unwrap())
        .unwrap();
    let mut envelope = Vec::new();
    for chunk in content.chunks(777) {
        envelope.extend(bytes(encryptor.push(chunk.to_vec())).await.unwrap());
    }
    envelope.extend(bytes(encryptor.finish()).await.unwrap());
    assert_eq!(predicted.unwrap(), envelope.len() as f64);
    // A second finish is refused with a typed error, not a trap.
    let err = bytes(encryptor.finish()).await.unwrap_err();
    assert_eq!(code_of(&err), "stream_closed");

    let decryptor = Decryptor::new(&keys, JsValue::UNDEFINED).unwrap();
    let mut plain = Vec::new();
    for chunk in envelope.chunks(1000) {
        plain.extend(bytes(decryptor.push(chunk.to_vec())).await.unwrap());
    }
    plain.extend(bytes(decryptor.finish()).await.unwrap());
    assert_eq!(plain, content);
    let metadata = decryptor.metadata().unwrap();
    assert_eq!(Reflect::get(&metadata, &"name".into()).unwrap(), "data.bin");

    // Overlapping calls are rejected, not interleaved: the first push awaits WebCrypto's
    // importKey, so the second finds the decoder busy.
    let webcrypto = object(&[("backend", "webcrypto".into())]);
    let decryptor = Decryptor::new(&keys, webcrypto).unwrap();
    let first = decryptor.push(envelope[..5000].to_vec());
    let second = decryptor.push(envelope[5000..].to_vec());
    // Attach both handlers before awaiting, so the rejection is never unhandled.
    let (first, second) = (JsFuture::from(first), JsFuture::from(second));
    let (a, b) = (first.await, second.await);
    assert!(a.is_ok());
    assert_eq!(code_of(&b.unwrap_err()), "busy");
}

#[wasm_bindgen_test]
fn js_api_errors_carry_codes() {
    let err = parse_link("https://h.example/s/abc#tooshort").unwrap_err();
    assert_eq!(code_of(&err), "key_length");
    let err = SecretKeys::new("a+b", None, JsValue::UNDEFINED)
        .err()
        .unwrap();
    assert_eq!(code_of(&err), "key_charset");
    let svg = hakanai_wasm::qr_svg("https://h.example/s/abc#key").unwrap();
    assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"));
}

#[wasm_bindgen_test]
fn js_api_bundles() {
    use hakanai_wasm::{bundle_end, bundle_file_header, bundle_padding, bundle_size, BundleReader};
    let files: [(&str, Vec<u8>); 2] = [("a.txt", b"alpha".to_vec()), ("dir/b.bin", vec![9; 700])];
    let mut bundle = Vec::new();
    for (name, data) in &files {
        bundle.extend(
            bundle_file_header(name, data.len() as f64)
                .unwrap()
                .to_vec(),
        );
        bundle.extend(data);
        bundle.extend(bundle_padding(data.len() as f64).unwrap().to_vec());
    }
    bundle.extend(bundle_end().to_vec());
    assert_eq!(bundle.len() as f64, bundle_size(vec![5.0, 700.0]).unwrap());
    let mut reader = BundleReader::new();
    let mut names = Vec::new();
    let mut data = Vec::new();
    for chunk in bundle.chunks(300) {
        for event in reader.push(chunk).unwrap().iter() {
            match Reflect::get(&event, &"type".into())
                .unwrap()
                .as_string()
                .unwrap()
                .as_str()
            {
                "start" => names.push(
                    Reflect::get(&event, &"name".into())
                        .unwrap()
                        .as_string()
                        .unwrap(),
                ),
                "data" => data.extend(
                    Reflect::get(&event, &"bytes".into())
                        .unwrap()
                        .unchecked_into::<Uint8Array>()
                        .to_vec(),
                ),
                _ => {}
            }
        }
    }
    reader.finish().unwrap();
    assert_eq!(names, ["a.txt", "b.bin"]);
    assert_eq!(data.len(), 705);
    let err = bundle_padding(-1.0).unwrap_err();
    assert_eq!(code_of(&err), "invalid_argument");
}

#[wasm_bindgen_test]
fn download_names_come_from_crypto_core() {
    // A right-to-left override and a zero-width space go; so does a path.
    assert_eq!(
        sanitize_file_name("../invoice\u{202E}fdp\u{200B}.exe"),
        "invoicefdp.exe"
    );
    let named = object(&[
        ("kind", "file".into()),
        ("name", "\u{FEFF}report.pdf".into()),
    ]);
    assert_eq!(safe_file_name(named).unwrap(), "report.pdf");
    // Nothing usable left: crypto-core's fallback for the kind.
    let bundle = object(&[("kind", "bundle".into()), ("name", "\u{2066}".into())]);
    assert_eq!(safe_file_name(bundle).unwrap(), "secret.tar");
    let unnamed = object(&[("kind", "file".into())]);
    assert_eq!(safe_file_name(unnamed).unwrap(), "secret.bin");
}

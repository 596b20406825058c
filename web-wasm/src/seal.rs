//! Encrypting: what the create and share pages need (feature `seal`; the full module has it).

use std::cell::RefCell;
use std::rc::Rc;

use crypto_core::{KeySchedule, Metadata, SecretKey};
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::backend::AnyBackend;
use crate::convert::{self, core_error, metadata_from_js, Options};
use crate::{bytes_result, with_slot, SecretKeys, Shared};

/// A fresh 256-bit key in its link form (43 base64url characters).
#[wasm_bindgen(js_name = generateKey)]
pub fn generate_key() -> Result<String, JsValue> {
    Ok(SecretKey::generate().map_err(core_error)?.to_text())
}

/// What a call that writes an envelope needs, read from its JavaScript arguments before the
/// first `await` (they are borrowed): the keys (never Hakanai v3's), the metadata (`size`
/// defaulting to `default_size`) and the options.
fn writing(
    keys: &SecretKeys,
    metadata: &JsValue,
    default_size: Option<u64>,
    options: &JsValue,
) -> Result<(KeySchedule, Metadata, Options), JsValue> {
    Ok((
        keys.for_writing()?,
        metadata_from_js(metadata, default_size)?,
        Options::from_js(options)?,
    ))
}

/// Encrypts a whole secret. `metadata`: `{kind: 'text'|'file'|'bundle', name?, mediaType?,
/// size?}` (`size` defaults to the plaintext length). `options`: `{backend?: 'auto'|'webcrypto'|
/// 'pure', segmentSize?}`. Resolves to the envelope.
#[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
pub fn encrypt(
    plaintext: Vec<u8>,
    keys: &SecretKeys,
    #[wasm_bindgen(
        unchecked_param_type = "{kind?: string, name?: string, mediaType?: string, size?: number}"
    )]
    metadata: JsValue,
    #[wasm_bindgen(unchecked_param_type = "{backend?: string, segmentSize?: number}")]
    options: JsValue,
) -> Promise {
    let prepared = writing(keys, &metadata, Some(plaintext.len() as u64), &options);
    future_to_promise(async move {
        let (keys, metadata, options) = prepared?;
        let backend = options.backend()?;
        let envelope = crypto_core::encrypt(
            &backend,
            &keys,
            &metadata,
            &plaintext,
            &options.encrypt_options(),
        )
        .await
        .map_err(core_error)?;
        Ok(Uint8Array::from(&envelope[..]).into())
    })
}

/// Streaming encryption: `push` chunks of plaintext, then `finish`; concatenating every
/// resolved `Uint8Array` gives the envelope. Memory stays about two segments.
#[wasm_bindgen]
pub struct Encryptor(Shared<crypto_core::Encryptor<<AnyBackend as crypto_core::Backend>::Cipher>>);

#[wasm_bindgen]
impl Encryptor {
    /// Starts an envelope. `metadata.size`, when given, is checked against the total pushed.
    #[wasm_bindgen(unchecked_return_type = "Promise<Encryptor>")]
    pub fn create(
        keys: &SecretKeys,
        #[wasm_bindgen(
            unchecked_param_type = "{kind?: string, name?: string, mediaType?: string, size?: number}"
        )]
        metadata: JsValue,
        #[wasm_bindgen(unchecked_param_type = "{backend?: string, segmentSize?: number}")]
        options: JsValue,
    ) -> Promise {
        let prepared = writing(keys, &metadata, None, &options);
        future_to_promise(async move {
            let (keys, metadata, options) = prepared?;
            let backend = options.backend()?;
            let inner =
                crypto_core::Encryptor::new(&backend, &keys, &metadata, &options.encrypt_options())
                    .await
                    .map_err(core_error)?;
            Ok(Encryptor(Rc::new(RefCell::new(Some(inner)))).into())
        })
    }

    /// Encrypts a chunk; resolves to the envelope bytes ready so far (possibly empty).
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn push(&self, chunk: Vec<u8>) -> Promise {
        with_slot(&self.0, move |mut inner| async move {
            let result = inner.push(&chunk).await;
            (inner, bytes_result(result))
        })
    }

    /// Seals the last segment; resolves to the final envelope bytes.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn finish(&self) -> Promise {
        with_slot(&self.0, |mut inner| async move {
            let result = inner.finish().await;
            (inner, bytes_result(result))
        })
    }
}

/// The exact envelope length for `contentLength` bytes of content with this metadata (and a
/// passphrase or not): what the server will count against its upload limit.
#[wasm_bindgen(js_name = envelopeLength)]
pub fn envelope_length(
    #[wasm_bindgen(
        unchecked_param_type = "{kind?: string, name?: string, mediaType?: string, size?: number}"
    )]
    metadata: JsValue,
    #[wasm_bindgen(js_name = contentLength)] content_length: f64,
    passphrase: bool,
    #[wasm_bindgen(unchecked_param_type = "{backend?: string, segmentSize?: number}")]
    options: JsValue,
) -> Result<f64, JsValue> {
    let content_length = convert::size_from_js(content_length)?;
    let metadata = metadata_from_js(&metadata, Some(content_length))?;
    let options = Options::from_js(&options)?.encrypt_options();
    let len =
        crypto_core::envelope_len(&metadata, content_length, passphrase, options.segment_size)
            .map_err(core_error)?;
    Ok(len as f64)
}

//! Decrypting: what the reveal and get pages need (feature `open`; the full module has it).

use std::cell::RefCell;
use std::rc::Rc;

#[cfg(feature = "full")]
use crypto_core::hakanai_v3;
use crypto_core::Metadata;
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::backend::AnyBackend;
use crate::convert::{self, core_error, js_error, metadata_from_js, metadata_to_js, Options, BUSY};
use crate::{bytes_result, with_slot, Keys, SecretKeys, Shared};

/// Checks a key handed over separately and returns it normalized: `{key}`, or `{key}:{hash}`
/// for a Hakanai v3 secret.
#[wasm_bindgen(js_name = parseKey)]
pub fn parse_key(text: &str) -> Result<String, JsValue> {
    let (key, hash) = crypto_core::parse_key(text).map_err(core_error)?;
    Ok(match hash {
        Some(hash) => format!("{}:{}", key.to_text(), hash.to_text()),
        None => key.to_text(),
    })
}

/// The download name for a secret's metadata (`Decryptor.metadata()`): its sanitized name, or
/// `secret.bin` / `secret.tar` / `secret.txt` when there is none or nothing of it is left.
#[wasm_bindgen(js_name = safeFileName)]
pub fn safe_file_name(metadata: JsValue) -> Result<String, JsValue> {
    Ok(metadata_from_js(&metadata, None)?.safe_file_name())
}

/// Decrypts a whole envelope. Resolves to `{metadata, plaintext}`.
#[wasm_bindgen(
    unchecked_return_type = "Promise<{metadata: {kind: string, name?: string, mediaType?: string, size?: number}, plaintext: Uint8Array}>"
)]
pub fn decrypt(
    envelope: Vec<u8>,
    keys: &SecretKeys,
    #[wasm_bindgen(unchecked_param_type = "{backend?: string}")] options: JsValue,
) -> Promise {
    let keys = keys.0.clone();
    let options = Options::from_js(&options);
    future_to_promise(async move {
        let backend = options?.backend()?;
        let opened = match keys {
            Keys::Envelope(keys) => crypto_core::decrypt(backend, keys, &envelope).await,
            #[cfg(feature = "full")]
            Keys::HakanaiV3(keys) => keys.open(&envelope),
        };
        let (metadata, plaintext) = opened.map_err(core_error)?;
        let result = js_sys::Object::new();
        convert::set(&result, "metadata", Some(metadata_to_js(&metadata)));
        convert::set(
            &result,
            "plaintext",
            Some(Uint8Array::from(&plaintext[..]).into()),
        );
        Ok(result.into())
    })
}

/// Streaming decryption: `push` envelope chunks, receive content; `metadata()` once known;
/// `finish()` authenticates the end. Do not use the content before `finish` resolves.
///
/// With Hakanai v3 keys the body is one AES-GCM message: `push` only collects it, and
/// `finish` returns the whole content and makes the metadata known.
#[wasm_bindgen]
pub struct Decryptor(Shared<Reading>);

enum Reading {
    Envelope(crypto_core::Decryptor<AnyBackend>),
    #[cfg(feature = "full")]
    HakanaiV3(hakanai_v3::Reader),
}

impl Reading {
    async fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, crypto_core::Error> {
        match self {
            Reading::Envelope(d) => d.push(chunk).await,
            #[cfg(feature = "full")]
            Reading::HakanaiV3(r) => {
                r.push(chunk);
                Ok(Vec::new())
            }
        }
    }

    async fn finish(&mut self) -> Result<Vec<u8>, crypto_core::Error> {
        match self {
            Reading::Envelope(d) => d.finish().await,
            #[cfg(feature = "full")]
            Reading::HakanaiV3(r) => r.finish(),
        }
    }

    fn metadata(&self) -> Option<&Metadata> {
        match self {
            Reading::Envelope(d) => d.metadata(),
            #[cfg(feature = "full")]
            Reading::HakanaiV3(r) => r.metadata(),
        }
    }
}

#[wasm_bindgen]
impl Decryptor {
    /// A decoder for an envelope under `keys`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        keys: &SecretKeys,
        #[wasm_bindgen(unchecked_param_type = "{backend?: string}")] options: JsValue,
    ) -> Result<Decryptor, JsValue> {
        let backend = Options::from_js(&options)?.backend()?;
        let inner = match &keys.0 {
            Keys::Envelope(k) => Reading::Envelope(crypto_core::Decryptor::new(backend, k.clone())),
            #[cfg(feature = "full")]
            Keys::HakanaiV3(k) => Reading::HakanaiV3(hakanai_v3::Reader::new(k.clone())),
        };
        Ok(Self(Rc::new(RefCell::new(Some(inner)))))
    }

    /// Decrypts a chunk; resolves to the content ready so far (possibly empty).
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn push(&self, chunk: Vec<u8>) -> Promise {
        with_slot(&self.0, move |mut inner| async move {
            let result = inner.push(&chunk).await;
            (inner, bytes_result(result))
        })
    }

    /// The metadata once its segment has been decrypted, else `undefined`.
    #[wasm_bindgen(
        unchecked_return_type = "{kind: string, name?: string, mediaType?: string, size?: number} | undefined"
    )]
    pub fn metadata(&self) -> Result<JsValue, JsValue> {
        let slot = self
            .0
            .try_borrow()
            .map_err(|_| js_error(BUSY, "the previous call has not finished yet"))?;
        let inner = slot
            .as_ref()
            .ok_or_else(|| js_error(BUSY, "the previous call has not finished yet"))?;
        Ok(inner
            .metadata()
            .map(metadata_to_js)
            .unwrap_or(JsValue::UNDEFINED))
    }

    /// Authenticates the end of the envelope; resolves to the last content.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn finish(&self) -> Promise {
        with_slot(&self.0, |mut inner| async move {
            let result = inner.finish().await;
            (inner, bytes_result(result))
        })
    }
}

/// Parses a full link, a link without key, a bare `#fragment` or a bare key.
/// Returns `{base, id, key}` (each possibly `undefined`).
#[wasm_bindgen(js_name = parseLink, unchecked_return_type = "{base?: string, id?: string, key?: string}")]
pub fn parse_link(input: &str) -> Result<JsValue, JsValue> {
    let parsed = crypto_core::parse_link(input).map_err(core_error)?;
    let object = js_sys::Object::new();
    convert::set(&object, "base", parsed.base.map(JsValue::from));
    convert::set(&object, "id", parsed.id.map(JsValue::from));
    let key = parsed.key.map(|k| match parsed.content_hash {
        Some(hash) => format!("{}:{}", k.to_text(), hash.to_text()),
        None => k.to_text(),
    });
    convert::set(&object, "key", key.map(JsValue::from));
    Ok(object.into())
}

/// Whether `key` (as `parseKey` or `parseLink` give it) is a Hakanai v3 key, `key:hash`: such
/// a secret opens only in the full module, and its passphrase is sent as it is, not stretched.
#[wasm_bindgen(js_name = isHakanaiV3Key)]
pub fn is_hakanai_v3_key(key: &str) -> bool {
    matches!(crypto_core::parse_key(key), Ok((_, Some(_))))
}

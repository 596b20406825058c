//! wasm-bindgen bindings over `crypto-core`: what browsers and other web apps call.
//!
//! Thin by design: every rule about keys, links and the envelope lives in crypto-core; this
//! crate converts between JavaScript values and crypto-core types, picks the AEAD backend,
//! and turns errors into exceptions with a stable `code`.
//!
//! Streaming objects are not re-entrant: await each `push` before the next; an overlapping
//! call is rejected with code `busy` instead of corrupting the stream.

// Denied, not forbidden: the small modules' allocator (below) is the one exception.
#![deny(unsafe_code)]
// The page's small modules (`seal` or `open` without `full`) each use a part of the shared
// conversions and helpers.
#![cfg_attr(not(all(feature = "seal", feature = "open")), allow(dead_code))]

mod backend;
mod convert;
#[cfg(feature = "full")]
mod full;
#[cfg(feature = "open")]
mod open;
#[cfg(feature = "seal")]
mod seal;

#[cfg(feature = "full")]
pub use full::*;
#[cfg(feature = "open")]
pub use open::*;
#[cfg(feature = "seal")]
pub use seal::*;

use std::cell::RefCell;
use std::rc::Rc;

#[cfg(feature = "full")]
use crypto_core::hakanai_v3;
use crypto_core::{KeySchedule, PassphrasePrk, SecretKey};
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use convert::{core_error, js_error, BUSY};

/// The `code` of every error this module throws, as a TypeScript type; a native test checks
/// it against crypto-core's `Error::CODES` and the bindings' own codes.
#[wasm_bindgen(typescript_custom_section)]
const ERROR_CODE_TS: &'static str = ERROR_CODE_TYPE;
// wasm-bindgen reads it from the compiled module, which the dead-code lint cannot see.
#[allow(dead_code)]
const ERROR_CODE_TYPE: &str = r#"
/** The `code` property of every error this module throws. */
export type ErrorCode =
  | "empty_link" | "missing_key" | "missing_id" | "invalid_id"
  | "key_length" | "key_charset" | "key_encoding"
  | "random_unavailable" | "empty_passphrase" | "argon2_params" | "argon2_params_refused"
  | "argon2_rerun"
  | "not_an_envelope" | "unsupported_version" | "malformed_header"
  | "passphrase_required" | "passphrase_not_expected"
  | "header_authentication" | "segment_authentication"
  | "truncated" | "trailing_data" | "invalid_metadata" | "length_mismatch"
  | "too_large" | "stream_closed" | "backend" | "invalid_bundle"
  | "legacy_hash_format" | "legacy_ciphertext" | "legacy_authentication"
  | "legacy_hash_mismatch" | "legacy_payload"
  | "busy" | "invalid_argument" | "qr_too_long" | "full_module_required";
"#;

/// `{base}/s/{id}#{key}`, or `{base}/s/{id}` without a key (separate-key mode).
#[wasm_bindgen(js_name = buildLink)]
pub fn build_link(base: &str, id: &str, key: Option<String>) -> Result<String, JsValue> {
    let key = key
        .as_deref()
        .map(SecretKey::parse)
        .transpose()
        .map_err(core_error)?;
    crypto_core::build_link(base, id, key.as_ref()).map_err(core_error)
}

/// A safe download name for an untrusted file name from a secret's metadata.
#[wasm_bindgen(js_name = sanitizeFileName)]
pub fn sanitize_file_name(name: &str) -> String {
    crypto_core::sanitize_file_name(name)
}

/// Whether `crypto.subtle` is usable here (https, or http on localhost).
#[wasm_bindgen(js_name = webCryptoAvailable)]
pub fn web_crypto_available() -> bool {
    backend::web_crypto_available()
}

/// The keys of one secret: the fragment key plus, optionally, a passphrase.
///
/// With a passphrase the constructor runs Argon2id once (about a second); reuse the object
/// for the verifier and for encryption or decryption. A Hakanai v3 key (`{key}:{hash}`) makes
/// keys that only read.
#[wasm_bindgen]
#[derive(Clone)]
pub struct SecretKeys(pub(crate) Keys);

#[derive(Clone)]
pub(crate) enum Keys {
    Envelope(KeySchedule),
    #[cfg(feature = "full")]
    HakanaiV3(hakanai_v3::Keys),
}

impl SecretKeys {
    fn for_writing(&self) -> Result<KeySchedule, JsValue> {
        match &self.0 {
            Keys::Envelope(k) => Ok(k.clone()),
            #[cfg(feature = "full")]
            Keys::HakanaiV3(_) => Err(js_error(
                convert::INVALID_ARGUMENT,
                "a Hakanai v3 key can only open existing secrets",
            )),
        }
    }
}

#[wasm_bindgen]
impl SecretKeys {
    /// `key` is the link form; `passphrase` optional; `argon2` optional
    /// `{mCostKib, tCost, pCost}` (defaults: 19456, 2, 1).
    #[wasm_bindgen(constructor)]
    pub fn new(
        key: &str,
        passphrase: Option<String>,
        #[wasm_bindgen(
            unchecked_param_type = "{mCostKib?: number, tCost?: number, pCost?: number}"
        )]
        argon2: JsValue,
    ) -> Result<SecretKeys, JsValue> {
        let (key, hash) = crypto_core::parse_key(key).map_err(core_error)?;
        if let Some(hash) = hash {
            #[cfg(feature = "full")]
            return hakanai_v3::Keys::new(key, hash, passphrase.as_deref().map(str::as_bytes))
                .map(|k| Self(Keys::HakanaiV3(k)))
                .map_err(core_error);
            #[cfg(not(feature = "full"))]
            {
                let _ = hash;
                return Err(needs_full_module("Hakanai v3 links"));
            }
        }
        match passphrase {
            None => Ok(Self(Keys::Envelope(KeySchedule::new(key)))),
            #[cfg(feature = "full")]
            Some(p) => {
                let params = convert::argon2_params(&argon2)?;
                KeySchedule::with_passphrase(key, p.as_bytes(), params)
                    .map(|k| Self(Keys::Envelope(k)))
                    .map_err(core_error)
            }
            #[cfg(not(feature = "full"))]
            Some(_) => {
                let _ = argon2;
                Err(needs_full_module("Argon2id (use withPassphrasePrk)"))
            }
        }
    }

    /// Keys for a passphrase whose key `prk` (32 bytes) was derived elsewhere by
    /// `passphrasePrk` with the same `argon2` parameters; no Argon2id runs here. Decrypting an
    /// envelope made with other parameters throws `argon2_rerun` with those as `params`.
    #[wasm_bindgen(js_name = withPassphrasePrk)]
    pub fn with_passphrase_prk(
        key: &str,
        prk: &[u8],
        #[wasm_bindgen(
            unchecked_param_type = "{mCostKib?: number, tCost?: number, pCost?: number}"
        )]
        argon2: JsValue,
    ) -> Result<SecretKeys, JsValue> {
        let key = SecretKey::parse(key).map_err(core_error)?;
        let prk: [u8; 32] = prk
            .try_into()
            .map_err(|_| js_error(convert::INVALID_ARGUMENT, "`prk` must be 32 bytes"))?;
        let params = convert::argon2_params(&argon2)?;
        KeySchedule::with_passphrase_prk(key, PassphrasePrk::from_bytes(prk), params)
            .map(|k| Self(Keys::Envelope(k)))
            .map_err(core_error)
    }

    /// The key in its link form.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> String {
        match &self.0 {
            Keys::Envelope(k) => k.key().to_text(),
            #[cfg(feature = "full")]
            Keys::HakanaiV3(k) => k.to_text(),
        }
    }

    /// What the reader sends in `X-Secret-Passphrase` (hex); `undefined` without passphrase.
    #[wasm_bindgen(getter)]
    pub fn verifier(&self) -> Option<String> {
        match &self.0 {
            Keys::Envelope(k) => k.verifier().map(|v| v.to_hex()),
            #[cfg(feature = "full")]
            Keys::HakanaiV3(k) => k.passphrase_header().map(str::to_owned),
        }
    }

    /// What the reader sends in `X-Secret-Read-Token` (hex, `docs/FORMAT.md` § Read token);
    /// `undefined` for Hakanai v3 keys, whose secrets have none.
    #[wasm_bindgen(getter, js_name = readToken)]
    pub fn read_token(&self) -> Option<String> {
        match &self.0 {
            Keys::Envelope(k) => Some(k.read_token().to_hex()),
            #[cfg(feature = "full")]
            Keys::HakanaiV3(_) => None,
        }
    }

    /// What the sender uploads as `restrictions.read_token_hash`; `undefined` for Hakanai v3
    /// keys.
    #[wasm_bindgen(getter, js_name = readTokenHash)]
    pub fn read_token_hash(&self) -> Option<String> {
        match &self.0 {
            Keys::Envelope(k) => Some(k.read_token().server_hash_hex()),
            #[cfg(feature = "full")]
            Keys::HakanaiV3(_) => None,
        }
    }

    /// What the sender uploads as `restrictions.passphrase_hash`; `undefined` without
    /// passphrase (and for Hakanai v3 keys, which only read).
    #[wasm_bindgen(getter, js_name = serverHash)]
    pub fn server_hash(&self) -> Option<String> {
        match &self.0 {
            Keys::Envelope(k) => k.verifier().map(|v| v.server_hash_hex()),
            #[cfg(feature = "full")]
            Keys::HakanaiV3(_) => None,
        }
    }
}

pub(crate) type Shared<T> = Rc<RefCell<Option<T>>>;

/// Runs `op` on the object inside `slot`, taking it out meanwhile so an overlapping call
/// fails with `busy` instead of interleaving two pushes.
pub(crate) fn with_slot<T: 'static, F, Fut>(slot: &Shared<T>, op: F) -> Promise
where
    F: FnOnce(T) -> Fut + 'static,
    Fut: std::future::Future<Output = (T, Result<JsValue, JsValue>)> + 'static,
{
    let slot = slot.clone();
    future_to_promise(async move {
        let inner = slot
            .borrow_mut()
            .take()
            .ok_or_else(|| js_error(BUSY, "the previous call has not finished yet"))?;
        let (inner, result) = op(inner).await;
        *slot.borrow_mut() = Some(inner);
        result
    })
}

pub(crate) fn bytes_result(
    result: Result<Vec<u8>, crypto_core::Error>,
) -> Result<JsValue, JsValue> {
    result
        .map(|bytes| Uint8Array::from(&bytes[..]).into())
        .map_err(core_error)
}

/// The error of a call the small module cannot serve (`what` names the missing part).
#[cfg(not(feature = "full"))]
fn needs_full_module(what: &str) -> JsValue {
    js_error(
        convert::FULL_MODULE_REQUIRED,
        &format!("{what} need the full module"),
    )
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #[test]
    fn error_code_type_lists_exactly_the_codes_thrown() {
        let listed: Vec<&str> = super::ERROR_CODE_TYPE
            .split('"')
            .skip(1)
            .step_by(2)
            .collect();
        let mut thrown: Vec<&str> = crypto_core::Error::CODES.to_vec();
        // The bindings' own codes.
        use super::convert::{BUSY, FULL_MODULE_REQUIRED, INVALID_ARGUMENT, QR_TOO_LONG};
        thrown.extend([BUSY, INVALID_ARGUMENT, QR_TOO_LONG, FULL_MODULE_REQUIRED]);
        assert_eq!(listed, thrown);
    }
}

/// The small modules' allocator: talc instead of the standard library's dlmalloc, about 1 KB
/// gzip less in every page. The full module keeps dlmalloc.
#[cfg(all(target_arch = "wasm32", not(feature = "full")))]
#[global_allocator]
// SAFETY: wasm32 without threads; talc's own requirement for its global wasm allocator is
// that nothing else manages the memory it grows, and no other allocator is registered.
#[allow(unsafe_code)]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };

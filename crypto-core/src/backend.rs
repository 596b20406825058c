//! The AEAD seam: AES-256-GCM with a 96-bit nonce, no associated data, 128-bit tag appended.
//!
//! Two implementations: [`Pure`] (RustCrypto `aes-gcm`, everywhere) and, on wasm32 with the
//! `webcrypto` feature, [`WebCrypto`] (`crypto.subtle`). They are byte-for-byte interchangeable;
//! the format logic in [`crate::stream`] never knows which one runs.
//!
//! The methods are `async` because WebCrypto only offers Promises. The pure backend's futures
//! complete on their first poll, which is what the synchronous helpers rely on.

#![allow(async_fn_in_trait)] // wasm is single-threaded; the futures need not be `Send`.

#[cfg(feature = "pure")]
use aes_gcm::aead::{AeadInPlace, KeyInit};
#[cfg(feature = "pure")]
use aes_gcm::{Aes256Gcm, Nonce};

use crate::Error;

/// Length of the AES-GCM authentication tag appended to every segment.
pub const TAG_LEN: usize = 16;

/// Makes a [`SegmentCipher`] for a 256-bit key.
pub trait Backend {
    /// The keyed cipher.
    type Cipher: SegmentCipher;
    /// A short name for logs and benchmarks.
    fn name(&self) -> &'static str;
    /// Imports `key` into a cipher.
    async fn cipher(&self, key: &[u8; 32]) -> Result<Self::Cipher, Error>;
}

/// AES-256-GCM under one key. Output is appended to a caller's buffer, so streaming a large
/// secret copies each byte as few times as possible.
pub trait SegmentCipher {
    /// Whether several calls in flight at once run in parallel (WebCrypto works on other
    /// threads); the stream then issues a few segments at a time.
    const CONCURRENT: bool = false;

    /// Encrypts `plaintext` and appends `ciphertext || tag` to `out`.
    async fn seal_into(
        &self,
        nonce: &[u8; 12],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error>;
    /// Decrypts `ciphertext || tag` and appends the plaintext to `out`. Returns `Ok(false)`,
    /// with `out` unchanged, when the tag does not verify.
    async fn open_into(
        &self,
        nonce: &[u8; 12],
        ciphertext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, Error>;
}

/// The portable backend: RustCrypto `aes-gcm` (AES-NI when the CPU has it, constant-time
/// software otherwise, including on wasm32).
#[cfg(feature = "pure")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Pure;

/// [`Pure`]'s keyed cipher.
#[cfg(feature = "pure")]
pub struct PureCipher(Aes256Gcm);

#[cfg(feature = "pure")]
impl Backend for Pure {
    type Cipher = PureCipher;
    fn name(&self) -> &'static str {
        "pure"
    }
    async fn cipher(&self, key: &[u8; 32]) -> Result<PureCipher, Error> {
        Ok(PureCipher(Aes256Gcm::new(key.into())))
    }
}

#[cfg(feature = "pure")]
impl SegmentCipher for PureCipher {
    async fn seal_into(
        &self,
        nonce: &[u8; 12],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .encrypt_in_place_detached(Nonce::from_slice(nonce), b"", &mut out[start..])
            .map_err(|_| Error::TooLarge)?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    async fn open_into(
        &self,
        nonce: &[u8; 12],
        ciphertext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, Error> {
        let Some(body_len) = ciphertext.len().checked_sub(TAG_LEN) else {
            return Ok(false);
        };
        let (body, tag) = ciphertext.split_at(body_len);
        let start = out.len();
        out.extend_from_slice(body);
        let verified = self
            .0
            .decrypt_in_place_detached(Nonce::from_slice(nonce), b"", &mut out[start..], tag.into())
            .is_ok();
        if !verified {
            out.truncate(start);
        }
        Ok(verified)
    }
}

#[cfg(all(target_arch = "wasm32", feature = "webcrypto"))]
pub use webcrypto::{WebCrypto, WebCryptoCipher};

#[cfg(all(target_arch = "wasm32", feature = "webcrypto"))]
mod webcrypto {
    use js_sys::{Array, Object, Reflect, Uint8Array};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

    use super::{Backend, SegmentCipher};
    use crate::Error;

    /// The browser's `crypto.subtle` AES-GCM (about 13× faster than [`super::Pure`] in
    /// Chromium). Only available in secure contexts; see [`WebCrypto::available`].
    #[derive(Debug, Clone, Copy, Default)]
    pub struct WebCrypto;

    /// [`WebCrypto`]'s keyed cipher.
    pub struct WebCryptoCipher {
        subtle: SubtleCrypto,
        key: CryptoKey,
    }

    fn subtle() -> Option<SubtleCrypto> {
        let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).ok()?;
        let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle")).ok()?;
        if subtle.is_undefined() || subtle.is_null() {
            return None;
        }
        subtle.dyn_into::<SubtleCrypto>().ok()
    }

    fn backend_error(context: &str, err: JsValue) -> Error {
        let detail = err
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            // Not `{err:?}`: `Debug` brings string escaping and Unicode tables into the page's
            // wasm; WebCrypto rejects with `DOMException`s, which are `Error`s.
            .or_else(|| err.as_string())
            .unwrap_or_else(|| "a value that is not an Error".to_string());
        Error::Backend(format!("WebCrypto {context}: {detail}"))
    }

    impl WebCrypto {
        /// Whether `crypto.subtle` exists here (https, or http on localhost).
        pub fn available() -> bool {
            subtle().is_some()
        }
    }

    impl Backend for WebCrypto {
        type Cipher = WebCryptoCipher;
        fn name(&self) -> &'static str {
            "webcrypto"
        }
        async fn cipher(&self, key: &[u8; 32]) -> Result<WebCryptoCipher, Error> {
            let subtle = subtle().ok_or_else(|| {
                Error::Backend("crypto.subtle is not available (not a secure context)".into())
            })?;
            let algorithm = Object::new();
            Reflect::set(&algorithm, &"name".into(), &"AES-GCM".into())
                .map_err(|e| backend_error("importKey", e))?;
            let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
            let promise = subtle
                .import_key_with_object(
                    "raw",
                    &Uint8Array::from(&key[..]),
                    &algorithm,
                    false,
                    &usages,
                )
                .map_err(|e| backend_error("importKey", e))?;
            let key = JsFuture::from(promise)
                .await
                .map_err(|e| backend_error("importKey", e))?
                .unchecked_into::<CryptoKey>();
            Ok(WebCryptoCipher { subtle, key })
        }
    }

    impl WebCryptoCipher {
        fn params(nonce: &[u8; 12]) -> AesGcmParams {
            let params = AesGcmParams::new("AES-GCM", &Uint8Array::from(&nonce[..]));
            params.set_tag_length(128);
            params
        }
    }

    impl SegmentCipher for WebCryptoCipher {
        const CONCURRENT: bool = true;

        async fn seal_into(
            &self,
            nonce: &[u8; 12],
            plaintext: &[u8],
            out: &mut Vec<u8>,
        ) -> Result<(), Error> {
            // WebCrypto copies `data` before returning the Promise, so a view of wasm memory
            // is sound here.
            let promise = self
                .subtle
                .encrypt_with_object_and_u8_array(&Self::params(nonce), &self.key, plaintext)
                .map_err(|e| backend_error("encrypt", e))?;
            let sealed = JsFuture::from(promise)
                .await
                .map_err(|e| backend_error("encrypt", e))?;
            append(&sealed, out);
            Ok(())
        }

        async fn open_into(
            &self,
            nonce: &[u8; 12],
            ciphertext: &[u8],
            out: &mut Vec<u8>,
        ) -> Result<bool, Error> {
            let promise = self
                .subtle
                .decrypt_with_object_and_u8_array(&Self::params(nonce), &self.key, ciphertext)
                .map_err(|e| backend_error("decrypt", e))?;
            match JsFuture::from(promise).await {
                Ok(opened) => {
                    append(&opened, out);
                    Ok(true)
                }
                // WebCrypto reports a bad tag as an OperationError.
                Err(e) if error_name(&e).as_deref() == Some("OperationError") => Ok(false),
                Err(e) => Err(backend_error("decrypt", e)),
            }
        }
    }

    fn append(array_buffer: &JsValue, out: &mut Vec<u8>) {
        let bytes = Uint8Array::new(array_buffer);
        let start = out.len();
        out.resize(start + bytes.length() as usize, 0);
        bytes.copy_to(&mut out[start..]);
    }

    fn error_name(err: &JsValue) -> Option<String> {
        Reflect::get(err, &"name".into()).ok()?.as_string()
    }
}

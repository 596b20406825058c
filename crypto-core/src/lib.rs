//! Hakanai's client-side cryptography and envelope format — the only place either lives.
//!
//! A secret is encrypted under a random 256-bit [`SecretKey`] that travels in the link
//! fragment (`{base}/s/{id}#{key}`, see [`link`]). The ciphertext is an *envelope*: an
//! authenticated header followed by AES-256-GCM segments in a STREAM construction, with the
//! secret's [`Metadata`] encrypted inside. An optional passphrase is mixed in through
//! Argon2id ([`KeySchedule`]), which also yields a [`Verifier`] the server checks before it
//! releases the envelope. The byte-level specification is `docs/FORMAT.md`.
//!
//! ```
//! use crypto_core::{decrypt_sync, encrypt_sync, KeySchedule, Metadata, SecretKey};
//!
//! let key = SecretKey::generate()?;
//! let envelope = encrypt_sync(&KeySchedule::new(key.clone()), &Metadata::text(5), b"hello")?;
//! let (metadata, text) = decrypt_sync(KeySchedule::new(key), &envelope)?;
//! assert_eq!((metadata, text), (Metadata::text(5), b"hello".to_vec()));
//! # Ok::<(), crypto_core::Error>(())
//! ```
//!
//! **Architecture invariant:** this crate does no I/O of its own (the [`io`] adapters only
//! wrap readers the caller gives) and knows nothing about HTTP or the
//! server; it compiles unchanged for native targets and `wasm32-unknown-unknown`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
#[cfg(feature = "bundle")]
pub mod bundle;
mod error;
pub mod format;
pub mod hakanai_v3;
#[cfg(feature = "pure")]
pub mod io;
mod kdf;
mod keys;
pub mod link;
mod metadata;
pub mod padding;
mod stream;
#[cfg(feature = "testkit")]
pub mod testkit;

#[cfg(feature = "pure")]
pub use backend::Pure;
pub use backend::{Backend, SegmentCipher};
#[cfg(all(target_arch = "wasm32", feature = "webcrypto"))]
pub use backend::{WebCrypto, WebCryptoCipher};
pub use error::Error;
#[cfg(feature = "argon2")]
pub use kdf::passphrase_prk;
pub use kdf::{Argon2Params, KeySchedule, PassphrasePrk, ReadToken, Verifier};
pub use keys::{SecretKey, KEY_LEN, KEY_TEXT_LEN};
pub use link::{build_link, parse_key, parse_link, ParsedLink};
pub use metadata::{sanitize_file_name, Kind, Metadata, MAX_METADATA_LEN};
pub use stream::{envelope_len, Decryptor, EncryptOptions, Encryptor, HeaderRandomness};

/// Encrypts `content` into a complete envelope.
pub async fn encrypt<B: Backend>(
    backend: &B,
    keys: &KeySchedule,
    metadata: &Metadata,
    content: &[u8],
    options: &EncryptOptions,
) -> Result<Vec<u8>, Error> {
    let mut encryptor = Encryptor::new(backend, keys, metadata, options).await?;
    encryptor.finish_with(content).await
}

/// Decrypts a complete envelope into its metadata and content.
pub async fn decrypt<B: Backend>(
    backend: B,
    keys: KeySchedule,
    envelope: &[u8],
) -> Result<(Metadata, Vec<u8>), Error> {
    let mut decryptor = Decryptor::new(backend, keys);
    let content = decryptor.finish_with(envelope).await?;
    let metadata = decryptor
        .metadata()
        .cloned()
        .ok_or_else(|| Error::InvalidMetadata("the metadata record is missing".into()))?;
    Ok((metadata, content))
}

/// [`encrypt`] with the [`Pure`] backend and default options, synchronously.
#[cfg(feature = "pure")]
pub fn encrypt_sync(
    keys: &KeySchedule,
    metadata: &Metadata,
    content: &[u8],
) -> Result<Vec<u8>, Error> {
    encrypt_sync_with(keys, metadata, content, &EncryptOptions::default())
}

/// [`encrypt`] with the [`Pure`] backend, synchronously.
#[cfg(feature = "pure")]
pub fn encrypt_sync_with(
    keys: &KeySchedule,
    metadata: &Metadata,
    content: &[u8],
    options: &EncryptOptions,
) -> Result<Vec<u8>, Error> {
    run_ready(encrypt(&Pure, keys, metadata, content, options))
}

/// [`decrypt`] with the [`Pure`] backend, synchronously.
#[cfg(feature = "pure")]
pub fn decrypt_sync(keys: KeySchedule, envelope: &[u8]) -> Result<(Metadata, Vec<u8>), Error> {
    run_ready(decrypt(Pure, keys, envelope))
}

/// Runs a future that never waits, such as any operation on the [`Pure`] backend.
///
/// This lets native callers (the CLI, tests) use the streaming types without an executor.
/// Returns [`Error::Backend`] if the future does wait (a backend that needs an executor).
#[cfg(feature = "pure")]
pub fn run_ready<T>(
    future: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => Err(Error::Backend(
            "this backend is asynchronous; await it instead".into(),
        )),
    }
}

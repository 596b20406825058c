//! Run-time choice between the WebCrypto and the pure-wasm AEAD backends.

#![allow(async_fn_in_trait)]

#[cfg(feature = "full")]
use crypto_core::Pure;
use crypto_core::{Backend, Error, SegmentCipher};

/// Which backend a call asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// WebCrypto when `crypto.subtle` exists, pure otherwise.
    Auto,
    /// WebCrypto, or an error where it is missing.
    WebCrypto,
    /// Always the pure-wasm backend.
    Pure,
}

/// A backend picked at run time.
#[derive(Debug, Clone, Copy)]
pub enum AnyBackend {
    #[cfg(feature = "full")]
    Pure,
    #[cfg(target_arch = "wasm32")]
    WebCrypto,
}

pub enum AnyCipher {
    // Boxed: the expanded AES key schedule is far larger than a WebCrypto key handle.
    #[cfg(feature = "full")]
    Pure(Box<<Pure as Backend>::Cipher>),
    #[cfg(target_arch = "wasm32")]
    WebCrypto(crypto_core::WebCryptoCipher),
}

pub fn web_crypto_available() -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        crypto_core::WebCrypto::available()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        false
    }
}

impl AnyBackend {
    pub fn select(choice: Choice) -> Result<Self, Error> {
        match choice {
            #[cfg(feature = "full")]
            Choice::Pure => Ok(Self::Pure),
            #[cfg(target_arch = "wasm32")]
            Choice::Auto if web_crypto_available() => Ok(Self::WebCrypto),
            #[cfg(feature = "full")]
            Choice::Auto => Ok(Self::Pure),
            #[cfg(not(feature = "full"))]
            Choice::Pure | Choice::Auto => Err(Error::Backend(
                "this module has no pure AES backend; load the full module".into(),
            )),
            #[cfg(target_arch = "wasm32")]
            Choice::WebCrypto if web_crypto_available() => Ok(Self::WebCrypto),
            Choice::WebCrypto => Err(Error::Backend(
                "crypto.subtle is not available (not a secure context)".into(),
            )),
        }
    }
}

impl Backend for AnyBackend {
    type Cipher = AnyCipher;

    fn name(&self) -> &'static str {
        match self {
            #[cfg(feature = "full")]
            Self::Pure => Pure.name(),
            #[cfg(target_arch = "wasm32")]
            Self::WebCrypto => crypto_core::WebCrypto.name(),
        }
    }

    async fn cipher(&self, key: &[u8; 32]) -> Result<AnyCipher, Error> {
        Ok(match self {
            #[cfg(feature = "full")]
            Self::Pure => AnyCipher::Pure(Box::new(Pure.cipher(key).await?)),
            #[cfg(target_arch = "wasm32")]
            Self::WebCrypto => AnyCipher::WebCrypto(crypto_core::WebCrypto.cipher(key).await?),
        })
    }
}

impl SegmentCipher for AnyCipher {
    async fn seal_into(
        &self,
        nonce: &[u8; 12],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        match self {
            #[cfg(feature = "full")]
            Self::Pure(c) => c.seal_into(nonce, plaintext, out).await,
            #[cfg(target_arch = "wasm32")]
            Self::WebCrypto(c) => c.seal_into(nonce, plaintext, out).await,
        }
    }

    async fn open_into(
        &self,
        nonce: &[u8; 12],
        ciphertext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, Error> {
        match self {
            #[cfg(feature = "full")]
            Self::Pure(c) => c.open_into(nonce, ciphertext, out).await,
            #[cfg(target_arch = "wasm32")]
            Self::WebCrypto(c) => c.open_into(nonce, ciphertext, out).await,
        }
    }
}

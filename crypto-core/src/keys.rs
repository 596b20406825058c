//! The 256-bit secret key carried in the link fragment, and its text form.

use base64ct::{Base64UrlUnpadded, Encoding};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;

/// Length of a secret key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of a secret key in base64url characters (no padding).
pub const KEY_TEXT_LEN: usize = 43;

/// A 256-bit secret key. Zeroized on drop; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    /// A fresh key from the platform CSPRNG (`crypto.getRandomValues` in browsers).
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = [0u8; KEY_LEN];
        fill_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// Wraps raw key bytes (for test vectors and interop).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key as it appears in a link fragment: 43 base64url characters, no padding.
    pub fn to_text(&self) -> String {
        Base64UrlUnpadded::encode_string(&self.0)
    }

    /// Parses the text form of a key, with a precise error for each way it can be wrong.
    ///
    /// Surrounding whitespace is ignored (keys are often copied from chat messages).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::MissingKey);
        }
        if let Some((position, character)) = text
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(Error::KeyCharset {
                position,
                character,
            });
        }
        if text.len() != KEY_TEXT_LEN {
            return Err(Error::KeyLength {
                expected: KEY_TEXT_LEN,
                found: text.len(),
            });
        }
        let mut bytes = [0u8; KEY_LEN];
        match Base64UrlUnpadded::decode(text, &mut bytes) {
            Ok(decoded) if decoded.len() == KEY_LEN => Ok(Self(bytes)),
            _ => Err(Error::KeyEncoding),
        }
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Fills `buf` from the platform CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::getrandom(buf).map_err(|_| Error::Random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        let key = SecretKey::generate().unwrap();
        let text = key.to_text();
        assert_eq!(text.len(), KEY_TEXT_LEN);
        assert_eq!(SecretKey::parse(&text).unwrap(), key);
    }

    #[test]
    fn typed_errors() {
        let good = SecretKey::from_bytes([7; 32]).to_text();
        assert_eq!(SecretKey::parse(""), Err(Error::MissingKey));
        assert_eq!(
            SecretKey::parse(&good[..40]),
            Err(Error::KeyLength {
                expected: 43,
                found: 40
            })
        );
        let mut bad = good.clone();
        bad.replace_range(5..6, "+");
        assert_eq!(
            SecretKey::parse(&bad),
            Err(Error::KeyCharset {
                position: 5,
                character: '+'
            })
        );
        // 'B' as the last character sets padding bits that a 32-byte key cannot have.
        let mut noncanonical = good[..42].to_string();
        noncanonical.push('B');
        assert_eq!(SecretKey::parse(&noncanonical), Err(Error::KeyEncoding));
        assert!(format!("{:?}", SecretKey::from_bytes([1; 32])).contains("redacted"));
    }
}

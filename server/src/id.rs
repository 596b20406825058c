//! Secret ids: random UUIDv4, rendered as 22 characters of unpadded base64url so links stay short.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretId(Uuid);

impl SecretId {
    pub fn random() -> SecretId {
        SecretId(Uuid::new_v4())
    }

    /// Accepts the compact form and, for clients of the original API, the hyphenated UUID form.
    pub fn parse(s: &str) -> Option<SecretId> {
        if s.len() == 22 {
            let mut buf = [0u8; 16];
            let n = URL_SAFE_NO_PAD.decode_slice(s, &mut buf).ok()?;
            if n != 16 {
                return None;
            }
            return Some(SecretId(Uuid::from_bytes(buf)));
        }
        if s.len() == 36 {
            return Uuid::try_parse(s).ok().map(SecretId);
        }
        None
    }
}

impl fmt::Display for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0.as_bytes()))
    }
}

// Ids grant read access to ciphertext, so Debug does not print them in full.
impl fmt::Debug for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.to_string();
        write!(f, "SecretId({}…)", &s[..4])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = SecretId::random();
        let s = id.to_string();
        assert_eq!(s.len(), 22);
        assert_eq!(SecretId::parse(&s), Some(id));
        assert_eq!(SecretId::parse(&id.0.to_string()), Some(id));
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "abc",
            "!!!!!!!!!!!!!!!!!!!!!!",
            "AAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(SecretId::parse(s), None, "{s}");
        }
    }
}

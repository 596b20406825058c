//! Secret ids: 128 random bits, shown as a ULID (26 characters of Crockford base32).
//!
//! Hakanai v3's clients parse the id of a create response as a ULID, so new ids are issued in that
//! form; the bits are all random (nothing about creation time is in them). Links this server
//! issued before carry the same 128 bits as 22 characters of base64url or as a hyphenated UUID,
//! and all three forms name the same secret. The store keys a secret by its base64url form
//! ([`SecretId::storage_key`]), which never changes, so secrets stored before the switch to ULIDs
//! stay reachable.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ulid::Ulid;
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretId(u128);

/// Length of the ULID form, the one new links carry.
pub const ULID_LEN: usize = 26;

impl SecretId {
    pub fn random() -> SecretId {
        // rand's thread-local generator is a CSPRNG seeded from the OS: no syscall per id.
        SecretId(rand::random())
    }

    /// Accepts the ULID form (any case), and the base64url and UUID forms issued before.
    pub fn parse(s: &str) -> Option<SecretId> {
        match s.len() {
            ULID_LEN => {
                // 26 base32 digits hold 130 bits: a first digit above 7 would overflow, and two
                // strings would then name one secret.
                if !matches!(s.as_bytes()[0], b'0'..=b'7') {
                    return None;
                }
                Ulid::from_string(s).ok().map(|u| SecretId(u.0))
            }
            22 => {
                let mut buf = [0u8; 16];
                let n = URL_SAFE_NO_PAD.decode_slice(s, &mut buf).ok()?;
                if n != 16 {
                    return None;
                }
                Some(SecretId(u128::from_be_bytes(buf)))
            }
            36 => Uuid::try_parse(s).ok().map(|u| SecretId(u.as_u128())),
            _ => None,
        }
    }

    /// The form the stores key secrets by (and `secret_ref` hashes): base64url, as before ULIDs.
    pub fn storage_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.to_be_bytes())
    }
}

impl fmt::Display for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Ulid(self.0), f)
    }
}

// Ids grant read access to ciphertext, so Debug does not print them in full.
impl fmt::Debug for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.to_string();
        write!(f, "SecretId({}…)", &s[..4])
    }
}

/// Hex SHA-256 of the id's storage form (the same whichever form a link shows), domain-separated
/// so it matches no other hash in the system.
pub fn secret_ref(id: &SecretId) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"hakanai-secret-ref:");
    h.update(id.storage_key().as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_ulids_and_every_form_round_trips() {
        let id = SecretId::random();
        let s = id.to_string();
        assert_eq!(s.len(), ULID_LEN);
        assert_eq!(Ulid::from_string(&s).map(|u| u.0), Ok(id.0));
        assert_eq!(SecretId::parse(&s), Some(id));
        assert_eq!(SecretId::parse(&s.to_ascii_lowercase()), Some(id));
        assert_eq!(SecretId::parse(&id.storage_key()), Some(id));
        assert_eq!(
            SecretId::parse(&Uuid::from_u128(id.0).to_string()),
            Some(id)
        );
    }

    #[test]
    fn forms_issued_before_name_the_same_secret() {
        // One 128-bit value in the three forms: a base64url id and a UUID handed out by earlier
        // versions, and the ULID the same secret is shown as now.
        let b64 = "AAECAwQFBgcICQoLDA0ODw";
        let uuid = "00010203-0405-0607-0809-0a0b0c0d0e0f";
        let ulid = "00041061050R3GG28A1C60T3GF";
        let id = SecretId::parse(b64).unwrap();
        assert_eq!(SecretId::parse(uuid), Some(id));
        assert_eq!(SecretId::parse(ulid), Some(id));
        assert_eq!(id.to_string(), ulid);
        assert_eq!(id.storage_key(), b64);
    }

    #[test]
    fn all_bits_are_random() {
        // A ULID normally starts with a timestamp; ours must not: over many ids, every one of the
        // 128 bits is seen both set and clear.
        let (mut ones, mut zeros) = (0u128, 0u128);
        for _ in 0..256 {
            let SecretId(v) = SecretId::random();
            ones |= v;
            zeros |= !v;
        }
        assert_eq!((ones, zeros), (u128::MAX, u128::MAX));
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "abc",
            "!!!!!!!!!!!!!!!!!!!!!!",
            "AAAAAAAAAAAAAAAAAAAAAAA",
            // 26 characters: first digit overflows 128 bits, a character outside base32, too long
            "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "01ARZ3NDEKTSV4RRFFQ69G5FAU",
            "01ARZ3NDEKTSV4RRFFQ69G5FAVX",
        ] {
            assert_eq!(SecretId::parse(s), None, "{s}");
        }
        assert!(SecretId::parse("7ZZZZZZZZZZZZZZZZZZZZZZZZZ").is_some());
    }
}

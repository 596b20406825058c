//! Who may read a secret: the holder of its read token, IP ranges, countries, ASNs and a
//! passphrase verifier.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// Restrictions a client asked for that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestrictionError {
    /// Malformed (400).
    #[error("{0}")]
    Invalid(String),
    /// Well-formed, but this server could never check it (Hakanai v3's 501).
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Hakanai v3's messages for its 501, so scripts that matched them keep working.
pub const COUNTRY_UNSUPPORTED: &str = "Country restrictions are not supported by the server";
pub const ASN_UNSUPPORTED: &str = "ASN restrictions are not supported by the server";

/// Restrictions as stored with a secret (validated, canonical).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restrictions {
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "i")]
    pub allowed_ips: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "c")]
    pub allowed_countries: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "a")]
    pub allowed_asns: Vec<u32>,
    /// The passphrase lock: lowercase hex of a hash of what the reader must prove (see
    /// [`passphrase_opens`]); never itself a value that unlocks the secret.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "p")]
    pub passphrase_hash: Option<String>,
    /// The read lock: lowercase hex of `SHA-256(hex(read token))` (`docs/FORMAT.md` § Read
    /// token). Without the token a reader is told the secret does not exist. The stores copy it
    /// into the tombstone, so "already read" needs the token too.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "r")]
    pub read_lock: Option<String>,
}

/// A reader's `X-Secret-Read-Token` in the form of a stored read lock: lowercase hex of its
/// SHA-256. The stores compare it with a secret's lock as text to hand out, in the same step,
/// a secret whose read lock is its only restriction; what is compared is a hash of what the
/// reader sent, so how long the comparison takes tells nothing about the lock.
/// Hashed once per request: the server's own check ([`read_token_opens`]) uses the digest.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PresentedLock {
    digest: [u8; 32],
    hex: [u8; 64],
}

impl PresentedLock {
    pub fn of(token: &[u8]) -> Self {
        let digest: [u8; 32] = Sha256::digest(token).into();
        let mut hex = [0u8; 64];
        hex::encode_to_slice(digest, &mut hex).expect("32 bytes are 64 hex digits");
        Self { digest, hex }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.hex).expect("hex digits are ASCII")
    }
}

impl std::fmt::Debug for PresentedLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PresentedLock(..)")
    }
}

/// Whether the `X-Secret-Read-Token` a reader presented (`given`) opens a secret locked with
/// `lock` (hex of `SHA-256(token)`). No lock: anything opens it, as before read tokens existed.
pub fn read_token_opens(lock: Option<&str>, given: Option<&PresentedLock>) -> bool {
    let Some(lock) = lock else {
        return true;
    };
    let mut expected = [0u8; 32];
    if hex::decode_to_slice(lock, &mut expected).is_err() {
        return false;
    }
    let Some(given) = given else {
        return false;
    };
    bool::from(given.digest.ct_eq(&expected))
}

/// What is stored for the `passphrase_hash` a sender uploads: `hex(SHA-256(sent))`.
///
/// Hakanai v3's sender uploads the very value its reader later sends (`hex(SHA-256(passphrase))`),
/// so storing it as sent would make anyone who can read the store able to open the secret. Hashing
/// it once more keeps the store useless as a source of credentials for both kinds of client.
pub fn passphrase_lock(sent_hex: &str) -> String {
    hex::encode(Sha256::digest(sent_hex.as_bytes()))
}

/// Whether the `X-Secret-Passphrase` value `given` opens a secret locked with `lock` (hex).
///
/// With `A = SHA-256(given)`, a lock opens when it equals `A` or `SHA-256(hex(A))`:
/// - our clients send `hex(verifier)` and uploaded `hex(SHA-256(hex(verifier)))`, which
///   [`passphrase_lock`] stored as `SHA-256(hex(A))`;
/// - Hakanai v3 clients send exactly what they uploaded, stored as `SHA-256(given) = A`;
/// - secrets stored before locks existed hold the uploaded value itself, which is `A` for our
///   clients.
///
/// Each comparison needs a preimage of the stored value, so the lock itself never opens a secret.
pub fn passphrase_opens(lock: &str, given: &[u8]) -> bool {
    let mut expected = [0u8; 32];
    if hex::decode_to_slice(lock, &mut expected).is_err() {
        return false;
    }
    let a: [u8; 32] = Sha256::digest(given).into();
    let b: [u8; 32] = Sha256::digest(hex::encode(a).as_bytes()).into();
    bool::from(a.ct_eq(&expected) | b.ct_eq(&expected))
}

impl Restrictions {
    /// Refuses, with Hakanai v3's 501, restrictions this server could never check: a country or
    /// ASN list without the header that carries it. Called when a secret is created, before a
    /// one-time token is spent, so nobody stores a secret that no reader could open.
    pub fn ensure_checkable(&self, settings: &crate::Settings) -> Result<(), RestrictionError> {
        if !self.allowed_countries.is_empty() && settings.country_header.is_none() {
            return Err(RestrictionError::Unsupported(COUNTRY_UNSUPPORTED));
        }
        if !self.allowed_asns.is_empty() && settings.asn_header.is_none() {
            return Err(RestrictionError::Unsupported(ASN_UNSUPPORTED));
        }
        Ok(())
    }

    /// Nothing to check before a read: the stores hand such a secret out in one step.
    pub fn is_empty(&self) -> bool {
        self.read_lock.is_none() && !self.limits_readers()
    }

    /// Whether `presented` opens a secret that has nothing to check but its read lock: the
    /// stores hand it out in one step too ([`crate::store::TakeMode::ReadIfOpenedBy`]). The
    /// Redis store's `TAKE` script makes the same decision on the stored JSON (a lock and no
    /// other field).
    pub fn opened_by_lock_alone(&self, presented: &PresentedLock) -> bool {
        !self.limits_readers() && self.read_lock.as_deref() == Some(presented.as_str())
    }

    /// Whether the creator restricted who may read (addresses, countries, networks or a
    /// passphrase): what events and metrics call a restricted secret. The read lock is not a
    /// creator's choice but how every current client stores a secret, so it does not count.
    pub fn limits_readers(&self) -> bool {
        !self.allowed_ips.is_empty()
            || !self.allowed_countries.is_empty()
            || !self.allowed_asns.is_empty()
            || self.passphrase_hash.is_some()
    }
}

/// Restrictions as a client sends them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct RestrictionsRequest {
    /// IP addresses or CIDR ranges allowed to read.
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    /// ISO 3166-1 alpha-2 country codes allowed to read (needs `--country-header`).
    #[serde(default)]
    pub allowed_countries: Option<Vec<String>>,
    /// Autonomous system numbers allowed to read (needs `--asn-header`).
    #[serde(default)]
    pub allowed_asns: Option<Vec<u32>>,
    /// 64 hex characters the server hashes into the passphrase lock: ours send
    /// `hex(SHA-256(hex(verifier)))` (the reader sends `hex(verifier)`), Hakanai v3's send
    /// `hex(SHA-256(passphrase))` (the reader sends the same).
    #[serde(default)]
    pub passphrase_hash: Option<String>,
    /// 64 hex characters, `hex(SHA-256(hex(read token)))` (`docs/FORMAT.md` § Read token):
    /// readers must then send the token in `X-Secret-Read-Token`, or are told the secret does
    /// not exist. Optional, so Hakanai v3's clients keep working without one.
    #[serde(default)]
    pub read_token_hash: Option<String>,
}

const MAX_ENTRIES: usize = 256;

impl RestrictionsRequest {
    pub fn validate(self) -> Result<Restrictions, RestrictionError> {
        let mut out = Restrictions::default();
        for ip in self.allowed_ips.unwrap_or_default() {
            out.allowed_ips
                .push(parse_ip_or_net(ip.trim()).ok_or_else(|| {
                    RestrictionError::Invalid(format!("invalid IP address or range: {ip}"))
                })?);
        }
        for c in self.allowed_countries.unwrap_or_default() {
            let c = c.trim().to_ascii_uppercase();
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(RestrictionError::Invalid(format!(
                    "invalid country code: {c}"
                )));
            }
            out.allowed_countries.push(c);
        }
        out.allowed_asns = self.allowed_asns.unwrap_or_default();
        if let Some(h) = self.passphrase_hash {
            let h = h.trim().to_ascii_lowercase();
            if h.len() != 64 || hex::decode(&h).is_err() {
                return Err(RestrictionError::Invalid(
                    "passphrase_hash must be 64 hex characters (SHA-256)".into(),
                ));
            }
            out.passphrase_hash = Some(passphrase_lock(&h));
        }
        if let Some(h) = self.read_token_hash {
            let h = h.trim().to_ascii_lowercase();
            if h.len() != 64 || hex::decode(&h).is_err() {
                return Err(RestrictionError::Invalid(
                    "read_token_hash must be 64 hex characters (SHA-256)".into(),
                ));
            }
            // Kept as sent: it is already a hash of the token, which the server never sees
            // before a read.
            out.read_lock = Some(h);
        }
        if out.allowed_ips.len() + out.allowed_countries.len() + out.allowed_asns.len()
            > MAX_ENTRIES
        {
            return Err(RestrictionError::Invalid(
                "too many restriction entries".into(),
            ));
        }
        Ok(out)
    }
}

pub use crate::client_ip::parse_ip_or_net;

/// Splits a comma-separated header or query value.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_canonicalises() {
        let r = RestrictionsRequest {
            allowed_ips: Some(vec!["10.1.2.3/8".into(), "::1".into()]),
            allowed_countries: Some(vec!["de".into()]),
            allowed_asns: Some(vec![64512]),
            passphrase_hash: Some("AB".repeat(32)),
            read_token_hash: None,
        }
        .validate()
        .unwrap();
        assert_eq!(r.allowed_ips[0].to_string(), "10.0.0.0/8");
        assert_eq!(r.allowed_ips[1].to_string(), "::1/128");
        assert_eq!(r.allowed_countries, vec!["DE"]);
        assert_eq!(
            r.passphrase_hash.unwrap(),
            passphrase_lock(&"ab".repeat(32))
        );
    }

    fn sha256_hex(s: &str) -> String {
        hex::encode(Sha256::digest(s.as_bytes()))
    }

    #[test]
    fn locks_open_for_both_kinds_of_client_and_never_for_themselves() {
        // Ours: the reader sends hex(verifier); the sender uploaded hex(SHA-256(that)).
        let verifier_hex = "11".repeat(32);
        let ours = passphrase_lock(&sha256_hex(&verifier_hex));
        assert!(passphrase_opens(&ours, verifier_hex.as_bytes()));
        // Hakanai v3: reader and sender both send hex(SHA-256(passphrase)).
        let hakanai_sent = sha256_hex("correct horse");
        let hakanai = passphrase_lock(&hakanai_sent);
        assert!(passphrase_opens(&hakanai, hakanai_sent.as_bytes()));
        // A record stored before locks existed holds the uploaded value itself.
        let legacy = sha256_hex(&verifier_hex);
        assert!(passphrase_opens(&legacy, verifier_hex.as_bytes()));

        for lock in [&ours, &hakanai, &legacy] {
            assert!(
                !passphrase_opens(lock, lock.as_bytes()),
                "a lock opened itself"
            );
            assert!(!passphrase_opens(lock, b"wrong"));
        }
        assert!(!passphrase_opens("not hex", verifier_hex.as_bytes()));
    }

    #[test]
    fn rejects_garbage() {
        let bad = [
            RestrictionsRequest {
                allowed_ips: Some(vec!["nope".into()]),
                ..Default::default()
            },
            RestrictionsRequest {
                allowed_countries: Some(vec!["DEU".into()]),
                ..Default::default()
            },
            RestrictionsRequest {
                passphrase_hash: Some("xyz".into()),
                ..Default::default()
            },
        ];
        for r in bad {
            assert!(r.validate().is_err());
        }
    }

    #[test]
    fn a_read_lock_is_opened_by_its_token_only() {
        let token = "ab".repeat(32);
        let lock = hex::encode(Sha256::digest(token.as_bytes()));
        let r = RestrictionsRequest {
            read_token_hash: Some(lock.to_uppercase()),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(r.read_lock.as_deref(), Some(lock.as_str()));
        // Something to check before a read, but not a restriction a creator chose.
        assert!(!r.is_empty());
        assert!(!r.limits_readers());
        assert!(read_token_opens(
            Some(&lock),
            Some(&PresentedLock::of(token.as_bytes()))
        ));
        assert!(!read_token_opens(
            Some(&lock),
            Some(&PresentedLock::of(lock.as_bytes()))
        ));
        assert!(!read_token_opens(Some(&lock), None));
        assert!(!read_token_opens(
            Some("not hex"),
            Some(&PresentedLock::of(token.as_bytes()))
        ));
        assert!(read_token_opens(None, None));
        assert!(read_token_opens(
            None,
            Some(&PresentedLock::of(b"anything"))
        ));
    }
}

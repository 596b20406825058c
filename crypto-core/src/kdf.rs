//! Key schedule: fragment key (+ optional passphrase through Argon2id) → payload key, header MAC
//! key and passphrase verifier. See `docs/FORMAT.md` § Key schedule.

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, SecretKey};

/// HKDF-Extract salt shared by every derivation of format version 1.
const HKDF_SALT: &[u8] = b"hakanai/v1";
#[cfg(feature = "argon2")]
const INFO_ARGON2_SALT: &[u8] = b"argon2id salt";
const INFO_VERIFIER: &[u8] = b"passphrase verifier";
const INFO_PAYLOAD: &[u8] = b"payload key";
const INFO_HEADER_MAC: &[u8] = b"header mac key";
const INFO_READ_TOKEN: &[u8] = b"read token";

/// Argon2id cost parameters, as stored in the envelope header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Argon2Params {
    /// OWASP's recommended minimum: 19 MiB, 2 iterations, 1 lane.
    pub const DEFAULT: Self = Self {
        m_cost_kib: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };
    /// The most memory a decoder agrees to spend (64 MiB, RFC 9106's second recommended
    /// option), so a crafted header cannot exhaust a recipient's browser.
    pub const MAX_M_COST_KIB: u32 = 64 * 1024;
    /// The most iterations a decoder agrees to run.
    pub const MAX_T_COST: u32 = 10;
    /// The most lanes a decoder agrees to use. Browsers run them one after another, so lanes
    /// add no speed there, only memory.
    pub const MAX_P_COST: u32 = 4;
    /// The most work (memory × iterations, in KiB) a decoder agrees to do: RFC 9106's 64 MiB ×
    /// 3 passes, about five times the default. The memory and iteration caps alone would allow
    /// 64 MiB × 10; this bounds the time a header can make a reader spend.
    pub const MAX_WORK_KIB: u64 = 3 * 64 * 1024;

    /// Whether the parameters are within the range every decoder accepts (`docs/FORMAT.md`
    /// § Key schedule). Every writer of this project stays inside it: the defaults use a fifth
    /// of the work, and Hakanai v3 ran no Argon2id at all.
    pub fn in_range(self) -> bool {
        (1..=Self::MAX_P_COST).contains(&self.p_cost)
            && (1..=Self::MAX_T_COST).contains(&self.t_cost)
            && self.m_cost_kib >= 8 * self.p_cost
            && self.m_cost_kib <= Self::MAX_M_COST_KIB
            && u64::from(self.m_cost_kib) * u64::from(self.t_cost) <= Self::MAX_WORK_KIB
    }

    /// Checks parameters a caller chose (to write, or to read with): `argon2_params` when
    /// outside the range, so a writer never makes an envelope that readers refuse.
    pub fn validate(self) -> Result<Self, Error> {
        if self.in_range() {
            Ok(self)
        } else {
            Err(Error::Argon2Params {
                m_cost_kib: self.m_cost_kib,
                t_cost: self.t_cost,
                p_cost: self.p_cost,
            })
        }
    }

    /// Checks parameters read from an envelope header, before any Argon2id runs:
    /// `argon2_params_refused` when outside the range. The header MAC cannot be checked
    /// before Argon2id has run, so these parameters are unauthenticated here.
    pub(crate) fn check_header(self) -> Result<Self, Error> {
        if self.in_range() {
            Ok(self)
        } else {
            Err(Error::Argon2ParamsRefused {
                m_cost_kib: self.m_cost_kib,
                t_cost: self.t_cost,
                p_cost: self.p_cost,
            })
        }
    }
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The value a reader presents to the server (header `X-Secret-Passphrase`) to prove it knows
/// the passphrase. It is an independent HKDF output: knowing it does not help decrypt.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier(Zeroizing<[u8; 32]>);

impl Verifier {
    /// Lowercase hex, as sent in `X-Secret-Passphrase`.
    pub fn to_hex(&self) -> String {
        hex::encode(*self.0)
    }

    /// `hex(SHA-256(to_hex()))`: what the sender uploads as `restrictions.passphrase_hash`,
    /// so the server can check the header without storing the verifier itself.
    pub fn server_hash_hex(&self) -> String {
        upload_hash(&self.to_hex())
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(<redacted>)")
    }
}

/// The value a reader presents to the server (header `X-Secret-Read-Token`) to show it holds the
/// link key: without it the server neither hands out the secret, nor counts a passphrase attempt,
/// nor says whether the id exists. It depends on the fragment key alone (no passphrase), so a
/// reader has it before anything is fetched; an independent HKDF output, it does not help
/// decrypt. See `docs/FORMAT.md` § Read token.
#[derive(Clone, PartialEq, Eq)]
pub struct ReadToken(Zeroizing<[u8; 32]>);

impl ReadToken {
    /// The read token of the secret whose link carries `key`.
    pub fn derive(key: &SecretKey) -> ReadToken {
        ReadToken(expand(&extract(key.as_bytes()), INFO_READ_TOKEN, &[]))
    }

    /// Lowercase hex, as sent in `X-Secret-Read-Token`.
    pub fn to_hex(&self) -> String {
        hex::encode(*self.0)
    }

    /// `hex(SHA-256(to_hex()))`: what the sender uploads as `restrictions.read_token_hash`; the
    /// server keeps only this, which cannot be presented in place of the token.
    pub fn server_hash_hex(&self) -> String {
        upload_hash(&self.to_hex())
    }
}

/// `hex(SHA-256(value_hex))`: what a sender uploads for a value a reader later presents in hex.
fn upload_hash(value_hex: &str) -> String {
    hex::encode(Sha256::digest(value_hex.as_bytes()))
}

impl std::fmt::Debug for ReadToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadToken(<redacted>)")
    }
}

/// HKDF PRK over `key || argon2id(passphrase)` for one set of [`Argon2Params`]: what a
/// passphrase contributes to a [`KeySchedule`] (`docs/FORMAT.md` § Key schedule).
///
/// It exists as a value of its own so Argon2id can run somewhere else than the keys are used:
/// the page derives it in a Worker with the full module and hands the 32 bytes to the small
/// module on the main thread ([`KeySchedule::with_passphrase_prk`]). Zeroized on drop.
#[derive(Clone)]
pub struct PassphrasePrk(Zeroizing<[u8; 32]>);

impl PassphrasePrk {
    /// Wraps bytes made by [`passphrase_prk`] elsewhere.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The bytes, to carry to another module.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for PassphrasePrk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassphrasePrk(<redacted>)")
    }
}

#[derive(Clone)]
struct Passphrase {
    /// The normalised passphrase, kept to re-run Argon2id for a header that names other
    /// parameters; `None` when the schedule was built from a [`PassphrasePrk`] alone.
    #[cfg_attr(not(feature = "argon2"), allow(dead_code))]
    bytes: Option<Zeroizing<Vec<u8>>>,
    params: Argon2Params,
    prk: PassphrasePrk,
}

/// Everything derived from the fragment key and the optional passphrase.
///
/// Argon2id runs once, in the constructor; the envelope keys are then cheap HKDF expansions.
#[derive(Clone)]
pub struct KeySchedule {
    key: SecretKey,
    passphrase: Option<Passphrase>,
}

/// The keys for one envelope (one header salt).
pub(crate) struct EnvelopeKeys {
    pub payload: Zeroizing<[u8; 32]>,
    pub header_mac: Zeroizing<[u8; 32]>,
}

impl KeySchedule {
    /// A schedule for a secret without passphrase.
    pub fn new(key: SecretKey) -> Self {
        Self {
            key,
            passphrase: None,
        }
    }

    /// A schedule for a passphrase-protected secret. Runs Argon2id (about a second in a browser).
    ///
    /// A UTF-8 passphrase is NFC-normalised first (`docs/FORMAT.md` § Key schedule), so the
    /// same visible text opens the secret whichever way a keyboard, input method or platform
    /// composed its accents.
    #[cfg(feature = "argon2")]
    pub fn with_passphrase(
        key: SecretKey,
        passphrase: &[u8],
        params: Argon2Params,
    ) -> Result<Self, Error> {
        let (bytes, params) = checked_passphrase(passphrase, params)?;
        let prk = argon2id_prk(&key, &bytes, params)?;
        Ok(Self {
            key,
            passphrase: Some(Passphrase {
                bytes: Some(bytes),
                params,
                prk,
            }),
        })
    }

    /// A schedule for a passphrase-protected secret whose [`PassphrasePrk`] for `params` was
    /// derived elsewhere ([`passphrase_prk`]). No Argon2id runs here; an envelope that names
    /// other parameters fails with [`Error::Argon2Rerun`] (derive again for those).
    pub fn with_passphrase_prk(
        key: SecretKey,
        prk: PassphrasePrk,
        params: Argon2Params,
    ) -> Result<Self, Error> {
        let params = params.validate()?;
        Ok(Self {
            key,
            passphrase: Some(Passphrase {
                bytes: None,
                params,
                prk,
            }),
        })
    }

    /// The fragment key.
    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    /// The Argon2id parameters, if a passphrase is set.
    pub fn argon2_params(&self) -> Option<Argon2Params> {
        self.passphrase.as_ref().map(|p| p.params)
    }

    /// The read token of this secret (from the fragment key alone).
    pub fn read_token(&self) -> ReadToken {
        ReadToken::derive(&self.key)
    }

    /// The server-side verifier, if a passphrase is set.
    pub fn verifier(&self) -> Option<Verifier> {
        let p = self.passphrase.as_ref()?;
        Some(Verifier(expand(&p.prk.0, INFO_VERIFIER, &[])))
    }

    /// Keys for an envelope whose header carries `salt` and `header_params`. Re-runs Argon2id
    /// only when the header asks for other parameters than this schedule used.
    pub(crate) fn envelope_keys(
        &self,
        salt: &[u8],
        header_params: Option<Argon2Params>,
    ) -> Result<EnvelopeKeys, Error> {
        let prk = match (header_params, &self.passphrase) {
            (None, None) => PassphrasePrk(extract(self.key.as_bytes())),
            (Some(_), None) => return Err(Error::PassphraseRequired),
            (None, Some(_)) => return Err(Error::PassphraseNotExpected),
            (Some(wanted), Some(p)) if wanted == p.params => p.prk.clone(),
            (Some(wanted), Some(p)) => self.rerun(p, wanted.check_header()?)?,
        };
        Ok(EnvelopeKeys {
            payload: expand(&prk.0, INFO_PAYLOAD, salt),
            header_mac: expand(&prk.0, INFO_HEADER_MAC, salt),
        })
    }

    /// Argon2id again, for a header that names other parameters than this schedule used.
    fn rerun(&self, p: &Passphrase, wanted: Argon2Params) -> Result<PassphrasePrk, Error> {
        let rerun = Error::Argon2Rerun {
            m_cost_kib: wanted.m_cost_kib,
            t_cost: wanted.t_cost,
            p_cost: wanted.p_cost,
        };
        #[cfg(feature = "argon2")]
        if let Some(bytes) = &p.bytes {
            return argon2id_prk(&self.key, bytes, wanted);
        }
        let _ = p;
        Err(rerun)
    }
}

/// Derives the [`PassphrasePrk`] of `key` and `passphrase` for `params` (Argon2id: about a
/// second in a browser); [`KeySchedule::with_passphrase_prk`] takes it.
#[cfg(feature = "argon2")]
pub fn passphrase_prk(
    key: &SecretKey,
    passphrase: &[u8],
    params: Argon2Params,
) -> Result<PassphrasePrk, Error> {
    let (bytes, params) = checked_passphrase(passphrase, params)?;
    argon2id_prk(key, &bytes, params)
}

#[cfg(feature = "argon2")]
fn checked_passphrase(
    passphrase: &[u8],
    params: Argon2Params,
) -> Result<(Zeroizing<Vec<u8>>, Argon2Params), Error> {
    if passphrase.is_empty() {
        return Err(Error::EmptyPassphrase);
    }
    Ok((normalize_passphrase(passphrase), params.validate()?))
}

#[cfg(feature = "argon2")]
/// The passphrase as Argon2id sees it: the UTF-8 bytes of its Unicode NFC form. Bytes that are
/// not UTF-8 (no typed passphrase is) are used unchanged.
fn normalize_passphrase(passphrase: &[u8]) -> Zeroizing<Vec<u8>> {
    match std::str::from_utf8(passphrase) {
        Ok(text) => Zeroizing::new(nfc(text).into_bytes()),
        Err(_) => Zeroizing::new(passphrase.to_vec()),
    }
}

/// NFC with the `unicode-normalization` tables, natively.
#[cfg(all(feature = "argon2", not(target_arch = "wasm32")))]
fn nfc(text: &str) -> String {
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    // ASCII and most typed text are NFC already: the quick check skips the normalising pass.
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        return text.to_string();
    }
    text.nfc().collect()
}

/// NFC by the JavaScript engine (`String.prototype.normalize`) in wasm: the normalisation
/// tables would add to the page's weight, and every engine already has them. The vectors
/// (`passphrase_nfd_*`) check both give the same bytes.
#[cfg(all(feature = "argon2", target_arch = "wasm32"))]
fn nfc(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    String::from(js_sys::JsString::from(text).normalize("NFC"))
}

fn extract(ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    let (prk, _) = Hkdf::<Sha256>::extract(Some(HKDF_SALT), ikm);
    Zeroizing::new(prk.into())
}

fn expand(prk: &[u8; 32], info: &[u8], suffix: &[u8]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::from_prk(prk).expect("a 32-byte PRK is always valid");
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand_multi_info(&[info, suffix], out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

#[cfg(feature = "argon2")]
fn argon2id_prk(
    key: &SecretKey,
    passphrase: &[u8],
    params: Argon2Params,
) -> Result<PassphrasePrk, Error> {
    // The salt comes from the fragment key, so a reader can compute the verifier before the
    // server releases the envelope (the header is not yet available then).
    let salt_full = expand(&extract(key.as_bytes()), INFO_ARGON2_SALT, &[]);
    let argon_params =
        argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32)).map_err(
            |_| Error::Argon2Params {
                m_cost_kib: params.m_cost_kib,
                t_cost: params.t_cost,
                p_cost: params.p_cost,
            },
        )?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(key.as_bytes());
    argon
        .hash_password_into(passphrase, &salt_full[..16], &mut ikm[32..])
        .map_err(|e| Error::Backend(format!("argon2id: {e}")))?;
    Ok(PassphrasePrk(extract(ikm.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Argon2Params = Argon2Params {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };

    #[test]
    fn verifier_depends_on_key_and_passphrase() {
        let k1 = SecretKey::from_bytes([1; 32]);
        let k2 = SecretKey::from_bytes([2; 32]);
        let a = KeySchedule::with_passphrase(k1.clone(), b"pw", FAST).unwrap();
        let b = KeySchedule::with_passphrase(k1, b"pw2", FAST).unwrap();
        let c = KeySchedule::with_passphrase(k2, b"pw", FAST).unwrap();
        let va = a.verifier().unwrap();
        assert_ne!(va, b.verifier().unwrap());
        assert_ne!(va, c.verifier().unwrap());
        assert_eq!(va.to_hex().len(), 64);
        assert_eq!(va.server_hash_hex().len(), 64);
        let keys = a.envelope_keys(&[0; 16], Some(FAST)).unwrap();
        assert_ne!(
            *keys.payload, *va.0,
            "verifier and payload key are independent outputs"
        );
    }

    #[test]
    fn a_prk_made_elsewhere_gives_the_same_keys_and_asks_for_a_rerun() {
        let key = SecretKey::from_bytes([3; 32]);
        let direct = KeySchedule::with_passphrase(key.clone(), b"pw", FAST).unwrap();
        let prk = passphrase_prk(&key, b"pw", FAST).unwrap();
        assert_eq!(format!("{prk:?}"), "PassphrasePrk(<redacted>)");
        let carried = PassphrasePrk::from_bytes(*prk.as_bytes());
        let split = KeySchedule::with_passphrase_prk(key, carried, FAST).unwrap();
        assert_eq!(direct.verifier(), split.verifier());
        assert_eq!(direct.argon2_params(), split.argon2_params());
        let salt = [9; 16];
        let (a, b) = (
            direct.envelope_keys(&salt, Some(FAST)).unwrap(),
            split.envelope_keys(&salt, Some(FAST)).unwrap(),
        );
        assert_eq!((*a.payload, *a.header_mac), (*b.payload, *b.header_mac));
        // Other parameters in a header: the direct schedule re-runs Argon2id, the split one
        // cannot and says for which parameters to derive again.
        let other = Argon2Params { t_cost: 2, ..FAST };
        assert!(direct.envelope_keys(&salt, Some(other)).is_ok());
        assert_eq!(
            split.envelope_keys(&salt, Some(other)).err(),
            Some(Error::Argon2Rerun {
                m_cost_kib: 64,
                t_cost: 2,
                p_cost: 1
            })
        );
        assert_eq!(
            passphrase_prk(&SecretKey::from_bytes([3; 32]), b"", FAST).err(),
            Some(Error::EmptyPassphrase)
        );
    }

    #[test]
    fn read_token_depends_on_the_key_alone() {
        let k1 = SecretKey::from_bytes([1; 32]);
        let plain = KeySchedule::new(k1.clone());
        let locked = KeySchedule::with_passphrase(k1.clone(), b"pw", FAST).unwrap();
        let token = plain.read_token();
        assert_eq!(
            token,
            locked.read_token(),
            "a reader has it before the passphrase"
        );
        assert_ne!(token, ReadToken::derive(&SecretKey::from_bytes([2; 32])));
        let payload = plain.envelope_keys(&[0; 16], None).unwrap().payload;
        assert_ne!(*payload, *token.0);
        assert_ne!(locked.verifier().unwrap().to_hex(), token.to_hex());
        // The hash the server keeps is not the token, and is what the reader's value hashes to.
        let hash = token.server_hash_hex();
        assert_ne!(hash, token.to_hex());
        assert_eq!(hash, hex::encode(Sha256::digest(token.to_hex().as_bytes())));
        assert_eq!(format!("{token:?}"), "ReadToken(<redacted>)");
    }

    #[test]
    fn passphrase_mismatches_are_typed() {
        let plain = KeySchedule::new(SecretKey::from_bytes([1; 32]));
        assert!(plain.verifier().is_none());
        assert_eq!(
            plain.envelope_keys(&[0; 16], Some(FAST)).err(),
            Some(Error::PassphraseRequired)
        );
        let pw = KeySchedule::with_passphrase(SecretKey::from_bytes([1; 32]), b"x", FAST).unwrap();
        assert_eq!(
            pw.envelope_keys(&[0; 16], None).err(),
            Some(Error::PassphraseNotExpected)
        );
        assert_eq!(
            KeySchedule::with_passphrase(SecretKey::from_bytes([1; 32]), b"", FAST).err(),
            Some(Error::EmptyPassphrase)
        );
        let huge = Argon2Params {
            m_cost_kib: u32::MAX,
            ..FAST
        };
        assert_eq!(huge.validate().unwrap_err().code(), "argon2_params");
    }

    #[test]
    fn argon2_range_holds_what_writers_use_and_bounds_the_work() {
        let p = |m_cost_kib, t_cost, p_cost| Argon2Params {
            m_cost_kib,
            t_cost,
            p_cost,
        };
        // Our default, the test vectors' small parameters, OWASP's other equivalent choices
        // (46 MiB × 1 … 7 MiB × 5) and RFC 9106's second recommendation (64 MiB × 3, 4 lanes).
        for ok in [
            Argon2Params::DEFAULT,
            FAST,
            p(47104, 1, 1),
            p(12288, 3, 1),
            p(9216, 4, 1),
            p(7168, 5, 1),
            p(65536, 3, 4),
            p(32, 1, 4),
        ] {
            assert!(ok.in_range(), "{ok:?}");
            assert_eq!(ok.check_header(), Ok(ok));
        }
        for refused in [
            p(65537, 1, 1),    // memory
            p(65536, 4, 1),    // work: 64 MiB × 4
            p(19456, 11, 1),   // iterations
            p(19456, 2, 5),    // lanes
            p(19456, 0, 1),    // no iteration
            p(19456, 2, 0),    // no lane
            p(31, 1, 4),       // less than 8 KiB per lane
            p(262144, 16, 16), // what the previous range allowed
            p(u32::MAX, u32::MAX, 1),
        ] {
            assert!(!refused.in_range(), "{refused:?}");
            assert_eq!(refused.validate().unwrap_err().code(), "argon2_params");
            assert_eq!(
                refused.check_header().unwrap_err().code(),
                "argon2_params_refused"
            );
        }
    }

    #[test]
    fn passphrases_are_nfc_normalised() {
        // "café" typed with a combining accent, and the Ångström sign: both map to NFC.
        assert_eq!(
            *normalize_passphrase("cafe\u{301} \u{212B}".as_bytes()),
            "caf\u{E9} \u{C5}".as_bytes()
        );
        assert_eq!(*normalize_passphrase(b"ascii pw"), b"ascii pw");
        // Not UTF-8: used as given.
        assert_eq!(*normalize_passphrase(&[0xff, 0x41]), [0xff, 0x41]);
        let key = SecretKey::from_bytes([3; 32]);
        let composed = KeySchedule::with_passphrase(key.clone(), "caf\u{E9}".as_bytes(), FAST);
        let decomposed = KeySchedule::with_passphrase(key, "cafe\u{301}".as_bytes(), FAST);
        assert_eq!(composed.unwrap().verifier(), decomposed.unwrap().verifier());
    }

    /// Parameters a header names are checked before Argon2id runs with them: a refused header
    /// costs nothing (a 4 GiB Argon2id run would take minutes, and fail the test by time).
    #[test]
    fn refused_header_parameters_never_reach_argon2() {
        let pw = KeySchedule::with_passphrase(SecretKey::from_bytes([1; 32]), b"x", FAST).unwrap();
        let wanted = Argon2Params {
            m_cost_kib: 4 * 1024 * 1024,
            t_cost: 1,
            p_cost: 1,
        };
        assert_eq!(
            pw.envelope_keys(&[0; 16], Some(wanted))
                .err()
                .map(|e| e.code()),
            Some("argon2_params_refused")
        );
    }
}

//! One error type for the whole crate, one variant per failure a caller can act on.

use thiserror::Error;

/// Everything that can go wrong in crypto-core.
///
/// Authentication failures are deliberately opaque: they never say *which* byte was wrong,
/// only where in the envelope the check failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input is empty where a link, fragment or key was expected.
    #[error("the link is empty")]
    EmptyLink,
    /// A link without a `#key` fragment, where a key is required.
    #[error("the link has no key (nothing after '#'); ask the sender for the separate key")]
    MissingKey,
    /// A link without a `/s/{id}` path.
    #[error("the link has no secret id (expected …/s/{{id}})")]
    MissingId,
    /// The secret id contains characters outside base64url or has a wrong length.
    #[error("the secret id in the link is malformed")]
    InvalidId,
    /// The key does not have the 43 base64url characters of a 256-bit key.
    #[error("the key has {found} characters, expected {expected}; the link may be truncated")]
    KeyLength {
        /// Characters expected (43).
        expected: usize,
        /// Characters found.
        found: usize,
    },
    /// The key contains a character outside the base64url alphabet.
    // The code point instead of `{character:?}`: `Debug` for `char` brings Unicode tables
    // into the page's wasm module.
    #[error("the key contains an invalid character '{character}' (U+{code:04X}) at position {position}", code = u32::from(*.character))]
    KeyCharset {
        /// Zero-based character position within the key.
        position: usize,
        /// The offending character.
        character: char,
    },
    /// The key's last character has non-zero padding bits (not a canonical encoding).
    #[error("the key is not a canonical base64url encoding; the link may be damaged")]
    KeyEncoding,
    /// The platform random number generator failed.
    #[error("the system random number generator is unavailable")]
    Random,
    /// An empty passphrase was given.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// Argon2id parameters outside the accepted range.
    #[error("Argon2id parameters out of range (memory {m_cost_kib} KiB, iterations {t_cost}, parallelism {p_cost})")]
    Argon2Params {
        /// Memory cost in KiB.
        m_cost_kib: u32,
        /// Iterations.
        t_cost: u32,
        /// Lanes.
        p_cost: u32,
    },
    /// An envelope header names Argon2id parameters outside the accepted range; refused
    /// before Argon2id runs, so a crafted header cannot make a reader spend memory or time.
    #[error("this secret asks for Argon2id parameters beyond what readers accept (memory {m_cost_kib} KiB, iterations {t_cost}, parallelism {p_cost}); it was made by another program or modified")]
    Argon2ParamsRefused {
        /// Memory cost in KiB, as the header names it.
        m_cost_kib: u32,
        /// Iterations.
        t_cost: u32,
        /// Lanes.
        p_cost: u32,
    },
    /// The envelope names other Argon2id parameters than the [`crate::KeySchedule`] was made
    /// for, and the schedule cannot run Argon2id itself (it was built from a
    /// [`crate::PassphrasePrk`]): derive the PRK for these parameters and start again.
    #[error("this secret was made with other Argon2id parameters (memory {m_cost_kib} KiB, iterations {t_cost}, parallelism {p_cost}); derive the passphrase key for them")]
    Argon2Rerun {
        /// Memory cost in KiB, as the header names it.
        m_cost_kib: u32,
        /// Iterations.
        t_cost: u32,
        /// Lanes.
        p_cost: u32,
    },
    /// The input does not start with the envelope magic bytes.
    #[error("this is not a Hakanai envelope")]
    NotAnEnvelope,
    /// The envelope has a version this library does not know.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// The header is structurally invalid (reserved flags set, segment size out of range).
    #[error("malformed envelope header: {0}")]
    MalformedHeader(&'static str),
    /// The envelope requires a passphrase and none was given.
    #[error("this secret is protected by a passphrase")]
    PassphraseRequired,
    /// A passphrase was given but the envelope has none.
    #[error("this secret has no passphrase")]
    PassphraseNotExpected,
    /// The header MAC did not verify: wrong key, wrong passphrase, or a modified header.
    #[error("wrong key or passphrase, or the envelope header was modified")]
    HeaderAuthentication,
    /// A segment did not authenticate: modified, reordered, duplicated or dropped data.
    #[error("the envelope is corrupted at segment {index}")]
    SegmentAuthentication {
        /// Zero-based index of the segment that failed.
        index: u64,
    },
    /// The envelope ends before its last segment.
    #[error("the envelope is truncated")]
    Truncated,
    /// Data follows the last segment.
    #[error("unexpected data after the end of the envelope")]
    TrailingData,
    /// The encrypted metadata record is not valid.
    #[error("the encrypted metadata is invalid: {0}")]
    InvalidMetadata(String),
    /// The content length differs from the length recorded in the metadata.
    #[error("the content has {actual} bytes but the metadata says {expected}")]
    LengthMismatch {
        /// Length recorded in the metadata.
        expected: u64,
        /// Length actually decrypted.
        actual: u64,
    },
    /// More segments than the 32-bit counter allows.
    #[error("the secret is too large for one envelope")]
    TooLarge,
    /// The streaming encryptor or decryptor was used after an error or after `finish`.
    #[error("the stream was already finished or failed")]
    StreamClosed,
    /// The AEAD backend failed for a reason other than authentication (e.g. WebCrypto missing).
    #[error("crypto backend error: {0}")]
    Backend(String),
    /// A bundle (several files in one secret) is malformed.
    #[error("the file bundle is malformed: {0}")]
    InvalidBundle(String),
    /// The check value after `:` in a Hakanai v3 link is not 22 base64url characters.
    #[error("the check value after ':' in the link is malformed; the link may be truncated")]
    LegacyHashFormat,
    /// A Hakanai v3 secret is not base64 or too short to hold a nonce and a tag.
    #[error("this is neither a Hakanai envelope nor a Hakanai v3 secret")]
    LegacyCiphertext,
    /// A Hakanai v3 secret did not decrypt: wrong key, or modified data.
    #[error("wrong key, or the secret was modified")]
    LegacyAuthentication,
    /// A Hakanai v3 secret decrypted but does not match the check value in its link.
    #[error("the secret does not match the check value in its link")]
    LegacyHashMismatch,
    /// A Hakanai v3 secret decrypted to something that is not its payload format.
    #[error("the Hakanai v3 payload is malformed: {0}")]
    LegacyPayload(String),
}

impl Error {
    /// Every value [`Error::code`] returns, in declaration order: the JavaScript bindings
    /// export them as a TypeScript type, so the page cannot name a code that does not exist.
    pub const CODES: &'static [&'static str] = &[
        "empty_link",
        "missing_key",
        "missing_id",
        "invalid_id",
        "key_length",
        "key_charset",
        "key_encoding",
        "random_unavailable",
        "empty_passphrase",
        "argon2_params",
        "argon2_params_refused",
        "argon2_rerun",
        "not_an_envelope",
        "unsupported_version",
        "malformed_header",
        "passphrase_required",
        "passphrase_not_expected",
        "header_authentication",
        "segment_authentication",
        "truncated",
        "trailing_data",
        "invalid_metadata",
        "length_mismatch",
        "too_large",
        "stream_closed",
        "backend",
        "invalid_bundle",
        "legacy_hash_format",
        "legacy_ciphertext",
        "legacy_authentication",
        "legacy_hash_mismatch",
        "legacy_payload",
    ];

    /// A stable machine-readable code (used by the JavaScript bindings and the CLI).
    pub fn code(&self) -> &'static str {
        match self {
            Error::EmptyLink => "empty_link",
            Error::MissingKey => "missing_key",
            Error::MissingId => "missing_id",
            Error::InvalidId => "invalid_id",
            Error::KeyLength { .. } => "key_length",
            Error::KeyCharset { .. } => "key_charset",
            Error::KeyEncoding => "key_encoding",
            Error::Random => "random_unavailable",
            Error::EmptyPassphrase => "empty_passphrase",
            Error::Argon2Params { .. } => "argon2_params",
            Error::Argon2ParamsRefused { .. } => "argon2_params_refused",
            Error::Argon2Rerun { .. } => "argon2_rerun",
            Error::NotAnEnvelope => "not_an_envelope",
            Error::UnsupportedVersion(_) => "unsupported_version",
            Error::MalformedHeader(_) => "malformed_header",
            Error::PassphraseRequired => "passphrase_required",
            Error::PassphraseNotExpected => "passphrase_not_expected",
            Error::HeaderAuthentication => "header_authentication",
            Error::SegmentAuthentication { .. } => "segment_authentication",
            Error::Truncated => "truncated",
            Error::TrailingData => "trailing_data",
            Error::InvalidMetadata(_) => "invalid_metadata",
            Error::LengthMismatch { .. } => "length_mismatch",
            Error::TooLarge => "too_large",
            Error::StreamClosed => "stream_closed",
            Error::Backend(_) => "backend",
            Error::InvalidBundle(_) => "invalid_bundle",
            Error::LegacyHashFormat => "legacy_hash_format",
            Error::LegacyCiphertext => "legacy_ciphertext",
            Error::LegacyAuthentication => "legacy_authentication",
            Error::LegacyHashMismatch => "legacy_hash_mismatch",
            Error::LegacyPayload(_) => "legacy_payload",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    /// One of each variant. The match makes a new variant a compile error here until it is
    /// added to this list (and so to the check against `CODES`).
    fn one_of_each() -> Vec<Error> {
        let all = vec![
            Error::EmptyLink,
            Error::MissingKey,
            Error::MissingId,
            Error::InvalidId,
            Error::KeyLength {
                expected: 43,
                found: 1,
            },
            Error::KeyCharset {
                position: 0,
                character: '!',
            },
            Error::KeyEncoding,
            Error::Random,
            Error::EmptyPassphrase,
            Error::Argon2Params {
                m_cost_kib: 0,
                t_cost: 0,
                p_cost: 0,
            },
            Error::Argon2ParamsRefused {
                m_cost_kib: 0,
                t_cost: 0,
                p_cost: 0,
            },
            Error::Argon2Rerun {
                m_cost_kib: 0,
                t_cost: 0,
                p_cost: 0,
            },
            Error::NotAnEnvelope,
            Error::UnsupportedVersion(9),
            Error::MalformedHeader("x"),
            Error::PassphraseRequired,
            Error::PassphraseNotExpected,
            Error::HeaderAuthentication,
            Error::SegmentAuthentication { index: 0 },
            Error::Truncated,
            Error::TrailingData,
            Error::InvalidMetadata(String::new()),
            Error::LengthMismatch {
                expected: 0,
                actual: 1,
            },
            Error::TooLarge,
            Error::StreamClosed,
            Error::Backend(String::new()),
            Error::InvalidBundle(String::new()),
            Error::LegacyHashFormat,
            Error::LegacyCiphertext,
            Error::LegacyAuthentication,
            Error::LegacyHashMismatch,
            Error::LegacyPayload(String::new()),
        ];
        for e in &all {
            match e {
                Error::EmptyLink
                | Error::MissingKey
                | Error::MissingId
                | Error::InvalidId
                | Error::KeyLength { .. }
                | Error::KeyCharset { .. }
                | Error::KeyEncoding
                | Error::Random
                | Error::EmptyPassphrase
                | Error::Argon2Params { .. }
                | Error::Argon2ParamsRefused { .. }
                | Error::Argon2Rerun { .. }
                | Error::NotAnEnvelope
                | Error::UnsupportedVersion(_)
                | Error::MalformedHeader(_)
                | Error::PassphraseRequired
                | Error::PassphraseNotExpected
                | Error::HeaderAuthentication
                | Error::SegmentAuthentication { .. }
                | Error::Truncated
                | Error::TrailingData
                | Error::InvalidMetadata(_)
                | Error::LengthMismatch { .. }
                | Error::TooLarge
                | Error::StreamClosed
                | Error::Backend(_)
                | Error::InvalidBundle(_)
                | Error::LegacyHashFormat
                | Error::LegacyCiphertext
                | Error::LegacyAuthentication
                | Error::LegacyHashMismatch
                | Error::LegacyPayload(_) => {}
            }
        }
        all
    }

    #[test]
    fn codes_lists_every_code_once() {
        let codes: Vec<&str> = one_of_each().iter().map(Error::code).collect();
        assert_eq!(codes, Error::CODES);
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len(), "a code is used twice");
    }
}

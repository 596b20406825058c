//! The envelope header (`docs/FORMAT.md` § Header).
//!
//! ```text
//! magic "HKNI" | version u8 = 1 | flags u8 | segment_size u32be | salt [16] | nonce_prefix [7]
//! [ m_cost_kib u32be | t_cost u32be | p_cost u32be ]   only when flags bit 0 (passphrase) is set
//! header_mac [32] = HMAC-SHA256(header_mac_key, all preceding header bytes)
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::kdf::Argon2Params;
use crate::Error;

/// The first four bytes of every envelope.
pub const MAGIC: [u8; 4] = *b"HKNI";
/// The format version this library writes and reads.
pub const VERSION: u8 = 1;
/// Flag bit 0: the envelope is passphrase-protected and the header carries Argon2id params.
pub const FLAG_PASSPHRASE: u8 = 0x01;
/// Length of the random salt that makes each envelope's keys unique.
pub const SALT_LEN: usize = 16;
/// Length of the random nonce prefix.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Length of the header MAC.
pub const MAC_LEN: usize = 32;
/// Smallest plaintext segment size a decoder accepts.
pub const MIN_SEGMENT_SIZE: u32 = 64;
/// Largest plaintext segment size a decoder accepts; bounds a decoder's memory.
pub const MAX_SEGMENT_SIZE: u32 = 16 * 1024 * 1024;
/// The segment size encoders use unless told otherwise. Measured in Chromium (BENCHMARKS.md):
/// 256 KiB segments, several in flight, let WebCrypto's worker threads run in parallel, which
/// beats fewer, larger calls even for a 1 MiB secret.
pub const DEFAULT_SEGMENT_SIZE: u32 = 256 * 1024;

/// Bytes before the optional Argon2 block: magic, version, flags, segment size, salt, prefix.
const FIXED_LEN: usize = 4 + 1 + 1 + 4 + SALT_LEN + NONCE_PREFIX_LEN;
const ARGON2_LEN: usize = 12;
/// The longest header: with the Argon2id block.
pub const MAX_HEADER_LEN: usize = FIXED_LEN + ARGON2_LEN + MAC_LEN;

/// Length of a serialized header, with or without the Argon2id block.
pub const fn header_len(passphrase: bool) -> usize {
    FIXED_LEN + if passphrase { ARGON2_LEN } else { 0 } + MAC_LEN
}

/// A parsed (or to-be-written) header, without its MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Plaintext bytes per segment (the last segment may be shorter).
    pub segment_size: u32,
    /// Per-envelope random salt for the payload and header-MAC keys.
    pub salt: [u8; SALT_LEN],
    /// Per-envelope random nonce prefix.
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
    /// Argon2id parameters when passphrase-protected.
    pub argon2: Option<Argon2Params>,
}

impl Header {
    /// Length of the serialized header including the MAC.
    pub fn encoded_len(&self) -> usize {
        header_len(self.argon2.is_some())
    }

    /// Serializes the header and appends its MAC.
    pub(crate) fn write(&self, mac_key: &[u8; 32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(if self.argon2.is_some() {
            FLAG_PASSPHRASE
        } else {
            0
        });
        out.extend_from_slice(&self.segment_size.to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.nonce_prefix);
        if let Some(p) = self.argon2 {
            out.extend_from_slice(&p.m_cost_kib.to_be_bytes());
            out.extend_from_slice(&p.t_cost.to_be_bytes());
            out.extend_from_slice(&p.p_cost.to_be_bytes());
        }
        let mac = header_mac(mac_key, &out);
        out.extend_from_slice(&mac);
        out
    }

    /// Parses the unauthenticated part of a header from the start of `input`.
    ///
    /// Returns `Ok(None)` when more bytes are needed. The MAC is checked separately by
    /// [`verify_mac`], once the keys (which need the salt and Argon2 parameters) are known.
    pub(crate) fn parse(input: &[u8]) -> Result<Option<(Header, usize)>, Error> {
        // Reject foreign data as early as possible, before waiting for a full header.
        let magic_seen = input.len().min(MAGIC.len());
        if input[..magic_seen] != MAGIC[..magic_seen] {
            return Err(Error::NotAnEnvelope);
        }
        if input.len() < 6 {
            return Ok(None);
        }
        if input[4] != VERSION {
            return Err(Error::UnsupportedVersion(input[4]));
        }
        let flags = input[5];
        if flags & !FLAG_PASSPHRASE != 0 {
            return Err(Error::MalformedHeader("reserved flag bits are set"));
        }
        let has_passphrase = flags & FLAG_PASSPHRASE != 0;
        let len = FIXED_LEN + if has_passphrase { ARGON2_LEN } else { 0 } + MAC_LEN;
        if input.len() < len {
            return Ok(None);
        }
        let segment_size = read_u32(&input[6..10]);
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&segment_size) {
            return Err(Error::MalformedHeader("segment size out of range"));
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&input[10..10 + SALT_LEN]);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&input[10 + SALT_LEN..FIXED_LEN]);
        let argon2 = if has_passphrase {
            let params = Argon2Params {
                m_cost_kib: read_u32(&input[FIXED_LEN..FIXED_LEN + 4]),
                t_cost: read_u32(&input[FIXED_LEN + 4..FIXED_LEN + 8]),
                p_cost: read_u32(&input[FIXED_LEN + 8..FIXED_LEN + 12]),
            };
            // Refused before anything runs Argon2id with them (they are not yet authenticated).
            Some(params.check_header()?)
        } else {
            None
        };
        Ok(Some((
            Header {
                segment_size,
                salt,
                nonce_prefix,
                argon2,
            },
            len,
        )))
    }
}

/// How many more bytes the header at the start of `buffer` needs, judging by its flags;
/// `None` once it is complete.
pub(crate) fn header_bytes_missing(buffer: &[u8]) -> Option<usize> {
    let needed = match buffer.get(5) {
        None => 6,
        Some(flags) if flags & FLAG_PASSPHRASE != 0 => MAX_HEADER_LEN,
        Some(_) => FIXED_LEN + MAC_LEN,
    };
    needed.checked_sub(buffer.len()).filter(|&n| n > 0)
}

/// Checks the MAC at the end of the `header_bytes` (as returned by [`Header::parse`]).
pub(crate) fn verify_mac(mac_key: &[u8; 32], header_bytes: &[u8]) -> Result<(), Error> {
    let (body, tag) = header_bytes.split_at(header_bytes.len() - MAC_LEN);
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(mac_key).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(tag)
        .map_err(|_| Error::HeaderAuthentication)
}

fn header_mac(mac_key: &[u8; 32], body: &[u8]) -> [u8; MAC_LEN] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(mac_key).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The 96-bit AES-GCM nonce of segment `index`: `prefix[7] || index u32be || last u8`.
pub(crate) fn segment_nonce(prefix: &[u8; NONCE_PREFIX_LEN], index: u32, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    nonce[NONCE_PREFIX_LEN..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

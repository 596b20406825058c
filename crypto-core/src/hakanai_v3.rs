//! A reader — never a writer — for secrets written by Hakanai v3 clients (`docs/FORMAT.md`
//! § Hakanai v3 secrets), so links already handed out keep opening after a switch.
//!
//! Such a secret is `base64(nonce(12) || AES-256-GCM(key, nonce, payload))` with no associated
//! data; `payload` is MessagePack `[data, filename | nil]`; the link fragment is
//! `{key}:{hash}` with `hash = base64url(SHA-256(payload)[..16])`, checked after decryption.

#[cfg(feature = "hakanai-v3")]
use aes_gcm::aead::{Aead, KeyInit};
#[cfg(feature = "hakanai-v3")]
use aes_gcm::{Aes256Gcm, Nonce};
#[cfg(feature = "hakanai-v3")]
use base64::engine::general_purpose::STANDARD;
#[cfg(feature = "hakanai-v3")]
use base64::Engine;
use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};
#[cfg(feature = "hakanai-v3")]
use subtle::ConstantTimeEq;
#[cfg(feature = "hakanai-v3")]
use zeroize::Zeroizing;

use crate::{format, Error, SecretKey};
#[cfg(feature = "hakanai-v3")]
use crate::{Kind, Metadata};

/// Bytes of the content check value in a Hakanai v3 link.
pub const CONTENT_HASH_LEN: usize = 16;
#[cfg(feature = "hakanai-v3")]
const NONCE_LEN: usize = 12;
#[cfg(feature = "hakanai-v3")]
const TAG_LEN: usize = 16;

/// The truncated SHA-256 of the payload that follows the key in a Hakanai v3 link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentHash([u8; CONTENT_HASH_LEN]);

impl ContentHash {
    /// Parses the 22 base64url characters after the `:`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut out = [0u8; CONTENT_HASH_LEN];
        match Base64UrlUnpadded::decode(text.trim(), &mut out) {
            Ok(decoded) if decoded.len() == CONTENT_HASH_LEN => Ok(Self(out)),
            _ => Err(Error::LegacyHashFormat),
        }
    }

    /// The text form, as in the link.
    pub fn to_text(&self) -> String {
        Base64UrlUnpadded::encode_string(&self.0)
    }

    #[cfg(feature = "hakanai-v3")]
    fn of(payload: &[u8]) -> Self {
        let digest = Sha256::digest(payload);
        let mut out = [0u8; CONTENT_HASH_LEN];
        out.copy_from_slice(&digest[..CONTENT_HASH_LEN]);
        Self(out)
    }
}

/// What opens one Hakanai v3 secret: the key and check value from its link, and the passphrase
/// header if it has a passphrase (Hakanai v3 mixes no passphrase into the encryption; its server
/// checks the header).
#[derive(Clone)]
pub struct Keys {
    key: SecretKey,
    hash: ContentHash,
    passphrase_header: Option<String>,
}

impl Keys {
    /// Keys for a secret; `passphrase` as the person typed it.
    pub fn new(
        key: SecretKey,
        hash: ContentHash,
        passphrase: Option<&[u8]>,
    ) -> Result<Self, Error> {
        if passphrase.is_some_and(<[u8]>::is_empty) {
            return Err(Error::EmptyPassphrase);
        }
        Ok(Self {
            key,
            hash,
            passphrase_header: passphrase.map(passphrase_header),
        })
    }

    /// The key in its link form, `{key}:{hash}`.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.key.to_text(), self.hash.to_text())
    }

    /// What the reader sends in `X-Secret-Passphrase`, if a passphrase was given.
    pub fn passphrase_header(&self) -> Option<&str> {
        self.passphrase_header.as_deref()
    }

    /// Opens the secret's body; see [`open`].
    #[cfg(feature = "hakanai-v3")]
    pub fn open(&self, body: &[u8]) -> Result<(Metadata, Vec<u8>), Error> {
        open(&self.key, &self.hash, body)
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hakanai_v3::Keys(<redacted>)")
    }
}

/// Collects a body pushed in chunks and opens it at the end: a Hakanai v3 secret is one AES-GCM
/// message, so nothing of it can be released before the whole has been authenticated.
#[cfg(feature = "hakanai-v3")]
#[derive(Debug)]
pub struct Reader {
    keys: Keys,
    body: Zeroizing<Vec<u8>>,
    metadata: Option<Metadata>,
}

#[cfg(feature = "hakanai-v3")]
impl Reader {
    /// A reader for one secret.
    pub fn new(keys: Keys) -> Self {
        Self {
            keys,
            body: Zeroizing::new(Vec::new()),
            metadata: None,
        }
    }

    /// Takes the next chunk of the body.
    pub fn push(&mut self, chunk: &[u8]) {
        self.body.extend_from_slice(chunk);
    }

    /// Opens the collected body; the metadata is known from here on.
    pub fn finish(&mut self) -> Result<Vec<u8>, Error> {
        let (metadata, content) = self.keys.open(&self.body)?;
        self.metadata = Some(metadata);
        Ok(content)
    }

    /// The metadata, once [`Reader::finish`] has succeeded.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_ref()
    }
}

/// Whether a downloaded secret is in Hakanai v3's form rather than an envelope of ours.
pub fn is_v3_secret(body: &[u8]) -> bool {
    !body.starts_with(&format::MAGIC)
}

/// The `X-Secret-Passphrase` value a Hakanai v3 secret expects: hex SHA-256 of the passphrase.
///
/// The bytes as typed, never NFC-normalised (unlike an envelope's passphrase): Hakanai v3's
/// sender hashed them that way, and the server compares hashes, so normalising here could only
/// turn a right passphrase into a wrong one (and spend an attempt).
pub fn passphrase_header(passphrase: &[u8]) -> String {
    hex::encode(Sha256::digest(passphrase))
}

/// Opens a Hakanai v3 secret: `body` is what the server returns (the base64 text; surrounding
/// whitespace is ignored). Text comes back as [`Kind::Text`], a named payload as [`Kind::File`].
#[cfg(feature = "hakanai-v3")]
pub fn open(
    key: &SecretKey,
    hash: &ContentHash,
    body: &[u8],
) -> Result<(Metadata, Vec<u8>), Error> {
    let text = body.trim_ascii();
    let sealed = Zeroizing::new(STANDARD.decode(text).map_err(|_| Error::LegacyCiphertext)?);
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::LegacyCiphertext);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new_from_slice(key.as_bytes()).map_err(|_| Error::LegacyCiphertext)?;
    let payload = Zeroizing::new(
        cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| Error::LegacyAuthentication)?,
    );
    if !bool::from(ContentHash::of(&payload).0.ct_eq(&hash.0)) {
        return Err(Error::LegacyHashMismatch);
    }
    let (data, filename) = decode_payload(&payload)?;
    let metadata = Metadata {
        kind: if filename.is_some() {
            Kind::File
        } else {
            Kind::Text
        },
        media_type: filename
            .is_none()
            .then(|| "text/plain; charset=utf-8".into()),
        size: Some(data.len() as u64),
        name: filename,
    };
    Ok((metadata, data))
}

/// MessagePack `[data, filename]`: `data` as an array of byte values (what Hakanai's encoder
/// writes) or as bin, `filename` as str or nil.
#[cfg(feature = "hakanai-v3")]
fn decode_payload(mut rd: &[u8]) -> Result<(Vec<u8>, Option<String>), Error> {
    use rmp::decode::{read_array_len, read_bin_len, read_marker, read_str_len};
    use rmp::Marker;

    let bad = |what: &str| Error::LegacyPayload(what.to_string());
    let rd = &mut rd;
    if read_array_len(rd).map_err(|_| bad("not a MessagePack array"))? != 2 {
        return Err(bad("expected [data, filename]"));
    }
    let peek = *rd.first().ok_or_else(|| bad("data is missing"))?;
    let data = match Marker::from_u8(peek) {
        Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
            let len = read_bin_len(rd).map_err(|_| bad("data is malformed"))? as usize;
            take(rd, len)
                .ok_or_else(|| bad("data is truncated"))?
                .to_vec()
        }
        _ => {
            let len = read_array_len(rd).map_err(|_| bad("data is not bytes"))? as usize;
            // Each element takes at least one byte, which bounds the allocation by the input.
            if len > rd.len() {
                return Err(bad("data is truncated"));
            }
            let mut data = Vec::with_capacity(len);
            for _ in 0..len {
                data.push(
                    read_byte(rd).ok_or_else(|| bad("data holds a value that is not a byte"))?,
                );
            }
            data
        }
    };
    let peek = *rd.first().ok_or_else(|| bad("filename is missing"))?;
    let filename = if Marker::from_u8(peek) == Marker::Null {
        read_marker(rd).map_err(|_| bad("filename is malformed"))?;
        None
    } else {
        let len = read_str_len(rd).map_err(|_| bad("filename is not a string"))? as usize;
        let raw = take(rd, len).ok_or_else(|| bad("filename is truncated"))?;
        Some(
            std::str::from_utf8(raw)
                .map_err(|_| bad("filename is not UTF-8"))?
                .to_string(),
        )
    };
    if !rd.is_empty() {
        return Err(bad("data follows the payload"));
    }
    Ok((data, filename))
}

#[cfg(feature = "hakanai-v3")]
fn take<'a>(rd: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if rd.len() < len {
        return None;
    }
    let (head, tail) = rd.split_at(len);
    *rd = tail;
    Some(head)
}

/// One byte value: a positive fixint or a uint8 (`0xcc`), the forms an integer 0–255 takes.
#[cfg(feature = "hakanai-v3")]
fn read_byte(rd: &mut &[u8]) -> Option<u8> {
    match *take(rd, 1)? {
        [b] if b < 0x80 => Some(b),
        [0xcc] => take(rd, 1).map(|b| b[0]),
        _ => None,
    }
}

#[cfg(all(test, feature = "hakanai-v3"))]
mod tests {
    use super::*;

    #[test]
    fn payload_forms() {
        // [ [104, 105, 255], nil ]
        let array = [0x92, 0x93, 104, 105, 0xcc, 0xff, 0xc0];
        assert_eq!(decode_payload(&array).unwrap(), (vec![104, 105, 255], None));
        // [ bin "hi", "a.txt" ]
        let bin = [
            0x92, 0xc4, 2, b'h', b'i', 0xa5, b'a', b'.', b't', b'x', b't',
        ];
        assert_eq!(
            decode_payload(&bin).unwrap(),
            (b"hi".to_vec(), Some("a.txt".into()))
        );
        for bad in [
            &[0x91, 0x90][..],
            &[0x92, 0x93, 1, 2][..],
            &[0x92, 0x91, 0xcd, 1, 0, 0xc0][..],
            &[0x92, 0x90, 0xc0, 0x00][..],
            &[0x92, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0][..],
            &[][..],
        ] {
            assert_eq!(
                decode_payload(bad).unwrap_err().code(),
                "legacy_payload",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keys_redact_and_refuse_an_empty_passphrase() {
        let key = SecretKey::from_bytes([3; 32]);
        let hash = ContentHash::of(b"x");
        assert_eq!(
            Keys::new(key.clone(), hash, Some(b"")).unwrap_err(),
            Error::EmptyPassphrase
        );
        let keys = Keys::new(key, hash, Some(b"pw")).unwrap();
        assert_eq!(
            keys.passphrase_header(),
            Some(passphrase_header(b"pw").as_str())
        );
        assert!(!format!("{keys:?}").contains(&keys.to_text()));
    }

    #[test]
    fn content_hash_text() {
        let h = ContentHash::of(b"x");
        assert_eq!(ContentHash::parse(&h.to_text()).unwrap(), h);
        assert_eq!(ContentHash::parse("short"), Err(Error::LegacyHashFormat));
    }
}

//! STREAM-segmented encryption and decryption (`docs/FORMAT.md` § Segments).
//!
//! Both directions take input in chunks of any size and return output as it becomes available;
//! memory stays within about two segments whatever the total size.
//!
//! A decryptor releases plaintext segment by segment, *before* the end of the envelope has been
//! authenticated: only a successful [`Decryptor::finish`] proves the secret is complete.
//! Callers must not act on (e.g. offer for download) plaintext until then.

use crate::backend::{Backend, SegmentCipher, TAG_LEN};
use crate::format::{
    self, segment_nonce, Header, DEFAULT_SEGMENT_SIZE, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
    NONCE_PREFIX_LEN, SALT_LEN,
};
use crate::keys::fill_random;
use crate::metadata::{Metadata, MAX_METADATA_LEN};
use crate::{Error, KeySchedule};

/// The random values of a header. Only test-vector generators supply their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRandomness {
    /// Salt for the per-envelope keys.
    pub salt: [u8; SALT_LEN],
    /// Nonce prefix.
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
}

impl HeaderRandomness {
    /// Fresh values from the platform CSPRNG.
    pub fn generate() -> Result<Self, Error> {
        let mut salt = [0u8; SALT_LEN];
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        fill_random(&mut salt)?;
        fill_random(&mut nonce_prefix)?;
        Ok(Self { salt, nonce_prefix })
    }
}

/// Encoder settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptOptions {
    /// Plaintext bytes per segment, `64..=16 MiB`.
    pub segment_size: u32,
    /// `None` (the default) draws salt and nonce prefix from the CSPRNG. Never reuse values.
    pub randomness: Option<HeaderRandomness>,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            segment_size: DEFAULT_SEGMENT_SIZE,
            randomness: None,
        }
    }
}

async fn seal_segment<C: SegmentCipher>(
    cipher: &C,
    prefix: &[u8; NONCE_PREFIX_LEN],
    index: &mut u32,
    plaintext: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    cipher
        .seal_into(&segment_nonce(prefix, *index, last), plaintext, out)
        .await?;
    if !last {
        *index = index.checked_add(1).ok_or(Error::TooLarge)?;
    }
    Ok(())
}

/// Streaming encoder. Concatenating every output of [`push`](Self::push) and
/// [`finish`](Self::finish) gives the envelope.
pub struct Encryptor<C: SegmentCipher> {
    cipher: C,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    segment_size: usize,
    index: u32,
    /// Plaintext not yet sealed; at most one segment.
    buffer: Vec<u8>,
    /// The header, until the first output carries it.
    header: Option<Vec<u8>>,
    expected_size: Option<u64>,
    content_len: u64,
    failed: bool,
}

impl<C: SegmentCipher> Encryptor<C> {
    /// Starts an envelope for `metadata` under `keys`.
    pub async fn new<B: Backend<Cipher = C>>(
        backend: &B,
        keys: &KeySchedule,
        metadata: &Metadata,
        options: &EncryptOptions,
    ) -> Result<Self, Error> {
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&options.segment_size) {
            return Err(Error::MalformedHeader("segment size out of range"));
        }
        let randomness = match &options.randomness {
            Some(r) => r.clone(),
            None => HeaderRandomness::generate()?,
        };
        let header = Header {
            segment_size: options.segment_size,
            salt: randomness.salt,
            nonce_prefix: randomness.nonce_prefix,
            argon2: keys.argon2_params(),
        };
        let envelope_keys = keys.envelope_keys(&header.salt, header.argon2)?;
        let header_bytes = header.write(&envelope_keys.header_mac);
        let cipher = backend.cipher(&envelope_keys.payload).await?;
        let segment_size = options.segment_size as usize;
        let mut buffer = Vec::with_capacity(segment_size);
        buffer.extend_from_slice(&metadata.encode()?);
        Ok(Self {
            cipher,
            nonce_prefix: header.nonce_prefix,
            segment_size,
            index: 0,
            buffer,
            header: Some(header_bytes),
            expected_size: metadata.size,
            content_len: 0,
            failed: false,
        })
    }

    /// Adds content; returns the envelope bytes that are ready (possibly none).
    pub async fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        if self.failed {
            return Err(Error::StreamClosed);
        }
        let result = self.push_inner(chunk).await;
        self.failed = result.is_err();
        result
    }

    async fn push_inner(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = self.header.take().unwrap_or_default();
        // Reserve once: growing a large output step by step would copy it several times.
        let segments = (self.buffer.len() + chunk.len()) / self.segment_size + 1;
        out.reserve(self.buffer.len() + chunk.len() + segments * TAG_LEN);
        self.content_len += chunk.len() as u64;
        if let Some(expected) = self.expected_size {
            if self.content_len > expected {
                return Err(Error::LengthMismatch {
                    expected,
                    actual: self.content_len,
                });
            }
        }
        let seg = self.segment_size;
        self.seal_overflow(&mut out).await?;
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.buffer.len() == seg {
                // More data follows, so the buffered segment is not the last one.
                let (cipher, prefix) = (&self.cipher, &self.nonce_prefix);
                seal_segment(
                    cipher,
                    prefix,
                    &mut self.index,
                    &self.buffer,
                    false,
                    &mut out,
                )
                .await?;
                self.buffer.clear();
            }
            if self.buffer.is_empty() {
                // Seal whole segments straight from the input, without copying them first.
                while rest.len() > seg {
                    let (segment, tail) = rest.split_at(seg);
                    let (cipher, prefix) = (&self.cipher, &self.nonce_prefix);
                    seal_segment(cipher, prefix, &mut self.index, segment, false, &mut out).await?;
                    rest = tail;
                }
            }
            let take = (seg - self.buffer.len()).min(rest.len());
            self.buffer.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        Ok(out)
    }

    /// Seals the full segments of a buffer longer than one segment (a metadata record can be
    /// longer than a small segment).
    async fn seal_overflow(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let seg = self.segment_size;
        let mut start = 0;
        while self.buffer.len() - start > seg {
            let segment = &self.buffer[start..start + seg];
            seal_segment(
                &self.cipher,
                &self.nonce_prefix,
                &mut self.index,
                segment,
                false,
                out,
            )
            .await?;
            start += seg;
        }
        self.buffer.drain(..start);
        Ok(())
    }

    /// Seals the last segment and returns the final envelope bytes. The encoder is closed
    /// afterwards.
    pub async fn finish(&mut self) -> Result<Vec<u8>, Error> {
        if self.failed {
            return Err(Error::StreamClosed);
        }
        self.failed = true;
        if let Some(expected) = self.expected_size {
            if expected != self.content_len {
                return Err(Error::LengthMismatch {
                    expected,
                    actual: self.content_len,
                });
            }
        }
        let mut out = self.header.take().unwrap_or_default();
        self.seal_overflow(&mut out).await?;
        let last = std::mem::take(&mut self.buffer);
        let (cipher, prefix) = (&self.cipher, &self.nonce_prefix);
        seal_segment(cipher, prefix, &mut self.index, &last, true, &mut out).await?;
        Ok(out)
    }
}

struct Body<C> {
    cipher: C,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    segment_ct_len: usize,
    index: u32,
}

impl<C: SegmentCipher> Body<C> {
    /// Opens one segment into `out`. On failure, tells apart the ways a stream can be damaged
    /// by also trying the other value of the last-segment flag.
    async fn open(&mut self, segment: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), Error> {
        let nonce = segment_nonce(&self.nonce_prefix, self.index, last);
        if self.cipher.open_into(&nonce, segment, out).await? {
            if !last {
                self.index = self.index.checked_add(1).ok_or(Error::TooLarge)?;
            }
            return Ok(());
        }
        let other = segment_nonce(&self.nonce_prefix, self.index, !last);
        let mut scratch = Vec::new();
        if self.cipher.open_into(&other, segment, &mut scratch).await? {
            // A valid last segment followed by more data, or a valid middle segment where the
            // envelope ends.
            return Err(if last {
                Error::Truncated
            } else {
                Error::TrailingData
            });
        }
        Err(Error::SegmentAuthentication {
            index: u64::from(self.index),
        })
    }
}

/// Splits decrypted plaintext into the metadata record and the content.
#[derive(Default)]
struct PlaintextParser {
    record: Vec<u8>,
    metadata: Option<Metadata>,
    content_len: u64,
}

impl PlaintextParser {
    /// `out[start..]` is fresh plaintext; strips the metadata record from it.
    fn accept(&mut self, out: &mut Vec<u8>, start: usize) -> Result<(), Error> {
        if self.metadata.is_none() {
            let mut consumed = 0;
            let fresh = &out[start..];
            if self.record.len() < 4 {
                let take = (4 - self.record.len()).min(fresh.len());
                self.record.extend_from_slice(&fresh[..take]);
                consumed += take;
            }
            if self.record.len() >= 4 {
                let len = u32::from_be_bytes([
                    self.record[0],
                    self.record[1],
                    self.record[2],
                    self.record[3],
                ]) as usize;
                if len > MAX_METADATA_LEN {
                    return Err(Error::InvalidMetadata("metadata longer than 64 KiB".into()));
                }
                let take = (4 + len - self.record.len()).min(fresh.len() - consumed);
                self.record
                    .extend_from_slice(&fresh[consumed..consumed + take]);
                consumed += take;
                if self.record.len() == 4 + len {
                    self.metadata = Some(Metadata::decode(&self.record[4..])?);
                    self.record = Vec::new();
                }
            }
            out.drain(start..start + consumed);
        }
        self.content_len += (out.len() - start) as u64;
        self.check_size(false)
    }

    fn check_size(&self, complete: bool) -> Result<(), Error> {
        if let Some(expected) = self.metadata.as_ref().and_then(|m| m.size) {
            if self.content_len > expected || (complete && self.content_len != expected) {
                return Err(Error::LengthMismatch {
                    expected,
                    actual: self.content_len,
                });
            }
        }
        Ok(())
    }
}

/// Streaming decoder: feed envelope bytes with [`push`](Self::push), receive content; the
/// metadata is available from [`metadata`](Self::metadata) once its segment has been opened.
pub struct Decryptor<B: Backend> {
    backend: B,
    keys: KeySchedule,
    body: Option<Body<B::Cipher>>,
    /// Envelope bytes not yet opened: the header, then at most one segment.
    buffer: Vec<u8>,
    plaintext: PlaintextParser,
    failed: bool,
}

impl<B: Backend> Decryptor<B> {
    /// A decoder for an envelope under `keys`.
    pub fn new(backend: B, keys: KeySchedule) -> Self {
        Self {
            backend,
            keys,
            body: None,
            buffer: Vec::new(),
            plaintext: PlaintextParser::default(),
            failed: false,
        }
    }

    /// The decrypted metadata, once available. Not authenticated as complete before `finish`.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.plaintext.metadata.as_ref()
    }

    /// Adds envelope bytes; returns the content that could be decrypted (possibly none).
    pub async fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        if self.failed {
            return Err(Error::StreamClosed);
        }
        let result = self.push_inner(chunk).await;
        self.failed = result.is_err();
        result
    }

    async fn push_inner(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.buffer.len() + chunk.len());
        let mut rest = chunk;
        if self.body.is_none() {
            // Buffer only what the header can need; the body is read from `rest` in place.
            let take = format::MAX_HEADER_LEN
                .saturating_sub(self.buffer.len())
                .min(rest.len());
            self.buffer.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if !self.open_header().await? {
                return Ok(out);
            }
        }
        let Some(body) = self.body.as_mut() else {
            return Ok(out);
        };
        let ct_len = body.segment_ct_len;
        // Right after the header, the buffer may hold several segments.
        let mut start = 0;
        while self.buffer.len() - start > ct_len {
            let before = out.len();
            body.open(&self.buffer[start..start + ct_len], false, &mut out)
                .await?;
            self.plaintext.accept(&mut out, before)?;
            start += ct_len;
        }
        self.buffer.drain(..start);
        while !rest.is_empty() {
            if self.buffer.len() == ct_len {
                let before = out.len();
                body.open(&self.buffer, false, &mut out).await?;
                self.plaintext.accept(&mut out, before)?;
                self.buffer.clear();
            }
            if self.buffer.is_empty() {
                while rest.len() > ct_len {
                    let (segment, tail) = rest.split_at(ct_len);
                    let before = out.len();
                    body.open(segment, false, &mut out).await?;
                    self.plaintext.accept(&mut out, before)?;
                    rest = tail;
                }
            }
            let take = (ct_len - self.buffer.len()).min(rest.len());
            self.buffer.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        Ok(out)
    }

    /// Parses and authenticates the header once enough bytes are buffered.
    async fn open_header(&mut self) -> Result<bool, Error> {
        let Some((header, header_len)) = Header::parse(&self.buffer)? else {
            return Ok(false);
        };
        let keys = self.keys.envelope_keys(&header.salt, header.argon2)?;
        format::verify_mac(&keys.header_mac, &self.buffer[..header_len])?;
        let cipher = self.backend.cipher(&keys.payload).await?;
        self.body = Some(Body {
            cipher,
            nonce_prefix: header.nonce_prefix,
            segment_ct_len: header.segment_size as usize + TAG_LEN,
            index: 0,
        });
        self.buffer.drain(..header_len);
        Ok(true)
    }

    /// Opens the last segment and checks the envelope is complete; returns the last content.
    /// The decoder is closed afterwards; [`metadata`](Self::metadata) stays available.
    pub async fn finish(&mut self) -> Result<Vec<u8>, Error> {
        if self.failed {
            return Err(Error::StreamClosed);
        }
        self.failed = true;
        let Some(body) = self.body.as_mut() else {
            return Err(Error::Truncated);
        };
        if self.buffer.len() < TAG_LEN {
            return Err(Error::Truncated);
        }
        let mut out = Vec::new();
        body.open(&self.buffer, true, &mut out).await?;
        self.buffer = Vec::new();
        self.plaintext.accept(&mut out, 0)?;
        if self.plaintext.metadata.is_none() {
            return Err(Error::InvalidMetadata(
                "the metadata record is incomplete".into(),
            ));
        }
        self.plaintext.check_size(true)?;
        Ok(out)
    }
}

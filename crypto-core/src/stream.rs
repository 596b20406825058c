//! STREAM-segmented encryption and decryption (`docs/FORMAT.md` § Segments).
//!
//! Both directions take input in chunks of any size and return output as it becomes available;
//! memory stays within about two segments whatever the total size.
//!
//! A decryptor releases plaintext segment by segment, *before* the end of the envelope has been
//! authenticated: only a successful [`Decryptor::finish`] proves the secret is complete.
//! Callers must not act on (e.g. offer for download) plaintext until then.

use futures_util::future::join_all;

use crate::backend::{Backend, SegmentCipher, TAG_LEN};
use crate::format::{
    self, header_len, segment_nonce, Header, DEFAULT_SEGMENT_SIZE, MAX_SEGMENT_SIZE,
    MIN_SEGMENT_SIZE, NONCE_PREFIX_LEN, SALT_LEN,
};
use crate::keys::fill_random;
use crate::metadata::{Metadata, MAX_METADATA_LEN};
use crate::{padding, Error, KeySchedule};

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
    /// Pad the plaintext to its length bucket (`docs/FORMAT.md` § Padding) when the metadata
    /// states the content size. On by default; off only to reproduce unpadded test vectors.
    pub pad: bool,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            segment_size: DEFAULT_SEGMENT_SIZE,
            randomness: None,
            pad: true,
        }
    }
}

/// Segments sealed (or opened) concurrently when the backend benefits: enough to keep
/// WebCrypto's worker threads busy, few enough to bound memory (16 segments in flight).
const MAX_IN_FLIGHT: usize = 16;

/// Splits a full (or final) `buffer` followed by `rest` into segments of `seg` bytes to
/// process now, as (bytes, last?) in order, and the remainder to keep buffered. A segment is
/// non-last only when more bytes follow it; when `finishing`, the remainder is the last one.
fn plan_segments<'a, 'r: 'a>(
    buffer: &'a [u8],
    mut rest: &'r [u8],
    seg: usize,
    finishing: bool,
) -> (Vec<(&'a [u8], bool)>, &'r [u8]) {
    if rest.is_empty() {
        return (vec![(buffer, true)], &[]);
    }
    let mut jobs = Vec::new();
    if !buffer.is_empty() {
        jobs.push((buffer, false));
    }
    while rest.len() > seg {
        let (segment, tail) = rest.split_at(seg);
        jobs.push((segment, false));
        rest = tail;
    }
    if finishing {
        jobs.push((rest, true));
        rest = &[];
    }
    (jobs, rest)
}

/// The nonce index of the `k`-th job of a batch starting at `first`.
fn job_index(first: u32, k: usize) -> Result<u32, Error> {
    u32::try_from(k)
        .ok()
        .and_then(|k| first.checked_add(k))
        .ok_or(Error::TooLarge)
}

/// Seals `jobs` (plaintext, last?) with consecutive indexes from `first`, appending to `out`
/// in order. Returns the index after the last non-last segment.
async fn seal_jobs<C: SegmentCipher>(
    cipher: &C,
    prefix: &[u8; NONCE_PREFIX_LEN],
    first: u32,
    jobs: &[(&[u8], bool)],
    out: &mut Vec<u8>,
) -> Result<u32, Error> {
    if !C::CONCURRENT {
        for (k, (plaintext, last)) in jobs.iter().enumerate() {
            let nonce = segment_nonce(prefix, job_index(first, k)?, *last);
            cipher.seal_into(&nonce, plaintext, out).await?;
        }
    } else {
        for (g, group) in jobs.chunks(MAX_IN_FLIGHT).enumerate() {
            let sealed = join_all(group.iter().enumerate().map(|(k, (plaintext, last))| {
                let index = job_index(first, g * MAX_IN_FLIGHT + k);
                async move {
                    let nonce = segment_nonce(prefix, index?, *last);
                    let mut sealed = Vec::with_capacity(plaintext.len() + TAG_LEN);
                    cipher.seal_into(&nonce, plaintext, &mut sealed).await?;
                    Ok::<_, Error>(sealed)
                }
            }))
            .await;
            for segment in sealed {
                out.extend_from_slice(&segment?);
            }
        }
    }
    let non_last = jobs.iter().filter(|(_, last)| !last).count();
    job_index(first, non_last)
}

/// The exact length of the envelope for `content_len` bytes of content under `metadata`, as
/// the default encoder (padding on) writes it: all the server learns about a secret. Clients
/// use it to check an upload limit before encrypting.
pub fn envelope_len(
    metadata: &Metadata,
    content_len: u64,
    passphrase: bool,
    segment_size: u32,
) -> Result<u64, Error> {
    if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&segment_size) {
        return Err(Error::MalformedHeader("segment size out of range"));
    }
    let plaintext = padding::record(metadata, true)?.len() as u64 + content_len;
    let segments = plaintext.div_ceil(u64::from(segment_size)).max(1);
    Ok(header_len(passphrase) as u64 + plaintext + TAG_LEN as u64 * segments)
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
    /// Envelope bytes produced before the first call (the header, and the first segments
    /// when the metadata record is longer than a segment).
    pending: Vec<u8>,
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
        let mut pending = header.write(&envelope_keys.header_mac);
        let cipher = backend.cipher(&envelope_keys.payload).await?;
        let segment_size = options.segment_size as usize;
        let record = padding::record(metadata, options.pad)?;
        // A record longer than a segment: its full segments are certainly not the last.
        let full = record.len().saturating_sub(1) / segment_size;
        let jobs: Vec<(&[u8], bool)> = record[..full * segment_size]
            .chunks(segment_size)
            .map(|segment| (segment, false))
            .collect();
        let index = seal_jobs(&cipher, &header.nonce_prefix, 0, &jobs, &mut pending).await?;
        let mut buffer = Vec::with_capacity(segment_size);
        buffer.extend_from_slice(&record[full * segment_size..]);
        Ok(Self {
            cipher,
            nonce_prefix: header.nonce_prefix,
            segment_size,
            index,
            buffer,
            pending,
            expected_size: metadata.size,
            content_len: 0,
            failed: false,
        })
    }

    /// Adds content; returns the envelope bytes that are ready (possibly none).
    pub async fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        self.process(chunk, false).await
    }

    /// Seals the last segment and returns the final envelope bytes. The encoder is closed
    /// afterwards.
    pub async fn finish(&mut self) -> Result<Vec<u8>, Error> {
        self.process(&[], true).await
    }

    /// [`push`](Self::push) the final chunk and [`finish`](Self::finish) in one step, so
    /// that every segment can be sealed concurrently.
    pub async fn finish_with(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        self.process(chunk, true).await
    }

    async fn process(&mut self, chunk: &[u8], finishing: bool) -> Result<Vec<u8>, Error> {
        if self.failed {
            return Err(Error::StreamClosed);
        }
        self.failed = true;
        let out = self.process_inner(chunk, finishing).await?;
        self.failed = finishing;
        Ok(out)
    }

    async fn process_inner(&mut self, chunk: &[u8], finishing: bool) -> Result<Vec<u8>, Error> {
        self.content_len += chunk.len() as u64;
        if let Some(expected) = self.expected_size {
            if self.content_len > expected || (finishing && self.content_len != expected) {
                return Err(Error::LengthMismatch {
                    expected,
                    actual: self.content_len,
                });
            }
        }
        let seg = self.segment_size;
        let mut out = std::mem::take(&mut self.pending);
        // Reserve once: growing a large output step by step would copy it several times.
        let total = self.buffer.len() + chunk.len();
        out.reserve(total + (total / seg + 1) * TAG_LEN);

        // Top up the buffer: afterwards it is either a full segment or holds all the input.
        let mut buffer = std::mem::take(&mut self.buffer);
        // (The encoder's buffer is never empty: it always holds at least the record's tail.)
        let take = (seg - buffer.len()).min(chunk.len());
        buffer.extend_from_slice(&chunk[..take]);
        let rest = &chunk[take..];

        if rest.is_empty() && !finishing {
            self.buffer = buffer;
            return Ok(out);
        }
        let (jobs, rest) = plan_segments(&buffer, rest, seg, finishing);
        self.index = seal_jobs(
            &self.cipher,
            &self.nonce_prefix,
            self.index,
            &jobs,
            &mut out,
        )
        .await?;
        drop(jobs);
        buffer.clear();
        buffer.extend_from_slice(rest);
        self.buffer = buffer;
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
    /// Opens `jobs` (ciphertext, last?) with consecutive indexes, handing each plaintext to
    /// `accept` in order.
    async fn open_jobs(
        &mut self,
        jobs: &[(&[u8], bool)],
        out: &mut Vec<u8>,
        parser: &mut PlaintextParser,
    ) -> Result<(), Error> {
        let first = self.index;
        if !C::CONCURRENT {
            for (k, (segment, last)) in jobs.iter().enumerate() {
                let index = job_index(first, k)?;
                let start = out.len();
                if !self
                    .cipher
                    .open_into(
                        &segment_nonce(&self.nonce_prefix, index, *last),
                        segment,
                        out,
                    )
                    .await?
                {
                    return Err(self.diagnose(index, segment, *last).await);
                }
                parser.accept(out, start)?;
            }
        } else {
            for (g, group) in jobs.chunks(MAX_IN_FLIGHT).enumerate() {
                let (cipher, prefix) = (&self.cipher, &self.nonce_prefix);
                let opened = join_all(group.iter().enumerate().map(|(k, (segment, last))| {
                    let index = job_index(first, g * MAX_IN_FLIGHT + k);
                    async move {
                        let index = index?;
                        let mut plain = Vec::with_capacity(segment.len());
                        let ok = cipher
                            .open_into(&segment_nonce(prefix, index, *last), segment, &mut plain)
                            .await?;
                        Ok::<_, Error>((index, ok, plain))
                    }
                }))
                .await;
                for (k, result) in opened.into_iter().enumerate() {
                    let (index, ok, plain) = result?;
                    if !ok {
                        let (segment, last) = group[k];
                        return Err(self.diagnose(index, segment, last).await);
                    }
                    // Strip the metadata record before copying, not by shifting `out`.
                    let record = parser.strip_record(&plain)?;
                    out.extend_from_slice(&plain[record..]);
                    parser.count_content(plain.len() - record)?;
                }
            }
        }
        let non_last = jobs.iter().filter(|(_, last)| !last).count();
        self.index = job_index(first, non_last)?;
        Ok(())
    }

    /// Tells apart the ways a segment can fail by also trying the other last-segment flag.
    async fn diagnose(&self, index: u32, segment: &[u8], last: bool) -> Error {
        let other = segment_nonce(&self.nonce_prefix, index, !last);
        let mut scratch = Vec::new();
        match self.cipher.open_into(&other, segment, &mut scratch).await {
            // A valid last segment followed by more data, or a valid middle segment where the
            // envelope ends.
            Ok(true) if last => Error::Truncated,
            Ok(true) => Error::TrailingData,
            Ok(false) => Error::SegmentAuthentication {
                index: u64::from(index),
            },
            Err(e) => e,
        }
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
        let record = self.strip_record(&out[start..])?;
        out.drain(start..start + record);
        self.count_content(out.len() - start)
    }

    /// Consumes the metadata record from the front of `fresh` plaintext while it is
    /// incomplete; returns how many leading bytes belonged to it.
    fn strip_record(&mut self, fresh: &[u8]) -> Result<usize, Error> {
        if self.metadata.is_some() {
            return Ok(0);
        }
        let mut consumed = 0;
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
        Ok(consumed)
    }

    fn count_content(&mut self, len: usize) -> Result<(), Error> {
        self.content_len += len as u64;
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
        self.process(chunk, false).await
    }

    /// Opens the last segment and checks the envelope is complete; returns the last content.
    /// The decoder is closed afterwards; [`metadata`](Self::metadata) stays available.
    pub async fn finish(&mut self) -> Result<Vec<u8>, Error> {
        self.process(&[], true).await
    }

    /// [`push`](Self::push) the final chunk and [`finish`](Self::finish) in one step, so
    /// that every segment can be opened concurrently.
    pub async fn finish_with(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        self.process(chunk, true).await
    }

    async fn process(&mut self, chunk: &[u8], finishing: bool) -> Result<Vec<u8>, Error> {
        if self.failed {
            return Err(Error::StreamClosed);
        }
        self.failed = true;
        let out = self.process_inner(chunk, finishing).await?;
        self.failed = finishing;
        Ok(out)
    }

    async fn process_inner(&mut self, chunk: &[u8], finishing: bool) -> Result<Vec<u8>, Error> {
        let mut rest = chunk;
        if self.body.is_none() {
            // Buffer exactly the header; the body is then read from `rest` in place.
            while let Some(missing) = format::header_bytes_missing(&self.buffer) {
                if rest.is_empty() {
                    break;
                }
                let take = missing.min(rest.len());
                self.buffer.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
            }
            if !self.open_header().await? {
                return if finishing {
                    Err(Error::Truncated)
                } else {
                    Ok(Vec::new())
                };
            }
        }
        let Some(body) = self.body.as_mut() else {
            return Err(Error::Truncated);
        };
        let ct_len = body.segment_ct_len;
        let mut out = Vec::with_capacity(self.buffer.len() + rest.len());
        // Top up the buffer: afterwards it is either a full segment or holds all the input.
        let mut buffer = std::mem::take(&mut self.buffer);
        // An empty buffer (right after the header) is not topped up: whole segments are then
        // opened straight from the input, without a copy.
        let take = if buffer.is_empty() {
            0
        } else {
            (ct_len - buffer.len()).min(rest.len())
        };
        buffer.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        if rest.is_empty() && !finishing {
            self.buffer = buffer;
            return Ok(out);
        }
        let (mut jobs, rest) = plan_segments(&buffer, rest, ct_len, finishing);
        // A last segment shorter than a tag: open the segments before it first, so that data
        // after a complete envelope is reported as such.
        let short_tail = jobs
            .last()
            .is_some_and(|(segment, last)| *last && segment.len() < TAG_LEN);
        if short_tail {
            jobs.pop();
        }
        body.open_jobs(&jobs, &mut out, &mut self.plaintext).await?;
        if short_tail {
            return Err(Error::Truncated);
        }
        drop(jobs);
        buffer.clear();
        buffer.extend_from_slice(rest);
        self.buffer = buffer;
        if finishing {
            if self.plaintext.metadata.is_none() {
                return Err(Error::InvalidMetadata(
                    "the metadata record is incomplete".into(),
                ));
            }
            self.plaintext.check_size(true)?;
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
}

//! `std::io` adapters over the streaming types, for synchronous callers such as the CLI:
//! [`EncryptingReader`] turns a reader of plaintext into a reader of the envelope, and
//! [`DecryptingReader`] turns a reader of an envelope into a reader of the content.
//!
//! They drive the streaming futures with [`run_ready`], so they need a backend that never
//! waits ([`Pure`]). A crypto failure comes out of `read` as an [`io::Error`] of kind
//! `Other` whose inner error is the [`Error`]; [`crypto_error`] gets it back. Errors of the
//! wrapped reader pass through unchanged.

use std::io::{self, Read};

use crate::backend::SegmentCipher;
use crate::{
    format, run_ready, Decryptor, Encryptor, Error, KeySchedule, Metadata, Pure, SecretKey,
};

/// The crypto-core error inside an error returned by one of these adapters, if it is one.
pub fn crypto_error(error: &io::Error) -> Option<&Error> {
    error.get_ref()?.downcast_ref::<Error>()
}

fn read_retrying(inner: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match inner.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Bytes produced but not yet handed to the caller.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    pos: usize,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn set(&mut self, bytes: Vec<u8>) {
        self.bytes = bytes;
        self.pos = 0;
    }

    fn take_into(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.bytes.len() - self.pos);
        dst[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
        self.pos += n;
        n
    }
}

/// A reader that produces its output a batch at a time.
trait Batches {
    /// Output not yet read, and whether no more will come.
    fn pending(&mut self) -> (&mut Pending, bool);
    /// Produces the next batch.
    fn refill(&mut self) -> io::Result<()>;

    fn read_batches(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if dst.is_empty() {
            return Ok(0);
        }
        loop {
            let (out, ended) = self.pending();
            if !out.is_empty() {
                return Ok(out.take_into(dst));
            }
            if ended {
                return Ok(0);
            }
            self.refill()?;
        }
    }
}

/// Reads plaintext from `inner` and yields the envelope, `chunk` plaintext bytes at a time:
/// memory stays at about one chunk plus two segments, whatever the size of the secret.
pub struct EncryptingReader<R, C: SegmentCipher> {
    inner: R,
    encryptor: Encryptor<C>,
    buf: Vec<u8>,
    out: Pending,
    done: bool,
}

impl<R: Read, C: SegmentCipher> EncryptingReader<R, C> {
    /// `encryptor` must be new (nothing pushed yet); its header is the first output.
    pub fn new(inner: R, encryptor: Encryptor<C>, chunk: usize) -> Self {
        EncryptingReader {
            inner,
            encryptor,
            buf: vec![0; chunk.max(1)],
            out: Pending::default(),
            done: false,
        }
    }
}

impl<R: Read, C: SegmentCipher> Batches for EncryptingReader<R, C> {
    fn pending(&mut self) -> (&mut Pending, bool) {
        (&mut self.out, self.done)
    }

    fn refill(&mut self) -> io::Result<()> {
        let n = read_retrying(&mut self.inner, &mut self.buf)?;
        let produced = if n == 0 {
            run_ready(self.encryptor.finish())
        } else {
            run_ready(self.encryptor.push(&self.buf[..n]))
        };
        self.out.set(produced.map_err(io::Error::other)?);
        // Only a successful finish is the end: after a failure, reading again fails again.
        self.done = n == 0;
        Ok(())
    }
}

impl<R: Read, C: SegmentCipher> Read for EncryptingReader<R, C> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        self.read_batches(dst)
    }
}

/// Reads an envelope from `inner` and yields its content. End of file comes only after the
/// whole envelope has authenticated: a truncated or modified envelope is an error, never a
/// short read. Content before the end is authenticated segment by segment, but a caller that
/// must not act on a secret it has not seen whole keeps it aside until end of file.
pub struct DecryptingReader<R> {
    inner: R,
    decryptor: Decryptor<Pure>,
    buf: Vec<u8>,
    out: Pending,
    finished: bool,
    /// With a passphrase that the envelope may not need: the key alone, and the envelope
    /// bytes read while the header may still be among them, to start over with.
    fallback: Option<(KeySchedule, Vec<u8>)>,
    /// The key, when the schedule has a passphrase, for [`Self::allow_unneeded_passphrase`].
    key_alone: Option<SecretKey>,
    passphrase_ignored: bool,
}

impl<R: Read> DecryptingReader<R> {
    /// Reads `chunk` envelope bytes at a time.
    pub fn new(inner: R, keys: KeySchedule, chunk: usize) -> Self {
        let key_alone = keys.argon2_params().map(|_| keys.key().clone());
        DecryptingReader {
            inner,
            decryptor: Decryptor::new(Pure, keys),
            buf: vec![0; chunk.max(1)],
            out: Pending::default(),
            finished: false,
            fallback: None,
            key_alone,
            passphrase_ignored: false,
        }
    }

    /// Accepts a passphrase the envelope turns out not to have: the key alone opens it
    /// (instead of failing with [`Error::PassphraseNotExpected`]), and
    /// [`passphrase_ignored`](Self::passphrase_ignored) says so.
    pub fn allow_unneeded_passphrase(mut self) -> Self {
        self.fallback = self
            .key_alone
            .take()
            .map(|key| (KeySchedule::new(key), Vec::new()));
        self
    }

    /// Whether a passphrase was given that the envelope does not have (see
    /// [`allow_unneeded_passphrase`](Self::allow_unneeded_passphrase)).
    pub fn passphrase_ignored(&self) -> bool {
        self.passphrase_ignored
    }

    /// The envelope's metadata, reading as far as needed to authenticate it.
    pub fn metadata(&mut self) -> io::Result<&Metadata> {
        while self.decryptor.metadata().is_none() && self.out.is_empty() && !self.finished {
            self.refill()?;
        }
        self.decryptor
            .metadata()
            .ok_or_else(|| io::Error::other(Error::Truncated))
    }

    fn push(&mut self, n: usize) -> Result<Vec<u8>, Error> {
        match run_ready(self.decryptor.push(&self.buf[..n])) {
            Err(Error::PassphraseNotExpected) if self.fallback.is_some() => {
                let (keys, mut seen) = self.fallback.take().ok_or(Error::PassphraseNotExpected)?;
                self.passphrase_ignored = true;
                self.decryptor = Decryptor::new(Pure, keys);
                seen.extend_from_slice(&self.buf[..n]);
                run_ready(self.decryptor.push(&seen))
            }
            result => {
                if let Some((_, seen)) = self.fallback.as_mut() {
                    if seen.len() < format::MAX_HEADER_LEN {
                        seen.extend_from_slice(&self.buf[..n]);
                    } else {
                        // The header has been read: the passphrase was needed after all.
                        self.fallback = None;
                    }
                }
                result
            }
        }
    }
}

impl<R: Read> Batches for DecryptingReader<R> {
    fn pending(&mut self) -> (&mut Pending, bool) {
        (&mut self.out, self.finished)
    }

    fn refill(&mut self) -> io::Result<()> {
        let n = read_retrying(&mut self.inner, &mut self.buf)?;
        let produced = if n == 0 {
            run_ready(self.decryptor.finish())
        } else {
            self.push(n)
        };
        self.out.set(produced.map_err(io::Error::other)?);
        // Only an authenticated end is the end: a truncated envelope never reads as complete.
        self.finished = n == 0;
        Ok(())
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        self.read_batches(dst)
    }
}

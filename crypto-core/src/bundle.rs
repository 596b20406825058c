//! File bundles (`docs/FORMAT.md` § Bundles): several files in one secret as a POSIX ustar
//! archive. Written and read incrementally, so large files stream with bounded memory: the
//! writer is three functions around the caller's own file bytes, the reader is push-based.

use crate::metadata::{sanitize_file_name, shorten_file_name};
use crate::Error;

/// A tar block.
pub const BLOCK_LEN: usize = 512;
/// The end-of-archive marker: two zero blocks.
pub const END: [u8; 2 * BLOCK_LEN] = [0; 2 * BLOCK_LEN];
/// ustar's name field; longer names are shortened, keeping the extension.
pub const MAX_NAME_LEN: usize = 100;

static ZEROS: [u8; BLOCK_LEN] = [0; BLOCK_LEN];

/// The 512-byte ustar header of a regular file. The name is reduced to a safe single path
/// component (see [`sanitize_file_name`]); mode 0644, owner 0, mtime 0 (nothing leaks).
pub fn file_header(name: &str, size: u64) -> Result<[u8; BLOCK_LEN], Error> {
    let name = shorten_file_name(&sanitize_file_name(name), MAX_NAME_LEN);
    if name.is_empty() {
        return Err(Error::InvalidBundle("a file has no usable name".into()));
    }
    let mut header = tar::Header::new_ustar();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut out = [0u8; BLOCK_LEN];
    out.copy_from_slice(header.as_bytes());
    Ok(out)
}

/// The zero bytes that follow a file of `size` bytes to the next block boundary.
pub fn padding(size: u64) -> &'static [u8] {
    &ZEROS[..padding_len(size)]
}

fn padding_len(size: u64) -> usize {
    ((BLOCK_LEN as u64 - size % BLOCK_LEN as u64) % BLOCK_LEN as u64) as usize
}

/// The length of the bundle of files with these sizes (for the envelope's metadata).
pub fn encoded_len(sizes: &[u64]) -> u64 {
    sizes
        .iter()
        .map(|&s| BLOCK_LEN as u64 + s + padding_len(s) as u64)
        .sum::<u64>()
        + END.len() as u64
}

/// What a [`BundleReader`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleEvent {
    /// A file begins; `name` is already a safe single path component.
    FileStart {
        /// Safe file name.
        name: String,
        /// Length in bytes.
        size: u64,
    },
    /// Bytes of the current file.
    FileData(Vec<u8>),
    /// The current file is complete.
    FileEnd,
}

enum State {
    Header,
    Data { remaining: u64, padding: usize },
    Padding { remaining: usize },
    End { zero_bytes: usize },
}

/// Push-based ustar reader: feed bytes, receive [`BundleEvent`]s.
pub struct BundleReader {
    state: State,
    block: Vec<u8>,
}

impl Default for BundleReader {
    fn default() -> Self {
        Self::new()
    }
}

impl BundleReader {
    /// A reader at the start of a bundle.
    pub fn new() -> Self {
        Self {
            state: State::Header,
            block: Vec::with_capacity(BLOCK_LEN),
        }
    }

    /// Consumes `chunk`, returning the events it completes.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<Vec<BundleEvent>, Error> {
        let mut events = Vec::new();
        while !chunk.is_empty() {
            match &mut self.state {
                State::Header => {
                    let take = (BLOCK_LEN - self.block.len()).min(chunk.len());
                    self.block.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                    if self.block.len() == BLOCK_LEN {
                        self.state = self.read_header(&mut events)?;
                        self.block.clear();
                    }
                }
                State::Data { remaining, padding } => {
                    let take = (*remaining).min(chunk.len() as u64) as usize;
                    events.push(BundleEvent::FileData(chunk[..take].to_vec()));
                    chunk = &chunk[take..];
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        events.push(BundleEvent::FileEnd);
                        self.state = State::Padding {
                            remaining: *padding,
                        };
                    }
                }
                State::Padding { remaining } => {
                    let take = (*remaining).min(chunk.len());
                    chunk = &chunk[take..];
                    *remaining -= take;
                    if *remaining == 0 {
                        self.state = State::Header;
                    }
                }
                State::End { zero_bytes } => {
                    if chunk.iter().any(|&b| b != 0) {
                        return Err(Error::InvalidBundle("data after the end marker".into()));
                    }
                    *zero_bytes += chunk.len();
                    chunk = &[];
                }
            }
        }
        Ok(events)
    }

    /// Checks the bundle ended with its end marker.
    pub fn finish(&self) -> Result<(), Error> {
        match self.state {
            State::End { zero_bytes } if zero_bytes >= BLOCK_LEN => Ok(()),
            _ => Err(Error::InvalidBundle("the bundle is truncated".into())),
        }
    }

    fn read_header(&self, events: &mut Vec<BundleEvent>) -> Result<State, Error> {
        if self.block.iter().all(|&b| b == 0) {
            return Ok(State::End { zero_bytes: 0 });
        }
        let header = tar::Header::from_byte_slice(&self.block);
        let stored = header
            .cksum()
            .map_err(|_| Error::InvalidBundle("unreadable header checksum".into()))?;
        let computed: u32 = self
            .block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    u32::from(b' ')
                } else {
                    u32::from(b)
                }
            })
            .sum();
        if stored != computed {
            return Err(Error::InvalidBundle("header checksum mismatch".into()));
        }
        if !header.entry_type().is_file() {
            return Err(Error::InvalidBundle(
                "only regular files are allowed in a bundle".into(),
            ));
        }
        let size = header
            .entry_size()
            .map_err(|_| Error::InvalidBundle("unreadable file size".into()))?;
        let name = sanitize_file_name(&String::from_utf8_lossy(&header.path_bytes()));
        if name.is_empty() {
            return Err(Error::InvalidBundle("a file has no usable name".into()));
        }
        events.push(BundleEvent::FileStart { name, size });
        if size == 0 {
            events.push(BundleEvent::FileEnd);
            return Ok(State::Header);
        }
        Ok(State::Data {
            remaining: size,
            padding: padding_len(size),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            out.extend(file_header(name, data.len() as u64).unwrap());
            out.extend(data);
            out.extend(padding(data.len() as u64));
        }
        out.extend(END);
        out
    }

    fn read(bytes: &[u8], chunk: usize) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let mut reader = BundleReader::new();
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for piece in bytes.chunks(chunk) {
            for event in reader.push(piece)? {
                match event {
                    BundleEvent::FileStart { name, .. } => files.push((name, Vec::new())),
                    BundleEvent::FileData(d) => files.last_mut().unwrap().1.extend(d),
                    BundleEvent::FileEnd => {}
                }
            }
        }
        reader.finish()?;
        Ok(files)
    }

    #[test]
    fn round_trip_in_any_chunking() {
        let files = vec![
            ("a.txt", b"hello".to_vec()),
            ("empty", Vec::new()),
            ("../evil/x.bin", (0..1500u32).map(|i| i as u8).collect()),
            ("block.bin", vec![7; 512]),
        ];
        let bytes = build(&files);
        assert_eq!(bytes.len() as u64, encoded_len(&[5, 0, 1500, 512]));
        for chunk in [1, 100, 512, 513, 100_000] {
            let got = read(&bytes, chunk).unwrap();
            assert_eq!(got.len(), 4);
            assert_eq!(got[0], ("a.txt".to_string(), b"hello".to_vec()));
            assert_eq!(got[2].0, "x.bin", "names are reduced to one safe component");
            assert_eq!(got[2].1, files[2].1);
            assert_eq!(got[3].1, vec![7; 512]);
        }
    }

    #[test]
    fn interoperates_with_the_tar_crate() {
        let files = vec![("one.txt", b"1".to_vec()), ("two.bin", vec![2; 3000])];
        let ours = build(&files);
        let mut archive = tar::Archive::new(&ours[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            seen.push((entry.path().unwrap().to_string_lossy().into_owned(), data));
        }
        assert_eq!(
            seen,
            vec![
                ("one.txt".into(), b"1".to_vec()),
                ("two.bin".into(), vec![2; 3000])
            ]
        );

        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        header.set_mode(0o600);
        header.set_cksum();
        builder
            .append_data(&mut header, "theirs.txt", &b"tar!"[..])
            .unwrap();
        let theirs = builder.into_inner().unwrap();
        assert_eq!(
            read(&theirs, 77).unwrap(),
            vec![("theirs.txt".into(), b"tar!".to_vec())]
        );
    }

    #[test]
    fn damage_is_reported() {
        let bytes = build(&[("a", b"abc".to_vec())]);
        assert_eq!(
            read(&bytes[..600], 64).unwrap_err().code(),
            "invalid_bundle"
        );
        let mut bad = bytes.clone();
        bad[10] ^= 1;
        assert_eq!(read(&bad, 64).unwrap_err().code(), "invalid_bundle");
        let mut trailing = bytes.clone();
        trailing.push(1);
        assert_eq!(read(&trailing, 64).unwrap_err().code(), "invalid_bundle");
        assert!(file_header("..", 1).is_err());
        let long = format!("{}.pdf", "x".repeat(300));
        let header = file_header(&long, 0).unwrap();
        let got = read(&[&header[..], &END[..]].concat(), 512).unwrap();
        assert_eq!(got[0].0.len(), 100);
        assert!(got[0].0.ends_with(".pdf"));
    }
}

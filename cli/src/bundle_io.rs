//! Bundles (several files in one secret) on top of `crypto_core::bundle`: a reader that
//! streams the ustar archive of the sender's files, and an extractor for the recipient.

use std::collections::HashSet;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use crypto_core::bundle::{self, BundleEvent, BundleReader};
use crypto_core::{sanitize_file_name, Kind, Metadata};
use tempfile::NamedTempFile;

use crate::error::CliError;
use crate::files::{file_name, open_file, persist, temp_file, Persisted};

/// The metadata and a reader over the ustar stream of `paths`, file by file (bounded memory).
pub fn source(paths: &[PathBuf]) -> Result<(Metadata, Box<dyn Read + Send>), CliError> {
    let mut parts: Vec<Box<dyn Read + Send>> = Vec::new();
    let mut sizes = Vec::new();
    let mut names = HashSet::new();
    for path in paths {
        let (file, size) = open_file(path)?;
        let name = file_name(path)?;
        if !names.insert(sanitize_file_name(&name)) {
            return Err(CliError::usage(
                format!("two files are named {name:?}"),
                "the recipient gets files by name only; rename one of them",
            ));
        }
        parts.push(Box::new(Cursor::new(bundle::file_header(&name, size)?)));
        // A file that shrinks or grows meanwhile fails the encryptor's length check.
        parts.push(Box::new(file.take(size)));
        parts.push(Box::new(Cursor::new(bundle::padding(size))));
        sizes.push(size);
    }
    parts.push(Box::new(Cursor::new(&bundle::END[..])));
    let metadata = Metadata {
        kind: Kind::Bundle,
        name: None,
        media_type: None,
        size: Some(bundle::encoded_len(&sizes)),
    };
    Ok((metadata, Box::new(Concat { parts, next: 0 })))
}

/// Readers one after another.
struct Concat {
    parts: Vec<Box<dyn Read + Send>>,
    next: usize,
}

impl Read for Concat {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(part) = self.parts.get_mut(self.next) {
            let n = part.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.next += 1;
        }
        Ok(0)
    }
}

/// Unpacks a bundle into a directory: each file goes to a temporary file, and all are moved
/// into place only once the secret is complete.
pub struct Extractor {
    dir: PathBuf,
    reader: BundleReader,
    current: Option<(String, NamedTempFile)>,
    done: Vec<(String, NamedTempFile)>,
}

impl Extractor {
    pub fn new(dir: &Path) -> Extractor {
        Extractor {
            dir: dir.to_path_buf(),
            reader: BundleReader::new(),
            current: None,
            done: Vec::new(),
        }
    }

    pub fn write(&mut self, data: &[u8]) -> Result<(), CliError> {
        for event in self.reader.push(data)? {
            match event {
                BundleEvent::FileStart { name, .. } => {
                    self.current = Some((name, temp_file(&self.dir)?));
                }
                BundleEvent::FileData(bytes) => {
                    if let Some((_, temp)) = self.current.as_mut() {
                        temp.write_all(&bytes)
                            .map_err(|e| CliError::io("writing a temporary file", e))?;
                    }
                }
                BundleEvent::FileEnd => {
                    if let Some(file) = self.current.take() {
                        self.done.push(file);
                    }
                }
            }
        }
        Ok(())
    }

    pub fn commit(self, force: bool) -> Result<(), CliError> {
        self.reader.finish()?;
        let mut outcome = Persisted::default();
        for (name, temp) in self.done {
            persist(temp, &self.dir, &name, force, &mut outcome)?;
        }
        outcome.finish()
    }
}

/// Unpacks a ZIP archive into `dir`, flat: each entry under its sanitized last path component
/// (directories are skipped), nothing in place until every entry has been read.
pub fn extract_zip(data: &[u8], dir: &Path, force: bool) -> Result<(), CliError> {
    let bad =
        |e: zip::result::ZipError| CliError::Protocol(format!("the ZIP archive is malformed: {e}"));
    let mut archive = zip::ZipArchive::new(Cursor::new(data)).map_err(bad)?;
    let mut done: Vec<(String, NamedTempFile)> = Vec::new();
    let mut names = HashSet::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(bad)?;
        if entry.is_dir() {
            continue;
        }
        let name = sanitize_file_name(&entry.name().map_err(bad)?);
        if !names.insert(name.clone()) {
            return Err(CliError::Protocol(format!(
                "the ZIP archive holds two files named {name:?}"
            )));
        }
        let mut temp = temp_file(dir)?;
        std::io::copy(&mut entry, &mut temp)
            .map_err(|e| CliError::Protocol(format!("cannot unpack {name:?}: {e}")))?;
        done.push((name, temp));
    }
    let mut outcome = Persisted::default();
    for (name, temp) in done {
        persist(temp, dir, &name, force, &mut outcome)?;
    }
    outcome.finish()
}

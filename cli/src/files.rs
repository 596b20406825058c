//! The CLI's file handling: reading the files to send, and saving received content only
//! once it is complete (private temporary files, renamed into place without clobbering;
//! stdout output held back in memory or an unlinked temporary file).

use std::fs::File;
use std::io::{IsTerminal, Seek, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::CliError;
use crate::interrupt;

/// Output for stdout is held in memory up to this size, then in an unlinked temporary file.
const SPOOL_IN_MEMORY: usize = 8 * 1024 * 1024;

/// Opens a regular file and returns it with its size.
pub fn open_file(path: &Path) -> Result<(File, u64), CliError> {
    let context = || format!("cannot read {}", path.display());
    let file = File::open(path).map_err(|e| CliError::io(context(), e))?;
    let meta = file.metadata().map_err(|e| CliError::io(context(), e))?;
    if !meta.is_file() {
        return Err(CliError::usage(
            format!("{} is not a regular file", path.display()),
            "--file takes files; send a directory by listing its files",
        ));
    }
    Ok((file, meta.len()))
}

/// The name stored in the metadata: the last component of `path`.
pub fn file_name(path: &Path) -> Result<String, CliError> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            CliError::usage(
                format!("{} has no file name", path.display()),
                "give a path to a file",
            )
        })
}

/// Creates a private temporary file in `dir`, deleted unless persisted.
pub fn temp_file(dir: &Path) -> Result<NamedTempFile, CliError> {
    let temp = tempfile::Builder::new()
        .prefix(".hakanai-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| CliError::io(format!("cannot create a file in {}", dir.display()), e))?;
    interrupt::register(temp.path());
    Ok(temp)
}

/// The results of saving files, so that one conflict does not lose the others.
#[derive(Default)]
pub struct Persisted {
    conflict: Option<(PathBuf, PathBuf)>,
}

impl Persisted {
    pub fn finish(self) -> Result<(), CliError> {
        match self.conflict {
            Some((path, kept)) => Err(CliError::Exists { path, kept }),
            None => Ok(()),
        }
    }
}

/// Moves `temp` to `dir/name`; an existing file is replaced only with `force`, otherwise the
/// content is kept under the first free `name.N` and the conflict recorded.
pub fn persist(
    temp: NamedTempFile,
    dir: &Path,
    name: &str,
    force: bool,
    outcome: &mut Persisted,
) -> Result<(), CliError> {
    let target = dir.join(name);
    let saving =
        |e: std::io::Error, p: &Path| CliError::io(format!("cannot save {}", p.display()), e);
    if force {
        temp.persist(&target)
            .map_err(|e| saving(e.error, &target))?;
        eprintln!("saved {}", target.display());
        return Ok(());
    }
    let mut temp = match temp.persist_noclobber(&target) {
        Ok(_) => {
            eprintln!("saved {}", target.display());
            return Ok(());
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => e.file,
        Err(e) => return Err(saving(e.error, &target)),
    };
    for n in 1..1000 {
        let kept = dir.join(format!("{name}.{n}"));
        match temp.persist_noclobber(&kept) {
            Ok(_) => {
                outcome.conflict.get_or_insert((target, kept));
                return Ok(());
            }
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => temp = e.file,
            Err(e) => return Err(saving(e.error, &kept)),
        }
    }
    let kept = temp
        .into_temp_path()
        .keep()
        .map_err(|e| saving(e.error, dir))?;
    outcome.conflict.get_or_insert((target, kept));
    Ok(())
}

/// Output for stdout, held back until the secret is complete.
pub enum Spool {
    Memory(Vec<u8>),
    File(File),
}

impl Spool {
    pub fn write(&mut self, data: &[u8]) -> Result<(), CliError> {
        if let Spool::Memory(buf) = self {
            if buf.len() + data.len() <= SPOOL_IN_MEMORY {
                buf.extend_from_slice(data);
                return Ok(());
            }
            let mut file =
                tempfile::tempfile().map_err(|e| CliError::io("creating a temporary file", e))?;
            file.write_all(buf)
                .map_err(|e| CliError::io("writing a temporary file", e))?;
            *self = Spool::File(file);
        }
        match self {
            Spool::File(file) => file
                .write_all(data)
                .map_err(|e| CliError::io("writing a temporary file", e)),
            Spool::Memory(_) => unreachable!("switched to a file above"),
        }
    }

    pub fn print(self) -> Result<(), CliError> {
        let mut stdout = std::io::stdout().lock();
        let result = match self {
            Spool::Memory(buf) => stdout.write_all(&buf),
            Spool::File(mut file) => file
                .rewind()
                .and_then(|()| std::io::copy(&mut file, &mut stdout).map(drop)),
        };
        result
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::io("writing to stdout", e))?;
        if std::io::stdout().is_terminal() {
            // Keep the shell prompt off the secret's last line.
            eprintln!();
        }
        Ok(())
    }
}

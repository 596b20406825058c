//! The CLI's file handling: reading the files to send, and saving received content only
//! once it is complete (private temporary files, renamed into place without clobbering;
//! stdout output held back in memory or an unlinked temporary file).

use std::fs::File;
use std::io::{IsTerminal, Read, Seek, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::CliError;
use crate::interrupt;
use crate::names::{platform_safe_name, Platform};
use crate::terminal::Escaper;

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

/// Moves `temp` to `dir/name` (made safe for this platform); an existing file is replaced only with `force`, otherwise the
/// content is kept under the first free `name.N` and the conflict recorded.
pub fn persist(
    temp: NamedTempFile,
    dir: &Path,
    name: &str,
    force: bool,
    outcome: &mut Persisted,
) -> Result<(), CliError> {
    // Every received name passes here: the last check before it touches the file system.
    let name = &platform_safe_name(name, Platform::CURRENT);
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

    /// Writes the held-back content to stdout: the exact bytes into a pipe or file, with
    /// control characters escaped on a terminal (`terminal::Escaper`).
    pub fn print(self) -> Result<(), CliError> {
        let on_terminal = std::io::stdout().is_terminal();
        let mut stdout = std::io::stdout().lock();
        let mut escaper = on_terminal.then(Escaper::default);
        let mut escaped = Vec::new();
        let mut write = |piece: &[u8]| -> std::io::Result<()> {
            match escaper.as_mut() {
                None => stdout.write_all(piece),
                Some(escaper) => {
                    escaped.clear();
                    escaper.push(piece, &mut escaped);
                    stdout.write_all(&escaped)
                }
            }
        };
        let result = match self {
            Spool::Memory(buf) => write(&buf),
            Spool::File(mut file) => file.rewind().and_then(|()| {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match file.read(&mut buf) {
                        Ok(0) => return Ok(()),
                        Ok(n) => write(&buf[..n])?,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }),
        };
        let result = result.and_then(|()| match escaper.as_mut() {
            Some(escaper) => {
                escaped.clear();
                escaper.finish(&mut escaped);
                stdout.write_all(&escaped)
            }
            None => Ok(()),
        });
        result
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::io("writing to stdout", e))?;
        drop(stdout);
        if let Some(n) = escaper.map(|e| e.escaped()).filter(|&n| n > 0) {
            eprintln!(
                "\nnote: {n} control character{} shown escaped (\\xNN); redirect the output \
                 (`> file` or `| …`) for the exact bytes",
                if n == 1 { " was" } else { "s were" }
            );
            return Ok(());
        }
        if std::io::stdout().is_terminal() {
            // Keep the shell prompt off the secret's last line.
            eprintln!();
        }
        Ok(())
    }
}

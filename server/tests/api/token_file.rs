//! The bootstrap tokens of a real `hakanai-server` process, read from its `--token-file`
//! (never from its output): for the tests of the token file itself and of the binary's own
//! flags; everything else starts the binary through `hakanai-test-support`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A fresh directory for the token file; removed on drop.
pub struct TokenFile {
    dir: tempfile::TempDir,
}

impl TokenFile {
    pub fn new() -> TokenFile {
        TokenFile {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The path to pass as `--token-file` (the file itself does not exist yet).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    /// The newest token of `kind` (`admin` / `user`), waiting up to 30 s for the server to
    /// write it.
    pub fn wait_for(&self, kind: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(t) = latest(&self.path(), kind) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} token in {}",
                self.path().display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The documented format: `admin <token>` / `user <token>`, one per line, appended.
pub fn lines(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (kind, token) = l.split_once(' ').expect("`<kind> <token>`");
            (kind.to_owned(), token.to_owned())
        })
        .collect()
}

fn latest(path: &Path, kind: &str) -> Option<String> {
    lines(path)
        .into_iter()
        .rev()
        .find(|(k, _)| k == kind)
        .map(|(_, t)| t)
}

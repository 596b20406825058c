//! `cargo xtask wasm`: builds the `hakanai-wasm` npm package into `web-wasm/pkg` with
//! wasm-pack (release, `--target web`) and reports the size of the `.wasm` file.

use std::path::PathBuf;

use crate::setup::on_path;
use crate::shell::{flags, human_bytes, root, Cmd, Error, Result};

/// The module wasm-pack writes for `--out-name hakanai_wasm`.
pub const WASM_FILE: &str = "web-wasm/pkg/hakanai_wasm_bg.wasm";

pub fn run(args: &[String]) -> Result<()> {
    flags("wasm", args, &[])?;
    build()?;
    let size = size()?;
    println!("wasm: {WASM_FILE}: {}", size.describe());
    Ok(())
}

/// Builds the release npm package. `--mode no-install` stops wasm-pack from trying to
/// download tools (no GitHub here): wasm-bindgen comes from PATH, wasm-opt from
/// `node_modules/.bin` (npm `binaryen`), both installed by `cargo xtask setup`.
pub fn build() -> Result<()> {
    let npm_wasm_opt = root().join("node_modules/.bin/wasm-opt");
    if !npm_wasm_opt.exists() && !on_path("wasm-opt") {
        return Err(Error::new(
            "wasm-opt not found (node_modules/.bin or PATH); run `cargo xtask setup`",
        ));
    }
    Cmd::new("wasm-pack")
        .args([
            "build",
            "web-wasm",
            "--release",
            "--target",
            "web",
            "--mode",
            "no-install",
        ])
        .args(["--out-dir", "pkg", "--out-name", "hakanai_wasm"])
        .run()
}

pub struct WasmSize {
    pub raw: u64,
    pub gzip: u64,
}

impl WasmSize {
    pub fn describe(&self) -> String {
        format!(
            "{} bytes raw ({}), {} bytes gzip -9 ({})",
            self.raw,
            human_bytes(self.raw),
            self.gzip,
            human_bytes(self.gzip)
        )
    }
}

/// Raw and `gzip -9` size of the built module.
pub fn size() -> Result<WasmSize> {
    let path: PathBuf = root().join(WASM_FILE);
    let raw = std::fs::metadata(&path)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?
        .len();
    let gzip = Cmd::new("gzip")
        .args(["-9", "-c"])
        .arg(&path)
        .read_bytes()?
        .len() as u64;
    Ok(WasmSize { raw, gzip })
}

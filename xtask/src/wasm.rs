//! `cargo xtask wasm`: builds the `hakanai-wasm` npm package into `web-wasm/pkg` with
//! wasm-pack (release, `--target web`) and reports the size of the `.wasm` file.

use std::path::{Path, PathBuf};

use crate::setup::on_path;
use crate::shell::{flags, human_bytes, root, target_dir, Cmd, Error, Result};

/// The module wasm-pack writes for `--out-name hakanai_wasm`.
pub const WASM_FILE: &str = "web-wasm/pkg/hakanai_wasm_bg.wasm";
/// The page's small module (see [`lite_dir`]).
pub const LITE_WASM_FILE: &str = "web-wasm/pkg-lite/hakanai_wasm_lite_bg.wasm";

pub fn run(args: &[String]) -> Result<()> {
    flags("wasm", args, &[])?;
    build()?;
    let size = size()?;
    println!("wasm: {WASM_FILE}: {}", size.describe());
    let lite = root().join(LITE_WASM_FILE);
    println!("wasm: {LITE_WASM_FILE}: {}", size_of(&lite)?.describe());
    Ok(())
}

/// Builds the release npm package. `--mode no-install` stops wasm-pack from trying to
/// download tools (no GitHub here): wasm-bindgen comes from PATH, wasm-opt from
/// `node_modules/.bin` (npm `binaryen`), both installed by `cargo xtask setup`.
pub fn build() -> Result<()> {
    build_into(&root().join("web-wasm/pkg"))
}

/// The target directory of the release wasm build: `<target>/web-build`, the one the server's
/// build script uses for the page it embeds (`server/build.rs`), so that either build reuses
/// the other's compiled crates. The build script names it in `XTASK_WEB_BUILD_DIR` (its own
/// nested cargo runs with that directory as `CARGO_TARGET_DIR`).
pub fn web_build_dir() -> PathBuf {
    std::env::var_os("XTASK_WEB_BUILD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("web-build"))
}

/// [`build`] with the package written to `pkg` (absolute).
pub fn build_into(pkg: &Path) -> Result<()> {
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
        .arg("--out-dir")
        .arg(pkg)
        .args(["--out-name", "hakanai_wasm"])
        .env("CARGO_TARGET_DIR", web_build_dir())
        .run()?;
    // The page's small first module: web-wasm without `full`, optimised for size
    // (web/src/wasm.ts says when the page loads which).
    Cmd::new("wasm-pack")
        .args([
            "build",
            "web-wasm",
            "--profile",
            "wasm-lite",
            "--target",
            "web",
            "--mode",
            "no-install",
        ])
        .arg("--out-dir")
        .arg(lite_dir(pkg))
        .args([
            "--out-name",
            "hakanai_wasm_lite",
            "--",
            "--no-default-features",
        ])
        .env("CARGO_TARGET_DIR", web_build_dir())
        .run()
}

/// Where [`build_into`] writes the page's small module for the package in `pkg`: beside it,
/// `{pkg}-lite` (web/build.mjs looks there).
pub fn lite_dir(pkg: &Path) -> PathBuf {
    let mut dir = pkg.as_os_str().to_owned();
    dir.push("-lite");
    PathBuf::from(dir)
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
    size_of(&root().join(WASM_FILE))
}

fn size_of(path: &Path) -> Result<WasmSize> {
    let raw = std::fs::metadata(path)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?
        .len();
    let gzip = Cmd::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .read_bytes()?
        .len() as u64;
    Ok(WasmSize { raw, gzip })
}

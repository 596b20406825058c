//! `cargo xtask wasm`: builds the `hakanai-wasm` npm package into `web-wasm/pkg` with
//! wasm-pack (release, `--target web`), and the page's small first modules (`seal`, `open`:
//! web-wasm without `full`, built for size) beside it, and reports the `.wasm` sizes.

use std::path::{Path, PathBuf};

use crate::setup::on_path;
use crate::shell::{flags, human_bytes, root, target_dir, Cmd, Error, Result};

/// The module wasm-pack writes for `--out-name hakanai_wasm`.
pub const WASM_FILE: &str = "web-wasm/pkg/hakanai_wasm_bg.wasm";

pub fn run(args: &[String]) -> Result<()> {
    flags("wasm", args, &[])?;
    build()?;
    let size = size()?;
    println!("wasm: {WASM_FILE}: {}", size.describe());
    for (feature, name) in SMALL_MODULES {
        let path = small_dir(&root().join("web-wasm/pkg"), feature).join(format!("{name}_bg.wasm"));
        println!("wasm: {}: {}", path.display(), size_of(&path)?.describe());
    }
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
    // The page's small first modules: web-wasm without `full`, with `seal` (create, share)
    // or `open` (reveal, get), optimised for size (web/src/wasm.ts says when the page loads
    // which).
    for (feature, name) in SMALL_MODULES {
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
            .arg(small_dir(pkg, feature))
            .args([
                "--out-name",
                name,
                "--",
                "--no-default-features",
                "--features",
                feature,
            ])
            .args(SMALL_BUILD_STD)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_ENCODED_RUSTFLAGS", SMALL_RUSTFLAGS.join("\x1f"))
            .env("CARGO_TARGET_DIR", web_build_dir().join("small"))
            .run()?;
    }
    Ok(())
}

/// The small modules are built with their own standard library (`-Zbuild-std`, from the
/// toolchain's `rust-src`), optimised for size like the rest, and with panics that abort at
/// once: no panic messages, locations or the formatting behind them (8 KB of the `seal`
/// module's 52 KB gzip, 12 KB of `open`'s). These flags are unstable: `RUSTC_BOOTSTRAP=1`
/// unlocks them on the pinned stable toolchain (Dockerfile `RUST_VERSION`) for this nested
/// cargo only, which is also why the small modules have their own target directory
/// (`<web-build>/small`): other flags would make them rebuild each other's crates.
const SMALL_BUILD_STD: [&str; 2] = [
    "-Zbuild-std=std,panic_abort",
    "-Zbuild-std-features=optimize_for_size",
];
const SMALL_RUSTFLAGS: [&str; 2] = ["-Zunstable-options", "-Cpanic=immediate-abort"];

/// The page's small modules: web-wasm's feature and the module's file name.
pub const SMALL_MODULES: [(&str, &str); 2] =
    [("seal", "hakanai_wasm_seal"), ("open", "hakanai_wasm_open")];

/// Where [`build_into`] writes the small module with `feature` for the package in `pkg`:
/// beside it, `{pkg}-{feature}` (web/build.mjs looks there).
pub fn small_dir(pkg: &Path, feature: &str) -> PathBuf {
    let mut dir = pkg.as_os_str().to_owned();
    dir.push(format!("-{feature}"));
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

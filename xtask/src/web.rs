//! `cargo xtask web`: builds the wasm package, type-checks `web/src` with `tsc`, and
//! assembles `web/dist/` (esbuild bundles, static files, `hakanai_wasm.js` and the
//! `.wasm`) with `web/build.mjs`. `hakanai-server` embeds the same page at build time
//! (`server/build.rs` runs this task with `--out-dir`); `--web-root web/dist` serves this
//! copy instead, for editing the page without rebuilding the server.
//!
//! `cargo xtask web --out-dir DIR --pkg-dir DIR` writes the page and the npm package
//! elsewhere (absolute paths) and leaves `web/dist` and `web-wasm/pkg` alone.

use std::path::{Path, PathBuf};

use crate::shell::{root, target_dir, Cmd, Error, Result};
use crate::wasm;

/// The assembled page, relative to the workspace root.
pub const DIST: &str = "web/dist";

pub fn run(args: &[String]) -> Result<()> {
    let mut out = None;
    let mut pkg = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--out-dir" => &mut out,
            "--pkg-dir" => &mut pkg,
            _ => {
                return Err(Error::new(format!(
                    "unknown option `{arg}` for `cargo xtask web` (expected --out-dir DIR, --pkg-dir DIR)"
                )))
            }
        };
        let dir = args
            .next()
            .ok_or_else(|| Error::new(format!("`{arg}` needs a directory")))?;
        *slot = Some(root().join(dir));
    }
    let out = out.unwrap_or_else(|| root().join(DIST));
    let pkg = pkg.unwrap_or_else(|| root().join("web-wasm/pkg"));
    wasm::build_into(&pkg)?;
    build_page_into(&out, &pkg)
}

/// Builds the npm package, then the page. `tsc` and `esbuild` come from
/// `node_modules/.bin` (installed by `cargo xtask setup`).
pub fn build() -> Result<()> {
    wasm::build()?;
    build_page()
}

/// The page only, from an already built `web-wasm/pkg`.
pub fn build_page() -> Result<()> {
    build_page_into(&root().join(DIST), &root().join("web-wasm/pkg"))
}

/// Type-checks `web/src` against the package in `pkg` and assembles the page in `out`.
fn build_page_into(out: &Path, pkg: &Path) -> Result<()> {
    if !root().join("node_modules/.bin/tsc").exists() {
        return Err(Error::new(
            "tsc not found in node_modules/.bin; run `cargo xtask setup` (npm devDependencies)",
        ));
    }
    let default_pkg = pkg == root().join("web-wasm/pkg");
    if default_pkg {
        Cmd::new("tsc").args(["-p", "web"]).run()?;
    } else {
        // web/tsconfig.json finds the package's types in web-wasm/pkg; point it elsewhere.
        let config = tsconfig_for(out, pkg)?;
        Cmd::new("tsc").arg("-p").arg(config).run()?;
    }
    Cmd::new("node")
        .arg("web/build.mjs")
        .arg("--out-dir")
        .arg(out)
        .arg("--pkg-dir")
        .arg(pkg)
        .run()?;
    let index = out.join("index.html");
    if !index.is_file() {
        return Err(Error::new(format!("{} was not written", index.display())));
    }
    Ok(())
}

/// A tsconfig next to `out` that extends `web/tsconfig.json` with the types from `pkg`.
fn tsconfig_for(out: &Path, pkg: &Path) -> Result<PathBuf> {
    let json = |p: &Path| format!("{:?}", p.display().to_string());
    let web = root().join("web");
    let text = format!(
        "{{\n  \"extends\": {},\n  \"compilerOptions\": {{ \"paths\": {{ \"hakanai-wasm\": [{}] }} }},\n  \"include\": [{}]\n}}\n",
        json(&web.join("tsconfig.json")),
        json(&pkg.join("hakanai_wasm.d.ts")),
        json(&web.join("src/**/*.ts")),
    );
    let name = format!(
        "{}.tsconfig.json",
        out.file_name().and_then(|n| n.to_str()).unwrap_or("web")
    );
    let path = out.with_file_name(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(&path, text)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// `cargo xtask bench-web`: builds the page and a release server, then runs the Playwright
/// benchmark (`playwright/bench.config.ts`), which rewrites the `bench:web` section of
/// BENCHMARKS.md.
pub fn bench(args: &[String]) -> Result<()> {
    crate::shell::flags("bench-web", args, &[])?;
    build()?;
    Cmd::cargo()
        .args(["build", "--release", "-p", "hakanai-server"])
        .run()?;
    let server = target_dir().join("release/hakanai-server");
    Cmd::new("npx")
        .args(["playwright", "test", "-c", "playwright/bench.config.ts"])
        .env("HAKANAI_SERVER_BIN", server)
        .run()
}

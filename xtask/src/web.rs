//! `cargo xtask web`: builds the wasm package, type-checks `web/src` with `tsc`, and
//! assembles `web/dist/` (esbuild bundles, static files, `hakanai_wasm.js` and the
//! `.wasm`) with `web/build.mjs`. Serve it with `hakanai-server --web-root web/dist`.

use crate::shell::{flags, root, target_dir, Cmd, Error, Result};
use crate::wasm;

/// The assembled page, relative to the workspace root.
pub const DIST: &str = "web/dist";

pub fn run(args: &[String]) -> Result<()> {
    flags("web", args, &[])?;
    build()
}

/// Builds the npm package, then the page. `tsc` and `esbuild` come from
/// `node_modules/.bin` (installed by `cargo xtask setup`).
pub fn build() -> Result<()> {
    wasm::build()?;
    build_page()
}

/// The page only, from an already built `web-wasm/pkg`.
pub fn build_page() -> Result<()> {
    if !root().join("node_modules/.bin/tsc").exists() {
        return Err(Error::new(
            "tsc not found in node_modules/.bin; run `cargo xtask setup` (npm devDependencies)",
        ));
    }
    Cmd::new("tsc").args(["-p", "web"]).run()?;
    Cmd::new("node").arg("web/build.mjs").run()?;
    let index = root().join(DIST).join("index.html");
    if !index.is_file() {
        return Err(Error::new(format!("{} was not written", index.display())));
    }
    Ok(())
}

/// `cargo xtask bench-web`: builds the page and a release server, then runs the Playwright
/// benchmark (`playwright/bench.config.ts`), which rewrites the `bench:web` section of
/// BENCHMARKS.md.
pub fn bench(args: &[String]) -> Result<()> {
    flags("bench-web", args, &[])?;
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

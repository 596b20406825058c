//! Builds the web page into the binary: `hakanai-server` serves it with no `--web-root`.
//!
//! The page is what `cargo xtask web` assembles (wasm-pack, tsc, esbuild): this script runs that
//! task in a nested cargo (`cargo run -p xtask -- web --out-dir …`) with its own target
//! directory, `<target>/web-build`, so it never waits on the lock of the build that runs it.
//! The result is kept in `<target>/web-build/page-<hash of the inputs>`: debug, release, clippy
//! and test builds (each runs this script on its own) build the page once per change of
//! `web/`, `web-wasm/`, `crypto-core/` or the lock files, and a rebuild with no change runs
//! nothing (cargo reruns this script only when an input changed).
//!
//! The files are copied to `OUT_DIR/web` with gzip variants (`*.gz`, when smaller) and listed
//! in `OUT_DIR/web_assets.rs` (`include_bytes!`), which `src/assets.rs` includes.
//!
//! Environment:
//! - `HAKANAI_WEB_DIST=<dir>`: embed this already built page (e.g. `web/dist`) instead.
//! - `HAKANAI_SKIP_WEB_BUILD=1`: embed no page (no node, wasm-pack needed); `/` then says the
//!   page is not built in, and only `--web-root` serves one.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// What the page is made from, relative to the workspace root.
const INPUTS: &[&str] = &[
    "web/src",
    "web/static",
    "web/build.mjs",
    "web/tsconfig.json",
    "web-wasm/src",
    "web-wasm/Cargo.toml",
    "crypto-core/src",
    "crypto-core/Cargo.toml",
    "Cargo.toml",
    "Cargo.lock",
    "package.json",
    "package-lock.json",
    "xtask/src/web.rs",
    "xtask/src/wasm.rs",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HAKANAI_WEB_DIST");
    println!("cargo:rerun-if-env-changed=HAKANAI_SKIP_WEB_BUILD");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest
        .parent()
        .expect("server/ is in the workspace")
        .to_path_buf();

    let skip =
        std::env::var_os("HAKANAI_SKIP_WEB_BUILD").is_some_and(|v| !v.is_empty() && v != "0");
    let page = if skip {
        None
    } else if let Some(dist) = std::env::var_os("HAKANAI_WEB_DIST").filter(|v| !v.is_empty()) {
        let dist = root.join(dist);
        println!("cargo:rerun-if-changed={}", dist.display());
        if !dist.join("index.html").is_file() {
            fail(&format!(
                "HAKANAI_WEB_DIST={} has no index.html (build it with `cargo xtask web`)",
                dist.display()
            ));
        }
        Some(dist)
    } else {
        for input in INPUTS {
            println!("cargo:rerun-if-changed={}", root.join(input).display());
        }
        Some(built_page(&root, &out_dir))
    };
    embed(page.as_deref(), &out_dir);
}

fn fail(msg: &str) -> ! {
    panic!(
        "\n{msg}\n\nhakanai-server embeds its web page. Install the tools with `cargo xtask setup` \
(see README.md), or build without the page (HAKANAI_SKIP_WEB_BUILD=1) or with a prebuilt one \
(HAKANAI_WEB_DIST=<dir>).\n"
    )
}

/// The page for the current inputs, built now unless an earlier build left it in the cache.
fn built_page(root: &Path, out_dir: &Path) -> PathBuf {
    let cache = target_dir(root, out_dir).join("web-build");
    let page = cache.join(format!("page-{:016x}", inputs_hash(root)));
    if page.join("index.html").is_file() {
        return page;
    }
    let work = cache.join(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let dist = work.join("dist");
    let started = Instant::now();
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root)
        .args(["run", "--quiet", "-p", "xtask", "--", "web", "--out-dir"])
        .arg(&dist)
        .arg("--pkg-dir")
        .arg(work.join("pkg"));
    for (key, _) in std::env::vars_os() {
        if inherited_from_this_build(&key) {
            cmd.env_remove(key);
        }
    }
    cmd.env("CARGO_TARGET_DIR", &cache)
        .env("XTASK_WEB_BUILD_DIR", &cache);
    let output = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot start cargo for the web page: {e}")));
    if !output.status.success() {
        let mut err = std::io::stderr();
        let _ = err.write_all(&output.stdout);
        let _ = err.write_all(&output.stderr);
        let _ = std::fs::remove_dir_all(&work);
        fail(&format!(
            "building the web page (`cargo xtask web --out-dir {}`) failed ({}); its output is above",
            dist.display(),
            output.status
        ));
    }
    if let Err(e) = std::fs::rename(&dist, &page) {
        // A concurrent build of the same inputs may have won the race; its page is as good.
        if !page.join("index.html").is_file() {
            fail(&format!(
                "cannot move {} to {}: {e}",
                dist.display(),
                page.display()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    prune(&cache, &page);
    println!(
        "cargo:warning=built the web page in {:.0?} (cached in {})",
        started.elapsed(),
        page.display()
    );
    page
}

/// Variables the cargo running this script set for it (or for clippy), which would change
/// what the nested cargo builds or where; the user's registry, network and terminal settings
/// stay.
fn inherited_from_this_build(key: &OsString) -> bool {
    let Some(key) = key.to_str() else {
        return false;
    };
    const KEEP: &[&str] = &[
        "CARGO_HOME",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    const DROP: &[&str] = &[
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "NUM_JOBS",
        "OPT_LEVEL",
        "DEBUG",
        "PROFILE",
        "MAKEFLAGS",
        "MFLAGS",
        "XTASK_WEB_BUILD_DIR",
    ];
    if key.starts_with("CARGO_") {
        return !KEEP
            .iter()
            .any(|k| key == *k || (k.ends_with('_') && key.starts_with(k)));
    }
    DROP.contains(&key)
}

/// Cargo's target directory: the ancestor of `OUT_DIR` that holds `CACHEDIR.TAG`.
fn target_dir(root: &Path, out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.join("target"))
}

/// Pages of earlier inputs, unless a build may still be reading them.
fn prune(cache: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    let old = SystemTime::now() - Duration::from_secs(600);
    for entry in entries.flatten() {
        let path = entry.path();
        let is_page = entry.file_name().to_string_lossy().starts_with("page-");
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < old);
        if is_page && path != keep && stale {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

fn inputs_hash(root: &Path) -> u64 {
    let mut files = Vec::new();
    for input in INPUTS {
        walk(&root.join(input), &mut files);
    }
    files.sort();
    let mut h = Fnv::new();
    h.write(b"hakanai page v1\0");
    for file in files {
        let rel = file.strip_prefix(root).unwrap_or(&file);
        h.write(rel.to_string_lossy().as_bytes());
        h.write(b"\0");
        h.write(&std::fs::read(&file).unwrap_or_default());
        h.write(b"\0");
    }
    h.0
}

fn walk(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            walk(&entry.path(), files);
        }
    } else if path.is_file() {
        files.push(path.to_path_buf());
    }
}

/// FNV-1a, 64 bits: stable across Rust versions (a cache key and ETags, not security).
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Copies the page to `OUT_DIR/web` and writes `OUT_DIR/web_assets.rs` (empty without a page).
fn embed(page: Option<&Path>, out_dir: &Path) {
    let dest = out_dir.join("web");
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir_all(&dest).expect("create OUT_DIR/web");
    let mut files = Vec::new();
    if let Some(page) = page {
        walk(page, &mut files);
    }
    let mut entries: Vec<(String, PathBuf)> = files
        .into_iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(page?).ok()?;
            let url: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            Some((format!("/{}", url.join("/")), f))
        })
        .collect();
    entries.sort();

    let mut code = String::from(
        "// Generated by server/build.rs: the web page built into the binary, sorted by path.\n",
    );
    writeln!(code, "pub static EMBEDDED: &[Asset] = &[").unwrap();
    for (url, src) in &entries {
        let body = std::fs::read(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
        let copy = dest.join(&url[1..]);
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::write(&copy, &body).unwrap();
        let ext = url.rsplit('.').next().unwrap_or("");
        let (content_type, compressible) = content_type(ext);
        let gzip = compressible
            .then(|| gzip(&body))
            .filter(|gz| gz.len() < body.len())
            .map(|gz| {
                let path = PathBuf::from(format!("{}.gz", copy.display()));
                std::fs::write(&path, gz).unwrap();
                path
            });
        let mut etag = Fnv::new();
        etag.write(&body);
        writeln!(
            code,
            "    Asset {{ path: {url:?}, content_type: {content_type:?}, etag: \"\\\"{:016x}\\\"\", \
body: include_bytes!({:?}), gzip: {} }},",
            etag.0,
            copy.display().to_string(),
            match gzip {
                Some(p) => format!("Some(include_bytes!({:?}))", p.display().to_string()),
                None => "None".into(),
            }
        )
        .unwrap();
    }
    writeln!(code, "];").unwrap();
    std::fs::write(out_dir.join("web_assets.rs"), code).expect("write web_assets.rs");
}

/// The `Content-Type` of a file extension, and whether gzip is worth trying.
fn content_type(ext: &str) -> (&'static str, bool) {
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => ("text/html; charset=utf-8", true),
        "js" | "mjs" => ("text/javascript; charset=utf-8", true),
        "css" => ("text/css; charset=utf-8", true),
        "json" | "map" => ("application/json", true),
        "webmanifest" => ("application/manifest+json", true),
        "txt" => ("text/plain; charset=utf-8", true),
        "svg" => ("image/svg+xml", true),
        "wasm" => ("application/wasm", true),
        "ico" => ("image/x-icon", true),
        "png" => ("image/png", false),
        "jpg" | "jpeg" => ("image/jpeg", false),
        "webp" => ("image/webp", false),
        "woff2" => ("font/woff2", false),
        _ => ("application/octet-stream", false),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

//! `cargo xtask setup [--check]`: installs the tools the other tasks need, only those
//! missing. Everything is probed first (quietly), then installed in order, loudly.
//! With nothing missing it prints one line and takes well under a second.
//!
//! `cargo xtask run` asks only for [`Scope::Run`] (the wasm toolchain and node): a newcomer
//! should see the page without first waiting for the fuzz toolchain, Chromium, Redis,
//! schemathesis and the linters, which only the tests use.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::shell::{flags, pids, root, Cmd, Error, Result};
use crate::{lint, schemathesis};

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub fn run(args: &[String]) -> Result<()> {
    let check_only = flags("setup", args, &["--check"])?.contains(&"--check");
    ensure(Scope::All, check_only)
}

/// Which tasks the tools are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Building the page and running the server (`cargo xtask run`).
    Run,
    /// Everything: tests, fuzzing, linting, the image.
    All,
}

/// Probes the tools `scope` needs; installs what is missing unless `check_only`, in which
/// case a missing tool is an error listing all of them.
pub fn ensure(scope: Scope, check_only: bool) -> Result<()> {
    let missing = probe(scope)?;
    if missing.is_empty() && scope == Scope::Run {
        println!(
            "setup: tools for running present ({WASM_TARGET} target, rust-src, wasm-bindgen-cli {}, \
             wasm-pack, node, node_modules); `cargo xtask test` installs the rest",
            locked_wasm_bindgen_version()?
        );
        return Ok(());
    }
    if missing.is_empty() {
        println!(
            "setup: all tools present ({WASM_TARGET} target, rust-src, nightly + cargo-fuzz, \
             wasm-bindgen-cli {}, wasm-pack, chromium, chromedriver, redis, node_modules, \
             schemathesis {}, hadolint + check-jsonschema)",
            locked_wasm_bindgen_version()?,
            schemathesis::VERSION
        );
        return Ok(());
    }
    println!("setup: missing:");
    for m in &missing {
        println!("  - {}", m.describe());
    }
    if check_only {
        return Err(Error::new(format!(
            "{} tool(s) missing; run `cargo xtask setup` to install them",
            missing.len()
        )));
    }
    for m in &missing {
        println!("setup: installing {}", m.describe());
        m.install()?;
    }
    // Installing can succeed and still leave the wrong binary first on PATH.
    let still = probe(scope)?;
    if !still.is_empty() {
        let list: Vec<String> = still.iter().map(Missing::describe).collect();
        return Err(Error::new(format!(
            "still missing after installing (check PATH): {}",
            list.join("; ")
        )));
    }
    println!("setup: done");
    Ok(())
}

#[derive(Debug, PartialEq)]
enum Missing {
    Wasm32Target,
    RustSrc,
    Nightly,
    CargoFuzz,
    WasmBindgen { want: String, have: Option<String> },
    WasmPack,
    Apt(Vec<&'static str>),
    Npm { reason: &'static str },
    Schemathesis,
    LintTools,
}

impl Missing {
    fn describe(&self) -> String {
        match self {
            Missing::Wasm32Target => format!("rustup target {WASM_TARGET}"),
            Missing::RustSrc => "rustup component rust-src (the page's small wasm modules \
                                 build their own standard library)"
                .to_string(),
            Missing::Nightly => "nightly toolchain (for cargo-fuzz)".to_string(),
            Missing::CargoFuzz => "cargo-fuzz".to_string(),
            Missing::WasmBindgen { want, have: None } => {
                format!("wasm-bindgen-cli {want} (Cargo.lock); not on PATH")
            }
            Missing::WasmBindgen {
                want,
                have: Some(have),
            } => {
                format!("wasm-bindgen-cli {want} (Cargo.lock); PATH has {have}")
            }
            Missing::WasmPack => "wasm-pack".to_string(),
            Missing::Apt(pkgs) => format!("apt packages: {}", pkgs.join(" ")),
            Missing::Npm { reason } => format!("npm devDependencies ({reason})"),
            Missing::LintTools => lint::describe(),
            Missing::Schemathesis => format!(
                "schemathesis {} (venv {})",
                schemathesis::VERSION,
                schemathesis::venv().display()
            ),
        }
    }

    fn install(&self) -> Result<()> {
        match self {
            Missing::Wasm32Target => Cmd::new("rustup")
                .args(["target", "add", WASM_TARGET])
                .run(),
            Missing::RustSrc => Cmd::new("rustup")
                .args(["component", "add", "rust-src"])
                .run(),
            Missing::Nightly => Cmd::new("rustup")
                .args(["toolchain", "install", "nightly", "--profile", "minimal"])
                .run(),
            Missing::CargoFuzz => cargo_install("cargo-fuzz", &[]),
            Missing::WasmBindgen { want, .. } => {
                let version = format!("={want}");
                let locked = cargo_install("wasm-bindgen-cli", &["--version", &version]);
                if locked.is_ok() {
                    return locked;
                }
                // Happens when the registry lacks a version pinned in the crate's own
                // lockfile (docs/toolchain.md); a fresh resolution usually works.
                println!("setup: --locked install failed; retrying without --locked");
                Cmd::cargo()
                    .args(["install", "wasm-bindgen-cli", "--version", &version])
                    .run()
            }
            Missing::WasmPack => cargo_install("wasm-pack", &[]),
            Missing::Apt(pkgs) => apt_install(pkgs),
            Missing::Npm { .. } => npm_install(),
            Missing::Schemathesis => schemathesis::install(),
            Missing::LintTools => lint::install(),
        }
    }
}

fn probe(scope: Scope) -> Result<Vec<Missing>> {
    let mut missing = Vec::new();
    let all = scope == Scope::All;

    let targets = Cmd::new("rustup")
        .args(["target", "list", "--installed"])
        .probe();
    if !targets.is_some_and(|t| t.lines().any(|l| l.trim() == WASM_TARGET)) {
        missing.push(Missing::Wasm32Target);
    }
    let components = Cmd::new("rustup")
        .args(["component", "list", "--installed"])
        .probe();
    if !components.is_some_and(|c| c.lines().any(|l| l.trim().starts_with("rust-src"))) {
        missing.push(Missing::RustSrc);
    }

    if all {
        let toolchains = Cmd::new("rustup").args(["toolchain", "list"]).probe();
        if !toolchains.is_some_and(|t| t.lines().any(|l| l.starts_with("nightly"))) {
            missing.push(Missing::Nightly);
        }
        if Cmd::cargo().args(["fuzz", "--version"]).probe().is_none() {
            missing.push(Missing::CargoFuzz);
        }
    }

    let want = locked_wasm_bindgen_version()?;
    // The test runner ships in the same crate; both must match the library version.
    for tool in ["wasm-bindgen", "wasm-bindgen-test-runner"] {
        let have = Cmd::new(tool)
            .arg("--version")
            .probe()
            .map(|out| version_word(&out));
        if have.as_deref() != Some(want.as_str()) {
            missing.push(Missing::WasmBindgen { want, have });
            break;
        }
    }

    if Cmd::new("wasm-pack").arg("--version").probe().is_none() {
        missing.push(Missing::WasmPack);
    }

    let apt: Vec<&'static str> = apt_packages(scope)
        .filter(|pkg| !apt_present(pkg))
        .collect();
    if !apt.is_empty() {
        missing.push(Missing::Apt(apt));
    }

    if let Some(reason) = npm_stale(&root()) {
        missing.push(Missing::Npm { reason });
    }
    if all && !schemathesis::installed() {
        missing.push(Missing::Schemathesis);
    }
    if all && !lint::installed() {
        missing.push(Missing::LintTools);
    }
    Ok(missing)
}

/// Debian packages, each with the narrowest scope that needs it.
const APT_PACKAGES: &[(&str, Scope)] = &[
    ("nodejs", Scope::Run),
    ("npm", Scope::Run),
    ("chromium", Scope::All),
    ("chromium-driver", Scope::All),
    ("redis-server", Scope::All),
    ("redis-sentinel", Scope::All),
    ("python3", Scope::All),
    // systemd-analyze, for the unit file check in `deployment lint`.
    ("systemd", Scope::All),
    // `cargo xtask image`: base images from Debian's packages, builds without Docker.
    ("mmdebstrap", Scope::All),
    ("buildah", Scope::All),
    // Debian splits `python3 -m venv` (for schemathesis) into its own package.
    ("python3-venv", Scope::All),
];

fn apt_packages(scope: Scope) -> impl Iterator<Item = &'static str> {
    APT_PACKAGES
        .iter()
        .filter(move |(_, needed_by)| scope == Scope::All || *needed_by == Scope::Run)
        .map(|(pkg, _)| *pkg)
}

fn apt_present(pkg: &str) -> bool {
    match pkg {
        "nodejs" => on_path("node"),
        "chromium" => Path::new(CHROMIUM).exists(),
        "chromium-driver" => Path::new(CHROMEDRIVER).exists(),
        "systemd" => on_path("systemd-analyze"),
        "python3-venv" => Cmd::new("python3")
            .args(["-c", "import ensurepip"])
            .probe()
            .is_some(),
        // The rest install a program of their own name.
        program => on_path(program),
    }
}

/// `wasm-bindgen 0.2.126` → `0.2.126` (the second word; tolerates trailing text).
fn version_word(output: &str) -> String {
    output.split_whitespace().nth(1).unwrap_or("").to_string()
}

/// The version of the `wasm-bindgen` package in the workspace Cargo.lock.
pub fn locked_wasm_bindgen_version() -> Result<String> {
    let path = root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&path)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?;
    let versions = lock_versions(&lock, "wasm-bindgen");
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::new(format!(
            "no `wasm-bindgen` package in {}; run `cargo generate-lockfile`",
            path.display()
        ))),
        many => Err(Error::new(format!(
            "Cargo.lock has several wasm-bindgen versions ({}); pin one with `=` in the \
             workspace Cargo.toml so wasm-bindgen-cli can match it",
            many.join(", ")
        ))),
    }
}

/// Every `version` of `[[package]]` entries named `name` in Cargo.lock text.
fn lock_versions(lock: &str, name: &str) -> Vec<String> {
    let unquote = |line: &str, key: &str| -> Option<String> {
        let rest = line
            .strip_prefix(key)?
            .trim_start()
            .strip_prefix('=')?
            .trim();
        Some(rest.trim_matches('"').to_string())
    };
    let mut versions = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let mut pkg_name = None;
        let mut version = None;
        for line in block.lines().map(str::trim) {
            if line.starts_with('[') {
                break; // a following table such as [metadata]
            }
            pkg_name = pkg_name.or_else(|| unquote(line, "name"));
            version = version.or_else(|| unquote(line, "version"));
        }
        if pkg_name.as_deref() == Some(name) {
            versions.extend(version);
        }
    }
    versions
}

pub fn on_path(program: &str) -> bool {
    find_on_path(program).is_some()
}

/// Where `program` is on `PATH`.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn cargo_install(krate: &str, extra: &[&str]) -> Result<()> {
    if let Some(pid) = running_cargo_install(krate) {
        return Err(Error::new(format!(
            "`cargo install {krate}` is already running (pid {pid}); wait for it to finish, \
             then rerun `cargo xtask setup`"
        )));
    }
    Cmd::cargo()
        .args(["install", "--locked", krate])
        .args(extra)
        .run()
}

/// The pid of another process running `cargo install … <krate> …`, if any (Linux /proc).
fn running_cargo_install(krate: &str) -> Option<u32> {
    let me = std::process::id();
    for (pid, dir) in pids() {
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_cargo = args.first().is_some_and(|a| a.ends_with(b"cargo"));
        let has = |word: &[u8]| args.contains(&word);
        if is_cargo && has(b"install") && has(krate.as_bytes()) {
            return Some(pid);
        }
    }
    None
}

fn apt_install(pkgs: &[&str]) -> Result<()> {
    let is_root = Cmd::new("id")
        .arg("-u")
        .probe()
        .is_some_and(|uid| uid.trim() == "0");
    let apt = |args: &[&str]| {
        let cmd = if is_root {
            Cmd::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive")
        } else {
            // sudo drops most of the environment; pass the variable as an argument.
            Cmd::new("sudo").args(["DEBIAN_FRONTEND=noninteractive", "apt-get"])
        };
        cmd.args(args).run()
    };
    apt(&["update"])?;
    let mut args = vec!["install", "-y"];
    args.extend_from_slice(pkgs);
    apt(&args)
}

/// Why `node_modules` must be (re)installed, or `None` when it is up to date.
fn npm_stale(root: &Path) -> Option<&'static str> {
    let installed = mtime(&root.join("node_modules").join(".package-lock.json"));
    let Some(installed) = installed else {
        return Some("node_modules missing");
    };
    let newer = |file: &str| mtime(&root.join(file)).is_some_and(|t| t > installed);
    if newer("package-lock.json") {
        return Some("package-lock.json newer than node_modules");
    }
    if newer("package.json") {
        return Some("package.json newer than node_modules");
    }
    None
}

fn npm_install() -> Result<()> {
    let root = root();
    let has_lock = root.join("package-lock.json").exists();
    let sub = if has_lock { "ci" } else { "install" };
    // playwright-core downloads nothing, but make sure no browser download ever starts:
    // we drive the system Chromium.
    Cmd::new("npm")
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .args([sub, "--no-audit", "--no-fund"])
        .run()
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "wasm-bindgen"
version = "0.2.126"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "wasm-bindgen-macro",
]

[[package]]
name = "wasm-bindgen-macro"
version = "0.2.126"

[[package]]
name = "xtask"
version = "0.1.0"
"#;

    #[test]
    fn running_needs_only_node_from_apt() {
        assert_eq!(
            apt_packages(Scope::Run).collect::<Vec<_>>(),
            ["nodejs", "npm"]
        );
        let all: Vec<_> = apt_packages(Scope::All).collect();
        assert_eq!(all.len(), APT_PACKAGES.len());
        for pkg in ["chromium", "redis-server", "redis-sentinel", "buildah"] {
            assert!(all.contains(&pkg), "{pkg}");
        }
    }

    #[test]
    fn finds_exact_package_in_lock() {
        assert_eq!(lock_versions(LOCK, "wasm-bindgen"), ["0.2.126"]);
        assert_eq!(lock_versions(LOCK, "xtask"), ["0.1.0"]);
        assert!(lock_versions(LOCK, "wasm").is_empty());
    }

    #[test]
    fn reads_tool_versions() {
        assert_eq!(version_word("wasm-bindgen 0.2.126\n"), "0.2.126");
        assert_eq!(version_word("wasm-bindgen-test-runner 0.2.126"), "0.2.126");
        assert_eq!(version_word(""), "");
    }

    #[test]
    fn workspace_lock_pins_one_wasm_bindgen() {
        assert!(locked_wasm_bindgen_version().is_ok());
    }
}

//! `cargo xtask test [--fast]` (alias `ci`): runs `setup`, then every check in order,
//! stopping at the first failure, and ends with a table of steps and durations, which it
//! also writes to `target/xtask/test-durations.tsv`. If it passes locally, CI passes.
//!
//! `--fast` is the inner loop: format, clippy, unit tests, the crypto vectors, and the store
//! contract and HTTP suites on the embedded store — no Redis topologies or failovers, no wasm
//! or release builds, no browser, no fuzzing. CI runs the full tier.
//!
//! To add a check, add a [`Step`] to [`steps`], with what it does in the fast tier.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::setup::{self, CHROMEDRIVER, CHROMIUM, WASM_TARGET};
use crate::shell::{flags, root, target_dir, Cmd, Error, Result};
use crate::wasm;
use crate::web;
use crate::{image, lint, schemathesis};

const FUZZ_DIR: &str = "crypto-core/fuzz";
const FUZZ_SECONDS: u32 = 20;

/// Chromium flags for headless runs on these machines: no sandbox (root in a
/// container), and nothing that tries to reach the (closed) network.
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

pub fn run(args: &[String]) -> Result<()> {
    let fast = flags("test", args, &["--fast"])?.contains(&"--fast");
    let steps = steps();
    let mut report: Vec<(&str, Status, Duration)> = Vec::new();
    let mut failure = None;
    for step in &steps {
        if failure.is_some() {
            report.push((step.name, Status::NotRun, Duration::ZERO));
            continue;
        }
        let action = match (&step.fast, fast) {
            (Fast::Skip, true) => {
                report.push((step.name, Status::Skipped("--fast".into()), Duration::ZERO));
                continue;
            }
            (Fast::Instead(action), true) => action,
            _ => &step.action,
        };
        println!("\n==> {}", step.name);
        let start = Instant::now();
        let result = action();
        let elapsed = start.elapsed();
        match result {
            Ok(note) => report.push((step.name, Status::Ok(note), elapsed)),
            Err(err) => {
                report.push((step.name, Status::Failed, elapsed));
                failure = Some(Error::new(format!("step `{}` failed: {err}", step.name)));
            }
        }
    }
    print!("\n{}", summary(&report));
    let tier = if fast { "--fast" } else { "full" };
    let file = target_dir().join("xtask").join("test-durations.tsv");
    std::fs::create_dir_all(target_dir().join("xtask"))
        .and_then(|()| std::fs::write(&file, durations_tsv(tier, &report)))
        .map_err(|e| Error::new(format!("cannot write {}: {e}", file.display())))?;
    println!("durations: {}", file.display());
    match failure {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

type Action = Box<dyn Fn() -> Result<String>>;

/// One check. `action` returns a note for the summary (may be empty).
struct Step {
    name: &'static str,
    action: Action,
    /// What `--fast` does with this step.
    fast: Fast,
}

enum Fast {
    /// The same as the full tier.
    Same,
    /// Something cheaper.
    Instead(Action),
    Skip,
}

impl Step {
    /// A step that runs the same in both tiers.
    fn new(name: &'static str, action: impl Fn() -> Result<String> + 'static) -> Step {
        Step {
            name,
            action: Box::new(action),
            fast: Fast::Same,
        }
    }

    /// A step that runs one command.
    fn cmd(name: &'static str, cmd: impl Fn() -> Cmd + 'static) -> Step {
        Step::new(name, move || cmd().run().map(|()| String::new()))
    }

    /// Not in the fast tier.
    fn full_only(mut self) -> Step {
        self.fast = Fast::Skip;
        self
    }

    /// Runs `action` instead in the fast tier.
    fn fast(mut self, action: impl Fn() -> Result<String> + 'static) -> Step {
        self.fast = Fast::Instead(Box::new(action));
        self
    }
}

fn steps() -> Vec<Step> {
    vec![
        Step::new("setup", || {
            setup::ensure(setup::Scope::All, false).map(|()| String::new())
        }),
        Step::cmd("fmt", || {
            Cmd::cargo().args(["fmt", "--all", "--", "--check"])
        }),
        Step::cmd("clippy native", || {
            Cmd::cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
        }),
        // `--all-features` only on wasm32: crypto-core's `webcrypto` needs a browser.
        Step::cmd("clippy wasm32", || {
            Cmd::cargo()
                .args(["clippy", "-p", "hakanai-wasm", "-p", "hakanai-crypto-core"])
                .args([
                    "--target",
                    WASM_TARGET,
                    "--all-features",
                    "--",
                    "-D",
                    "warnings",
                ])
        }),
        // The page's small modules: web-wasm without `full` (crypto-core without its defaults).
        Step::cmd("clippy wasm32 small modules (seal)", || {
            Cmd::cargo()
                .args(["clippy", "-p", "hakanai-wasm", "--no-default-features"])
                .args(["--features", "seal", "--target", WASM_TARGET])
                .args(["--", "-D", "warnings"])
        }),
        Step::cmd("clippy wasm32 small modules (open)", || {
            Cmd::cargo()
                .args(["clippy", "-p", "hakanai-wasm", "--no-default-features"])
                .args(["--features", "open", "--target", WASM_TARGET])
                .args(["--", "-D", "warnings"])
        }),
        Step::cmd("test native", || Cmd::cargo().args(["test", "--workspace"])).fast(fast_tests),
        // The server's own OpenAPI document against the running server (both stores).
        Step::new("schemathesis", schemathesis::run).full_only(),
        Step::new("test web-wasm (node)", || {
            wasm_test(&["-p", "hakanai-wasm"], Runtime::Node)
        })
        .full_only(),
        Step::new("test web-wasm (chromium)", || {
            wasm_test(&["-p", "hakanai-wasm"], Runtime::Chromium)
        })
        .full_only(),
        // crypto-core's vectors run in wasm through web-wasm's tests (both backends), so
        // crypto-core itself (whose proptest dev-dependency does not build for wasm32) is
        // tested natively only.
        Step::new("npm package (release)", || {
            wasm::build()?;
            let size = wasm::size()?;
            println!("wasm: {}: {}", wasm::WASM_FILE, size.describe());
            Ok(format!("wasm {} B raw, {} B gzip", size.raw, size.gzip))
        })
        .full_only(),
        Step::new("fuzz smoke", fuzz_smoke).full_only(),
        // web/dist from the npm package built above (no second wasm build), for the Playwright
        // server that tests `--web-root`; the others serve the page built into the binary
        // (server/build.rs, built once per change of its inputs into target/web-build and
        // shared by the clippy, test and release builds). The server the later steps start
        // and the CLI the Playwright interop test runs are the debug binaries `test native`
        // built (see `shell::build_debug_binaries`).
        Step::new("build web", || web::build_page().map(|()| String::new())).full_only(),
        Step::new("deployment lint", lint::run).full_only(),
        // The Dockerfile's runtime stage on the binary built above (page included), smoke-tested
        // with buildah; the full image build (`cargo xtask image`, ~25 min) runs outside CI.
        Step::new("image (runtime stage)", || image::run(true)).full_only(),
        // Type-checks the suite, whose global setup then starts its servers (embedded store,
        // Redis, token, geo) through `cargo xtask test-servers`.
        Step::new("playwright", || {
            Cmd::new("tsc").args(["-p", "playwright"]).run()?;
            Cmd::new("npx")
                .args(["playwright", "test", "-c", "playwright"])
                .run()
                .map(|()| String::new())
        })
        .full_only(),
    ]
}

/// The fast tier of `test native`: every crate's unit tests, crypto-core's vectors, round
/// trips and io adapters, the server's module layering, and its store contract and HTTP suites
/// on the embedded store. The full tier runs both suites on Redis too; the CLI, fault,
/// HA and telemetry suites (Redis topologies, failovers, collectors) run in the full tier only.
/// Every command says `--workspace` and picks targets by name: selecting packages with `-p`
/// would resolve features differently and recompile some eighty crates after a full run.
fn fast_tests() -> Result<String> {
    Cmd::cargo()
        .args(["test", "--workspace", "--lib", "--bins"])
        .args(["--test", "vectors", "--test", "roundtrip", "--test", "io"])
        .args(["--test", "layers"])
        .run()?;
    // Test names are `<module>::memory::<case>` for the embedded store in both suites (see
    // their `both_stores!`).
    Cmd::cargo()
        .args([
            "test",
            "--workspace",
            "--test",
            "store_contract",
            "--test",
            "api",
        ])
        .args(["--", "::memory::"])
        .run()?;
    Ok("embedded store only".into())
}

#[derive(Clone, Copy, PartialEq)]
enum Runtime {
    Node,
    Chromium,
}

/// `cargo test --target wasm32-unknown-unknown <args>` through wasm-bindgen-test-runner,
/// in Node or in headless Chromium driven by chromedriver.
fn wasm_test(args: &[&str], runtime: Runtime) -> Result<String> {
    let mut cmd = Cmd::cargo()
        .args(["test", "--target", WASM_TARGET])
        .args(args)
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            "wasm-bindgen-test-runner",
        );
    // Set in both modes: a test binary with `wasm_bindgen_test_configure!(run_in_browser)`
    // runs in the browser whatever the environment says.
    cmd = cmd
        .env("CHROMEDRIVER", CHROMEDRIVER)
        .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", write_webdriver_json()?);
    if std::env::var_os("WASM_BINDGEN_TEST_TIMEOUT").is_none() {
        // The runner's default (20 s) is short for debug-build Argon2 in a browser.
        cmd = cmd.env("WASM_BINDGEN_TEST_TIMEOUT", "600");
    }
    if runtime == Runtime::Chromium {
        cmd = cmd.env("WASM_BINDGEN_USE_BROWSER", "1");
    }
    cmd.run().map(|()| String::new())
}

/// Writes the chromedriver capabilities (system Chromium, headless flags) to
/// `target/xtask/webdriver.json`; wasm-bindgen-test-runner reads the file named by
/// `WASM_BINDGEN_TEST_WEBDRIVER_JSON` (default: `webdriver.json` in the current dir).
fn write_webdriver_json() -> Result<PathBuf> {
    let dir = target_dir().join("xtask");
    let path = dir.join("webdriver.json");
    let args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| format!("\"{a}\"")).collect();
    let json = format!(
        "{{\n  \"goog:chromeOptions\": {{\n    \"binary\": \"{CHROMIUM}\",\n    \"args\": [{}]\n  }}\n}}\n",
        args.join(", ")
    );
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, json))
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// Runs each cargo-fuzz target for a few seconds. Needs nightly (`cargo +nightly`: the
/// rustup proxy, not `$CARGO`, which is the stable toolchain's own binary).
fn fuzz_smoke() -> Result<String> {
    let list = Cmd::rustup_cargo("nightly")
        .args(["fuzz", "list", "--fuzz-dir", FUZZ_DIR])
        .read()?;
    let targets: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if targets.is_empty() {
        return Err(Error::new(format!(
            "`cargo fuzz list` found no targets in {FUZZ_DIR}"
        )));
    }
    for target in &targets {
        // The corpus dir collects new inputs (git-ignored); committed seeds are read too.
        let corpus = format!("{FUZZ_DIR}/corpus/{target}");
        std::fs::create_dir_all(root().join(&corpus))
            .map_err(|e| Error::new(format!("create {corpus}: {e}")))?;
        let seeds = format!("{FUZZ_DIR}/seeds/{target}");
        let mut cmd = Cmd::rustup_cargo("nightly").args([
            "fuzz",
            "run",
            target,
            "--fuzz-dir",
            FUZZ_DIR,
            &corpus,
        ]);
        if root().join(&seeds).is_dir() {
            cmd = cmd.arg(seeds);
        }
        cmd.args(["--"])
            .arg(format!("-max_total_time={FUZZ_SECONDS}"))
            .arg("-rss_limit_mb=2048")
            .run()?;
    }
    Ok(format!("{} target(s) x {FUZZ_SECONDS}s", targets.len()))
}

enum Status {
    Ok(String),
    Failed,
    Skipped(String),
    NotRun,
}

fn summary(report: &[(&str, Status, Duration)]) -> String {
    let width = report
        .iter()
        .map(|(name, ..)| name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<8}  {:>8}  note",
        "step", "result", "time"
    );
    let mut total = Duration::ZERO;
    for (name, status, elapsed) in report {
        total += *elapsed;
        let (result, note) = match status {
            Status::Ok(note) => ("ok", note.as_str()),
            Status::Failed => ("FAILED", ""),
            Status::Skipped(why) => ("skipped", why.as_str()),
            Status::NotRun => ("not run", ""),
        };
        let time = if *elapsed == Duration::ZERO {
            "-".to_string()
        } else {
            fmt_duration(*elapsed)
        };
        let _ = writeln!(out, "{name:<width$}  {result:<8}  {time:>8}  {note}");
    }
    let _ = writeln!(
        out,
        "{:<width$}  {:<8}  {:>8}",
        "total",
        "",
        fmt_duration(total)
    );
    out
}

/// The report as tab-separated lines (step, result, seconds, note) for tools and for the
/// reference runs quoted in the README.
fn durations_tsv(tier: &str, report: &[(&str, Status, Duration)]) -> String {
    let mut out = format!("# cargo xtask test, tier {tier}\nstep\tresult\tseconds\tnote\n");
    let mut total = 0.0;
    for (name, status, elapsed) in report {
        total += elapsed.as_secs_f64();
        let (result, note) = match status {
            Status::Ok(note) => ("ok", note.as_str()),
            Status::Failed => ("failed", ""),
            Status::Skipped(why) => ("skipped", why.as_str()),
            Status::NotRun => ("not run", ""),
        };
        let _ = writeln!(
            out,
            "{name}\t{result}\t{:.1}\t{note}",
            elapsed.as_secs_f64()
        );
    }
    let _ = writeln!(out, "total\t\t{total:.1}\t");
    out
}

fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_every_step() {
        let report = [
            (
                "setup",
                Status::Ok(String::new()),
                Duration::from_millis(400),
            ),
            ("fmt", Status::Failed, Duration::from_secs(75)),
            ("fuzz smoke", Status::NotRun, Duration::ZERO),
        ];
        let text = summary(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[1].starts_with("setup") && lines[1].contains("0.4s"),
            "{text}"
        );
        assert!(
            lines[2].contains("FAILED") && lines[2].contains("1m15s"),
            "{text}"
        );
        assert!(lines[3].contains("not run"), "{text}");
        assert!(
            lines[4].starts_with("total") && lines[4].contains("1m15s"),
            "{text}"
        );
    }

    #[test]
    fn durations_file_has_a_row_per_step_and_a_total() {
        let report = [
            (
                "fmt",
                Status::Ok(String::new()),
                Duration::from_millis(1500),
            ),
            (
                "fuzz smoke",
                Status::Skipped("--fast".into()),
                Duration::ZERO,
            ),
        ];
        let tsv = durations_tsv("--fast", &report);
        let lines: Vec<&str> = tsv.lines().collect();
        assert_eq!(
            lines,
            [
                "# cargo xtask test, tier --fast",
                "step\tresult\tseconds\tnote",
                "fmt\tok\t1.5\t",
                "fuzz smoke\tskipped\t0.0\t--fast",
                "total\t\t1.5\t",
            ]
        );
    }

    #[test]
    fn webdriver_json_names_system_chromium() {
        let path = write_webdriver_json().unwrap();
        let json = std::fs::read_to_string(path).unwrap();
        assert!(json.contains("\"binary\": \"/usr/bin/chromium\""), "{json}");
        assert!(
            json.contains("\"--headless=new\", \"--no-sandbox\""),
            "{json}"
        );
    }
}

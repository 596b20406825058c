//! Build automation for the Hakanai workspace, run as `cargo xtask <task>`.
//!
//! Std only, on purpose: it must compile in seconds on a fresh checkout. `main` only
//! parses the task name and dispatches; each task lives in its own module.

mod bench;
mod bench_floor;
mod bench_server;
mod image;
mod lint;
mod procs;
mod run;
mod schemathesis;
mod setup;
mod shell;
mod test;
mod test_servers;
mod vectors;
mod wasm;
mod web;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <TASK> [OPTIONS]

Tasks:
  run [-- FLAGS]     setup, then start hakanai-server (embedded store, the page built
                    into it) at http://127.0.0.1:8080; FLAGS go to the server
  setup [--check]   install missing tools (wasm32 target, nightly + cargo-fuzz,
                    wasm-bindgen-cli pinned to Cargo.lock, wasm-pack, chromium,
                    chromedriver, redis, npm devDependencies, schemathesis and
                    the deployment linters in venvs under the target dir);
                    --check only reports
  test [--fast]     setup, then every check in order (fmt, clippy native + wasm32,
                    native tests, schemathesis API fuzzing,
                    wasm tests in Node and headless Chromium, release
                    npm package, fuzz smoke, deployment lint, image runtime
                    stage, Playwright); durations to target/xtask/test-durations.tsv;
                    --fast: fmt, clippy, unit tests, vectors, the store contract
                    and HTTP suites on the embedded store only (the inner loop;
                    CI runs the full tier)
  ci [--fast]       alias of `test`
  wasm              build the npm package into web-wasm/pkg and the page's small modules
                    (web-wasm/pkg-seal, pkg-open); report their sizes
  web [--out-dir DIR --pkg-dir DIR]
                    build the npm package, type-check and assemble the page in web/dist
                    (or DIR; hakanai-server's build script uses this to embed the page)
  bench-web         page weight, time to ready, 50 MiB create/reveal in Chromium;
                    rewrites the bench:web section of BENCHMARKS.md
  vectors           regenerate crypto-core/tests test vectors (HAKANAI_UPDATE_VECTORS=1)
  bench             native + browser throughput; rewrites a section of BENCHMARKS.md
  bench-server      ours and Hakanai 3.0.7 side by side (wrk on one real Redis):
                    req/s, p50/p99, CPU per op, Redis bytes per secret; rewrites
                    a section of BENCHMARKS.md
  image [--prebuilt] build the Dockerfile with buildah (base images made from
                    Debian packages under the FROM names), then smoke-test it;
                    --prebuilt: the runtime stage on this checkout's binary
  schemathesis      setup, then fuzz a debug hakanai-server (embedded store and Redis)
                    against its OpenAPI document; the `schemathesis` step of `test`
  lint              hadolint on the Dockerfile, the Compose schema on both compose
                    files, systemd-analyze on the unit; the `deployment lint` step
  help              print this message

Environment:
  XTASK_VERBOSE=1   also print the probe commands (version checks) it runs
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match task {
        "run" => run::run(rest),
        "setup" => setup::run(rest),
        "test" | "ci" => test::run(rest),
        "wasm" => wasm::run(rest),
        "web" => web::run(rest),
        "bench-web" => web::bench(rest),
        "vectors" => vectors::run(rest),
        "bench" => bench::run(rest),
        "bench-server" => bench_server::run(rest),
        // Started by bench-server only, so not in HELP.
        "bench-floor-server" => bench_floor::run(rest),
        // Started by Playwright's global setup only, so not in HELP.
        "test-servers" => test_servers::run(rest),
        "schemathesis" => schemathesis::task(rest),
        "lint" => lint::task(rest),
        "image" => image::task(rest),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(shell::Error::new(format!(
            "unknown task `{other}`; run `cargo xtask --help` for the list"
        ))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask {task}: error: {err}");
            ExitCode::FAILURE
        }
    }
}

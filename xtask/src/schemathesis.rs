//! The `schemathesis` step of `cargo xtask test`: property-based API fuzzing of a running
//! `hakanai-server` against its own OpenAPI document (`/api/openapi.json`), once per store.
//! Schemathesis is a Python tool; `setup` installs it at a pinned version into a venv under
//! the target directory, so nothing outside the checkout changes.

use std::path::PathBuf;

use crate::shell::{flags, target_dir, Cmd, Error, Result};
use hakanai_test_support::{HakanaiServer, RedisServer};

/// Pinned: a new release may add checks or change the CLI, which must not break CI by itself.
pub const VERSION: &str = "4.32.5";
/// Test cases per operation and phase: enough to reach every status of every handler while
/// keeping the step near a minute on a 2-core machine.
const MAX_EXAMPLES: &str = "20";
/// Response checks that must pass: no 5xx, and every status, content type and body is the
/// one the document declares. (`positive_data_acceptance` is left out: the document cannot
/// express limits that are configuration, such as the maximum TTL.)
const CHECKS: &str = "not_a_server_error,response_schema_conformance,status_code_conformance,\
content_type_conformance";

pub fn venv() -> PathBuf {
    target_dir()
        .join("xtask")
        .join(format!("schemathesis-{VERSION}"))
}

fn exe() -> PathBuf {
    venv().join("bin").join("schemathesis")
}

pub fn installed() -> bool {
    Cmd::new(exe())
        .arg("--version")
        .probe()
        .is_some_and(|v| v.contains(VERSION))
}

pub fn install() -> Result<()> {
    let dir = venv();
    Cmd::new("python3").args(["-m", "venv"]).arg(&dir).run()?;
    Cmd::new(dir.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("schemathesis=={VERSION}"))
        .run()
}

/// `cargo xtask schemathesis`: the test step on its own.
pub fn task(args: &[String]) -> Result<()> {
    flags("schemathesis", args, &[])?;
    crate::setup::ensure(crate::setup::Scope::All, false)?;
    crate::shell::build_debug_binaries()?;
    println!("{}", run()?);
    Ok(())
}

/// Runs schemathesis against a debug server on the embedded store, then on Redis: secret and
/// health operations with a user token, admin operations with the admin token. Needs the debug
/// `hakanai-server` (see `shell::build_debug_binaries`).
pub fn run() -> Result<String> {
    let redis = RedisServer::builder().try_start().map_err(Error::new)?;
    let mut runs = 0;
    for dsn in [None, Some(redis.dsn())] {
        let server = server(dsn.as_deref())?;
        let schema = format!("http://127.0.0.1:{}/api/openapi.json", server.port);
        for (token, paths) in [
            (
                server.user_token(),
                "^/(api/v1/secret|api/v1/upload|config.json|ready|healthy)",
            ),
            (server.admin_token(), "^/api/v1/admin/"),
        ] {
            Cmd::new(exe())
                .args(["run", &schema, "--checks", CHECKS])
                .args(["--max-examples", MAX_EXAMPLES, "--seed", "1"])
                .args(["--include-path-regex", paths])
                .args(["--header", &format!("Authorization: Bearer {token}")])
                .args(["--request-timeout", "10", "--no-color"])
                // It keeps a `.schemathesis/` cache in the working directory.
                .current_dir(target_dir().join("xtask"))
                .run()?;
            runs += 1;
        }
    }
    Ok(format!(
        "schemathesis {VERSION}: {runs} runs (embedded + Redis), {MAX_EXAMPLES} examples"
    ))
}

/// A debug server with an admin token, on the embedded store or on `redis_dsn`: its own port,
/// its tokens from its `--token-file` (test-support).
fn server(redis_dsn: Option<&str>) -> Result<HakanaiServer> {
    let mut server = HakanaiServer::builder(target_dir().join("debug").join("hakanai-server"))
        .rust_log("error")
        .admin_token();
    if let Some(dsn) = redis_dsn {
        server = server.redis(dsn);
    }
    let server = server.try_start().map_err(Error::new)?;
    if server.admin_token.is_none() || server.user_token.is_none() {
        return Err(Error::new("hakanai-server wrote no admin and user token"));
    }
    Ok(server)
}

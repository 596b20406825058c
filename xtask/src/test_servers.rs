//! `cargo xtask test-servers [--cors-origin URL]`: the servers the Playwright suite runs
//! against, started through `hakanai-test-support` (ports they own, tokens from
//! `--token-file`). Prints one JSON object on one line of stdout — each server's URL, log file
//! and tokens — and keeps them running until stdin closes or a SIGTERM, SIGINT or SIGHUP
//! arrives; then stops them (SIGTERM, a graceful exit) and exits. `playwright/global-setup.ts`
//! spawns it and reads that line. Not in the main help: a tool for the suite, not for people.
//!
//! - `server-embedded`: the embedded store, the page built into the binary;
//! - `redis` (`--save '' --appendonly no`) and `server-redis` on its database 0;
//! - `server-token`: without anonymous uploads (its user token in the JSON), the page from
//!   `web/dist` through `--web-root`, legal pages;
//! - `server-geo-embedded`, `server-geo-redis` (database 1): `--country-header x-country
//!   --asn-header x-asn` and `--custom-assets-dir playwright/custom-assets`.
//!
//! Every server runs at `RUST_LOG=debug` from `target/playwright/` (where no page lies: what
//! they serve comes from the binary or a flag); its JSON log goes to
//! `target/playwright/<name>.log`, its stderr to `<name>.stderr.log`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hakanai_test_support::{HakanaiServer, RedisServer};

use crate::shell::{root, target_dir, Error, Result};

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: i32) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

extern "C" {
    /// libc's `signal(2)` (std links libc; xtask takes no dependencies).
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

pub fn run(args: &[String]) -> Result<()> {
    let cors_origin = match args {
        [] => None,
        [flag, origin] if flag == "--cors-origin" => Some(origin.clone()),
        _ => {
            return Err(Error::new(
                "usage: cargo xtask test-servers [--cors-origin URL]",
            ))
        }
    };
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        for sig in [SIGHUP, SIGINT, SIGTERM] {
            signal(sig, on_signal);
        }
    }
    let bin = std::env::var_os("HAKANAI_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug").join("hakanai-server"));
    if !bin.exists() {
        return Err(Error::new(format!(
            "{} is missing: run `cargo build -p hakanai-server`",
            bin.display()
        )));
    }
    let web_root = root().join("web/dist");
    // Only the --web-root server needs it.
    if !web_root.join("index.html").exists() {
        return Err(Error::new("web/dist is missing: run `cargo xtask web`"));
    }
    let log_dir = root().join("target/playwright");
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| Error::new(format!("{}: {e}", log_dir.display())))?;

    let redis = RedisServer::builder()
        .log_file(&log_dir.join("redis.log"))
        .try_start()
        .map_err(Error::new)?;
    let servers = start_servers(&bin, &log_dir, &web_root, &redis, cors_origin.as_deref())?;

    let mut json = format!(
        "{{\"redis\":{{\"dsn\":{},\"log\":{}}},\"servers\":{{",
        json_str(&redis.dsn()),
        json_str(&redis.log_file().display().to_string())
    );
    for (i, (name, log, server)) in servers.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            "{}:{{\"url\":{},\"log\":{}",
            json_str(name),
            json_str(&server.base_url()),
            json_str(&log.display().to_string())
        ));
        for (key, token) in [
            ("admin_token", &server.admin_token),
            ("user_token", &server.user_token),
        ] {
            if let Some(t) = token {
                json.push_str(&format!(",\"{key}\":{}", json_str(t)));
            }
        }
        json.push('}');
    }
    json.push_str("}}");
    println!("{json}");

    // Until stdin closes (the caller is done, or gone) or a signal arrives.
    let (closed_tx, closed_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = closed_tx.send(());
    });
    while !SIGNALLED.load(Ordering::SeqCst) {
        match closed_rx.recv_timeout(Duration::from_millis(100)) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
    std::thread::scope(|s| {
        for (_, _, server) in servers {
            s.spawn(move || server.stop(Duration::from_secs(10)));
        }
    });
    drop(redis);
    Ok(())
}

type Started = Vec<(&'static str, PathBuf, HakanaiServer)>;

/// Starts the five servers at once (each start waits for its own readiness).
fn start_servers(
    bin: &Path,
    log_dir: &Path,
    web_root: &Path,
    redis: &RedisServer,
    cors_origin: Option<&str>,
) -> Result<Started> {
    let playwright = root().join("playwright");
    let mut common: Vec<String> = [
        "--allow-anonymous",
        "--anonymous-size-limit",
        "64m",
        "--upload-size-limit",
        "64m",
        "--max-passphrase-attempts",
        "3",
        // Every test uploads from 127.0.0.1, in parallel, and some leave uploads unfinished
        // (errors, revocation): the default cap of 10 open uploads per address would turn
        // later ones into 429.
        "--max-open-uploads-per-address",
        "1000",
        // The same for stored bytes: the whole suite's secrets come from one address, and an
        // unfinished upload holds its size until its deadline.
        "--max-stored-bytes-per-address",
        "0",
    ]
    .map(String::from)
    .to_vec();
    if let Some(origin) = cors_origin {
        common.extend(["--cors-allowed-origins".to_owned(), origin.to_owned()]);
    }
    // The geo servers also carry custom assets (an added stylesheet, a replaced logo), so both
    // projects see a Hakanai-style customised site.
    let geo: Vec<String> = vec![
        "--country-header".into(),
        "x-country".into(),
        "--asn-header".into(),
        "x-asn".into(),
        "--custom-assets-dir".into(),
        playwright.join("custom-assets").display().to_string(),
    ];
    let db = |n: u8| format!("redis://127.0.0.1:{}/{n}", redis.port);
    let base = |name: &str| {
        HakanaiServer::builder(bin)
            .rust_log("debug")
            .current_dir(log_dir)
            .log_file(&log_dir.join(format!("{name}.log")))
            .stderr_file(&log_dir.join(format!("{name}.stderr.log")))
    };
    let specs: Vec<(&'static str, hakanai_test_support::ServerBuilder)> = vec![
        ("server-embedded", base("server-embedded").args(&common)),
        (
            "server-redis",
            base("server-redis")
                .redis(&db(0))
                // 50 MiB secrets through a debug build on 2 busy cores need more than the
                // 1.5 s default.
                .args(["--redis-timeout", "20s"])
                .args(&common)
                .ready_paths(&["/ready", "/healthy"]),
        ),
        (
            // Without --allow-anonymous: uploads need the user token, written once to its
            // --token-file (never to its output).
            "server-token",
            base("server-token")
                .arg("--web-root")
                .arg(web_root)
                // All of its tests share the one user token (see the address cap above).
                .args(["--max-open-uploads-per-token", "1000"])
                // Legal pages, linked from the footer.
                .arg("--impressum-file")
                .arg(playwright.join("legal/impressum.txt"))
                .arg("--privacy-file")
                .arg(playwright.join("legal/privacy.txt")),
        ),
        (
            "server-geo-embedded",
            base("server-geo-embedded").args(&common).args(&geo),
        ),
        (
            "server-geo-redis",
            base("server-geo-redis")
                .redis(&db(1))
                .args(&common)
                .args(&geo)
                .ready_paths(&["/ready", "/healthy"]),
        ),
    ];
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .into_iter()
            .map(|(name, builder)| {
                let log = log_dir.join(format!("{name}.log"));
                (name, log, s.spawn(move || builder.try_start()))
            })
            .collect();
        handles
            .into_iter()
            .map(|(name, log, h)| (name, log, h.join().expect("a start thread")))
            .collect()
    });
    let mut started = Vec::new();
    for (name, log, result) in results {
        let server = result.map_err(|e| Error::new(format!("{name}: {e}")))?;
        started.push((name, log, server));
    }
    if started
        .iter()
        .any(|(name, _, s)| *name == "server-token" && s.user_token.is_none())
    {
        return Err(Error::new("server-token wrote no user token"));
    }
    Ok(started)
}

/// `s` as a JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::json_str;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(json_str("x\ny"), r#""x\u000ay""#);
    }
}

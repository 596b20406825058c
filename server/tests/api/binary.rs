//! The real binary: startup lines, where bootstrap tokens go, graceful exit on SIGTERM.

use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use hakanai_test_support::{HakanaiServer, ServerBuilder};

/// The binary, on a port the kernel picks (learned from its `"listening"` log line).
fn server() -> ServerBuilder {
    HakanaiServer::builder(env!("CARGO_BIN_EXE_hakanai-server"))
}

/// With stderr not a terminal (journald, a container runtime), the token goes to
/// `./hakanai-tokens` (0600, `user <token>`), and the log says where, without the token.
#[test]
fn binary_writes_the_token_to_a_private_file_and_stops_on_sigterm() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let server = server()
        .port_args::<&str>([])
        .env("HAKANAI_PORT", "0")
        .servers_token_file()
        .current_dir(dir.path())
        .capture_log()
        .start();
    let (exit, out, err) = sigterm(server);
    assert!(exit.success(), "{exit:?}");
    assert!(out.contains("secrets live in this process only"), "{out}");
    assert!(out.contains("shutting down"), "{out}");
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON log lines");
        assert!(v["level"].is_string());
    }
    let file = dir.path().join("hakanai-tokens");
    let lines = crate::token_file::lines(&file);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (kind, token) = &lines[0];
    assert_eq!(kind, "user");
    assert_eq!(token.len(), 43, "{token}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        !out.contains(token.as_str()),
        "the token never reaches the log"
    );
    assert!(!err.contains(token.as_str()), "nor stderr: {err}");
    assert!(
        out.lines()
            .any(|l| l.contains("created a new user token") && l.contains("hakanai-tokens")),
        "{out}"
    );
}

/// On a terminal (a pseudo-terminal from `script`) the token is printed there, as before, and
/// no file is written.
#[test]
fn binary_prints_the_token_on_a_terminal() {
    if !Command::new("script")
        .args(["-qfec", "true", "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("no `script` or no pseudo-terminal: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Port 0: nothing connects to it here, only its output on the terminal is read.
    let command = format!(
        "timeout -s TERM 8 {} --port 0",
        env!("CARGO_BIN_EXE_hakanai-server")
    );
    let out = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.contains("User token (shown once, store it now): "),
        "{out}"
    );
    assert!(out.contains("the terminal (stderr)"), "{out}");
    assert!(!dir.path().join("hakanai-tokens").exists());
}

/// A token file that cannot be written: an error naming the path and the remedy, the server
/// keeps running, and no token is stored — so the next start with a writable `--token-file`
/// still creates both. `--reset-user-tokens` appends to the file, and deletes nothing when it
/// cannot write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_token_file_stores_no_token() {
    use serde_json::json;
    let redis = crate::helpers::RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("missing-dir").join("tokens");
    let start = |token_file: &std::path::Path| {
        let server = server()
            .redis(&redis.dsn())
            .admin_token()
            .token_file(token_file)
            .capture_log()
            .start();
        let port = server.port;
        (server, port)
    };
    let (server, _) = start(&bad);
    let (exit, out, _) = sigterm(server);
    assert!(exit.success(), "kept running until SIGTERM: {exit:?}");
    for kind in ["admin", "user"] {
        assert!(
            out.lines().any(|l| l.contains("ERROR")
                && l.contains(&format!("new {kind} token"))
                && l.contains(&bad.display().to_string())
                && l.contains("--token-file")),
            "{out}"
        );
    }

    let good = crate::token_file::TokenFile::new();
    let (server, port) = start(&good.path());
    let user = good.wait_for("user");
    good.wait_for("admin");
    let client = reqwest::Client::new();
    let post = |token: String| {
        client
            .post(format!("http://127.0.0.1:{port}/api/v1/secret"))
            .bearer_auth(token)
            .json(&json!({"data": "eA=="}))
            .send()
    };
    assert_eq!(post(user.clone()).await.unwrap().status(), 200);

    let reset = |token_file: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_hakanai-server"))
            .env_clear()
            .args(["--redis-dsn", &redis.dsn(), "--reset-user-tokens"])
            .arg("--token-file")
            .arg(token_file)
            .output()
            .unwrap()
    };
    let refused = reset(&bad);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--token-file"));
    assert_eq!(
        post(user.clone()).await.unwrap().status(),
        200,
        "nothing deleted"
    );

    let done = reset(&good.path());
    assert!(done.status.success(), "{done:?}");
    let lines = crate::token_file::lines(&good.path());
    let kinds: Vec<&str> = lines.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["admin", "user", "user"]);
    let new_user = good.wait_for("user");
    let shown = String::from_utf8_lossy(&done.stdout) + String::from_utf8_lossy(&done.stderr);
    assert!(!shown.contains(&new_user), "{shown}");
    assert_eq!(post(user).await.unwrap().status(), 403);
    assert_eq!(post(new_user).await.unwrap().status(), 200);
    sigterm(server);
}

/// SIGTERM, then the exit status (within 5 s) and everything written to stdout (when captured)
/// and stderr.
fn sigterm(server: HakanaiServer) -> (ExitStatus, String, String) {
    let stopped = server.stop(Duration::from_secs(5));
    let exit = stopped.status.expect("no graceful exit");
    (exit, stopped.log, stopped.stderr)
}

/// The one binary: started from an empty directory with no `--web-root` (and no
/// `HAKANAI_WEB_ROOT`), it serves the page `cargo xtask web` builds, compiled in by build.rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_the_built_in_page_from_any_directory() {
    use std::io::Read as _;

    if hakanai_server::assets::EMBEDDED.is_empty() {
        eprintln!("skipped: built with HAKANAI_SKIP_WEB_BUILD (no page in the binary)");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cwd = tempfile::tempdir().unwrap();
    let server = server()
        .rust_log("warn")
        .anonymous()
        .current_dir(cwd.path())
        .start();
    let base = server.base_url();
    // No automatic decompression: the gzip variant is checked by hand below.
    let client = reqwest::Client::new();
    let get = |path: String, gzip: bool| {
        let mut req = client.get(format!("{base}{path}"));
        if gzip {
            req = req.header("accept-encoding", "gzip");
        }
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let headers = resp.headers().clone();
            (headers, resp.bytes().await.unwrap().to_vec())
        }
    };
    let text = |h: &reqwest::header::HeaderMap| h["content-type"].to_str().unwrap().to_owned();

    // The static pages are copied verbatim by web/build.mjs.
    let (h, index) = get("/".into(), false).await;
    assert_eq!(text(&h), "text/html; charset=utf-8");
    assert_eq!(
        index,
        std::fs::read(root.join("web/static/index.html")).unwrap()
    );
    let (_, create) = get("/create".into(), false).await;
    assert_eq!(create, index);
    let (h, reveal) = get("/s/01ARZ3NDEKTSV4RRFFQ69G5FAV".into(), false).await;
    assert_eq!(text(&h), "text/html; charset=utf-8");
    assert_eq!(
        reveal,
        std::fs::read(root.join("web/static/reveal.html")).unwrap()
    );

    // The bundle the page loads, and the wasm module its loader fetches.
    let index = String::from_utf8(index).unwrap();
    let script = index
        .split("<script")
        .nth(1)
        .and_then(|s| s.split("src=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .expect("index.html loads a script");
    let embedded =
        |path: &str| hakanai_server::assets::find(hakanai_server::assets::EMBEDDED, path);
    let (h, js) = get(script.to_owned(), false).await;
    assert_eq!(text(&h), "text/javascript; charset=utf-8");
    assert_eq!(js, embedded(script).unwrap().body);
    assert!(js.len() > 1000, "{script} is {} bytes", js.len());
    let (_, loader) = get("/hakanai_wasm.js".into(), false).await;
    assert!(String::from_utf8_lossy(&loader).contains("hakanai_wasm_bg.wasm"));
    let (h, wasm) = get("/hakanai_wasm_bg.wasm".into(), false).await;
    assert_eq!(text(&h), "application/wasm");
    assert!(wasm.starts_with(b"\0asm"));
    assert_eq!(wasm, embedded("/hakanai_wasm_bg.wasm").unwrap().body);

    // gzip made at build time, served as is; the same bytes once decompressed.
    let (h, gz) = get("/hakanai_wasm_bg.wasm".into(), true).await;
    assert_eq!(h["content-encoding"], "gzip");
    assert_eq!(text(&h), "application/wasm");
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, wasm);
    // A revalidation with the ETag costs no body.
    let etag = h["etag"].clone();
    let again = client
        .get(format!("{base}/hakanai_wasm_bg.wasm"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let missing = client.get(format!("{base}/nope.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    drop(server);
}

/// A Hakanai v3 deployment switched over unchanged: its env file (the variables of Hakanai's
/// `hakanai-server --help` and configuration guide) and the seed's systemd command line, with
/// Hakanai's short flags for the port and address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hakanai_v3_env_file_and_systemd_command_line() {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde_json::json;

    let redis = crate::helpers::RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let webhook_token = dir.path().join("webhook.token");
    std::fs::write(&webhook_token, "hook-secret\n").unwrap();
    // /etc/hakanai/hakanai.env, as systemd's EnvironmentFile= reads it.
    let env_file = "# Hakanai v3 env file\n\
         HAKANAI_ALLOW_ANONYMOUS=true\n\
         HAKANAI_ANONYMOUS_UPLOAD_SIZE_LIMIT=64k\n\
         HAKANAI_MAX_TTL=604800\n\
         HAKANAI_SHOW_TOKEN_INPUT=true\n\
         HAKANAI_ONE_TIME_TOKEN_TTL=7d\n\
         HAKANAI_STATS_TTL=30d\n\
         HAKANAI_REDIS_CONNECTION_TIMEOUT=10s\n\
         HAKANAI_REDIS_RECONNECTION_MAX_DELAY=10ms\n\
         HAKANAI_REDIS_RESPONSE_TIMEOUT=3s\n\
         HAKANAI_TRUSTED_IP_HEADER=x-forwarded-for\n\
         HAKANAI_CORS_ALLOWED_ORIGINS=https://app.example.com\n\
         HAKANAI_WEBHOOK_URL=http://127.0.0.1:9/hook\n\
         HAKANAI_WEBHOOK_HEADERS=user-agent,x-request-id\n";
    let mut cmd = server().rust_log("warn");
    for line in env_file.lines().filter(|l| !l.starts_with('#')) {
        let (k, v) = line.split_once('=').unwrap();
        cmd = cmd.env(k, v);
    }
    // The seed's unit: Environment=HAKANAI_WEBHOOK_TOKEN_FILE=… and its ExecStart= flags.
    cmd = cmd.env("HAKANAI_WEBHOOK_TOKEN_FILE", &webhook_token);
    // As systemd's StateDirectory= sets it: the admin token goes to a file in there.
    cmd = cmd.env("STATE_DIRECTORY", dir.path()).servers_token_file();
    let dsn = redis.dsn();
    // Hakanai's short flags, on port 0 (the port is read from the "listening" log line).
    let server = cmd
        .args(["--redis-dsn", &dsn, "--enable-admin-token"])
        .args([
            "--trusted-ip-ranges",
            "127.0.0.0/8",
            "--upload-size-limit",
            "10m",
        ])
        .port_args(["-p", "0", "-l", "127.0.0.1"])
        .stderr_file(&dir.path().join("stderr"))
        .start();
    let stderr = || std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    let base = server.base_url();
    let client = reqwest::Client::new();
    let create = |data: Vec<u8>, forwarded: Option<&'static str>| {
        let mut req = client
            .post(format!("{base}/api/v1/secret"))
            .json(&json!({"data": STANDARD.encode(data), "expires_in": 3600}));
        if let Some(ip) = forwarded {
            req = req.header("x-forwarded-for", ip);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // A public client (behind the local proxy) is anonymous: 64k, not the 32k default.
    assert_eq!(create(vec![1; 60 * 1024], Some("203.0.113.9")).await, 200);
    assert_eq!(create(vec![1; 70 * 1024], Some("203.0.113.9")).await, 413);
    // The trusted range uploads without a token up to --upload-size-limit.
    assert_eq!(create(vec![1; 200 * 1024], None).await, 200);
    // HAKANAI_MAX_TTL in seconds.
    let too_long = client
        .post(format!("{base}/api/v1/secret"))
        .json(&json!({"data": "eA==", "expires_in": 604801}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_long.status(), 400);
    let config: serde_json::Value = client
        .get(format!("{base}/config.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["show_token_input"], true);
    assert_eq!(config["anonymous_upload_size_limit"], 64 * 1024);
    assert_eq!(config["max_ttl_seconds"], 604800);
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{base}/api/v1/secret"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    // The admin token, written once to $STATE_DIRECTORY/hakanai-tokens (not to stderr), works
    // from the trusted range; it mints a user token that mints an invite.
    let (kind, admin) = crate::token_file::lines(&dir.path().join("hakanai-tokens"))
        .pop()
        .unwrap_or_else(|| panic!("no admin token; stderr: {}", stderr()));
    assert_eq!(kind, "admin");
    assert!(!stderr().contains(&admin));
    let minted: serde_json::Value = client
        .post(format!("{base}/api/v1/admin/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"upload_size_limit": "1m", "ttl_seconds": 600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user = minted["token"].as_str().unwrap();
    let invite = client
        .post(format!("{base}/api/v1/one-time-token"))
        .bearer_auth(user)
        .send()
        .await
        .unwrap();
    assert_eq!(invite.status(), 200);
    let (exit, _, _) = sigterm(server);
    assert!(exit.success());
}

/// Every flag, short flag, env var and positional argument of Hakanai v3.0.7's own
/// `hakanai-server --help` (the oracle binary) exists here too.
#[test]
fn every_hakanai_v3_server_flag_and_env_var_is_accepted() {
    use clap::CommandFactory;
    // `shared/oracle/` beside the checkout or one of its parents (see cli/tests/hakanai_v3.rs).
    let oracle = std::env::var_os("HAKANAI_ORACLE_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|d| d.join("shared/oracle/hakanai-3.0.7"))
                .find(|d| d.join("hakanai-server").is_file())
        })
        .unwrap_or_else(|| "../shared/oracle/hakanai-3.0.7".into())
        .join("hakanai-server");
    assert!(
        oracle.is_file(),
        "Hakanai v3's server is needed at {} (set HAKANAI_ORACLE_DIR)",
        oracle.display()
    );
    let help = Command::new(&oracle).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let ours = hakanai_server::Config::command();
    let args: Vec<_> = ours.get_arguments().collect();
    let mut checked = 0;
    for word in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']') {
        let word = word.trim_end_matches('=');
        if let Some(long) = word.strip_prefix("--") {
            if matches!(long, "help" | "version") || long.is_empty() {
                continue;
            }
            let found = args.iter().any(|a| {
                a.get_long() == Some(long)
                    || a.get_all_aliases().is_some_and(|al| al.contains(&long))
            });
            assert!(found, "Hakanai's --{long} is missing");
            checked += 1;
        } else if let Some(short) = word.strip_prefix('-').filter(|s| s.len() == 1) {
            let c = short.chars().next().unwrap();
            if matches!(c, 'h' | 'V') {
                continue;
            }
            assert!(
                args.iter().any(|a| a.get_short() == Some(c)),
                "Hakanai's -{c} is missing"
            );
            checked += 1;
        } else if let Some(env) = word
            .strip_prefix("env: ")
            .or(word.starts_with("HAKANAI_").then_some(word))
        {
            let found = args
                .iter()
                .any(|a| a.get_env().is_some_and(|e| e == std::ffi::OsStr::new(env)));
            assert!(found, "Hakanai's {env} is missing");
            checked += 1;
        }
    }
    assert!(help.contains("[WEBHOOK_HEADERS]"));
    assert!(
        args.iter()
            .any(|a| a.is_positional() && a.get_id() == "webhook_headers_positional"),
        "Hakanai's positional WEBHOOK_HEADERS is missing"
    );
    assert!(
        checked > 50,
        "read only {checked} names from Hakanai's --help"
    );
}

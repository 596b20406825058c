//! End-to-end tests: the real `hakanai` binary against a real server and Redis.

mod common;

use std::process::Command;

use common::{
    fails, ok, run, run_measured, sha256_file, stderr, stdout, write_random_file, Server,
};

const NOT_FOUND: i32 = 3;
const AUTH: i32 = 4;
const USAGE: i32 = 2;
const NETWORK: i32 = 5;
const EXISTS: i32 = 7;

/// Stores an envelope made by another crypto-core client as a raw upload, with these extra
/// headers; returns its id.
fn store_envelope(server: &Server, envelope: Vec<u8>, headers: &[(&str, String)]) -> String {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/secret", server.url))
        .bearer_auth(&server.user_token)
        .header("content-type", "application/octet-stream")
        .body(envelope);
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let resp = req.send().unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<serde_json::Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn send_text(server: &Server, text: &str, args: &[&str]) -> String {
    let out = run(server.hakanai().arg("send").args(args), text.as_bytes());
    ok(&out).trim().to_string()
}

/// A stream longer than what is read whole (1 MiB) goes through as a file of unknown length.
#[test]
fn long_stdin_streams_as_a_file() {
    let server = Server::start_embedded();
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    let out = run(server.hakanai().arg("send"), &data);
    let link = ok(&out).trim().to_string();
    let out = run(server.hakanai().args(["get", &link, "--to-stdout"]), b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == data,
        "content differs ({} bytes)",
        out.stdout.len()
    );
}

#[test]
fn text_round_trip_then_already_read() {
    let server = Server::start();
    let link = send_text(&server, "correct horse battery staple\n", &["--ttl", "30m"]);
    assert!(link.starts_with(&format!("{}/s/", server.url)), "{link}");
    assert!(link.contains('#'), "{link}");

    let out = run(server.hakanai().args(["get", &link]), b"");
    assert_eq!(ok(&out), "correct horse battery staple\n");

    let out = run(server.hakanai().args(["get", &link]), b"");
    let err = fails(&out, NOT_FOUND);
    assert!(err.contains("already been read"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn large_file_round_trip_with_bounded_memory() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.bin");
    let size = 100 * 1024 * 1024;
    write_random_file(&input, size, 0x5eed);

    let (out, send_peak_kib) = run_measured(server.hakanai().args(["send", "--file"]).arg(&input));
    let link = ok(&out).trim().to_string();

    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let (out, get_peak_kib) = run_measured(
        server
            .hakanai()
            .args(["get", &link, "--output-dir"])
            .arg(&out_dir),
    );
    ok(&out);
    let output = out_dir.join("big.bin");
    assert_eq!(std::fs::metadata(&output).unwrap().len(), size);
    assert_eq!(sha256_file(&output), sha256_file(&input));
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 1);

    eprintln!("peak RSS: send {send_peak_kib} KiB, get {get_peak_kib} KiB");
    // 100 MiB went through each process; a few segments (1 MiB) plus the runtime may stay.
    let bound = 32 * 1024;
    assert!(send_peak_kib > 0 && get_peak_kib > 0, "VmHWM was sampled");
    assert!(send_peak_kib < bound, "send peak RSS {send_peak_kib} KiB");
    assert!(get_peak_kib < bound, "get peak RSS {get_peak_kib} KiB");
}

#[test]
fn file_to_stdout_and_overwrite_refusal() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notes.txt");
    std::fs::write(&input, b"new content").unwrap();

    let send = |server: &Server| {
        let out = run(server.hakanai().args(["send", "--file"]).arg(&input), b"");
        ok(&out).trim().to_string()
    };

    let link = send(&server);
    let out = run(server.hakanai().args(["get", "--to-stdout", &link]), b"");
    assert_eq!(ok(&out), "new content");

    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let existing = out_dir.join("notes.txt");
    std::fs::write(&existing, b"old content").unwrap();

    let link = send(&server);
    let out = run(
        server.hakanai().args(["get", &link, "-o"]).arg(&out_dir),
        b"",
    );
    let err = fails(&out, EXISTS);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"old content");
    assert_eq!(
        std::fs::read(out_dir.join("notes.txt.1")).unwrap(),
        b"new content",
        "the consumed secret is kept under another name"
    );

    let link = send(&server);
    let out = run(
        server
            .hakanai()
            .args(["get", &link, "--force", "-o"])
            .arg(&out_dir),
        b"",
    );
    ok(&out);
    assert_eq!(std::fs::read(&existing).unwrap(), b"new content");
}

#[test]
fn passphrase_wrong_then_right() {
    let server = Server::start();
    let link = send_text(&server, "guarded", &["--passphrase", "open sesame"]);

    // Without a passphrase (and no terminal to ask on): told so, no attempt used.
    let out = run(server.hakanai().args(["get", &link]), b"");
    let err = fails(&out, AUTH);
    assert!(err.contains("requires a passphrase"), "{err}");

    let out = run(
        server
            .hakanai()
            .args(["get", &link, "--passphrase", "wrong"]),
        b"",
    );
    let err = fails(&out, AUTH);
    assert!(err.contains("wrong passphrase (4 attempts left"), "{err}");

    let out = run(
        server
            .hakanai()
            .args(["get", &link, "--passphrase", "open sesame"]),
        b"",
    );
    assert_eq!(ok(&out), "guarded");

    // A passphrase given for a secret without one is not needed, and not fatal.
    let link = send_text(&server, "open", &[]);
    let out = run(
        server.hakanai().args(["get", &link, "--passphrase", "x"]),
        b"",
    );
    assert_eq!(ok(&out), "open");
    assert!(stderr(&out).contains("no passphrase"));
}

#[test]
fn separate_key() {
    let server = Server::start();
    let out = send_text(&server, "split", &["--separate-key"]);
    let mut lines = out.lines();
    let link = lines.next().unwrap().to_string();
    let key = lines
        .next()
        .expect("the key on the second line")
        .to_string();
    assert!(!link.contains('#'), "{link}");
    assert_eq!(key.len(), 43);

    // Without the key nothing is fetched (so nothing is consumed).
    let out = run(server.hakanai().args(["get", &link]), b"");
    let err = fails(&out, USAGE);
    assert!(err.contains("--key"), "{err}");

    let out = run(server.hakanai().args(["get", &link, "--key", &key]), b"");
    assert_eq!(ok(&out), "split");
}

/// `hakanai send` stores a read-token hash (`docs/FORMAT.md` § Read token): a GET with the id
/// alone is told the secret does not exist and consumes nothing; `hakanai get`, which derives
/// the token from the link, still reads it.
#[test]
fn the_id_alone_reads_nothing() {
    let server = Server::start_embedded();
    let link = send_text(&server, "locked\n", &[]);
    let id = link
        .rsplit_once("/s/")
        .unwrap()
        .1
        .split('#')
        .next()
        .unwrap();
    let resp = reqwest::blocking::get(format!("{}/api/v1/secret/{id}", server.url)).unwrap();
    assert_eq!(resp.status(), 404);
    let out = run(server.hakanai().args(["get", &link]), b"");
    assert_eq!(ok(&out), "locked\n");
}

/// A wrong key derives a wrong read token (`docs/FORMAT.md` § Read token): the server answers
/// as for an unknown id and consumes nothing, so the right link still reads the secret.
#[test]
fn wrong_key_reads_nothing_and_burns_nothing() {
    let server = Server::start();
    let link = send_text(&server, "x", &[]);
    let (base, _) = link.split_once('#').unwrap();
    let other = format!("{base}#{}", "A".repeat(43));
    let out = run(server.hakanai().args(["get", &other]), b"");
    let err = fails(&out, NOT_FOUND);
    assert!(err.contains("its key"), "{err}");
    let out = run(server.hakanai().args(["get", &link]), b"");
    assert_eq!(ok(&out), "x");
}

/// A secret stored without a read-token hash (as Hakanai v3's clients store them) and read
/// with the wrong key is consumed and fails to decrypt: the key is checked only by decryption.
#[test]
fn wrong_key_for_a_secret_without_read_token_is_a_decryption_failure() {
    use crypto_core::{build_link, encrypt_sync, KeySchedule, Metadata, SecretKey};
    let server = Server::start();
    let keys = KeySchedule::new(SecretKey::generate().unwrap());
    let envelope = encrypt_sync(&keys, &Metadata::text(1), b"x").unwrap();
    let id = store_envelope(&server, envelope, &[]);
    let wrong = SecretKey::from_bytes([0x41; 32]);
    let other = build_link(&server.url, &id, Some(&wrong)).unwrap();
    let out = run(server.hakanai().args(["get", &other]), b"");
    let err = fails(&out, 6);
    assert!(err.contains("wrong key"), "{err}");
}

#[test]
fn ip_restriction_is_reported() {
    let server = Server::start();
    let link = send_text(&server, "x", &["--allow-ip", "203.0.113.0/24"]);
    let out = run(server.hakanai().args(["get", &link]), b"");
    let err = fails(&out, AUTH);
    assert!(err.contains("access denied"), "{err}");
    // Allowed from loopback.
    let link = send_text(&server, "y", &["--allow-ip", "127.0.0.1", "--qr"]);
    let out = run(
        server.hakanai().args(["get", link.lines().next().unwrap()]),
        b"",
    );
    assert_eq!(ok(&out), "y");
}

#[test]
fn tokens_create_list_revoke() {
    let server = Server::start();
    let out = run(
        server
            .hakanai_admin()
            .args(["token", "--limit", "5m", "--ttl", "7d", "--one-time"]),
        b"",
    );
    let token = ok(&out).trim().to_string();
    let id = token_id(&out);

    let out = run(server.hakanai_admin().args(["token", "list"]), b"");
    let list = ok(&out);
    let row = list
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} in {list}"));
    assert!(row.contains(&(5 * 1024 * 1024).to_string()), "{row}");
    assert!(row.contains("yes"), "{row}");

    // The one-time token works once.
    let send = |token: &str| {
        run(
            server.hakanai().env("HAKANAI_TOKEN", token).arg("send"),
            b"via token",
        )
    };
    ok(&send(&token));
    let err = fails(&send(&token), AUTH);
    assert!(err.contains("not authorized"), "{err}");

    // The burned one-time token is gone from the list.
    let out = run(server.hakanai_admin().args(["token", "list"]), b"");
    assert!(!ok(&out).contains(&id));

    // A token from a file.
    let out = run(server.hakanai_admin().args(["token", "create"]), b"");
    let file_token = ok(&out);
    let id = token_id(&out);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &file_token).unwrap();
    let out = run(
        server
            .hakanai()
            .env_remove("HAKANAI_TOKEN")
            .arg("--token-file")
            .arg(&token_file)
            .arg("send"),
        b"from file",
    );
    ok(&out);

    let out = run(server.hakanai_admin().args(["token", "revoke", &id]), b"");
    ok(&out);
    let out = run(server.hakanai_admin().args(["token", "list"]), b"");
    assert!(!ok(&out).contains(&id));
    let out = run(
        server
            .hakanai()
            .env_remove("HAKANAI_TOKEN")
            .arg("--token-file")
            .arg(&token_file)
            .arg("send"),
        b"after revocation",
    );
    fails(&out, AUTH);
    let out = run(server.hakanai_admin().args(["token", "revoke", &id]), b"");
    let err = fails(&out, NOT_FOUND);
    assert!(err.contains("no such token"), "{err}");
    assert!(!err.contains("secret"), "{err}");

    // Without the admin token and without a terminal.
    let out = run(server.hakanai().args(["token", "list"]), b"");
    fails(&out, USAGE);
    let out = run(
        server
            .hakanai()
            .env("HAKANAI_ADMIN_TOKEN", "nope")
            .args(["token", "list"]),
        b"",
    );
    fails(&out, AUTH);
}

fn token_id(out: &std::process::Output) -> String {
    stderr(out)
        .split_whitespace()
        .skip_while(|w| *w != "id")
        .nth(1)
        .expect("the token id on stderr")
        .to_string()
}

#[test]
fn anonymous_upload_needs_a_token() {
    let server = Server::start();
    let out = run(
        server.hakanai().env_remove("HAKANAI_TOKEN").arg("send"),
        b"x",
    );
    let err = fails(&out, AUTH);
    assert!(err.contains("HAKANAI_TOKEN"), "{err}");
}

#[test]
fn usage_and_network_errors() {
    let bin = env!("CARGO_BIN_EXE_hakanai");
    let out = run(Command::new(bin).args(["send", "--ttl", "soon"]), b"");
    fails(&out, USAGE);
    let out = run(
        Command::new(bin).args(["get", "https://h.example/x/y"]),
        b"",
    );
    let err = fails(&out, USAGE);
    assert!(err.contains("secret id"), "{err}");
    let out = run(
        Command::new(bin).args(["get", "https://h.example/s/abc#short"]),
        b"",
    );
    let err = fails(&out, USAGE);
    assert!(err.contains("hint:"), "{err}");

    // Held until the end: refused, and nobody else's server can be handed it meanwhile.
    let nothing = hakanai_test_support::ReservedPort::new();
    let out = run(
        Command::new(bin)
            .args(["--server", &format!("http://127.0.0.1:{}", nothing.port())])
            .arg("send"),
        b"x",
    );
    let err = fails(&out, NETWORK);
    assert!(err.contains("could not reach"), "{err}");
}

#[test]
fn help_documents_exit_codes_and_environment() {
    let bin = env!("CARGO_BIN_EXE_hakanai");
    let out = run(Command::new(bin).arg("--help"), b"");
    let help = ok(&out);
    for needle in [
        "send",
        "get",
        "token",
        "Exit codes:",
        "HAKANAI_SERVER",
        "HAKANAI_TOKEN",
    ] {
        assert!(help.contains(needle), "{needle} in {help}");
    }
    let out = run(Command::new(bin).args(["send", "--help"]), b"");
    let help = ok(&out);
    for needle in [
        "--file",
        "--ttl",
        "--ask-passphrase",
        "--separate-key",
        "--allow-asn",
        "--qr",
    ] {
        assert!(help.contains(needle), "{needle} in {help}");
    }
    let out = run(Command::new(bin).arg("--version"), b"");
    assert!(ok(&out).starts_with("hakanai "));
    assert!(stdout(&run(Command::new(bin).args(["get", "--help"]), b"")).contains("--force"));
}

#[test]
fn bundle_round_trip() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("photo.bin");
    let empty = dir.path().join("empty");
    std::fs::write(&a, b"first file\n").unwrap();
    write_random_file(&b, 3 * 1024 * 1024 + 7, 42);
    std::fs::write(&empty, b"").unwrap();

    let out = run(
        server
            .hakanai()
            .arg("send")
            .arg("-f")
            .arg(&a)
            .arg("--file")
            .arg(&b)
            .arg("-f")
            .arg(&empty),
        b"",
    );
    let link = ok(&out).trim().to_string();

    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = run(
        server
            .hakanai()
            .args(["get", &link, "--output-dir"])
            .arg(&out_dir),
        b"",
    );
    ok(&out);
    assert_eq!(
        std::fs::read(out_dir.join("a.txt")).unwrap(),
        b"first file\n"
    );
    assert_eq!(sha256_file(&out_dir.join("photo.bin")), sha256_file(&b));
    assert_eq!(std::fs::read(out_dir.join("empty")).unwrap(), b"");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 3);

    // Two files with the same name cannot go into one bundle.
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("a.txt"), b"other").unwrap();
    let out = run(
        server
            .hakanai()
            .arg("send")
            .arg("-f")
            .arg(&a)
            .arg("-f")
            .arg(sub.join("a.txt")),
        b"",
    );
    fails(&out, USAGE);
}

/// The page uses the same crypto-core (through web-wasm) and the raw upload API: a secret it
/// creates is an envelope uploaded as `application/octet-stream`. Here crypto-core plays the
/// page in both directions.
#[test]
fn interoperates_with_other_crypto_core_clients() {
    use crypto_core::{
        build_link, decrypt_sync, encrypt_sync, parse_link, Argon2Params, KeySchedule, Kind,
        Metadata, SecretKey,
    };
    let server = Server::start();
    let http = reqwest::blocking::Client::new();

    // Created elsewhere (passphrase-protected file), fetched by `hakanai get`.
    let key = SecretKey::generate().unwrap();
    let keys = KeySchedule::with_passphrase(key.clone(), b"pw", Argon2Params::DEFAULT).unwrap();
    let metadata = Metadata {
        kind: Kind::File,
        name: Some("../../evil/.report.pdf".into()),
        media_type: Some("application/pdf".into()),
        size: Some(4),
    };
    let envelope = encrypt_sync(&keys, &metadata, b"%PDF").unwrap();
    let id = store_envelope(
        &server,
        envelope,
        &[(
            "x-secret-passphrase-hash",
            keys.verifier().unwrap().server_hash_hex(),
        )],
    );
    let link = build_link(&server.url, &id, Some(&key)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        server
            .hakanai()
            .args(["get", &link, "--passphrase", "pw", "-o"])
            .arg(dir.path()),
        b"",
    );
    ok(&out);
    // The untrusted name is reduced to a safe file name inside the output directory.
    assert_eq!(
        std::fs::read(dir.path().join("report.pdf")).unwrap(),
        b"%PDF"
    );

    // Sent by `hakanai send`, read by another client.
    let link = run(server.hakanai().arg("send"), "grüße".as_bytes());
    let parsed = parse_link(ok(&link).trim()).unwrap();
    // Like any current client, it sends the read token derived from the link's key.
    let read_token = KeySchedule::new(parsed.require_key().unwrap().clone()).read_token();
    let envelope = http
        .get(format!(
            "{}/api/v1/secret/{}",
            server.url,
            parsed.require_id().unwrap()
        ))
        .header("x-secret-read-token", read_token.to_hex())
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let (metadata, content) =
        decrypt_sync(KeySchedule::new(parsed.key.unwrap()), &envelope).unwrap();
    assert_eq!(metadata, Metadata::text("grüße".len() as u64));
    assert_eq!(content, "grüße".as_bytes());
}

#[test]
fn too_large_is_reported_while_streaming() {
    let server = Server::start();
    let out = run(
        server
            .hakanai_admin()
            .args(["token", "create", "--limit", "64k"]),
        b"",
    );
    let token = ok(&out).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.bin");
    write_random_file(&input, 8 * 1024 * 1024, 7);
    let out = run(
        server
            .hakanai()
            .env("HAKANAI_TOKEN", &token)
            .args(["send", "--file"])
            .arg(&input),
        b"",
    );
    let err = fails(&out, 1);
    assert!(err.contains("too large"), "{err}");
}

/// Plaintext is released segment by segment, but nothing is kept unless the envelope's end
/// authenticates: a damaged or truncated secret leaves no file behind.
#[test]
fn damaged_or_truncated_secrets_leave_nothing() {
    use crypto_core::{build_link, encrypt_sync, KeySchedule, Kind, Metadata, SecretKey};
    let server = Server::start();
    let content = vec![7u8; 3 * 1024 * 1024 + 5];
    for damage in ["flip", "truncate"] {
        let key = SecretKey::generate().unwrap();
        let metadata = Metadata {
            kind: Kind::File,
            name: Some("data.bin".into()),
            media_type: None,
            size: Some(content.len() as u64),
        };
        let mut envelope =
            encrypt_sync(&KeySchedule::new(key.clone()), &metadata, &content).unwrap();
        match damage {
            "flip" => *envelope.last_mut().unwrap() ^= 1,
            _ => envelope.truncate(envelope.len() - 100),
        }
        let id = store_envelope(&server, envelope, &[]);
        let link = build_link(&server.url, &id, Some(&key)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            server.hakanai().args(["get", &link, "-o"]).arg(dir.path()),
            b"",
        );
        let err = fails(&out, 6);
        assert!(err.contains("nothing was saved"), "{damage}: {err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{damage}"
        );
    }
}

/// SIGTERM (like Ctrl-C) in the middle of a download removes the partial file. A fake server
/// sends half the envelope and then holds the connection open, so the signal always lands
/// mid-download: the download cannot win a race against it.
#[test]
fn interrupted_download_leaves_nothing() {
    let (release, held) = std::sync::mpsc::channel::<()>();
    // The rest never comes while the test runs.
    let (link, server) = serve_half_of_a_file(8 * 1024 * 1024, move || {
        let _ = held.recv();
    });

    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_hakanai"))
        .args(["get", &link, "-o"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_dir(dir.path()).unwrap().count() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no partial file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    drop(release);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A progress bar on a terminal (a pseudo-terminal from `script`), nothing when piped.
#[test]
fn progress_only_on_a_terminal() {
    let server = Server::start_embedded();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("file.bin");
    write_random_file(&input, 4 * 1024 * 1024, 9);

    let out = run(server.hakanai().args(["send", "--file"]).arg(&input), b"");
    ok(&out);
    assert_eq!(stderr(&out), "", "no progress output when piped");

    // `script` (util-linux) runs the command on a pseudo-terminal.
    let have_pty = Command::new("script")
        .args(["-qfec", "true", "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_pty {
        eprintln!("no `script` or no pseudo-terminal: terminal part skipped");
        return;
    }
    let command = format!(
        "{} send --file {}",
        env!("CARGO_BIN_EXE_hakanai"),
        input.display()
    );
    let out = run(
        Command::new("script")
            .env("HAKANAI_SERVER", &server.url)
            .env("HAKANAI_TOKEN", &server.user_token)
            .args(["-qfec", &command, "/dev/null"]),
        b"",
    );
    let text = ok(&out);
    assert!(text.contains("uploading ["), "{text}");
    assert!(text.contains("4.00 MiB"), "{text}");
    assert!(text.contains(&format!("{}/s/", server.url)), "{text}");
}

/// A fake server for one download of a file secret: it announces the whole envelope, sends
/// the first half, then runs `after` (returning hangs up). Returns the link and the thread.
fn serve_half_of_a_file(
    len: usize,
    after: impl FnOnce() + Send + 'static,
) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};

    use crypto_core::{build_link, encrypt_sync, KeySchedule, Kind, Metadata, SecretKey};

    let key = SecretKey::generate().unwrap();
    let metadata = Metadata {
        kind: Kind::File,
        name: Some("half.bin".into()),
        media_type: None,
        size: Some(len as u64),
    };
    let envelope =
        encrypt_sync(&KeySchedule::new(key.clone()), &metadata, &vec![7u8; len]).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = conn.read(&mut request);
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
            envelope.len()
        );
        // The client may be killed while these writes are still blocked on it, which then
        // resets the connection: that is what some tests do, not a failure of the fake.
        let _ = conn
            .write_all(head.as_bytes())
            .and_then(|()| conn.write_all(&envelope[..envelope.len() / 2]));
        after();
    });
    (
        build_link(&url, "AAAAAAAAAAAAAAAAAAAAAA", Some(&key)).unwrap(),
        server,
    )
}

/// The connection breaks mid-download (a fake server sends half the envelope and hangs up):
/// exit code 5 and no file.
#[test]
fn broken_download_leaves_nothing() {
    // Dropping the connection cuts the body short.
    let (link, server) = serve_half_of_a_file(3 * 1024 * 1024, || ());
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_hakanai"))
            .args(["get", &link, "-o"])
            .arg(dir.path()),
        b"",
    );
    server.join().unwrap();
    let err = fails(&out, NETWORK);
    assert!(err.contains("broke off"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Whether `script` (util-linux) can run a command on a pseudo-terminal here.
fn have_pty() -> bool {
    Command::new("script")
        .args(["-qfec", "true", "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `hakanai ARGS` on a pseudo-terminal (stdout and stderr both), returning what it wrote.
fn on_terminal(server_url: &str, args: &str) -> Vec<u8> {
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_hakanai"));
    let out = run(
        Command::new("script")
            .env("HAKANAI_SERVER", server_url)
            .env_remove("HAKANAI_LINK")
            .args(["-qfec", &command, "/dev/null"]),
        b"",
    );
    out.stdout
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A secret's escape sequences (OSC 52 fills the clipboard, CSI clears the screen) are shown
/// escaped on a terminal, and passed on exactly into a pipe.
#[test]
fn control_characters_are_escaped_on_a_terminal_only() {
    let server = Server::start_embedded();
    let secret = "copy me\x1b]52;c;ZXZpbA==\x07\x1b[2J\tend\n";
    let link = send_text(&server, secret, &[]);
    let out = run(server.hakanai().args(["get", &link]), b"");
    assert_eq!(ok(&out), secret, "piped: the exact bytes");

    if !have_pty() {
        eprintln!("no `script` or no pseudo-terminal: terminal part skipped");
        return;
    }
    let link = send_text(&server, secret, &[]);
    let shown = on_terminal(&server.url, &format!("get '{link}'"));
    let text = String::from_utf8_lossy(&shown);
    assert!(!contains(&shown, b"\x1b]52"), "{text:?}");
    assert!(!contains(&shown, b"\x1b[2J"), "{text:?}");
    assert!(
        text.contains("copy me\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\tend"),
        "{text:?}"
    );
    assert!(
        text.contains("3 control characters were shown escaped"),
        "{text:?}"
    );

    // --to-stdout into a pipe is raw too (files are bytes).
    let link = send_text(&server, secret, &["--as-file"]);
    let out = run(server.hakanai().args(["get", "--to-stdout", &link]), b"");
    assert_eq!(ok(&out), secret);

    // A server's error text, shown on a terminal, is escaped as well.
    let (url, fake) = fake_server(vec![(
        "404 Not Found",
        vec![],
        r#"{"error":"not_found","details":"gone\u001b]52;c;ZXZpbA==\u0007"}"#.into(),
    )]);
    let key = crypto_core::SecretKey::from_bytes([5; 32]).to_text();
    let shown = on_terminal(&url, &format!("get '{url}/s/AAAAAAAAAAAAAAAAAAAAAA#{key}'"));
    fake.join().unwrap();
    let text = String::from_utf8_lossy(&shown);
    assert!(!contains(&shown, b"\x1b]52"), "{text:?}");
    assert!(text.contains("gone\\x1b]52;c;ZXZpbA==\\x07"), "{text:?}");
}

/// The link (with its key) need not be an argument, visible in `ps` and shell history:
/// `-` or no argument reads it from stdin, and HAKANAI_LINK works too.
#[test]
fn link_from_stdin_or_environment() {
    let server = Server::start_embedded();
    let link = send_text(&server, "via stdin", &[]);
    let out = run(
        server.hakanai().args(["get", "-"]),
        format!("{link}\n").as_bytes(),
    );
    assert_eq!(ok(&out), "via stdin");
    // Loopback over http: no warning.
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    let link = send_text(&server, "no argument", &[]);
    let out = run(
        server.hakanai().arg("get"),
        format!("\n  {link}  \n").as_bytes(),
    );
    assert_eq!(ok(&out), "no argument");

    let link = send_text(&server, "from the environment", &[]);
    let out = run(server.hakanai().env("HAKANAI_LINK", &link).arg("get"), b"");
    assert_eq!(ok(&out), "from the environment");

    let out = run(server.hakanai().env_remove("HAKANAI_LINK").arg("get"), b"");
    let err = fails(&out, USAGE);
    assert!(err.contains("no link"), "{err}");

    // The separate key with a link read from stdin.
    let out = send_text(&server, "split", &["--separate-key"]);
    let (link, key) = out.split_once('\n').unwrap();
    let out = run(
        server.hakanai().args(["get", "--key", key.trim()]),
        link.as_bytes(),
    );
    assert_eq!(ok(&out), "split");
}

/// One fake HTTP server: answers each connection with the next of `responses` (status line,
/// extra headers, body) and closes it; returns its URL and a thread that yields each request
/// head it saw.
fn fake_server(
    responses: Vec<(&'static str, Vec<String>, String)>,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for (status, headers, body) in responses {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            seen.push(String::from_utf8_lossy(&head).to_lowercase());
            let mut answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for h in headers {
                answer.push_str(&h);
                answer.push_str("\r\n");
            }
            answer.push_str("\r\n");
            answer.push_str(&body);
            let _ = conn.write_all(answer.as_bytes());
        }
        seen
    });
    (url, thread)
}

/// A redirect within the server's origin is followed with the passphrase verifier; one to
/// another origin is refused, and that origin never hears from the CLI.
#[test]
fn redirects_to_another_origin_are_refused() {
    let key = crypto_core::SecretKey::from_bytes([6; 32]).to_text();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_url = format!("http://{}", other.local_addr().unwrap());
    other.set_nonblocking(true).unwrap();

    let (url, fake) = fake_server(vec![(
        "307 Temporary Redirect",
        vec![format!(
            "location: {other_url}/api/v1/secret/AAAAAAAAAAAAAAAAAAAAAA"
        )],
        String::new(),
    )]);
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_hakanai")).args([
            "get",
            &format!("{url}/s/AAAAAAAAAAAAAAAAAAAAAA#{key}"),
            "--passphrase",
            "pw",
        ]),
        b"",
    );
    let seen = fake.join().unwrap();
    assert!(seen[0].contains("x-secret-passphrase:"), "{seen:?}");
    let err = fails(&out, 1);
    assert!(err.contains("another origin"), "{err}");
    assert!(err.contains(&format!("redirected to {other_url}")), "{err}");
    assert!(other.accept().is_err(), "the other origin was contacted");

    // Within the origin: followed, verifier included.
    let (url, fake) = fake_server(vec![
        (
            "307 Temporary Redirect",
            vec!["location: /api/v1/secret/BBBBBBBBBBBBBBBBBBBBBB".into()],
            String::new(),
        ),
        (
            "404 Not Found",
            vec![],
            r#"{"error":"not_found","details":"no such secret"}"#.into(),
        ),
    ]);
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_hakanai")).args([
            "get",
            &format!("{url}/s/AAAAAAAAAAAAAAAAAAAAAA#{key}"),
            "--passphrase",
            "pw",
        ]),
        b"",
    );
    let seen = fake.join().unwrap();
    fails(&out, NOT_FOUND);
    assert!(seen[1].starts_with("get /api/v1/secret/bbbb"), "{seen:?}");
    assert!(seen[1].contains("x-secret-passphrase:"), "{seen:?}");
}

/// Plain http:// to another machine is warned about (before anything is sent).
#[test]
fn plain_http_to_another_host_is_warned_about() {
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_hakanai"))
            .env_remove("HAKANAI_ADMIN_TOKEN")
            .args(["--server", "http://hakanai.invalid", "token", "list"]),
        b"",
    );
    let err = fails(&out, USAGE);
    assert!(
        err.contains("warning: http://hakanai.invalid is plain http://"),
        "{err}"
    );
}

/// Names are checked for this platform at the last step: on Unix `C:evil.exe` and `CON` are
/// ordinary names; on Windows they would be a drive-relative path and a device.
#[test]
fn received_names_are_safe_on_this_platform() {
    use crypto_core::{build_link, encrypt_sync, KeySchedule, Kind, Metadata, SecretKey};
    let server = Server::start_embedded();
    let dir = tempfile::tempdir().unwrap();
    for (name, windows, unix) in [
        ("C:evil.exe", "C_evil.exe", "C:evil.exe"),
        ("CON", "_CON", "CON"),
        ("trailing.txt. ", "trailing.txt", "trailing.txt."),
    ] {
        let key = SecretKey::generate().unwrap();
        let metadata = Metadata {
            kind: Kind::File,
            name: Some(name.into()),
            media_type: None,
            size: Some(2),
        };
        let envelope = encrypt_sync(&KeySchedule::new(key.clone()), &metadata, b"ok").unwrap();
        let id = store_envelope(&server, envelope, &[]);
        let link = build_link(&server.url, &id, Some(&key)).unwrap();
        let out = run(
            server.hakanai().args(["get", &link, "-o"]).arg(dir.path()),
            b"",
        );
        ok(&out);
        let expect = if cfg!(windows) { windows } else { unix };
        assert_eq!(std::fs::read(dir.path().join(expect)).unwrap(), b"ok");
    }
}

/// A passphrase typed in another Unicode form (decomposed accents) opens the secret.
#[test]
fn passphrase_in_another_unicode_form_opens() {
    let server = Server::start_embedded();
    let link = send_text(&server, "accents", &["--passphrase", "caf\u{E9}"]);
    let out = run(
        server
            .hakanai()
            .args(["get", &link, "--passphrase", "cafe\u{301}"]),
        b"",
    );
    assert_eq!(ok(&out), "accents");
}

/// A header naming Argon2id parameters beyond the accepted range (here 256 MiB × 16, which the
/// previous range allowed) is refused as soon as it arrives, without running Argon2id (that it
/// never reaches Argon2id is crypto-core's unit test `refused_header_parameters_never_reach_argon2`).
#[test]
fn oversized_argon2_header_is_refused_before_argon2_runs() {
    use crypto_core::{build_link, encrypt_sync, Argon2Params, KeySchedule, Metadata, SecretKey};
    let server = Server::start_embedded();
    let key = SecretKey::generate().unwrap();
    let small = Argon2Params {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };
    let writer = KeySchedule::with_passphrase(key.clone(), b"pw", small).unwrap();
    let mut envelope = encrypt_sync(&writer, &Metadata::text(1), b"x").unwrap();
    envelope[33..37].copy_from_slice(&(256u32 * 1024).to_be_bytes());
    envelope[37..41].copy_from_slice(&16u32.to_be_bytes());
    // The reader's verifier (default parameters) is what the server checks before release.
    let reader = KeySchedule::with_passphrase(key.clone(), b"pw", Argon2Params::DEFAULT).unwrap();
    let id = store_envelope(
        &server,
        envelope,
        &[(
            "x-secret-passphrase-hash",
            reader.verifier().unwrap().server_hash_hex(),
        )],
    );
    let link = build_link(&server.url, &id, Some(&key)).unwrap();
    let out = run(
        server.hakanai().args(["get", &link, "--passphrase", "pw"]),
        b"",
    );
    let err = fails(&out, 6);
    assert!(err.contains("Argon2id parameters beyond"), "{err}");
    assert!(err.contains("hint: nothing was run or saved"), "{err}");
}

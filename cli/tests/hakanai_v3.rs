//! Hakanai v3.0.7's own CLI (the oracle binary) against our server, on both stores, and our
//! CLI reading what it stored. The oracle lives in `../shared/oracle/hakanai-3.0.7/` beside the
//! repository, or wherever `HAKANAI_ORACLE_DIR` points.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{fails, ok, run, stderr, stdout, Server};

fn oracle_cli() -> PathBuf {
    let dir = std::env::var_os("HAKANAI_ORACLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/oracle/hakanai-3.0.7")
        });
    let cli = dir.join("hakanai");
    assert!(
        cli.is_file(),
        "Hakanai v3's CLI is needed at {} (set HAKANAI_ORACLE_DIR)",
        cli.display()
    );
    cli
}

/// Hakanai's `hakanai` pointed at `server`, with `token` (or none).
fn old_cli(server: &Server, token: Option<&str>) -> Command {
    let mut cmd = Command::new(oracle_cli());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HAKANAI_SERVER", &server.url);
    if let Some(token) = token {
        cmd.env("HAKANAI_TOKEN", token);
    }
    cmd
}

/// Hakanai's CLI colours its output even into a pipe.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out.replace('\r', "")
}

/// The value after `label` on its line of Hakanai's output.
fn field(out: &Output, label: &str) -> String {
    let text = plain(&stdout(out));
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {label:?} in {text:?}\nstderr: {}", stderr(out)))
}

fn send(server: &Server, token: Option<&str>, args: &[&str], stdin: &[u8]) -> String {
    let out = run(old_cli(server, token).arg("send").args(args), stdin);
    ok(&out);
    field(&out, "Secret link:")
}

fn get(server: &Server, args: &[&str]) -> Output {
    run(old_cli(server, None).arg("get").args(args), b"")
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn old_cli_round_trips(server: &Server) {
    let token = Some(server.user_token.as_str());

    // Text from stdin, with a user token; the second read fails as it does against Hakanai.
    let link = send(server, token, &[], b"text from the old CLI");
    assert!(
        link.contains("/s/") && link.contains('#') && link.contains(':'),
        "{link}"
    );
    assert_eq!(
        ok(&get(server, &[&link, "--to-stdout"])),
        "text from the old CLI"
    );
    let again = get(server, &[&link, "--to-stdout"]);
    assert!(!again.status.success());
    assert!(plain(&stderr(&again)).contains("410"), "{}", stderr(&again));

    // One file, saved under its name in --output-dir.
    let work = dir();
    let file = work.path().join("report.bin");
    std::fs::write(&file, b"\x00\x01binary\xff").unwrap();
    let link = send(server, token, &["--file", file.to_str().unwrap()], b"");
    let out_dir = dir();
    ok(&get(
        server,
        &[&link, "--output-dir", out_dir.path().to_str().unwrap()],
    ));
    assert_eq!(
        std::fs::read(out_dir.path().join("report.bin")).unwrap(),
        b"\x00\x01binary\xff"
    );

    // Several files: Hakanai zips them into one named file.
    let a = work.path().join("a.txt");
    let b = work.path().join("b.txt");
    std::fs::write(&a, "alpha").unwrap();
    std::fs::write(&b, "beta").unwrap();
    let link = send(
        server,
        token,
        &["-f", a.to_str().unwrap(), "-f", b.to_str().unwrap()],
        b"",
    );
    let out_dir = dir();
    ok(&get(
        server,
        &[&link, "-o", out_dir.path().to_str().unwrap()],
    ));
    let saved: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(std::fs::read(&saved[0]).unwrap().starts_with(b"PK\x03\x04"));

    // --separate-key: the link has no fragment; --key supplies "key:hash".
    let out = run(
        old_cli(server, token).args(["send", "--separate-key"]),
        b"separate",
    );
    ok(&out);
    let link = field(&out, "Secret link:");
    let key = field(&out, "Key:");
    assert!(!link.contains('#'), "{link}");
    assert_eq!(
        ok(&get(
            server,
            &[&link, &format!("--key={key}"), "--to-stdout"]
        )),
        "separate"
    );

    // --require-passphrase: asking without it costs nothing; the right one opens it.
    let link = send(
        server,
        token,
        &["--require-passphrase", "open sesame"],
        b"guarded",
    );
    let without = get(server, &[&link, "--to-stdout"]);
    assert!(!without.status.success());
    assert!(
        plain(&stderr(&without)).contains("401"),
        "{}",
        stderr(&without)
    );
    let wrong = get(server, &[&link, "-p", "wrong", "--to-stdout"]);
    assert!(plain(&stderr(&wrong)).contains("401"), "{}", stderr(&wrong));
    assert_eq!(
        ok(&get(
            server,
            &[&link, "--passphrase", "open sesame", "--to-stdout"]
        )),
        "guarded"
    );

    // --allow-ip: a range that excludes us is refused (403), one that includes us works.
    let elsewhere = send(server, token, &["--allow-ip", "10.9.0.0/16"], b"ip");
    let refused = get(server, &[&elsewhere, "--to-stdout"]);
    assert!(
        plain(&stderr(&refused)).contains("403"),
        "{}",
        stderr(&refused)
    );
    let here = send(
        server,
        token,
        &["--allow-ip", "127.0.0.1,10.9.0.0/16"],
        b"ip ok",
    );
    assert_eq!(ok(&get(server, &[&here, "--to-stdout"])), "ip ok");

    // --ttl reaches the server: within --max-ttl it is stored, beyond it refused.
    let link = send(server, token, &["--ttl", "30m"], b"short-lived");
    assert_eq!(ok(&get(server, &[&link, "--to-stdout"])), "short-lived");
    let too_long = run(old_cli(server, token).args(["send", "--ttl", "30d"]), b"x");
    assert!(!too_long.status.success());
    assert!(
        plain(&stderr(&too_long)).contains("400"),
        "{}",
        stderr(&too_long)
    );

    // A bad token is refused with 403, which Hakanai's CLI reports as such.
    let bad = run(old_cli(server, Some("not-a-token")).arg("send"), b"x");
    assert!(plain(&stderr(&bad)).contains("403"), "{}", stderr(&bad));
}

fn old_cli_anonymous(server: &Server) {
    let link = send(server, None, &[], b"anonymous");
    assert_eq!(ok(&get(server, &[&link, "--to-stdout"])), "anonymous");
}

/// `hakanai token` reads the admin token from the terminal only, so it gets one (`script`).
fn old_token(server: &Server, args: &str) -> String {
    let cmd = format!("{} token {args}", oracle_cli().display());
    let out = run(
        Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("HAKANAI_SERVER", &server.url),
        format!("{}\n", server.admin_token).as_bytes(),
    );
    ok(&out);
    let text = plain(&stdout(&out));
    let mut lines = text.lines().map(str::trim);
    lines.by_ref().find(|l| *l == "User token:");
    lines
        .next()
        .unwrap_or_else(|| panic!("no token in {text:?}"))
        .to_string()
}

fn old_token_command(server: &Server) {
    let token = old_token(server, "--ttl 1d");
    let link = send(server, Some(&token), &[], b"with a minted token");
    assert_eq!(
        ok(&get(server, &[&link, "--to-stdout"])),
        "with a minted token"
    );

    // --one-time: one secret, then 403.
    let once = old_token(server, "--one-time --limit 1k");
    send(server, Some(&once), &[], b"first");
    let second = run(old_cli(server, Some(&once)).arg("send"), b"second");
    assert!(
        plain(&stderr(&second)).contains("403"),
        "{}",
        stderr(&second)
    );

    // --limit: bigger uploads are refused with 413.
    let small = old_token(server, "--limit 1k");
    let big = run(old_cli(server, Some(&small)).arg("send"), &[b'x'; 4096]);
    assert!(plain(&stderr(&big)).contains("413"), "{}", stderr(&big));
}

/// Our `hakanai get` opens what Hakanai's CLI stored: text, a file, with a passphrase.
fn our_cli_reads_old_secrets(server: &Server) {
    let token = Some(server.user_token.as_str());
    let link = send(server, token, &[], "Grüße aus v3".as_bytes());
    assert_eq!(
        ok(&run(server.hakanai().args(["get", &link]), b"")),
        "Grüße aus v3"
    );
    fails(&run(server.hakanai().args(["get", &link]), b""), 3);

    let work = dir();
    let file = work.path().join("data.bin");
    std::fs::write(&file, b"\xde\xad\xbe\xef").unwrap();
    let link = send(
        server,
        token,
        &[
            "--as-file",
            "-f",
            file.to_str().unwrap(),
            "-p",
            "pw for the v3 file",
        ],
        b"",
    );
    let out_dir = dir();
    let out = run(
        server.hakanai().args([
            "get",
            &link,
            "--passphrase",
            "pw for the v3 file",
            "--output-dir",
            out_dir.path().to_str().unwrap(),
        ]),
        b"",
    );
    ok(&out);
    assert_eq!(
        std::fs::read(out_dir.path().join("data.bin")).unwrap(),
        b"\xde\xad\xbe\xef"
    );

    // Separate key in Hakanai's form (key:hash), and a tampered check value.
    let out = run(
        old_cli(server, token).args(["send", "--separate-key"]),
        b"sep",
    );
    let (link, key) = (field(&out, "Secret link:"), field(&out, "Key:"));
    assert_eq!(
        ok(&run(
            server
                .hakanai()
                .args(["get", &link, &format!("--key={key}")]),
            b""
        )),
        "sep"
    );
    let link = send(server, token, &[], b"checked");
    let (head, hash) = link.rsplit_once(':').unwrap();
    let other = if hash.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}:{other}{}", &hash[1..]);
    let err = fails(&run(server.hakanai().args(["get", &tampered]), b""), 6);
    assert!(err.contains("check value"), "{err}");
}

/// A script written for Hakanai v3's CLI: its short flags, its environment variables.
const SCRIPT: &str = r#"
set -euo pipefail
link() { sed 's/\x1b\[[0-9;]*m//g' | grep -o 'http[^[:space:]]*' | head -n1; }

L=$(printf 'first secret' | HAKANAI_TTL=1h HAKANAI_ALLOWED_IPS=127.0.0.1/32,10.0.0.0/8 \
    "$HK" send -s "$SERVER" -p 'long passphrase' | link)
"$HK" get "$L" -p 'long passphrase' --to-stdout > first.out

printf 'file body' > notes.txt
mkdir -p out
L=$("$HK" send -s "$SERVER" -f notes.txt --as-file | link)
"$HK" get "$L" -o out -f renamed.txt

L=$(printf 'as a named file' | "$HK" send -s "$SERVER" -a --filename named.txt | link)
HAKANAI_OUTPUT_DIR=out "$HK" get "$L"

L=$(printf 'via the environment' | HAKANAI_REQUIRE_PASSPHRASE='env passphrase' "$HK" send -q | link)
HAKANAI_TO_STDOUT=true "$HK" get "$L" --passphrase 'env passphrase' > env.out

L=$(printf 'key asked for' | "$HK" send | link)
# Keys may start with '-': pass them as --key=….
"$HK" get --key="${L#*#}" "${L%%#*}" --to-stdout > key.out
"#;

fn run_script(server: &Server, cli: &Path) -> tempfile::TempDir {
    let work = dir();
    let out = run(
        Command::new("bash")
            .args(["-c", SCRIPT])
            .current_dir(work.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("HK", cli)
            .env("SERVER", &server.url)
            .env("HAKANAI_SERVER", &server.url)
            .env("HAKANAI_TOKEN", &server.user_token),
        b"",
    );
    ok(&out);
    work
}

fn same_script_runs_with_both_clis(server: &Server) {
    for cli in [oracle_cli(), PathBuf::from(env!("CARGO_BIN_EXE_hakanai"))] {
        let work = run_script(server, &cli);
        let read = |name: &str| {
            std::fs::read_to_string(work.path().join(name))
                .unwrap_or_else(|e| panic!("{}: {name}: {e}", cli.display()))
        };
        assert_eq!(read("first.out"), "first secret", "{}", cli.display());
        assert_eq!(read("out/renamed.txt"), "file body", "{}", cli.display());
        assert_eq!(
            read("out/named.txt"),
            "as a named file",
            "{}",
            cli.display()
        );
        assert_eq!(read("env.out"), "via the environment", "{}", cli.display());
        assert_eq!(read("key.out"), "key asked for", "{}", cli.display());
    }
}

/// `--extract` unpacks the ZIP Hakanai's CLI makes of several files.
fn our_cli_extracts_old_zips(server: &Server) {
    let work = dir();
    let a = work.path().join("one.txt");
    let b = work.path().join("two.bin");
    std::fs::write(&a, "first file").unwrap();
    std::fs::write(&b, b"\x00second\xff").unwrap();
    let token = Some(server.user_token.as_str());
    let args = ["-f", a.to_str().unwrap(), "-f", b.to_str().unwrap()];
    let link = send(server, token, &args, b"");
    let out_dir = dir();
    let dir_arg = out_dir.path().to_str().unwrap();
    ok(&run(
        server
            .hakanai()
            .args(["get", &link, "--extract", "-o", dir_arg]),
        b"",
    ));
    assert_eq!(
        std::fs::read(out_dir.path().join("one.txt")).unwrap(),
        b"first file"
    );
    assert_eq!(
        std::fs::read(out_dir.path().join("two.bin")).unwrap(),
        b"\x00second\xff"
    );
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 2);
}

macro_rules! on_both_stores {
    ($($name:ident: $extra:expr),* $(,)?) => {
        mod memory {
            $(#[test] fn $name() { super::$name(&super::Server::start_with(false, $extra)); })*
        }
        mod redis {
            $(#[test] fn $name() { super::$name(&super::Server::start_with(true, $extra)); })*
        }
    };
}

on_both_stores! {
    old_cli_round_trips: &["--max-ttl", "7d"],
    old_cli_anonymous: &["--allow-anonymous"],
    old_token_command: &["--trusted-ip-ranges", "127.0.0.0/8"],
    our_cli_reads_old_secrets: &[],
    same_script_runs_with_both_clis: &[],
    our_cli_extracts_old_zips: &[],
}

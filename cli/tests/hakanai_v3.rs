//! Hakanai v3.0.7's own CLI (the oracle binary) against our server, on both stores, and our
//! CLI reading what it stored. The oracle lives in `shared/oracle/hakanai-3.0.7/` beside the
//! repository or beside one of its parent directories, or wherever `HAKANAI_ORACLE_DIR` points.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{fails, ok, run, stderr, stdout, Server};

fn oracle_cli() -> PathBuf {
    let dir = std::env::var_os("HAKANAI_ORACLE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // A checkout at /work/main and a CI clone further down both find /work/shared.
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|d| d.join("shared/oracle/hakanai-3.0.7"))
                .find(|d| d.join("hakanai").is_file())
        })
        .unwrap_or_else(|| PathBuf::from("../shared/oracle/hakanai-3.0.7"));
    let cli = dir.join("hakanai");
    assert!(
        cli.is_file(),
        "Hakanai v3's CLI is needed at {} (set HAKANAI_ORACLE_DIR)",
        cli.display()
    );
    cli
}

/// A server the old CLI talks to: ours, or Hakanai's own.
trait Target {
    fn url(&self) -> &str;
    fn admin(&self) -> &str;
}

impl Target for Server {
    fn url(&self) -> &str {
        &self.url
    }
    fn admin(&self) -> &str {
        &self.admin_token
    }
}

/// Hakanai's `hakanai` pointed at `server`, with `token` (or none).
fn old_cli(server: &impl Target, token: Option<&str>) -> Command {
    let mut cmd = Command::new(oracle_cli());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HAKANAI_SERVER", server.url());
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

fn send(server: &impl Target, token: Option<&str>, args: &[&str], stdin: &[u8]) -> String {
    let out = run(old_cli(server, token).arg("send").args(args), stdin);
    ok(&out);
    field(&out, "Secret link:")
}

fn get(server: &impl Target, args: &[&str]) -> Output {
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
fn old_token(server: &impl Target, args: &str) -> String {
    let cmd = format!("{} token {args}", oracle_cli().display());
    let out = run(
        Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("HAKANAI_SERVER", server.url()),
        format!("{}\n", server.admin()).as_bytes(),
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

/// Hakanai v3.0.7's own server (the oracle binary) on a Redis database, killed on drop.
struct OldServer {
    _server: hakanai_test_support::HakanaiV3Server,
    url: String,
    admin: String,
    /// The default user token it printed at its first start (empty later).
    user: String,
}

impl Target for OldServer {
    fn url(&self) -> &str {
        &self.url
    }
    fn admin(&self) -> &str {
        &self.admin
    }
}

impl OldServer {
    fn start(redis: &common::RedisServer, admin: &str) -> OldServer {
        let exe = oracle_cli().with_file_name("hakanai-server");
        // On port 0: test-support reads the port it got from /proc.
        let dsn = redis.dsn();
        let server = hakanai_test_support::HakanaiV3Server::start(
            &exe,
            [
                "-r",
                &dsn,
                "--enable-admin-token",
                "--trusted-ip-ranges",
                "127.0.0.0/8",
            ],
        );
        let text = plain(&server.log());
        let printed = |label: &str| {
            text.lines()
                .find_map(|l| l.split_once(label).map(|(_, v)| v.trim().to_string()))
                .unwrap_or_default()
        };
        let printed_admin = printed("Admin token:");
        OldServer {
            url: server.base_url(),
            admin: if printed_admin.is_empty() {
                admin.to_string()
            } else {
                printed_admin
            },
            user: printed("Default user token:"),
            _server: server,
        }
    }
}

fn redis_keys(redis: &common::RedisServer, pattern: &str) -> Vec<String> {
    let out = Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "--scan",
            "--pattern",
            pattern,
        ])
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An operator stops Hakanai v3 and starts ours on the same Redis: its pending secrets (with
/// their passphrases and IP restrictions), user tokens (limit, one-time) and admin token carry
/// over; during a rolling switch what Hakanai still creates is taken over on first use; going
/// back, Hakanai still knows its tokens.
#[test]
fn same_redis_switch_from_hakanai_v3_and_back() {
    let redis = common::RedisServer::start();
    let old = OldServer::start(&redis, "");
    assert!(
        !old.admin.is_empty() && !old.user.is_empty(),
        "tokens in Hakanai's log"
    );
    let user = old.user.clone();
    let limited = old_token(&old, "--limit 1k");
    let once = old_token(&old, "--one-time");
    let u = Some(user.as_str());
    let text = send(&old, u, &[], b"pending text");
    let guarded = send(&old, u, &["-p", "migrate passphrase"], b"guarded text");
    let here = send(&old, u, &["--allow-ip", "127.0.0.1"], b"ip allowed");
    let elsewhere = send(&old, u, &["--allow-ip", "10.0.0.0/8"], b"ip refused");
    let work = dir();
    let photo = work.path().join("photo.bin");
    std::fs::write(&photo, b"\x00\x89PNG\xff").unwrap();
    let file = send(&old, u, &["-f", photo.to_str().unwrap()], b"");
    let read_before = send(&old, u, &[], b"read on Hakanai");
    assert_eq!(
        ok(&get(&old, &[&read_before, "--to-stdout"])),
        "read on Hakanai"
    );
    let admin = old.admin.clone();
    let old_url = old.url.clone();
    drop(old);

    let ours_server = Server::start_over(Some(redis), &["--trusted-ip-ranges", "127.0.0.0/8"]);
    assert!(
        ours_server.admin_token.is_empty() && ours_server.user_token.is_empty(),
        "Hakanai's tokens were kept, so none was bootstrapped"
    );
    let ours = Theirs {
        server: &ours_server,
        admin: &admin,
    };
    // The links name the host; in production it stays the same, here the port changes.
    let relink = |link: &str, from: &str| link.replacen(from, &ours_server.url, 1);
    let [text, guarded, here, elsewhere, file, read_before] =
        [text, guarded, here, elsewhere, file, read_before].map(|l| relink(&l, &old_url));
    let r = ours.server.redis.as_ref().unwrap();
    assert!(
        redis_keys(r, "secret:*").is_empty(),
        "Hakanai's secrets were moved"
    );
    assert!(
        redis_keys(r, "restrictions:*").is_empty(),
        "its passphrase hashes are gone"
    );

    // A secret read on Hakanai still says "already read" (410), not "unknown".
    let gone = get(&ours, &[&read_before, "--to-stdout"]);
    assert!(plain(&stderr(&gone)).contains("410"), "{}", stderr(&gone));

    // Every pending secret: readable exactly once, restrictions intact.
    assert_eq!(ok(&get(&ours, &[&text, "--to-stdout"])), "pending text");
    assert!(plain(&stderr(&get(&ours, &[&text, "--to-stdout"]))).contains("410"));
    let without = get(&ours, &[&guarded, "--to-stdout"]);
    assert!(
        plain(&stderr(&without)).contains("401"),
        "{}",
        stderr(&without)
    );
    assert_eq!(
        ok(&get(
            &ours,
            &[&guarded, "-p", "migrate passphrase", "--to-stdout"]
        )),
        "guarded text"
    );
    assert_eq!(ok(&get(&ours, &[&here, "--to-stdout"])), "ip allowed");
    let refused = get(&ours, &[&elsewhere, "--to-stdout"]);
    assert!(
        plain(&stderr(&refused)).contains("403"),
        "{}",
        stderr(&refused)
    );
    let out_dir = dir();
    let dir_arg = out_dir.path().to_str().unwrap();
    ok(&run(
        ours.server.hakanai().args(["get", &file, "-o", dir_arg]),
        b"",
    ));
    assert_eq!(
        std::fs::read(out_dir.path().join("photo.bin")).unwrap(),
        b"\x00\x89PNG\xff"
    );

    // Tokens: the default one, the limited one (413 above its limit), the one-time one (once),
    // and the admin token with Hakanai's own `hakanai token`.
    send(&ours, u, &[], b"default token");
    let big = run(old_cli(&ours, Some(&limited)).arg("send"), &[b'x'; 4096]);
    assert!(plain(&stderr(&big)).contains("413"), "{}", stderr(&big));
    send(&ours, Some(&limited), &[], b"small");
    send(&ours, Some(&once), &[], b"once");
    let twice = run(old_cli(&ours, Some(&once)).arg("send"), b"twice");
    assert!(plain(&stderr(&twice)).contains("403"), "{}", stderr(&twice));
    let minted = old_token(&ours, "--ttl 1d");
    send(&ours, Some(&minted), &[], b"minted on ours");

    // A rolling switch: Hakanai, started again beside ours, creates a secret; ours takes it over
    // on first read.
    let r = ours.server.redis.as_ref().unwrap();
    let old = OldServer::start(r, &admin);
    let late = send(
        &old,
        u,
        &["-p", "late passphrase"],
        b"created during the switch",
    );
    let late = relink(&late, &old.url);
    drop(old);
    assert_eq!(
        ok(&get(
            &ours,
            &[&late, "-p", "late passphrase", "--to-stdout"]
        )),
        "created during the switch"
    );
    assert!(plain(&stderr(&get(&ours, &[&late, "-p", "late passphrase"]))).contains("410"));

    // The way back: Hakanai on the same database still takes its tokens; the spent one-time
    // token stays spent.
    let redis = ours_server.stop().expect("its Redis");
    let old = OldServer::start(&redis, &admin);
    let back = send(&old, u, &[], b"back on Hakanai");
    assert_eq!(ok(&get(&old, &[&back, "--to-stdout"])), "back on Hakanai");
    let spent = run(old_cli(&old, Some(&once)).arg("send"), b"again");
    assert!(
        !spent.status.success(),
        "a one-time token spent on ours works on Hakanai"
    );
    old_token(&old, "--ttl 1h");
}

/// Our server under the admin token Hakanai printed (ours printed none: it kept Hakanai's).
struct Theirs<'a> {
    server: &'a Server,
    admin: &'a str,
}

impl Target for Theirs<'_> {
    fn url(&self) -> &str {
        &self.server.url
    }
    fn admin(&self) -> &str {
        self.admin
    }
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

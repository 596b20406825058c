//! `cargo xtask bench-server [--quick] [--profile]`: our release `hakanai-server` and the
//! original Hakanai 3.0.7 (`../shared/oracle/hakanai-3.0.7/hakanai-server`, or
//! `HAKANAI_ORACLE_SERVER`) side by side, on one fresh `redis-server`, under one load generator
//! (wrk, 32 connections, 1 KiB secrets), alternating, two rounds; then the same with logging
//! off, our embedded store, and two floors: Redis's (a plain `SET … PX` of the same value from
//! `redis-benchmark`) and the machine's (`bench_floor`, a server that only does the Redis
//! command each request needs, measured between the two servers in each round). Writes the
//! `hakanai-server throughput` section of `BENCHMARKS.md`.
//!
//! Every phase starts its server afresh on a flushed Redis, so CPU and memory deltas belong to
//! that phase alone: server CPU from `/proc/<pid>/stat`, Redis CPU from `INFO cpu`, Redis bytes
//! and keys per secret from `INFO memory` and `DBSIZE`.
//!
//! `--quick` runs one short round and prints without writing; `--profile` also records a
//! `perf` profile of our server under the JSON create load and prints its top symbols.
//! `HAKANAI_BENCH_SERVER=<binary>` measures that build of ours (say, a baseline) unbuilt.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench::{machine, replace_section, today_utc};
use crate::setup::on_path;
use crate::shell::{flags, root, target_dir, Cmd, Error, Result};
use hakanai_test_support::{listening_ports, RedisServer};

const START: &str = "<!-- bench:server:start -->";
const END: &str = "<!-- bench:server:end -->";
const CONNECTIONS: u32 = 32;
const PAYLOAD: usize = 1024;
const TTL_SECS: u64 = 3600;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Subject {
    Ours,
    OursEmbedded,
    Hakanai,
    /// `bench_floor`: only the Redis command each request cannot do without.
    Floor,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Load {
    CreateJson,
    CreateRaw,
    Cycle,
    /// Cycles as our own clients make them: every secret read-locked (`read_token_hash`), every
    /// read with its `X-Secret-Read-Token` (ours only; Hakanai has no read tokens).
    LockedCycle,
}

/// The read token of [`Load::LockedCycle`] (one for all its secrets) and the lock it opens,
/// `hex(SHA-256(token))` (`docs/FORMAT.md` § Read token). A wrong pair shows as failed reads.
const READ_TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const READ_LOCK: &str = "a8ae6e6ee929abea3afcfc5258c8ccd6f85273e0d4626d26c7279f3250f77c8e";

impl Load {
    fn script(self) -> &'static str {
        match self {
            Load::CreateJson | Load::CreateRaw => "server/bench/wrk-create.lua",
            Load::Cycle | Load::LockedCycle => "server/bench/wrk-cycle.lua",
        }
    }
}

/// One measured phase.
#[derive(Clone, Debug, Default)]
struct Phase {
    /// Creates answered 2xx, or reads answered 200 for cycles.
    ops: u64,
    failed: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    server_cpu_us: f64,
    redis_cpu_us: f64,
    redis_bytes: f64,
    redis_keys: f64,
    rss_bytes: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    fn per_op(&self, total: f64) -> f64 {
        total / self.ops.max(1) as f64
    }
}

struct Bench {
    work: PathBuf,
    ours: PathBuf,
    hakanai: PathBuf,
    floor: PathBuf,
    redis_port: u16,
    duration: u32,
    clk_tck: f64,
    json_body: PathBuf,
    raw_body: PathBuf,
    locked_body: PathBuf,
}

pub fn run(args: &[String]) -> Result<()> {
    let given = flags("bench-server", args, &["--quick", "--profile"])?;
    let quick = given.contains(&"--quick");
    let profile = given.contains(&"--profile");
    for (program, package) in [
        ("wrk", "wrk"),
        ("redis-server", "redis-server"),
        ("redis-benchmark", "redis-tools"),
    ] {
        if !on_path(program) {
            Cmd::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", package])
                .run()?;
        }
    }
    if profile && !on_path("perf") {
        Cmd::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "linux-perf"])
            .run()?;
    }
    let hakanai = std::env::var_os("HAKANAI_ORACLE_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/oracle/hakanai-3.0.7/hakanai-server"));
    if !hakanai.is_file() {
        return Err(Error::new(format!(
            "the original server is not at {} (set HAKANAI_ORACLE_SERVER)",
            hakanai.display()
        )));
    }
    // HAKANAI_BENCH_SERVER measures another build of ours (a baseline) instead.
    let ours = match std::env::var_os("HAKANAI_BENCH_SERVER") {
        Some(path) => PathBuf::from(path),
        None => {
            Cmd::cargo()
                .args(["build", "--release", "--locked", "-p", "hakanai-server"])
                .run()?;
            target_dir().join("release").join("hakanai-server")
        }
    };
    // The floor server runs from an optimised build of this very program.
    Cmd::cargo()
        .args(["build", "--release", "--locked", "-p", "xtask"])
        .run()?;
    let floor = target_dir().join("release").join("xtask");
    let work = target_dir().join("xtask").join("bench-server");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(io_err("create", &work))?;
    let (json_body, raw_body, locked_body) = write_bodies(&work)?;
    let redis = RedisServer::builder()
        .log_file(&work.join("redis.log"))
        .try_start()
        .map_err(Error::new)?;
    let redis_port = redis.port;
    let bench = Bench {
        ours,
        hakanai,
        floor,
        redis_port,
        duration: if quick { 3 } else { 10 },
        clk_tck: Cmd::new("getconf")
            .arg("CLK_TCK")
            .probe()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0),
        json_body,
        raw_body,
        locked_body,
        work,
    };
    let result = bench.all(quick, profile);
    drop(redis);
    let report = result?;
    println!("\n{report}");
    if quick {
        println!("bench-server: --quick, BENCHMARKS.md left as it is");
        return Ok(());
    }
    let path = root().join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let new = replace_section(&old, START, END, &report)?;
    std::fs::write(&path, new).map_err(io_err("write", &path))?;
    println!("bench-server: updated BENCHMARKS.md (section `hakanai-server throughput`)");
    Ok(())
}

/// Results of the side-by-side rounds: `[round][subject]`.
type Rounds = Vec<Vec<(Subject, Vec<(Load, Phase)>)>>;

impl Bench {
    fn all(&self, quick: bool, profile: bool) -> Result<String> {
        self.wait_redis()?;
        let rounds = if quick { 1 } else { 2 };
        let logged = self.side_by_side(rounds, false)?;
        let quiet = self.side_by_side(rounds, true)?;
        let mut embedded = Vec::new();
        for _ in 0..rounds {
            let mut phases = Vec::new();
            for load in [Load::CreateJson, Load::Cycle, Load::LockedCycle] {
                phases.push((load, self.phase(Subject::OursEmbedded, load, false)?));
            }
            embedded.push(phases);
        }
        let floor = self.floor()?;
        let top = if profile { Some(self.profile()?) } else { None };
        Ok(render(
            &logged,
            &quiet,
            &embedded,
            floor,
            self.duration,
            top,
        ))
    }

    fn side_by_side(&self, rounds: usize, quiet: bool) -> Result<Rounds> {
        let mut out = Vec::new();
        for round in 0..rounds {
            // Alternating which server goes first evens out drift of a noisy machine.
            let mut order = if round % 2 == 0 {
                vec![Subject::Ours, Subject::Hakanai]
            } else {
                vec![Subject::Hakanai, Subject::Ours]
            };
            // The floor server (it has no log) runs between the two, in the logged rounds.
            if !quiet {
                order.insert(1, Subject::Floor);
            }
            let mut subjects = Vec::new();
            for subject in order {
                let loads: &[Load] = match subject {
                    Subject::Ours => &[
                        Load::CreateJson,
                        Load::CreateRaw,
                        Load::Cycle,
                        Load::LockedCycle,
                    ],
                    _ => &[Load::CreateJson, Load::Cycle],
                };
                let mut phases = Vec::new();
                for &load in loads {
                    phases.push((load, self.phase(subject, load, quiet)?));
                }
                subjects.push((subject, phases));
            }
            subjects.sort_by_key(|(s, _)| *s != Subject::Ours);
            out.push(subjects);
        }
        Ok(out)
    }

    /// Starts `subject` on a flushed Redis, warms it up for a second, then measures `load`.
    fn phase(&self, subject: Subject, load: Load, quiet: bool) -> Result<Phase> {
        println!(
            "bench-server: {subject:?} {load:?}{}",
            if quiet { " (logging off)" } else { "" }
        );
        self.redis(&["FLUSHALL"])?;
        let mut server = self.start(subject, quiet)?;
        let result = (|| {
            self.wrk(load, server.port, 1)?;
            let cpu0 = proc_cpu_ticks(server.pid())?;
            let rss0 = proc_rss(server.pid())?;
            let (redis_cpu0, bytes0, keys0) = self.redis_counters()?;
            let w = self.wrk(load, server.port, self.duration)?;
            let cpu1 = proc_cpu_ticks(server.pid())?;
            let rss1 = proc_rss(server.pid())?;
            let (redis_cpu1, bytes1, keys1) = self.redis_counters()?;
            let ops = match load {
                Load::Cycle | Load::LockedCycle => w.reads,
                _ => w.requests.saturating_sub(w.failed),
            };
            Ok(Phase {
                ops,
                failed: w.failed,
                secs: w.duration_us as f64 / 1e6,
                p50_ms: w.p50_us as f64 / 1000.0,
                p99_ms: w.p99_us as f64 / 1000.0,
                server_cpu_us: (cpu1 - cpu0) as f64 * 1e6 / self.clk_tck,
                redis_cpu_us: (redis_cpu1 - redis_cpu0) * 1e6,
                redis_bytes: bytes1 - bytes0,
                redis_keys: keys1 - keys0,
                rss_bytes: rss1 - rss0,
            })
        })();
        server.stop();
        let p = result?;
        println!(
            "  {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, server {:.0} µs/op, Redis {:.1} µs/op, {} failed",
            p.rate(),
            p.p50_ms,
            p.p99_ms,
            p.per_op(p.server_cpu_us),
            p.per_op(p.redis_cpu_us),
            p.failed
        );
        Ok(p)
    }

    fn start(&self, subject: Subject, quiet: bool) -> Result<Running> {
        let dsn = format!("redis://127.0.0.1:{}/0", self.redis_port);
        let mut cmd = match subject {
            Subject::Hakanai => Command::new(&self.hakanai),
            Subject::Floor => {
                let mut cmd = Command::new(&self.floor);
                cmd.arg("bench-floor-server")
                    .args(["--redis-port", &self.redis_port.to_string()]);
                cmd
            }
            _ => Command::new(&self.ours),
        };
        // Port 0 (all four take it): the kernel picks a free one, nothing to race for. Which one
        // is read from /proc, the socket the child itself listens on (Hakanai 3.0.7 names it
        // only in a plain-text line, the floor server nowhere).
        cmd.args(["--port", "0"]);
        if subject != Subject::Floor {
            cmd.arg("--allow-anonymous");
        }
        cmd.env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .current_dir(&self.work);
        if matches!(subject, Subject::Ours | Subject::Hakanai) {
            cmd.args(["--redis-dsn", &dsn]);
        }
        if matches!(subject, Subject::Ours | Subject::OursEmbedded) {
            // Every request comes from one address: its storage budget would refuse the
            // create-only runs long before they end. The reservations are still made and
            // released (no budget is a budget without limits), so their cost is measured.
            cmd.args(["--max-stored-bytes-per-address", "0"]);
        }
        let log = self.work.join(format!("{subject:?}.log"));
        // The original's log level is fixed at info in its code; "off" sends it to /dev/null.
        if quiet && subject != Subject::Hakanai {
            cmd.env("RUST_LOG", "off");
        }
        cmd.stdout(if quiet {
            Stdio::null()
        } else {
            file(&log)?.into()
        });
        cmd.stderr(file(&self.work.join(format!("{subject:?}.stderr")))?);
        let child = cmd
            .spawn()
            .map_err(|e| Error::new(format!("cannot start {subject:?} server: {e}")))?;
        let mut running = Running { child, port: 0 };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if running.port == 0 {
                running.port = listening_ports(running.pid()).first().copied().unwrap_or(0);
            }
            if running.port != 0 && http_ok(running.port, "/healthy") {
                break;
            }
            if Instant::now() > deadline || running.child.try_wait().ok().flatten().is_some() {
                running.stop();
                return Err(Error::new(format!(
                    "{subject:?} server did not come up (see {})",
                    self.work.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(running)
    }

    fn wrk(&self, load: Load, port: u16, secs: u32) -> Result<WrkResult> {
        let (body, content_type) = match load {
            Load::CreateRaw => (&self.raw_body, "application/octet-stream"),
            Load::LockedCycle => (&self.locked_body, "application/json"),
            _ => (&self.json_body, "application/json"),
        };
        let token = if load == Load::LockedCycle {
            READ_TOKEN
        } else {
            ""
        };
        let out = Cmd::new("wrk")
            .args(["-t", "2", "-c", &CONNECTIONS.to_string()])
            .args(["-d", &format!("{secs}s"), "--timeout", "5s"])
            .arg("-s")
            .arg(root().join(load.script()))
            .arg(format!("http://127.0.0.1:{port}"))
            .env("BENCH_BODY", body)
            .env("BENCH_CONTENT_TYPE", content_type)
            .env("BENCH_READ_TOKEN", token)
            .read()?;
        WrkResult::parse(&out)
    }

    fn redis(&self, args: &[&str]) -> Result<String> {
        Cmd::new("redis-cli")
            .args(["-p", &self.redis_port.to_string()])
            .args(args)
            .probe()
            .ok_or_else(|| Error::new(format!("redis-cli {} failed", args.join(" "))))
    }

    fn wait_redis(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.redis(&["PING"]).is_err() {
            if Instant::now() > deadline {
                return Err(Error::new("redis-server did not start"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Redis CPU seconds (user + system), bytes in use, and keys.
    fn redis_counters(&self) -> Result<(f64, f64, f64)> {
        let info = self.redis(&["INFO", "all"])?;
        let field = |name: &str| -> f64 {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        };
        let keys: f64 = self.redis(&["DBSIZE"])?.trim().parse().unwrap_or(0.0);
        Ok((
            field("used_cpu_sys") + field("used_cpu_user"),
            field("used_memory"),
            keys,
        ))
    }

    /// Redis CPU per plain `SET key value PX ttl` of a 1 KiB value, 32 clients, no pipelining.
    fn floor(&self) -> Result<(f64, f64)> {
        println!("bench-server: floor (redis-benchmark SET … PX)");
        self.redis(&["FLUSHALL"])?;
        let n: u64 = if self.duration < 10 { 50_000 } else { 300_000 };
        let value = "v".repeat(PAYLOAD);
        let (cpu0, _, _) = self.redis_counters()?;
        let start = Instant::now();
        Cmd::new("redis-benchmark")
            .args(["-p", &self.redis_port.to_string(), "-q"])
            .args(["-c", &CONNECTIONS.to_string(), "-n", &n.to_string()])
            .args(["-r", "100000000", "SET", "bench:__rand_int__", &value])
            .args(["PX", &(TTL_SECS * 1000).to_string()])
            .read()?;
        let secs = start.elapsed().as_secs_f64();
        let (cpu1, _, _) = self.redis_counters()?;
        self.redis(&["FLUSHALL"])?;
        Ok(((cpu1 - cpu0) * 1e6 / n as f64, n as f64 / secs))
    }

    /// `perf record` of our server (Redis, default logging) under the JSON create load.
    fn profile(&self) -> Result<String> {
        println!("bench-server: profile of our server (perf, JSON creates)");
        self.redis(&["FLUSHALL"])?;
        let mut server = self.start(Subject::Ours, false)?;
        let data = self.work.join("perf.data");
        let perf = Command::new("perf")
            .args(["record", "-e", "cpu-clock", "-F", "999", "-g", "-o"])
            .arg(&data)
            .args(["-p", &server.pid().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let result = match perf {
            Ok(mut perf) => {
                let w = self.wrk(Load::CreateJson, server.port, self.duration);
                // SIGINT lets perf write its file.
                let _ = Command::new("kill")
                    .args(["-INT", &perf.id().to_string()])
                    .status();
                let _ = perf.wait();
                w.map(|_| ())
            }
            Err(e) => Err(Error::new(format!("cannot start perf: {e}"))),
        };
        server.stop();
        result?;
        let report = Cmd::new("perf")
            .args([
                "report",
                "--no-children",
                "--sort",
                "dso,symbol",
                "--stdio",
                "-g",
                "none",
            ])
            .args(["--percent-limit", "1", "-i"])
            .arg(&data)
            .read()?;
        let top: String = report
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .take(25)
            .map(|l| format!("{}\n", compact(l)))
            .collect();
        std::fs::write(self.work.join("profile.txt"), &report)
            .map_err(io_err("write", &self.work.join("profile.txt")))?;
        Ok(top)
    }
}

/// A `perf report` line without its column padding and empty trailing columns.
fn compact(line: &str) -> String {
    let mut words: Vec<&str> = line
        .split("  ")
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    while words.last() == Some(&"-") {
        words.pop();
    }
    words.join("  ")
}

struct Running {
    child: Child,
    port: u16,
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Default, PartialEq)]
struct WrkResult {
    requests: u64,
    duration_us: u64,
    failed: u64,
    reads: u64,
    p50_us: u64,
    p99_us: u64,
}

impl WrkResult {
    /// The `wrk key=value …` line the scripts' `done` prints.
    fn parse(out: &str) -> Result<WrkResult> {
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("wrk "))
            .ok_or_else(|| Error::new(format!("wrk printed no result line:\n{out}")))?;
        let mut r = WrkResult::default();
        for pair in line.split_whitespace() {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| Error::new(format!("bad wrk field `{pair}`")))?;
            let v: u64 = v
                .parse()
                .map_err(|_| Error::new(format!("bad wrk value `{pair}`")))?;
            match k {
                "requests" => r.requests = v,
                "duration_us" => r.duration_us = v,
                "failed" => r.failed = v,
                "reads" => r.reads = v,
                "p50_us" => r.p50_us = v,
                "p99_us" => r.p99_us = v,
                _ => {}
            }
        }
        if r.duration_us == 0 {
            return Err(Error::new(format!("wrk ran for no time:\n{out}")));
        }
        Ok(r)
    }
}

/// 1 KiB of random bytes, as the raw body and as Hakanai's JSON create body.
fn write_bodies(work: &Path) -> Result<(PathBuf, PathBuf, PathBuf)> {
    use std::io::Read as _;
    let mut raw = vec![0u8; PAYLOAD];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .map_err(|e| Error::new(format!("cannot read /dev/urandom: {e}")))?;
    let json = format!(
        "{{\"data\": \"{}\", \"expires_in\": {TTL_SECS}}}",
        base64(&raw)
    );
    let locked = format!(
        "{{\"data\": \"{}\", \"expires_in\": {TTL_SECS}, \"restrictions\": {{\"read_token_hash\": \"{READ_LOCK}\"}}}}",
        base64(&raw)
    );
    let (json_path, raw_path) = (work.join("secret-1k.json"), work.join("secret-1k.bin"));
    let locked_path = work.join("secret-1k-locked.json");
    std::fs::write(&json_path, json).map_err(io_err("write", &json_path))?;
    std::fs::write(&raw_path, raw).map_err(io_err("write", &raw_path))?;
    std::fs::write(&locked_path, locked).map_err(io_err("write", &locked_path))?;
    Ok((json_path, raw_path, locked_path))
}

/// Standard base64 with padding; xtask stays free of dependencies.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn http_ok(port: u16, path: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// utime + stime of `pid`, in clock ticks.
fn proc_cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| Error::new(format!("cannot read /proc/{pid}/stat: {e}")))?;
    // The command name may contain spaces; the fields after it do not.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    match (f.get(11), f.get(12)) {
        (Some(u), Some(s)) => Ok(u + s),
        _ => Err(Error::new(format!("unexpected /proc/{pid}/stat"))),
    }
}

/// Resident set size of `pid`, in bytes.
fn proc_rss(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| Error::new(format!("cannot read /proc/{pid}/status: {e}")))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    Ok(kib * 1024.0)
}

fn file(path: &Path) -> Result<File> {
    File::create(path).map_err(io_err("create", path))
}

fn io_err<'a>(what: &'a str, path: &'a Path) -> impl Fn(std::io::Error) -> Error + 'a {
    move |e| Error::new(format!("cannot {what} {}: {e}", path.display()))
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// `f` of the phase `load` of `subject` in every round.
fn series(rounds: &Rounds, subject: Subject, load: Load, f: &dyn Fn(&Phase) -> f64) -> Vec<f64> {
    rounds
        .iter()
        .filter_map(|r| r.iter().find(|(s, _)| *s == subject))
        .filter_map(|(_, phases)| phases.iter().find(|(l, _)| *l == load))
        .map(|(_, p)| f(p))
        .collect()
}

fn render(
    logged: &Rounds,
    quiet: &Rounds,
    embedded: &[Vec<(Load, Phase)>],
    (floor_us, floor_rate): (f64, f64),
    secs: u32,
    profile: Option<String>,
) -> String {
    let mut s = String::new();
    let machine: String = machine(None).iter().map(|m| format!("- {m}\n")).collect();
    let _ = write!(
        s,
        "## hakanai-server throughput\n\n\
         Measured {date} (UTC) with `cargo xtask bench-server`: our release `hakanai-server` and \
         Hakanai 3.0.7's own `hakanai-server` (the oracle binary), side by side in one run, on one \
         fresh `redis-server` 7.0 (flushed before every phase, each phase on a freshly started \
         server after a 1 s warm-up), same load generator (wrk, 2 threads, {CONNECTIONS} \
         connections, {secs} s per phase), same payloads (1 KiB random secrets; JSON \
         `{{\"data\": <base64>, \"expires_in\": {TTL_SECS}}}`; raw `application/octet-stream` \
         for ours only, which Hakanai lacks), alternating which server goes first. Load \
         generator, Redis and server share the machine's two cores, so only ratios within this \
         run count. A cycle is a create followed by the one read of that secret; \
         p50/p99 are per request. CPU per operation: server from `/proc/<pid>/stat`, Redis \
         from `INFO cpu`, divided by the successful operations of the phase.\n\n{machine}\n",
        date = today_utc(),
    );
    let _ = writeln!(
        s,
        "### Default log levels (both log every request at info to a file)\n"
    );
    s.push_str(&table(logged, Some((floor_us, floor_rate))));
    s.push_str(&ceiling(logged));
    let _ = writeln!(
        s,
        "\n### Logging off (ours `RUST_LOG=off`; Hakanai's level is fixed at info in its code, \
         so its log goes to `/dev/null`)\n"
    );
    s.push_str(&table(quiet, None));
    let _ = writeln!(
        s,
        "\n### Embedded store (ours, no Redis, default log level)\n\n\
         | measure | rounds | mean |\n|---|---:|---:|"
    );
    let emb = |load: Load, f: &dyn Fn(&Phase) -> f64| -> Vec<f64> {
        embedded
            .iter()
            .filter_map(|r| r.iter().find(|(l, _)| *l == load))
            .map(|(_, p)| f(p))
            .collect()
    };
    type Row<'a> = (&'a str, Load, &'a dyn Fn(&Phase) -> f64, usize);
    let rows: [Row; 7] = [
        ("creates/s (JSON)", Load::CreateJson, &|p| p.rate(), 0),
        ("create p99 ms", Load::CreateJson, &|p| p.p99_ms, 2),
        (
            "server CPU µs per create",
            Load::CreateJson,
            &|p| p.per_op(p.server_cpu_us),
            0,
        ),
        (
            "memory (RSS growth) per stored 1 KiB secret, bytes",
            Load::CreateJson,
            &|p| p.per_op(p.rss_bytes),
            0,
        ),
        ("cycles/s", Load::Cycle, &|p| p.rate(), 0),
        ("read-locked cycles/s", Load::LockedCycle, &|p| p.rate(), 0),
        (
            "server CPU µs per cycle",
            Load::Cycle,
            &|p| p.per_op(p.server_cpu_us),
            0,
        ),
    ];
    for (name, load, f, digits) in rows {
        let v = emb(load, f);
        let _ = writeln!(
            s,
            "| {name} | {} | {} |",
            join(&v, digits),
            num(mean(v.iter().copied()), digits)
        );
    }
    if let Some(top) = profile {
        let _ = write!(
            s,
            "\n### Profile of our server under JSON creates (`cargo xtask bench-server --profile`, \
             perf cpu-clock, self time, ≥ 1 %)\n\n```text\n{top}```\n"
        );
    }
    s
}

fn table(rounds: &Rounds, floor: Option<(f64, f64)>) -> String {
    let mut s = String::from(
        "| measure | ours (each round) | Hakanai 3.0.7 (each round) | ours ÷ Hakanai |\n\
         |---|---:|---:|---:|\n",
    );
    // Hakanai has no raw create, so its series for that row is empty and shown as "—".
    let row = |name: &str, load: Load, f: &dyn Fn(&Phase) -> f64, digits: usize| {
        let ours = series(rounds, Subject::Ours, load, f);
        (
            name.to_string(),
            digits,
            ours,
            series(rounds, Subject::Hakanai, load, f),
        )
    };
    let rows = [
        row("creates/s (JSON)", Load::CreateJson, &|p| p.rate(), 0),
        row("create p50 ms", Load::CreateJson, &|p| p.p50_ms, 2),
        row("create p99 ms", Load::CreateJson, &|p| p.p99_ms, 2),
        row("creates/s (raw body)", Load::CreateRaw, &|p| p.rate(), 0),
        row("create+read cycles/s", Load::Cycle, &|p| p.rate(), 0),
        row("cycle request p50 ms", Load::Cycle, &|p| p.p50_ms, 2),
        row("cycle request p99 ms", Load::Cycle, &|p| p.p99_ms, 2),
        row(
            "read-locked cycles/s (as our clients make them)",
            Load::LockedCycle,
            &|p| p.rate(),
            0,
        ),
        row(
            "read-locked cycle request p99 ms",
            Load::LockedCycle,
            &|p| p.p99_ms,
            2,
        ),
        row(
            "server CPU µs per create",
            Load::CreateJson,
            &|p| p.per_op(p.server_cpu_us),
            0,
        ),
        row(
            "server CPU µs per cycle",
            Load::Cycle,
            &|p| p.per_op(p.server_cpu_us),
            0,
        ),
        row(
            "Redis CPU µs per create",
            Load::CreateJson,
            &|p| p.per_op(p.redis_cpu_us),
            1,
        ),
        row(
            "Redis CPU µs per cycle",
            Load::Cycle,
            &|p| p.per_op(p.redis_cpu_us),
            1,
        ),
        row(
            "Redis bytes per stored secret",
            Load::CreateJson,
            &|p| p.per_op(p.redis_bytes),
            0,
        ),
        row(
            "Redis keys per stored secret",
            Load::CreateJson,
            &|p| p.per_op(p.redis_keys),
            2,
        ),
        (
            "failed requests (all phases)".to_string(),
            0,
            failed(rounds, Subject::Ours),
            failed(rounds, Subject::Hakanai),
        ),
    ];
    for (name, digits, ours, theirs) in rows {
        let (mo, mt) = (mean(ours.iter().copied()), mean(theirs.iter().copied()));
        let ratio = if theirs.is_empty() || mt == 0.0 {
            "—".to_string()
        } else {
            format!("{:.2}×", mo / mt)
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {ratio} |",
            join(&ours, digits),
            if theirs.is_empty() {
                "—".to_string()
            } else {
                join(&theirs, digits)
            }
        );
    }
    if let Some((floor_us, floor_rate)) = floor {
        let ours = mean(
            series(rounds, Subject::Ours, Load::CreateJson, &|p| {
                p.per_op(p.redis_cpu_us)
            })
            .into_iter(),
        );
        let _ = write!(
            s,
            "\nFloor: a plain `SET key <1 KiB> PX {ttl}` from `redis-benchmark` ({CONNECTIONS} \
             clients, no pipelining, {rate:.0} op/s) costs Redis {floor_us:.1} µs per command; \
             our Redis CPU per create is {ratio:.2}× that.\n",
            ttl = TTL_SECS * 1000,
            rate = floor_rate,
            ratio = ours / floor_us.max(f64::MIN_POSITIVE),
        );
    }
    s
}

/// The floor server's rows beside ours, Hakanai's and the 2× target, from the logged rounds.
fn ceiling(rounds: &Rounds) -> String {
    let mut s = String::from(
        "\nWhat this machine leaves for a server: `cargo xtask bench-floor-server` (started by \
         this harness between the two servers in each round) speaks just enough HTTP for wrk \
         and does only the Redis command a request cannot do without — a create is one \
         `SET key <body> PX` of the body as it came (no JSON, no base64, no checks, no log, \
         no metrics), a read one `GETDEL` — on one blocking thread and Redis connection per \
         client connection.\n\n\
         | measure | floor server (each round) | ours (mean) | Hakanai 3.0.7 (mean) | 2× Hakanai (target) | floor ÷ Hakanai |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    type Row<'a> = (&'a str, Load, &'a dyn Fn(&Phase) -> f64, usize);
    let rows: [Row; 4] = [
        ("creates/s (JSON)", Load::CreateJson, &|p| p.rate(), 0),
        ("create+read cycles/s", Load::Cycle, &|p| p.rate(), 0),
        (
            "server CPU µs per create",
            Load::CreateJson,
            &|p| p.per_op(p.server_cpu_us),
            0,
        ),
        (
            "Redis CPU µs per create",
            Load::CreateJson,
            &|p| p.per_op(p.redis_cpu_us),
            1,
        ),
    ];
    for (i, (name, load, f, digits)) in rows.into_iter().enumerate() {
        let floor = series(rounds, Subject::Floor, load, f);
        let ours = mean(series(rounds, Subject::Ours, load, f).into_iter());
        let theirs = mean(series(rounds, Subject::Hakanai, load, f).into_iter());
        let target = if i < 2 {
            num(2.0 * theirs, digits)
        } else {
            "—".to_string()
        };
        let ratio = if theirs > 0.0 {
            format!("{:.2}×", mean(floor.iter().copied()) / theirs)
        } else {
            "—".to_string()
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {target} | {ratio} |",
            join(&floor, digits),
            num(ours, digits),
            num(theirs, digits),
        );
    }
    s
}

fn failed(rounds: &Rounds, subject: Subject) -> Vec<f64> {
    rounds
        .iter()
        .filter_map(|r| r.iter().find(|(s, _)| *s == subject))
        .map(|(_, phases)| phases.iter().map(|(_, p)| p.failed as f64).sum())
        .collect()
}

fn num(v: f64, digits: usize) -> String {
    let s = format!("{v:.digits$}");
    if digits > 0 || v.abs() < 10_000.0 {
        return s;
    }
    // Thousands separators for large integers.
    let mut out = String::new();
    for (i, c) in s.chars().rev().enumerate() {
        if i > 0 && i % 3 == 0 && c != '-' {
            out.push(',');
        }
        out.push(c);
    }
    out.chars().rev().collect()
}

fn join(v: &[f64], digits: usize) -> String {
    v.iter()
        .map(|x| num(*x, digits))
        .collect::<Vec<_>>()
        .join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_wrk_line() {
        let out = "Running 10s test\nwrk requests=120 duration_us=1000000 failed=2 reads=50 \
                   p50_us=1500 p99_us=9000\n";
        let r = WrkResult::parse(out).unwrap();
        assert_eq!(
            r,
            WrkResult {
                requests: 120,
                duration_us: 1_000_000,
                failed: 2,
                reads: 50,
                p50_us: 1500,
                p99_us: 9000
            }
        );
        assert!(WrkResult::parse("no line").is_err());
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn perf_lines_lose_their_padding() {
        let line = "     5.78%  [kernel.kallsyms]  [k] _raw_spin_unlock_irqrestore        -      -";
        assert_eq!(
            compact(line),
            "5.78%  [kernel.kallsyms]  [k] _raw_spin_unlock_irqrestore"
        );
    }

    #[test]
    fn large_numbers_get_separators() {
        assert_eq!(num(19_405.2, 0), "19,405");
        assert_eq!(num(1427.0, 0), "1427");
        assert_eq!(num(2.456, 2), "2.46");
    }
}

//! `cargo xtask bench-server`: drives a release `hakanai-server` on a real Redis with the
//! `oha` load generator (installed if missing) through `server/bench/run.sh`, and writes the
//! `hakanai-server throughput` section of `BENCHMARKS.md`.

use crate::bench::{machine, replace_section, today_utc};
use crate::setup::on_path;
use crate::shell::{flags, root, Cmd, Error, Result};

const START: &str = "<!-- bench:server:start -->";
const END: &str = "<!-- bench:server:end -->";

pub fn run(args: &[String]) -> Result<()> {
    flags("bench-server", args, &[])?;
    crate::setup::run(&[])?;
    if !on_path("oha") {
        println!("bench-server: installing the load generator oha");
        Cmd::cargo().args(["install", "--locked", "oha"]).run()?;
    }
    let lines = Cmd::new("bash").arg("server/bench/run.sh").read()?;
    println!("{}", lines.trim_end());
    let row = |name: &str| {
        lines
            .lines()
            .find(|l| l.contains(&format!("\"bench\": \"{name}\"")))
    };
    let field = |line: Option<&str>, key: &str| -> String {
        line.and_then(|l| l.split_once(&format!("\"{key}\": ")))
            .map(|(_, rest)| {
                rest.split([',', '}'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .unwrap_or_else(|| "?".into())
    };
    let (raw, json, cycle, memory) = (
        row("create_1k"),
        row("create_1k_json"),
        row("create_read_cycle_1k"),
        row("redis_bytes_per_1k_secret"),
    );
    let machine: String = machine(None).iter().map(|m| format!("- {m}\n")).collect();
    let section = format!(
        "## hakanai-server throughput\n\n\
         Measured {date} (UTC) with `cargo xtask bench-server` (oha and the load generator on the \
         same 2-core machine as the server and Redis, so absolute numbers are conservative; \
         10 s per run, 50 connections).\n\n{machine}\n\
         | measure | result | p50 ms | p99 ms |\n|---|---:|---:|---:|\n\
         | create, raw 1 KiB body | {raw_rps} req/s | {raw_p50} | {raw_p99} |\n\
         | create, JSON (base64) 1 KiB | {json_rps} req/s | {json_p50} | {json_p99} |\n\
         | create + read cycles, 1 KiB | {cyc} cycles/s | {cyc_p50} | {cyc_p99} |\n\
         | Redis memory per stored 1 KiB secret | {mem} bytes ({over} over the payload) | | |\n",
        date = today_utc(),
        raw_rps = field(raw, "req_per_sec"),
        raw_p50 = field(raw, "p50_ms"),
        raw_p99 = field(raw, "p99_ms"),
        json_rps = field(json, "req_per_sec"),
        json_p50 = field(json, "p50_ms"),
        json_p99 = field(json, "p99_ms"),
        cyc = field(cycle, "cycles_per_sec"),
        cyc_p50 = field(cycle, "p50_ms"),
        cyc_p99 = field(cycle, "p99_ms"),
        mem = field(memory, "bytes_per_secret"),
        over = field(memory, "overhead_over_payload"),
    );
    let path = root().join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let new = replace_section(&old, START, END, &section)?;
    std::fs::write(&path, new)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    println!("bench-server: updated BENCHMARKS.md (section `hakanai-server throughput`)");
    Ok(())
}

//! `cargo xtask bench`: crypto-core throughput, native and in headless Chromium, written
//! to the `crypto-core throughput` section of `BENCHMARKS.md`.
//!
//! - native: `cargo run --release -p hakanai-crypto-core --example bench` prints a
//!   markdown fragment on stdout, embedded as is;
//! - browser: the release npm package (see `wasm`), measured by `web-wasm/bench/run.mjs`
//!   (playwright-core + system Chromium), which prints markdown on stdout and writes
//!   `key=value` facts (Chromium version) to the file given with `--meta`.
//!
//! Only the text between the section markers is replaced, so other sections survive.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::shell::{flags, root, Cmd, Error, Result};
use crate::wasm;

const START: &str = "<!-- bench:crypto-core:start -->";
const END: &str = "<!-- bench:crypto-core:end -->";

pub fn run(args: &[String]) -> Result<()> {
    flags("bench", args, &[])?;
    let root = root();

    let native = Cmd::cargo()
        .args([
            "run",
            "--release",
            "-p",
            "hakanai-crypto-core",
            "--example",
            "bench",
        ])
        .read()?;
    println!("{}", native.trim_end());

    wasm::build()?;
    println!("wasm: {}: {}", wasm::WASM_FILE, wasm::size()?.describe());
    let meta_path = root.join("target").join("xtask").join("bench-browser.txt");
    std::fs::create_dir_all(meta_path.parent().expect("has a parent"))
        .map_err(|e| Error::new(format!("cannot create target/xtask: {e}")))?;
    let browser = Cmd::new("node")
        .arg("web-wasm/bench/run.mjs")
        .arg("--meta")
        .arg(&meta_path)
        .read()?;
    println!("{}", browser.trim_end());
    let meta = read_meta(&meta_path)?;
    let chromium = meta
        .get("chromium")
        .cloned()
        .unwrap_or_else(|| "unknown".to_string());

    let machine = machine(Some(&chromium));
    let section = render(&Report {
        date: today_utc(),
        machine: &machine,
        native: native.trim(),
        browser: browser.trim(),
    });
    let path = root.join("BENCHMARKS.md");
    let old = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::new(format!("cannot read {}: {e}", path.display()))),
    };
    let new = replace_section(&old, START, END, &section)?;
    std::fs::write(&path, new)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    println!("bench: updated BENCHMARKS.md (section `crypto-core throughput`)");
    Ok(())
}

fn read_meta(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// Markdown list items describing this machine.
/// The machine description shared by every benchmark section.
pub fn machine(chromium: Option<&str>) -> Vec<String> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let cores = Cmd::new("nproc").probe().map(|s| s.trim().to_string());
    let mem_kib: Option<u64> = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok());
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let rustc = Cmd::new("rustc").arg("--version").probe();
    vec![
        format!(
            "CPU: {cpu}, {} cores (`nproc`)",
            cores.as_deref().unwrap_or("?")
        ),
        match mem_kib {
            Some(kib) => format!("Memory: {:.1} GiB", kib as f64 / 1_048_576.0),
            None => "Memory: unknown".to_string(),
        },
        format!("OS: {os}"),
        format!("rustc: `{}`", rustc.as_deref().unwrap_or("unknown").trim()),
    ]
    .into_iter()
    .chain(chromium.map(|c| format!("Browser: Chromium {c} (headless, driven by playwright-core)")))
    .collect()
}

struct Report<'a> {
    date: String,
    machine: &'a [String],
    native: &'a str,
    browser: &'a str,
}

fn render(r: &Report<'_>) -> String {
    let machine: String = r.machine.iter().map(|m| format!("- {m}\n")).collect();
    format!(
        "## crypto-core throughput\n\
         \n\
         Measured {date} (UTC). Reproduce with `cargo xtask bench`, which rewrites only this \
         section. MB/s means 10^6 bytes per second, best of several runs.\n\
         \n\
         {machine}\
         \n\
         ### Native (`cargo run --release -p hakanai-crypto-core --example bench`)\n\
         \n\
         {native}\n\
         \n\
         ### Browser (`node web-wasm/bench/run.mjs`)\n\
         \n\
         {browser}\n",
        date = r.date,
        native = r.native,
        browser = r.browser,
    )
}

/// `doc` with the text between the markers replaced by `section`; the section is
/// appended when the markers are absent, and a new document gets a title.
pub fn replace_section(
    doc: &str,
    start_marker: &str,
    end_marker: &str,
    section: &str,
) -> Result<String> {
    let block = format!("{start_marker}\n{}\n{end_marker}", section.trim_end());
    match (doc.find(start_marker), doc.find(end_marker)) {
        (Some(start), Some(end)) if start < end => Ok(format!(
            "{}{block}{}",
            &doc[..start],
            &doc[end + end_marker.len()..]
        )),
        (None, None) if doc.trim().is_empty() => Ok(format!("# Benchmarks\n\n{block}\n")),
        (None, None) => Ok(format!("{}\n\n{block}\n", doc.trim_end())),
        _ => Err(Error::new(format!(
            "BENCHMARKS.md has a broken `{start_marker}` … `{end_marker}` pair; fix it by hand"
        ))),
    }
}

pub fn today_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn replaces_only_the_marked_section() {
        let doc = format!("# Benchmarks\n\n{START}\nold\n{END}\n\n## server\nkeep\n");
        let new = replace_section(&doc, START, END, "new\n").unwrap();
        assert_eq!(
            new,
            format!("# Benchmarks\n\n{START}\nnew\n{END}\n\n## server\nkeep\n")
        );
        assert_eq!(
            replace_section(&new, START, END, "new\n").unwrap(),
            new,
            "idempotent"
        );
    }

    #[test]
    fn creates_or_appends_the_section() {
        let fresh = replace_section("", START, END, "s").unwrap();
        assert_eq!(fresh, format!("# Benchmarks\n\n{START}\ns\n{END}\n"));
        let appended = replace_section("# Benchmarks\n\n## server\nx\n", START, END, "s").unwrap();
        assert_eq!(
            appended,
            format!("# Benchmarks\n\n## server\nx\n\n{START}\ns\n{END}\n")
        );
    }

    #[test]
    fn refuses_broken_markers() {
        assert!(replace_section(&format!("{END}\n{START}\n"), START, END, "s").is_err());
        assert!(replace_section(&format!("{START}\n"), START, END, "s").is_err());
    }

    #[test]
    fn renders_both_tables() {
        let machine = vec!["CPU: x".to_string()];
        let text = render(&Report {
            date: "2026-11-27".to_string(),
            machine: &machine,
            native: "| n |",
            browser: "| b |",
        });
        assert!(text.starts_with("## crypto-core throughput\n"), "{text}");
        assert!(text.contains("- CPU: x\n\n### Native"), "{text}");
        assert!(text.contains("`cargo xtask bench`"), "{text}");
        assert!(
            text.contains("\n| n |\n") && text.contains("\n| b |\n"),
            "{text}"
        );
    }
}

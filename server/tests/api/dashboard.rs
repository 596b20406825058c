//! The Grafana dashboard (`deploy/grafana/hakanai.json`) checked against a real scrape: every
//! metric and label a panel queries must be one the server exports, and the dashboard's `job`
//! must be the one the seed's Prometheus scrape config sets.
//!
//! The PromQL is not evaluated; a small tokenizer pulls out each selector (metric name, label
//! matchers) and the `by`/`without`/`on`/`ignoring`/`group_*` label lists that apply to it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use prometheus_parse::{Scrape, Value};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

use crate::helpers::{spawn_app, Backend, TestApp};

// ---- PromQL subset ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// Numbers and durations (`0.99`, `5m`, `1e3`).
    Num,
    /// A Grafana variable: `$job`, `${job}`, `$__rate_interval`.
    Var,
    /// `[5m]`, `[$__rate_interval]`, `[1h:5m]`: a range or subquery, contents skipped.
    Range,
    Op(&'static str),
    Open,
    Close,
    LBrace,
    RBrace,
    Comma,
}

fn tokenize(expr: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '(' | ')' | '{' | '}' | ',' => {
                out.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    _ => Tok::Comma,
                });
                i += 1;
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .ok_or("unclosed [")?;
                out.push(Tok::Range);
                i += end + 1;
            }
            '"' | '\'' | '`' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err("unterminated string".into());
                    };
                    i += 1;
                    if d == c {
                        break;
                    }
                    if d == '\\' && c != '`' {
                        let e = *chars.get(i).ok_or("unterminated string")?;
                        i += 1;
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    } else {
                        s.push(d);
                    }
                }
                out.push(Tok::Str(s));
            }
            '$' => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    let end = chars[i..]
                        .iter()
                        .position(|&c| c == '}')
                        .ok_or("unclosed ${")?;
                    i += end + 1;
                } else {
                    while i < chars.len() && ident_char(chars[i]) {
                        i += 1;
                    }
                }
                out.push(Tok::Var);
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                out.push(Tok::Num);
            }
            c if ident_start(c) => {
                let start = i;
                while i < chars.len() && ident_char(chars[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            _ => {
                let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let op = ["=~", "!~", "!=", "==", ">=", "<="]
                    .into_iter()
                    .find(|op| two == *op);
                let op = match op {
                    Some(op) => op,
                    None => match c {
                        '=' => "=",
                        '<' => "<",
                        '>' => ">",
                        '+' => "+",
                        '-' => "-",
                        '*' => "*",
                        '/' => "/",
                        '%' => "%",
                        '^' => "^",
                        '@' => "@",
                        other => return Err(format!("unexpected character {other:?}")),
                    },
                };
                i += op.len();
                out.push(Tok::Op(op));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
struct Matcher {
    label: String,
    op: &'static str,
    value: String,
}

/// One metric selector and every label name a grouping applies to it.
#[derive(Debug, Clone, PartialEq)]
struct Selector {
    name: String,
    matchers: Vec<Matcher>,
    grouping: BTreeSet<String>,
    /// Labels of `on`/`ignoring`/`group_*`: they must exist on some selector of the expression.
    matching: BTreeSet<String>,
}

/// Keywords that are not metric names when not followed by `(`.
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN", "start", "end",
];
const GROUPING: &[&str] = &["by", "without"];
const MATCHING: &[&str] = &["on", "ignoring", "group_left", "group_right"];

fn selectors(expr: &str) -> Result<Vec<Selector>, String> {
    let toks = tokenize(expr)?;
    // Matching parentheses, both ways.
    let mut pair = HashMap::new();
    let mut stack = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Open => stack.push(i),
            Tok::Close => {
                let o = stack.pop().ok_or("unbalanced )")?;
                pair.insert(o, i);
                pair.insert(i, o);
            }
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("unbalanced (".into());
    }
    // A parenthesised label list starting at `open`.
    let label_list = |open: usize| -> Result<(Vec<String>, usize), String> {
        let close = pair[&open];
        let mut labels = Vec::new();
        for (k, t) in toks[open + 1..close].iter().enumerate() {
            match (k % 2, t) {
                (0, Tok::Ident(l)) => labels.push(l.clone()),
                (1, Tok::Comma) => {}
                _ => return Err(format!("bad label list: {t:?}")),
            }
        }
        Ok((labels, close))
    };
    let mut found: Vec<(usize, Selector)> = Vec::new();
    let mut scoped: Vec<((usize, usize), Vec<String>)> = Vec::new();
    let mut matching = BTreeSet::new();
    let mut i = 0;
    while i < toks.len() {
        let next_is = |t: Tok| toks.get(i + 1) == Some(&t);
        match &toks[i] {
            Tok::Ident(w) if GROUPING.contains(&w.as_str()) => {
                if !next_is(Tok::Open) {
                    return Err(format!("{w} without a label list"));
                }
                let (labels, close) = label_list(i + 1)?;
                // `sum(x) by (l)` groups the preceding argument, `sum by (l) (x)` the next one.
                let scope = if i > 0 && toks[i - 1] == Tok::Close {
                    (pair[&(i - 1)], i - 1)
                } else if toks.get(close + 1) == Some(&Tok::Open) {
                    (close + 1, pair[&(close + 1)])
                } else {
                    return Err(format!("{w} (...) applies to nothing"));
                };
                scoped.push((scope, labels));
                i = close + 1;
            }
            Tok::Ident(w) if MATCHING.contains(&w.as_str()) => {
                if next_is(Tok::Open) {
                    let (labels, close) = label_list(i + 1)?;
                    matching.extend(labels);
                    i = close + 1;
                } else if w.starts_with("group_") {
                    i += 1;
                } else {
                    return Err(format!("{w} without a label list"));
                }
            }
            Tok::Ident(w) if KEYWORDS.contains(&w.as_str()) => i += 1,
            // A function or aggregation: `f(`, `sum by`, `sum without`.
            Tok::Ident(_)
                if next_is(Tok::Open)
                    || next_is(Tok::Ident("by".into()))
                    || next_is(Tok::Ident("without".into())) =>
            {
                i += 1
            }
            Tok::Ident(name) => {
                let mut sel = Selector {
                    name: name.clone(),
                    matchers: Vec::new(),
                    grouping: BTreeSet::new(),
                    matching: BTreeSet::new(),
                };
                let at = i;
                i += 1;
                if toks.get(i) == Some(&Tok::LBrace) {
                    i += 1;
                    loop {
                        match toks.get(i..i + 3) {
                            Some([Tok::RBrace, ..]) => {
                                i += 1;
                                break;
                            }
                            Some([Tok::Ident(l), Tok::Op(op), Tok::Str(v)])
                                if ["=", "!=", "=~", "!~"].contains(op) =>
                            {
                                sel.matchers.push(Matcher {
                                    label: l.clone(),
                                    op,
                                    value: v.clone(),
                                });
                                i += 3;
                                match toks.get(i) {
                                    Some(Tok::Comma) => i += 1,
                                    Some(Tok::RBrace) => {}
                                    other => {
                                        return Err(format!("in {name}{{...}}: {other:?}"));
                                    }
                                }
                            }
                            _ => {
                                if toks.get(i) == Some(&Tok::RBrace) {
                                    i += 1;
                                    break;
                                }
                                return Err(format!("bad matcher in {name}{{...}}"));
                            }
                        }
                    }
                }
                found.push((at, sel));
            }
            Tok::LBrace => return Err("a selector without a metric name".into()),
            _ => i += 1,
        }
    }
    for (at, sel) in found.iter_mut() {
        let at = *at;
        for ((from, to), labels) in &scoped {
            if (*from..=*to).contains(&at) {
                sel.grouping.extend(labels.iter().cloned());
            }
        }
        sel.matching = matching.clone();
    }
    Ok(found.into_iter().map(|(_, s)| s).collect())
}

// ---- the scrape ----

struct Family {
    histogram: bool,
    series: Vec<HashMap<String, String>>,
}

fn families(s: &Scrape) -> HashMap<String, Family> {
    let mut out: HashMap<String, Family> = HashMap::new();
    for x in &s.samples {
        let f = out.entry(x.metric.clone()).or_insert(Family {
            histogram: false,
            series: Vec::new(),
        });
        f.histogram |= matches!(x.value, Value::Histogram(_));
        f.series.push((*x.labels).clone());
    }
    out
}

/// Labels Prometheus adds at scrape time.
const TARGET_LABELS: &[&str] = &["job", "instance"];

/// Every problem with one expression, against the scraped families.
fn check_expr(expr: &str, fams: &HashMap<String, Family>) -> Vec<String> {
    // Grafana's `label_values(selector, label)` (variable queries).
    if let Some(inner) = expr
        .trim()
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (sel, label) = inner.rsplit_once(',').unwrap_or(("", inner));
        let fake = format!("sum by ({}) ({})", label.trim(), sel);
        return check_expr(&fake, fams);
    }
    let sels = match selectors(expr) {
        Ok(s) if s.is_empty() => return vec!["no metric selector".into()],
        Ok(s) => s,
        Err(e) => return vec![format!("cannot tokenize: {e}")],
    };
    let mut problems = Vec::new();
    let mut all_labels = BTreeSet::new();
    for sel in &sels {
        let name = &sel.name;
        let hist_part = ["_bucket", "_sum", "_count"]
            .into_iter()
            .find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                fams.get(base)
                    .filter(|f| f.histogram)
                    .map(|f| (f, suffix == "_bucket"))
            });
        let (fam, bucket) = match (hist_part, fams.get(name)) {
            (Some((f, b)), _) => (f, b),
            (None, Some(f)) if f.histogram => {
                problems.push(format!(
                    "{name} is a histogram: query {name}_bucket, _sum or _count"
                ));
                continue;
            }
            (None, Some(f)) => (f, false),
            (None, None) => {
                problems.push(format!("metric {name} is not exported by the server"));
                continue;
            }
        };
        let mut carried: BTreeSet<&str> = fam
            .series
            .iter()
            .flat_map(|s| s.keys().map(String::as_str))
            .collect();
        carried.extend(TARGET_LABELS);
        if bucket {
            carried.insert("le");
        }
        all_labels.extend(carried.iter().map(|l| l.to_string()));
        if !sel
            .matchers
            .iter()
            .any(|m| m.label == "job" && m.op == "=" && m.value == "$job")
        {
            problems.push(format!("{name} has no job=\"$job\" matcher"));
        }
        let used = sel.matchers.iter().map(|m| &m.label).chain(&sel.grouping);
        for label in used {
            if !carried.contains(label.as_str()) {
                problems.push(format!(
                    "{name} has no label {label} (it has {})",
                    carried.iter().copied().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        for m in &sel.matchers {
            if m.value.contains('$') || !carried.contains(m.label.as_str()) {
                continue;
            }
            let values = || fam.series.iter().filter_map(|s| s.get(&m.label));
            if TARGET_LABELS.contains(&m.label.as_str()) {
                problems.push(format!(
                    "{name}{{{}=\"{}\"}}: use the dashboard variable",
                    m.label, m.value
                ));
            } else if m.op == "=" && !m.value.is_empty() && !values().any(|v| *v == m.value) {
                problems.push(format!(
                    "{name}{{{}=\"{}\"}} matches no series (values: {})",
                    m.label,
                    m.value,
                    values()
                        .cloned()
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            } else if m.op == "=~" && m.label == "http_route" {
                match regex::Regex::new(&format!("^(?:{})$", m.value)) {
                    Err(e) => problems.push(format!("{name}: bad regex {:?}: {e}", m.value)),
                    Ok(re) if !values().any(|v| re.is_match(v)) => problems.push(format!(
                        "{name}{{http_route=~\"{}\"}} matches no scraped route",
                        m.value
                    )),
                    Ok(_) => {}
                }
            }
        }
    }
    for label in sels
        .iter()
        .flat_map(|s| &s.matching)
        .collect::<BTreeSet<_>>()
    {
        if !all_labels.contains(label) {
            problems.push(format!("no selector carries the on/ignoring label {label}"));
        }
    }
    problems
}

// ---- the files ----

fn workspace_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn dashboard() -> Json {
    let path = workspace_path("deploy/grafana/hakanai.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `(panel title, expression)` for every target, rows' nested panels included.
fn panel_exprs(dash: &Json) -> Vec<(String, String)> {
    fn walk(panels: &Json, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_owned();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((title.clone(), e.to_owned()));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

fn variable<'a>(dash: &'a Json, name: &str) -> &'a Json {
    dash["templating"]["list"]
        .as_array()
        .and_then(|l| l.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("the dashboard has no ${name} variable"))
}

/// The seed's guide, found by walking up from the crate to a directory holding
/// `shared/seed/DEPLOYMENT.md`.
fn seed_guide() -> String {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = start
        .ancestors()
        .map(|d| d.join("shared/seed/DEPLOYMENT.md"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no shared/seed/DEPLOYMENT.md in {} or any parent: the dashboard's job \
                 is checked against the seed's Prometheus scrape config",
                start.display()
            )
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `key: value` of the first line after `after` naming `key`, quotes removed.
fn yaml_value(text: &str, after: usize, key: &str) -> Option<(usize, String)> {
    let mut pos = after;
    for line in text[after..].split_inclusive('\n') {
        let t = line.trim().trim_start_matches("- ");
        if let Some(v) = t.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            let v = v.split(" #").next().unwrap_or("").trim();
            return Some((pos, v.trim_matches(['\'', '"']).to_owned()));
        }
        pos += line.len();
    }
    None
}

/// `(job_name, metrics_path)` of the seed's scrape config.
fn seed_scrape_config(guide: &str) -> (String, String) {
    let start = guide
        .find("scrape_configs:")
        .expect("the seed's DEPLOYMENT.md has no scrape_configs");
    let (at, job) =
        yaml_value(guide, start, "job_name").expect("the seed's scrape config has no job_name");
    let (_, path) = yaml_value(guide, at, "metrics_path")
        .expect("the seed's scrape config has no metrics_path");
    (job, path)
}

// ---- traffic ----

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// An audit receiver answering 200.
async fn webhook_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/hook", post(|| async {}));
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/hook")
}

/// Requests that make every series the dashboard reads exist.
async fn traffic(app: &TestApp) {
    let plain = app.create("YWJj", json!(null)).await;
    assert_eq!(app.get_secret(&plain.id).await.status(), 200);
    let fenced = app
        .create(
            "ZGVm",
            json!({"allowed_ips": ["127.0.0.1"], "passphrase_hash": sha256_hex("pw")}),
        )
        .await;
    let read = |pass: &'static str| {
        app.client
            .get(app.secret_url(&fenced.id))
            .header("x-secret-passphrase", pass)
            .send()
    };
    assert_eq!(read("wrong").await.unwrap().status(), 401);
    assert_eq!(read("pw").await.unwrap().status(), 200);
    let revoked = app.create("Z2hp", json!(null)).await;
    let resp = app
        .client
        .delete(app.secret_url(&revoked.id))
        .header("x-creator-token", &revoked.creator_token)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "revoke: {}", resp.status());
    // 404 for an unknown id, 413, a secret link page, and a path no route matches.
    assert_eq!(
        app.get_secret("01ARZ3NDEKTSV4RRFFQ69G5FAV").await.status(),
        404
    );
    let big = "A".repeat(4096);
    assert_eq!(app.post_json(json!({"data": big})).await.status(), 413);
    let page = app.client.get(app.url(&format!("/s/{}", plain.id))).send();
    page.await.unwrap();
    let other = app.client.get(app.url("/no-such-page")).send().await;
    assert_eq!(other.unwrap().status(), 404);
}

async fn scrape(app: &TestApp, metrics_path: &str) -> Scrape {
    let resp = app.client.get(app.url(metrics_path)).send().await.unwrap();
    assert_eq!(resp.status(), 200, "the app does not serve {metrics_path}");
    let text = resp.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text")
}

/// Families the dashboard leaves out on purpose: our names for numbers it shows under
/// Hakanai v3's (`hakanai_active_tokens`, `http_server_duration_seconds`).
const NOT_ON_DASHBOARD: &[&str] = &["hakanai_tokens_active", "hakanai_request_duration_seconds"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_only_what_the_server_exports() {
    let dash = dashboard();
    let (job, metrics_path) = seed_scrape_config(&seed_guide());
    assert_eq!(
        variable(&dash, "job")["current"]["value"],
        job,
        "the dashboard's job default is not the seed's scrape job_name"
    );
    assert_eq!(metrics_path, "/metrics", "the seed scrapes another path");
    assert_eq!(dash["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(dash["__inputs"][0]["pluginId"], "prometheus");

    // Redis for hakanai_redis_operations_total (the embedded store counts nothing), a webhook
    // for hakanai_webhook_events_total.
    let hook = webhook_receiver().await;
    let mut app = spawn_app(Backend::Redis, |c| {
        c.upload_size_limit = 1024;
        c.webhook_url = Some(hook);
    })
    .await;
    traffic(&app).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = scrape(&app, &metrics_path).await;
        let delivered = s.samples.iter().any(|x| {
            x.metric == "hakanai_webhook_events_total"
                && x.labels.get("outcome") == Some("delivered")
        });
        if delivered || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Redis gone: a read fails, so result="error" exists (and a 5xx status code).
    app.redis.as_mut().expect("a Redis").stop();
    let failed = app.get_secret("01ARZ3NDEKTSV4RRFFQ69G5FAV").await.status();
    assert!(failed.is_server_error(), "a read without Redis: {failed}");
    let fams = families(&scrape(&app, &metrics_path).await);

    let exprs = panel_exprs(&dash);
    assert!(exprs.len() > 30, "only {} panel expressions", exprs.len());
    let mut problems = Vec::new();
    for (title, expr) in &exprs {
        for p in check_expr(expr, &fams) {
            problems.push(format!("panel {title:?}: {p}\n    {expr}"));
        }
    }
    for v in dash["templating"]["list"].as_array().unwrap() {
        let q = v["query"]["query"].as_str().or(v["query"].as_str());
        if let (Some(q), Some("query")) = (q, v["type"].as_str()) {
            for p in check_expr(q, &fams) {
                // label_values(target_info, job) has no job matcher to give.
                if !p.contains("no job=") {
                    problems.push(format!(
                        "variable ${}: {p}\n    {q}",
                        v["name"].as_str().unwrap()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));

    // Everything the server exports (its own families, not _sum/_count) is on some panel.
    let used: BTreeSet<String> = exprs
        .iter()
        .flat_map(|(_, e)| selectors(e).unwrap())
        .map(|s| {
            ["_bucket", "_sum", "_count"]
                .into_iter()
                .find_map(|x| s.name.strip_suffix(x).filter(|b| fams.contains_key(*b)))
                .map_or(s.name.clone(), str::to_owned)
        })
        .collect();
    let missing: Vec<&String> = fams
        .iter()
        .filter(|(name, _)| !name.ends_with("_sum") && !name.ends_with("_count"))
        .map(|(name, _)| name)
        .filter(|n| !used.contains(*n) && !NOT_ON_DASHBOARD.contains(&n.as_str()))
        .collect();
    assert!(missing.is_empty(), "exported but on no panel: {missing:?}");

    // The checker is not vacuous against this scrape: a misspelt name fails.
    let wrong = r#"sum(hakanai_active_secret{job="$job"})"#;
    assert!(!check_expr(wrong, &fams).is_empty());
}

// ---- the checker itself ----

const SAMPLE: &str = r#"# TYPE hakanai_secrets_created_total counter
hakanai_secrets_created_total{user_type="anonymous"} 1
hakanai_secrets_created_total{user_type="authenticated"} 2
# TYPE http_server_duration_seconds histogram
http_server_duration_seconds_bucket{http_route="/s/:id",http_request_method="GET",http_response_status_code="200",le="0.1"} 1
http_server_duration_seconds_bucket{http_route="/s/:id",http_request_method="GET",http_response_status_code="200",le="+Inf"} 1
http_server_duration_seconds_sum{http_route="/s/:id",http_request_method="GET",http_response_status_code="200"} 0.01
http_server_duration_seconds_count{http_route="/s/:id",http_request_method="GET",http_response_status_code="200"} 1
"#;

fn sample() -> HashMap<String, Family> {
    families(&Scrape::parse(SAMPLE.lines().map(|l| Ok(l.to_owned()))).unwrap())
}

#[test]
fn tokenizer_finds_selectors_and_their_groupings() {
    let s = selectors(
        r#"histogram_quantile(0.99, sum(rate(a_bucket{job="$job", x=~"y|z"}[$__rate_interval])) by (le, r))
           / on (r) group_left sum by (q) (increase(b[5m] offset 1h)) > bool 0.5 and c"#,
    )
    .unwrap();
    let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a_bucket", "b", "c"]);
    assert_eq!(
        s[0].matchers[1],
        Matcher {
            label: "x".into(),
            op: "=~",
            value: "y|z".into()
        }
    );
    assert_eq!(
        s[0].grouping,
        BTreeSet::from(["le".to_owned(), "r".to_owned()])
    );
    assert_eq!(s[1].grouping, BTreeSet::from(["q".to_owned()]));
    assert!(s[2].grouping.is_empty());
    assert_eq!(s[2].matching, BTreeSet::from(["r".to_owned()]));
    assert!(selectors(r#"{__name__="x"}"#).is_err());
    assert!(selectors("sum(rate(x[5m])").is_err());
}

#[test]
fn checker_accepts_good_and_rejects_bad_expressions() {
    let f = sample();
    let ok = |e: &str| assert_eq!(check_expr(e, &f), Vec::<String>::new(), "{e}");
    let bad = |e: &str, why: &str| {
        let p = check_expr(e, &f);
        assert!(p.iter().any(|p| p.contains(why)), "{e}: {p:?}");
    };
    ok(
        r#"sum by (user_type) (rate(hakanai_secrets_created_total{job="$job", instance=~"$instance"}[5m]))"#,
    );
    ok(
        r#"histogram_quantile(0.5, sum(rate(http_server_duration_seconds_bucket{job="$job", http_route=~"/s/.*"}[5m])) by (le, http_route))"#,
    );
    ok(
        r#"sum(rate(http_server_duration_seconds_count{job="$job", http_response_status_code="200"}[5m]))"#,
    );
    ok("label_values(hakanai_secrets_created_total{job=\"$job\"}, user_type)");
    // A deliberately wrong metric name.
    bad(
        r#"sum(rate(hakanai_secrets_creatd_total{job="$job"}[5m]))"#,
        "hakanai_secrets_creatd_total is not exported",
    );
    bad(
        r#"sum by (reason) (hakanai_secrets_created_total{job="$job"})"#,
        "has no label reason",
    );
    bad(
        r#"hakanai_secrets_created_total{job="$job", user_type="whitelist"}"#,
        "matches no series",
    );
    bad(
        r#"http_server_duration_seconds_count{job="$job", http_route=~"/api/.*"}"#,
        "matches no scraped route",
    );
    bad(
        r#"sum by (le) (hakanai_secrets_created_total{job="$job"})"#,
        "has no label le",
    );
    bad(
        r#"http_server_duration_seconds{job="$job"}"#,
        "is a histogram",
    );
    bad("hakanai_secrets_created_total", "no job=\"$job\" matcher");
    bad(
        r#"hakanai_secrets_created_total{job="hakanai"}"#,
        "use the dashboard variable",
    );
}

#[test]
fn seed_scrape_config_is_read_from_its_yaml() {
    let guide = "x\n```yaml\nscrape_configs:\n  - job_name: 'hakanai'\n    static_configs:\n      \
                 - targets: ['hakanai:8080']\n    metrics_path: \"/metrics\"\n```\n";
    assert_eq!(
        seed_scrape_config(guide),
        ("hakanai".to_owned(), "/metrics".to_owned())
    );
}

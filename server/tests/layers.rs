//! The server's dependency direction (ARCHITECTURE.md § server): every module sits in a layer
//! and uses only modules of lower layers, so there are no cycles and the domain layer knows
//! nothing of HTTP. This reads `server/src` and checks each `crate::…` path (outside
//! `#[cfg(test)]` code) against the table below.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layer of each top-level module of `server/src`, lowest first. A module may use modules of
/// lower layers only.
const LAYERS: &[(&str, u8)] = &[
    // Leaves: plain data, names and parsing.
    ("id", 0),
    ("headers", 0),
    ("labels", 0),
    ("assets", 0),
    ("client_ip", 0),
    ("token_file", 0),
    ("tokens", 0),
    // Configuration, and what is checked against it.
    ("configuration", 1),
    ("settings", 2),
    ("restrictions", 3),
    // Storage and the server loop.
    ("store", 4),
    ("connections", 4),
    ("telemetry", 4),
    ("error", 5),
    // Observation: metrics, then the webhook and the events that feed both.
    ("metrics", 6),
    ("webhook", 7),
    ("events", 8),
    // The domain layer.
    ("domain", 9),
    // HTTP: the state handlers share, the handlers, the router that wires them, startup.
    ("state", 10),
    ("routes", 11),
    ("router", 12),
    ("startup", 13),
];

/// Names the crate root re-exports, and the module each comes from.
const REEXPORTS: &[(&str, &str)] = &[
    ("Config", "configuration"),
    ("Settings", "settings"),
    ("AppState", "state"),
    ("Pages", "state"),
    ("app", "router"),
    ("metrics_app", "router"),
    ("TokenDestination", "token_file"),
    ("TokenKind", "token_file"),
    ("Application", "startup"),
    ("StartupError", "startup"),
];

/// Modules that must not use axum (beyond `axum::http`, the HTTP type vocabulary), tower or
/// hyper: what the server does, apart from how HTTP carries it.
const NO_HTTP: &[&str] = &[
    "domain",
    "error",
    "restrictions",
    "tokens",
    "id",
    "settings",
];

fn production_code(text: &str) -> String {
    let code = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `crate::x` and `crate::{x, y::z}` → the first segment of each path.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = part.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    out.insert(name.to_owned());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::<String, String>::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_str()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            out.entry(top)
                .or_default()
                .push_str(&production_code(&text));
        }
    }
    out
}

#[test]
fn modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let reexport: BTreeMap<&str, &str> = REEXPORTS.iter().copied().collect();
    let mut wrong = Vec::new();
    for (module, code) in modules(&src) {
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&own) = layer.get(module.as_str()) else {
            wrong.push(format!("{module}: not in LAYERS (tests/layers.rs)"));
            continue;
        };
        for used in crate_paths(&code) {
            let target = reexport.get(used.as_str()).copied().unwrap_or(&used);
            if target == module {
                continue;
            }
            match layer.get(target) {
                Some(&l) if l < own => {}
                Some(&l) => wrong.push(format!("{module} (layer {own}) uses {target} (layer {l})")),
                None => wrong.push(format!("{module} uses crate::{used}, which is in no layer")),
            }
        }
        if NO_HTTP.contains(&module.as_str()) {
            let code = code.replace("axum::http::", "");
            for http in ["axum::", "tower", "hyper"] {
                if code.contains(http) {
                    wrong.push(format!(
                        "{module} uses {http} but must know nothing of HTTP"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

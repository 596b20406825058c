//! The Helm chart in `deploy/helm/hakanai`, checked without a `helm` binary.
//!
//! - The templates are rendered here with `gtmpl` (Go text/template) and the Helm/sprig
//!   functions the chart uses, implemented below; every rendered document is parsed as YAML and
//!   its structure asserted, under the default values, the production guide's `--set` line and
//!   variations.
//! - `values.yaml`, and the values after the guide's `--set` keys (parsed as Helm's `--set`
//!   parser does), are validated against `values.schema.json` (JSON Schema draft-07).
//! - Helm's own library (the `helm-sdkpy` wheel's `libhelm_sdkpy.so`, installed by
//!   `cargo xtask setup` at `target/tools/libhelm_sdkpy.so`, or `HELM_SDKPY_LIB`) runs Helm v4's
//!   lint on a copy of the chart for every variation (template syntax, YAML, schema), as
//!   `helm lint` would.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gtmpl::{Context, Func, FuncError, Template, Value};
use serde_json::{json, Value as Json};

// ---------------------------------------------------------------------------------------------
// Files

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn chart_dir() -> PathBuf {
    workspace_root().join("deploy/helm/hakanai")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_to_json(text: &str) -> Json {
    let v: serde_yaml::Value = serde_yaml::from_str(text).expect("valid YAML");
    serde_json::to_value(v).expect("YAML that is JSON")
}

fn default_values() -> Json {
    yaml_to_json(&read(&chart_dir().join("values.yaml")))
}

fn schema() -> Json {
    serde_json::from_str(&read(&chart_dir().join("values.schema.json"))).unwrap()
}

/// The original production guide: `shared/seed/DEPLOYMENT.md` beside the repository (CI lays
/// `shared/` next to the clone) or in any ancestor of it.
fn seed_guide() -> String {
    let root = workspace_root();
    for dir in root.ancestors() {
        let p = dir.join("shared/seed/DEPLOYMENT.md");
        if p.is_file() {
            return read(&p);
        }
    }
    panic!(
        "shared/seed/DEPLOYMENT.md not found in any ancestor of {}",
        root.display()
    );
}

/// The `--set` arguments of the guide's `helm install` command, shell quotes removed.
fn seed_set_args() -> Vec<String> {
    let guide = seed_guide();
    let start = guide
        .find("helm install")
        .expect("a helm install command in the seed guide");
    let mut cmd = String::new();
    for line in guide[start..].lines() {
        let l = line.trim();
        cmd.push_str(l.trim_end_matches('\\'));
        cmd.push(' ');
        if !l.ends_with('\\') {
            break;
        }
    }
    let words = shell_words(&cmd);
    let sets: Vec<String> = words
        .windows(2)
        .filter(|w| w[0] == "--set")
        .map(|w| w[1].clone())
        .collect();
    assert!(
        sets.len() >= 5,
        "too few --set arguments parsed from: {cmd}"
    );
    sets
}

/// Enough of POSIX shell word splitting for the guide: blanks, double and single quotes.
fn shell_words(s: &str) -> Vec<String> {
    let (mut words, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

// ---------------------------------------------------------------------------------------------
// Helm's --set parser (helm.sh/helm/v3/pkg/strvals ParseInto): `a.b[0].c=v,d=w`, `\,` escapes
// a comma, values typed as Helm types them (true/false, null, integers without leading zero).

fn strvals_into(arg: &str, dest: &mut Json) -> Result<(), String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = arg.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    // The escapes are gone from the values; keys never need them here.
    for part in parts {
        let (key, val) = part.split_once('=').ok_or_else(|| {
            let last = part.rsplit('.').next().unwrap_or(&part);
            format!("key {last:?} has no value")
        })?;
        set_path(dest, key, typed(val))?;
    }
    Ok(())
}

fn typed(v: &str) -> Json {
    match v {
        _ if v.eq_ignore_ascii_case("true") => Json::Bool(true),
        _ if v.eq_ignore_ascii_case("false") => Json::Bool(false),
        _ if v.eq_ignore_ascii_case("null") => Json::Null,
        _ if !v.starts_with('0') || v == "0" => v
            .parse::<i64>()
            .map(Json::from)
            .unwrap_or_else(|_| Json::from(v)),
        _ => Json::from(v),
    }
}

fn set_path(dest: &mut Json, key: &str, val: Json) -> Result<(), String> {
    let mut node = dest;
    let segs: Vec<&str> = key.split('.').collect();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let (name, indices) = match seg.find('[') {
            Some(p) => (&seg[..p], &seg[p..]),
            None => (*seg, ""),
        };
        if name.is_empty() {
            return Err(format!("empty key in {key:?}"));
        }
        let map = node
            .as_object_mut()
            .ok_or_else(|| format!("{key:?}: not a map"))?;
        node = map.entry(name.to_string()).or_insert(Json::Null);
        let idx: Vec<usize> = indices
            .split(['[', ']'])
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| format!("bad index in {key:?}")))
            .collect::<Result<_, _>>()?;
        for ix in idx {
            if !node.is_array() {
                *node = json!([]);
            }
            let list = node.as_array_mut().unwrap();
            while list.len() <= ix {
                list.push(Json::Null);
            }
            node = &mut list[ix];
        }
        if last {
            *node = val.clone();
        } else if !node.is_object() {
            *node = json!({});
        }
    }
    Ok(())
}

/// Helm's coalescing of user values over the chart's: maps merge, anything else replaces; a
/// null deletes the key.
fn merge(base: &mut Json, over: &Json) {
    match (base, over) {
        (Json::Object(b), Json::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(bv) = b.get_mut(k).filter(|bv| bv.is_object() && v.is_object()) {
                    merge(bv, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn with_sets(sets: &[&str]) -> Json {
    let mut over = json!({});
    for s in sets {
        strvals_into(s, &mut over).unwrap_or_else(|e| panic!("--set {s}: {e}"));
    }
    let mut values = default_values();
    merge(&mut values, &over);
    values
}

fn with(over: Json) -> Json {
    let mut values = default_values();
    merge(&mut values, &over);
    values
}

// ---------------------------------------------------------------------------------------------
// Schema

fn schema_errors(values: &Json) -> Vec<String> {
    let validator =
        jsonschema::draft7::new(&schema()).expect("values.schema.json is a valid draft-07 schema");
    validator
        .iter_errors(values)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn schema_is_draft7_and_accepts_the_defaults() {
    assert_eq!(
        schema()["$schema"],
        "http://json-schema.org/draft-07/schema#"
    );
    assert_eq!(schema_errors(&default_values()), Vec::<String>::new());
}

#[test]
fn schema_describes_every_default_value() {
    // Every key of values.yaml (outside the open Bitnami and free-form maps) has a schema entry.
    fn walk(v: &Json, s: &Json, path: &str, missing: &mut Vec<String>) {
        let (Some(obj), Some(props)) =
            (v.as_object(), s.get("properties").and_then(Json::as_object))
        else {
            return;
        };
        for (k, child) in obj {
            match props.get(k) {
                Some(cs) => walk(child, cs, &format!("{path}.{k}"), missing),
                None => missing.push(format!("{path}.{k}")),
            }
        }
    }
    let mut missing = Vec::new();
    walk(&default_values(), &schema(), "", &mut missing);
    assert_eq!(
        missing,
        Vec::<String>::new(),
        "values.yaml keys without a schema entry"
    );
}

#[test]
fn schema_rejects_wrong_types_and_unknown_config_keys() {
    for bad in [
        json!({"config": {"enableAdminToken": "yes"}}),
        json!({"config": {"allowAnonymus": true}}),
        json!({"redis": {"replica": {"replicaCount": "three"}}}),
        json!({"externalRedis": {"dsn": "http://redis:6379"}}),
        json!({"podAntiAffinityPreset": "sometimes"}),
        json!({"otel": {"protocol": "udp"}}),
    ] {
        assert!(
            !schema_errors(&with(bad.clone())).is_empty(),
            "accepted {bad}"
        );
    }
}

/// The guide's `--set` keys as Helm parses them into an override map.
fn seed_overrides() -> Json {
    let mut over = json!({});
    for s in &seed_set_args() {
        match strvals_into(s, &mut over) {
            Ok(()) => {}
            // The guide writes config.trustedIpRanges="10.0.0.0/8,192.168.0.0/16": the shell drops
            // the quotes and Helm's --set splits at the comma ("key ... has no value"). Helm needs
            // the comma escaped, as docs/DEPLOYMENT.md writes it; the key and its type are checked
            // with the escape.
            Err(e) if s.starts_with("config.trustedIpRanges=") && s.contains(',') => {
                assert!(e.contains("has no value"), "{s}: {e}");
                strvals_into(&s.replace(',', "\\,"), &mut over).unwrap();
            }
            Err(e) => panic!("--set {s}: {e}"),
        }
    }
    over
}

#[test]
fn seed_guide_set_line_fits_the_schema() {
    let sets = seed_set_args();
    let over = seed_overrides();
    // Every key the guide sets is one the schema describes, with the type Helm gives it.
    let keys: Vec<&str> = sets.iter().map(|s| s.split('=').next().unwrap()).collect();
    for key in [
        "ingress.enabled",
        "ingress.hosts[0].host",
        "ingress.tls[0].secretName",
        "redis.replica.replicaCount",
        "config.allowAnonymous",
        "config.enableAdminToken",
        "config.trustedIpRanges",
    ] {
        assert!(
            keys.contains(&key),
            "the seed guide no longer sets {key}: {keys:?}"
        );
    }
    let mut values = default_values();
    merge(&mut values, &over);
    assert_eq!(schema_errors(&values), Vec::<String>::new());
    assert_eq!(values["redis"]["replica"]["replicaCount"], json!(3));
    assert_eq!(values["config"]["enableAdminToken"], json!(true));
    assert_eq!(
        values["config"]["trustedIpRanges"],
        json!("10.0.0.0/8,192.168.0.0/16")
    );
    // And the chart renders with them.
    let objs = render(&values).unwrap();
    let ing = find(&objs, "Ingress");
    assert_eq!(ing["spec"]["rules"][0]["host"], "secrets.company.com");
    assert_eq!(ing["spec"]["tls"][0]["secretName"], "hakanai-tls");
    let env = env_of(&objs);
    assert_eq!(env["HAKANAI_ENABLE_ADMIN_TOKEN"]["value"], "true");
    assert_eq!(
        env["HAKANAI_TRUSTED_IP_RANGES"]["value"],
        "10.0.0.0/8,192.168.0.0/16"
    );
}

#[test]
fn our_guide_set_line_parses_and_fits_the_schema() {
    // docs/DEPLOYMENT.md's helm install command, with the escaped comma.
    let guide = read(&workspace_root().join("docs/DEPLOYMENT.md"));
    let start = guide
        .find("helm install")
        .expect("helm install in docs/DEPLOYMENT.md");
    let block: String = guide[start..]
        .lines()
        .take_while(|l| !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join(" ");
    let words = shell_words(&block.replace('\\', "\u{1}"));
    let sets: Vec<String> = words
        .windows(2)
        .filter(|w| w[0] == "--set")
        .map(|w| w[1].replace('\u{1}', "\\"))
        .collect();
    assert!(!sets.is_empty());
    let refs: Vec<&str> = sets.iter().map(String::as_str).collect();
    let values = with_sets(&refs);
    assert_eq!(schema_errors(&values), Vec::<String>::new());
    render(&values).unwrap();
}

#[test]
fn helm_set_parser_types_values_as_helm_does() {
    let mut v = json!({});
    strvals_into("a.b=true,a.c=3,a.d=007,a.e=x\\,y,l[1].k=v", &mut v).unwrap();
    assert_eq!(
        v,
        json!({"a": {"b": true, "c": 3, "d": "007", "e": "x,y"}, "l": [null, {"k": "v"}]})
    );
    assert!(strvals_into("a=1,2.3", &mut json!({})).is_err());
}

// ---------------------------------------------------------------------------------------------
// The renderer: gtmpl plus the Helm/sprig functions the chart uses.

thread_local! {
    /// The chart's helper files, for `include`.
    static HELPERS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

fn gv(j: &Json) -> Value {
    match j {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap()),
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(a) => Value::Array(a.iter().map(gv).collect()),
        Json::Object(o) => Value::Map(o.iter().map(|(k, v)| (k.clone(), gv(v))).collect()),
    }
}

fn jv(v: &Value) -> Json {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) => Json::from(s.as_str()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                Json::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::Array(a) => Json::Array(a.iter().map(jv).collect()),
        Value::Map(m) | Value::Object(m) => {
            Json::Object(m.iter().map(|(k, v)| (k.clone(), jv(v))).collect())
        }
    }
}

/// Go's fmt.Sprint of a value, as the template output prints it.
fn text(v: &Value) -> String {
    match v {
        Value::NoValue | Value::Nil => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Map(m) | Value::Object(m) => !m.is_empty(),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::Function(_) => true,
        Value::NoValue | Value::Nil => false,
    }
}

fn arg<'a>(args: &'a [Value], n: usize, name: &str) -> Result<&'a Value, FuncError> {
    args.get(n)
        .ok_or_else(|| FuncError::AtLeastXArgs(name.into(), n + 1))
}

fn s_arg(args: &[Value], n: usize, name: &str) -> Result<String, FuncError> {
    Ok(text(arg(args, n, name)?))
}

fn f_include(args: &[Value]) -> Result<Value, FuncError> {
    let name = s_arg(args, 0, "include")?;
    let dot = arg(args, 1, "include")?.clone();
    let out = HELPERS.with(|h| -> Result<String, String> {
        let mut t = new_template("include");
        for (file, src) in h.borrow().iter() {
            t.add_template(file.clone(), src.clone())
                .map_err(|e| e.to_string())?;
        }
        t.parse(format!("{{{{ template \"{name}\" . }}}}"))
            .map_err(|e| e.to_string())?;
        t.render(&Context::from(dot)).map_err(|e| e.to_string())
    });
    out.map(Value::from).map_err(FuncError::Generic)
}

fn f_to_yaml(args: &[Value]) -> Result<Value, FuncError> {
    let j = jv(arg(args, 0, "toYaml")?);
    let y = serde_yaml::to_string(&j).map_err(|e| FuncError::Generic(e.to_string()))?;
    Ok(Value::from(y.trim_end_matches('\n')))
}

fn indent_by(n: usize, s: &str) -> String {
    let pad = " ".repeat(n);
    s.split('\n')
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn int_arg(args: &[Value], n: usize, name: &str) -> Result<i64, FuncError> {
    match arg(args, n, name)? {
        Value::Number(x) => x.as_i64().ok_or(FuncError::UnableToConvertFromValue),
        Value::String(s) => s.parse().map_err(|_| FuncError::UnableToConvertFromValue),
        _ => Err(FuncError::UnableToConvertFromValue),
    }
}

fn f_nindent(args: &[Value]) -> Result<Value, FuncError> {
    let n = int_arg(args, 0, "nindent")? as usize;
    Ok(Value::from(format!(
        "\n{}",
        indent_by(n, &s_arg(args, 1, "nindent")?)
    )))
}

fn f_indent(args: &[Value]) -> Result<Value, FuncError> {
    let n = int_arg(args, 0, "indent")? as usize;
    Ok(Value::from(indent_by(n, &s_arg(args, 1, "indent")?)))
}

fn f_quote(args: &[Value]) -> Result<Value, FuncError> {
    // sprig: strconv.Quote of fmt.Sprint of each non-nil argument, joined by spaces.
    let quoted: Vec<String> = args
        .iter()
        .filter(|a| !matches!(a, Value::Nil | Value::NoValue))
        .map(|a| serde_json::to_string(&text(a)).unwrap())
        .collect();
    Ok(Value::from(quoted.join(" ")))
}

fn f_default(args: &[Value]) -> Result<Value, FuncError> {
    let d = arg(args, 0, "default")?;
    match args.get(1) {
        Some(v) if truthy(v) => Ok(v.clone()),
        _ => Ok(d.clone()),
    }
}

fn f_required(args: &[Value]) -> Result<Value, FuncError> {
    let msg = s_arg(args, 0, "required")?;
    match args.get(1) {
        Some(v) if !matches!(v, Value::Nil | Value::NoValue) && !text(v).is_empty() => {
            Ok(v.clone())
        }
        _ => Err(FuncError::Generic(msg)),
    }
}

fn f_fail(args: &[Value]) -> Result<Value, FuncError> {
    Err(FuncError::Generic(s_arg(args, 0, "fail")?))
}

fn f_trunc(args: &[Value]) -> Result<Value, FuncError> {
    let n = int_arg(args, 0, "trunc")? as usize;
    Ok(Value::from(
        s_arg(args, 1, "trunc")?.chars().take(n).collect::<String>(),
    ))
}

fn f_trim_suffix(args: &[Value]) -> Result<Value, FuncError> {
    let suffix = s_arg(args, 0, "trimSuffix")?;
    let s = s_arg(args, 1, "trimSuffix")?;
    Ok(Value::from(s.strip_suffix(suffix.as_str()).unwrap_or(&s)))
}

fn f_contains(args: &[Value]) -> Result<Value, FuncError> {
    let needle = s_arg(args, 0, "contains")?;
    Ok(Value::Bool(s_arg(args, 1, "contains")?.contains(&needle)))
}

fn f_int(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(int_arg(args, 0, "int").unwrap_or(0)))
}

fn f_list(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Array(args.to_vec()))
}

fn f_dict(args: &[Value]) -> Result<Value, FuncError> {
    let mut m = HashMap::new();
    for pair in args.chunks(2) {
        m.insert(
            text(&pair[0]),
            pair.get(1).cloned().unwrap_or(Value::from("")),
        );
    }
    Ok(Value::Map(m))
}

fn f_b64enc(args: &[Value]) -> Result<Value, FuncError> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = s_arg(args, 0, "b64enc")?.into_bytes();
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    Ok(Value::from(out))
}

/// The functions the chart may use; a template calling anything else fails to parse.
const FUNCS: &[(&str, Func)] = &[
    ("include", f_include),
    ("toYaml", f_to_yaml),
    ("nindent", f_nindent),
    ("indent", f_indent),
    ("quote", f_quote),
    ("default", f_default),
    ("required", f_required),
    ("fail", f_fail),
    ("trunc", f_trunc),
    ("trimSuffix", f_trim_suffix),
    ("contains", f_contains),
    ("int", f_int),
    ("list", f_list),
    ("dict", f_dict),
    ("b64enc", f_b64enc),
];

fn new_template(name: &str) -> Template {
    let mut t = Template::with_name(name);
    t.add_funcs(FUNCS);
    t
}

/// (file name, text) pairs.
type Files = Vec<(String, String)>;

/// The helper files (`_*.tpl`) and the templates.
fn chart_files() -> (Files, Files) {
    let mut helpers = Vec::new();
    let mut templates = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(chart_dir().join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = format!("templates/{}", p.file_name().unwrap().to_string_lossy());
        if name.ends_with(".tpl") {
            helpers.push((name, read(&p)));
        } else {
            templates.push((name, read(&p)));
        }
    }
    (helpers, templates)
}

fn root_context(values: &Json, release: &str) -> Value {
    let chart = yaml_to_json(&read(&chart_dir().join("Chart.yaml")));
    gv(&json!({
        "Values": values,
        "Release": {"Name": release, "Namespace": "default", "Service": "Helm"},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
    }))
}

/// Renders every template (NOTES.txt as text) for release `hakanai`.
fn render_files(values: &Json, release: &str) -> Result<BTreeMap<String, String>, String> {
    let (helpers, templates) = chart_files();
    HELPERS.with(|h| *h.borrow_mut() = helpers.clone());
    let ctx = Context::from(root_context(values, release));
    let mut out = BTreeMap::new();
    for (name, src) in templates {
        let mut t = new_template(&name);
        for (hn, hs) in &helpers {
            t.add_template(hn.clone(), hs.clone())
                .map_err(|e| format!("{hn}: {e}"))?;
        }
        t.parse(src).map_err(|e| format!("{name}: {e}"))?;
        let text = t.render(&ctx).map_err(|e| format!("{name}: {e}"))?;
        out.insert(name, text);
    }
    Ok(out)
}

fn render_release(values: &Json, release: &str) -> Result<Vec<Json>, String> {
    let mut objs = Vec::new();
    for (name, text) in render_files(values, release)? {
        if name.ends_with(".txt") {
            continue;
        }
        for doc in text.split("\n---") {
            let v: serde_yaml::Value =
                serde_yaml::from_str(doc).map_err(|e| format!("{name}: {e}\n{text}"))?;
            let j = serde_json::to_value(v).unwrap();
            if j.is_null() {
                continue;
            }
            assert!(
                j["apiVersion"].is_string() && j["kind"].is_string(),
                "{name}: no apiVersion/kind:\n{text}"
            );
            assert!(
                j["metadata"]["name"].is_string(),
                "{name}: no metadata.name"
            );
            objs.push(j);
        }
    }
    Ok(objs)
}

fn render(values: &Json) -> Result<Vec<Json>, String> {
    render_release(values, "hakanai")
}

fn find_opt<'a>(objs: &'a [Json], kind: &str) -> Option<&'a Json> {
    objs.iter().find(|o| o["kind"] == kind)
}

fn find<'a>(objs: &'a [Json], kind: &str) -> &'a Json {
    find_opt(objs, kind).unwrap_or_else(|| panic!("no {kind} rendered"))
}

fn container(objs: &[Json]) -> &Json {
    &find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn env_list(objs: &[Json]) -> Vec<Json> {
    container(objs)["env"].as_array().unwrap().clone()
}

fn env_of(objs: &[Json]) -> BTreeMap<String, Json> {
    env_list(objs)
        .into_iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e))
        .collect()
}

fn position(objs: &[Json], name: &str) -> usize {
    env_list(objs)
        .iter()
        .position(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
}

// ---------------------------------------------------------------------------------------------
// Rendered objects

#[test]
fn defaults_sentinel_dsn_with_password_from_bitnami_secret() {
    let objs = render(&default_values()).unwrap();
    let env = env_of(&objs);
    let dsn = env["HAKANAI_REDIS_DSN"]["value"].as_str().unwrap();
    assert_eq!(
        dsn,
        "redis-sentinel://:$(REDIS_PASSWORD)@hakanai-redis:26379/mymaster/0?sentinel_password=$(REDIS_PASSWORD)"
    );
    let pw = &env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"];
    assert_eq!(pw["name"], "hakanai-redis");
    assert_eq!(pw["key"], "redis-password");
    // Kubernetes expands $(VAR) only from entries defined earlier in the list.
    assert!(position(&objs, "REDIS_PASSWORD") < position(&objs, "HAKANAI_REDIS_DSN"));
    assert_eq!(env["HAKANAI_ENABLE_ADMIN_TOKEN"]["value"], "false");
    assert_eq!(env["HAKANAI_ALLOW_ANONYMOUS"]["value"], "false");
    assert_eq!(env["HAKANAI_UPLOAD_SIZE_LIMIT"]["value"], "10m");
    assert!(!env.contains_key("OTEL_EXPORTER_OTLP_ENDPOINT"));
    assert!(!env.contains_key("HAKANAI_IMPRESSUM_FILE"));
    // Every value is a string (Kubernetes rejects numbers and booleans in env values).
    for (n, e) in &env {
        assert!(
            e["value"].is_string() || e["valueFrom"].is_object(),
            "{n}: {e}"
        );
    }
}

#[test]
fn bitnami_naming_follows_the_release_name() {
    // Bitnami's fullname: the release name alone when it already contains "redis".
    let objs = render_release(&default_values(), "my-redis").unwrap();
    let env = env_of(&objs);
    assert!(env["HAKANAI_REDIS_DSN"]["value"]
        .as_str()
        .unwrap()
        .contains("@my-redis:26379/"));
    assert_eq!(
        env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"],
        "my-redis"
    );
    let objs = render(&with(json!({"redis": {"fullnameOverride": "store", "auth": {"existingSecret": "s", "existingSecretPasswordKey": "pw"}}}))).unwrap();
    let env = env_of(&objs);
    assert!(env["HAKANAI_REDIS_DSN"]["value"]
        .as_str()
        .unwrap()
        .contains("@store:26379/mymaster/0"));
    assert_eq!(
        env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"],
        json!({"name": "s", "key": "pw"})
    );
}

#[test]
fn bundled_redis_without_sentinel_or_auth() {
    let objs = render(&with(json!({"redis": {"sentinel": {"enabled": false}}}))).unwrap();
    assert_eq!(
        env_of(&objs)["HAKANAI_REDIS_DSN"]["value"],
        "redis://:$(REDIS_PASSWORD)@hakanai-redis-master:6379/0"
    );
    let objs = render(&with(json!({"redis": {"auth": {"enabled": false}}}))).unwrap();
    let env = env_of(&objs);
    assert_eq!(
        env["HAKANAI_REDIS_DSN"]["value"],
        "redis-sentinel://hakanai-redis:26379/mymaster/0"
    );
    assert!(!env.contains_key("REDIS_PASSWORD"));
    let objs = render(&with(json!({"redis": {"auth": {"sentinel": false}}}))).unwrap();
    assert_eq!(
        env_of(&objs)["HAKANAI_REDIS_DSN"]["value"],
        "redis-sentinel://:$(REDIS_PASSWORD)@hakanai-redis:26379/mymaster/0"
    );
}

#[test]
fn external_redis_any_dsn_with_password_from_existing_secret() {
    let dsn = "redis-cluster://:$(REDIS_PASSWORD)@r1:6379,r2:6379";
    let v = with(
        json!({"redis": {"enabled": false}, "externalRedis": {"dsn": dsn, "existingSecret": "ext", "existingSecretPasswordKey": "password"}}),
    );
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    let objs = render(&v).unwrap();
    let env = env_of(&objs);
    assert_eq!(env["HAKANAI_REDIS_DSN"]["value"], dsn);
    assert_eq!(
        env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"],
        json!({"name": "ext", "key": "password"})
    );
    assert!(find_opt(&objs, "Secret").is_none());
    let np = find(&objs, "NetworkPolicy");
    assert!(np.to_string().contains("26379"));

    // Without a password: the DSN as given, no password variable.
    let objs = render(&with(json!({"redis": {"enabled": false}, "externalRedis": {"dsn": "redis+unix:///run/redis.sock"}}))).unwrap();
    let env = env_of(&objs);
    assert_eq!(
        env["HAKANAI_REDIS_DSN"]["value"],
        "redis+unix:///run/redis.sock"
    );
    assert!(!env.contains_key("REDIS_PASSWORD"));

    // Hakanai's host/port/password: a Secret made by the chart.
    let objs = render(&with(json!({"redis": {"enabled": false}, "externalRedis": {"host": "redis.db", "port": 6380, "password": "pw"}}))).unwrap();
    let env = env_of(&objs);
    assert_eq!(
        env["HAKANAI_REDIS_DSN"]["value"],
        "redis://:$(REDIS_PASSWORD)@redis.db:6380/0"
    );
    let secret = find(&objs, "Secret");
    assert_eq!(secret["metadata"]["name"], "hakanai-hakanai-redis-external");
    assert_eq!(secret["data"]["redis-password"], "cHc=");
    assert_eq!(
        env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"],
        "hakanai-hakanai-redis-external"
    );
}

#[test]
fn external_redis_mistakes_fail_the_render() {
    let e = render(&with(json!({"redis": {"enabled": false}}))).unwrap_err();
    assert!(e.contains("externalRedis.dsn or externalRedis.host"), "{e}");
    let e = render(&with(json!({"redis": {"enabled": false}, "externalRedis": {"dsn": "redis://r:6379/0", "existingSecret": "x"}}))).unwrap_err();
    assert!(e.contains("$(REDIS_PASSWORD)"), "{e}");
}

#[test]
fn probes_default_and_overridden() {
    let objs = render(&default_values()).unwrap();
    let c = container(&objs);
    assert_eq!(c["startupProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/healthy");
    assert_eq!(c["livenessProbe"]["tcpSocket"]["port"], "http");
    assert!(
        c["livenessProbe"].get("httpGet").is_none(),
        "a Redis outage must not restart pods"
    );

    let v = with(json!({
        "livenessProbe": {"tcpSocket": null, "httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 30},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
        "startupProbe": null,
    }));
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    let objs = render(&v).unwrap();
    let c = container(&objs);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/ready");
    // Helm merges maps key by key: the default handler goes only when set to null.
    assert!(c["livenessProbe"].get("tcpSocket").is_none());
    assert_eq!(c["livenessProbe"]["periodSeconds"], 30);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
    assert!(c.get("startupProbe").is_none());
}

#[test]
fn pdb_and_scheduling() {
    let objs = render(&default_values()).unwrap();
    let pdb = find(&objs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"],
        "hakanai"
    );
    let spec = &find(&objs, "Deployment")["spec"]["template"]["spec"];
    let soft =
        &spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(
        soft["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert_eq!(
        soft["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "hakanai"
    );

    let objs = render(&with(json!({"podDisruptionBudget": {"maxUnavailable": "50%"}, "podAntiAffinityPreset": "hard",
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}],
        "nodeSelector": {"pool": "apps"}, "tolerations": [{"key": "dedicated", "operator": "Exists"}]}))).unwrap();
    let pdb = find(&objs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], "50%");
    assert!(pdb["spec"].get("minAvailable").is_none());
    let spec = &find(&objs, "Deployment")["spec"]["template"]["spec"];
    assert!(
        spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
            ["topologyKey"]
            .is_string()
    );
    assert_eq!(spec["topologySpreadConstraints"][0]["maxSkew"], 1);
    assert_eq!(spec["nodeSelector"]["pool"], "apps");
    assert_eq!(spec["tolerations"][0]["key"], "dedicated");

    let objs = render(&with(
        json!({"podDisruptionBudget": {"enabled": false}, "affinity": {"nodeAffinity": {"x": 1}}}),
    ))
    .unwrap();
    assert!(find_opt(&objs, "PodDisruptionBudget").is_none());
    let aff = &find(&objs, "Deployment")["spec"]["template"]["spec"]["affinity"];
    assert_eq!(aff, &json!({"nodeAffinity": {"x": 1}}));
}

#[test]
fn otel_values_become_otel_env() {
    let v = with(
        json!({"otel": {"enabled": true, "endpoint": "http://collector:4317", "protocol": "grpc", "compression": "gzip",
        "resourceAttributes": {"deployment.environment": "production", "team": "security"},
        "headersSecret": {"name": "otel-auth"}, "env": {"OTEL_METRIC_EXPORT_INTERVAL": 30000}}}),
    );
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    let objs = render(&v).unwrap();
    let env = env_of(&objs);
    assert_eq!(
        env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"],
        "http://collector:4317"
    );
    assert_eq!(env["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"], "grpc");
    assert_eq!(env["OTEL_EXPORTER_OTLP_COMPRESSION"]["value"], "gzip");
    assert_eq!(env["OTEL_SERVICE_NAME"]["value"], "hakanai");
    let mut attrs: Vec<&str> = env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    attrs.sort();
    assert_eq!(
        attrs,
        ["deployment.environment=production", "team=security"]
    );
    assert_eq!(
        env["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"]["secretKeyRef"],
        json!({"name": "otel-auth", "key": "headers"})
    );
    assert_eq!(env["OTEL_METRIC_EXPORT_INTERVAL"]["value"], "30000");
    assert!(find(&objs, "NetworkPolicy").to_string().contains("4317"));

    let e = render(&with(json!({"otel": {"enabled": true}}))).unwrap_err();
    assert!(e.contains("otel.endpoint"), "{e}");
}

#[test]
fn legal_pages_and_custom_assets_volumes() {
    let v = with(json!({"legalPages": {"configMap": "hakanai-legal"},
        "customAssets": {"volume": {"persistentVolumeClaim": {"claimName": "assets"}}},
        "config": {"webhookUrl": "https://audit", "webhookTokenSecret": "wh"},
        "extraVolumes": [{"name": "x", "emptyDir": {}}], "extraVolumeMounts": [{"name": "x", "mountPath": "/x"}]}));
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    let objs = render(&v).unwrap();
    let env = env_of(&objs);
    assert_eq!(
        env["HAKANAI_IMPRESSUM_FILE"]["value"],
        "/etc/hakanai/legal/impressum.txt"
    );
    assert_eq!(
        env["HAKANAI_PRIVACY_FILE"]["value"],
        "/etc/hakanai/legal/privacy.txt"
    );
    assert_eq!(
        env["HAKANAI_CUSTOM_ASSETS_DIR"]["value"],
        "/etc/hakanai/assets"
    );
    assert_eq!(
        env["HAKANAI_WEBHOOK_TOKEN_FILE"]["value"],
        "/run/secrets/hakanai-webhook/token"
    );
    let spec = &find(&objs, "Deployment")["spec"]["template"]["spec"];
    let vols: BTreeMap<String, Json> = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().into(), v.clone()))
        .collect();
    assert_eq!(vols["legal-pages"]["configMap"]["name"], "hakanai-legal");
    assert_eq!(
        vols["custom-assets"]["persistentVolumeClaim"]["claimName"],
        "assets"
    );
    assert!(vols.contains_key("webhook-token") && vols.contains_key("x"));
    let mounts = container(&objs)["volumeMounts"].as_array().unwrap();
    for name in ["legal-pages", "custom-assets", "webhook-token", "x"] {
        assert!(mounts.iter().any(|m| m["name"] == name), "no mount {name}");
    }
    // Every mount names a volume.
    for m in mounts {
        assert!(vols.contains_key(m["name"].as_str().unwrap()), "{m}");
    }
    // Explicit paths win; an empty key turns a page off.
    let objs = render(&with(json!({"legalPages": {"configMap": "l", "privacyKey": ""}, "config": {"impressumFile": "/srv/imp.txt"}}))).unwrap();
    let env = env_of(&objs);
    assert_eq!(env["HAKANAI_IMPRESSUM_FILE"]["value"], "/srv/imp.txt");
    assert!(!env.contains_key("HAKANAI_PRIVACY_FILE"));
    // Nothing configured: only the in-memory directory the bootstrap tokens are written to.
    let objs = render(&default_values()).unwrap();
    let spec = &find(&objs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(spec["volumes"].as_array().unwrap().len(), 1);
    assert_eq!(spec["volumes"][0]["name"], "state");
    assert_eq!(spec["volumes"][0]["emptyDir"]["medium"], "Memory");
    assert_eq!(
        container(&objs)["volumeMounts"][0]["mountPath"],
        "/var/lib/hakanai"
    );
}

#[test]
fn other_objects_render() {
    let objs = render(&with(json!({"ingress": {"enabled": true, "hosts": [{"host": "a.example", "paths": [{"path": "/x", "pathType": "Exact"}]}, {"host": "b.example"}]},
        "autoscaling": {"targetMemoryUtilizationPercentage": 80}}))).unwrap();
    let ing = find(&objs, "Ingress");
    assert_eq!(ing["spec"]["rules"][0]["http"]["paths"][0]["path"], "/x");
    assert_eq!(ing["spec"]["rules"][1]["http"]["paths"][0]["path"], "/");
    assert_eq!(
        ing["spec"]["rules"][1]["http"]["paths"][0]["backend"]["service"]["port"]["name"],
        "http"
    );
    let hpa = find(&objs, "HorizontalPodAutoscaler");
    assert_eq!(hpa["spec"]["metrics"].as_array().unwrap().len(), 2);
    assert!(find_opt(&objs, "Service").is_some());
    let np = find(&objs, "NetworkPolicy");
    let egress = np["spec"]["egress"][0].to_string();
    assert!(
        egress.contains("6379") && egress.contains("26379"),
        "{egress}"
    );
    // No replicas with the HPA on; replicas without it.
    assert!(find(&objs, "Deployment")["spec"].get("replicas").is_none());
    let objs = render(&with(
        json!({"autoscaling": {"enabled": false}, "replicaCount": 3}),
    ))
    .unwrap();
    assert_eq!(find(&objs, "Deployment")["spec"]["replicas"], 3);
    assert!(find_opt(&objs, "HorizontalPodAutoscaler").is_none());
    let notes = &render_files(&default_values(), "hakanai").unwrap()["templates/NOTES.txt"];
    assert!(notes.contains("Sentinel (master set mymaster)"), "{notes}");
}

// ---------------------------------------------------------------------------------------------
// Redis sizing and the Bitnami values

fn mib(s: &str) -> f64 {
    let s = s.trim().to_ascii_lowercase();
    let (n, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = n.parse().unwrap();
    n * match unit {
        "k" | "kb" | "ki" => 1.0 / 1024.0,
        "m" | "mb" | "mi" => 1.0,
        "g" | "gb" | "gi" => 1024.0,
        "" => 1.0 / 1024.0 / 1024.0,
        u => panic!("unit {u}"),
    }
}

#[test]
fn redis_maxmemory_is_sized_for_uploads_and_fits_the_limits() {
    let v = default_values();
    let conf = v["redis"]["commonConfiguration"].as_str().unwrap();
    let directive = |name: &str| -> Vec<String> {
        conf.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(&format!("{name} "))
                    .map(|r| r.split_whitespace().map(String::from).collect())
            })
            .unwrap_or_else(|| panic!("{name} not in commonConfiguration"))
    };
    assert_eq!(directive("maxmemory-policy"), ["noeviction"]);
    assert_eq!(directive("appendonly"), ["no"]);
    assert_eq!(directive("save"), ["\"\""]);
    let maxmemory = mib(&directive("maxmemory")[0]);
    let upload = mib(v["config"]["uploadSizeLimit"].as_str().unwrap());
    // The documented rule: at least N full-size secrets (base64 + record overhead, x1.4).
    let n = 16.0;
    assert!(
        maxmemory >= n * upload * 1.4,
        "maxmemory {maxmemory} MiB < {n} x {upload} MiB x 1.4"
    );
    let buffer = mib(&directive("client-output-buffer-limit")[2]);
    let replicas = v["redis"]["replica"]["replicaCount"].as_f64().unwrap();
    for node in ["master", "replica"] {
        let limit = mib(v["redis"][node]["resources"]["limits"]["memory"]
            .as_str()
            .unwrap());
        let need = 1.5 * maxmemory + (replicas - 1.0) * buffer;
        assert!(
            limit >= need,
            "redis.{node} memory limit {limit} MiB < {need} MiB"
        );
    }
}

/// Names of the Bitnami redis chart (20.x) that this chart sets or relies on. The chart itself
/// cannot be fetched here; these are from its documented values and templates.
const BITNAMI_REDIS_VALUES: &[&str] = &[
    "enabled", // the dependency's condition, ours
    "architecture",
    "nameOverride",
    "fullnameOverride",
    "auth.enabled",
    "auth.sentinel",
    "auth.password",
    "auth.existingSecret",
    "auth.existingSecretPasswordKey",
    "sentinel.enabled",
    "sentinel.masterSet",
    "sentinel.quorum",
    "sentinel.service.ports.sentinel",
    "sentinel.resources",
    "master.service.ports.redis",
    "master.persistence.enabled",
    "master.resources",
    "replica.replicaCount",
    "replica.persistence.enabled",
    "replica.resources",
    "commonConfiguration",
];

#[test]
fn redis_values_are_bitnami_names() {
    fn leaves(v: &Json, prefix: &str, out: &mut Vec<String>) {
        match v.as_object() {
            // resources are a Kubernetes object: the name stops there.
            Some(m) if !prefix.ends_with("resources") => {
                for (k, c) in m {
                    leaves(
                        c,
                        &if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        },
                        out,
                    );
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    let mut set = Vec::new();
    leaves(&default_values()["redis"], "", &mut set);
    for name in &set {
        assert!(
            BITNAMI_REDIS_VALUES.contains(&name.as_str()),
            "redis.{name} is not a Bitnami redis value we know"
        );
    }
    // Every .Values.redis.* the templates read is one of them too.
    let (helpers, templates) = chart_files();
    for (file, src) in helpers.iter().chain(templates.iter()) {
        for (i, _) in src.match_indices(".Values.redis.") {
            let rest = &src[i + ".Values.redis.".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '.' || *c == '_')
                .collect();
            assert!(
                BITNAMI_REDIS_VALUES.contains(&name.trim_end_matches('.')),
                "{file}: .Values.redis.{name}"
            );
        }
    }
    let chart = yaml_to_json(&read(&chart_dir().join("Chart.yaml")));
    let dep = &chart["dependencies"][0];
    assert_eq!(dep["name"], "redis");
    assert_eq!(dep["condition"], "redis.enabled");
    assert!(dep["repository"]
        .as_str()
        .unwrap()
        .contains("bitnamicharts"));
}

#[test]
fn every_value_the_templates_read_exists() {
    let values = default_values();
    let (helpers, templates) = chart_files();
    let mut missing = Vec::new();
    for (file, src) in helpers.iter().chain(templates.iter()) {
        for (i, _) in src.match_indices(".Values.") {
            let rest = &src[i + ".Values.".len()..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '.' || *c == '_')
                .collect();
            let path = path.trim_end_matches('.');
            // The optional Bitnami names we read but do not set (defaults apply when empty).
            if ["redis.nameOverride", "redis.fullnameOverride"].contains(&path) {
                continue;
            }
            let mut node = &values;
            for seg in path.split('.') {
                node = &node[seg];
            }
            if node.is_null() && !path.ends_with("maxUnavailable") {
                missing.push(format!("{file}: .Values.{path}"));
            }
        }
    }
    assert_eq!(missing, Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Helm's own lint, where its library is present.

type ConfigCreate =
    unsafe extern "C" fn(*const i8, *const i8, *const i8, *const i8, *mut u64) -> i32;
type Lint = unsafe extern "C" fn(u64, *const i8, *mut *mut i8) -> i32;

/// Helm's library as `cargo xtask setup` installs it (`xtask/src/lint.rs`), or `HELM_SDKPY_LIB`.
fn helm_lib() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let p = std::env::var_os("HELM_SDKPY_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("tools/libhelm_sdkpy.so"));
    p.is_file().then_some(p)
}

static HELM: Mutex<()> = Mutex::new(());

/// Helm v4 lint of the chart with `values` as its values.yaml; the severities of its messages
/// (1 info, 2 warning, 3 error) with their paths.
fn helm_lint(lib: &Path, values: &Json, tag: &str) -> Vec<(i64, String)> {
    let _guard = HELM.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("hakanai-chart-lint-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&chart_dir(), &dir);
    std::fs::write(
        dir.join("values.yaml"),
        serde_yaml::to_string(values).unwrap(),
    )
    .unwrap();
    let result = unsafe {
        let lib = libloading::Library::new(lib).expect("load libhelm_sdkpy");
        let create: libloading::Symbol<ConfigCreate> =
            lib.get(b"helm_sdkpy_config_create").unwrap();
        let lint: libloading::Symbol<Lint> = lib.get(b"helm_sdkpy_lint").unwrap();
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let (ns, kc, ctx, opts) = (c("default"), c("/dev/null"), c(""), c("{}"));
        let mut handle = 0u64;
        assert_eq!(
            create(
                ns.as_ptr(),
                kc.as_ptr(),
                ctx.as_ptr(),
                opts.as_ptr(),
                &mut handle
            ),
            0
        );
        let path = c(dir.to_str().unwrap());
        let mut out: *mut i8 = std::ptr::null_mut();
        assert_eq!(
            lint(handle, path.as_ptr(), &mut out),
            0,
            "helm lint call failed"
        );
        let text = std::ffi::CStr::from_ptr(out).to_string_lossy().into_owned();
        // The Go runtime cannot be unloaded: keep the library mapped.
        std::mem::forget(lib);
        text
    };
    let _ = std::fs::remove_dir_all(&dir);
    let j: Json = serde_json::from_str(&result).unwrap();
    j["Messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Severity"].as_i64().unwrap(),
                m["Path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn helm_lint_passes_on_every_variation() {
    let lib = helm_lib().expect(
        "no libhelm_sdkpy.so (target/tools/ or HELM_SDKPY_LIB): `cargo xtask setup` installs it",
    );
    let seed = seed_overrides();
    let variations = [
        ("defaults", json!({})),
        ("seed", seed),
        (
            "external",
            json!({"redis": {"enabled": false}, "externalRedis": {"dsn": "redis://:$(REDIS_PASSWORD)@r:6379/0", "existingSecret": "x"}}),
        ),
        (
            "external-host",
            json!({"redis": {"enabled": false}, "externalRedis": {"host": "r", "password": "p"}}),
        ),
        (
            "otel",
            json!({"otel": {"enabled": true, "endpoint": "http://c:4317", "resourceAttributes": {"a": "b"}, "headersSecret": {"name": "h"}}}),
        ),
        (
            "volumes",
            json!({"legalPages": {"configMap": "l"}, "customAssets": {"volume": {"configMap": {"name": "a"}}}, "extraVolumes": [{"name": "v", "emptyDir": {}}], "extraVolumeMounts": [{"name": "v", "mountPath": "/v"}]}),
        ),
        (
            "scheduling",
            json!({"podDisruptionBudget": {"maxUnavailable": 1}, "podAntiAffinityPreset": "hard", "startupProbe": null, "ingress": {"enabled": true}}),
        ),
    ];
    for (tag, over) in variations {
        let values = with(over);
        let msgs = helm_lint(&lib, &values, tag);
        let errors: Vec<_> = msgs.iter().filter(|(sev, _)| *sev >= 3).collect();
        assert!(errors.is_empty(), "helm lint ({tag}): errors at {errors:?}");
    }
    // And the lint does catch a value the schema forbids.
    // (Not "yes": serde_yaml writes it unquoted, and Helm reads YAML 1.1, where it is a boolean.)
    let msgs = helm_lint(
        &lib,
        &with(json!({"config": {"enableAdminToken": "sometimes"}})),
        "bad",
    );
    assert!(
        msgs.iter().any(|(sev, p)| *sev >= 3 && p == "values.yaml"),
        "{msgs:?}"
    );
}

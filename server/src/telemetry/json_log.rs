//! The JSON log line, written by a layer of our own.
//!
//! Its lines are those of tracing-subscriber's JSON formatter with `with_current_span(true)` and
//! `with_span_list(false)`, byte for byte (the tests run both side by side):
//!
//! ```text
//! {"timestamp":"2026-12-02T10:11:12.123456Z","level":"INFO","fields":{"message":"…",…},"target":"…","span":{…,"name":"request"}}
//! ```
//!
//! The difference is the cost. That formatter keeps a span's fields as JSON text and parses
//! that text again for every line written inside the span (and once more for every
//! `Span::record`). Here a span's fields are serialised once, when the span is made or a field
//! is recorded, into the finished `span` object kept in the span's extensions; a line is then
//! its timestamp, level, the event's own fields, the target and that object, written into a
//! reused per-thread buffer and handed to the writer.
//!
//! What the formatter does to values is kept: a span's fields are sorted by name and a later
//! `record` of a field replaces it, `name` comes last; debug values (`?x`, `%x`, errors, 128-bit
//! integers) become JSON strings, non-finite floats `null`; in a span, a byte slice is an array
//! of numbers, a debug field's `r#` prefix is dropped and `log.*` debug fields are skipped; an
//! event's fields keep the order they were written in. Events bridged from the `log` crate are
//! not normalised, as nothing here installs a `log` bridge.

use std::cell::RefCell;
use std::fmt;
use std::io::Write as _;
use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serializer as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The layer: JSON lines to `make_writer`, one per event, each naming the event's span (the
/// innermost one this layer's filter lets through).
pub struct JsonLog<W> {
    make_writer: W,
}

impl<W> JsonLog<W> {
    pub fn new(make_writer: W) -> JsonLog<W> {
        JsonLog { make_writer }
    }
}

/// A span's fields, kept serialised in the span's extensions.
struct SpanJson {
    /// Each field's JSON value, as a range of `values`, sorted by name.
    fields: Vec<(&'static str, Range<usize>)>,
    /// The values' JSON text; a replaced value's text stays behind, unused.
    values: Vec<u8>,
    /// The finished `span` object: the fields, then `"name"`.
    object: Vec<u8>,
}

impl SpanJson {
    fn new(name: &'static str, attrs: &Attributes<'_>) -> Result<SpanJson, fmt::Error> {
        let mut span = SpanJson {
            fields: Vec::with_capacity(attrs.metadata().fields().len()),
            values: Vec::new(),
            object: Vec::new(),
        };
        span.add(attrs)?;
        span.finish(name);
        Ok(span)
    }

    /// Records `fields` into `fields` and `values`, sorted, later ones replacing earlier ones.
    fn add(&mut self, fields: &dyn RecordAll) -> Result<(), fmt::Error> {
        let mut visitor = SpanVisitor {
            span: self,
            result: Ok(()),
        };
        fields.record_all(&mut visitor);
        visitor.result
    }

    fn finish(&mut self, name: &'static str) {
        let o = &mut self.object;
        o.clear();
        o.push(b'{');
        for (key, range) in &self.fields {
            push_json_str(o, key);
            o.push(b':');
            o.extend_from_slice(&self.values[range.clone()]);
            o.push(b',');
        }
        push_json_str(o, "name");
        o.push(b':');
        push_json_str(o, name);
        o.push(b'}');
    }
}

/// `Attributes` and `Record` alike.
trait RecordAll {
    fn record_all(&self, visitor: &mut dyn Visit);
}

impl RecordAll for Attributes<'_> {
    fn record_all(&self, visitor: &mut dyn Visit) {
        self.record(visitor)
    }
}

impl RecordAll for Record<'_> {
    fn record_all(&self, visitor: &mut dyn Visit) {
        self.record(visitor)
    }
}

/// A span's fields, as tracing-subscriber's `JsonVisitor` takes them.
struct SpanVisitor<'a> {
    span: &'a mut SpanJson,
    result: Result<(), fmt::Error>,
}

impl SpanVisitor<'_> {
    fn value(&mut self, name: &'static str, write: impl FnOnce(&mut Vec<u8>) -> fmt::Result) {
        let values = &mut self.span.values;
        let start = values.len();
        if let Err(e) = write(values) {
            values.truncate(start);
            self.result = Err(e);
            return;
        }
        let range = start..values.len();
        let fields = &mut self.span.fields;
        match fields.binary_search_by(|(k, _)| k.cmp(&name)) {
            Ok(i) => fields[i].1 = range,
            Err(i) => fields.insert(i, (name, range)),
        }
    }
}

impl Visit for SpanVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.value(field.name(), |s| json(s, &value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.value(field.name(), |s| json(s, &value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.value(field.name(), |s| json(s, &value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.value(field.name(), |s| json(s, &value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.value(field.name(), |s| json(s, value));
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.value(field.name(), |s| json(s, value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.value(name, |s| json_debug(s, value));
    }
}

/// An event's fields, as tracing-serde's map visitor writes them: in order, debug values as
/// strings. Stops at the first value that cannot be formatted.
struct EventVisitor<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
    result: Result<(), fmt::Error>,
}

impl EventVisitor<'_> {
    fn entry(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        push_json_str(self.buf, name);
        self.buf.push(b':');
        self.result = write(self.buf);
    }
}

impl Visit for EventVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field.name(), |s| json(s, &value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field.name(), |s| json(s, &value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field.name(), |s| json(s, &value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field.name(), |s| json(s, &value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field.name(), |s| json(s, value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field.name(), |s| json_debug(s, value));
    }
}

/// Appends `value` as serde_json writes it; on an error, nothing.
fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> fmt::Result {
    let start = out.len();
    serde_json::to_writer(&mut *out, value).map_err(|_| {
        out.truncate(start);
        fmt::Error
    })
}

/// Appends `format!("{value:?}")` as a JSON string, escaped as it is formatted.
fn json_debug(out: &mut Vec<u8>, value: &dyn fmt::Debug) -> fmt::Result {
    let start = out.len();
    serde_json::Serializer::new(&mut *out)
        .collect_str(&format_args!("{value:?}"))
        .map_err(|_| {
            out.truncate(start);
            fmt::Error
        })
}

fn push_json_str(out: &mut Vec<u8>, value: &str) {
    // Writing a `&str` into memory cannot fail.
    let _ = json(out, value);
}

fn level_str(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        _ => "TRACE",
    }
}

/// `now` as tracing-subscriber's default timer writes it: RFC 3339 in UTC with microseconds,
/// `2026-12-02T10:11:12.123456Z`.
fn push_timestamp(s: &mut Vec<u8>, now: SystemTime) {
    let (secs, nanos) = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            match d.subsec_nanos() {
                0 => (-(d.as_secs() as i64), 0),
                n => (-(d.as_secs() as i64) - 1, 1_000_000_000 - n),
            }
        }
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        let _ = write!(s, "+{year}");
    } else if year < 0 {
        let _ = write!(s, "{year:05}");
    } else {
        let _ = write!(s, "{year:04}");
    }
    let _ = write!(
        s,
        "-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        nanos / 1_000
    );
}

/// Year, month, day of the proleptic Gregorian calendar, `days` after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
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

thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl<S, W> Layer<S> for JsonLog<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if extensions.get_mut::<SpanJson>().is_some() {
            return;
        }
        match SpanJson::new(span.name(), attrs) {
            Ok(fields) => extensions.insert(fields),
            Err(_) => {
                eprintln!("[hakanai-log] Unable to format the span's fields, ignoring: {attrs:?}")
            }
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanJson>() {
            // A value that cannot be formatted is left out, as the formatter left out the whole
            // record; the fields recorded before it stay.
            let _ = fields.add(values);
            fields.finish(span.name());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        BUF.with(|buf| {
            // Re-entered (a value's `Debug` logging): a buffer of its own.
            let mut own = Vec::new();
            let mut borrowed = buf.try_borrow_mut();
            let buf = match &mut borrowed {
                Ok(buf) => &mut **buf,
                Err(_) => &mut own,
            };
            buf.clear();
            let meta = event.metadata();
            buf.extend_from_slice(b"{\"timestamp\":\"");
            push_timestamp(buf, SystemTime::now());
            buf.extend_from_slice(b"\",\"level\":\"");
            buf.extend_from_slice(level_str(meta.level()).as_bytes());
            buf.extend_from_slice(b"\",\"fields\":{");
            let mut visitor = EventVisitor {
                buf,
                first: true,
                result: Ok(()),
            };
            event.record(&mut visitor);
            let formatted = visitor.result;
            let mut writer = self.make_writer.make_writer_for(meta);
            if formatted.is_err() {
                let message = format!(
                    "Unable to format the following event. Name: {}; Fields: {:?}\n",
                    meta.name(),
                    event.fields()
                );
                if let Err(e) = writer.write_all(message.as_bytes()) {
                    eprintln!("[hakanai-log] Unable to write an \"event formatting error\" to the log! Error: {e}\n");
                }
                return;
            }
            buf.extend_from_slice(b"},\"target\":");
            push_json_str(buf, meta.target());
            let span = event
                .parent()
                .and_then(|id| ctx.span(id))
                .or_else(|| ctx.lookup_current());
            if let Some(span) = span {
                if let Some(fields) = span.extensions().get::<SpanJson>() {
                    buf.extend_from_slice(b",\"span\":");
                    buf.extend_from_slice(&fields.object);
                }
            }
            buf.extend_from_slice(b"}\n");
            if let Err(e) = writer.write_all(buf) {
                eprintln!("[hakanai-log] Unable to write an event to the log! Error: {e}\n");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::Empty;
    use tracing_subscriber::filter::FilterExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::{EnvFilter, Registry};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[derive(Debug)]
    struct Failure;
    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("store \"down\"\n")
        }
    }
    impl std::error::Error for Failure {}

    const AWKWARD: &str = "quote \" backslash \\ newline \n tab \t bell \u{7} del \u{7f} \
                           é 🚀 \u{2028} </script>";

    /// The events: outside any span, in the request span (before and after fields are recorded
    /// into it, and inside a span the log does not know), by explicit parent, at several levels
    /// and targets, with every kind of value.
    fn events() {
        tracing::info!("outside any span");
        tracing::warn!(target: "custom::target", n = 3u64, "outside, {}", "formatted");
        let span = tracing::info_span!(
            "request",
            otel.name = format_args!("{} {}", "POST", "/api/v1/secret"),
            method = "POST",
            route = "/api/v1/secret",
            request_id = %"0123abcd",
            trace_id = Empty,
            span_id = Empty,
            r#type = ?Some("debug"),
            neg = -7i64,
            ratio = 0.25f64,
            flag = true,
            escaped = AWKWARD,
        );
        span.in_scope(|| {
            tracing::info!("before recording");
            span.record("trace_id", "0af7651916cd43dd8448eb211c80319c");
            span.record("span_id", "b7ad6b7169203331");
            span.record("neg", 12u64);
            tracing::info!(
                status = 201u16,
                latency = %format_args!("{} ms", 3),
                text = AWKWARD,
                debug = ?(AWKWARD, [1, 2]),
                big = u64::MAX,
                small = i64::MIN,
                huge = i128::MAX,
                float = 1.5f64,
                tiny = 1e-300f64,
                nan = f64::NAN,
                inf = f64::INFINITY,
                yes = false,
                error = &Failure as &(dyn std::error::Error + 'static),
                "finished processing request"
            );
            let inner = tracing::info_span!("store.put", key = "hidden");
            inner.in_scope(|| tracing::debug!(bytes = 42u64, "inside a store call"));
            tracing::error!(message = AWKWARD);
        });
        tracing::info!(parent: &span, "by explicit parent");
        tracing::trace!("at trace level");
        let other = tracing::info_span!("request", nothing_else = Empty);
        other.in_scope(|| tracing::info!(a = 1u64, a2 = 2i64, "a span without fields"));
        // The server's own request span and request line.
        use tower_http::trace::OnResponse as _;
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/api/v1/secret")
            .header("x-request-id", "from-the-proxy-1")
            .body(())
            .unwrap();
        let span = super::super::request_span(&req);
        let resp = axum::http::Response::builder()
            .status(201)
            .body(())
            .unwrap();
        span.in_scope(|| {
            tower_http::trace::DefaultOnResponse::new()
                .level(Level::INFO)
                .on_response(&resp, std::time::Duration::from_micros(1234), &span)
        });
    }

    /// `{"timestamp":"…"` with the time masked.
    fn masked(line: &str) -> String {
        let prefix = "{\"timestamp\":\"";
        assert!(line.starts_with(prefix), "{line}");
        let rest = &line[prefix.len()..];
        let end = rest.find('"').unwrap();
        format!("{prefix}T{}", &rest[end..])
    }

    #[test]
    fn lines_are_those_of_the_json_formatter() {
        let (old, new) = (Buf::default(), Buf::default());
        let (o, n) = (old.clone(), new.clone());
        let subscriber = Registry::default()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(move || o.clone())
                    .with_filter(EnvFilter::new("trace").and(super::super::request_span_only())),
            )
            .with(
                JsonLog::new(move || n.clone())
                    .with_filter(EnvFilter::new("trace").and(super::super::request_span_only())),
            );
        tracing::subscriber::with_default(subscriber, events);
        let (old, new) = (old.text(), new.text());
        let old_lines: Vec<&str> = old.lines().collect();
        let new_lines: Vec<&str> = new.lines().collect();
        assert_eq!(old_lines.len(), 10, "{old}");
        assert_eq!(new_lines.len(), old_lines.len(), "{new}");
        assert!(new.ends_with('\n'));
        for (o, n) in old_lines.iter().zip(&new_lines) {
            let (ov, nv): (serde_json::Value, serde_json::Value) = (
                serde_json::from_str(o).unwrap(),
                serde_json::from_str(n).unwrap(),
            );
            let (mut ov, mut nv) = (ov, nv);
            ov["timestamp"] = "T".into();
            nv["timestamp"] = "T".into();
            assert_eq!(nv, ov);
            // Byte for byte, but for the time.
            assert_eq!(masked(n), masked(o));
        }
        // The later records are in the span, sorted, the replaced one once.
        let finished: serde_json::Value = serde_json::from_str(new_lines[3]).unwrap();
        assert_eq!(
            finished["span"]["trace_id"],
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(finished["span"]["neg"], 12);
        assert_eq!(finished["span"]["escaped"], AWKWARD);
        assert_eq!(finished["fields"]["text"], AWKWARD);
        assert_eq!(finished["fields"]["error"], "store \"down\"\n");
        assert!(
            new_lines[3].contains(r#""span":{"escaped":"#),
            "{}",
            new_lines[3]
        );
        assert!(new_lines[3].ends_with(r#","name":"request"}}"#));
        // The store call's line names the request, not the store call.
        let inner: serde_json::Value = serde_json::from_str(new_lines[4]).unwrap();
        assert_eq!(inner["span"]["route"], "/api/v1/secret");
        assert!(inner["span"].get("key").is_none());
        let request: serde_json::Value = serde_json::from_str(new_lines[9]).unwrap();
        assert_eq!(request["fields"]["status"], 201);
        assert_eq!(request["span"]["otel.name"], "POST (other)");
        assert_eq!(request["span"]["request_id"], "from-the-proxy-1");
    }

    #[test]
    fn timestamps_are_rfc3339_microseconds() {
        let at = |secs: u64, micros: u32| {
            let mut s = Vec::new();
            push_timestamp(
                &mut s,
                UNIX_EPOCH + std::time::Duration::new(secs, micros * 1000 + 999),
            );
            String::from_utf8(s).unwrap()
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.000005Z");
        assert_eq!(at(1_795_000_000, 123_456), "2026-11-18T11:06:40.123456Z");
        assert_eq!(at(253_402_300_799, 999_999), "9999-12-31T23:59:59.999999Z");
        let mut s = Vec::new();
        push_timestamp(
            &mut s,
            UNIX_EPOCH - std::time::Duration::new(1, 500_000_000),
        );
        assert_eq!(s, b"1969-12-31T23:59:58.500000Z");
        // Against humantime, over a day's worth of steps in 2000–2100.
        for i in 0..20_000u64 {
            let secs = 946_684_800 + i * 157_791 + i % 86_400;
            let t = UNIX_EPOCH + std::time::Duration::new(secs, (i as u32 % 1000) * 1000);
            let mut s = Vec::new();
            push_timestamp(&mut s, t);
            assert_eq!(
                s,
                humantime::format_rfc3339_micros(t).to_string().as_bytes()
            );
        }
    }
}

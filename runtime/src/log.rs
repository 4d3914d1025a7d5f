//! `tracing` events to stderr as hclog JSON lines, the form a go-plugin host
//! turns into levelled entries of the server log:
//! `{"@level":"info","@message":"…","@timestamp":"…",…fields}`.
//!
//! The host is strict: `@timestamp` must have exactly six fraction digits,
//! and `@level`, `@message` and `@timestamp` must be strings, or the line is
//! logged raw (or worse). Both are guaranteed here.
//!
//! [`Logger`] is what a hook logs with: `tracing` events tagged with the
//! hook's name.

use std::fmt;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Writes to the server log (through `tracing`; any `tracing` event works
/// as well). Each line carries the hook it came from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Logger {
    hook: Option<&'static str>,
}

impl Logger {
    /// A logger that tags nothing, for code outside hooks.
    pub fn new() -> Self {
        Self { hook: None }
    }

    /// A logger that tags its lines with `hook`, as each hook's context has.
    #[doc(hidden)]
    pub fn for_hook(hook: &'static str) -> Self {
        Self { hook: Some(hook) }
    }

    /// Logs at debug level.
    pub fn debug(&self, message: impl fmt::Display) {
        tracing::debug!(hook = self.hook, "{message}");
    }

    /// Logs at info level.
    pub fn info(&self, message: impl fmt::Display) {
        tracing::info!(hook = self.hook, "{message}");
    }

    /// Logs at warn level.
    pub fn warn(&self, message: impl fmt::Display) {
        tracing::warn!(hook = self.hook, "{message}");
    }

    /// Logs at error level.
    pub fn error(&self, message: impl fmt::Display) {
        tracing::error!(hook = self.hook, "{message}");
    }
}

/// The environment variable with the plugin's log level: `trace`, `debug`,
/// `info`, `warn` (or `warning`) or `error`, in any case. Unset or empty:
/// `info`. Anything else: `info`, and a warning naming the variable is
/// logged once at start.
pub const LOG_LEVEL_ENV: &str = "MATTERMOST_PLUGIN_LOG_LEVEL";

/// Fields that would clash with hclog's own keys are renamed with a `_`.
const RESERVED: [&str; 3] = ["@level", "@message", "@timestamp"];

/// The level `MATTERMOST_PLUGIN_LOG_LEVEL` asks for (see [`LOG_LEVEL_ENV`]),
/// and for a value that is not a level, the warning to log once logging is
/// up.
pub(crate) fn level_from_env() -> (Level, Option<String>) {
    let value = std::env::var_os(LOG_LEVEL_ENV).map(|v| v.to_string_lossy().into_owned());
    level_setting(value.as_deref())
}

/// [`level_from_env`] for a given value.
pub(crate) fn level_setting(value: Option<&str>) -> (Level, Option<String>) {
    match value.filter(|v| !v.trim().is_empty()) {
        None => (Level::INFO, None),
        Some(value) => match parse_level(value) {
            Some(level) => (level, None),
            None => (
                Level::INFO,
                Some(format!(
                    "{LOG_LEVEL_ENV}={value:?} is not a log level (trace, debug, info, warn or error); logging at info"
                )),
            ),
        },
    }
}

/// `trace`, `debug`, `info`, `warn`/`warning`, `error`, any case.
pub(crate) fn parse_level(value: &str) -> Option<Level> {
    match value.trim().to_ascii_lowercase().as_str() {
        "trace" => Some(Level::TRACE),
        "debug" => Some(Level::DEBUG),
        "info" => Some(Level::INFO),
        "warn" | "warning" => Some(Level::WARN),
        "error" => Some(Level::ERROR),
        _ => None,
    }
}

/// Libraries under the SDK whose debug events describe HTTP/2 frames and
/// TLS records: at `debug` they would flood the server log, so they are
/// shown from `warn` up only.
const TRANSPORT_TARGETS: [&str; 6] = ["h2", "hyper", "hyper_util", "tonic", "tower", "rustls"];

/// Installs the hclog layer as the global subscriber, unless the program
/// already set one.
pub(crate) fn init(level: Level) {
    use tracing_subscriber::layer::SubscriberExt as _;
    // `Targets` decides per call site, once: a disabled event (such as the
    // HTTP/2 layer's per-frame traces) then costs nothing per call.
    let transport = Level::WARN.min(level);
    let filter = TRANSPORT_TARGETS
        .iter()
        .fold(tracing_subscriber::filter::Targets::new().with_default(level), |targets, target| {
            targets.with_target(*target, transport)
        });
    let subscriber = tracing_subscriber::registry().with(HclogLayer.with_filter(filter));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Writes each event as one hclog JSON line on stderr.
pub struct HclogLayer;

/// A span's fields, kept for the events inside it.
struct SpanFields(Map<String, Value>);

/// Keeps a new span's fields, for [`event_fields`]; a layer's `on_new_span`.
pub(crate) fn keep_span_fields<S: Subscriber + for<'a> LookupSpan<'a>>(
    attrs: &tracing::span::Attributes<'_>,
    id: &tracing::span::Id,
    ctx: &Context<'_, S>,
) {
    let mut fields = Fields::default();
    attrs.record(&mut fields);
    if let Some(span) = ctx.span(id) {
        span.extensions_mut().insert(SpanFields(fields.map));
    }
}

/// An event's message and fields, with the fields of the spans it is in
/// (the event's own win, then the innermost span's).
pub(crate) fn event_fields<S: Subscriber + for<'a> LookupSpan<'a>>(event: &Event<'_>, ctx: &Context<'_, S>) -> Fields {
    let mut fields = Fields::default();
    event.record(&mut fields);
    if let Some(scope) = ctx.event_scope(event) {
        for span in scope.from_root() {
            if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                for (key, value) in span_fields {
                    fields.map.entry(key.clone()).or_insert_with(|| value.clone());
                }
            }
        }
    }
    fields
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for HclogLayer {
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        keep_span_fields(attrs, id, &ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let fields = event_fields(event, &ctx);
        let line = hclog_line(*event.metadata().level(), fields.message, fields.map, SystemTime::now());
        // One write per line, so lines from several threads never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// One hclog JSON line, newline included.
pub(crate) fn hclog_line(level: Level, message: String, fields: Map<String, Value>, at: SystemTime) -> String {
    let mut out = Map::new();
    out.insert("@level".into(), Value::String(level_name(level).into()));
    out.insert("@message".into(), Value::String(message));
    out.insert("@timestamp".into(), Value::String(timestamp(at)));
    for (key, value) in fields {
        let key = if RESERVED.contains(&key.as_str()) { format!("_{key}") } else { key };
        out.insert(key, value);
    }
    let mut line = Value::Object(out).to_string();
    line.push('\n');
    line
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// UTC as `2006-01-02T15:04:05.000000Z`: microseconds, exactly six digits.
pub(crate) fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's civil-from-days algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// An event's message and other fields, as JSON values.
#[derive(Default)]
pub(crate) struct Fields {
    pub(crate) message: String,
    pub(crate) map: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.map.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_have_six_fraction_digits_in_utc() {
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_007);
        assert_eq!(timestamp(at), "2023-11-14T22:13:20.000007Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        // A leap day.
        assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn a_line_has_string_keys_first_and_renames_clashing_fields() {
        let mut fields = Map::new();
        fields.insert("@level".into(), Value::from(3));
        fields.insert("user_id".into(), Value::from("u1"));
        let line = hclog_line(Level::WARN, "hello".into(), fields, UNIX_EPOCH);
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["@level"], "warn");
        assert_eq!(value["@message"], "hello");
        assert_eq!(value["@timestamp"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(value["_@level"], 3);
        assert_eq!(value["user_id"], "u1");
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
    }

    #[test]
    fn levels_parse_in_any_case() {
        assert_eq!(parse_level("DEBUG"), Some(Level::DEBUG));
        assert_eq!(parse_level(" warning "), Some(Level::WARN));
        assert_eq!(parse_level("loud"), None);
    }

    #[test]
    fn a_bad_level_falls_back_to_info_with_a_warning_naming_the_variable() {
        assert_eq!(level_setting(None), (Level::INFO, None));
        assert_eq!(level_setting(Some("  ")), (Level::INFO, None));
        assert_eq!(level_setting(Some("Error")), (Level::ERROR, None));
        let (level, warning) = level_setting(Some("loud"));
        assert_eq!(level, Level::INFO);
        let warning = warning.expect("a warning");
        assert!(warning.contains("MATTERMOST_PLUGIN_LOG_LEVEL=\"loud\"") && warning.contains("at info"), "{warning}");
    }
}

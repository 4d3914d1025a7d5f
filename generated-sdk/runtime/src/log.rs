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
//!
//! Logging never blocks a hook. Lines go into a bounded buffer that a thread
//! of its own writes to stderr: a host that stops reading stderr fills the
//! pipe and then the buffer, and further lines are dropped and counted, not
//! waited for. Once stderr takes lines again, the count is logged
//! (`dropped N log lines: stderr was not being read`).

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
        emit(line);
    }
}

/// How many bytes of log lines may wait for stderr. Past this, lines are
/// dropped (and counted): with the pipe's own 64 KiB, a host may stop
/// reading for a burst of some 1,500 typical lines before any is lost.
const BUFFER_BYTES: usize = 256 * 1024;

/// The buffer the log thread drains to stderr; `None` if the thread could
/// not be started (lines are then written directly, as a last resort).
static SINK: OnceLock<Option<Arc<LineBuffer>>> = OnceLock::new();

/// Hands a line to the log thread, started on first use; never waits for
/// stderr.
fn emit(line: String) {
    let sink = SINK.get_or_init(|| {
        let buffer = Arc::new(LineBuffer::new(BUFFER_BYTES));
        let drained = Arc::clone(&buffer);
        std::thread::Builder::new()
            .name("plugin-log".into())
            .spawn(move || drained.pump(&mut std::io::stderr()))
            .ok()
            .map(|_| buffer)
    });
    match sink {
        Some(buffer) => {
            buffer.push(line);
        }
        None => {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

/// Waits, up to `limit`, for the log thread to write every queued line (and
/// the count of dropped ones) to stderr; false if it could not. For the end
/// of the process: a stalled stderr must not hold the exit.
pub(crate) fn flush(limit: Duration) -> bool {
    match SINK.get() {
        Some(Some(buffer)) => buffer.flush(limit),
        _ => true,
    }
}

/// Log lines on their way to stderr: at most `capacity` bytes of them wait
/// (one line of any size is taken into an empty buffer); past that, lines
/// are dropped and counted.
pub(crate) struct LineBuffer {
    queue: Mutex<Queue>,
    /// The writer waits here for lines.
    ready: Condvar,
    /// [`LineBuffer::flush`] waits here for the writer to be done.
    idle: Condvar,
    capacity: usize,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<String>,
    bytes: usize,
    /// Lines dropped since the writer last took the queue.
    dropped: u64,
    /// The writer is writing what it took.
    writing: bool,
}

impl LineBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { queue: Mutex::default(), ready: Condvar::new(), idle: Condvar::new(), capacity }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves the queue consistent.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a line for stderr; false, and the line counted as dropped,
    /// when the buffer is full. Never waits for the writer.
    pub(crate) fn push(&self, line: String) -> bool {
        let mut queue = self.lock();
        if !queue.lines.is_empty() && queue.bytes + line.len() > self.capacity {
            queue.dropped += 1;
            return false;
        }
        queue.bytes += line.len();
        queue.lines.push_back(line);
        drop(queue);
        self.ready.notify_one();
        true
    }

    /// Waits for lines, then takes them all, with the count of lines dropped
    /// since the last take.
    fn take(&self) -> (VecDeque<String>, u64) {
        let queue = self.lock();
        let mut queue = self
            .ready
            .wait_while(queue, |q| q.lines.is_empty() && q.dropped == 0)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        queue.bytes = 0;
        queue.writing = true;
        (std::mem::take(&mut queue.lines), std::mem::take(&mut queue.dropped))
    }

    /// The writer is done with what it took.
    fn done(&self) {
        self.lock().writing = false;
        self.idle.notify_all();
    }

    /// The log thread: writes what is queued to `out`, forever. Write
    /// errors (stderr closed) lose the lines, as a direct write would.
    pub(crate) fn pump(&self, out: &mut impl Write) {
        loop {
            let (lines, dropped) = self.take();
            write_batch(out, lines, dropped, SystemTime::now());
            self.done();
        }
    }

    /// Waits, up to `limit`, until everything queued is written.
    pub(crate) fn flush(&self, limit: Duration) -> bool {
        let queue = self.lock();
        let (_queue, waited) = self
            .idle
            .wait_timeout_while(queue, limit, |q| !q.lines.is_empty() || q.dropped > 0 || q.writing)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        !waited.timed_out()
    }
}

/// Writes `lines`, one write each so that no other writer's output lands
/// inside a line, then, if any were dropped, the line that says how many.
fn write_batch(out: &mut impl Write, lines: VecDeque<String>, dropped: u64, at: SystemTime) {
    for line in lines {
        let _ = out.write_all(line.as_bytes());
    }
    if dropped > 0 {
        let _ = out.write_all(dropped_line(dropped, at).as_bytes());
    }
    let _ = out.flush();
}

/// The warning that says how many lines a stalled stderr cost.
fn dropped_line(dropped: u64, at: SystemTime) -> String {
    let mut fields = Map::new();
    fields.insert("dropped".into(), Value::from(dropped));
    hclog_line(Level::WARN, format!("dropped {dropped} log lines: stderr was not being read"), fields, at)
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

    fn lines_of(bytes: &[u8]) -> Vec<Value> {
        String::from_utf8_lossy(bytes).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn a_full_buffer_drops_and_counts_lines_and_the_drain_says_how_many() {
        let line = |n: usize| format!("{n:09}\n"); // ten bytes
        let buffer = LineBuffer::new(30);
        for n in 0..3 {
            assert!(buffer.push(line(n)), "line {n} fits");
        }
        for n in 3..10 {
            assert!(!buffer.push(line(n)), "line {n} is dropped");
        }
        let (lines, dropped) = buffer.take();
        assert_eq!(lines, [line(0), line(1), line(2)]);
        assert_eq!(dropped, 7);
        // Taken: there is room again, and the count starts over.
        assert!(buffer.push(line(10)));
        let mut out = Vec::new();
        write_batch(&mut out, lines, dropped, UNIX_EPOCH);
        let text = String::from_utf8(out).unwrap();
        let mut written = text.lines();
        assert_eq!(written.next(), Some("000000000"));
        assert_eq!(written.nth(1), Some("000000002"));
        let notice: Value = serde_json::from_str(written.next().unwrap()).unwrap();
        assert_eq!(notice["@level"], "warn");
        assert_eq!(notice["@message"], "dropped 7 log lines: stderr was not being read");
        assert_eq!(notice["dropped"], 7);
        assert_eq!(written.next(), None);
        // Nothing dropped: no notice.
        let mut out = Vec::new();
        write_batch(&mut out, VecDeque::from([line(11)]), 0, UNIX_EPOCH);
        assert_eq!(out, line(11).as_bytes());
    }

    #[test]
    fn one_line_larger_than_the_buffer_still_goes_through_an_empty_buffer() {
        let buffer = LineBuffer::new(4);
        assert!(buffer.push("a long line\n".into()));
        assert!(!buffer.push("b\n".into()));
    }

    /// A writer that blocks, as a pipe nobody reads does, until released.
    struct Stalled {
        release: std::sync::mpsc::Receiver<()>,
        released: bool,
        out: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Stalled {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if !self.released {
                let _ = self.release.recv();
                self.released = true;
            }
            self.out.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_stderr_never_holds_a_logger_and_the_drain_logs_the_count() {
        let buffer = Arc::new(LineBuffer::new(1_000));
        let (release, gate) = std::sync::mpsc::channel();
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut stalled = Stalled { release: gate, released: false, out: Arc::clone(&out) };
        let writer = Arc::clone(&buffer);
        std::thread::spawn(move || writer.pump(&mut stalled));
        // The writer takes what it can and blocks on stderr; the loggers go
        // on, their lines kept up to the capacity, the rest counted.
        let line = hclog_line(Level::INFO, "refused a post".into(), Map::new(), UNIX_EPOCH);
        let dropped = (0..2_000).filter(|_| !buffer.push(line.clone())).count();
        assert!(dropped > 1_000, "{dropped} of 2,000 lines dropped by a 1,000-byte buffer");
        release.send(()).unwrap();
        // A hang guard, not a speed target.
        assert!(buffer.flush(Duration::from_secs(30)), "the buffer drains once stderr is read");
        let lines = lines_of(&out.lock().unwrap());
        // One notice, or two if the writer took its first lines only after
        // some were dropped: together they count every dropped line.
        let notices: Vec<_> = lines.iter().filter(|l| l["@level"] == "warn").collect();
        assert!(matches!(notices.len(), 1 | 2), "notices: {notices:?}");
        for notice in &notices {
            let message = notice["@message"].as_str().unwrap();
            assert_eq!(message, format!("dropped {} log lines: stderr was not being read", notice["dropped"]));
        }
        let counted: u64 = notices.iter().map(|n| n["dropped"].as_u64().unwrap()).sum();
        assert_eq!(counted, dropped as u64);
        assert_eq!(lines.len() - notices.len() + dropped, 2_000, "every line is written or counted");
    }
}

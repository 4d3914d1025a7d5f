//! What a plugin logged, captured for assertions: its `tracing` events
//! (`cx.log`, `tracing::info!`) and its calls of the API's log methods.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// Where a captured line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// A `tracing` event in the plugin (`cx.log.info(…)`), which reaches the
    /// server as a line on stderr.
    Tracing,
    /// A call of the API's `LogDebug`/`LogInfo`/`LogWarn`/`LogError`.
    Api,
}

/// One captured log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// The message.
    pub message: String,
    /// The other fields, by name (for a hook's lines, `hook` among them).
    pub fields: Map<String, Value>,
    /// Where it came from.
    pub source: LogSource,
}

impl LogLine {
    /// The hook the line was logged in, when one was running.
    pub fn hook(&self) -> Option<&str> {
        self.fields.get("hook").and_then(Value::as_str)
    }
}

/// The captured lines, in order. Clones share them.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    lines: Arc<Mutex<Vec<LogLine>>>,
}

impl Logs {
    /// No lines yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a line.
    pub fn push(&self, line: LogLine) {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner).push(line);
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<LogLine> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Whether a line at `level` contains `text` in its message.
    pub fn contains(&self, level: Level, text: &str) -> bool {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|l| l.level == level && l.message.contains(text))
    }

    /// Forgets the lines so far.
    pub fn clear(&self) {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// A `tracing` dispatcher that captures every event (all levels) here.
    /// Run a future with it (`tracing::instrument::WithSubscriber`) to
    /// capture what that future logs, on whatever thread it runs.
    pub fn dispatch(&self) -> tracing::Dispatch {
        tracing::Dispatch::new(tracing_subscriber::registry().with(Capture(self.clone())))
    }
}

/// The layer behind [`Logs::dispatch`].
struct Capture(Logs);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        crate::log::keep_span_fields(attrs, id, &ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let fields = crate::log::event_fields(event, &ctx);
        self.0.push(LogLine {
            level: *event.metadata().level(),
            message: fields.message,
            fields: fields.map,
            source: LogSource::Tracing,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::instrument::WithSubscriber as _;

    #[tokio::test]
    async fn a_futures_events_are_captured_with_their_spans_fields() {
        let logs = Logs::new();
        async {
            let span = tracing::debug_span!("hook", hook = "OnActivate");
            let _entered = span.enter();
            tracing::info!(count = 3, "activated");
            crate::Logger::for_hook("ExecuteCommand").warn("careful");
        }
        .with_subscriber(logs.dispatch())
        .await;
        tracing::error!("outside: not captured");
        let lines = logs.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!((lines[0].level, lines[0].message.as_str()), (Level::INFO, "activated"));
        assert_eq!(lines[0].fields["count"], 3);
        assert_eq!(lines[0].hook(), Some("OnActivate"));
        assert_eq!(lines[1].hook(), Some("ExecuteCommand"), "the event's own field wins over the span's");
        assert!(logs.contains(Level::WARN, "care"));
        assert!(!logs.contains(Level::INFO, "care"));
        logs.clear();
        assert!(logs.lines().is_empty());
    }
}

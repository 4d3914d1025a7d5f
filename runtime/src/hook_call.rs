//! What every hook call goes through on its way to the plugin: a panic
//! guard (a panic stays inside one call), the hook timeout, a tracing span
//! naming the hook; and what a hook answers when it fails ([`HookError`]),
//! made readable where the server shows it.
//!
//! The generated hook server calls these with the hook's name; the per-hook
//! glue that unwraps requests and builds responses is generated.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use tonic::Status;
use tracing::Instrument as _;

use crate::error::{AppError, Error};
use crate::panic::CatchUnwind;

/// What a hook whose Go signature returns `error` returns.
pub type HookResult<T = ()> = Result<T, HookError>;

/// A hook's failure, sent to the server as an application error.
///
/// `?` turns any error into one. An [`AppError`] keeps its id and status,
/// and so does an API call's [`Error::App`] (whose `where_`, the server's
/// place for that other call, makes way for the hook's name); anything else
/// becomes the id `plugin.hook.error`, status 500, with the error and its
/// sources as the message.
///
/// What people see: the server rebuilds the error from its id,
/// `detailed_error`, `where_` and status, and shows the id's translation in
/// place of `message`. So the SDK also sends the message as
/// `detailed_error` when that is empty, and the hook's name as `where_`
/// when that is empty: a failing `/hello` shows up as
/// `ExecuteCommand: plugin.hook.error, unknown option …`.
pub struct HookError {
    app: AppError,
}

impl HookError {
    /// The id of errors that are not already application errors.
    pub const GENERIC_ID: &'static str = "plugin.hook.error";

    /// A failure with this message.
    pub fn new(message: impl fmt::Display) -> Self {
        Self::app(AppError {
            id: Self::GENERIC_ID.to_owned(),
            message: message.to_string(),
            status_code: 500,
            ..AppError::default()
        })
    }

    /// A failure with a chosen id, message and HTTP status.
    pub fn app(app: AppError) -> Self {
        Self { app }
    }

    /// The application error the server receives.
    pub fn as_app_error(&self) -> &AppError {
        &self.app
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HookError {
    fn from(error: E) -> Self {
        let error: Box<dyn std::error::Error + Send + Sync> = Box::new(error);
        let error = match error.downcast::<AppError>() {
            Ok(app) => return Self::app(*app),
            Err(other) => other,
        };
        if let Some(Error::App(app)) = error.downcast_ref::<Error>() {
            return Self::app(AppError { where_: String::new(), ..(**app).clone() });
        }
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::new(message)
    }
}

impl fmt::Debug for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HookError").field(&self.app).finish()
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.app, f)
    }
}

/// Why a hook call produced no answer.
#[derive(Debug)]
pub enum Failure {
    /// The hook panicked; the message is the panic's.
    Panicked {
        /// The hook's name.
        hook: &'static str,
        /// What the panic said.
        message: String,
    },
    /// The hook ran past the timeout and was cancelled.
    TimedOut {
        /// The hook's name.
        hook: &'static str,
        /// The timeout.
        after: Duration,
    },
}

impl Failure {
    /// `INTERNAL` for a panic, `DEADLINE_EXCEEDED` for a timeout.
    pub fn into_status(self) -> Status {
        match self {
            Self::Panicked { hook, message } => Status::internal(format!("hook {hook} panicked: {message}")),
            Self::TimedOut { hook, after } => {
                Status::deadline_exceeded(format!("hook {hook} did not finish within {} s", after.as_secs_f64()))
            }
        }
    }
}

/// Runs one hook call within `timeout`, catching a panic. The call runs on
/// the task tonic gave the request (calls are concurrent already), so a host
/// that cancels the call drops the hook with it.
///
/// Generic only in what the hook answers: the deadline, the span, the panic
/// catching and the timeout are in `call_erased`, compiled once in this
/// crate rather than once per hook in every plugin.
pub async fn call<T: Send>(
    hook: &'static str,
    timeout: Duration,
    call: impl Future<Output = T> + Send,
) -> Result<T, Failure> {
    let mut answer = None;
    {
        let run = std::pin::pin!(async {
            answer = Some(call.await);
        });
        call_erased(hook, timeout, run).await?;
    }
    // `call_erased` returns `Ok` only once the call ran to its end, which
    // fills `answer`.
    answer.ok_or_else(|| Failure::Panicked { hook, message: "the hook returned no answer".to_owned() })
}

/// [`call`] for a call whose answer is kept by the caller.
async fn call_erased(
    hook: &'static str,
    timeout: Duration,
    call: Pin<&mut (dyn Future<Output = ()> + Send + '_)>,
) -> Result<(), Failure> {
    let span = hook_span(hook);
    let call = DEADLINE.scope(Instant::now() + timeout, call.instrument(span));
    let call = CatchUnwind(std::pin::pin!(call));
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => {
            tracing::error!(hook, "hook panicked: {message}");
            Err(Failure::Panicked { hook, message })
        }
        Err(_elapsed) => {
            tracing::error!(hook, "hook cancelled after {} s", timeout.as_secs_f64());
            Err(Failure::TimedOut { hook, after: timeout })
        }
    }
}

tokio::task_local! {
    /// When the hook running on this task will be cancelled.
    static DEADLINE: Instant;
}

/// When the hook this code runs in will be cancelled; `None` outside a
/// hook's own task (a task spawned from a hook has no deadline of its own).
pub fn deadline() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// The span a hook runs in: its `hook` field goes onto every log line the
/// hook writes. At level ERROR so that it is on whatever the log level: a
/// span a level filter turns off takes its fields with it (a hook's
/// `warn!` at the default level `info` would lose `hook`).
fn hook_span(hook: &'static str) -> tracing::Span {
    tracing::error_span!("hook", hook)
}

/// Runs the plugin's `first` hook method at the start of another hook's
/// call (`OnActivate` runs `OnConfigurationChange`, as Go's SDK does). Its
/// failure or panic is logged and the call goes on, as in Go.
pub async fn run_first(first: &'static str, hook: &'static str, run: impl Future<Output = HookResult> + Send) {
    let span = hook_span(first);
    match CatchUnwind(std::pin::pin!(run.instrument(span))).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(hook = first, "{first} failed before {hook}; going on: {error}"),
        Err(message) => tracing::error!(hook = first, "{first} panicked before {hook}; going on: {message}"),
    }
}

/// For hooks that answer an `error` field: a failure or a panic goes there,
/// readable where the server shows it; a timeout stays a
/// `DEADLINE_EXCEEDED` status.
pub fn app_error(hook: &'static str, outcome: Result<HookResult, Failure>) -> Result<Option<AppError>, Status> {
    app_error_or(hook, outcome).map(|(error, ())| error)
}

/// Like [`app_error`], for hooks that also answer a value (the default
/// value when there is an error).
pub fn app_error_or<T: Default>(
    hook: &'static str,
    outcome: Result<HookResult<T>, Failure>,
) -> Result<(Option<AppError>, T), Status> {
    match outcome {
        Ok(Ok(value)) => Ok((None, value)),
        Ok(Err(error)) => Ok((Some(for_the_host(hook, error.app)), T::default())),
        Err(Failure::Panicked { hook, message }) => {
            let error = AppError {
                id: PANIC_ID.to_owned(),
                message: format!("hook {hook} panicked: {message}"),
                status_code: 500,
                ..AppError::default()
            };
            Ok((Some(for_the_host(hook, error)), T::default()))
        }
        Err(timeout @ Failure::TimedOut { .. }) => Err(timeout.into_status()),
    }
}

/// The id of the error a panicking hook answers.
const PANIC_ID: &str = "plugin.hook.panic";

/// Makes a hook's error readable where the server shows it. The host
/// rebuilds the error from `where`, `id`, `detailed_error` and
/// `status_code` and drops `message` (host rules, "Hook errors"), so the
/// text also goes in `detailed_error` when that is empty, and the hook's
/// name in `where` when that is empty.
fn for_the_host(hook: &'static str, mut error: AppError) -> AppError {
    if error.detailed_error.is_empty() {
        error.detailed_error.clone_from(&error.message);
    }
    if error.where_.is_empty() {
        error.where_ = hook.to_owned();
    }
    error
}

/// A message argument the hook cannot do without: its absence is the
/// request's fault (`INVALID_ARGUMENT`).
pub fn required_argument<T>(value: Option<T>, field: &str) -> Result<T, Status> {
    value.ok_or_else(|| Status::invalid_argument(format!("the request lacks `{field}`")))
}

/// An empty rejection reason means "allow" on the wire; never send one.
pub fn rejection(reason: String) -> String {
    if reason.is_empty() { "Rejected by a plugin.".to_owned() } else { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps each event's fields, with those of its spans, as the hclog
    /// layer sees them.
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<serde_json::Map<String, serde_json::Value>>>>);

    impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> tracing_subscriber::Layer<S>
        for Capture
    {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            id: &tracing::span::Id,
            ctx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            crate::log::keep_span_fields(attrs, id, &ctx);
        }

        fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
            self.0.lock().unwrap().push(crate::log::event_fields(event, &ctx).map);
        }
    }

    #[tokio::test]
    async fn the_hook_field_reaches_lines_at_every_log_level() {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        for level in [tracing::Level::TRACE, tracing::Level::INFO, tracing::Level::WARN, tracing::Level::ERROR] {
            let lines = std::sync::Arc::default();
            let filter = tracing_subscriber::filter::Targets::new().with_default(level);
            let subscriber =
                tracing_subscriber::registry().with(Capture(std::sync::Arc::clone(&lines)).with_filter(filter));
            let _default = tracing::subscriber::set_default(subscriber);
            call("OnActivate", Duration::from_secs(5), async { tracing::error!(user = "u1", "it broke") })
                .await
                .unwrap();
            run_first("OnConfigurationChange", "OnActivate", async {
                tracing::error!("bad settings");
                Ok(())
            })
            .await;
            let lines = lines.lock().unwrap();
            assert_eq!(lines.len(), 2, "at {level}");
            assert_eq!(
                (lines[0]["hook"].as_str(), lines[0]["user"].as_str()),
                (Some("OnActivate"), Some("u1")),
                "at {level}"
            );
            assert_eq!(lines[1]["hook"].as_str(), Some("OnConfigurationChange"), "at {level}");
        }
    }

    fn answered(outcome: Result<HookResult, Failure>) -> AppError {
        app_error("ExecuteCommand", outcome).unwrap().expect("an error")
    }

    #[test]
    fn a_hook_error_is_readable_where_the_host_shows_it() {
        let error = answered(Ok(Err(HookError::new("unknown option"))));
        assert_eq!(error.id, HookError::GENERIC_ID);
        assert_eq!((error.message.as_str(), error.detailed_error.as_str()), ("unknown option", "unknown option"));
        assert_eq!((error.where_.as_str(), error.status_code), ("ExecuteCommand", 500));
    }

    #[test]
    fn where_and_details_the_plugin_chose_are_kept() {
        let chosen = AppError {
            id: "com.example.x".into(),
            message: "For people.".into(),
            detailed_error: "for developers".into(),
            where_: "Setup".into(),
            status_code: 409,
            ..AppError::default()
        };
        assert_eq!(answered(Ok(Err(HookError::app(chosen.clone())))), chosen);
    }

    #[test]
    fn an_api_error_keeps_its_id_and_status_and_takes_the_hooks_name() {
        let api = Error::App(Box::new(AppError {
            id: "app.user.missing_account.const".into(),
            message: "no such user".into(),
            where_: "SqlUserStore.Get".into(),
            status_code: 404,
            ..AppError::default()
        }));
        let error = answered(Ok(Err(HookError::from(api))));
        assert_eq!(error.id, "app.user.missing_account.const");
        assert_eq!((error.status_code, error.where_.as_str()), (404, "ExecuteCommand"));
        assert_eq!(error.detailed_error, "no such user");
    }

    #[test]
    fn other_errors_carry_their_sources() {
        let io = std::io::Error::other("disk full");
        let error = answered(Ok(Err(HookError::from(io))));
        assert_eq!((error.id.as_str(), error.message.as_str()), (HookError::GENERIC_ID, "disk full"));
    }

    #[test]
    fn a_panic_is_an_app_error_and_a_timeout_a_status() {
        let panic = Failure::Panicked { hook: "ExecuteCommand", message: "boom".into() };
        let error = answered(Err(panic));
        assert_eq!(
            (error.id.as_str(), error.detailed_error.as_str()),
            (PANIC_ID, "hook ExecuteCommand panicked: boom")
        );
        let timeout = Failure::TimedOut { hook: "ExecuteCommand", after: Duration::from_millis(300) };
        let status = app_error("ExecuteCommand", Err(timeout)).unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert_eq!(status.message(), "hook ExecuteCommand did not finish within 0.3 s");
    }

    #[tokio::test]
    async fn a_call_answers_its_value_and_a_panic_or_a_timeout_is_a_failure() {
        let second = Duration::from_secs(1);
        assert_eq!(call("OnActivate", second, async { 5 }).await.unwrap(), 5);
        let panicked = call("OnActivate", second, async { panic!("oops") }).await;
        assert!(matches!(panicked, Err(Failure::Panicked { hook: "OnActivate", ref message }) if message == "oops"));
        let slow = call("OnActivate", Duration::from_millis(20), std::future::pending::<()>()).await;
        assert!(matches!(slow, Err(Failure::TimedOut { hook: "OnActivate", .. })));
    }

    #[tokio::test]
    async fn run_first_goes_on_after_an_error_or_a_panic() {
        run_first("OnConfigurationChange", "OnActivate", async { Err(HookError::new("unreadable")) }).await;
        run_first("OnConfigurationChange", "OnActivate", async { panic!("exploded") }).await;
        run_first("OnConfigurationChange", "OnActivate", async { Ok(()) }).await;
    }

    #[test]
    fn rejections_are_never_empty_and_required_arguments_are_invalid_when_missing() {
        assert_eq!(rejection(String::new()), "Rejected by a plugin.");
        assert_eq!(rejection("no".into()), "no");
        assert_eq!(required_argument(Some(1), "post").unwrap(), 1);
        let status = required_argument::<u8>(None, "post").unwrap_err();
        assert_eq!((status.code(), status.message()), (tonic::Code::InvalidArgument, "the request lacks `post`"));
    }
}

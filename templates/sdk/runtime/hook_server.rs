//! What every hook call goes through on its way to the plugin: a panic
//! guard (a panic stays inside one call), the hook timeout, and a tracing
//! span naming the hook. The per-hook glue that
//! unwraps requests and builds responses is generated (`plugin.rs`).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tonic::Status;
use tracing::Instrument as _;

use super::context::{Context, HookError};
use super::serve::DEFAULT_HTTP_BODY_LIMIT;
use crate::{HookName, Plugin, PluginApiClient, proto};

/// Serves a [`Plugin`] as the `PluginHooks` gRPC service.
pub struct HookServer<P> {
    plugin: Arc<P>,
    /// One context per hook, made once: a call only bumps a count.
    contexts: Vec<Arc<Context>>,
    timeout: Duration,
    http_body_limit: u64,
}

impl<P: Plugin> HookServer<P> {
    /// Serves `plugin`, giving its hooks `api`; a hook still running after
    /// `timeout` is cancelled.
    pub fn new(plugin: Arc<P>, api: PluginApiClient, timeout: Duration) -> Self {
        let contexts = HookName::ALL.iter().map(|&hook| Arc::new(Context::new(api.clone(), hook))).collect();
        Self { plugin, contexts, timeout, http_body_limit: DEFAULT_HTTP_BODY_LIMIT }
    }

    /// Refuses HTTP request bodies over `limit` bytes with 413.
    pub fn with_http_body_limit(mut self, limit: u64) -> Self {
        self.http_body_limit = limit;
        self
    }

    /// The largest HTTP request body accepted, in bytes.
    pub fn http_body_limit(&self) -> u64 {
        self.http_body_limit
    }

    /// The plugin and the context its `hook` calls get.
    pub fn parts(&self, hook: HookName) -> (Arc<P>, Arc<Context>) {
        (Arc::clone(&self.plugin), Arc::clone(&self.contexts[hook as usize]))
    }

    /// The names `Implemented` answers, in the contract's order: the hooks
    /// the plugin wrote, and a hook that runs another first (`OnActivate`)
    /// when the plugin wrote that other one.
    pub(crate) fn implemented_names() -> Vec<String> {
        let written = |hook: &HookName| P::IMPLEMENTED.contains(hook);
        HookName::ALL
            .iter()
            .filter(|hook| written(hook) || crate::plugin::RUNS_FIRST.iter().any(|(h, first)| h == *hook && written(first)))
            .map(|hook| hook.as_str().to_owned())
            .collect()
    }

    /// Runs one hook call within the timeout, catching a panic. The call
    /// runs on the task tonic gave the request (calls are concurrent
    /// already), so a host that cancels the call drops the hook with it.
    pub(crate) async fn call<T, F, Fut>(&self, hook: HookName, f: F) -> Result<T, Failure>
    where
        F: FnOnce(Arc<P>, Arc<Context>) -> Fut,
        Fut: Future<Output = T> + Send,
    {
        // `HookName::ALL` lists the variants in declaration order.
        let cx = Arc::clone(&self.contexts[hook as usize]);
        let span = tracing::debug_span!("hook", hook = hook.as_str());
        let future = std::pin::pin!(f(Arc::clone(&self.plugin), cx).instrument(span));
        let future = CatchUnwind(future);
        match tokio::time::timeout(self.timeout, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(payload)) => {
                let message = panic_message(payload.as_ref());
                tracing::error!(hook = hook.as_str(), "hook panicked: {message}");
                Err(Failure::Panicked { hook, message })
            }
            Err(_elapsed) => {
                tracing::error!(hook = hook.as_str(), "hook cancelled after {} s", self.timeout.as_secs_f64());
                Err(Failure::TimedOut { hook, after: self.timeout })
            }
        }
    }

    /// [`Self::call`] for a hook that runs another hook's plugin method
    /// first (`OnActivate` runs `OnConfigurationChange`, as Go's SDK does).
    /// Both run within one timeout; a failure or a panic of the first is
    /// logged and the hook goes on, as in Go.
    #[allow(dead_code, reason = "a contract without such a hook generates no call to it")]
    pub(crate) async fn call_after<T, G, GFut, F, Fut>(&self, first: HookName, g: G, hook: HookName, f: F) -> Result<T, Failure>
    where
        G: FnOnce(Arc<P>, Arc<Context>) -> GFut + Send,
        GFut: Future<Output = Result<(), HookError>> + Send,
        F: FnOnce(Arc<P>, Arc<Context>) -> Fut + Send,
        Fut: Future<Output = T> + Send,
    {
        let first_cx = Arc::clone(&self.contexts[first as usize]);
        self.call(hook, move |plugin, cx| async move {
            let span = tracing::debug_span!("hook", hook = first.as_str());
            let prepared = CatchUnwind(std::pin::pin!(g(Arc::clone(&plugin), first_cx).instrument(span))).await;
            match prepared {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::error!(hook = first.as_str(), "{first} failed before {hook}; going on: {error}");
                }
                Err(payload) => {
                    let message = panic_message(payload.as_ref());
                    tracing::error!(hook = first.as_str(), "{first} panicked before {hook}; going on: {message}");
                }
            }
            f(plugin, cx).await
        })
        .await
    }
}

/// Polls a future, turning a panic inside it into an `Err` with the panic's
/// payload. After a panic the future is dropped, never polled again.
struct CatchUnwind<'a, F>(Pin<&'a mut F>);

impl<F: Future> Future for CatchUnwind<'_, F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        // Unwind safety: the plugin's state sits behind `&self` and its own
        // locks, which a panic poisons as usual.
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// Why a hook call produced no answer.
#[derive(Debug)]
pub(crate) enum Failure {
    Panicked { hook: HookName, message: String },
    TimedOut { hook: HookName, after: Duration },
}

impl Failure {
    /// `INTERNAL` for a panic, `DEADLINE_EXCEEDED` for a timeout.
    pub(crate) fn into_status(self) -> Status {
        match self {
            Self::Panicked { hook, message } => Status::internal(format!("hook {hook} panicked: {message}")),
            Self::TimedOut { hook, after } => {
                Status::deadline_exceeded(format!("hook {hook} did not finish within {} s", after.as_secs_f64()))
            }
        }
    }
}

/// For hooks that answer an `error` field: a failure or a panic goes
/// there, readable where the server shows it; a timeout stays a
/// `DEADLINE_EXCEEDED` status.
pub(crate) fn app_error(hook: HookName, outcome: Result<Result<(), HookError>, Failure>) -> Result<Option<proto::AppError>, Status> {
    app_error_or(hook, outcome).map(|(error, ())| error)
}

/// Like [`app_error`], for hooks that also answer a value (the default
/// value when there is an error).
pub(crate) fn app_error_or<T: Default>(
    hook: HookName,
    outcome: Result<Result<T, HookError>, Failure>,
) -> Result<(Option<proto::AppError>, T), Status> {
    match outcome {
        Ok(Ok(value)) => Ok((None, value)),
        Ok(Err(error)) => Ok((Some(for_the_host(hook, error.into_proto())), T::default())),
        Err(Failure::Panicked { hook, message }) => {
            let error = proto::AppError {
                id: PANIC_ID.to_owned(),
                message: format!("hook {hook} panicked: {message}"),
                status_code: 500,
                ..proto::AppError::default()
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
/// `status_code` and drops `message` (CONTRACT.md, hook errors), so the
/// text also goes in `detailed_error` when that is empty, and the hook's
/// name in `where` when that is empty.
fn for_the_host(hook: HookName, mut error: proto::AppError) -> proto::AppError {
    if error.detailed_error.is_empty() {
        error.detailed_error.clone_from(&error.message);
    }
    if error.r#where.is_empty() {
        error.r#where = hook.as_str().to_owned();
    }
    error
}

/// A message argument the hook cannot do without.
pub(crate) fn required<T>(value: Option<T>, field: &str) -> Result<T, Status> {
    value.ok_or_else(|| Status::invalid_argument(format!("the request lacks `{field}`")))
}

/// An empty rejection reason means "allow" on the wire; never send one.
pub(crate) fn rejection(reason: String) -> String {
    if reason.is_empty() { "Rejected by a plugin.".to_owned() } else { reason }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

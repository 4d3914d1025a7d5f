//! What every hook call goes through on its way to the plugin: its own task
//! (so calls run concurrently and a panic stays inside one call), the hook
//! timeout, and a tracing span naming the hook. The per-hook glue that
//! unwraps requests and builds responses is generated (`plugin.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tonic::Status;
use tracing::Instrument as _;

use super::context::{Context, HookError};
use crate::{HookName, Plugin, PluginApiClient, proto};

/// Serves a [`Plugin`] as the `PluginHooks` gRPC service.
pub struct HookServer<P> {
    plugin: Arc<P>,
    api: PluginApiClient,
    timeout: Duration,
}

impl<P: Plugin> HookServer<P> {
    /// Serves `plugin`, giving its hooks `api`; a hook still running after
    /// `timeout` is cancelled.
    pub fn new(plugin: Arc<P>, api: PluginApiClient, timeout: Duration) -> Self {
        Self { plugin, api, timeout }
    }

    /// The names `Implemented` answers, in the contract's order.
    pub(crate) fn implemented_names() -> Vec<String> {
        HookName::ALL.iter().filter(|h| P::IMPLEMENTED.contains(h)).map(|h| h.as_str().to_owned()).collect()
    }

    /// Runs one hook call on its own task, within the timeout.
    pub(crate) async fn call<T, F, Fut>(&self, hook: HookName, f: F) -> Result<T, Failure>
    where
        F: FnOnce(Arc<P>, Context) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let cx = Context::new(self.api.clone(), hook);
        let span = tracing::debug_span!("hook", hook = hook.as_str());
        // Aborted when this call is dropped: a host that gives up on the
        // call (cancellation) stops the hook too.
        let mut task = AbortOnDrop(tokio::spawn(f(Arc::clone(&self.plugin), cx).instrument(span)));
        match tokio::time::timeout(self.timeout, &mut task.0).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(join_error)) => {
                let message = match join_error.try_into_panic() {
                    Ok(payload) => panic_message(payload.as_ref()),
                    Err(_) => "the hook's task was cancelled".to_owned(),
                };
                tracing::error!(hook = hook.as_str(), "hook panicked: {message}");
                Err(Failure::Panicked { hook, message })
            }
            Err(_elapsed) => {
                tracing::error!(hook = hook.as_str(), "hook cancelled after {} s", self.timeout.as_secs_f64());
                Err(Failure::TimedOut { hook, after: self.timeout })
            }
        }
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
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

/// For hooks that answer an `error` field: a panic goes there; a timeout
/// stays a `DEADLINE_EXCEEDED` status.
pub(crate) fn app_error(outcome: Result<Result<(), HookError>, Failure>) -> Result<Option<proto::AppError>, Status> {
    app_error_or(outcome).map(|(error, ())| error)
}

/// Like [`app_error`], for hooks that also answer a value (the default
/// value when there is an error).
pub(crate) fn app_error_or<T: Default>(
    outcome: Result<Result<T, HookError>, Failure>,
) -> Result<(Option<proto::AppError>, T), Status> {
    match outcome {
        Ok(Ok(value)) => Ok((None, value)),
        Ok(Err(error)) => Ok((Some(error.into_proto()), T::default())),
        Err(Failure::Panicked { hook, message }) => Ok((
            Some(proto::AppError {
                id: "plugin.hook.panic".to_owned(),
                message: format!("hook {hook} panicked: {message}"),
                status_code: 500,
                ..proto::AppError::default()
            }),
            T::default(),
        )),
        Err(timeout @ Failure::TimedOut { .. }) => Err(timeout.into_status()),
    }
}

/// A message argument the hook cannot do without.
pub(crate) fn required<T>(value: Option<T>, field: &str) -> Result<T, Status> {
    value.ok_or_else(|| Status::invalid_argument(format!("the request lacks `{field}`")))
}

/// An empty rejection reason means "allow" on the wire; never send one.
pub(crate) fn rejection(reason: String) -> String {
    if reason.is_empty() { "Rejected by a plugin.".to_owned() } else { reason }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

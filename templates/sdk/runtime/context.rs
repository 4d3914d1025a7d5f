//! What a hook receives besides its arguments ([`Context`]) and what it
//! returns when it fails ([`HookError`]).

use std::fmt;

use crate::{AppError, HookName, PluginApiClient, proto};

/// What every hook call gets: the server's API, ready before the first hook,
/// and a logger whose lines land, levelled, in the server log.
///
/// Cloning is cheap; a clone can be moved into a background task.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Context {
    /// The server's plugin API (`cx.api.get_user(id).await?`; import the
    /// domain traits with `use` of the crate's `prelude`).
    pub api: PluginApiClient,
    /// Logs to the server log, tagged with the hook.
    pub log: Logger,
    /// The hook being called.
    pub hook: HookName,
}

impl Context {
    /// A context for calling a hook yourself, as in a plugin's unit tests.
    pub fn new(api: PluginApiClient, hook: HookName) -> Self {
        Self { api, log: Logger { hook: Some(hook) }, hook }
    }
}

/// Writes to the server log (through `tracing`; any `tracing` event works
/// as well). Each line carries the hook it came from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Logger {
    hook: Option<HookName>,
}

impl Logger {
    /// A logger that tags nothing, for code outside hooks.
    pub fn new() -> Self {
        Self { hook: None }
    }

    /// Logs at debug level.
    pub fn debug(&self, message: impl fmt::Display) {
        tracing::debug!(hook = self.hook.map(HookName::as_str), "{message}");
    }

    /// Logs at info level.
    pub fn info(&self, message: impl fmt::Display) {
        tracing::info!(hook = self.hook.map(HookName::as_str), "{message}");
    }

    /// Logs at warn level.
    pub fn warn(&self, message: impl fmt::Display) {
        tracing::warn!(hook = self.hook.map(HookName::as_str), "{message}");
    }

    /// Logs at error level.
    pub fn error(&self, message: impl fmt::Display) {
        tracing::error!(hook = self.hook.map(HookName::as_str), "{message}");
    }
}

/// What a hook whose Go signature returns `error` returns.
pub type HookResult<T = ()> = Result<T, HookError>;

/// A hook's failure, sent to the server as an application error.
///
/// `?` turns any error into one. An [`AppError`] keeps its id and status,
/// and so does an API call's [`crate::Error::App`] (whose `where_`, the
/// server's place for that other call, makes way for the hook's name);
/// anything else becomes the id `plugin.hook.error`, status 500, with the
/// error and its sources as the message.
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

    pub(crate) fn into_proto(self) -> proto::AppError {
        self.app.into()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HookError {
    fn from(error: E) -> Self {
        let error: Box<dyn std::error::Error + Send + Sync> = Box::new(error);
        let error = match error.downcast::<AppError>() {
            Ok(app) => return Self::app(*app),
            Err(other) => other,
        };
        if let Some(crate::Error::App(app)) = error.downcast_ref::<crate::Error>() {
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

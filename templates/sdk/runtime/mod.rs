//! Running a plugin: what happens around the hooks a plugin writes.
//!
//! [`serve`] (or [`run`]) is a plugin's whole `main`: it checks that a
//! Mattermost server started the process, serves the hooks over gRPC as
//! go-plugin expects, logs to the server log, and stops when the server says.

mod context;
mod goplugin;
mod hook_server;
mod log;
mod serve;
mod shutdown;
mod tls;

pub use context::{Context, HookError, HookResult, Logger};
pub use goplugin::{Empty, StdioData};
pub(crate) use hook_server::{Failure, app_error, app_error_or, rejection, required};
pub use hook_server::HookServer;
pub use log::{HclogLayer, LOG_LEVEL_ENV};
pub use serve::{
    DEFAULT_HTTP_BODY_LIMIT, HOOK_TIMEOUT_ENV, HTTP_BODY_LIMIT_ENV, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, MAX_PORT_ENV,
    MIN_PORT_ENV, Options, PROTOCOL_VERSIONS_ENV, ServeError, run, run_with, serve, serve_with,
};
pub use tls::{CLIENT_CERT_ENV, TlsError};

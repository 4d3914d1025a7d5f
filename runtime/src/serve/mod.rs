//! Starting and stopping a plugin exactly as a go-plugin host (the
//! Mattermost server) expects: magic cookie, protocol negotiation, a
//! loopback listener in the allowed port range, the handshake line on
//! stdout, health, hooks, `Shutdown` and `StreamStdio`, automatic mTLS, and
//! a clean exit when the host stops the plugin or goes away.
//!
//! The SDK's generated `serve` and `run` call [`serve_hooks`] and
//! [`run_hooks`] with the one thing that depends on the contract: how to add
//! the plugin's hooks service to the gRPC server ([`AddHooks`]).

mod accept;
mod budget;
mod env;
mod handshake;
mod host;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tonic::service::Routes;
use tonic::transport::Server;

pub use env::{
    DEFAULT_HTTP_BODY_LIMIT, HOOK_TIMEOUT_ENV, HTTP_BODY_LIMIT_ENV, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, MAX_PORT_ENV,
    MIN_PORT_ENV, PROTOCOL_VERSIONS_ENV,
};

use crate::api::{API_TARGET_ENV, CONNECTION_WINDOW, MAX_FRAME, STREAM_WINDOW};
use crate::goplugin::{Controller, Stdio};
use crate::shutdown::Shutdown;
use crate::tls::{AutoTls, CLIENT_CERT_ENV, TlsError};

/// The most concurrent HTTP/2 streams (hook calls, ServeHTTP requests) one
/// connection may have open; more are refused by HTTP/2 itself.
pub const MAX_STREAMS: u32 = 256;

/// How often an idle connection is pinged, and how long the ping may go
/// unanswered before the connection is closed as dead.
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(30);
/// See [`KEEPALIVE_EVERY`].
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

pub use accept::{HANDSHAKE_TIMEOUT, MAX_CONNECTIONS, MAX_PENDING};
pub use budget::{HOST_BUDGET, OTHERS_BUDGET};

/// How long in-flight hooks may take to finish after `Shutdown`; the host
/// kills the process 2 s after asking.
const DRAIN: Duration = Duration::from_millis(1_500);
/// How long the log thread may take, at exit, to write what is queued: a
/// stalled stderr must not hold the exit.
const LOG_FLUSH: Duration = Duration::from_millis(250);

/// How a plugin runs. `Options::default()` reads the environment
/// (`MATTERMOST_PLUGIN_HTTP_BODY_LIMIT`), falling back to the default for a
/// variable that is unset, empty or invalid (see [`HTTP_BODY_LIMIT_ENV`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// HTTP request bodies over this many bytes are refused with 413.
    pub http_body_limit: u64,
    /// An API call not answered after this long fails with
    /// `DeadlineExceeded` (inside a hook, at the latest shortly before the
    /// hook's own deadline). [`crate::transport::DEFAULT_API_TIMEOUT`] by
    /// default.
    pub api_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { http_body_limit: env::http_body_limit(), api_timeout: crate::transport::DEFAULT_API_TIMEOUT }
    }
}

impl Options {
    /// Sets the HTTP request body limit, in bytes.
    pub fn http_body_limit(mut self, limit: u64) -> Self {
        self.http_body_limit = limit;
        self
    }

    /// Sets how long an API call may take.
    pub fn api_timeout(mut self, timeout: Duration) -> Self {
        self.api_timeout = timeout;
        self
    }
}

/// What the plugin's hooks service is set up with, read from the
/// environment and the [`Options`] once the host's environment is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Setup {
    /// A hook still running after this long is cancelled.
    pub hook_timeout: Duration,
    /// HTTP request bodies over this many bytes are refused with 413.
    pub http_body_limit: u64,
    /// Where the server's plugin API listens for this plugin, if it said.
    pub api_target: Option<String>,
    /// How long an API call may take.
    pub api_timeout: Duration,
}

/// Why a plugin could not start, or stopped with an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// The magic cookie is missing: someone ran the binary by hand.
    NotAPlugin,
    /// The host offers no protocol version this plugin speaks.
    ProtocolVersion(String),
    /// An environment variable holds something unusable.
    Environment {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No port in the allowed range could be bound.
    Bind {
        /// The range's lower end.
        min: u16,
        /// The range's upper end.
        max: u16,
        /// The last bind error.
        source: std::io::Error,
    },
    /// Automatic mTLS could not be set up.
    Tls(TlsError),
    /// The handshake line could not be written.
    Handshake(std::io::Error),
    /// The gRPC server failed.
    Server(tonic::transport::Error),
    /// The async runtime could not start.
    Runtime(std::io::Error),
    /// The host process exited before the plugin started: nobody will ever
    /// connect, and a plugin left running would hold its port forever.
    HostGone(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAPlugin => f.write_str(
                "This binary is a Mattermost plugin. It is started by the Mattermost server \
                 and is not meant to be run directly.",
            ),
            Self::ProtocolVersion(offered) => write!(
                f,
                "the host offers plugin protocol versions `{offered}`; this plugin speaks version {}",
                env::APP_PROTOCOL_VERSION
            ),
            Self::Environment { name, value, reason } => write!(f, "{name}={value:?} is not valid: {reason}"),
            Self::Bind { min, max, source } => write!(f, "no free loopback port in {min}..={max}: {source}"),
            Self::Tls(e) => e.fmt(f),
            Self::Handshake(e) => write!(f, "cannot write the handshake to stdout: {e}"),
            Self::Server(e) => write!(f, "gRPC server: {e}"),
            Self::Runtime(e) => write!(f, "cannot start the async runtime: {e}"),
            Self::HostGone(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NotAPlugin | Self::ProtocolVersion(_) | Self::Environment { .. } | Self::HostGone(_) => None,
            Self::Bind { source, .. } => Some(source),
            Self::Tls(e) => e.source(),
            Self::Handshake(e) | Self::Runtime(e) => Some(e),
            Self::Server(e) => Some(e),
        }
    }
}

impl From<TlsError> for ServeError {
    fn from(e: TlsError) -> Self {
        Self::Tls(e)
    }
}

impl From<tonic::transport::Error> for ServeError {
    fn from(e: tonic::transport::Error) -> Self {
        Self::Server(e)
    }
}

/// The old name of [`Setup`].
#[deprecated(note = "renamed `Setup`")]
pub type Settings = Setup;

/// How a plugin's hooks service joins the gRPC server's routes, given the
/// [`Setup`] the host's environment made.
///
/// Boxed, so that [`serve_hooks`] and [`run_hooks`] are not generic: the
/// server, which does not depend on the plugin, is compiled once, in this
/// crate, and not again in every plugin's binary.
pub type AddHooks = Box<dyn FnOnce(Setup, Routes) -> Routes + Send>;

/// [`run_hooks`] on a tokio runtime of its own: the whole `main` of a
/// plugin. Exits with failure when the binary was not started by a
/// Mattermost server (no magic cookie) or the plugin could not start.
pub fn serve_hooks(options: Options, add_hooks: AddHooks) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return report(&ServeError::Runtime(e)),
    };
    let result = runtime.block_on(run_hooks(options, add_hooks));
    // Work still running (a hook past its drain time) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    };
    crate::log::flush(LOG_FLUSH);
    code
}

fn report(error: &ServeError) -> ExitCode {
    match error {
        // Someone at a terminal: plain words, not a JSON log line.
        ServeError::NotAPlugin => eprintln!("{error}"),
        _ => {
            if tracing::dispatcher::has_been_set() {
                tracing::error!("{error}");
            } else {
                eprintln!("error: {error}");
            }
        }
    }
    ExitCode::FAILURE
}

/// Runs a plugin on the current tokio runtime until the host stops it:
/// checks the environment, serves health, go-plugin's `Shutdown` and
/// `StreamStdio`, and the hooks service `add_hooks` adds to the server,
/// writes the handshake, and stops when the host says or goes away.
///
/// Call it first thing in the process: it reads the host's pid before
/// anything else, so that a host gone a few milliseconds after starting the
/// plugin is noticed. On Linux it also asks the kernel for SIGTERM when the
/// host dies, for the thread it runs on (`serve_hooks` runs it on the main
/// thread).
pub async fn run_hooks(options: Options, add_hooks: AddHooks) -> Result<(), ServeError> {
    // Before anything else, logging included: once the host is gone, the
    // parent read is init's pid and nothing tells the host went away.
    let parent = host::Parent::at_start();
    let result = run(parent, options, add_hooks).await;
    // What is still queued for stderr is written before the process exits.
    let _ = tokio::task::spawn_blocking(|| crate::log::flush(LOG_FLUSH)).await;
    result
}

async fn run(parent: host::Parent, options: Options, add_hooks: AddHooks) -> Result<(), ServeError> {
    if !env::started_by_a_server() {
        return Err(ServeError::NotAPlugin);
    }
    let (level, bad_level) = crate::log::level_from_env();
    crate::log::init(level);
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(ToString::to_string).unwrap_or_default();
        let payload = crate::panic::message(info.payload());
        tracing::error!(location, "panic: {payload}");
    }));
    for warning in [bad_level, env::http_body_limit_warning(options.http_body_limit)].into_iter().flatten() {
        tracing::warn!("{warning}");
    }

    // SIGTERM stops the plugin gracefully from here on: the handlers go in
    // before the kernel is asked for SIGTERM when the host dies, and before
    // the handshake, after which the host may stop us at any moment.
    let shutdown = Shutdown::new();
    host::watch_signals(shutdown.clone());
    parent.guard().map_err(ServeError::HostGone)?;

    env::negotiate_version(std::env::var(env::PROTOCOL_VERSIONS_ENV).ok().as_deref())?;
    let (min, max) = env::port_range()?;
    let hook_timeout = env::hook_timeout()?;
    let listener = accept::bind(min, max)?;
    let address = listener.local_addr().map_err(|source| ServeError::Bind { min, max, source })?;
    let tls = match std::env::var(CLIENT_CERT_ENV) {
        Ok(pem) if !pem.trim().is_empty() => Some(AutoTls::new(&pem)?),
        _ => None,
    };
    let setup = Setup {
        hook_timeout,
        http_body_limit: options.http_body_limit,
        api_target: std::env::var(API_TARGET_ENV).ok(),
        api_timeout: options.api_timeout,
    };

    let (health_reporter, health) = tonic_health::server::health_reporter();
    for service in ["plugin", ""] {
        health_reporter.set_service_status(service, tonic_health::ServingStatus::Serving).await;
    }
    let routes = Routes::new(health)
        .add_service(Controller { shutdown: shutdown.clone() })
        .add_service(Stdio { shutdown: shutdown.clone() });
    let routes = add_hooks(setup, routes);
    let budgets = budget::Budgets::new();
    let router = Server::builder()
        // Bounds: streams per connection (a peer opening thousands gets
        // them refused), bytes of messages in flight (see `budget`), and
        // keepalive pings that close a connection whose peer is gone.
        .max_concurrent_streams(Some(MAX_STREAMS))
        // tonic lifts h2's cap on streams refused or reset by this side; a
        // peer ignoring MAX_STREAMS then gets GOAWAY after 1,024, as h2's
        // default has it, instead of refusals without end.
        .http2_max_local_error_reset_streams(Some(1024))
        .http2_keepalive_interval(Some(KEEPALIVE_EVERY))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        // HTTP/2 flow control sized for streaming bodies (ServeHTTP); see
        // `crate::api::STREAM_WINDOW`.
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        .max_frame_size(Some(MAX_FRAME))
        .layer(budgets.layer())
        .add_routes(routes);

    let tracker = Arc::new(host::Tracker::default());
    let certificate = tls.as_ref().map(|t| t.certificate.clone());
    let incoming = accept::accept(listener, tls.map(|t| t.acceptor), Arc::clone(&tracker), budgets, shutdown.clone());
    host::watch_host(parent, Arc::clone(&tracker), shutdown.clone());
    handshake::write(address, certificate.as_deref()).map_err(ServeError::Handshake)?;
    tracing::debug!(%address, tls = certificate.is_some(), "plugin serving");

    let stop = shutdown.clone();
    let server = router.serve_with_incoming_shutdown(incoming, async move { stop.wait().await });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result?,
        () = shutdown.wait() => match tokio::time::timeout(DRAIN, &mut server).await {
            Ok(result) => result?,
            Err(_) => tracing::warn!("hooks still running {} ms after shutdown; stopping anyway", DRAIN.as_millis()),
        },
    }
    tracing::debug!("plugin stopped");
    Ok(())
}

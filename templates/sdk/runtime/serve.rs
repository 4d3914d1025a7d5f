//! Starting and stopping a plugin exactly as a go-plugin host (the
//! Mattermost server) expects: magic cookie, protocol negotiation, a
//! loopback listener in the allowed port range, the handshake line on
//! stdout, health, hooks, `Shutdown` and `StreamStdio`, automatic mTLS, and
//! a clean exit when the host stops the plugin or goes away.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tonic::transport::Server;

use super::goplugin::{Controller, Stdio};
use super::hook_server::HookServer;
use super::shutdown::Shutdown;
use super::tls::{AutoTls, CLIENT_CERT_ENV, TlsError};
use crate::api::{API_TARGET_ENV, MAX_MESSAGE_SIZE};
use crate::proto::plugin_hooks_server::PluginHooksServer;
use crate::{Plugin, PluginApiClient};

/// The environment variable go-plugin's magic cookie arrives in.
pub const MAGIC_COOKIE_KEY: &str = "MATTERMOST_PLUGIN";
/// The magic cookie's value: proof that a Mattermost server started us.
pub const MAGIC_COOKIE_VALUE: &str = "Securely message teams, anywhere.";
/// The app protocol versions the host offers, comma-separated.
pub const PROTOCOL_VERSIONS_ENV: &str = "PLUGIN_PROTOCOL_VERSIONS";
/// The lowest port the plugin may listen on.
pub const MIN_PORT_ENV: &str = "PLUGIN_MIN_PORT";
/// The highest port the plugin may listen on.
pub const MAX_PORT_ENV: &str = "PLUGIN_MAX_PORT";
/// Seconds a hook may run before it is cancelled (default 30).
pub const HOOK_TIMEOUT_ENV: &str = "MATTERMOST_PLUGIN_HOOK_TIMEOUT";

/// The largest HTTP request body a plugin accepts, in bytes.
pub const HTTP_BODY_LIMIT_ENV: &str = "MATTERMOST_PLUGIN_HTTP_BODY_LIMIT";
/// The default HTTP request body limit: 1 GiB.
pub const DEFAULT_HTTP_BODY_LIMIT: u64 = 1 << 30;

/// How a plugin runs. `Options::default()` reads the environment
/// (`MATTERMOST_PLUGIN_HTTP_BODY_LIMIT`), falling back to the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// HTTP request bodies over this many bytes are refused with 413.
    pub http_body_limit: u64,
}

impl Default for Options {
    fn default() -> Self {
        let http_body_limit = std::env::var(HTTP_BODY_LIMIT_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_HTTP_BODY_LIMIT);
        Self { http_body_limit }
    }
}

impl Options {
    /// Sets the HTTP request body limit, in bytes.
    pub fn http_body_limit(mut self, limit: u64) -> Self {
        self.http_body_limit = limit;
        self
    }
}

/// go-plugin's core protocol version (the handshake's first field).
const CORE_PROTOCOL_VERSION: u32 = 1;
/// The Mattermost plugin protocol version this SDK speaks.
const APP_PROTOCOL_VERSION: u32 = 1;
const DEFAULT_PORTS: (u16, u16) = (10_000, 25_000);
const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 receive windows and frame size (see `run_with`).
const STREAM_WINDOW: u32 = 2 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;
const MAX_FRAME: u32 = 256 << 10;
/// How long in-flight hooks may take to finish after `Shutdown`; the host
/// kills the process 2 s after asking.
const DRAIN: Duration = Duration::from_millis(1_500);
/// How long the plugin waits for the host to reconnect once its last
/// connection has closed.
const RECONNECT_GRACE: Duration = Duration::from_secs(2);
/// How often the plugin checks that its parent process is still there.
const PARENT_POLL: Duration = Duration::from_millis(500);

/// Why a plugin could not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The magic cookie is missing: someone ran the binary by hand.
    #[error(
        "This binary is a Mattermost plugin. It is started by the Mattermost server \
         and is not meant to be run directly."
    )]
    NotAPlugin,
    /// The host offers no protocol version this plugin speaks.
    #[error("the host offers plugin protocol versions `{0}`; this plugin speaks version {APP_PROTOCOL_VERSION}")]
    ProtocolVersion(String),
    /// An environment variable holds something unusable.
    #[error("{name}={value:?} is not valid: {reason}")]
    Environment {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No port in the allowed range could be bound.
    #[error("no free loopback port in {min}..={max}: {source}")]
    Bind {
        /// The range's lower end.
        min: u16,
        /// The range's upper end.
        max: u16,
        /// The last bind error.
        #[source]
        source: io::Error,
    },
    /// Automatic mTLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The handshake line could not be written.
    #[error("cannot write the handshake to stdout: {0}")]
    Handshake(#[source] io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Server(#[from] tonic::transport::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
}

/// Runs `plugin` until the host stops it: the whole `main` of a plugin,
/// as in `fn main() -> ExitCode { serve(MyPlugin::default()) }` (see the
/// example on [`crate::Plugin`]).
///
/// Exits with failure when the binary was not started by a Mattermost server
/// (no magic cookie) or the plugin could not start; see [`run`] for an
/// `async` variant.
pub fn serve<P: Plugin>(plugin: P) -> ExitCode {
    serve_with(plugin, Options::default())
}

/// [`serve`], with options.
pub fn serve_with<P: Plugin>(plugin: P, options: Options) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return report(&ServeError::Runtime(e)),
    };
    let result = runtime.block_on(run_with(plugin, options));
    // Work still running (a hook past its drain time) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
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

/// Runs `plugin` on the current tokio runtime until the host stops it.
/// [`serve`] is this, with a runtime of its own.
pub async fn run<P: Plugin>(plugin: P) -> Result<(), ServeError> {
    run_with(plugin, Options::default()).await
}

/// [`run`], with options.
pub async fn run_with<P: Plugin>(plugin: P, options: Options) -> Result<(), ServeError> {
    if std::env::var(MAGIC_COOKIE_KEY).as_deref() != Ok(MAGIC_COOKIE_VALUE) {
        return Err(ServeError::NotAPlugin);
    }
    super::log::init(super::log::level_from_env());
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(ToString::to_string).unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(location, "panic: {payload}");
    }));

    negotiate_version(std::env::var(PROTOCOL_VERSIONS_ENV).ok().as_deref())?;
    let (min, max) = port_range()?;
    let hook_timeout = hook_timeout()?;
    let listener = bind(min, max)?;
    let address = listener.local_addr().map_err(|source| ServeError::Bind { min, max, source })?;
    let tls = match std::env::var(CLIENT_CERT_ENV) {
        Ok(pem) if !pem.trim().is_empty() => Some(AutoTls::new(&pem)?),
        _ => None,
    };
    let api = api_client();

    let shutdown = Shutdown::new();
    let (health_reporter, health) = tonic_health::server::health_reporter();
    for service in ["plugin", ""] {
        health_reporter.set_service_status(service, tonic_health::ServingStatus::Serving).await;
    }
    let hook_server = HookServer::new(Arc::new(plugin), api, hook_timeout).with_http_body_limit(options.http_body_limit);
    let hooks = PluginHooksServer::new(hook_server)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    let router = Server::builder()
        // HTTP/2 flow control sized for streaming bodies (ServeHTTP): a
        // 64 KiB default window would stall each stream once per chunk. The
        // connection window also caps what all streams together may buffer.
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        .max_frame_size(Some(MAX_FRAME))
        .add_service(health)
        .add_service(hooks)
        .add_service(Controller { shutdown: shutdown.clone() })
        .add_service(Stdio { shutdown: shutdown.clone() });

    let tracker = Arc::new(Tracker::default());
    let certificate = tls.as_ref().map(|t| t.certificate.clone());
    let incoming = accept(listener, tls.map(|t| t.acceptor), Arc::clone(&tracker), shutdown.clone());
    // Signal handlers go in before the handshake: once it is out, the host
    // may stop us at any moment.
    watch_signals(shutdown.clone());
    watch_host(Arc::clone(&tracker), shutdown.clone());
    handshake(address, certificate.as_deref()).map_err(ServeError::Handshake)?;
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

/// Checks that the host offers our protocol version (no variable: the
/// host did not negotiate, which means version 1).
fn negotiate_version(offered: Option<&str>) -> Result<(), ServeError> {
    let Some(offered) = offered.filter(|v| !v.trim().is_empty()) else { return Ok(()) };
    let speaks = offered.split(',').any(|v| v.trim().parse::<u32>() == Ok(APP_PROTOCOL_VERSION));
    if speaks { Ok(()) } else { Err(ServeError::ProtocolVersion(offered.to_owned())) }
}

fn port_range() -> Result<(u16, u16), ServeError> {
    let port = |name: &'static str, default: u16| -> Result<u16, ServeError> {
        match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => value.trim().parse().map_err(|_| ServeError::Environment {
                name,
                value,
                reason: "expected a port number",
            }),
            _ => Ok(default),
        }
    };
    let (min, max) = (port(MIN_PORT_ENV, DEFAULT_PORTS.0)?, port(MAX_PORT_ENV, DEFAULT_PORTS.1)?);
    if min > max {
        return Err(ServeError::Environment {
            name: MIN_PORT_ENV,
            value: min.to_string(),
            reason: "greater than PLUGIN_MAX_PORT",
        });
    }
    Ok((min, max))
}

fn hook_timeout() -> Result<Duration, ServeError> {
    match std::env::var(HOOK_TIMEOUT_ENV) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or(ServeError::Environment { name: HOOK_TIMEOUT_ENV, value, reason: "expected a positive number of seconds" }),
        _ => Ok(DEFAULT_HOOK_TIMEOUT),
    }
}

/// The first free loopback port in `min..=max`, as go-plugin picks one.
fn bind(min: u16, max: u16) -> Result<TcpListener, ServeError> {
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "every port in the range is taken");
    for port in min..=max {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => {
                let listener = listener
                    .set_nonblocking(true)
                    .and_then(|()| TcpListener::from_std(listener))
                    .map_err(|source| ServeError::Bind { min, max, source })?;
                return Ok(listener);
            }
            Err(e) => last = e,
        }
    }
    Err(ServeError::Bind { min, max, source: last })
}

/// The API client: it connects on first use, so it is ready at once.
fn api_client() -> PluginApiClient {
    match std::env::var(API_TARGET_ENV) {
        Ok(target) if !target.trim().is_empty() => match PluginApiClient::connect_lazy(target.trim()) {
            Ok(client) => return client,
            Err(e) => tracing::warn!("{API_TARGET_ENV}={target:?} is not usable ({e}); API calls will fail"),
        },
        _ => tracing::warn!("{API_TARGET_ENV} is not set; API calls will fail"),
    }
    PluginApiClient::unreachable()
}

/// The one line go-plugin reads from stdout, first and flushed:
/// `CORE|APP|tcp|ADDRESS|grpc[|CERT]`.
fn handshake(address: SocketAddr, certificate: Option<&[u8]>) -> io::Result<()> {
    let mut line = format!("{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|tcp|{address}|grpc");
    if let Some(der) = certificate {
        use base64::Engine as _;
        line.push('|');
        line.push_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(der));
    }
    line.push('\n');
    let mut stdout = io::stdout().lock();
    stdout.write_all(line.as_bytes())?;
    stdout.flush()
}

/// Live connections from the host.
#[derive(Default)]
struct Tracker {
    live: AtomicUsize,
    seen: AtomicBool,
    changed: Notify,
}

/// Held by each connection; the count drops with it.
struct Guard(Arc<Tracker>);

impl Guard {
    fn new(tracker: Arc<Tracker>) -> Self {
        tracker.live.fetch_add(1, Ordering::SeqCst);
        tracker.seen.store(true, Ordering::SeqCst);
        Self(tracker)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.changed.notify_one();
        }
    }
}

/// Stops the plugin when the host is gone: its last connection closed and
/// none came back within the grace time, or its process went away.
fn watch_host(tracker: Arc<Tracker>, shutdown: Shutdown) {
    let stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tracker.changed.notified() => {}
                () = stop.wait() => return,
            }
            tokio::time::sleep(RECONNECT_GRACE).await;
            if tracker.seen.load(Ordering::SeqCst) && tracker.live.load(Ordering::SeqCst) == 0 {
                tracing::info!("the host closed its connection; stopping");
                stop.trigger();
                return;
            }
        }
    });
    #[cfg(unix)]
    tokio::spawn(async move {
        let parent = std::os::unix::process::parent_id();
        loop {
            tokio::select! {
                () = tokio::time::sleep(PARENT_POLL) => {}
                () = shutdown.wait() => return,
            }
            if std::os::unix::process::parent_id() != parent {
                tracing::info!("the host process is gone; stopping");
                shutdown.trigger();
                return;
            }
        }
    });
}

/// SIGTERM stops the plugin gracefully. SIGINT is ignored, as go-plugin
/// plugins do: a Ctrl-C at the server's terminal reaches the whole process
/// group, and the host stops its plugins itself.
fn watch_signals(shutdown: Shutdown) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered here, synchronously; only the waiting is on a task.
        let (Ok(mut term), Ok(mut interrupt)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        else {
            tracing::warn!("cannot listen for signals");
            return;
        };
        tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {
                    tracing::info!("SIGTERM; stopping");
                    shutdown.trigger();
                    return;
                }
                _ = interrupt.recv() => tracing::debug!("SIGINT ignored; the host stops its plugins"),
                () = shutdown.wait() => return,
            }
        }
        });
    }
}

/// Accepts connections (and their TLS handshakes) on a task of its own
/// until shutdown; a failed handshake costs only that connection.
fn accept(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tracker: Arc<Tracker>,
    shutdown: Shutdown,
) -> tokio_stream::wrappers::ReceiverStream<Result<Io, io::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (stream, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = shutdown.wait() => return,
            };
            let _ = stream.set_nodelay(true);
            let guard = Guard::new(Arc::clone(&tracker));
            match &tls {
                None => {
                    if sender.send(Ok(Io { stream: Stream::Plain(stream), remote, _guard: guard })).await.is_err() {
                        return;
                    }
                }
                Some(acceptor) => {
                    let (acceptor, sender) = (acceptor.clone(), sender.clone());
                    tokio::spawn(async move {
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => {
                                let io = Io { stream: Stream::Tls(Box::new(tls)), remote, _guard: guard };
                                let _ = sender.send(Ok(io)).await;
                            }
                            Ok(Err(e)) => tracing::warn!(%remote, "TLS handshake refused: {e}"),
                            Err(_) => tracing::warn!(%remote, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// One connection from the host.
struct Io {
    stream: Stream,
    remote: SocketAddr,
    _guard: Guard,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl tonic::transport::server::Connected for Io {
    type ConnectInfo = SocketAddr;

    fn connect_info(&self) -> SocketAddr {
        self.remote
    }
}

impl AsyncRead for Io {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_negotiation_accepts_lists_that_contain_ours() {
        assert!(negotiate_version(None).is_ok());
        assert!(negotiate_version(Some("1")).is_ok());
        assert!(negotiate_version(Some("2, 1")).is_ok());
        assert!(matches!(negotiate_version(Some("2,3")), Err(ServeError::ProtocolVersion(v)) if v == "2,3"));
    }
}

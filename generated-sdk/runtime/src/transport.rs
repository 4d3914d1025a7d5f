//! What a generated gRPC client sends its calls through: a network
//! connection in production, or a gRPC service in the same process, which
//! is how the test kit's fake server answers the production client with no
//! socket, no port and no HTTP/2 in between.
//!
//! In-process, a call still goes through everything but the network: the
//! client encodes the request and frames it as gRPC, the server's generated
//! code decodes it, routes it by path and encodes the answer, and the client
//! decodes that. So message size limits, codecs and status handling are the
//! production ones.
//!
//! Every call has a deadline: [`DEFAULT_API_TIMEOUT`] (or what
//! [`Transport::with_timeout`] sets) from when it starts, and, for a call made
//! inside a hook, no later than shortly before the hook's own deadline, so
//! the hook gets the API's error in time to answer with it. A call past its
//! deadline fails with `DeadlineExceeded`, whether the server never accepted
//! the connection, never answered, or stopped halfway through the answer;
//! the deadline also goes to the server as `grpc-timeout`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::transport::Channel;

/// The error type of a [`Transport`] call.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Call = dyn Fn(http::Request<Body>) -> BoxFuture<Result<http::Response<Body>, BoxError>> + Send + Sync;

/// How long an API call may take, by default: an answer the server has not
/// finished after this long fails the call with `DeadlineExceeded`.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(10);

/// How long before its hook's deadline a call made inside a hook fails, so
/// the hook still has time to answer with the error.
pub const HOOK_MARGIN: Duration = Duration::from_millis(250);

/// A generated client's transport: a [`Channel`], or a service in this
/// process ([`Transport::in_process`]), with a deadline per call. Cloning is
/// cheap.
#[derive(Clone)]
pub struct Transport {
    inner: Inner,
    timeout: Duration,
}

#[derive(Clone)]
enum Inner {
    Network(Channel),
    InProcess(Arc<Call>),
}

impl Transport {
    /// Calls go to `service` in this process: a tonic server's generated
    /// service (`PluginApiServer::new(fake)`), or any HTTP service that
    /// speaks gRPC. Each call clones the service, waits until it is ready and
    /// runs it on a task of its own, so calls are as concurrent as the
    /// service allows.
    ///
    /// A task of its own, as a call over the network has: the server's
    /// stack starts afresh, not on top of the caller's. A hook calling the
    /// API, whose answer runs another hook that calls the API, … would
    /// otherwise nest every hop's frames (in a debug build, tens to hundreds
    /// of KiB each) on one thread's stack, and overflow a test thread's
    /// 2 MiB. The task keeps the caller's `tracing` subscriber and
    /// [`hop`] count, and is cancelled when the caller gives up the call.
    pub fn in_process<S>(service: S) -> Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
    {
        use tracing::instrument::WithSubscriber as _;
        let call = move |request: http::Request<Body>| -> BoxFuture<Result<http::Response<Body>, BoxError>> {
            let mut service = service.clone();
            let serve = async move {
                std::future::poll_fn(|cx| service.poll_ready(cx)).await.map_err(Into::into)?;
                service.call(request).await.map_err(Into::into)
            };
            let task = tokio::spawn(HOPS.scope(hop() + 1, serve).with_current_subscriber());
            Box::pin(async move {
                match AbortOnDrop(task).await {
                    Ok(answer) => answer,
                    Err(failed) => Err(Box::new(tonic::Status::internal(format!(
                        "the in-process server failed while answering: {failed}"
                    ))) as BoxError),
                }
            })
        };
        Self { inner: Inner::InProcess(Arc::new(call)), timeout: DEFAULT_API_TIMEOUT }
    }

    /// The same transport, with calls given `timeout` instead of
    /// [`DEFAULT_API_TIMEOUT`] (a zero timeout counts as a millisecond).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a call may take (outside a hook; inside, at most until
    /// shortly before the hook's deadline).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether calls stay in this process.
    pub fn is_in_process(&self) -> bool {
        matches!(self.inner, Inner::InProcess(_))
    }

    /// When a call of `method` starting now must be done, and the message
    /// of its `DeadlineExceeded` if it is not.
    fn deadline(&self, method: &str) -> (Instant, Arc<str>) {
        let own = Instant::now() + self.timeout;
        let hook = crate::hook_call::deadline().map(|hook| hook.checked_sub(HOOK_MARGIN).unwrap_or(hook));
        let (deadline, within) = match hook {
            Some(hook) if hook < own => (hook, "before its hook's deadline".to_owned()),
            _ => (own, format!("within {} s", self.timeout.as_secs_f64())),
        };
        (deadline, format!("the plugin API did not answer {method} {within}").into())
    }
}

impl From<Channel> for Transport {
    fn from(channel: Channel) -> Self {
        Self { inner: Inner::Network(channel), timeout: DEFAULT_API_TIMEOUT }
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Network(channel) => f.debug_tuple("Transport::Network").field(channel).finish(),
            Inner::InProcess(_) => f.write_str("Transport::InProcess"),
        }
    }
}

impl Service<http::Request<Body>> for Transport {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<Result<http::Response<Body>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match &mut self.inner {
            Inner::Network(channel) => channel.poll_ready(cx).map_err(Into::into),
            Inner::InProcess(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let (deadline, late) = self.deadline(request.uri().path().trim_start_matches('/'));
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(value) = http::HeaderValue::from_str(&grpc_timeout(left)) {
            request.headers_mut().entry("grpc-timeout").or_insert(value);
        }
        let call: BoxFuture<Result<http::Response<Body>, BoxError>> = match &mut self.inner {
            Inner::Network(channel) => {
                let call = channel.call(request);
                Box::pin(async move { call.await.map_err(Into::into) })
            }
            Inner::InProcess(call) => call(request),
        };
        Box::pin(async move {
            match tokio::time::timeout_at(deadline, call).await {
                // tonic's channel keeps the `grpc-timeout` too, and may fail
                // the call first, as Cancelled: it is this deadline all the same.
                Ok(Err(_)) if Instant::now() >= deadline => Err(Box::new(overdue(&late)) as BoxError),
                Ok(response) => {
                    // The answer's body is read after this returns: it gets
                    // what is left of the deadline.
                    let body = |body| {
                        Body::new(DeadlineBody {
                            body,
                            deadline: Box::pin(tokio::time::sleep_until(deadline)),
                            late: Arc::clone(&late),
                        })
                    };
                    Ok(response?.map(body))
                }
                Err(_elapsed) => Err(Box::new(overdue(&late)) as BoxError),
            }
        })
    }
}

tokio::task_local! {
    /// How many in-process calls led to the code running on this task.
    static HOPS: u32;
}

/// How many in-process calls ([`Transport::in_process`]) led to the code
/// running now: 0 outside any, 1 in the server answering a call, 2 in a
/// server that server called in turn, and so on. A test kit reads it to
/// tell a chain of hooks and API calls that never ends (a hook whose API
/// call runs the same hook again) from an ordinary one. Work spawned with
/// plain `tokio::spawn` starts again from 0.
pub fn hop() -> u32 {
    HOPS.try_with(|hops| *hops).unwrap_or(0)
}

/// Runs `future` as if `hops` in-process calls led to it (see [`hop`]): for
/// a test kit that starts work on behalf of a call on a task of its own.
pub fn at_hop<F: Future>(hops: u32, future: F) -> impl Future<Output = F::Output> {
    HOPS.scope(hops, future)
}

/// A spawned in-process call, aborted when its caller drops it (a client
/// that gives up a call cancels it on the server too).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The status of a call past its deadline.
fn overdue(late: &str) -> tonic::Status {
    tonic::Status::deadline_exceeded(late)
}

/// `grpc-timeout` for `left`: at most eight digits, in the finest unit that
/// fits (the gRPC over HTTP/2 spec), rounded up. Rounded down, tonic's
/// channel, which keeps the header's deadline too, could fail the call a
/// fraction of a millisecond before this transport's own deadline, as
/// `Cancelled` rather than `DeadlineExceeded`.
fn grpc_timeout(left: Duration) -> String {
    let millis = left.as_nanos().div_ceil(1_000_000);
    if millis < 100_000_000 {
        format!("{}m", millis.max(1))
    } else {
        format!("{}S", left.as_nanos().div_ceil(1_000_000_000).min(99_999_999))
    }
}

/// An answer's body, failing with `DeadlineExceeded` once the call's
/// deadline passes.
struct DeadlineBody {
    body: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// The `DeadlineExceeded` message.
    late: Arc<str>,
}

impl http_body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(overdue(&self.late)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP service that answers every request with its own path as the body.
    #[derive(Clone)]
    struct EchoPath;

    impl Service<http::Request<Body>> for EchoPath {
        type Response = http::Response<Body>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<http::Response<Body>, std::convert::Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<Body>) -> Self::Future {
            std::future::ready(Ok(http::Response::new(Body::new(http_body_util::Full::new(bytes::Bytes::from(
                request.uri().path().to_owned(),
            ))))))
        }
    }

    #[tokio::test]
    async fn an_in_process_call_reaches_the_service() {
        use http_body_util::BodyExt as _;
        let mut transport = Transport::in_process(EchoPath);
        assert!(transport.is_in_process());
        std::future::poll_fn(|cx| transport.poll_ready(cx)).await.unwrap();
        let request = http::Request::builder().uri("/pkg.Service/Method").body(Body::empty()).unwrap();
        let response = transport.call(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"/pkg.Service/Method");
        assert_eq!(format!("{transport:?}"), "Transport::InProcess");
    }

    /// An HTTP service that never answers.
    #[derive(Clone)]
    struct Silent;

    impl Service<http::Request<Body>> for Silent {
        type Response = http::Response<Body>;
        type Error = std::convert::Infallible;
        type Future = std::future::Pending<Result<http::Response<Body>, std::convert::Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            std::future::pending()
        }
    }

    /// An HTTP service that answers headers and then a body that never ends.
    #[derive(Clone)]
    struct Stalls;

    impl Service<http::Request<Body>> for Stalls {
        type Response = http::Response<Body>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<http::Response<Body>, std::convert::Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            let never = http_body_util::StreamBody::new(futures_util::stream::pending::<
                Result<http_body::Frame<bytes::Bytes>, tonic::Status>,
            >());
            std::future::ready(Ok(http::Response::new(Body::new(never))))
        }
    }

    fn status(error: BoxError) -> tonic::Status {
        *error.downcast::<tonic::Status>().expect("a gRPC status")
    }

    async fn call(transport: &mut Transport) -> Result<http::Response<Body>, BoxError> {
        std::future::poll_fn(|cx| transport.poll_ready(cx)).await.unwrap();
        let request = http::Request::builder().uri("/pkg.PluginAPI/GetUser").body(Body::empty()).unwrap();
        transport.call(request).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_nobody_answers_fails_at_its_deadline() {
        let mut transport = Transport::in_process(Silent).with_timeout(Duration::from_secs(3));
        let started = Instant::now();
        let error = status(call(&mut transport).await.unwrap_err());
        assert_eq!(error.code(), tonic::Code::DeadlineExceeded);
        assert_eq!(error.message(), "the plugin API did not answer pkg.PluginAPI/GetUser within 3 s");
        assert_eq!(started.elapsed(), Duration::from_secs(3), "at the deadline (paused clock)");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_stops_halfway_fails_at_the_deadline() {
        use http_body_util::BodyExt as _;
        let mut transport = Transport::in_process(Stalls).with_timeout(Duration::from_secs(2));
        let response = call(&mut transport).await.unwrap();
        let error = response.into_body().collect().await.unwrap_err();
        assert_eq!(error.code(), tonic::Code::DeadlineExceeded);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_inside_a_hook_fails_before_the_hook_does() {
        let mut transport = Transport::in_process(Silent);
        let outcome = crate::hook_call::call("MessageWillBePosted", Duration::from_secs(5), async move {
            let started = Instant::now();
            let error = status(call(&mut transport).await.unwrap_err());
            (error, started.elapsed())
        })
        .await;
        let (error, took) = outcome.expect("the hook answered: it was not cancelled");
        assert_eq!(error.code(), tonic::Code::DeadlineExceeded);
        assert!(error.message().ends_with("before its hook's deadline"), "{}", error.message());
        assert_eq!(took, Duration::from_secs(5) - HOOK_MARGIN);
    }

    /// A server that accepts connections and never speaks: the call fails at
    /// its deadline, over a real socket, through a generated client.
    #[tokio::test]
    async fn a_server_that_accepts_and_never_answers_fails_the_call() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((connection, _)) = listener.accept().await {
                connections.push(connection); // kept open, never read
            }
        });
        let channel = crate::api::endpoint(&address.to_string()).unwrap().connect_lazy();
        let transport = Transport::from(channel).with_timeout(Duration::from_millis(300));
        let mut health = tonic_health::pb::health_client::HealthClient::new(transport);
        let answer = tokio::time::timeout(
            Duration::from_secs(30),
            health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }),
        )
        .await
        .expect("the call ended on its own");
        let error = answer.unwrap_err();
        assert_eq!(error.code(), tonic::Code::DeadlineExceeded, "{error:?}");
        held.abort();
    }

    #[test]
    fn grpc_timeouts_have_at_most_eight_digits() {
        assert_eq!(grpc_timeout(Duration::from_secs(10)), "10000m");
        // Rounded up: never before the transport's own deadline.
        assert_eq!(grpc_timeout(Duration::from_micros(299_100)), "300m");
        assert_eq!(grpc_timeout(Duration::from_micros(1)), "1m");
        assert_eq!(grpc_timeout(Duration::ZERO), "1m");
        assert_eq!(grpc_timeout(Duration::from_secs(200_000)), "200000S");
        assert_eq!(grpc_timeout(Duration::MAX), "99999999S");
    }
}

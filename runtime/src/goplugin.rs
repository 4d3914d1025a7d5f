//! The two services hashicorp go-plugin expects from every gRPC plugin
//! besides health: `plugin.GRPCController` (the host asks the plugin to
//! stop) and `plugin.GRPCStdio` (the host reads the plugin's output).
//!
//! Their messages are tiny and fixed by go-plugin, so they are written here
//! by hand instead of being generated from go-plugin's protos.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::{Grpc, NamedService, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status};

use super::shutdown::Shutdown;

/// `plugin.Empty`, go-plugin's own empty message.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Empty {}

/// `plugin.StdioData`: one chunk of the plugin's stdout or stderr.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StdioData {
    /// 1 for stdout, 2 for stderr.
    #[prost(int32, tag = "1")]
    pub channel: i32,
    /// The bytes written.
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
}

/// `plugin.GRPCController`: `Shutdown` stops the plugin gracefully.
#[derive(Clone)]
pub struct Controller {
    pub(crate) shutdown: Shutdown,
}

impl NamedService for Controller {
    const NAME: &'static str = "plugin.GRPCController";
}

impl UnaryService<Empty> for Controller {
    type Response = Empty;
    type Future = BoxFuture<Response<Empty>, Status>;

    fn call(&mut self, _request: Request<Empty>) -> Self::Future {
        let shutdown = self.shutdown.clone();
        Box::pin(async move {
            tracing::debug!("the host asked the plugin to shut down");
            shutdown.trigger();
            Ok(Response::new(Empty {}))
        })
    }
}

impl<B> Service<http::Request<B>> for Controller
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = self.clone();
        match request.uri().path() {
            "/plugin.GRPCController/Shutdown" => Box::pin(async move {
                let mut grpc = Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.unary(method, request).await)
            }),
            _ => Box::pin(async { Ok(unimplemented()) }),
        }
    }
}

/// `plugin.GRPCStdio`: the plugin writes its logs straight to stderr, which
/// the host reads line by line, so the stream sends nothing; it stays open
/// (the host would log a warning for a missing service) until shutdown, or
/// until the host cancels the call.
#[derive(Clone)]
pub struct Stdio {
    pub(crate) shutdown: Shutdown,
}

impl NamedService for Stdio {
    const NAME: &'static str = "plugin.GRPCStdio";
}

/// What `StreamStdio` answers: no data, and the end at shutdown, so the
/// stream never holds up a graceful stop. All its state is in the stream
/// itself, with no task beside it: when the host cancels the call (or its
/// connection goes), the server drops the stream and nothing of the call is
/// left.
pub struct StdioStream {
    /// Shutdown, awaited; `None` once it came.
    until: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl StdioStream {
    fn new(shutdown: Shutdown) -> Self {
        Self { until: Some(Box::pin(async move { shutdown.wait().await })) }
    }
}

impl tokio_stream::Stream for StdioStream {
    type Item = Result<StdioData, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(until) = self.until.as_mut() else { return Poll::Ready(None) };
        match until.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.until = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl ServerStreamingService<()> for Stdio {
    type Response = StdioData;
    type ResponseStream = StdioStream;
    type Future = BoxFuture<Response<StdioStream>, Status>;

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        let stream = StdioStream::new(self.shutdown.clone());
        Box::pin(async move { Ok(Response::new(stream)) })
    }
}

impl<B> Service<http::Request<B>> for Stdio
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = self.clone();
        match request.uri().path() {
            "/plugin.GRPCStdio/StreamStdio" => Box::pin(async move {
                let mut grpc = Grpc::new(tonic_prost::ProstCodec::<StdioData, ()>::default());
                Ok(grpc.server_streaming(method, request).await)
            }),
            _ => Box::pin(async { Ok(unimplemented()) }),
        }
    }
}

/// The answer to a method this service does not have.
fn unimplemented() -> http::Response<tonic::body::Body> {
    Status::unimplemented("no such method").into_http()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_stream::{Stream as _, StreamExt as _};

    use super::*;

    /// Polls a stream once, as the server does when it starts sending.
    fn poll_once(stream: &mut StdioStream) -> Poll<Option<Result<StdioData, Status>>> {
        let waker = std::task::Waker::noop();
        Pin::new(stream).poll_next(&mut Context::from_waker(waker))
    }

    async fn open(stdio: &mut Stdio) -> StdioStream {
        ServerStreamingService::call(stdio, Request::new(())).await.unwrap().into_inner()
    }

    #[tokio::test]
    async fn a_stdio_stream_sends_nothing_and_ends_at_shutdown() {
        let shutdown = Shutdown::new();
        let mut stdio = Stdio { shutdown: shutdown.clone() };
        let mut stream = open(&mut stdio).await;
        assert!(poll_once(&mut stream).is_pending());
        shutdown.trigger();
        assert!(stream.next().await.is_none());
        assert!(poll_once(&mut stream).is_ready(), "ended for good");
        assert_eq!(shutdown.waiters(), 0);
    }

    /// Issue 12: every `StreamStdio` call used to leave a task waiting for
    /// shutdown behind, so a host opening and cancelling calls grew the
    /// plugin without bound.
    #[tokio::test]
    async fn a_cancelled_stdio_stream_leaves_nothing_behind() {
        let shutdown = Shutdown::new();
        let mut stdio = Stdio { shutdown: shutdown.clone() };
        for _ in 0..100 {
            let mut stream = open(&mut stdio).await;
            assert!(poll_once(&mut stream).is_pending());
            assert_eq!(shutdown.waiters(), 1, "the open stream waits for shutdown");
            drop(stream);
            assert_eq!(shutdown.waiters(), 0, "nothing waits once the stream is dropped");
        }
    }

    /// The same through tonic and HTTP/2 over loopback: the client cancels
    /// its calls (drops their streams), and the server drops its side.
    #[tokio::test]
    async fn calls_the_client_cancels_over_the_wire_leave_nothing_behind() {
        let shutdown = Shutdown::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tonic::transport::Server::builder()
            .add_service(Stdio { shutdown: shutdown.clone() })
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
        tokio::spawn(server);
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap();
        let open = || {
            let mut grpc = tonic::client::Grpc::new(channel.clone());
            async move {
                grpc.ready().await.unwrap();
                let path = http::uri::PathAndQuery::from_static("/plugin.GRPCStdio/StreamStdio");
                let codec = tonic_prost::ProstCodec::<(), StdioData>::default();
                grpc.server_streaming(Request::new(()), path, codec).await.unwrap().into_inner()
            }
        };
        // Bounded waits for the server to catch up: hang guards, not speed
        // targets.
        let settle = |want: usize| {
            let shutdown = shutdown.clone();
            async move {
                for _ in 0..500 {
                    if shutdown.waiters() == want {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("{} streams waiting for shutdown, expected {want}", shutdown.waiters());
            }
        };
        let mut streams = Vec::new();
        for _ in 0..20 {
            streams.push(open().await);
        }
        settle(20).await;
        drop(streams);
        settle(0).await;
        // A stream still open ends at shutdown.
        let mut stream = open().await;
        settle(1).await;
        shutdown.trigger();
        let end = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.expect("hang guard");
        assert!(matches!(end, Ok(None)), "{end:?}");
    }
}

//! The two services hashicorp go-plugin expects from every gRPC plugin
//! besides health: `plugin.GRPCController` (the host asks the plugin to
//! stop) and `plugin.GRPCStdio` (the host reads the plugin's output).
//!
//! Their messages are tiny and fixed by go-plugin, so they are written here
//! by hand instead of being generated from go-plugin's protos.

use std::convert::Infallible;
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
/// (the host would log a warning for a missing service) until shutdown.
#[derive(Clone)]
pub struct Stdio {
    pub(crate) shutdown: Shutdown,
}

impl NamedService for Stdio {
    const NAME: &'static str = "plugin.GRPCStdio";
}

type StdioStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<StdioData, Status>> + Send>>;

impl ServerStreamingService<()> for Stdio {
    type Response = StdioData;
    type ResponseStream = StdioStream;
    type Future = BoxFuture<Response<StdioStream>, Status>;

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        let shutdown = self.shutdown.clone();
        Box::pin(async move {
            let (sender, receiver) = tokio::sync::mpsc::channel::<Result<StdioData, Status>>(1);
            // The stream ends when the sender goes, at shutdown, so it never
            // holds up a graceful stop.
            tokio::spawn(async move {
                shutdown.wait().await;
                drop(sender);
            });
            let stream: StdioStream = Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver));
            Ok(Response::new(stream))
        })
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

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

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::Service;
use tonic::transport::Channel;

/// The error type of a [`Transport`] call.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Call = dyn Fn(http::Request<Body>) -> BoxFuture<Result<http::Response<Body>, BoxError>> + Send + Sync;

/// A generated client's transport: a [`Channel`], or a service in this
/// process ([`Transport::in_process`]). Cloning is cheap.
#[derive(Clone)]
pub struct Transport(Inner);

#[derive(Clone)]
enum Inner {
    Network(Channel),
    InProcess(Arc<Call>),
}

impl Transport {
    /// Calls go to `service` in this process: a tonic server's generated
    /// service (`PluginApiServer::new(fake)`), or any HTTP service that
    /// speaks gRPC. Each call clones the service, waits until it is ready and
    /// runs it on the caller's task, so calls are as concurrent as the
    /// service allows.
    pub fn in_process<S>(service: S) -> Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
    {
        let call = move |request: http::Request<Body>| -> BoxFuture<Result<http::Response<Body>, BoxError>> {
            let mut service = service.clone();
            Box::pin(async move {
                std::future::poll_fn(|cx| service.poll_ready(cx)).await.map_err(Into::into)?;
                service.call(request).await.map_err(Into::into)
            })
        };
        Self(Inner::InProcess(Arc::new(call)))
    }

    /// Whether calls stay in this process.
    pub fn is_in_process(&self) -> bool {
        matches!(self.0, Inner::InProcess(_))
    }
}

impl From<Channel> for Transport {
    fn from(channel: Channel) -> Self {
        Self(Inner::Network(channel))
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
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
        match &mut self.0 {
            Inner::Network(channel) => channel.poll_ready(cx).map_err(Into::into),
            Inner::InProcess(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match &mut self.0 {
            Inner::Network(channel) => {
                let call = channel.call(request);
                Box::pin(async move { call.await.map_err(Into::into) })
            }
            Inner::InProcess(call) => call(request),
        }
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
    async fn an_in_process_call_reaches_the_service_on_the_callers_task() {
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
}

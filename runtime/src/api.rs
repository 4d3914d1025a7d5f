//! The connection to the server's plugin API: where it is, how large its
//! messages may be, and the HTTP/2 settings both directions share.

use std::future::Future;

use tonic::transport::{Channel, Endpoint};

use crate::Transport;

/// The environment variable that holds the server's API address for this plugin.
pub const API_TARGET_ENV: &str = "MATTERMOST_PLUGIN_API_TARGET";

/// The largest message the plugin takes or sends, either way: API answers,
/// hook calls and their answers. 101 MiB: the server's default maximum file
/// size (100 MiB) and 1 MiB for the rest of the message, so a file the
/// server accepts fits in one `FileWillBeUploaded` call or `GetFile` answer,
/// as the server sends them (whole, in one message). What hook calls may
/// hold at once, all together, is bounded apart from this
/// ([`crate::serve::HOST_BUDGET`]).
pub const MAX_MESSAGE_SIZE: usize = 101 << 20;

/// The largest request the server accepts, encoded: 4 MiB. The real host
/// serves the plugin API with grpc-go's default limits (host rules, "Message
/// sizes"), so a larger request is refused; the client refuses it first,
/// without sending it, as [`crate::Error::TooLarge`].
pub const MAX_REQUEST_SIZE: usize = 4 * 1024 * 1024;

/// HTTP/2 receive windows and frame size, for the plugin's server and its
/// API client alike. A 64 KiB default window would stall a stream once per
/// 64 KiB chunk (ServeHTTP bodies, large API answers); the connection window
/// also caps what all streams together may buffer.
pub const STREAM_WINDOW: u32 = 2 << 20;
/// See [`STREAM_WINDOW`].
pub const CONNECTION_WINDOW: u32 = 8 << 20;
/// See [`STREAM_WINDOW`].
pub const MAX_FRAME: u32 = 256 << 10;

/// An endpoint for `target`: `host:port` (as in `MATTERMOST_PLUGIN_API_TARGET`)
/// or a URI, with the HTTP/2 settings above.
pub fn endpoint(target: &str) -> Result<Endpoint, tonic::transport::Error> {
    let uri = if target.contains("://") { target.to_owned() } else { format!("http://{target}") };
    Ok(Endpoint::from_shared(uri)?
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME))
}

/// A channel on which every call fails as unavailable.
fn unreachable() -> Channel {
    // Port 0 cannot be connected to.
    Endpoint::from_static("http://127.0.0.1:0").connect_lazy()
}

/// The channel a plugin's API client uses: to `target` (the server's
/// `MATTERMOST_PLUGIN_API_TARGET`), connecting on first use so it is ready at
/// once; without a usable target, one on which every call fails, with a
/// warning saying why.
pub fn plugin_channel(target: Option<&str>) -> Channel {
    match target.map(str::trim) {
        Some(target) if !target.is_empty() => match endpoint(target) {
            Ok(endpoint) => return endpoint.connect_lazy(),
            Err(e) => tracing::warn!("{API_TARGET_ENV}={target:?} is not usable ({e}); API calls will fail"),
        },
        _ => tracing::warn!("{API_TARGET_ENV} is not set; API calls will fail"),
    }
    unreachable()
}

/// `Err(TooLarge)` when an encoded request of `size` bytes is over `limit`.
pub fn fits(size: usize, limit: usize) -> Result<(), crate::Error> {
    if size > limit { Err(crate::Error::TooLarge { size, limit }) } else { Ok(()) }
}

/// One unary call of `method` of `service` (its full proto name), at `path`
/// (`/<service>/<method>`), through `grpc`: what tonic's generated client
/// methods do, as one generic function. The SDK's typed API methods all call
/// it, so each of their futures is this function's opaque, `Send` future
/// rather than a body the compiler checks (and a plugin's build compiles)
/// method by method.
// Not an `async fn`: the `Send` bound is part of the signature on purpose,
// so callers rely on it instead of looking into the future to prove it.
#[allow(clippy::manual_async_fn)]
pub fn unary<Req, Resp>(
    mut grpc: tonic::client::Grpc<Transport>,
    service: &'static str,
    method: &'static str,
    path: &'static str,
    request: Req,
) -> impl Future<Output = Result<Resp, tonic::Status>> + Send + 'static
where
    Req: prost::Message + Send + 'static,
    Resp: prost::Message + Default + Send + 'static,
{
    async move {
        grpc.ready().await.map_err(|e| tonic::Status::unknown(format!("Service was not ready: {e}")))?;
        let mut request = tonic::Request::new(request);
        request.extensions_mut().insert(tonic::GrpcMethod::new(service, method));
        let path = http::uri::PathAndQuery::from_static(path);
        Ok(grpc.unary(request, path, tonic_prost::ProstCodec::default()).await?.into_inner())
    }
}

/// What a typed API method answers: the response of `call`, turned into
/// the method's value by `take` (which checks the answer's app error and
/// picks its fields); a failed call is the method's error as it is.
///
/// One generic `async` block for all the methods, rather than one in each:
/// the SDK's front end checks one coroutine, not one per method.
// Not an `async fn`, for the same reason as [`unary`].
#[allow(clippy::manual_async_fn)]
pub fn answer<R, T, F>(
    call: impl Future<Output = Result<R, crate::Error>> + Send,
    take: F,
) -> impl Future<Output = Result<T, crate::Error>> + Send
where
    F: FnOnce(R) -> Result<T, crate::Error> + Send,
{
    async move { take(call.await?) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_is_the_response_taken_or_the_call_s_error_untouched() {
        let taken = answer(async { Ok::<_, crate::Error>(20) }, |n: i32| Ok(n + 1)).await;
        assert_eq!(taken.unwrap(), 21);
        let refused = answer(async { Ok::<_, crate::Error>(5) }, |size: usize| fits(size, 4).map(|()| size)).await;
        assert!(matches!(refused, Err(crate::Error::TooLarge { size: 5, limit: 4 })));
        let failed =
            answer(async { Err::<i32, _>(crate::Error::TooLarge { size: 9, limit: 1 }) }, |_: i32| -> Result<(), _> {
                panic!("nothing to take from a failed call")
            })
            .await;
        assert!(matches!(failed, Err(crate::Error::TooLarge { size: 9, limit: 1 })));
    }

    #[test]
    fn a_target_without_a_scheme_is_http() {
        assert_eq!(endpoint("127.0.0.1:9").unwrap().uri().to_string(), "http://127.0.0.1:9/");
        assert_eq!(endpoint("https://example.com:1").unwrap().uri().to_string(), "https://example.com:1/");
        assert!(endpoint("not a uri").is_err());
    }

    #[test]
    fn a_request_over_the_limit_does_not_fit() {
        assert!(fits(4, 4).is_ok());
        assert!(matches!(fits(5, 4), Err(crate::Error::TooLarge { size: 5, limit: 4 })));
    }

    /// A gRPC server in this process that answers every unary call with
    /// the request's own message, and notes the path it was called at.
    #[derive(Clone, Default)]
    struct Mirror(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl tonic::codegen::Service<http::Request<tonic::body::Body>> for Mirror {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

        fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
            use http_body_util::BodyExt as _;
            self.0.lock().unwrap().push(request.uri().path().to_owned());
            Box::pin(async move {
                // The request's one length-prefixed message, sent back as is.
                let message = request.into_body().collect().await.unwrap().to_bytes();
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                let frames: [Result<_, tonic::Status>; 2] =
                    [Ok(http_body::Frame::data(message)), Ok(http_body::Frame::trailers(trailers))];
                let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
                let mut response = http::Response::new(tonic::body::Body::new(body));
                response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/grpc"));
                Ok(response)
            })
        }
    }

    #[tokio::test]
    async fn a_unary_call_reaches_its_path_and_decodes_the_answer() {
        let mirror = Mirror::default();
        let grpc = tonic::client::Grpc::new(Transport::in_process(mirror.clone()));
        let sent = prost_types::Timestamp { seconds: 1_700_000_000, nanos: 5 };
        let answer: prost_types::Timestamp =
            unary(grpc, "pkg.v1.Service", "Method", "/pkg.v1.Service/Method", sent).await.unwrap();
        assert_eq!(answer, sent);
        assert_eq!(*mirror.0.lock().unwrap(), ["/pkg.v1.Service/Method"]);
    }

    #[tokio::test]
    async fn a_unary_call_to_an_unreachable_server_fails_with_a_status() {
        let grpc =
            tonic::client::Grpc::new(Transport::from(Endpoint::from_static("http://127.0.0.1:0").connect_lazy()));
        let failed = unary::<_, prost_types::Timestamp>(
            grpc,
            "pkg.v1.Service",
            "Method",
            "/pkg.v1.Service/Method",
            prost_types::Timestamp::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(failed.code(), tonic::Code::Unavailable, "{failed:?}");
    }
}

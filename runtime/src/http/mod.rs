//! HTTP for plugins: a plugin's HTTP endpoints as `http` types, bridged to
//! the server's HTTP-over-gRPC stream (`ServeHTTP` in Mattermost's contract).
//!
//! A request reaches the plugin as an [`HttpRequest`] whose body streams in
//! as the server sends it; the [`HttpResponse`] streams back as the handler
//! produces it. Any `tower::Service` (an `axum::Router`) can answer, through
//! [`call`]; Go-style code can write through a [`ResponseWriter`] instead
//! ([`respond_with`]). [`serve`] runs one stream; the SDK's glue says what
//! the stream's messages look like, as a [`Wire`].
//!
//! On the wire: status and headers go in exactly one `init`, the body in
//! chunks of at most [`MAX_CHUNK`] bytes, `flush` whenever the handler
//! pauses (or asks, through the writer), and `body_complete` at the end.
//! Request bodies over the limit are answered 413. Memory stays bounded: a
//! slow handler slows the sender, nothing piles up. A request stream that
//! breaks the protocol gets a gRPC `InvalidArgument`; the plugin keeps
//! serving. A client that goes away cancels the call: the handler's future
//! is dropped. The hook timeout does not apply here: a download or an event
//! stream lasts as long as the client stays.

mod bridge;
#[cfg(test)]
mod bridge_props;
#[cfg(test)]
pub(crate) mod bridge_test_wire;

pub use bridge::{Header, Init, ResponseParts, ResponseStream, Wire, serve};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{mpsc, oneshot};

/// The largest body chunk sent or accepted in one message (64 KiB).
pub const MAX_CHUNK: usize = 64 * 1024;

/// How many request chunks may wait for a handler that is not reading.
const REQUEST_BACKLOG: usize = 8;

/// Errors a handler may return; boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request to the plugin's HTTP endpoints. Its URI is what the server
/// routes on: the path without `/plugins/{id}` and the query without
/// `access_token` (`/hello?x=1`). Its extensions hold the plugin context
/// (the contract's `PluginContext`), the [`RemoteAddr`], the [`RequestUri`],
/// the [`UserId`] of a signed-in user, and (put there by the SDK) the hook's
/// `Context`, so a handler reaches the plugin API.
pub type HttpRequest = http::Request<RequestBody>;

/// What a plugin answers an [`HttpRequest`] with.
pub type HttpResponse = http::Response<ResponseBody>;

/// The client's address (`ip:port`), as the server saw it; a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAddr(pub String);

/// The request-target exactly as the client sent it to the server
/// (`/plugins/com.example.x/hello?x=1&access_token=…`), before the server
/// rewrote it into the request's URI; a request extension. Empty for a
/// request from the server itself or another plugin. Route on the URI:
/// this one may carry the `access_token` the server removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUri(pub String);

/// The header with the id of the signed-in user, which the server sets
/// (and removes when a client sends it).
pub const USER_ID_HEADER: &str = "Mattermost-User-Id";

/// The id of the signed-in user who sent the request, from the
/// `Mattermost-User-Id` header the server vouches for; a request extension,
/// absent when the client is not signed in.
///
/// It is an axum extractor too: a route that takes `UserId` answers 401
/// `Not authorized` (what Go plugins answer) to a request nobody signed in
/// sent, without running; one that takes `Option<UserId>` runs either way.
///
/// ```ignore
/// async fn my_note(UserId(user): UserId, Extension(cx): Extension<Context>) -> String {
///     cx.api.kv().get(&format!("note-{user}")).await.ok().flatten().unwrap_or_default()
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(pub String);

impl UserId {
    /// The user's id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The answer to a request that needs a signed-in user and has none:
/// 401 `Not authorized`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotSignedIn;

impl axum_core::response::IntoResponse for NotSignedIn {
    fn into_response(self) -> axum_core::response::Response {
        let mut response = axum_core::response::Response::new(axum_core::body::Body::from("Not authorized\n"));
        *response.status_mut() = http::StatusCode::UNAUTHORIZED;
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
        response
    }
}

impl<S: Send + Sync> axum_core::extract::FromRequestParts<S> for UserId {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        signed_in(parts).ok_or(NotSignedIn)
    }
}

impl<S: Send + Sync> axum_core::extract::OptionalFromRequestParts<S> for UserId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut http::request::Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(signed_in(parts))
    }
}

/// The signed-in user the SDK put in the request (an empty id is nobody).
fn signed_in(parts: &http::request::Parts) -> Option<UserId> {
    parts.extensions.get::<UserId>().filter(|user| !user.0.is_empty()).cloned()
}

/// Why reading a request body failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is larger than the plugin accepts.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The request stream ended before `body_complete`.
    Incomplete,
    /// The request stream broke the protocol.
    Protocol(String),
    /// The server or the client went away.
    Cancelled(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "the request body is larger than the limit of {limit} bytes"),
            Self::Incomplete => f.write_str("the request stream ended before the body was complete"),
            Self::Protocol(why) => write!(f, "malformed request stream: {why}"),
            Self::Cancelled(why) => write!(f, "the request was cancelled: {why}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// A request body, streamed: chunks arrive as the server sends them.
#[derive(Debug)]
pub struct RequestBody {
    chunks: Option<mpsc::Receiver<Result<Bytes, BodyError>>>,
    remaining: Option<u64>,
}

impl RequestBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self { chunks: None, remaining: Some(0) }
    }

    /// A body fed by `chunks`; `length` is the declared length, if known.
    fn streamed(chunks: mpsc::Receiver<Result<Bytes, BodyError>>, length: Option<u64>) -> Self {
        Self { chunks: Some(chunks), remaining: length }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let Some(chunks) = self.chunks.as_mut() else { return Poll::Ready(None) };
        match ready!(chunks.poll_recv(cx)) {
            Some(Ok(chunk)) => {
                if let Some(remaining) = self.remaining.as_mut() {
                    *remaining = remaining.saturating_sub(chunk.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Some(Err(e)) => {
                self.chunks = None;
                Poll::Ready(Some(Err(e)))
            }
            None => {
                self.chunks = None;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// A response body: bytes, any `http_body::Body`, or what a
/// [`ResponseWriter`] writes.
pub struct ResponseBody {
    inner: Inner,
}

enum Inner {
    Full(Option<Bytes>),
    Boxed(http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>),
    Writer(WriterBody),
}

impl ResponseBody {
    /// No body.
    pub fn empty() -> Self {
        Self { inner: Inner::Full(None) }
    }

    /// Any body whose data is `Bytes`, such as axum's.
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        use http_body_util::BodyExt as _;
        Self { inner: Inner::Boxed(body.map_err(Into::into).boxed_unsync()) }
    }

    /// The next piece of the body, and whether the handler asked to flush
    /// after it.
    fn poll_chunk(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Result<(Bytes, bool), BoxError>>> {
        match &mut self.inner {
            Inner::Full(bytes) => Poll::Ready(bytes.take().filter(|b| !b.is_empty()).map(|b| Ok((b, false)))),
            Inner::Boxed(body) => loop {
                match ready!(Pin::new(&mut *body).poll_frame(cx)) {
                    None => return Poll::Ready(None),
                    Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                    // Trailers have no place on this wire; they are dropped.
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) if !data.is_empty() => return Poll::Ready(Some(Ok((data, false)))),
                        _ => continue,
                    },
                }
            },
            Inner::Writer(writer) => writer.poll_chunk(cx),
        }
    }
}

impl Default for ResponseBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Full(_) => "Full",
            Inner::Boxed(_) => "Boxed",
            Inner::Writer(_) => "Writer",
        };
        f.debug_tuple("ResponseBody").field(&kind).finish()
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        Self { inner: Inner::Full(Some(bytes)) }
    }
}

impl From<Vec<u8>> for ResponseBody {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<String> for ResponseBody {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<&'static str> for ResponseBody {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.get_mut().poll_chunk(cx).map(|chunk| chunk.map(|r| r.map(|(data, _flush)| Frame::data(data))))
    }
}

/// Answers `request` with any `tower::Service`, such as an `axum::Router`.
/// A service error becomes a 500, logged.
pub async fn call<S, B>(service: S, request: HttpRequest) -> HttpResponse
where
    S: tower_service::Service<HttpRequest, Response = http::Response<B>>,
    S::Error: std::fmt::Display,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut service = service;
    if let Err(e) = std::future::poll_fn(|cx| service.poll_ready(cx)).await {
        tracing::error!("HTTP service not ready: {e}");
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    match service.call(request).await {
        Ok(response) => response.map(ResponseBody::new),
        Err(e) => {
            tracing::error!("HTTP service failed: {e}");
            status(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// An empty response with `code`.
pub fn status(code: StatusCode) -> HttpResponse {
    let mut response = HttpResponse::new(ResponseBody::empty());
    *response.status_mut() = code;
    response
}

/// What a plugin that serves no HTTP answers: 404.
pub fn not_found() -> HttpResponse {
    status(StatusCode::NOT_FOUND)
}

/// Go-style: `handler` gets the request and a [`ResponseWriter`], sets
/// headers, writes a status, writes and flushes the body. The response
/// starts with the first write or flush (or the end, for an empty body).
///
/// The handler runs as the response is sent, on the request's own task, so
/// a client going away stops it.
pub fn respond_with<F, Fut>(request: HttpRequest, handler: F) -> HttpResponse
where
    F: FnOnce(HttpRequest, ResponseWriter) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (head_tx, head_rx) = oneshot::channel();
    let (events_tx, events_rx) = mpsc::channel(REQUEST_BACKLOG);
    let writer = ResponseWriter { headers: HeaderMap::new(), status: None, head: Some(head_tx), events: events_tx };
    let driver = Box::pin(handler(request, writer));
    HttpResponse::new(ResponseBody {
        inner: Inner::Writer(WriterBody {
            driver: Some(driver),
            head: Some(head_rx),
            events: events_rx,
            head_seen: None,
        }),
    })
}

/// Writes a response as Go's `http.ResponseWriter` does.
pub struct ResponseWriter {
    headers: HeaderMap,
    status: Option<StatusCode>,
    head: Option<oneshot::Sender<(StatusCode, HeaderMap)>>,
    events: mpsc::Sender<(Bytes, bool)>,
}

/// The client went away: nothing more can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client went away")
    }
}

impl std::error::Error for Gone {}

impl ResponseWriter {
    /// The headers to send; changes after the first write are ignored, as in Go.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// Sets the status. A code outside 100–999 becomes 500, logged; only the
    /// first call counts, as in Go.
    pub fn write_header(&mut self, code: u16) {
        if self.status.is_some() || self.head.is_none() {
            return;
        }
        self.status = Some(StatusCode::from_u16(code).unwrap_or_else(|_| {
            tracing::error!("invalid HTTP status {code} from a plugin handler; answering 500");
            StatusCode::INTERNAL_SERVER_ERROR
        }));
    }

    /// Writes body bytes (waiting while the client is slower than the handler).
    pub async fn write(&mut self, data: impl Into<Bytes>) -> Result<(), Gone> {
        self.send_head();
        let data = data.into();
        if data.is_empty() {
            return Ok(());
        }
        self.events.send((data, false)).await.map_err(|_| Gone)
    }

    /// Asks the server to push what was written so far to the client.
    pub async fn flush(&mut self) -> Result<(), Gone> {
        self.send_head();
        self.events.send((Bytes::new(), true)).await.map_err(|_| Gone)
    }

    fn send_head(&mut self) {
        if let Some(head) = self.head.take() {
            let status = self.status.unwrap_or(StatusCode::OK);
            let _ = head.send((status, std::mem::take(&mut self.headers)));
        }
    }
}

impl Drop for ResponseWriter {
    fn drop(&mut self) {
        self.send_head();
    }
}

/// The body side of a [`ResponseWriter`]: drives the handler while reading
/// what it writes.
struct WriterBody {
    driver: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    head: Option<oneshot::Receiver<(StatusCode, HeaderMap)>>,
    events: mpsc::Receiver<(Bytes, bool)>,
    head_seen: Option<(StatusCode, HeaderMap)>,
}

impl WriterBody {
    fn drive(&mut self, cx: &mut TaskContext<'_>) {
        if let Some(driver) = self.driver.as_mut()
            && driver.as_mut().poll(cx).is_ready()
        {
            self.driver = None;
        }
    }

    /// The status and headers, once the handler has written or finished.
    fn poll_head(&mut self, cx: &mut TaskContext<'_>) -> Poll<(StatusCode, HeaderMap)> {
        self.drive(cx);
        if let Some(head) = self.head_seen.take() {
            return Poll::Ready(head);
        }
        match self.head.as_mut() {
            Some(head) => match Pin::new(head).poll(cx) {
                Poll::Ready(Ok(head)) => {
                    self.head = None;
                    Poll::Ready(head)
                }
                Poll::Ready(Err(_)) => {
                    self.head = None;
                    Poll::Ready((StatusCode::OK, HeaderMap::new()))
                }
                Poll::Pending => Poll::Pending,
            },
            None => Poll::Ready((StatusCode::OK, HeaderMap::new())),
        }
    }

    fn poll_chunk(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Result<(Bytes, bool), BoxError>>> {
        self.drive(cx);
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(Some(Ok(event))),
            // The writer is gone once the handler has finished.
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod signed_in_tests {
    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum_core::response::IntoResponse as _;

    use super::*;

    fn parts(user: Option<&str>) -> http::request::Parts {
        let mut request = http::Request::new(());
        if let Some(user) = user {
            request.extensions_mut().insert(UserId(user.into()));
        }
        request.into_parts().0
    }

    #[tokio::test]
    async fn a_route_taking_user_id_gets_the_signed_in_user_and_refuses_anyone_else() {
        let user = <UserId as FromRequestParts<()>>::from_request_parts(&mut parts(Some("u1")), &()).await;
        assert_eq!(user, Ok(UserId("u1".into())));
        for nobody in [None, Some("")] {
            let refused = <UserId as FromRequestParts<()>>::from_request_parts(&mut parts(nobody), &()).await;
            assert_eq!(refused, Err(NotSignedIn));
        }
        let response = NotSignedIn.into_response();
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
        let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
        assert_eq!(&body[..], b"Not authorized\n");
    }

    #[tokio::test]
    async fn an_optional_user_id_is_none_for_nobody() {
        let some = <UserId as OptionalFromRequestParts<()>>::from_request_parts(&mut parts(Some("u1")), &()).await;
        assert_eq!(some, Ok(Some(UserId("u1".into()))));
        let none = <UserId as OptionalFromRequestParts<()>>::from_request_parts(&mut parts(None), &()).await;
        assert_eq!(none, Ok(None));
    }
}

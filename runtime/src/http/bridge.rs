//! The bridge between an HTTP-over-gRPC stream and a plugin's HTTP handler:
//! the request stream's messages become an [`HttpRequest`] whose body
//! streams in, and the handler's [`HttpResponse`] becomes the response
//! stream's messages. The contract's message types come in through [`Wire`],
//! which the SDK's generated glue implements.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::{Stream, StreamExt as _};
use tonic::Status;
use tracing::instrument::WithSubscriber as _;

use super::{
    BodyError, HttpRequest, HttpResponse, Inner, MAX_CHUNK, REQUEST_BACKLOG, RemoteAddr, RequestBody, RequestUri,
    ResponseBody, USER_ID_HEADER, UserId, status,
};
use crate::panic::CatchUnwind;

/// The messages of an HTTP-over-gRPC stream (Mattermost's `ServeHTTP`), as
/// a contract spells them. The SDK's generated glue implements it for the
/// contract's types; the bridge works in the plain types below.
pub trait Wire: Send + 'static {
    /// The stream's name, for log lines.
    const HOOK: &'static str;
    /// The request stream's message.
    type Request: Send + 'static;
    /// The response stream's message.
    type Response: Send + 'static;
    /// The plugin context the init carries; handlers find it in the
    /// request's extensions.
    type Context: Clone + Send + Sync + 'static;

    /// A request message's parts: its init (the first message's, and only
    /// its), its body chunk, and whether the body is complete.
    fn request_parts(message: Self::Request) -> (Option<Init<Self::Context>>, Bytes, bool);

    /// The response message that carries the status and headers.
    fn response_init(status: u16, headers: Vec<Header>) -> Self::Response;

    /// A response message that carries a piece of the body; `flush` asks the
    /// server to push what it has, `complete` ends the body.
    fn response_chunk(chunk: Bytes, flush: bool, complete: bool) -> Self::Response;

    /// The server's side, as the test kit plays it: a request message with
    /// these parts.
    fn request_message(init: Option<Init<Self::Context>>, chunk: Bytes, complete: bool) -> Self::Request;

    /// The server's side: a response message's parts.
    fn response_parts(message: Self::Response) -> ResponseParts;
}

/// A response message's parts, as the server reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseParts {
    /// The status code (0 for 200) and headers, in the init message only.
    pub init: Option<(i32, Vec<Header>)>,
    /// A piece of the body.
    pub chunk: Bytes,
    /// Whether the plugin asks the server to push what it has.
    pub flush: bool,
    /// Whether the body is complete.
    pub complete: bool,
}

/// A request stream's first message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Init<C> {
    /// Who sent the request, as the server saw it (its default when unset).
    pub context: C,
    /// The HTTP method.
    pub method: String,
    /// What the server routes on: the path without `/plugins/{id}`, the
    /// query without `access_token`.
    pub url: String,
    /// The HTTP version's major number.
    pub proto_major: i32,
    /// The HTTP version's minor number.
    pub proto_minor: i32,
    /// The request's headers, each name with its values.
    pub headers: Vec<Header>,
    /// The `Host` the client asked for.
    pub host: String,
    /// The client's address, `ip:port`.
    pub remote_addr: String,
    /// The request-target exactly as the client sent it.
    pub request_uri: String,
    /// The declared body length; negative when unknown.
    pub content_length: i64,
}

/// One header name with its values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The name.
    pub key: String,
    /// Its values, in order.
    pub values: Vec<String>,
}

/// The response stream a gRPC server sends.
pub type ResponseStream<W> = Pin<Box<dyn Stream<Item = Result<<W as Wire>::Response, Status>> + Send>>;

/// Serves one request stream: reads its init, runs `handler` on the request
/// (its body fed from the stream's further messages, at most `body_limit`
/// bytes), and answers the response stream the handler's response makes.
/// A stream without an init, or whose init is not a valid HTTP request, is
/// refused with `InvalidArgument` before the handler runs.
pub async fn serve<W, S, H, Fut>(mut stream: S, body_limit: u64, handler: H) -> Result<ResponseStream<W>, Status>
where
    W: Wire,
    S: Stream<Item = Result<W::Request, Status>> + Send + Unpin + 'static,
    H: FnOnce(HttpRequest) -> Fut,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let first = tokio::time::timeout(FIRST_MESSAGE_WAIT, stream.next())
        .await
        .map_err(|_| {
            Status::deadline_exceeded(format!(
                "no init message within {} s of the request stream's start",
                FIRST_MESSAGE_WAIT.as_secs()
            ))
        })?
        .transpose()?
        .ok_or_else(|| Status::invalid_argument("the request stream ended before its init message"))?;
    let (init, first_chunk, first_complete) = W::request_parts(first);
    let Some(init) = init else {
        return Err(Status::invalid_argument("the first message of the request stream has no init"));
    };
    let declared = u64::try_from(init.content_length).ok();
    // Under the panic guard: no input, however odd, takes the plugin down.
    let (request, too_large) =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| build_request(init, declared, body_limit))).map_err(
            |panic| {
                let panic = crate::panic::message(panic.as_ref());
                Status::invalid_argument(format!("the request cannot be built: {panic}"))
            },
        )??;
    let (chunks_tx, chunks_rx) = mpsc::channel(REQUEST_BACKLOG);
    let body = RequestBody::streamed(chunks_rx, declared);
    let (request_parts, ()) = request.into_parts();
    let request = HttpRequest::from_parts(request_parts, body);

    let (report_tx, report_rx) = oneshot::channel();
    let pump = Pump { received: 0, limit: body_limit, chunks: Some(chunks_tx), report: Some(report_tx) };
    let reader = tokio::spawn(pump.run::<W, S>(stream, first_chunk, first_complete).with_current_subscriber());
    let state = if too_large {
        // Declared too large: answer 413 without bothering the handler.
        State::Respond(status(StatusCode::PAYLOAD_TOO_LARGE))
    } else {
        let handling: Pin<Box<dyn Future<Output = HttpResponse> + Send>> = Box::pin(handler(request));
        State::Handling(CatchUnwind(handling))
    };
    Ok(Box::pin(ServeStream::<W> {
        state,
        _reader: AbortOnDrop(reader),
        report: Some(report_rx),
        pending: None,
        limit: body_limit,
        wire: PhantomData,
    }))
}

/// Turns an init message into an `http::Request` without a body. Header
/// names and values that are not valid HTTP are an `InvalidArgument`.
fn build_request<C: Clone + Send + Sync + 'static>(
    init: Init<C>,
    declared: Option<u64>,
    limit: u64,
) -> Result<(http::Request<()>, bool), Status> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| Status::invalid_argument(format!("{what}: {e}"));
    // `url` is what the server routes on (host rules, "ServeHTTP stream"): the path
    // without `/plugins/{id}`, the query without `access_token`.
    if init.url.is_empty() {
        return Err(Status::invalid_argument("the init message has no url"));
    }
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(init.method.as_bytes()).map_err(|e| invalid("method", &e))?)
        .uri(http::Uri::try_from(init.url.as_str()).map_err(|e| invalid("url", &e))?)
        .version(match (init.proto_major, init.proto_minor) {
            (2, _) => http::Version::HTTP_2,
            (3, _) => http::Version::HTTP_3,
            (1, 0) => http::Version::HTTP_10,
            (0, 9) => http::Version::HTTP_09,
            _ => http::Version::HTTP_11,
        });
    let count: usize = init.headers.iter().map(|h| h.values.len().max(1)).sum();
    if count > MAX_HEADERS {
        return Err(Status::invalid_argument(format!(
            "the request has {count} header values; at most {MAX_HEADERS} are taken"
        )));
    }
    let headers = builder.headers_mut().ok_or_else(|| Status::invalid_argument("invalid request"))?;
    let full = |e: http::header::MaxSizeReached| invalid("headers", &e);
    for header in init.headers {
        let name = HeaderName::from_bytes(header.key.as_bytes()).map_err(|e| invalid("header name", &e))?;
        for value in header.values {
            let value = HeaderValue::from_str(&value).map_err(|e| invalid("header value", &e))?;
            headers.try_append(name.clone(), value).map_err(full)?;
        }
    }
    // Go keeps the length apart from the headers; a handler looks for it there.
    if let Some(length) = declared
        && !headers.contains_key(http::header::CONTENT_LENGTH)
    {
        headers.try_insert(http::header::CONTENT_LENGTH, HeaderValue::from(length)).map_err(full)?;
    }
    if !init.host.is_empty() && !headers.contains_key(http::header::HOST) {
        headers
            .try_insert(http::header::HOST, HeaderValue::from_str(&init.host).map_err(|e| invalid("host", &e))?)
            .map_err(full)?;
    }
    // The server sets this header for a signed-in user, after removing any
    // the client sent (host rules, "ServeHTTP stream": headers the server vouches for).
    let user = headers.get(USER_ID_HEADER).and_then(|v| v.to_str().ok()).filter(|id| !id.is_empty()).map(str::to_owned);
    let mut builder =
        builder.extension(init.context).extension(RemoteAddr(init.remote_addr)).extension(RequestUri(init.request_uri));
    if let Some(user) = user {
        builder = builder.extension(UserId(user));
    }
    let request = builder.body(()).map_err(|e| invalid("request", &e))?;
    Ok((request, declared.is_some_and(|n| n > limit)))
}

/// Reads the request stream after `init`, feeding the body's chunks.
struct Pump {
    received: u64,
    limit: u64,
    /// `None` once the body is complete: dropping the sender ends it.
    chunks: Option<mpsc::Sender<Result<Bytes, BodyError>>>,
    report: Option<oneshot::Sender<Report>>,
}

/// What the request reader tells the response side.
enum Report {
    /// The request stream broke the protocol.
    Protocol(String),
    /// The body went over the limit.
    TooLarge,
}

impl Pump {
    async fn run<W: Wire, S>(mut self, mut stream: S, first: Bytes, mut complete: bool)
    where
        S: Stream<Item = Result<W::Request, Status>> + Unpin,
    {
        if !self.feed(first).await {
            return;
        }
        if complete {
            self.chunks = None;
        }
        loop {
            match stream.next().await {
                Some(Ok(message)) => {
                    let (init, chunk, body_complete) = W::request_parts(message);
                    if init.is_some() {
                        return self.fail(Report::Protocol("a second init message".into()));
                    }
                    if complete {
                        return self.fail(Report::Protocol("a message after body_complete".into()));
                    }
                    if !self.feed(chunk).await {
                        return;
                    }
                    if body_complete {
                        complete = true;
                        self.chunks = None;
                    }
                }
                None => {
                    if !complete {
                        // Reported first, as every other failure: the
                        // response side then answers InvalidArgument even
                        // if the handler passes its failing body straight on.
                        self.fail(Report::Protocol("the request stream ended without body_complete".into()));
                        self.send(Err(BodyError::Incomplete)).await;
                    }
                    return;
                }
                Some(Err(status)) => {
                    self.send(Err(BodyError::Cancelled(status.message().to_owned()))).await;
                    return;
                }
            }
        }
    }

    /// Hands one chunk to the body; false when reading must stop.
    async fn feed(&mut self, chunk: Bytes) -> bool {
        if chunk.len() > MAX_CHUNK {
            self.fail(Report::Protocol(format!("a body chunk of {} bytes, over {MAX_CHUNK}", chunk.len())));
            return false;
        }
        self.received += chunk.len() as u64;
        if self.received > self.limit {
            // The response side learns first, so the 413 wins over whatever
            // the handler makes of its failing body.
            self.fail(Report::TooLarge);
            self.send(Err(BodyError::TooLarge { limit: self.limit })).await;
            return false;
        }
        if !chunk.is_empty() {
            self.send(Ok(chunk)).await;
        }
        true
    }

    /// Hands a chunk (or the body's failure) to the handler. A handler that
    /// dropped the body no longer wants it: reading goes on, to see the
    /// protocol through, but discards.
    async fn send(&mut self, item: Result<Bytes, BodyError>) {
        if let Some(chunks) = &self.chunks
            && chunks.send(item).await.is_err()
        {
            self.chunks = None;
        }
    }

    fn fail(&mut self, report: Report) {
        if let Some(tx) = self.report.take() {
            let _ = tx.send(report);
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Handling = CatchUnwind<Pin<Box<dyn Future<Output = HttpResponse> + Send>>>;

enum State {
    Handling(Handling),
    Respond(HttpResponse),
    Head(ResponseBody),
    Body(ResponseBody),
    /// The response is complete; waiting (briefly) for the request stream to
    /// end, so a protocol error in its tail is still reported.
    Finishing(Pin<Box<tokio::time::Sleep>>),
    Done,
}

/// The most header values a request may have. The server passes on what
/// the client sent; `http`'s header map cannot hold more than 24,576 names
/// and panics past that, so a request with more than this is refused with
/// `InvalidArgument`, as Go's server would refuse headers over its 1 MB.
pub const MAX_HEADERS: usize = 8_192;

/// How long a request stream may take to send its first message (the
/// server sends it at once); a stream silent longer is closed.
pub const FIRST_MESSAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a complete response waits for the request stream to end.
const FINISH_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// The response side of one stream.
struct ServeStream<W> {
    state: State,
    /// Aborts the request reader when the response ends or is dropped.
    _reader: AbortOnDrop,
    report: Option<oneshot::Receiver<Report>>,
    /// Bytes read from the body but not yet sent (a frame over 64 KiB).
    pending: Option<Bytes>,
    limit: u64,
    wire: PhantomData<fn() -> W>,
}

impl<W: Wire> ServeStream<W> {
    fn init(status: StatusCode, headers: &HeaderMap) -> W::Response {
        let mut grouped: Vec<Header> = Vec::new();
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            match grouped.iter_mut().find(|h| h.key == name.as_str()) {
                Some(header) => header.values.push(value),
                None => grouped.push(Header { key: name.as_str().to_owned(), values: vec![value] }),
            }
        }
        W::response_init(status.as_u16(), grouped)
    }

    fn head(&mut self, response: HttpResponse) -> Option<Result<W::Response, Status>> {
        let (parts, body) = response.into_parts();
        if let Inner::Writer(_) = body.inner {
            self.state = State::Head(body);
            return None;
        }
        self.state = State::Body(body);
        Some(Ok(Self::init(parts.status, &parts.headers)))
    }

    /// Takes in what the request reader reported, if anything: a protocol
    /// error ends the stream with `InvalidArgument`; a body over the limit
    /// turns the answer into 413 while no head has gone out.
    fn check_failure(&mut self, cx: &mut TaskContext<'_>) -> Option<Status> {
        let report = self.report.as_mut()?;
        let Poll::Ready(result) = Pin::new(report).poll(cx) else { return None };
        self.report = None;
        match result {
            Ok(Report::Protocol(what)) => {
                self.state = State::Done;
                tracing::warn!("malformed {} request stream: {what}", W::HOOK);
                Some(Status::invalid_argument(format!("malformed request stream: {what}")))
            }
            Ok(Report::TooLarge) => {
                if matches!(self.state, State::Handling(_) | State::Respond(_) | State::Head(_)) {
                    tracing::warn!("request body over the limit of {} bytes: answering 413", self.limit);
                    self.state = State::Respond(status(StatusCode::PAYLOAD_TOO_LARGE));
                }
                None
            }
            // The reader finished without a failure.
            Err(_) => None,
        }
    }

    /// Collects up to [`MAX_CHUNK`] bytes of body that are ready now.
    fn poll_body(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Result<W::Response, Status>>> {
        let State::Body(body) = &mut self.state else { return Poll::Ready(None) };
        let mut out = BytesMut::new();
        let mut single: Option<Bytes> = None;
        let mut flush = false;
        loop {
            let filled = single.as_ref().map_or(out.len(), Bytes::len);
            if filled >= MAX_CHUNK || flush {
                break;
            }
            let next = match self.pending.take() {
                Some(rest) => Poll::Ready(Some(Ok((rest, false)))),
                // The body's code (a writer's handler, a stream) runs in
                // this poll: under the guard.
                None => match guarded(|| body.poll_chunk(cx)) {
                    Ok(next) => next,
                    Err(panic) => {
                        tracing::error!("the HTTP handler panicked after its answer began: {panic}");
                        self.state = State::Done;
                        return Poll::Ready(Some(Err(Status::internal(format!(
                            "the HTTP handler panicked after its answer began: {panic}"
                        )))));
                    }
                },
            };
            match next {
                Poll::Ready(Some(Ok((mut data, wants_flush)))) => {
                    flush = wants_flush;
                    let room = MAX_CHUNK - filled;
                    if data.len() > room {
                        self.pending = Some(data.split_off(room));
                    }
                    // A full chunk from the body goes out as it is, no copy.
                    if filled == 0 && single.is_none() && out.is_empty() {
                        single = Some(data);
                    } else {
                        if let Some(first) = single.take() {
                            out.extend_from_slice(&first);
                        }
                        out.extend_from_slice(&data);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    // The request reader reports a broken request stream
                    // before it fails the body, so a body failing for that
                    // reason finds the report ready: the answer is its
                    // InvalidArgument, even when the report arrived after
                    // this poll last looked for it.
                    if let Some(status) = self.check_failure(cx) {
                        return Poll::Ready(Some(Err(status)));
                    }
                    tracing::error!("the HTTP response body failed: {e}");
                    self.state = State::Done;
                    return Poll::Ready(Some(Err(Status::internal(format!("response body failed: {e}")))));
                }
                Poll::Ready(None) => {
                    self.state = State::Finishing(Box::pin(tokio::time::sleep(FINISH_GRACE)));
                    let chunk = single.unwrap_or_else(|| out.freeze());
                    return Poll::Ready(Some(Ok(W::response_chunk(chunk, false, true))));
                }
                Poll::Pending => {
                    // The handler paused: send what there is, flushed.
                    if single.is_none() && out.is_empty() {
                        return Poll::Pending;
                    }
                    flush = true;
                    break;
                }
            }
        }
        let chunk = single.unwrap_or_else(|| out.freeze());
        Poll::Ready(Some(Ok(W::response_chunk(chunk, flush, false))))
    }
}

/// Runs `poll`, turning a panic inside it into `Err` with its message.
fn guarded<T>(poll: impl FnOnce() -> T) -> Result<T, String> {
    // Unwind safety: after a panic the body is dropped, never polled again.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(poll)).map_err(|p| crate::panic::message(p.as_ref()))
}

impl<W: Wire> Stream for ServeStream<W> {
    type Item = Result<W::Response, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(error) = this.check_failure(cx) {
            return Poll::Ready(Some(Err(error)));
        }
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Handling(mut handling) => match Pin::new(&mut handling).poll(cx) {
                    Poll::Pending => {
                        this.state = State::Handling(handling);
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(response)) => {
                        // The reader may have failed while the handler ran
                        // (a body over the limit makes the handler fail too):
                        // that failure decides the answer.
                        this.state = State::Respond(response);
                        if let Some(error) = this.check_failure(cx) {
                            return Poll::Ready(Some(Err(error)));
                        }
                    }
                    Poll::Ready(Err(panic)) => {
                        tracing::error!("the HTTP handler panicked: {panic}; answering 500");
                        if let Some(init) = this.head(status(StatusCode::INTERNAL_SERVER_ERROR)) {
                            return Poll::Ready(Some(init));
                        }
                    }
                },
                State::Respond(response) => {
                    if let Some(init) = this.head(response) {
                        return Poll::Ready(Some(init));
                    }
                }
                State::Head(mut body) => {
                    let Inner::Writer(writer) = &mut body.inner else { unreachable!("only writer bodies wait") };
                    // The writer's handler runs in this poll: under the guard.
                    match guarded(|| writer.poll_head(cx)) {
                        Ok(Poll::Pending) => {
                            this.state = State::Head(body);
                            return Poll::Pending;
                        }
                        Ok(Poll::Ready((code, headers))) => {
                            this.state = State::Body(body);
                            return Poll::Ready(Some(Ok(Self::init(code, &headers))));
                        }
                        Err(panic) => {
                            tracing::error!("the HTTP handler panicked: {panic}; answering 500");
                            if let Some(init) = this.head(status(StatusCode::INTERNAL_SERVER_ERROR)) {
                                return Poll::Ready(Some(init));
                            }
                        }
                    }
                }
                state @ State::Body(_) => {
                    this.state = state;
                    return this.poll_body(cx);
                }
                State::Finishing(mut grace) => {
                    // The report channel closes when the reader is done; a
                    // report itself was handled above.
                    if this.report.is_none() || grace.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    this.state = State::Finishing(grace);
                    return Poll::Pending;
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use http_body_util::BodyExt as _;
    use tokio_stream::wrappers::ReceiverStream;

    use super::*;
    use crate::http::bridge_test_wire::{Request, Response, TestWire};
    use crate::http::{ResponseBody, respond_with};

    const LIMIT: u64 = 1 << 20;

    fn init(method: &str, url: &str, content_length: i64) -> Init<String> {
        Init {
            context: "request-7".into(),
            method: method.into(),
            url: url.into(),
            proto_major: 1,
            proto_minor: 1,
            headers: vec![Header { key: "X-Tag".into(), values: vec!["a".into(), "b".into()] }],
            host: "mm.example.com".into(),
            remote_addr: "10.0.0.1:5000".into(),
            request_uri: format!("/plugins/com.example.x{url}"),
            content_length,
        }
    }

    fn first(init: Init<String>, chunk: &[u8], complete: bool) -> Request {
        Request { init: Some(init), chunk: Bytes::copy_from_slice(chunk), complete }
    }

    fn next(chunk: &[u8], complete: bool) -> Request {
        Request { init: None, chunk: Bytes::copy_from_slice(chunk), complete }
    }

    /// The messages the server sends for `body`: the first 64 KiB piece
    /// inside init, `body_complete` on the last (host rules, "ServeHTTP stream").
    fn as_the_server_sends(init: Init<String>, body: &[u8]) -> Vec<Request> {
        let mut pieces = body.chunks(MAX_CHUNK);
        let head = pieces.next().unwrap_or_default();
        let rest: Vec<&[u8]> = pieces.collect();
        let mut messages = vec![first(init, head, rest.is_empty())];
        let count = rest.len();
        messages.extend(rest.into_iter().enumerate().map(|(i, piece)| next(piece, i + 1 == count)));
        messages
    }

    fn stream(messages: Vec<Request>) -> impl Stream<Item = Result<Request, Status>> + Send + Unpin + 'static {
        tokio_stream::iter(messages.into_iter().map(Ok))
    }

    /// Echoes the body with the request's content type.
    async fn echo(request: HttpRequest) -> HttpResponse {
        let (parts, body) = request.into_parts();
        let mut response = HttpResponse::new(ResponseBody::new(body));
        if let Some(kind) = parts.headers.get(http::header::CONTENT_TYPE) {
            response.headers_mut().insert(http::header::CONTENT_TYPE, kind.clone());
        }
        response
    }

    /// Every message of the answer, or the status that ended it.
    async fn exchange<H, Fut>(messages: Vec<Request>, limit: u64, handler: H) -> Result<Vec<Response>, Status>
    where
        H: FnOnce(HttpRequest) -> Fut,
        Fut: Future<Output = HttpResponse> + Send + 'static,
    {
        let mut answer = serve::<TestWire, _, _, _>(stream(messages), limit, handler).await?;
        let mut out = Vec::new();
        while let Some(message) = tokio::time::timeout(Duration::from_secs(5), answer.next()).await.expect("bounded") {
            out.push(message?);
        }
        Ok(out)
    }

    /// The status and the body of a well-formed answer, checking its shape:
    /// one init first, chunks of at most 64 KiB, `body_complete` last only.
    fn body_of(answer: &[Response]) -> (u16, Vec<u8>) {
        let Some((Response::Init(status, _), rest)) = answer.split_first() else { panic!("no init first: {answer:?}") };
        let mut body = Vec::new();
        for (i, message) in rest.iter().enumerate() {
            let Response::Chunk { chunk, complete, .. } = message else { panic!("a second init: {answer:?}") };
            assert!(chunk.len() <= MAX_CHUNK, "a chunk of {} bytes", chunk.len());
            assert_eq!(*complete, i + 1 == rest.len(), "body_complete on the last message only");
            body.extend_from_slice(chunk);
        }
        (*status, body)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test]
    async fn bodies_of_every_size_around_the_chunk_boundary_come_back_whole() {
        for len in [0, 1, MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 1, 3 * MAX_CHUNK + 5] {
            let body = pattern(len);
            let answer = exchange(as_the_server_sends(init("POST", "/echo", len as i64), &body), LIMIT, echo).await;
            let (status, echoed) = body_of(&answer.unwrap());
            assert_eq!((status, echoed.len()), (200, len), "length {len}");
            assert!(echoed == body, "length {len}: the content differs");
        }
    }

    #[tokio::test]
    async fn the_request_is_built_from_url_with_the_raw_target_context_and_headers_beside_it() {
        let seen = |request: HttpRequest| async move {
            let raw = request.extensions().get::<RequestUri>().map(|r| r.0.clone()).unwrap_or_default();
            let context = request.extensions().get::<String>().cloned().unwrap_or_default();
            let remote = request.extensions().get::<RemoteAddr>().map(|r| r.0.clone()).unwrap_or_default();
            let tags: Vec<_> =
                request.headers().get_all("x-tag").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
            let line = format!(
                "{} {} {:?} raw={raw} context={context} remote={remote} host={:?} length={:?} tags={tags:?}",
                request.method(),
                request.uri(),
                request.version(),
                request.headers().get("host"),
                request.headers().get("content-length"),
            );
            HttpResponse::new(ResponseBody::from(line))
        };
        let answer = exchange(vec![first(init("GET", "/hello?a=1", 0), b"", true)], LIMIT, seen).await.unwrap();
        let (_, body) = body_of(&answer);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "GET /hello?a=1 HTTP/1.1 raw=/plugins/com.example.x/hello?a=1 context=request-7 remote=10.0.0.1:5000 \
             host=Some(\"mm.example.com\") length=Some(\"0\") tags=[\"a\", \"b\"]"
        );
    }

    #[tokio::test]
    async fn response_headers_go_in_one_init_grouped_by_name() {
        let handler = |_request: HttpRequest| async {
            let mut response = HttpResponse::new(ResponseBody::from("x"));
            *response.status_mut() = StatusCode::CREATED;
            response.headers_mut().append("x-step", HeaderValue::from_static("one"));
            response.headers_mut().append("x-step", HeaderValue::from_static("two"));
            response
        };
        let answer = exchange(vec![first(init("GET", "/", 0), b"", true)], LIMIT, handler).await.unwrap();
        let Response::Init(status, headers) = &answer[0] else { panic!("{answer:?}") };
        assert_eq!(*status, 201);
        assert_eq!(headers, &[Header { key: "x-step".into(), values: vec!["one".into(), "two".into()] }]);
    }

    #[tokio::test]
    async fn malformed_request_streams_are_invalid_arguments() {
        let bad_header =
            Init { headers: vec![Header { key: "X Bad".into(), values: vec!["v".into()] }], ..init("GET", "/", 0) };
        let bad_value =
            Init { headers: vec![Header { key: "X-Bad".into(), values: vec!["a\nb".into()] }], ..init("GET", "/", 0) };
        let before_handler: Vec<(&str, Vec<Request>)> = vec![
            ("no message at all", vec![]),
            ("no init first", vec![next(b"body", true)]),
            ("no url", vec![first(Init { url: String::new(), ..init("GET", "/", 0) }, b"", true)]),
            ("a bad method", vec![first(Init { method: "GE T".into(), ..init("GET", "/", 0) }, b"", true)]),
            ("a bad url", vec![first(init("GET", "not a uri", 0), b"", true)]),
            ("a bad header name", vec![first(bad_header, b"", true)]),
            ("a bad header value", vec![first(bad_value, b"", true)]),
        ];
        for (what, messages) in before_handler {
            let refused = serve::<TestWire, _, _, _>(stream(messages), LIMIT, echo).await.err();
            assert_eq!(refused.map(|s| s.code()), Some(tonic::Code::InvalidArgument), "{what}");
        }
        let during_body: Vec<(&str, Vec<Request>)> = vec![
            (
                "a second init",
                vec![first(init("POST", "/echo", -1), b"a", false), first(init("POST", "/echo", -1), b"b", true)],
            ),
            ("a chunk after body_complete", vec![first(init("POST", "/echo", -1), b"a", true), next(b"b", false)]),
            ("no body_complete", vec![first(init("POST", "/echo", -1), b"a", false), next(b"b", false)]),
            ("a chunk over 64 KiB", vec![first(init("POST", "/echo", -1), &pattern(MAX_CHUNK + 1), true)]),
        ];
        for (what, messages) in during_body {
            let status = exchange(messages, LIMIT, echo).await.expect_err(what);
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{what}: {status:?}");
            assert!(status.message().starts_with("malformed request stream: "), "{what}: {status:?}");
        }
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_answered_413_declared_or_streamed() {
        let called = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&called);
        let declared = as_the_server_sends(init("POST", "/echo", 200), &pattern(200));
        let handler = move |request| {
            flag.store(true, Ordering::SeqCst);
            echo(request)
        };
        let answer = exchange(declared, 100, handler).await.unwrap();
        assert_eq!(body_of(&answer).0, 413);
        assert!(!called.load(Ordering::SeqCst), "the handler ran for a body declared too large");
        // A handler that reads the whole body before it answers: the 413
        // wins over what it makes of its failing body.
        let collect = |request: HttpRequest| async move {
            match request.into_body().collect().await {
                Ok(body) => HttpResponse::new(ResponseBody::from(body.to_bytes())),
                Err(e) => status(match e {
                    BodyError::TooLarge { .. } => StatusCode::BAD_REQUEST,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                }),
            }
        };
        let streamed = as_the_server_sends(init("POST", "/upload", -1), &pattern(3 * MAX_CHUNK));
        let answer = exchange(streamed, 2 * MAX_CHUNK as u64, collect).await.unwrap();
        assert_eq!(body_of(&answer).0, 413);
        let exactly = as_the_server_sends(init("POST", "/upload", -1), &pattern(2 * MAX_CHUNK));
        let answer = exchange(exactly, 2 * MAX_CHUNK as u64, collect).await.unwrap();
        assert_eq!(body_of(&answer), (200, pattern(2 * MAX_CHUNK)));
        // Once the head has gone out, a body going over the limit can only
        // end the stream.
        let streamed = as_the_server_sends(init("POST", "/echo", -1), &pattern(3 * MAX_CHUNK));
        let status = exchange(streamed, 2 * MAX_CHUNK as u64, echo).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal);
    }

    #[tokio::test]
    async fn each_piece_the_writer_flushes_goes_out_flushed_and_the_status_first() {
        let handler = |request| async move {
            respond_with(request, |_request, mut writer| async move {
                writer.headers_mut().insert("x-kind", HeaderValue::from_static("steps"));
                writer.write_header(202);
                for piece in ["a", "b", "c"] {
                    writer.write(piece).await.unwrap();
                    writer.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        let answer = exchange(vec![first(init("GET", "/", 0), b"", true)], LIMIT, handler).await.unwrap();
        let Response::Init(202, headers) = &answer[0] else { panic!("{answer:?}") };
        assert_eq!(headers[0].key, "x-kind");
        let pieces: Vec<(&[u8], bool)> = answer[1..]
            .iter()
            .filter_map(|m| match m {
                Response::Chunk { chunk, flush, .. } if !chunk.is_empty() => Some((chunk.as_ref(), *flush)),
                _ => None,
            })
            .collect();
        assert_eq!(pieces, [(&b"a"[..], true), (&b"b"[..], true), (&b"c"[..], true)]);
        assert!(matches!(answer.last(), Some(Response::Chunk { complete: true, .. })));
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_a_failing_body_ends_the_stream() {
        let answer =
            exchange(vec![first(init("GET", "/", 0), b"", true)], LIMIT, |_| async { panic!("handler bug") }).await;
        assert_eq!(body_of(&answer.unwrap()).0, 500);
        let failing = |_request| async {
            let body = http_body_util::StreamBody::new(tokio_stream::iter([
                Ok(http_body::Frame::data(Bytes::from_static(b"part"))),
                Err::<http_body::Frame<Bytes>, _>(std::io::Error::other("disk gone")),
            ]));
            HttpResponse::new(ResponseBody::new(body))
        };
        let status = exchange(vec![first(init("GET", "/", 0), b"", true)], LIMIT, failing).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal);
    }

    /// 24,576 or more distinct header names used to panic inside `http`'s
    /// header map; any count is an answer now, never a panic.
    #[tokio::test]
    async fn any_number_of_headers_is_an_answer_never_a_panic() {
        let many = |n: usize| Init {
            headers: (0..n).map(|i| Header { key: format!("x-h{i}"), values: vec!["v".into()] }).collect(),
            ..init("GET", "/", 0)
        };
        for n in [MAX_HEADERS + 1, 24_576, 30_000] {
            let refused = serve::<TestWire, _, _, _>(stream(vec![first(many(n), b"", true)]), LIMIT, echo).await.err();
            let refused = refused.unwrap_or_else(|| panic!("{n} headers were taken"));
            assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{n}: {refused:?}");
            assert!(refused.message().contains(&format!("{n} header values; at most {MAX_HEADERS}")), "{refused:?}");
        }
        let counted = |request: HttpRequest| async move {
            HttpResponse::new(ResponseBody::from(Bytes::from(request.headers().len().to_string())))
        };
        let answer = exchange(vec![first(many(MAX_HEADERS), b"", true)], LIMIT, counted).await.unwrap();
        // The handler sees every header, plus the content length and host the
        // bridge adds from the init message.
        assert_eq!(body_of(&answer), (200, (MAX_HEADERS + 2).to_string().into_bytes()));
    }

    /// A Go-style handler that panics after its first write: the answer has
    /// begun, so the stream ends with `Internal`; the panic stays inside.
    #[tokio::test]
    async fn a_writer_panicking_after_its_first_write_ends_the_stream_with_internal() {
        let handler = |request| async move {
            respond_with(request, |_request, mut writer| async move {
                writer.write("partial").await.unwrap();
                writer.flush().await.unwrap();
                tokio::task::yield_now().await;
                panic!("a bug after the first write");
            })
        };
        let mut answer =
            serve::<TestWire, _, _, _>(stream(vec![first(init("GET", "/", 0), b"", true)]), LIMIT, handler)
                .await
                .unwrap();
        let mut got = Vec::new();
        let status = loop {
            match tokio::time::timeout(Duration::from_secs(5), answer.next()).await.expect("bounded") {
                Some(Ok(message)) => got.push(message),
                Some(Err(status)) => break status,
                None => panic!("the stream ended without an error: {got:?}"),
            }
        };
        assert!(matches!(&got[0], Response::Init(200, _)), "{got:?}");
        assert_eq!(status.code(), tonic::Code::Internal);
        assert!(status.message().contains("a bug after the first write"), "{status:?}");

        let before = |request| async move {
            respond_with(request, |_request, _writer| async move { panic!("a bug before any write") })
        };
        let answer = exchange(vec![first(init("GET", "/", 0), b"", true)], LIMIT, before).await.unwrap();
        assert_eq!(body_of(&answer).0, 500);
    }

    /// A request stream that never sends its first message is closed after
    /// a bounded wait (paused clock: no real waiting).
    #[tokio::test(start_paused = true)]
    async fn a_stream_silent_from_the_start_is_closed_after_a_bounded_wait() {
        let silent = futures_util::stream::pending::<Result<Request, Status>>();
        let started = tokio::time::Instant::now();
        let refused = serve::<TestWire, _, _, _>(silent, LIMIT, echo).await.err().expect("refused");
        assert_eq!(refused.code(), tonic::Code::DeadlineExceeded);
        assert_eq!(started.elapsed(), FIRST_MESSAGE_WAIT);
    }

    /// Sets its flag when dropped: proof that the bridge let go of it.
    struct Dropped(Arc<AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_client_going_away_drops_the_handler_and_its_body_reports_the_cancellation() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(Ok(first(init("POST", "/upload", -1), b"start", false))).await.unwrap();
        let dropped = Arc::new(AtomicBool::new(false));
        let (body_tx, body_rx) = oneshot::channel();
        let guard = Dropped(Arc::clone(&dropped));
        let handler = move |request: HttpRequest| async move {
            let _guard = guard;
            let mut body = request.into_body();
            let mut got = Vec::new();
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => got.extend_from_slice(frame.data_ref().map_or(&[][..], |d| d.as_ref())),
                    Err(e) => {
                        let _ = body_tx.send((got, e));
                        return HttpResponse::default();
                    }
                }
            }
            std::future::pending().await
        };
        let mut answer = serve::<TestWire, _, _, _>(ReceiverStream::new(rx), LIMIT, handler).await.unwrap();
        // The handler is driven by polling the answer; it reads "start", then waits.
        let polled = tokio::time::timeout(Duration::from_millis(100), answer.next()).await;
        assert!(polled.is_err(), "no answer while the handler waits: {polled:?}");
        // The stream breaks (the client went away): the body says so.
        tx.send(Err(Status::cancelled("client gone"))).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_millis(100), answer.next()).await;
        let (got, error) = tokio::time::timeout(Duration::from_secs(5), body_rx).await.unwrap().unwrap();
        assert_eq!((got.as_slice(), error), (&b"start"[..], BodyError::Cancelled("client gone".into())));
        // gRPC drops the answer when the call is cancelled: the handler goes with it.
        drop(answer);
        assert!(dropped.load(Ordering::SeqCst), "the handler outlived its call");
    }
}

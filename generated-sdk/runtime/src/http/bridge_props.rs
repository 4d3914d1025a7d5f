//! Property tests of the ServeHTTP request stream machine ([`serve`]) on
//! generated request streams.
//!
//! Properties:
//! - a valid stream (an init with any method, path and headers, then a
//!   body split at random points into chunks of at most 64 KiB, the first
//!   piece inside the init, `body_complete` on the last) reaches an echo
//!   handler as sent (method, URI, every header value in order, the body
//!   byte for byte) and comes back whole in a well-formed answer;
//! - any sequence of init and chunk messages, with random flags and sizes
//!   (oversize chunks, no init, a second init, a chunk after
//!   `body_complete`, no `body_complete`, no message at all), gets what a
//!   model of the protocol predicts: the echoed body when it is valid, else
//!   `InvalidArgument`, before the handler runs when the init is missing,
//!   else as the answer's error, naming the first rule broken; never a
//!   panic, never a hang;
//! - a body over a random limit (declared or streamed) is answered 413,
//!   and one within it reaches the handler whole.
//!
//! Each case runs on a paused clock: an answer that waits on nothing but
//! time (a hang) trips its timeout at once, without real waiting. Cases,
//! seed, and how to run longer: [`crate::json_props::config`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tokio_stream::StreamExt as _;
use tonic::{Code, Status};

use super::bridge_test_wire::{Request, Response, TestWire};
use super::{BodyError, Header, HttpRequest, HttpResponse, Init, MAX_CHUNK, ResponseBody, serve, status};
use crate::json_props::config;

/// Longer than any wait inside the bridge (10 s for the first message, 1 s
/// of grace after the answer): on the paused clock, only a stream that
/// waits on nothing else reaches it.
const HANG: Duration = Duration::from_secs(60);

/// Runs `test` on a fresh current-thread runtime with a paused clock.
fn run<F: Future<Output = Result<(), TestCaseError>>>(test: F) -> Result<(), TestCaseError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
        .block_on(test)
}

/// `len` bytes that differ with `seed` and position (xorshift).
fn pattern(seed: u64, len: usize) -> Bytes {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// A generated init: what the handler must see.
#[derive(Debug, Clone)]
struct Head {
    method: String,
    url: String,
    headers: Vec<(String, Vec<String>)>,
}

impl Head {
    fn init(&self, content_length: i64) -> Init<String> {
        Init {
            context: "request-1".into(),
            method: self.method.clone(),
            url: self.url.clone(),
            proto_major: 1,
            proto_minor: 1,
            headers: self
                .headers
                .iter()
                .map(|(key, values)| Header { key: key.clone(), values: values.clone() })
                .collect(),
            host: "mm.example.com".into(),
            remote_addr: "10.0.0.1:5000".into(),
            request_uri: format!("/plugins/com.example.x{}", self.url),
            content_length,
        }
    }

    /// Each header name (lower case, as `http` keeps it) with every value
    /// sent under it, in order.
    fn expected_headers(&self) -> Vec<(String, Vec<String>)> {
        let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
        for (key, values) in &self.headers {
            let key = key.to_ascii_lowercase();
            match grouped.iter_mut().find(|(k, _)| *k == key) {
                Some((_, all)) => all.extend(values.iter().cloned()),
                None => grouped.push((key, values.clone())),
            }
        }
        grouped.retain(|(_, values)| !values.is_empty());
        grouped
    }
}

fn head() -> impl Strategy<Value = Head> {
    let method = prop_oneof![
        3 => prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]).prop_map(str::to_owned),
        // Any token is a method (extension methods).
        1 => "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}",
    ];
    let url = (
        prop::collection::vec("([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-F]{2}){0,10}", 0..5),
        prop::option::of("[A-Za-z0-9=&._~%-]{0,20}"),
    )
        .prop_map(|(segments, query)| {
            let mut url = format!("/{}", segments.join("/"));
            if let Some(query) = query {
                url = format!("{url}?{query}");
            }
            url
        });
    // `x-` names: never `host` or `content-length`, which the bridge fills in.
    let header = ("[xX]-[A-Za-z0-9-]{1,12}", prop::collection::vec("[ -~]{0,24}", 0..4));
    (method, url, prop::collection::vec(header, 0..6)).prop_map(|(method, url, headers)| Head { method, url, headers })
}

/// A body piece's size: small, up to 64 KiB, and the edges of 64 KiB.
fn piece() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 0..=64usize,
        3 => 0..=MAX_CHUNK,
        1 => (MAX_CHUNK - 2)..=MAX_CHUNK,
        1 => Just(0usize),
    ]
}

/// A valid stream's parts: the init, the body's pieces (the first inside
/// the init), whether the length is declared, and the body's seed.
fn valid() -> impl Strategy<Value = (Head, Vec<usize>, bool, u64)> {
    (head(), prop::collection::vec(piece(), 1..=8), any::<bool>(), any::<u64>())
}

/// The messages of a valid stream, and its body.
fn valid_messages(head: &Head, pieces: &[usize], declared: bool, seed: u64) -> (Vec<Request>, Bytes) {
    let total: usize = pieces.iter().sum();
    let body = pattern(seed, total);
    let length = if declared { total as i64 } else { -1 };
    let mut offset = 0;
    let messages = pieces
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let chunk = body.slice(offset..offset + size);
            offset += size;
            Request { init: (i == 0).then(|| head.init(length)), chunk, complete: i + 1 == pieces.len() }
        })
        .collect();
    (messages, body)
}

/// What the handler saw.
#[derive(Debug, Default)]
struct Seen {
    called: bool,
    method: String,
    uri: String,
    headers: Vec<(String, Vec<String>)>,
}

type Witness = Arc<Mutex<Seen>>;

/// An echo handler that notes what it saw in `witness`.
fn echo(witness: Witness) -> impl FnOnce(HttpRequest) -> std::future::Ready<HttpResponse> {
    move |request| {
        let (parts, body) = request.into_parts();
        let mut seen = witness.lock().expect("witness");
        seen.called = true;
        seen.method = parts.method.to_string();
        seen.uri = parts.uri.to_string();
        for name in parts.headers.keys() {
            let values = parts.headers.get_all(name).iter().map(|v| v.to_str().expect("ascii").to_owned()).collect();
            seen.headers.push((name.as_str().to_owned(), values));
        }
        std::future::ready(HttpResponse::new(ResponseBody::new(body)))
    }
}

/// A handler that reads the whole body before answering it back; a body
/// that fails answers 400 (the bridge must turn that into 413).
fn collect(called: Arc<AtomicBool>) -> impl FnOnce(HttpRequest) -> BoxedAnswer {
    move |request| {
        called.store(true, Ordering::SeqCst);
        Box::pin(async move {
            match request.into_body().collect().await {
                Ok(body) => HttpResponse::new(ResponseBody::from(body.to_bytes())),
                Err(BodyError::TooLarge { .. }) => status(http::StatusCode::BAD_REQUEST),
                Err(_) => status(http::StatusCode::INTERNAL_SERVER_ERROR),
            }
        })
    }
}

type BoxedAnswer = std::pin::Pin<Box<dyn Future<Output = HttpResponse> + Send>>;

/// How an answer went.
#[derive(Debug)]
enum Outcome {
    /// `serve` refused the stream: the handler never ran.
    Refused(Status),
    /// The answer's messages, and the status that ended it, if one did.
    Answered(Vec<Response>, Option<Status>),
}

/// Serves `messages`, reads the whole answer (bounded: a hang fails), and
/// checks that nothing follows an error.
async fn exchange<H, Fut>(messages: Vec<Request>, limit: u64, handler: H) -> Result<Outcome, TestCaseError>
where
    H: FnOnce(HttpRequest) -> Fut,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let stream = tokio_stream::iter(messages.into_iter().map(Ok::<_, Status>));
    let answering = async {
        let mut answer = match serve::<TestWire, _, _, _>(stream, limit, handler).await {
            Ok(answer) => answer,
            Err(status) => return Ok(Outcome::Refused(status)),
        };
        let mut out = Vec::new();
        while let Some(message) = answer.next().await {
            match message {
                Ok(message) => out.push(message),
                Err(status) => {
                    let after = answer.next().await;
                    prop_assert!(after.is_none(), "a message after the error {status:?}: {after:?}");
                    return Ok(Outcome::Answered(out, Some(status)));
                }
            }
        }
        Ok(Outcome::Answered(out, None))
    };
    tokio::time::timeout(HANG, answering).await.map_err(|_| TestCaseError::fail("the answer hung"))?
}

/// The status and body of a well-formed answer: one init first, chunks of
/// at most 64 KiB, `body_complete` on the last only.
fn body_of(answer: &[Response]) -> Result<(u16, Vec<u8>), TestCaseError> {
    let Some((Response::Init(status, _), rest)) = answer.split_first() else {
        return Err(TestCaseError::fail(format!("no init first: {answer:?}")));
    };
    prop_assert!(!rest.is_empty(), "no body message (body_complete) after the init");
    let mut body = Vec::new();
    for (i, message) in rest.iter().enumerate() {
        let Response::Chunk { chunk, complete, .. } = message else {
            return Err(TestCaseError::fail("a second init"));
        };
        prop_assert!(chunk.len() <= MAX_CHUNK, "a chunk of {} bytes", chunk.len());
        prop_assert_eq!(*complete, i + 1 == rest.len(), "body_complete on the last message only");
        body.extend_from_slice(chunk);
    }
    Ok((*status, body))
}

/// One generated message of an arbitrary stream.
#[derive(Debug, Clone)]
struct Message {
    init: bool,
    size: usize,
    complete: bool,
}

/// Sizes for arbitrary streams: those of valid pieces, and oversize ones.
fn any_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => piece(),
        1 => Just(MAX_CHUNK + 1),
        1 => (MAX_CHUNK + 1)..=(2 * MAX_CHUNK),
    ]
}

/// Any stream: mostly starting with an init, sometimes another init later,
/// `body_complete` anywhere or nowhere, any sizes.
fn any_stream() -> impl Strategy<Value = (Head, Vec<Message>, u64)> {
    let first = (prop::bool::weighted(0.85), any_size(), prop::bool::weighted(0.4));
    let rest = prop::collection::vec((prop::bool::weighted(0.1), any_size(), prop::bool::weighted(0.4)), 0..6);
    let messages = (prop::option::weighted(0.95, first), rest).prop_map(|(first, rest)| {
        first.into_iter().chain(rest).map(|(init, size, complete)| Message { init, size, complete }).collect::<Vec<_>>()
    });
    (head(), messages, any::<u64>())
}

/// What the protocol says of a stream.
#[derive(Debug, PartialEq)]
enum Expected {
    /// Valid: this body comes back.
    Echo(Vec<u8>),
    /// Refused before the handler: no init first (or no message at all).
    Refused,
    /// Broken later: the answer ends in `InvalidArgument` whose message
    /// names this.
    Malformed(&'static str),
}

/// The model: the rules of the request stream, checked in the order the
/// bridge reads.
fn model(messages: &[Message], body: &[u8]) -> Expected {
    match messages.first() {
        Some(first) if first.init => {}
        _ => return Expected::Refused,
    }
    let mut complete = false;
    for (i, message) in messages.iter().enumerate() {
        if i > 0 && message.init {
            return Expected::Malformed("a second init message");
        }
        if complete {
            return Expected::Malformed("a message after body_complete");
        }
        if message.size > MAX_CHUNK {
            return Expected::Malformed("bytes, over 65536");
        }
        complete = message.complete;
    }
    if !complete {
        return Expected::Malformed("without body_complete");
    }
    Expected::Echo(body.to_vec())
}

proptest! {
    #![proptest_config(config(256))]

    /// A valid stream reaches the handler as sent and comes back whole.
    #[test]
    fn props_a_valid_stream_is_echoed_whole((head, pieces, declared, seed) in valid()) {
        let (messages, body) = valid_messages(&head, &pieces, declared, seed);
        run(async move {
            let witness = Witness::default();
            let outcome = exchange(messages, u64::MAX, echo(Arc::clone(&witness))).await?;
            let Outcome::Answered(answer, None) = outcome else {
                return Err(TestCaseError::fail(format!("not answered: {outcome:?}")));
            };
            let (code, echoed) = body_of(&answer)?;
            prop_assert_eq!(code, 200);
            prop_assert!(echoed == body, "the echoed body differs: {} bytes sent, {} back", body.len(), echoed.len());
            let seen = witness.lock().expect("witness");
            prop_assert_eq!(&seen.method, &head.method);
            prop_assert_eq!(&seen.uri, &head.url);
            let sent: Vec<_> = seen.headers.iter().filter(|(name, _)| name.starts_with("x-")).cloned().collect();
            prop_assert_eq!(sent, head.expected_headers());
            Ok(())
        })?;
    }

    /// Any stream gets what the model predicts; a broken one always ends in
    /// `InvalidArgument`, never a panic or a hang.
    #[test]
    fn props_any_stream_is_echoed_or_refused_as_invalid((head, shape, seed) in any_stream()) {
        let total = shape.iter().map(|m| m.size).sum();
        let body = pattern(seed, total);
        let expected = model(&shape, &body);
        let mut offset = 0;
        let messages: Vec<Request> = shape
            .iter()
            .map(|m| {
                let chunk = body.slice(offset..offset + m.size);
                offset += m.size;
                Request { init: m.init.then(|| head.init(-1)), chunk, complete: m.complete }
            })
            .collect();
        run(async move {
            let witness = Witness::default();
            let outcome = exchange(messages, u64::MAX, echo(Arc::clone(&witness))).await?;
            match (&expected, outcome) {
                (Expected::Echo(body), Outcome::Answered(answer, None)) => {
                    prop_assert_eq!(body_of(&answer)?, (200, body.clone()));
                }
                (Expected::Refused, Outcome::Refused(status)) => {
                    prop_assert_eq!(status.code(), Code::InvalidArgument, "{:?}", status);
                    prop_assert!(!witness.lock().expect("witness").called, "the handler ran");
                }
                (Expected::Malformed(what), Outcome::Answered(_, Some(status))) => {
                    prop_assert_eq!(status.code(), Code::InvalidArgument, "{:?}", status);
                    prop_assert!(
                        status.message().starts_with("malformed request stream: ") && status.message().contains(what),
                        "expected {:?}, got {:?}", what, status
                    );
                }
                (expected, outcome) => {
                    return Err(TestCaseError::fail(format!("expected {expected:?}, got {outcome:?}")));
                }
            }
            Ok(())
        })?;
    }

    /// A body over the limit is answered 413 (without the handler when its
    /// length is declared); one within the limit reaches the handler whole.
    #[test]
    fn props_a_body_over_a_random_limit_is_answered_413(
        ((head, pieces, declared, seed), limit) in valid().prop_flat_map(|parts| {
            let total = parts.1.iter().sum::<usize>() as u64;
            let limit = prop_oneof![
                Just(total),
                Just(total.saturating_sub(1)),
                Just(total + 1),
                0..=2 * total + 1,
            ];
            (Just(parts), limit)
        })
    ) {
        let (messages, body) = valid_messages(&head, &pieces, declared, seed);
        run(async move {
            let called = Arc::new(AtomicBool::new(false));
            let outcome = exchange(messages, limit, collect(Arc::clone(&called))).await?;
            let Outcome::Answered(answer, None) = outcome else {
                return Err(TestCaseError::fail(format!("not answered: {outcome:?}")));
            };
            let (code, answered) = body_of(&answer)?;
            if body.len() as u64 > limit {
                prop_assert_eq!((code, answered.len()), (413, 0));
                if declared {
                    prop_assert!(!called.load(Ordering::SeqCst), "the handler ran for a body declared too large");
                }
            } else {
                prop_assert_eq!(code, 200);
                prop_assert!(answered == body, "the body differs: {} bytes sent, {} back", body.len(), answered.len());
            }
            Ok(())
        })?;
    }
}

//! ServeHTTP end to end: requests streamed to the example plugin's axum
//! router through the plugin process, over real sockets, as the server
//! sends them (`runtime/src/host_rules.md`, "ServeHTTP stream"): `url` is the URL the server
//! rewrote (no `/plugins/{id}`, no `access_token`), `request_uri` the raw
//! request-target, and the first body piece travels inside `init`.

mod common;

use std::time::{Duration, Instant};

use common::{PluginProcess, plugin_env, within};
use mattermost_plugin::proto;
use mattermost_plugin_testing::plugin_hooks_client::PluginHooksClient;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status};

const HELLO: &str = env!("CARGO_BIN_EXE_hello-plugin");
const CHAOS: &str = env!("CARGO_BIN_EXE_chaos-plugin");
const CHUNK: usize = 64 * 1024;
/// Bounds the big transfers, which take a few seconds in a debug build.
const BIG_LIMIT: Duration = Duration::from_secs(120);

/// The id in `plugin.json`: the server's routes for the plugin are `/plugins/{id}/…`.
const PLUGIN_ID: &str = "com.example.hello-rust";

/// An init as the server makes it for a browser's request of
/// `/plugins/{PLUGIN_ID}{path}` with no `access_token`: `path` is then both
/// the rewritten `url` and the tail of the raw `request_uri`.
fn init(method: &str, path: &str, headers: &[(&str, &[&str])], content_length: i64) -> proto::ServeHttpRequestInit {
    proto::ServeHttpRequestInit {
        plugin_context: Some(proto::PluginContext { request_id: "req-1".into(), ..Default::default() }),
        method: method.into(),
        url: path.into(),
        proto: "HTTP/1.1".into(),
        proto_major: 1,
        proto_minor: 1,
        headers: headers
            .iter()
            .map(|(k, v)| proto::HttpHeader { key: (*k).into(), values: v.iter().map(|s| (*s).into()).collect() })
            .collect(),
        host: "localhost:8065".into(),
        remote_addr: "127.0.0.1:50000".into(),
        request_uri: format!("/plugins/{PLUGIN_ID}{path}"),
        content_length,
    }
}

/// The messages the server sends for `body`: read in 64 KiB pieces, the
/// first inside the init message, `body_complete` on the last.
fn as_the_server_sends(init: proto::ServeHttpRequestInit, body: &[u8]) -> Vec<proto::ServeHttpRequest> {
    let mut pieces = body.chunks(CHUNK);
    let first = pieces.next().unwrap_or_default();
    let rest: Vec<&[u8]> = pieces.collect();
    let mut messages = vec![message(Some(init), first, rest.is_empty())];
    let count = rest.len();
    messages.extend(rest.into_iter().enumerate().map(|(i, piece)| message(None, piece, i + 1 == count)));
    messages
}

fn message(init: Option<proto::ServeHttpRequestInit>, chunk: &[u8], complete: bool) -> proto::ServeHttpRequest {
    proto::ServeHttpRequest { init, body_chunk: chunk.to_vec().into(), body_complete: complete }
}

/// What came back.
#[derive(Debug, Default)]
struct Answer {
    status: i32,
    headers: Vec<proto::HttpHeader>,
    body: Vec<u8>,
    /// Each body message: its size and its flush flag.
    chunks: Vec<(usize, bool)>,
    /// When each body message arrived.
    arrivals: Vec<Instant>,
    complete: bool,
}

impl Answer {
    fn header(&self, name: &str) -> Vec<String> {
        self.headers.iter().filter(|h| h.key.eq_ignore_ascii_case(name)).flat_map(|h| h.values.clone()).collect()
    }
}

/// Reads a response stream to its end; an error status is returned as such.
async fn read(mut stream: tonic::Streaming<proto::ServeHttpResponse>) -> Result<Answer, Status> {
    let mut answer = Answer::default();
    let mut first = true;
    while let Some(message) = stream.message().await? {
        if first {
            let init = message.init.clone().expect("the first response message carries init");
            answer.status = init.status_code;
            answer.headers = init.headers;
            first = false;
        } else {
            assert!(message.init.is_none(), "a second init in the response");
        }
        assert!(message.body_chunk.len() <= CHUNK, "a chunk of {} bytes", message.body_chunk.len());
        if !message.body_chunk.is_empty() || message.body_complete {
            answer.chunks.push((message.body_chunk.len(), message.flush));
            answer.arrivals.push(Instant::now());
        }
        answer.body.extend_from_slice(&message.body_chunk);
        assert!(!answer.complete, "a message after body_complete");
        answer.complete = message.body_complete;
    }
    Ok(answer)
}

/// Sends `messages` as one ServeHTTP stream and reads the answer.
async fn exchange(client: &mut PluginHooksClient<Channel>, messages: Vec<proto::ServeHttpRequest>) -> Result<Answer, Status> {
    let (tx, rx) = mpsc::channel(messages.len().max(1));
    for m in messages {
        tx.send(m).await.unwrap();
    }
    drop(tx);
    let response = client.serve_http(ReceiverStream::new(rx)).await?;
    read(response.into_inner()).await
}

/// Streams `total` bytes of a pattern in 64 KiB chunks while the answer is
/// read, as the server does; returns the answer and the body's SHA-256.
async fn stream_body(client: &mut PluginHooksClient<Channel>, path: &str, total: usize) -> (Answer, Vec<u8>) {
    let (tx, rx) = mpsc::channel(4);
    let init = init("POST", path, &[], -1);
    let sender = tokio::spawn(async move {
        let mut hasher = Sha256::new();
        let mut sent = 0;
        let mut block = vec![0u8; CHUNK];
        let mut init = Some(init);
        while sent < total || init.is_some() {
            let n = CHUNK.min(total - sent);
            for (i, b) in block[..n].iter_mut().enumerate() {
                *b = ((sent + i) % 251) as u8;
            }
            hasher.update(&block[..n]);
            sent += n;
            // The first piece rides in the init message, as the server sends it.
            if tx.send(message(init.take(), &block[..n], sent == total)).await.is_err() {
                break;
            }
        }
        hasher.finalize().to_vec()
    });
    let response = client.serve_http(ReceiverStream::new(rx)).await.expect("stream opened");
    let answer = read(response.into_inner()).await.expect("a complete answer");
    (answer, sender.await.unwrap())
}

async fn plugin(extra: &[(&str, &str)]) -> (PluginProcess, PluginHooksClient<Channel>) {
    let plugin = PluginProcess::start(HELLO, plugin_env(None, extra)).await;
    let client = plugin.hooks().await;
    (plugin, client)
}

#[tokio::test]
async fn echo_of_an_empty_body() {
    let (_plugin, mut client) = plugin(&[]).await;
    let answer = within(exchange(&mut client, vec![message(Some(init("POST", "/echo", &[], 0)), &[], true)])).await;
    let answer = answer.unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.body.is_empty() && answer.complete);
}

#[tokio::test]
async fn echo_of_exactly_64_kib_and_of_64_kib_plus_one() {
    let (_plugin, mut client) = plugin(&[]).await;
    for size in [CHUNK, CHUNK + 1] {
        let body: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let init = init("POST", "/echo", &[("Content-Type", &["application/x-test"])], size as i64);
        let answer = within(exchange(&mut client, as_the_server_sends(init, &body))).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, body, "size {size}");
        assert!(answer.complete);
        assert_eq!(answer.header("content-type"), ["application/x-test"]);
    }
}

#[tokio::test]
async fn a_hundred_mib_streams_both_ways_with_the_content_intact() {
    let (_plugin, mut client) = plugin(&[]).await;
    const TOTAL: usize = 100 << 20;
    // Upload: the plugin hashes as it reads.
    let (answer, sent_hash) = tokio::time::timeout(BIG_LIMIT, stream_body(&mut client, "/upload", TOTAL)).await.unwrap();
    assert_eq!(answer.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(json["bytes"], TOTAL as u64);
    assert_eq!(json["sha256"].as_str().unwrap(), hex(&sent_hash));
    // Echo: out and back at once.
    let (answer, sent_hash) = tokio::time::timeout(BIG_LIMIT, stream_body(&mut client, "/echo", TOTAL)).await.unwrap();
    assert_eq!(answer.body.len(), TOTAL);
    assert_eq!(Sha256::digest(&answer.body).to_vec(), sent_hash);
    // Download: made as it is sent.
    let path = format!("/download?bytes={TOTAL}");
    let answer = tokio::time::timeout(
        BIG_LIMIT,
        exchange(&mut client, vec![message(Some(init("GET", &path, &[], 0)), &[], true)]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(answer.body.len(), TOTAL);
    assert!(answer.body.iter().all(|b| *b == b'm'));
    assert!(answer.chunks.iter().all(|(n, _)| *n <= CHUNK));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn multi_value_headers_and_the_plugin_context_go_both_ways() {
    let (_plugin, mut client) = plugin(&[]).await;
    let headers: &[(&str, &[&str])] = &[("X-Tag", &["one", "two"]), ("Mattermost-User-Id", &["user-7"])];
    let answer = within(exchange(&mut client, vec![message(Some(init("GET", "/hello", headers, 0)), &[], true)])).await;
    let answer = answer.unwrap();
    assert_eq!(answer.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(json["hello"], "user-7");
    assert_eq!(json["request_id"], "req-1");
    assert_eq!(json["tags"], serde_json::json!(["one", "two"]));
    assert_eq!(answer.header("x-tag"), ["one", "two"]);
    assert_eq!(answer.headers.iter().filter(|h| h.key.eq_ignore_ascii_case("x-tag")).count(), 1, "one entry per name");
}

#[tokio::test]
async fn server_sent_events_are_flushed_one_by_one_in_order() {
    let (_plugin, mut client) = plugin(&[]).await;
    let answer = within(exchange(&mut client, vec![message(Some(init("GET", "/events", &[], 0)), &[], true)])).await;
    let answer = answer.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), ["text/event-stream"]);
    let text = String::from_utf8(answer.body.clone()).unwrap();
    let ticks: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(ticks, ["1", "2", "3"]);
    // Each event went out on its own, flushed, before the next was made.
    let flushed: Vec<&(usize, bool)> = answer.chunks.iter().filter(|(n, flush)| *n > 0 && *flush).collect();
    assert!(flushed.len() >= 2, "{:?}", answer.chunks);
    let first_to_last = *answer.arrivals.last().unwrap() - answer.arrivals[0];
    assert!(first_to_last >= Duration::from_millis(150), "events arrived together: {first_to_last:?}");
}

#[tokio::test]
async fn a_client_going_away_mid_body_cancels_the_handler() {
    let (plugin, mut client) = plugin(&[]).await;
    let (tx, rx) = mpsc::channel(4);
    tx.send(message(Some(init("POST", "/upload", &[], -1)), &[7; 1000], false)).await.unwrap();
    let response = within(client.serve_http(ReceiverStream::new(rx))).await.unwrap();
    tx.send(message(None, &[7; 1000], false)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The client gives up: its stream and the call go away.
    drop(response);
    drop(tx);
    // The handler saw the cancellation.
    plugin.logged(|l| l.contains("upload cancelled after 2000 bytes") || l.contains("upload failed after 2000 bytes")).await;
    // And the plugin serves on.
    let answer = within(exchange(&mut client, vec![message(Some(init("POST", "/echo", &[], 2)), b"ok", true)])).await;
    assert_eq!(answer.unwrap().body, b"ok");
}

#[tokio::test]
async fn fifty_concurrent_streams() {
    let (_plugin, client) = plugin(&[]).await;
    let calls: Vec<_> = (0..50)
        .map(|n| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let body: Vec<u8> = (0..(200_000 + n)).map(|i| ((i * 7 + n) % 256) as u8).collect();
                let messages = as_the_server_sends(init("POST", "/echo", &[], body.len() as i64), &body);
                let answer = exchange(&mut client, messages).await.expect("answer");
                assert_eq!(answer.body, body, "stream {n}");
            })
        })
        .collect();
    for call in calls {
        tokio::time::timeout(Duration::from_secs(60), call).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn malformed_request_streams_get_invalid_argument_and_the_plugin_serves_on() {
    let (_plugin, mut client) = plugin(&[]).await;
    let good = || message(Some(init("POST", "/echo", &[], 2)), b"hi", true);
    let cases: Vec<(&str, Vec<proto::ServeHttpRequest>)> = vec![
        ("no init", vec![message(None, b"body", true)]),
        ("a second init", vec![message(Some(init("POST", "/echo", &[], -1)), b"a", false), good()]),
        ("a chunk after body_complete", vec![message(Some(init("POST", "/echo", &[], -1)), b"a", true), message(None, b"b", false)]),
        ("no body_complete", vec![message(Some(init("POST", "/echo", &[], -1)), b"a", false), message(None, b"b", false)]),
        ("a header value with a newline", vec![message(Some(init("GET", "/hello", &[("X-Bad", &["a\nb"])], 0)), &[], true)]),
        ("a header name with a space", vec![message(Some(init("GET", "/hello", &[("X Bad", &["v"])], 0)), &[], true)]),
        ("no stream at all", vec![]),
    ];
    for (what, messages) in cases {
        let outcome = within(exchange(&mut client, messages)).await;
        match outcome {
            Err(status) => assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}"),
            Ok(answer) => panic!("{what}: answered {answer:?}"),
        }
        let answer = within(exchange(&mut client, vec![good()])).await.unwrap();
        assert_eq!(answer.body, b"hi", "serving after {what}");
    }
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let (_plugin, mut client) = plugin(&[("MATTERMOST_PLUGIN_HTTP_BODY_LIMIT", "1048576")]).await;
    // Declared too large: refused before the handler runs.
    let declared = vec![message(Some(init("POST", "/upload", &[], 2 << 20)), &[1; 100], false), message(None, &[2; 100], true)];
    let answer = within(exchange(&mut client, declared)).await;
    assert_eq!(answer.map(|a| a.status).unwrap_or_else(|s| panic!("{s:?}")), 413);
    // Streamed past the limit with no declared length.
    let (answer, _) = within(stream_body(&mut client, "/upload", 2 << 20)).await;
    assert_eq!(answer.status, 413);
    // Exactly the limit is fine.
    let (answer, _) = within(stream_body(&mut client, "/upload", 1 << 20)).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn the_go_style_writer_sets_status_headers_and_flushes_each_piece() {
    let plugin = PluginProcess::start(CHAOS, plugin_env(None, &[])).await;
    let mut client = plugin.hooks().await;
    let answer = within(exchange(&mut client, vec![message(Some(init("GET", "/writer", &[], 0)), &[], true)])).await;
    let answer = answer.unwrap();
    assert_eq!(answer.status, 201);
    assert_eq!(answer.header("x-step"), ["one", "two"]);
    assert_eq!(answer.body, b"abc");
    let pieces: Vec<&(usize, bool)> = answer.chunks.iter().filter(|(n, _)| *n > 0).collect();
    assert_eq!(pieces.len(), 3, "each write went out on its own: {:?}", answer.chunks);
    assert!(pieces.iter().all(|(_, flush)| *flush), "each flushed: {:?}", answer.chunks);
    assert!(answer.complete);
}

#[tokio::test]
async fn a_bad_status_becomes_500_and_a_panicking_handler_answers_500() {
    let plugin = PluginProcess::start(CHAOS, plugin_env(None, &[])).await;
    let mut client = plugin.hooks().await;
    for path in ["/bad-status", "/panic"] {
        let answer = within(exchange(&mut client, vec![message(Some(init("GET", path, &[], 0)), &[], true)])).await;
        assert_eq!(answer.unwrap().status, 500, "{path}");
    }
    plugin.logged(|l| l.contains("invalid HTTP status 1000")).await;
    plugin.logged(|l| l.contains("HTTP handler asked to panic")).await;
    // Still serving.
    let answer = within(exchange(&mut client, vec![message(Some(init("GET", "/writer", &[], 0)), &[], true)])).await;
    assert_eq!(answer.unwrap().status, 201);
}

#[tokio::test]
async fn the_plugin_routes_on_the_url_the_server_rewrote_not_on_the_raw_target() {
    let (_plugin, mut client) = plugin(&[]).await;
    // The browser asked for /plugins/{id}/hello?b=2&access_token=secret&a=1;
    // the server took off the prefix and the token and re-encoded the query.
    let request = proto::ServeHttpRequestInit {
        url: "/hello?a=1&b=2".into(),
        request_uri: format!("/plugins/{PLUGIN_ID}/hello?b=2&access_token=secret&a=1"),
        ..init("GET", "/hello", &[], 0)
    };
    let answer = within(exchange(&mut client, vec![message(Some(request), &[], true)])).await.unwrap();
    assert_eq!(answer.status, 200, "{:?}", String::from_utf8_lossy(&answer.body));
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(json["path"], "/hello");
    assert_eq!(json["query"], "a=1&b=2");
}

#[tokio::test]
async fn a_body_that_fits_in_the_init_message_is_the_whole_body() {
    let (_plugin, mut client) = plugin(&[]).await;
    let answer = within(exchange(&mut client, as_the_server_sends(init("POST", "/echo", &[], 5), b"hello"))).await;
    let answer = answer.unwrap();
    assert_eq!((answer.status, answer.body.as_slice()), (200, &b"hello"[..]));
}

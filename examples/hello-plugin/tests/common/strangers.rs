//! Strangers on the plugin's port: local processes that are not the host.
//! Shared by the limits tests and the `strangers` bench, so that the bench's
//! figures come from the attack the tests check.

#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http;
use bytes::{BufMut as _, Bytes, BytesMut};
use mattermost_plugin::proto;
use prost::Message as _;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

const SERVE_HTTP: &str = "/mattermost.pluginapi.v1.PluginHooks/ServeHTTP";

/// gRPC's `RESOURCE_EXHAUSTED`.
const RESOURCE_EXHAUSTED: &str = "8";

/// One ServeHTTP init for `POST /echo` carrying one header of `size`
/// bytes, framed as gRPC sends it (5-byte prefix).
pub fn large_init(size: usize) -> Bytes {
    let init = proto::ServeHttpRequestInit {
        method: "POST".into(),
        url: "/echo".into(),
        request_uri: "/plugins/com.example.hello-rust/echo".into(),
        proto: "HTTP/1.1".into(),
        proto_major: 1,
        proto_minor: 1,
        content_length: -1,
        headers: vec![proto::HttpHeader { key: "x-large".into(), values: vec!["a".repeat(size)] }],
        ..Default::default()
    };
    let message = proto::ServeHttpRequest { init: Some(init), ..Default::default() }.encode_to_vec();
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.put_u8(0);
    framed.put_u32(u32::try_from(message.len()).expect("a message under 4 GiB"));
    framed.put_slice(&message);
    framed.freeze()
}

/// What became of the strangers' large messages.
#[derive(Debug, Default)]
pub struct LargeMessages {
    /// Streams answered `RESOURCE_EXHAUSTED` at once.
    pub refused: usize,
    /// Streams the plugin took (answered otherwise, or still reading).
    pub admitted: usize,
    /// Anything else: connection errors, resets.
    pub other: Vec<String>,
    /// The first refusal's message.
    pub refusal: Option<String>,
    /// How long sending and sorting every stream took.
    pub took: Duration,
    /// The streams, still open until this is dropped.
    held: Vec<h2::SendStream<Bytes>>,
    clients: Vec<h2::client::SendRequest<Bytes>>,
}

/// Opens `connections` HTTP/2 connections to `address` and sends `message`
/// (one gRPC-framed ServeHTTP init) on `streams` streams spread over them,
/// all at once, each left open. A stream is sorted as refused when its
/// answer is `RESOURCE_EXHAUSTED` within `wait`, as admitted when it is any
/// other answer or none within `wait`.
pub async fn send_large_messages(
    address: SocketAddr,
    connections: usize,
    streams: usize,
    message: Bytes,
    wait: Duration,
) -> LargeMessages {
    let started = Instant::now();
    let mut out = LargeMessages::default();
    let mut answers = tokio::task::JoinSet::new();
    for c in 0..connections {
        let tcp = match TcpStream::connect(address).await {
            Ok(tcp) => tcp,
            Err(e) => {
                out.other.push(format!("connect: {e}"));
                continue;
            }
        };
        let (client, connection) = match h2::client::handshake(tcp).await {
            Ok(pair) => pair,
            Err(e) => {
                out.other.push(format!("HTTP/2 handshake: {e}"));
                continue;
            }
        };
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let on_this = streams / connections + usize::from(c < streams % connections);
        let mut client = client;
        for _ in 0..on_this {
            let request = http::Request::post(format!("http://{address}{SERVE_HTTP}"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(())
                .expect("a request");
            let sent = async {
                client = client.clone().ready().await?;
                let (answer, mut stream) = client.send_request(request, false)?;
                stream.send_data(message.clone(), false)?;
                Ok::<_, h2::Error>((answer, stream))
            };
            match sent.await {
                Ok((answer, stream)) => {
                    out.held.push(stream);
                    answers.spawn(async move { tokio::time::timeout(wait, answer).await });
                }
                Err(e) => out.other.push(format!("send: {e}")),
            }
        }
        out.clients.push(client);
    }
    while let Some(answer) = answers.join_next().await {
        match answer.expect("an answer task") {
            Err(_) => out.admitted += 1,
            Ok(Ok(answer)) => {
                let status = answer.headers().get("grpc-status").and_then(|s| s.to_str().ok());
                if status == Some(RESOURCE_EXHAUSTED) {
                    out.refused += 1;
                    if out.refusal.is_none() {
                        out.refusal = answer
                            .headers()
                            .get("grpc-message")
                            .and_then(|m| m.to_str().ok())
                            .map(percent_decode);
                    }
                } else {
                    out.admitted += 1;
                }
            }
            Ok(Err(e)) => out.other.push(format!("answer: {e}")),
        }
    }
    out.took = started.elapsed();
    out
}

/// grpc-message is percent-encoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens `count` connections to `address`, each sending `send` if given
/// (a connection the plugin already closed may refuse the write), and
/// keeps them. Each connect is bounded by 10 s.
pub async fn connect_many(address: SocketAddr, count: usize, send: Option<&[u8]>) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let connect = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(address));
        let mut stream = connect.await.expect("connected within 10 s").expect("connect");
        if let Some(bytes) = send {
            let _ = stream.write_all(bytes).await;
        }
        out.push(stream);
    }
    out
}

//! ServeHTTP throughput and memory, side by side in one run:
//!
//! - echo throughput of a 256 MiB body from a Rust tonic client (on one
//!   thread, leaving the other core to the server): the example
//!   plugin's axum `POST /echo` through the SDK's HTTP bridge (the plugin
//!   installed from its bundle and started as the real host starts it), against
//!   `bare-tonic`, a bare tonic stream handler that copies each request
//!   chunk into a response message; interleaved rounds, medians;
//! - the plugin's peak RSS (`VmHWM`) for a 1 GiB upload (`POST /upload`,
//!   hashed as it streams) and a 1 GiB download (`GET /download`), each in a
//!   fresh process.
//!
//! The client's HTTP/2 receive windows are 2 MiB per stream and 8 MiB per
//! connection, and its largest frame 256 KiB (the plugin runtime's own
//! settings), the same for both servers.
//!
//! `cargo bench -p hello-plugin --bench http`; `HTTP_BENCH_MIB` sets the
//! echo size (256), `HTTP_BENCH_ROUNDS` the rounds (7), `HTTP_BENCH_BIG_MIB`
//! the upload and download size (1024).

#[path = "common/alive.rs"]
mod alive;
#[path = "common/installed.rs"]
mod installed;
#[path = "../tests/common/process.rs"]
mod process;

use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mattermost_plugin::proto;
use mattermost_plugin_testing::plugin_hooks_client::PluginHooksClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use installed::Installed;

const BARE: &str = env!("CARGO_BIN_EXE_bare-tonic");
const CHUNK: usize = 64 * 1024;
/// Every transfer stops here, finished or not.
const LIMIT: Duration = Duration::from_secs(120);

struct Server {
    child: Child,
    address: String,
}

/// Starts the plugin from `installed` (its bundle), or the bare server.
async fn start(plugin: bool, installed: &Installed) -> Server {
    let mut command = if plugin { installed.command() } else { Command::new(BARE) };
    if plugin {
        command
            .env("MATTERMOST_PLUGIN", "Securely message teams, anywhere.")
            .env("PLUGIN_MIN_PORT", "0")
            .env("PLUGIN_MAX_PORT", "0")
            .env("MATTERMOST_PLUGIN_LOG_LEVEL", "error")
            .env("MATTERMOST_PLUGIN_HTTP_BODY_LIMIT", (4u64 << 30).to_string());
    }
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await.unwrap().unwrap().unwrap();
    // Keep reading stdout, as go-plugin's host does after the handshake: a
    // plugin whose stdout pipe nobody reads takes its host for gone and exits.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let address = if plugin { line.split('|').nth(3).unwrap().to_owned() } else { line };
    Server { child, address }
}

impl Server {
    async fn client(&self) -> PluginHooksClient<Channel> {
        // The client gets the same HTTP/2 windows the plugin runtime uses,
        // for both servers alike.
        let channel = Endpoint::from_shared(format!("http://{}", self.address))
            .unwrap()
            .initial_stream_window_size(2 << 20)
            .initial_connection_window_size(8 << 20)
            .max_frame_size(256 << 10)
            .connect()
            .await
            .unwrap();
        PluginHooksClient::new(channel).max_decoding_message_size(64 << 20).max_encoding_message_size(64 << 20)
    }

    fn peak_rss_mib(&self) -> f64 {
        process::peak_rss_kib(self.child.id().unwrap()) as f64 / 1024.0
    }
}

/// An init as the server sends it for `/plugins/com.example.hello-rust{path}`:
/// `url` rewritten, `request_uri` raw (`runtime/src/host_rules.md`, "ServeHTTP stream").
fn init(method: &str, path: &str) -> proto::ServeHttpRequestInit {
    proto::ServeHttpRequestInit {
        method: method.into(),
        url: path.into(),
        request_uri: format!("/plugins/com.example.hello-rust{path}"),
        proto: "HTTP/1.1".into(),
        proto_major: 1,
        proto_minor: 1,
        content_length: -1,
        ..Default::default()
    }
}

/// Sends `total` bytes to `path` while reading the answer; returns the
/// bytes answered and the wall time.
async fn transfer(client: &mut PluginHooksClient<Channel>, method: &str, path: &str, total: usize) -> (usize, Duration) {
    let block = Bytes::from(vec![b'x'; CHUNK]);
    let (tx, rx) = mpsc::channel(8);
    let started = Instant::now();
    tx.send(proto::ServeHttpRequest { init: Some(init(method, path)), body_complete: total == 0, ..Default::default() })
        .await
        .unwrap();
    tokio::spawn(async move {
        let mut sent = 0;
        while sent < total {
            let n = CHUNK.min(total - sent);
            sent += n;
            let message = proto::ServeHttpRequest { body_chunk: block.slice(..n), body_complete: sent == total, ..Default::default() };
            if tx.send(message).await.is_err() {
                return;
            }
        }
    });
    let mut stream = client.serve_http(ReceiverStream::new(rx)).await.unwrap().into_inner();
    let mut received = 0;
    while let Some(message) = tokio::time::timeout(LIMIT, stream.message()).await.expect("transfer within the limit").unwrap() {
        received += message.body_chunk.len();
        if message.body_complete {
            break;
        }
    }
    (received, started.elapsed())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mib = env_usize("HTTP_BENCH_MIB", 256);
    let rounds = env_usize("HTTP_BENCH_ROUNDS", 7);
    let big = env_usize("HTTP_BENCH_BIG_MIB", 1024);
    println!("http bench: echo of {mib} MiB x {rounds} rounds, interleaved; client: tonic, 64 KiB chunks");

    let installed = Installed::new();
    let mut plugin = start(true, &installed).await;
    let mut bare = start(false, &installed).await;
    let mut clients = [plugin.client().await, bare.client().await];
    for client in &mut clients {
        transfer(client, "POST", "/echo", 4 << 20).await; // warm-up
    }
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (i, client) in clients.iter_mut().enumerate() {
            let (received, took) = transfer(client, "POST", "/echo", mib << 20).await;
            assert_eq!(received, mib << 20, "echo returned every byte");
            rates[i].push(mib as f64 / took.as_secs_f64());
        }
    }
    let (p, b) = (median(rates[0].clone()), median(rates[1].clone()));
    println!("\necho throughput, MiB/s (median of {rounds})     min   median      max");
    for (name, r) in [("plugin from its bundle (axum, SDK bridge)", &rates[0]), ("bare tonic stream handler", &rates[1])] {
        let mut r = r.clone();
        r.sort_by(f64::total_cmp);
        println!("{name:<40} {:>8.0} {:>8.0} {:>8.0}", r[0], median(r.clone()), r[r.len() - 1]);
    }
    println!("plugin/bare: {:.2}x (goal >= 0.85); plugin: {p:.0} MiB/s (goal >= 900)", p / b);
    println!("goal verdict: {}", if p / b >= 0.85 && p >= 900.0 { "MET" } else { "NOT MET" });
    alive::still_running("the plugin", &mut plugin.child).await;
    alive::still_running("bare tonic", &mut bare.child).await;
    drop(plugin);
    drop(bare);

    println!("\npeak RSS of the plugin process (VmHWM), fresh process each");
    for (label, method, path, send) in [
        (format!("upload {big} MiB (POST /upload, hashed)"), "POST", "/upload".to_owned(), big << 20),
        (format!("download {big} MiB (GET /download)"), "GET", format!("/download?bytes={}", big << 20), 0),
    ] {
        let server = start(true, &installed).await;
        let mut client = server.client().await;
        let before = server.peak_rss_mib();
        let (received, took) = transfer(&mut client, method, path.as_str(), send).await;
        let moved = if send > 0 { send } else { received };
        println!(
            "{label:<44} peak {:>6.1} MiB (at start {before:.1} MiB), {:.0} MiB/s (goal: peak <= 32 MiB)",
            server.peak_rss_mib(),
            (moved >> 20) as f64 / took.as_secs_f64()
        );
    }
}

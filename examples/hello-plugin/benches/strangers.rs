//! The plugin against strangers on its port, measured as issue 20 measured
//! the attacks, each on a fresh plugin process installed from its bundle
//! and started as the real host starts it (the host's connection first):
//!
//! - **held idle sockets**: `STRANGERS_BENCH_IDLE` (500) connections that
//!   send nothing are held open; for `STRANGERS_BENCH_SECS` (20) seconds,
//!   fresh connections, one after the other, each make one hook call
//!   (bounded by 3 s), as a host that reconnects would. Prints how many
//!   failed.
//! - **large messages**: `STRANGERS_BENCH_STREAMS` (32) ServeHTTP inits of
//!   `STRANGERS_BENCH_MIB` (63) MiB each, at once, from 4 stranger
//!   connections, left open for 3 s. Prints how many were refused and the
//!   plugin's peak RSS (`VmHWM`).
//! - **the host's upload**: then, strangers still there, one
//!   `FileWillBeUploaded` of `STRANGERS_BENCH_UPLOAD_MIB` (100) MiB from the
//!   host's connection. Prints whether it was answered, how long it took,
//!   and the peak RSS.
//!
//! `cargo bench -p hello-plugin --bench strangers`.

#[path = "common/alive.rs"]
mod alive;
#[path = "common/installed.rs"]
mod installed;
#[path = "../tests/common/process.rs"]
mod process;
#[path = "../tests/common/strangers.rs"]
mod strangers;

use std::process::Stdio;
use std::time::{Duration, Instant};

use mattermost_plugin::proto;
use mattermost_plugin_testing::plugin_hooks_client::PluginHooksClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tonic::transport::{Channel, Endpoint};

use installed::Installed;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Plugin {
    child: Child,
    address: std::net::SocketAddr,
}

impl Plugin {
    async fn start(installed: &Installed) -> Self {
        let mut child = installed
            .command()
            .env("MATTERMOST_PLUGIN", "Securely message teams, anywhere.")
            .env("PLUGIN_MIN_PORT", "0")
            .env("PLUGIN_MAX_PORT", "0")
            .env("MATTERMOST_PLUGIN_LOG_LEVEL", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the plugin");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await.unwrap().unwrap().unwrap();
        // Keep reading stdout, as go-plugin's host does.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let address = line.split('|').nth(3).unwrap().parse().unwrap();
        Self { child, address }
    }

    /// A connection of the host's, with no message size limit of its own.
    async fn connect(&self) -> Result<PluginHooksClient<Channel>, tonic::transport::Error> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address))
            .unwrap()
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .await?;
        Ok(PluginHooksClient::new(channel).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX))
    }

    fn peak_rss_mib(&self) -> f64 {
        process::peak_rss_kib(self.child.id().unwrap()) as f64 / 1024.0
    }
}

#[tokio::main]
async fn main() {
    let installed = Installed::new();
    idle_sockets(&installed).await;
    large_messages(&installed).await;
}

async fn idle_sockets(installed: &Installed) {
    let (idle, secs) = (knob("STRANGERS_BENCH_IDLE", 500), knob("STRANGERS_BENCH_SECS", 20));
    let mut plugin = Plugin::start(installed).await;
    let mut host = plugin.connect().await.expect("the host connects");
    host.implemented(proto::ImplementedRequest::default()).await.expect("the host's first call");
    let held = strangers::connect_many(plugin.address, idle, None).await;
    let (mut ok, mut failed, mut first_failure) = (0, 0, None);
    let deadline = Instant::now() + Duration::from_secs(secs as u64);
    while Instant::now() < deadline {
        let attempt = async {
            let mut fresh = plugin.connect().await.map_err(|e| format!("connect: {e:?}"))?;
            fresh.implemented(proto::ImplementedRequest::default()).await.map_err(|s| format!("call: {s:?}"))
        };
        match tokio::time::timeout(Duration::from_secs(3), attempt).await {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                failed += 1;
                first_failure.get_or_insert(e);
            }
            Err(_) => {
                failed += 1;
                first_failure.get_or_insert_with(|| "no answer within 3 s".to_owned());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "idle sockets: {} of {idle} held; fresh connections over {secs} s: {} tried, {failed} failed (first: {})",
        held.len(),
        ok + failed,
        first_failure.as_deref().unwrap_or("none")
    );
    let host_ok = host.implemented(proto::ImplementedRequest::default()).await.is_ok();
    println!("idle sockets: the host's own connection still answered: {host_ok}");
    drop(held);
    alive::still_running("the plugin (idle sockets)", &mut plugin.child).await;
}

async fn large_messages(installed: &Installed) {
    let streams = knob("STRANGERS_BENCH_STREAMS", 32);
    let mib = knob("STRANGERS_BENCH_MIB", 63);
    let upload_mib = knob("STRANGERS_BENCH_UPLOAD_MIB", 100);
    let mut plugin = Plugin::start(installed).await;
    let mut host = plugin.connect().await.expect("the host connects");
    host.implemented(proto::ImplementedRequest::default()).await.expect("the host's first call");
    let idle_rss = plugin.peak_rss_mib();
    let message = strangers::large_init(mib << 20);
    let attack = strangers::send_large_messages(plugin.address, 4, streams, message, Duration::from_secs(3)).await;
    println!(
        "large messages: {streams} x {mib} MiB from strangers: {} refused, {} admitted, {} other, in {:.2} s; \
         plugin peak RSS {:.1} MiB (idle {:.1} MiB)",
        attack.refused,
        attack.admitted,
        attack.other.len(),
        attack.took.as_secs_f64(),
        plugin.peak_rss_mib(),
        idle_rss,
    );
    let content = vec![b'x'; upload_mib << 20];
    let request = proto::FileWillBeUploadedRequest {
        file_info: Some(proto::FileInfo { name: "big.bin".into(), ..Default::default() }),
        file_content: content,
        ..Default::default()
    };
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(60), host.file_will_be_uploaded(request)).await;
    let outcome = match answer {
        Ok(Ok(_)) => "answered".to_owned(),
        Ok(Err(status)) => format!("failed: {:?} {}", status.code(), status.message()),
        Err(_) => "no answer within 60 s".to_owned(),
    };
    println!(
        "the host's {upload_mib} MiB FileWillBeUploaded, strangers still there: {outcome} in {:.2} s; \
         plugin peak RSS {:.1} MiB",
        started.elapsed().as_secs_f64(),
        plugin.peak_rss_mib()
    );
    drop(attack);
    alive::still_running("the plugin (large messages)", &mut plugin.child).await;
}

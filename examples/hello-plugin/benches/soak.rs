//! Soak: the example plugin under sustained mixed load for minutes, its
//! memory sampled as it goes (issue 12: a plugin runs for weeks).
//!
//! The plugin (release build) runs as the server starts it, with a fake
//! `PluginAPI`; its host holds one connection, as go-plugin does, and on it:
//!
//! - 8 hook callers, each calling `MessageWillBePosted` in a loop;
//! - 50 echo streams, each sending `POST /echo` (ServeHTTP) in a loop: a
//!   64 KiB body in 4 chunks of 16 KiB, the first inside the init, as the
//!   server sends them; the echo must come back byte for byte.
//!
//! Meanwhile 1,000 strangers keep trying to hold an idle connection: each
//! connects, and either is closed at once (the plugin already has
//! `MAX_CONNECTIONS`, 64, open: refused by design) or is held until the
//! plugin closes it after its 10 s handshake timeout; each tries again 10 s
//! later. The plugin's RSS and open descriptors are sampled every 10 s.
//!
//! Printed: calls, echoes and errors (any error is a failure: printed
//! loudly, exit code 1), latencies, what became of the idle connections,
//! the samples, and whether RSS is flat after warm-up: the last sample
//! within 10% of the one at 1 minute (half-way for runs under 2 minutes).
//!
//! `cargo bench -p hello-plugin --bench soak`; `SOAK_SECS` sets the
//! duration (default 600; 30 is enough for a smoke run).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/process.rs"]
mod process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{FakeApi, PluginProcess, plugin_env, post};
use mattermost_plugin::proto;
use mattermost_plugin_testing::plugin_hooks_client::PluginHooksClient;
use process::{http_init, open_fds, rss_kib};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tonic::transport::Channel;

const HELLO: &str = env!("CARGO_BIN_EXE_hello-plugin");
const CALLERS: usize = 8;
const ECHO_STREAMS: usize = 50;
const IDLE: usize = 1_000;
const PIECE: usize = 16 * 1024;
const PIECES: usize = 4;
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// A stranger is "closed at once" if the plugin closes it within this.
const AT_ONCE: Duration = Duration::from_secs(1);
/// Each call or echo is bounded by this; past it, it counts as an error.
const CALL_LIMIT: Duration = Duration::from_secs(10);

/// Latencies in 100 µs buckets up to 2 s (the last bucket takes the rest).
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max: Duration,
}

impl Histogram {
    const BUCKETS: usize = 20_000;

    fn new() -> Self {
        Self { buckets: vec![0; Self::BUCKETS], count: 0, max: Duration::ZERO }
    }

    fn record(&mut self, latency: Duration) {
        let bucket = (latency.as_micros() / 100).min(Self::BUCKETS as u128 - 1) as usize;
        self.buckets[bucket] += 1;
        self.count += 1;
        self.max = self.max.max(latency);
    }

    fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    /// The `q` quantile, in ms (the bucket's upper edge).
    fn quantile_ms(&self, q: f64) -> f64 {
        let target = ((self.count as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target.max(1) {
                return (i + 1) as f64 * 0.1;
            }
        }
        f64::NAN
    }
}

/// Counters shared by every load task.
#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    call_errors: AtomicU64,
    echoes: AtomicU64,
    echo_bytes: AtomicU64,
    echo_errors: AtomicU64,
    idle_attempts: AtomicU64,
    idle_refused: AtomicU64,
    idle_held: AtomicU64,
    idle_timed_out: AtomicU64,
    idle_connect_failed: AtomicU64,
    /// The first few errors, for the report.
    errors: std::sync::Mutex<Vec<String>>,
}

impl Counters {
    fn error(&self, what: String) {
        let mut errors = self.errors.lock().unwrap();
        if errors.len() < 20 {
            errors.push(what);
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list; nothing to list.
    }
    let secs = env_u64("SOAK_SECS", 600).max(10);
    let duration = Duration::from_secs(secs);
    println!(
        "soak: {secs} s; {CALLERS} MessageWillBePosted callers and {ECHO_STREAMS} echo streams \
         ({PIECES} x {} KiB) on the host's one connection; {IDLE} strangers trying to hold idle connections",
        PIECE / 1024
    );

    let api = FakeApi::default();
    let api_address = api.serve().await;
    let plugin =
        PluginProcess::start(HELLO, plugin_env(Some(api_address), &[("MATTERMOST_PLUGIN_LOG_LEVEL", "warn")])).await;
    let pid = plugin.child.id().expect("the plugin is running");
    let mut host = plugin.hooks().await;
    host.on_activate(proto::OnActivateRequest::default()).await.expect("activate");
    let (fds_start, rss_start) = (open_fds(pid), rss_kib(pid));
    println!("plugin pid {pid}: {fds_start} fds, RSS {:.1} MiB after activation", mib(rss_start));

    let started = Instant::now();
    let deadline = started + duration;
    let counters = Arc::new(Counters::default());
    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        callers.push(tokio::spawn(call_hooks(host.clone(), Arc::clone(&counters), deadline)));
    }
    let mut echoes = Vec::new();
    for i in 0..ECHO_STREAMS {
        echoes.push(tokio::spawn(echo_loop(host.clone(), i as u64, Arc::clone(&counters), deadline)));
    }
    let mut strangers = Vec::new();
    for i in 0..IDLE {
        // Spread over the first 10 s: about 100 attempts a second from then on.
        let start = started + Duration::from_millis(10 * i as u64);
        strangers.push(tokio::spawn(hold_idle(plugin.address, start, Arc::clone(&counters), deadline)));
    }

    println!("\n     t   RSS MiB   fds      calls   echoes   errors   idle: held refused");
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let mut peak_fds = 0;
    for tick in 1..=secs.div_ceil(SAMPLE_EVERY.as_secs()) {
        let at = (started + SAMPLE_EVERY * tick as u32).min(deadline);
        tokio::time::sleep_until(at.into()).await;
        let (rss, fds) = (rss_kib(pid), open_fds(pid));
        peak_fds = peak_fds.max(fds);
        let t = at.duration_since(started).as_secs();
        samples.push((t, rss));
        let errors = counters.call_errors.load(Ordering::Relaxed) + counters.echo_errors.load(Ordering::Relaxed);
        println!(
            "{t:>5}s {:>9.1} {fds:>5} {:>10} {:>8} {errors:>8} {:>11} {:>7}",
            mib(rss),
            counters.calls.load(Ordering::Relaxed),
            counters.echoes.load(Ordering::Relaxed),
            counters.idle_held.load(Ordering::Relaxed),
            counters.idle_refused.load(Ordering::Relaxed),
        );
    }

    let mut calls = Histogram::new();
    let mut echo = Histogram::new();
    for caller in callers {
        calls.merge(&bounded(caller).await);
    }
    for stream in echoes {
        echo.merge(&bounded(stream).await);
    }
    for stranger in strangers {
        bounded(stranger).await;
    }
    let wall = started.elapsed().as_secs_f64();
    let c = &counters;
    let load = |n: &AtomicU64| n.load(Ordering::SeqCst);
    let errors = load(&c.call_errors) + load(&c.echo_errors);
    println!("\nafter {wall:.0} s:");
    println!(
        "MessageWillBePosted: {} calls ({:.0}/s), {} errors; p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        load(&c.calls),
        load(&c.calls) as f64 / wall,
        load(&c.call_errors),
        calls.quantile_ms(0.5),
        calls.quantile_ms(0.99),
        calls.max.as_secs_f64() * 1e3
    );
    println!(
        "POST /echo: {} requests ({:.0}/s, {:.1} MiB/s each way), {} errors; p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        load(&c.echoes),
        load(&c.echoes) as f64 / wall,
        load(&c.echo_bytes) as f64 / wall / (1 << 20) as f64,
        load(&c.echo_errors),
        echo.quantile_ms(0.5),
        echo.quantile_ms(0.99),
        echo.max.as_secs_f64() * 1e3
    );
    println!(
        "idle connections: {} attempts, {} refused at once, {} held until the plugin closed them \
         ({} of those after the handshake timeout), {} failed to connect",
        load(&c.idle_attempts),
        load(&c.idle_refused),
        load(&c.idle_held),
        load(&c.idle_timed_out),
        load(&c.idle_connect_failed),
    );
    let (fds_end, rss_end) = (open_fds(pid), rss_kib(pid));
    println!("plugin fds: {fds_start} at the start, {peak_fds} at the peak sample, {fds_end} at the end");

    // Flat after warm-up: the last sample within 10% of the one at 1 minute
    // (half-way for shorter runs).
    let warm_at = if secs >= 120 { 60 } else { secs / 2 };
    let warm = samples.iter().find(|(t, _)| *t >= warm_at).copied().unwrap_or(samples[0]);
    let last = *samples.last().expect("a sample");
    let peak = samples.iter().map(|(_, r)| *r).max().unwrap_or(0);
    let change = (last.1 as f64 - warm.1 as f64) / warm.1 as f64 * 100.0;
    println!(
        "RSS: {:.1} MiB at the start, {:.1} MiB at {}s (warm), {:.1} MiB at {}s (last), peak {:.1} MiB, \
         {:.1} MiB now; last vs warm {change:+.1}%",
        mib(rss_start),
        mib(warm.1),
        warm.0,
        mib(last.1),
        last.0,
        mib(peak),
        mib(rss_end)
    );
    let flat = change.abs() <= 10.0;
    println!("RSS flat after warm-up (within 10%): {}", if flat { "YES" } else { "NO" });
    let logged_errors: Vec<String> =
        plugin.stderr_lines().into_iter().filter(|l| l.contains("\"@level\":\"error\"")).collect();
    println!("plugin error log lines: {}", logged_errors.len());
    for line in logged_errors.iter().take(5) {
        println!("  {line}");
    }
    if errors > 0 {
        println!("\n!!!!!!!! {errors} ERRORS during the soak (calls or echoes) !!!!!!!!");
        for e in c.errors.lock().unwrap().iter() {
            println!("  {e}");
        }
        std::process::exit(1);
    }
    println!("errors: 0");
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Joins a load task, which stops by itself at the deadline (bounded).
async fn bounded<T>(task: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(CALL_LIMIT * 3, task).await.expect("a load task did not stop").expect("a load task panicked")
}

/// Calls `MessageWillBePosted` until the deadline.
async fn call_hooks(mut host: PluginHooksClient<Channel>, counters: Arc<Counters>, deadline: Instant) -> Histogram {
    let mut latencies = Histogram::new();
    let request = post("hello there");
    while Instant::now() < deadline {
        let started = Instant::now();
        match tokio::time::timeout(CALL_LIMIT, host.message_will_be_posted(request.clone())).await {
            Ok(Ok(_)) => {
                latencies.record(started.elapsed());
                counters.calls.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(status)) => {
                counters.call_errors.fetch_add(1, Ordering::Relaxed);
                counters.error(format!("MessageWillBePosted: {status:?}"));
            }
            Err(_) => {
                counters.call_errors.fetch_add(1, Ordering::Relaxed);
                counters.error(format!("MessageWillBePosted: no answer within {CALL_LIMIT:?}"));
            }
        }
    }
    latencies
}

/// Sends `POST /echo` until the deadline, checking each echo.
async fn echo_loop(
    mut host: PluginHooksClient<Channel>,
    seed: u64,
    counters: Arc<Counters>,
    deadline: Instant,
) -> Histogram {
    let mut latencies = Histogram::new();
    let body: Bytes = (0..PIECE * PIECES).map(|i| (i as u64 * 31 + seed) as u8).collect::<Vec<u8>>().into();
    while Instant::now() < deadline {
        let messages: Vec<proto::ServeHttpRequest> = (0..PIECES)
            .map(|i| proto::ServeHttpRequest {
                init: (i == 0).then(|| http_init("POST", "/echo")),
                body_chunk: body.slice(i * PIECE..(i + 1) * PIECE),
                body_complete: i + 1 == PIECES,
            })
            .collect();
        let started = Instant::now();
        let exchange = async {
            let mut answer = host.serve_http(tokio_stream::iter(messages)).await?.into_inner();
            let mut status = 0;
            let mut echoed = Vec::with_capacity(body.len());
            while let Some(message) = answer.message().await? {
                if let Some(init) = message.init {
                    status = init.status_code;
                }
                echoed.extend_from_slice(&message.body_chunk);
            }
            Ok::<_, tonic::Status>((status, echoed))
        };
        match tokio::time::timeout(CALL_LIMIT, exchange).await {
            Ok(Ok((status, echoed))) if (status == 200 || status == 0) && echoed == body => {
                latencies.record(started.elapsed());
                counters.echoes.fetch_add(1, Ordering::Relaxed);
                counters.echo_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
            }
            Ok(Ok((status, echoed))) => {
                counters.echo_errors.fetch_add(1, Ordering::Relaxed);
                counters.error(format!("POST /echo: status {status}, {} of {} bytes back", echoed.len(), body.len()));
            }
            Ok(Err(status)) => {
                counters.echo_errors.fetch_add(1, Ordering::Relaxed);
                counters.error(format!("POST /echo: {status:?}"));
            }
            Err(_) => {
                counters.echo_errors.fetch_add(1, Ordering::Relaxed);
                counters.error(format!("POST /echo: no answer within {CALL_LIMIT:?}"));
            }
        }
    }
    latencies
}

/// A stranger: from `start` until the deadline, connects and sends
/// nothing; notes whether the plugin closed the connection at once or held
/// it (until its handshake timeout); tries again 10 s later.
async fn hold_idle(address: SocketAddr, start: Instant, counters: Arc<Counters>, deadline: Instant) {
    tokio::time::sleep_until(start.into()).await;
    while Instant::now() < deadline {
        counters.idle_attempts.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(address)).await {
            Ok(Ok(mut stream)) => {
                let opened = Instant::now();
                let mut buffer = [0u8; 16];
                match tokio::time::timeout(AT_ONCE, stream.read(&mut buffer)).await {
                    Ok(_) => {
                        counters.idle_refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        counters.idle_held.fetch_add(1, Ordering::Relaxed);
                        // Held: wait for the plugin to close it (its
                        // handshake timeout), or the deadline.
                        let left = deadline.saturating_duration_since(Instant::now());
                        if tokio::time::timeout(left, stream.read(&mut buffer)).await.is_ok()
                            && opened.elapsed() >= Duration::from_secs(9)
                        {
                            counters.idle_timed_out.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            _ => {
                counters.idle_connect_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(Duration::from_secs(10).min(left)).await;
    }
}

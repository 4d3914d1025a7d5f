//! The test kit against a real plugin process, side by side in one run: a
//! `MessageWillBePosted` whose hook reads and writes the KV store
//! (`hello_plugin::kv_hook::KvHook`: one `kv_get`, one `kv_set`), called
//!
//! - **in-process**: through `mattermost_plugin_testing::TestHost`, the
//!   plugin's API client answered by a `FakeServer` in the same process;
//! - **socket**: on the `kv-hook` binary, started as the server starts a
//!   plugin (go-plugin's environment, handshake line), its
//!   `MATTERMOST_PLUGIN_API_TARGET` a loopback TCP tonic server in this
//!   process serving the same kind of `FakeServer`; the hook called over
//!   loopback gRPC by a tonic `PluginHooksClient<Channel>`, so each call is
//!   three round trips (the hook, and the hook's `KVGet` and `KVSet`).
//!
//! Rounds alternate the two (and a third series, the KV read and write
//! alone through `FakeServer::client()`, to show what of the in-process
//! time is the hook driver), so machine noise hits all alike. Per call:
//! latency (min, median, mean, p99) and on-CPU time of this process and of
//! the plugin process (`/proc/<pid>/task/*/schedstat`). Then "1,000 hook
//! tests": 1,000 sequential (new `FakeServer`, `TestHost::start`, one
//! `message_will_be_posted`, check the counter is 1, `deactivate`), on this
//! process's runtime and with a fresh current-thread runtime per test as
//! `#[tokio::test]` builds one.
//!
//! Goals (printed, not the exit code): the in-process median at least 10x
//! faster than the socket median; 1,000 hook tests in under 1 s.
//!
//! `cargo bench -p hello-plugin --bench kit`; `KIT_BENCH_CALLS` sets the
//! calls per series and round (default 5000), `KIT_BENCH_ROUNDS` the rounds
//! (default 5).

#[path = "common/alive.rs"]
mod alive;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hello_plugin::kv_hook::KvHook;
use mattermost_plugin::prelude::*;
use mattermost_plugin::proto;
use mattermost_plugin_testing::plugin_api_server::PluginApiServer;
use mattermost_plugin_testing::plugin_hooks_client::PluginHooksClient;
use mattermost_plugin::process::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
use mattermost_plugin_testing::{FakeServer, TestHost};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};

/// The plugin binary of the socket path.
const KV_HOOK: &str = env!("CARGO_BIN_EXE_kv-hook");
/// Each series stops here even if its calls are not done.
const PHASE_LIMIT: Duration = Duration::from_secs(20);
/// No new round starts after this.
const ROUNDS_LIMIT: Duration = Duration::from_secs(75);
/// The hook tests stop here even if the 1,000 are not done.
const TESTS_LIMIT: Duration = Duration::from_secs(10);
/// The hook tests in a run (the "1,000" printed).
const HOOK_TESTS: usize = 1_000;
/// Repetitions of the 1,000 hook tests, per variant.
const TEST_RUNS: usize = 3;

/// On-CPU time of every thread of `pid`, in nanoseconds.
fn cpu_ns(pid: u32) -> u64 {
    let tasks = Path::new("/proc").join(pid.to_string()).join("task");
    std::fs::read_dir(tasks)
        .map(|dir| {
            dir.flatten()
                .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
                .filter_map(|s| s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
                .sum()
        })
        .unwrap_or(0)
}

fn post() -> proto::Post {
    proto::Post {
        id: "p1".into(),
        channel_id: "c1".into(),
        user_id: "u1".into(),
        message: "hello there".into(),
        ..Default::default()
    }
}

/// The request the server sends, as `TestHost::message_will_be_posted` builds it.
fn request() -> proto::MessageWillBePostedRequest {
    proto::MessageWillBePostedRequest {
        plugin_context: Some(proto::PluginContext::default()),
        post: Some(post()),
        ..Default::default()
    }
}

fn allowed(answer: &proto::MessageWillBePostedResponse) {
    assert!(answer.modified_post.is_none() && answer.rejection_reason.is_empty(), "not allowed: {answer:?}");
}

fn counter(fake: &FakeServer) -> u64 {
    String::from_utf8(fake.kv_value(KvHook::COUNTER_KEY)).unwrap().parse().unwrap_or(0)
}

/// One series' calls, over all rounds.
#[derive(Default)]
struct Series {
    latencies: Vec<Duration>,
    bench_cpu_ns: u64,
    plugin_cpu_ns: u64,
}

impl Series {
    fn sorted(&mut self) -> &[Duration] {
        self.latencies.sort_unstable();
        &self.latencies
    }

    fn median(&mut self) -> Duration {
        let s = self.sorted();
        s.get(s.len() / 2).copied().unwrap_or_default()
    }

    fn line(&mut self, label: &str) -> String {
        let n = self.latencies.len().max(1);
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let mean = self.latencies.iter().sum::<Duration>().as_secs_f64() * 1e6 / n as f64;
        let (bench, plugin) = (self.bench_cpu_ns as f64 / 1e3 / n as f64, self.plugin_cpu_ns as f64 / 1e3 / n as f64);
        let s = self.sorted();
        let at = |q: f64| s.get(((n as f64 * q) as usize).min(n - 1)).copied().unwrap_or_default();
        format!(
            "{label:<34} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>8.1} {:>8.1}",
            s.len(),
            us(at(0.0)),
            us(at(0.5)),
            mean,
            us(at(0.99)),
            bench,
            plugin,
            bench + plugin
        )
    }
}

/// The plugin process, started as the server starts it.
struct PluginProcess {
    child: Child,
    address: String,
}

impl PluginProcess {
    async fn start(api: std::net::SocketAddr) -> Self {
        let mut child = Command::new(KV_HOOK)
            .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
            .env("PLUGIN_PROTOCOL_VERSIONS", "1")
            .env("PLUGIN_MIN_PORT", "0")
            .env("PLUGIN_MAX_PORT", "0")
            .env("MATTERMOST_PLUGIN_API_TARGET", api.to_string())
            .env("MATTERMOST_PLUGIN_LOG_LEVEL", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn kv-hook");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .expect("no handshake within 5 s")
            .expect("read")
            .expect("a handshake line");
        // Keep reading stdout, as go-plugin's host does after the handshake: a
        // plugin whose stdout pipe nobody reads takes its host for gone and exits.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let address = line.split('|').nth(3).expect("handshake").to_owned();
        Self { child, address }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// A hooks client, and the plugin started as the server starts it:
    /// `Implemented`, then `OnActivate` if listed.
    async fn client(&self) -> PluginHooksClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address)).unwrap().connect().await.unwrap();
        let mut client = PluginHooksClient::new(channel);
        let implemented = client.implemented(proto::ImplementedRequest::default()).await.unwrap().into_inner().hooks;
        assert!(implemented.iter().any(|h| h == "MessageWillBePosted"), "{implemented:?}");
        if implemented.iter().any(|h| h == "OnActivate") {
            client.on_activate(proto::OnActivateRequest::default()).await.unwrap();
        }
        client
    }
}

/// `calls` hook calls through the test kit's driver.
async fn in_process(host: &TestHost<KvHook>, calls: usize, series: &mut Series) {
    let started = Instant::now();
    let cpu = cpu_ns(std::process::id());
    for _ in 0..calls {
        if started.elapsed() > PHASE_LIMIT {
            break;
        }
        let t = Instant::now();
        let answer = host.message_will_be_posted(post()).await.expect("hook");
        series.latencies.push(t.elapsed());
        allowed(&answer);
    }
    series.bench_cpu_ns += cpu_ns(std::process::id()) - cpu;
}

/// `calls` KV read and write pairs through the fake's client alone: the
/// hook's API calls without the hook driver.
async fn kv_alone(fake: &FakeServer, calls: usize, series: &mut Series) {
    let api = fake.client();
    let started = Instant::now();
    let cpu = cpu_ns(std::process::id());
    for _ in 0..calls {
        if started.elapsed() > PHASE_LIMIT {
            break;
        }
        let t = Instant::now();
        let stored = api.kv_get("alone").await.expect("kv_get");
        let count = std::str::from_utf8(&stored).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) + 1;
        api.kv_set("alone", count.to_string()).await.expect("kv_set");
        series.latencies.push(t.elapsed());
    }
    series.bench_cpu_ns += cpu_ns(std::process::id()) - cpu;
}

/// `calls` hook calls on the plugin process over loopback gRPC.
async fn socket(plugin: &PluginProcess, client: &PluginHooksClient<Channel>, calls: usize, series: &mut Series) {
    let mut client = client.clone();
    let started = Instant::now();
    let (cpu, plugin_cpu) = (cpu_ns(std::process::id()), cpu_ns(plugin.pid()));
    for _ in 0..calls {
        if started.elapsed() > PHASE_LIMIT {
            break;
        }
        let t = Instant::now();
        let answer = client.message_will_be_posted(request()).await.expect("hook").into_inner();
        series.latencies.push(t.elapsed());
        allowed(&answer);
    }
    series.bench_cpu_ns += cpu_ns(std::process::id()) - cpu;
    series.plugin_cpu_ns += cpu_ns(plugin.pid()) - plugin_cpu;
}

/// One hook test, as a plugin author writes it.
async fn hook_test() {
    let fake = FakeServer::new();
    let host = TestHost::start(KvHook::default(), fake.clone()).await.expect("start");
    let answer = host.message_will_be_posted(post()).await.expect("hook");
    allowed(&answer);
    assert_eq!(fake.kv_value(KvHook::COUNTER_KEY), b"1");
    host.deactivate().await.expect("deactivate");
}

/// How many of [`HOOK_TESTS`] ran, in how long.
struct TestsRun {
    done: usize,
    wall: Duration,
}

/// [`HOOK_TESTS`] hook tests in a row on the current runtime.
async fn hook_tests_here() -> TestsRun {
    let started = Instant::now();
    let mut done = 0;
    while done < HOOK_TESTS && started.elapsed() < TESTS_LIMIT {
        hook_test().await;
        done += 1;
    }
    TestsRun { done, wall: started.elapsed() }
}

/// [`HOOK_TESTS`] hook tests in a row on a thread of their own, each on a
/// fresh current-thread runtime, as `#[tokio::test]` runs a test.
fn hook_tests_own_runtime() -> TestsRun {
    std::thread::spawn(|| {
        let started = Instant::now();
        let mut done = 0;
        while done < HOOK_TESTS && started.elapsed() < TESTS_LIMIT {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(hook_test());
            done += 1;
        }
        TestsRun { done, wall: started.elapsed() }
    })
    .join()
    .expect("hook tests")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list; nothing to list.
    }
    let bench_started = Instant::now();
    let calls = env_usize("KIT_BENCH_CALLS", 5000);
    let rounds = env_usize("KIT_BENCH_ROUNDS", 5);
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    println!(
        "kit bench: MessageWillBePosted with one kv_get and one kv_set in the hook (KvHook); \
         {calls} calls per series, {rounds} rounds, series interleaved; tokio multi-thread runtime, {workers} workers"
    );

    // In-process: the test kit's driver, and the fake's client alone.
    let host = TestHost::start(KvHook::default(), FakeServer::new()).await.expect("start");
    let alone = FakeServer::new();

    // Socket: the same kind of fake on loopback TCP, the plugin as a process.
    let fake = FakeServer::new();
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).expect("bind").with_nodelay(Some(true));
    let api_address = incoming.local_addr().unwrap();
    let service = PluginApiServer::new(fake.clone());
    tokio::spawn(Server::builder().add_service(service).serve_with_incoming(incoming));
    let mut plugin = PluginProcess::start(api_address).await;
    let client = plugin.client().await;
    println!(
        "socket: {} (pid {}) at {}, its API target the fake on {api_address}; in-process: TestHost + FakeServer",
        Path::new(KV_HOOK).file_name().unwrap().to_string_lossy(),
        plugin.pid(),
        plugin.address
    );

    // Warm-up, then rounds.
    let (mut warm, warm_calls) = (Series::default(), (calls / 10).max(1));
    in_process(&host, warm_calls, &mut warm).await;
    kv_alone(&alone, warm_calls, &mut warm).await;
    socket(&plugin, &client, warm_calls, &mut warm).await;
    let mut series: [Series; 3] = Default::default();
    let mut rounds_done = 0;
    for _ in 0..rounds {
        if bench_started.elapsed() > ROUNDS_LIMIT {
            break;
        }
        in_process(&host, calls, &mut series[0]).await;
        kv_alone(&alone, calls, &mut series[1]).await;
        socket(&plugin, &client, calls, &mut series[2]).await;
        // The fakes record every call; forget them between rounds (untimed).
        for f in [host.fake(), &alone, &fake] {
            f.clear_calls();
        }
        rounds_done += 1;
    }
    // Every hook call counted, once, on each path.
    assert_eq!(counter(host.fake()), (warm_calls + series[0].latencies.len()) as u64, "in-process count");
    assert_eq!(counter(&fake), (warm_calls + series[2].latencies.len()) as u64, "socket count");

    println!(
        "\n{:<34} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8}",
        format!("per call, µs ({rounds_done} rounds)"),
        "calls",
        "min",
        "median",
        "mean",
        "p99",
        "CPU bench",
        "plugin",
        "total"
    );
    println!("{}", series[0].line("in-process, TestHost (kit)"));
    println!("{}", series[2].line("socket, plugin process"));
    println!("{}", series[1].line("  in-process KV get+set alone"));
    let (inner, outer) = (series[0].median(), series[2].median());
    let ratio = outer.as_secs_f64() / inner.as_secs_f64().max(1e-12);
    println!("ratio socket/in-process of medians: {ratio:.1}x (goal >= 10x)");
    println!("goal verdict (10x): {}", if ratio >= 10.0 { "MET" } else { "NOT MET" });

    // 1,000 hook tests, the two variants interleaved.
    println!(
        "\n1,000 hook tests in a row (new FakeServer, TestHost::start, one message_will_be_posted, \
         counter == 1, deactivate)"
    );
    let mut worst = Duration::ZERO;
    let mut results: [Vec<TestsRun>; 2] = Default::default();
    for _ in 0..TEST_RUNS {
        results[0].push(hook_tests_here().await);
        results[1].push(hook_tests_own_runtime());
    }
    let labels = ["on the bench's runtime", "a current-thread runtime per test"];
    for (label, runs) in labels.iter().zip(&mut results) {
        runs.sort_by_key(|r| r.wall);
        let median = &runs[runs.len() / 2];
        let all_done = runs.iter().all(|r| r.done == HOOK_TESTS);
        let walls: Vec<String> = runs.iter().map(|r| format!("{:.1}", r.wall.as_secs_f64() * 1e3)).collect();
        println!(
            "  {label:<36} median {:>7.1} ms, {:>6.1} µs per test  (runs, ms: {}){}",
            median.wall.as_secs_f64() * 1e3,
            median.wall.as_secs_f64() * 1e6 / median.done.max(1) as f64,
            walls.join(", "),
            if all_done { String::new() } else { format!("  STOPPED at the {} s limit", TESTS_LIMIT.as_secs()) }
        );
        let run_worst = if all_done { median.wall } else { Duration::MAX };
        worst = worst.max(run_worst);
    }
    println!(
        "goal verdict (1,000 hook tests < 1 s, the slower variant's median): {}",
        if worst < Duration::from_secs(1) { "MET" } else { "NOT MET" }
    );
    alive::still_running("the plugin process", &mut plugin.child).await;
    println!("\ntotal bench time: {:.1} s", bench_started.elapsed().as_secs_f64());
}


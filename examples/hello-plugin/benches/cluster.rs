//! The cluster toolkit on a simulated HA cluster: several nodes, each with
//! its own production `PluginApiClient`, sharing one `FakeServer` as the
//! cluster's KV store (a fresh fake per measurement).
//!
//! 1. **`Kv::update` against a hand-written compare-and-set loop.** N nodes
//!    (1, 3, 8, one writer task each; and 8 nodes of 4 tasks for heavy
//!    contention) increment one shared key a fixed total number of times
//!    between them, either with `api.kv().update(key, |n| n + 1)` or with the
//!    loop an author writes by hand (`kv_get`, decode the JSON `u64`,
//!    `kv_set_with_options` atomic with the old value, retry at once on
//!    `false`, no backoff). Twice: with the nodes' clients in-process
//!    (`FakeServer::client()`, whose calls never yield, so writers barely
//!    interleave: the per-increment cost) and over loopback gRPC
//!    (`PluginApiClient::connect` to a tonic server serving the fake, a TCP
//!    connection per node: real round trips, real contention). Runs
//!    alternate the two variants, the first one swapped each run; the
//!    median run of each is reported, with the ratio raw/update of
//!    increments/s (goal: at most 1.2). The final counter must equal the
//!    increments done (asserted).
//! 2. **Mutex hand-over between nodes.** Node A holds `api.mutex("x")`,
//!    node B waits in `lock(timeout)`; after a hold time A lets go, by
//!    `guard.unlock().await` or by dropping the guard (released by a task
//!    the drop spawns); the figure is the time from A starting to let go to
//!    B holding the lock. Several A/B pairs (each on its own fake) run at
//!    once to collect the samples; the two ways of letting go alternate.
//!
//! Every run, wait and series is bounded by a count and a time.
//!
//! `cargo bench -p hello-plugin --bench cluster`; `CLUSTER_BENCH_OPS` sets
//! the increments per loopback run (default 3000),
//! `CLUSTER_BENCH_OPS_IN_PROCESS` per in-process run (default 30000),
//! `CLUSTER_BENCH_RUNS` the runs per variant (default 7),
//! `CLUSTER_BENCH_SAMPLES` the hand-overs per series (default 200).

use std::path::Path;
use std::time::{Duration, Instant};

use mattermost_plugin::kv::KvError;
use mattermost_plugin::prelude::*;
use mattermost_plugin::proto::PluginKvSetOptions;
use mattermost_plugin_testing::plugin_api_server::PluginApiServer;
use mattermost_plugin_testing::FakeServer;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// The shared counter's key.
const KEY: &str = "counter";
/// (nodes, writer tasks per node) of the update measurements.
const CLUSTERS: [(usize, usize); 4] = [(1, 1), (3, 1), (8, 1), (8, 4)];
/// Each run of increments stops here even if its increments are not done.
const RUN_LIMIT: Duration = Duration::from_secs(20);
/// A hand-written loop gives up an increment after this many lost rounds.
const RAW_ATTEMPTS: u32 = 100_000;
/// How long B may wait for the lock before the sample fails.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// A/B pairs collecting hand-over samples at once.
const PAIRS: usize = 8;
/// Each hand-over series stops here even if its samples are not done.
const HANDOVER_LIMIT: Duration = Duration::from_secs(60);
/// How long A holds the lock while B waits: B's backoff is early (its
/// polls up to 5–20 ms apart) or at its 250 ms cap.
const HOLDS: [Duration; 2] = [Duration::from_millis(20), Duration::from_millis(500)];
/// The cap of `Mutex::lock`'s polling backoff (runtime/src/cluster.rs).
const POLL_CAP: Duration = Duration::from_millis(250);

/// On-CPU time of every thread of this process, in nanoseconds.
fn cpu_ns() -> u64 {
    let tasks = Path::new("/proc/self/task");
    std::fs::read_dir(tasks)
        .map(|dir| {
            dir.flatten()
                .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
                .filter_map(|s| s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
                .sum()
        })
        .unwrap_or(0)
}

/// The first three fields of `/proc/loadavg` (other work on the machine).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// `api.kv().update(KEY, |n| n + 1)`.
    Update,
    /// The hand-written compare-and-set loop, retrying at once.
    Raw,
}

/// What one writer task did.
#[derive(Default)]
struct Done {
    increments: u64,
    gave_up: u64,
}

/// One run of increments on a fresh fake.
struct Run {
    increments: u64,
    gave_up: u64,
    wall: Duration,
    cpu: Duration,
    /// `KVSetWithOptions` calls: one per compare-and-set round.
    writes: usize,
}

impl Run {
    fn ops_per_s(&self) -> f64 {
        self.increments as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

async fn update_writer(api: PluginApiClient, share: usize, deadline: Instant) -> Done {
    let kv = api.kv();
    let mut done = Done::default();
    for _ in 0..share {
        if Instant::now() > deadline {
            break;
        }
        match kv.update(KEY, |n: Option<u64>| Some(n.unwrap_or(0) + 1)).await {
            Ok(_) => done.increments += 1,
            Err(KvError::Contended { .. }) => done.gave_up += 1,
            Err(e) => panic!("update: {e}"),
        }
    }
    done
}

/// The increment as an author writes it by hand on the raw API.
async fn raw_writer(api: PluginApiClient, share: usize, deadline: Instant) -> Done {
    let mut done = Done::default();
    for _ in 0..share {
        if Instant::now() > deadline {
            break;
        }
        let mut written = false;
        for _ in 0..RAW_ATTEMPTS {
            let old = api.kv_get(KEY).await.expect("kv_get");
            let n: u64 = if old.is_empty() { 0 } else { serde_json::from_slice(&old).expect("a JSON u64") };
            let new = serde_json::to_vec(&(n + 1)).expect("JSON");
            let options = PluginKvSetOptions { atomic: true, old_value: old, expire_in_seconds: 0 };
            if api.kv_set_with_options(KEY, new, options).await.expect("kv_set_with_options") {
                written = true;
                break;
            }
        }
        if written {
            done.increments += 1;
        } else {
            done.gave_up += 1;
        }
    }
    done
}

/// How the nodes reach the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// `FakeServer::client()`: calls run on the caller's task, in microseconds.
    InProcess,
    /// `PluginApiClient::connect` over loopback TCP to a tonic server serving
    /// the fake, one connection per node: each call a gRPC round trip.
    Loopback,
}

/// `nodes` clients of a fresh fake, over `link`; the loopback server stops
/// when this is dropped.
struct Cluster {
    fake: FakeServer,
    nodes: Vec<PluginApiClient>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Cluster {
    async fn start(link: Link, nodes: usize) -> Self {
        let fake = FakeServer::new();
        match link {
            Link::InProcess => Self { nodes: (0..nodes).map(|_| fake.client()).collect(), fake, server: None },
            Link::Loopback => {
                let incoming =
                    TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).expect("bind").with_nodelay(Some(true));
                let address = incoming.local_addr().expect("address");
                let service = PluginApiServer::new(fake.clone());
                let server = tokio::spawn(async move {
                    Server::builder().add_service(service).serve_with_incoming(incoming).await.expect("serve");
                });
                let mut clients = Vec::with_capacity(nodes);
                for _ in 0..nodes {
                    clients.push(PluginApiClient::connect(&address.to_string()).await.expect("connect"));
                }
                Self { fake, nodes: clients, server: Some(server) }
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// `total` increments of [`KEY`] by `nodes` nodes of `tasks` writers each,
/// on a fresh fake reached over `link`; checks that no increment was lost.
async fn increments(link: Link, variant: Variant, nodes: usize, tasks: usize, total: usize) -> Run {
    let cluster = Cluster::start(link, nodes).await;
    let writers = nodes * tasks;
    let deadline = Instant::now() + RUN_LIMIT;
    let (cpu, started) = (cpu_ns(), Instant::now());
    let mut handles = Vec::with_capacity(writers);
    // One client per node: each node of a cluster runs its own plugin.
    for (node, api) in cluster.nodes.iter().enumerate() {
        for task in 0..tasks {
            let index = node * tasks + task;
            let share = total / writers + usize::from(index < total % writers);
            let api = api.clone();
            handles.push(tokio::spawn(async move {
                match variant {
                    Variant::Update => update_writer(api, share, deadline).await,
                    Variant::Raw => raw_writer(api, share, deadline).await,
                }
            }));
        }
    }
    let (mut increments, mut gave_up) = (0, 0);
    for handle in handles {
        let done = handle.await.expect("writer");
        increments += done.increments;
        gave_up += done.gave_up;
    }
    let wall = started.elapsed();
    let cpu = Duration::from_nanos(cpu_ns().saturating_sub(cpu));
    let stored = cluster.fake.kv_value(KEY);
    let counter: u64 = serde_json::from_slice(&stored).expect("the counter is a JSON u64");
    assert_eq!(
        counter, increments,
        "{link:?}, {variant:?}, {nodes} nodes x {tasks}: the counter lost or made up increments"
    );
    Run { increments, gave_up, wall, cpu, writes: cluster.fake.count("KVSetWithOptions") }
}

/// The median run by throughput, and the min and max ops/s.
fn median_run(runs: &mut [Run]) -> (&Run, f64, f64) {
    runs.sort_by(|a, b| a.ops_per_s().total_cmp(&b.ops_per_s()));
    let (min, max) = (runs[0].ops_per_s(), runs[runs.len() - 1].ops_per_s());
    (&runs[runs.len() / 2], min, max)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    /// `guard.unlock().await`.
    Unlock,
    /// `drop(guard)`: released by a task the drop spawns.
    Drop,
}

/// Hand-over samples of one way of letting go.
#[derive(Default)]
struct Handovers {
    latencies: Vec<Duration>,
    /// B's `try_lock` rounds during its waits (the successful one included).
    polls: usize,
}

impl Handovers {
    /// The value at quantile `q` (nearest rank); the latencies are sorted.
    fn quantile(&self, q: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies[rank - 1]
    }
}

/// One A/B pair on its own fake: `samples` hand-overs after `hold`,
/// alternating unlock and drop. Returns them per way of letting go.
async fn handover_pair(hold: Duration, samples: usize, deadline: Instant) -> [Handovers; 2] {
    let fake = FakeServer::new();
    let (a, b) = (fake.client(), fake.client());
    let mut out: [Handovers; 2] = Default::default();
    for i in 0..samples {
        if Instant::now() > deadline {
            break;
        }
        let release = if i % 2 == 0 { Release::Unlock } else { Release::Drop };
        let writes_before = fake.count("KVSetWithOptions");
        let held = a.mutex("x").try_lock().await.expect("try_lock").expect("free at the start of a sample");
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move {
                let _ = started_tx.send(());
                let guard = b.mutex("x").lock(LOCK_TIMEOUT).await.expect("B gets the lock");
                (guard, Instant::now())
            })
        };
        started_rx.await.expect("B started waiting");
        tokio::time::sleep(hold).await;
        let letting_go = Instant::now();
        match release {
            Release::Unlock => assert!(held.unlock().await.expect("unlock"), "A still held it"),
            Release::Drop => drop(held),
        }
        let (guard, got) = waiter.await.expect("waiter");
        let series = &mut out[release as usize];
        series.latencies.push(got.saturating_duration_since(letting_go));
        assert!(guard.unlock().await.expect("unlock"), "B still held it");
        // A's take and release, B's release; the rest are B's polls.
        series.polls += fake.count("KVSetWithOptions") - writes_before - 3;
    }
    out
}

/// `samples` hand-overs of each way of letting go after `hold`, from
/// [`PAIRS`] pairs at once.
async fn handovers(hold: Duration, samples: usize) -> [Handovers; 2] {
    let deadline = Instant::now() + HANDOVER_LIMIT;
    let per_pair = (2 * samples).div_ceil(PAIRS);
    let pairs: Vec<_> = (0..PAIRS).map(|_| tokio::spawn(handover_pair(hold, per_pair, deadline))).collect();
    let mut all: [Handovers; 2] = Default::default();
    for pair in pairs {
        for (into, from) in all.iter_mut().zip(pair.await.expect("pair")) {
            into.latencies.extend(from.latencies);
            into.polls += from.polls;
        }
    }
    for series in &mut all {
        series.latencies.sort();
    }
    all
}

/// The two variants side by side on `link`, `total` increments per run,
/// `runs` runs each; prints their table and answers the worst ratio
/// raw/update of median increments/s.
async fn compare(link: Link, total: usize, runs: usize) -> f64 {
    let how = match link {
        Link::InProcess => "in-process (FakeServer::client())",
        Link::Loopback => "loopback gRPC (PluginApiClient::connect, a TCP connection per node)",
    };
    println!(
        "\nincrements of one shared key, {how}: {total} per run, split evenly over the writers \
         (one task per node unless said); {runs} runs per variant, alternating, the first variant \
         swapped each run; median run"
    );
    println!(
        "{:<22} {:<16} {:>8} {:>8} {:>8} {:>10} {:>10} {:>8}",
        "writers", "variant", "min", "median", "max", "CAS/incr", "CPU µs/op", "gave up"
    );
    println!("{:<22} {:<16} {:>26}", "", "", "(increments/s)");
    let mut worst: f64 = 0.0;
    let mut ratios = Vec::new();
    for (nodes, tasks) in CLUSTERS {
        // A warm-up run of each, untimed.
        increments(link, Variant::Update, nodes, tasks, (total / 10).max(1)).await;
        increments(link, Variant::Raw, nodes, tasks, (total / 10).max(1)).await;
        let (mut update, mut raw) = (Vec::new(), Vec::new());
        for run in 0..runs {
            if run % 2 == 0 {
                update.push(increments(link, Variant::Update, nodes, tasks, total).await);
                raw.push(increments(link, Variant::Raw, nodes, tasks, total).await);
            } else {
                raw.push(increments(link, Variant::Raw, nodes, tasks, total).await);
                update.push(increments(link, Variant::Update, nodes, tasks, total).await);
            }
        }
        let label = if tasks == 1 {
            format!("{nodes} node{}", if nodes == 1 { "" } else { "s" })
        } else {
            format!("{nodes} nodes x {tasks} tasks")
        };
        let mut medians = [0.0; 2];
        for (i, (variant, series)) in [("kv.update", &mut update), ("raw CAS loop", &mut raw)].into_iter().enumerate() {
            let incomplete = series.iter().filter(|r| r.increments < total as u64).count();
            let gave_up: u64 = series.iter().map(|r| r.gave_up).sum();
            let (median, min, max) = median_run(series);
            medians[i] = median.ops_per_s();
            println!(
                "{:<22} {:<16} {:>8.0} {:>8.0} {:>8.0} {:>10.2} {:>10.1} {:>8}{}",
                if i == 0 { label.as_str() } else { "" },
                variant,
                min,
                median.ops_per_s(),
                max,
                median.writes as f64 / median.increments.max(1) as f64,
                median.cpu.as_secs_f64() * 1e6 / median.increments.max(1) as f64,
                gave_up,
                if incomplete > 0 {
                    format!("  {incomplete} runs STOPPED at {} s", RUN_LIMIT.as_secs())
                } else {
                    String::new()
                }
            );
        }
        let ratio = medians[1] / medians[0].max(1e-9);
        println!("{:<22} raw/update: {ratio:.2}x", "");
        worst = worst.max(ratio);
        ratios.push(format!("{label} {ratio:.2}x"));
    }
    println!("ratios raw/update of median increments/s: {} (goal <= 1.20)", ratios.join(", "));
    worst
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list; nothing to list.
    }
    let bench_started = Instant::now();
    let loopback_total = env_usize("CLUSTER_BENCH_OPS", 3000).max(1);
    let in_process_total = env_usize("CLUSTER_BENCH_OPS_IN_PROCESS", 30_000).max(1);
    let runs = env_usize("CLUSTER_BENCH_RUNS", 7).max(1);
    let samples = env_usize("CLUSTER_BENCH_SAMPLES", 200).max(1);
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    println!(
        "cluster bench: nodes = PluginApiClients of one FakeServer (a fresh one per run); \
         tokio multi-thread runtime, {workers} workers; load average at start: {}",
        loadavg()
    );

    // 1. update against the hand-written loop, over each link.
    let mut verdicts = Vec::new();
    for (link, total) in [(Link::InProcess, in_process_total), (Link::Loopback, loopback_total)] {
        verdicts.push(compare(link, total, runs).await);
    }
    let worst = verdicts.iter().copied().fold(0.0, f64::max);
    println!(
        "\ngoal verdict (typed update within 1.2x of the raw loop, every cluster size, both links): {} (worst {worst:.2}x)",
        if worst <= 1.2 { "MET" } else { "NOT MET" }
    );

    // 2. Mutex hand-over.
    println!(
        "\nmutex hand-over, A lets go -> B holds the lock: {samples} samples per series \
         ({PAIRS} A/B pairs at once, each on its own fake; unlock and drop alternate)"
    );
    println!(
        "{:<34} {:>7} {:>8} {:>8} {:>8} {:>8} {:>11}",
        "hold, way of letting go", "samples", "p50 ms", "p95 ms", "max ms", "mean ms", "B polls/wait"
    );
    for hold in HOLDS {
        let series = handovers(hold, samples).await;
        for (release, s) in [Release::Unlock, Release::Drop].iter().zip(&series) {
            let n = s.latencies.len();
            let mean = s.latencies.iter().sum::<Duration>() / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
            let way = match release {
                Release::Unlock => "guard.unlock().await",
                Release::Drop => "drop(guard)",
            };
            println!(
                "{:<34} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>11.1}",
                format!("{} ms, {way}", hold.as_millis()),
                n,
                ms(s.quantile(0.50)),
                ms(s.quantile(0.95)),
                ms(s.quantile(1.0)),
                ms(mean),
                s.polls as f64 / n.max(1) as f64
            );
        }
    }
    // Once B polls at the cap c, its sleeps are uniform on [0, c]; A lets
    // go at a random moment, which falls in a sleep with a chance
    // proportional to its length, and B sees it when that sleep ends:
    // P(wait > t) = (1 - t/c)^2, so p50 = 0.29c, p95 = 0.78c, mean c/3.
    let c = ms(POLL_CAP);
    println!(
        "model at the {c:.0} ms poll cap (B's sleeps uniform on [0, {c:.0}] ms): \
         p50 {:.1}, p95 {:.1}, max {c:.1}, mean {:.1} ms",
        c * (1.0 - 0.5f64.sqrt()),
        c * (1.0 - 0.05f64.sqrt()),
        c / 3.0
    );
    println!(
        "\ntotal bench time: {:.1} s; load average at the end: {}",
        bench_started.elapsed().as_secs_f64(),
        loadavg()
    );
}

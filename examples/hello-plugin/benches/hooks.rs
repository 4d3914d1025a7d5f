//! The plugin runtime's costs, side by side with a bare tonic server
//! answering the same hook (`bare-tonic`), in one run:
//!
//! - start to handshake (spawn until the handshake line is read), of the
//!   plugin installed from its bundle and started as the real host starts
//!   it (through the bundle's `venv/bin/python` launcher, which `exec`s the
//!   binary), of the same binary started directly, and of bare tonic;
//! - idle RSS after start and one call;
//! - server CPU per `MessageWillBePosted` call (sum of the process's
//!   threads' on-CPU time from `/proc/<pid>/task/*/schedstat`), and round
//!   trip p50/p99 and calls/s from the same Rust client, sequential and with
//!   8 concurrent callers, the two servers interleaved round by round;
//! - round trips, start and a 64 MiB echo from the Go host that plays the
//!   real Mattermost host (tests/interop/go-host), through the bundle and
//!   with the bare binary, when Go is installed.
//!
//! The hook calls go to the plugin started from its bundle.
//!
//! `cargo bench -p hello-plugin --bench hooks`; `HOOK_BENCH_CALLS` sets the
//! calls per round (default 10000), `HOOK_BENCH_ROUNDS` the rounds (3).

#[path = "common/alive.rs"]
mod alive;
#[path = "common/installed.rs"]
mod installed;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mattermost_plugin::proto;
use mattermost_plugin_testing::plugin_hooks_client::PluginHooksClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

use installed::{HELLO, Installed};

const BARE: &str = env!("CARGO_BIN_EXE_bare-tonic");
const CONCURRENCY: usize = 8;
/// Each measured phase stops here even if its calls are not done.
const PHASE_LIMIT: Duration = Duration::from_secs(60);

struct Server {
    name: &'static str,
    child: Child,
    address: String,
    started_in: Duration,
}

/// How a contender starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    /// The plugin installed from its bundle, started as the real host does.
    Bundle,
    /// The same plugin binary, started directly.
    Binary,
    /// The bare tonic server.
    Bare,
}

impl How {
    fn name(self) -> &'static str {
        match self {
            Self::Bundle => "plugin, from its bundle",
            Self::Binary => "plugin, binary started directly",
            Self::Bare => "bare tonic",
        }
    }
}

/// Starts a contender; the time until its address is on stdout.
async fn start(how: How, installed: &Installed) -> Server {
    let mut command = match how {
        How::Bundle => installed.command(),
        How::Binary => Command::new(HELLO),
        How::Bare => Command::new(BARE),
    };
    let plugin = how != How::Bare;
    if plugin {
        command
            .env("MATTERMOST_PLUGIN", "Securely message teams, anywhere.")
            .env("PLUGIN_PROTOCOL_VERSIONS", "1")
            .env("PLUGIN_MIN_PORT", "0")
            .env("PLUGIN_MAX_PORT", "0")
            .env("MATTERMOST_PLUGIN_API_TARGET", "127.0.0.1:9")
            .env("MATTERMOST_PLUGIN_LOG_LEVEL", "error");
    }
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
        .await
        .expect("no address within 5 s")
        .expect("read")
        .expect("an address line");
    let started_in = started.elapsed();
    // Keep reading stdout, as go-plugin's host does after the handshake: a
    // plugin whose stdout pipe nobody reads takes its host for gone and exits.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let address = if plugin { line.split('|').nth(3).expect("handshake").to_owned() } else { line };
    Server { name: how.name(), child, address, started_in }
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    async fn client(&self) -> PluginHooksClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address)).unwrap().connect().await.unwrap();
        PluginHooksClient::new(channel)
    }
}

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

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn request() -> proto::MessageWillBePostedRequest {
    proto::MessageWillBePostedRequest {
        post: Some(proto::Post { id: "p1".into(), message: "hello there".into(), ..Default::default() }),
        ..Default::default()
    }
}

#[derive(Default)]
struct Phase {
    latencies: Vec<Duration>,
    wall: Duration,
    cpu_ns: u64,
}

impl Phase {
    fn add(&mut self, other: Phase) {
        self.latencies.extend(other.latencies);
        self.wall += other.wall;
        self.cpu_ns += other.cpu_ns;
    }

    fn line(&mut self, label: &str) -> String {
        self.latencies.sort_unstable();
        let n = self.latencies.len().max(1);
        let at = |q: f64| self.latencies.get(((n as f64 * q) as usize).min(n - 1)).copied().unwrap_or_default();
        format!(
            "{label:<34} {:>8} {:>9.1} {:>9.1} {:>10.0} {:>10.1}",
            self.latencies.len(),
            at(0.50).as_secs_f64() * 1e6,
            at(0.99).as_secs_f64() * 1e6,
            self.latencies.len() as f64 / self.wall.as_secs_f64().max(1e-9),
            self.cpu_per_call_us()
        )
    }

    fn cpu_per_call_us(&self) -> f64 {
        self.cpu_ns as f64 / 1e3 / self.latencies.len().max(1) as f64
    }
}

// One connection per server for the whole run, as a host keeps it: the
// plugin stops when its host's last connection closes.
async fn sequential(server: &Server, client: &PluginHooksClient<Channel>, calls: usize) -> Phase {
    let mut client = client.clone();
    let before = cpu_ns(server.pid());
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        if started.elapsed() > PHASE_LIMIT {
            break;
        }
        let t = Instant::now();
        client.message_will_be_posted(request()).await.expect("call");
        latencies.push(t.elapsed());
    }
    Phase { wall: started.elapsed(), cpu_ns: cpu_ns(server.pid()) - before, latencies }
}

async fn concurrent(server: &Server, client: &PluginHooksClient<Channel>, calls: usize) -> Phase {
    let before = cpu_ns(server.pid());
    let started = Instant::now();
    let per_caller = calls / CONCURRENCY;
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_caller);
                for _ in 0..per_caller {
                    if started.elapsed() > PHASE_LIMIT {
                        break;
                    }
                    let t = Instant::now();
                    client.message_will_be_posted(request()).await.expect("call");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(calls);
    for task in tasks {
        latencies.extend(task.await.expect("caller"));
    }
    Phase { wall: started.elapsed(), cpu_ns: cpu_ns(server.pid()) - before, latencies }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list; nothing to list.
    }
    let calls = env_usize("HOOK_BENCH_CALLS", 10_000);
    let rounds = env_usize("HOOK_BENCH_ROUNDS", 3);
    println!("hook bench: {calls} calls per phase, {rounds} rounds, servers interleaved; client: tonic, same process");

    // Start-up and idle memory, the three contenders interleaved.
    let installed = Installed::new();
    const STARTS: usize = 21;
    let contenders = [How::Bundle, How::Binary, How::Bare];
    let mut starts: [Vec<Duration>; 3] = Default::default();
    let mut rss: [Vec<u64>; 3] = Default::default();
    for _ in 0..STARTS {
        for (i, how) in contenders.into_iter().enumerate() {
            let server = start(how, &installed).await;
            starts[i].push(server.started_in);
            let mut client = server.client().await;
            client.message_will_be_posted(request()).await.expect("call");
            tokio::time::sleep(Duration::from_millis(200)).await;
            rss[i].push(rss_kib(server.pid()));
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("\nstart to handshake, ms ({STARTS} starts each)       min   median      max");
    for (i, how) in contenders.into_iter().enumerate() {
        starts[i].sort_unstable();
        let s = &starts[i];
        println!("{:<40} {:>8.2} {:>8.2} {:>8.2}", how.name(), ms(s[0]), ms(s[STARTS / 2]), ms(s[STARTS - 1]));
    }
    let launcher = ms(starts[0][STARTS / 2]) - ms(starts[1][STARTS / 2]);
    println!("the bundle's launcher adds {launcher:.2} ms to the median start (bundle - binary)");
    println!("\nidle RSS after one call, MiB ({STARTS} each)      min   median      max");
    for (i, how) in contenders.into_iter().enumerate() {
        rss[i].sort_unstable();
        let mib = |k: u64| k as f64 / 1024.0;
        let r = &rss[i];
        println!("{:<40} {:>8.1} {:>8.1} {:>8.1}", how.name(), mib(r[0]), mib(r[STARTS / 2]), mib(r[STARTS - 1]));
    }

    // Hook calls.
    let mut plugin = start(How::Bundle, &installed).await;
    let mut bare = start(How::Bare, &installed).await;
    let clients = [plugin.client().await, bare.client().await];
    for (i, server) in [&plugin, &bare].into_iter().enumerate() {
        sequential(server, &clients[i], calls / 10).await; // warm-up
    }
    let mut results: Vec<(Phase, Phase)> = vec![Default::default(), Default::default()];
    for _ in 0..rounds {
        for (i, server) in [&plugin, &bare].into_iter().enumerate() {
            results[i].0.add(sequential(server, &clients[i], calls).await);
            results[i].1.add(concurrent(server, &clients[i], calls).await);
        }
    }
    println!(
        "\nMessageWillBePosted round trips        calls   p50 µs    p99 µs    calls/s  server CPU µs/call"
    );
    for (i, server) in [&plugin, &bare].into_iter().enumerate() {
        let (seq, conc) = &mut results[i];
        println!("{}", seq.line(&format!("{}, sequential", server.name)));
        println!("{}", conc.line(&format!("{}, {CONCURRENCY} callers", server.name)));
    }
    alive::still_running(plugin.name, &mut plugin.child).await;
    alive::still_running(bare.name, &mut bare.child).await;
    let ratio_seq = results[0].0.cpu_per_call_us() / results[1].0.cpu_per_call_us();
    let ratio_conc = results[0].1.cpu_per_call_us() / results[1].1.cpu_per_call_us();
    println!("\nplugin/bare CPU per call: sequential {ratio_seq:.2}x, {CONCURRENCY} callers {ratio_conc:.2}x (goal <= 1.20)");
    let met = ratio_seq <= 1.2 && ratio_conc <= 1.2;
    println!("goal verdict: {}", if met { "MET" } else { "NOT MET" });

    // The Go host that plays the real Mattermost host: through the bundle,
    // then with the bare binary, each printing its start, round trips and a
    // 64 MiB echo.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/interop/go-host/run.sh");
    for (label, flags) in [("through the bundle", vec![]), ("bare binary (-bare)", vec!["-bare", HELLO])] {
        let output = std::process::Command::new("bash")
            .arg(script)
            .args(&flags)
            .arg(&installed.bundle)
            .env("GO_HOST_BENCH_ONLY", "1")
            .env("GO_HOST_CALLS", calls.to_string())
            .output();
        match output {
            Ok(out) if out.status.success() => {
                println!("\nGo host (go-plugin, grpc-go) → plugin, {label}:");
                print!("{}", String::from_utf8_lossy(&out.stdout));
            }
            Ok(out) if out.status.code() == Some(2) => {
                println!("\nSKIPPED: Go host round trips: Go toolchain missing (see scripts/test-all)");
                return;
            }
            Ok(out) => println!("\nGo host run ({label}) failed:\n{}", String::from_utf8_lossy(&out.stdout)),
            Err(e) => println!("\nSKIPPED: Go host round trips: {e}"),
        }
    }
}

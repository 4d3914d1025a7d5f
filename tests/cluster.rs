//! The cluster toolkit (`mattermost_plugin::cluster`) on a simulated
//! three-node cluster: three plugin instances, each with its own client, on
//! one fake server (the cluster's shared KV store): the mutex, interval
//! jobs, one-off jobs and typed cluster events.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mattermost_plugin::cluster::{
    ClusterEvent, DecodeClusterEvent, Delivery, IntervalJob, JobError, LockError, OnceJobs, Scheduled,
};
use mattermost_plugin_testing::FakeServer;
use mattermost_plugin::{PluginApiClient, proto};
use serde::{Deserialize, Serialize};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_section_never_overlaps_across_three_nodes() {
    let fake = FakeServer::new();
    let inside = Arc::new(AtomicUsize::new(0));
    let entries = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for node in 0..3 {
        let api = fake.client();
        for _ in 0..20 {
            let (api, fake, inside, entries) = (api.clone(), fake.clone(), inside.clone(), entries.clone());
            tasks.push(tokio::spawn(async move {
                let guard = api.mutex("report").lock(Duration::from_secs(30)).await.unwrap();
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "node {node} entered while another was inside");
                // The fake's own record: the lock's key holds this holder's id.
                assert_eq!(fake.kv_value("mutex_report"), guard.holder().as_bytes());
                tokio::time::sleep(Duration::from_millis(1)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
                entries.fetch_add(1, Ordering::SeqCst);
                assert!(guard.unlock().await.unwrap(), "still ours when let go");
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(entries.load(Ordering::SeqCst), 60, "every node's every task got its turn");
    assert!(fake.kv_value("mutex_report").is_empty(), "released at the end");
}

#[tokio::test]
async fn a_held_lock_makes_others_wait_until_their_timeout_and_is_released_on_drop() {
    let fake = FakeServer::new();
    let (a, b) = (fake.client(), fake.client());
    let held = a.mutex("job").lock(Duration::from_secs(1)).await.unwrap();
    assert!(b.mutex("job").try_lock().await.unwrap().is_none());
    let error = b.mutex("job").lock(Duration::from_millis(50)).await.unwrap_err();
    assert!(matches!(&error, LockError::TimedOut { name, .. } if name == "job"), "{error:?}");
    assert!(error.to_string().contains("still held by another node"), "{error}");
    drop(held);
    // Released in the background: B gets it as soon as the release lands.
    let got = b.mutex("job").lock(Duration::from_secs(5)).await.unwrap();
    assert!(!got.is_lost());
}

#[test]
fn a_crashed_holders_lock_expires_and_another_node_takes_it() {
    let fake = FakeServer::new();
    // Node A takes the lock, then its process dies: its runtime goes, with
    // the refresh task, and nothing releases the lock.
    let node_a = tokio::runtime::Runtime::new().unwrap();
    let guard = node_a.block_on(fake.client().mutex("once").lock(Duration::from_secs(1))).unwrap();
    drop(node_a);
    std::mem::forget(guard);

    let node_b = tokio::runtime::Runtime::new().unwrap();
    node_b.block_on(async {
        let b = fake.client();
        assert!(b.mutex("once").try_lock().await.unwrap().is_none(), "held until it expires");
        fake.clock().advance(Duration::from_secs(14));
        assert!(b.mutex("once").try_lock().await.unwrap().is_none(), "the 15 s expiry has not passed");
        fake.clock().advance(Duration::from_secs(1));
        let guard = b.mutex("once").try_lock().await.unwrap().expect("the dead holder's lock expired");
        assert!(guard.unlock().await.unwrap());
    });
}

#[tokio::test]
async fn a_living_holder_refreshes_its_lock_before_it_expires() {
    let fake = FakeServer::new();
    let (a, b) = (fake.client(), fake.client());
    // A 2 s expiry, refreshed every second of real time.
    let held = a.mutex("long").with_ttl(Duration::from_secs(2)).lock(Duration::from_secs(1)).await.unwrap();
    fake.clock().advance(Duration::from_millis(1500));
    tokio::time::sleep(Duration::from_millis(1300)).await; // one refresh: expiry now + 2 s on the server's clock
    fake.clock().advance(Duration::from_millis(1500));
    assert!(b.mutex("long").try_lock().await.unwrap().is_none(), "refreshed: 3 s after taking it, still held");
    assert!(!held.is_lost());
    assert!(held.unlock().await.unwrap());
}

// ---- Interval jobs ----------------------------------------------------------

/// The window (of `every`, counted from the Unix epoch) the wall clock is in.
fn window_now(every: Duration) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(now.as_nanos() / every.as_nanos()).unwrap()
}

/// Waits until the wall clock is in `window`.
async fn until_window(window: u64, every: Duration) {
    while window_now(every) < window {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

type Runs = Arc<StdMutex<Vec<(&'static str, u64)>>>;

fn tick(api: &PluginApiClient, node: &'static str, every: Duration, runs: &Runs) -> IntervalJob {
    let runs = runs.clone();
    api.interval_job("tick", every, move || {
        runs.lock().unwrap().push((node, window_now(every)));
        async { Ok::<(), Infallible>(()) }
    })
}

/// Three nodes run one interval job over 26 windows of 200 ms while nodes
/// stop (gracefully and by dropping the handle) and start again, at least
/// one always up: every whole window in between has exactly one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interval_job_runs_once_per_window_while_nodes_stop_and_start() {
    let every = Duration::from_millis(200);
    let fake = FakeServer::new();
    let runs: Runs = Arc::default();
    let first = window_now(every) + 1;
    until_window(first, every).await;
    let (a, b, c) = (fake.client(), fake.client(), fake.client());
    let job_a = tick(&a, "a", every, &runs);
    let job_b = tick(&b, "b", every, &runs);
    let job_c = tick(&c, "c", every, &runs);

    until_window(first + 4, every).await;
    job_a.stop().await; // a stops
    until_window(first + 8, every).await;
    drop(job_b); // b goes, by dropping its handle
    until_window(first + 11, every).await;
    let job_a = tick(&a, "a", every, &runs); // a is back
    until_window(first + 15, every).await;
    job_c.stop().await; // c stops, b is back
    let job_b = tick(&b, "b", every, &runs);
    until_window(first + 19, every).await;
    let job_c = tick(&c, "c", every, &runs); // all three again
    let last = first + 25;
    until_window(last + 1, every).await;
    for job in [job_a, job_b, job_c] {
        job.stop().await;
    }

    let runs = runs.lock().unwrap().clone();
    let mut per_window = std::collections::BTreeMap::<u64, Vec<&str>>::new();
    for (node, window) in &runs {
        per_window.entry(*window).or_default().push(node);
    }
    for window in first..=last {
        let nodes = per_window.get(&window).cloned().unwrap_or_default();
        assert_eq!(
            nodes.len(),
            1,
            "window {} of {first}..={last} ran on {nodes:?}; all runs: {runs:?}",
            window - first
        );
    }
    assert!(per_window.keys().all(|w| (first..=last + 1).contains(w)), "a run outside the test's windows: {runs:?}");
    let mut nodes: Vec<&str> = runs.iter().map(|(node, _)| *node).collect();
    nodes.sort_unstable();
    nodes.dedup();
    eprintln!("{} windows, {} runs, run by {nodes:?}", last - first + 1, runs.len());
    // The record says which window ran last; the lock is free.
    let record: serde_json::Value = serde_json::from_slice(&fake.kv_value("cron_tick")).unwrap();
    assert!(record["window"].as_u64().unwrap() >= last, "{record}");
    assert!(fake.kv_value("mutex_cron_tick").is_empty(), "the job's lock is released");
}

/// A failing or panicking run is logged and counts as the window's run.
#[tokio::test]
async fn a_failing_interval_job_is_logged_and_runs_again_next_window() {
    let every = Duration::from_millis(100);
    let fake = FakeServer::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let job = {
        let calls = calls.clone();
        fake.client().interval_job("flaky", every, move || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => Err("the report service is down"),
                    1 => panic!("a bug in the job"),
                    _ => Ok(()),
                }
            }
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while calls.load(Ordering::SeqCst) < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    job.stop().await;
    assert!(calls.load(Ordering::SeqCst) >= 3, "ran again after a failure and a panic");
}

/// A job whose closure panics before it returns the run's future (not
/// inside the future) is logged the same way and runs again next window:
/// the panic once stopped the node's part of the job for good.
#[tokio::test]
async fn an_interval_job_whose_closure_panics_runs_again_next_window() {
    let every = Duration::from_millis(100);
    let fake = FakeServer::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let job = {
        let calls = calls.clone();
        fake.client().interval_job("brittle", every, move || {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("a bug before the job's future");
            }
            async { Ok::<(), Infallible>(()) }
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while calls.load(Ordering::SeqCst) < 4 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    job.stop().await;
    assert!(calls.load(Ordering::SeqCst) >= 4, "ran in the windows after the panic");
    let record: serde_json::Value = serde_json::from_slice(&fake.kv_value("cron_brittle")).unwrap();
    assert!(record["window"].as_u64().is_some(), "the windows were recorded: {record}");
}

// ---- One-off jobs -----------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reminder {
    text: String,
}

type Done = Arc<StdMutex<Vec<(String, String, &'static str)>>>;

fn reminders(api: &PluginApiClient, node: &'static str, done: &Done) -> OnceJobs<Reminder> {
    let done = done.clone();
    api.once_jobs(Duration::from_millis(50), move |key, reminder: Reminder| {
        done.lock().unwrap().push((key, reminder.text, node));
        async { Ok::<(), Infallible>(()) }
    })
}

/// Twenty jobs scheduled from two of three nodes, some due now and some
/// later: each runs exactly once, with its payload, and nothing is left in
/// the KV store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_one_off_job_runs_exactly_once_across_three_nodes() {
    let fake = FakeServer::new();
    let done: Done = Arc::default();
    let nodes = [
        reminders(&fake.client(), "a", &done),
        reminders(&fake.client(), "b", &done),
        reminders(&fake.client(), "c", &done),
    ];
    let soon = SystemTime::now() + Duration::from_millis(150);
    for i in 0..10 {
        nodes[0]
            .schedule(&format!("now-{i}"), SystemTime::now(), &Reminder { text: format!("now {i}") })
            .await
            .unwrap();
        nodes[1].schedule(&format!("soon-{i}"), soon, &Reminder { text: format!("soon {i}") }).await.unwrap();
    }
    // A key that is scheduled cannot be scheduled again (one due in an hour:
    // a job due now may already have run, which frees its key).
    let later = SystemTime::now() + Duration::from_secs(3600);
    nodes[0].schedule("later", later, &Reminder { text: "later".into() }).await.unwrap();
    let again = nodes[2].schedule("later", later, &Reminder { text: "twice".into() }).await.unwrap_err();
    assert!(matches!(&again, JobError::AlreadyScheduled(key) if key == "later"), "{again:?}");
    assert!(nodes[2].cancel("later").await.unwrap());
    let bad = nodes[2].schedule("", SystemTime::now(), &Reminder { text: String::new() }).await.unwrap_err();
    assert!(matches!(bad, JobError::BadKey(0)), "{bad:?}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while done.lock().unwrap().len() < 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // time for a second run, if there were one
    for node in nodes {
        node.stop().await;
    }
    let mut done = done.lock().unwrap().clone();
    done.sort();
    let keys: Vec<&str> = done.iter().map(|(key, ..)| key.as_str()).collect();
    let mut wanted: Vec<String> = (0..10).flat_map(|i| [format!("now-{i}"), format!("soon-{i}")]).collect();
    wanted.sort();
    assert_eq!(keys, wanted, "each job once");
    assert!(done.iter().all(|(key, text, _)| text.replace(' ', "-") == *key), "each with its payload: {done:?}");
    let left: Vec<String> =
        fake.kv_keys().into_iter().filter(|k| k.starts_with("once_") || k.starts_with("mutex_")).collect();
    assert!(left.is_empty(), "records and locks left: {left:?}");
}

/// A node dies in the middle of a one-off job. Its lock holds the job until
/// the 15 s expiry passes; then another node runs the job again, to the
/// end, once.
#[test]
fn a_one_off_job_whose_node_dies_mid_run_is_finished_by_another_node() {
    let fake = FakeServer::new();
    let started = Arc::new(StdMutex::new(Vec::<&str>::new()));
    let finished = Arc::new(AtomicUsize::new(0));
    let runner = |node: &'static str, api: PluginApiClient| {
        let (started, finished) = (started.clone(), finished.clone());
        api.once_jobs(Duration::from_millis(50), move |_key, _: Reminder| {
            started.lock().unwrap().push(node);
            let finished = finished.clone();
            async move {
                if node == "a" {
                    std::future::pending::<()>().await; // a dies before it finishes
                }
                finished.fetch_add(1, Ordering::SeqCst);
                Ok::<(), Infallible>(())
            }
        })
    };

    // Node A, alone, picks the job up; then its process dies: its runtime
    // goes with every task, and nothing lets the lock go.
    let node_a = tokio::runtime::Runtime::new().unwrap();
    let a = node_a.block_on(async {
        let a = runner("a", fake.client());
        a.schedule("migrate", SystemTime::now(), &Reminder { text: "v2".into() }).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while started.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        a
    });
    assert_eq!(*started.lock().unwrap(), ["a"]);
    drop(node_a);
    std::mem::forget(a);

    let node_b = tokio::runtime::Runtime::new().unwrap();
    node_b.block_on(async {
        let b = runner("b", fake.client());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(*started.lock().unwrap(), ["a"], "held by the dead node's lock until it expires");
        assert!(!fake.kv_value("once_migrate").is_empty(), "still scheduled");
        fake.clock().advance(Duration::from_secs(15));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while finished.load(Ordering::SeqCst) == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.stop().await;
    });
    assert_eq!(*started.lock().unwrap(), ["a", "b"], "started again by b");
    assert_eq!(finished.load(Ordering::SeqCst), 1, "finished once");
    assert!(fake.kv_value("once_migrate").is_empty(), "unscheduled once done");
}

#[tokio::test]
async fn a_one_off_job_is_listed_until_it_runs_and_can_be_cancelled() {
    let fake = FakeServer::new();
    let done: Done = Arc::default();
    let jobs = reminders(&fake.client(), "a", &done);
    let later = SystemTime::now() + Duration::from_secs(3600);
    jobs.schedule("tomorrow", later, &Reminder { text: "later".into() }).await.unwrap();
    jobs.schedule("today", later - Duration::from_secs(60), &Reminder { text: "sooner".into() }).await.unwrap();
    let listed = jobs.scheduled().await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["today", "tomorrow"], "due first");
    assert_eq!(listed[1].payload, Reminder { text: "later".into() });
    let at = |s: &Scheduled<Reminder>| s.run_at.duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert_eq!(at(&listed[1]), later.duration_since(UNIX_EPOCH).unwrap().as_millis());

    assert!(jobs.cancel("tomorrow").await.unwrap());
    assert!(!jobs.cancel("tomorrow").await.unwrap(), "cancelled already");
    assert_eq!(jobs.scheduled().await.unwrap().len(), 1);
    jobs.stop().await;
    assert!(done.lock().unwrap().is_empty(), "nothing was due");
}

// ---- Cluster events ---------------------------------------------------------

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct CacheCleared {
    team_id: String,
}

impl ClusterEvent for CacheCleared {
    const ID: &'static str = "cache-cleared";
}

/// One node publishes a typed event; the server carries its id and JSON;
/// the receiving copy decodes it, tells another event from it, and gets a
/// clear error for a malformed one.
/// A one-off job that panics, in its closure or in its future, is logged
/// and unscheduled, as one that fails; the runner goes on with the next.
#[tokio::test]
async fn a_one_off_job_that_panics_anywhere_is_unscheduled_and_the_runner_goes_on() {
    let fake = FakeServer::new();
    let api = fake.client();
    let ran = Arc::new(StdMutex::new(Vec::new()));
    let jobs = {
        let ran = ran.clone();
        api.once_jobs(Duration::from_millis(20), move |key: String, reminder: Reminder| {
            if reminder.text == "closure" {
                panic!("a bug before the job's future");
            }
            let ran = ran.clone();
            async move {
                if reminder.text == "future" {
                    panic!("a bug in the job's future");
                }
                ran.lock().unwrap().push(key);
                Ok::<(), Infallible>(())
            }
        })
    };
    let now = SystemTime::now();
    for (key, text) in [("a", "closure"), ("b", "future"), ("c", "fine")] {
        jobs.schedule(key, now, &Reminder { text: text.into() }).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !(fake.kv_keys().iter().all(|k| !k.starts_with("once_")) && ran.lock().unwrap().len() == 1)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*ran.lock().unwrap(), ["c"], "the fine job ran");
    let left: Vec<String> = fake.kv_keys().into_iter().filter(|k| k.contains("once")).collect();
    assert!(left.is_empty(), "every job unscheduled, the panicking ones too: {left:?}");
    jobs.stop().await;
}

#[tokio::test]
async fn typed_cluster_events_go_out_as_json_and_decode_on_the_other_side() {
    let fake = FakeServer::new();
    let api = fake.client();
    api.publish_cluster_event(&CacheCleared { team_id: "t1".into() }).await.unwrap();
    api.publish_cluster_event_with(&CacheCleared { team_id: "t2".into() }, Delivery::best_effort().to_node("node-2"))
        .await
        .unwrap();

    let sent = fake.cluster_events();
    assert_eq!(sent.len(), 2);
    let (event, options) = &sent[0];
    assert_eq!((event.id.as_str(), event.data.as_slice()), ("cache-cleared", br#"{"team_id":"t1"}"#.as_slice()));
    let options = options.clone().unwrap();
    assert_eq!((options.send_type.as_str(), options.target_id.as_str()), ("reliable", ""));
    let options = sent[1].1.clone().unwrap();
    assert_eq!((options.send_type.as_str(), options.target_id.as_str()), ("best_effort", "node-2"));

    // The other side, as `on_plugin_cluster_event` gets it.
    assert_eq!(event.decode::<CacheCleared>().unwrap(), Some(CacheCleared { team_id: "t1".into() }));
    let other = proto::PluginClusterEvent { id: "something-else".into(), data: b"{}".to_vec() };
    assert_eq!(other.decode::<CacheCleared>().unwrap(), None, "another event is not an error");
    let malformed = proto::PluginClusterEvent { id: "cache-cleared".into(), data: b"{\"team\":1}".to_vec() };
    let error = malformed.decode::<CacheCleared>().unwrap_err();
    assert!(error.to_string().contains("team_id"), "{error}");
}

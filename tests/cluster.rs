//! The cluster-wide mutex (`PluginApiClient::mutex`) on a simulated
//! three-node cluster: three plugin instances, each with its own client, on
//! one fake server (the cluster's shared KV store).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mattermost_plugin::kv::LockError;
use mattermost_plugin::testing::FakeServer;

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

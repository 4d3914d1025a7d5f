//! The typed KV store (`PluginApiClient::kv`) and typed settings
//! (`PluginApiClient::settings`), against the test kit's fake server, which
//! keeps the server's KV rules: values as JSON, expiry, insert-if-absent, an
//! atomic update that loses nothing across the nodes of a cluster, keys by
//! prefix over many pages.

use std::time::Duration;

use mattermost_plugin::kv::{KvError, RetryPolicy};
use mattermost_plugin::prelude::*;
use mattermost_plugin_testing::FakeServer;
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt as _;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    text: String,
    stars: u32,
}

#[tokio::test]
async fn values_round_trip_as_json_and_a_missing_key_is_none() {
    let fake = FakeServer::new();
    let kv = fake.client().kv();
    let note = Note { text: "buy milk".into(), stars: 3 };
    kv.set("note", &note).await.unwrap();
    assert_eq!(kv.get::<Note>("note").await.unwrap(), Some(note));
    assert_eq!(fake.kv_value("note"), br#"{"text":"buy milk","stars":3}"#, "JSON, as Go's pluginapi stores it");
    assert_eq!(kv.get::<Note>("absent").await.unwrap(), None);
    let wrong = kv.get::<u64>("note").await.unwrap_err();
    assert!(matches!(&wrong, KvError::Decode { key, .. } if key == "note"), "{wrong:?}");
    kv.delete("note").await.unwrap();
    assert_eq!(kv.get::<Note>("note").await.unwrap(), None);
}

#[tokio::test]
async fn expiry_and_insert_if_absent_follow_the_server() {
    let fake = FakeServer::new();
    let kv = fake.client().kv();
    kv.set_with_expiry("session", "abc", Duration::from_secs(30)).await.unwrap();
    fake.clock().advance(Duration::from_secs(29));
    assert_eq!(kv.get::<String>("session").await.unwrap().as_deref(), Some("abc"));
    fake.clock().advance(Duration::from_secs(1));
    assert_eq!(kv.get::<String>("session").await.unwrap(), None, "expired on the server's clock");
    assert!(kv.insert("lock", &1).await.unwrap());
    assert!(!kv.insert("lock", &2).await.unwrap(), "only when absent");
    assert_eq!(kv.get::<u32>("lock").await.unwrap(), Some(1));
}

#[tokio::test]
async fn update_changes_and_deletes_atomically() {
    let fake = FakeServer::new();
    let kv = fake.client().kv();
    assert_eq!(kv.update("n", |n: Option<u64>| Some(n.unwrap_or(0) + 1)).await.unwrap(), Some(1));
    assert_eq!(kv.update("n", |n: Option<u64>| Some(n.unwrap_or(0) + 1)).await.unwrap(), Some(2));
    assert_eq!(kv.update("n", |_: Option<u64>| None).await.unwrap(), None);
    assert!(fake.kv_keys().is_empty(), "None deletes");
    assert_eq!(kv.update("never", |_: Option<u64>| None).await.unwrap(), None, "deleting nothing is no call");
    let writes = fake.count("KVSetWithOptions");
    assert_eq!(writes, 3, "each update one compare-and-set; the last one none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_times_a_thousand_concurrent_increments_end_at_exactly_three_thousand() {
    // One fake server is the cluster's shared database; each node is a
    // plugin instance with its own client, as every node of a Mattermost HA
    // cluster runs its own copy of the plugin.
    let fake = FakeServer::new();
    let nodes: Vec<_> = (0..3).map(|_| fake.client().kv()).collect();
    let mut tasks = Vec::new();
    for kv in &nodes {
        for _ in 0..1000 {
            let kv = kv.clone();
            tasks.push(tokio::spawn(async move { kv.update("hits", |n: Option<u64>| Some(n.unwrap_or(0) + 1)).await }));
        }
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap().unwrap().unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=3000).collect::<Vec<u64>>(), "every increment saw its own value: none lost, none doubled");
    assert_eq!(nodes[0].get::<u64>("hits").await.unwrap(), Some(3000));
    let rounds = fake.count("KVSetWithOptions");
    eprintln!("3 x 1000 increments: {rounds} compare-and-set rounds ({:.2} per increment)", rounds as f64 / 3000.0);
}

#[tokio::test]
async fn an_update_that_always_loses_says_so() {
    let fake = FakeServer::new();
    // Another writer wins every time.
    fake.on_kv_set_with_options(|_| Ok(false));
    let retry = RetryPolicy { attempts: 4, first: Duration::from_millis(1), max: Duration::from_millis(2) };
    let kv = fake.client().kv().with_retry(retry);
    let error = kv.update("hot", |n: Option<u64>| Some(n.unwrap_or(0) + 1)).await.unwrap_err();
    assert!(matches!(&error, KvError::Contended { key, attempts: 4 } if key == "hot"), "{error:?}");
    assert!(error.to_string().contains("after 4 attempts"), "{error}");
    assert_eq!(fake.count("KVSetWithOptions"), 4);
}

#[tokio::test]
async fn keys_by_prefix_stream_over_the_servers_pages() {
    let fake = FakeServer::new();
    let kv = fake.client().kv();
    for i in 0..450 {
        kv.set(&format!("job:{i:04}"), &i).await.unwrap();
    }
    for i in 0..30 {
        kv.set(&format!("user:{i}"), &i).await.unwrap();
    }
    let jobs: Vec<String> = kv.keys_with_prefix("job:").map(Result::unwrap).collect().await;
    assert_eq!(jobs.len(), 450);
    assert_eq!((jobs[0].as_str(), jobs[449].as_str()), ("job:0000", "job:0449"));
    assert!(jobs.windows(2).all(|w| w[0] < w[1]), "in key order");
    let users: Vec<String> = kv.keys_with_prefix("user:").map(Result::unwrap).collect().await;
    assert_eq!(users.len(), 30);
    let pages = fake.requests::<mattermost_plugin::proto::KvListRequest>();
    // 480 keys in pages of 200, read as the stream is consumed: three pages per listing.
    // The whole store is read each time: the server sorts keys by its database collation,
    // so a key past the prefix says nothing about the keys after it.
    assert_eq!(pages.len(), 6);
    fake.on_kv_list(|_| Err(AppError::new("app.plugin_store.list.app_error", "down", 500).into()));
    let failed: Vec<_> = kv.keys_with_prefix("job:").collect().await;
    assert!(matches!(failed.as_slice(), [Err(KvError::Api(_))]), "a failed page ends the stream with its error");
}

/// What `mmplugin-gen settings plugin.json` writes, in miniature.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(default)]
struct Settings {
    #[serde(rename = "blockedword")]
    blocked_word: String,
    #[serde(rename = "maxcount")]
    max_count: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self { blocked_word: "forbidden".into(), max_count: 10 }
    }
}

#[tokio::test]
async fn settings_load_as_the_console_stores_them_with_defaults_for_the_rest() {
    let fake = FakeServer::new();
    let api = fake.client();
    assert_eq!(api.settings::<Settings>().await.unwrap(), Settings::default(), "nothing configured: the defaults");
    fake.set_plugin_config(serde_json::json!({ "BlockedWord": "spoiler" }));
    assert_eq!(api.settings::<Settings>().await.unwrap(), Settings { blocked_word: "spoiler".into(), max_count: 10 });
    fake.set_plugin_config(serde_json::json!({ "MaxCount": "many" }));
    let error = api.settings::<Settings>().await.unwrap_err();
    assert!(matches!(&error, Error::Json { field: "settings", .. }), "{error:?}");
}

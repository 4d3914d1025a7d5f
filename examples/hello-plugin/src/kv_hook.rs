//! A plugin whose only hook reads and writes the KV store: the subject of
//! the test kit's benchmark (`benches/kit.rs`), which drives it in-process
//! through `mattermost_plugin_testing::TestHost` and, for comparison, as a
//! plugin process (`src/bin/kv-hook.rs`) over a loopback socket.

use mattermost_plugin::prelude::*;
use mattermost_plugin::{MessageWillBePostedDecision, proto};

/// Counts posts: each `MessageWillBePosted` reads the counter under
/// [`KvHook::COUNTER_KEY`] (`kv_get`), stores it plus one (`kv_set`), and
/// allows the post unchanged.
///
/// The read and the write are serialised within the process, so concurrent
/// posts to one plugin process lose no count; several processes (the nodes
/// of a cluster) sharing one store would need `kv_compare_and_set`.
#[derive(Debug, Default)]
pub struct KvHook {
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl KvHook {
    /// The KV key of the post counter: the count in decimal.
    pub const COUNTER_KEY: &str = "posts";
}

#[mattermost_plugin::plugin]
impl Plugin for KvHook {
    /// Counts the post and allows it. A failed read or write is logged,
    /// and the post still goes through: counting must not block posting.
    async fn message_will_be_posted(
        &self,
        cx: &Context,
        _pc: &proto::PluginContext,
        _post: proto::Post,
    ) -> MessageWillBePostedDecision {
        let _guard = self.one_at_a_time.lock().await;
        let counted = async {
            let stored = cx.api.kv_get(Self::COUNTER_KEY).await?;
            let count = std::str::from_utf8(&stored).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) + 1;
            cx.api.kv_set(Self::COUNTER_KEY, count.to_string()).await
        };
        if let Err(error) = counted.await {
            cx.log.warn(format!("could not count the post: {error}"));
        }
        MessageWillBePostedDecision::Allow
    }
}

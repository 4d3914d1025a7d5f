//! Working on a Mattermost HA cluster, where every node runs its own copy of
//! the plugin and all copies share one KV store:
//!
//! - a lock shared by every node: [`PluginApiClient::mutex`];
//! - jobs run once per interval across the cluster:
//!   [`PluginApiClient::interval_job`];
//! - one-off jobs run once, at a set time, even if a node dies mid-run:
//!   [`PluginApiClient::once_jobs`];
//! - typed events between the copies: [`ClusterEvent`],
//!   [`PluginApiClient::publish_cluster_event`] and
//!   [`DecodeClusterEvent::decode`].
//!
//! This file is plain Rust, written by hand against Mattermost's plugin
//! contract and copied as it is into each SDK whose contract has the API
//! methods it calls, and the typed KV store it keeps its state in
//! ([`crate::kv`]); the coordination itself is the runtime's
//! (`mmplugin_runtime::cluster`), which names no contract type.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use mmplugin_runtime::cluster::interval::{JOB_PREFIX, JobRecord};
pub use mmplugin_runtime::cluster::once::{MAX_KEY_CHARS, ONCE_PREFIX, POLL_EVERY, Scheduled};
pub use mmplugin_runtime::cluster::{IntervalJob, JobError, KEY_PREFIX, LOCK_TTL, LockError, REFRESH_EVERY};

use crate::api::EventsApi as _;
use crate::api::PluginApiClient;
use crate::error::Error;
use crate::proto;

// The lock and the jobs keep their state in the KV store, through the
// typed store's backend for the client.
const _: fn() = || {
    fn kv_backend<B: crate::kv::KvBackend>() {}
    kv_backend::<PluginApiClient>();
};

/// A lock shared by every node of a cluster, kept in the KV store: taken
/// only when free, refreshed while held, released on drop, and lost by a
/// crashed holder when its 15 s expiry passes (Go's `pluginapi/cluster`
/// timings). Get one with [`PluginApiClient::mutex`].
///
/// ```ignore
/// let _held = cx.api.mutex("daily-report").lock(Duration::from_secs(30)).await?;
/// // … only one node at a time runs this …
/// ```
pub type Mutex = mmplugin_runtime::cluster::Mutex<PluginApiClient>;

/// A held [`Mutex`]: released when dropped.
pub type MutexGuard = mmplugin_runtime::cluster::Guard<PluginApiClient>;

/// This node's one-off job runner, whose jobs get a payload of type `T`;
/// start one with [`PluginApiClient::once_jobs`].
pub type OnceJobs<T> = mmplugin_runtime::cluster::OnceJobs<PluginApiClient, T>;

impl PluginApiClient {
    /// The cluster-wide lock `name` (KV key `mutex_{name}`).
    pub fn mutex(&self, name: impl Into<String>) -> Mutex {
        Mutex::new(self.clone(), name)
    }

    /// Starts this node's part of the job `name`, which runs once in every
    /// window of `every` across the whole cluster (windows counted from the
    /// Unix epoch: an hourly job runs once in each hour of the clock,
    /// whichever nodes are up). Call it on every node, in `on_activate`,
    /// and keep the handle: dropping it stops this node's part. A failed or
    /// panicking run is logged; the next window runs again.
    ///
    /// ```ignore
    /// let api = cx.api.clone();
    /// let job = cx.api.interval_job("digest", Duration::from_secs(3600), move || {
    ///     let api = api.clone();
    ///     async move { send_digest(&api).await }
    /// });
    /// *self.digest.lock().unwrap() = Some(job);
    /// ```
    pub fn interval_job<F, Fut, E>(&self, name: impl Into<String>, every: Duration, job: F) -> IntervalJob
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        IntervalJob::start(self.clone(), name, every, job)
    }

    /// Starts this node's one-off job runner, looking for due jobs every
    /// `poll` ([`POLL_EVERY`] is the usual choice). Start one on every node,
    /// with the same `job` function, in `on_activate`, and keep it. Any node
    /// schedules with [`OnceJobs::schedule`]; the job runs once, on one
    /// node, with the key and payload it was scheduled with. A node that
    /// dies mid-run leaves the job to another node once its lock expires,
    /// which starts it again: make jobs safe to restart.
    ///
    /// ```ignore
    /// let api = cx.api.clone();
    /// let reminders = cx.api.once_jobs(POLL_EVERY, move |_key, reminder: Reminder| {
    ///     let api = api.clone();
    ///     async move { api.create_post(reminder.post()).await.map(drop) }
    /// });
    /// reminders.schedule("remind-42", SystemTime::now() + Duration::from_secs(600), &reminder).await?;
    /// ```
    pub fn once_jobs<T, F, Fut, E>(&self, poll: Duration, job: F) -> OnceJobs<T>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
        F: Fn(String, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        OnceJobs::start(self.clone(), poll, job)
    }

    /// Sends `event` to the plugin's copies on the other nodes, reliably:
    /// they get it in `on_plugin_cluster_event` and read it with
    /// [`DecodeClusterEvent::decode`].
    pub async fn publish_cluster_event<E: ClusterEvent>(&self, event: &E) -> Result<(), Error> {
        self.publish_cluster_event_with(event, Delivery::reliable()).await
    }

    /// Sends `event` to the plugin's copies on the other nodes, as
    /// `delivery` says.
    pub async fn publish_cluster_event_with<E: ClusterEvent>(&self, event: &E, delivery: Delivery) -> Result<(), Error> {
        let data = serde_json::to_vec(event).map_err(|source| Error::Json { field: "event", source })?;
        let event = proto::PluginClusterEvent { id: E::ID.to_owned(), data };
        let options = proto::PluginClusterEventSendOptions {
            send_type: if delivery.best_effort { "best_effort" } else { "reliable" }.to_owned(),
            target_id: delivery.node.unwrap_or_default(),
        };
        self.publish_plugin_cluster_event(event, options).await
    }
}

/// An event the plugin's copies send each other, as JSON under the id
/// [`ClusterEvent::ID`].
///
/// ```ignore
/// #[derive(Serialize, Deserialize)]
/// struct CacheCleared { team_id: String }
///
/// impl ClusterEvent for CacheCleared {
///     const ID: &'static str = "cache-cleared";
/// }
///
/// // On one node:
/// cx.api.publish_cluster_event(&CacheCleared { team_id }).await?;
///
/// // On the others:
/// async fn on_plugin_cluster_event(&self, cx: &Context, _pc: &proto::PluginContext, event: proto::PluginClusterEvent) {
///     match event.decode::<CacheCleared>() {
///         Ok(Some(cleared)) => self.cache.clear(&cleared.team_id),
///         Ok(None) => {} // another event
///         Err(e) => cx.log.warn(format!("a malformed event: {e}")),
///     }
/// }
/// ```
pub trait ClusterEvent: Serialize + DeserializeOwned {
    /// The event's id on the wire: what the receiving copies dispatch on.
    const ID: &'static str;
}

/// How [`PluginApiClient::publish_cluster_event_with`] delivers an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    best_effort: bool,
    node: Option<String>,
}

impl Delivery {
    /// Delivered for sure, to every other node (the default).
    pub fn reliable() -> Self {
        Self::default()
    }

    /// Delivered if the cluster can, to every other node; cheaper.
    pub fn best_effort() -> Self {
        Self { best_effort: true, node: None }
    }

    /// The same delivery, to the node with this id only.
    pub fn to_node(mut self, node_id: impl Into<String>) -> Self {
        self.node = Some(node_id.into());
        self
    }
}

/// Reads a [`ClusterEvent`] out of the event the server delivers, as
/// `event.decode::<E>()`; in the [`crate::prelude`].
///
/// A trait, because the message types live in the SDK's proto crate and
/// only that crate can give them methods of their own. Sealed: implemented
/// for [`proto::PluginClusterEvent`] only.
pub trait DecodeClusterEvent: sealed::Sealed {
    /// The event as `E`: `Ok(None)` when its id is not `E::ID` (another
    /// event), an error naming the event when its data is not `E`'s JSON.
    fn decode<E: ClusterEvent>(&self) -> Result<Option<E>, Error>;
}

impl DecodeClusterEvent for proto::PluginClusterEvent {
    fn decode<E: ClusterEvent>(&self) -> Result<Option<E>, Error> {
        if self.id != E::ID {
            return Ok(None);
        }
        serde_json::from_slice(&self.data).map(Some).map_err(|source| Error::Json { field: "event", source })
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::proto::PluginClusterEvent {}
}

//! Coordination between the nodes of a Mattermost HA cluster, where every
//! node runs its own copy of the plugin, through the server's KV store: a
//! mutex ([`Mutex`]), jobs run once per interval across the cluster
//! ([`interval::IntervalJob`]), and one-off jobs run once at a set time
//! ([`once::OnceJobs`]).
//!
//! ## The mutex
//!
//! The lock is a KV key written only when absent, with an expiry: its
//! holder refreshes the expiry while it holds the lock and deletes the key
//! (if still its own) when it lets go, so a holder that crashes loses the
//! lock when the expiry passes. The timings are those of Go's
//! `pluginapi/cluster` mutex (a 15 s expiry refreshed every 7.5 s), so Go
//! and Rust plugins can share lock keys.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::Error;
use crate::kv::KvBackend;

pub mod interval;
pub mod once;

pub use interval::IntervalJob;
pub use once::{JobError, OnceJobs};

/// How long a lock lives without a refresh.
pub const LOCK_TTL: Duration = Duration::from_secs(15);
/// How often a holder refreshes its lock.
pub const REFRESH_EVERY: Duration = Duration::from_millis(7_500);
/// The prefix of every lock's KV key.
pub const KEY_PREFIX: &str = "mutex_";

/// Why [`Mutex::lock`] did not get the lock.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockError {
    /// Another node held it for the whole wait.
    TimedOut {
        /// The lock's name.
        name: String,
        /// How long the call waited.
        waited: Duration,
    },
    /// A KV call failed.
    Api(Error),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut { name, waited } => {
                write!(f, "the lock {name:?} was still held by another node after {waited:?}")
            }
            Self::Api(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::TimedOut { .. } => None,
            Self::Api(e) => e.source(),
        }
    }
}

impl From<Error> for LockError {
    fn from(e: Error) -> Self {
        Self::Api(e)
    }
}

/// A lock shared by every node of a cluster, named by a KV key.
#[derive(Clone)]
pub struct Mutex<B> {
    backend: B,
    name: String,
    ttl: Duration,
    refresh: Duration,
}

impl<B> fmt::Debug for Mutex<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").field("name", &self.name).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl<B: KvBackend> Mutex<B> {
    /// The lock `name` (its KV key is `mutex_{name}`), with Go's timings.
    pub fn new(backend: B, name: impl Into<String>) -> Self {
        Self { backend, name: name.into(), ttl: LOCK_TTL, refresh: REFRESH_EVERY }
    }

    /// The same lock with another expiry, refreshed at half of it (whole
    /// seconds on the server, at least one).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(1));
        self.refresh = self.ttl / 2;
        self
    }

    /// The lock's KV key.
    pub fn key(&self) -> String {
        format!("{KEY_PREFIX}{}", self.name)
    }

    /// Takes the lock once, if nobody holds it: `Ok(None)` when someone does.
    pub async fn try_lock(&self) -> Result<Option<Guard<B>>, Error> {
        let holder = holder_id();
        let ttl = ttl_seconds(self.ttl);
        if !self.backend.kv_set_raw(self.key(), holder.clone().into_bytes(), true, Vec::new(), ttl).await? {
            return Ok(None);
        }
        Ok(Some(Guard::start(self.clone(), holder)))
    }

    /// Waits for the lock, up to `timeout`, polling with a jittered backoff
    /// of up to 250 ms. Dropping the future gives up the wait (cancellation).
    pub async fn lock(&self, timeout: Duration) -> Result<Guard<B>, LockError> {
        let started = tokio::time::Instant::now();
        let mut wait = Duration::from_millis(5);
        loop {
            if let Some(guard) = self.try_lock().await? {
                return Ok(guard);
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(LockError::TimedOut { name: self.name.clone(), waited });
            }
            tokio::time::sleep(crate::kv::jitter(wait).min(timeout - waited)).await;
            wait = (wait * 2).min(Duration::from_millis(250));
        }
    }
}

/// A held lock. It is refreshed in the background while held and released
/// when dropped (or by [`Guard::unlock`], which says whether it was still
/// held).
pub struct Guard<B: KvBackend> {
    mutex: Mutex<B>,
    holder: String,
    lost: Arc<AtomicBool>,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

impl<B: KvBackend> fmt::Debug for Guard<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").field("lock", &self.mutex.name).field("holder", &self.holder).finish_non_exhaustive()
    }
}

impl<B: KvBackend> Guard<B> {
    fn start(mutex: Mutex<B>, holder: String) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let refresher = {
            let (mutex, holder, lost) = (mutex.clone(), holder.clone(), Arc::clone(&lost));
            tokio::spawn(async move {
                let ttl = ttl_seconds(mutex.ttl);
                loop {
                    tokio::time::sleep(mutex.refresh).await;
                    let mine = holder.clone().into_bytes();
                    match mutex.backend.kv_set_raw(mutex.key(), mine.clone(), true, mine, ttl).await {
                        Ok(true) => {}
                        // Expired and taken, or deleted: not ours any more.
                        Ok(false) => {
                            tracing::warn!(lock = %mutex.name, "lost the cluster lock: it expired before a refresh");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        // A failed refresh is tried again; the expiry decides.
                        Err(e) => tracing::warn!(lock = %mutex.name, "cannot refresh the cluster lock: {e}"),
                    }
                }
            })
        };
        Self { mutex, holder, lost, refresher: Some(refresher) }
    }

    /// Whether a refresh found the lock gone (it expired and another node
    /// may hold it now).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// The id this holder wrote into the lock's key.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Lets the lock go now; `Ok(false)` when it was no longer this
    /// holder's (it expired).
    pub async fn unlock(mut self) -> Result<bool, Error> {
        if let Some(refresher) = self.refresher.take() {
            refresher.abort();
        }
        release(&self.mutex.backend, self.mutex.key(), &self.holder).await
    }
}

impl<B: KvBackend> Drop for Guard<B> {
    fn drop(&mut self) {
        let Some(refresher) = self.refresher.take() else { return };
        refresher.abort();
        // Released in the background: deleted only if still this holder's.
        let (backend, key, holder) = (self.mutex.backend.clone(), self.mutex.key(), self.holder.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = release(&backend, key, &holder).await {
                    tracing::warn!("cannot release the cluster lock (it will expire): {e}");
                }
            });
        }
    }
}

fn ttl_seconds(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX).max(1)
}

/// A holder id unique across nodes and calls: random, 128 bits, hex.
fn holder_id() -> String {
    format!("{:016x}{:016x}", crate::kv::random_u64(), crate::kv::random_u64())
}

/// Deletes the lock's key if it still holds `holder` (an atomic write of
/// nothing: the server's compare-and-delete); `Ok(false)` when it did not.
async fn release<B: KvBackend>(backend: &B, key: String, holder: &str) -> Result<bool, Error> {
    backend.kv_set_raw(key, Vec::new(), true, holder.as_bytes().to_vec(), 0).await
}

//! One-off jobs: run once, at a set time, by one node of the cluster, even
//! if the node running it dies.
//!
//! A scheduled job is a KV record (`once_{key}`: when it is due and its
//! payload). Every node runs a [`OnceJobs`] that looks for due records and,
//! for each, tries the job's cluster lock (`mutex_once_{key}`) without
//! waiting. The node that gets it reads the record again (it may be gone:
//! done or cancelled), runs the job, deletes the record, and lets the lock
//! go. A node that dies mid-run stops refreshing the lock, so once its
//! expiry passes another node takes it, finds the record still there, and
//! runs the job again: a job finishes once, but a run cut short by its
//! node's death is started again. Make a job safe to restart (check what
//! the last attempt did, or keep its progress in the KV store).

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::{LockError, Mutex};
use crate::kv::{Kv, KvBackend, KvError};
use crate::panic::CatchUnwind;

/// The prefix of a one-off job's KV record (`once_{key}`); its lock is the
/// cluster mutex of the same name (`mutex_once_{key}`).
pub const ONCE_PREFIX: &str = "once_";

/// How often [`OnceJobs`] looks for due jobs by default (jittered). A job
/// scheduled on this node is seen at once; one scheduled on another node,
/// or left by a node that died, within this time.
pub const POLL_EVERY: Duration = Duration::from_secs(10);

/// The longest key a job may have: the KV store's 150 characters less the
/// lock's prefix `mutex_once_`.
pub const MAX_KEY_CHARS: usize = 150 - 11;

/// A scheduled job's KV record: `{"run_at_ms": …, "payload": …}`.
#[derive(Debug, Clone)]
struct Record<T> {
    /// When it is due, in milliseconds since the Unix epoch.
    run_at_ms: u64,
    /// What the job gets.
    payload: T,
}

impl<T: DeserializeOwned> Record<T> {
    fn from_json(mut value: Value) -> Result<Self, serde_json::Error> {
        use serde::de::Error as _;
        let run_at_ms =
            value.get("run_at_ms").and_then(Value::as_u64).ok_or_else(|| serde_json::Error::custom("no run_at_ms"))?;
        let payload =
            value.get_mut("payload").map(Value::take).ok_or_else(|| serde_json::Error::custom("no payload"))?;
        Ok(Self { run_at_ms, payload: serde_json::from_value(payload)? })
    }
}

/// The record `key` holds, if any.
async fn read_record<B: KvBackend, T: DeserializeOwned>(kv: &Kv<B>, key: &str) -> Result<Option<Record<T>>, KvError> {
    match kv.get::<Value>(key).await? {
        None => Ok(None),
        Some(value) => {
            Record::from_json(value).map(Some).map_err(|source| KvError::Decode { key: key.to_owned(), source })
        }
    }
}

/// A job waiting to run, as [`OnceJobs::scheduled`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled<T> {
    /// The job's key.
    pub key: String,
    /// When it is due.
    pub run_at: SystemTime,
    /// What the job gets.
    pub payload: T,
}

/// Why [`OnceJobs::schedule`] or [`OnceJobs::cancel`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum JobError {
    /// A job with this key is scheduled already (cancel it first to
    /// schedule it again).
    AlreadyScheduled(String),
    /// The key is empty or longer than [`MAX_KEY_CHARS`].
    BadKey(usize),
    /// The KV store failed.
    Kv(KvError),
    /// The job's lock was not to be had (a run went on for the whole wait).
    Lock(LockError),
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyScheduled(key) => write!(f, "a one-off job {key:?} is scheduled already"),
            Self::BadKey(chars) => {
                write!(f, "a one-off job's key must have 1 to {MAX_KEY_CHARS} characters, not {chars}")
            }
            Self::Kv(e) => e.fmt(f),
            Self::Lock(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for JobError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::AlreadyScheduled(_) | Self::BadKey(_) => None,
            Self::Kv(e) => e.source(),
            Self::Lock(e) => e.source(),
        }
    }
}

impl From<KvError> for JobError {
    fn from(e: KvError) -> Self {
        Self::Kv(e)
    }
}

impl From<LockError> for JobError {
    fn from(e: LockError) -> Self {
        Self::Lock(e)
    }
}

type Job<T> = dyn Fn(String, T) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync;

/// This node's one-off job runner: schedules jobs for the cluster and runs
/// the due ones it wins. Every node runs one (typically started in
/// `OnActivate`) with the same job function; the payload type `T` is what
/// each job gets with its key. Dropping it stops this node's part in the
/// background, after the runs in progress here end ([`OnceJobs::stop`]
/// waits for that); the jobs stay scheduled for the other nodes.
pub struct OnceJobs<B, T> {
    shared: Arc<Shared<B, T>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

struct Shared<B, T> {
    kv: Kv<B>,
    job: Box<Job<T>>,
    poll: Duration,
    /// Keys this node is running now.
    running: StdMutex<HashSet<String>>,
    /// Wakes the poller early (a job was scheduled here).
    wake: Notify,
}

impl<B, T> fmt::Debug for OnceJobs<B, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceJobs").field("poll", &self.shared.poll).finish_non_exhaustive()
    }
}

impl<B, T> OnceJobs<B, T>
where
    B: KvBackend,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Starts this node's runner, looking for due jobs every `poll`
    /// ([`POLL_EVERY`] is the usual choice). `job` runs each due job this
    /// node wins, with its key and payload; when it returns (`Ok`, `Err`,
    /// or a panic, the last two logged) the job is done and unscheduled.
    /// Needs a Tokio runtime.
    pub fn start<F, Fut, E>(backend: B, poll: Duration, job: F) -> Self
    where
        F: Fn(String, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        // `job` is called when the run's future is first polled, inside the
        // runner's panic guard: a closure that panics before returning its
        // future fails that run only, logged, and the job is unscheduled.
        let job = Arc::new(job);
        let job: Box<Job<T>> = Box::new(move |key, payload| {
            let job = Arc::clone(&job);
            Box::pin(async move { job(key, payload).await.map_err(|e| e.to_string()) })
        });
        let shared = Arc::new(Shared {
            kv: Kv::new(backend),
            job,
            poll: poll.max(Duration::from_millis(1)),
            running: StdMutex::new(HashSet::new()),
            wake: Notify::new(),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(Arc::clone(&shared).poll_loop(stopped));
        Self { shared, stop, task: Some(task) }
    }

    /// Schedules the job `key` to run at `run_at` (now or in the past: at
    /// once) with `payload`, for whichever node gets to it first.
    pub async fn schedule(&self, key: &str, run_at: SystemTime, payload: &T) -> Result<(), JobError> {
        let chars = key.chars().count();
        if chars == 0 || chars > MAX_KEY_CHARS {
            return Err(JobError::BadKey(chars));
        }
        let record_key = record_key(key);
        let payload =
            serde_json::to_value(payload).map_err(|source| KvError::Encode { key: record_key.clone(), source })?;
        let record = json!({ "run_at_ms": millis(run_at), "payload": payload });
        if !self.shared.kv.insert(&record_key, &record).await? {
            return Err(JobError::AlreadyScheduled(key.to_owned()));
        }
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Unschedules the job `key`; `Ok(false)` when it was not scheduled. A
    /// run already started elsewhere is not stopped: this waits (up to the
    /// lock's expiry) for it to end.
    pub async fn cancel(&self, key: &str) -> Result<bool, JobError> {
        let guard = Mutex::new(self.shared.kv.backend().clone(), record_key(key)).lock(super::LOCK_TTL).await?;
        let there = self.shared.kv.get::<serde_json::Value>(&record_key(key)).await?.is_some();
        if there {
            self.shared.kv.delete(&record_key(key)).await?;
        }
        let _ = guard.unlock().await;
        Ok(there)
    }

    /// The jobs scheduled now, due first. A record this runner cannot read
    /// (another payload type) is left out and logged.
    pub async fn scheduled(&self) -> Result<Vec<Scheduled<T>>, KvError> {
        let mut jobs = Vec::new();
        for (key, record) in self.shared.records().await? {
            jobs.push(Scheduled {
                key,
                run_at: UNIX_EPOCH + Duration::from_millis(record.run_at_ms),
                payload: record.payload,
            });
        }
        jobs.sort_by(|a, b| a.run_at.cmp(&b.run_at).then_with(|| a.key.cmp(&b.key)));
        Ok(jobs)
    }

    /// Stops this node's runner after the runs in progress here end.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl<B, T> Drop for OnceJobs<B, T> {
    fn drop(&mut self) {
        // The poller sees it, lets the runs in progress end, and ends.
        let _ = self.stop.send(true);
    }
}

impl<B, T> Shared<B, T>
where
    B: KvBackend,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    async fn poll_loop(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut runs = tokio::task::JoinSet::new();
        loop {
            // Reap the runs that ended.
            while runs.try_join_next().is_some() {}
            let next_due = self.start_due(&mut runs).await;
            let until_due = next_due.map_or(Duration::MAX, |at| at.saturating_sub(now_ms_duration()));
            let wait = crate::kv::jitter(self.poll / 5).saturating_add(self.poll - self.poll / 10).min(until_due);
            let stop = tokio::select! {
                () = tokio::time::sleep(wait) => false,
                () = self.wake.notified() => false,
                stop = stopped.wait_for(|stop| *stop) => stop.is_ok(),
            };
            if stop {
                // Let this node's runs in progress end.
                while runs.join_next().await.is_some() {}
                return;
            }
        }
    }

    /// Starts a run for each due job not running here; answers when the
    /// next job not yet due is due.
    async fn start_due(self: &Arc<Self>, runs: &mut tokio::task::JoinSet<()>) -> Option<Duration> {
        let records = match self.records().await {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!("cannot list the one-off jobs: {e}");
                return None;
            }
        };
        let now = now_ms_duration();
        let mut next = None::<Duration>;
        for (key, record) in records {
            let due = Duration::from_millis(record.run_at_ms);
            if due > now {
                next = Some(next.map_or(due, |n| n.min(due)));
                continue;
            }
            if !self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone()) {
                continue;
            }
            let shared = Arc::clone(self);
            runs.spawn(async move {
                shared.attempt(&key).await;
                shared.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
            });
        }
        next
    }

    /// Runs the job `key` if this node wins its lock and it is still due.
    async fn attempt(&self, key: &str) {
        let lock = Mutex::new(self.kv.backend().clone(), record_key(key));
        let guard = match lock.try_lock().await {
            Ok(Some(guard)) => guard,
            // Another node runs it (or ran it and is letting go).
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(job = %key, "cannot take the one-off job's lock: {e}");
                return;
            }
        };
        match read_record::<B, T>(&self.kv, &record_key(key)).await {
            Ok(Some(record)) if Duration::from_millis(record.run_at_ms) <= now_ms_duration() => {
                match CatchUnwind(Box::pin((self.job)(key.to_owned(), record.payload))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(job = %key, "the one-off job failed: {e}"),
                    Err(panic) => tracing::error!(job = %key, "the one-off job panicked: {panic}"),
                }
                if let Err(e) = self.kv.delete(&record_key(key)).await {
                    tracing::error!(job = %key, "cannot unschedule the finished one-off job (it may run again): {e}");
                }
            }
            // Done or cancelled meanwhile, or rescheduled for later.
            Ok(_) => {}
            Err(e) => tracing::warn!(job = %key, "cannot read the one-off job: {e}"),
        }
        if let Err(e) = guard.unlock().await {
            tracing::warn!(job = %key, "cannot release the one-off job's lock (it will expire): {e}");
        }
    }

    /// Every scheduled job's record this runner can read.
    async fn records(&self) -> Result<Vec<(String, Record<T>)>, KvError> {
        let mut keys = std::pin::pin!(self.kv.keys_with_prefix(ONCE_PREFIX));
        let mut records = Vec::new();
        while let Some(full) = keys.next().await {
            let full = full?;
            match read_record::<B, T>(&self.kv, &full).await {
                Ok(Some(record)) => records.push((full[ONCE_PREFIX.len()..].to_owned(), record)),
                // Done since the listing.
                Ok(None) => {}
                Err(KvError::Decode { key, source }) => {
                    tracing::warn!(job = %key, "a one-off job this runner cannot read, left alone: {source}");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(records)
    }
}

fn record_key(key: &str) -> String {
    format!("{ONCE_PREFIX}{key}")
}

fn millis(at: SystemTime) -> u64 {
    u64::try_from(at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(u64::MAX)
}

fn now_ms_duration() -> Duration {
    Duration::from_millis(millis(SystemTime::now()))
}

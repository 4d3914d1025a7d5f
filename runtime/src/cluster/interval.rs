//! Jobs that run once per interval across every node of a cluster.
//!
//! Time is cut into windows of the job's interval, counted from the Unix
//! epoch (an hourly job's windows are the clock's hours). Each node wakes at
//! the start of every window, takes the job's cluster lock, and runs the
//! job only if the job's KV record says nobody has run it in this window
//! yet; after the run it writes the window into the record. So the job
//! runs once per window whichever nodes are up, a node that joins late
//! finds the window done, and a window in which no node was up is simply
//! skipped (no catch-up burst).

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{LockError, Mutex};
use crate::kv::{Kv, KvBackend};
use crate::panic::CatchUnwind;

/// The prefix of an interval job's KV record (`cron_{name}`); its lock is
/// the cluster mutex of the same name (`mutex_cron_{name}`).
pub const JOB_PREFIX: &str = "cron_";

/// What the job's KV record keeps: the last window a run finished in, as
/// `{"window": …, "finished_ms": …}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobRecord {
    /// The window, counted from the Unix epoch in whole intervals.
    pub window: u64,
    /// When that run finished, in milliseconds since the Unix epoch.
    pub finished_ms: u64,
}

impl JobRecord {
    fn to_json(self) -> Value {
        json!({ "window": self.window, "finished_ms": self.finished_ms })
    }

    /// The record in `value`; `None` when it is not one (it is then
    /// overwritten by the next run).
    fn from_json(value: &Value) -> Option<Self> {
        Some(Self { window: value.get("window")?.as_u64()?, finished_ms: value.get("finished_ms")?.as_u64()? })
    }
}

/// A job running once per interval across the cluster, on this node's
/// side. Dropping it stops this node's part in the background, after the
/// run in progress (if any) is done and recorded: a run is never cut
/// between the job and its record, which would let another node run the
/// window again. [`IntervalJob::stop`] does the same and waits for it. The
/// other nodes go on running the job.
pub struct IntervalJob {
    name: String,
    every: Duration,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for IntervalJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntervalJob").field("name", &self.name).field("every", &self.every).finish_non_exhaustive()
    }
}

impl IntervalJob {
    /// Starts this node's part of the job `name`, run once in every window
    /// of `every` (a zero interval counts as a millisecond). `job` is called
    /// for each window this node wins; an `Err` or a panic is logged and
    /// the window still counts as done (the next window runs again).
    ///
    /// Call it on every node, typically in `OnActivate`, and keep the
    /// handle for as long as the plugin runs. Needs a Tokio runtime.
    pub fn start<B, F, Fut, E>(backend: B, name: impl Into<String>, every: Duration, job: F) -> Self
    where
        B: KvBackend,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        let name = name.into();
        let every = every.max(Duration::from_millis(1));
        let (stop, stopped) = watch::channel(false);
        let key = format!("{JOB_PREFIX}{name}");
        let runner = Runner {
            kv: Kv::new(backend.clone()),
            mutex: Mutex::new(backend, key.clone()),
            key,
            name: name.clone(),
            every,
            job,
        };
        let task = tokio::spawn(runner.run(stopped));
        Self { name, every, stop, task: Some(task) }
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops this node's part, after the run in progress (if any) ends.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for IntervalJob {
    fn drop(&mut self) {
        // The task sees it between runs and ends.
        let _ = self.stop.send(true);
    }
}

struct Runner<B, F> {
    kv: Kv<B>,
    mutex: Mutex<B>,
    key: String,
    name: String,
    every: Duration,
    job: F,
}

impl<B, F, Fut, E> Runner<B, F>
where
    B: KvBackend,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + 'static,
{
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        loop {
            let now = since_epoch();
            let window = window_of(now, self.every);
            self.window(window, &mut stopped).await;
            // Sleep to the next window's start, plus a little jitter so the
            // nodes do not all knock on the lock at the same instant.
            let next = start_of(window.saturating_add(1), self.every).unwrap_or(Duration::MAX);
            let jitter = crate::kv::jitter((self.every / 20).min(Duration::from_millis(500)));
            let wait = next.saturating_sub(since_epoch()).saturating_add(jitter);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            if *stopped.borrow() {
                return;
            }
        }
    }

    async fn record(&self) -> Result<Option<JobRecord>, crate::kv::KvError> {
        Ok(self.kv.get::<Value>(&self.key).await?.as_ref().and_then(JobRecord::from_json))
    }

    /// Runs the job for `window` if nobody has yet.
    async fn window(&self, window: u64, stopped: &mut watch::Receiver<bool>) {
        match self.record().await {
            Ok(Some(done)) if done.window >= window => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(job = %self.name, "cannot read the job's record: {e}");
                return;
            }
        }
        // Wait for the lock no longer than the window lasts.
        let left =
            start_of(window.saturating_add(1), self.every).map_or(self.every, |end| end.saturating_sub(since_epoch()));
        let lock = tokio::select! {
            lock = self.mutex.lock(left) => lock,
            // Stopped while waiting: nothing taken, nothing to undo.
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        let guard = match lock {
            Ok(guard) => guard,
            Err(LockError::TimedOut { .. }) => return,
            Err(e) => {
                tracing::warn!(job = %self.name, "cannot take the job's lock: {e}");
                return;
            }
        };
        // Read again under the lock: another node may have run it meanwhile.
        match self.record().await {
            Ok(Some(done)) if done.window >= window => {}
            Ok(_) => {
                // The job's closure is called inside the guard too: a panic
                // before it returns its future is the run's panic, not the
                // end of this node's part of the job.
                match CatchUnwind(Box::pin(async { (self.job)().await })).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(job = %self.name, "the job failed: {e}"),
                    Err(panic) => tracing::error!(job = %self.name, "the job panicked: {panic}"),
                }
                let finished_ms = u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX);
                if let Err(e) = self.kv.set(&self.key, &JobRecord { window, finished_ms }.to_json()).await {
                    tracing::error!(job = %self.name, "cannot record the run (another node may run this window again): {e}");
                }
            }
            Err(e) => tracing::warn!(job = %self.name, "cannot read the job's record: {e}"),
        }
        if let Err(e) = guard.unlock().await {
            tracing::warn!(job = %self.name, "cannot release the job's lock (it will expire): {e}");
        }
    }
}

/// The wall clock, as time since the Unix epoch (zero before it).
pub(crate) fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The window `at` falls in.
pub fn window_of(at: Duration, every: Duration) -> u64 {
    u64::try_from(at.as_nanos() / every.as_nanos().max(1)).unwrap_or(u64::MAX)
}

/// When `window` starts; `None` past the range of `Duration`.
pub fn start_of(window: u64, every: Duration) -> Option<Duration> {
    let nanos = u128::from(window).checked_mul(every.as_nanos())?;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    Some(Duration::new(secs, u32::try_from(nanos % 1_000_000_000).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_intervals_from_the_epoch() {
        let hour = Duration::from_secs(3600);
        assert_eq!(window_of(Duration::from_secs(7199), hour), 1);
        assert_eq!(window_of(Duration::from_secs(7200), hour), 2);
        assert_eq!(start_of(2, hour), Some(Duration::from_secs(7200)));
        let odd = Duration::from_millis(250);
        assert_eq!(window_of(Duration::from_millis(1_000_249), odd), 4000);
        assert_eq!(start_of(4001, odd), Some(Duration::from_millis(1_000_250)));
        assert_eq!(start_of(u64::MAX, Duration::MAX), None);
        assert_eq!(window_of(Duration::MAX, Duration::from_nanos(1)), u64::MAX);
    }
}

//! Work a plugin runs after a hook has answered, Go's `go p.work(…)`:
//! spawned on the plugin's runtime, counted so that a test can wait for it,
//! and ended with the plugin.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tracing::Instrument as _;
use tracing::instrument::WithSubscriber as _;

use crate::panic::CatchUnwind;

/// The work a plugin started in the background. Cloning is cheap: clones
/// count the same work.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    running: AtomicUsize,
    idle: Notify,
    /// The running tasks, to cancel them when the plugin stops; by id.
    handles: Mutex<Vec<(tokio::task::Id, AbortHandle)>>,
}

/// One running task, until dropped (ended, cancelled or panicked).
struct Running(Arc<Inner>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(id) = tokio::task::try_id() {
            self.0.handles.lock().unwrap_or_else(PoisonError::into_inner).retain(|(task, _)| *task != id);
        }
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Tasks {
    /// Runs `work` on the current tokio runtime, in the background. It keeps
    /// the caller's `tracing` span and subscriber (its log lines carry the
    /// hook it was started from), and the in-process hop count of
    /// [`crate::transport::hop`]. A panic in it is logged, named `what`,
    /// and ends only that work.
    pub fn spawn<F>(&self, what: &'static str, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.running.fetch_add(1, Ordering::AcqRel);
        let running = Running(Arc::clone(&self.inner));
        let hops = crate::transport::hop();
        let work = crate::transport::at_hop(hops, work.in_current_span()).with_current_subscriber();
        // Held while spawning: the task, ending at once on another thread,
        // waits to take its own handle out until it is in.
        let mut handles = self.inner.handles.lock().unwrap_or_else(PoisonError::into_inner);
        let handle = tokio::spawn(async move {
            let _running = running;
            if let Err(message) = CatchUnwind(std::pin::pin!(work)).await {
                tracing::error!("{what} panicked: {message}");
            }
        });
        handles.push((handle.id(), handle.abort_handle()));
    }

    /// How many tasks are running now.
    pub fn count(&self) -> usize {
        self.inner.running.load(Ordering::Acquire)
    }

    /// Waits until no task is running, those started meanwhile included.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Cancels every task still running (the plugin is stopping).
    pub fn abort_all(&self) {
        let handles = std::mem::take(&mut *self.inner.handles.lock().unwrap_or_else(PoisonError::into_inner));
        for (_, handle) in handles {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn work_runs_after_the_caller_and_is_waited_for() {
        let tasks = Tasks::default();
        let done = Arc::new(AtomicUsize::new(0));
        let (later, inner) = (Arc::clone(&done), tasks.clone());
        tasks.spawn("a reminder", async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let last = Arc::clone(&later);
            // Work started by running work is waited for too.
            inner.spawn("a follow-up", async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                last.fetch_add(1, Ordering::SeqCst);
            });
            later.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!((tasks.count(), done.load(Ordering::SeqCst)), (1, 0), "running, not done");
        tasks.idle().await;
        assert_eq!((tasks.count(), done.load(Ordering::SeqCst)), (0, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_cancels_what_still_runs_and_a_panic_ends_only_its_own_work() {
        let tasks = Tasks::default();
        let done = Arc::new(AtomicUsize::new(0));
        let never = Arc::clone(&done);
        tasks.spawn("a long job", async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            never.fetch_add(1, Ordering::SeqCst);
        });
        tasks.spawn("a broken job", async { panic!("broken") });
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(tasks.count(), 1, "the panic ended its own work only");
        tasks.abort_all();
        tokio::time::timeout(Duration::from_secs(1), tasks.idle()).await.expect("cancelled");
        assert_eq!(done.load(Ordering::SeqCst), 0);
    }
}

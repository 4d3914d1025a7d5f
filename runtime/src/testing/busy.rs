//! Work running in the background of a test kit, counted so that a test can
//! wait for it to end.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A count of background tasks, and a way to wait until there are none.
/// Cloning is cheap: clones count the same tasks.
#[derive(Debug, Clone, Default)]
pub struct Busy {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    running: AtomicUsize,
    idle: Notify,
}

/// One task counted by a [`Busy`], until dropped.
struct Running(Arc<Inner>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Busy {
    /// Spawns `task` on the current runtime, counted until it ends (or is
    /// cancelled, or panics).
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.running.fetch_add(1, Ordering::AcqRel);
        let running = Running(Arc::clone(&self.inner));
        tokio::spawn(async move {
            let _running = running;
            task.await;
        });
    }

    /// How many tasks are running now.
    pub fn count(&self) -> usize {
        self.inner.running.load(Ordering::Acquire)
    }

    /// [`Busy::idle`], for at most `limit`: whether it came.
    pub async fn idle_within(&self, limit: std::time::Duration) -> bool {
        tokio::time::timeout(limit, self.idle()).await.is_ok()
    }

    /// Waits until no task is running. A task spawned while it waits (by a
    /// running one) is waited for too.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_every_task_and_the_tasks_they_start() {
        let busy = Busy::default();
        let done = Arc::new(AtomicUsize::new(0));
        let (inner_busy, inner_done) = (busy.clone(), Arc::clone(&done));
        busy.spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let later = Arc::clone(&inner_done);
            inner_busy.spawn(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                later.fetch_add(1, Ordering::SeqCst);
            });
            inner_done.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(busy.count(), 1);
        busy.idle().await;
        assert_eq!(done.load(Ordering::SeqCst), 2, "both the task and the one it started ended");
        assert_eq!(busy.count(), 0);
    }

    #[tokio::test]
    async fn a_task_that_panics_is_no_longer_counted() {
        let busy = Busy::default();
        busy.spawn(async { panic!("a hook went wrong") });
        tokio::time::timeout(Duration::from_secs(5), busy.idle()).await.expect("idle after the panic");
    }
}

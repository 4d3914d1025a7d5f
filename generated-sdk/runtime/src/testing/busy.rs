//! Work running in the background of a test kit, counted so that a test can
//! wait for it to end.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// `future`'s output, or `Err` once `limit` has passed on the wall clock.
/// Not tokio's clock: in a test that pauses it, tokio moves its clock to the
/// next timer whenever nothing else can run, and a timeout of its own would
/// be that timer, cutting short the work it waits for (a reminder due in an
/// hour). A thread keeps the time, and ends when `future` does.
pub async fn within<F: Future>(limit: std::time::Duration, future: F) -> Result<F::Output, ()> {
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let (late, too_late) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(limit) {
            let _ = late.send(());
        }
    });
    let outcome = tokio::select! {
        output = future => Ok(output),
        _ = too_late => Err(()),
    };
    drop(done);
    outcome
}

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

    #[tokio::test(start_paused = true)]
    async fn within_keeps_wall_clock_time_so_a_paused_clock_still_reaches_an_hour() {
        let an_hour = within(Duration::from_secs(10), tokio::time::sleep(Duration::from_secs(3600))).await;
        assert!(an_hour.is_ok(), "tokio's paused clock jumped the hour; the wall clock did not time out");
        let started = std::time::Instant::now();
        let never = within(Duration::from_millis(50), std::future::pending::<()>()).await;
        assert!(never.is_err());
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_task_that_panics_is_no_longer_counted() {
        let busy = Busy::default();
        busy.spawn(async { panic!("a hook went wrong") });
        tokio::time::timeout(Duration::from_secs(5), busy.idle()).await.expect("idle after the panic");
    }
}

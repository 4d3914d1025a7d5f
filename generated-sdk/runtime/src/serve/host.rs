//! Knowing when to stop: the host's connections, the host process, and
//! signals.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::shutdown::Shutdown;

/// How long the plugin waits for the host to reconnect once its last
/// connection has closed.
const RECONNECT_GRACE: Duration = Duration::from_secs(2);
/// How often the plugin checks that its parent process is still there.
const PARENT_POLL: Duration = Duration::from_millis(500);

/// Live connections from the host.
#[derive(Default)]
pub(crate) struct Tracker {
    live: AtomicUsize,
    seen: AtomicBool,
    changed: Notify,
}

impl Tracker {
    /// Whether a connection was ever counted as the host's.
    #[cfg(test)]
    pub(crate) fn seen(&self) -> bool {
        self.seen.load(Ordering::SeqCst)
    }
}

/// Held by each connection; the count drops with it.
pub(crate) struct Guard(Arc<Tracker>);

impl Guard {
    pub(crate) fn new(tracker: Arc<Tracker>) -> Self {
        tracker.live.fetch_add(1, Ordering::SeqCst);
        tracker.seen.store(true, Ordering::SeqCst);
        Self(tracker)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.changed.notify_one();
        }
    }
}

/// Stops the plugin when the host is gone: its last connection closed and
/// none came back within the grace time, or its process went away.
pub(crate) fn watch_host(tracker: Arc<Tracker>, shutdown: Shutdown) {
    let stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tracker.changed.notified() => {}
                () = stop.wait() => return,
            }
            tokio::time::sleep(RECONNECT_GRACE).await;
            if tracker.seen.load(Ordering::SeqCst) && tracker.live.load(Ordering::SeqCst) == 0 {
                tracing::info!("the host closed its connection; stopping");
                stop.trigger();
                return;
            }
        }
    });
    #[cfg(unix)]
    tokio::spawn(async move {
        let parent = std::os::unix::process::parent_id();
        loop {
            tokio::select! {
                () = tokio::time::sleep(PARENT_POLL) => {}
                () = shutdown.wait() => return,
            }
            if std::os::unix::process::parent_id() != parent {
                tracing::info!("the host process is gone; stopping");
                shutdown.trigger();
                return;
            }
        }
    });
}

/// SIGTERM stops the plugin gracefully. SIGINT is ignored, as go-plugin
/// plugins do: a Ctrl-C at the server's terminal reaches the whole process
/// group, and the host stops its plugins itself.
pub(crate) fn watch_signals(shutdown: Shutdown) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered here, synchronously; only the waiting is on a task.
        let (Ok(mut term), Ok(mut interrupt)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        else {
            tracing::warn!("cannot listen for signals");
            return;
        };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => {
                        tracing::info!("SIGTERM; stopping");
                        shutdown.trigger();
                        return;
                    }
                    _ = interrupt.recv() => tracing::debug!("SIGINT ignored; the host stops its plugins"),
                    () = shutdown.wait() => return,
                }
            }
        });
    }
}

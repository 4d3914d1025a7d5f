//! Knowing when to stop: the host's connections, the host process, and
//! signals.
//!
//! The host process is watched from the very start of the plugin: its pid is
//! read before anything else ([`Parent::at_start`]), and on Linux the kernel
//! is asked to send SIGTERM when it dies ([`Parent::guard`]), so a host that
//! exits a few milliseconds after starting the plugin does not leave it
//! running, holding its port, forever.

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

/// The host process as the plugin first saw it: the parent pid, read first
/// thing, before the host has had time to go away.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parent {
    #[cfg(unix)]
    pid: u32,
}

impl Parent {
    /// Reads the parent pid. Call it before anything else: once the parent
    /// is gone, the pid read is the reaper's (init, or a subreaper), and
    /// nothing tells that the host went away.
    pub(crate) fn at_start() -> Self {
        Self {
            #[cfg(unix)]
            pid: std::os::unix::process::parent_id(),
        }
    }

    /// Makes sure the plugin does not outlive its host. On Linux, the kernel
    /// sends SIGTERM (a graceful stop, see [`watch_signals`], which must be
    /// listening already) when the parent dies; then the parent is read again
    /// to close the race with a parent that died before the request. An error
    /// when the host is already gone: the plugin must exit at once.
    ///
    /// The parent-death signal belongs to the calling thread: `serve_hooks`
    /// runs this on the main thread, which lives as long as the process.
    pub(crate) fn guard(self) -> Result<(), String> {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no
            // memory of ours.
            let set = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0) };
            if set != 0 {
                tracing::warn!(
                    "cannot ask to be signalled when the host exits ({}); relying on polling",
                    std::io::Error::last_os_error()
                );
            }
        }
        #[cfg(unix)]
        {
            let now = std::os::unix::process::parent_id();
            if now != self.pid {
                return Err(format!(
                    "the host process (pid {}) exited before the plugin started (its parent is now pid {now}); exiting",
                    self.pid
                ));
            }
            if self.pid == 1 && !init_may_be_the_host() {
                return Err("the host process exited before the plugin started (its parent is already init, \
                            pid 1); exiting"
                    .to_owned());
            }
        }
        Ok(())
    }

    /// Whether the parent is not the one read at start any more.
    #[cfg(unix)]
    fn changed(self) -> bool {
        std::os::unix::process::parent_id() != self.pid
    }
}

/// Parent pid 1 is init: either the host died before the plugin could read
/// its pid (the plugin was orphaned and adopted), or the host *is* pid 1, as
/// a server run as a container's main process is. A go-plugin host starts
/// its plugins in its own session (it never calls setsid for them), so pid 1
/// can be the host only when it is in the plugin's session.
#[cfg(unix)]
fn init_may_be_the_host() -> bool {
    // SAFETY: getsid reads the session id of a pid, nothing else.
    let (ours, init) = unsafe { (libc::getsid(0), libc::getsid(1)) };
    ours == -1 || init == -1 || ours == init
}

/// Stops the plugin when the host is gone: its last connection closed and
/// none came back within the grace time, or its process went away (the
/// parent read at start is not the parent any more).
pub(crate) fn watch_host(parent: Parent, tracker: Arc<Tracker>, shutdown: Shutdown) {
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
    // A backstop for the parent-death signal, and the only watch where there
    // is none (other Unixes).
    #[cfg(unix)]
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(PARENT_POLL) => {}
                () = shutdown.wait() => return,
            }
            if parent.changed() {
                tracing::info!("the host process is gone; stopping");
                shutdown.trigger();
                return;
            }
        }
    });
}

/// SIGTERM stops the plugin gracefully: an administrator's, or the kernel's
/// when the host dies ([`Parent::guard`]). SIGINT is ignored, as go-plugin
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

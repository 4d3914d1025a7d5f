//! Knowing when to stop: the host's connections, the host process, and
//! signals.
//!
//! The host process is watched from the very start of the plugin: its pid is
//! read before anything else ([`Parent::at_start`]), and on Linux the kernel
//! is asked to send SIGTERM when it dies ([`Parent::guard`]), so a host that
//! exits a few milliseconds after starting the plugin does not leave it
//! running, holding its port, forever.
//!
//! A go-plugin host also holds the only reader of the plugin's stdout: it
//! starts the plugin with a pipe for stdout and reads it for as long as it
//! runs (go-plugin's `Client.Start`: `cmd.StdoutPipe()`, then a goroutine that
//! scans it). A stdout pipe with no reader left means the host is gone, even
//! when the parent pid cannot tell (a plugin orphaned before it could read
//! it, and adopted by an init whose process group it shares).

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
                            pid 1, in another process group); exiting"
                    .to_owned());
            }
            if stdout_unread() {
                return Err("the host process exited before the plugin started (nobody reads the plugin's \
                            stdout pipe); exiting"
                    .to_owned());
            }
        }
        Ok(())
    }

    /// Whether the host is gone: the parent is not the one read at start
    /// any more, or nobody reads the plugin's stdout pipe.
    #[cfg(unix)]
    fn gone(self) -> Option<&'static str> {
        if std::os::unix::process::parent_id() != self.pid {
            Some("the host process is gone")
        } else if stdout_unread() {
            Some("nobody reads the plugin's stdout pipe: the host is gone")
        } else {
            None
        }
    }
}

/// Parent pid 1 is init: either the host died before the plugin could read
/// its pid (the plugin was orphaned and adopted), or the host *is* pid 1, as
/// a server run as a container's main process is. A go-plugin host leaves
/// its plugins in its own process group (Mattermost starts them with a plain
/// `exec.Command`, go-plugin sets no process attributes), so pid 1 can be the
/// host only when the plugin is in init's process group. When that cannot
/// be read, it may be.
#[cfg(unix)]
fn init_may_be_the_host() -> bool {
    // SAFETY: getpgid reads the process group id of a pid, nothing else.
    let (ours, init) = unsafe { (libc::getpgid(0), libc::getpgid(1)) };
    ours == -1 || init == -1 || ours == init
}

/// Whether the plugin's stdout is a pipe that nobody reads any more.
#[cfg(unix)]
fn stdout_unread() -> bool {
    use std::os::fd::AsFd;
    pipe_unread(std::io::stdout().as_fd())
}

/// Whether `fd` is the write end of a pipe (or FIFO) whose every reader has
/// closed it. Anything else (a file, a terminal, a socket, /dev/null, a
/// closed descriptor) is not: only a pipe tells that its reader is gone.
#[cfg(unix)]
fn pipe_unread(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a `stat` into the buffer it is given, which is
    // large enough, and touches nothing else; the buffer is read only when
    // it succeeded.
    if unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: fstat succeeded, so it filled the buffer.
    let mode = unsafe { stat.assume_init() }.st_mode;
    if mode & libc::S_IFMT != libc::S_IFIFO {
        return false;
    }
    let mut poll = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd, and a zero timeout: poll only reads the
    // descriptor's state into `revents`.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    // The write end of a pipe without readers polls as an error (Linux)
    // or a hang-up (some BSDs).
    ready == 1 && poll.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Stops the plugin when the host is gone: its last connection closed and
/// none came back within the grace time, or its process went away (the
/// parent read at start is not the parent any more, or nobody reads the
/// plugin's stdout pipe).
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
            if let Some(why) = parent.gone() {
                tracing::info!("{why}; stopping");
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

#[cfg(all(test, unix))]
mod tests {
    use std::io::Write;
    use std::os::fd::AsFd;

    use super::pipe_unread;

    #[test]
    fn a_pipe_is_unread_only_once_its_reader_is_closed() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        assert!(!pipe_unread(writer.as_fd()), "a pipe with its reader open");
        writer.write_all(b"1|1|tcp|127.0.0.1:10000|grpc\n").unwrap();
        assert!(!pipe_unread(writer.as_fd()), "a pipe with unread data and its reader open");
        drop(reader);
        assert!(pipe_unread(writer.as_fd()), "a pipe whose reader is closed");
    }

    #[test]
    fn a_full_pipe_with_its_reader_open_is_read() {
        let (_reader, writer) = std::io::pipe().unwrap();
        let mut file = std::fs::File::from(std::os::fd::OwnedFd::from(writer));
        // Fill the pipe without blocking: make the write end non-blocking.
        // SAFETY: fcntl on a descriptor we own, setting a status flag.
        unsafe {
            let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
            libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK);
        }
        let chunk = [0u8; 4096];
        for _ in 0..1024 {
            if file.write(&chunk).is_err() {
                break;
            }
        }
        assert!(!pipe_unread(file.as_fd()), "a full pipe whose reader is still open");
    }

    #[test]
    fn files_terminals_and_sockets_are_never_unread_pipes() {
        let file = tempfile_in_target();
        assert!(!pipe_unread(file.as_fd()), "a regular file");
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap();
        assert!(!pipe_unread(null.as_fd()), "/dev/null");
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(theirs);
        assert!(!pipe_unread(ours.as_fd()), "a socket whose peer is gone is not a pipe");
    }

    fn tempfile_in_target() -> std::fs::File {
        let path = std::env::temp_dir().join(format!("mmplugin-runtime-host-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        file
    }
}

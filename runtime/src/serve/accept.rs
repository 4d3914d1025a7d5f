//! The plugin's listener: a loopback port in the host's range, and the
//! connections on it, plain or through automatic mTLS.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::ServeError;
use super::budget::{Budgets, Peer, Seat};
use super::host::{Guard, Tracker};
use crate::shutdown::Shutdown;

/// The first free loopback port in `min..=max`, as go-plugin picks one.
pub(crate) fn bind(min: u16, max: u16) -> Result<TcpListener, ServeError> {
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "every port in the range is taken");
    for port in min..=max {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => {
                let listener = listener
                    .set_nonblocking(true)
                    .and_then(|()| TcpListener::from_std(listener))
                    .map_err(|source| ServeError::Bind { min, max, source })?;
                return Ok(listener);
            }
            Err(e) => last = e,
        }
    }
    Err(ServeError::Bind { min, max, source: last })
}

/// The most proven connections open at once: connections that sent the
/// HTTP/2 preface (or passed automatic mTLS). The host uses one (go-plugin
/// dials once); the rest are strangers that speak HTTP/2, closed at once
/// past the cap so that they cannot use up the process's file descriptors.
pub const MAX_CONNECTIONS: usize = 64;

/// The most connections waiting to prove themselves at once. When one more
/// arrives, the one that has waited longest is closed to make room: a
/// stranger holding silent sockets open cannot keep a fresh connection from
/// the host out, since the host proves itself within milliseconds of
/// connecting, long before this many newer connections can push it out.
pub const MAX_PENDING: usize = 64;

/// How long a new connection has to prove it speaks gRPC: the HTTP/2 client
/// preface (or, with automatic mTLS, a TLS handshake with the host's
/// certificate). A connection silent or wrong for longer is closed.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every HTTP/2 client sends first (RFC 9113, 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Accepts connections on a task of its own until shutdown.
///
/// Each new connection is proven in a task of its own, within
/// [`HANDSHAKE_TIMEOUT`]: by the HTTP/2 preface, or by automatic mTLS's
/// handshake. At most [`MAX_PENDING`] wait at once; the longest-waiting
/// one is closed when another arrives. Only a proven connection counts as
/// the host's (for [`Tracker`]) and reaches the gRPC server, and only
/// [`MAX_CONNECTIONS`] of them at once: past that, a newly proven one is
/// closed. Accept errors (out of file descriptors) back off, and are logged
/// at most every few seconds.
pub(crate) fn accept(
    listener: TcpListener,
    tls: Option<crate::tls::Acceptor>,
    tracker: Arc<Tracker>,
    budgets: Arc<Budgets>,
    shutdown: Shutdown,
) -> tokio_stream::wrappers::ReceiverStream<Result<Io, io::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    let door = Arc::new(Door {
        tls,
        tracker,
        budgets,
        sender,
        open: Arc::new(AtomicUsize::new(0)),
        refused: Mutex::new(Throttled::default()),
    });
    tokio::spawn(async move {
        let mut errors = AcceptErrors::default();
        let mut pending = Pending::default();
        loop {
            let (stream, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        let wait = errors.failed(&e, std::time::Instant::now());
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                },
                () = shutdown.wait() => return,
            };
            errors.succeeded();
            pending.make_room();
            let _ = stream.set_nodelay(true);
            let over = Arc::new(AtomicBool::new(false));
            let task = tokio::spawn(Arc::clone(&door).admit(stream, remote, Arc::clone(&over)));
            pending.push(Waiting { task: task.abort_handle(), over });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// What every new connection goes through on its way to the gRPC server.
struct Door {
    tls: Option<crate::tls::Acceptor>,
    tracker: Arc<Tracker>,
    budgets: Arc<Budgets>,
    sender: tokio::sync::mpsc::Sender<Result<Io, io::Error>>,
    /// Proven connections open.
    open: Arc<AtomicUsize>,
    refused: Mutex<Throttled>,
}

impl Door {
    /// Proves `stream` and hands it to the gRPC server if there is a place.
    /// `over` is set when the proof is over, unless it was set first by the
    /// choice to close this connection to make room (see [`Waiting`]).
    async fn admit(self: Arc<Self>, stream: TcpStream, remote: SocketAddr, over: Arc<AtomicBool>) {
        let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, prove(stream, self.tls.as_ref())).await;
        if over.swap(true, Ordering::SeqCst) {
            return;
        }
        let stream = match outcome {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return tracing::debug!(%remote, "connection closed: {e}"),
            Err(_) => return tracing::debug!(%remote, "connection closed: no handshake within {HANDSHAKE_TIMEOUT:?}"),
        };
        let Some(slot) = Slot::take(&self.open) else {
            let mut refused = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            refused.note(std::time::Instant::now(), |n| {
                tracing::warn!("{n} connection(s) refused: already {MAX_CONNECTIONS} open");
            });
            return;
        };
        let seat = self.budgets.seat();
        let io =
            Io { stream, peer: seat.peer(), _seat: seat, _guard: Guard::new(Arc::clone(&self.tracker)), _slot: slot };
        let _ = self.sender.send(Ok(io)).await;
    }
}

/// A connection still proving itself, oldest first in [`Pending`].
struct Waiting {
    task: tokio::task::AbortHandle,
    /// Set by whichever comes first: the proof's end (passed or failed) or
    /// the choice to close the connection to make room. The other side
    /// then leaves the connection alone.
    over: Arc<AtomicBool>,
}

impl Waiting {
    fn waiting(&self) -> bool {
        !self.over.load(Ordering::SeqCst) && !self.task.is_finished()
    }

    /// Closes the connection unless its proof is already over; whether it did.
    fn close(self) -> bool {
        let closing = !self.over.swap(true, Ordering::SeqCst);
        if closing {
            self.task.abort();
        }
        closing
    }
}

/// The connections waiting to prove themselves, oldest first.
#[derive(Default)]
struct Pending {
    waiting: VecDeque<Waiting>,
    evicted: Throttled,
}

impl Pending {
    /// Forgets the connections no longer waiting, and closes the oldest
    /// waiting ones until one more fits under [`MAX_PENDING`].
    fn make_room(&mut self) {
        self.waiting.retain(Waiting::waiting);
        while self.waiting.len() >= MAX_PENDING {
            if let Some(oldest) = self.waiting.pop_front()
                && oldest.close()
            {
                self.evicted.note(std::time::Instant::now(), |n| {
                    tracing::warn!("{n} connection(s) closed before their handshake, to make room for newer ones");
                });
            }
        }
    }

    fn push(&mut self, waiting: Waiting) {
        self.waiting.push_back(waiting);
    }
}

/// Proves a new connection: the HTTP/2 preface (kept, to be read again by
/// the gRPC server), or a TLS handshake.
async fn prove(mut stream: TcpStream, tls: Option<&crate::tls::Acceptor>) -> io::Result<Stream> {
    if let Some(acceptor) = tls {
        #[cfg(feature = "auto-mtls")]
        return Ok(Stream::Tls(Box::new(acceptor.accept(stream).await?)));
        #[cfg(not(feature = "auto-mtls"))]
        match *acceptor {}
    }
    let mut preface = [0; PREFACE.len()];
    stream.read_exact(&mut preface).await?;
    if &preface != PREFACE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not an HTTP/2 client (no preface)"));
    }
    Ok(Stream::Plain { stream, replay: PREFACE, replayed: 0 })
}

/// One of the [`MAX_CONNECTIONS`] places; given back when dropped.
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Option<Self> {
        open.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < MAX_CONNECTIONS).then_some(n + 1))
            .ok()
            .map(|_| Self(Arc::clone(open)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A warning about something that may happen thousands of times a second,
/// logged at most once per [`Throttled::EVERY`] with how many it stands for.
#[derive(Default)]
struct Throttled {
    last: Option<std::time::Instant>,
    unlogged: u64,
}

impl Throttled {
    const EVERY: Duration = Duration::from_secs(10);

    /// Counts one more; calls `log` with the count when it is time.
    fn note(&mut self, now: std::time::Instant, log: impl FnOnce(u64)) {
        self.unlogged += 1;
        if self.last.is_none_or(|last| now.duration_since(last) >= Self::EVERY) {
            log(self.unlogged);
            self.last = Some(now);
            self.unlogged = 0;
        }
    }
}

/// Backs off while `accept` fails (typically: no file descriptor left),
/// from 5 ms doubling to 1 s, and logs the failures throttled.
#[derive(Default)]
struct AcceptErrors {
    wait: Duration,
    log: Throttled,
}

impl AcceptErrors {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    /// How long to wait after this failure.
    fn failed(&mut self, error: &io::Error, now: std::time::Instant) -> Duration {
        self.wait = (self.wait * 2).clamp(Self::FIRST, Self::MAX);
        self.log.note(now, |n| tracing::warn!("accept failed ({n} time(s) since the last warning): {error}"));
        self.wait
    }

    fn succeeded(&mut self) {
        self.wait = Duration::ZERO;
    }
}

/// One connection from the host.
pub(crate) struct Io {
    stream: Stream,
    /// Who is at the other end, for every request on this connection.
    peer: Peer,
    /// Its place in line for the host's budget.
    _seat: Seat,
    _guard: Guard,
    _slot: Slot,
}

enum Stream {
    /// A plain connection, and the preface read from it to prove it, given
    /// back to the first reads.
    Plain { stream: TcpStream, replay: &'static [u8], replayed: usize },
    #[cfg(feature = "auto-mtls")]
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl tonic::transport::server::Connected for Io {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl AsyncRead for Io {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain { stream, replay, replayed } => {
                if *replayed < replay.len() {
                    let n = buf.remaining().min(replay.len() - *replayed);
                    buf.put_slice(&replay[*replayed..*replayed + n]);
                    *replayed += n;
                    return Poll::Ready(Ok(()));
                }
                Pin::new(stream).poll_read(cx, buf)
            }
            #[cfg(feature = "auto-mtls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain { stream, .. } => Pin::new(stream).poll_write(cx, buf),
            #[cfg(feature = "auto-mtls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain { stream, .. } => Pin::new(stream).poll_write_vectored(cx, bufs),
            #[cfg(feature = "auto-mtls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain { stream, .. } => stream.is_write_vectored(),
            #[cfg(feature = "auto-mtls")]
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain { stream, .. } => Pin::new(stream).poll_flush(cx),
            #[cfg(feature = "auto-mtls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain { stream, .. } => Pin::new(stream).poll_shutdown(cx),
            #[cfg(feature = "auto-mtls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;
    use tokio_stream::StreamExt as _;

    use super::*;

    async fn listening() -> (SocketAddr, Arc<Tracker>, tokio_stream::wrappers::ReceiverStream<Result<Io, io::Error>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let tracker = Arc::new(Tracker::default());
        let incoming = accept(listener, None, Arc::clone(&tracker), Budgets::new(), Shutdown::new());
        (address, tracker, incoming)
    }

    /// Reads until the peer closes; `true` if it did within 5 s.
    async fn closed_by_peer(client: &mut TcpStream) -> bool {
        let mut buf = [0; 64];
        matches!(tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
    }

    /// A stranger that connects and talks something else is closed and not
    /// taken for the host (which would stop the plugin when it left).
    #[tokio::test]
    async fn a_connection_counts_only_once_it_sends_the_http2_preface() {
        let (address, tracker, mut incoming) = listening().await;
        let mut stranger = TcpStream::connect(address).await.unwrap();
        stranger.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        assert!(closed_by_peer(&mut stranger).await, "the stranger is closed");
        assert!(!tracker.seen(), "a stranger is not the host");

        let mut host = TcpStream::connect(address).await.unwrap();
        host.write_all(PREFACE).await.unwrap();
        host.write_all(b"settings").await.unwrap();
        let mut io = tokio::time::timeout(Duration::from_secs(5), incoming.next()).await.unwrap().unwrap().unwrap();
        assert!(tracker.seen(), "the host's connection counts");
        let mut read = vec![0; PREFACE.len() + 8];
        io.read_exact(&mut read).await.unwrap();
        assert_eq!(&read[..PREFACE.len()], PREFACE, "the preface is read again by the gRPC server");
        assert_eq!(&read[PREFACE.len()..], b"settings");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_closed_after_the_handshake_timeout() {
        let (address, tracker, _incoming) = listening().await;
        let mut silent = TcpStream::connect(address).await.unwrap();
        let started = tokio::time::Instant::now();
        let mut buf = [0; 8];
        assert_eq!(silent.read(&mut buf).await.unwrap(), 0, "closed");
        assert!(started.elapsed() >= HANDSHAKE_TIMEOUT);
        assert!(!tracker.seen());
    }

    /// Connects and sends the HTTP/2 preface, as the host does.
    async fn connect_as_the_host(address: SocketAddr) -> TcpStream {
        let mut host = TcpStream::connect(address).await.unwrap();
        host.write_all(PREFACE).await.unwrap();
        host
    }

    /// The next proven connection, within 5 s.
    async fn next_proven(incoming: &mut tokio_stream::wrappers::ReceiverStream<Result<Io, io::Error>>) -> Io {
        tokio::time::timeout(Duration::from_secs(5), incoming.next())
            .await
            .expect("a proven connection within 5 s")
            .expect("the listener is open")
            .expect("no accept error")
    }

    #[tokio::test]
    async fn proven_connections_past_the_cap_are_closed_at_once() {
        let (address, _tracker, mut incoming) = listening().await;
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            let client = connect_as_the_host(address).await;
            held.push((client, next_proven(&mut incoming).await));
        }
        let mut extra = connect_as_the_host(address).await;
        assert!(closed_by_peer(&mut extra).await, "the connection past the cap is closed");
        // A place given back is taken again.
        drop(held.pop());
        let _client = connect_as_the_host(address).await;
        next_proven(&mut incoming).await;
    }

    /// Issue 20, failure 3: strangers holding silent sockets used to take
    /// every place for the 10 s handshake timeout, and a fresh connection
    /// from the host was closed at once.
    #[tokio::test]
    async fn a_fresh_connection_is_served_while_500_silent_ones_are_held() {
        let (address, tracker, mut incoming) = listening().await;
        let mut silent = Vec::new();
        for _ in 0..500 {
            silent.push(TcpStream::connect(address).await.unwrap());
        }
        for attempt in 0..20 {
            let _host = connect_as_the_host(address).await;
            let proven = tokio::time::timeout(Duration::from_secs(5), incoming.next()).await;
            assert!(matches!(proven, Ok(Some(Ok(_)))), "fresh connection {attempt} was not served");
            silent.push(TcpStream::connect(address).await.unwrap());
        }
        assert!(tracker.seen());
        // The oldest silent ones were closed to make room; the newest
        // MAX_PENDING - 1 (one place went to each fresh connection) wait.
        let mut open = 0;
        for stranger in silent.iter_mut().rev().take(MAX_PENDING) {
            let mut buf = [0; 1];
            if tokio::time::timeout(Duration::from_millis(20), stranger.read(&mut buf)).await.is_err() {
                open += 1;
            }
        }
        assert!(open >= MAX_PENDING - 1, "only {open} of the newest silent connections still wait");
        assert!(closed_by_peer(&mut silent[0]).await, "the oldest silent connection was closed");
    }

    #[tokio::test]
    async fn the_longest_waiting_connection_makes_room_for_a_new_one() {
        let (address, _tracker, _incoming) = listening().await;
        let mut silent = Vec::new();
        for _ in 0..MAX_PENDING {
            silent.push(TcpStream::connect(address).await.unwrap());
            // Accepted in order.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let _newest = TcpStream::connect(address).await.unwrap();
        assert!(closed_by_peer(&mut silent[0]).await, "the oldest was closed");
        let mut buf = [0; 1];
        let second = tokio::time::timeout(Duration::from_millis(200), silent[1].read(&mut buf)).await;
        assert!(second.is_err(), "the second oldest still waits: {second:?}");
    }

    #[test]
    fn accept_failures_back_off_to_a_second_and_are_logged_throttled() {
        let mut errors = AcceptErrors::default();
        let error = io::Error::other("too many open files");
        let now = std::time::Instant::now();
        let waits: Vec<u128> = (0..10).map(|_| errors.failed(&error, now).as_millis()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        errors.succeeded();
        assert_eq!(errors.failed(&error, now).as_millis(), 5, "a success starts over");

        let mut log = Throttled::default();
        let mut logged = Vec::new();
        for second in [0, 1, 2, 9, 10, 11, 25] {
            log.note(now + Duration::from_secs(second), |n| logged.push((second, n)));
        }
        assert_eq!(logged, [(0, 1), (10, 4), (25, 2)], "once per 10 s, with the count it stands for");
    }
}

//! A memory budget for what peers send: the bytes of the gRPC messages the
//! plugin is receiving or handling, bounded across every connection and
//! stream.
//!
//! Anyone on the machine may connect to the plugin's port: the Mattermost
//! server runs gRPC plugins without go-plugin's mTLS, so nothing tells the
//! host's connection from a stranger's but the order they came in. Caps on
//! connections and streams do not bound bytes: 32 streams, each sending one
//! 63 MiB message, would hold 2 GiB. And one legitimate message may be
//! large: the host sends `FileWillBeUploaded` with the whole file in one
//! message, up to the server's default maximum file size of 100 MiB.
//!
//! So every request is charged, against one of two budgets:
//!
//! - the host's, [`HOST_BUDGET`], for the requests of the oldest proven
//!   connection still open. go-plugin dials once, as soon as it reads the
//!   handshake line, so that is the host's; should the host reconnect, its
//!   new connection is the oldest once the old one has closed, unless a
//!   stranger's is older;
//! - everyone else's, [`OTHERS_BUDGET`], shared by every other connection.
//!
//! A request is charged for its largest message so far, from the message's
//! 5-byte gRPC prefix (which gives its length) on, before the rest of it is
//! read; the charge is given back once the request is over: its body
//! dropped and its answer ready (a unary hook: once the hook has answered;
//! a stream: once its last message has been read). A message that does not
//! fit what is left is refused at once with `RESOURCE_EXHAUSTED`, and none
//! of it is kept: a message that waited for room would let whoever holds
//! the budget stall the host as long as they like.
//!
//! Under attack from strangers, memory stays within the two budgets (plus a
//! small multiple for the decoded copies of what was admitted, and HTTP/2's
//! receive windows), and the host keeps its own budget.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tonic::Status;
use tonic::body::Body;

/// What the host's connection may have in flight at once: one message of
/// the largest size ([`crate::api::MAX_MESSAGE_SIZE`], a 100 MiB file and
/// its envelope) and 27 MiB of other hooks beside it.
pub const HOST_BUDGET: usize = 128 << 20;

/// What every other connection together may have in flight at once.
pub const OTHERS_BUDGET: usize = 64 << 20;

/// The length of gRPC's message prefix: a compression flag and a
/// big-endian `u32` length.
const PREFIX: usize = 5;

/// Bytes left of one budget.
struct Budget {
    whose: &'static str,
    total: usize,
    left: AtomicUsize,
}

impl Budget {
    fn new(whose: &'static str, total: usize) -> Self {
        Self { whose, total, left: AtomicUsize::new(total) }
    }

    /// Takes `n` bytes if they are left; otherwise what is left.
    fn take(&self, n: usize) -> Result<(), usize> {
        self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(n)).map(|_| ())
    }

    fn give(&self, n: usize) {
        self.left.fetch_add(n, Ordering::SeqCst);
    }
}

/// The two budgets, and which open connection is the host's.
pub(crate) struct Budgets {
    host: Budget,
    others: Budget,
    /// The proven connections open, oldest first, each with its flag
    /// saying whether it is the host's.
    open: Mutex<BTreeMap<u64, Arc<AtomicBool>>>,
    next: AtomicU64,
}

impl Budgets {
    pub(crate) fn new() -> Arc<Self> {
        Self::with(HOST_BUDGET, OTHERS_BUDGET)
    }

    fn with(host: usize, others: usize) -> Arc<Self> {
        Arc::new(Self {
            host: Budget::new("the host's connection", host),
            others: Budget::new("connections other than the host's", others),
            open: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
        })
    }

    /// A place in line for a connection just proven: the host's if no
    /// other connection is open.
    pub(crate) fn seat(self: &Arc<Self>) -> Seat {
        let number = self.next.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let host = Arc::new(AtomicBool::new(open.is_empty()));
        open.insert(number, Arc::clone(&host));
        Seat { number, host, budgets: Arc::clone(self) }
    }

    /// The layer that charges every request to its connection's budget.
    pub(crate) fn layer(self: &Arc<Self>) -> MeterLayer {
        MeterLayer(Arc::clone(self))
    }

    fn budget(&self, host: bool) -> &Budget {
        if host { &self.host } else { &self.others }
    }
}

/// A proven connection's place in line; the oldest open one is the host's.
/// Leaving hands the host's budget to the next oldest.
pub(crate) struct Seat {
    number: u64,
    host: Arc<AtomicBool>,
    budgets: Arc<Budgets>,
}

impl Seat {
    /// What requests on this connection carry, to find their budget.
    pub(crate) fn peer(&self) -> Peer {
        Peer { host: Arc::clone(&self.host) }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut open = self.budgets.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.remove(&self.number);
        if self.host.load(Ordering::SeqCst)
            && let Some(next) = open.values().next()
        {
            next.store(true, Ordering::SeqCst);
        }
    }
}

/// Who sent a request: whether its connection is the host's. tonic puts
/// it in every request's extensions (the connection's `ConnectInfo`).
#[derive(Clone, Debug)]
pub(crate) struct Peer {
    host: Arc<AtomicBool>,
}

impl Peer {
    /// Whether the connection is the host's: the oldest proven one open.
    pub(crate) fn is_host(&self) -> bool {
        self.host.load(Ordering::SeqCst)
    }
}

/// What one request holds of its budget, given back when dropped.
struct Charge {
    budgets: Arc<Budgets>,
    host: bool,
    held: AtomicUsize,
}

impl Charge {
    /// Raises the charge to `n` bytes, if the budget has room.
    fn raise_to(&self, n: usize) -> Result<(), Status> {
        let held = self.held.load(Ordering::SeqCst);
        if n <= held {
            return Ok(());
        }
        let budget = self.budgets.budget(self.host);
        budget.take(n - held).map_err(|left| {
            Status::resource_exhausted(format!(
                "the plugin has no room for a message of {n} bytes now: {left} of the {} bytes it receives at once \
                 from {} are left",
                budget.total, budget.whose
            ))
        })?;
        self.held.store(n, Ordering::SeqCst);
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budgets.budget(self.host).give(*self.held.get_mut());
    }
}

/// Finds the messages in a request body: where each 5-byte prefix is, and
/// the length it gives.
#[derive(Default)]
struct Framing {
    prefix: [u8; PREFIX],
    /// Bytes of `prefix` read so far.
    read: usize,
    /// Bytes of the current message still to come.
    rest: u64,
}

impl Framing {
    /// Reads `data`, calling `message` with the whole size of each message
    /// (prefix included) as soon as its prefix is complete.
    fn feed<E>(&mut self, mut data: impl bytes::Buf, mut message: impl FnMut(usize) -> Result<(), E>) -> Result<(), E> {
        while data.has_remaining() {
            if self.rest > 0 {
                let skip = usize::try_from(self.rest).unwrap_or(usize::MAX).min(data.remaining());
                data.advance(skip);
                self.rest -= skip as u64;
                continue;
            }
            let n = (PREFIX - self.read).min(data.remaining());
            data.copy_to_slice(&mut self.prefix[self.read..self.read + n]);
            self.read += n;
            if self.read == PREFIX {
                self.read = 0;
                let len = u32::from_be_bytes([self.prefix[1], self.prefix[2], self.prefix[3], self.prefix[4]]);
                self.rest = u64::from(len);
                message(PREFIX + len as usize)?;
            }
        }
        Ok(())
    }
}

/// A request body whose messages are charged to a budget as their
/// prefixes arrive; a message with no room ends it with
/// `RESOURCE_EXHAUSTED`.
struct Metered {
    inner: Body,
    framing: Framing,
    charge: Arc<Charge>,
    refused: bool,
}

impl http_body::Body for Metered {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.refused {
            return Poll::Ready(None);
        }
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            let this = &mut *self;
            let charge = &this.charge;
            if let Err(status) = this.framing.feed(data.as_ref(), |n| charge.raise_to(n)) {
                this.refused = true;
                return Poll::Ready(Some(Err(status)));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.refused || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The tower layer of [`Meter`], for tonic's server.
#[derive(Clone)]
pub(crate) struct MeterLayer(Arc<Budgets>);

impl<S> tower_layer::Layer<S> for MeterLayer {
    type Service = Meter<S>;

    fn layer(&self, inner: S) -> Meter<S> {
        Meter { inner, budgets: Arc::clone(&self.0) }
    }
}

/// Charges each request to the budget of its connection (see the module
/// docs).
#[derive(Clone)]
pub(crate) struct Meter<S> {
    inner: S,
    budgets: Arc<Budgets>,
}

impl<S, R> tower_service::Service<http::Request<Body>> for Meter<S>
where
    S: tower_service::Service<http::Request<Body>, Response = R>,
    S::Future: Send + 'static,
{
    type Response = R;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<R, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let host = request.extensions().get::<Peer>().is_some_and(Peer::is_host);
        let charge = Arc::new(Charge { budgets: Arc::clone(&self.budgets), host, held: AtomicUsize::new(0) });
        let body = Arc::clone(&charge);
        let request = request
            .map(|inner| Body::new(Metered { inner, framing: Framing::default(), charge: body, refused: false }));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(charge);
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    fn prefixed(len: u32) -> Vec<u8> {
        let mut out = vec![0];
        out.extend(len.to_be_bytes());
        out.extend(std::iter::repeat_n(7, len as usize));
        out
    }

    /// Every split of a body into chunks finds the same messages.
    #[test]
    fn framing_finds_each_message_however_the_body_is_cut() {
        let body: Vec<u8> = [prefixed(0), prefixed(3), prefixed(300), prefixed(1)].concat();
        for cut in [1, 2, 3, 4, 5, 6, 7, 64, body.len()] {
            let mut framing = Framing::default();
            let mut seen = Vec::new();
            for chunk in body.chunks(cut) {
                framing
                    .feed(chunk, |n| {
                        seen.push(n);
                        Ok::<_, ()>(())
                    })
                    .unwrap();
            }
            assert_eq!(seen, [5, 8, 305, 6], "chunks of {cut}");
        }
    }

    #[test]
    fn the_oldest_open_connection_is_the_hosts_and_hands_it_on() {
        let budgets = Budgets::new();
        let (first, second, third) = (budgets.seat(), budgets.seat(), budgets.seat());
        let peers = [first.peer(), second.peer(), third.peer()];
        assert_eq!(peers.each_ref().map(Peer::is_host), [true, false, false]);
        drop(second);
        assert_eq!(peers.each_ref().map(Peer::is_host), [true, false, false], "a stranger leaving changes nothing");
        drop(first);
        assert_eq!(peers.each_ref().map(Peer::is_host), [true, false, true], "the next oldest is the host's");
        drop(third);
        let fourth = budgets.seat();
        assert!(fourth.peer().is_host(), "alone again: the host's");
    }

    #[test]
    fn a_charge_grows_to_the_largest_message_and_is_given_back() {
        let budgets = Budgets::with(100, 10);
        let charge = Charge { budgets: Arc::clone(&budgets), host: true, held: AtomicUsize::new(0) };
        charge.raise_to(30).unwrap();
        charge.raise_to(20).unwrap();
        charge.raise_to(60).unwrap();
        assert_eq!(budgets.host.left.load(Ordering::SeqCst), 40, "charged for the largest message, 60");
        let refused = charge.raise_to(101).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("101 bytes") && refused.message().contains("40 of the 100"), "{refused:?}");
        assert_eq!(budgets.host.left.load(Ordering::SeqCst), 40, "a refusal takes nothing");
        assert_eq!(budgets.others.left.load(Ordering::SeqCst), 10, "the other budget is untouched");
        drop(charge);
        assert_eq!(budgets.host.left.load(Ordering::SeqCst), 100);
    }

    /// A body as tonic's server hands it on: `chunks` as data frames.
    fn body(chunks: Vec<Vec<u8>>) -> Body {
        let frames = chunks.into_iter().map(|c| Ok::<_, Status>(Frame::data(Bytes::from(c))));
        Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(frames)))
    }

    fn metered(budgets: &Arc<Budgets>, host: bool, chunks: Vec<Vec<u8>>) -> (Metered, Arc<Charge>) {
        let charge = Arc::new(Charge { budgets: Arc::clone(budgets), host, held: AtomicUsize::new(0) });
        (
            Metered { inner: body(chunks), framing: Framing::default(), charge: Arc::clone(&charge), refused: false },
            charge,
        )
    }

    #[tokio::test]
    async fn a_message_with_no_room_ends_the_body_before_any_of_it_is_passed_on() {
        let budgets = Budgets::with(1_000, 100);
        // Held by another stranger's request.
        let (_other, held) = metered(&budgets, false, vec![]);
        held.raise_to(60).unwrap();
        let message = prefixed(50);
        let (mut refused, _charge) = metered(&budgets, false, vec![message[..20].to_vec(), message[20..].to_vec()]);
        let first = refused.frame().await.unwrap();
        let status = first.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        assert!(refused.frame().await.is_none(), "nothing after the refusal");
        assert_eq!(budgets.others.left.load(Ordering::SeqCst), 40);

        // The host's budget is its own: the same message from the host passes.
        let (mut admitted, charge) = metered(&budgets, true, vec![message.clone()]);
        let passed = admitted.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(passed, message);
        assert_eq!(charge.held.load(Ordering::SeqCst), 55);
        drop((admitted, charge));
        assert_eq!(budgets.host.left.load(Ordering::SeqCst), 1_000);
    }

    /// The charge is held until the answer is ready, even once the body is
    /// gone (tonic drops a unary request's body before its handler runs).
    #[tokio::test]
    async fn the_charge_lasts_until_the_answer_is_ready() {
        use tower_layer::Layer as _;
        use tower_service::Service as _;

        let budgets = Budgets::with(1_000, 100);
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let wait = Arc::new(Mutex::new(Some(wait)));
        let handler = tower::service_fn(move |request: http::Request<Body>| {
            let wait = wait.lock().unwrap().take().unwrap();
            async move {
                let whole = request.into_body().collect().await.map(|c| c.to_bytes().len());
                // The body is gone; the handler goes on.
                let _ = wait.await;
                Ok::<_, std::convert::Infallible>(whole)
            }
        });
        let mut service = budgets.layer().layer(handler);
        let seat = budgets.seat();
        let mut request = http::Request::new(body(vec![prefixed(70)]));
        request.extensions_mut().insert(seat.peer());
        let answer = tokio::spawn(service.call(request));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(budgets.host.left.load(Ordering::SeqCst), 925, "charged while the handler runs");
        release.send(()).unwrap();
        assert_eq!(answer.await.unwrap().unwrap().unwrap(), 75);
        assert_eq!(budgets.host.left.load(Ordering::SeqCst), 1_000, "given back with the answer");
    }
}

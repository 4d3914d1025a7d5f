//! The plugin's listener: a loopback port in the host's range, and the
//! connections on it, plain or through automatic mTLS.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::ServeError;
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

/// Accepts connections (and their TLS handshakes) on a task of its own
/// until shutdown; a failed handshake costs only that connection.
pub(crate) fn accept(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tracker: Arc<Tracker>,
    shutdown: Shutdown,
) -> tokio_stream::wrappers::ReceiverStream<Result<Io, io::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (stream, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = shutdown.wait() => return,
            };
            let _ = stream.set_nodelay(true);
            let guard = Guard::new(Arc::clone(&tracker));
            match &tls {
                None => {
                    if sender.send(Ok(Io { stream: Stream::Plain(stream), remote, _guard: guard })).await.is_err() {
                        return;
                    }
                }
                Some(acceptor) => {
                    let (acceptor, sender) = (acceptor.clone(), sender.clone());
                    tokio::spawn(async move {
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => {
                                let io = Io { stream: Stream::Tls(Box::new(tls)), remote, _guard: guard };
                                let _ = sender.send(Ok(io)).await;
                            }
                            Ok(Err(e)) => tracing::warn!(%remote, "TLS handshake refused: {e}"),
                            Err(_) => tracing::warn!(%remote, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// One connection from the host.
pub(crate) struct Io {
    stream: Stream,
    remote: SocketAddr,
    _guard: Guard,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl tonic::transport::server::Connected for Io {
    type ConnectInfo = SocketAddr;

    fn connect_info(&self) -> SocketAddr {
        self.remote
    }
}

impl AsyncRead for Io {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

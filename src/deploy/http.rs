//! A minimal HTTP/1.1 client: what `deploy` needs and no more.
//!
//! One request per connection (`Connection: close`), over TCP, TLS (feature
//! `https`: rustls with ring and the machine's trust store) or a unix socket
//! (the server's local mode). Bodies are sent with a `Content-Length` and
//! `Expect: 100-continue`, so a server that refuses an upload from its headers
//! alone (uploads disabled, a bad token, not an admin) answers before the
//! bundle is sent, as Go's `net/http` server does when the handler never reads
//! the body; a server or proxy that sends no `100 Continue` within a second
//! gets the body anyway, as curl and Go's client do. A server that stops
//! reading halfway (the upload is too big) and closes is still heard: the
//! answer it wrote before closing is read after the failed write.
//!
//! Answers are framed as RFC 9112 section 6.3 says: no body for 1xx, 204 and
//! 304, chunked when the last transfer coding is `chunked`, else
//! `Content-Length`, else up to the close. No `Accept-Encoding` is sent, so
//! Mattermost answers uncompressed (its gzip and brotli handlers in
//! `server/channels/api4/handlers.go` look at that header).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::path::PathBuf;
use std::time::Duration;

/// How long to wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read or a write may block. Installing a large bundle happens
/// while the client waits for the answer; pluginctl gives a whole command
/// 120 s.
pub const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to wait for `100 Continue` before sending the body anyway.
const CONTINUE_WAIT: Duration = Duration::from_secs(1);
/// The most a response head may be.
const MAX_HEAD: usize = 64 * 1024;
/// The most a response body may be: Mattermost answers these requests with
/// small JSON; the log answer of 500 lines is the largest.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// The local-mode unix socket.
    #[cfg(unix)]
    Unix(PathBuf),
    /// TCP to `host:port`, with TLS when `tls`.
    Tcp {
        /// A name, an IPv4 address, or an IPv6 address without brackets.
        host: String,
        /// The port.
        port: u16,
        /// `https://`.
        tls: bool,
    },
}

/// A site URL (`MM_SERVICESETTINGS_SITEURL`), read as Mattermost's client
/// reads it: scheme, host, port and a path prefix for a server under a
/// subpath (`https://example.com/chat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteUrl {
    /// How to reach it.
    pub transport: Transport,
    /// The `Host` header: the URL's host and port as written.
    pub authority: String,
    /// The path prefix without its trailing `/`; empty for none.
    pub base: String,
}

impl SiteUrl {
    /// Reads `http[s]://host[:port][/path]`. A query, a fragment or a user
    /// in the URL are refused, as is `https://` in a build without TLS.
    pub fn parse(url: &str) -> Result<SiteUrl, String> {
        let lower = url.to_ascii_lowercase();
        let (tls, rest) = if lower.starts_with("https://") {
            (true, &url["https://".len()..])
        } else if lower.starts_with("http://") {
            (false, &url["http://".len()..])
        } else {
            return Err(format!("{url:?} is not an http:// or https:// URL"));
        };
        if tls && !cfg!(feature = "https") {
            return Err(format!(
                "{url:?} is https://, and this mmplugin-gen was built without its feature `https` \
                 (reinstall it without --no-default-features)"
            ));
        }
        if rest.contains(['?', '#']) {
            return Err(format!("{url:?} has a query or a fragment: give the server's address only"));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(format!(
                "{url:?} has a user in it: give credentials in MM_ADMIN_TOKEN or MM_ADMIN_USERNAME/MM_ADMIN_PASSWORD"
            ));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) =
                bracketed.split_once(']').ok_or_else(|| format!("{url:?}: an IPv6 address without its `]`"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{url:?} has no host"));
        }
        let port = match port {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(port) => {
                port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| format!("{url:?} has a bad port"))?
            }
        };
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{url:?} has spaces in its path"));
        }
        Ok(SiteUrl {
            transport: Transport::Tcp { host: host.to_owned(), port, tls },
            authority: authority.to_owned(),
            base: path.trim_end_matches('/').to_owned(),
        })
    }
}

/// A request body.
pub enum Body<'a> {
    /// None (`Content-Length: 0`).
    Empty,
    /// Bytes, with their content type.
    Bytes(&'static str, Vec<u8>),
    /// A `multipart/form-data` form with one file and text fields.
    Form(&'a Form<'a>),
}

/// A `multipart/form-data` form: the file's part first, then the fields, as
/// Go's `mime/multipart` writes them.
pub struct Form<'a> {
    /// The boundary; it must not occur in the file (see [`boundary`]).
    pub boundary: String,
    /// The file's field name.
    pub file_field: &'static str,
    /// The file name sent with it.
    pub file_name: String,
    /// The file.
    pub file: &'a std::path::Path,
    /// The file's length, for `Content-Length`.
    pub file_len: u64,
    /// Text fields, in order.
    pub fields: Vec<(&'static str, String)>,
}

impl Form<'_> {
    fn head(&self) -> String {
        // Go's multipart.Writer escapes `\` and `"` in names; a CR or LF would
        // end the header, so they go too.
        let name: String = self
            .file_name
            .chars()
            .map(|c| if c.is_control() { '_' } else { c })
            .collect::<String>()
            .replace('\\', "\\\\")
            .replace('"', "\\\"");
        format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            self.boundary, self.file_field
        )
    }

    fn tail(&self) -> String {
        let mut tail = String::from("\r\n");
        for (name, value) in &self.fields {
            tail +=
                &format!("--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n", self.boundary);
        }
        tail += &format!("--{}--\r\n", self.boundary);
        tail
    }

    fn len(&self) -> u64 {
        self.head().len() as u64 + self.file_len + self.tail().len() as u64
    }
}

/// A boundary of 128 bits from the standard library's randomly keyed hasher
/// (nothing else on a machine knows its keys), so it cannot be in a file by
/// anything but a 2^-128 chance.
pub fn boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::from("mmplugin-gen-");
    for salt in 0..2u8 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(salt);
        hasher
            .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        hasher.write_u32(std::process::id());
        out += &format!("{:016x}", hasher.finish());
    }
    out
}

/// A request: method, path (with the query), extra headers, body.
pub struct Request<'a> {
    /// `GET`, `POST`.
    pub method: &'static str,
    /// The request target, from `/`.
    pub path: String,
    /// `Authorization` and the like; a header's value may be secret, and is
    /// never printed (see [`Request::describe`]).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Body<'a>,
}

impl Request<'_> {
    /// The request as `-v` prints it: method, path, header names (values of
    /// `Authorization` as `***`), body size.
    pub fn describe(&self) -> String {
        let mut out = format!("> {} {}", self.method, self.path);
        for (name, value) in &self.headers {
            let shown = if name.eq_ignore_ascii_case("authorization") {
                value.split_once(' ').map_or("***".to_owned(), |(scheme, _)| format!("{scheme} ***"))
            } else {
                value.clone()
            };
            out += &format!("\n> {name}: {shown}");
        }
        match &self.body {
            Body::Empty => {}
            Body::Bytes(kind, bytes) => out += &format!("\n> ({kind}, {} bytes)", bytes.len()),
            Body::Form(form) => out += &format!("\n> (multipart/form-data, {} bytes)", form.len()),
        }
        out
    }
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from its framing.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

/// Sends `request` to `transport` with `Host: host` and reads the answer.
pub fn send(transport: &Transport, host: &str, request: &Request<'_>) -> io::Result<Response> {
    let mut conn = Connection::open(transport)?;
    let (content_type, length) = match &request.body {
        Body::Empty => (None, 0),
        Body::Bytes(kind, bytes) => (Some(kind.to_string()), bytes.len() as u64),
        Body::Form(form) => (Some(format!("multipart/form-data; boundary={}", form.boundary)), form.len()),
    };
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mmplugin-gen/{}\r\nAccept: application/json\r\nConnection: close\r\n",
        request.method,
        request.path,
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in &request.headers {
        head += &format!("{name}: {value}\r\n");
    }
    if let Some(kind) = content_type {
        head += &format!("Content-Type: {kind}\r\n");
    }
    head += &format!("Content-Length: {length}\r\n");
    let large = matches!(request.body, Body::Form(_));
    if large {
        head += "Expect: 100-continue\r\n";
    }
    head += "\r\n";
    conn.stream.write_all(head.as_bytes())?;
    conn.stream.flush()?;

    let answer = match &request.body {
        Body::Empty => None,
        Body::Bytes(_, bytes) => conn.send_body(|stream| stream.write_all(bytes))?,
        Body::Form(form) => {
            // An answer before `100 Continue` is final: the body is not sent.
            match conn.wait_for_continue()? {
                Some(early) => Some(early),
                None => conn.send_body(|stream| {
                    stream.write_all(form.head().as_bytes())?;
                    let mut file = std::fs::File::open(form.file)?;
                    let sent = copy(&mut file, stream)?;
                    if sent != form.file_len {
                        return Err(io::Error::other(format!(
                            "{} changed while it was sent ({} bytes, then {sent})",
                            form.file.display(),
                            form.file_len
                        )));
                    }
                    stream.write_all(form.tail().as_bytes())
                })?,
            }
        }
    };
    let head = match answer {
        Some(head) => head,
        None => conn.read_final_head()?,
    };
    let body = conn.read_body(&head, request.method)?;
    Ok(Response { status: head.status, reason: head.reason, headers: head.headers, body })
}

/// `io::copy` with a larger buffer: fewer, fuller TLS records and syscalls.
fn copy(from: &mut impl Read, to: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// A status line and headers.
#[derive(Debug)]
struct Head {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    #[cfg(feature = "https")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(timeout)),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(Some(timeout)),
            #[cfg(feature = "https")]
            Stream::Tls(s) => s.sock.set_read_timeout(Some(timeout)),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "https")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "https")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Stream::Unix(s) => s.flush(),
            #[cfg(feature = "https")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A connection and the bytes read from it but not yet used.
struct Connection {
    stream: Stream,
    buf: Vec<u8>,
    eof: bool,
}

/// Whether `e` is a read timing out (`WouldBlock` on unix, `TimedOut` on Windows).
fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

impl Connection {
    fn open(transport: &Transport) -> io::Result<Connection> {
        let stream = match transport {
            #[cfg(unix)]
            Transport::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
            Transport::Tcp { host, port, tls } => {
                let tcp = connect_tcp(host, *port)?;
                if *tls {
                    #[cfg(feature = "https")]
                    {
                        Stream::Tls(Box::new(super::tls::connect(host, tcp)?))
                    }
                    #[cfg(not(feature = "https"))]
                    {
                        drop(tcp);
                        return Err(io::Error::other("https:// needs the feature `https`"));
                    }
                } else {
                    Stream::Tcp(tcp)
                }
            }
        };
        stream.set_read_timeout(IO_TIMEOUT)?;
        if let Stream::Tcp(s) = &stream {
            s.set_write_timeout(Some(IO_TIMEOUT))?;
        }
        #[cfg(unix)]
        if let Stream::Unix(s) = &stream {
            s.set_write_timeout(Some(IO_TIMEOUT))?;
        }
        #[cfg(feature = "https")]
        if let Stream::Tls(s) = &stream {
            s.sock.set_write_timeout(Some(IO_TIMEOUT))?;
        }
        Ok(Connection { stream, buf: Vec::new(), eof: false })
    }

    /// Reads more into the buffer; false at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits a second for `100 Continue`: `None` to send the body (it came,
    /// or nothing did), `Some` for a final answer that came first.
    fn wait_for_continue(&mut self) -> io::Result<Option<Head>> {
        self.stream.set_read_timeout(CONTINUE_WAIT)?;
        let result = loop {
            match self.read_head() {
                Ok(head) if head.status == 100 => break Ok(None),
                // Another interim answer (102, 103): keep waiting.
                Ok(head) if head.status < 200 => continue,
                Ok(head) => break Ok(Some(head)),
                Err(e) if timed_out(&e) => break Ok(None),
                Err(e) => break Err(e),
            }
        };
        self.stream.set_read_timeout(IO_TIMEOUT)?;
        result
    }

    /// Sends the body. If that fails, the server may have answered and
    /// closed (Go's server answers an upload past its limit with 413 and
    /// stops reading): that answer is returned if it can be read, else the
    /// write's error.
    fn send_body(&mut self, write: impl FnOnce(&mut Stream) -> io::Result<()>) -> io::Result<Option<Head>> {
        match write(&mut self.stream).and_then(|()| self.stream.flush()) {
            Ok(()) => Ok(None),
            Err(write_error) => match self.read_final_head() {
                Ok(head) => Ok(Some(head)),
                Err(_) => Err(write_error),
            },
        }
    }

    /// The next head that is not an interim (1xx) one.
    fn read_final_head(&mut self) -> io::Result<Head> {
        loop {
            let head = self.read_head()?;
            if head.status >= 200 {
                return Ok(head);
            }
        }
    }

    fn read_head(&mut self) -> io::Result<Head> {
        let end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad(format!("an answer's head is longer than {MAX_HEAD} bytes")));
            }
            if !self.fill()? {
                return Err(if self.buf.is_empty() {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection without answering")
                } else {
                    bad("the server closed the connection in the middle of its answer's head")
                });
            }
        };
        let head: Vec<u8> = self.buf.drain(..end + 4).collect();
        parse_head(&head[..end])
    }

    fn read_body(&mut self, head: &Head, method: &str) -> io::Result<Vec<u8>> {
        if method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304 {
            return Ok(Vec::new());
        }
        let codings: Vec<String> = head
            .header("transfer-encoding")
            .flat_map(|v| v.split(','))
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
        if !codings.is_empty() {
            return if codings.last().is_some_and(|c| c == "chunked") {
                self.read_chunked()
            } else {
                self.read_to_close()
            };
        }
        let lengths: Vec<&str> = head.header("content-length").flat_map(|v| v.split(',')).map(str::trim).collect();
        match lengths.first() {
            None => self.read_to_close(),
            Some(first) => {
                if lengths.iter().any(|l| l != first) {
                    return Err(bad("an answer with differing Content-Length headers"));
                }
                let length: usize = first.parse().map_err(|_| bad(format!("a bad Content-Length {first:?}")))?;
                if length > MAX_BODY {
                    return Err(bad(format!("an answer of {length} bytes (more than {MAX_BODY})")));
                }
                self.take(length)
            }
        }
    }

    /// Exactly `n` bytes.
    fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill()? {
                return Err(bad("the server closed the connection in the middle of its answer"));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// A line without its CRLF.
    fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.drain(..at + 2).take(at).collect();
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad("a chunk header or trailer too long"));
            }
            if !self.fill()? {
                return Err(bad("the server closed the connection in the middle of a chunked answer"));
            }
        }
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.line()?;
            let text = String::from_utf8_lossy(&line);
            let size = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| bad(format!("a bad chunk size {size:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.line()?.is_empty() {}
                return Ok(body);
            }
            if body.len() + size > MAX_BODY {
                return Err(bad(format!("an answer of more than {MAX_BODY} bytes")));
            }
            body.extend(self.take(size)?);
            if !self.line()?.is_empty() {
                return Err(bad("a chunk longer than its size"));
            }
        }
    }

    fn read_to_close(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if self.buf.len() > MAX_BODY {
                return Err(bad(format!("an answer of more than {MAX_BODY} bytes")));
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return Ok(std::mem::take(&mut self.buf)),
                // A TLS peer that closes without close_notify: the body is
                // all there is (it is only ever shown as an error's text).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(std::mem::take(&mut self.buf)),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Connects to the first of `host`'s addresses that answers.
fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = None;
    for address in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"))))
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn parse_head(head: &[u8]) -> io::Result<Head> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") || status.len() != 3 {
        let shown: String = status_line.chars().take(80).collect();
        return Err(bad(format!("not an HTTP/1.1 answer: {shown:?}")));
    }
    let status = status.parse().map_err(|_| bad(format!("a bad status {status:?}")))?;
    let reason = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| bad(format!("a bad header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(Head { status, reason, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(url: &SiteUrl) -> (&str, u16, bool) {
        match &url.transport {
            Transport::Tcp { host, port, tls } => (host, *port, *tls),
            #[cfg(unix)]
            Transport::Unix(_) => panic!("not tcp"),
        }
    }

    #[test]
    fn site_urls() {
        let url = SiteUrl::parse("http://localhost:8065").unwrap();
        assert_eq!(
            (tcp(&url), url.authority.as_str(), url.base.as_str()),
            (("localhost", 8065, false), "localhost:8065", "")
        );
        let url = SiteUrl::parse("HTTP://chat.example.com/mm/").unwrap();
        assert_eq!((tcp(&url), url.base.as_str()), (("chat.example.com", 80, false), "/mm"));
        let url = SiteUrl::parse("http://[::1]:8065/").unwrap();
        assert_eq!((tcp(&url), url.authority.as_str()), (("::1", 8065, false), "[::1]:8065"));
        if cfg!(feature = "https") {
            assert_eq!(tcp(&SiteUrl::parse("https://chat.example.com").unwrap()), ("chat.example.com", 443, true));
        } else {
            assert!(SiteUrl::parse("https://chat.example.com").unwrap_err().contains("feature `https`"));
        }
        for bad in [
            "localhost:8065",
            "ftp://x",
            "http://",
            "http://:80",
            "http://x:0",
            "http://x:99999",
            "http://a@x",
            "http://x/?q",
            "http://[::1",
        ] {
            assert!(SiteUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn heads() {
        let head = parse_head(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Request-Id: abc").unwrap();
        assert_eq!((head.status, head.reason.as_str()), (201, "Created"));
        assert_eq!(head.header("content-type").collect::<Vec<_>>(), ["application/json"]);
        assert!(parse_head(b"SSH-2.0-OpenSSH").is_err());
        assert!(parse_head(b"HTTP/1.1 2000 x").is_err());
    }

    #[test]
    fn a_form_is_the_length_it_says() {
        let form = Form {
            boundary: boundary(),
            file_field: "plugin",
            file_name: "a\"b\r\n.tar.gz".into(),
            file: std::path::Path::new("unused"),
            file_len: 10,
            fields: vec![("force", "true".into())],
        };
        assert!(form.head().contains("filename=\"a\\\"b__.tar.gz\""), "{}", form.head());
        assert_eq!(form.len(), (form.head() + "0123456789" + &form.tail()).len() as u64);
        assert_ne!(boundary(), boundary());
    }
}

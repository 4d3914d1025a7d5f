//! `mmplugin-gen deploy`, `enable`, `disable`, `reset` and `logs`, run as a
//! user runs them, against a stand-in for a Mattermost server: no real
//! server runs here.
//!
//! The stand-in is a small HTTP/1.1 server on std's listeners that answers
//! as the api4 handlers the commands use do (in mattermost/mattermost):
//! `uploadPlugin`, `enablePlugin`, `disablePlugin` (`server/channels/api4/plugin.go`),
//! `login` (`server/channels/api4/user.go`, the session token in the `Token`
//! header as `DoLogin` in `server/channels/app/login.go` sets it), `getLogs`
//! (`server/channels/api4/system.go`), with the checks in their order and
//! their `AppError` bodies (ids and English messages from
//! `server/i18n/en.json`): uploads off before permissions, permissions
//! before the body is read, the body capped 512 bytes past
//! `FileSettings.MaxFileSize` (`ServeHTTP` in `server/channels/web/handlers.go`), the bundle
//! checked as `extractPlugin` and `installExtractedPlugin`
//! (`server/channels/app/plugin_install.go`) check it. Like Go's server, it
//! sends `100 Continue` only when a handler reads the body, and after
//! refusing an upload it has stopped reading it closes the connection
//! without reading the rest. On the unix socket, as `APILocal` does, any
//! request is an admin's; over TCP a request needs `Authorization: Bearer`.
//! In developer mode the server puts a rejected token into
//! `detailed_error`; the stand-in always does, so that a leak would show.

#![cfg(unix)] // the stand-in listens on a unix socket too

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::text;
use serde_json::{Value, json};

/// A system admin's personal access token (26 characters, as the server's).
const ADMIN_TOKEN: &str = "k7q3xw9mzp1a8rbt5ynd4hcf2e";
/// A token of a user who is no system admin.
const USER_TOKEN: &str = "u2m8vq4kx7sd1jzr9bnf3tpy6w";
/// The admin's username and password.
const ADMIN: (&str, &str) = ("sysadmin", "Sys@dmin-pass-1");
/// The session token the stand-in hands out at login.
const SESSION_TOKEN: &str = "s5n1ex8ybq3hk7rw2dmz9cfa4t";

// ---------------------------------------------------------------------------
// The stand-in server.

/// What a request looked like when it reached the stand-in.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    expect_continue: bool,
    /// The body bytes read (none when refused before reading).
    body_read: usize,
    /// The multipart form.
    form: Vec<Part>,
}

/// The server's state and settings.
struct State {
    /// `PluginSettings.Enable`.
    plugins_on: bool,
    /// `PluginSettings.EnableUploads`.
    uploads_on: bool,
    /// `FileSettings.MaxFileSize`.
    max_file_size: usize,
    /// Installed plugins: manifest and whether enabled.
    plugins: BTreeMap<String, (Value, bool)>,
    /// Token → (username, system admin).
    sessions: BTreeMap<String, (String, bool)>,
    /// The server log's lines.
    log: Vec<String>,
    /// Answer every request with `308` to this URL, as a proxy sending
    /// http:// to https:// does.
    redirect: Option<String>,
    seen: Vec<Seen>,
}

impl Default for State {
    fn default() -> Self {
        let mut sessions = BTreeMap::new();
        sessions.insert(ADMIN_TOKEN.to_owned(), ("sysadmin".to_owned(), true));
        sessions.insert(USER_TOKEN.to_owned(), ("someone".to_owned(), false));
        State {
            plugins_on: true,
            uploads_on: true,
            max_file_size: 100 * 1024 * 1024,
            plugins: BTreeMap::new(),
            sessions,
            log: Vec::new(),
            redirect: None,
            seen: Vec::new(),
        }
    }
}

/// A connection the stand-in answers on.
trait Conn: Read + Write + Send {
    /// Ends the stand-in's side of the connection for writing.
    fn close_write(&mut self);
}

impl Conn for TcpStream {
    fn close_write(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

impl Conn for UnixStream {
    fn close_write(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

#[cfg(feature = "https")]
impl Conn for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn close_write(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
        let _ = self.sock.shutdown(Shutdown::Write);
    }
}

/// A stand-in server on a listener of its own.
struct StandIn {
    state: Arc<Mutex<State>>,
    /// For `MM_SERVICESETTINGS_SITEURL`, or the socket for `MM_LOCALSOCKETPATH`.
    address: String,
    _dir: tempfile::TempDir,
}

impl StandIn {
    /// Over TCP: `http://127.0.0.1:PORT`.
    fn tcp() -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(Box::new(stream), false, &state));
            }
        });
        StandIn { state, address, _dir: tempfile::tempdir().unwrap() }
    }

    /// On a unix socket, as local mode.
    fn local() -> StandIn {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("mattermost_local.socket");
        let listener = UnixListener::bind(&socket).unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(Box::new(stream), true, &state));
            }
        });
        StandIn { state, address: socket.display().to_string(), _dir: dir }
    }

    /// Over TLS, with a certificate for `localhost`, whose PEM is written to
    /// `cert.pem` in its folder: `https://localhost:PORT`.
    #[cfg(feature = "https")]
    fn tls() -> StandIn {
        let dir = tempfile::tempdir().unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("https://localhost:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                let config = config.clone();
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    serve(Box::new(rustls::StreamOwned::new(conn, stream)), false, &state);
                });
            }
        });
        StandIn { state, address, _dir: dir }
    }

    #[cfg(feature = "https")]
    fn cert(&self) -> PathBuf {
        self._dir.path().join("cert.pem")
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    fn seen(&self) -> Vec<Seen> {
        self.with(|s| s.seen.clone())
    }
}

/// An answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Sent in two chunks, as Go sends an answer larger than its buffer.
    chunked: bool,
    /// Close without reading the rest of the request (Go, after a body it stopped reading).
    abandon: bool,
}

impl Answer {
    fn json(status: u16, body: Value) -> Answer {
        Answer { status, headers: Vec::new(), body: body.to_string().into_bytes(), chunked: false, abandon: false }
    }

    /// An `AppError` as `handleContextError` writes it.
    fn error(status: u16, id: &str, message: &str, detailed: &str) -> Answer {
        Answer::json(
            status,
            json!({ "id": id, "message": message, "detailed_error": detailed, "request_id": "r1x7c0ffee3ab9", "status_code": status }),
        )
    }

    fn ok() -> Answer {
        Answer::json(200, json!({ "status": "OK" }))
    }
}

/// The request head as read: method, target, headers (names lowercased).
struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Answers one request on `conn` (the client sends `Connection: close`).
fn serve(mut conn: Box<dyn Conn>, local: bool, state: &Mutex<State>) {
    let mut buf = Vec::new();
    let head = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let mut lines = text.split("\r\n");
            let mut first = lines.next().unwrap().split(' ');
            let (method, target) = (first.next().unwrap().to_owned(), first.next().unwrap().to_owned());
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            break Head { method, target, headers };
        }
        let mut chunk = [0u8; 4096];
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    assert!(head.header("host").is_some(), "HTTP/1.1 needs a Host header");
    let mut seen = Seen {
        method: head.method.clone(),
        path: head.target.clone(),
        authorization: head.header("authorization").map(str::to_owned),
        expect_continue: head.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")),
        body_read: 0,
        form: Vec::new(),
    };
    let answer = route(&head, &mut conn, &mut buf, local, state, &mut seen);
    state.lock().unwrap().seen.push(seen);
    write_answer(&mut conn, &answer);
    if answer.abandon {
        // Go's closeWriteAndWait: FIN, a pause, then close with the rest
        // of the upload unread (a reset).
        conn.close_write();
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn write_answer(conn: &mut Box<dyn Conn>, answer: &Answer) {
    let reason = match answer.status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        308 => "Permanent Redirect",
        404 => "Not Found",
        413 => "Request Entity Too Large",
        501 => "Not Implemented",
        _ => "Other",
    };
    let mut out =
        format!("HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nConnection: close\r\n", answer.status);
    for (name, value) in &answer.headers {
        out += &format!("{name}: {value}\r\n");
    }
    let mut bytes = if answer.chunked {
        out += "Transfer-Encoding: chunked\r\n\r\n";
        let (a, b) = answer.body.split_at(answer.body.len() / 2);
        let mut bytes = out.into_bytes();
        for chunk in [a, b] {
            bytes.extend(format!("{:x};ext=1\r\n", chunk.len()).as_bytes());
            bytes.extend(chunk);
            bytes.extend(b"\r\n");
        }
        bytes.extend(b"0\r\nX-Trailer: t\r\n\r\n");
        bytes
    } else {
        out += &format!("Content-Length: {}\r\n\r\n", answer.body.len());
        out.into_bytes()
    };
    if !answer.chunked {
        bytes.extend(&answer.body);
    }
    let _ = conn.write_all(&bytes);
    let _ = conn.flush();
}

/// Reads the body as a handler does: `100 Continue` first if asked for, and
/// at most `limit` bytes; `None` past the limit (`MaxBytesReader`).
fn read_body(
    head: &Head,
    conn: &mut Box<dyn Conn>,
    buf: &mut Vec<u8>,
    limit: usize,
    seen: &mut Seen,
) -> Option<Vec<u8>> {
    if seen.expect_continue {
        conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
        conn.flush().unwrap();
    }
    let length: usize = head.header("content-length").expect("a Content-Length").parse().unwrap();
    let wanted = length.min(limit + 1);
    while buf.len() < wanted {
        let mut chunk = vec![0u8; 64 * 1024];
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    seen.body_read = buf.len().min(wanted);
    (length <= limit).then(|| buf[..length].to_vec())
}

/// The api4 routes the commands use, each checked in the handler's order.
fn route(
    head: &Head,
    conn: &mut Box<dyn Conn>,
    buf: &mut Vec<u8>,
    local: bool,
    state: &Mutex<State>,
    seen: &mut Seen,
) -> Answer {
    if let Some(to) = state.lock().unwrap().redirect.clone() {
        let mut answer = Answer::json(308, json!("Permanent Redirect"));
        answer.headers.push(("Location".into(), to));
        return answer;
    }
    // ServeHTTP: the token, then the session it names.
    let session = if local {
        Some(("local".to_owned(), true))
    } else {
        let token = head.header("authorization").and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")).then(|| token.to_owned())
        });
        match token {
            None => None,
            Some(token) => match state.lock().unwrap().sessions.get(&token) {
                Some(session) => Some(session.clone()),
                None => {
                    return Answer::error(
                        401,
                        "api.context.session_expired.app_error",
                        "Invalid or expired session, please login again.",
                        &format!("token={token}"),
                    );
                }
            },
        }
    };
    let session_required = || {
        Answer::error(
            401,
            "api.context.session_expired.app_error",
            "Invalid or expired session, please login again.",
            "UserRequired",
        )
    };
    let permission = |user: &str, permission: &str| {
        Answer::error(
            403,
            "api.context.permissions.app_error",
            "You do not have the appropriate permissions.",
            &format!("userId={user}, permission={permission}"),
        )
    };
    let plugins_off = || {
        Answer::error(
            501,
            "app.plugin.disabled.app_error",
            "Plugins have been disabled. Please check your logs for details.",
            "",
        )
    };
    let path = head.target.split('?').next().unwrap();
    let segments: Vec<&str> = path.trim_start_matches("/api/v4/").split('/').collect();
    match (head.method.as_str(), segments.as_slice()) {
        // Not among the local socket's routes (InitLocal).
        ("POST", ["users", "login"]) if !local => {
            let limit = 64 * 1024;
            let body = read_body(head, conn, buf, limit, seen).unwrap();
            let props: Value = serde_json::from_slice(&body).unwrap();
            if props["login_id"] == ADMIN.0 && props["password"] == ADMIN.1 {
                state.lock().unwrap().sessions.insert(SESSION_TOKEN.to_owned(), (ADMIN.0.to_owned(), true));
                let mut answer = Answer::json(200, json!({ "id": "adminuserid", "username": ADMIN.0 }));
                answer.headers.push(("Token".into(), SESSION_TOKEN.into()));
                return answer;
            }
            Answer::error(
                401,
                "api.user.login.invalid_credentials_email_username",
                "Enter a valid email or username and/or password.",
                "",
            )
        }
        ("POST", ["plugins"]) => {
            let (plugins_on, uploads_on, max) = state.lock().unwrap().with_settings();
            if !plugins_on || !uploads_on {
                return Answer::error(
                    501,
                    "app.plugin.upload_disabled.app_error",
                    "Plugins and/or plugin uploads have been disabled.",
                    "",
                );
            }
            let Some((user, admin)) = session else { return session_required() };
            if !admin {
                return permission(&user, "sysconsole_write_plugins");
            }
            let Some(body) = read_body(head, conn, buf, max + 512, seen) else {
                let mut answer = Answer::error(
                    413,
                    "api.plugin.upload.file_too_large.app_error",
                    "Uploaded plugin size exceeds limit. This limit can be changed in the System Console via File Storage > Maximum File Size",
                    "",
                );
                answer.abandon = true;
                return answer;
            };
            let boundary =
                head.header("content-type").and_then(|v| v.split_once("boundary=")).map(|(_, b)| b.to_owned());
            seen.form = boundary.and_then(|b| parse_form(&body, &b)).expect("a multipart form");
            let Some((_, _, bundle)) = seen.form.iter().find(|(name, _, _)| name == "plugin") else {
                return Answer::error(
                    400,
                    "api.plugin.upload.no_file.app_error",
                    "Missing file in multipart/form request.",
                    "",
                );
            };
            let force = seen.form.iter().find(|(name, _, _)| name == "force").is_some_and(|(_, _, v)| v == b"true");
            install(bundle, force, state)
        }
        ("POST", ["plugins", id, action @ ("enable" | "disable")]) => {
            if !state.lock().unwrap().plugins_on {
                return plugins_off();
            }
            let Some((user, admin)) = session else { return session_required() };
            if !admin {
                return permission(&user, "sysconsole_write_plugins");
            }
            let mut state = state.lock().unwrap();
            let Some((_, enabled)) = state.plugins.get_mut(*id) else {
                return Answer::error(404, "app.plugin.not_installed.app_error", "Plugin is not installed.", "");
            };
            *enabled = *action == "enable";
            Answer::ok()
        }
        ("GET", ["logs"]) => {
            let Some((user, admin)) = session else { return session_required() };
            if !admin {
                return permission(&user, "get_logs");
            }
            Answer::json(200, json!(state.lock().unwrap().log))
        }
        _ => Answer::error(404, "api.context.404.app_error", "Sorry, we could not find the page.", ""),
    }
}

impl State {
    fn with_settings(&self) -> (bool, bool, usize) {
        (self.plugins_on, self.uploads_on, self.max_file_size)
    }
}

/// `installPlugin` → `extractPlugin` → `installExtractedPlugin`.
fn install(bundle: &[u8], force: bool, state: &Mutex<State>) -> Answer {
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bundle));
    let read = archive.entries().and_then(|entries| {
        for entry in entries {
            let mut entry = entry?;
            let path = entry.path()?.to_string_lossy().trim_start_matches("./").to_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            files.insert(path, bytes);
        }
        Ok(())
    });
    if read.is_err() {
        return Answer::error(
            400,
            "app.plugin.extract.app_error",
            "An error occurred extracting the plugin bundle.",
            "",
        );
    }
    // One folder at the top is gone into; the manifest is at the top of what is left.
    let tops: std::collections::BTreeSet<&str> = files.keys().map(|p| p.split('/').next().unwrap()).collect();
    let prefix = if tops.len() == 1 && files.keys().any(|p| p.contains('/')) {
        format!("{}/", tops.first().unwrap())
    } else {
        String::new()
    };
    let Some(manifest) =
        files.get(&format!("{prefix}plugin.json")).and_then(|b| serde_json::from_slice::<Value>(b).ok())
    else {
        return Answer::error(
            400,
            "app.plugin.manifest.app_error",
            "Unable to find manifest for extracted plugin.",
            "",
        );
    };
    let id = manifest["id"].as_str().unwrap_or("").to_owned();
    let valid =
        (3..=190).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Answer::error(
            400,
            "app.plugin.invalid_id.app_error",
            r"Plugin Id must be at least 3 characters, at most 190 characters and match ^[a-zA-Z0-9-_\.]+$.",
            "",
        );
    }
    let mut state = state.lock().unwrap();
    let enabled = match state.plugins.get(&id) {
        Some(_) if !force => {
            return Answer::error(
                400,
                "app.plugin.install_id.app_error",
                "Unable to install plugin. A plugin with the same ID is already installed.",
                "",
            );
        }
        Some((_, enabled)) => *enabled,
        None => false,
    };
    state.plugins.insert(id, (manifest.clone(), enabled));
    let mut answer = Answer::json(201, manifest);
    answer.chunked = true;
    answer
}

/// A part of a form: field name, file name, bytes.
type Part = (String, Option<String>, Vec<u8>);

/// The parts of a `multipart/form-data` body.
fn parse_form(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let delimiter = format!("--{boundary}").into_bytes();
    let separator = [b"\r\n".as_slice(), &delimiter].concat();
    let mut rest = body.strip_prefix(delimiter.as_slice())?;
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 4..];
        let next = find(rest, &separator)?;
        let disposition = headers.lines().find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let param = |key: &str| {
            let start = disposition.find(&format!("{key}=\""))? + key.len() + 2;
            let end = disposition[start..].find('"')? + start;
            Some(disposition[start..end].to_owned())
        };
        parts.push((param("name")?, param("filename"), rest[..next].to_vec()));
        rest = &rest[next + separator.len()..];
    }
}

// ---------------------------------------------------------------------------
// Bundles and the command.

/// A .tar.gz with `<id>/plugin.json` and a file of `size` bytes.
fn bundle(dir: &Path, id: &str, version: &str, size: usize) -> PathBuf {
    let path = dir.join(format!("{}-{version}.tar.gz", id.replace('/', "_")));
    let file = std::fs::File::create(&path).unwrap();
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    let manifest = json!({ "id": id, "name": "Test", "version": version, "server": { "executables": { "linux-amd64": "server/dist/plugin" } } });
    let mut add = |name: String, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive.append_data(&mut header, name, bytes).unwrap();
    };
    add(format!("{id}/plugin.json"), manifest.to_string().as_bytes());
    // Bytes gzip cannot shrink, so that the bundle is about `size` long.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    add(format!("{id}/server/dist/plugin"), &noise);
    archive.into_inner().unwrap().finish().unwrap();
    path
}

/// Runs the binary with only `env` in its environment (so that no MM_*
/// variable of the machine's leaks in).
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mmplugin-gen"));
    command.args(args).env_clear();
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// The environment for the stand-in over TCP with `token`, and no local
/// socket (one that is not there, so that a real one on this machine is
/// never used).
fn site_env<'a>(standin: &'a StandIn, token: &'a str, no_socket: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![("MM_LOCALSOCKETPATH", no_socket), ("MM_SERVICESETTINGS_SITEURL", &standin.address), ("MM_ADMIN_TOKEN", token)]
}

/// Asserts that none of the secrets is in the command's output.
fn assert_no_secret(out: &Output) {
    for secret in [ADMIN_TOKEN, USER_TOKEN, SESSION_TOKEN, ADMIN.1, "bogus-token-0123456789abcdef"] {
        assert!(!text(&out.stdout).contains(secret), "stdout has a secret:\n{}", text(&out.stdout));
        assert!(!text(&out.stderr).contains(secret), "stderr has a secret:\n{}", text(&out.stderr));
    }
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn assert_fails(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
    text(&out.stderr)
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn deploy_over_tcp_uploads_with_force_then_enables_and_redeploys() {
    let standin = StandIn::tcp();
    let dir = tempfile::tempdir().unwrap();
    let no_socket = dir.path().join("none.socket").display().to_string();
    let env = site_env(&standin, ADMIN_TOKEN, &no_socket);
    let first = bundle(dir.path(), "com.example.hello", "0.1.0", 3000);

    let out = run(&["deploy", "-v", first.to_str().unwrap()], &env);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "uploaded com.example.hello 0.1.0\nenabled com.example.hello\n");
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("note: no local mode: there is no local-mode socket {no_socket}")), "{stderr}");
    assert!(stderr.contains("> Authorization: Bearer ***"), "-v shows requests, credentials hidden:\n{stderr}");
    assert!(stderr.contains("< 201 Created") && stderr.contains("< 200 OK"), "{stderr}");
    assert_no_secret(&out);

    let seen = standin.seen();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let (upload, enable) = (&seen[0], &seen[1]);
    assert_eq!((upload.method.as_str(), upload.path.as_str()), ("POST", "/api/v4/plugins"));
    assert_eq!(upload.authorization.as_deref(), Some(format!("Bearer {ADMIN_TOKEN}").as_str()));
    assert!(upload.expect_continue, "the upload waits for 100 Continue");
    let fields: Vec<(&str, Option<&str>)> = upload.form.iter().map(|(n, f, _)| (n.as_str(), f.as_deref())).collect();
    assert_eq!(fields, [("plugin", Some("com.example.hello-0.1.0.tar.gz")), ("force", None)]);
    assert_eq!(upload.form[0].2, std::fs::read(&first).unwrap(), "the bundle arrives byte for byte");
    assert_eq!(upload.form[1].2, b"true");
    assert_eq!((enable.method.as_str(), enable.path.as_str()), ("POST", "/api/v4/plugins/com.example.hello/enable"));
    assert!(standin.with(|s| s.plugins["com.example.hello"].1), "enabled");

    // Change, bundle, deploy again: force replaces the installed plugin.
    let second = bundle(dir.path(), "com.example.hello", "0.2.0", 5000);
    let out = run(&["deploy", second.to_str().unwrap()], &env);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "uploaded com.example.hello 0.2.0\nenabled com.example.hello\n");
    assert_eq!(standin.with(|s| s.plugins["com.example.hello"].0["version"].clone()), "0.2.0");
}

#[test]
fn deploy_over_the_local_socket_sends_no_credentials() {
    let standin = StandIn::local();
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(dir.path(), "com.example.local", "1.0.0", 2000);
    // The socket wins over a site URL and a token, as in pluginctl.
    let env = [
        ("MM_LOCALSOCKETPATH", standin.address.as_str()),
        ("MM_SERVICESETTINGS_SITEURL", "http://127.0.0.1:9"),
        ("MM_ADMIN_TOKEN", ADMIN_TOKEN),
    ];
    let out = run(&["deploy", "-v", bundle.to_str().unwrap()], &env);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "uploaded com.example.local 1.0.0\nenabled com.example.local\n");
    assert!(text(&out.stderr).contains(&format!("note: local mode over {}", standin.address)), "{}", text(&out.stderr));
    let seen = standin.seen();
    assert_eq!(
        seen.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        ["/api/v4/plugins", "/api/v4/plugins/com.example.local/enable"]
    );
    assert!(seen.iter().all(|s| s.authorization.is_none()), "no credentials on the socket");
    assert_eq!(seen[0].form[0].2, std::fs::read(&bundle).unwrap());
    assert_no_secret(&out);
}

#[test]
fn enable_disable_and_reset() {
    let standin = StandIn::local();
    let dir = tempfile::tempdir().unwrap();
    let env = [("MM_LOCALSOCKETPATH", standin.address.as_str())];
    assert_ok(&run(&["deploy", bundle(dir.path(), "com.example.sw", "1.0.0", 100).to_str().unwrap()], &env));

    let out = run(&["disable", "com.example.sw"], &env);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "disabled com.example.sw\n");
    assert!(!standin.with(|s| s.plugins["com.example.sw"].1));
    let out = run(&["enable", "com.example.sw"], &env);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "enabled com.example.sw\n");
    let out = run(&["reset", "com.example.sw"], &env);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "disabled com.example.sw\nenabled com.example.sw\n");
    let paths: Vec<String> = standin.seen().into_iter().skip(2).map(|s| s.path).collect();
    assert_eq!(
        paths,
        ["disable", "enable", "disable", "enable"].map(|a| format!("/api/v4/plugins/com.example.sw/{a}")),
    );
    assert!(standin.with(|s| s.plugins["com.example.sw"].1));

    // A plugin the server does not have: its refusal, and what to do.
    let stderr = assert_fails(&run(&["enable", "com.example.nope"], &env));
    assert!(
        stderr.contains("404 Not Found: Plugin is not installed. [app.plugin.not_installed.app_error]"),
        "{stderr}"
    );
    assert!(stderr.contains("deploy its bundle first"), "{stderr}");
    // An id that cannot be one is refused before anything is sent.
    let before = standin.seen().len();
    let stderr = assert_fails(&run(&["disable", "../config"], &env));
    assert!(stderr.contains("plugin id \"../config\" has the character '/'"), "{stderr}");
    assert_eq!(standin.seen().len(), before);
}

#[test]
fn login_with_username_and_password() {
    let standin = StandIn::tcp();
    let dir = tempfile::tempdir().unwrap();
    let no_socket = dir.path().join("none.socket").display().to_string();
    let bundle = bundle(dir.path(), "com.example.login", "1.0.0", 100);
    let env = [
        ("MM_LOCALSOCKETPATH", no_socket.as_str()),
        ("MM_SERVICESETTINGS_SITEURL", standin.address.as_str()),
        ("MM_ADMIN_USERNAME", ADMIN.0),
        ("MM_ADMIN_PASSWORD", ADMIN.1),
    ];
    let out = run(&["deploy", "--verbose", bundle.to_str().unwrap()], &env);
    assert_ok(&out);
    assert!(
        text(&out.stderr).contains(&format!("note: {}, signing in as sysadmin", standin.address)),
        "{}",
        text(&out.stderr)
    );
    assert_no_secret(&out);
    let seen = standin.seen();
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("POST", "/api/v4/users/login"));
    assert_eq!(seen[0].authorization, None);
    // The session the login made is what the upload and the enable carry.
    for request in &seen[1..] {
        assert_eq!(request.authorization.as_deref(), Some(format!("Bearer {SESSION_TOKEN}").as_str()));
    }
    assert_eq!(seen.len(), 3);

    // A wrong password: the server's message and id, and no password shown.
    let env = [
        ("MM_LOCALSOCKETPATH", no_socket.as_str()),
        ("MM_SERVICESETTINGS_SITEURL", standin.address.as_str()),
        ("MM_ADMIN_USERNAME", ADMIN.0),
        ("MM_ADMIN_PASSWORD", "bogus-token-0123456789abcdef"),
    ];
    let out = run(&["deploy", "-v", bundle.to_str().unwrap()], &env);
    let stderr = assert_fails(&out);
    assert!(
        stderr.contains(&format!(
            "error: failed to log in as sysadmin to {}: 401 Unauthorized: Enter a valid email or username and/or password. \
             [api.user.login.invalid_credentials_email_username]",
            standin.address
        )),
        "{stderr}"
    );
    assert_no_secret(&out);
    assert_eq!(standin.seen().len(), 4, "nothing is uploaded after a failed login");
}

#[test]
fn a_token_the_server_rejects_is_not_echoed() {
    let standin = StandIn::tcp();
    let dir = tempfile::tempdir().unwrap();
    let no_socket = dir.path().join("none.socket").display().to_string();
    let bundle = bundle(dir.path(), "com.example.tok", "1.0.0", 100);
    let out = run(
        &["deploy", "-v", bundle.to_str().unwrap()],
        &site_env(&standin, "bogus-token-0123456789abcdef", &no_socket),
    );
    let stderr = assert_fails(&out);
    // The server put the token into detailed_error; it is shown as ***.
    assert!(
        stderr.contains(
            "401 Unauthorized: Invalid or expired session, please login again. [api.context.session_expired.app_error] (token=***)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("the server does not take MM_ADMIN_TOKEN"), "{stderr}");
    assert_no_secret(&out);
    assert_eq!(standin.seen()[0].body_read, 0, "refused from its headers: the bundle was not sent");
}

#[test]
fn uploads_turned_off_are_explained_and_the_bundle_is_not_sent() {
    for local in [false, true] {
        let standin = if local { StandIn::local() } else { StandIn::tcp() };
        standin.with(|s| s.uploads_on = false);
        let dir = tempfile::tempdir().unwrap();
        let no_socket = dir.path().join("none.socket").display().to_string();
        let bundle = bundle(dir.path(), "com.example.off", "1.0.0", 200_000);
        let env = if local {
            vec![("MM_LOCALSOCKETPATH", standin.address.as_str())]
        } else {
            site_env(&standin, ADMIN_TOKEN, &no_socket)
        };
        let out = run(&["deploy", bundle.to_str().unwrap()], &env);
        let stderr = assert_fails(&out);
        assert!(
            stderr.contains(
                "501 Not Implemented: Plugins and/or plugin uploads have been disabled. [app.plugin.upload_disabled.app_error]"
            ),
            "{stderr}"
        );
        assert!(stderr.contains("PluginSettings.EnableUploads"), "{stderr}");
        assert_eq!(text(&out.stdout), "", "nothing uploaded, nothing enabled");
        let seen = standin.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].body_read, 0, "the server answered before 100 Continue: the bundle was not sent");
    }
}

#[test]
fn an_account_that_is_no_admin_is_told_so() {
    let standin = StandIn::tcp();
    let dir = tempfile::tempdir().unwrap();
    let no_socket = dir.path().join("none.socket").display().to_string();
    let bundle = bundle(dir.path(), "com.example.user", "1.0.0", 100);
    let out = run(&["deploy", bundle.to_str().unwrap()], &site_env(&standin, USER_TOKEN, &no_socket));
    let stderr = assert_fails(&out);
    assert!(
        stderr.contains(
            "403 Forbidden: You do not have the appropriate permissions. [api.context.permissions.app_error] \
             (userId=someone, permission=sysconsole_write_plugins)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("which a system admin has"), "{stderr}");
    assert_no_secret(&out);
    // enable and logs too.
    standin.with(|s| s.plugins.insert("com.example.user".into(), (json!({}), false)));
    for args in [["enable", "com.example.user"], ["logs", "com.example.user"]] {
        let stderr = assert_fails(&run(&args, &site_env(&standin, USER_TOKEN, &no_socket)));
        assert!(stderr.contains("403 Forbidden") && stderr.contains("api.context.permissions.app_error"), "{stderr}");
    }
}

#[test]
fn a_bundle_over_the_servers_limit_gets_413_though_the_server_stops_reading() {
    for local in [false, true] {
        let standin = if local { StandIn::local() } else { StandIn::tcp() };
        standin.with(|s| s.max_file_size = 64 * 1024);
        let dir = tempfile::tempdir().unwrap();
        let no_socket = dir.path().join("none.socket").display().to_string();
        // Larger than the socket buffers: the write fails when the server
        // closes, and the 413 it sent before is what is shown.
        let bundle = bundle(dir.path(), "com.example.big", "1.0.0", 12 * 1024 * 1024);
        let env = if local {
            vec![("MM_LOCALSOCKETPATH", standin.address.as_str())]
        } else {
            site_env(&standin, ADMIN_TOKEN, &no_socket)
        };
        let out = run(&["deploy", bundle.to_str().unwrap()], &env);
        let stderr = assert_fails(&out);
        assert!(
            stderr.contains(
                "413 Request Entity Too Large: Uploaded plugin size exceeds limit. This limit can be changed in the System \
                 Console via File Storage > Maximum File Size [api.plugin.upload.file_too_large.app_error]"
            ),
            "local {local}: {stderr}"
        );
        assert!(stderr.contains("the bundle is 12.0 MiB") && stderr.contains("FileSettings.MaxFileSize"), "{stderr}");
        let seen = standin.seen();
        assert!(seen[0].body_read <= 64 * 1024 + 513, "the server stopped reading at its limit: {}", seen[0].body_read);
    }
}

#[test]
fn the_servers_own_checks_of_the_bundle_are_shown() {
    let standin = StandIn::local();
    let dir = tempfile::tempdir().unwrap();
    let env = [("MM_LOCALSOCKETPATH", standin.address.as_str())];
    let out = run(&["deploy", bundle(dir.path(), "x!", "1.0.0", 100).to_str().unwrap()], &env);
    let stderr = assert_fails(&out);
    assert!(
        stderr.contains(
            r"400 Bad Request: Plugin Id must be at least 3 characters, at most 190 characters and match ^[a-zA-Z0-9-_\.]+$. [app.plugin.invalid_id.app_error]"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("the server's own checks of the bundle refused it"), "{stderr}");

    // A .tar.gz without a plugin.json.
    let empty = dir.path().join("empty.tar.gz");
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&empty).unwrap(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    header.set_cksum();
    archive.append_data(&mut header, "README", &b"hi"[..]).unwrap();
    archive.into_inner().unwrap().finish().unwrap();
    let stderr = assert_fails(&run(&["deploy", empty.to_str().unwrap()], &env));
    assert!(
        stderr.contains("Unable to find manifest for extracted plugin. [app.plugin.manifest.app_error]"),
        "{stderr}"
    );

    // Not a .tar.gz at all, or no file: refused before the server is asked.
    let before = standin.seen().len();
    std::fs::write(dir.path().join("plugin.json"), "{}").unwrap();
    let stderr = assert_fails(&run(&["deploy", dir.path().join("plugin.json").to_str().unwrap()], &env));
    assert!(stderr.contains("not a .tar.gz (no gzip header)"), "{stderr}");
    let stderr = assert_fails(&run(&["deploy", dir.path().join("missing.tar.gz").to_str().unwrap()], &[]));
    assert!(stderr.contains("missing.tar.gz: No such file or directory"), "{stderr}");
    assert_eq!(standin.seen().len(), before);
}

#[test]
fn nothing_configured_names_the_variables() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(dir.path(), "com.example.none", "1.0.0", 100);
    let no_socket = dir.path().join("none.socket").display().to_string();
    let out = run(&["deploy", bundle.to_str().unwrap()], &[("MM_LOCALSOCKETPATH", &no_socket)]);
    let stderr = assert_fails(&out);
    assert!(
        stderr
            .contains(&format!("there is no local-mode socket {no_socket}, and MM_SERVICESETTINGS_SITEURL is not set")),
        "{stderr}"
    );
    for variable in
        ["MM_LOCALSOCKETPATH", "MM_SERVICESETTINGS_SITEURL", "MM_ADMIN_TOKEN", "MM_ADMIN_USERNAME", "MM_ADMIN_PASSWORD"]
    {
        assert!(stderr.contains(variable), "{variable} in {stderr}");
    }

    // A site URL without credentials; a username without a password.
    let site = [("MM_LOCALSOCKETPATH", no_socket.as_str()), ("MM_SERVICESETTINGS_SITEURL", "http://127.0.0.1:9")];
    let stderr = assert_fails(&run(&["enable", "com.example.none"], &site));
    assert!(
        stderr.contains("MM_SERVICESETTINGS_SITEURL is http://127.0.0.1:9, but there are no credentials for it"),
        "{stderr}"
    );
    assert!(stderr.contains("set MM_ADMIN_TOKEN"), "{stderr}");
    let half = [site[0], site[1], ("MM_ADMIN_USERNAME", "sysadmin"), ("MM_ADMIN_PASSWORD", "")];
    let stderr = assert_fails(&run(&["enable", "com.example.none"], &half));
    assert!(stderr.contains("(MM_ADMIN_USERNAME is set, MM_ADMIN_PASSWORD is not)"), "{stderr}");
    // A URL that is not one; a server that is not there.
    let stderr = assert_fails(&run(
        &["enable", "com.example.none"],
        &[site[0], ("MM_SERVICESETTINGS_SITEURL", "localhost:8065"), ("MM_ADMIN_TOKEN", ADMIN_TOKEN)],
    ));
    assert!(
        stderr.contains("MM_SERVICESETTINGS_SITEURL: \"localhost:8065\" is not an http:// or https:// URL"),
        "{stderr}"
    );
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}");
    let out = run(
        &["enable", "com.example.none"],
        &[site[0], ("MM_SERVICESETTINGS_SITEURL", &url), ("MM_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let stderr = assert_fails(&out);
    assert!(
        stderr.contains(&format!("POST /api/v4/plugins/com.example.none/enable on {url}: Connection refused")),
        "{stderr}"
    );
    assert_no_secret(&out);
}

#[test]
fn a_redirect_or_a_wrong_path_says_to_check_the_site_url() {
    let standin = StandIn::tcp();
    let dir = tempfile::tempdir().unwrap();
    let no_socket = dir.path().join("none.socket").display().to_string();
    standin.with(|s| s.redirect = Some("https://chat.example.com/".into()));
    let stderr = assert_fails(&run(&["enable", "com.example.r"], &site_env(&standin, ADMIN_TOKEN, &no_socket)));
    assert!(stderr.contains("308 Permanent Redirect"), "{stderr}");
    assert!(
        stderr.contains("the server redirects to https://chat.example.com/: set MM_SERVICESETTINGS_SITEURL to the URL"),
        "{stderr}"
    );
    // A subpath the server does not have.
    standin.with(|s| s.redirect = None);
    let url = format!("{}/chat", standin.address);
    let env = [
        ("MM_LOCALSOCKETPATH", no_socket.as_str()),
        ("MM_SERVICESETTINGS_SITEURL", &url),
        ("MM_ADMIN_TOKEN", ADMIN_TOKEN),
    ];
    let stderr = assert_fails(&run(&["enable", "com.example.r"], &env));
    assert!(
        stderr.contains("404 Not Found: Sorry, we could not find the page. [api.context.404.app_error]"),
        "{stderr}"
    );
    assert!(stderr.contains("is MM_SERVICESETTINGS_SITEURL the server's URL"), "{stderr}");
    assert_eq!(standin.seen()[1].path, "/chat/api/v4/plugins/com.example.r/enable", "the subpath is kept");
}

#[test]
fn logs_prints_the_plugins_lines() {
    let standin = StandIn::local();
    let line = |plugin: &str, msg: &str| {
        json!({ "timestamp": "2026-01-02 03:04:05.678 Z", "level": "info", "msg": msg, "caller": "app/plugin_api.go:1", "plugin_id": plugin })
            .to_string()
    };
    standin.with(|s| {
        s.log = vec![
            line("com.example.a", "started"),
            line("com.example.b", "other"),
            format!("\n{}", line("com.example.a", "hello")),
            String::new(),
        ]
    });
    let env = [("MM_LOCALSOCKETPATH", standin.address.as_str())];
    let out = run(&["logs", "com.example.a"], &env);
    assert_ok(&out);
    assert_eq!(
        text(&out.stdout),
        format!("{}\n{}\n", line("com.example.a", "started"), line("com.example.a", "hello"))
    );
    assert_eq!(standin.seen()[0].path, "/api/v4/logs?page=0&logs_per_page=500");

    let out = run(&["logs", "com.example.quiet"], &env);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "");
    assert!(text(&out.stderr).contains("note: no line of com.example.quiet among the last 500 of the server's log"));

    standin.with(|s| s.log = vec!["2026-01-02T03:04:05.678Z info plain text".into()]);
    let stderr = assert_fails(&run(&["logs", "com.example.a"], &env));
    assert!(stderr.contains("set LogSettings.FileJson to true"), "{stderr}");
}

#[cfg(feature = "https")]
#[test]
fn https_with_the_machines_trust_or_ssl_cert_file() {
    let standin = StandIn::tls();
    let dir = tempfile::tempdir().unwrap();
    let no_socket = dir.path().join("none.socket").display().to_string();
    let bundle = bundle(dir.path(), "com.example.tls", "1.0.0", 300_000);
    let cert = standin.cert().display().to_string();
    let mut env = site_env(&standin, ADMIN_TOKEN, &no_socket);
    env.push(("SSL_CERT_FILE", &cert));
    let out = run(&["deploy", bundle.to_str().unwrap()], &env);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "uploaded com.example.tls 1.0.0\nenabled com.example.tls\n");
    assert_eq!(standin.seen()[0].form[0].2, std::fs::read(&bundle).unwrap());
    assert_no_secret(&out);

    // Without SSL_CERT_FILE the machine's store does not know the stand-in's
    // certificate: refused in the handshake, before any request.
    env.pop();
    let out = run(&["deploy", bundle.to_str().unwrap()], &env);
    let stderr = assert_fails(&out);
    assert!(stderr.contains("certificate"), "{stderr}");
    assert_eq!(standin.seen().len(), 2);
    assert_no_secret(&out);
}

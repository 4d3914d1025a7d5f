//! Deploy: put a plugin bundle on a Mattermost server and turn it on, as the
//! starter template's `pluginctl` does (`build/pluginctl/main.go` in
//! mattermost/mattermost-plugin-starter-template), through the server's
//! REST API (`server/channels/api4/plugin.go` in mattermost/mattermost).
//!
//! # Which server, and how to sign in
//!
//! [`connect`] follows pluginctl's `getClient`, in its order:
//!
//! 1. The local-mode socket: `MM_LOCALSOCKETPATH`, or
//!    `/var/tmp/mattermost_local.socket` (`model.LocalModeSocketPath`) when
//!    unset. If a connection to it opens, every request goes there, with no
//!    credentials: the server serves its local API on that socket
//!    (`startLocalModeServer` in `server/channels/app/server.go`, the routes
//!    of `InitLocal` in `server/channels/api4/api.go`, among them
//!    `InitPluginLocal`'s upload, enable and disable) and lets any request on
//!    it act as an admin (`APILocal` in `server/channels/api4/handlers.go`).
//!    The server makes the socket only with `ServiceSettings.EnableLocalMode`,
//!    and with mode 0600: the server's own user (or root) can open it.
//! 2. Otherwise `MM_SERVICESETTINGS_SITEURL` is required, with
//!    `MM_ADMIN_TOKEN` first (sent as `Authorization: Bearer`),
//! 3. then `MM_ADMIN_USERNAME` and `MM_ADMIN_PASSWORD` (both set): a login,
//!    `POST /api/v4/users/login` (`login` in `server/channels/api4/user.go`),
//!    whose session token comes back in the `Token` header (`DoLogin` in
//!    `server/channels/app/login.go`).
//!
//! An empty variable counts as unset, as Go's `os.Getenv(…) != ""` reads it.
//! Where pluginctl stops at the first missing variable, the errors here name
//! every variable that would do.
//!
//! # The requests
//!
//! - Upload: `POST /api/v4/plugins`, `multipart/form-data` with the bundle in
//!   the field `plugin` and `force` = `true` (`uploadPlugin` reads
//!   `m.File["plugin"]` and `m.Value["force"][0] == "true"`); `201 Created`
//!   with the manifest as JSON (`installPlugin`). With force, an installed
//!   plugin of the same id is replaced (`installPluginLocallyAlways` in
//!   `server/channels/app/plugin_install.go`), and restarted if it was on.
//! - Enable, disable: `POST /api/v4/plugins/{id}/enable` and `/disable`, no
//!   body; `200` with `{"status":"OK"}` (`enablePlugin`, `disablePlugin`).
//! - Log: `GET /api/v4/logs?page=0&logs_per_page=500` (`getLogs` in
//!   `server/channels/api4/system.go`, also on the local socket): the last
//!   lines of the server's log file, as JSON strings; pluginctl's `logs`
//!   keeps a plugin's by their `plugin_id`.
//!
//! Every refusal is an `AppError` as JSON, `{"id", "message",
//! "detailed_error", "request_id", "status_code"}` (`handleContextError` in
//! `server/channels/web/handlers.go`); [`DeployError::Refused`] shows its
//! message and id, and says what to change for the refusals a developer
//! meets: uploads off (`501`, `app.plugin.upload_disabled.app_error`), not a
//! system admin (`403`, `api.context.permissions.app_error`), a bundle over
//! `FileSettings.MaxFileSize` (`413`,
//! `api.plugin.upload.file_too_large.app_error`), a bad token (`401`,
//! `api.context.session_expired.app_error`), a failed login, and the
//! server's own checks of the bundle (`400`, such as
//! `app.plugin.invalid_id.app_error`).
//!
//! # Secrets
//!
//! The token and the password are never printed: not in errors, not with
//! `-v`. A server in developer mode puts a rejected token into its answer's
//! `detailed_error` (`"token=" + token`, `ServeHTTP` in
//! `server/channels/web/handlers.go`); every text from the server is shown
//! with both replaced by `***`.

mod http;
#[cfg(feature = "https")]
mod tls;

use std::fmt;
use std::io;
use std::path::Path;

pub use http::{SiteUrl, Transport};

/// Where the server's local-mode socket is when `MM_LOCALSOCKETPATH` is
/// unset (`model.LocalModeSocketPath`, and the default of
/// `ServiceSettings.LocalModeSocketLocation`).
pub const DEFAULT_SOCKET: &str = "/var/tmp/mattermost_local.socket";
/// The local-mode socket's path.
pub const ENV_SOCKET: &str = "MM_LOCALSOCKETPATH";
/// The server's site URL.
pub const ENV_SITE_URL: &str = "MM_SERVICESETTINGS_SITEURL";
/// A session or personal access token of a system admin.
pub const ENV_TOKEN: &str = "MM_ADMIN_TOKEN";
/// A system admin's username (or email), with [`ENV_PASSWORD`].
pub const ENV_USERNAME: &str = "MM_ADMIN_USERNAME";
/// That admin's password.
pub const ENV_PASSWORD: &str = "MM_ADMIN_PASSWORD";

/// How many of the log's last lines `logs` reads, as pluginctl's `logs`.
pub const LOG_LINES: usize = 500;

/// A token or a password: printed as `***`, in `Debug` too.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for the one place that sends it.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What went wrong, in words for the user; each line of it is a line of
/// the command's error.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// No server configured, or a variable that cannot be read.
    #[error("{0}")]
    Config(String),
    /// The server could not be reached, or answered in a way that is not HTTP.
    #[error("{0}")]
    Connection(String),
    /// The server answered with a refusal: its message and id, and what to do.
    #[error("{0}")]
    Refused(String),
    /// The bundle cannot be read, or is not a bundle.
    #[error("{0}")]
    Bundle(String),
}

/// How a command reports while it works.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// Print each request (method, path, headers with credentials as `***`,
    /// body size) and each answer's status.
    pub verbose: bool,
    /// Receives the lines to print on stderr: notes (`note: …`) on how the
    /// server is reached, and with `verbose` the requests (`> …`) and
    /// answers (`< …`).
    pub log: &'a dyn Fn(&str),
}

enum Auth {
    /// None: the login request.
    None,
    /// The local-mode socket: no credentials.
    Local,
    /// `Authorization: Bearer` with `MM_ADMIN_TOKEN`.
    Token(Secret),
    /// `Authorization: Bearer` with the token of a login.
    Session(Secret),
}

/// A server to talk to, reached as [`connect`] decided.
pub struct Server<'a> {
    transport: Transport,
    host: String,
    base: String,
    auth: Auth,
    /// What the user sees as the server: the socket's path or the site URL.
    shown: String,
    /// Texts never to print: the token and the password.
    secrets: Vec<Secret>,
    options: Options<'a>,
}

/// A plugin the server installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// Its id, from the manifest the server answered with.
    pub id: String,
    /// Its version.
    pub version: String,
}

/// Finds the server and signs in, by pluginctl's rules (see the [module
/// docs](self)); `env` reads an environment variable.
pub fn connect<'a>(env: &dyn Fn(&str) -> Option<String>, options: Options<'a>) -> Result<Server<'a>, DeployError> {
    let var = |name: &str| env(name).filter(|value| !value.is_empty());
    let socket_set = var(ENV_SOCKET);
    let socket = socket_set.clone().unwrap_or_else(|| DEFAULT_SOCKET.to_owned());
    let no_socket = match local_socket(&socket) {
        Ok(transport) => {
            (options.log)(&format!("note: local mode over {socket}"));
            return Ok(Server {
                transport,
                host: "localhost".into(),
                base: String::new(),
                auth: Auth::Local,
                shown: format!("the local-mode socket {socket}"),
                secrets: Vec::new(),
                options,
            });
        }
        Err(why) => why,
    };
    if socket_set.is_some() {
        (options.log)(&format!("note: no local mode: {no_socket}; trying {ENV_SITE_URL}"));
    }

    let Some(site) = var(ENV_SITE_URL) else {
        return Err(DeployError::Config(format!(
            "no Mattermost server to deploy to: {no_socket}, and {ENV_SITE_URL} is not set\n\
             set {ENV_SOCKET} to the server's local-mode socket (ServiceSettings.EnableLocalMode, \
             ServiceSettings.LocalModeSocketLocation; default {DEFAULT_SOCKET}), or {ENV_SITE_URL} to the \
             server's URL with either {ENV_TOKEN} (a system admin's personal access token) or \
             {ENV_USERNAME} and {ENV_PASSWORD}"
        )));
    };
    let url = SiteUrl::parse(&site).map_err(|e| DeployError::Config(format!("{ENV_SITE_URL}: {e}")))?;
    let server = |auth: Auth, secrets: Vec<Secret>| Server {
        transport: url.transport.clone(),
        host: url.authority.clone(),
        base: url.base.clone(),
        auth,
        shown: site.clone(),
        secrets,
        options,
    };

    if let Some(token) = var(ENV_TOKEN) {
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DeployError::Config(format!("{ENV_TOKEN} has a space or a control character in it")));
        }
        (options.log)(&format!("note: {site}, with {ENV_TOKEN}"));
        let token = Secret::new(token);
        return Ok(server(Auth::Token(token.clone()), vec![token]));
    }
    match (var(ENV_USERNAME), var(ENV_PASSWORD)) {
        (Some(username), Some(password)) => {
            (options.log)(&format!("note: {site}, signing in as {username}"));
            let password = Secret::new(password);
            let login = server(Auth::None, vec![password.clone()]);
            let token = login.login(&username, &password)?;
            Ok(server(Auth::Session(token.clone()), vec![token, password]))
        }
        (username, password) => {
            let half = match (username, password) {
                (Some(_), None) => format!(" ({ENV_USERNAME} is set, {ENV_PASSWORD} is not)"),
                (None, Some(_)) => format!(" ({ENV_PASSWORD} is set, {ENV_USERNAME} is not)"),
                _ => String::new(),
            };
            Err(DeployError::Config(format!(
                "{ENV_SITE_URL} is {site}, but there are no credentials for it{half}\n\
                 set {ENV_TOKEN} (a system admin's personal access token), or {ENV_USERNAME} and {ENV_PASSWORD}"
            )))
        }
    }
}

/// The local-mode socket, if a connection to it opens (pluginctl's
/// `getUnixClient` dials it the same way); else why not.
fn local_socket(path: &str) -> Result<Transport, String> {
    #[cfg(unix)]
    {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Ok(Transport::Unix(path.into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!("there is no local-mode socket {path}")),
            Err(e) => Err(format!("the local-mode socket {path} does not answer ({e})")),
        }
    }
    #[cfg(not(unix))]
    {
        Err(format!("local mode ({path}) needs a unix socket, which this system lacks"))
    }
}

/// An `AppError` as the server sends it.
struct AppError {
    id: String,
    message: String,
    detailed: String,
}

fn app_error(body: &[u8]) -> Option<AppError> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let error = AppError { id: text("id"), message: text("message"), detailed: text("detailed_error") };
    (!error.id.is_empty() || !error.message.is_empty()).then_some(error)
}

/// A server answer's body that is not JSON, as one short line.
fn plain(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 { format!("{}…", line.chars().take(200).collect::<String>()) } else { line }
}

/// 1 MiB, for sizes.
const MIB: f64 = 1024.0 * 1024.0;

impl Server<'_> {
    /// What the server is to the user: the socket or the site URL.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// `text` with every secret replaced by `***`.
    fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |text, secret| {
            if secret.expose().is_empty() { text } else { text.replace(secret.expose(), "***") }
        })
    }

    fn request<'b>(&self, method: &'static str, path: &str, body: http::Body<'b>) -> http::Request<'b> {
        let mut headers = Vec::new();
        if let Auth::Token(token) | Auth::Session(token) = &self.auth {
            headers.push(("Authorization", format!("Bearer {}", token.expose())));
        }
        http::Request { method, path: format!("{}/api/v4{path}", self.base), headers, body }
    }

    /// Sends `request`; any status is an answer, only no answer is an error.
    fn send(&self, request: &http::Request<'_>) -> Result<http::Response, DeployError> {
        if self.options.verbose {
            (self.options.log)(&request.describe());
        }
        let response = http::send(&self.transport, &self.host, request).map_err(|e| {
            DeployError::Connection(self.redact(&format!(
                "{} {} on {}: {}",
                request.method,
                request.path,
                self.shown,
                describe_io(&e)
            )))
        })?;
        if self.options.verbose {
            (self.options.log)(&format!("< {response} ({} bytes)", response.body.len()));
        }
        Ok(response)
    }

    /// The refusal in `response` to `doing`: the server's message and id,
    /// then, for the refusals a developer meets, what to change.
    fn refused(&self, doing: &str, response: &http::Response, hint: Option<String>) -> DeployError {
        let what = match app_error(&response.body) {
            Some(e) => {
                let mut what = format!("{}: {} [{}]", response, e.message, e.id);
                if !e.detailed.is_empty() {
                    what += &format!(" ({})", e.detailed);
                }
                what
            }
            None if response.body.is_empty() => response.to_string(),
            None => format!("{response}: {}", plain(&response.body)),
        };
        let mut text = format!("{doing}: {what}");
        // A redirect (http:// to https://, a subpath added) is not followed:
        // a POST would lose its body.
        let hint = match response.header("location") {
            Some(location) if (300..400).contains(&response.status) => {
                Some(format!("the server redirects to {location}: set {ENV_SITE_URL} to the URL it redirects to"))
            }
            _ => hint,
        };
        if let Some(hint) = hint {
            text += "\n";
            text += &hint;
        }
        DeployError::Refused(self.redact(&text))
    }

    /// What to change for the refusals every request can meet.
    fn common_hint(&self, response: &http::Response) -> Option<String> {
        let id = app_error(&response.body).map(|e| e.id).unwrap_or_default();
        match (response.status, id.as_str()) {
            (_, "app.plugin.disabled.app_error") => {
                Some("plugins are off on the server: set PluginSettings.Enable to true".into())
            }
            (404, "api.context.404.app_error") | (404, "") => Some(format!(
                "the server has no such API route: is {ENV_SITE_URL} the server's URL, with its subpath if it has one?"
            )),
            (403, _) => Some(
                "the account must be allowed to manage plugins (the permission sysconsole_write_plugins, \
                 which a system admin has)"
                    .into(),
            ),
            (401, _) => match self.auth {
                Auth::Token(_) => Some(format!(
                    "the server does not take {ENV_TOKEN}: it must be a valid personal access token (or session token) of a system admin"
                )),
                Auth::Session(_) => {
                    Some("the server no longer takes the session of the login: run the command again".into())
                }
                Auth::None | Auth::Local => None,
            },
            _ => None,
        }
    }

    fn login(&self, username: &str, password: &Secret) -> Result<Secret, DeployError> {
        let body = serde_json::json!({ "login_id": username, "password": password.expose() });
        let request =
            self.request("POST", "/users/login", http::Body::Bytes("application/json", body.to_string().into_bytes()));
        let response = self.send(&request)?;
        let doing = format!("failed to log in as {username} to {}", self.shown);
        if response.status != 200 {
            let hint = (response.status == 401).then(|| {
                format!("check {ENV_USERNAME} and {ENV_PASSWORD}; an account with MFA needs {ENV_TOKEN} instead")
            });
            return Err(self.refused(&doing, &response, hint));
        }
        match response.header("token") {
            Some(token) if !token.is_empty() => Ok(Secret::new(token)),
            _ => Err(DeployError::Refused(format!("{doing}: the server answered {response} without a Token header"))),
        }
    }

    /// Uploads `bundle`, replacing a plugin of the same id (`force`), and
    /// returns what the server installed. Nothing is enabled.
    pub fn upload(&self, bundle: &Path) -> Result<Installed, DeployError> {
        let size = check_bundle(bundle)?;
        let form = http::Form {
            boundary: http::boundary(),
            file_field: "plugin",
            file_name: bundle.file_name().map_or_else(|| "plugin.tar.gz".into(), |n| n.to_string_lossy().into_owned()),
            file: bundle,
            file_len: size,
            fields: vec![("force", "true".into())],
        };
        let request = self.request("POST", "/plugins", http::Body::Form(&form));
        let response = self.send(&request)?;
        let doing = format!("upload of {} to {}", bundle.display(), self.shown);
        if response.status != 201 {
            let id = app_error(&response.body).map(|e| e.id).unwrap_or_default();
            let hint = match (response.status, id.as_str()) {
                (_, "app.plugin.upload_disabled.app_error") => Some(
                    "the server takes uploads only with PluginSettings.Enable and PluginSettings.EnableUploads \
                     true and PluginSettings.RequirePluginSignature false (System Console > Plugins > Plugin \
                     Management > Upload Plugin; or MM_PLUGINSETTINGS_ENABLEUPLOADS=true in the server's environment)"
                        .to_owned(),
                ),
                (413, _) => Some(format!(
                    "the bundle is {:.1} MiB; Mattermost takes uploads up to FileSettings.MaxFileSize (100 MiB unless \
                     changed: System Console > Environment > File Storage > Maximum File Size), and a proxy in front \
                     of it may have a lower limit of its own (nginx: client_max_body_size); a release build \
                     (./bundle.sh without PROFILE=debug) is much smaller",
                    size as f64 / MIB
                )),
                (400, _) => Some("the server's own checks of the bundle refused it".to_owned()),
                _ => self.common_hint(&response),
            };
            return Err(self.refused(&doing, &response, hint));
        }
        let manifest: serde_json::Value = serde_json::from_slice(&response.body).map_err(|e| {
            DeployError::Refused(format!(
                "{doing}: the server answered {response} with a manifest that is not JSON ({e})"
            ))
        })?;
        let text = |key: &str| manifest.get(key).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        let installed = Installed { id: text("id"), version: text("version") };
        if installed.id.is_empty() {
            return Err(DeployError::Refused(format!(
                "{doing}: the server answered {response} with a manifest without an id"
            )));
        }
        Ok(installed)
    }

    /// Enables plugin `id`; the server then starts it.
    pub fn enable(&self, id: &str) -> Result<(), DeployError> {
        self.switch(id, "enable")
    }

    /// Disables plugin `id`; the server stops it.
    pub fn disable(&self, id: &str) -> Result<(), DeployError> {
        self.switch(id, "disable")
    }

    fn switch(&self, id: &str, action: &str) -> Result<(), DeployError> {
        check_id(id)?;
        let request = self.request("POST", &format!("/plugins/{id}/{action}"), http::Body::Empty);
        let response = self.send(&request)?;
        if response.status == 200 {
            return Ok(());
        }
        let hint = match app_error(&response.body).map(|e| e.id).as_deref() {
            Some("app.plugin.not_installed.app_error") => {
                Some(format!("no plugin {id} is installed on the server: deploy its bundle first"))
            }
            _ => self.common_hint(&response),
        };
        Err(self.refused(&format!("{action} of {id} on {}", self.shown), &response, hint))
    }

    /// The lines of the server's log (its last [`LOG_LINES`]) that plugin
    /// `id` wrote, as the server wrote them (JSON).
    pub fn log_lines(&self, id: &str) -> Result<Vec<String>, DeployError> {
        check_id(id)?;
        let request = self.request("GET", &format!("/logs?page=0&logs_per_page={LOG_LINES}"), http::Body::Empty);
        let response = self.send(&request)?;
        let doing = format!("reading the log of {}", self.shown);
        if response.status != 200 {
            let hint = self.common_hint(&response);
            return Err(self.refused(&doing, &response, hint));
        }
        let lines: Vec<String> = serde_json::from_slice(&response.body).map_err(|e| {
            DeployError::Refused(format!("{doing}: the server answered {response} with no list of lines ({e})"))
        })?;
        let mut mine = Vec::new();
        for line in lines {
            let line = line.trim_start_matches('\n');
            if line.trim().is_empty() {
                continue;
            }
            let Ok(serde_json::Value::Object(entry)) = serde_json::from_str::<serde_json::Value>(line) else {
                return Err(DeployError::Refused(format!(
                    "{doing}: the server's log file is not JSON, so a plugin's lines cannot be told apart: \
                     set LogSettings.FileJson to true"
                )));
            };
            if entry.get("plugin_id").and_then(|v| v.as_str()) == Some(id) {
                mine.push(self.redact(line));
            }
        }
        Ok(mine)
    }
}

/// Checks that `bundle` is a file that starts as a .tar.gz does, before
/// anything is sent; returns its size.
pub fn check_bundle(bundle: &Path) -> Result<u64, DeployError> {
    let unreadable = |e: io::Error| DeployError::Bundle(format!("{}: {e}", bundle.display()));
    let metadata = std::fs::metadata(bundle).map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(DeployError::Bundle(format!("{}: not a file", bundle.display())));
    }
    let mut magic = [0u8; 2];
    let mut file = std::fs::File::open(bundle).map_err(unreadable)?;
    let read = io::Read::read(&mut file, &mut magic).map_err(unreadable)?;
    if read < 2 || magic != [0x1f, 0x8b] {
        return Err(DeployError::Bundle(format!(
            "{}: not a .tar.gz (no gzip header): give the bundle `mmplugin-gen bundle` wrote",
            bundle.display()
        )));
    }
    Ok(metadata.len())
}

/// A plugin id as the server takes it (`model.IsValidPluginId`), checked
/// before it goes into a URL path.
fn check_id(id: &str) -> Result<(), DeployError> {
    match crate::manifest::id_problem(id) {
        Some(problem) => Err(DeployError::Config(format!("plugin id {problem}"))),
        None if id.is_empty() => Err(DeployError::Config("a plugin id is needed".into())),
        None => Ok(()),
    }
}

/// An I/O error as a reason.
fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("no answer within {} s", http::IO_TIMEOUT.as_secs())
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }

    #[test]
    fn app_errors_need_an_id_or_a_message() {
        let e = app_error(br#"{"id":"x.y","message":"No.","detailed_error":"d","status_code":400}"#).unwrap();
        assert_eq!((e.id.as_str(), e.message.as_str(), e.detailed.as_str()), ("x.y", "No.", "d"));
        assert!(app_error(b"{}").is_none());
        assert!(app_error(b"<html>413</html>").is_none());
        assert_eq!(plain(b"<html>\n  <b>413</b>\n</html>"), "<html> <b>413</b> </html>");
    }
}

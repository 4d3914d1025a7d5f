//! One error type for every API call.
//!
//! The server reports a failed call in one of two ways: an `AppError` in the
//! response's `error` field, or (what the real server does) a gRPC status
//! whose message is `"<app error id>: <message>"` and whose code follows the
//! app error's HTTP status. Both become [`Error::App`]. Failures that never
//! reached the server's logic (no connection, a broken stream) are
//! [`Error::Transport`]; other gRPC statuses are [`Error::Status`].

use std::fmt;

/// A failed API call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an application error.
    App(Box<AppError>),
    /// The call did not reach the server, or the connection broke.
    Transport(Box<tonic::Status>),
    /// A gRPC status that carries no application error (for example
    /// `Unimplemented` from a server older than this SDK).
    Status(Box<tonic::Status>),
    /// Connecting to the server failed.
    Connect(Box<tonic::transport::Error>),
    /// The request is larger than the server accepts: refused by the client
    /// before sending (see [`crate::api::MAX_REQUEST_SIZE`]), or by the
    /// server (grpc-go's `received message larger than max`).
    TooLarge {
        /// The request's encoded size, in bytes.
        size: usize,
        /// The largest request accepted, in bytes.
        limit: usize,
    },
    /// The response lacks a field the call needs.
    MissingField(&'static str),
    /// A JSON payload could not be decoded.
    Json {
        /// The field that carried it.
        field: &'static str,
        /// What serde_json said.
        source: serde_json::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::App(e) => e.fmt(f),
            Self::Transport(status) => write!(f, "transport error: {status}"),
            Self::Status(status) => write!(f, "gRPC status {:?}: {}", status.code(), status.message()),
            Self::Connect(e) => write!(f, "cannot connect to the plugin API: {e}"),
            Self::TooLarge { size, limit } => write!(
                f,
                "the request is {size} bytes, over the server's limit of {limit} bytes: send large data in smaller pieces"
            ),
            Self::MissingField(field) => write!(f, "the server's response lacks `{field}`"),
            Self::Json { field, source } => write!(f, "invalid JSON in `{field}`: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::App(e) => e.source(),
            Self::Transport(status) | Self::Status(status) => Some(&**status),
            Self::Connect(e) => Some(&**e),
            Self::TooLarge { .. } | Self::MissingField(_) => None,
            Self::Json { source, .. } => Some(source),
        }
    }
}

impl Error {
    /// The application error, if the server sent one.
    pub fn app(&self) -> Option<&AppError> {
        match self {
            Self::App(app) => Some(app),
            _ => None,
        }
    }

    /// What kind of failure this is, whichever way the server reported it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::App(app) => app.kind(),
            Self::Transport(_) | Self::Connect(_) => ErrorKind::Unavailable,
            Self::Status(status) => ErrorKind::from_code(status.code()),
            Self::TooLarge { .. } => ErrorKind::TooLarge,
            Self::MissingField(_) | Self::Json { .. } => ErrorKind::Other,
        }
    }

    /// Classifies a gRPC status from an API call.
    pub fn from_status(status: tonic::Status) -> Self {
        if let Some(app) = AppError::from_status(&status) {
            return Self::App(Box::new(app));
        }
        if let Some((size, limit)) = refused_for_size(&status) {
            return Self::TooLarge { size, limit };
        }
        // tonic gives a status made from a connection failure the transport
        // error as its source; a status the server sent has none.
        let from_transport = std::error::Error::source(&status).is_some_and(|s| s.is::<tonic::transport::Error>());
        let status = Box::new(status);
        if from_transport { Self::Transport(status) } else { Self::Status(status) }
    }
}

impl From<AppError> for Error {
    fn from(app: AppError) -> Self {
        Self::App(Box::new(app))
    }
}

impl From<tonic::transport::Error> for Error {
    fn from(e: tonic::transport::Error) -> Self {
        Self::Connect(Box::new(e))
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        Self::from_status(status)
    }
}

/// The sizes in grpc-go's refusal of a message over its limit:
/// `grpc: received message larger than max (5242896 vs. 4194304)`.
fn refused_for_size(status: &tonic::Status) -> Option<(usize, usize)> {
    if status.code() != tonic::Code::ResourceExhausted {
        return None;
    }
    let (_, sizes) = status.message().split_once("larger than max (")?;
    let (size, rest) = sizes.split_once(" vs. ")?;
    let (limit, _) = rest.split_once(')')?;
    Some((size.trim().parse().ok()?, limit.trim().parse().ok()?))
}

/// Broad classes of failure, for deciding what to do about one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// HTTP 400 or `InvalidArgument`: the request was wrong.
    Validation,
    /// HTTP 401 or `Unauthenticated`.
    Unauthenticated,
    /// HTTP 403 or `PermissionDenied`.
    PermissionDenied,
    /// HTTP 404 or `NotFound`.
    NotFound,
    /// HTTP 409 or `AlreadyExists`.
    AlreadyExists,
    /// HTTP 413, or a request over the server's size limit.
    TooLarge,
    /// HTTP 429 or `ResourceExhausted`.
    TooManyRequests,
    /// HTTP 501 or `Unimplemented`.
    Unimplemented,
    /// HTTP 503, `Unavailable`, or no connection.
    Unavailable,
    /// HTTP 504 or `DeadlineExceeded`: no answer in time (an API call past
    /// its deadline is this).
    TimedOut,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The kind an HTTP status code stands for.
    pub fn from_http(status: u16) -> Self {
        match status {
            400 => Self::Validation,
            401 => Self::Unauthenticated,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            409 => Self::AlreadyExists,
            413 => Self::TooLarge,
            429 => Self::TooManyRequests,
            501 => Self::Unimplemented,
            503 => Self::Unavailable,
            504 => Self::TimedOut,
            _ => Self::Other,
        }
    }

    /// The kind a gRPC code stands for.
    pub fn from_code(code: tonic::Code) -> Self {
        use tonic::Code;
        match code {
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => Self::Validation,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::NotFound => Self::NotFound,
            Code::AlreadyExists => Self::AlreadyExists,
            Code::ResourceExhausted => Self::TooManyRequests,
            Code::Unimplemented => Self::Unimplemented,
            Code::Unavailable => Self::Unavailable,
            Code::DeadlineExceeded => Self::TimedOut,
            _ => Self::Other,
        }
    }
}

/// An application error from the Mattermost server.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppError {
    /// The translation id, such as `app.user.get.app_error`.
    pub id: String,
    /// The message for people.
    pub message: String,
    /// Details for developers (may be empty).
    pub detailed_error: String,
    /// The request id, when the server sent one.
    pub request_id: String,
    /// The HTTP status the server gave the error (derived from the gRPC code
    /// when the error came as a status).
    pub status_code: u16,
    /// Where on the server the error arose.
    pub where_: String,
    /// Parameters of the translated message.
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl AppError {
    /// An error with this id, message and HTTP status; the rest empty.
    pub fn new(id: impl Into<String>, message: impl Into<String>, status_code: u16) -> Self {
        Self { id: id.into(), message: message.into(), status_code, ..Self::default() }
    }

    /// What kind of failure the status code stands for.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_http(self.status_code)
    }

    /// Reads `"<id>: <message>"` from a status, as the real server sends it.
    /// An id is one word (letters, digits, `.`, `_`, `-`); anything else is
    /// not an application error.
    pub fn from_status(status: &tonic::Status) -> Option<Self> {
        let (id, message) = status.message().split_once(": ")?;
        let is_id = !id.is_empty()
            && id.contains('.')
            && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        is_id.then(|| Self {
            id: id.to_owned(),
            message: message.to_owned(),
            status_code: http_status(status.code()),
            ..Self::default()
        })
    }
}

impl AppError {
    /// The gRPC status the real server answers for this error from the API
    /// handlers that do not carry it in the response: the message
    /// `"<id>: <message>"`, the code from the HTTP status (400
    /// `InvalidArgument`, 401 `Unauthenticated`, 403 `PermissionDenied`, 404
    /// `NotFound`, 409 `AlreadyExists`, 413 and 429 `ResourceExhausted`, 501
    /// `Unimplemented`, 503 `Unavailable`, anything else `Internal`: the
    /// host's `AppErrorToStatus`, mattermost/mattermost
    /// `server/public/pluginapi/grpc/server/errors.go`). The rest of the
    /// error does not cross. [`AppError::from_status`] reads it back.
    pub fn to_status(&self) -> tonic::Status {
        let code = match self.status_code {
            400 => tonic::Code::InvalidArgument,
            401 => tonic::Code::Unauthenticated,
            403 => tonic::Code::PermissionDenied,
            404 => tonic::Code::NotFound,
            409 => tonic::Code::AlreadyExists,
            413 | 429 => tonic::Code::ResourceExhausted,
            501 => tonic::Code::Unimplemented,
            503 => tonic::Code::Unavailable,
            _ => tonic::Code::Internal,
        };
        tonic::Status::new(code, format!("{}: {}", self.id, self.message))
    }
}

/// The message of an [`AppError`] the server did not translate (Go's
/// `model.NoTranslation`); [`AppError`]'s text leaves it out.
pub const NO_TRANSLATION: &str = "<untranslated>";

/// The longest [`AppError`] text, in bytes, before it is cut and `...`
/// added (Go's `maxErrorLength`).
pub const MAX_ERROR_LENGTH: usize = 1024;

/// The text Go's `AppError.Error()` gives (mattermost/mattermost
/// `server/public/model/utils.go`), so logs and messages read the same from
/// Go and Rust plugins: `where: message, detailed_error`. The message is
/// left out when it is [`NO_TRANSLATION`], and so is the `, ` after it; the
/// detailed error and its `, ` are left out when it is empty. One change:
/// Go writes `where: ` even when `where` is empty, which an error read from
/// a gRPC status always is; here an empty `where` leaves out its `: ` too,
/// so such an error reads `message`. The [`id`](AppError::id) is not part of
/// the text. Text over [`MAX_ERROR_LENGTH`] bytes is cut there and `...`
/// added; Go cuts at that byte, this at the last character boundary before
/// it. (Go also appends an error the `AppError` wraps; one that crossed the
/// wire arrived in `detailed_error`.)
impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(self.where_.len() + self.message.len() + self.detailed_error.len() + 4);
        // Go writes `where: ` even when `where` is empty; an error read
        // from a gRPC status has none, and reads better without the colon.
        if !self.where_.is_empty() {
            text.push_str(&self.where_);
            text.push_str(": ");
        }
        let translated = self.message != NO_TRANSLATION;
        if translated {
            text.push_str(&self.message);
        }
        if !self.detailed_error.is_empty() {
            if translated {
                text.push_str(", ");
            }
            text.push_str(&self.detailed_error);
        }
        if text.len() > MAX_ERROR_LENGTH {
            let mut end = MAX_ERROR_LENGTH;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str("...");
        }
        f.write_str(&text)
    }
}

impl std::error::Error for AppError {}

/// The HTTP status a gRPC code stands for (the inverse of the server's mapping).
fn http_status(code: tonic::Code) -> u16 {
    use tonic::Code;
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::ResourceExhausted => 429,
        Code::Cancelled => 499,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

/// Turns a response's `error` field, converted to an [`AppError`], into
/// `Err` when it says something.
pub fn check(error: Option<AppError>) -> Result<(), Error> {
    match error {
        // An empty AppError message is how some encoders say "no error".
        Some(e) if !(e.id.is_empty() && e.message.is_empty() && e.status_code == 0) => Err(Error::App(Box::new(e))),
        _ => Ok(()),
    }
}

/// Unwraps a response field the call cannot do without.
pub fn required_field<T>(value: Option<T>, field: &'static str) -> Result<T, Error> {
    value.ok_or(Error::MissingField(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error types' `Display` and `source` are written by hand (no
    /// derive, for plugins' build times): a wrapper that stands for another
    /// error (`App`, `KvError::Api`, `JobError::Kv`) shows it and hands on
    /// its source, and one that adds words names the error it wraps as its
    /// source.
    #[test]
    fn errors_show_their_words_and_chain_their_sources() {
        use std::error::Error as _;

        let json = || serde_json::from_str::<u8>("x").unwrap_err();
        let app = Error::App(Box::new(AppError {
            id: "a.b".into(),
            message: "no".into(),
            where_: "W".into(),
            ..AppError::default()
        }));
        assert_eq!(app.to_string(), "W: no", "the app error's own text");
        assert!(app.source().is_none());

        let status = Error::Status(Box::new(tonic::Status::unimplemented("old server")));
        assert_eq!(status.to_string(), "gRPC status Unimplemented: old server");
        assert_eq!(
            status.source().expect("the status").to_string(),
            tonic::Status::unimplemented("old server").to_string()
        );

        let decode = Error::Json { field: "event", source: json() };
        assert_eq!(decode.to_string(), format!("invalid JSON in `event`: {}", json()));
        assert_eq!(decode.source().expect("serde_json's error").to_string(), json().to_string());

        let kv = crate::kv::KvError::Decode { key: "k".into(), source: json() };
        assert_eq!(kv.to_string(), format!("the value under \"k\" is not the JSON of the type asked for: {}", json()));
        assert!(kv.source().is_some());
        let job = crate::cluster::JobError::from(crate::kv::KvError::from(Error::MissingField("value")));
        assert_eq!(job.to_string(), "the server's response lacks `value`");
        assert!(job.source().is_none());

        let bind = crate::serve::ServeError::Bind {
            min: 10_000,
            max: 10_001,
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        assert!(bind.to_string().starts_with("no free loopback port in 10000..=10001: "), "{bind}");
        assert_eq!(
            bind.source().expect("the io error").to_string(),
            std::io::Error::from(std::io::ErrorKind::AddrInUse).to_string()
        );
    }

    #[test]
    fn an_app_errors_text_is_gos() {
        let error = |where_: &str, message: &str, detailed: &str| AppError {
            id: "app.channel.get.app_error".into(),
            message: message.into(),
            detailed_error: detailed.into(),
            where_: where_.into(),
            status_code: 404,
            ..AppError::default()
        };
        let full = error("SqlChannelStore.Get", "Unable to find the channel.", "sql: no rows");
        assert_eq!(full.to_string(), "SqlChannelStore.Get: Unable to find the channel., sql: no rows");
        assert_eq!(full.id, "app.channel.get.app_error", "the id is kept, not shown");
        assert_eq!(error("GetChannel", "Not found.", "").to_string(), "GetChannel: Not found.");
        assert_eq!(error("GetChannel", NO_TRANSLATION, "sql: no rows").to_string(), "GetChannel: sql: no rows");
        assert_eq!(error("GetChannel", NO_TRANSLATION, "").to_string(), "GetChannel: ");
        assert_eq!(error("", "Not found.", "").to_string(), "Not found.", "no where: no colon");
        assert_eq!(error("", "", "detail").to_string(), ", detail", "an empty message keeps its comma, as in Go");
        let from_status = Error::from_status(tonic::Status::not_found("app.user.missing_account.const: no such user"));
        assert_eq!(from_status.to_string(), "no such user");

        let long = error("W", &"x".repeat(2000), "").to_string();
        assert_eq!(long.len(), MAX_ERROR_LENGTH + 3);
        assert!(long.starts_with("W: xxx") && long.ends_with("x..."), "{long}");
        let exactly = error("W", &"x".repeat(MAX_ERROR_LENGTH - 3), "").to_string();
        assert_eq!(exactly.len(), MAX_ERROR_LENGTH, "at the limit: not cut");
        // "é" is two bytes: byte 1024 falls inside one, so the cut comes a byte early.
        let accents = error("W", &"é".repeat(1000), "").to_string();
        assert_eq!(accents.len(), MAX_ERROR_LENGTH - 1 + 3);
        assert!(accents.ends_with("é..."), "{accents}");
    }

    #[test]
    fn a_status_with_an_app_error_id_is_an_app_error() {
        let error = Error::from_status(tonic::Status::not_found("app.user.missing_account.const: no such user"));
        let app = error.app().expect("an app error");
        assert_eq!(
            (app.id.as_str(), app.message.as_str(), app.status_code),
            ("app.user.missing_account.const", "no such user", 404)
        );
        assert_eq!(error.kind(), ErrorKind::NotFound);
        for not_an_id in ["boom", "database: connection reset", "has space.x: y"] {
            let error = Error::from_status(tonic::Status::internal(not_an_id));
            assert!(matches!(error, Error::Status(_)), "{not_an_id}: {error:?}");
        }
    }

    #[test]
    fn an_app_error_crosses_as_the_servers_status_and_back() {
        for (http, code) in [
            (400, tonic::Code::InvalidArgument),
            (404, tonic::Code::NotFound),
            (409, tonic::Code::AlreadyExists),
            (413, tonic::Code::ResourceExhausted),
            (429, tonic::Code::ResourceExhausted),
            (401, tonic::Code::Unauthenticated),
            (403, tonic::Code::PermissionDenied),
            (501, tonic::Code::Unimplemented),
            (503, tonic::Code::Unavailable),
            (500, tonic::Code::Internal),
            (418, tonic::Code::Internal),
        ] {
            let app = AppError { id: "app.x.y".into(), message: "no".into(), status_code: http, ..AppError::default() };
            let status = app.to_status();
            assert_eq!((status.code(), status.message()), (code, "app.x.y: no"), "{http}");
            let back = AppError::from_status(&status).expect("an app error");
            assert_eq!((back.id.as_str(), back.message.as_str()), ("app.x.y", "no"));
        }
    }

    #[test]
    fn grpc_gos_refusal_for_size_is_too_large() {
        let status = tonic::Status::resource_exhausted("grpc: received message larger than max (5242880 vs. 4194304)");
        assert!(matches!(Error::from_status(status), Error::TooLarge { size: 5_242_880, limit: 4_194_304 }));
        let other = tonic::Status::resource_exhausted("quota: larger than max (x vs. y)");
        assert!(matches!(Error::from_status(other), Error::Status(_)));
    }

    #[test]
    fn an_empty_error_field_is_no_error() {
        assert!(check(None).is_ok());
        assert!(check(Some(AppError::default())).is_ok());
        let set = AppError { id: "app.x".into(), status_code: 400, ..AppError::default() };
        assert!(matches!(check(Some(set)), Err(Error::App(app)) if app.kind() == ErrorKind::Validation));
        assert!(matches!(required_field::<u8>(None, "user"), Err(Error::MissingField("user"))));
    }
}

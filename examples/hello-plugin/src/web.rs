//! The plugin's HTTP endpoints (`/plugins/com.example.hello-rust/…`): an
//! ordinary axum router. Every body streams: nothing here holds a whole
//! request or response in memory.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Query, Request};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::StatusCode;
use http_body_util::BodyExt as _;
use mattermost_plugin::http::UserId;
use mattermost_plugin::prelude::*;
use mattermost_plugin::proto;
use sha2::{Digest as _, Sha256};

/// The router the plugin answers HTTP requests with.
pub fn router() -> Router {
    Router::new()
        .route("/echo", post(echo))
        .route("/hello", get(hello))
        .route("/greeting", get(greeting))
        .route("/download", get(download))
        .route("/upload", post(upload))
        .route("/events", get(events))
        // A note is held in memory and sent to the KV store whole; the API's
        // own request limit (4 MiB) is the one that applies, answered as 413.
        .route("/note", get(read_note).put(write_note).layer(DefaultBodyLimit::max(NOTE_BODY_LIMIT)))
}

/// The largest note body the route reads; above the API's 4 MiB request
/// limit on purpose, so that limit shows through as it is.
const NOTE_BODY_LIMIT: usize = 16 << 20;

/// Streams the request body back as it arrives, with its content type.
async fn echo(request: Request) -> Response {
    let content_type = request.headers().get(http::header::CONTENT_TYPE).cloned();
    let mut response = Response::new(request.into_body());
    if let Some(content_type) = content_type {
        response.headers_mut().insert(http::header::CONTENT_TYPE, content_type);
    }
    response
}

/// Who is asking, as JSON: the user the server vouches for, the plugin
/// context it attached, and the path and query the plugin routed on. Each
/// `X-Tag` request header comes back as an `X-Tag` response header.
async fn hello(request: Request) -> Response {
    let context = request.extensions().get::<proto::PluginContext>().cloned().unwrap_or_default();
    let user = request.extensions().get::<UserId>().map_or("", |UserId(id)| id.as_str());
    let tags: Vec<&str> = request.headers().get_all("X-Tag").iter().filter_map(|v| v.to_str().ok()).collect();
    let mut response = Json(serde_json::json!({
        "hello": if user.is_empty() { "anonymous" } else { user },
        "request_id": context.request_id,
        "tags": tags,
        "path": request.uri().path(),
        "query": request.uri().query().unwrap_or(""),
    }))
    .into_response();
    for tag in request.headers().get_all("X-Tag") {
        response.headers_mut().append("X-Tag", tag.clone());
    }
    response
}

/// Where the greeting is in the plugin's folder: a file the bundle ships
/// (`mmplugin-gen bundle` takes `assets/` from beside `plugin.json`).
const GREETING: &str = "assets/greeting.txt";

/// The text of `assets/greeting.txt`, read from the plugin's folder as the
/// server reports it (`GetBundlePath`): where the bundle was unpacked on the
/// server, this crate's folder in the test kit. A file that cannot be read
/// is the installation's fault (500), said with its path.
async fn greeting(Extension(cx): Extension<Context>) -> Response {
    let folder = match cx.api.get_bundle_path().await {
        Ok(folder) => folder,
        Err(e) => return api_failure(&e),
    };
    let path = std::path::Path::new(&folder).join(GREETING);
    match tokio::fs::read_to_string(&path).await {
        Ok(text) => ([(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read {GREETING} at {}: {e}", path.display()))
            .into_response(),
    }
}

#[derive(serde::Deserialize)]
struct Size {
    bytes: u64,
}

/// `bytes` bytes of a repeating pattern, made as they are sent.
async fn download(Query(size): Query<Size>) -> Response {
    const BLOCK: &[u8; 64 * 1024] = &[b'm'; 64 * 1024];
    let mut left = size.bytes;
    let chunks = futures_util::stream::iter(std::iter::from_fn(move || {
        let n = left.min(BLOCK.len() as u64) as usize;
        left -= n as u64;
        (n > 0).then(|| Ok::<_, Infallible>(Bytes::from_static(&BLOCK[..n])))
    }));
    let mut response = Response::new(Body::from_stream(chunks));
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/octet-stream"));
    response
}

/// Hashes the body as it streams in; answers its SHA-256 and length.
async fn upload(request: Request) -> Response {
    let mut body = request.into_body();
    let mut hasher = Sha256::new();
    let mut progress = Progress(0, false);
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    hasher.update(data);
                    progress.0 += data.len() as u64;
                }
            }
            Err(e) => {
                progress.1 = true;
                tracing::warn!("upload failed after {} bytes: {e}", progress.0);
                return (http::StatusCode::BAD_REQUEST, format!("body failed: {e}")).into_response();
            }
        }
    }
    progress.1 = true;
    let length = progress.0;
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Json(serde_json::json!({ "sha256": digest, "bytes": length })).into_response()
}

/// Bytes received so far, and whether the upload was seen to its end; a
/// handler dropped mid-upload (the client went away) says so in the log.
struct Progress(u64, bool);

impl Drop for Progress {
    fn drop(&mut self) {
        if !self.1 {
            tracing::warn!("upload cancelled after {} bytes", self.0);
        }
    }
}

/// Server-sent events: three ticks, 100 ms apart, each flushed as it goes.
async fn events() -> impl IntoResponse {
    let ticks = futures_util::stream::iter(1..=3).then(|n| async move {
        if n > 1 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok::<_, Infallible>(Event::default().event("tick").data(n.to_string()))
    });
    Sse::new(ticks)
}

/// The KV key of a user's note.
fn note_key(user: &str) -> String {
    format!("note:{user}")
}

/// An API failure as an HTTP answer: a request over the server's size limit
/// is the client's to fix (413, saying the size and the limit); anything else
/// is the server's side failing (502).
fn api_failure(error: &mattermost_plugin::Error) -> Response {
    let status = match error.kind() {
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_GATEWAY,
    };
    (status, error.to_string()).into_response()
}

/// Keeps the request body as the caller's note, in the KV store.
///
/// `UserId` is the signed-in user the server vouches for (it removes the
/// header from what clients send); a request nobody signed in sent is
/// answered 401 `Not authorized` without running the route.
async fn write_note(Extension(cx): Extension<Context>, UserId(user): UserId, body: Bytes) -> Response {
    match cx.api.kv_set(note_key(&user), body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => api_failure(&e),
    }
}

/// The caller's note, as it was stored; 404 when there is none.
async fn read_note(Extension(cx): Extension<Context>, UserId(user): UserId) -> Response {
    match cx.api.kv_get(note_key(&user)).await {
        // The KV store cannot tell an empty value from a missing key.
        Ok(note) if note.is_empty() => (StatusCode::NOT_FOUND, "no note yet").into_response(),
        Ok(note) => note.into_response(),
        Err(e) => api_failure(&e),
    }
}

//! The server's side of the HTTP-over-gRPC stream, played as the real
//! server plays it (host rules, "ServeHTTP stream"): which requests reach
//! the plugin, the rewritten URL, the headers it vouches for, the body in
//! chunks; and how it reads the plugin's answer.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{StatusCode, Version};
use tokio_stream::{Stream, StreamExt as _};
use tonic::Status;

use crate::http::{Header, Init, MAX_CHUNK, ResponseParts, Wire};

pub use crate::http::USER_ID_HEADER;
/// The header with the id of a calling plugin, which the server sets.
pub const PLUGIN_ID_HEADER: &str = "Mattermost-Plugin-ID";
/// The client address the kit's requests come from.
pub const REMOTE_ADDR: &str = "192.0.2.1:54321";

/// The messages the server sends a plugin for `request`, which a client
/// sent to `/plugins/{plugin_id}/…`, as `user_id` when logged in; `None`
/// when the request is not for this plugin (the server would not route it
/// there).
///
/// As the server does: the URL the plugin routes on is the path without
/// `/plugins/{id}` and the query without `access_token`, while
/// `request_uri` is the raw target; a client's own `Mattermost-User-Id` and
/// `Mattermost-Plugin-ID` are removed, and `Mattermost-User-Id` is set for
/// a logged-in user, whose `Authorization` header is removed; `Referer` is
/// removed; the body follows in chunks of at most [`MAX_CHUNK`] bytes, the
/// first inside the init message.
pub fn request_messages<W: Wire>(
    plugin_id: &str,
    user_id: Option<&str>,
    context: W::Context,
    request: http::Request<Bytes>,
) -> Option<Vec<W::Request>> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let rest = path.strip_prefix("/plugins/")?.strip_prefix(plugin_id)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let query: Vec<&str> = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("access_token"))
        .collect();
    let url = if query.is_empty() { rest.to_owned() } else { format!("{rest}?{}", query.join("&")) };
    let request_uri = parts.uri.path_and_query().map_or_else(|| path.to_owned(), |pq| pq.as_str().to_owned());

    let mut headers: Vec<Header> = Vec::new();
    for (name, value) in &parts.headers {
        let key = canonical(name.as_str());
        let dropped = [USER_ID_HEADER, PLUGIN_ID_HEADER, "Referer"].iter().any(|h| h.eq_ignore_ascii_case(&key))
            || (user_id.is_some() && key == "Authorization");
        if dropped {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.iter_mut().find(|h| h.key == key) {
            Some(header) => header.values.push(value),
            None => headers.push(Header { key, values: vec![value] }),
        }
    }
    if let Some(user_id) = user_id {
        headers.push(Header { key: USER_ID_HEADER.to_owned(), values: vec![user_id.to_owned()] });
    }
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_else(|| "localhost:8065".to_owned());
    Some(build::<W>(context, &parts, body, Target { url, request_uri, headers, host, remote_addr: REMOTE_ADDR }))
}

/// The messages the server sends a plugin for `request`, which the plugin
/// `source_plugin_id` sent to `/{plugin_id}/…` through the API's
/// `PluginHTTP`; `None` when the request is not for this plugin.
///
/// As the server does (`PluginAPI.PluginHTTP`, then
/// `App.ServeInternalPluginRequest` in server/channels/app/plugin_requests.go):
/// the URL the plugin routes on is the path without `/{plugin_id}`, with
/// the query; the calling plugin's headers are kept, but
/// `Mattermost-Plugin-ID` is set to the caller and `Mattermost-User-Id` to
/// nobody (empty); the request has no raw target, host or client address.
pub fn plugin_request_messages<W: Wire>(
    plugin_id: &str,
    source_plugin_id: &str,
    context: W::Context,
    request: http::Request<Bytes>,
) -> Option<Vec<W::Request>> {
    let (parts, body) = request.into_parts();
    let rest = parts.uri.path().strip_prefix('/')?.strip_prefix(plugin_id)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let url = match parts.uri.query() {
        Some(query) if !query.is_empty() => format!("{rest}?{query}"),
        _ => rest.to_owned(),
    };
    let mut headers: Vec<Header> = Vec::new();
    for (name, value) in &parts.headers {
        let key = canonical(name.as_str());
        if [USER_ID_HEADER, PLUGIN_ID_HEADER].iter().any(|h| h.eq_ignore_ascii_case(&key)) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.iter_mut().find(|h| h.key == key) {
            Some(header) => header.values.push(value),
            None => headers.push(Header { key, values: vec![value] }),
        }
    }
    headers.push(Header { key: USER_ID_HEADER.to_owned(), values: vec![String::new()] });
    headers.push(Header { key: PLUGIN_ID_HEADER.to_owned(), values: vec![source_plugin_id.to_owned()] });
    let target = Target { url, request_uri: String::new(), headers, host: String::new(), remote_addr: "" };
    Some(build::<W>(context, &parts, body, target))
}

/// Where a request goes and what the plugin sees of its origin.
struct Target {
    url: String,
    request_uri: String,
    headers: Vec<Header>,
    host: String,
    remote_addr: &'static str,
}

/// The init message and the body's chunks.
fn build<W: Wire>(context: W::Context, parts: &http::request::Parts, body: Bytes, target: Target) -> Vec<W::Request> {
    let Target { url, request_uri, headers, host, remote_addr } = target;
    let (proto_major, proto_minor) = match parts.version {
        Version::HTTP_09 => (0, 9),
        Version::HTTP_10 => (1, 0),
        Version::HTTP_2 => (2, 0),
        Version::HTTP_3 => (3, 0),
        _ => (1, 1),
    };
    let init = Init {
        context,
        method: parts.method.as_str().to_owned(),
        url,
        proto_major,
        proto_minor,
        headers,
        host,
        remote_addr: remote_addr.to_owned(),
        request_uri,
        content_length: i64::try_from(body.len()).unwrap_or(i64::MAX),
    };
    let mut chunks: Vec<Bytes> =
        (0..body.len()).step_by(MAX_CHUNK).map(|at| body.slice(at..body.len().min(at + MAX_CHUNK))).collect();
    if chunks.is_empty() {
        chunks.push(Bytes::new());
    }
    let last = chunks.len() - 1;
    let mut init = Some(init);
    chunks.into_iter().enumerate().map(|(i, chunk)| W::request_message(init.take(), chunk, i == last)).collect()
}

/// `messages` as the request stream a gRPC client sends.
pub fn request_stream<M: Send + 'static>(messages: Vec<M>) -> impl Stream<Item = M> + Send + 'static {
    tokio_stream::iter(messages)
}

/// What the server answers the client, from the plugin's response stream
/// (or the call's failure): 502 when the call or its first message fails
/// or that message has no init (the status's message as the body, to show
/// why); the status 0 read as 200 and one outside 100–999 as 500; the body
/// up to `body_complete`, or up to a failure mid-stream.
pub async fn response<W: Wire, S>(stream: Result<S, Status>) -> http::Response<Bytes>
where
    S: Stream<Item = Result<W::Response, Status>> + Unpin,
{
    let bad_gateway = |why: String| {
        let mut response = http::Response::new(Bytes::from(why));
        *response.status_mut() = StatusCode::BAD_GATEWAY;
        response
    };
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(status) => return bad_gateway(format!("the plugin refused the request stream: {status}")),
    };
    let first = match stream.next().await {
        Some(Ok(message)) => W::response_parts(message),
        Some(Err(status)) => return bad_gateway(format!("the plugin's first answer failed: {status}")),
        None => return bad_gateway("the plugin's answer ended before its init".to_owned()),
    };
    let ResponseParts { init: Some((code, headers)), chunk, complete, .. } = first else {
        return bad_gateway("the plugin's first answer has no init".to_owned());
    };
    let status = match code {
        0 => StatusCode::OK,
        code => u16::try_from(code)
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let mut body = Vec::from(chunk.as_ref());
    let mut done = complete;
    while !done {
        match stream.next().await {
            Some(Ok(message)) => {
                let parts = W::response_parts(message);
                body.extend_from_slice(&parts.chunk);
                done = parts.complete;
            }
            Some(Err(_)) | None => break,
        }
    }
    let mut response = http::Response::new(Bytes::from(body));
    *response.status_mut() = status;
    for header in headers {
        let Ok(name) = HeaderName::from_bytes(header.key.as_bytes()) else { continue };
        for value in header.values {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(name.clone(), value);
            }
        }
    }
    response
}

/// A header name as Go writes it (`content-type` → `Content-Type`).
fn canonical(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
            upper = c == '-';
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::bridge_test_wire::{Request, TestWire};

    fn request(uri: &str, body: &'static [u8]) -> http::Request<Bytes> {
        http::Request::builder()
            .method("POST")
            .uri(uri)
            .header("x-tag", "a")
            .header("X-Tag", "b")
            .header("mattermost-user-id", "forged")
            .header("Authorization", "Bearer t")
            .header("Referer", "https://elsewhere")
            .body(Bytes::from_static(body))
            .unwrap()
    }

    #[test]
    fn only_the_plugins_requests_reach_it_with_the_url_rewritten() {
        let sent = |uri: &str| request_messages::<TestWire>("com.x", None, String::new(), request(uri, b""));
        assert!(sent("/plugins/com.y/hello").is_none());
        assert!(sent("/plugins/com.xy/hello").is_none());
        assert!(sent("/api/v4/users").is_none());
        let messages = sent("/plugins/com.x/hello?a=1&access_token=secret&b=2").unwrap();
        assert_eq!(messages.len(), 1);
        let Request { init, complete, .. } = &messages[0];
        let init = init.as_ref().unwrap();
        assert!(complete, "no body: complete at once");
        assert_eq!(init.url, "/hello?a=1&b=2");
        assert_eq!(init.request_uri, "/plugins/com.x/hello?a=1&access_token=secret&b=2");
        assert_eq!(init.method, "POST");
        assert_eq!((init.proto_major, init.proto_minor), (1, 1));
    }

    #[test]
    fn the_server_vouches_for_the_user_and_drops_what_it_must() {
        let headers = |user: Option<&str>| {
            let messages = request_messages::<TestWire>("com.x", user, String::new(), request("/plugins/com.x/", b""));
            messages.unwrap().remove(0).init.unwrap().headers
        };
        let anonymous = headers(None);
        let find = |headers: &[Header], key: &str| headers.iter().find(|h| h.key == key).map(|h| h.values.clone());
        assert_eq!(
            find(&anonymous, "X-Tag"),
            Some(vec!["a".into(), "b".into()]),
            "Go's canonical names, values together"
        );
        assert_eq!(find(&anonymous, USER_ID_HEADER), None, "a client's own user id is dropped");
        assert_eq!(find(&anonymous, "Referer"), None);
        assert!(find(&anonymous, "Authorization").is_some(), "no session: the header stays");
        let logged_in = headers(Some("user-1"));
        assert_eq!(find(&logged_in, USER_ID_HEADER), Some(vec!["user-1".into()]));
        assert_eq!(find(&logged_in, "Authorization"), None);
    }

    #[test]
    fn the_body_goes_in_chunks_the_first_inside_the_init() {
        static BODY: [u8; 2 * MAX_CHUNK + 5] = [7; 2 * MAX_CHUNK + 5];
        let messages =
            request_messages::<TestWire>("com.x", None, String::new(), request("/plugins/com.x/up", &BODY)).unwrap();
        let sizes: Vec<(bool, usize, bool)> =
            messages.iter().map(|m| (m.init.is_some(), m.chunk.len(), m.complete)).collect();
        assert_eq!(sizes, [(true, MAX_CHUNK, false), (false, MAX_CHUNK, false), (false, 5, true)]);
        assert_eq!(messages[0].init.as_ref().unwrap().content_length, BODY.len() as i64);
    }

    #[tokio::test]
    async fn the_answer_is_read_as_the_server_reads_it() {
        use crate::http::bridge_test_wire::Response;
        let answer =
            |messages: Vec<Result<Response, Status>>| response::<TestWire, _>(Ok(tokio_stream::iter(messages)));
        let ok = answer(vec![
            Ok(Response::Init(0, vec![Header { key: "X-A".into(), values: vec!["1".into(), "2".into()] }])),
            Ok(Response::Chunk { chunk: Bytes::from_static(b"he"), flush: true, complete: false }),
            Ok(Response::Chunk { chunk: Bytes::from_static(b"llo"), flush: false, complete: true }),
            Ok(Response::Chunk { chunk: Bytes::from_static(b"ignored"), flush: false, complete: true }),
        ])
        .await;
        assert_eq!(ok.status(), StatusCode::OK, "0 is 200");
        assert_eq!(ok.headers().get_all("x-a").iter().count(), 2);
        assert_eq!(ok.body().as_ref(), b"hello");
        let odd = answer(vec![Ok(Response::Init(1000, vec![])), Err(Status::internal("x"))]).await;
        assert_eq!((odd.status(), odd.body().as_ref()), (StatusCode::INTERNAL_SERVER_ERROR, &b""[..]));
        let headless = answer(vec![Ok(Response::Chunk { chunk: Bytes::new(), flush: false, complete: true })]).await;
        assert_eq!(headless.status(), StatusCode::BAD_GATEWAY);
        let refused = response::<TestWire, tokio_stream::Iter<std::vec::IntoIter<Result<Response, Status>>>>(Err(
            Status::invalid_argument("no init"),
        ))
        .await;
        assert_eq!(refused.status(), StatusCode::BAD_GATEWAY);
        assert!(String::from_utf8_lossy(refused.body()).contains("no init"));
    }
}

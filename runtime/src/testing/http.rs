//! The server's side of the HTTP-over-gRPC stream, played as the real
//! server plays it (host rules, "ServeHTTP stream"): which requests reach
//! the plugin, the rewritten URL, the headers it vouches for, the body in
//! chunks; and how it reads the plugin's answer. Also the server's side of
//! `PluginHTTP`, a plugin's request to a plugin (host rules, "The plugin
//! API's answers"): one value per header both ways, bodies whole.

use std::collections::HashMap;

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
        remote_addr: REMOTE_ADDR.to_owned(),
        request_uri,
        content_length: i64::try_from(body.len()).unwrap_or(i64::MAX),
    };
    Some(in_chunks::<W>(init, &body))
}

/// `init` and `body` as request messages: chunks of at most [`MAX_CHUNK`]
/// bytes, the first inside the init message, the last complete.
fn in_chunks<W: Wire>(init: Init<W::Context>, body: &Bytes) -> Vec<W::Request> {
    let mut chunks: Vec<Bytes> =
        (0..body.len()).step_by(MAX_CHUNK).map(|at| body.slice(at..body.len().min(at + MAX_CHUNK))).collect();
    if chunks.is_empty() {
        chunks.push(Bytes::new());
    }
    let last = chunks.len() - 1;
    let mut init = Some(init);
    chunks.into_iter().enumerate().map(|(i, chunk)| W::request_message(init.take(), chunk, i == last)).collect()
}

/// The caller's id a request from the server itself carries in
/// [`PLUGIN_ID_HEADER`].
pub const SERVER_CALLER_ID: &str = "com.mattermost.server";

/// A `PluginHTTP` call as the server passes it on (`APIServer.PluginHTTP`,
/// `PluginAPI.PluginHTTP`, `App.ServeInternalPluginRequest`): the id of the
/// plugin addressed, and the messages its `ServeHTTP` gets. `Err` is the
/// text of the server's 400 when `url` names no plugin.
///
/// As the server does: `url` is `/<plugin id>/<path>`; the plugin gets
/// `/<path>` with the query re-encoded as Go's `url.Values.Encode` does
/// (keys sorted), an empty `request_uri`, no host and no client address;
/// the headers one value per name (the call's map, set with Go's
/// `Header.Set`), `Mattermost-User-Id` empty (no user), and
/// [`PLUGIN_ID_HEADER`] the caller's id, whatever the caller sent; the body
/// whole, in chunks as [`request_messages`] sends it.
pub fn inter_plugin_messages<W: Wire>(
    caller_id: &str,
    context: W::Context,
    method: &str,
    url: &str,
    headers: &HashMap<String, String>,
    body: Bytes,
) -> Result<(String, Vec<W::Request>), String> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut split = path.splitn(3, '/');
    let (Some(_), Some(plugin_id), Some(rest)) = (split.next(), split.next(), split.next()) else {
        return Err("Not enough URL. Form of URL should be /<pluginid>/*".to_owned());
    };
    if plugin_id.is_empty() {
        return Err("No plugin specified. Form of URL should be /<pluginid>/*".to_owned());
    }
    let query = go_query_encode(query);
    let url = if query.is_empty() { format!("/{rest}") } else { format!("/{rest}?{query}") };
    // `Header.Set` in the map's order: the last of two names Go spells alike wins.
    let mut names: Vec<&String> = headers.keys().collect();
    names.sort();
    let mut sent: Vec<Header> = Vec::new();
    let mut set = |name: &str, value: String| {
        let key = canonical(name);
        sent.retain(|h| h.key != key);
        sent.push(Header { key, values: vec![value] });
    };
    for name in names {
        set(name, headers[name].clone());
    }
    set(USER_ID_HEADER, String::new());
    set(PLUGIN_ID_HEADER, caller_id.to_owned());
    let init = Init {
        context,
        method: method.to_owned(),
        url,
        proto_major: 1,
        proto_minor: 1,
        headers: sent,
        host: String::new(),
        remote_addr: String::new(),
        request_uri: String::new(),
        content_length: i64::try_from(body.len()).unwrap_or(i64::MAX),
    };
    Ok((plugin_id.to_owned(), in_chunks::<W>(init, &body)))
}

/// `headers` as `PluginHTTP` carries them, a request's or an answer's: one
/// value per name, under Go's spelling of the name, a repeated header's
/// values joined with `, ` (`APIServer.PluginHTTP`).
pub fn joined_headers(headers: &http::HeaderMap) -> HashMap<String, String> {
    let mut joined: HashMap<String, String> = HashMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        joined
            .entry(canonical(name.as_str()))
            .and_modify(|all| {
                all.push_str(", ");
                all.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    joined
}

/// A query as Go's `url.Values.Encode` writes what `URL.Query` read: pairs
/// decoded (a malformed one dropped), keys sorted, each value in its order,
/// then encoded again (`a b` as `a+b`).
fn go_query_encode(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((query_unescape(key)?, query_unescape(value)?))
        })
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v))).collect();
    pairs.join("&")
}

/// Go's `url.QueryUnescape`: `+` is a space; `None` for a bad `%` escape.
fn query_unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `url.QueryEscape`: letters, digits and `-_.~` kept, a space as `+`,
/// any other byte as `%XX`.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
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

    #[test]
    fn a_plugins_request_to_a_plugin_goes_as_the_server_passes_it_on() {
        let headers: HashMap<String, String> = [
            ("x-tag".to_owned(), "a, b".to_owned()),
            ("Mattermost-Plugin-ID".to_owned(), "forged".to_owned()),
            ("mattermost-user-id".to_owned(), "forged".to_owned()),
        ]
        .into();
        let send = |url: &str, body: &'static [u8]| {
            inter_plugin_messages::<TestWire>(
                "com.caller",
                String::new(),
                "POST",
                url,
                &headers,
                Bytes::from_static(body),
            )
        };
        let (plugin_id, messages) = send("/com.x/api/v1/ping?b=2&a=1+1&a=%7E&bad=%zz", b"hi").unwrap();
        assert_eq!(plugin_id, "com.x");
        let Request { init, chunk, complete } = &messages[0];
        let init = init.as_ref().unwrap();
        assert_eq!((chunk.as_ref(), *complete), (&b"hi"[..], true), "the body whole, in the init message");
        assert_eq!(init.url, "/api/v1/ping?a=1+1&a=~&b=2", "keys sorted, re-encoded, the malformed pair dropped");
        assert_eq!((init.request_uri.as_str(), init.host.as_str(), init.remote_addr.as_str()), ("", "", ""));
        assert_eq!(init.content_length, 2);
        let find = |key: &str| init.headers.iter().find(|h| h.key == key).map(|h| h.values.clone());
        assert_eq!(find("X-Tag"), Some(vec!["a, b".into()]), "one value, under Go's spelling");
        assert_eq!(find("Mattermost-Plugin-Id"), Some(vec!["com.caller".into()]), "the caller's id, not what it sent");
        assert_eq!(find(USER_ID_HEADER), Some(vec![String::new()]), "no user");
        assert_eq!(init.headers.len(), 3);

        assert_eq!(send("/com.x/", b"").unwrap().1[0].init.as_ref().unwrap().url, "/");
        assert_eq!(send("/com.x", b"").unwrap_err(), "Not enough URL. Form of URL should be /<pluginid>/*");
        assert_eq!(send("//x", b"").unwrap_err(), "No plugin specified. Form of URL should be /<pluginid>/*");
        let (plugin_id, _) = send("/plugins/com.x/ping", b"").unwrap();
        assert_eq!(plugin_id, "plugins", "the first segment is the plugin, whatever it is");
    }

    #[test]
    fn a_plugins_answer_comes_back_one_value_per_header() {
        let response = http::Response::builder()
            .header("x-answer", "1")
            .header("X-Answer", "2")
            .header("content-type", "text/plain")
            .body(())
            .unwrap();
        let joined = joined_headers(response.headers());
        let expected: HashMap<String, String> =
            [("X-Answer".to_owned(), "1, 2".to_owned()), ("Content-Type".to_owned(), "text/plain".to_owned())].into();
        assert_eq!(joined, expected);
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

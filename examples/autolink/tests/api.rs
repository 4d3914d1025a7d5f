//! The Go plugin's tests of its HTTP API (server/api/api_test.go) and of
//! the client other plugins use (server/autolinkclient/client_test.go), on
//! the SDK's test kit.

mod support;

use autolink::link::Autolink;
use mattermost_plugin::proto;
use mattermost_plugin_testing::FakeServer;
use serde_json::json;
use support::{app_error, start};

fn link(name: &str, pattern: &str, template: &str) -> Autolink {
    Autolink { name: name.into(), pattern: pattern.into(), template: template.into(), ..Autolink::default() }
}

struct SetLink {
    name: &'static str,
    prev: Vec<Autolink>,
    link: Autolink,
    status: http::StatusCode,
    saved: Option<Vec<Autolink>>,
}

/// `TestSetLink`: a link posted by another plugin is added, replaces the
/// one with its name or pattern, or changes nothing (304, nothing saved).
#[tokio::test]
async fn set_link() {
    let cases = [
        SetLink {
            name: "happy simple",
            prev: vec![],
            link: link("test", "", ""),
            status: http::StatusCode::OK,
            saved: Some(vec![link("test", "", "")]),
        },
        SetLink {
            name: "add new link",
            prev: vec![link("test2", ".*2", "test2")],
            link: link("test1", ".*1", "test1"),
            status: http::StatusCode::OK,
            saved: Some(vec![link("test2", ".*2", "test2"), link("test1", ".*1", "test1")]),
        },
        SetLink {
            name: "replace link",
            prev: vec![link("test1", ".*1", "test1"), link("test2", ".*2", "test2"), link("test3", ".*3", "test3")],
            link: link("test2", ".*2", "new template"),
            status: http::StatusCode::OK,
            saved: Some(vec![
                link("test1", ".*1", "test1"),
                link("test2", ".*2", "new template"),
                link("test3", ".*3", "test3"),
            ]),
        },
        SetLink {
            name: "no change",
            prev: vec![link("test1", ".*1", "test1"), link("test2", ".*2", "test2")],
            link: link("test2", ".*2", "test2"),
            status: http::StatusCode::NOT_MODIFIED,
            saved: None,
        },
    ];
    for case in cases {
        let fake = FakeServer::new();
        let host = start(&fake, json!({ "links": case.prev })).await;
        fake.clear_calls();
        let body = serde_json::to_vec(&case.link).unwrap();
        let request = http::Request::post("/mattermost-autolink/api/v1/link").body(body).unwrap();
        let response = host.http_from_plugin("testfrom", request).await;
        assert_eq!(response.status(), case.status, "{}", case.name);
        let saved = (fake.count("SavePluginConfig") > 0)
            .then(|| serde_json::from_value::<Vec<Autolink>>(fake.plugin_config()["links"].clone()).unwrap());
        assert_eq!(saved, case.saved, "{}", case.name);
    }
}

/// Not in the Go suite: a user who is neither a system admin nor a plugin
/// admin is refused, as the Go middleware refuses.
#[tokio::test]
async fn a_plain_user_cannot_set_links() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake, json!({})).await;
    let request = http::Request::post(host.url("/api/v1/link")).body(b"{}".to_vec()).unwrap();
    let response = host.http_as(Some(&seed.user.id), request).await;
    assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
    let forged = http::Request::post(host.url("/api/v1/link")).header("Mattermost-Plugin-ID", "x").body(b"{}".to_vec());
    let response = host.http_as(Some(&seed.user.id), forged.unwrap()).await;
    assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED, "the server drops a client's plugin id");
}

fn ok_answer() -> (i32, std::collections::HashMap<String, String>, Vec<u8>) {
    (200, Default::default(), Vec::new())
}

/// `TestRoundTripper`: an answer is the response; no answer is an error.
#[tokio::test]
async fn a_request_through_the_server_returns_its_answer_or_an_error() {
    let fake = FakeServer::new();
    let api = fake.client();
    fake.on_plugin_http(|_| Ok(ok_answer()));
    let request = http::Request::post("url").body(Vec::new()).unwrap();
    let response = mattermost_plugin::http::send(&api, request).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);
    fake.on_plugin_http(|_| Err(app_error("no answer").into()));
    let request = http::Request::post("url").body(Vec::new()).unwrap();
    assert!(mattermost_plugin::http::send(&api, request).await.is_err());
}

/// `TestAddAutolinks`
#[tokio::test]
async fn the_client_adds_a_link() {
    let fake = FakeServer::new();
    fake.on_plugin_http(|request: proto::PluginHttpRequest| {
        assert_eq!((request.method.as_str(), request.url.as_str()), ("POST", "/mattermost-autolink/api/v1/link"));
        Ok(ok_answer())
    });
    autolink::client::add(&fake.client(), &[Autolink::default()]).await.unwrap();
}

/// `TestAddAutolinksErr`
#[tokio::test]
async fn the_client_reports_a_failed_request() {
    let fake = FakeServer::new();
    fake.on_plugin_http(|_| Err(app_error("no answer").into()));
    assert!(autolink::client::add(&fake.client(), &[Autolink::default()]).await.is_err());
}

/// Not in the Go suite: the client, through the server's `PluginHTTP`, to
/// the plugin itself on the same server; the link is saved and in force.
#[tokio::test]
async fn the_client_adds_a_link_the_plugin_then_applies() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake, json!({})).await;
    autolink::client::add(&fake.client(), &[link("ticket", "T-(?P<n>\\d+)", "[T-$n](https://t/$n)")]).await.unwrap();
    assert_eq!(fake.plugin_config()["links"][0]["Name"], "ticket");
    let stored = support::post(&host, &seed.channel.id, &seed.user.id, "see T-7").await;
    assert_eq!(stored.message, "see [T-7](https://t/7)");
    // A link already there is not saved again: 304, which the client reports.
    let again = autolink::client::add(&fake.client(), &[link("ticket", "T-(?P<n>\\d+)", "[T-$n](https://t/$n)")]).await;
    assert!(again.unwrap_err().contains("304"));
}

//! Integration tests of the generated typed client, `mattermost_plugin::PluginApiClient`,
//! against an in-process fake of the server's `PluginAPI` gRPC service, over a real
//! loopback TCP socket.
//!
//! The fake implements the raw tonic server trait
//! (`mattermost_plugin_testing::plugin_api_server::PluginApi`), whose generated
//! methods all have default bodies answering `Unimplemented`: only the handful of
//! methods these tests exercise are written out below.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mattermost_plugin::prelude::*;
use mattermost_plugin::proto;
use mattermost_plugin_testing::plugin_api_server::{PluginApi, PluginApiServer};
use prost_types::value::Kind;
use serde_json::json;
use tokio::net::{TcpListener, TcpSocket};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

/// Every await on the network is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`TIMEOUT`].
async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .expect("timed out after 10 s")
}

/// What the fake server was asked, in order.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    GetUser(String),
    GetUsers { page: i32, per_page: i32 },
    DeleteUser(String),
    KvGet(String),
    KvDelete(String),
    GetConfig,
    GetEmojiImage(String),
    SavePluginConfig(Option<prost_types::Struct>),
    GetPluginConfig,
    PluginHttp { method: String, url: String, headers: Vec<(String, String)>, body: Vec<u8> },
    KvSet { key: String, bytes: usize },
}

/// A fake `PluginAPI` server. `GetUser` picks its behaviour from the requested id
/// (see [`Fake::get_user_response`]); the plugin config is stored between calls.
#[derive(Debug, Clone, Default)]
struct Fake {
    calls: Arc<Mutex<Vec<Call>>>,
    plugin_config: Arc<Mutex<Option<prost_types::Struct>>>,
}

impl Fake {
    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// `GetUser`'s answer for `user_id`: a few magic ids fail in the different ways a
    /// server can fail; any other id yields a user built from the id.
    fn get_user_response(user_id: String) -> Result<proto::GetUserResponse, Status> {
        match user_id.as_str() {
            // An application error in the response's `error` field.
            "app-error-field" => Ok(proto::GetUserResponse {
                error: Some(proto::AppError {
                    id: "app.user.missing".into(),
                    message: "nope".into(),
                    detailed_error: "no row for app-error-field".into(),
                    request_id: "req-42".into(),
                    status_code: 404,
                    r#where: "GetUser".into(),
                    params: Some(prost_types::Struct {
                        fields: [("UserId".to_owned(), string_value("app-error-field"))]
                            .into_iter()
                            .collect(),
                    }),
                }),
                user: None,
            }),
            // An `error` field that is present but empty is not an error.
            "empty-error-field" => Ok(proto::GetUserResponse {
                error: Some(proto::AppError::default()),
                user: Some(user_from_id(&user_id)),
            }),
            // The real server's way: a status whose message is "<app error id>: <message>".
            "status-not-found" => Err(Status::not_found("app.user.get.app_error: User not found")),
            // Statuses that carry no application error.
            "status-internal" => Err(Status::internal("boom")),
            "status-unavailable" => Err(Status::unavailable("maintenance")),
            "status-internal-colon" => Err(Status::internal("database: connection reset")),
            // Neither an error nor the required `user`.
            "missing-field" => Ok(proto::GetUserResponse {
                error: None,
                user: None,
            }),
            _ => Ok(proto::GetUserResponse {
                error: None,
                user: Some(user_from_id(&user_id)),
            }),
        }
    }
}

/// The user the fake returns for `id`: every field the tests check derives from the id.
fn user_from_id(id: &str) -> proto::User {
    proto::User {
        id: id.to_owned(),
        username: format!("name-{id}"),
        email: format!("{id}@example.com"),
        create_at: 1_700_000_000_000,
        is_bot: id.starts_with("bot"),
        roles: "system_user".into(),
        ..Default::default()
    }
}

fn string_value(s: &str) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    }
}

fn number_value(n: f64) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::NumberValue(n)),
    }
}

// Every method not written out here answers `Unimplemented`: the generated
// server trait has default stubs, which is what makes a fake this small.
#[tonic::async_trait]
impl PluginApi for Fake {
    async fn plugin_http(
        &self,
        request: Request<proto::PluginHttpRequest>,
    ) -> Result<Response<proto::PluginHttpResponse>, Status> {
        let request = request.into_inner();
        let mut headers: Vec<(String, String)> = request.headers.into_iter().collect();
        headers.sort();
        self.record(Call::PluginHttp { method: request.method, url: request.url, headers, body: request.body.clone() });
        Ok(Response::new(proto::PluginHttpResponse {
            error: None,
            status_code: 201,
            headers: [("x-answer".to_owned(), "yes".to_owned())].into(),
            body: [b"got ".as_slice(), &request.body].concat(),
        }))
    }

    async fn get_user(
        &self,
        request: Request<proto::GetUserRequest>,
    ) -> Result<Response<proto::GetUserResponse>, Status> {
        let user_id = request.into_inner().user_id;
        self.record(Call::GetUser(user_id.clone()));
        Self::get_user_response(user_id).map(Response::new)
    }

    async fn get_users(
        &self,
        request: Request<proto::GetUsersRequest>,
    ) -> Result<Response<proto::GetUsersResponse>, Status> {
        let request = request.into_inner();
        self.record(Call::GetUsers {
            page: request.page,
            per_page: request.per_page,
        });
        // One user per page slot, so the client can check it got what was sent.
        let users = (0..request.per_page)
            .map(|i| user_from_id(&format!("p{}-{i}", request.page)))
            .collect();
        Ok(Response::new(proto::GetUsersResponse { error: None, users }))
    }

    async fn delete_user(
        &self,
        request: Request<proto::DeleteUserRequest>,
    ) -> Result<Response<proto::DeleteUserResponse>, Status> {
        self.record(Call::DeleteUser(request.into_inner().user_id));
        Ok(Response::new(proto::DeleteUserResponse { error: None }))
    }

    async fn kv_get(
        &self,
        request: Request<proto::KvGetRequest>,
    ) -> Result<Response<proto::KvGetResponse>, Status> {
        let key = request.into_inner().key;
        self.record(Call::KvGet(key.clone()));
        Ok(Response::new(proto::KvGetResponse {
            error: None,
            value: format!("value of {key}").into_bytes(),
        }))
    }

    /// Stores nothing; a key named `grpc-go-refuses` answers what grpc-go's
    /// server sends for a request over its limit (its `rpc_util.go`:
    /// "grpc: received message larger than max (%d vs. %d)",
    /// ResourceExhausted), as the real host's API server does for requests
    /// over 4 MiB (`runtime/src/host_rules.md`, "Message sizes").
    async fn kv_set(
        &self,
        request: Request<proto::KvSetRequest>,
    ) -> Result<Response<proto::KvSetResponse>, Status> {
        let request = request.into_inner();
        let bytes = prost::Message::encoded_len(&request);
        self.record(Call::KvSet { key: request.key.clone(), bytes });
        if request.key == "grpc-go-refuses" {
            return Err(Status::resource_exhausted(format!(
                "grpc: received message larger than max ({bytes} vs. 4194304)"
            )));
        }
        Ok(Response::new(proto::KvSetResponse { error: None }))
    }

    async fn kv_delete(
        &self,
        request: Request<proto::KvDeleteRequest>,
    ) -> Result<Response<proto::KvDeleteResponse>, Status> {
        self.record(Call::KvDelete(request.into_inner().key));
        Ok(Response::new(proto::KvDeleteResponse { error: None }))
    }

    async fn get_config(
        &self,
        _request: Request<proto::GetConfigRequest>,
    ) -> Result<Response<proto::GetConfigResponse>, Status> {
        self.record(Call::GetConfig);
        let config = br#"{"ServiceSettings":{"SiteURL":"http://localhost:8065","ListenAddress":":8065"},"TeamSettings":{"MaxUsersPerTeam":50}}"#;
        Ok(Response::new(proto::GetConfigResponse {
            error: None,
            config_json: config.to_vec(),
        }))
    }

    async fn get_emoji_image(
        &self,
        request: Request<proto::GetEmojiImageRequest>,
    ) -> Result<Response<proto::GetEmojiImageResponse>, Status> {
        self.record(Call::GetEmojiImage(request.into_inner().emoji_id));
        Ok(Response::new(proto::GetEmojiImageResponse {
            error: None,
            image: vec![0x89, b'P', b'N', b'G', 0, 0xff],
            content_type: "png".into(),
        }))
    }

    async fn save_plugin_config(
        &self,
        request: Request<proto::SavePluginConfigRequest>,
    ) -> Result<Response<proto::SavePluginConfigResponse>, Status> {
        let config = request.into_inner().config;
        self.record(Call::SavePluginConfig(config.clone()));
        *self.plugin_config.lock().unwrap() = config;
        Ok(Response::new(proto::SavePluginConfigResponse { error: None }))
    }

    async fn get_plugin_config(
        &self,
        _request: Request<proto::GetPluginConfigRequest>,
    ) -> Result<Response<proto::GetPluginConfigResponse>, Status> {
        self.record(Call::GetPluginConfig);
        Ok(Response::new(proto::GetPluginConfigResponse {
            error: None,
            config: self.plugin_config.lock().unwrap().clone(),
        }))
    }
}

/// Binds a loopback port the OS picks.
async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// A loopback port that is bound but where nothing listens: connections to it are
/// refused. Holding the socket (rather than binding a listener and dropping it) keeps
/// the OS from handing the port to a test running in parallel, whose server would
/// then answer.
fn dead_port() -> (TcpSocket, SocketAddr) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind loopback");
    let addr = socket.local_addr().expect("local addr");
    (socket, addr)
}

/// A listener on a fresh loopback port and, where the OS has `SO_REUSEPORT`, a guard: a
/// second socket bound to the same port that never listens. After the listener is
/// dropped, the guard keeps the port reserved, so connections to it are refused
/// instead of reaching a parallel test that the OS gave the freed port to. (Without a
/// guard that is a small race; it showed up when several copies of this suite ran at
/// once.)
fn bind_with_guard() -> (TcpListener, Option<TcpSocket>, SocketAddr) {
    let socket = TcpSocket::new_v4().expect("socket");
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    socket.set_reuseport(true).expect("SO_REUSEPORT");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind loopback");
    let addr = socket.local_addr().expect("local addr");
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    let guard = {
        let guard = TcpSocket::new_v4().expect("socket");
        guard.set_reuseport(true).expect("SO_REUSEPORT");
        guard
            .bind(addr)
            .expect("bind the guard to the listener's port");
        Some(guard)
    };
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    let guard = None;
    let listener = socket.listen(128).expect("listen");
    (listener, guard, addr)
}

/// Serves `fake` on a fresh loopback port (until the test's runtime ends) and
/// connects a client to it.
async fn serve(fake: Fake) -> PluginApiClient {
    let (listener, addr) = bind().await;
    tokio::spawn(
        Server::builder()
            .add_service(PluginApiServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    within(PluginApiClient::connect(&addr.to_string()))
        .await
        .expect("connect to the fake server")
}

/// The application error inside `err`, failing the test if it is anything else.
fn expect_app(err: &Error) -> &AppError {
    match err {
        Error::App(app) => app,
        other => panic!("expected Error::App, got {other:?}"),
    }
}

#[tokio::test]
async fn get_user_returns_the_user_the_server_built_from_the_request() {
    let fake = Fake::default();
    let client = serve(fake.clone()).await;

    let user = within(client.get_user("u1")).await.expect("get_user");

    assert_eq!(fake.calls(), [Call::GetUser("u1".into())]);
    assert_eq!(user, user_from_id("u1"));
    assert_eq!(user.id, "u1");
    assert_eq!(user.username, "name-u1");
    assert_eq!(user.email, "u1@example.com");
    assert_eq!(user.create_at, 1_700_000_000_000);
    assert!(!user.is_bot);

    // `String` as well as `&str` is accepted, and a second call reuses the connection.
    let bot = within(client.get_user(String::from("bot7")))
        .await
        .expect("get_user");
    assert_eq!(bot.username, "name-bot7");
    assert!(bot.is_bot);
    assert_eq!(
        fake.calls(),
        [Call::GetUser("u1".into()), Call::GetUser("bot7".into())]
    );
}

#[tokio::test]
async fn kv_get_returns_the_stored_bytes() {
    let fake = Fake::default();
    let client = serve(fake.clone()).await;

    let value = within(client.kv_get("greeting")).await.expect("kv_get");

    assert_eq!(value, b"value of greeting");
    assert_eq!(fake.calls(), [Call::KvGet("greeting".into())]);
}

#[tokio::test]
async fn get_config_parses_the_json_bytes() {
    let fake = Fake::default();
    let client = serve(fake.clone()).await;

    let config = within(client.get_config()).await.expect("get_config");

    assert_eq!(
        config,
        json!({
            "ServiceSettings": {"SiteURL": "http://localhost:8065", "ListenAddress": ":8065"},
            "TeamSettings": {"MaxUsersPerTeam": 50},
        })
    );
    assert_eq!(config["TeamSettings"]["MaxUsersPerTeam"].as_i64(), Some(50));
    assert_eq!(fake.calls(), [Call::GetConfig]);
}

#[tokio::test]
async fn get_emoji_image_returns_both_outputs_in_order() {
    let fake = Fake::default();
    let client = serve(fake.clone()).await;

    let (image, content_type) = within(client.get_emoji_image("emoji-9"))
        .await
        .expect("get_emoji_image");

    assert_eq!(image, [0x89, b'P', b'N', b'G', 0, 0xff]);
    assert_eq!(content_type, "png");
    assert_eq!(fake.calls(), [Call::GetEmojiImage("emoji-9".into())]);
}

#[tokio::test]
async fn methods_without_outputs_return_unit_and_send_their_arguments() {
    let fake = Fake::default();
    let client = serve(fake.clone()).await;

    let () = within(client.kv_delete("old-key"))
        .await
        .expect("kv_delete");
    let () = within(client.delete_user("u2")).await.expect("delete_user");

    assert_eq!(
        fake.calls(),
        [
            Call::KvDelete("old-key".into()),
            Call::DeleteUser("u2".into())
        ]
    );
}

#[tokio::test]
async fn get_users_sends_the_options_struct() {
    let fake = Fake::default();
    let client = serve(fake.clone()).await;

    let users = within(client.get_users(proto::GetUsersRequest {
        page: 1,
        per_page: 10,
        ..Default::default()
    }))
    .await
    .expect("get_users");

    assert_eq!(
        fake.calls(),
        [Call::GetUsers {
            page: 1,
            per_page: 10
        }]
    );
    assert_eq!(users.len(), 10);
    assert_eq!(users[0].id, "p1-0");
    assert_eq!(users[9].id, "p1-9");
}

#[tokio::test]
async fn app_error_in_the_response_field_becomes_error_app() {
    let fake = Fake::default();
    let client = serve(fake.clone()).await;

    let err = within(client.get_user("app-error-field"))
        .await
        .expect_err("the server answered with an AppError");

    let app = expect_app(&err);
    assert_eq!(app.id, "app.user.missing");
    assert_eq!(app.message, "nope");
    assert_eq!(app.status_code, 404);
    assert_eq!(app.detailed_error, "no row for app-error-field");
    assert_eq!(app.request_id, "req-42");
    assert_eq!(app.where_, "GetUser");
    assert_eq!(
        app.params,
        json!({"UserId": "app-error-field"})
            .as_object()
            .unwrap()
            .clone()
    );
    assert_eq!(app.kind(), ErrorKind::NotFound);
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.app(), Some(app));
    assert_eq!(
        err.to_string(),
        "GetUser: nope, no row for app-error-field",
        "Go's AppError text: where, message, detailed error; the id is not shown"
    );
    assert_eq!(fake.calls(), [Call::GetUser("app-error-field".into())]);
}

#[tokio::test]
async fn empty_app_error_in_the_response_field_is_not_an_error() {
    let client = serve(Fake::default()).await;

    let user = within(client.get_user("empty-error-field"))
        .await
        .expect("an all-empty AppError means no error");

    assert_eq!(user, user_from_id("empty-error-field"));
}

#[tokio::test]
async fn app_error_sent_as_grpc_status_becomes_the_same_error_app() {
    let fake = Fake::default();
    let client = serve(fake.clone()).await;

    let err = within(client.get_user("status-not-found"))
        .await
        .expect_err("the server answered with a NotFound status");

    let app = expect_app(&err);
    assert_eq!(
        *app,
        AppError {
            id: "app.user.get.app_error".into(),
            message: "User not found".into(),
            status_code: 404,
            ..AppError::default()
        }
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(fake.calls(), [Call::GetUser("status-not-found".into())]);
}

#[tokio::test]
async fn grpc_status_without_an_app_error_id_becomes_error_status() {
    let client = serve(Fake::default()).await;

    let err = within(client.get_user("status-internal"))
        .await
        .expect_err("the server answered with an Internal status");
    match &err {
        Error::Status(status) => {
            assert_eq!(status.code(), tonic::Code::Internal);
            assert_eq!(status.message(), "boom");
        }
        other => panic!("expected Error::Status, got {other:?}"),
    }
    assert!(err.app().is_none());
    assert_eq!(err.kind(), ErrorKind::Other);

    // "<word>: <message>" is only an app error id when the word looks like one
    // (it has a dot); "database" does not.
    let err = within(client.get_user("status-internal-colon"))
        .await
        .expect_err("the server answered with an Internal status");
    match &err {
        Error::Status(status) => {
            assert_eq!(status.code(), tonic::Code::Internal);
            assert_eq!(status.message(), "database: connection reset");
        }
        other => panic!("expected Error::Status, got {other:?}"),
    }

    // An Unavailable status the server itself sent is no transport failure.
    let err = within(client.get_user("status-unavailable"))
        .await
        .expect_err("the server answered with an Unavailable status");
    assert!(matches!(&err, Error::Status(s) if s.message() == "maintenance"), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn unimplemented_method_becomes_error_status_unimplemented() {
    let client = serve(Fake::default()).await;

    let err = within(client.kv_list(0, 10))
        .await
        .expect_err("the fake does not implement KVList");

    assert!(
        matches!(&err, Error::Status(s) if s.code() == tonic::Code::Unimplemented),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Unimplemented);
}

#[tokio::test]
async fn missing_required_field_becomes_error_missing_field() {
    let client = serve(Fake::default()).await;

    let err = within(client.get_user("missing-field"))
        .await
        .expect_err("the response has neither error nor user");

    assert!(matches!(err, Error::MissingField("user")), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Other);
}

#[tokio::test]
async fn connect_to_a_closed_port_fails_as_unavailable() {
    // Nothing listens on the port (and nothing else can take it while `_port` lives).
    let (_port, addr) = dead_port();

    let err = within(PluginApiClient::connect(&addr.to_string()))
        .await
        .expect_err("nothing listens on the port");

    // `connect` dials eagerly, so the refused connection surfaces here as `Connect`.
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.app().is_none());
}

#[tokio::test]
async fn call_after_the_server_shut_down_fails_as_transport_unavailable() {
    let fake = Fake::default();
    let (listener, _guard, addr) = bind_with_guard();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .add_service(PluginApiServer::new(fake.clone()))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                stopped.await.ok();
            }),
    );
    let client = within(PluginApiClient::connect(&addr.to_string()))
        .await
        .expect("connect to the fake server");
    within(client.kv_delete("k"))
        .await
        .expect("the server is up");

    stop.send(()).expect("the server is still running");
    within(server)
        .await
        .expect("server task")
        .expect("server shut down cleanly");

    let err = within(client.get_user("u1"))
        .await
        .expect_err("the server is gone");

    // Observed: the graceful shutdown closed the connection and dropped the listener,
    // so the channel's reconnect is refused (by the guard's port) and tonic fails the call locally with an
    // `Unavailable` status ("tcp connect error") whose source is a
    // `tonic::transport::Error` wrapping ECONNREFUSED. The SDK files
    // that under `Error::Transport` (never `App`: the server's logic never ran), and
    // its kind is `Unavailable`.
    match &err {
        Error::Transport(status) => {
            assert_eq!(status.code(), tonic::Code::Unavailable);
            let source = std::error::Error::source(&**status).expect("a source");
            assert!(source.is::<tonic::transport::Error>(), "{source:?}");
        }
        other => panic!("expected Error::Transport, got {other:?}"),
    }
    assert!(err.app().is_none());
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(fake.calls(), [Call::KvDelete("k".into())]);
}

#[tokio::test]
async fn plugin_config_round_trips_through_a_protobuf_struct() {
    let fake = Fake::default();
    let client = serve(fake.clone()).await;
    let config = json!({
        "enabled": true,
        "count": 3,
        "ratio": 0.5,
        "name": "hello",
        "tags": ["a", "b"],
        "nested": {"inner": null},
    });
    let serde_json::Value::Object(config) = config else {
        unreachable!("a JSON object literal")
    };

    within(client.save_plugin_config(config.clone()))
        .await
        .expect("save_plugin_config");

    // What went over the wire, built by hand rather than with the SDK's converters.
    let expected = prost_types::Struct {
        fields: [
            (
                "enabled",
                prost_types::Value {
                    kind: Some(Kind::BoolValue(true)),
                },
            ),
            ("count", number_value(3.0)),
            ("ratio", number_value(0.5)),
            ("name", string_value("hello")),
            (
                "tags",
                prost_types::Value {
                    kind: Some(Kind::ListValue(prost_types::ListValue {
                        values: vec![string_value("a"), string_value("b")],
                    })),
                },
            ),
            (
                "nested",
                prost_types::Value {
                    kind: Some(Kind::StructValue(prost_types::Struct {
                        fields: [(
                            "inner".to_owned(),
                            prost_types::Value {
                                kind: Some(Kind::NullValue(0)),
                            },
                        )]
                        .into_iter()
                        .collect(),
                    })),
                },
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    };
    assert_eq!(fake.calls(), [Call::SavePluginConfig(Some(expected))]);

    let loaded = within(client.get_plugin_config())
        .await
        .expect("get_plugin_config");

    // Equal as JSON, and the whole number comes back as an integer, not 3.0.
    assert_eq!(loaded, config);
    assert_eq!(loaded["count"].as_i64(), Some(3));
    assert_eq!(fake.calls().last(), Some(&Call::GetPluginConfig));
}

#[tokio::test]
async fn http_send_goes_through_plugin_http_and_comes_back_as_http_types() {
    let fake = Fake::default();
    let client = serve(fake.clone()).await;
    let request = tonic::codegen::http::Request::builder()
        .method("POST")
        .uri("/plugins/com.example.other/api/v1/ping?x=1")
        .header("X-Tag", "a")
        .header("X-Tag", "b")
        .header("Content-Type", "text/plain")
        .body("hello")
        .unwrap();
    let response = within(mattermost_plugin::http::send(&client, request)).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-answer"], "yes");
    assert_eq!(response.body().as_ref(), b"got hello");
    assert_eq!(
        fake.calls(),
        [Call::PluginHttp {
            method: "POST".into(),
            url: "/plugins/com.example.other/api/v1/ping?x=1".into(),
            headers: vec![("content-type".into(), "text/plain".into()), ("x-tag".into(), "a, b".into())],
            body: b"hello".to_vec(),
        }]
    );
}

#[tokio::test]
async fn a_request_over_the_servers_limit_is_refused_before_it_is_sent() {
    let fake = Fake::default();
    let client = serve(fake.clone()).await;
    assert_eq!(client.request_limit(), mattermost_plugin::api::MAX_REQUEST_SIZE);
    assert_eq!(mattermost_plugin::api::MAX_REQUEST_SIZE, 4 << 20);
    let err = within(client.kv_set("big", vec![0u8; 5 << 20])).await.unwrap_err();
    match &err {
        Error::TooLarge { size, limit } => {
            // Key: tag, length, 3 bytes; value: tag, four-byte length, 5 MiB.
            assert_eq!(*size, (1 + 1 + 3) + (1 + 4 + (5 << 20)));
            assert_eq!(*limit, 4 << 20);
        }
        other => panic!("expected Error::TooLarge, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    assert!(err.to_string().contains("over the server's limit of 4194304 bytes"), "{err}");
    assert!(fake.calls().is_empty(), "nothing was sent: {:?}", fake.calls());

    // Just under the limit goes through.
    let fits = (4 << 20) - 32;
    within(client.kv_set("ok", vec![0u8; fits])).await.expect("a request under the limit");
    assert!(matches!(fake.calls().as_slice(), [Call::KvSet { key, bytes }] if key == "ok" && *bytes <= 4 << 20));
}

#[tokio::test]
async fn the_servers_own_refusal_for_size_becomes_the_same_error() {
    let fake = Fake::default();
    // A client that lets the request go: the server's answer decides.
    let client = serve(fake.clone()).await.with_request_limit(8 << 20);
    let err = within(client.kv_set("grpc-go-refuses", vec![1u8; 1000])).await.unwrap_err();
    match err {
        // Key: tag, length, 15 bytes; value: tag, two-byte length, 1,000 bytes.
        Error::TooLarge { size, limit } => assert_eq!((size, limit), (1 + 1 + 15 + 1 + 2 + 1000, 4 << 20)),
        other => panic!("expected Error::TooLarge, got {other:?}"),
    }
    // Another ResourceExhausted status is not a size refusal.
    let other = Error::from_status(Status::resource_exhausted("too many requests"));
    assert!(matches!(other, Error::Status(_)), "{other:?}");
}

/// A server that accepts the connection and never answers: the call fails
/// with `TimedOut` at the client's deadline instead of waiting forever
/// (outside a hook nothing else would stop it).
#[tokio::test]
async fn an_api_server_that_never_answers_fails_the_call_at_its_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            open.push(connection); // never read, never answered
        }
    });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    let transport =
        mattermost_plugin::api::Transport::from(channel).with_timeout(Duration::from_millis(300));
    let client = PluginApiClient::new(transport);
    let error = within(client.get_user("u1")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TimedOut, "{error:?}");
    let wanted = "did not answer mattermost.pluginapi.v1.PluginAPI/GetUser within 0.3 s";
    assert!(error.to_string().contains(wanted), "{error}");
    hold.abort();
}

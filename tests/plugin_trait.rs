//! The generated `Plugin` trait and `#[plugin]`, served in-process over a
//! real socket: `Implemented` derived from the methods written, every veto
//! decision on the wire, defaults for hooks not written.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mattermost_plugin_testing::plugin_hooks_client::PluginHooksClient;
use mattermost_plugin::proto::plugin_hooks_server::PluginHooksServer;
use mattermost_plugin::server::HookServer;
use mattermost_plugin::http::RequestUri;
use mattermost_plugin::{
    Context, FileWillBeUploadedDecision, HookName, HookResult, HttpRequest, HttpResponse, MessageWillBePostedDecision,
    Plugin, PluginApiClient, UserWillLogInDecision, proto,
};
use tonic::transport::Channel;

/// Three hooks, each answering from what it is given.
struct Three;

#[mattermost_plugin::plugin]
impl Plugin for Three {
    async fn on_activate(&self, _cx: &Context) -> HookResult {
        Ok(())
    }

    async fn message_will_be_posted(
        &self,
        cx: &Context,
        _pc: &proto::PluginContext,
        post: proto::Post,
    ) -> MessageWillBePostedDecision {
        assert_eq!(cx.hook, HookName::MessageWillBePosted);
        match post.message.as_str() {
            "dismiss" => MessageWillBePostedDecision::Dismiss,
            "reject quietly" => MessageWillBePostedDecision::Reject(String::new()),
            "reject" => MessageWillBePostedDecision::Reject("no".into()),
            "replace" => {
                MessageWillBePostedDecision::Replace(Box::new(proto::Post { message: "replaced".into(), ..post }))
            }
            _ => MessageWillBePostedDecision::Allow,
        }
    }

    async fn file_will_be_uploaded(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        file_info: proto::FileInfo,
        file_content: Vec<u8>,
    ) -> FileWillBeUploadedDecision {
        if file_content.is_empty() {
            return FileWillBeUploadedDecision::Reject("empty file".into());
        }
        FileWillBeUploadedDecision::Replace {
            file_info: Some(Box::new(proto::FileInfo { name: format!("checked-{}", file_info.name), ..file_info })),
            content: file_content.to_ascii_uppercase(),
        }
    }
}

async fn serve<P: Plugin>(plugin: P) -> PluginHooksClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let api = PluginApiClient::connect_lazy("127.0.0.1:9").unwrap();
    let server = PluginHooksServer::new(HookServer::new(Arc::new(plugin), api, Duration::from_secs(5)));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    PluginHooksClient::connect(format!("http://{address}")).await.unwrap()
}

fn post(message: &str) -> proto::MessageWillBePostedRequest {
    proto::MessageWillBePostedRequest {
        post: Some(proto::Post { id: "p".into(), message: message.into(), ..Default::default() }),
        ..Default::default()
    }
}

#[test]
fn the_attribute_lists_exactly_the_three_hooks_written() {
    assert_eq!(
        Three::IMPLEMENTED,
        &[HookName::OnActivate, HookName::MessageWillBePosted, HookName::FileWillBeUploaded]
    );
}

#[tokio::test]
async fn implemented_answers_exactly_the_three_hooks_in_contract_order() {
    let mut client = serve(Three).await;
    let answer = client.implemented(proto::ImplementedRequest::default()).await.unwrap().into_inner();
    assert_eq!(answer.hooks, ["OnActivate", "MessageWillBePosted", "FileWillBeUploaded"]);
    assert!(answer.error.is_none());
}

#[tokio::test]
async fn every_post_decision_reaches_the_wire() {
    let mut client = serve(Three).await;
    let mut ask = async |message: &str| client.message_will_be_posted(post(message)).await.unwrap().into_inner();
    assert_eq!(ask("fine").await, proto::MessageWillBePostedResponse::default());
    assert_eq!(ask("reject").await.rejection_reason, "no");
    // An empty reason would mean "allow" on the wire: a generic one goes instead.
    assert!(!ask("reject quietly").await.rejection_reason.is_empty());
    assert_eq!(ask("dismiss").await.rejection_reason, "plugin.message_will_be_posted.dismiss_post");
    let replaced = ask("replace").await;
    assert_eq!(replaced.modified_post.map(|p| (p.id, p.message)), Some(("p".into(), "replaced".into())));
    assert!(replaced.rejection_reason.is_empty());
}

#[tokio::test]
async fn a_file_decision_replaces_metadata_and_content_together() {
    let mut client = serve(Three).await;
    let request = proto::FileWillBeUploadedRequest {
        file_info: Some(proto::FileInfo { name: "a.txt".into(), ..Default::default() }),
        file_content: b"abc".to_vec(),
        ..Default::default()
    };
    let answer = client.file_will_be_uploaded(request.clone()).await.unwrap().into_inner();
    assert_eq!(answer.modified_file_info.map(|f| f.name).as_deref(), Some("checked-a.txt"));
    assert_eq!(answer.modified_content, b"ABC");
    let empty = proto::FileWillBeUploadedRequest { file_content: vec![], ..request };
    let refused = client.file_will_be_uploaded(empty).await.unwrap().into_inner();
    assert_eq!(refused.rejection_reason, "empty file");
    assert!(refused.modified_file_info.is_none() && refused.modified_content.is_empty());
}

#[tokio::test]
async fn hooks_not_written_answer_as_if_no_plugin_handled_them() {
    let mut client = serve(Three).await;
    let login = proto::UserWillLogInRequest { user: Some(proto::User::default()), ..Default::default() };
    let answer = client.user_will_log_in(login).await.unwrap().into_inner();
    assert_eq!(answer, proto::UserWillLogInResponse::from(UserWillLogInDecision::Allow));
    assert!(answer.rejection_reason.is_empty());
    let retention = proto::RunDataRetentionRequest { now_time: 1, batch_size: 10, ..Default::default() };
    let answer = client.run_data_retention(retention).await.unwrap().into_inner();
    assert_eq!((answer.deleted_count, answer.error), (0, None));
    let limits = client.on_cloud_limits_updated(proto::OnCloudLimitsUpdatedRequest::default()).await;
    assert!(limits.is_ok(), "limits may be unset: {limits:?}");
}

/// What ran, in order, across the hooks of one activation.
#[derive(Default)]
struct Journal(std::sync::Mutex<Vec<&'static str>>);

impl Journal {
    fn note(&self, what: &'static str) {
        self.0.lock().unwrap().push(what);
    }

    fn entries(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }
}

/// Writes only `on_configuration_change`, which fails or panics on demand.
struct ConfigOnly {
    journal: Arc<Journal>,
    fail: &'static str,
}

#[mattermost_plugin::plugin]
impl Plugin for ConfigOnly {
    async fn on_configuration_change(&self, cx: &Context) -> HookResult {
        assert_eq!(cx.hook, HookName::OnConfigurationChange, "the configuration runs with its own context");
        self.journal.note("configuration");
        match self.fail {
            "error" => Err(mattermost_plugin::HookError::new("settings are unreadable")),
            "panic" => panic!("settings exploded"),
            _ => Ok(()),
        }
    }
}

/// Writes both, and fails to activate on demand.
struct Both {
    journal: Arc<Journal>,
    activation_fails: bool,
}

#[mattermost_plugin::plugin]
impl Plugin for Both {
    async fn on_configuration_change(&self, _cx: &Context) -> HookResult {
        self.journal.note("configuration");
        Ok(())
    }

    async fn on_activate(&self, cx: &Context) -> HookResult {
        assert_eq!(cx.hook, HookName::OnActivate);
        self.journal.note("activation");
        if self.activation_fails { Err(mattermost_plugin::HookError::new("the bot could not be made")) } else { Ok(()) }
    }
}

#[tokio::test]
async fn writing_only_the_configuration_hook_still_gets_it_run_at_activation() {
    let journal = Arc::new(Journal::default());
    assert_eq!(ConfigOnly::IMPLEMENTED, &[HookName::OnConfigurationChange]);
    let mut client = serve(ConfigOnly { journal: Arc::clone(&journal), fail: "" }).await;
    // The host calls OnActivate only when Implemented lists it (`runtime/src/host_rules.md`, "Start sequence").
    let answer = client.implemented(proto::ImplementedRequest::default()).await.unwrap().into_inner();
    assert_eq!(answer.hooks, ["OnActivate", "OnConfigurationChange"]);
    let activated = client.on_activate(proto::OnActivateRequest::default()).await.unwrap().into_inner();
    assert!(activated.error.is_none());
    assert_eq!(journal.entries(), ["configuration"]);
}

#[tokio::test]
async fn the_configuration_runs_once_and_first_and_activation_follows() {
    let journal = Arc::new(Journal::default());
    let mut client = serve(Both { journal: Arc::clone(&journal), activation_fails: false }).await;
    let answer = client.implemented(proto::ImplementedRequest::default()).await.unwrap().into_inner();
    assert_eq!(answer.hooks, ["OnActivate", "OnConfigurationChange"]);
    client.on_activate(proto::OnActivateRequest::default()).await.unwrap();
    assert_eq!(journal.entries(), ["configuration", "activation"]);
    // A later configuration change runs the configuration alone.
    client.on_configuration_change(proto::OnConfigurationChangeRequest::default()).await.unwrap();
    assert_eq!(journal.entries(), ["configuration", "activation", "configuration"]);
}

#[tokio::test]
async fn a_failing_or_panicking_configuration_is_logged_and_activation_goes_on() {
    for fail in ["error", "panic"] {
        let journal = Arc::new(Journal::default());
        let mut client = serve(ConfigOnly { journal: Arc::clone(&journal), fail }).await;
        let activated = client.on_activate(proto::OnActivateRequest::default()).await.unwrap().into_inner();
        assert!(activated.error.is_none(), "{fail}: {activated:?}");
        assert_eq!(journal.entries(), ["configuration"], "{fail}");
        // The plugin serves on.
        client.implemented(proto::ImplementedRequest::default()).await.unwrap();
    }
}

#[tokio::test]
async fn a_failing_activation_answers_its_text_where_the_host_shows_it() {
    let journal = Arc::new(Journal::default());
    let mut client = serve(Both { journal, activation_fails: true }).await;
    let answer = client.on_activate(proto::OnActivateRequest::default()).await.unwrap().into_inner();
    let error = answer.error.expect("the activation's error");
    // The host keeps `where`, `id`, `detailed_error` and the status and drops
    // `message` (`runtime/src/host_rules.md`, "Hook errors").
    assert_eq!(error.r#where, "OnActivate");
    assert_eq!(error.id, mattermost_plugin::HookError::GENERIC_ID);
    assert_eq!(error.detailed_error, "the bot could not be made");
    assert_eq!(error.message, "the bot could not be made");
    assert_eq!(error.status_code, 500);
}

/// An application error the plugin builds itself keeps its `where` and
/// `detailed_error`; only empty ones are filled in.
#[tokio::test]
async fn an_app_error_with_its_own_where_and_details_is_sent_as_it_is() {
    struct Precise;

    #[mattermost_plugin::plugin]
    impl Plugin for Precise {
        async fn on_activate(&self, _cx: &Context) -> HookResult {
            Err(mattermost_plugin::HookError::app(mattermost_plugin::AppError {
                id: "com.example.setup.failed".into(),
                message: "Setup failed.".into(),
                detailed_error: "the channel town-square is archived".into(),
                where_: "Precise.setup".into(),
                status_code: 409,
                ..Default::default()
            }))
        }
    }

    let mut client = serve(Precise).await;
    let error = client.on_activate(proto::OnActivateRequest::default()).await.unwrap().into_inner().error.unwrap();
    assert_eq!(
        (error.id.as_str(), error.r#where.as_str(), error.detailed_error.as_str(), error.status_code),
        ("com.example.setup.failed", "Precise.setup", "the channel town-square is archived", 409)
    );
}

/// The bridge hands the handler the URI the server rewrote and keeps the
/// raw request-target as an extension (`runtime/src/host_rules.md`, "ServeHTTP stream").
#[tokio::test]
async fn serve_http_sees_the_rewritten_url_and_the_raw_request_uri_apart() {
    struct Echo;

    #[mattermost_plugin::plugin]
    impl Plugin for Echo {
        async fn serve_http(&self, _cx: &Context, request: HttpRequest) -> HttpResponse {
            let raw = request.extensions().get::<RequestUri>().map(|r| r.0.clone()).unwrap_or_default();
            let seen = format!("{} {}", request.uri(), raw);
            HttpResponse::new(seen.into())
        }
    }

    let mut client = serve(Echo).await;
    let init = proto::ServeHttpRequestInit {
        method: "GET".into(),
        url: "/hello?a=1".into(),
        request_uri: "/plugins/com.example.x/hello?access_token=t&a=1".into(),
        ..Default::default()
    };
    let first = proto::ServeHttpRequest { init: Some(init), body_complete: true, ..Default::default() };
    let mut answer = client.serve_http(tokio_stream::iter([first])).await.unwrap().into_inner();
    let mut body = Vec::new();
    while let Some(message) = answer.message().await.unwrap() {
        body.extend_from_slice(&message.body_chunk);
    }
    assert_eq!(String::from_utf8(body).unwrap(), "/hello?a=1 /plugins/com.example.x/hello?access_token=t&a=1");
}

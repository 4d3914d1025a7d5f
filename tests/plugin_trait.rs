//! The generated `Plugin` trait and `#[plugin]`, served in-process over a
//! real socket: `Implemented` derived from the methods written, every veto
//! decision on the wire, defaults for hooks not written.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mattermost_plugin::proto::plugin_hooks_client::PluginHooksClient;
use mattermost_plugin::proto::plugin_hooks_server::PluginHooksServer;
use mattermost_plugin::runtime::HookServer;
use mattermost_plugin::{
    Context, FileWillBeUploadedDecision, HookName, HookResult, MessageWillBePostedDecision, Plugin,
    PluginApiClient, UserWillLogInDecision, proto,
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

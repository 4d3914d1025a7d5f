//! The test kit drops what Mattermost's gRPC host drops, so that a plugin
//! relying on a field the host never carries fails its tests as it would
//! fail in production: what a slash command gets and what of its answer the
//! server reads, the remote of the shared channels hooks, the cloud limits,
//! and `PluginHTTP` between plugins (`runtime/src/host_rules.md`, "What the
//! host converts and loses" and "The plugin API's answers").

use std::sync::Mutex;

use mattermost_plugin::http::{RequestUri, ResponseBody, UserId};
use mattermost_plugin::prelude::*;
use mattermost_plugin::{HttpRequest, HttpResponse, proto};
use mattermost_plugin_testing::{DEFAULT_PLUGIN_ID, FakeServer, TestHost};
use serde_json::json;

/// A plugin that keeps what its hooks get, and answers with everything the
/// contract lets it set.
#[derive(Default)]
struct Keeper {
    args: Mutex<Vec<proto::CommandArgs>>,
    remotes: Mutex<Vec<proto::RemoteCluster>>,
    limits: Mutex<Vec<Option<proto::ProductLimits>>>,
}

#[mattermost_plugin::plugin]
impl Plugin for Keeper {
    async fn on_activate(&self, cx: &Context) -> HookResult {
        cx.api.register_command(proto::Command { trigger: "fancy".into(), ..Default::default() }).await?;
        Ok(())
    }

    async fn execute_command(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        args: proto::CommandArgs,
    ) -> HookResult<proto::CommandResponse> {
        self.args.lock().unwrap().push(args);
        let props = json!({ "attachments": [{ "text": "in props" }] });
        let serde_json::Value::Object(props) = props else { unreachable!() };
        Ok(proto::CommandResponse {
            response_type: "in_channel".into(),
            text: "fancy".into(),
            r#type: "custom_fancy".into(),
            props: Some(mattermost_plugin::json::object_to_struct(props)),
            attachments: vec![proto::CommandResponse { text: "an attachment".into(), ..Default::default() }],
            ..Default::default()
        })
    }

    async fn on_shared_channels_ping(&self, _cx: &Context, remote_cluster: proto::RemoteCluster) -> bool {
        self.remotes.lock().unwrap().push(remote_cluster);
        true
    }

    async fn on_cloud_limits_updated(&self, _cx: &Context, limits: Option<proto::ProductLimits>) {
        self.limits.lock().unwrap().push(limits);
    }

    /// Echoes the request: what it saw in headers, its body as the body;
    /// answers one header twice.
    async fn serve_http(&self, _cx: &Context, request: HttpRequest) -> HttpResponse {
        let header = |name: &str| {
            let values: Vec<&str> = request.headers().get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
            values.join(" | ")
        };
        let seen = [
            ("X-Seen-Url", request.uri().to_string()),
            ("X-Seen-Tags", header("X-Tag")),
            ("X-Seen-Caller", header("Mattermost-Plugin-ID")),
            ("X-Seen-User", request.extensions().get::<UserId>().map_or("none".into(), |UserId(id)| id.clone())),
            ("X-Seen-Request-Uri", request.extensions().get::<RequestUri>().map(|RequestUri(u)| u.clone()).unwrap()),
        ];
        let mut response = http::Response::builder().status(201).header("X-Answer", "1").header("X-Answer", "2");
        for (name, value) in seen {
            response = response.header(name, value);
        }
        response.body(ResponseBody::new(request.into_body())).unwrap()
    }
}

async fn start(fake: &FakeServer) -> TestHost<Keeper> {
    TestHost::start(Keeper::default(), fake.clone()).await.expect("the plugin starts")
}

/// The host reads a command's answer without `type` and `attachments`
/// (`commandResponseFromProto`): a plugin that answers with them sees
/// neither reach the user. `props` cross, attachments in them too.
#[tokio::test]
async fn a_commands_answer_comes_back_as_the_host_reads_it() {
    let fake = FakeServer::new();
    fake.seed();
    let host = start(&fake).await;
    let answer = host.command("/fancy").await.unwrap();
    assert_eq!(answer.r#type, "", "the host drops the post type");
    assert!(answer.attachments.is_empty(), "the host drops attachments: {:?}", answer.attachments);
    assert_eq!((answer.response_type.as_str(), answer.text.as_str()), ("in_channel", "fancy"));
    let props = answer.props.expect("props cross");
    assert!(props.fields.contains_key("attachments"), "attachments in props cross: {props:?}");
}

/// The host sends a command only its user, channel, team, root, parent,
/// trigger id, command line and site URL (`commandArgsToProto`), whatever
/// the test gives, through the server's path or the hook's.
#[tokio::test]
async fn a_command_reaches_the_plugin_with_only_the_arguments_the_host_sends() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake).await;
    let args = proto::CommandArgs {
        user_id: seed.user.id.clone(),
        channel_id: seed.channel.id.clone(),
        root_id: "root".into(),
        parent_id: "parent".into(),
        trigger_id: "trigger".into(),
        command: "/fancy @ann ~town".into(),
        t: "translate".into(),
        user_mention: "ann".into(),
        channel_mention: "town".into(),
        ..Default::default()
    };
    host.command_as(args.clone()).await.unwrap();
    host.execute_command(args.clone()).await.unwrap();
    let seen = host.plugin().args.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for got in &seen {
        assert_eq!((got.t.as_str(), got.user_mention.as_str(), got.channel_mention.as_str()), ("", "", ""));
        assert_eq!(
            (got.root_id.as_str(), got.parent_id.as_str(), got.trigger_id.as_str(), got.command.as_str()),
            ("root", "parent", "trigger", "/fancy @ann ~town")
        );
        assert_eq!((got.user_id.as_str(), got.channel_id.as_str()), (args.user_id.as_str(), args.channel_id.as_str()));
    }
    assert_eq!(seen[0].team_id, seed.team.id, "the server's path fills the team");
    assert_eq!(seen[0].site_url, "http://localhost:8065", "and the site URL");
}

/// The host sends a remote without its default team, deletion time, last
/// global user sync, plugin id and options (`remoteClusterToProto`).
#[tokio::test]
async fn the_shared_channels_hooks_get_the_remote_without_what_the_host_drops() {
    let host = start(&FakeServer::new()).await;
    let remote = proto::RemoteCluster {
        remote_id: "r1".into(),
        remote_team_id: "rt".into(),
        name: "remote".into(),
        display_name: "Remote".into(),
        site_url: "https://remote.example".into(),
        default_team_id: "team".into(),
        create_at: 1,
        delete_at: 2,
        last_ping_at: 3,
        last_global_user_sync_at: 4,
        token: "token".into(),
        remote_token: "remote token".into(),
        topics: "share".into(),
        creator_id: "creator".into(),
        plugin_id: "com.example.plugin".into(),
        options: 5,
    };
    assert!(host.on_shared_channels_ping(remote.clone()).await.unwrap().healthy);
    let expected = proto::RemoteCluster {
        default_team_id: String::new(),
        delete_at: 0,
        last_global_user_sync_at: 0,
        plugin_id: String::new(),
        options: 0,
        ..remote
    };
    assert_eq!(host.plugin().remotes.lock().unwrap().as_slice(), [expected]);
}

/// The host sends each part of the limits empty (`productLimitsToProto`):
/// which limits exist crosses, their values do not.
#[tokio::test]
async fn cloud_limits_arrive_as_empty_parts() {
    let host = start(&FakeServer::new()).await;
    let limits = proto::ProductLimits {
        files: Some(proto::FilesLimits { total_storage: Some(10 << 30) }),
        messages: Some(proto::MessagesLimits { history: Some(10_000) }),
        teams: None,
    };
    host.on_cloud_limits_updated(Some(limits)).await.unwrap();
    host.on_cloud_limits_updated(None).await.unwrap();
    let empty = proto::ProductLimits {
        files: Some(proto::FilesLimits::default()),
        messages: Some(proto::MessagesLimits::default()),
        teams: None,
    };
    assert_eq!(host.plugin().limits.lock().unwrap().as_slice(), [Some(empty), None]);
}

/// `PluginHTTP` to a plugin on the fake goes as the server passes it on
/// (`APIServer.PluginHTTP`, `PluginAPI.PluginHTTP`,
/// `ServeInternalPluginRequest`): the URL's first segment is the plugin,
/// the rest its path; one value per header, the caller's id vouched for,
/// no user, no raw target; the answer's repeated header joined with `, `.
#[tokio::test]
async fn a_request_to_a_plugin_goes_and_comes_back_as_the_host_passes_it() {
    let fake = FakeServer::new();
    let host = start(&fake).await;
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("/{DEFAULT_PLUGIN_ID}/echo?b=2&a=1"))
        .header("X-Tag", "a")
        .header("X-Tag", "b")
        .header("Mattermost-User-Id", "forged")
        .header("Mattermost-Plugin-ID", "forged")
        .body("hello")
        .unwrap();
    let response = mattermost_plugin::http::send(&host.api(), request).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.body().as_ref(), b"hello", "the body whole");
    let answer: Vec<&str> = response.headers().get_all("x-answer").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(answer, ["1, 2"], "one value per header, joined");
    let seen = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(seen("x-seen-url"), "/echo?a=1&b=2", "the path without the plugin's id, the query re-encoded");
    assert_eq!(seen("x-seen-tags"), "a, b", "one value per header");
    assert_eq!(seen("x-seen-caller"), DEFAULT_PLUGIN_ID, "the caller's id, not what it sent");
    assert_eq!(seen("x-seen-user"), "none", "no user");
    assert_eq!(seen("x-seen-request-uri"), "", "no raw target");

    let api = host.api();
    let to = |url: &str| {
        let request = http::Request::builder().uri(url).body("").unwrap();
        mattermost_plugin::http::send(&api, request)
    };
    assert_eq!(to("/com.example.other/echo").await.unwrap().status(), 404, "no such plugin");
    assert_eq!(to(&format!("/plugins/{DEFAULT_PLUGIN_ID}/echo")).await.unwrap().status(), 404, "`plugins` is no plugin");
    let short = to(&format!("/{DEFAULT_PLUGIN_ID}")).await.unwrap();
    assert_eq!(short.status(), 400);
    assert_eq!(short.body().as_ref(), b"Not enough URL. Form of URL should be /<pluginid>/*");
}

/// A plugin that keeps the posts its post hooks get and rewrites each new
/// post, setting a prop on the replacement.
#[derive(Default)]
struct Rewriter {
    seen: Mutex<Vec<proto::Post>>,
}

#[mattermost_plugin::plugin]
impl Plugin for Rewriter {
    async fn message_will_be_posted(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        post: proto::Post,
    ) -> mattermost_plugin::MessageWillBePostedDecision {
        self.seen.lock().unwrap().push(post.clone());
        let mut post = post.with_prop("rewritten", true);
        post.set_message(format!("{} (edited)", post.message));
        mattermost_plugin::MessageWillBePostedDecision::Replace(Box::new(post))
    }

    async fn message_has_been_posted(&self, _cx: &Context, _pc: &proto::PluginContext, post: proto::Post) {
        self.seen.lock().unwrap().push(post);
    }
}

/// Posts cross the host without props (`hooks_grpc_client.go`, the post
/// converters): the hook sees none of the post's props, and a replacement
/// is stored without any, the original's and its own alike.
#[tokio::test]
async fn post_hooks_get_and_give_back_posts_without_props() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = TestHost::start(Rewriter::default(), fake.clone()).await.unwrap();
    let post = proto::Post::new(seed.channel.id.as_str(), "hello").by(seed.user.id.as_str()).with_prop("kept", "no");
    let stored = host.api().create_post(post).await.unwrap();
    host.settle().await;
    assert_eq!(stored.message, "hello (edited)");
    assert!(stored.props_json().is_empty(), "the replacement's props: {:?}", stored.props_json());
    let seen = host.plugin().seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "MessageWillBePosted, then MessageHasBeenPosted");
    for post in seen {
        assert!(post.props.is_none() && post.metadata.is_none(), "a hook got {post:?}");
    }
}

//! The generated SDK's test kit, used the way a plugin author uses it: the
//! fake server behind the production API client (state with the server's
//! semantics, per-test answers, the record of calls, errors in each
//! method's form), and the host driver running a plugin as the server does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mattermost_plugin::http::UserId;
use mattermost_plugin::prelude::*;
use mattermost_plugin_testing::{FakeServer, Level, LogSource, StartError, TestHost};
use mattermost_plugin::{HttpRequest, HttpResponse, MessageWillBePostedDecision, proto};

fn app(error: &Error) -> &AppError {
    error.app().unwrap_or_else(|| panic!("not an application error: {error:?}"))
}

#[tokio::test]
async fn the_kv_store_keeps_the_servers_rules_through_the_production_client() {
    let fake = FakeServer::new();
    let api = fake.client();
    assert_eq!(api.kv_get("absent").await.unwrap(), b"", "a missing key reads empty, with no error");
    api.kv_set("k", b"v".to_vec()).await.unwrap();
    assert_eq!(api.kv_get("k").await.unwrap(), b"v");
    assert!(!api.kv_compare_and_set("k", Vec::new(), b"x".to_vec()).await.unwrap(), "empty old: only when absent");
    assert!(!api.kv_compare_and_set("k", b"w".to_vec(), b"x".to_vec()).await.unwrap());
    assert!(api.kv_compare_and_set("k", b"v".to_vec(), b"x".to_vec()).await.unwrap());
    assert!(!api.kv_compare_and_delete("k", Vec::new()).await.unwrap());
    assert!(api.kv_compare_and_delete("k", b"x".to_vec()).await.unwrap());
    api.kv_set_with_expiry("short", b"v".to_vec(), 60).await.unwrap();
    fake.clock().advance(Duration::from_secs(59));
    assert_eq!(api.kv_get("short").await.unwrap(), b"v");
    fake.clock().advance(Duration::from_secs(1));
    assert_eq!(api.kv_get("short").await.unwrap(), b"", "expired after 60 s of the fake's clock");
    let options = proto::PluginKvSetOptions { atomic: false, old_value: b"o".to_vec(), expire_in_seconds: 0 };
    let error = api.kv_set_with_options("k", b"v".to_vec(), options).await.unwrap_err();
    assert_eq!(
        (app(&error).id.as_str(), app(&error).status_code),
        ("model.plugin_kvset_options.is_valid.old_value.app_error", 400)
    );
    let error = api.kv_set("", b"v".to_vec()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Validation);
    for key in ["b", "a", "c"] {
        api.kv_set(key, b"1".to_vec()).await.unwrap();
    }
    assert_eq!(api.kv_list(0, 2).await.unwrap(), ["a", "b"]);
    assert_eq!(api.kv_list(1, 2).await.unwrap(), ["c"]);
    assert_eq!(fake.kv_keys(), ["a", "b", "c"]);
}

#[tokio::test]
async fn errors_arrive_in_the_form_each_handler_uses() {
    let fake = FakeServer::new();
    let api = fake.client();
    // GetUser answers a gRPC status; GetPost the error in its response. The
    // client reads both as the same `Error::App`.
    let user = api.get_user("nobody").await.unwrap_err();
    assert_eq!((app(&user).id.as_str(), user.kind()), ("app.user.missing_account.const", ErrorKind::NotFound));
    let post = api.get_post("nothing").await.unwrap_err();
    assert_eq!((app(&post).id.as_str(), post.kind()), ("app.post.get.app_error", ErrorKind::NotFound));
    assert_eq!(app(&post).status_code, 404, "the in-field form keeps the status code");

    let mut raw = api.raw();
    let status = raw.get_user(proto::GetUserRequest { user_id: "nobody".into() }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert!(status.message().starts_with("app.user.missing_account.const: "), "{status:?}");
    let response = raw.get_post(proto::GetPostRequest { post_id: "nothing".into() }).await.unwrap().into_inner();
    assert_eq!(response.error.map(|e| e.id).as_deref(), Some("app.post.get.app_error"));
}

#[tokio::test]
async fn a_method_without_state_or_answer_says_how_to_answer_it() {
    let fake = FakeServer::new();
    let error = fake.client().get_team_icon("t1").await.unwrap_err();
    let Error::Status(status) = &error else { panic!("{error:?}") };
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert!(status.message().contains("PluginAPI/GetTeamIcon"), "{}", status.message());
    assert!(status.message().contains("fake.on_get_team_icon(|request| Ok(…))"), "{}", status.message());
}

#[tokio::test]
async fn an_answer_for_one_test_is_typed_and_every_call_is_recorded() {
    let fake = FakeServer::new();
    fake.on_get_team_icon(|request| Ok(format!("icon of {}", request.team_id).into_bytes()));
    fake.on_get_user(|request| {
        Err(AppError::new("app.user.permissions.app_error", format!("{} is hidden", request.user_id), 403).into())
    });
    let api = fake.client();
    assert_eq!(api.get_team_icon("t1").await.unwrap(), b"icon of t1");
    let hidden = api.get_user("u1").await.unwrap_err();
    assert_eq!(app(&hidden).message, "u1 is hidden");
    // An answer wins over the state; clearing it gives the state back.
    fake.on_kv_get(|_| Ok(b"answered".to_vec()));
    assert_eq!(api.kv_get("k").await.unwrap(), b"answered");
    fake.clear_answer("KVGet");
    assert_eq!(api.kv_get("k").await.unwrap(), b"");
    // A transport failure can be answered too.
    fake.on_get_server_version(|_| Err(Error::Status(Box::new(tonic::Status::unavailable("server restarting")))));
    let down = api.get_server_version().await.unwrap_err();
    assert!(matches!(&down, Error::Status(s) if s.code() == tonic::Code::Unavailable), "{down:?}");

    let icons: Vec<proto::GetTeamIconRequest> = fake.requests();
    assert_eq!(icons.iter().map(|r| r.team_id.as_str()).collect::<Vec<_>>(), ["t1"]);
    let methods: Vec<&str> = fake.calls().iter().map(|c| c.method).collect();
    assert_eq!(methods, ["GetTeamIcon", "GetUser", "KVGet", "KVGet", "GetServerVersion"]);
    assert_eq!(fake.count("KVGet"), 2);
}

#[tokio::test]
async fn users_channels_and_posts_behave_like_the_servers() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let bob = fake.add_user("bob");
    let api = fake.client();
    assert_eq!(api.get_user_by_username("alice").await.unwrap().id, seed.user.id);
    assert_eq!(seed.user.id.len(), 26, "ids have the server's shape");
    let direct = api.get_direct_channel(&seed.user.id, &bob.id).await.unwrap();
    let (low, high) = if seed.user.id < bob.id { (&seed.user.id, &bob.id) } else { (&bob.id, &seed.user.id) };
    assert_eq!(direct.name, format!("{low}__{high}"));
    assert_eq!(direct.r#type, proto::ChannelType::Direct as i32);
    assert_eq!(api.get_direct_channel(&bob.id, &seed.user.id).await.unwrap().id, direct.id, "made once");
    assert!(api.get_channel_member(&direct.id, &bob.id).await.is_ok());

    let root = api
        .create_post(proto::Post { user_id: seed.user.id.clone(), channel_id: seed.channel.id.clone(), message: "root".into(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(root.create_at, mattermost_plugin_testing::Clock::START);
    assert_eq!(root.update_at, root.create_at);
    let from_plugin = root.props.clone().map(mattermost_plugin::json::struct_to_object).unwrap_or_default();
    assert_eq!(from_plugin.get("from_plugin").and_then(|v| v.as_str()), Some("true"));
    fake.clock().advance(Duration::from_secs(1));
    let reply = api
        .create_post(proto::Post {
            user_id: bob.id.clone(),
            channel_id: seed.channel.id.clone(),
            root_id: root.id.clone(),
            message: "reply".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let thread = api.get_post_thread(&reply.id).await.unwrap();
    assert_eq!(thread.order, [reply.id.clone(), root.id.clone()], "the requested post first");
    assert_eq!(thread.posts.len(), 2);
    api.add_reaction(proto::Reaction {
        user_id: bob.id.clone(),
        post_id: root.id.clone(),
        emoji_name: "tada".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(api.get_post(&root.id).await.unwrap().has_reactions);
    api.delete_post(&reply.id).await.unwrap();
    assert_eq!(api.get_post(&reply.id).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(fake.posts().len(), 1);

    api.send_ephemeral_post(&bob.id, proto::Post { message: "psst".into(), ..Default::default() }).await.unwrap();
    let shown = fake.ephemeral_posts(&bob.id);
    assert_eq!((shown.len(), shown[0].r#type.as_str()), (1, "system_ephemeral"));
    assert!(fake.ephemeral_posts(&seed.user.id).is_empty());
}

#[tokio::test]
async fn ensure_bot_is_idempotent_even_when_every_node_runs_it_at_once() {
    let fake = FakeServer::new();
    let bot = || proto::Bot { username: "helper".into(), display_name: "Helper".into(), ..Default::default() };
    let calls = (0..8).map(|_| {
        let api = fake.client();
        tokio::spawn(async move { api.ensure_bot_user(bot()).await })
    });
    let mut ids = Vec::new();
    for call in calls {
        ids.push(call.await.unwrap().unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one bot for all: {ids:?}");
    assert_eq!(fake.bots().len(), 1);
    assert_eq!(fake.kv_value("mmi_botid"), ids[0].as_bytes(), "its id kept where Go's pluginapi keeps it");
    let renamed = proto::Bot { display_name: "Helper 2".into(), ..bot() };
    assert_eq!(fake.client().ensure_bot_user(renamed).await.unwrap(), ids[0]);
    assert_eq!(fake.bots()[0].display_name, "Helper 2", "an existing bot is updated");
    assert_eq!(fake.bots()[0].owner_id, mattermost_plugin_testing::DEFAULT_PLUGIN_ID);
}

/// A plugin with state: its settings, a counter in the KV store, a command
/// and an HTTP route.
#[derive(Default)]
struct Counter {
    prefix: std::sync::RwLock<String>,
    activations: AtomicUsize,
}

#[mattermost_plugin::plugin]
impl Plugin for Counter {
    async fn on_configuration_change(&self, cx: &Context) -> HookResult {
        // The System Console stores setting keys lowercased: look them up without regard to case.
        let config = cx.api.get_plugin_config().await?;
        let prefix = config.iter().find(|(key, _)| key.eq_ignore_ascii_case("Prefix")).and_then(|(_, v)| v.as_str());
        let prefix = prefix.unwrap_or("#").to_owned();
        *self.prefix.write().unwrap() = prefix;
        Ok(())
    }

    async fn on_activate(&self, cx: &Context) -> HookResult {
        if self.prefix.read().unwrap().as_str() == "fail" {
            return Err(HookError::new("refusing to start"));
        }
        self.activations.fetch_add(1, Ordering::SeqCst);
        cx.api
            .register_command(proto::Command { trigger: "count".into(), auto_complete: true, ..Default::default() })
            .await?;
        cx.log.info("registered /count");
        Ok(())
    }

    async fn message_will_be_posted(
        &self,
        cx: &Context,
        _pc: &proto::PluginContext,
        post: proto::Post,
    ) -> MessageWillBePostedDecision {
        loop {
            let old = cx.api.kv_get("posts").await.unwrap_or_default();
            let n: u64 = std::str::from_utf8(&old).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
            let new = (n + 1).to_string().into_bytes();
            if cx.api.kv_compare_and_set("posts", old, new).await.unwrap_or(false) {
                break;
            }
        }
        let prefix = self.prefix.read().unwrap().clone();
        if post.message.contains("spam") {
            tracing::warn!(user = %post.user_id, "rejected a post");
            return MessageWillBePostedDecision::Reject("no spam".into());
        }
        MessageWillBePostedDecision::Replace(Box::new(proto::Post {
            message: format!("{prefix} {}", post.message),
            ..post
        }))
    }

    async fn execute_command(
        &self,
        cx: &Context,
        _pc: &proto::PluginContext,
        args: proto::CommandArgs,
    ) -> HookResult<proto::CommandResponse> {
        if args.command.contains("--fail") {
            return Err(HookError::new("bad option --fail"));
        }
        let n = cx.api.kv_get("posts").await?;
        Ok(proto::CommandResponse {
            response_type: "ephemeral".into(),
            text: format!("{} posts, asked by {}", String::from_utf8_lossy(&n), args.user_id),
            ..Default::default()
        })
    }

    async fn serve_http(&self, _cx: &Context, request: HttpRequest) -> HttpResponse {
        // What a handler deep in a router finds in the request: the hook's
        // context (the API) and the signed-in user, if any.
        let cx = request.extensions().get::<Context>().expect("the SDK puts the context in the request");
        assert_eq!(cx.hook, HookName::ServeHttp);
        let user = request.extensions().get::<UserId>().map_or("anonymous", |UserId(id)| id.as_str());
        let header = request.headers().get("Mattermost-User-Id").and_then(|v| v.to_str().ok()).unwrap_or("anonymous");
        assert_eq!(user, header, "the extension is the header the server vouches for");
        let body = format!("{} {} for {user}", request.method(), request.uri());
        http::Response::builder().status(201).header("X-Kit", "yes").body(body.into()).unwrap()
    }
}

#[tokio::test]
async fn the_host_starts_a_plugin_as_the_server_does_and_drives_its_hooks() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    fake.set_plugin_config(serde_json::json!({ "Prefix": ">>" }));
    let host = TestHost::start(Counter::default(), fake.clone()).await.unwrap();
    assert_eq!(host.plugin().activations.load(Ordering::SeqCst), 1);
    assert!(host.implemented().contains(&"OnActivate".to_owned()));
    assert_eq!(fake.commands()[0].trigger, "count");
    assert_eq!(fake.commands()[0].plugin_id, mattermost_plugin_testing::DEFAULT_PLUGIN_ID);

    let post = proto::Post { user_id: seed.user.id.clone(), message: "hi".into(), ..Default::default() };
    let answer = host.message_will_be_posted(post.clone()).await.unwrap();
    assert_eq!(answer.modified_post.unwrap().message, ">> hi", "the admin's settings were in force from the start");
    let spam = host.message_will_be_posted(proto::Post { message: "spam".into(), ..post }).await.unwrap();
    assert_eq!(spam.rejection_reason, "no spam");

    let counted = host.command("/count").await.unwrap();
    assert_eq!(counted.text, format!("2 posts, asked by {}", seed.user.id));
    let unknown = host.command("/other").await.unwrap_err();
    assert_eq!(app(&unknown).id, "api.command.execute_command.not_found.app_error");
    let failed = host.command("/count --fail").await.unwrap_err();
    assert!(app(&failed).detailed_error.contains("bad option --fail"), "{failed:?}");

    host.save_config(serde_json::json!({ "Prefix": "!!" })).await.unwrap();
    let post = proto::Post { message: "again".into(), ..Default::default() };
    assert_eq!(host.message_will_be_posted(post).await.unwrap().modified_post.unwrap().message, "!! again");

    let not_listed = host.user_has_been_created(proto::User::default()).await.unwrap_err();
    assert_eq!(not_listed.code(), tonic::Code::Unimplemented, "the server never calls a hook not implemented");

    let logs = host.logs();
    let registered = logs.iter().find(|l| l.message == "registered /count").expect("captured");
    assert_eq!(
        (registered.level, registered.hook(), registered.source),
        (Level::INFO, Some("OnActivate"), LogSource::Tracing)
    );
    assert!(logs.iter().any(|l| l.level == Level::WARN && l.fields.get("user").is_some()), "{logs:?}");
    host.deactivate().await.unwrap();
}

#[tokio::test]
async fn a_failed_activation_is_a_start_error() {
    let fake = FakeServer::new();
    fake.set_plugin_config(serde_json::json!({ "Prefix": "fail" }));
    let error = TestHost::start(Counter::default(), fake).await.unwrap_err();
    let StartError::Activate(error) = error else { panic!("{error:?}") };
    assert!(app(&error).detailed_error.contains("refusing to start"), "{error:?}");
}

#[tokio::test]
async fn http_requests_reach_the_plugin_as_the_server_forwards_them() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = TestHost::builder(Counter::default()).fake(fake).plugin_id("com.example.counter").start().await.unwrap();
    let request = |uri: &str| {
        http::Request::builder().method("POST").uri(uri).header("Mattermost-User-Id", "forged").body("x").unwrap()
    };
    let anonymous = host.http(request("/plugins/com.example.counter/hello?a=1&access_token=t")).await;
    assert_eq!(anonymous.status(), 201);
    assert_eq!(anonymous.headers()["x-kit"], "yes");
    assert_eq!(anonymous.body().as_ref(), b"POST /hello?a=1 for anonymous");
    let logged_in = host.http_as_seeded_user(request("/plugins/com.example.counter/hello")).await;
    assert_eq!(String::from_utf8_lossy(logged_in.body()), format!("POST /hello for {}", seed.user.id));
    assert_eq!(host.http(request("/plugins/com.example.other/hello")).await.status(), 404);
}

#[tokio::test]
async fn hooks_can_be_driven_concurrently_without_losing_an_update() {
    let host = Arc::new(TestHost::start(Counter::default(), FakeServer::new()).await.unwrap());
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let host = Arc::clone(&host);
            tokio::spawn(async move {
                let post = proto::Post { message: format!("post {i}"), ..Default::default() };
                host.message_will_be_posted(post).await.unwrap()
            })
        })
        .collect();
    for call in calls {
        assert!(call.await.unwrap().modified_post.is_some());
    }
    assert_eq!(host.fake().kv_value("posts"), b"200", "compare-and-set: 200 increments, none lost");
}

#[tokio::test]
async fn logs_through_the_api_are_captured_with_their_fields() {
    let fake = FakeServer::new();
    let pairs = vec![proto::KeyValuePair {
        key: "attempt".into(),
        value: Some(mattermost_plugin::json::json_to_value(serde_json::json!(3))),
    }];
    fake.client().log_warn("slow", pairs).await.unwrap();
    let lines = fake.logs().lines();
    assert_eq!((lines[0].level, lines[0].message.as_str(), lines[0].source), (Level::WARN, "slow", LogSource::Api));
    assert_eq!(lines[0].fields["attempt"], 3);
}

#[tokio::test]
async fn settings_are_stored_as_the_system_console_stores_them() {
    // The console saves each setting under its lowercased key, and
    // GetPluginConfig answers the stored map as it is (mattermost/mattermost:
    // the admin console's plugin settings and `GetPluginConfig` in
    // app/plugin_api.go); LoadPluginConfiguration lowercases too.
    let fake = FakeServer::new();
    fake.set_plugin_config(serde_json::json!({ "BlockedWord": "spoiler", "MaxCount": 3 }));
    let api = fake.client();
    let stored = api.get_plugin_config().await.unwrap();
    assert_eq!(stored.keys().collect::<Vec<_>>(), ["blockedword", "maxcount"]);
    let loaded = api.load_plugin_configuration().await.unwrap();
    assert_eq!(loaded, serde_json::json!({ "blockedword": "spoiler", "maxcount": 3 }));
    // What the plugin saves itself keeps its case.
    let mut own = serde_json::Map::new();
    own.insert("Mine".into(), serde_json::json!(true));
    api.save_plugin_config(own).await.unwrap();
    assert_eq!(fake.plugin_config().keys().collect::<Vec<_>>(), ["Mine"]);
}

/// `GetBundlePath` answers where the plugin's files are: the package under
/// test by default (so `assets/` reads as the bundle ships it), or the
/// folder a test sets, absolute either way.
#[tokio::test]
async fn the_bundle_path_is_the_package_under_test_or_the_folder_set() {
    let fake = FakeServer::new();
    let api = fake.client();
    let path = api.get_bundle_path().await.unwrap();
    assert_eq!(std::path::Path::new(&path), std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(std::path::Path::new(&path).join("Cargo.toml").is_file(), "{path}");
    assert_eq!(fake.bundle_path(), path);

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/greeting.txt"), "hi from the assets").unwrap();
    fake.set_bundle_path(dir.path());
    let path = api.get_bundle_path().await.unwrap();
    let greeting = std::fs::read_to_string(std::path::Path::new(&path).join("assets/greeting.txt")).unwrap();
    assert_eq!(greeting, "hi from the assets");

    fake.set_bundle_path("relative/plugin");
    let path = api.get_bundle_path().await.unwrap();
    assert!(std::path::Path::new(&path).is_absolute() && path.ends_with("relative/plugin"), "{path}");
    assert_eq!(fake.calls().iter().filter(|c| c.method == "GetBundlePath").count(), 3);
}

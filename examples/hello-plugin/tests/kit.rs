//! The plugin's logic, tested in-process with the SDK's test kit: a
//! `TestHost` drives `Hello` the way the server does, and a `FakeServer`
//! answers its API calls with the server's semantics. No process, no
//! socket: the process itself is what `e2e.rs`, `http.rs`, `mtls.rs` and
//! `interop.rs` test.
//!
//! Facts about the real host that these tests rest on are cited from
//! `runtime/src/host_rules.md`.

use std::sync::Arc;

use hello_plugin::Hello;
use mattermost_plugin::prelude::*;
use mattermost_plugin::proto;
use mattermost_plugin_testing::{FakeServer, Level, LogSource, TestHost};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The id in `plugin.json`: the server routes `/plugins/{id}/…` to the plugin.
const PLUGIN_ID: &str = "com.example.hello-rust";

/// Starts the plugin against `fake` as the server does.
async fn start(fake: &FakeServer) -> TestHost<Hello> {
    TestHost::builder(Hello::new()).fake(fake.clone()).plugin_id(PLUGIN_ID).start().await.expect("the plugin activates")
}

fn post(message: &str) -> proto::Post {
    proto::Post {
        id: "p1".into(),
        channel_id: "c1".into(),
        user_id: "u1".into(),
        message: message.into(),
        ..Default::default()
    }
}

fn app(error: &Error) -> &AppError {
    error.app().unwrap_or_else(|| panic!("not an application error: {error:?}"))
}

/// A request a client sends to the plugin's `path` (`/plugins/{id}{path}`).
fn request(method: &str, path: &str, body: impl Into<bytes::Bytes>) -> http::Request<bytes::Bytes> {
    http::Request::builder().method(method).uri(format!("/plugins/{PLUGIN_ID}{path}")).body(body.into()).unwrap()
}

fn json_body(response: &http::Response<bytes::Bytes>) -> Value {
    serde_json::from_slice(response.body())
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(response.body())))
}

fn text(response: &http::Response<bytes::Bytes>) -> String {
    String::from_utf8_lossy(response.body()).into_owned()
}

/// The count in a `/hello` answer: "Hello, Alice! (hello number 3)" → 3.
fn hello_number(text: &str) -> u64 {
    text.rsplit("hello number ").next().and_then(|n| n.strip_suffix(')')).and_then(|n| n.parse().ok()).unwrap()
}

// ---- Activation and settings ----------------------------------------------

/// The host never sends `OnConfigurationChange` at start (`runtime/src/host_rules.md`,
/// "Start sequence": `Implemented`, then `OnActivate`); the
/// SDK reads the settings inside `OnActivate`, so the admin's are in force
/// from the first post. The fake stores them as the System Console does,
/// under lowercased keys (`blockedword`): the plugin finds them all the same.
#[tokio::test]
async fn the_admins_settings_are_in_force_from_the_first_post() {
    let fake = FakeServer::new();
    fake.set_plugin_config(json!({ "BlockedWord": "spoiler", "RewriteFrom": "colour", "RewriteTo": "color" }));
    let host = start(&fake).await;

    let methods: Vec<&str> = fake.calls().iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        ["GetBundlePath", "GetConfig", "GetPluginConfig", "RegisterCommand", "GetServerVersion"],
        "translations and settings first, then activation"
    );
    let commands = fake.commands();
    assert_eq!(commands.len(), 1);
    assert_eq!(
        (commands[0].trigger.as_str(), commands[0].auto_complete_hint.as_str(), commands[0].plugin_id.as_str()),
        ("hello", "[name]", PLUGIN_ID)
    );
    assert!(commands[0].auto_complete);

    let spoiler = host.message_will_be_posted(post("no SPOILER here")).await.unwrap();
    assert_eq!(spoiler.rejection_reason, "Posts containing \"spoiler\" are not allowed.");
    let colour = host.message_will_be_posted(post("nice colour")).await.unwrap();
    assert_eq!(colour.modified_post.expect("a replacement").message, "nice color");
    let forbidden = host.message_will_be_posted(post("forbidden is fine now, teh end")).await.unwrap();
    assert_eq!(forbidden, proto::MessageWillBePostedResponse::default(), "the defaults are not in force");
}

#[tokio::test]
async fn activation_logs_the_server_version() {
    let fake = FakeServer::new();
    let host = start(&fake).await;
    let version = fake.client().get_server_version().await.unwrap();
    let logs = host.logs();
    let active = logs.iter().find(|l| l.message.starts_with("hello-plugin active")).expect("an activation line");
    assert_eq!(active.message, format!("hello-plugin active on Mattermost {version}"));
    assert_eq!((active.level, active.hook(), active.source), (Level::INFO, Some("OnActivate"), LogSource::Tracing));
}

/// After a save the server sends `OnConfigurationChange`; `save_config`
/// does the same.
#[tokio::test]
async fn saving_new_settings_changes_what_is_refused_and_corrected() {
    let fake = FakeServer::new();
    let host = start(&fake).await;
    let before = host.message_will_be_posted(post("forbidden")).await.unwrap();
    assert!(!before.rejection_reason.is_empty(), "the default blocked word");

    host.save_config(json!({ "BlockedWord": "spoiler", "RewriteFrom": "colour", "RewriteTo": "color" })).await.unwrap();
    assert_eq!(fake.count("GetPluginConfig"), 2, "read at activation and after the save");
    let forbidden = host.message_will_be_posted(post("forbidden")).await.unwrap();
    assert_eq!(forbidden, proto::MessageWillBePostedResponse::default());
    let spoiler = host.message_will_be_posted(post("a spoiler")).await.unwrap();
    assert_eq!(spoiler.rejection_reason, "Posts containing \"spoiler\" are not allowed.");
    let teh = host.message_will_be_posted(post("teh colour")).await.unwrap();
    assert_eq!(teh.modified_post.unwrap().message, "teh color", "only the new misspelling is corrected");
    let logged = host.logs().into_iter().rfind(|l| l.hook() == Some("OnConfigurationChange")).unwrap();
    assert_eq!(logged.level, Level::DEBUG);
    assert!(logged.message.contains("blocked_word: \"spoiler\""), "{}", logged.message);

    // An emptied blocked word refuses nothing; a setting left out of the
    // saved map keeps the default plugin.json gives it.
    host.save_config(json!({ "BlockedWord": "  " })).await.unwrap();
    let forbidden = host.message_will_be_posted(post("forbidden")).await.unwrap();
    assert_eq!(forbidden, proto::MessageWillBePostedResponse::default());
    let teh = host.message_will_be_posted(post("teh end")).await.unwrap();
    assert_eq!(teh.modified_post.unwrap().message, "the end", "RewriteFrom/RewriteTo back to their defaults");
}

// ---- MessageWillBePosted ----------------------------------------------------

#[tokio::test]
async fn the_blocked_word_is_refused_in_any_case_with_the_reason() {
    let host = start(&FakeServer::new()).await;
    let rejected = host.message_will_be_posted(post("this is FORBIDDEN")).await.unwrap();
    assert_eq!(rejected.rejection_reason, "Posts containing \"forbidden\" are not allowed.");
    assert!(rejected.modified_post.is_none());
    // Refused before any correction is made.
    let both = host.message_will_be_posted(post("teh Forbidden")).await.unwrap();
    assert!(both.modified_post.is_none() && !both.rejection_reason.is_empty(), "{both:?}");
}

/// The refusal is logged with key-value fields, which reach the server log
/// as fields of the entry (the SDK adds the hook's name).
#[tokio::test]
async fn a_refusal_is_logged_with_the_user_and_channel_as_fields() {
    let host = start(&FakeServer::new()).await;
    host.message_will_be_posted(post("forbidden")).await.unwrap();
    let logs = host.logs();
    let line = logs.iter().find(|l| l.message == "refused a post").expect("a log line for the refusal");
    assert_eq!(line.level, Level::INFO);
    assert_eq!((line.fields["user_id"].as_str(), line.fields["channel_id"].as_str()), (Some("u1"), Some("c1")));
    assert_eq!(line.hook(), Some("MessageWillBePosted"));
}

/// An empty reason and no replacement means "allow unchanged" (`runtime/src/host_rules.md`, "Services and shapes").
#[tokio::test]
async fn the_misspelling_is_corrected_as_a_whole_word_and_the_rest_of_the_post_kept() {
    let host = start(&FakeServer::new()).await;
    let replaced = host.message_will_be_posted(post("teh cat, teh end")).await.unwrap();
    assert!(replaced.rejection_reason.is_empty());
    let modified = replaced.modified_post.expect("a replacement");
    assert_eq!(modified.message, "the cat, the end");
    assert_eq!((modified.id.as_str(), modified.channel_id.as_str(), modified.user_id.as_str()), ("p1", "c1", "u1"));
    let allowed = host.message_will_be_posted(post("tehran stays")).await.unwrap();
    assert_eq!(allowed, proto::MessageWillBePostedResponse::default());
}

// ---- /hello ----------------------------------------------------------------

#[tokio::test]
async fn hello_with_a_name_answers_the_caller_and_counts_in_the_kv_store() {
    let fake = FakeServer::new();
    fake.seed();
    let host = start(&fake).await;
    for n in 1..=2 {
        let answer = host.command("/hello Alice").await.unwrap();
        assert_eq!(answer.text, format!("Hello, Alice! (hello number {n})"));
        assert_eq!(answer.response_type, "ephemeral");
    }
    let several = host.command("/hello Ada   Lovelace").await.unwrap();
    assert_eq!(several.text, "Hello, Ada Lovelace! (hello number 3)");
    assert_eq!(fake.kv_value("hello_count"), b"3");
    assert_eq!(fake.count("GetUser"), 3, "a name given: the caller is read for their language only");
}

#[tokio::test]
async fn hello_without_a_name_greets_the_caller_by_username() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake).await;
    let answer = host.command("/hello").await.unwrap();
    assert_eq!(answer.text, format!("Hello, @{}! (hello number 1)", seed.user.username));
    let asked: Vec<proto::GetUserRequest> = fake.requests();
    assert_eq!(asked, [proto::GetUserRequest { user_id: seed.user.id.clone() }]);
}

/// The host rebuilds a hook's error from `where`, `id`, `detailed_error`
/// and the status, and drops `message` (`runtime/src/host_rules.md`, "Hook errors"): the
/// user reads `detailed_error`.
#[tokio::test]
async fn an_unknown_option_answers_an_error_the_user_can_read() {
    let fake = FakeServer::new();
    fake.seed();
    let host = start(&fake).await;
    let error = host.command("/hello -x").await.unwrap_err();
    let error = app(&error);
    assert_eq!(
        (error.id.as_str(), error.where_.as_str(), error.status_code),
        (HookError::GENERIC_ID, "ExecuteCommand", 500)
    );
    assert_eq!(error.detailed_error, "unknown option `-x`: /hello takes a name, as in `/hello Alice`");
    assert!(fake.kv_value("hello_count").is_empty(), "nothing counted");

    // The server sends only registered triggers; called directly, the hook
    // refuses another command.
    let args = proto::CommandArgs { command: "/bye".into(), ..Default::default() };
    let answer = host.execute_command(args).await.unwrap();
    let error = answer.error.expect("an error");
    assert_eq!(error.detailed_error, "unknown command: /bye");
}

/// The server runs a slash command only for a user that exists and may use
/// the channel (the REST handler `executeCommand` checks the session's user
/// and `use_slash_commands` on the channel): the plugin never sees the
/// others. `GetUser` answers a missing user with a gRPC status
/// `"<id>: <message>"` (`runtime/src/host_rules.md`, "The plugin API's answers"); when the plugin's own call
/// fails so, the command fails with that error, its id and status kept.
#[tokio::test]
async fn a_command_runs_only_for_a_user_who_may_and_keeps_the_servers_errors() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake).await;

    let nobody = proto::CommandArgs {
        command: "/hello".into(),
        user_id: "nobody".into(),
        channel_id: seed.channel.id.clone(),
        ..Default::default()
    };
    let error = host.command_as(nobody).await.unwrap_err();
    assert_eq!((app(&error).id.as_str(), app(&error).status_code), ("app.user.missing_account.const", 404));
    assert_eq!(app(&error).where_, "", "the server's own refusal, not the plugin's");
    let outsider = fake.add_user("outsider");
    let error = host.command_from(&outsider.id, &seed.channel.id, "/hello").await.unwrap_err();
    assert_eq!((app(&error).id.as_str(), app(&error).status_code), ("api.context.permissions.app_error", 403));
    assert_eq!(fake.count("GetUser"), 0, "the plugin never ran");
    assert!(fake.kv_value("hello_count").is_empty(), "nothing counted");

    // The plugin's own GetUser fails: not found, then refused as no id.
    fake.on_get_user(|request| {
        Err(AppError::new("app.user.missing_account.const", format!("no user {}", request.user_id), 404).into())
    })
    .times(1);
    let error = host.command("/hello").await.unwrap_err();
    let error = app(&error);
    assert_eq!((error.id.as_str(), error.status_code), ("app.user.missing_account.const", 404));
    assert_eq!(error.where_, "ExecuteCommand");
    assert!(error.detailed_error.contains(&seed.user.id), "{error:?}");

    // GetUser sends its error as a status, whose code keeps 400
    // (`runtime/src/host_rules.md`, "The plugin API's answers": 400 is invalid argument), so the command fails with a 400 too.
    fake.on_get_user(|request| {
        Err(AppError::new("app.user.get.app_error", format!("{:?} is not an id", request.user_id), 400).into())
    });
    let error = host.command("/hello").await.unwrap_err();
    assert_eq!((app(&error).id.as_str(), app(&error).status_code), ("app.user.get.app_error", 400));
    assert_eq!(app(&error).detailed_error, format!("{:?} is not an id", seed.user.id));
    assert_eq!(fake.count("GetUser"), 2);
    assert!(fake.kv_value("hello_count").is_empty(), "nothing counted");
}

#[tokio::test]
async fn a_counter_the_kv_store_cannot_keep_still_says_hello_and_logs_why() {
    let fake = FakeServer::new();
    fake.seed();
    let host = start(&fake).await;
    fake.on_kv_get(|_| Err(AppError::new("app.plugin_store.get.app_error", "the store is down", 500).into()));
    let answer = host.command("/hello Alice").await.unwrap();
    assert_eq!(answer.text, "Hello, Alice!");
    let warned = host.logs().into_iter().find(|l| l.level == Level::WARN).expect("a warning");
    assert!(warned.message.starts_with("cannot count hellos: "), "{}", warned.message);
    assert!(warned.message.contains("the store is down"), "{}", warned.message);
    assert_eq!(warned.hook(), Some("ExecuteCommand"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_hellos_are_each_counted_once() {
    let fake = FakeServer::new();
    fake.seed();
    let host = Arc::new(start(&fake).await);
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let host = Arc::clone(&host);
            tokio::spawn(async move { host.command("/hello").await.unwrap().text })
        })
        .collect();
    let mut numbers = Vec::new();
    for call in calls {
        numbers.push(hello_number(&call.await.unwrap()));
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=50).collect::<Vec<_>>(), "each caller got its own number");
    assert_eq!(fake.kv_value("hello_count"), b"50");
}

/// In a cluster, each node runs its own plugin process and all share one KV
/// store: the count must hold across processes, not only within one.
/// (Hosts on one fake server are nodes of one cluster.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hellos_on_four_nodes_of_a_cluster_are_each_counted_once() {
    let fake = FakeServer::new();
    fake.seed();
    let mut nodes = Vec::new();
    for _ in 0..4 {
        nodes.push(Arc::new(start(&fake).await));
    }
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let node = Arc::clone(&nodes[i % nodes.len()]);
            tokio::spawn(async move { node.command("/hello Bob").await.unwrap().text })
        })
        .collect();
    let mut numbers = Vec::new();
    for call in calls {
        numbers.push(hello_number(&call.await.unwrap()));
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=200).collect::<Vec<_>>(), "each caller got its own number");
    assert_eq!(fake.kv_value("hello_count"), b"200");
}

// ---- /hello in the caller's language ----------------------------------------

/// `user`, now with `locale`, as a user who picked a language is stored.
async fn set_locale(fake: &FakeServer, user: &proto::User, locale: &str) {
    fake.client().update_user(proto::User { locale: locale.into(), ..user.clone() }).await.unwrap();
}

/// The texts are the plugin's `assets/i18n/*.json`, read from the folder
/// `GetBundlePath` answers: this package's root, as the kit answers by
/// default under `cargo test`, set here as a test run from elsewhere would.
/// German has a form for one hello and one for more (CLDR's `one` and
/// `other` for German).
#[tokio::test]
async fn a_german_user_is_answered_in_german_with_the_form_the_count_takes() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    fake.set_bundle_path(env!("CARGO_MANIFEST_DIR"));
    set_locale(&fake, &seed.user, "de").await;
    let host = start(&fake).await;

    assert_eq!(host.command("/hello").await.unwrap().text, "Hallo, @alice! (1 Hallo bisher)");
    assert_eq!(host.command("/hello Ada Lovelace").await.unwrap().text, "Hallo, Ada Lovelace! (2 Hallos bisher)");
    fake.fail_next("KVGet", 1, AppError::new("app.plugin_store.get.app_error", "the store is down", 500));
    assert_eq!(host.command("/hello Bob").await.unwrap().text, "Hallo, Bob!", "not counted, in German too");

    // A regional locale is served by its language.
    set_locale(&fake, &seed.user, "de-AT").await;
    assert_eq!(host.command("/hello").await.unwrap().text, "Hallo, @alice! (3 Hallos bisher)");
    // English users on the same server read English.
    let bob = fake.add_user("bob");
    fake.add_to_channel(&seed.channel.id, &bob.id);
    let reply = host.command_from(&bob.id, &seed.channel.id, "/hello").await.unwrap();
    assert_eq!(reply.text, "Hello, @bob! (hello number 4)");
}

/// A locale the plugin has no texts for gets the server's default locale
/// (`LocalizationSettings.DefaultServerLocale`), read again on a
/// configuration change; when the plugin has no texts for that either,
/// English. Unlike Go's `GetUserLocalizer`, which goes to English at once.
#[tokio::test]
async fn a_locale_without_texts_gets_the_servers_language_else_english() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    set_locale(&fake, &seed.user, "fr").await;
    let host = start(&fake).await;
    assert_eq!(host.command("/hello").await.unwrap().text, "Hello, @alice! (hello number 1)", "the server's `en`");

    fake.set_server_config(json!({ "LocalizationSettings": { "DefaultServerLocale": "de" } }));
    assert!(host.on_configuration_change().await.unwrap().error.is_none());
    assert_eq!(host.command("/hello").await.unwrap().text, "Hallo, @alice! (2 Hallos bisher)", "the server's `de`");

    fake.set_server_config(json!({ "LocalizationSettings": { "DefaultServerLocale": "ja" } }));
    host.on_configuration_change().await.unwrap();
    assert_eq!(host.command("/hello").await.unwrap().text, "Hello, @alice! (hello number 3)", "neither: English");
    set_locale(&fake, &seed.user, "").await;
    assert_eq!(host.command("/hello").await.unwrap().text, "Hello, @alice! (hello number 4)", "no locale set");
}

/// A caller who cannot be read is answered in the server's language when a
/// name was given (nothing else needed the caller), and the plugin says why.
#[tokio::test]
async fn a_caller_who_cannot_be_read_gets_the_servers_language() {
    let fake = FakeServer::new();
    fake.seed();
    fake.set_server_config(json!({ "LocalizationSettings": { "DefaultServerLocale": "de" } }));
    let host = start(&fake).await;
    fake.on_get_user(|_| Err(AppError::new("app.user.get.app_error", "the user store is down", 500).into())).times(1);
    assert_eq!(host.command("/hello Ada").await.unwrap().text, "Hallo, Ada! (1 Hallo bisher)");
    let warned = host.logs().into_iter().find(|l| l.level == Level::WARN).expect("a warning");
    assert!(warned.message.starts_with("cannot read the caller's language"), "{}", warned.message);
}

/// Without its translations (here, a bundle without `assets/i18n`), the
/// plugin activates, says why, and answers everyone in English.
#[tokio::test]
async fn without_translations_the_plugin_answers_in_english_and_says_why() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let empty = tempfile::tempdir().unwrap();
    fake.set_bundle_path(empty.path());
    set_locale(&fake, &seed.user, "de").await;
    let host = start(&fake).await;
    let warned = host.logs().into_iter().find(|l| l.level == Level::WARN).expect("a warning");
    assert!(warned.message.starts_with("translations not loaded, answering in English: "), "{}", warned.message);
    assert!(warned.message.contains(&empty.path().join("assets/i18n").display().to_string()), "{}", warned.message);
    assert_eq!(host.command("/hello").await.unwrap().text, "Hello, @alice! (hello number 1)");
}

// ---- HTTP -------------------------------------------------------------------

#[tokio::test]
async fn echo_streams_the_body_back_with_its_content_type() {
    let host = start(&FakeServer::new()).await;
    // Over 64 KiB: the body travels in several chunks both ways.
    let body: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
    let mut echo = request("POST", "/echo", body.clone());
    echo.headers_mut().insert("Content-Type", "application/x-test".parse().unwrap());
    let answer = host.http(echo).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/x-test");
    assert_eq!(answer.body().as_ref(), body.as_slice());
    assert_eq!(host.http(request("GET", "/echo", "")).await.status(), 405, "POST only");
}

/// The server routes on the URL without `/plugins/{id}` and without
/// `access_token`, removes a client's own `Mattermost-User-Id` and sets it
/// for a signed-in user (`runtime/src/host_rules.md`, "ServeHTTP stream").
#[tokio::test]
async fn hello_says_who_asks_and_what_path_and_query_the_plugin_routed_on() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let context = proto::PluginContext { request_id: "req-1".into(), ..Default::default() };
    let host =
        TestHost::builder(Hello::new()).fake(fake).plugin_id(PLUGIN_ID).plugin_context(context).start().await.unwrap();
    let asked = |path: &str| {
        let mut asked = request("GET", path, "");
        asked.headers_mut().append("X-Tag", "one".parse().unwrap());
        asked.headers_mut().append("X-Tag", "two".parse().unwrap());
        asked.headers_mut().insert("Mattermost-User-Id", "forged".parse().unwrap());
        asked
    };
    let signed_in = host.http_as_seeded_user(asked("/hello?a=1&access_token=secret&b=2")).await;
    assert_eq!(signed_in.status(), 200);
    assert_eq!(
        json_body(&signed_in),
        json!({ "hello": seed.user.id, "request_id": "req-1", "tags": ["one", "two"], "path": "/hello", "query": "a=1&b=2" })
    );
    let tags: Vec<_> = signed_in.headers().get_all("X-Tag").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(tags, ["one", "two"]);
    let anonymous = host.http(asked("/hello")).await;
    assert_eq!(json_body(&anonymous)["hello"], "anonymous", "the forged header never reaches the plugin");
    assert_eq!(json_body(&anonymous)["query"], "");
}

/// `/greeting` answers the text of `assets/greeting.txt`, read from the
/// plugin's bundle path: in the kit, this crate's folder, whose `assets/`
/// `mmplugin-gen bundle` ships.
#[tokio::test]
async fn greeting_is_read_from_the_assets_the_bundle_ships() {
    let fake = FakeServer::new();
    let host = start(&fake).await;
    let answer = host.http(request("GET", "/greeting", "")).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/plain; charset=utf-8");
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/greeting.txt")).unwrap();
    assert_eq!(text(&answer), shipped);
    assert!(fake.calls().iter().any(|call| call.method == "GetBundlePath"));

    // Installed elsewhere, with another greeting.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir(elsewhere.path().join("assets")).unwrap();
    std::fs::write(elsewhere.path().join("assets/greeting.txt"), "Bonjour !\n").unwrap();
    fake.set_bundle_path(elsewhere.path());
    assert_eq!(text(&host.http(request("GET", "/greeting", "")).await), "Bonjour !\n");

    // A bundle without it: the server's side failing, said plainly.
    std::fs::remove_file(elsewhere.path().join("assets/greeting.txt")).unwrap();
    let missing = host.http(request("GET", "/greeting", "")).await;
    assert_eq!(missing.status(), 500);
    assert!(text(&missing).contains("assets/greeting.txt"), "{}", text(&missing));
}

#[tokio::test]
async fn download_makes_as_many_bytes_as_asked() {
    let host = start(&FakeServer::new()).await;
    let answer = host.http(request("GET", "/download?bytes=150000", "")).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/octet-stream");
    assert_eq!(answer.body().len(), 150_000);
    assert!(answer.body().iter().all(|b| *b == b'm'));
    assert!(host.http(request("GET", "/download?bytes=0", "")).await.body().is_empty());
    assert_eq!(host.http(request("GET", "/download", "")).await.status(), 400, "a size is required");
}

#[tokio::test]
async fn upload_answers_the_sha256_and_length_of_the_body() {
    let host = start(&FakeServer::new()).await;
    let body: Vec<u8> = (0..300_000).map(|i| (i * 7 % 256) as u8).collect();
    let answer = host.http(request("POST", "/upload", body.clone())).await;
    assert_eq!(answer.status(), 200);
    let digest: String = Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(json_body(&answer), json!({ "sha256": digest, "bytes": 300_000 }));
    let empty = host.http(request("POST", "/upload", "")).await;
    assert_eq!(json_body(&empty)["bytes"], 0);
}

#[tokio::test]
async fn events_are_three_ticks_in_order() {
    let host = start(&FakeServer::new()).await;
    let answer = host.http(request("GET", "/events", "")).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/event-stream");
    let body = text(&answer);
    let events: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    let data: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!((events, data), (vec!["tick"; 3], vec!["1", "2", "3"]));
    assert_eq!(host.http(request("PUT", "/events", "x")).await.status(), 405, "events are read, not written");
    assert_eq!(host.http(request("GET", "/nothing-here", "")).await.status(), 404);
}

/// The server's API refuses requests over 4 MiB (`runtime/src/host_rules.md`, "Message
/// sizes"); the SDK refuses them before sending, and the route says so as 413.
#[tokio::test]
async fn notes_are_kept_per_user_and_one_over_the_api_limit_is_refused_with_413() {
    let fake = FakeServer::new();
    let alice = fake.seed().user;
    let bob = fake.add_user("bob");
    let host = start(&fake).await;

    let note = vec![b'n'; 1024];
    let put = host.http_as(Some(&alice.id), request("PUT", "/note", note.clone())).await;
    assert_eq!(put.status(), 204);
    assert_eq!(fake.kv_value(&format!("note:{}", alice.id)), note);
    let read = host.http_as(Some(&alice.id), request("GET", "/note", "")).await;
    assert_eq!((read.status(), read.body().as_ref()), (http::StatusCode::OK, note.as_slice()));
    let none = host.http_as(Some(&bob.id), request("GET", "/note", "")).await;
    assert_eq!(
        (none.status(), text(&none).as_str()),
        (http::StatusCode::NOT_FOUND, "no note yet"),
        "one note per user"
    );
    let anonymous = host.http(request("GET", "/note", "")).await;
    assert_eq!((anonymous.status().as_u16(), text(&anonymous).as_str()), (401, "Not authorized\n"));
    assert_eq!(host.http(request("PUT", "/note", "x")).await.status(), 401);

    let big = vec![b'b'; 5 << 20];
    let refused = host.http_as(Some(&alice.id), request("PUT", "/note", big)).await;
    assert_eq!(refused.status(), 413, "{}", text(&refused));
    assert!(text(&refused).contains("limit of 4194304 bytes"), "{}", text(&refused));
    assert_eq!(fake.count("KVSet"), 1, "the big note never reached the server");
    assert_eq!(fake.kv_value(&format!("note:{}", alice.id)), note, "the note kept");
}

// ---- One-call setups --------------------------------------------------------

/// Another user in another channel, a private channel, a direct channel and
/// an admin, each one call; a command in a channel the user is not in is
/// refused unless the user is a system admin.
#[tokio::test]
async fn commands_from_other_users_in_other_channels() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake).await;
    let bob = fake.add_user("bob");
    let secret = fake.add_private_channel(&seed.team.id, "secret", &[&bob.id]);
    assert_eq!(secret.r#type, proto::ChannelType::Private as i32);

    let reply = host.command_from(&bob.id, &secret.id, "/hello").await.unwrap();
    assert_eq!(reply.text, "Hello, @bob! (hello number 1)");
    let args = &fake.requests::<proto::GetUserRequest>()[0];
    assert_eq!(args.user_id, bob.id, "the plugin looked up the caller");

    let refused = host.command_from(&seed.user.id, &secret.id, "/hello").await.unwrap_err();
    assert_eq!(app(&refused).status_code, 403, "alice is not in the private channel");
    let root = fake.add_admin("root");
    let reply = host.command_from(&root.id, &secret.id, "/hello").await.unwrap();
    assert_eq!(hello_number(&reply.text), 2, "a system admin may use any channel");

    let direct = fake.direct_channel(&seed.user.id, &bob.id);
    assert_eq!(direct.r#type, proto::ChannelType::Direct as i32);
    let reply = host.command_from(&bob.id, &direct.id, "/hello").await.unwrap();
    assert_eq!(hello_number(&reply.text), 3);
}

/// `GetConfig` answers a server configuration; one setting changes with a
/// merge patch.
#[tokio::test]
async fn the_server_has_a_configuration_to_read() {
    let fake = FakeServer::new();
    let host = start(&fake).await;
    let config = host.api().get_config().await.unwrap();
    assert_eq!(config["ServiceSettings"]["SiteURL"], "http://localhost:8065");
    assert_eq!(config["FileSettings"]["MaxFileSize"], 104_857_600);
    fake.set_server_config(json!({ "ServiceSettings": { "SiteURL": "" } }));
    let config = host.api().get_config().await.unwrap();
    assert_eq!(config["ServiceSettings"]["SiteURL"], "");
    assert_eq!(config["ServiceSettings"]["EnableCommands"], true, "the rest kept");
}

/// `PublishWebSocketEvent` never fails on the server (no error in Go); the
/// fake keeps each event to assert on.
#[tokio::test]
async fn websocket_events_are_recorded() {
    let fake = FakeServer::new();
    let host = start(&fake).await;
    let payload = serde_json::Map::from_iter([("count".to_owned(), json!(3))]);
    let broadcast = proto::WebsocketBroadcast { user_id: "u1".into(), ..Default::default() };
    host.api().publish_web_socket_event("counted", payload.clone(), broadcast).await.unwrap();
    let events = fake.websocket_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "counted");
    assert_eq!(events[0].broadcast.as_ref().map(|b| b.user_id.as_str()), Some("u1"));
}

/// The next few calls of a method answer otherwise: three lost
/// compare-and-sets (the counter's update retries and gets there), then a
/// store that fails twice (the counter gives up, the command still answers).
#[tokio::test]
async fn the_next_calls_of_a_method_lose_or_fail() {
    let fake = FakeServer::new();
    fake.seed();
    let host = start(&fake).await;
    fake.on_kv_set_with_options(|_| Ok(false)).times(3);
    let reply = host.command("/hello").await.unwrap();
    assert_eq!(hello_number(&reply.text), 1);
    assert_eq!(fake.count("KVSetWithOptions"), 4, "three lost races, then the write");

    fake.fail_next("KVGet", 1, AppError::new("app.plugin_store.get.app_error", "the store is down", 500));
    let reply = host.command("/hello Carol").await.unwrap();
    assert_eq!(reply.text, "Hello, Carol!", "not counted this time");
    let reply = host.command("/hello Carol").await.unwrap();
    assert_eq!(hello_number(&reply.text), 2, "the store is back");
}

/// `host.url(path)` is the plugin's URL for `path`: no plugin id repeated.
#[tokio::test]
async fn requests_name_the_plugins_path_only() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake).await;
    let put = http::Request::put(host.url("/note")).body("milk").unwrap();
    assert_eq!(host.http_as_seeded_user(put).await.status(), 204);
    assert_eq!(fake.kv_value(&format!("note:{}", seed.user.id)), b"milk");
}

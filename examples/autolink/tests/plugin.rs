//! The Go plugin's tests of the plugin (server/autolinkplugin/plugin_test.go
//! and config_test.go), each run on the SDK's test kit: where Go mocks the
//! API call by call, the kit answers as the server does, and a test
//! overrides only the answer the Go test is about.

mod support;

use std::collections::HashMap;

use autolink::{Place, in_scope, is_authorized_admin, resolve_scope};
use mattermost_plugin::prelude::*;
use mattermost_plugin::proto;
use mattermost_plugin_testing::{FakeServer, Level};
use serde_json::{Value, json};
use support::{app_error, context, post, start, user};

fn mattermost_link() -> Value {
    json!({ "Pattern": "(Mattermost)", "Template": "[Mattermost](https://mattermost.com)" })
}

/// `TestPlugin`
#[tokio::test]
async fn a_post_is_rewritten() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake, json!({ "links": [mattermost_link()] })).await;
    let stored = post(&host, &seed.channel.id, &seed.user.id, "Welcome to Mattermost!").await;
    assert_eq!(stored.message, "Welcome to [Mattermost](https://mattermost.com)!");
}

// ---- SuiteAuthorization: who may run /autolink ------------------------------

/// The suite's setup: `GetUser` answered from `users` (an unknown id is an
/// error), the plugin admins `admins`.
async fn authorization(
    users: &[proto::User],
    admins: &str,
) -> (FakeServer, mattermost_plugin_testing::TestHost<autolink::Autolink>) {
    let fake = FakeServer::new();
    let users: HashMap<String, proto::User> = users.iter().map(|u| (u.id.clone(), u.clone())).collect();
    fake.on_get_user(move |request| {
        users
            .get(&request.user_id)
            .cloned()
            .ok_or_else(|| app_error(&format!("user {} not found", request.user_id)).into())
    });
    let host = start(&fake, json!({ "PluginAdmins": admins })).await;
    (fake, host)
}

async fn authorized(host: &mattermost_plugin_testing::TestHost<autolink::Autolink>, id: &str) -> Result<bool, String> {
    is_authorized_admin(&context(host), &host.plugin().config(), id).await
}

/// `SuiteAuthorization.TestSysadminIsAuthorized`
#[tokio::test]
async fn a_system_admin_is_authorized() {
    let (_, host) = authorization(&[user("marynaId", "smurf,system_admin,reaper")], "").await;
    assert_eq!(authorized(&host, "marynaId").await, Ok(true));
}

/// `SuiteAuthorization.TestPlainUserIsDenied`
#[tokio::test]
async fn a_plain_user_is_denied() {
    let (_, host) = authorization(&[user("marynaId", "smurf,reaper")], "").await;
    assert_eq!(authorized(&host, "marynaId").await, Ok(false));
}

/// `SuiteAuthorization.TestAdminUserIsAuthorized`
#[tokio::test]
async fn a_plugin_admin_is_authorized() {
    let (_, host) = authorization(&[user("marynaId", "smurf,reaper")], "marynaId").await;
    assert_eq!(authorized(&host, "marynaId").await, Ok(true));
}

fn three_users() -> [proto::User; 3] {
    [user("marynaId", "smurf,reaper"), user("borynaId", "smurf"), user("karynaId", "screamer")]
}

/// `SuiteAuthorization.TestMultipleUsersAreAuthorized`
#[tokio::test]
async fn several_plugin_admins_are_authorized() {
    let (_, host) = authorization(&three_users(), "marynaId,karynaId").await;
    assert_eq!(authorized(&host, "marynaId").await, Ok(true));
    assert_eq!(authorized(&host, "karynaId").await, Ok(true));
    assert_eq!(authorized(&host, "borynaId").await, Ok(false));
}

/// `SuiteAuthorization.TestWhitespaceIsIgnored`
#[tokio::test]
async fn whitespace_around_plugin_admins_is_ignored() {
    let (_, host) = authorization(&three_users(), "marynaId , karynaId, borynaId ").await;
    for id in ["marynaId", "karynaId", "borynaId"] {
        assert_eq!(authorized(&host, id).await, Ok(true), "{id}");
    }
}

/// `SuiteAuthorization.TestNonExistantUsersAreIgnored`
#[tokio::test]
async fn plugin_admins_who_do_not_exist_are_ignored() {
    let (_, host) = authorization(&[user("marynaId", "smurf,reaper")], "marynaId,karynaId").await;
    let warned = host.logs().into_iter().filter(|l| l.level == Level::WARN && l.message.contains("karynaId")).count();
    assert_eq!(warned, 1, "the unknown admin is logged once, at activation");
    assert_eq!(authorized(&host, "marynaId").await, Ok(true));
    let karyna = authorized(&host, "karynaId").await;
    assert!(karyna.is_err(), "{karyna:?}");
}

// ---- Bots and the author lookup --------------------------------------------

/// `TestBotMessagesAreRewritenWhenGetUserFails`
#[tokio::test]
async fn a_post_is_rewritten_when_its_author_cannot_be_looked_up() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake, json!({ "links": [mattermost_link()] })).await;
    fake.fail_next("GetUser", 1, app_error("foo error!"));
    let stored = post(&host, &seed.channel.id, &seed.user.id, "Welcome to Mattermost!").await;
    assert_eq!(stored.message, "Welcome to [Mattermost](https://mattermost.com)!");
    assert!(host.logs().iter().any(|l| l.level == Level::ERROR && l.message.contains("foo error!")));
}

/// `TestGetUserApiCallIsNotExecutedWhenThereAreNoChanges`
#[tokio::test]
async fn the_author_is_not_looked_up_when_nothing_changes() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake, json!({ "links": [mattermost_link()] })).await;
    fake.clear_calls();
    let stored = post(&host, &seed.channel.id, &seed.user.id, "Welcome to FooBarism!").await;
    assert_eq!(stored.message, "Welcome to FooBarism!");
    assert_eq!(fake.count("GetUser"), 0);
}

/// A bot's post of "Welcome to Mattermost!", with `link` configured.
async fn bot_post(link: Value) -> proto::Post {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake, json!({ "links": [link] })).await;
    let bot = host.api().create_bot(proto::Bot { username: "robot".into(), ..Default::default() }).await.unwrap();
    post(&host, &seed.channel.id, &bot.user_id, "Welcome to Mattermost!").await
}

/// `TestBotMessagesAreNotRewriten`
#[tokio::test]
async fn a_bots_post_is_left_alone() {
    assert_eq!(bot_post(mattermost_link()).await.message, "Welcome to Mattermost!");
}

/// `TestBotMessagesAreRewritenWhenConfigAllows`
#[tokio::test]
async fn a_bots_post_is_rewritten_by_a_link_that_processes_bot_posts() {
    let mut link = mattermost_link();
    link["ProcessBotPosts"] = json!(true);
    assert_eq!(bot_post(link).await.message, "Welcome to [Mattermost](https://mattermost.com)!");
}

/// `TestHashtags`
#[tokio::test]
async fn hashtags_follow_the_rewritten_message() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let links =
        json!([{ "Pattern": "foo", "Template": "#bar" }, { "Pattern": "hash tags", "Template": "#hash #tags" }]);
    let host = start(&fake, json!({ "links": links })).await;
    assert_eq!(post(&host, &seed.channel.id, &seed.user.id, "foo").await.hashtags, "#bar");
    assert_eq!(post(&host, &seed.channel.id, &seed.user.id, "hash tags").await.hashtags, "#hash #tags");
}

/// `TestAPI`: another plugin adds a link over HTTP.
#[tokio::test]
async fn another_plugin_adds_a_link() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let existing = json!({ "Name": "existing", "Pattern": "thing", "Template": "otherthing" });
    let host = start(&fake, json!({ "links": [existing] })).await;
    let body = serde_json::to_vec(&json!({ "Name": "new", "Pattern": "newpat", "Template": "newtemp" })).unwrap();
    let request = http::Request::post("/mattermost-autolink/api/v1/link").body(body).unwrap();
    let response = host.http_from_plugin("somthing", request).await;
    assert_eq!(response.status(), http::StatusCode::OK);
    let links = &host.plugin().config().links;
    assert_eq!(links.len(), 2);
    assert_eq!(links[1].name, "new");
    // And the new link is in force at once.
    assert_eq!(post(&host, &seed.channel.id, &seed.user.id, "a newpat here").await.message, "a newtemp here");
}

// ---- TestResolveScope --------------------------------------------------------

#[tokio::test]
async fn resolve_scope_names_the_channel_and_its_team() {
    let fake = FakeServer::new();
    let team = fake.add_team("testteam");
    let channel = fake.add_channel(&team.id, "testchannel");
    let host = start(&fake, json!({})).await;
    let place = resolve_scope(&context(&host), &channel.id).await.unwrap();
    assert_eq!(place, Place { channel: "testchannel".into(), team: "testteam".into() });
}

#[tokio::test]
async fn resolve_scope_of_a_channel_without_a_team_has_no_team_name() {
    let fake = FakeServer::new();
    let (a, b) = (fake.add_user("a"), fake.add_user("b"));
    let direct = fake.direct_channel(&a.id, &b.id);
    let host = start(&fake, json!({})).await;
    let place = resolve_scope(&context(&host), &direct.id).await.unwrap();
    assert_eq!(place, Place { channel: direct.name, team: String::new() });
}

#[tokio::test]
async fn resolve_scope_fails_when_the_channel_cannot_be_read() {
    let fake = FakeServer::new();
    let host = start(&fake, json!({})).await;
    fake.fail_next("GetChannel", 1, app_error("no channel"));
    assert!(resolve_scope(&context(&host), "TestId").await.is_err());
}

#[tokio::test]
async fn resolve_scope_fails_when_the_team_cannot_be_read() {
    let fake = FakeServer::new();
    let team = fake.add_team("testteam");
    let channel = fake.add_channel(&team.id, "testchannel");
    let host = start(&fake, json!({})).await;
    fake.fail_next("GetTeam", 1, app_error("no team"));
    assert!(resolve_scope(&context(&host), &channel.id).await.is_err());
}

// ---- TestProcessPost ---------------------------------------------------------

fn scoped_link(scope: &str) -> Value {
    json!({ "links": [{ "Pattern": "(Mattermost)", "Template": "[Mattermost](https://mattermost.com)", "Scope": [scope] }] })
}

#[tokio::test]
async fn process_post_leaves_the_post_when_the_scope_cannot_be_resolved() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake, scoped_link("test-team/town-square")).await;
    fake.fail_next("GetChannel", 1, app_error("no channel"));
    let stored = post(&host, &seed.channel.id, &seed.user.id, "Welcome to Mattermost!").await;
    assert_eq!(stored.message, "Welcome to Mattermost!");
    assert!(host.logs().iter().any(|l| l.level == Level::ERROR && l.message.starts_with("Failed to resolve scope")));
}

#[tokio::test]
async fn process_post_leaves_the_post_in_a_channel_without_a_team() {
    let fake = FakeServer::new();
    let (a, b) = (fake.add_user("a"), fake.add_user("b"));
    let direct = fake.direct_channel(&a.id, &b.id);
    let host = start(&fake, scoped_link("test-team/town-square")).await;
    assert_eq!(post(&host, &direct.id, &a.id, "Welcome to Mattermost!").await.message, "Welcome to Mattermost!");
}

#[tokio::test]
async fn process_post_rewrites_in_scope() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let host = start(&fake, scoped_link("Test-Team/Town-Square")).await;
    let stored = post(&host, &seed.channel.id, &seed.user.id, "Welcome to Mattermost!").await;
    assert_eq!(stored.message, "Welcome to [Mattermost](https://mattermost.com)!");
}

// ---- TestInScope ---------------------------------------------------------------

fn place() -> Place {
    Place { channel: "TestChannel".into(), team: "TestTeam".into() }
}

fn scope(entries: &[&str]) -> Vec<String> {
    entries.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn in_scope_is_true_for_an_empty_scope() {
    assert!(in_scope(&[], &place()));
}

#[test]
fn in_scope_is_true_for_its_team_and_channel() {
    assert!(in_scope(&scope(&["TestTeam/TestChannel"]), &place()));
}

#[test]
fn in_scope_is_false_for_an_empty_channel() {
    assert!(!in_scope(&scope(&["TestTeam/"]), &place()));
}

#[test]
fn in_scope_is_false_without_a_team() {
    assert!(!in_scope(&scope(&["TestTeam/TestChannel"]), &Place { team: String::new(), ..place() }));
}

#[test]
fn in_scope_is_false_for_an_empty_entry() {
    assert!(!in_scope(&scope(&[""]), &place()));
}

#[test]
fn in_scope_is_true_for_its_team_only() {
    assert!(in_scope(&scope(&["TestTeam"]), &place()));
}

// ---- config_test.go: TestOnConfigurationChange -----------------------------------

/// "Invalid Configuration": the settings cannot be read, so the hook fails.
#[tokio::test]
async fn a_configuration_that_cannot_be_read_fails_the_change() {
    let fake = FakeServer::new();
    let host = start(&fake, json!({})).await;
    fake.fail_next("GetPluginConfig", 1, app_error("loadPluginConfiguration Error"));
    let error = host.save_config(json!({ "links": [] })).await.unwrap_err();
    assert!(error.to_string().contains("loadPluginConfiguration Error"), "{error}");
}

/// "Invalid Autolink": a link that does not compile is logged once, and the
/// change goes through.
#[tokio::test]
async fn a_link_that_does_not_compile_is_logged_and_the_change_goes_through() {
    let fake = FakeServer::new();
    let host = start(&fake, json!({})).await;
    let bad = json!({ "links": [{ "Name": "existing", "Pattern": ")", "Template": "otherthing" }] });
    host.save_config(bad).await.unwrap();
    let errors = host.logs().into_iter().filter(|l| l.level == Level::ERROR && l.message.contains("existing")).count();
    assert_eq!(errors, 1);
}

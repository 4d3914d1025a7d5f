// The plugin's logic, tested in-process: no Mattermost, no plugin process.
use hello_plugin::Hello;
use mattermost_plugin::prelude::*;
use mattermost_plugin::proto;
use mattermost_plugin_testing::{FakeServer, TestHost};
use serde_json::json;

#[tokio::test]
async fn hello_keeps_out_the_blocked_word_and_counts_hellos() {
    // A server with a team, a channel and a user (alice) in both, and the
    // settings an admin saved for the plugin.
    let fake = FakeServer::new();
    let seed = fake.seed();
    fake.set_plugin_config(json!({ "BlockedWord": "spoiler" }));

    // Started as the server starts it: `Implemented`, then `OnActivate`.
    let host =
        TestHost::builder(Hello::new()).fake(fake.clone()).plugin_id("com.example.hello-rust").start().await.unwrap();

    // A hook, with typed arguments; the answer is what the server gets.
    let post = proto::Post { message: "no spoilers, please".into(), ..Default::default() };
    let answer = host.message_will_be_posted(post).await.unwrap();
    assert_eq!(answer.rejection_reason, "Posts containing \"spoiler\" are not allowed.");

    // A slash command, as alice types it in the seeded channel.
    let reply = host.command("/hello").await.unwrap();
    assert_eq!(reply.text, "Hello, @alice! (hello number 1)");
    assert_eq!(fake.kv_value("hello_count"), b"1");

    // An HTTP request to `/plugins/{id}/note`, from alice, signed in.
    let request = http::Request::put("/plugins/com.example.hello-rust/note").body("buy milk").unwrap();
    assert_eq!(host.http_as_seeded_user(request).await.status(), 204);
    assert_eq!(fake.kv_value(&format!("note:{}", seed.user.id)), b"buy milk");

    // Every call the plugin made, in order, with its typed request: its
    // translations (the files of its bundle, the server's language) and
    // settings, activation, the command (the caller, the counter), the note.
    let methods: Vec<&str> = fake.calls().iter().map(|call| call.method).collect();
    assert_eq!(
        methods,
        [
            "GetBundlePath",
            "GetConfig",
            "GetPluginConfig",
            "RegisterCommand",
            "GetServerVersion",
            "GetUser",
            "KVGet",
            "KVSetWithOptions",
            "KVSet"
        ]
    );
    assert_eq!(fake.requests::<proto::GetUserRequest>()[0].user_id, seed.user.id);

    // An answer for one test, in place of the server's own.
    fake.on_get_user(|request| {
        Err(AppError::new("app.user.missing_account.const", format!("no user {}", request.user_id), 404).into())
    });
    let error = host.command("/hello").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
}

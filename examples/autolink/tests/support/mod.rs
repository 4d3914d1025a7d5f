//! Starting the plugin on the SDK's test kit, as the server starts it.

#![allow(dead_code, reason = "each test file uses its own part of this")]

use autolink::Autolink;
use mattermost_plugin::prelude::*;
use mattermost_plugin::proto;
use mattermost_plugin_testing::{FakeServer, TestHost};
use serde_json::Value;

/// The id in `plugin.json`.
pub const PLUGIN_ID: &str = "mattermost-autolink";

/// The plugin started against `fake` with `config` saved as its settings,
/// its background work (the command's registration) done.
pub async fn start(fake: &FakeServer, config: Value) -> TestHost<Autolink> {
    fake.set_plugin_config(config);
    let host = TestHost::builder(Autolink::new())
        .fake(fake.clone())
        .plugin_id(PLUGIN_ID)
        .start()
        .await
        .expect("the plugin activates");
    host.settle().await;
    host
}

/// A post of `message` by `user_id` in `channel_id`, made through the
/// server: what is stored once the plugin's hooks ran.
pub async fn post(host: &TestHost<Autolink>, channel_id: &str, user_id: &str, message: &str) -> proto::Post {
    host.api().create_post(proto::Post::new(channel_id, message).by(user_id)).await.expect("the post is stored")
}

/// A context for calling the plugin's own functions, as a hook gets one.
pub fn context(host: &TestHost<Autolink>) -> Context {
    Context::new(host.api(), HookName::MessageWillBePosted)
}

/// A user as a test answers `GetUser` with.
pub fn user(id: &str, roles: &str) -> proto::User {
    proto::User { id: id.into(), username: id.to_lowercase(), roles: roles.into(), ..Default::default() }
}

/// An application error as the server sends one.
pub fn app_error(message: &str) -> AppError {
    AppError::new("app.test.error", message, 500)
}

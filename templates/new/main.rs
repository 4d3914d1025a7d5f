//! A Mattermost server plugin written in Rust with the generated SDK
//! (`mattermost-plugin/`), as `mmplugin-gen new` writes it.
//!
//! - `MessageWillBePosted` refuses posts that shout (all capitals).
//! - `ServeHTTP` answers `GET /plugins/<id>/hello` with the greeting from
//!   the plugin's settings, to the signed-in user.
//!
//! `cargo test` runs its tests; `./bundle.sh` makes the bundle the server
//! installs.

mod settings;

use std::process::ExitCode;

use axum::routing::get;
use axum::{Extension, Router};
use mattermost_plugin::http::UserId;
use mattermost_plugin::prelude::*;
use mattermost_plugin::{HttpRequest, HttpResponse, MessageWillBePostedDecision, proto};

use settings::Settings;

/// The plugin: its hooks below, its HTTP routes in `web`.
struct MyPlugin {
    web: Router,
}

impl MyPlugin {
    fn new() -> Self {
        Self { web: Router::new().route("/hello", get(hello)) }
    }
}

#[mattermost_plugin::plugin]
impl Plugin for MyPlugin {
    async fn on_activate(&self, cx: &Context) -> HookResult {
        let version = cx.api.get_server_version().await?;
        cx.log.info(format!("active on Mattermost {version}"));
        Ok(())
    }

    async fn message_will_be_posted(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        post: proto::Post,
    ) -> MessageWillBePostedDecision {
        if shouts(&post.message) {
            MessageWillBePostedDecision::Reject("Please do not shout.".into())
        } else {
            MessageWillBePostedDecision::Allow
        }
    }

    async fn serve_http(&self, _cx: &Context, request: HttpRequest) -> HttpResponse {
        // The SDK puts the hook's `Context` and the signed-in user's
        // `UserId` in the request's extensions.
        mattermost_plugin::http::call(self.web.clone(), request).await
    }
}

/// Whether `message` is all capitals (five letters or more).
fn shouts(message: &str) -> bool {
    let letters: Vec<char> = message.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() >= 5 && letters.iter().all(|c| c.is_uppercase())
}

/// `GET /hello`: the configured greeting, to the signed-in user.
async fn hello(Extension(cx): Extension<Context>, user: Option<Extension<UserId>>) -> String {
    let greeting = match cx.api.settings::<Settings>().await {
        Ok(settings) => settings.greeting,
        Err(e) => {
            cx.log.warn(format!("cannot read the settings: {e}"));
            Settings::default().greeting
        }
    };
    let Some(Extension(UserId(id))) = user else {
        return format!("{greeting}, stranger!");
    };
    match cx.api.get_user(id.as_str()).await {
        Ok(user) => format!("{greeting}, @{}!", user.username),
        Err(e) => {
            cx.log.warn(format!("cannot look up user {id}: {e}"));
            format!("{greeting}!")
        }
    }
}

fn main() -> ExitCode {
    mattermost_plugin::serve(MyPlugin::new())
}

#[cfg(test)]
mod tests {
    use mattermost_plugin_testing::{FakeServer, TestHost};
    use serde_json::json;

    use super::*;

    /// The plugin's id, as its manifest gives it.
    fn plugin_id() -> String {
        let manifest: serde_json::Value = serde_json::from_str(include_str!("../plugin.json")).unwrap();
        manifest["id"].as_str().expect("plugin.json has an id").to_owned()
    }

    /// Starts the plugin against `fake` as the server does.
    async fn start(fake: &FakeServer) -> TestHost<MyPlugin> {
        TestHost::builder(MyPlugin::new())
            .fake(fake.clone())
            .plugin_id(plugin_id())
            .start()
            .await
            .expect("the plugin activates")
    }

    fn post(message: &str) -> proto::Post {
        proto::Post { message: message.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn shouting_is_refused_and_the_rest_is_allowed() {
        let host = start(&FakeServer::new()).await;
        let refused = host.message_will_be_posted(post("STOP THAT RIGHT NOW")).await.unwrap();
        assert_eq!(refused.rejection_reason, "Please do not shout.");
        let allowed = host.message_will_be_posted(post("Hello there, OK?")).await.unwrap();
        assert!(allowed.rejection_reason.is_empty() && allowed.modified_post.is_none(), "{allowed:?}");
    }

    #[tokio::test]
    async fn hello_greets_the_signed_in_user_with_the_configured_greeting() {
        let fake = FakeServer::new();
        fake.set_plugin_config(json!({ "Greeting": "Howdy" }));
        let alice = fake.add_user("alice");
        let host = start(&fake).await;
        let request = || http::Request::get(format!("/plugins/{}/hello", plugin_id())).body("").unwrap();

        let signed_in = host.http_as(Some(&alice.id), request()).await;
        assert_eq!(signed_in.status(), 200);
        assert_eq!(signed_in.body().as_ref(), b"Howdy, @alice!");
        let anonymous = host.http(request()).await;
        assert_eq!(anonymous.body().as_ref(), b"Howdy, stranger!");
    }
}

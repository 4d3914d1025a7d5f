//! A Mattermost server plugin written in Rust with the generated SDK
//! (`mattermost-plugin/`), as `mmplugin-gen new` writes it.
//!
//! - `MessageWillBePosted` refuses posts that shout (all capitals).
//! - `ServeHTTP` answers `GET /plugins/<id>/hello` with the greeting from
//!   the plugin's settings, to the signed-in user.
//!
//! The plugin is this library; `src/main.rs` serves it, and the tests in
//! `tests/` drive it with the SDK's test kit. `cargo test` runs them;
//! `./bundle.sh` makes the bundle the server installs.

pub mod settings;

use axum::routing::get;
use axum::{Extension, Router};
use mattermost_plugin::http::UserId;
use mattermost_plugin::prelude::*;
use mattermost_plugin::{HttpRequest, HttpResponse, MessageWillBePostedDecision, proto};

use settings::Settings;

/// The plugin: its hooks below, its HTTP routes in `web`.
pub struct MyPlugin {
    web: Router,
}

impl MyPlugin {
    /// The plugin with its routes.
    pub fn new() -> Self {
        Self { web: Router::new().route("/hello", get(hello)) }
    }
}

impl Default for MyPlugin {
    fn default() -> Self {
        Self::new()
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
pub fn shouts(message: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::shouts;

    #[test]
    fn shouting_is_five_capitals_or_more() {
        assert!(shouts("STOP THAT"));
        assert!(!shouts("OK") && !shouts("Stop that"));
    }
}

//! A Mattermost server plugin written in Rust with the generated SDK
//! (`mattermost-plugin/`), as `mmplugin-gen new` writes it.
//!
//! - `OnConfigurationChange` reads the settings into a `Current` the hooks
//!   and routes read without a lock (the SDK runs it at activation too),
//!   and the plugin's texts from `assets/i18n/` in its bundle.
//! - `MessageWillBePosted` refuses posts that shout (all capitals), saying
//!   why in the poster's language: add a file beside `assets/i18n/en.json`
//!   (`de.json`, `fr.json`: go-i18n's format, as Go plugins have it) to
//!   translate the plugin's texts.
//! - `ServeHTTP` answers `GET /plugins/<id>/hello` with the greeting from
//!   the plugin's settings, to the signed-in user.
//!
//! The plugin is this library; `src/main.rs` serves it, and the tests in
//! `tests/` drive it with the SDK's test kit. `cargo test` runs them;
//! `./bundle.sh` makes the bundle the server installs.

pub mod settings;

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router};
use mattermost_plugin::http::UserId;
use mattermost_plugin::i18n::{I18n, Message};
use mattermost_plugin::prelude::*;
use mattermost_plugin::{HttpRequest, HttpResponse, MessageWillBePostedDecision, proto};

use settings::Settings;

/// Why a shouted post is refused: the English text, and its id in
/// `assets/i18n/*.json`, where translations find it.
const DO_NOT_SHOUT: Message = Message::new("post.shouting", "Please do not shout.");

/// The plugin: its hooks below, its HTTP routes in `web`.
pub struct MyPlugin {
    /// The settings in force, shared with the routes.
    settings: Arc<Current<Settings>>,
    /// The texts of `assets/i18n/` and the server's default language.
    i18n: I18n,
    web: Router,
}

impl MyPlugin {
    /// The plugin with its routes, on its default settings until the
    /// admin's are read.
    pub fn new() -> Self {
        let settings = Arc::new(Current::default());
        let web = Router::new().route("/hello", get(hello)).layer(Extension(Arc::clone(&settings)));
        Self { settings, i18n: I18n::new(), web }
    }
}

impl Default for MyPlugin {
    fn default() -> Self {
        Self::new()
    }
}

#[mattermost_plugin::plugin]
impl Plugin for MyPlugin {
    async fn on_configuration_change(&self, cx: &Context) -> HookResult {
        // The texts, and the server's default language (a user whose
        // language the plugin has no file for reads that, else English).
        if let Err(e) = self.i18n.load(&cx.api).await {
            cx.log.warn(format!("texts not loaded, answering in English: {e}"));
        }
        // Settings keys match in any case, at every depth, as in Go.
        self.settings.set(cx.api.settings().await?);
        Ok(())
    }

    async fn on_activate(&self, cx: &Context) -> HookResult {
        let version = cx.api.get_server_version().await?;
        cx.log.info(format!("active on Mattermost {version}"));
        Ok(())
    }

    async fn message_will_be_posted(
        &self,
        cx: &Context,
        _pc: &proto::PluginContext,
        post: proto::Post,
    ) -> MessageWillBePostedDecision {
        if shouts(&post.message) {
            // In the poster's language (`GetUser`), else the server's.
            let texts = self.i18n.for_user(&cx.api, &post.user_id).await;
            MessageWillBePostedDecision::Reject(texts.localize(&DO_NOT_SHOUT, &[]))
        } else {
            MessageWillBePostedDecision::Allow
        }
    }

    async fn serve_http(&self, _cx: &Context, request: HttpRequest) -> HttpResponse {
        // The SDK puts the hook's `Context` in the request's extensions;
        // a route takes the signed-in user as `UserId` (401 for nobody)
        // or `Option<UserId>`.
        mattermost_plugin::http::call(self.web.clone(), request).await
    }
}

/// Whether `message` is all capitals (five letters or more).
pub fn shouts(message: &str) -> bool {
    let letters: Vec<char> = message.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() >= 5 && letters.iter().all(|c| c.is_uppercase())
}

/// `GET /hello`: the configured greeting, to the signed-in user.
async fn hello(
    Extension(cx): Extension<Context>,
    Extension(settings): Extension<Arc<Current<Settings>>>,
    user: Option<UserId>,
) -> String {
    let greeting = settings.get().greeting.clone();
    let Some(UserId(id)) = user else {
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

//! The plugin: a small Mattermost plugin written with the generated SDK.
//!
//! - `on_configuration_change` reads the plugin's settings into the struct
//!   `mmplugin-gen settings plugin.json` printed (`src/settings.rs`).
//!   The SDK runs it at activation too, before `on_activate`, so the admin's
//!   settings are in force from the first post.
//! - `on_activate` registers the `/hello` slash command and logs the server version.
//! - `MessageWillBePosted` refuses posts containing the blocked word and
//!   corrects a misspelling in the others.
//! - `FileWillBeUploaded` refuses text files containing the blocked word.
//!   The server sends the whole file in one call, up to its maximum file
//!   size (100 MiB by default); the SDK takes such a call whole.
//! - `ExecuteCommand` answers `/hello [name]` (the caller's username when no
//!   name is given) in the caller's language, and counts hellos in the KV
//!   store. The texts are in `assets/i18n/` (English and German, in
//!   go-i18n's format, as Go plugins ship them); `on_configuration_change`
//!   loads them, with the server's default language, which answers a user
//!   whose language the plugin does not have.
//! - `ServeHTTP` answers the plugin's HTTP endpoints with an axum router
//!   (`web.rs`): a streaming echo, JSON, a streaming download, an upload
//!   hashed as it streams, server-sent events, a per-user note kept in
//!   the KV store, and a greeting read from a file the bundle ships
//!   (`assets/greeting.txt`, found through the bundle path).

use mattermost_plugin::i18n::{I18n, Message};
use mattermost_plugin::kv::KvError;
use mattermost_plugin::prelude::*;
use mattermost_plugin::{FileWillBeUploadedDecision, HttpRequest, HttpResponse, MessageWillBePostedDecision, proto};

use crate::filter::{self, Verdict};
use crate::settings::Settings;
use crate::web;

/// The KV key of the hello counter.
const COUNTER_KEY: &str = "hello_count";

/// `/hello`'s answer, with the count: English here, and in the files of
/// `assets/i18n/` under its id (German has a form for one hello and one for
/// more, as CLDR's rules for German pick them).
const HELLO_COUNTED: Message = Message::new("hello.counted", "Hello, {{.Name}}! (hello number {{.Count}})");
/// `/hello`'s answer when the hellos could not be counted.
const HELLO_UNCOUNTED: Message = Message::new("hello.uncounted", "Hello, {{.Name}}!");

/// The hello plugin. `main` serves it (`mattermost_plugin::serve(Hello::new())`);
/// tests drive it with the SDK's test kit (`tests/kit.rs`).
pub struct Hello {
    /// The settings in force: hooks read them at once, a configuration
    /// change replaces them (`Current`, no lock in the plugin's code).
    settings: Current<Settings>,
    /// The texts of `assets/i18n/` and the server's default language.
    i18n: I18n,
    web: axum::Router,
}

impl Hello {
    /// The plugin with its default settings (the admin's are read at
    /// activation) and its web router (`web.rs`) built.
    pub fn new() -> Self {
        Self { settings: Current::default(), i18n: I18n::new(), web: web::router() }
    }

    /// Adds one to the hello counter and returns the new count.
    ///
    /// The counter is shared by every instance of the plugin: one process
    /// per node in a cluster, all on one KV store. So the update is the
    /// typed store's atomic `update` (a compare-and-set, retried on the
    /// value another node wrote meanwhile); a lock inside the process could
    /// not keep two nodes from both writing `n + 1`.
    async fn count_hello(&self, cx: &Context) -> Result<u64, KvError> {
        let count = cx.api.kv().update(COUNTER_KEY, |n: Option<u64>| Some(n.unwrap_or(0) + 1)).await?;
        Ok(count.unwrap_or_default())
    }
}

impl Default for Hello {
    fn default() -> Self {
        Self::new()
    }
}

#[mattermost_plugin::plugin]
impl Plugin for Hello {
    async fn on_configuration_change(&self, cx: &Context) -> HookResult {
        // The translations, and the server's default language, which a
        // configuration change may have changed. Without them the plugin
        // still answers, in English.
        if let Err(e) = self.i18n.load(&cx.api).await {
            cx.log.warn(format!("translations not loaded, answering in English: {e}"));
        }
        // `Settings` is generated from plugin.json (`src/settings.rs`): a
        // renamed setting breaks the build, and nothing saved yet (`null`)
        // is the defaults plugin.json gives.
        let settings: Settings = cx.api.settings().await?;
        cx.log.debug(format!("settings: {settings:?}"));
        self.settings.set(settings);
        Ok(())
    }

    async fn on_activate(&self, cx: &Context) -> HookResult {
        cx.api
            .register_command(
                proto::Command::new("hello")
                    .described("Hello", "Says hello and counts hellos")
                    .autocomplete("Say hello", "[name]"),
            )
            .await?;
        let version = cx.api.get_server_version().await?;
        cx.log.info(format!("hello-plugin active on Mattermost {version}"));
        Ok(())
    }

    async fn message_will_be_posted(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        post: proto::Post,
    ) -> MessageWillBePostedDecision {
        let verdict = filter::check(&self.settings.get(), &post.message);
        match verdict {
            Verdict::Allow => MessageWillBePostedDecision::Allow,
            Verdict::Reject(reason) => {
                // Key-value fields reach the server log as fields of the
                // entry (hclog), next to the `hook` the SDK adds.
                tracing::info!(user_id = %post.user_id, channel_id = %post.channel_id, "refused a post");
                MessageWillBePostedDecision::Reject(reason)
            }
            Verdict::Rewrite(message) => {
                let mut post = post;
                // The hashtags follow the new message, as the server's would.
                post.set_message(message);
                MessageWillBePostedDecision::Replace(Box::new(post))
            }
        }
    }

    async fn file_will_be_uploaded(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        file_info: proto::FileInfo,
        content: Vec<u8>,
    ) -> FileWillBeUploadedDecision {
        // Only text is read; anything else goes through.
        let Ok(text) = std::str::from_utf8(&content) else {
            return FileWillBeUploadedDecision::Allow;
        };
        match filter::blocked_word_in(&self.settings.get(), text) {
            Some(blocked) => {
                tracing::info!(user_id = %file_info.creator_id, name = %file_info.name, "refused a file");
                FileWillBeUploadedDecision::Reject(format!("Files containing \"{blocked}\" are not allowed."))
            }
            None => FileWillBeUploadedDecision::Allow,
        }
    }

    async fn execute_command(
        &self,
        cx: &Context,
        _pc: &proto::PluginContext,
        args: proto::CommandArgs,
    ) -> HookResult<proto::CommandResponse> {
        let mut words = args.command.split_whitespace();
        if words.next() != Some("/hello") {
            return Err(HookError::new(format!("unknown command: {}", args.command)));
        }
        let words: Vec<&str> = words.collect();
        if let Some(option) = words.iter().find(|w| w.starts_with('-')) {
            return Err(HookError::new(format!(
                "unknown option `{option}`: /hello takes a name, as in `/hello Alice`"
            )));
        }
        // The caller: their language, and their username when no name is
        // given.
        let (name, texts) = match cx.api.get_user(args.user_id.as_str()).await {
            Ok(caller) => {
                let name = if words.is_empty() { format!("@{}", caller.username) } else { words.join(" ") };
                (name, self.i18n.for_locale(&caller.locale))
            }
            // No name, and no username to greet: the command fails with
            // the server's own error (id and status kept).
            Err(e) if words.is_empty() => return Err(e.into()),
            Err(e) => {
                cx.log.warn(format!("cannot read the caller's language, answering in the server's: {e}"));
                (words.join(" "), self.i18n.for_server())
            }
        };
        let text = match self.count_hello(cx).await {
            Ok(count) => texts.localize_count(&HELLO_COUNTED, count, &[("Name", &name)]),
            Err(e) => {
                cx.log.warn(format!("cannot count hellos: {e}"));
                texts.localize(&HELLO_UNCOUNTED, &[("Name", &name)])
            }
        };
        Ok(proto::CommandResponse::ephemeral(text))
    }

    async fn serve_http(&self, _cx: &Context, request: HttpRequest) -> HttpResponse {
        // The SDK puts the hook's `Context` (the API, the logger) and the
        // signed-in user's `UserId` in the request: the routes take them as
        // axum extensions.
        mattermost_plugin::http::call(self.web.clone(), request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implemented_lists_exactly_the_hooks_written() {
        assert_eq!(
            <Hello as Plugin>::IMPLEMENTED,
            &[
                HookName::OnConfigurationChange,
                HookName::OnActivate,
                HookName::MessageWillBePosted,
                HookName::FileWillBeUploaded,
                HookName::ExecuteCommand,
                HookName::ServeHttp
            ]
        );
    }
}

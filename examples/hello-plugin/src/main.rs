//! hello-plugin: a small Mattermost plugin written with the generated SDK.
//!
//! - `OnActivate` registers the `/hello` slash command and logs the server version.
//! - `OnConfigurationChange` reads the plugin's settings (see `plugin.json`).
//! - `MessageWillBePosted` refuses posts containing the blocked word and
//!   corrects a misspelling in the others.
//! - `ExecuteCommand` answers `/hello [name]` and counts hellos in the KV store.

use std::process::ExitCode;
use std::sync::RwLock;

use mattermost_plugin::prelude::*;
use mattermost_plugin::{MessageWillBePostedDecision, proto};

/// The plugin's settings, as `plugin.json` declares them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    blocked_word: String,
    rewrite_from: String,
    rewrite_to: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self { blocked_word: "forbidden".into(), rewrite_from: "teh".into(), rewrite_to: "the".into() }
    }
}

impl Settings {
    /// Reads the settings the server stores for the plugin; a missing or
    /// empty one keeps its default.
    fn from_config(config: &serde_json::Map<String, serde_json::Value>) -> Self {
        let defaults = Self::default();
        let text = |key: &str, default: String| {
            config.get(key).and_then(|v| v.as_str()).filter(|s| !s.trim().is_empty()).map_or(default, str::to_owned)
        };
        Self {
            blocked_word: text("BlockedWord", defaults.blocked_word),
            rewrite_from: text("RewriteFrom", defaults.rewrite_from),
            rewrite_to: text("RewriteTo", defaults.rewrite_to),
        }
    }
}

/// The KV key of the hello counter.
const COUNTER_KEY: &str = "hello_count";

#[derive(Default)]
struct Hello {
    settings: RwLock<Settings>,
    /// Serialises counter updates from concurrent `/hello` calls.
    counter: tokio::sync::Mutex<()>,
}

impl Hello {
    fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Adds one to the hello counter and returns the new count.
    async fn count_hello(&self, cx: &Context) -> Result<u64, mattermost_plugin::Error> {
        let _one_at_a_time = self.counter.lock().await;
        let stored = cx.api.kv_get(COUNTER_KEY).await?;
        let count = std::str::from_utf8(&stored).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) + 1;
        cx.api.kv_set(COUNTER_KEY, count.to_string()).await?;
        Ok(count)
    }
}

#[mattermost_plugin::plugin]
impl Plugin for Hello {
    async fn on_configuration_change(&self, cx: &Context) -> HookResult {
        let settings = Settings::from_config(&cx.api.get_plugin_config().await?);
        cx.log.debug(format!("settings: {settings:?}"));
        *self.settings.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = settings;
        Ok(())
    }

    async fn on_activate(&self, cx: &Context) -> HookResult {
        cx.api
            .register_command(proto::Command {
                trigger: "hello".into(),
                display_name: "Hello".into(),
                description: "Says hello and counts hellos".into(),
                auto_complete: true,
                auto_complete_desc: "Say hello".into(),
                auto_complete_hint: "[name]".into(),
                ..Default::default()
            })
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
        let settings = self.settings();
        if post.message.to_lowercase().contains(&settings.blocked_word.to_lowercase()) {
            return MessageWillBePostedDecision::Reject(format!(
                "Posts containing \"{}\" are not allowed.",
                settings.blocked_word
            ));
        }
        let rewritten = rewrite_words(&post.message, &settings.rewrite_from, &settings.rewrite_to);
        if rewritten == post.message {
            MessageWillBePostedDecision::Allow
        } else {
            MessageWillBePostedDecision::Replace(Box::new(proto::Post { message: rewritten, ..post }))
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
        let name = words.collect::<Vec<_>>().join(" ");
        let name = if name.is_empty() { "world".to_owned() } else { name };
        let text = match self.count_hello(cx).await {
            Ok(count) => format!("Hello, {name}! (hello number {count})"),
            Err(e) => {
                cx.log.warn(format!("cannot count hellos: {e}"));
                format!("Hello, {name}!")
            }
        };
        Ok(proto::CommandResponse { response_type: "ephemeral".into(), text, ..Default::default() })
    }
}

/// Replaces `from` with `to` where it stands as a whole word.
fn rewrite_words(message: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(from) {
        let before_ok = rest[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after = &rest[at + from.len()..];
        let after_ok = after.chars().next().is_none_or(|c| !c.is_alphanumeric());
        out.push_str(&rest[..at]);
        out.push_str(if before_ok && after_ok { to } else { from });
        rest = after;
    }
    out.push_str(rest);
    out
}

fn main() -> ExitCode {
    mattermost_plugin::serve(Hello::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_whole_words_only() {
        assert_eq!(rewrite_words("teh cat, teh end", "teh", "the"), "the cat, the end");
        assert_eq!(rewrite_words("tehran stays", "teh", "the"), "tehran stays");
        assert_eq!(rewrite_words("no change", "", "x"), "no change");
    }

    #[test]
    fn settings_fall_back_to_defaults() {
        let mut config = serde_json::Map::new();
        config.insert("BlockedWord".into(), "spoiler".into());
        config.insert("RewriteFrom".into(), "  ".into());
        let settings = Settings::from_config(&config);
        assert_eq!(settings.blocked_word, "spoiler");
        assert_eq!(settings.rewrite_from, "teh");
    }

    #[test]
    fn implemented_lists_exactly_the_hooks_written() {
        assert_eq!(
            <Hello as Plugin>::IMPLEMENTED,
            &[HookName::OnConfigurationChange, HookName::OnActivate, HookName::MessageWillBePosted, HookName::ExecuteCommand]
        );
    }
}

//! The example's post filter: its settings and its decision, kept apart
//! from the hooks so the hook benchmark's bare tonic baseline runs exactly
//! the same code.

/// The plugin's settings, as `plugin.json` declares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub blocked_word: String,
    pub rewrite_from: String,
    pub rewrite_to: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self { blocked_word: "forbidden".into(), rewrite_from: "teh".into(), rewrite_to: "the".into() }
    }
}

impl Settings {
    /// Reads the settings the server stores for the plugin; a missing or
    /// empty one keeps its default. Keys match without regard to case: the
    /// System Console stores them lowercased (`blockedword`), whatever case
    /// `plugin.json` declares, and `GetPluginConfig` answers them as stored.
    pub fn from_config(config: &serde_json::Map<String, serde_json::Value>) -> Self {
        let defaults = Self::default();
        let text = |key: &str, default: String| {
            let value =
                config.get(key).or_else(|| config.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v));
            value.and_then(|v| v.as_str()).filter(|s| !s.trim().is_empty()).map_or(default, str::to_owned)
        };
        Self {
            blocked_word: text("BlockedWord", defaults.blocked_word),
            rewrite_from: text("RewriteFrom", defaults.rewrite_from),
            rewrite_to: text("RewriteTo", defaults.rewrite_to),
        }
    }
}

/// What the filter makes of a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Post it as it is.
    Allow,
    /// Refuse it, with this reason.
    Reject(String),
    /// Post this text instead.
    Rewrite(String),
}

/// Judges a post's message.
pub fn check(settings: &Settings, message: &str) -> Verdict {
    if message.to_lowercase().contains(&settings.blocked_word.to_lowercase()) {
        return Verdict::Reject(format!("Posts containing \"{}\" are not allowed.", settings.blocked_word));
    }
    let rewritten = rewrite_words(message, &settings.rewrite_from, &settings.rewrite_to);
    if rewritten == message { Verdict::Allow } else { Verdict::Rewrite(rewritten) }
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
    fn settings_are_read_under_the_lowercased_keys_the_console_saves() {
        let mut config = serde_json::Map::new();
        config.insert("blockedword".into(), "spoiler".into());
        config.insert("REWRITEFROM".into(), "colour".into());
        let settings = Settings::from_config(&config);
        assert_eq!((settings.blocked_word.as_str(), settings.rewrite_from.as_str()), ("spoiler", "colour"));
        assert_eq!(settings.rewrite_to, "the");
    }

    #[test]
    fn check_rejects_before_it_rewrites() {
        let settings = Settings::default();
        assert_eq!(
            check(&settings, "teh FORBIDDEN"),
            Verdict::Reject("Posts containing \"forbidden\" are not allowed.".into())
        );
        assert_eq!(check(&settings, "teh cat"), Verdict::Rewrite("the cat".into()));
        assert_eq!(check(&settings, "hello"), Verdict::Allow);
    }
}

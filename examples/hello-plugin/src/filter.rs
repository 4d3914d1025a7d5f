//! The example's post filter: its decision, kept apart from the hooks so
//! the hook benchmark's bare tonic baseline runs exactly the same code. Its
//! settings are the struct `mmplugin-gen settings plugin.json` prints
//! (`src/settings.rs`).

use crate::settings::Settings;

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
    if let Some(blocked) = blocked_word_in(settings, message) {
        return Verdict::Reject(format!("Posts containing \"{blocked}\" are not allowed."));
    }
    let rewritten = rewrite_words(message, &settings.rewrite_from, &settings.rewrite_to);
    if rewritten == message { Verdict::Allow } else { Verdict::Rewrite(rewritten) }
}

/// The blocked word, if `text` contains it in any case. A blocked word an
/// admin emptied refuses nothing.
pub fn blocked_word_in<'s>(settings: &'s Settings, text: &str) -> Option<&'s str> {
    let blocked = settings.blocked_word.trim();
    (!blocked.is_empty() && text.to_lowercase().contains(&blocked.to_lowercase())).then_some(blocked)
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
    fn check_rejects_before_it_rewrites() {
        let settings = Settings::default();
        assert_eq!(
            check(&settings, "teh FORBIDDEN"),
            Verdict::Reject("Posts containing \"forbidden\" are not allowed.".into())
        );
        assert_eq!(check(&settings, "teh cat"), Verdict::Rewrite("the cat".into()));
        assert_eq!(check(&settings, "hello"), Verdict::Allow);
    }

    #[test]
    fn an_emptied_blocked_word_refuses_nothing() {
        let settings = Settings { blocked_word: "  ".into(), ..Settings::default() };
        assert_eq!(check(&settings, "anything at all"), Verdict::Allow);
    }
}

//! One configured link: a Go-syntax regular expression and the template that
//! replaces what it matches.
//!
//! # Semantics kept from the Go plugin
//!
//! * [`Autolink::compile`] wraps the configured pattern the way the plugin
//!   always has: unless disabled, a word-boundary prefix and suffix are added.
//!   With `WordMatch` they are `\b`; otherwise they are the capture groups
//!   `MattermostNonWordPrefix` (start of text or a space) and
//!   `MattermostNonWordSuffix` (end of text, a space or one of `.!?,)`),
//!   which the template puts back around the replacement.
//! * [`Autolink::replace`] replaces every match at once when only `\b` was
//!   added (it consumes nothing). Otherwise it takes one match at a time and
//!   searches again in **what remains after the match**, as a new text: `^`
//!   and `\b` see the start of that remainder, so `^` matches again right
//!   after a match that consumed the separating space.
//! * Equality ([`PartialEq`]) compares the configured fields only, never the
//!   compiled expression.
//! * JSON uses the Go field names (`Name`, `Pattern`, `Scope`, ...). Read
//!   through the SDK (`settings`, `json::from_value_go`), it follows Go's
//!   `encoding/json`: keys match in any case, `null` is nothing.
//!
//! One deliberate difference in [`Autolink::replace`]: when the one-at-a-time
//! loop meets an empty match, Go never terminates (the remaining text does
//! not shrink); here the template is expanded and one character is copied
//! before searching again.

use serde::{Deserialize, Serialize};

use crate::goregex::GoRegex;

/// Group that keeps the character before a match when `WordMatch` is off.
const PREFIX_GROUP: &str = "MattermostNonWordPrefix";
/// Group that keeps the character after a match when `WordMatch` is off.
const SUFFIX_GROUP: &str = "MattermostNonWordSuffix";

/// A pattern to turn into a link, as configured in the plugin settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Autolink {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Disabled")]
    pub disabled: bool,
    #[serde(rename = "Pattern")]
    pub pattern: String,
    #[serde(rename = "Template")]
    pub template: String,
    /// `team` or `team/channel` entries; empty means everywhere.
    #[serde(rename = "Scope")]
    pub scope: Vec<String>,
    #[serde(rename = "WordMatch")]
    pub word_match: bool,
    #[serde(rename = "DisableNonWordPrefix")]
    pub disable_non_word_prefix: bool,
    #[serde(rename = "DisableNonWordSuffix")]
    pub disable_non_word_suffix: bool,
    #[serde(rename = "ProcessBotPosts")]
    pub process_bot_posts: bool,
    /// What [`Autolink::compile`] built. Public only so that a link can be
    /// written with `..Autolink::default()`; it is opaque, never compared and
    /// never serialized.
    #[serde(skip)]
    pub compiled: Compiled,
}

/// The compiled form of an [`Autolink`] (nothing until it is compiled).
#[derive(Clone, Debug, Default)]
pub struct Compiled(Option<CompiledLink>);

/// Links are equal by their configuration: the compiled form always is.
impl PartialEq for Compiled {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Compiled {}

#[derive(Clone, Debug)]
struct CompiledLink {
    re: GoRegex,
    template: String,
    /// Only `\b` was added around the pattern: replace all matches at once.
    replace_all: bool,
}

impl Autolink {
    /// The name, or the pattern for a link without one.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() { &self.pattern } else { &self.name }
    }

    /// Whether [`Autolink::compile`] produced an expression (it does not for
    /// a disabled link or one without a pattern or template).
    pub fn is_compiled(&self) -> bool {
        self.compiled.0.is_some()
    }

    /// Builds the expression [`Autolink::replace`] uses. A disabled link, or
    /// one with an empty pattern or template, compiles to nothing and
    /// succeeds. Any earlier compilation is dropped first, also on error.
    pub fn compile(&mut self) -> Result<(), regex::Error> {
        self.compiled = Compiled::default();
        if self.disabled || self.pattern.is_empty() || self.template.is_empty() {
            return Ok(());
        }

        let mut pattern = self.pattern.clone();
        let mut template = self.template.clone();
        let mut replace_all = false;
        if !self.disable_non_word_prefix {
            if self.word_match {
                pattern.insert_str(0, r"\b");
                replace_all = true;
            } else {
                pattern.insert_str(0, &format!(r"(?P<{PREFIX_GROUP}>(^|\s))"));
                template.insert_str(0, &format!("${{{PREFIX_GROUP}}}"));
            }
        }
        if !self.disable_non_word_suffix {
            if self.word_match {
                pattern.push_str(r"\b");
                replace_all = true;
            } else {
                pattern.push_str(&format!(r"(?P<{SUFFIX_GROUP}>$|[\s\.\!\?\,\)])"));
                template.push_str(&format!("${{{SUFFIX_GROUP}}}"));
            }
        }

        self.compiled = Compiled(Some(CompiledLink { re: GoRegex::new(&pattern)?, template, replace_all }));
        Ok(())
    }

    /// The message with every match replaced by the expanded template; the
    /// message unchanged when the link is not compiled.
    pub fn replace(&self, message: &str) -> String {
        let Some(compiled) = &self.compiled.0 else {
            return message.to_owned();
        };
        if compiled.replace_all {
            return compiled.re.replace_all(message, &compiled.template);
        }

        let mut out = String::with_capacity(message.len());
        let mut rest = message;
        while !rest.is_empty() {
            let Some(caps) = compiled.re.regex().captures(rest) else {
                break;
            };
            let whole = caps.get(0).expect("group 0 always takes part");
            out.push_str(&rest[..whole.start()]);
            compiled.re.expand(&caps, &compiled.template, &mut out);
            if whole.is_empty() {
                // Go would search the same text again forever.
                let after = &rest[whole.end()..];
                let step = after.chars().next().map_or(0, char::len_utf8);
                out.push_str(&after[..step]);
                rest = &after[step..];
            } else {
                rest = &rest[whole.end()..];
            }
        }
        out.push_str(rest);
        out
    }

    /// The link as a Markdown list item, numbered when `i > 0`, for the
    /// `/autolink list` command.
    pub fn to_markdown(&self, i: usize) -> String {
        let mut text = String::from("- ");
        if i > 0 {
            text.push_str(&format!("{i}: "));
        }
        if !self.name.is_empty() {
            if self.disabled {
                text.push_str(&format!("~~{}~~", self.name));
            } else {
                text.push_str(&self.name);
            }
        }
        if self.disabled {
            text.push_str(" **Disabled**");
        }
        text.push('\n');

        text.push_str(&format!("  - Pattern: `{}`\n", self.pattern));
        text.push_str(&format!("  - Template: `{}`\n", self.template));
        if self.disable_non_word_prefix {
            text.push_str("  - DisableNonWordPrefix: `true`\n");
        }
        if self.disable_non_word_suffix {
            text.push_str("  - DisableNonWordSuffix: `true`\n");
        }
        if self.process_bot_posts {
            text.push_str("  - ProcessBotPosts: `true`\n");
        }
        if !self.scope.is_empty() {
            // Go prints a []string with %v as `[a b]`.
            text.push_str(&format!("  - Scope: `[{}]`\n", self.scope.join(" ")));
        }
        if self.word_match {
            text.push_str("  - WordMatch: `true`\n");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(pattern: &str, template: &str) -> Autolink {
        Autolink { pattern: pattern.into(), template: template.into(), ..Autolink::default() }
    }


    #[test]
    fn compile_wraps_the_pattern() {
        let mut l = link("(Mattermost)", "[M]");
        l.compile().unwrap();
        assert_eq!(l.replace("a Mattermost."), "a [M].");
        assert_eq!(l.replace("aMattermost"), "aMattermost");

        for disabled in [Autolink { disabled: true, ..link("x", "y") }, link("", "y"), link("x", "")] {
            let mut disabled = disabled;
            disabled.compile().unwrap();
            assert!(!disabled.is_compiled());
            assert_eq!(disabled.replace("x"), "x");
        }

        let mut bad = link("(", "y");
        assert!(bad.compile().is_err());
        assert_eq!(bad.replace("("), "(");
    }

    #[test]
    fn one_at_a_time_sees_the_remainder_as_a_new_text() {
        let mut l = link("a", "b");
        l.compile().unwrap();
        // The space after the first `a` is consumed as its suffix; `^`
        // matches at the start of what remains.
        assert_eq!(l.replace("a a a"), "b b b");
    }

    #[test]
    fn empty_matches_terminate() {
        let mut l = Autolink { disable_non_word_prefix: true, disable_non_word_suffix: true, ..link("x*", "-") };
        l.compile().unwrap();
        assert_eq!(l.replace("ab"), "-a-b");
    }

    #[test]
    fn equality_ignores_compilation() {
        let mut compiled = link("a", "b");
        compiled.compile().unwrap();
        assert_eq!(compiled, link("a", "b"));
        assert_ne!(compiled, link("a", "c"));
        let scoped = Autolink { scope: vec!["t".into()], ..link("a", "b") };
        assert_ne!(scoped, link("a", "b"));
    }

    #[test]
    fn display_name_falls_back_to_the_pattern() {
        assert_eq!(link("p", "t").display_name(), "p");
        assert_eq!(Autolink { name: "n".into(), ..link("p", "t") }.display_name(), "n");
    }

    #[test]
    fn markdown_listing() {
        let full = Autolink {
            name: "jira".into(),
            disabled: true,
            scope: vec!["team/town-square".into(), "other".into()],
            word_match: true,
            disable_non_word_prefix: true,
            disable_non_word_suffix: true,
            process_bot_posts: true,
            ..link("MM-\\d+", "[$0](x)")
        };
        assert_eq!(
            full.to_markdown(3),
            "- 3: ~~jira~~ **Disabled**\n  - Pattern: `MM-\\d+`\n  - Template: `[$0](x)`\n  \
             - DisableNonWordPrefix: `true`\n  - DisableNonWordSuffix: `true`\n  \
             - ProcessBotPosts: `true`\n  - Scope: `[team/town-square other]`\n  - WordMatch: `true`\n"
        );
        assert_eq!(link("p", "t").to_markdown(0), "- \n  - Pattern: `p`\n  - Template: `t`\n");
    }

    #[test]
    fn json_as_go_reads_and_writes_it() {
        // Read through the SDK, as the plugin reads its settings and bodies.
        let go =
            |text: &str| serde_json::from_str(text).and_then(mattermost_plugin::json::from_value_go::<Vec<Autolink>>);
        let read = go(r#"[{"Name":"n","pattern":"p","TEMPLATE":"t","Scope":null,"WordMatch":null,
                "Unknown":[1],"ProcessBotPosts":true}, null]"#)
        .unwrap();
        assert_eq!(
            read,
            [Autolink { name: "n".into(), process_bot_posts: true, ..link("p", "t") }, Autolink::default()]
        );
        assert!(go(r#"[{"Disabled":"yes"}]"#).is_err());

        let written = serde_json::to_value(Autolink { scope: vec!["a".into()], ..link("p", "t") }).unwrap();
        assert_eq!(
            written,
            serde_json::json!({
                "Name": "", "Disabled": false, "Pattern": "p", "Template": "t", "Scope": ["a"],
                "WordMatch": false, "DisableNonWordPrefix": false, "DisableNonWordSuffix": false,
                "ProcessBotPosts": false
            })
        );
    }
}

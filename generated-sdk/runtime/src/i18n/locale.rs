//! Language tags, and which loaded language serves a user's locale.
//!
//! Mattermost's locales are BCP 47 tags: `de`, `en-AU`, `pt-BR`, `zh-CN`,
//! `zh-TW` (the webapp's `i18n.jsx` lists the values a user can choose); file
//! names use the same tags, some with `_` (`zh_CN`), which go-i18n's tag
//! parser (golang.org/x/text's `language.Parse`) reads as `-`.
//!
//! go-i18n picks the language with x/text's `language.Matcher`. This is the
//! part of it that matters for these tags: the same language serves a
//! locale, the same region first, then the language without a region
//! (`pt-BR` → `pt`), then another region of it (`pt` → `pt-BR`, `en-AU` →
//! `en-US`); Chinese is matched by script too, as the matcher does, so
//! `zh-TW` (Traditional) is not served by `zh-CN` (Simplified).

use std::fmt;

/// A language tag: its language, script and region subtags (variants and
/// extensions are read and dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag {
    language: String,
    script: Option<String>,
    region: Option<String>,
}

impl Tag {
    /// The tag `text` spells (`pt-BR`, `zh_Hant_TW`, `DE`), in canonical
    /// case; `None` when it is not a tag.
    pub(crate) fn parse(text: &str) -> Option<Tag> {
        let mut subtags = text.trim().split(['-', '_']);
        let language = subtags.next()?;
        if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let mut tag = Tag { language: language.to_ascii_lowercase(), script: None, region: None };
        for subtag in subtags {
            if subtag.is_empty() || subtag.len() > 8 || !subtag.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return None;
            }
            let alphabetic = subtag.bytes().all(|b| b.is_ascii_alphabetic());
            if tag.script.is_none() && tag.region.is_none() && subtag.len() == 4 && alphabetic {
                let mut script = subtag.to_ascii_lowercase();
                script[..1].make_ascii_uppercase();
                tag.script = Some(script);
            } else if tag.region.is_none()
                && ((subtag.len() == 2 && alphabetic)
                    || (subtag.len() == 3 && subtag.bytes().all(|b| b.is_ascii_digit())))
            {
                tag.region = Some(subtag.to_ascii_uppercase());
            }
            // Variants and extensions: read, not kept.
        }
        Some(tag)
    }

    /// The script the tag is written in when it matters for matching: its
    /// own, or Chinese's by region (Traditional in Taiwan, Hong Kong and
    /// Macao, Simplified elsewhere).
    fn script(&self) -> Option<&str> {
        match (&self.script, self.language.as_str(), self.region.as_deref()) {
            (Some(script), _, _) => Some(script),
            (None, "zh", Some("TW" | "HK" | "MO")) => Some("Hant"),
            (None, "zh", _) => Some("Hans"),
            _ => None,
        }
    }

    /// How well this (loaded) tag serves `wanted`: 3 the same tag, 2 the
    /// language without a region, 1 another region; `None` for another
    /// language or script.
    pub(crate) fn serves(&self, wanted: &Tag) -> Option<u8> {
        if self.language != wanted.language {
            return None;
        }
        if let (Some(mine), Some(theirs)) = (self.script(), wanted.script())
            && mine != theirs
        {
            return None;
        }
        Some(match (&self.region, &wanted.region) {
            (mine, theirs) if mine == theirs => 3,
            (None, Some(_)) => 2,
            _ => 1,
        })
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.language)?;
        for subtag in [&self.script, &self.region].into_iter().flatten() {
            write!(f, "-{subtag}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(text: &str) -> Tag {
        Tag::parse(text).unwrap_or_else(|| panic!("{text:?} is a tag"))
    }

    #[test]
    fn tags_are_read_in_any_case_with_either_separator() {
        assert_eq!(tag("pt-BR").to_string(), "pt-BR");
        assert_eq!(tag("pt_br").to_string(), "pt-BR");
        assert_eq!(tag(" ZH-hant-tw ").to_string(), "zh-Hant-TW");
        assert_eq!(tag("es-419").to_string(), "es-419");
        assert_eq!(tag("de-DE-1996").to_string(), "de-DE");
        for not_a_tag in ["", "e", "english", "de-", "1x", "de-DE!", "active"] {
            assert_eq!(Tag::parse(not_a_tag), None, "{not_a_tag:?}");
        }
    }

    #[test]
    fn the_same_language_serves_best_with_the_same_region_then_without_one() {
        assert_eq!(tag("de").serves(&tag("de")), Some(3));
        assert_eq!(tag("pt-BR").serves(&tag("pt-br")), Some(3));
        assert_eq!(tag("pt").serves(&tag("pt-BR")), Some(2));
        assert_eq!(tag("pt-PT").serves(&tag("pt-BR")), Some(1));
        assert_eq!(tag("pt-BR").serves(&tag("pt")), Some(1));
        assert_eq!(tag("en").serves(&tag("en-AU")), Some(2));
        assert_eq!(tag("de").serves(&tag("nl")), None);
    }

    #[test]
    fn chinese_is_matched_by_script() {
        assert_eq!(tag("zh-CN").serves(&tag("zh-TW")), None);
        assert_eq!(tag("zh-TW").serves(&tag("zh-HK")), Some(1));
        assert_eq!(tag("zh-Hant").serves(&tag("zh-TW")), Some(2));
        assert_eq!(tag("zh-CN").serves(&tag("zh")), Some(1));
        assert_eq!(tag("zh").serves(&tag("zh-CN")), Some(2));
        assert_eq!(tag("zh").serves(&tag("zh-TW")), None);
    }
}

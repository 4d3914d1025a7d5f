//! CLDR cardinal plural categories of whole numbers.
//!
//! The rules are CLDR's (`supplemental/plurals.xml`, version 48, the copy
//! go-i18n generates its rules from), written out for whole numbers: the
//! operands `v`, `w`, `f`, `t` and `e` are then 0 and `i` is `n`, so every
//! rule condition on them is decided. Decimal counts ("1.5 hours") are not
//! supported: a count is an integer.
//!
//! A language is looked up by its language subtag (`pt-BR` → `pt`), except
//! `pt-PT`, which CLDR gives a rule of its own. A language CLDR has no rule
//! for here uses CLDR's root rule: `other` for every number.

use std::fmt;

/// A CLDR plural category: which form of a message a count takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluralForm {
    /// `zero`: Arabic 0, for example.
    Zero,
    /// `one`: English 1; French 0 and 1; Russian 1, 21, 31…
    One,
    /// `two`: Hebrew 2, Slovenian 2, 102…
    Two,
    /// `few`: Polish and Russian 2–4, 22–24…; Czech 2–4.
    Few,
    /// `many`: Polish and Russian 0, 5–20, 25–30…; French, Spanish and
    /// Italian whole millions.
    Many,
    /// `other`: everything else, and the form every message has.
    Other,
}

impl PluralForm {
    /// Every category, in CLDR's order.
    pub const ALL: [PluralForm; 6] =
        [PluralForm::Zero, PluralForm::One, PluralForm::Two, PluralForm::Few, PluralForm::Many, PluralForm::Other];

    /// The category's name in message files: `zero`, `one`, `two`, `few`,
    /// `many`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluralForm::Zero => "zero",
            PluralForm::One => "one",
            PluralForm::Two => "two",
            PluralForm::Few => "few",
            PluralForm::Many => "many",
            PluralForm::Other => "other",
        }
    }

    /// The category a message file's key names, in any case (`"One"` →
    /// `One`, as go-i18n reads keys lowercased).
    pub fn from_key(key: &str) -> Option<PluralForm> {
        PluralForm::ALL.into_iter().find(|form| key.eq_ignore_ascii_case(form.as_str()))
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for PluralForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The plural category of the whole number `n` in `locale` (a language
/// tag: `ru`, `pt-BR`, `zh_CN`); `n` is the count's absolute value, as
/// CLDR's operand `n` is.
///
/// ```
/// use mmplugin_runtime::i18n::{PluralForm, plural_form};
/// assert_eq!(plural_form("en", 1), PluralForm::One);
/// assert_eq!(plural_form("fr", 0), PluralForm::One);
/// assert_eq!(plural_form("ru", 22), PluralForm::Few);
/// assert_eq!(plural_form("ja", 1), PluralForm::Other);
/// ```
pub fn plural_form(locale: &str, n: u64) -> PluralForm {
    let mut subtags = locale.trim().split(['-', '_']);
    let language = subtags.next().unwrap_or_default().to_ascii_lowercase();
    let portugal = language == "pt" && subtags.any(|s| s.eq_ignore_ascii_case("PT"));
    let rule = if portugal { Rule::OneMillionsCaItPtPt } else { rule_of(&language) };
    rule.form(n)
}

/// CLDR's cardinal rules, one per group of languages that share it. The
/// comment on each is CLDR's condition; `n` is the whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Root: `other` only.
    Other,
    /// one: `i = 0 or n = 1`.
    OneZeroOrOne,
    /// one: `i = 1 and v = 0` (or `n = 1`, the same for whole numbers).
    OneIsOne,
    /// Sinhala, one: `n = 0,1 or i = 0 and f = 1`.
    OneZeroOrOneSi,
    /// Danish, one: `n = 1 or t != 0 and i = 0,1`.
    OneIsOneDa,
    /// Macedonian, one: `v = 0 and i % 10 = 1 and i % 100 != 11 or …`.
    OneEndsInOne,
    /// Hebrew: one `i = 1 and v = 0 …`; two `i = 2 and v = 0`.
    OneTwo,
    /// Romanian: one `i = 1 and v = 0`; few `v != 0 or n = 0 or n != 1 and
    /// n % 100 = 1..19`.
    OneFewRo,
    /// Bosnian, Croatian, Serbian: one `v = 0 and i % 10 = 1 and i % 100 !=
    /// 11 …`; few `v = 0 and i % 10 = 2..4 and i % 100 != 12..14 …`.
    OneFewHr,
    /// French: one `i = 0,1`; many `e = 0 and i != 0 and i % 1000000 = 0
    /// and v = 0 or e != 0..5`.
    OneZeroOrOneMillionsFr,
    /// Portuguese (but Portugal's): one `i = 0..1`; many as French.
    OneZeroOrOneMillionsPt,
    /// Catalan, Italian, Portugal's Portuguese…: one `i = 1 and v = 0`;
    /// many as French.
    OneMillionsCaItPtPt,
    /// Spanish: one `n = 1`; many as French.
    OneMillionsEs,
    /// Slovenian: one `v = 0 and i % 100 = 1`; two `v = 0 and i % 100 = 2`;
    /// few `v = 0 and i % 100 = 3..4 or v != 0`.
    OneTwoFewSl,
    /// Czech, Slovak: one `i = 1 and v = 0`; few `i = 2..4 and v = 0`;
    /// many `v != 0`.
    OneFewCs,
    /// Polish: one `i = 1 and v = 0`; few `v = 0 and i % 10 = 2..4 and i %
    /// 100 != 12..14`; many `v = 0 and i != 1 and i % 10 = 0..1 or v = 0
    /// and i % 10 = 5..9 or v = 0 and i % 100 = 12..14`.
    OneFewManyPl,
    /// Belarusian: one `n % 10 = 1 and n % 100 != 11`; few `n % 10 = 2..4
    /// and n % 100 != 12..14`; many `n % 10 = 0 or n % 10 = 5..9 or n % 100
    /// = 11..14`.
    OneFewManyBe,
    /// Lithuanian: one `n % 10 = 1 and n % 100 != 11..19`; few `n % 10 =
    /// 2..9 and n % 100 != 11..19`; many `f != 0`.
    OneFewLt,
    /// Russian, Ukrainian: one `v = 0 and i % 10 = 1 and i % 100 != 11`;
    /// few `v = 0 and i % 10 = 2..4 and i % 100 != 12..14`; many `v = 0 and
    /// i % 10 = 0 or v = 0 and i % 10 = 5..9 or v = 0 and i % 100 = 11..14`.
    OneFewManyRu,
    /// Breton: one `n % 10 = 1 and n % 100 != 11,71,91`; two `n % 10 = 2
    /// and n % 100 != 12,72,92`; few `n % 10 = 3..4,9 and n % 100 !=
    /// 10..19,70..79,90..99`; many `n != 0 and n % 1000000 = 0`.
    Breton,
    /// Arabic: zero `n = 0`; one `n = 1`; two `n = 2`; few `n % 100 =
    /// 3..10`; many `n % 100 = 11..99`.
    Arabic,
}

/// The languages of each rule, as CLDR's `pluralRules locales` lists them
/// (`pt_PT` apart: [`plural_form`] looks at the region for it).
const LANGUAGES: &[(Rule, &[&str])] = &[
    (
        Rule::Other,
        &[
            "bm", "bo", "dz", "hnj", "id", "ig", "ii", "in", "ja", "jbo", "jv", "jw", "kde", "kea", "km", "ko", "lkt",
            "lo", "ms", "my", "nqo", "osa", "root", "sah", "ses", "sg", "su", "th", "to", "tpi", "vi", "wo", "yo",
            "yue", "zh",
        ],
    ),
    (Rule::OneZeroOrOne, &["am", "as", "bn", "doi", "fa", "gu", "hi", "kn", "kok", "pcm", "zu"]),
    (
        Rule::OneIsOne,
        &[
            // i = 1 and v = 0
            "ast", "de", "en", "et", "fi", "fy", "gl", "ia", "ie", "io", "ji", "lij", "nl", "sc", "sv", "sw", "ur",
            "yi", // n = 1
            "af", "an", "asa", "az", "bal", "bem", "bez", "bg", "brx", "ce", "cgg", "chr", "ckb", "dv", "ee", "el",
            "eo", "eu", "fo", "fur", "gsw", "ha", "haw", "hu", "jgo", "jmc", "ka", "kaj", "kcg", "kk", "kkj", "kl",
            "ks", "ksb", "ku", "ky", "lb", "lg", "mas", "mgo", "ml", "mn", "mr", "nah", "nb", "nd", "ne", "nn", "nnh",
            "no", "nr", "ny", "nyn", "om", "or", "os", "pap", "ps", "rm", "rof", "rwk", "saq", "sd", "sdh", "seh",
            "sn", "so", "sq", "ss", "ssy", "st", "syr", "ta", "te", "teo", "tig", "tk", "tn", "tr", "ts", "ug", "uz",
            "ve", "vo", "vun", "wae", "xh", "xog",
        ],
    ),
    (Rule::OneZeroOrOneSi, &["si"]),
    (Rule::OneIsOneDa, &["da"]),
    (Rule::OneEndsInOne, &["mk"]),
    (Rule::OneTwo, &["he", "iw"]),
    (Rule::OneFewRo, &["mo", "ro"]),
    (Rule::OneFewHr, &["bs", "hr", "sh", "sr"]),
    (Rule::OneZeroOrOneMillionsFr, &["fr"]),
    (Rule::OneZeroOrOneMillionsPt, &["pt"]),
    (Rule::OneMillionsCaItPtPt, &["ca", "it", "lld", "scn", "vec"]),
    (Rule::OneMillionsEs, &["es"]),
    (Rule::OneTwoFewSl, &["sl"]),
    (Rule::OneFewCs, &["cs", "sk"]),
    (Rule::OneFewManyPl, &["pl"]),
    (Rule::OneFewManyBe, &["be"]),
    (Rule::OneFewLt, &["lt"]),
    (Rule::OneFewManyRu, &["ru", "uk"]),
    (Rule::Breton, &["br"]),
    (Rule::Arabic, &["ar", "ars"]),
];

fn rule_of(language: &str) -> Rule {
    LANGUAGES.iter().find(|(_, languages)| languages.contains(&language)).map_or(Rule::Other, |(rule, _)| *rule)
}

impl Rule {
    fn form(self, n: u64) -> PluralForm {
        use PluralForm::{Few, Many, One, Other, Two, Zero};
        let (n10, n100) = (n % 10, n % 100);
        let millions = n != 0 && n.is_multiple_of(1_000_000);
        match self {
            Rule::Other => Other,
            Rule::OneZeroOrOne | Rule::OneZeroOrOneSi => {
                if n <= 1 {
                    One
                } else {
                    Other
                }
            }
            Rule::OneIsOne | Rule::OneIsOneDa => {
                if n == 1 {
                    One
                } else {
                    Other
                }
            }
            Rule::OneEndsInOne => {
                if n10 == 1 && n100 != 11 {
                    One
                } else {
                    Other
                }
            }
            Rule::OneTwo => match n {
                1 => One,
                2 => Two,
                _ => Other,
            },
            Rule::OneFewRo => {
                if n == 1 {
                    One
                } else if n == 0 || (1..=19).contains(&n100) {
                    Few
                } else {
                    Other
                }
            }
            Rule::OneFewHr => {
                if n10 == 1 && n100 != 11 {
                    One
                } else if (2..=4).contains(&n10) && !(12..=14).contains(&n100) {
                    Few
                } else {
                    Other
                }
            }
            Rule::OneZeroOrOneMillionsFr | Rule::OneZeroOrOneMillionsPt => {
                if n <= 1 {
                    One
                } else if millions {
                    Many
                } else {
                    Other
                }
            }
            Rule::OneMillionsCaItPtPt | Rule::OneMillionsEs => {
                if n == 1 {
                    One
                } else if millions {
                    Many
                } else {
                    Other
                }
            }
            Rule::OneTwoFewSl => match n100 {
                1 => One,
                2 => Two,
                3 | 4 => Few,
                _ => Other,
            },
            Rule::OneFewCs => match n {
                1 => One,
                2..=4 => Few,
                _ => Other,
            },
            Rule::OneFewManyPl => {
                if n == 1 {
                    One
                } else if (2..=4).contains(&n10) && !(12..=14).contains(&n100) {
                    Few
                } else {
                    // Every other whole number: i % 10 = 0..1 (i != 1),
                    // 5..9, or i % 100 = 12..14.
                    Many
                }
            }
            Rule::OneFewManyBe | Rule::OneFewManyRu => {
                if n10 == 1 && n100 != 11 {
                    One
                } else if (2..=4).contains(&n10) && !(12..=14).contains(&n100) {
                    Few
                } else {
                    // n % 10 = 0 or 5..9, or n % 100 = 11..14: the rest.
                    Many
                }
            }
            Rule::OneFewLt => {
                if (11..=19).contains(&n100) {
                    Other
                } else if n10 == 1 {
                    One
                } else if n10 >= 2 {
                    Few
                } else {
                    Other
                }
            }
            Rule::Breton => {
                if n10 == 1 && ![11, 71, 91].contains(&n100) {
                    One
                } else if n10 == 2 && ![12, 72, 92].contains(&n100) {
                    Two
                } else if [3, 4, 9].contains(&n10)
                    && !((10..=19).contains(&n100) || (70..=79).contains(&n100) || (90..=99).contains(&n100))
                {
                    Few
                } else if millions {
                    Many
                } else {
                    Other
                }
            }
            Rule::Arabic => match (n, n100) {
                (0, _) => Zero,
                (1, _) => One,
                (2, _) => Two,
                (_, 3..=10) => Few,
                (_, 11..=99) => Many,
                _ => Other,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PluralForm::{Few, Many, One, Other, Two, Zero};
    use super::*;

    /// The forms of 0..=`up_to`, in order.
    fn forms(locale: &str, up_to: u64) -> Vec<PluralForm> {
        (0..=up_to).map(|n| plural_form(locale, n)).collect()
    }

    /// The numbers in 0..=200 that take `form`.
    fn taking(locale: &str, form: PluralForm) -> Vec<u64> {
        (0..=200).filter(|n| plural_form(locale, *n) == form).collect()
    }

    #[test]
    fn english_and_german_one_is_exactly_one() {
        for locale in ["en", "en-AU", "de", "nl", "sv", "hu", "tr", "bg", "el", "nb-NO"] {
            assert_eq!(forms(locale, 3), [Other, One, Other, Other], "{locale}");
            assert_eq!(plural_form(locale, 101), Other, "{locale}");
        }
    }

    #[test]
    fn french_and_brazilian_portuguese_take_zero_as_one_and_millions_as_many() {
        for locale in ["fr", "pt", "pt-BR", "pt_BR"] {
            assert_eq!(forms(locale, 2), [One, One, Other], "{locale}");
            assert_eq!(plural_form(locale, 1_000_000), Many, "{locale}");
            assert_eq!(plural_form(locale, 3_000_000), Many, "{locale}");
            assert_eq!(plural_form(locale, 1_000_001), Other, "{locale}");
        }
        // Portugal's Portuguese, Spanish and Italian: 0 is other.
        for locale in ["pt-PT", "es", "it", "ca"] {
            assert_eq!(forms(locale, 2), [Other, One, Other], "{locale}");
            assert_eq!(plural_form(locale, 2_000_000), Many, "{locale}");
        }
        // Persian, Hindi: 0 and 1.
        assert_eq!(forms("fa", 2), [One, One, Other]);
    }

    #[test]
    fn russian_and_ukrainian_one_few_many() {
        for locale in ["ru", "uk", "be"] {
            assert_eq!(
                taking(locale, One),
                [1, 21, 31, 41, 51, 61, 71, 81, 91, 101, 121, 131, 141, 151, 161, 171, 181, 191]
            );
            assert_eq!(&taking(locale, Few)[..9], [2, 3, 4, 22, 23, 24, 32, 33, 34], "{locale}");
            assert!(!taking(locale, Few).contains(&112), "{locale}");
            assert_eq!(&taking(locale, Many)[..12], [0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], "{locale}");
            assert!(taking(locale, Many).contains(&111) && taking(locale, Many).contains(&112));
            assert!(taking(locale, Other).is_empty(), "{locale}: other is for fractions only");
        }
    }

    #[test]
    fn polish_one_is_only_one() {
        assert_eq!(taking("pl", One), [1]);
        assert_eq!(&taking("pl", Few)[..6], [2, 3, 4, 22, 23, 24]);
        assert_eq!(&taking("pl", Many)[..8], [0, 5, 6, 7, 8, 9, 10, 11]);
        assert!(taking("pl", Many).contains(&21) && taking("pl", Many).contains(&112));
        assert!(taking("pl", Other).is_empty());
    }

    #[test]
    fn czech_romanian_croatian_and_lithuanian() {
        assert_eq!(forms("cs", 5), [Other, One, Few, Few, Few, Other]);
        assert_eq!(plural_form("cs", 22), Other);
        assert_eq!(forms("ro", 2), [Few, One, Few]);
        assert_eq!((plural_form("ro", 19), plural_form("ro", 20), plural_form("ro", 101)), (Few, Other, Few));
        assert_eq!((plural_form("hr", 21), plural_form("sr", 22), plural_form("hr", 25)), (One, Few, Other));
        assert_eq!((plural_form("lt", 1), plural_form("lt", 11), plural_form("lt", 29)), (One, Other, Few));
    }

    #[test]
    fn east_asian_languages_and_vietnamese_have_other_only() {
        for locale in ["ja", "ko", "zh", "zh-CN", "zh-TW", "vi", "th", "id"] {
            assert!(forms(locale, 200).iter().all(|f| *f == Other), "{locale}");
        }
    }

    #[test]
    fn arabic_slovenian_hebrew_and_breton_use_every_form_they_have() {
        assert_eq!(forms("ar", 3), [Zero, One, Two, Few]);
        assert_eq!((plural_form("ar", 11), plural_form("ar", 100), plural_form("ar", 102)), (Many, Other, Other));
        assert_eq!((plural_form("sl", 101), plural_form("sl", 102), plural_form("sl", 103)), (One, Two, Few));
        assert_eq!(forms("he", 3), [Other, One, Two, Other]);
        assert_eq!((plural_form("br", 21), plural_form("br", 72), plural_form("br", 9)), (One, Other, Few));
        assert_eq!(plural_form("br", 1_000_000), Many);
    }

    #[test]
    fn unknown_languages_use_the_root_rule_and_tags_are_read_in_any_case() {
        assert_eq!(forms("xx", 2), [Other, Other, Other]);
        assert_eq!(forms("", 1), [Other, Other]);
        assert_eq!(plural_form("RU", 2), Few);
        assert_eq!(plural_form(" de-DE ", 1), One);
        assert_eq!(PluralForm::from_key("One"), Some(One));
        assert_eq!(PluralForm::from_key("several"), None);
    }
}

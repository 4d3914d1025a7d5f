//! The Go plugin's tests of links, one module per Go file:
//! `server/autolink/autolink_test.go`, its `lib_*_test.go` neighbours and
//! the `TestSpecialCases` table of `server/autolinkplugin/plugin_test.go`.
//!
//! Tables stay tables: each test runs every row, names every failing row by
//! its Go name, and checks that it ran as many rows as the Go table has.
//! Tests that post a message go through the seam in `common`.

mod common;

use autolink::goregex::GoRegex;
use autolink::link::Autolink;

/// A link with a pattern and a template, everything else at its default.
fn link(pattern: &str, template: &str) -> Autolink {
    Autolink { pattern: pattern.into(), template: template.into(), ..Autolink::default() }
}

/// The link without its word-boundary prefix and suffix.
fn no_breaks(link: Autolink) -> Autolink {
    Autolink { disable_non_word_prefix: true, disable_non_word_suffix: true, ..link }
}

/// Fails unless every row of `go_test` ran (`go_rows` of them) and passed.
fn report(go_test: &str, go_rows: usize, ran: usize, failures: &[String]) {
    assert!(failures.is_empty(), "{go_test}: {} of {ran} cases failed:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(ran, go_rows, "{go_test}: the Go table has {go_rows} cases");
}

/// A row of Go's `linkTest` tables: a link, a posted message and the
/// message the plugin should store.
struct LinkTest {
    name: &'static str,
    link: Autolink,
    message: &'static str,
    expected: &'static str,
}

/// Go's `testLinks`: posts each message with its link alone.
async fn test_links(go_test: &str, go_rows: usize, tests: Vec<LinkTest>) {
    let ran = tests.len();
    let mut failures = Vec::new();
    for test in tests {
        let got = common::rewrite(vec![test.link], test.message).await;
        if got != test.expected {
            failures.push(format!("{}:\n  expected {:?}\n       got {:?}", test.name, test.expected, got));
        }
    }
    report(go_test, go_rows, ran, &failures);
}

/// Go's `ReplaceAllString` of a pattern on a text; the error when the
/// pattern does not compile.
fn go_replace_all(pattern: &str, text: &str, template: &str) -> Result<String, String> {
    let re = GoRegex::new(pattern).map_err(|e| e.to_string())?;
    Ok(re.replace_all(text, template))
}

/// `server/autolink/autolink_test.go`
mod autolink_test {
    use std::time::Duration;

    use super::*;

    fn common_link_tests() -> Vec<LinkTest> {
        vec![
            LinkTest {
                name: "Simple pattern",
                link: link("(Mattermost)", "[Mattermost](https://mattermost.com)"),
                message: "Welcome to Mattermost!",
                expected: "Welcome to [Mattermost](https://mattermost.com)!",
            },
            LinkTest {
                name: "Pattern with variable name accessed using $variable",
                link: link("(?P<key>Mattermost)", "[$key](https://mattermost.com)"),
                message: "Welcome to Mattermost!",
                expected: "Welcome to [Mattermost](https://mattermost.com)!",
            },
            LinkTest {
                name: "Multiple replacments",
                link: link("(?P<key>Mattermost)", "[$key](https://mattermost.com)"),
                message: "Welcome to Mattermost and have fun with Mattermost!",
                expected: "Welcome to [Mattermost](https://mattermost.com) and have fun with [Mattermost](https://mattermost.com)!",
            },
            LinkTest {
                name: "Pattern with variable name accessed using ${variable}",
                link: link("(?P<key>Mattermost)", "[${key}](https://mattermost.com)"),
                message: "Welcome to Mattermost!",
                expected: "Welcome to [Mattermost](https://mattermost.com)!",
            },
        ]
    }

    /// `TestCommonLinks`
    #[tokio::test]
    async fn common_links() {
        test_links("TestCommonLinks", 4, common_link_tests()).await;
    }

    /// Which of the link variants of the word-boundary tables a row uses.
    #[derive(Clone, Copy)]
    enum Variant {
        Default,
        NoPrefix,
        NoSuffix,
        NoPrefixNoSuffix,
    }
    use Variant::*;

    /// A row of the word-boundary tables: name, separator name, link,
    /// prefix, suffix, whether the message stays as it is.
    type BoundaryRow = (&'static str, &'static str, Variant, &'static str, &'static str, bool);

    /// The loop body shared by `TestLegacyWordBoundaries` and
    /// `TestWordMatch`: `word1<prefix>KEY-12345<suffix>word2`.
    async fn word_boundaries(go_test: &str, go_rows: usize, word_match: bool, rows: &[BoundaryRow]) {
        const PATTERN: &str = "(KEY)(-)(?P<ID>\\d+)";
        const TEMPLATE: &str = "[KEY-$ID](someurl/KEY-$ID)";
        const REF: &str = "KEY-12345";
        const MARKDOWN: &str = "[KEY-12345](someurl/KEY-12345)";

        let default_link = Autolink { word_match, ..link(PATTERN, TEMPLATE) };
        let mut failures = Vec::new();
        for &(name, sep, variant, prefix, suffix, expect_fail) in rows {
            let orig = format!("word1{prefix}{REF}{suffix}word2");
            let expected = format!("word1{prefix}{MARKDOWN}{suffix}word2");
            let (pref, suff) = if sep.is_empty() {
                (prefix.to_owned(), suffix.to_owned())
            } else {
                (format!("_{sep}_"), format!("_{sep}_"))
            };
            let mut case = format!("word1{pref}{REF}{suff}word2");
            if !name.is_empty() {
                case = format!("{name} {case}");
            }

            let link = Autolink {
                disable_non_word_prefix: matches!(variant, NoPrefix | NoPrefixNoSuffix),
                disable_non_word_suffix: matches!(variant, NoSuffix | NoPrefixNoSuffix),
                ..default_link.clone()
            };
            let got = common::rewrite(vec![link], &orig).await;
            let want = if expect_fail { &orig } else { &expected };
            if &got != want {
                failures.push(format!("{case}:\n  expected {want:?}\n       got {got:?}"));
            }
        }
        report(go_test, go_rows, rows.len(), &failures);
    }

    /// `TestLegacyWordBoundaries`
    #[tokio::test]
    async fn legacy_word_boundaries() {
        #[rustfmt::skip]
        let rows: &[BoundaryRow] = &[
            ("space both sides both breaks required", "", Default, " ", " ", false),
            ("space both sides left break not required", "", NoPrefix, " ", " ", false),
            ("space both sides right break not required", "", NoSuffix, " ", " ", false),
            ("space both sides neither break required", "", NoPrefixNoSuffix, " ", " ", false),
            ("space left side both breaks required", "", Default, " ", "", true),
            ("space left side left break not required", "", NoPrefix, " ", "", true),
            ("space left side right break not required", "", NoSuffix, " ", "", false),
            ("space left side neither break required", "", NoPrefixNoSuffix, " ", "", false),
            ("space right side both breaks required", "", Default, "", " ", true),
            ("space right side left break not required", "", NoPrefix, "", " ", false),
            ("space right side right break not required", "", NoSuffix, "", " ", true),
            ("space right side neither break required", "", NoPrefixNoSuffix, " ", "", false),
            ("none both breaks required", "", Default, "", "", true),
            ("none left break not required", "", NoPrefix, "", "", true),
            ("none right break not required", "", NoSuffix, "", "", true),
            ("none neither break required", "", NoPrefixNoSuffix, "", "", false),
            ("2 parens", "paren", Default, "(", ")", true),
            ("2 parens no suffix", "paren", NoSuffix, "(", ")", true),
            ("left paren", "paren", NoSuffix, "(", "", true),
            ("2 brackets", "sbracket", Default, "[", "]", true),
            ("bracket no prefix", "lsbracket", NoPrefix, "[", "", true),
            ("both breaks", "lsbracket", Default, "[", "", true),
            ("bracket no suffix", "lsbracket", NoSuffix, "[", "", true),
            ("bracket", "rsbracket", NoPrefix, "", "]", true),
            ("2 parens no prefix", "paren", NoPrefix, "(", ")", false),
            ("right paren", "paren", NoPrefix, "", ")", false),
            ("bracket neither prefix suffix", "lsbracket", NoPrefixNoSuffix, "[", "", false),
            ("random separators", "rand", Default, "%() ", "?! $%^&", false),
        ];
        word_boundaries("TestLegacyWordBoundaries", 28, false, rows).await;
    }

    /// `TestWordMatch`
    #[tokio::test]
    async fn word_match() {
        #[rustfmt::skip]
        let rows: &[BoundaryRow] = &[
            ("space both sides both breaks required", "", Default, " ", " ", false),
            ("space both sides left break not required", "", NoPrefix, " ", " ", false),
            ("space both sides right break not required", "", NoSuffix, " ", " ", false),
            ("space both sides neither break required", "", NoPrefixNoSuffix, " ", " ", false),
            ("space left side both breaks required", "", Default, " ", "", true),
            ("space left side left break not required", "", NoPrefix, " ", "", true),
            ("space left side right break not required", "", NoSuffix, " ", "", false),
            ("space left side neither break required", "", NoPrefixNoSuffix, " ", "", false),
            ("space right side both breaks required", "", Default, "", " ", true),
            ("space right side left break not required", "", NoPrefix, "", " ", false),
            ("space right side right break not required", "", NoSuffix, "", " ", true),
            ("space right side neither break required", "", NoPrefixNoSuffix, " ", "", false),
            ("none both breaks required", "", Default, "", "", true),
            ("none left break not required", "", NoPrefix, "", "", true),
            ("none right break not required", "", NoSuffix, "", "", true),
            ("none neither break required", "", NoPrefixNoSuffix, "", "", false),
            ("2 parens", "paren", Default, "(", ")", false),
            ("left paren", "paren", NoSuffix, "(", "", false),
            ("right paren", "paren", NoPrefix, "", ")", false),
            ("2 brackets", "sbracket", Default, "[", "]", false),
            ("both breaks", "lsbracket", Default, "[", "", true),
            ("bracket no prefix", "lsbracket", NoPrefix, "[", "", true),
            ("bracket no suffix", "lsbracket", NoSuffix, "[", "", false),
            ("bracket neither prefix suffix", "lsbracket", NoPrefixNoSuffix, "[", "", false),
            ("bracket", "rsbracket", NoPrefix, "", "]", false),
            ("random separators", "rand", Default, "% (", "-- $%^&", false),
        ];
        word_boundaries("TestWordMatch", 26, true, rows).await;
    }

    /// `TestEquals`: equality compares the configured fields (Go's
    /// `Equals`).
    #[test]
    fn equals() {
        let test = || Autolink { name: "test".into(), ..Autolink::default() };
        let rows = [(test(), Autolink::default(), false), (test(), test(), true)];
        let mut failures = Vec::new();
        for (l1, l2, expect_equal) in &rows {
            let case = format!("{}-{}", l1.name, l2.name);
            if (l1 == l2) != *expect_equal {
                failures.push(format!("{case}: expected equal = {expect_equal}"));
            }
        }
        report("TestEquals", 2, rows.len(), &failures);
    }

    /// `TestWildcard`: a pattern matching everything (empty matches
    /// included) replaces the whole message, and the post is answered: Go
    /// gives it 50 ms to catch a loop that never ends. Here the guard is
    /// 10 s, so a slow machine does not fail it; a loop fails it all the
    /// same (timing the rewrite is the benchmarks' job, not a test's).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wildcard() {
        let rows = [(".*", link(".*", "My template")), (".*.", link(".*.", "My template"))];
        let ran = rows.len();
        let mut failures = Vec::new();
        for (name, link) in rows {
            let plugin = common::start(vec![link], common::TEST_CHANNEL).await;
            match tokio::time::timeout(Duration::from_secs(10), plugin.post("Your message")).await {
                Ok(message) if message == "My template" => {}
                Ok(message) => {
                    failures.push(format!("{name}:\n  expected {:?}\n       got {message:?}", "My template"))
                }
                Err(_) => failures.push(format!("{name}: wildcard regex timed out")),
            }
        }
        report("TestWildcard", 2, ran, &failures);
    }
}

/// `server/autolink/lib_credit_card_test.go`
mod lib_credit_card_test {
    use super::*;

    const RE_VISA: &str =
        r"(?P<VISA>(?P<part1>4\d{3})[ -]?(?P<part2>\d{4})[ -]?(?P<part3>\d{4})[ -]?(?P<LastFour>[0-9]{4}))";
    const RE_MASTERCARD: &str =
        r"(?P<MasterCard>(?P<part1>5[1-5]\d{2})[ -]?(?P<part2>\d{4})[ -]?(?P<part3>\d{4})[ -]?(?P<LastFour>[0-9]{4}))";
    const RE_SWITCHSOLO: &str =
        r"(?P<SwitchSolo>(?P<part1>67\d{2})[ -]?(?P<part2>\d{4})[ -]?(?P<part3>\d{4})[ -]?(?P<LastFour>[0-9]{4}))";
    const RE_DISCOVER: &str =
        r"(?P<Discover>(?P<part1>6011)[ -]?(?P<part2>\d{4})[ -]?(?P<part3>\d{4})[ -]?(?P<LastFour>[0-9]{4}))";
    const RE_AMEX: &str =
        r"(?P<AMEX>(?P<part1>3[47]\d{2})[ -]?(?P<part2>\d{6})[ -]?(?P<part3>\d)(?P<LastFour>[0-9]{4}))";

    const REPLACE_VISA: &str = "VISA XXXX-XXXX-XXXX-$LastFour";
    const REPLACE_MASTERCARD: &str = "MasterCard XXXX-XXXX-XXXX-$LastFour";
    const REPLACE_SWITCHSOLO: &str = "Switch/Solo XXXX-XXXX-XXXX-$LastFour";
    const REPLACE_DISCOVER: &str = "Discover XXXX-XXXX-XXXX-$LastFour";
    const REPLACE_AMEX: &str = "American Express XXXX-XXXXXX-X$LastFour";

    /// `TestCreditCardRegex`: the patterns alone, by `ReplaceAllString`;
    /// an empty `Out` means the text stays as it is.
    #[test]
    fn credit_card_regex() {
        #[rustfmt::skip]
        let rows: &[(&str, &str, &str, &str, &str)] = &[
            ("Visa happy spaces", RE_VISA, REPLACE_VISA, " abc 4111 1111 1111 1234 def", " abc VISA XXXX-XXXX-XXXX-1234 def"),
            ("Visa happy dashes", RE_VISA, REPLACE_VISA, "4111-1111-1111-1234", "VISA XXXX-XXXX-XXXX-1234"),
            ("Visa happy mixed", RE_VISA, REPLACE_VISA, "41111111 1111-1234", "VISA XXXX-XXXX-XXXX-1234"),
            ("Visa happy digits", RE_VISA, REPLACE_VISA, "abc 4111111111111234 def", "abc VISA XXXX-XXXX-XXXX-1234 def"),
            ("Visa non-match start", RE_VISA, REPLACE_VISA, "3111111111111234", ""),
            ("Visa non-match num digits", RE_VISA, REPLACE_VISA, " 4111-1111-1111-123", ""),
            ("Visa non-match sep", RE_VISA, REPLACE_VISA, "4111=1111=1111_1234", ""),
            ("Visa non-match no break before", RE_VISA, REPLACE_VISA, "abc4111-1111-1111-1234", "abcVISA XXXX-XXXX-XXXX-1234"),
            ("Visa non-match no break after", RE_VISA, REPLACE_VISA, "4111-1111-1111-1234def", "VISA XXXX-XXXX-XXXX-1234def"),
            ("MasterCard happy spaces", RE_MASTERCARD, REPLACE_MASTERCARD, " abc 5111 1111 1111 1234 def", " abc MasterCard XXXX-XXXX-XXXX-1234 def"),
            ("MasterCard happy dashes", RE_MASTERCARD, REPLACE_MASTERCARD, "5211-1111-1111-1234", "MasterCard XXXX-XXXX-XXXX-1234"),
            ("MasterCard happy mixed", RE_MASTERCARD, REPLACE_MASTERCARD, "53111111 1111-1234", "MasterCard XXXX-XXXX-XXXX-1234"),
            ("MasterCard happy digits", RE_MASTERCARD, REPLACE_MASTERCARD, "abc 5411111111111234 def", "abc MasterCard XXXX-XXXX-XXXX-1234 def"),
            ("MasterCard non-match start", RE_MASTERCARD, REPLACE_MASTERCARD, "3111111111111234", ""),
            ("MasterCard non-match num digits", RE_MASTERCARD, REPLACE_MASTERCARD, " 5111-1111-1111-123", ""),
            ("MasterCard non-match sep", RE_MASTERCARD, REPLACE_MASTERCARD, "5111=1111=1111_1234", ""),
            ("MasterCard non-match no break before", RE_MASTERCARD, REPLACE_MASTERCARD, "abc5511-1111-1111-1234", "abcMasterCard XXXX-XXXX-XXXX-1234"),
            ("MasterCard non-match no break after", RE_MASTERCARD, REPLACE_MASTERCARD, "5111-1111-1111-1234def", "MasterCard XXXX-XXXX-XXXX-1234def"),
            ("SwitchSolo happy spaces", RE_SWITCHSOLO, REPLACE_SWITCHSOLO, " abc 6711 1111 1111 1234 def", " abc Switch/Solo XXXX-XXXX-XXXX-1234 def"),
            ("SwitchSolo happy dashes", RE_SWITCHSOLO, REPLACE_SWITCHSOLO, "6711-1111-1111-1234", "Switch/Solo XXXX-XXXX-XXXX-1234"),
            ("SwitchSolo happy mixed", RE_SWITCHSOLO, REPLACE_SWITCHSOLO, "67111111 1111-1234", "Switch/Solo XXXX-XXXX-XXXX-1234"),
            ("SwitchSolo happy digits", RE_SWITCHSOLO, REPLACE_SWITCHSOLO, "abc 6711111111111234 def", "abc Switch/Solo XXXX-XXXX-XXXX-1234 def"),
            ("SwitchSolo non-match start", RE_SWITCHSOLO, REPLACE_SWITCHSOLO, "3111111111111234", ""),
            ("SwitchSolo non-match num digits", RE_SWITCHSOLO, REPLACE_SWITCHSOLO, " 6711-1111-1111-123", ""),
            ("SwitchSolo non-match sep", RE_SWITCHSOLO, REPLACE_SWITCHSOLO, "6711=1111=1111_1234", ""),
            ("SwitchSolo non-match no break before", RE_SWITCHSOLO, REPLACE_SWITCHSOLO, "abc6711-1111-1111-1234", "abcSwitch/Solo XXXX-XXXX-XXXX-1234"),
            ("SwitchSolo non-match no break after", RE_SWITCHSOLO, REPLACE_SWITCHSOLO, "6711-1111-1111-1234def", "Switch/Solo XXXX-XXXX-XXXX-1234def"),
            ("Discover happy spaces", RE_DISCOVER, REPLACE_DISCOVER, " abc 6011 1111 1111 1234 def", " abc Discover XXXX-XXXX-XXXX-1234 def"),
            ("Discover happy dashes", RE_DISCOVER, REPLACE_DISCOVER, "6011-1111-1111-1234", "Discover XXXX-XXXX-XXXX-1234"),
            ("Discover happy mixed", RE_DISCOVER, REPLACE_DISCOVER, "60111111 1111-1234", "Discover XXXX-XXXX-XXXX-1234"),
            ("Discover happy digits", RE_DISCOVER, REPLACE_DISCOVER, "abc 6011111111111234 def", "abc Discover XXXX-XXXX-XXXX-1234 def"),
            ("Discover non-match start", RE_DISCOVER, REPLACE_DISCOVER, "3111111111111234", ""),
            ("Discover non-match num digits", RE_DISCOVER, REPLACE_DISCOVER, " 6011-1111-1111-123", ""),
            ("Discover non-match sep", RE_DISCOVER, REPLACE_DISCOVER, "6011=1111=1111_1234", ""),
            ("Discover non-match no break before", RE_DISCOVER, REPLACE_DISCOVER, "abc6011-1111-1111-1234", "abcDiscover XXXX-XXXX-XXXX-1234"),
            ("Discover non-match no break after", RE_DISCOVER, REPLACE_DISCOVER, "6011-1111-1111-1234def", "Discover XXXX-XXXX-XXXX-1234def"),
            ("AMEX happy spaces", RE_AMEX, REPLACE_AMEX, " abc 3411 123456 12345 def", " abc American Express XXXX-XXXXXX-X2345 def"),
            ("AMEX happy dashes", RE_AMEX, REPLACE_AMEX, "3711-123456-12345", "American Express XXXX-XXXXXX-X2345"),
            ("AMEX happy mixed", RE_AMEX, REPLACE_AMEX, "3411-123456 12345", "American Express XXXX-XXXXXX-X2345"),
            ("AMEX happy digits", RE_AMEX, REPLACE_AMEX, "abc 371112345612345 def", "abc American Express XXXX-XXXXXX-X2345 def"),
            ("AMEX non-match start 41", RE_AMEX, REPLACE_AMEX, "411112345612345", ""),
            ("AMEX non-match start 31", RE_AMEX, REPLACE_AMEX, "3111111111111234", ""),
            ("AMEX non-match num digits", RE_AMEX, REPLACE_AMEX, " 4111-1111-1111-123", ""),
            ("AMEX non-match sep", RE_AMEX, REPLACE_AMEX, "4111-1111=1111-1234", ""),
            ("AMEX non-match no break before", RE_AMEX, REPLACE_AMEX, "abc3711-123456-12345", "abcAmerican Express XXXX-XXXXXX-X2345"),
            ("AMEX non-match no break after", RE_AMEX, REPLACE_AMEX, "3711-123456-12345def", "American Express XXXX-XXXXXX-X2345def"),
        ];
        let mut failures = Vec::new();
        for &(name, re, replace, input, output) in rows {
            let want = if output.is_empty() { input } else { output };
            match go_replace_all(re, input, replace) {
                Ok(got) if got == want => {}
                Ok(got) => failures.push(format!("{name}:\n  expected {want:?}\n       got {got:?}")),
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        report("TestCreditCardRegex", 46, rows.len(), &failures);
    }

    /// `TestCreditCard`: the links' own `compile` and `replace`.
    #[test]
    fn credit_card() {
        let rows = [
            (
                "VISA happy",
                link(RE_VISA, REPLACE_VISA),
                "A credit card 4111-1111-2222-1234 mentioned",
                "A credit card VISA XXXX-XXXX-XXXX-1234 mentioned",
            ),
            (
                "VISA",
                no_breaks(link(RE_VISA, REPLACE_VISA)),
                "A credit card4111-1111-2222-3333mentioned",
                "A credit cardVISA XXXX-XXXX-XXXX-3333mentioned",
            ),
            (
                "Multiple VISA replacements",
                link(RE_VISA, REPLACE_VISA),
                "Credit cards 4111-1111-2222-3333 4222-3333-4444-5678 mentioned",
                "Credit cards VISA XXXX-XXXX-XXXX-3333 VISA XXXX-XXXX-XXXX-5678 mentioned",
            ),
        ];
        let ran = rows.len();
        let mut failures = Vec::new();
        for (name, mut link, input, expected) in rows {
            let compiled = link.compile();
            let actual = link.replace(input);
            if actual != expected {
                failures.push(format!("{name}:\n  expected {expected:?}\n       got {actual:?}"));
            }
            if let Err(e) = compiled {
                failures.push(format!("{name}: {e}"));
            }
        }
        report("TestCreditCard", 3, ran, &failures);
    }
}

/// `server/autolink/lib_jira_test.go`
mod lib_jira_test {
    use super::*;

    /// `TestJira`
    #[tokio::test]
    async fn jira() {
        let tests = vec![
            LinkTest {
                name: "Jira example",
                link: link(
                    "(MM)(-)(?P<jira_id>\\d+)",
                    "[MM-$jira_id](https://mattermost.atlassian.net/browse/MM-$jira_id)",
                ),
                message: "Welcome MM-12345 should link!",
                expected: "Welcome [MM-12345](https://mattermost.atlassian.net/browse/MM-12345) should link!",
            },
            LinkTest {
                name: "Jira example 2 (within a ())",
                link: link(
                    "(MM)(-)(?P<jira_id>\\d+)",
                    "[MM-$jira_id](https://mattermost.atlassian.net/browse/MM-$jira_id)",
                ),
                message: "Link in brackets should link (see MM-12345)",
                expected: "Link in brackets should link (see [MM-12345](https://mattermost.atlassian.net/browse/MM-12345))",
            },
            LinkTest {
                name: "Jira example 3 (before ,)",
                link: link(
                    "(MM)(-)(?P<jira_id>\\d+)",
                    "[MM-$jira_id](https://mattermost.atlassian.net/browse/MM-$jira_id)",
                ),
                message: "Link a ticket MM-12345, before a comma",
                expected: "Link a ticket [MM-12345](https://mattermost.atlassian.net/browse/MM-12345), before a comma",
            },
            LinkTest {
                name: "Jira example 3 (at begin of the message)",
                link: link(
                    "(MM)(-)(?P<jira_id>\\d+)",
                    "[MM-$jira_id](https://mattermost.atlassian.net/browse/MM-$jira_id)",
                ),
                message: "MM-12345 should link!",
                expected: "[MM-12345](https://mattermost.atlassian.net/browse/MM-12345) should link!",
            },
            LinkTest {
                name: "Pattern word prefix and suffix disabled",
                link: no_breaks(link(
                    "(?P<previous>^|\\s)(MM)(-)(?P<jira_id>\\d+)",
                    "${previous}[MM-$jira_id](https://mattermost.atlassian.net/browse/MM-$jira_id)",
                )),
                message: "Welcome MM-12345 should link!",
                expected: "Welcome [MM-12345](https://mattermost.atlassian.net/browse/MM-12345) should link!",
            },
            LinkTest {
                name: "Pattern word prefix and suffix disabled (at begin of the message)",
                link: no_breaks(link(
                    "(?P<previous>^|\\s)(MM)(-)(?P<jira_id>\\d+)",
                    "${previous}[MM-$jira_id](https://mattermost.atlassian.net/browse/MM-$jira_id)",
                )),
                message: "MM-12345 should link!",
                expected: "[MM-12345](https://mattermost.atlassian.net/browse/MM-12345) should link!",
            },
            LinkTest {
                name: "Pattern word prefix and suffix enable (in the middle of other text)",
                link: link(
                    "(MM)(-)(?P<jira_id>\\d+)",
                    "[MM-$jira_id](https://mattermost.atlassian.net/browse/MM-$jira_id)",
                ),
                message: "WelcomeMM-12345should not link!",
                expected: "WelcomeMM-12345should not link!",
            },
            LinkTest {
                name: "Pattern word prefix and suffix disabled (in the middle of other text)",
                link: no_breaks(link(
                    "(MM)(-)(?P<jira_id>\\d+)",
                    "[MM-$jira_id](https://mattermost.atlassian.net/browse/MM-$jira_id)",
                )),
                message: "WelcomeMM-12345should link!",
                expected: "Welcome[MM-12345](https://mattermost.atlassian.net/browse/MM-12345)should link!",
            },
            LinkTest {
                name: "Not relinking",
                link: link(
                    "(?P<project_id>\\w+)(-)(?P<jira_id>\\d+)",
                    "[${project_id}-${jira_id}](https://mattermost.atlassian.net/browse/${project_id}-${jira_id})",
                ),
                message: "Welcome [MM-12345](https://mattermost.atlassian.net/browse/MM-12345) should not re-link!",
                expected: "Welcome [MM-12345](https://mattermost.atlassian.net/browse/MM-12345) should not re-link!",
            },
            LinkTest {
                name: "Url replacement",
                link: link(
                    "(https://mattermost.atlassian.net/browse/)(?P<project_id>\\w+)(-)(?P<jira_id>\\d+)",
                    "[${project_id}-${jira_id}](https://mattermost.atlassian.net/browse/${project_id}-${jira_id})",
                ),
                message: "Welcome https://mattermost.atlassian.net/browse/MM-12345 should link!",
                expected: "Welcome [MM-12345](https://mattermost.atlassian.net/browse/MM-12345) should link!",
            },
            LinkTest {
                name: "Url replacement multiple times",
                link: link(
                    "(https://mattermost.atlassian.net/browse/)(?P<project_id>\\w+)(-)(?P<jira_id>\\d+)",
                    "[${project_id}-${jira_id}](https://mattermost.atlassian.net/browse/${project_id}-${jira_id})",
                ),
                message: "Welcome https://mattermost.atlassian.net/browse/MM-12345. should link https://mattermost.atlassian.net/browse/MM-12346 !",
                expected: "Welcome [MM-12345](https://mattermost.atlassian.net/browse/MM-12345). should link [MM-12346](https://mattermost.atlassian.net/browse/MM-12346) !",
            },
            LinkTest {
                name: "Url replacement multiple times and at beginning",
                link: link(
                    "(https:\\/\\/mattermost.atlassian.net\\/browse\\/)(?P<project_id>\\w+)(-)(?P<jira_id>\\d+)",
                    "[${project_id}-${jira_id}](https://mattermost.atlassian.net/browse/${project_id}-${jira_id})",
                ),
                message: "https://mattermost.atlassian.net/browse/MM-12345 https://mattermost.atlassian.net/browse/MM-12345",
                expected: "[MM-12345](https://mattermost.atlassian.net/browse/MM-12345) [MM-12345](https://mattermost.atlassian.net/browse/MM-12345)",
            },
            LinkTest {
                name: "Url replacement at end",
                link: link(
                    "(https://mattermost.atlassian.net/browse/)(?P<project_id>\\w+)(-)(?P<jira_id>\\d+)",
                    "[${project_id}-${jira_id}](https://mattermost.atlassian.net/browse/${project_id}-${jira_id})",
                ),
                message: "Welcome https://mattermost.atlassian.net/browse/MM-12345",
                expected: "Welcome [MM-12345](https://mattermost.atlassian.net/browse/MM-12345)",
            },
            LinkTest {
                name: "Comment url replacement",
                link: link(
                    "(https://mattermost.atlassian.net/browse/)(?P<project_id>\\w+)(-)(?P<jira_id>\\d+)[?](focusedCommentId)(=)(?P<comment_id>\\d+)",
                    "[${project_id}-${jira_id} With Comment #${comment_id}](https://mattermost.atlassian.net/browse/${project_id}-${jira_id}?focusedCommentId=${comment_id})",
                ),
                message: "Welcome https://mattermost.atlassian.net/browse/MM-12345?focusedCommentId=10210 should link!",
                expected: "Welcome [MM-12345 With Comment #10210](https://mattermost.atlassian.net/browse/MM-12345?focusedCommentId=10210) should link!",
            },
            LinkTest {
                name: "Comment url replacement multiple times",
                link: link(
                    "(https://mattermost.atlassian.net/browse/)(?P<project_id>\\w+)(-)(?P<jira_id>\\d+)[?](focusedCommentId)(=)(?P<comment_id>\\d+)",
                    "[${project_id}-${jira_id} With Comment #${comment_id}](https://mattermost.atlassian.net/browse/${project_id}-${jira_id}?focusedCommentId=${comment_id})",
                ),
                message: "Welcome https://mattermost.atlassian.net/browse/MM-12345?focusedCommentId=10210. should link https://mattermost.atlassian.net/browse/MM-12346?focusedCommentId=10210 !",
                expected: "Welcome [MM-12345 With Comment #10210](https://mattermost.atlassian.net/browse/MM-12345?focusedCommentId=10210). should link [MM-12346 With Comment #10210](https://mattermost.atlassian.net/browse/MM-12346?focusedCommentId=10210) !",
            },
            LinkTest {
                name: "Comment url replacement multiple times and at beginning",
                link: link(
                    "(https:\\/\\/mattermost.atlassian.net\\/browse\\/)(?P<project_id>\\w+)(-)(?P<jira_id>\\d+)[?](focusedCommentId)(=)(?P<comment_id>\\d+)",
                    "[${project_id}-${jira_id} With Comment #${comment_id}](https://mattermost.atlassian.net/browse/${project_id}-${jira_id}?focusedCommentId=${comment_id})",
                ),
                message: "https://mattermost.atlassian.net/browse/MM-12345?focusedCommentId=10210 https://mattermost.atlassian.net/browse/MM-12345?focusedCommentId=10210",
                expected: "[MM-12345 With Comment #10210](https://mattermost.atlassian.net/browse/MM-12345?focusedCommentId=10210) [MM-12345 With Comment #10210](https://mattermost.atlassian.net/browse/MM-12345?focusedCommentId=10210)",
            },
            LinkTest {
                name: "Comment url replacement at end",
                link: link(
                    "(https://mattermost.atlassian.net/browse/)(?P<project_id>\\w+)(-)(?P<jira_id>\\d+)[?](focusedCommentId)(=)(?P<comment_id>\\d+)",
                    "[${project_id}-${jira_id} With Comment #${comment_id}](https://mattermost.atlassian.net/browse/${project_id}-${jira_id}?focusedCommentId=${comment_id})",
                ),
                message: "Welcome https://mattermost.atlassian.net/browse/MM-12345?focusedCommentId=10210",
                expected: "Welcome [MM-12345 With Comment #10210](https://mattermost.atlassian.net/browse/MM-12345?focusedCommentId=10210)",
            },
        ];
        test_links("TestJira", 17, tests).await;
    }
}

/// `server/autolink/lib_productboard_test.go`
mod lib_productboard_test {
    use super::*;

    fn productboard_link() -> Autolink {
        Autolink {
            word_match: true,
            ..link(r"(?P<url>https://mattermost\.productboard\.com/.+)", "[ProductBoard link]($url)")
        }
    }

    /// `TestProductBoard`
    #[tokio::test]
    async fn product_board() {
        let tests = vec![
            LinkTest {
                name: "Url replacement",
                link: productboard_link(),
                message: "Welcome to https://mattermost.productboard.com/somepage should link!",
                expected: "Welcome to [ProductBoard link](https://mattermost.productboard.com/somepage) should link!",
            },
            LinkTest {
                name: "Not relinking",
                link: productboard_link(),
                message: "Welcome to [other link](https://mattermost.productboard.com/somepage) should not re-link!",
                expected: "Welcome to [other link](https://mattermost.productboard.com/somepage) should not re-link!",
            },
            LinkTest {
                name: "Word boundary happy",
                link: productboard_link(),
                message: "Welcome to (https://mattermost.productboard.com/somepage) should link!",
                expected: "Welcome to ([ProductBoard link](https://mattermost.productboard.com/somepage)) should link!",
            },
            LinkTest {
                name: "Word boundary un-happy",
                link: productboard_link(),
                message: "Welcome to (BADhttps://mattermost.productboard.com/somepage) should not link!",
                expected: "Welcome to (BADhttps://mattermost.productboard.com/somepage) should not link!",
            },
        ];
        test_links("TestProductBoard", 4, tests).await;
    }
}

/// `server/autolink/lib_social_security_number_test.go`
mod lib_social_security_number_test {
    use super::*;

    const RE_SSN: &str = r"(?P<SSN>(?P<part1>\d{3})[ -]?(?P<part2>\d{2})[ -]?(?P<LastFour>[0-9]{4}))";
    const REPLACE_SSN: &str = r"XXX-XX-$LastFour";

    /// `TestSocialSecurityNumberRegex`
    #[test]
    fn social_security_number_regex() {
        #[rustfmt::skip]
        let rows: &[(&str, &str, &str, &str, &str)] = &[
            ("SSN happy spaces", RE_SSN, REPLACE_SSN, " abc 652 47 3356 def", " abc XXX-XX-3356 def"),
            ("SSN happy dashes", RE_SSN, REPLACE_SSN, " abc 652-47-3356 def", " abc XXX-XX-3356 def"),
            ("SSN happy digits", RE_SSN, REPLACE_SSN, " abc 652473356 def", " abc XXX-XX-3356 def"),
            ("SSN happy mixed1", RE_SSN, REPLACE_SSN, " abc 65247-3356 def", " abc XXX-XX-3356 def"),
            ("SSN happy mixed2", RE_SSN, REPLACE_SSN, " abc 652 47-3356 def", " abc XXX-XX-3356 def"),
            ("SSN non-match 19-09-9999", RE_SSN, REPLACE_SSN, " abc 19-09-9999 def", " abc 19-09-9999 def"),
            ("SSN non-match 652_47-3356", RE_SSN, REPLACE_SSN, " abc 652_47-3356 def", " abc 652_47-3356 def"),
        ];
        let mut failures = Vec::new();
        for &(name, re, replace, input, output) in rows {
            let want = if output.is_empty() { input } else { output };
            match go_replace_all(re, input, replace) {
                Ok(got) if got == want => {}
                Ok(got) => failures.push(format!("{name}:\n  expected {want:?}\n       got {got:?}")),
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        report("TestSocialSecurityNumberRegex", 7, rows.len(), &failures);
    }
}

/// `TestSpecialCases` of `server/autolinkplugin/plugin_test.go`.
mod plugin_test {
    use super::*;
    use common::Place;

    fn links() -> Vec<Autolink> {
        vec![
            link("(Mattermost)", "[Mattermost](https://mattermost.com)"),
            link("(Example)", "[Example](https://example.com)"),
            link("MM-(?P<jira_id>\\d+)", "[MM-$jira_id](https://mattermost.atlassian.net/browse/MM-$jira_id)"),
            link(
                "https://mattermost.atlassian.net/browse/MM-(?P<jira_id>\\d+)",
                "[MM-$jira_id](https://mattermost.atlassian.net/browse/MM-$jira_id)",
            ),
            link("(foo!bar)", "fb"),
            Autolink { scope: vec!["team/off-topic".into()], ..link("(example)", "test") },
            Autolink { scope: vec!["other-team/town-square".into()], ..link("(example)", "test") },
        ]
    }

    /// The Go test's channel has no team, so the scoped links never apply.
    const CHANNEL: Place<'static> = Place { channel: "TestChanel", team: "" };

    /// `TestSpecialCases`, named by the input message as in Go. Each row is
    /// checked four ways, as in Go. `MessageWillBeUpdated(c, newPost,
    /// oldPost)` rewrites its first post; the Go test passes the posts so
    /// that the third check rewrites the *expected* message (the "original
    /// post" goes first) and the fourth the input message.
    #[tokio::test]
    async fn special_cases() {
        #[rustfmt::skip]
        let rows: &[(&str, &str)] = &[
            ("hello ``` Mattermost ``` goodbye", "hello ``` Mattermost ``` goodbye"),
            ("hello\n```\nMattermost\n```\ngoodbye", "hello\n```\nMattermost\n```\ngoodbye"),
            ("Mattermost ``` Mattermost ``` goodbye", "[Mattermost](https://mattermost.com) ``` Mattermost ``` goodbye"),
            ("``` Mattermost ``` Mattermost", "``` Mattermost ``` [Mattermost](https://mattermost.com)"),
            ("Mattermost ``` Mattermost ```", "[Mattermost](https://mattermost.com) ``` Mattermost ```"),
            ("Mattermost ``` Mattermost ```\n\n", "[Mattermost](https://mattermost.com) ``` Mattermost ```\n\n"),
            ("hello ` Mattermost ` goodbye", "hello ` Mattermost ` goodbye"),
            ("hello\n`\nMattermost\n`\ngoodbye", "hello\n`\nMattermost\n`\ngoodbye"),
            ("Mattermost ` Mattermost ` goodbye", "[Mattermost](https://mattermost.com) ` Mattermost ` goodbye"),
            ("` Mattermost ` Mattermost", "` Mattermost ` [Mattermost](https://mattermost.com)"),
            ("Mattermost ` Mattermost `", "[Mattermost](https://mattermost.com) ` Mattermost `"),
            ("Mattermost ` Mattermost `\n\n", "[Mattermost](https://mattermost.com) ` Mattermost `\n\n"),
            ("hello ``` Mattermost ``` goodbye ` Mattermost ` end", "hello ``` Mattermost ``` goodbye ` Mattermost ` end"),
            ("hello\n```\nMattermost\n```\ngoodbye ` Mattermost ` end", "hello\n```\nMattermost\n```\ngoodbye ` Mattermost ` end"),
            ("Mattermost ``` Mattermost ``` goodbye ` Mattermost ` end", "[Mattermost](https://mattermost.com) ``` Mattermost ``` goodbye ` Mattermost ` end"),
            ("``` Mattermost ``` Mattermost", "``` Mattermost ``` [Mattermost](https://mattermost.com)"),
            ("```\n` Mattermost `\n```\nMattermost", "```\n` Mattermost `\n```\n[Mattermost](https://mattermost.com)"),
            ("  Mattermost", "  [Mattermost](https://mattermost.com)"),
            ("    Mattermost", "    Mattermost"),
            ("    ```\nMattermost\n    ```", "    ```\n[Mattermost](https://mattermost.com)\n    ```"),
            ("` ``` `\nMattermost\n` ``` `", "` ``` `\n[Mattermost](https://mattermost.com)\n` ``` `"),
            ("Mattermost \n Mattermost", "[Mattermost](https://mattermost.com) \n [Mattermost](https://mattermost.com)"),
            ("[Mattermost](https://mattermost.com)", "[Mattermost](https://mattermost.com)"),
            ("[  Mattermost  ](https://mattermost.com)", "[  Mattermost  ](https://mattermost.com)"),
            ("[  Mattermost  ][1]\n\n[1]: https://mattermost.com", "[  Mattermost  ][1]\n\n[1]: https://mattermost.com"),
            ("![  Mattermost  ](https://mattermost.com/example.png)", "![  Mattermost  ](https://mattermost.com/example.png)"),
            ("![  Mattermost  ][1]\n\n[1]: https://mattermost.com/example.png", "![  Mattermost  ][1]\n\n[1]: https://mattermost.com/example.png"),
            ("foo!bar\nExample\nfoo!bar Mattermost", "fb\n[Example](https://example.com)\nfb [Mattermost](https://mattermost.com)"),
            ("foo!bar", "fb"),
            ("foo!barfoo!bar", "foo!barfoo!bar"),
            ("foo!bar & foo!bar", "fb & fb"),
            ("foo!bar & foo!bar\nfoo!bar & foo!bar\nfoo!bar & foo!bar", "fb & fb\nfb & fb\nfb & fb"),
            ("https://mattermost.atlassian.net/browse/MM-12345", "[MM-12345](https://mattermost.atlassian.net/browse/MM-12345)"),
            ("Welcome https://mattermost.atlassian.net/browse/MM-12345", "Welcome [MM-12345](https://mattermost.atlassian.net/browse/MM-12345)"),
            ("text https://mattermost.atlassian.net/browse/MM-12345 other text", "text [MM-12345](https://mattermost.atlassian.net/browse/MM-12345) other text"),
            ("check out MM-12345 too", "check out [MM-12345](https://mattermost.atlassian.net/browse/MM-12345) too"),
        ];
        let mut failures = Vec::new();
        for &(input, expected) in rows {
            let checks = [
                ("user creates a new post", common::rewrite_in(links(), input, CHANNEL).await),
                (
                    "user updates the modified post but with no changes",
                    common::update_in(links(), expected, expected, CHANNEL).await,
                ),
                (
                    "user updates the modified post and sets it back to the original text",
                    common::update_in(links(), expected, input, CHANNEL).await,
                ),
                (
                    "user updates an empty post to the original text",
                    common::update_in(links(), input, "", CHANNEL).await,
                ),
            ];
            for (check, got) in checks {
                if got != expected {
                    failures.push(format!("{input:?} ({check}):\n  expected {expected:?}\n       got {got:?}"));
                }
            }
        }
        report("TestSpecialCases", 36, rows.len(), &failures);
    }
}

//! A post's hashtags, as the server finds them (`model.ParseHashtags` in
//! mattermost/mattermost, server/public/model/utils.go). The server fills a
//! post's `hashtags` this way when it creates or edits the post, before the
//! plugins' `MessageWillBePosted` / `MessageWillBeUpdated` run: a plugin
//! that rewrites the message sets them again from the new message.

/// The longest hashtag list the server keeps, in bytes.
const MAX_HASHTAGS_LEN: usize = 1000;

/// The hashtags of `text` and the rest of its words, each joined by single
/// spaces: `("#bar #baz", "foo")` for `"foo #bar, ##baz"`.
///
/// As on the server, each whitespace-separated word loses its leading
/// punctuation (except `#`) and its trailing punctuation, extra leading
/// `#`s become one, and it is a hashtag when it is `#`, a letter, then
/// letters, digits, `-`, `_` or `.`, ending with a letter or digit. A
/// hashtag list over 1000 bytes is cut at the last space before byte 999.
/// Letters are Rust's alphabetic characters (Go's `\pL`, the Unicode letter
/// category, leaves out a few alphabetic marks); digits are ASCII, as in
/// Go's `\d`.
pub fn parse_hashtags(text: &str) -> (String, String) {
    let mut hashtags = String::new();
    let mut plain = String::new();
    for word in text.split_whitespace() {
        let word = word.trim_start_matches(|c: char| !is_word_char(c) && c != '#');
        let word = word.trim_end_matches(|c: char| !is_word_char(c));
        let trimmed = word.trim_start_matches('#');
        let word = if word.len() - trimmed.len() >= 2 { &word[word.len() - trimmed.len() - 1..] } else { word };
        let out = if is_hashtag(word) { &mut hashtags } else { &mut plain };
        out.push(' ');
        out.push_str(word);
    }
    if hashtags.len() > MAX_HASHTAGS_LEN {
        let mut cut = MAX_HASHTAGS_LEN - 1;
        while !hashtags.is_char_boundary(cut) {
            cut -= 1;
        }
        hashtags.truncate(hashtags[..cut].rfind(' ').unwrap_or(0));
    }
    (hashtags.trim().to_owned(), plain.trim().to_owned())
}

/// A letter or an ASCII digit (whitespace never reaches here).
fn is_word_char(c: char) -> bool {
    c.is_alphabetic() || c.is_ascii_digit()
}

fn is_hashtag(word: &str) -> bool {
    let Some(rest) = word.strip_prefix('#') else { return false };
    let mut chars = rest.chars();
    let (Some(first), Some(last)) = (chars.next(), rest.chars().last()) else { return false };
    rest.chars().count() >= 2
        && first.is_alphabetic()
        && is_word_char(last)
        && rest.chars().all(|c| is_word_char(c) || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(text: &str) -> String {
        parse_hashtags(text).0
    }

    #[test]
    fn words_become_hashtags_as_on_the_server() {
        assert_eq!(parse_hashtags("foo #bar, ##baz"), ("#bar #baz".to_owned(), "foo".to_owned()));
        assert_eq!(tags("#hash #tags"), "#hash #tags");
        assert_eq!(tags("(#paren) \"#quoted\" #end."), "#paren #quoted #end");
        assert_eq!(tags("#a #1abc #a-b_c.d #x- #ab #über"), "#a-b_c.d #ab #über");
        assert_eq!(tags("#bar#"), "#bar", "trailing punctuation, a # included, is cut");
        assert_eq!(tags("no tags here"), "");
        assert_eq!(parse_hashtags("  "), (String::new(), String::new()));
    }

    #[test]
    fn a_long_list_is_cut_at_a_space_before_byte_999() {
        let text = (0..200).map(|i| format!("#tag{i:04}")).collect::<Vec<_>>().join(" ");
        let cut = tags(&text);
        assert!(cut.len() <= 998, "{}", cut.len());
        assert!(cut.ends_with(char::is_numeric) && text.starts_with(&cut));
        // " #tagNNNN" is 9 bytes: the first 999 hold 111 whole tags, and the
        // cut at the last space before byte 999 keeps 110 of them.
        assert_eq!(cut.split(' ').count(), 110);
    }
}

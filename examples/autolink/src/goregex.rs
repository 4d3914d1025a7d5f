//! Go's `regexp` semantics on the `regex` crate: what a port of a Go
//! plugin that takes regular expressions from its admins carries, since
//! Go's standard library gives it to the Go plugin.
//!
//! Both implement RE2 syntax, but they disagree in places. Patterns and
//! templates are written for Go, so [`GoRegex`] translates a pattern before
//! compiling it and expands templates itself:
//!
//! * `\d`, `\s`, `\w`, `\b`, `\B` and their negations are ASCII-only in Go
//!   and Unicode-aware in `regex`: they become `[0-9]`, `[\t\n\f\r ]`,
//!   `[0-9A-Za-z_]`, `(?-u:\b)`, `(?-u:\B)` (inside a class, the same ranges
//!   or a nested negated class, which `regex` allows).
//! * Inside a class Go treats `[`, `&&`, `--` and `~~` as literal characters
//!   and accepts a Perl class before `-` (`[\d-z]`); `regex` reads nested
//!   classes and set operations there and rejects the range. Classes are
//!   re-emitted item by item with every ASCII punctuation character escaped.
//! * Go's `\Q...\E` (quoted literal text), octal escapes (`\0`, `\012`),
//!   `\p{^Greek}` (a negated Unicode class) and `\<` / `\>` (plain `<` and
//!   `>` in Go, word-boundary assertions in `regex`) are rewritten.
//! * A `{` that does not start a valid repetition (`a{`, `a{x}`, `a{01}`) is
//!   a literal in Go and an error (or a repetition) in `regex`: it is
//!   escaped.
//! * Go allows a group name to repeat and a name to start with a digit;
//!   `regex` does not. Such groups are compiled unnamed and their Go names
//!   are kept on the side, so group numbers do not change.
//! * Templates are expanded by Go's rules, not by `regex`'s. A name is the
//!   longest run of Unicode letters, decimal digits and `_` (ASCII only in
//!   `regex`: `$é` is text there, and in Go the group named `é`, so empty);
//!   `$1x` is the group named `1x` in both. A name is a group number only
//!   when it is all ASCII digits without a leading zero: `$01` is the group
//!   named `01` (group 1 in `regex`). `${...}` holding anything else, or
//!   nothing, is text (`regex` looks `${x y}` up as a name and drops `${}`).
//!   A name used by several groups expands to the first of them that took
//!   part in the match.
//!
//! Not bridged: a pattern Go rejects may compile here (for example a
//! repetition count above 1000, or escapes only `regex` knows such as
//! `\u0041`), and the Unicode tables of the two libraries may differ in
//! version.
//!

use std::sync::LazyLock;

use regex::{Captures, Regex, RegexBuilder};

/// A regular expression written for Go's `regexp`, compiled with `regex` so
/// that it matches and expands as it does in Go (see the module
/// documentation).
#[derive(Clone, Debug)]
pub struct GoRegex {
    re: Regex,
    /// The Go name of each group, by number (group 0 has none).
    names: Vec<Option<String>>,
}

impl GoRegex {
    /// Compiles a Go pattern.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        let translation = translate(pattern);
        let re = RegexBuilder::new(&translation.pattern)
            // Go accepts nesting up to 1000 levels.
            .nest_limit(1000)
            .build()?;
        let names = if translation.names.len() == re.captures_len() {
            translation.names
        } else {
            // Not expected; fall back to the names `regex` knows.
            re.capture_names().map(|name| name.map(str::to_owned)).collect()
        };
        Ok(GoRegex { re, names })
    }

    /// The compiled expression.
    pub fn regex(&self) -> &Regex {
        &self.re
    }

    /// Appends `template` to `dst` with `$name`, `${name}` and `$1` replaced
    /// by Go's rules (`regexp.Regexp.Expand`).
    pub fn expand(&self, caps: &Captures<'_>, template: &str, dst: &mut String) {
        let mut rest = template;
        while let Some(dollar) = rest.find('$') {
            dst.push_str(&rest[..dollar]);
            rest = &rest[dollar + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                dst.push('$');
                rest = after;
                continue;
            }
            let Some(reference) = GroupRef::parse(rest) else {
                dst.push('$');
                continue;
            };
            rest = reference.rest;
            let group = match reference.number {
                Some(number) => caps.get(number),
                None => self
                    .names
                    .iter()
                    .enumerate()
                    .filter(|(_, name)| name.as_deref() == Some(reference.name))
                    .find_map(|(i, _)| caps.get(i)),
            };
            if let Some(group) = group {
                dst.push_str(group.as_str());
            }
        }
        dst.push_str(rest);
    }

    /// Every non-overlapping match replaced by the expanded template, as Go's
    /// `ReplaceAllString`.
    pub fn replace_all(&self, text: &str, template: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for caps in self.re.captures_iter(text) {
            let whole = caps.get(0).expect("group 0 always takes part");
            out.push_str(&text[last..whole.start()]);
            self.expand(&caps, template, &mut out);
            last = whole.end();
        }
        out.push_str(&text[last..]);
        out
    }
}

/// A `$name` / `${name}` reference in a template, read by Go's rules.
struct GroupRef<'t> {
    name: &'t str,
    /// The group number, when the name is one.
    number: Option<usize>,
    /// The template after the reference.
    rest: &'t str,
}

impl<'t> GroupRef<'t> {
    /// Reads the reference at the start of `text` (just after the `$`).
    fn parse(text: &'t str) -> Option<Self> {
        static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[\p{L}\p{Nd}_]+").expect("valid"));

        let (braced, body) = match text.strip_prefix('{') {
            Some(body) => (true, body),
            None => (false, text),
        };
        let name = NAME.find(body)?.as_str();
        let mut rest = &body[name.len()..];
        if braced {
            rest = rest.strip_prefix('}')?;
        }
        let is_number =
            name.bytes().all(|b| b.is_ascii_digit()) && !(name.len() > 1 && name.starts_with('0')) && name.len() <= 9;
        let number = if is_number { name.parse().ok() } else { None };
        Some(GroupRef { name, number, rest })
    }
}

/// A Go pattern rewritten for `regex`, with the Go name of each group.
struct Translation {
    pattern: String,
    names: Vec<Option<String>>,
}

/// The `regex` spelling of a Go pattern (see the module documentation for
/// what changes).
pub fn translate_pattern(go: &str) -> String {
    translate(go).pattern
}

// ASCII classes with Go's meaning, outside and inside a class.
const DIGIT: &str = "0-9";
const SPACE: &str = r"\t\n\f\r ";
const WORD: &str = "0-9A-Za-z_";

fn translate(go: &str) -> Translation {
    let cs: Vec<char> = go.chars().collect();
    let mut out = String::with_capacity(go.len() + 16);
    let mut names: Vec<Option<String>> = vec![None];
    let mut i = 0;
    while i < cs.len() {
        match cs[i] {
            '\\' => i = translate_escape(&cs, i, &mut out),
            '[' => i = translate_class(&cs, i, &mut out),
            '(' => i = translate_group(&cs, i, &mut out, &mut names),
            '{' => match repetition_len(&cs[i..]) {
                Some(len) => {
                    out.extend(&cs[i..i + len]);
                    i += len;
                }
                None => {
                    out.push_str(r"\{");
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Translation { pattern: out, names }
}

/// Translates the escape at `cs[i]` (a backslash) outside a class; returns
/// the index after it.
fn translate_escape(cs: &[char], i: usize, out: &mut String) -> usize {
    let Some(&c) = cs.get(i + 1) else {
        out.push('\\');
        return i + 1;
    };
    match c {
        'd' => out.push_str(&format!("[{DIGIT}]")),
        'D' => out.push_str(&format!("[^{DIGIT}]")),
        's' => out.push_str(&format!("[{SPACE}]")),
        'S' => out.push_str(&format!("[^{SPACE}]")),
        'w' => out.push_str(&format!("[{WORD}]")),
        'W' => out.push_str(&format!("[^{WORD}]")),
        'b' => out.push_str(r"(?-u:\b)"),
        'B' => out.push_str(r"(?-u:\B)"),
        'Q' => {
            let mut j = i + 2;
            while j < cs.len() && !(cs[j] == '\\' && cs.get(j + 1) == Some(&'E')) {
                out.push_str(&regex::escape(cs[j].encode_utf8(&mut [0; 4])));
                j += 1;
            }
            return (j + 2).min(cs.len());
        }
        'p' | 'P' => return translate_unicode_class(cs, i, out),
        'x' => {
            // `\xHH` or `\x{...}`: the same in both.
            let end = if cs.get(i + 2) == Some(&'{') {
                cs[i..].iter().position(|&c| c == '}').map_or(cs.len(), |p| i + p + 1)
            } else {
                (i + 4).min(cs.len())
            };
            out.extend(&cs[i..end]);
            return end;
        }
        _ => match parse_escaped_char(cs, i) {
            Some((ch, end)) if is_octal_or_punct(c) => {
                push_literal(out, ch);
                return end;
            }
            _ => {
                // `\A`, `\z`, `\n`, ... mean the same in both; anything else
                // is an error in Go and left to `regex`.
                out.push('\\');
                out.push(c);
            }
        },
    }
    i + 2
}

/// Whether an escape letter is one [`translate_escape`] rewrites through
/// [`parse_escaped_char`]: octal digits and other ASCII characters that are
/// not letters or digits (Go reads those as themselves).
fn is_octal_or_punct(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii() && !c.is_ascii_alphanumeric())
}

/// The character a single-character escape at `cs[i]` stands for in Go, and
/// the index after it; `None` where Go reports an error (or for classes).
fn parse_escaped_char(cs: &[char], i: usize) -> Option<(char, usize)> {
    let c = *cs.get(i + 1)?;
    let mut j = i + 2;
    let ch = match c {
        '1'..='7' if !matches!(cs.get(j), Some('0'..='7')) => return None,
        '0'..='7' => {
            let mut value = c.to_digit(8)?;
            while j < i + 4 {
                match cs.get(j).and_then(|c| c.to_digit(8)) {
                    Some(digit) => value = value * 8 + digit,
                    None => break,
                }
                j += 1;
            }
            char::from_u32(value)?
        }
        'x' => {
            let (digits, end) = if cs.get(j) == Some(&'{') {
                let close = cs[j..].iter().position(|&c| c == '}')? + j;
                (&cs[j + 1..close], close + 1)
            } else {
                (cs.get(j..j + 2)?, j + 2)
            };
            j = end;
            let hex: String = digits.iter().collect();
            char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
        }
        'a' => '\x07',
        'f' => '\x0C',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0B',
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => c,
        _ => return None,
    };
    Some((ch, j))
}

/// A literal character outside a class.
fn push_literal(out: &mut String, ch: char) {
    if ch.is_ascii() && !ch.is_ascii_alphanumeric() {
        out.push_str(&format!(r"\x{{{:02X}}}", ch as u32));
    } else {
        out.push(ch);
    }
}

/// Translates `\pX`, `\p{Name}`, `\p{^Name}` and the `\P` forms; returns
/// the index after them.
fn translate_unicode_class(cs: &[char], i: usize, out: &mut String) -> usize {
    let mut negated = cs[i + 1] == 'P';
    if cs.get(i + 2) != Some(&'{') {
        let end = (i + 3).min(cs.len());
        out.extend(&cs[i..end]);
        return end;
    }
    let Some(close) = cs[i..].iter().position(|&c| c == '}').map(|p| i + p) else {
        out.extend(&cs[i..]);
        return cs.len();
    };
    let mut name: &[char] = &cs[i + 3..close];
    if name.first() == Some(&'^') {
        negated = !negated;
        name = &name[1..];
    }
    out.push_str(if negated { r"\P{" } else { r"\p{" });
    out.extend(name);
    out.push('}');
    close + 1
}

/// Translates a group opening at `cs[i]`, keeping track of Go's group names;
/// returns the index after the part it handled.
fn translate_group(cs: &[char], i: usize, out: &mut String, names: &mut Vec<Option<String>>) -> usize {
    if cs.get(i + 1) != Some(&'?') {
        names.push(None);
        out.push('(');
        return i + 1;
    }
    let name_start = match (cs.get(i + 2), cs.get(i + 3)) {
        (Some('P'), Some('<')) => i + 4,
        (Some('<'), _) => i + 3,
        _ => {
            // Flags or a non-capturing group.
            out.push_str("(?");
            return i + 2;
        }
    };
    let close = cs[name_start..].iter().position(|&c| c == '>').map(|p| name_start + p);
    let name: Option<String> = close.map(|close| cs[name_start..close].iter().collect());
    match (close, name) {
        (Some(close), Some(name))
            if !name.is_empty() && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) =>
        {
            let repeated = names.iter().any(|n| n.as_deref() == Some(name.as_str()));
            let rust_accepts = !name.starts_with(|c: char| c.is_ascii_digit());
            if repeated || !rust_accepts {
                out.push('(');
            } else {
                out.push_str(&format!("(?P<{name}>"));
            }
            names.push(Some(name));
            close + 1
        }
        _ => {
            // Not a valid Go name: Go rejects the pattern; so may `regex`.
            out.push_str("(?");
            i + 2
        }
    }
}

/// The length of the Go repetition `{n}`, `{n,}` or `{n,m}` at the start of
/// `cs`, or `None` when Go reads the `{` as a literal.
fn repetition_len(cs: &[char]) -> Option<usize> {
    fn number(cs: &[char], at: usize) -> Option<usize> {
        let digits = cs[at..].iter().take_while(|c| c.is_ascii_digit()).count();
        let leading_zero = digits > 1 && cs[at] == '0';
        (digits > 0 && !leading_zero).then_some(at + digits)
    }
    let mut at = number(cs, 1)?;
    if cs.get(at) == Some(&',') {
        at += 1;
        if cs.get(at) != Some(&'}') {
            at = number(cs, at)?;
        }
    }
    (cs.get(at) == Some(&'}')).then_some(at + 1)
}

/// Translates the class opening at `cs[i]`; returns the index after it. A
/// class Go would reject is copied unchanged for `regex` to report.
fn translate_class(cs: &[char], i: usize, out: &mut String) -> usize {
    match parse_class(cs, i) {
        Some((class, end)) => {
            out.push_str(&class);
            end
        }
        None => {
            let end = cs[i + 1..].iter().position(|&c| c == ']').map_or(cs.len(), |p| i + 1 + p + 1);
            out.extend(&cs[i..end]);
            end
        }
    }
}

fn parse_class(cs: &[char], i: usize) -> Option<(String, usize)> {
    let mut class = String::from("[");
    let mut j = i + 1;
    if cs.get(j) == Some(&'^') {
        class.push('^');
        j += 1;
    }
    let mut first = true;
    loop {
        let c = *cs.get(j)?;
        if c == ']' && !first {
            class.push(']');
            return Some((class, j + 1));
        }
        first = false;

        // `[:alpha:]` and `[:^alpha:]`: the same names in both.
        if c == '[' && cs.get(j + 1) == Some(&':') {
            let close = cs[j + 2..].windows(2).position(|w| w == [':', ']']).map(|p| j + 2 + p);
            if let Some(close) = close {
                class.extend(&cs[j..close + 2]);
                j = close + 2;
                continue;
            }
        }
        if c == '\\' {
            match cs.get(j + 1) {
                Some('p' | 'P') => {
                    j = translate_unicode_class(cs, j, &mut class);
                    continue;
                }
                Some(&perl @ ('d' | 'D' | 's' | 'S' | 'w' | 'W')) => {
                    let set = match perl.to_ascii_lowercase() {
                        'd' => DIGIT,
                        's' => SPACE,
                        _ => WORD,
                    };
                    if perl.is_ascii_uppercase() {
                        class.push_str(&format!("[^{set}]"));
                    } else {
                        class.push_str(set);
                    }
                    j += 2;
                    continue;
                }
                _ => {}
            }
        }

        let (lo, after) = class_char(cs, j)?;
        j = after;
        push_class_char(&mut class, lo);
        if cs.get(j) == Some(&'-') && cs.get(j + 1).is_some_and(|&c| c != ']') {
            let (hi, after) = class_char(cs, j + 1)?;
            j = after;
            class.push('-');
            push_class_char(&mut class, hi);
        }
    }
}

/// One character of a class (literal or escaped) and the index after it.
fn class_char(cs: &[char], j: usize) -> Option<(char, usize)> {
    match cs.get(j)? {
        '\\' => parse_escaped_char(cs, j),
        &c => Some((c, j + 1)),
    }
}

/// A literal character inside a class: ASCII punctuation, spaces and
/// controls are written as hexadecimal escapes, which mean the same
/// everywhere.
fn push_class_char(class: &mut String, ch: char) {
    if ch.is_ascii() && !ch.is_ascii_alphanumeric() {
        class.push_str(&format!(r"\x{{{:02X}}}", ch as u32));
    } else {
        class.push(ch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go_replace_all(pattern: &str, text: &str, template: &str) -> String {
        GoRegex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")).replace_all(text, template)
    }

    #[test]
    fn perl_classes_become_ascii() {
        for (go, rust) in [
            (r"\d+", "[0-9]+"),
            (r"\D", "[^0-9]"),
            (r"\s", r"[\t\n\f\r ]"),
            (r"\S", r"[^\t\n\f\r ]"),
            (r"\w", "[0-9A-Za-z_]"),
            (r"\W", "[^0-9A-Za-z_]"),
            (r"\bx\B", r"(?-u:\b)x(?-u:\B)"),
            (r"[\d]", "[0-9]"),
            (r"[^\d]", "[^0-9]"),
            (r"[\D]", "[[^0-9]]"),
            (r"[a\s]", r"[a\t\n\f\r ]"),
            (r"[\w-]", r"[0-9A-Za-z_\x{2D}]"),
            // An escaped backslash followed by a letter is two literals.
            (r"\\d", r"\x{5C}d"),
            (r"[\\d]", r"[\x{5C}d]"),
        ] {
            assert_eq!(translate_pattern(go), rust, "{go}");
        }
    }

    #[test]
    fn ascii_classes_do_not_match_unicode() {
        // Each of these matches in `regex` without the translation.
        for (pattern, text) in [
            (r"^\d+$", "١٢٣"),     // Arabic-Indic digits
            (r"^\w+$", "héllo"),   // a non-ASCII letter
            (r"^\s$", "\u{2003}"), // an em space
            (r"^[\d]$", "٣"),
            (r"^[\w]$", "é"),
            (r"x\b", "xé"), // é is not a word character in Go
        ] {
            assert!(
                Regex::new(pattern).unwrap().is_match(text) != GoRegex::new(pattern).unwrap().regex().is_match(text),
                "{pattern} on {text:?}"
            );
        }
        // And the negations match them instead.
        assert!(GoRegex::new(r"^\D$").unwrap().regex().is_match("٣"));
        assert!(GoRegex::new(r"^\W$").unwrap().regex().is_match("é"));
        assert!(GoRegex::new(r"^\S$").unwrap().regex().is_match("\u{2003}"));
        assert!(GoRegex::new(r"é\B").unwrap().regex().is_match("éé"));
    }

    #[test]
    fn class_syntax_go_reads_literally() {
        let matches = |pattern: &str, text: &str| GoRegex::new(pattern).unwrap().regex().is_match(text);
        assert!(matches(r"^[[]$", "["));
        assert!(matches(r"^[a&&b]+$", "a&b"));
        // A range from `-` to `b` in Go; a set difference in `regex`.
        assert!(matches(r"^[--b]+$", "-Ab"));
        assert!(GoRegex::new(r"[a--b]").is_err()); // `a` to `-`: Go rejects it too
        assert!(matches(r"^[a~~b]$", "~"));
        assert!(matches(r"^[\d-z]+$", "1-z"));
        assert!(!matches(r"^[\d-z]$", "y"));
        assert!(matches(r"^[]a]+$", "]a"));
        assert!(matches(r"^[^]a]$", "b"));
        assert!(matches(r"^[[:alpha:]]+$", "abc"));
        assert!(matches(r"^[\x41-\x{5A}]+$", "AZ"));
        assert!(matches(r"^[\101]$", "A"));
        assert!(matches(r"^[\p{Greek}]$", "α"));
        assert!(matches(r"^[\p{^Greek}]$", "a"));
    }

    #[test]
    fn escapes_only_go_knows() {
        let matches = |pattern: &str, text: &str| GoRegex::new(pattern).unwrap().regex().is_match(text);
        assert!(matches(r"^\Q.*+(\E$", ".*+("));
        assert!(!matches(r"^\Q.*\E$", "ab"));
        assert!(matches(r"^a\Q[b", "a[b"));
        assert!(matches(r"^\101\0$", "A\0"));
        assert!(matches(r"^\<b\>$", "<b>"));
        assert!(matches(r"^\p{^Greek}$", "a"));
        assert!(!matches(r"^\P{^Greek}$", "a"));
        assert!(matches(r"^\pL\PL$", "a1"));
        assert!(matches(r"^a{$", "a{"));
        assert!(matches(r"^a{x}$", "a{x}"));
        assert!(matches(r"^a{01}$", "a{01}"));
        assert!(matches(r"^a{,2}$", "a{,2}"));
        assert!(matches(r"^a{2}b{1,}c{0,1}$", "aabc"));
        assert!(matches(r"^\x{1F600}\x41$", "😀A"));
        assert!(matches(r"^\_\#\ $", "_# "));
    }

    #[test]
    fn group_names_go_allows() {
        let re = GoRegex::new(r"(?P<x>a)|(?P<x>b)|(?<01>c)").unwrap();
        let expand = |text: &str, template: &str| {
            let caps = re.regex().captures(text).unwrap();
            let mut out = String::new();
            re.expand(&caps, template, &mut out);
            out
        };
        assert_eq!(expand("a", "[$x]"), "[a]");
        assert_eq!(expand("b", "[$x]"), "[b]");
        assert_eq!(expand("c", "[$01][$3]"), "[c][c]");
    }

    #[test]
    fn template_expansion_follows_go() {
        let re = GoRegex::new(r"(a)(?P<x>b)(c)").unwrap();
        let caps = re.regex().captures("abc").unwrap();
        let template = "$1|${1}|$01|$1x|${x}|$x|$$|${x y}|$é|$|${}|$9|${1";
        let mut go = String::new();
        re.expand(&caps, template, &mut go);
        assert_eq!(go, "a|a|||b|b|$|${x y}||$|${}||${1");
        // What `regex` makes of it: `$01`, `${x y}`, `$é` and `${}` differ.
        let mut rust = String::new();
        caps.expand(template, &mut rust);
        assert_eq!(rust, "a|a|a||b|b|$||$é|$|||${1");
    }

    #[test]
    fn replace_all_empty_matches_as_go() {
        // Outputs of Go's ReplaceAllString.
        assert_eq!(go_replace_all("a*", "baaac", "X"), "XbXcX");
        assert_eq!(go_replace_all("", "abc", "x"), "xaxbxcx");
        assert_eq!(go_replace_all("a+", "baaac", "X"), "bXc");
    }
}

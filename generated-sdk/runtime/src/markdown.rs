//! The parts of a message that are its text, as Mattermost's server-side
//! Markdown parser finds them (`markdown.Inspect` in mattermost/mattermost
//! `server/public/shared/markdown`, which Go plugins that rewrite posts
//! walk): what a plugin may rewrite without touching code, links or
//! their destinations. Feature `markdown`.
//!
//! Go's walk gives two kinds of node:
//!
//! * the text of paragraphs (list items and block quotes hold paragraphs),
//!   after adjacent text nodes are merged; a merged text is skipped when its
//!   parsed text differs from the message at its position;
//! * the destination of a bare URL (`http://`, `https://`, `ftp://`,
//!   `mailto://`, `tel://`, `gemini://` or `www.`), which is its own node,
//!   skipped when it contains a backslash escape or character reference.
//!
//! Never code spans, code blocks, or anything inside a link or image (inline
//! or by reference), text included.
//!
//! [`text_runs`] gives the same ranges from pulldown-cmark's events:
//!
//! * Text events are merged when their ranges touch. Mattermost's parser
//!   has no emphasis, strong emphasis, `<...>` autolinks or inline HTML: to
//!   it, their markers are text, so they are kept in the run here too (`a
//!   *b* c` is one run, markers included).
//! * An escaped character starts a new run that does not include the
//!   backslash (`a \*b` gives `a ` and `*b`), as Mattermost's parser does.
//!   Escapes are not skipped: the text of the node matches the message.
//! * A character reference is given, as in Mattermost's parser, the length
//!   of the character it stands for; its run is skipped when that part of
//!   the message differs (`&copy;`, and the text merged before it), and
//!   kept when it happens to match (`&amp;` reads `&`).
//! * Bare URLs are found by Mattermost's rules (its `autolink.go`): a known
//!   scheme before `://`, or `www.` after a space or one of `*_~()<>`; the
//!   URL runs to the next space and loses trailing punctuation, an
//!   unbalanced `)`, an `&entity;` and anything from `<` or `>` on; none is
//!   looked for while a `[` or `![` of the paragraph is still open. The URL
//!   is a run of its own and the text around it is split there.
//! * Line breaks end a run; leading and trailing spaces of a line are not
//!   part of it.
//!
//! Where this differs from Mattermost's parser:
//!
//! * Blocks are CommonMark's. Mattermost knows only paragraphs, lists,
//!   block quotes and code blocks: a heading is a paragraph to it (here the
//!   `#` markers and a setext underline are added to the heading's text),
//!   an HTML block is paragraphs (here each of its lines is a run, with no
//!   Markdown inside it recognised), and a thematic break (`---`) is text
//!   (here it is not, which only matters to a pattern matching dashes).
//!   CommonMark and Mattermost may also disagree on where a list, quote or
//!   code block starts or ends.
//! * Inlines are CommonMark's too: what is a code span, link or image is
//!   decided by pulldown-cmark. Mattermost differs in corner cases, for
//!   example it takes `![a](x.png =100x50)` (image dimensions) as an image,
//!   where here it is text.
//! * Numeric character references follow CommonMark's limits (7 decimal, 6
//!   hexadecimal digits) rather than Mattermost's (8 of either).
//! * Recent Mattermost versions also make `:emoji_name:` its own node; that
//!   is not done here.

use std::ops::Range;
use std::sync::LazyLock;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};
use regex::Regex;

/// The byte ranges of `message` that are its text, in order.
pub fn text_runs(message: &str) -> Vec<Range<usize>> {
    let mut walk = Walk::new(message);
    walk.run();
    walk.runs
}

/// Rewrites the runs of [`text_runs`] in `message`: `change` gets each
/// run's text and answers its replacement, or `None` to leave it; `Some`
/// with the new message when a run changed.
pub fn rewrite_runs(message: &str, mut change: impl FnMut(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut copied = 0;
    let mut changed = false;
    for run in text_runs(message) {
        let original = &message[run.clone()];
        match change(original) {
            Some(text) if text != original => {
                out.push_str(&message[copied..run.start]);
                out.push_str(&text);
                copied = run.end;
                changed = true;
            }
            _ => {}
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&message[copied..]);
    Some(out)
}

/// An opening `[` (a link) or `![` (an image) not yet closed.
#[derive(Clone, Copy)]
struct Opener {
    image: bool,
    active: bool,
}

/// A heading being read, for its markers.
struct Heading {
    range: Range<usize>,
    /// Where the last event inside it ended, once there was one.
    last_end: Option<usize>,
}

struct Walk<'m> {
    src: &'m str,
    runs: Vec<Range<usize>>,
    /// The text nodes of the run being built, each with whether its parsed
    /// text equals the message there.
    pending: Vec<(Range<usize>, bool)>,
    /// The message before this offset was taken by a bare URL.
    consumed: usize,
    /// The open `[` and `![` of the current block.
    openers: Vec<Opener>,
    /// Where the text of the current block starts, once known.
    raw_start: Option<usize>,
    /// The ranges of the open blocks, innermost last.
    blocks: Vec<Range<usize>>,
    heading: Option<Heading>,
    in_code_block: bool,
}

impl<'m> Walk<'m> {
    fn new(src: &'m str) -> Self {
        Walk {
            src,
            runs: Vec::new(),
            pending: Vec::new(),
            consumed: 0,
            openers: Vec::new(),
            raw_start: None,
            blocks: Vec::new(),
            heading: None,
            in_code_block: false,
        }
    }

    fn run(&mut self) {
        // Depth inside a link or image, whose content is never rewritten.
        let mut skipped = 0usize;
        for (event, range) in Parser::new_ext(self.src, Options::empty()).into_offset_iter() {
            if !matches!(event, Event::End(TagEnd::Heading(_))) {
                self.heading_event(&range);
            }
            if !is_block_event(&event) {
                // Mattermost's parser counts positions from the block's
                // first inline, whatever it is.
                self.raw_start.get_or_insert(range.start);
            }
            if skipped > 0 {
                match event {
                    Event::Start(Tag::Link { .. } | Tag::Image { .. }) => skipped += 1,
                    Event::End(TagEnd::Link | TagEnd::Image) => skipped -= 1,
                    _ => {}
                }
                continue;
            }
            match event {
                Event::Start(Tag::Emphasis) => self.marker(range.start..range.start + 1),
                Event::Start(Tag::Strong) => self.marker(range.start..range.start + 2),
                Event::End(TagEnd::Emphasis) => self.marker(range.end - 1..range.end),
                Event::End(TagEnd::Strong) => self.marker(range.end - 2..range.end),
                Event::Start(Tag::Link { link_type: LinkType::Autolink | LinkType::Email, .. }) => {
                    self.marker(range.start..range.start + 1)
                }
                // Other links are skipped whole, so this ends an autolink.
                Event::End(TagEnd::Link) => self.marker(range.end - 1..range.end),
                Event::Start(Tag::Link { .. }) => {
                    self.flush();
                    // A link makes the `[` before it plain text.
                    for opener in &mut self.openers {
                        if !opener.image {
                            opener.active = false;
                        }
                    }
                    skipped = 1;
                }
                Event::Start(Tag::Image { .. }) => {
                    self.flush();
                    skipped = 1;
                }
                Event::Start(Tag::Strikethrough | Tag::Superscript | Tag::Subscript)
                | Event::End(TagEnd::Strikethrough | TagEnd::Superscript | TagEnd::Subscript) => {}
                Event::Start(tag) => {
                    self.enter_block(range.clone());
                    match tag {
                        Tag::CodeBlock(_) => self.in_code_block = true,
                        Tag::Heading { .. } => self.heading = Some(Heading { range, last_end: None }),
                        _ => {}
                    }
                }
                Event::End(tag) => {
                    if let TagEnd::Heading(_) = tag {
                        self.leave_heading();
                    }
                    if let TagEnd::CodeBlock = tag {
                        self.in_code_block = false;
                    }
                    self.leave_block();
                }
                Event::Text(text) if !self.in_code_block => self.text(range, &text),
                Event::InlineHtml(html) => self.text(range, &html),
                Event::Html(_) => self.lines(range, true),
                // Code, line breaks, and what Mattermost's parser does not
                // have (the options that would produce it are off).
                _ => self.flush(),
            }
        }
        self.flush();
    }

    fn enter_block(&mut self, range: Range<usize>) {
        self.flush();
        self.openers.clear();
        self.raw_start = None;
        self.blocks.push(range);
    }

    fn leave_block(&mut self) {
        self.flush();
        self.openers.clear();
        self.raw_start = None;
        self.blocks.pop();
    }

    /// Adds a heading's leading markers before its first event.
    fn heading_event(&mut self, range: &Range<usize>) {
        let Some(heading) = &mut self.heading else {
            return;
        };
        let first = heading.last_end.is_none();
        heading.last_end = Some(heading.last_end.unwrap_or(0).max(range.end));
        let lead = heading.range.start..range.start;
        if first && !lead.is_empty() && !self.src[lead.clone()].contains('\n') {
            self.node(lead, true, Some(0));
        }
    }

    /// Adds what follows a heading's text: closing markers or an underline.
    fn leave_heading(&mut self) {
        let Some(heading) = self.heading.take() else {
            return;
        };
        let start = heading.last_end.unwrap_or(heading.range.start);
        if start < heading.range.end {
            self.lines(start..heading.range.end, heading.last_end.is_none());
        }
    }

    /// Text taken as it stands in the message, one run per line, without the
    /// spaces at the ends of a line (at the start of the first one only when
    /// `trim_first` is set).
    fn lines(&mut self, range: Range<usize>, trim_first: bool) {
        let mut offset = range.start;
        for (n, line) in self.src[range].split('\n').enumerate() {
            if n > 0 {
                self.flush();
            }
            let mut start = offset;
            if n > 0 || trim_first {
                start += line.len() - line.trim_start_matches(is_space).len();
            }
            let end = offset + line.trim_end_matches(is_space).len();
            if start < end {
                self.node(start..end, true, Some(0));
            }
            offset += line.len() + 1;
        }
        self.flush();
    }

    /// An emphasis or autolink marker: text to Mattermost's parser.
    fn marker(&mut self, range: Range<usize>) {
        let is_marker =
            self.src.get(range.clone()).is_some_and(|s| s.bytes().all(|b| matches!(b, b'*' | b'_' | b'<' | b'>')));
        if is_marker {
            self.node(range, true, Some(0));
        } else {
            self.flush();
        }
    }

    /// A text event: its range, and its text after escapes and references.
    fn text(&mut self, range: Range<usize>, text: &str) {
        let source = &self.src[range.clone()];
        if source == text {
            // pulldown-cmark starts an escaped character's text after the
            // backslash: that character is not markup.
            let skip = usize::from(is_escaped(self.src, range.start));
            self.node(range, true, Some(skip));
        } else if source.starts_with('&') {
            // Mattermost's parser gives a reference the length of its text.
            let end = range.start + text.len();
            let matches = self.src.get(range.start..end) == Some(text);
            self.node(range.start..end, matches, None);
        } else {
            self.node(range, false, None);
        }
    }

    /// A text node of Mattermost's parser. `scan_from` (bytes into it) is
    /// where its characters may open or close a link or start a bare URL;
    /// `None` for a node that stands for a single escaped character.
    fn node(&mut self, range: Range<usize>, matches: bool, scan_from: Option<usize>) {
        self.raw_start.get_or_insert(range.start);
        let mut start = range.start.max(self.consumed);
        if start >= range.end {
            return;
        }
        if let Some(scan_from) = scan_from {
            let bytes = self.src.as_bytes();
            let mut i = start.max(range.start + scan_from);
            while i < range.end {
                match bytes[i] {
                    b'[' => self.openers.push(Opener {
                        image: i > 0 && bytes[i - 1] == b'!' && !is_escaped(self.src, i - 1),
                        active: true,
                    }),
                    b']' => {
                        self.openers.pop();
                    }
                    b @ (b':' | b'w') if self.openers.iter().all(|o| !o.active) => {
                        if let Some(url) = self.bare_url(i, b) {
                            self.push_piece(start..url.start.max(start), matches);
                            self.cut_pending(url.start);
                            self.flush();
                            if !unescape_changes(&self.src[url.clone()]) {
                                self.runs.push(url.clone());
                            }
                            self.consumed = url.end;
                            start = url.end;
                            i = url.end;
                            continue;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        if start < range.end {
            self.push_piece(start..range.end, matches);
        }
    }

    fn push_piece(&mut self, range: Range<usize>, matches: bool) {
        if range.is_empty() {
            return;
        }
        if self.pending.last().is_some_and(|(last, _)| last.end != range.start) {
            self.flush();
        }
        self.pending.push((range, matches));
    }

    /// Drops what the run being built holds from `at` on.
    fn cut_pending(&mut self, at: usize) {
        while let Some((last, _)) = self.pending.last_mut() {
            if last.start >= at {
                self.pending.pop();
            } else {
                last.end = last.end.min(at);
                break;
            }
        }
    }

    /// Ends the run being built; it is kept when all its text matched.
    fn flush(&mut self) {
        if let (Some((first, _)), Some((last, _))) = (self.pending.first(), self.pending.last()) {
            let range = first.start..last.end;
            if !range.is_empty() && self.pending.iter().all(|&(_, matches)| matches) {
                self.runs.push(range);
            }
        }
        self.pending.clear();
    }

    /// The bare URL whose `:` or first `w` is at `at`, if there is one.
    fn bare_url(&self, at: usize, trigger: u8) -> Option<Range<usize>> {
        let block_end = self.blocks.last().map_or(self.src.len(), |b| b.end);
        let data = self.src[..block_end].trim_end_matches(is_space);
        let raw_start = self.raw_start.unwrap_or(at);
        if at >= data.len() || at < raw_start {
            return None;
        }
        if trigger == b':' {
            // The scheme is looked for back to the start of the block's
            // text, and never inside an earlier URL.
            url_autolink(data, raw_start, raw_start.max(self.consumed), at)
        } else {
            www_autolink(data, raw_start, at)
        }
    }
}

/// Whether an event starts or ends a block (not an inline element).
fn is_block_event(event: &Event<'_>) -> bool {
    match event {
        Event::Start(tag) => !matches!(
            tag,
            Tag::Emphasis
                | Tag::Strong
                | Tag::Strikethrough
                | Tag::Superscript
                | Tag::Subscript
                | Tag::Link { .. }
                | Tag::Image { .. }
        ),
        Event::End(tag) => !matches!(
            tag,
            TagEnd::Emphasis
                | TagEnd::Strong
                | TagEnd::Strikethrough
                | TagEnd::Superscript
                | TagEnd::Subscript
                | TagEnd::Link
                | TagEnd::Image
        ),
        _ => false,
    }
}

/// Whitespace to Mattermost's parser.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

/// Whether the ASCII punctuation character at `at` is escaped by an odd
/// number of backslashes before it.
fn is_escaped(src: &str, at: usize) -> bool {
    let bytes = src.as_bytes();
    if !bytes[at].is_ascii_punctuation() {
        return false;
    }
    let backslashes = bytes[..at].iter().rev().take_while(|&&b| b == b'\\').count();
    backslashes % 2 == 1
}

const URL_SCHEMES: [&str; 6] = ["http", "https", "ftp", "mailto", "tel", "gemini"];

/// A URL with its `:` at `colon`; `raw_start` is where the block's text
/// starts, and its scheme starts at `floor` or later.
fn url_autolink(data: &str, raw_start: usize, floor: usize, colon: usize) -> Option<Range<usize>> {
    let bytes = data.as_bytes();
    if bytes.len() - colon < 4 || bytes[colon + 1] != b'/' || bytes[colon + 2] != b'/' {
        return None;
    }
    if colon == raw_start || colon <= floor {
        return None;
    }
    let mut start = colon - 1;
    while start > floor && bytes[start - 1].is_ascii_alphanumeric() {
        start -= 1;
    }
    let scheme = &bytes[start..colon];
    if !URL_SCHEMES.iter().any(|s| s.as_bytes().eq_ignore_ascii_case(scheme)) || !is_host_char(data, colon + 3) {
        return None;
    }
    // Mattermost adds the domain's length to the colon's position, not to
    // the host's; the end is then pushed to the next space anyway.
    let end = colon + domain_len(&data[colon + 3..], true)?;
    let end = trim_link_end(data, start, to_space(bytes, end));
    (start != end).then_some(start..end)
}

/// A `www.` link whose first `w` is at `at`.
fn www_autolink(data: &str, raw_start: usize, at: usize) -> Option<Range<usize>> {
    let bytes = data.as_bytes();
    if at - raw_start > 1 {
        let before = bytes[at - 1];
        if !is_space(char::from(before)) && !b"*_~)<(>".contains(&before) {
            return None;
        }
    }
    let rest = &bytes[at..];
    if rest.len() < 4 || !rest.starts_with(b"www") {
        return None;
    }
    let digits = rest[3..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > 3 || rest.get(3 + digits) != Some(&b'.') {
        return None;
    }
    let end = at + domain_len(&data[at..], false)?;
    let end = trim_link_end(data, at, to_space(bytes, end));
    (at != end).then_some(at..end)
}

/// The first whitespace at or after `from`, or the end.
fn to_space(bytes: &[u8], from: usize) -> usize {
    from + bytes[from..].iter().take_while(|&&b| !is_space(char::from(b))).count()
}

/// How many bytes of `data` make up a domain (Mattermost's `checkDomain`,
/// which never looks at the last byte); `None` for none.
fn domain_len(data: &str, allow_short: bool) -> Option<usize> {
    let bytes = data.as_bytes();
    let mut period = false;
    let mut i = 1;
    while i + 1 < bytes.len() {
        match bytes[i] {
            b'_' => return None,
            b'.' => period = true,
            b'-' => {}
            _ if !is_host_char(data, i) => break,
            _ => {}
        }
        i += 1;
    }
    (allow_short || period).then_some(i)
}

/// Whether the character at byte `at` may be part of a host name: not a
/// space, not punctuation (`at` inside a character is not).
fn is_host_char(data: &str, at: usize) -> bool {
    static PUNCTUATION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\p{P}").expect("valid"));
    let Some(rest) = data.get(at..) else {
        return false;
    };
    match rest.chars().next() {
        None | Some('\u{FFFD}') => false,
        Some(c) => !c.is_whitespace() && !PUNCTUATION.is_match(rest),
    }
}

/// Where a bare URL from `start` to `end` really ends (Mattermost's
/// `trimTrailingCharactersFromLink`).
fn trim_link_end(data: &str, start: usize, end: usize) -> usize {
    let chars: Vec<char> = data[start..end].chars().collect();
    let mut link_end = chars.iter().position(|&c| c == '<' || c == '>').unwrap_or(chars.len());
    let mut opening = chars[..link_end].iter().filter(|&&c| c == '(').count();
    let mut closing = chars[..link_end].iter().filter(|&&c| c == ')').count();

    while link_end > 0 {
        let last = chars[link_end - 1];
        let new_end = match last {
            '?' | '!' | '.' | ',' | ':' | '*' | '_' | '~' | '\'' | '"' => link_end - 1,
            ';' => {
                // Drop a trailing `&entity;`, else the semicolon alone.
                let letters = chars[..link_end - 1].iter().rev().take_while(|c| c.is_ascii_alphabetic()).count();
                let amp = (link_end - 1).checked_sub(letters + 1);
                match amp {
                    Some(amp) if letters > 0 && chars[amp] == '&' => amp,
                    _ => link_end - 1,
                }
            }
            ')' if closing > opening => link_end - 1,
            _ => break,
        };
        for &c in &chars[new_end..link_end] {
            match c {
                '(' => opening -= 1,
                ')' => closing -= 1,
                _ => {}
            }
        }
        link_end = new_end;
    }
    start + chars[..link_end].iter().map(|c| c.len_utf8()).sum::<usize>()
}

/// Whether Mattermost's `Unescape` would change the text: a backslash
/// before ASCII punctuation, or a character reference.
fn unescape_changes(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| match b {
        b'\\' => bytes.get(i + 1).is_some_and(u8::is_ascii_punctuation),
        b'&' => text[i + 1..].find(';').is_some_and(|semi| is_reference(&text[i + 1..i + 1 + semi])),
        _ => false,
    })
}

/// Whether `name` (between `&` and `;`) is a character reference to
/// Mattermost's parser.
fn is_reference(name: &str) -> bool {
    if let Some(number) = name.strip_prefix('#') {
        if let Some(hex) = number.strip_prefix(['x', 'X']) {
            return (1..=8).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit());
        }
        return (1..=8).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit());
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    // A named reference is one pulldown-cmark decodes.
    let reference = format!("&{name};");
    let mut decoded = String::new();
    for event in Parser::new(&reference) {
        if let Event::Text(text) = event {
            decoded.push_str(&text);
        }
    }
    decoded != reference
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(message: &str) -> Vec<&str> {
        text_runs(message).into_iter().map(|r| &message[r]).collect()
    }

    #[test]
    fn code_and_links_are_not_text() {
        assert_eq!(runs("a `b` c"), ["a ", " c"]);
        assert_eq!(runs("a\n```\nb\n```\nc"), ["a", "c"]);
        assert_eq!(runs("    code\n\ntext"), ["text"]);
        assert_eq!(runs("x [a b](c) y ![d](e) z"), ["x ", " y ", " z"]);
        assert_eq!(runs("[a][1] b\n\n[1]: http://c"), [" b"]);
    }

    #[test]
    fn lines_are_separate_runs() {
        assert_eq!(runs("a \n  b  \nc"), ["a", "b", "c"]);
        assert_eq!(runs("a  \nb"), ["a", "b"]);
        assert_eq!(runs("- a\n- b\n\n> c"), ["a", "b", "c"]);
    }

    #[test]
    fn markup_mattermost_reads_as_text_stays_in_the_run() {
        assert_eq!(runs("a *b* __c__ ***d*** e"), ["a *b* __c__ ***d*** e"]);
        assert_eq!(runs("a <b>c</b> d"), ["a <b>c</b> d"]);
        assert_eq!(runs("a <x@y.com> b"), ["a <x@y.com> b"]);
        assert_eq!(runs("# Title #"), ["# Title #"]);
        assert_eq!(runs("##  *a*  "), ["##  *a*"]);
        assert_eq!(runs("#"), ["#"]);
        assert_eq!(runs("Title\n==="), ["Title", "==="]);
        assert_eq!(runs("<div>\n  MM-1  \n</div>"), ["<div>", "MM-1", "</div>"]);
    }

    #[test]
    fn escapes_and_references() {
        assert_eq!(runs(r"a \*b c"), ["a ", "*b c"]);
        assert_eq!(runs(r"a \\[b"), ["a ", r"\[b"]);
        assert_eq!(runs("x &amp; y"), ["x &", " y"]);
        assert_eq!(runs("x &copy; y"), [" y"]);
        assert_eq!(runs("x & y"), ["x & y"]);
    }

    #[test]
    fn bare_urls_are_runs_of_their_own() {
        assert_eq!(
            runs("see https://a.b/c. and (www.d.com/e) f"),
            ["see ", "https://a.b/c", ". and (", "www.d.com/e", ") f"]
        );
        assert_eq!(runs("<http://x.com>"), ["<", "http://x.com", ">"]);
        assert_eq!(runs("BADhttps://x.com"), ["BADhttps://x.com"]);
        assert_eq!(runs("xwww.a.com"), ["x", "www.a.com"]);
        assert_eq!(runs("xxwww.a.com"), ["xxwww.a.com"]);
        // Positions count from the paragraph's first inline, code included.
        assert_eq!(runs("`x`awww.a.com"), ["awww.a.com"]);
        assert_eq!(runs("`x` www.a.com"), [" ", "www.a.com"]);
        assert_eq!(runs("http://a.com/<b>www.c.com"), ["http://a.com/", "<b>", "www.c.com"]);
        assert_eq!(runs("http://a_b.com"), ["http://a_b.com"]);
        assert_eq!(runs("http://x.com/(a))"), ["http://x.com/(a)", ")"]);
        assert_eq!(runs("http://x.com/a&amp;"), ["http://x.com/a", "&"]);
        assert_eq!(runs("http://x.com/a&b;c"), ["http://x.com/a&b;c"]);
        // Within an open `[` there are no bare URLs.
        assert_eq!(runs("[a http://x.com"), ["[a http://x.com"]);
        assert_eq!(runs("[a] http://x.com"), ["[a] ", "http://x.com"]);
        // A URL with an escape is not rewritten; the text runs on after it.
        assert_eq!(runs(r"http://x.com/\_a b"), [" b"]);
        assert_eq!(runs("http://x.com/&amp;a b"), [" b"]);
    }

    #[test]
    fn rewrite_runs_changes_only_the_runs_it_is_asked_to() {
        let upper = |run: &str| run.contains('a').then(|| run.to_uppercase());
        assert_eq!(rewrite_runs("a `a` b\n\nxa", upper).as_deref(), Some("A `a` b\n\nXA"), "the run \" b\" has no a");
        assert_eq!(rewrite_runs("b `a`", upper), None);
        assert_eq!(rewrite_runs("a", |_| Some("a".to_owned())), None, "the same text is no change");
    }
}

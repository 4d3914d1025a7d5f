//! The part of Go's `text/template` that go-i18n messages use: text with
//! `{{.Name}}` placeholders.
//!
//! Supported: `{{.Name}}`, with any spaces inside the braces (`{{ .Name
//! }}`), the trim markers `{{- ` and ` -}}` (which remove the white space
//! before or after the action, as in Go), comments `{{/* … */}}`, and a
//! message's own delimiters (go-i18n's `leftdelim` and `rightdelim`). A
//! text without the left delimiter is plain text, as go-i18n takes it.
//!
//! Anything else Go's templates can do (`{{if}}`, `{{range}}`, pipelines
//! with `|`, functions, `{{.}}`, fields of fields such as `{{.User.Name}}`,
//! variables) is refused with [`Unsupported`], which says what was found.
//! A placeholder with no value renders as Go renders a missing map key:
//! `<no value>`.

use std::fmt;

/// The delimiters of Go's templates, when a message does not set its own.
pub(crate) const LEFT: &str = "{{";
pub(crate) const RIGHT: &str = "}}";

/// What Go prints for a placeholder whose value is missing from the data.
pub(crate) const NO_VALUE: &str = "<no value>";

/// A message text, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// `{{.Name}}`: the name.
    Field(String),
}

/// A template action this module does not support, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsupported {
    /// The action, delimiters included (`{{if .Count}}`), or the text from
    /// an unclosed delimiter on.
    pub action: String,
    /// Why it is refused.
    pub why: &'static str,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.action, self.why)
    }
}

impl Template {
    /// Parses `source` with the delimiters `left` and `right` (empty: Go's
    /// `{{` and `}}`).
    pub(crate) fn parse(source: &str, left: &str, right: &str) -> Result<Template, Unsupported> {
        let left = if left.is_empty() { LEFT } else { left };
        let right = if right.is_empty() { RIGHT } else { right };
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        // Whether the previous action ended with ` -}}`.
        let mut trim_next = false;
        while let Some(start) = rest.find(left) {
            let mut before = &rest[..start];
            if trim_next {
                before = before.trim_start_matches(is_space);
            }
            let after_left = &rest[start + left.len()..];
            // `{{- ` trims the white space before the action (the dash must
            // be followed by white space: `{{-3}}` is the number -3 in Go).
            let (trim_before, inner_start) = match after_left.strip_prefix('-') {
                Some(tail) if tail.starts_with(is_space) => (true, tail),
                _ => (false, after_left),
            };
            if trim_before {
                before = before.trim_end_matches(is_space);
            }
            text.push_str(before);
            let Some(end) = inner_start.find(right) else {
                return Err(Unsupported { action: rest[start..].to_owned(), why: "the action is never closed" });
            };
            let mut inner = &inner_start[..end];
            let action = &rest[start..start + left.len() + (after_left.len() - inner_start.len()) + end + right.len()];
            // ` -}}` trims the white space after it.
            trim_next = false;
            if let Some(head) = inner.strip_suffix('-')
                && head.ends_with(is_space)
            {
                inner = head;
                trim_next = true;
            }
            let inner = inner.trim_matches(is_space);
            if inner.starts_with("/*") && inner.ends_with("*/") && inner.len() >= 4 {
                // A comment.
            } else if let Some(name) = field(inner) {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Field(name.to_owned()));
            } else {
                return Err(Unsupported { action: action.to_owned(), why: why_unsupported(inner) });
            }
            rest = &inner_start[end + right.len()..];
        }
        let tail = if trim_next { rest.trim_start_matches(is_space) } else { rest };
        text.push_str(tail);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template { parts })
    }

    /// The text with each placeholder's value from `value`; the names of
    /// placeholders it had no value for (rendered `<no value>`, as Go does)
    /// are pushed onto `missing`.
    pub(crate) fn render(&self, value: impl Fn(&str) -> Option<String>, missing: &mut Vec<String>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(name) => match value(name) {
                    Some(value) => out.push_str(&value),
                    None => {
                        out.push_str(NO_VALUE);
                        missing.push(name.clone());
                    }
                },
            }
        }
        out
    }

    /// The placeholders' names, in order.
    #[cfg(test)]
    pub(crate) fn fields(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|part| match part {
                Part::Field(name) => Some(name.as_str()),
                Part::Text(_) => None,
            })
            .collect()
    }
}

/// White space as Go's template lexer trims it.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `Name` of `.Name`, when that is all the action holds: a Go identifier
/// (a letter or `_`, then letters, digits and `_`).
fn field(inner: &str) -> Option<&str> {
    let name = inner.strip_prefix('.')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_alphabetic() || first == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')).then_some(name)
}

/// Why an action other than `.Name` is refused, in a few words.
fn why_unsupported(inner: &str) -> &'static str {
    let keyword = inner.split(is_space).next().unwrap_or_default();
    if inner.is_empty() {
        "an empty action; only `{{.Name}}` placeholders are supported"
    } else if inner == "." {
        "the whole data (`{{.}}`) is not supported; name a value: `{{.Name}}`"
    } else if inner.contains('|') {
        "pipelines (`|`) are not supported; only `{{.Name}}` placeholders are"
    } else if ["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"]
        .contains(&keyword)
    {
        "template logic (`if`, `range`, `with`, …) is not supported; only `{{.Name}}` placeholders are"
    } else if inner.starts_with('$') {
        "template variables are not supported; only `{{.Name}}` placeholders are"
    } else if inner.starts_with('.') && !inner.contains(is_space) && inner[1..].contains('.') {
        "fields of fields (`{{.A.B}}`) are not supported: the values are a flat list of names"
    } else {
        "only `{{.Name}}` placeholders are supported (no functions, arguments or literals)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, values: &[(&str, &str)]) -> String {
        let template = Template::parse(source, "", "").unwrap();
        let lookup = |name: &str| values.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        template.render(lookup, &mut Vec::new())
    }

    #[test]
    fn placeholders_with_or_without_spaces_are_filled() {
        assert_eq!(render("Hello, {{.Name}}!", &[("Name", "Ada")]), "Hello, Ada!");
        assert_eq!(render("{{ .TotalVoters }} voters", &[("TotalVoters", "7")]), "7 voters");
        assert_eq!(render("{{\t.A\n}}{{.B}}", &[("A", "1"), ("B", "2")]), "12");
        assert_eq!(render("no actions } at all }}", &[]), "no actions } at all }}");
        assert_eq!(render("", &[]), "");
        assert_eq!(render("{{._x1}} {{.Ünïcode}}", &[("_x1", "a"), ("Ünïcode", "b")]), "a b");
    }

    #[test]
    fn a_missing_value_renders_as_go_renders_it_and_is_reported() {
        let template = Template::parse("Hi {{.Name}}, {{.Count}}", "", "").unwrap();
        let mut missing = Vec::new();
        let text = template.render(|name| (name == "Count").then(|| "3".to_owned()), &mut missing);
        assert_eq!(text, "Hi <no value>, 3");
        assert_eq!(missing, ["Name"]);
        assert_eq!(template.fields(), ["Name", "Count"]);
    }

    #[test]
    fn trim_markers_and_comments_work_as_in_go() {
        assert_eq!(render("a  {{- .X -}}  b", &[("X", "x")]), "axb");
        assert_eq!(render("a \n{{- .X}} b", &[("X", "x")]), "ax b");
        assert_eq!(render("a {{.X -}}\n\t b", &[("X", "x")]), "a xb");
        assert_eq!(render("a {{/* for translators */}}b", &[]), "a b");
        assert_eq!(render("a {{- /* gone */ -}} b", &[]), "ab");
    }

    #[test]
    fn a_message_may_set_its_own_delimiters() {
        let template = Template::parse("Hello, <<.Name>>! {{.Name}}", "<<", ">>").unwrap();
        let text = template.render(|_| Some("Ada".to_owned()), &mut Vec::new());
        assert_eq!(text, "Hello, Ada! {{.Name}}");
    }

    #[test]
    fn everything_else_is_refused_saying_what_and_why() {
        let refused = |source: &str| Template::parse(source, "", "").unwrap_err();
        let logic = refused("{{if .Count}}many{{end}}");
        assert_eq!(logic.action, "{{if .Count}}");
        assert!(logic.why.contains("`if`"), "{logic}");
        assert!(refused("{{.Name | printf \"%q\"}}").why.contains("pipelines"));
        assert!(refused("{{.}}").why.contains("whole data"));
        assert!(refused("{{.User.Name}}").why.contains("fields of fields"));
        assert!(refused("{{$x := 1}}").why.contains("variables"));
        assert!(refused("{{len .Items}}").why.contains("no functions"));
        assert!(refused("{{-3}}").why.contains("no functions"), "a dash without a space is a number");
        assert_eq!(refused("{{}}").action, "{{}}");
        let unclosed = refused("Hello, {{.Name");
        assert_eq!((unclosed.action.as_str(), unclosed.why), ("{{.Name", "the action is never closed"));
        assert_eq!(unclosed.to_string(), "`{{.Name`: the action is never closed");
    }
}

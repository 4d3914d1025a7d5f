//! go-i18n's message files, read as go-i18n v2 reads them
//! (`i18n/parse.go` and `i18n/message.go` of nicksnyder/go-i18n).
//!
//! A file is a JSON object of message ids to messages. A message is a
//! string (its `other` form) or an object of reserved keys, in any case:
//! `id`, `description`, `hash`, `leftdelim`, `rightdelim` and the plural
//! forms `zero`, `one`, `two`, `few`, `many`, `other`. An object without
//! reserved keys groups messages: `{"a": {"b": "x"}}` is the message `a.b`.
//! A top-level array is go-i18n v1's format (`[{"id": "a", "translation":
//! "x"}]`, `translation` being a string or an object of plural forms),
//! which v2 still reads. `null` is no message. An object mixing reserved
//! and other keys is an error, as in go-i18n.

use serde_json::{Map, Value};

use super::plural::PluralForm;
use super::template::Template;
use super::{Entry, I18nError};

/// The keys that make an object a message (go-i18n's `reservedKeys`).
const RESERVED: [&str; 12] = [
    "id",
    "description",
    "hash",
    "leftdelim",
    "rightdelim",
    "zero",
    "one",
    "two",
    "few",
    "many",
    "other",
    "translation",
];

/// A message as the file gives it, before its texts are parsed.
#[derive(Debug, Default)]
struct Raw {
    id: String,
    left_delim: String,
    right_delim: String,
    forms: [Option<String>; 6],
}

/// The language tag a message file's name gives, as go-i18n's `parsePath`
/// finds it: the part between the last two dots (`active.de.json` → `de`),
/// or before the only one (`pt-BR.json` → `pt-BR`).
pub(super) fn language_part(file_name: &str) -> &str {
    let stem = file_name.rsplit_once('.').map_or("", |(stem, _)| stem);
    stem.rsplit_once('.').map_or(stem, |(_, tag)| tag)
}

/// The messages of a file named `file` (for errors) holding `bytes`: id and
/// entry, in the file's order of keys. An empty file has none.
pub(super) fn parse(file: &str, bytes: &[u8]) -> Result<Vec<(String, Entry)>, I18nError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let format = |problem: String| I18nError::Format { file: file.to_owned(), problem };
    let raw: Value =
        serde_json::from_slice(bytes).map_err(|source| I18nError::Json { file: file.to_owned(), source })?;
    let messages = match &raw {
        Value::Object(_) | Value::Array(_) => {
            let is_message = is_message(&raw).map_err(format)?;
            messages(&raw, is_message).map_err(format)?
        }
        _ => {
            return Err(format(
                "a message file is an object of message ids (or go-i18n v1's array), not a single value".into(),
            ));
        }
    };
    let mut entries = Vec::with_capacity(messages.len());
    for raw in messages {
        let mut entry = Entry::default();
        for form in PluralForm::ALL {
            let Some(text) = raw.forms[form.index()].as_deref().filter(|text| !text.is_empty()) else { continue };
            let template = Template::parse(text, &raw.left_delim, &raw.right_delim).map_err(|unsupported| {
                I18nError::Template {
                    file: file.to_owned(),
                    id: raw.id.clone(),
                    form,
                    problem: unsupported.to_string(),
                }
            })?;
            entry.forms[form.index()] = Some(template);
        }
        // A message with no text (`null`, `""`) is no message: go-i18n
        // makes no template of it.
        if entry.forms.iter().any(Option::is_some) {
            entries.push((raw.id, entry));
        }
    }
    Ok(entries)
}

/// Whether `value` is a message rather than a group of messages (go-i18n's
/// `isMessage`); an object mixing both kinds of keys is an error.
fn is_message(value: &Value) -> Result<bool, String> {
    match value {
        Value::Null | Value::String(_) => Ok(true),
        Value::Object(object) => {
            let (mut reserved, mut other) = (Vec::new(), Vec::new());
            for (key, value) in object {
                if is_reserved(key, value) { reserved.push(key) } else { other.push(key) }
            }
            if !reserved.is_empty() && !other.is_empty() {
                return Err(format!("reserved keys {reserved:?} mixed with other keys {other:?} in one object"));
            }
            Ok(!reserved.is_empty())
        }
        _ => Ok(false),
    }
}

/// A key that makes its object a message: a reserved key (any case) with a
/// text, or `translation` with anything.
fn is_reserved(key: &str, value: &Value) -> bool {
    key == "translation" || (RESERVED.iter().any(|r| key.eq_ignore_ascii_case(r)) && value.is_string())
}

/// The messages in `value`, ids complete.
fn messages(value: &Value, a_message: bool) -> Result<Vec<Raw>, String> {
    match value {
        Value::String(_) | Value::Null | Value::Object(_) if a_message => Ok(vec![message(value)?]),
        Value::Object(object) => {
            let mut out = Vec::new();
            for (key, child) in object {
                let child_is_message = is_message_at(key, child)?;
                for mut raw in messages(child, child_is_message).map_err(|e| at(key, e))? {
                    if child_is_message {
                        if raw.id.is_empty() {
                            raw.id = key.clone();
                        }
                    } else {
                        raw.id = format!("{key}.{}", raw.id);
                    }
                    out.push(raw);
                }
            }
            Ok(out)
        }
        // go-i18n v1's format: a list of messages with their ids.
        Value::Array(items) => {
            let mut out = Vec::new();
            for (n, item) in items.iter().enumerate() {
                let item_is_message = is_message(item).map_err(|e| at(&format!("[{n}]"), e))?;
                out.extend(messages(item, item_is_message).map_err(|e| at(&format!("[{n}]"), e))?);
            }
            Ok(out)
        }
        Value::Bool(_) | Value::Number(_) => Err(format!("a message is a text or an object, not {value}")),
        Value::String(_) | Value::Null => unreachable!("a string or null is always a message"),
    }
}

fn is_message_at(key: &str, value: &Value) -> Result<bool, String> {
    is_message(value).map_err(|e| at(key, e))
}

/// `problem`, said to be under `key`.
fn at(key: &str, problem: String) -> String {
    match problem.strip_prefix("under ") {
        Some(deeper) => format!("under {key:?}/{deeper}"),
        None => format!("under {key:?}: {problem}"),
    }
}

/// One message (go-i18n's `Message.unmarshalInterface`).
fn message(value: &Value) -> Result<Raw, String> {
    let mut raw = Raw::default();
    match value {
        Value::Null => {}
        Value::String(text) => raw.forms[PluralForm::Other.index()] = Some(text.clone()),
        Value::Object(object) => {
            for (key, value) in object {
                if key == "translation" {
                    // v1: the text, or an object of plural forms.
                    match value {
                        Value::String(text) => raw.forms[PluralForm::Other.index()] = Some(text.clone()),
                        Value::Object(forms) => set_keys(&mut raw, forms, "translation")?,
                        Value::Null => {}
                        other => return Err(format!("\"translation\" is a text or an object, not {other}")),
                    }
                } else {
                    set_key(&mut raw, key, value)?;
                }
            }
        }
        _ => unreachable!("only strings, null and objects are messages"),
    }
    Ok(raw)
}

fn set_keys(raw: &mut Raw, object: &Map<String, Value>, within: &str) -> Result<(), String> {
    for (key, value) in object {
        set_key(raw, key, value).map_err(|e| format!("in {within:?}: {e}"))?;
    }
    Ok(())
}

fn set_key(raw: &mut Raw, key: &str, value: &Value) -> Result<(), String> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Null => return Ok(()),
        other => return Err(format!("the value of {key:?} is {other}, not a text")),
    };
    match key.to_ascii_lowercase().as_str() {
        "id" => raw.id = text,
        "leftdelim" => raw.left_delim = text,
        "rightdelim" => raw.right_delim = text,
        // For translators and for goi18n's merge: nothing to render.
        "description" | "hash" => {}
        lowered => {
            if let Some(form) = PluralForm::from_key(lowered) {
                raw.forms[form.index()] = Some(text);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(json: &str) -> Vec<String> {
        parse("t.json", json.as_bytes()).unwrap().into_iter().map(|(id, _)| id).collect()
    }

    fn problem(json: &str) -> String {
        parse("de.json", json.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn the_language_is_the_part_between_the_last_two_dots() {
        assert_eq!(language_part("de.json"), "de");
        assert_eq!(language_part("active.pt-BR.json"), "pt-BR");
        assert_eq!(language_part("messages.active.zh_CN.json"), "zh_CN");
        assert_eq!(language_part("json"), "");
        assert_eq!(language_part(".json"), "");
    }

    #[test]
    fn flat_nested_and_grouped_messages_get_their_ids() {
        let json = r#"{
            "flat": "Hello",
            "plural": {"one": "1 item", "other": "{{.Count}} items", "hash": "sha1-x", "description": "d"},
            "group": {"inner": "x", "deeper": {"leaf": {"Other": "y"}}},
            "renamed": {"id": "given", "other": "z"},
            "none": null,
            "empty": ""
        }"#;
        let mut found = ids(json);
        found.sort();
        assert_eq!(found, ["flat", "given", "group.deeper.leaf", "group.inner", "plural"]);
    }

    #[test]
    fn go_i18n_v1_arrays_are_read_too() {
        let json = r#"[
            {"id": "a", "translation": "A"},
            {"id": "b", "translation": {"one": "one b", "other": "{{.Count}} b"}}
        ]"#;
        let entries = parse("en.json", json.as_bytes()).unwrap();
        assert_eq!(entries.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(entries[1].1.forms[PluralForm::One.index()].is_some());
    }

    #[test]
    fn a_whole_file_may_be_one_message_with_its_id() {
        assert_eq!(ids(r#"{"id": "only", "other": "x"}"#), ["only"]);
    }

    #[test]
    fn wrong_shapes_say_where() {
        assert_eq!(
            problem(r#"{"a": {"other": "x", "note": "y"}}"#),
            r#"de.json: under "a": reserved keys ["other"] mixed with other keys ["note"] in one object"#
        );
        assert_eq!(problem(r#"{"a": {"b": 3}}"#), r#"de.json: under "a"/"b": a message is a text or an object, not 3"#);
        assert_eq!(
            problem(r#"{"a": {"other": "x", "one": 1}}"#),
            r#"de.json: under "a": reserved keys ["other"] mixed with other keys ["one"] in one object"#
        );
        assert!(problem(r#""just text""#).contains("not a single value"));
        assert!(problem("[1]").contains("under \"[0]\": a message is a text or an object, not 1"));
    }

    #[test]
    fn a_template_go_i18n_would_run_but_this_cannot_is_named() {
        let error = problem(r#"{"count": {"one": "{{if .X}}x{{end}}", "other": "y"}}"#);
        assert!(error.starts_with(r#"de.json: message "count" (one): `{{if .X}}`: template logic"#), "{error}");
    }

    #[test]
    fn an_empty_file_has_no_messages_and_bad_json_says_where() {
        assert!(parse("de.json", b"").unwrap().is_empty());
        assert!(parse("de.json", b"{}").unwrap().is_empty());
        let error = parse("assets/i18n/de.json", b"{\n  \"a\": \"x\",\n  \"b\" \"y\"\n}").unwrap_err();
        assert_eq!(error.to_string(), "assets/i18n/de.json: not valid JSON: expected `:` at line 3 column 7");
    }
}

//! A plugin's manifest (`plugin.json`) as the server reads it: the checks
//! it makes when it installs a plugin (`Manifest.IsValid` and the JSON
//! types of the fields), and the setting types it knows. `bundle` rewrites
//! a manifest for a bundle; `settings` turns its settings into a struct.
//! Pure: no file is read here.

use std::{fmt, path::Path};

use serde_json::{Map, Value};


/// The setting types the server knows.
pub const SETTING_TYPES: [&str; 9] =
    ["bool", "dropdown", "generated", "radio", "text", "longtext", "number", "username", "custom"];

/// The setting types that may have a `placeholder`.
const PLACEHOLDER_TYPES: [&str; 6] = ["generated", "text", "longtext", "number", "username", "custom"];

/// One thing wrong with a manifest, located by its field path
/// (`settings_schema.settings[2].type`; empty for the manifest as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: a field path such as `server.executables.linux-amd64`.
    pub field: String,
    /// What is wrong, and what the server expects.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// Each problem on its own line, prefixed with the manifest's path.
    pub(crate) fn lines(file: &Path, problems: &[Problem]) -> String {
        problems.iter().map(|p| format!("{}: {p}", file.display())).collect::<Vec<_>>().join("\n")
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.field, self.message) }
    }
}

/// Checks a manifest as the server does when it installs the plugin, and
/// returns every problem found (none: the server accepts it).
///
/// The server's rules: `id` is 3 to 190 of `a-z A-Z 0-9 - _ .`; `name` is
/// not blank; `homepage_url`, `support_url` and `release_notes_url` are
/// http(s) URLs when set; `version` and `min_server_version` are strict
/// semantic versions when set; every setting (in `settings_schema.settings`
/// and in each of `settings_schema.sections`) has a known `type`,
/// `regenerate_help_text` only on `generated`, `placeholder` only on
/// `generated`, `text`, `longtext`, `number`, `username` and `custom`,
/// `options` only on `radio` and `dropdown`, each with a `display_name` and
/// a `value`; a section has a `key`. The server reads the manifest into typed
/// fields, so a known field of the wrong JSON type is a problem too (`null`
/// counts as absent, as it does for the server).
pub fn validate(manifest: &Value) -> Vec<Problem> {
    let Value::Object(m) = manifest else {
        return vec![Problem::new("", format!("a manifest is a JSON object, not {}", describe(manifest)))];
    };
    let mut c = Checker::default();
    same_but_for_case(manifest, "", &mut c);
    match c.string(m, "id", "id") {
        Some(id) if !id.is_empty() => {
            if let Some(message) = id_problem(id) {
                c.push("id", message);
            }
        }
        _ if mistyped(m, "id") => {}
        _ => c.push("id", "required: the plugin's id, 3 to 190 of the characters a-z A-Z 0-9 - _ ."),
    }
    match c.string(m, "name", "name") {
        Some(name) if !name.trim().is_empty() => {}
        _ if mistyped(m, "name") => {}
        _ => c.push("name", "required: the name the System Console shows, not blank"),
    }
    for key in ["description", "icon_path"] {
        c.string(m, key, key);
    }
    for key in ["homepage_url", "support_url", "release_notes_url"] {
        if let Some(url) = c.string(m, key, key).filter(|u| !u.is_empty())
            && !is_http_url(url)
        {
            c.push(key, format!("{} is not an http:// or https:// URL with a host", shown(url)));
        }
    }
    for key in ["version", "min_server_version"] {
        if let Some(version) = c.string(m, key, key).filter(|v| !v.is_empty())
            && let Err(e) = semver::Version::parse(version)
        {
            c.push(
                key,
                format!(
                    "{} is not a semantic version: MAJOR.MINOR.PATCH such as 1.2.3, without a leading v \
                     or leading zeros, with an optional -prerelease and +build ({e})",
                    shown(version)
                ),
            );
        }
    }
    if let Some(server) = c.object(m, "server", "server") {
        if let Some(executables) = c.object(server, "executables", "server.executables") {
            for key in executables.keys() {
                c.string(executables, key, &format!("server.executables.{key}"));
            }
        }
        c.string(server, "executable", "server.executable");
        c.string(server, "runtime", "server.runtime");
    }
    if let Some(webapp) = c.object(m, "webapp", "webapp") {
        c.string(webapp, "bundle_path", "webapp.bundle_path");
    }
    c.object(m, "props", "props");
    if let Some(schema) = c.object(m, "settings_schema", "settings_schema") {
        for key in ["header", "footer"] {
            c.string(schema, key, &format!("settings_schema.{key}"));
        }
        if let Some(settings) = c.array(schema, "settings", "settings_schema.settings") {
            for (i, setting) in settings.iter().enumerate() {
                c.setting(setting, &format!("settings_schema.settings[{i}]"));
            }
        }
        if let Some(sections) = c.array(schema, "sections", "settings_schema.sections") {
            for (i, section) in sections.iter().enumerate() {
                c.section(section, &format!("settings_schema.sections[{i}]"));
            }
        }
    }
    c.problems
}

/// Whether `key` holds something other than a string or null (a problem
/// already reported).
/// Keys of one object that differ only in case. The server reads the
/// manifest with Go's `encoding/json`, which matches keys to fields without
/// regard to case, the last one winning: `"id"` and a later `"ID"` are one
/// field for it, while this checker (and any case-sensitive reader) sees
/// two, so what was checked would not be what is installed.
fn same_but_for_case(value: &Value, path: &str, c: &mut Checker) {
    let at = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match value {
        Value::Object(obj) => {
            let mut seen: Vec<&String> = Vec::new();
            for key in obj.keys() {
                if let Some(first) = seen.iter().find(|k| k.to_lowercase() == key.to_lowercase()) {
                    c.push(
                        at(key),
                        format!(
                            "{first:?} and {key:?} differ only in case; the server reads them as one field (the last wins): keep one"
                        ),
                    );
                } else {
                    seen.push(key);
                }
            }
            for (key, child) in obj {
                same_but_for_case(child, &at(key), c);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                same_but_for_case(item, &format!("{path}[{i}]"), c);
            }
        }
        _ => {}
    }
}

/// Whether `key` holds something other than a string (a problem `validate`
/// reports), so that a check of its text is not made on top.
pub(crate) fn mistyped(obj: &Map<String, Value>, key: &str) -> bool {
    obj.get(key).is_some_and(|v| !v.is_null() && !v.is_string())
}

/// What is wrong with a non-empty id, if anything.
pub(crate) fn id_problem(id: &str) -> Option<String> {
    if let Some(bad) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Some(format!("{} has the character {bad:?}: an id is made of a-z A-Z 0-9 - _ . only", shown(id)));
    }
    match id.len() {
        n if n < 3 => Some(format!("{} is too short: an id has 3 to 190 characters", shown(id))),
        n if n > 190 => Some(format!("{} is {n} characters long: an id has at most 190", shown(id))),
        _ => None,
    }
}

/// The server's `IsValidHTTPURL`: `http://` or `https://`, then a URL Go's
/// `url.ParseRequestURI` reads with a host.
fn is_http_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    !host.is_empty() && !url.chars().any(|c| c.is_control() || c == ' ')
}

/// A string for a message: quoted, and cut short when long.
fn shown(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let start: String = s.chars().take(MAX - 20).collect();
        format!("{start:?}…")
    }
}

/// A JSON value's kind, for "expected …, found …".
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {}", shown(s)),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Collects problems while reading fields.
#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(field, message));
    }

    /// The field as `T`; absent and null are `None`; another type is a
    /// problem, and `None`.
    fn typed<'a, T>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        path: &str,
        expected: &str,
        get: fn(&'a Value) -> Option<T>,
    ) -> Option<T> {
        let value = obj.get(key).filter(|v| !v.is_null())?;
        let got = get(value);
        if got.is_none() {
            self.push(path, format!("expected {expected}, found {}", describe(value)));
        }
        got
    }

    fn string<'a>(&mut self, obj: &'a Map<String, Value>, key: &str, path: &str) -> Option<&'a str> {
        self.typed(obj, key, path, "a string", Value::as_str)
    }

    fn object<'a>(&mut self, obj: &'a Map<String, Value>, key: &str, path: &str) -> Option<&'a Map<String, Value>> {
        self.typed(obj, key, path, "an object", Value::as_object)
    }

    fn array<'a>(&mut self, obj: &'a Map<String, Value>, key: &str, path: &str) -> Option<&'a Vec<Value>> {
        self.typed(obj, key, path, "an array", Value::as_array)
    }

    fn boolean(&mut self, obj: &Map<String, Value>, key: &str, path: &str) {
        self.typed(obj, key, path, "true or false", Value::as_bool);
    }

    /// A settings section: a key, and settings like the top-level ones.
    fn section(&mut self, section: &Value, path: &str) {
        let Some(obj) = section.as_object() else {
            self.push(path, format!("expected an object, found {}", describe(section)));
            return;
        };
        match self.string(obj, "key", &format!("{path}.key")) {
            Some(key) if !key.is_empty() => {}
            _ if mistyped(obj, "key") => {}
            _ => self.push(format!("{path}.key"), "required: a section has a non-empty key"),
        }
        for key in ["title", "subtitle", "header", "footer"] {
            self.string(obj, key, &format!("{path}.{key}"));
        }
        for key in ["custom", "fallback"] {
            self.boolean(obj, key, &format!("{path}.{key}"));
        }
        if let Some(settings) = self.array(obj, "settings", &format!("{path}.settings")) {
            for (i, setting) in settings.iter().enumerate() {
                self.setting(setting, &format!("{path}.settings[{i}]"));
            }
        }
    }

    /// One setting of the settings schema.
    fn setting(&mut self, setting: &Value, path: &str) {
        let Some(obj) = setting.as_object() else {
            self.push(path, format!("expected an object, found {}", describe(setting)));
            return;
        };
        for key in ["key", "display_name", "help_text", "hosting"] {
            self.string(obj, key, &format!("{path}.{key}"));
        }
        self.boolean(obj, "secret", &format!("{path}.secret"));
        let types = SETTING_TYPES.join(", ");
        let ty = match self.string(obj, "type", &format!("{path}.type")) {
            Some(ty) if SETTING_TYPES.contains(&ty) => Some(ty),
            Some(ty) => {
                self.push(
                    format!("{path}.type"),
                    format!("{} is not a setting type the server knows ({types})", shown(ty)),
                );
                None
            }
            None if mistyped(obj, "type") => None,
            None => {
                self.push(format!("{path}.type"), format!("required: one of {types}"));
                None
            }
        };
        let help = self.string(obj, "regenerate_help_text", &format!("{path}.regenerate_help_text"));
        if let (Some(ty), Some(help)) = (ty, help)
            && !help.is_empty()
            && ty != "generated"
        {
            self.push(
                format!("{path}.regenerate_help_text"),
                format!("only a setting of type generated has one; this one is {ty:?}"),
            );
        }
        let placeholder = self.string(obj, "placeholder", &format!("{path}.placeholder"));
        if let (Some(ty), Some(placeholder)) = (ty, placeholder)
            && !placeholder.is_empty()
            && !PLACEHOLDER_TYPES.contains(&ty)
        {
            self.push(
                format!("{path}.placeholder"),
                format!("only settings of type {} have one; this one is {ty:?}", PLACEHOLDER_TYPES.join(", ")),
            );
        }
        let Some(options) = self.array(obj, "options", &format!("{path}.options")) else { return };
        if let Some(ty) = ty
            && ty != "radio"
            && ty != "dropdown"
        {
            self.push(
                format!("{path}.options"),
                format!("only settings of type radio or dropdown have options; this one is {ty:?}"),
            );
        }
        for (i, option) in options.iter().enumerate() {
            let at = format!("{path}.options[{i}]");
            let Some(option) = option.as_object() else {
                self.push(at, format!("expected an object, found {}", describe(option)));
                continue;
            };
            for key in ["display_name", "value"] {
                match self.string(option, key, &format!("{at}.{key}")) {
                    Some(s) if !s.is_empty() => {}
                    _ if mistyped(option, key) => {}
                    _ => self
                        .push(format!("{at}.{key}"), "required: every option has a non-empty display_name and value"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(manifest: Value) -> Vec<String> {
        validate(&manifest).into_iter().map(|p| p.field).collect()
    }

    fn ok() -> Value {
        json!({ "id": "com.example.x", "name": "X", "version": "1.0.0" })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut m = ok();
        m[key] = value;
        m
    }

    #[test]
    fn a_minimal_manifest_is_valid() {
        assert!(validate(&ok()).is_empty());
        assert!(validate(&json!({ "id": "abc", "name": "n" })).is_empty(), "the server needs no version");
    }

    #[test]
    fn ids() {
        for good in ["abc", "com.example.My_plugin-2", &"a".repeat(190)] {
            assert!(fields(with("id", json!(good))).is_empty(), "{good}");
        }
        for bad in ["ab", "com example", "com/x", "plügin", &"a".repeat(191), ""] {
            assert_eq!(fields(with("id", json!(bad))), ["id"], "{bad}");
        }
        let mut m = ok();
        m.as_object_mut().unwrap().shift_remove("id");
        assert_eq!(fields(m), ["id"]);
        let long = &validate(&with("id", json!("a".repeat(191))))[0].message;
        assert!(long.contains("191 characters") && long.len() < 120, "{long}");
    }

    #[test]
    fn names_urls_and_versions() {
        assert_eq!(fields(with("name", json!("  "))), ["name"]);
        assert_eq!(fields(with("name", json!(5))), ["name"]);
        assert!(validate(&with("name", json!(5)))[0].message.contains("expected a string, found the number 5"));
        for good in ["https://example.com", "http://example.com:8080/x?y#z", "https://u@host/"] {
            assert!(fields(with("homepage_url", json!(good))).is_empty(), "{good}");
        }
        for bad in ["example.com", "ftp://example.com", "https://", "https:///path", "https://a b", "HTTPS://x"] {
            assert_eq!(fields(with("support_url", json!(bad))), ["support_url"], "{bad}");
        }
        assert!(fields(with("release_notes_url", json!(""))).is_empty(), "empty means unset");
        for good in ["1.0.0", "0.0.1-alpha.1+build.5", "10.20.30"] {
            assert!(fields(with("min_server_version", json!(good))).is_empty(), "{good}");
        }
        for bad in ["v1.0.0", "1.0", "01.0.0", "1.0.0-", "1.0.0-01", " 1.0.0"] {
            assert_eq!(fields(with("version", json!(bad))), ["version"], "{bad}");
        }
    }

    #[test]
    fn settings() {
        let schema = |settings: Value| with("settings_schema", json!({ "settings": settings }));
        let fine = json!([
            { "key": "a", "type": "text", "placeholder": "p" },
            { "key": "b", "type": "generated", "regenerate_help_text": "r", "placeholder": "p" },
            { "key": "c", "type": "radio", "options": [{ "display_name": "A", "value": "a" }] },
            { "key": "d", "type": "bool", "placeholder": "", "options": null },
        ]);
        assert!(validate(&schema(fine)).is_empty());
        let bad = json!([
            { "type": "texte" },
            { "type": "bool", "placeholder": "p" },
            { "type": "text", "options": [] },
            { "type": "dropdown", "options": [{ "display_name": "A", "value": "" }, { "value": "b" }, 3] },
            { "type": "text", "regenerate_help_text": "r" },
            {},
            "text",
            { "type": 5, "secret": "yes" },
        ]);
        assert_eq!(
            fields(schema(bad)),
            [
                "settings_schema.settings[0].type",
                "settings_schema.settings[1].placeholder",
                "settings_schema.settings[2].options",
                "settings_schema.settings[3].options[0].value",
                "settings_schema.settings[3].options[1].display_name",
                "settings_schema.settings[3].options[2]",
                "settings_schema.settings[4].regenerate_help_text",
                "settings_schema.settings[5].type",
                "settings_schema.settings[6]",
                "settings_schema.settings[7].secret",
                "settings_schema.settings[7].type",
            ]
        );
        let message = &validate(&schema(json!([{}, {}, { "type": "texte" }])))[2].message;
        assert_eq!(
            message,
            "\"texte\" is not a setting type the server knows \
             (bool, dropdown, generated, radio, text, longtext, number, username, custom)"
        );
        let sections = with(
            "settings_schema",
            json!({ "sections": [{ "key": "s", "settings": [{ "type": "bool" }] }, { "settings": [{ "type": "x" }] }] }),
        );
        assert_eq!(
            fields(sections),
            ["settings_schema.sections[1].key", "settings_schema.sections[1].settings[0].type"]
        );
    }

    #[test]
    fn wrong_types_and_not_an_object() {
        assert_eq!(fields(json!([1])), [""]);
        assert!(validate(&json!("x"))[0].message.contains("not the string \"x\""));
        let m = json!({
            "id": 1, "name": "n", "server": { "executables": { "linux-amd64": 5 }, "runtime": [] },
            "webapp": "w", "settings_schema": { "settings": {} }, "props": [], "description": null,
        });
        assert_eq!(
            fields(m),
            ["id", "server.executables.linux-amd64", "server.runtime", "webapp", "props", "settings_schema.settings"]
        );
    }


    /// Go's decoder matches keys without regard to case, the last winning:
    /// `"id"` then `"ID": "../../x"` installs as id `../../x`.
    #[test]
    fn keys_that_differ_only_in_case_are_refused_at_any_depth() {
        let manifest: Value = serde_json::from_str(
            r#"{"id": "com.example.x", "name": "X", "version": "1.0.0", "ID": "../../x",
                "server": {"runtime": "python", "SERVER": 1},
                "settings_schema": {"settings": [{"key": "A", "type": "text", "Type": "bool"}]}}"#,
        )
        .unwrap();
        let problems = validate(&manifest);
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"ID"), "{problems:?}");
        assert!(fields.contains(&"settings_schema.settings[0].Type"), "{problems:?}");
        let id = problems.iter().find(|p| p.field == "ID").unwrap();
        assert!(id.message.contains("\"id\" and \"ID\" differ only in case"), "{}", id.message);
        // `server` and `SERVER` at the top.
        let cased = serde_json::json!({"id": "com.example.x", "name": "X", "server": {}, "SERVER": {"runtime": "go"}});
        assert!(validate(&cased).iter().any(|p| p.field == "SERVER"));
    }

}

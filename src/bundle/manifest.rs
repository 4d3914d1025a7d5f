//! The manifest: the checks the server makes when it installs a plugin
//! (`Manifest.IsValid` and the JSON types of its fields), and the rewrite a
//! bundle needs. Both are pure.

use std::{fmt, path::Path};

use serde_json::{Map, Value};

use super::{LAUNCHER_PATH, Platform, WINDOWS_EXECUTABLE};

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
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// Each problem on its own line, prefixed with the manifest's path.
    pub(super) fn lines(file: &Path, problems: &[Problem]) -> String {
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

fn mistyped(obj: &Map<String, Value>, key: &str) -> bool {
    obj.get(key).is_some_and(|v| !v.is_null() && !v.is_string())
}

/// What is wrong with a non-empty id, if anything.
fn id_problem(id: &str) -> Option<String> {
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

/// A manifest as it goes into a bundle, and where each binary goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The plugin's id, as written (the bundle's top folder).
    pub id: String,
    /// The plugin's version, as written.
    pub version: String,
    /// The manifest for the bundle: the author's, with `server.runtime`,
    /// `server.executables` and `server.executable` changed, every other key
    /// and the key order kept.
    pub manifest: Value,
    /// Each platform with the path of its binary in the plugin folder, in
    /// platform order.
    pub executables: Vec<(Platform, String)>,
    /// One line per change made to the author's manifest, a line when the id
    /// has upper-case letters, and one per file the manifest names that the
    /// bundle does not hold (`webapp.bundle_path`, `icon_path`).
    pub notes: Vec<String>,
}

impl Rewrite {
    /// The bundle's file name: `<id>-<version>.tar.gz`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tar.gz", self.id, self.version)
    }

    /// The manifest's bytes in the bundle: pretty-printed, with a trailing
    /// newline.
    pub fn to_json(&self) -> String {
        format!("{:#}\n", self.manifest)
    }
}

/// Validates `manifest` (see [`validate`]; a bundle also needs a `version`,
/// for its name) and rewrites it for a bundle holding binaries for
/// `platforms`:
///
/// - `server.runtime` becomes `"python"`, the only runtime the server starts
///   over gRPC (`server` is created if absent);
/// - `server.executables` holds exactly `platforms`: a Linux or macOS binary
///   stays at the path the manifest gives for it when that is a safe relative
///   path (no `..`, no `\`, not absolute, clear of `plugin.json`, the
///   launcher and the other binaries), else goes to
///   `server/dist/plugin-<platform>`; the Windows binary is always
///   `venv/Scripts/python.exe`, where the host looks for its interpreter;
/// - `server.executable` is removed: the host would start it on a platform
///   the bundle has no binary for.
pub fn rewrite(manifest: &Value, platforms: &[Platform]) -> Result<Rewrite, Vec<Problem>> {
    let mut problems = validate(manifest);
    let Value::Object(author) = manifest else { return Err(problems) };
    let text = |key: &str| author.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let (id, version) = (text("id"), text("version"));
    if version.is_empty() && !mistyped(author, "version") {
        problems.push(Problem::new(
            "version",
            format!(
                "required for a bundle, which is named <id>-<version>.tar.gz (such as {}-1.0.0.tar.gz), \
                 although the server accepts a manifest without one",
                if id.is_empty() { "com.example.plugin" } else { &id }
            ),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut platforms = platforms.to_vec();
    platforms.sort();
    platforms.dedup();

    let mut notes = notes_on_what_stays(author, &id);
    let mut server = match author.get("server") {
        Some(Value::Object(server)) => server.clone(),
        _ => Map::new(),
    };
    set_runtime(&mut server, &mut notes);
    let placed = set_executables(&mut server, &platforms, &mut notes);
    let mut out = author.clone();
    out.insert("server".into(), Value::Object(server));
    let executables = placed.into_iter().map(|(p, path, _)| (p, path)).collect();
    Ok(Rewrite { id, version, manifest: Value::Object(out), executables, notes })
}

/// What the author should know of the fields the bundle keeps as they are:
/// an id the server lower-cases, files named that the bundle does not hold.
fn notes_on_what_stays(author: &Map<String, Value>, id: &str) -> Vec<String> {
    let mut notes = Vec::new();
    if id.chars().any(|c| c.is_ascii_uppercase()) {
        notes.push(format!(
            "id {id:?} has upper-case letters: the server lower-cases it, so the plugin's URLs use {:?}",
            id.to_ascii_lowercase()
        ));
    }
    let webapp = author.get("webapp").and_then(|w| w.get("bundle_path"));
    for (field, path) in [("webapp.bundle_path", webapp), ("icon_path", author.get("icon_path"))] {
        if let Some(path) = path.and_then(Value::as_str).filter(|p| !p.is_empty()) {
            notes.push(format!(
                "{field} names {path:?}, which this bundle does not hold: it holds plugin.json and the server binaries only"
            ));
        }
    }
    notes
}

/// `server.runtime` set to `"python"`: the server starts a native gRPC
/// plugin only with this runtime (`runtime/src/host_rules.md`, "Which
/// plugins the server starts over gRPC").
fn set_runtime(server: &mut Map<String, Value>, notes: &mut Vec<String>) {
    match server.get("runtime").and_then(Value::as_str) {
        Some("python") => {}
        Some(other) => notes.push(format!(
            "set server.runtime to \"python\" (was {other:?}; the server starts native gRPC plugins only with this runtime)"
        )),
        None => notes.push(
            "set server.runtime to \"python\" (the server starts native gRPC plugins only with this runtime)".into(),
        ),
    }
    server.insert("runtime".into(), Value::String("python".into()));
}

/// `server.executables` set to the bundle's binaries, one per platform
/// (the author's paths kept where they are usable), and `server.executable`
/// removed; every change noted. Returns where each platform's binary goes.
fn set_executables(
    server: &mut Map<String, Value>,
    platforms: &[Platform],
    notes: &mut Vec<String>,
) -> Vec<(Platform, String, Option<String>)> {
    let written = server.get("executables").and_then(Value::as_object).cloned().unwrap_or_default();
    let placed = place(&written, platforms);
    for (platform, path, why) in &placed {
        let was = written.get(platform.as_str()).and_then(Value::as_str);
        if was == Some(path.as_str()) {
            continue;
        }
        let mut note = format!("set server.executables.{platform} to {path:?}");
        match (was, why) {
            (Some(was), Some(why)) => note.push_str(&format!(" (was {was:?}; {why})")),
            (Some(was), None) => note.push_str(&format!(" (was {was:?})")),
            (None, Some(why)) => note.push_str(&format!(" ({why})")),
            (None, None) => {}
        }
        notes.push(note);
    }
    let mut executables = Map::new();
    for key in written.keys() {
        match placed.iter().find(|(p, ..)| p.as_str() == key) {
            Some((_, path, _)) => {
                executables.insert(key.clone(), Value::String(path.clone()));
            }
            None => notes.push(format!("removed server.executables.{key} (no binary given for it)")),
        }
    }
    for (platform, path, _) in &placed {
        if !executables.contains_key(platform.as_str()) {
            executables.insert(platform.to_string(), Value::String(path.clone()));
        }
    }
    server.insert("executables".into(), Value::Object(executables));
    if server.shift_remove("executable").is_some() {
        notes.push(
            "removed server.executable (the host starts it on any platform not in server.executables, \
             and the bundle has no binary for those)"
                .into(),
        );
    }
    placed
}

/// Where each platform's binary goes, and why the manifest's path for it
/// was not used (when there was one and it was not).
fn place(written: &Map<String, Value>, platforms: &[Platform]) -> Vec<(Platform, String, Option<String>)> {
    let mut taken: Vec<String> = vec!["plugin.json".into()];
    if platforms.iter().any(|p| !p.is_windows()) {
        taken.push(LAUNCHER_PATH.into());
    }
    if platforms.iter().any(|p| p.is_windows()) {
        taken.push(WINDOWS_EXECUTABLE.into());
    }
    let mut placed = Vec::new();
    for &platform in platforms {
        let default = platform.default_path();
        if platform.is_windows() {
            let why = "the host on Windows runs venv\\Scripts\\python.exe, so the plugin binary itself goes there";
            placed.push((platform, default, Some(why.to_owned())));
            continue;
        }
        let (path, why) = match written.get(platform.as_str()).and_then(Value::as_str) {
            None => (default, None),
            Some(asked) => match clean(asked) {
                None => (
                    default,
                    Some(format!(
                        "a binary's path is relative, inside the plugin folder, without .. or \\, and no name in it over {NAME_MAX} bytes"
                    )),
                ),
                Some(clean) => {
                    let others = platforms.iter().filter(|&&p| p != platform).map(|p| p.default_path());
                    match taken.iter().cloned().chain(others).find(|t| collides(&clean, t)) {
                        Some(other) => (default, Some(format!("{clean:?} collides with {other:?} in the bundle"))),
                        None => (clean, None),
                    }
                }
            },
        };
        taken.push(path.clone());
        placed.push((platform, path, why));
    }
    placed
}

/// The longest name of one file or folder, in bytes: Linux's `NAME_MAX`
/// (and macOS's); neither GNU tar nor the host can make a longer one.
const NAME_MAX: usize = 255;

/// The host's `filepath.Clean(filepath.Join(".", p))`, when that stays inside
/// the plugin folder and names a file there that can be extracted (no name
/// in it over [`NAME_MAX`] bytes).
fn clean(path: &str) -> Option<String> {
    if path.starts_with('/') || path.contains(['\\', '\0']) {
        return None;
    }
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if parts.is_empty() || parts.contains(&"..") || parts.iter().any(|part| part.len() > NAME_MAX) {
        return None;
    }
    Some(parts.join("/"))
}

/// Whether two files in the bundle would be the same, or one a folder of the
/// other.
fn collides(a: &str, b: &str) -> bool {
    let under = |child: &str, parent: &str| child.strip_prefix(parent).is_some_and(|rest| rest.starts_with('/'));
    a == b || under(a, b) || under(b, a)
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

    fn rewritten(manifest: Value, platforms: &[Platform]) -> Rewrite {
        rewrite(&manifest, platforms).unwrap()
    }

    #[test]
    fn rewrite_needs_a_version() {
        let mut m = ok();
        m.as_object_mut().unwrap().shift_remove("version");
        let problems = rewrite(&m, &[Platform::LinuxAmd64]).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "version");
        assert!(problems[0].message.contains("com.example.x-1.0.0.tar.gz"), "{}", problems[0].message);
        let empty = rewrite(&with("version", json!("")), &[Platform::LinuxAmd64]).unwrap_err();
        assert_eq!(empty[0].field, "version");
        assert_eq!(rewrite(&json!(null), &[]).unwrap_err().len(), 1);
    }

    #[test]
    fn rewrite_keeps_what_it_does_not_own() {
        let manifest = json!({
            "name": "X", "id": "Com.Example.X", "version": "1.2.3", "zeta": [1, { "b": 2, "a": 1 }],
            "server": {
                "executables": { "darwin-amd64": "old/mac", "linux-amd64": "./bin//linux", "freebsd-amd64": "bsd" },
                "extra": true,
                "executable": "old/any",
            },
            "alpha": {},
        });
        let r = rewritten(manifest, &[Platform::LinuxAmd64, Platform::DarwinArm64]);
        assert_eq!(r.file_name(), "Com.Example.X-1.2.3.tar.gz");
        assert_eq!(
            r.to_json(),
            r#"{
  "name": "X",
  "id": "Com.Example.X",
  "version": "1.2.3",
  "zeta": [
    1,
    {
      "b": 2,
      "a": 1
    }
  ],
  "server": {
    "executables": {
      "linux-amd64": "bin/linux",
      "darwin-arm64": "server/dist/plugin-darwin-arm64"
    },
    "extra": true,
    "runtime": "python"
  },
  "alpha": {}
}
"#
        );
        assert_eq!(
            r.executables,
            [
                (Platform::LinuxAmd64, "bin/linux".into()),
                (Platform::DarwinArm64, "server/dist/plugin-darwin-arm64".into())
            ]
        );
        assert_eq!(
            r.notes,
            [
                "id \"Com.Example.X\" has upper-case letters: the server lower-cases it, so the plugin's URLs use \"com.example.x\"",
                "set server.runtime to \"python\" (the server starts native gRPC plugins only with this runtime)",
                "set server.executables.linux-amd64 to \"bin/linux\" (was \"./bin//linux\")",
                "set server.executables.darwin-arm64 to \"server/dist/plugin-darwin-arm64\"",
                "removed server.executables.darwin-amd64 (no binary given for it)",
                "removed server.executables.freebsd-amd64 (no binary given for it)",
                "removed server.executable (the host starts it on any platform not in server.executables, \
                 and the bundle has no binary for those)",
            ]
        );
    }

    #[test]
    fn rewrite_creates_server_and_changes_nothing_twice() {
        let r = rewritten(ok(), &[Platform::LinuxArm64]);
        assert_eq!(
            r.manifest["server"],
            json!({ "runtime": "python", "executables": { "linux-arm64": "server/dist/plugin-linux-arm64" } })
        );
        assert_eq!(r.notes.len(), 2);
        let mut webapp = r.manifest.clone();
        webapp["webapp"] = json!({ "bundle_path": "webapp/dist/main.js" });
        assert_eq!(
            rewritten(webapp, &[Platform::LinuxArm64]).notes,
            ["webapp.bundle_path names \"webapp/dist/main.js\", which this bundle does not hold: \
              it holds plugin.json and the server binaries only"]
        );
        let again = rewritten(r.manifest.clone(), &[Platform::LinuxArm64]);
        assert_eq!(again.manifest, r.manifest);
        assert!(again.notes.is_empty(), "{:?}", again.notes);
    }

    #[test]
    fn unsafe_or_colliding_paths_go_to_the_default() {
        let manifest = with(
            "server",
            json!({ "runtime": "go", "executables": {
                "linux-amd64": "../escape",
                "linux-arm64": "venv/bin",
                "darwin-amd64": "server/dist/plugin-darwin-arm64",
                "darwin-arm64": "C:\\plugin",
                "windows-amd64": "server/dist/plugin.exe",
            }}),
        );
        let r = rewritten(manifest, &Platform::ALL);
        let expected: Vec<_> = Platform::ALL.iter().map(|p| (*p, p.default_path())).collect();
        assert_eq!(r.executables, expected);
        assert_eq!(
            r.notes[0],
            "set server.runtime to \"python\" (was \"go\"; the server starts native gRPC plugins only with this runtime)"
        );
        assert!(r.notes[2].contains("\"venv/bin\" collides with \"venv/bin/python\""), "{}", r.notes[2]);
        assert!(r.notes[3].contains("collides with \"server/dist/plugin-darwin-arm64\""), "{}", r.notes[3]);
        assert!(r.notes[5].contains("venv\\Scripts\\python.exe"), "{}", r.notes[5]);

        let same = with("server", json!({ "executables": { "linux-amd64": "bin/p", "linux-arm64": "bin/p/q" } }));
        let r = rewritten(same, &[Platform::LinuxAmd64, Platform::LinuxArm64]);
        assert_eq!(r.executables[0].1, "bin/p");
        assert_eq!(r.executables[1].1, "server/dist/plugin-linux-arm64");
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

    #[test]
    fn a_path_with_a_name_no_file_system_takes_goes_to_the_default() {
        let long = format!("server/{}", "a".repeat(256));
        assert_eq!(clean(&long), None);
        assert_eq!(clean(&format!("server/{}", "a".repeat(255))).as_deref(), Some(&*format!("server/{}", "a".repeat(255))));
        let manifest = with("server", json!({ "executables": { "linux-amd64": long } }));
        let r = rewritten(manifest, &[Platform::LinuxAmd64]);
        assert_eq!(r.executables[0].1, Platform::LinuxAmd64.default_path());
        assert!(r.notes.iter().any(|n| n.contains("over 255 bytes")), "{:?}", r.notes);
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean("./a//b/./c").as_deref(), Some("a/b/c"));
        for bad in ["", ".", "/abs", "a/../b", "..", "a\\b"] {
            assert_eq!(clean(bad), None, "{bad}");
        }
        assert!(collides("a/b", "a") && collides("a", "a/b") && collides("a", "a") && !collides("ab", "a"));
    }
}

//! `mmplugin-gen settings`: the Rust struct for a plugin's settings, from the
//! `settings_schema` of its `plugin.json`, so that a renamed or retyped
//! setting breaks the plugin's build instead of its production.
//!
//! What the server does with settings, and so what the struct must read
//! (mattermost/mattermost):
//!
//! - The System Console saves each setting under its key lowercased
//!   (`webapp/channels/src/components/admin_console/custom_plugin_settings/index.ts`:
//!   `setting.key.toLowerCase()`), so `BlockedWord` is stored as
//!   `blockedword`; `GetPluginConfig` answers the stored map as it is
//!   (`server/channels/app/plugin_api.go`), and the SDK's loader
//!   (`cx.api.settings::<T>()`, the runtime's `settings::from_config`)
//!   lowercases every key before deserializing, and gives `T::default()` for
//!   an empty or `null` configuration. Each field is therefore
//!   `#[serde(rename = "<key lowercased>")]`, and two keys that lowercase
//!   alike are refused: they would share one stored value.
//! - A setting nobody saved is absent from the stored map (`GetPluginConfig`
//!   adds no defaults), so the struct is `#[serde(default)]` and its
//!   `Default` holds the manifest's `default` of each setting.
//! - When `settings_schema` has `sections`, the console shows only their
//!   settings (`index.ts`), while the Go SDK's `LoadPluginConfiguration`
//!   takes defaults only from `settings_schema.settings` (`plugin_api.go`),
//!   so plugins list a setting in both (Mattermost's Calls plugin does). The
//!   same key, type and default twice is one field; two declarations that
//!   differ but share a stored key are refused.
//! - The console skips an entry without a key when it saves
//!   (`schema_admin_settings.tsx`, `getConfigFromState`: `if (!setting.key)
//!   return`): such an entry stores nothing and gets no field.
//! - A `number` setting is edited in a number input whose value is saved as
//!   `parseInt(value, 10)` (`components/widgets/settings/text_setting.tsx`),
//!   so an emptied input is saved as `NaN`, which JSON writes as `null`; a
//!   value never edited is saved as the manifest wrote its default, which may
//!   be a string. A number field therefore reads a JSON number or a string
//!   holding a whole number, and `null` or a blank string as its default.
//!
//! [`generate`] is pure: JSON text in, formatted Rust out (byte-identical
//! for the same input), or every problem found.

use std::{collections::BTreeMap, path::Path};

use askama::Template as _;
use serde_json::{Map, Value};

use crate::manifest::{Problem, SETTING_TYPES, validate};

/// How to generate the struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The struct's name (`--name`).
    pub name: String,
}

impl Default for Options {
    fn default() -> Self {
        Self { name: "Settings".into() }
    }
}

/// The generated struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The Rust source: formatted, ending with a newline.
    pub source: String,
    /// Facts worth a line on stderr: entries skipped, no settings at all.
    pub notes: Vec<String>,
}

/// Why no struct was generated.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The manifest is not JSON; `line` and `column` are 1-based, or 0 when
    /// serde_json gives no position.
    #[error("{}not valid JSON: {message}", position(*line, *column))]
    NotJson {
        /// The line of the error.
        line: usize,
        /// The column of the error.
        column: usize,
        /// What serde_json says, without its position.
        message: String,
    },
    /// `--name` is not a name the struct can have.
    #[error(
        "--name {0:?} cannot name the struct: use an identifier such as Settings, not a keyword, a primitive type or a name the struct's code uses (String, Option, Default, serde, …)"
    )]
    Name(String),
    /// The manifest's settings cannot become a struct: every problem found,
    /// each located by its field path (`settings_schema.settings[2].type`).
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Manifest {
        /// Each problem.
        problems: Vec<Problem>,
    },
}

impl SettingsError {
    /// The error as lines for a terminal, located in `file`:
    /// `plugin.json:3:17: not valid JSON: …`, `plugin.json: settings_schema.settings[2].type: …`.
    pub fn lines(&self, file: &Path) -> Vec<String> {
        let file = file.display();
        match self {
            Self::NotJson { line, column, message } => {
                let at = if *line == 0 { String::new() } else { format!(":{line}:{column}") };
                vec![format!("{file}{at}: not valid JSON: {message}")]
            }
            Self::Name(_) => vec![self.to_string()],
            Self::Manifest { problems } => problems.iter().map(|p| format!("{file}: {p}")).collect(),
        }
    }
}

/// `line:column: ` when serde_json gave a position.
fn position(line: usize, column: usize) -> String {
    if line == 0 { String::new() } else { format!("{line}:{column}: ") }
}

/// Reads `manifest` (the text of a `plugin.json`) and returns the Rust source
/// of a struct named `options.name` with one field per setting of its
/// `settings_schema` (its `settings`, then the `settings` of each of its
/// `sections`, in order), or every problem found.
///
/// The manifest is first checked as the server checks it (only its `id` and
/// `settings_schema` matter here: see [`validate`]); then each setting's
/// `default` must suit its type, and no two keys may share a stored key or a
/// field name.
pub fn generate(manifest: &str, options: &Options) -> Result<Generated, SettingsError> {
    let json: Value = serde_json::from_str(manifest).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let text = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
        SettingsError::NotJson { line, column, message }
    })?;
    if !is_type_name(&options.name) {
        return Err(SettingsError::Name(options.name.clone()));
    }
    let mut problems: Vec<Problem> = validate(&json)
        .into_iter()
        .filter(|p| p.field.is_empty() || p.field == "id" || p.field.starts_with("settings_schema"))
        .collect();
    let read = read_settings(json.get("settings_schema"));
    problems.extend(read.problems);
    if !problems.is_empty() {
        return Err(SettingsError::Manifest { problems });
    }
    let id = json.get("id").and_then(Value::as_str).unwrap_or_default();
    let mut notes = read.notes;
    if read.fields.is_empty() {
        notes.push(match json.get("settings_schema") {
            None | Some(Value::Null) => "no settings_schema: the struct has no fields".to_owned(),
            Some(_) => "settings_schema declares no setting with a key: the struct has no fields".to_owned(),
        });
    }
    let source = render(id, &options.name, &read.fields, &read.skipped)?;
    Ok(Generated { source, notes })
}

/// Whether `name` can name the struct: an identifier that shadows nothing
/// the generated code names. A primitive type (`bool`, `i64`) or a prelude
/// type (`String`, `Option`) of that name would replace the fields' types,
/// `Default` the trait it implements, `serde` the crate it imports.
fn is_type_name(name: &str) -> bool {
    const USED: [&str; 34] = [
        "Deserialize", "Serialize", "Debug", "Clone", "PartialEq", "Default", "String", "Option", "Some", "None",
        "Result", "Ok", "Err", "Vec", "Box", "serde", "serde_json", "std", "core", "alloc", "bool", "char", "str",
        "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128",
    ];
    const MORE_PRIMITIVES: [&str; 3] = ["usize", "f32", "f64"];
    !name.starts_with("r#")
        && !USED.contains(&name)
        && !MORE_PRIMITIVES.contains(&name)
        && syn::parse_str::<syn::Ident>(name).is_ok()
}

/// The Rust type a setting type is read into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldType {
    /// `bool`.
    Bool,
    /// `text`, `longtext`, `dropdown`, `radio`, `username`, `generated`.
    String,
    /// `number`.
    Number,
    /// `custom`: whatever the plugin's own console component stores.
    Json,
}

impl FieldType {
    /// The Rust type for a setting type the server knows.
    fn of(setting_type: &str) -> Option<Self> {
        match setting_type {
            "bool" => Some(Self::Bool),
            "text" | "longtext" | "dropdown" | "radio" | "username" | "generated" => Some(Self::String),
            "number" => Some(Self::Number),
            "custom" => Some(Self::Json),
            _ => None,
        }
    }

    fn rust(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::String => "String",
            Self::Number => "i64",
            Self::Json => "serde_json::Value",
        }
    }
}

/// A setting's default, as the field's type holds it.
#[derive(Debug, Clone, PartialEq)]
enum DefaultValue {
    Bool(bool),
    String(String),
    Number(i64),
    Json(Value),
}

impl DefaultValue {
    /// Whether it is the type's own default (`false`, `""`, `0`, `null`).
    fn is_type_default(&self) -> bool {
        match self {
            Self::Bool(b) => !b,
            Self::String(s) => s.is_empty(),
            Self::Number(n) => *n == 0,
            Self::Json(v) => v.is_null(),
        }
    }

    /// The Rust expression of the value.
    fn rust(&self) -> String {
        match self {
            Self::Bool(b) => b.to_string(),
            Self::String(s) if s.is_empty() => "String::new()".into(),
            Self::String(s) => format!("{}.into()", literal(s)),
            Self::Number(n) => n.to_string(),
            Self::Json(Value::Null) => "serde_json::Value::Null".into(),
            Self::Json(v) => format!("serde_json::json!({})", json_tokens(v)),
        }
    }
}

/// One field of the struct.
#[derive(Debug, Clone)]
struct Field {
    /// Where the manifest declares it: `settings_schema.sections[0].settings[1]`.
    path: String,
    /// Where it declares the same setting again (same key, type and default).
    also: Vec<String>,
    /// The key as written (`BlockedWord`).
    key: String,
    /// The key the console stores it under (`blockedword`).
    stored: String,
    /// The Rust field name (`blocked_word`).
    ident: String,
    /// The setting type as written (`text`).
    setting_type: String,
    ty: FieldType,
    display_name: String,
    help_text: String,
    /// A dropdown's or radio's options: value, then display name.
    options: Vec<(String, String)>,
    default: DefaultValue,
}

/// The fields, the entries skipped, notes, and problems.
#[derive(Default)]
struct Read {
    fields: Vec<Field>,
    /// Paths of entries without a key.
    skipped: Vec<String>,
    notes: Vec<String>,
    /// Defaults of the wrong type and colliding keys; what [`validate`]
    /// finds (unknown types, wrong JSON types) is left to it.
    problems: Vec<Problem>,
}

/// Reads every setting of a `settings_schema` into fields. Whatever does
/// not have the shape [`validate`] checks is passed over.
fn read_settings(schema: Option<&Value>) -> Read {
    let mut reader = Reader::default();
    let Some(schema) = schema.and_then(Value::as_object) else { return reader.read };
    let (entries, in_sections) = schema_entries(schema);
    for (path, setting) in entries {
        reader.add(path, setting);
    }
    if in_sections > 0 {
        reader.note_settings_the_console_hides();
    }
    reader.read
}

/// A setting's object in plugin.json, and its path there.
type Entry<'a> = (String, &'a Map<String, Value>);

/// Every setting object of a `settings_schema`, with its path: those of
/// `settings`, then those of each section; and how many are in sections.
fn schema_entries(schema: &Map<String, Value>) -> (Vec<Entry<'_>>, usize) {
    fn list(v: Option<&Value>) -> &[Value] {
        v.and_then(Value::as_array).map_or(&[][..], Vec::as_slice)
    }
    let mut entries: Vec<Entry> = Vec::new();
    for (i, setting) in list(schema.get("settings")).iter().enumerate() {
        if let Some(obj) = setting.as_object() {
            entries.push((format!("settings_schema.settings[{i}]"), obj));
        }
    }
    let top = entries.len();
    for (s, section) in list(schema.get("sections")).iter().enumerate() {
        for (i, setting) in list(section.get("settings")).iter().enumerate() {
            if let Some(obj) = setting.as_object() {
                entries.push((format!("settings_schema.sections[{s}].settings[{i}]"), obj));
            }
        }
    }
    let in_sections = entries.len() - top;
    (entries, in_sections)
}

/// The fields read so far, and which field each stored key and each field
/// name went to.
#[derive(Default)]
struct Reader {
    read: Read,
    stored_by: BTreeMap<String, usize>,
    ident_by: BTreeMap<String, usize>,
}

impl Reader {
    /// Reads one setting: a field, a note (no key), a problem, or another
    /// place of a field already read.
    fn add(&mut self, path: String, obj: &Map<String, Value>) {
        let text = |key: &str| obj.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let key = text("key");
        if key.is_empty() {
            self.read.notes.push(format!("{path} has no key: skipped (the System Console stores nothing for it)"));
            self.read.skipped.push(path);
            return;
        }
        let setting_type = text("type");
        let Some(ty) = FieldType::of(&setting_type) else {
            // A type the server does not know is validate's problem.
            if SETTING_TYPES.contains(&setting_type.as_str()) {
                self.read.problems.push(problem(
                    format!("{path}.type"),
                    format!("{setting_type:?} has no Rust type in mmplugin-gen settings (key {key:?})"),
                ));
            }
            return;
        };
        let default = match default_value(ty, obj.get("default")) {
            Ok(default) => default,
            Err(why) => {
                let why = format!("{key:?} is a {setting_type} setting: {why}");
                self.read.problems.push(problem(format!("{path}.default"), why));
                return;
            }
        };
        let field = Field {
            also: Vec::new(),
            stored: key.to_lowercase(),
            ident: crate::names::setting_field(&key),
            display_name: text("display_name"),
            help_text: text("help_text"),
            options: options(obj),
            path,
            key,
            setting_type,
            ty,
            default,
        };
        if !self.clashes(&field) {
            self.stored_by.insert(field.stored.clone(), self.read.fields.len());
            self.ident_by.insert(field.ident.clone(), self.read.fields.len());
            self.read.fields.push(field);
        }
    }

    /// Whether `field` shares its stored key or its Rust name with a field
    /// read before: a problem, or (the same setting again) another place of
    /// that field.
    fn clashes(&mut self, field: &Field) -> bool {
        let (path, key, stored, ident) = (&field.path, &field.key, &field.stored, &field.ident);
        if let Some(&i) = self.stored_by.get(stored) {
            let first = &mut self.read.fields[i];
            let (other, other_key) = (&first.path, &first.key);
            if other_key != key {
                let why = format!(
                    "{key:?} is stored as {stored:?}, as is {other_key:?} ({other}.key): the System Console \
                     lowercases keys, so the two would share one value; rename one"
                );
                self.read.problems.push(problem(format!("{path}.key"), why));
            } else if first.setting_type != field.setting_type || first.default != field.default {
                let why = format!(
                    "{key:?} is declared again, with another type or default than at {other}: \
                     the two would share one stored value"
                );
                self.read.problems.push(problem(path.clone(), why));
            } else {
                // The same setting twice, as a plugin lists it both in a section (which the console
                // shows) and in `settings` (where the Go SDK's LoadPluginConfiguration finds defaults).
                first.also.push(path.clone());
            }
            return true;
        }
        if let Some(&i) = self.ident_by.get(ident) {
            let (other, other_key) = (&self.read.fields[i].path, &self.read.fields[i].key);
            let why = format!(
                "{key:?} becomes the field `{ident}`, as does {other_key:?} ({other}.key): rename one \
                 so that they differ in more than case and punctuation"
            );
            self.read.problems.push(problem(format!("{path}.key"), why));
            return true;
        }
        false
    }

    /// A schema with sections: the System Console shows only theirs
    /// (custom_plugin_settings/index.ts: `if (settings_schema.sections) …
    /// else if (settings_schema.settings)`), so a setting only in
    /// `settings` keeps its default there.
    fn note_settings_the_console_hides(&mut self) {
        let hidden: Vec<String> = self
            .read
            .fields
            .iter()
            .filter(|f| {
                f.path.starts_with("settings_schema.settings[") && f.also.iter().all(|p| !p.contains("sections"))
            })
            .map(|f| format!("{:?}", f.key))
            .collect();
        if !hidden.is_empty() {
            self.read.notes.push(format!(
                "settings_schema has sections, so the System Console shows only their settings: {} (in \
                 settings_schema.settings alone) keep their defaults unless set another way (config.json, mmctl)",
                hidden.join(", ")
            ));
        }
    }
}

/// A setting's `options`: `(value, display_name)` of each.
fn options(obj: &Map<String, Value>) -> Vec<(String, String)> {
    let Some(options) = obj.get("options").and_then(Value::as_array) else { return Vec::new() };
    options
        .iter()
        .filter_map(|o| {
            let field = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            o.is_object().then(|| (field("value"), field("display_name")))
        })
        .collect()
}

fn problem(field: String, message: String) -> Problem {
    Problem { field, message }
}

/// The default a setting's `default` gives its field: absent or `null` is
/// the type's default; another JSON type than the field's is refused.
fn default_value(ty: FieldType, value: Option<&Value>) -> Result<DefaultValue, String> {
    let value = match value {
        None | Some(Value::Null) => {
            return Ok(match ty {
                FieldType::Bool => DefaultValue::Bool(false),
                FieldType::String => DefaultValue::String(String::new()),
                FieldType::Number => DefaultValue::Number(0),
                FieldType::Json => DefaultValue::Json(Value::Null),
            });
        }
        Some(value) => value,
    };
    match (ty, value) {
        (FieldType::Bool, Value::Bool(b)) => Ok(DefaultValue::Bool(*b)),
        (FieldType::Bool, other) => Err(format!("its default is true or false, not {}", describe(other))),
        (FieldType::String, Value::String(s)) => Ok(DefaultValue::String(s.clone())),
        (FieldType::String, other) => Err(format!("its default is a string, not {}", describe(other))),
        (FieldType::Number, Value::Number(n)) => match n.as_i64().or_else(|| n.as_f64().and_then(whole)) {
            Some(n) => Ok(DefaultValue::Number(n)),
            None => Err(format!("its default {n} is not a whole number that fits an i64")),
        },
        // As the console may store it; blank is what an emptied input reads as.
        (FieldType::Number, Value::String(s)) if s.trim().is_empty() => Ok(DefaultValue::Number(0)),
        (FieldType::Number, Value::String(s)) => s
            .trim()
            .parse()
            .map(DefaultValue::Number)
            .map_err(|_| format!("its default {s:?} is not a whole number that fits an i64")),
        (FieldType::Number, other) => {
            Err(format!("its default is a whole number (or a string holding one), not {}", describe(other)))
        }
        (FieldType::Json, value) => Ok(DefaultValue::Json(value.clone())),
    }
}

/// `v` as an i64 when it is a whole number in range.
fn whole(v: f64) -> Option<i64> {
    // 2^63: the first f64 above i64's range; -2^63 is in it.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v)).then_some(v as i64)
}

/// A JSON value's kind, for "not …".
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// A Rust string literal of `s` (Rust's escapes, which also cover the
/// text-direction characters rustc refuses raw in a literal).
fn literal(s: &str) -> String {
    format!("{s:?}")
}

/// Whether `json!` can spell `v`: the macro munches its tokens recursively,
/// a level of recursion for each entry of a container on the way down to
/// each value, and rustc stops at 128 levels (an object of 48 keys, or 40
/// nested ones, already failed). A default over [`JSON_MACRO_COST`] is read
/// from a string instead.
fn fits_json_macro(v: &Value) -> bool {
    fn cost(v: &Value) -> usize {
        match v {
            Value::Array(items) => items.len() + items.iter().map(cost).max().unwrap_or(0) + 1,
            Value::Object(map) => map.len() + map.values().map(cost).max().unwrap_or(0) + 1,
            _ => 0,
        }
    }
    cost(v) <= JSON_MACRO_COST
}

/// The largest default [`fits_json_macro`] writes with `json!`.
const JSON_MACRO_COST: usize = 24;

/// `v` as the tokens of `serde_json::json!`: strings as Rust literals.
fn json_tokens(v: &Value) -> String {
    match v {
        Value::String(s) => literal(s),
        Value::Array(items) => format!("[{}]", items.iter().map(json_tokens).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter().map(|(k, v)| format!("{}: {}", literal(k), json_tokens(v))).collect::<Vec<_>>().join(", ")
        ),
        // An unsuffixed integer in `json!` is an i32: wider ones need a suffix.
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) if i32::try_from(i).is_ok() => i.to_string(),
            (Some(i), _) => format!("{i}_i64"),
            (None, Some(u)) => format!("{u}_u64"),
            (None, None) => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The widest line [`number_module`] writes before it breaks one, as
/// rustfmt's default `max_width`.
const MAX_WIDTH: usize = 100;

/// The struct, formatted.
///
/// The struct and its `impl Default` go through prettyplease (like the SDK,
/// see [`crate::emit::format_rust`]); a `custom` default's `json!` body is put
/// in after, as prettyplease spaces macro tokens oddly; the number readers
/// come last, written already formatted (as the SDK's preformatted stubs are),
/// since they hold a comment prettyplease would drop. The whole is parsed
/// again, so what is printed is Rust.
fn render(id: &str, name: &str, fields: &[Field], skipped: &[String]) -> Result<String, SettingsError> {
    let internal = |e: &dyn std::fmt::Display| SettingsError::Manifest {
        problems: vec![problem(String::new(), format!("internal error: the generated struct is not valid Rust: {e}"))],
    };
    let has_numbers = fields.iter().any(|f| f.ty == FieldType::Number);
    let numbers = numbers_module(name);
    let mut json_bodies = Vec::new();
    let views: Vec<FieldView> = fields
        .iter()
        .map(|field| FieldView {
            doc: doc_literals(&field_doc(field)),
            stored: literal(&field.stored),
            with: (field.ty == FieldType::Number).then(|| literal(&format!("{numbers}::{}", field.ident))),
            ident: field.ident.clone(),
            ty: field.ty.rust(),
            default: default_expression(&field.default, &mut json_bodies),
        })
        .collect();
    let view = StructRs {
        doc: doc_literals(&struct_doc(id, has_numbers)),
        // Clippy asks for a derive when every default is the type's own.
        derived_default: fields.iter().all(|f| f.default.is_type_default()),
        name,
        fields: &views,
    };
    let unformatted = view.render().map_err(|e| internal(&e))?;
    let mut formatted = space_fields(&crate::emit::format_rust(&unformatted).map_err(|e| internal(&e))?);
    for (i, body) in json_bodies.iter().enumerate() {
        let placeholder = format!("json!({})", json_placeholder(i));
        formatted = formatted.replacen(&placeholder, &format!("json!({body})"), 1);
    }
    let mut source = String::new();
    for path in skipped {
        source.push_str(&format!(
            "// {path} has no key: the System Console stores nothing for it, so it has no field.\n"
        ));
    }
    if !skipped.is_empty() {
        source.push('\n');
    }
    source.push_str(&formatted);
    if has_numbers {
        source.push('\n');
        source.push_str(&number_module(&numbers, fields).map_err(|e| internal(&e))?);
    }
    syn::parse_file(&source).map_err(|e| internal(&e))?;
    Ok(source)
}

/// The struct's own doc.
fn struct_doc(id: &str, has_numbers: bool) -> Vec<String> {
    let mut doc = wrap(&format!("The settings of the plugin {},", code(id)));
    doc.extend([
        "from the `settings_schema` of its plugin.json.".into(),
        String::new(),
        "Generated by `mmplugin-gen settings`: regenerate it when plugin.json changes, so that".into(),
        "a renamed or retyped setting breaks the build rather than production. Each field reads".into(),
        "the setting's key lowercased, as the System Console stores it; a setting nobody saved".into(),
        "keeps the default plugin.json gives it.".into(),
    ]);
    if has_numbers {
        doc.push(String::new());
        doc.push("A number setting reads a JSON number or a string holding a whole number; `null` or".into());
        doc.push("a blank string (an emptied input) is its default.".into());
    }
    doc
}

/// A field's default as a Rust expression. A `custom` default small
/// enough for `json!` is a placeholder until formatting is done, its body
/// kept in `json_bodies`; a larger one is read from a string.
fn default_expression(default: &DefaultValue, json_bodies: &mut Vec<String>) -> String {
    match default {
        DefaultValue::Json(value) if !value.is_null() && fits_json_macro(value) => {
            json_bodies.push(json_tokens(value));
            format!("serde_json::json!({})", json_placeholder(json_bodies.len() - 1))
        }
        DefaultValue::Json(value) if !value.is_null() => format!(
            "serde_json::from_str({}).expect(\"the default plugin.json gives is JSON\")",
            literal(&value.to_string())
        ),
        other => other.rust(),
    }
}

/// Doc lines as the string literals of `#[doc]` attributes.
fn doc_literals(lines: &[String]) -> Vec<String> {
    lines.iter().map(|line| literal(&if line.is_empty() { String::new() } else { format!(" {line}") })).collect()
}

/// The struct and its defaults, as `templates/settings/struct.rs.askama`
/// sees them.
#[derive(askama::Template)]
#[template(path = "settings/struct.rs.askama", escape = "none")]
struct StructRs<'a> {
    doc: Vec<String>,
    derived_default: bool,
    name: &'a str,
    fields: &'a [FieldView],
}

/// One field, ready for the template.
struct FieldView {
    doc: Vec<String>,
    /// The key as stored, a string literal.
    stored: String,
    /// The number reader's path, a string literal.
    with: Option<String>,
    ident: String,
    ty: &'static str,
    default: String,
}

/// The number readers, as `templates/settings/numbers.rs.askama` sees them.
#[derive(askama::Template)]
#[template(path = "settings/numbers.rs.askama", escape = "none")]
struct NumbersRs<'a> {
    module: &'a str,
    /// The function the readers share: a name none of them has.
    shared: String,
    readers: Vec<ReaderView>,
}

/// One number reader.
struct ReaderView {
    /// The key as stored, in code for the doc.
    stored: String,
    /// The key as stored, a string literal.
    key: String,
    /// Its first line, broken where it would be wider than [`MAX_WIDTH`].
    signature: String,
    default: i64,
}

/// What stands for the `i`th `json!` body until prettyplease is done.
fn json_placeholder(i: usize) -> String {
    format!("__mmplugin_gen_json_{i}")
}

/// The private module of number readers, named after the struct so two
/// generated structs can share a file.
fn numbers_module(name: &str) -> String {
    format!("{}_numbers", heck::ToSnakeCase::to_snake_case(name))
}

/// The module of number readers, formatted: one per number field, and the
/// visitor they share.
fn number_module(module: &str, fields: &[Field]) -> Result<String, askama::Error> {
    // The readers share one function; its name must be none of theirs (a
    // setting keyed `Read` has the reader `read`).
    let taken = |name: &str| fields.iter().any(|f| f.ty == FieldType::Number && f.ident == name);
    let mut shared = String::from("read");
    while taken(&shared) {
        shared.push('_');
    }
    let readers = fields
        .iter()
        .filter(|f| f.ty == FieldType::Number)
        .filter_map(|field| {
            let DefaultValue::Number(default) = field.default else { return None };
            let ident = &field.ident;
            let one_line =
                format!("    pub(super) fn {ident}<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {{");
            let signature = if one_line.chars().count() <= MAX_WIDTH {
                one_line
            } else {
                format!(
                    "    pub(super) fn {ident}<'de, D: Deserializer<'de>>(\n        d: D,\n    ) -> Result<i64, D::Error> {{"
                )
            };
            Some(ReaderView { stored: code(&field.stored), key: literal(&field.stored), signature, default })
        })
        .collect();
    // askama drops a template's last line break; the file ends with one.
    NumbersRs { module, shared, readers }.render().map(|module| module + "\n")
}

/// A field's doc: its display name, help text, allowed values, and where
/// it comes from.
fn field_doc(field: &Field) -> Vec<String> {
    let mut doc = Vec::new();
    if field.display_name.trim().is_empty() {
        doc.push(format!("Setting {}.", code(&field.key)));
    } else {
        doc.extend(doc_lines(&field.display_name));
    }
    let help = doc_lines(&field.help_text);
    if !help.is_empty() {
        doc.push(String::new());
        doc.extend(help);
    }
    if !field.options.is_empty() {
        let values: Vec<String> = field
            .options
            .iter()
            .map(|(value, display)| {
                let shown = doc_lines(display).join(" ");
                if shown.is_empty() || display == value { code(value) } else { format!("{} ({shown})", code(value)) }
            })
            .collect();
        doc.push(String::new());
        doc.extend(wrap(&format!("One of {}.", values.join(", "))));
    }
    doc.push(String::new());
    let places: Vec<String> = std::iter::once(&field.path).chain(&field.also).map(|p| format!("`{p}`")).collect();
    doc.extend(wrap(&format!(
        "`{}` setting {} ({}), stored as {}.",
        field.setting_type,
        code(&field.key),
        places.join(", "),
        code(&field.stored)
    )));
    doc
}

/// How wide a doc line's text may grow before it wraps.
const DOC_WIDTH: usize = 92;

/// `line` wrapped at spaces to [`DOC_WIDTH`], never before a word Markdown
/// could read as the start of a block (`#`, `-`, `+`, `=`, a digit, a code
/// fence, …), so a wrapped paragraph stays one paragraph.
fn wrap(line: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in line.split(' ').filter(|w| !w.is_empty()) {
        let current = lines.last_mut().expect("never empty");
        let starts_block = !(word.starts_with(|c: char| c.is_alphabetic() || matches!(c, '(' | '"' | '\'' | '\\'))
            || (word.starts_with('`') && !word.starts_with("```")));
        if current.is_empty() || starts_block || current.chars().count() + 1 + word.chars().count() <= DOC_WIDTH {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        } else {
            lines.push(word.to_owned());
        }
    }
    lines
}

/// Text from plugin.json as doc lines: each line trimmed (no indented code
/// block, which rustdoc would run as a doctest), runs of blank lines as one,
/// characters rustdoc reads as markup escaped (see [`doc_escape`]).
fn doc_lines(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = doc_escape(line.trim());
        if line.is_empty() {
            if lines.last().is_some_and(|l| !l.is_empty()) {
                lines.push(line);
            }
        } else {
            lines.extend(wrap(&line));
        }
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// One line of text as Markdown that rustdoc shows as written: `\`, `` ` ``,
/// `*`, `[`, `]`, `<`, `>` and a leading `#` escaped (no broken links, HTML
/// tags, code spans or doctests), URLs as `<…>` autolinks (not bare URLs);
/// control characters become spaces and text-direction characters, which
/// rustc refuses in comments, are dropped.
fn doc_escape(line: &str) -> String {
    let clean: String = line
        .chars()
        .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = String::with_capacity(clean.len() + 8);
    let mut rest = clean.as_str();
    while let Some(start) = [rest.find("http://"), rest.find("https://")].into_iter().flatten().min() {
        out.push_str(&markdown_escape(&rest[..start]));
        let after = &rest[start..];
        let end = after.find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`')).unwrap_or(after.len());
        let url = after[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '\'']);
        if url.len() > "https://".len() {
            out.push('<');
            out.push_str(url);
            out.push('>');
        } else {
            out.push_str(&markdown_escape(url));
        }
        rest = &after[url.len()..];
    }
    out.push_str(&markdown_escape(rest));
    if out.starts_with('#') { format!("\\{out}") } else { out }
}

fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '[' | ']' | '<' | '>') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` as a Markdown code span, fenced by enough backticks.
fn code(text: &str) -> String {
    let clean = doc_escape_controls(text);
    let mut longest = 0;
    let mut run = 0;
    for c in clean.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if longest > 0 || clean.is_empty() { " " } else { "" };
    format!("{fence}{pad}{clean}{pad}{fence}")
}

/// Control and text-direction characters out of `text`, as in [`doc_escape`].
fn doc_escape_controls(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A blank line before each field's docs after the first: prettyplease packs
/// fields, which reads poorly with several lines of docs each.
fn space_fields(code: &str) -> String {
    let mut out = String::with_capacity(code.len() + code.len() / 16);
    let mut previous: Option<&str> = None;
    for line in code.lines() {
        if let Some(prev) = previous
            && prev.starts_with("    pub ")
            && prev.ends_with(',')
            && line.starts_with("    ///")
        {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
        previous = Some(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn manifest(settings: Value) -> String {
        json!({ "id": "com.example.x", "name": "X", "settings_schema": { "settings": settings } }).to_string()
    }

    fn fields(settings: Value) -> Vec<Field> {
        let json: Value = serde_json::from_str(&manifest(settings)).unwrap();
        read_settings(json.get("settings_schema")).fields
    }

    fn problems(settings: Value) -> Vec<Problem> {
        match generate(&manifest(settings), &Options::default()) {
            Err(SettingsError::Manifest { problems }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn every_setting_type_the_server_knows_has_a_rust_type() {
        for setting_type in SETTING_TYPES {
            assert!(FieldType::of(setting_type).is_some(), "{setting_type} has no Rust type");
        }
        assert_eq!(FieldType::of("texte"), None);
    }

    #[test]
    fn defaults_suit_the_type_or_are_refused() {
        use DefaultValue as D;
        use FieldType as T;
        let ok = |ty, v: Value| default_value(ty, Some(&v)).unwrap();
        assert_eq!(default_value(T::Number, None).unwrap(), D::Number(0));
        assert_eq!(ok(T::String, Value::Null), D::String(String::new()));
        assert_eq!(ok(T::Bool, json!(true)), D::Bool(true));
        assert_eq!(ok(T::Number, json!(-5)), D::Number(-5));
        assert_eq!(ok(T::Number, json!(5.0)), D::Number(5));
        assert_eq!(ok(T::Number, json!(" 42 ")), D::Number(42));
        assert_eq!(ok(T::Number, json!("")), D::Number(0));
        assert_eq!(ok(T::Json, json!({ "a": [1] })), D::Json(json!({ "a": [1] })));
        let err = |ty, v: Value| default_value(ty, Some(&v)).unwrap_err();
        assert_eq!(err(T::Bool, json!("true")), "its default is true or false, not the string \"true\"");
        assert_eq!(err(T::String, json!(5)), "its default is a string, not the number 5");
        assert!(err(T::Number, json!(2.5)).contains("not a whole number"));
        assert!(err(T::Number, json!(u64::MAX)).contains("fits an i64"));
        assert!(err(T::Number, json!("ten")).contains("\"ten\" is not a whole number"));
        assert!(err(T::Number, json!([1])).contains("not an array"));
    }

    #[test]
    fn whole_numbers_in_range_only() {
        assert_eq!(whole(3.0), Some(3));
        assert_eq!(whole(-9_223_372_036_854_775_808.0), Some(i64::MIN));
        assert_eq!(whole(9_223_372_036_854_775_808.0), None);
        assert_eq!(whole(0.5), None);
        assert_eq!(whole(f64::NAN), None);
    }

    #[test]
    fn fields_come_from_settings_then_sections() {
        let json: Value = json!({ "id": "abc", "name": "n", "settings_schema": {
            "settings": [{ "key": "Top", "type": "bool" }],
            "sections": [{ "key": "s", "settings": [{ "key": "Inner", "type": "number", "default": 3 }] }],
        }});
        let read = read_settings(json.get("settings_schema"));
        let paths: Vec<_> = read.fields.iter().map(|f| (f.path.as_str(), f.ident.as_str())).collect();
        assert_eq!(
            paths,
            [("settings_schema.settings[0]", "top"), ("settings_schema.sections[0].settings[0]", "inner")]
        );
        assert_eq!(read.notes.len(), 1, "both settings and sections: {:?}", read.notes);
    }

    #[test]
    fn keyless_entries_are_skipped_with_a_note() {
        let read = {
            let json: Value =
                json!({ "settings": [{ "type": "text", "display_name": "A header" }, { "key": "", "type": "bool" }] });
            read_settings(Some(&json))
        };
        assert!(read.fields.is_empty());
        assert_eq!(read.skipped, ["settings_schema.settings[0]", "settings_schema.settings[1]"]);
        assert!(read.notes[0].contains("has no key"), "{:?}", read.notes);
    }

    #[test]
    fn collisions_name_both_settings() {
        let lower = problems(json!([{ "key": "FooBar", "type": "text" }, { "key": "foobar", "type": "text" }]));
        assert_eq!(lower.len(), 1);
        assert_eq!(lower[0].field, "settings_schema.settings[1].key");
        assert!(lower[0].message.contains("\"FooBar\"") && lower[0].message.contains("settings_schema.settings[0]"));
        let snake = problems(json!([{ "key": "foo-bar", "type": "text" }, { "key": "foo_bar", "type": "bool" }]));
        assert!(snake[0].message.contains("becomes the field `foo_bar`, as does \"foo-bar\""), "{}", snake[0]);
    }

    #[test]
    fn docs_escape_markup_and_link_urls() {
        assert_eq!(doc_escape("See [docs](https://x.io/a_b). <b>*"), "See \\[docs\\](<https://x.io/a_b>). \\<b\\>\\*");
        assert_eq!(doc_escape("# not a heading"), "\\# not a heading");
        assert_eq!(doc_escape("`code` and \\"), "\\`code\\` and \\\\");
        assert_eq!(doc_escape("a\tb\u{202E}c"), "a bc");
        assert_eq!(doc_escape("http:// alone"), "http:// alone");
        assert_eq!(doc_escape("http://a.b and https://c.d"), "<http://a.b> and <https://c.d>");
        assert_eq!(doc_lines("  one\r\n\n\n    indented\n\n"), ["one", "", "indented"]);
        let a = "a".repeat(DOC_WIDTH - 1);
        // Breaking before `-` would start a list: the line runs over instead.
        assert_eq!(wrap(&format!("{a} - b c")), [format!("{a} -"), "b c".into()]);
        assert_eq!(wrap(&format!("{a} b")), [a.clone(), "b".into()]);
        assert_eq!(wrap("  two   words "), ["two words"]);
        assert_eq!(wrap(&format!("{a} `code` ```fence")), [a.clone(), "`code` ```fence".into()]);
        let long = doc_lines(&"word ".repeat(40));
        assert!(long.len() == 3 && long.iter().all(|l| l.len() <= DOC_WIDTH), "{long:?}");
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("plain"), "`plain`");
    }

    #[test]
    fn field_docs_say_name_help_values_and_key() {
        let f = &fields(json!([{
            "key": "Quality", "type": "dropdown", "display_name": "Quality", "help_text": "How good.",
            "options": [{ "display_name": "Low", "value": "low" }, { "display_name": "high", "value": "high" }],
        }]))[0];
        assert_eq!(
            field_doc(f),
            [
                "Quality",
                "",
                "How good.",
                "",
                "One of `low` (Low), `high`.",
                "",
                "`dropdown` setting `Quality` (`settings_schema.settings[0]`), stored as `quality`."
            ]
        );
        let bare = &fields(json!([{ "key": "X", "type": "bool" }]))[0];
        assert_eq!(field_doc(bare)[0], "Setting `X`.");
    }

    #[test]
    fn names_must_be_type_names() {
        for good in ["Settings", "MySettings", "_Private", "config"] {
            assert!(is_type_name(good), "{good}");
        }
        for bad in [
            "", "Self", "struct", "my settings", "r#Settings", "1Settings", "Deserialize", "a::B", "String", "bool",
            "i64", "Default", "serde", "Option", "f64",
        ] {
            assert!(!is_type_name(bad), "{bad}");
        }
        let err = generate(&manifest(json!([])), &Options { name: "Self".into() }).unwrap_err();
        assert!(matches!(err, SettingsError::Name(_)), "{err}");
    }

    #[test]
    fn json_errors_keep_their_position() {
        let err = generate("{\n  \"id\": 5,\n  oops\n}", &Options::default()).unwrap_err();
        let SettingsError::NotJson { line, column, message } = &err else { panic!("{err}") };
        assert_eq!((*line, *column), (3, 3));
        assert_eq!(message, "key must be a string");
        assert_eq!(err.lines(Path::new("p.json")), ["p.json:3:3: not valid JSON: key must be a string"]);
    }

    #[test]
    fn literals_escape_what_rustc_refuses() {
        assert_eq!(literal("a\"b\u{202E}"), "\"a\\\"b\\u{202e}\"");
        assert_eq!(
            json_tokens(&json!({ "k\"": ["é\u{202E}", 1, null, true, { "x": 1.5 }] })),
            "{\"k\\\"\": [\"é\\u{202e}\", 1, null, true, {\"x\": 1.5}]}"
        );
        assert_eq!(
            json_tokens(&json!([3_000_000_000_i64, -3_000_000_000_i64, u64::MAX, 1e100])),
            "[3000000000_i64, -3000000000_i64, 18446744073709551615_u64, 1e+100]"
        );
    }
}

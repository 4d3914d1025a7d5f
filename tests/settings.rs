//! `mmplugin-gen settings`: the struct it writes for a plugin's settings, what
//! it refuses, and (through a committed, compiled copy of its output) that
//! the struct loads the settings the server stores.

mod common;

use std::fs;

use common::{assert_golden, root, run, text};
use mmplugin_gen::settings::{Generated, Options, SettingsError, generate};
use serde_json::{Value, json};

/// The generator's output for `tests/fixtures/settings/plugin.json`, compiled
/// here; `fixture_struct_is_the_generators_output` keeps it current.
mod generated {
    include!("fixtures/settings/generated.rs");
}

use generated::Settings;

/// The generator's output for awkward inputs, compiled here (each in a
/// module of its own): keys that are the names of the readers' helpers, of
/// prelude types and traits, of keywords; defaults too large or too deep
/// for `json!`; and struct names chosen with `--name`.
/// `awkward_inputs_are_the_generators_output` keeps them current.
mod awkward {
    pub mod names {
        include!("fixtures/settings/awkward/names.rs");
    }
    pub mod defaults {
        include!("fixtures/settings/awkward/defaults.rs");
    }
}

/// The inputs of `mod awkward`: (manifest, `--name`).
const AWKWARD: [(&str, &str); 2] = [("names", "Names"), ("defaults", "Defaults")];

fn generated(manifest: &Value) -> Generated {
    generate(&manifest.to_string(), &Options::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn problems(manifest: &Value) -> Vec<String> {
    match generate(&manifest.to_string(), &Options::default()) {
        Err(SettingsError::Manifest { problems }) => problems.iter().map(ToString::to_string).collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

fn with_settings(settings: Value) -> Value {
    json!({ "id": "com.example.x", "name": "X", "settings_schema": { "settings": settings } })
}

/// Each field of the struct as (stored key, field, type), read from the
/// formatted output.
fn fields(source: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rename = None;
    for line in source.lines() {
        if let Some((_, rest)) = line.split_once("rename = \"") {
            rename = rest.split('"').next().map(str::to_owned);
        } else if let Some(field) = line.strip_prefix("    pub ").and_then(|l| l.strip_suffix(',')) {
            let (name, ty) = field.split_once(": ").expect("a field");
            out.push((rename.take().expect("a rename before each field"), name.to_owned(), ty.to_owned()));
        }
    }
    out
}

/// The `impl Default` line of `field`, without its indent.
fn default_of(source: &str, field: &str) -> String {
    let prefix = format!("            {field}: ");
    let line = source.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no default for {field}"));
    line.trim().trim_end_matches(',').to_owned()
}

// ---- What it writes ----

#[test]
fn fixture_struct_is_the_generators_output() {
    let manifest = fs::read_to_string(root().join("tests/fixtures/settings/plugin.json")).unwrap();
    let out = generate(&manifest, &Options::default()).unwrap();
    assert_golden(&root().join("tests/fixtures/settings/generated.rs"), &out.source);
}

#[test]
fn awkward_inputs_are_the_generators_output() {
    for (file, name) in AWKWARD {
        let dir = root().join("tests/fixtures/settings/awkward");
        let manifest = fs::read_to_string(dir.join(format!("{file}.json"))).unwrap();
        let out = generate(&manifest, &Options { name: name.into() }).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_golden(&dir.join(format!("{file}.rs")), &out.source);
    }
}

/// What the awkward structs hold: their defaults, and the stored values a
/// number reader whose name the helper's would have been still reads.
#[test]
fn awkward_structs_load_their_defaults_and_stored_values() {
    let names = awkward::names::Names::default();
    assert_eq!((names.read, names.number, names.fmt), (3, 5, 6));
    assert_eq!((names.de.as_str(), names.default.as_str(), names.serde.as_str()), ("d", "x", "a"));
    assert!(names.deserializer && !names.some);
    let stored: awkward::names::Names =
        serde_json::from_value(json!({ "read": "13", "number": 15, "self": " 17 " })).unwrap();
    assert_eq!((stored.read, stored.number, stored.self_), (13, 15, 17));

    let defaults = awkward::defaults::Defaults::default();
    assert_eq!(defaults.wide.as_object().unwrap().len(), 60);
    assert_eq!(defaults.wide["key59"], 59);
    let mut deep = &defaults.deep;
    for _ in 0..45 {
        deep = &deep["next"];
    }
    assert_eq!(deep["end"], true);
    assert_eq!(defaults.long.as_array().unwrap().len(), 200);
    assert_eq!(defaults.small, json!({ "a": [1, 2, 3], "b": { "c": "d" } }));
    assert_eq!(defaults.quotes["raw\"#"], "\"#\\n");
}

/// The example plugin compiles against exactly what the command prints for
/// its plugin.json (`MMPLUGIN_GEN_BLESS=1` rewrites the file).
#[test]
fn example_plugin_settings_are_the_commands_output() {
    let out = run(&["settings", "examples/hello-plugin/plugin.json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "the example has nothing to note");
    assert_golden(&root().join("examples/hello-plugin/src/settings.rs"), &text(&out.stdout));
}

/// The README shows part of the example's struct: each of its lines is a
/// line of the golden, in order (`// …` marks what it leaves out).
#[test]
fn readme_shows_the_example_output() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let (_, section) = readme.split_once("\n## Your plugin's settings as a struct\n").expect("the README section");
    let (_, block) = section.split_once("\n```rust\n").expect("a ```rust block");
    let (block, _) = block.split_once("\n```\n").expect("the block is closed");
    let golden = fs::read_to_string(root().join("examples/hello-plugin/src/settings.rs")).unwrap();
    let mut golden_lines = golden.lines();
    for line in block.lines().filter(|l| !l.trim_start().starts_with("// …")) {
        assert!(golden_lines.any(|g| g == line), "README line {line:?} is not in the example's output (in order)");
    }
    assert!(section.contains("settings examples/hello-plugin/plugin.json"), "the README shows the command");
}

#[test]
fn every_setting_type_has_its_rust_type() {
    let types = ["bool", "text", "longtext", "dropdown", "radio", "username", "generated", "number", "custom"];
    let settings: Vec<Value> = types.iter().map(|t| json!({ "key": format!("My{t}"), "type": t })).collect();
    let source = generated(&with_settings(Value::Array(settings))).source;
    let expected = [
        ("mybool", "mybool", "bool"),
        ("mytext", "mytext", "String"),
        ("mylongtext", "mylongtext", "String"),
        ("mydropdown", "mydropdown", "String"),
        ("myradio", "myradio", "String"),
        ("myusername", "myusername", "String"),
        ("mygenerated", "mygenerated", "String"),
        ("mynumber", "mynumber", "i64"),
        ("mycustom", "mycustom", "serde_json::Value"),
    ];
    let expected: Vec<_> = expected.iter().map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into())).collect();
    assert_eq!(fields(&source), expected);
    assert!(source.contains("deserialize_with = \"settings_numbers::mynumber\""), "{source}");
}

#[test]
fn field_names_are_snake_case_and_keys_are_stored_lowercased() {
    let source = generated(&with_settings(json!([
        { "key": "BlockedWord", "type": "text" },
        { "key": "RTCDServiceURL", "type": "text" },
        { "key": "max-count", "type": "number" },
    ])))
    .source;
    let names: Vec<_> = fields(&source).into_iter().map(|(stored, name, _)| (stored, name)).collect();
    assert_eq!(
        names,
        [
            ("blockedword".to_owned(), "blocked_word".to_owned()),
            ("rtcdserviceurl".into(), "rtcd_service_url".into()),
            ("max-count".into(), "max_count".into()),
        ]
    );
}

#[test]
fn keywords_and_digits_give_valid_identifiers() {
    let source = generated(&with_settings(json!([
        { "key": "type", "type": "text" },
        { "key": "fn", "type": "number" },
        { "key": "self", "type": "bool" },
        { "key": "2FA", "type": "bool" },
        { "key": "---", "type": "bool" },
    ])))
    .source;
    let names: Vec<_> = fields(&source).into_iter().map(|(_, name, _)| name).collect();
    assert_eq!(names, ["r#type", "r#fn", "self_", "setting_2fa", "setting"]);
    assert!(source.contains("pub(super) fn r#fn<'de"), "{source}");
    syn::parse_file(&source).expect("the output is Rust");
}

#[test]
fn defaults_present_and_absent() {
    let source = generated(&with_settings(json!([
        { "key": "On", "type": "bool", "default": true },
        { "key": "Off", "type": "bool" },
        { "key": "Word", "type": "text", "default": "say \"hi\"" },
        { "key": "Empty", "type": "radio", "default": null },
        { "key": "Count", "type": "number", "default": -7 },
        { "key": "AsText", "type": "number", "default": "12" },
        { "key": "Zero", "type": "number" },
        { "key": "Shape", "type": "custom", "default": { "a": [1, "b"] } },
        { "key": "Nothing", "type": "custom" },
    ])))
    .source;
    for (field, expected) in [
        ("on", "on: true"),
        ("off", "off: false"),
        ("word", r#"word: "say \"hi\"".into()"#),
        ("empty", "empty: String::new()"),
        ("count", "count: -7"),
        ("as_text", "as_text: 12"),
        ("zero", "zero: 0"),
        ("shape", r#"shape: serde_json::json!({"a": [1, "b"]})"#),
        ("nothing", "nothing: serde_json::Value::Null"),
    ] {
        assert_eq!(default_of(&source, field), expected);
    }
    // The number readers fall back on the same defaults for `null`.
    assert!(source.contains("read(d, \"count\", -7)") && source.contains("read(d, \"astext\", 12)"), "{source}");
}

#[test]
fn type_defaults_only_derive_default() {
    // Clippy's derivable_impls would flag a hand-written impl of the type's defaults.
    let source = generated(&with_settings(json!([
        { "key": "A", "type": "bool", "default": false },
        { "key": "B", "type": "text", "default": "" },
        { "key": "C", "type": "number" },
    ])))
    .source;
    assert!(source.contains("#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]"), "{source}");
    assert!(!source.contains("impl Default"), "{source}");
}

#[test]
fn defaults_of_the_wrong_type_name_the_setting() {
    let found = problems(&with_settings(json!([
        { "key": "Flag", "type": "bool", "default": "true" },
        { "key": "Word", "type": "dropdown", "default": 3 },
        { "key": "Count", "type": "number", "default": "ten" },
        { "key": "Ratio", "type": "number", "default": 0.5 },
        { "key": "Fine", "type": "custom", "default": [1] },
    ])));
    assert_eq!(
        found,
        [
            "settings_schema.settings[0].default: \"Flag\" is a bool setting: \
             its default is true or false, not the string \"true\"",
            "settings_schema.settings[1].default: \"Word\" is a dropdown setting: \
             its default is a string, not the number 3",
            "settings_schema.settings[2].default: \"Count\" is a number setting: \
             its default \"ten\" is not a whole number that fits an i64",
            "settings_schema.settings[3].default: \"Ratio\" is a number setting: \
             its default 0.5 is not a whole number that fits an i64",
        ]
    );
}

#[test]
fn sections_add_their_settings_after_the_top_level_ones() {
    let manifest = json!({ "id": "com.example.x", "name": "X", "settings_schema": {
        "sections": [
            { "key": "One", "settings": [{ "key": "A", "type": "bool" }, { "key": "B", "type": "text" }] },
            { "key": "Two", "settings": [{ "key": "C", "type": "number" }] },
        ],
    }});
    let out = generated(&manifest);
    let names: Vec<_> = fields(&out.source).into_iter().map(|(_, name, ty)| format!("{name}: {ty}")).collect();
    assert_eq!(names, ["a: bool", "b: String", "c: i64"]);
    assert!(out.source.contains("(`settings_schema.sections[1].settings[0]`)"), "{}", out.source);
    assert!(out.notes.is_empty(), "{:?}", out.notes);

    let mut both = manifest.clone();
    both["settings_schema"]["settings"] = json!([{ "key": "Top", "type": "text" }]);
    let out = generated(&both);
    assert_eq!(fields(&out.source)[0].1, "top");
    assert_eq!(
        out.notes,
        ["settings_schema has sections, so the System Console shows only their settings: \"Top\" (in \
          settings_schema.settings alone) keep their defaults unless set another way (config.json, mmctl)"]
    );
    let problem = problems(&json!({ "id": "com.example.x", "name": "X", "settings_schema": {
        "settings": [{ "key": "A", "type": "bool" }],
        "sections": [{ "key": "S", "settings": [{ "key": "a", "type": "text" }] }],
    }}));
    assert!(
        problem[0].starts_with("settings_schema.sections[0].settings[0].key: \"a\" is stored as \"a\""),
        "{problem:?}"
    );
}

#[test]
fn a_setting_repeated_in_settings_and_a_section_is_one_field() {
    // As Mattermost's Calls plugin writes it: each setting in a section (which the console shows)
    // and again in `settings` (where the Go SDK's LoadPluginConfiguration finds defaults).
    let setting = json!({ "key": "MaxParticipants", "type": "number", "default": 8 });
    let manifest = json!({ "id": "com.example.x", "name": "X", "settings_schema": {
        "settings": [setting],
        "sections": [{ "key": "General", "settings": [{ "key": "Other", "type": "bool" }, setting] }],
    }});
    let out = generated(&manifest);
    let names: Vec<_> = fields(&out.source).into_iter().map(|(_, name, _)| name).collect();
    assert_eq!(names, ["max_participants", "other"]);
    assert!(
        out.source.contains(
            "    /// `number` setting `MaxParticipants` (`settings_schema.settings[0]`,\n    \
             /// `settings_schema.sections[0].settings[1]`), stored as `maxparticipants`.\n"
        ),
        "{}",
        out.source
    );
    assert!(out.notes.is_empty(), "every top-level setting is in a section: {:?}", out.notes);

    let mut conflicting = manifest.clone();
    conflicting["settings_schema"]["sections"][0]["settings"][1]["default"] = json!(9);
    assert_eq!(
        problems(&conflicting),
        ["settings_schema.sections[0].settings[1]: \"MaxParticipants\" is declared again, with another type or \
          default than at settings_schema.settings[0]: the two would share one stored value"]
    );
}

#[test]
fn keys_that_collide_are_refused_naming_both() {
    let found = problems(&with_settings(json!([
        { "key": "BlockedWord", "type": "text" },
        { "key": "blockedword", "type": "text" },
        { "key": "max-count", "type": "number" },
        { "key": "max_count", "type": "number" },
    ])));
    assert_eq!(
        found,
        [
            "settings_schema.settings[1].key: \"blockedword\" is stored as \"blockedword\", as is \"BlockedWord\" \
             (settings_schema.settings[0].key): the System Console lowercases keys, so the two would share one \
             value; rename one",
            "settings_schema.settings[3].key: \"max_count\" becomes the field `max_count`, as does \"max-count\" \
             (settings_schema.settings[2].key): rename one so that they differ in more than case and punctuation",
        ]
    );
}

#[test]
fn unknown_types_and_bad_manifests_name_the_field() {
    let found = problems(&with_settings(json!([
        { "key": "A", "type": "bool" },
        { "key": "B", "type": "text", "default": 1 },
        { "key": "C", "type": "texte" },
        { "key": "D" },
    ])));
    assert_eq!(
        found,
        [
            "settings_schema.settings[2].type: \"texte\" is not a setting type the server knows \
             (bool, dropdown, generated, radio, text, longtext, number, username, custom)",
            "settings_schema.settings[3].type: required: one of bool, dropdown, generated, radio, text, longtext, \
             number, username, custom",
            "settings_schema.settings[1].default: \"B\" is a text setting: its default is a string, not the number 1",
        ]
    );
    assert_eq!(problems(&json!({ "id": "x", "name": "X" })), ["id: \"x\" is too short: an id has 3 to 190 characters"]);
    assert_eq!(problems(&json!({ "id": "abc", "name": "n", "settings_schema": [] })).len(), 1);
    // Problems elsewhere in the manifest are bundle's business, not this struct's.
    assert!(generate(&json!({ "id": "abc", "name": "n", "version": "v1" }).to_string(), &Options::default()).is_ok());
}

#[test]
fn keyless_entries_are_skipped_with_a_comment() {
    let out = generated(&with_settings(json!([
        { "type": "text", "display_name": "Just a paragraph" },
        { "key": "Real", "type": "bool" },
    ])));
    assert!(
        out.source.starts_with(
            "// settings_schema.settings[0] has no key: the System Console stores nothing for it, \
             so it has no field.\n\nuse serde"
        ),
        "{}",
        out.source
    );
    assert_eq!(fields(&out.source).len(), 1);
    assert_eq!(
        out.notes,
        ["settings_schema.settings[0] has no key: skipped (the System Console stores nothing for it)"]
    );
}

#[test]
fn docs_carry_name_help_options_and_escape_markup() {
    let source = generated(&with_settings(json!([{
        "key": "Mode", "type": "radio", "display_name": "Mode <fast>",
        "help_text": "See [docs](https://example.com/x_y) or `code`.",
        "options": [{ "display_name": "Fast", "value": "fast" }, { "display_name": "Slow [safe]", "value": "slow" }],
    }])))
    .source;
    for line in [
        "    /// Mode \\<fast\\>",
        "    /// See \\[docs\\](<https://example.com/x_y>) or \\`code\\`.",
        "    /// One of `fast` (Fast), `slow` (Slow \\[safe\\]).",
        "    /// `radio` setting `Mode` (`settings_schema.settings[0]`), stored as `mode`.",
    ] {
        assert!(source.lines().any(|l| l == line), "missing {line:?} in:\n{source}");
    }
    let doc: Vec<_> = source.lines().filter(|l| l.starts_with("///")).collect();
    assert_eq!(doc[0], "/// The settings of the plugin `com.example.x`,");
    assert!(doc.iter().any(|l| l.contains("Generated by `mmplugin-gen settings`: regenerate it when plugin.json")));
}

#[test]
fn name_option_names_the_struct_and_its_number_readers() {
    let manifest = with_settings(json!([{ "key": "N", "type": "number", "default": 1 }])).to_string();
    let out = generate(&manifest, &Options { name: "HelloConfig".into() }).unwrap();
    assert!(out.source.contains("pub struct HelloConfig {"), "{}", out.source);
    assert!(out.source.contains("impl Default for HelloConfig {"), "{}", out.source);
    assert!(out.source.contains("mod hello_config_numbers {"), "{}", out.source);
    assert!(out.source.contains("deserialize_with = \"hello_config_numbers::n\""), "{}", out.source);
    let refused = generate(&manifest, &Options { name: "two words".into() }).unwrap_err();
    assert!(refused.to_string().contains("--name \"two words\" cannot name the struct"), "{refused}");
    // Names that would shadow what the struct's code names (E0072, E0404,
    // E0659 in its build, once).
    for shadowing in ["String", "bool", "i64", "Default", "serde"] {
        let refused = generate(&manifest, &Options { name: shadowing.into() }).unwrap_err();
        assert!(refused.to_string().contains("not a keyword, a primitive type or a name"), "{shadowing}: {refused}");
    }
}

#[test]
fn output_is_byte_identical_for_the_same_input() {
    let manifest = fs::read_to_string(root().join("tests/fixtures/settings/plugin.json")).unwrap();
    let first = generate(&manifest, &Options::default()).unwrap();
    for _ in 0..3 {
        assert_eq!(generate(&manifest, &Options::default()).unwrap(), first);
    }
}

// ---- The command line ----

#[test]
fn cli_name_and_no_settings_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("plugin.json");
    fs::write(&path, r#"{ "id": "com.example.bare", "name": "Bare" }"#).unwrap();
    let out = run(&["settings", path.to_str().unwrap(), "--name", "BareSettings"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("pub struct BareSettings {}"), "{stdout}");
    assert!(stdout.contains("#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]"), "{stdout}");
    assert_eq!(text(&out.stderr), format!("note: {}: no settings_schema: the struct has no fields\n", path.display()));
}

#[test]
fn cli_bad_input_is_located_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.json");
    let out = run(&["settings", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with(&format!("error: {}: ", missing.display())), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());

    let bad = tmp.path().join("bad.json");
    fs::write(&bad, "{\n  \"id\": \"com.example.x\",\n  \"name\": \"X\"\n  \"settings_schema\": {}\n}\n").unwrap();
    let out = run(&["settings", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("error: {}:4:3: not valid JSON: expected `,` or `}}`\n", bad.display()),
        "line 4, column 3: the missing comma"
    );

    let unknown = tmp.path().join("unknown.json");
    let settings = json!([{ "key": "A", "type": "bool" }, { "key": "B", "type": "text" }, { "key": "C", "type": "x" }]);
    fs::write(&unknown, with_settings(settings).to_string()).unwrap();
    let out = run(&["settings", unknown.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "error: {}: settings_schema.settings[2].type: \"x\" is not a setting type",
            unknown.display()
        )),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

// ---- The struct, compiled, loading what the server stores ----

/// What the SDK's loader does with the stored settings before serde sees
/// them: `null` or `{}` is the defaults; otherwise every key is lowercased.
fn load(config: Value) -> Result<Settings, serde_json::Error> {
    match config {
        Value::Null => Ok(Settings::default()),
        Value::Object(map) if map.is_empty() => Ok(Settings::default()),
        Value::Object(map) => {
            serde_json::from_value(Value::Object(map.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect()))
        }
        other => serde_json::from_value(other),
    }
}

#[test]
fn fixture_defaults_are_the_manifests() {
    let d = Settings::default();
    assert!(d.enabled);
    assert_eq!((d.blocked_word.as_str(), d.greeting.as_str()), ("forbidden", ""));
    assert_eq!((d.max_posts, d.retry_delay, d.offset), (10, 30, 0));
    assert_eq!((d.mode.as_str(), d.level.as_str(), d.r#type.as_str()), ("fast", "low", ""));
    assert_eq!(d.setting_2fa_secret, "");
    assert_eq!(d.routing["rules"][0]["match"], "a\"b");
    assert_eq!(d.routing["limits"], json!([3_000_000_000_i64, -1, 1e100]));
    assert_eq!(d.extra, Value::Null);
}

#[test]
fn stored_settings_fill_every_field() {
    // As GetPluginConfig answers: keys lowercased by the System Console.
    let stored = json!({
        "enabled": false, "blockedword": "spoiler", "greeting": "hi\nthere", "maxposts": 3, "retrydelay": "45",
        "offset": -2, "mode": "careful", "level": "high", "type": "alice", "2fasecret": "s3cret",
        "routing": { "rules": [] }, "extra": [1, 2],
    });
    let settings = load(stored.clone()).unwrap();
    assert_eq!(
        settings,
        Settings {
            enabled: false,
            blocked_word: "spoiler".into(),
            greeting: "hi\nthere".into(),
            max_posts: 3,
            retry_delay: 45,
            offset: -2,
            mode: "careful".into(),
            level: "high".into(),
            r#type: "alice".into(),
            setting_2fa_secret: "s3cret".into(),
            routing: json!({ "rules": [] }),
            extra: json!([1, 2]),
        }
    );
    // Written back under the stored keys, with numbers as numbers.
    let mut written = serde_json::to_value(&settings).unwrap();
    assert_eq!(written["retrydelay"], json!(45));
    written["retrydelay"] = json!("45");
    assert_eq!(written, stored);
}

#[test]
fn keys_in_any_case_reach_their_field_through_the_loader() {
    let settings = load(json!({ "BlockedWord": "spoiler", "MAXPOSTS": 4 })).unwrap();
    assert_eq!((settings.blocked_word.as_str(), settings.max_posts), ("spoiler", 4));
    // Without the loader's lowercasing, a camel-case key is an unknown key, ignored.
    let raw: Settings = serde_json::from_value(json!({ "BlockedWord": "spoiler" })).unwrap();
    assert_eq!(raw, Settings::default());
}

#[test]
fn missing_keys_take_the_manifest_defaults() {
    let settings = load(json!({ "blockedword": "spoiler", "somethingelse": 1 })).unwrap();
    assert_eq!(settings, Settings { blocked_word: "spoiler".into(), ..Settings::default() });
    assert_eq!(load(json!({})).unwrap(), Settings::default());
}

#[test]
fn a_null_configuration_is_the_defaults_by_the_callers_hand() {
    assert_eq!(load(Value::Null).unwrap(), Settings::default());
    // serde alone refuses it: the loader is what turns `null` into the defaults.
    assert!(serde_json::from_value::<Settings>(Value::Null).is_err());
}

#[test]
fn numbers_read_from_numbers_and_from_strings() {
    for (stored, expected) in [
        (json!(42), 42),
        (json!(-42), -42),
        (json!(7.0), 7),
        (json!("42"), 42),
        (json!(" -5 "), -5),
        (json!(i64::MAX), i64::MAX),
        // An emptied input: null (parseInt("") is NaN), or a blank string.
        (json!(null), 10),
        (json!(""), 10),
        (json!("  "), 10),
    ] {
        let settings = load(json!({ "maxposts": stored })).unwrap_or_else(|e| panic!("{stored}: {e}"));
        assert_eq!(settings.max_posts, expected, "{stored}");
    }
    // From text, as serde_json reads the stored config off the wire.
    let settings: Settings = serde_json::from_str(r#"{ "maxposts": "8", "retrydelay": 9, "offset": null }"#).unwrap();
    assert_eq!((settings.max_posts, settings.retry_delay, settings.offset), (8, 9, 0));
}

#[test]
fn a_number_that_is_not_one_is_an_error_naming_the_key() {
    for (stored, what) in [
        (json!("ten"), "invalid value: string \"ten\""),
        (json!("4.5"), "invalid value: string \"4.5\""),
        (json!(4.5), "invalid value: floating point `4.5`"),
        (json!(u64::MAX), "invalid value: integer `18446744073709551615`"),
        (json!(true), "invalid type: boolean `true`"),
        (json!([1]), "invalid type: sequence"),
    ] {
        let error = load(json!({ "maxposts": stored })).unwrap_err().to_string();
        assert!(error.starts_with(what), "{stored}: {error}");
        assert!(error.contains("for the setting `maxposts`"), "{stored}: {error}");
    }
    let error = serde_json::from_str::<Settings>(r#"{"retrydelay": "soon"}"#).unwrap_err().to_string();
    assert!(error.contains("for the setting `retrydelay`") && error.contains("line 1"), "{error}");
}

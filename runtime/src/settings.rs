//! The plugin's settings, read into the author's `serde` struct, and JSON
//! read as Go's `encoding/json` reads it.
//!
//! What the server hands a plugin (mattermost/mattermost: the System
//! Console's plugin settings and `GetPluginConfig` in `app/plugin_api.go`):
//! the console saves each setting under its key lowercased (`BlockedWord` is
//! stored as `blockedword`), and a plugin nobody configured has no settings
//! at all (an empty map, or JSON `null` where the settings travel as JSON).
//! An empty or `null` configuration is the struct's defaults.
//! `mmplugin-gen settings plugin.json` writes the struct, with a lowercased
//! `rename` per field and the manifest's defaults.
//!
//! A Go plugin reads the same settings with `LoadPluginConfiguration`, which
//! unmarshals them into its struct with `encoding/json`; a setting that holds
//! objects (a list of links, each with a `Name` and a `Pattern`) is read the
//! same way at every depth. `encoding/json` matches an object's keys to a
//! struct's fields by name, exactly or else ignoring case, and skips keys
//! that match no field. [`from_config`] and [`from_value_case_insensitive`]
//! read JSON by those rules (see the latter for the details); serde alone
//! matches names exactly.

use std::collections::HashMap;

use serde::de::value::StringDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, IntoDeserializer, MapAccess,
    SeqAccess, VariantAccess, Visitor,
};
use serde_json::{Map, Value};

/// Why the settings do not fit the struct.
#[derive(Debug)]
pub struct SettingsError {
    /// The struct's type name.
    pub type_name: &'static str,
    /// What serde_json said (it names the setting).
    pub source: serde_json::Error,
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the plugin's settings do not fit {}: {}", self.type_name, self.source)
    }
}

impl std::error::Error for SettingsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Reads `config` (the stored settings: a JSON object, or `null`) into
/// `T`, matching keys to fields ignoring case at every depth, as
/// [`from_value_case_insensitive`] does; `null` or `{}` gives
/// `T::default()`, and anything else but an object is an error.
/// Give `T` `#[serde(default)]` so a setting nobody saved takes its default.
pub fn from_config<T: DeserializeOwned + Default>(config: Value) -> Result<T, SettingsError> {
    let map = match config {
        Value::Null => return Ok(T::default()),
        Value::Object(map) if map.is_empty() => return Ok(T::default()),
        Value::Object(map) => map,
        other => {
            return Err(SettingsError {
                type_name: std::any::type_name::<T>(),
                source: de::Error::custom(format!("the settings are not a JSON object but {other}")),
            });
        }
    };
    from_value_case_insensitive(Value::Object(map))
        .map_err(|source| SettingsError { type_name: std::any::type_name::<T>(), source })
}

/// Reads `value` into `T` as Go's `encoding/json` unmarshals into a struct:
/// wherever `T` (or anything inside it: a struct field, a list's elements,
/// an `Option`, a map's values, a newtype, an enum's content) expects a
/// struct, each key of the JSON object goes to the field named exactly so,
/// or else to the first field (in declaration order) whose name is the same
/// ignoring case. Keys that match no field are left as they are, which
/// serde ignores unless the struct says `deny_unknown_fields`. Everything
/// else reads as `serde_json::from_value` reads it, with its errors; a
/// map's keys (`HashMap<String, _>`) are kept as they are, as Go keeps them.
///
/// Ignoring case here is comparing the names lowercased character by
/// character (Rust's Unicode lowercase, `char::to_lowercase`). Go compares
/// by Unicode simple case folding; the two agree on ASCII and on nearly
/// every other letter (the Kelvin sign, U+212A, matches `k` in both), not on a
/// few: Go matches the long s `ſ` with `s`, this does not.
///
/// When several keys of one object go to the same field, one is read and
/// the others are dropped: a key spelled exactly as the field wins;
/// otherwise the last of them in the object's order. (Go reads every one in
/// the document's order, so the last one there wins even over an exact
/// spelling; a `serde_json::Value` object does not keep the document's order
/// unless serde_json's `preserve_order` feature is on, and settings that
/// came as a protobuf `Struct` have none, hence the exact spelling first.)
///
/// A `null` is what it is to Go: nothing. A key whose value is `null` is
/// read as absent (the field takes its `#[serde(default)]`; an `Option` is
/// `None`), and a `null` where a struct is expected (a list's element) is a
/// struct of defaults.
///
/// Where serde reads a struct without asking for one by its fields (a
/// struct with a `#[serde(flatten)]` field, read as a map; the variants of
/// an `untagged` or internally tagged enum, read through a buffer), its
/// keys and everything inside it are matched exactly. Enum variant names
/// are always matched exactly (Go has no enums).
pub fn from_value_case_insensitive<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    T::deserialize(CaseInsensitive(value))
}

/// A JSON value that reads its objects' keys into struct fields ignoring
/// case, and hands the same reading down to every value inside it.
struct CaseInsensitive(Value);

/// Passes the methods that need no wrapping to the value itself.
macro_rules! to_the_value {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
            self.0.$method(visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for CaseInsensitive {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        match self.0 {
            Value::Array(items) => visit_seq(items, visitor),
            Value::Object(object) => visit_map(object.into_iter(), visitor),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Self(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        // serde_json's own newtypes (`RawValue`) are read by serde_json.
        if name.starts_with("$serde_json::") {
            return self.0.deserialize_newtype_struct(name, visitor);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        match self.0 {
            Value::Array(items) => visit_seq(items, visitor),
            other => other.deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, serde_json::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        match self.0 {
            Value::Object(object) => visit_map(object.into_iter(), visitor),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        match self.0 {
            Value::Object(object) => visit_map(to_fields(object, fields).into_iter(), visitor),
            Value::Array(items) => visit_seq(items, visitor),
            // Go leaves a struct as it was for `null`: its zero value, in a
            // list; here its fields' defaults (or an error naming a field
            // without one).
            Value::Null => visit_map(std::iter::empty(), visitor),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        match self.0 {
            // `{"Variant": content}`: the content read as the rest is.
            Value::Object(object) if object.len() == 1 => {
                let Some((variant, content)) = object.into_iter().next() else {
                    unreachable!("an object of one entry has an entry")
                };
                visitor.visit_enum(Variant { variant, content })
            }
            // A unit variant's name, or serde_json's error.
            other => other.deserialize_enum(name, variants, visitor),
        }
    }

    to_the_value! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128 deserialize_f32
        deserialize_f64 deserialize_char deserialize_str deserialize_string deserialize_bytes
        deserialize_byte_buf deserialize_unit deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }
}

/// The entries of `object` with each key replaced by the field of `fields`
/// it goes to (see [`from_value_case_insensitive`]), one entry per field.
fn to_fields(object: Map<String, Value>, fields: &'static [&'static str]) -> Vec<(String, Value)> {
    let folded: Vec<String> = fields.iter().map(|field| fold(field)).collect();
    let mut entries: Vec<(String, Value, bool)> = Vec::with_capacity(object.len());
    let mut by_field: HashMap<&'static str, usize> = HashMap::new();
    for (key, value) in object {
        // Go leaves a field as it was for `null`: here, as if the key were
        // absent, so the field takes its default (an `Option` is `None`).
        if value.is_null() {
            continue;
        }
        let field = match fields.iter().find(|field| **field == key) {
            Some(field) => Some((*field, true)),
            None => {
                let key = fold(&key);
                fields.iter().zip(&folded).find(|(_, folded)| **folded == key).map(|(field, _)| (*field, false))
            }
        };
        let Some((field, exact)) = field else {
            // No field of that name: serde decides (ignores it, or refuses).
            entries.push((key, value, false));
            continue;
        };
        match by_field.get(field) {
            // An exact spelling wins; otherwise the later key.
            Some(&at) if exact || !entries[at].2 => entries[at] = (field.to_owned(), value, exact),
            Some(_) => {}
            None => {
                by_field.insert(field, entries.len());
                entries.push((field.to_owned(), value, exact));
            }
        }
    }
    entries.into_iter().map(|(key, value, _)| (key, value)).collect()
}

/// `name` lowercased character by character (no context rules).
fn fold(name: &str) -> String {
    name.chars().flat_map(char::to_lowercase).collect()
}

/// Visits `items` as a sequence of wrapped values; like serde_json, an
/// error when the visitor leaves some unread.
fn visit_seq<'de, V: Visitor<'de>>(items: Vec<Value>, visitor: V) -> Result<V::Value, serde_json::Error> {
    let len = items.len();
    let mut seq = Seq(items.into_iter());
    let out = visitor.visit_seq(&mut seq)?;
    if seq.0.len() == 0 { Ok(out) } else { Err(de::Error::invalid_length(len, &"fewer elements in array")) }
}

/// Visits `entries` as a map of wrapped values; like serde_json, an error
/// when the visitor leaves some unread.
fn visit_map<'de, V, I>(entries: I, visitor: V) -> Result<V::Value, serde_json::Error>
where
    V: Visitor<'de>,
    I: ExactSizeIterator<Item = (String, Value)>,
{
    let len = entries.len();
    let mut map = Entries { entries, value: None };
    let out = visitor.visit_map(&mut map)?;
    if map.entries.len() == 0 { Ok(out) } else { Err(de::Error::invalid_length(len, &"fewer elements in map")) }
}

struct Seq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Seq {
    type Error = serde_json::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, serde_json::Error> {
        self.0.next().map(|value| seed.deserialize(CaseInsensitive(value))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<I> {
    entries: I,
    value: Option<Value>,
}

impl<'de, I: ExactSizeIterator<Item = (String, Value)>> MapAccess<'de> for Entries<I> {
    type Error = serde_json::Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, serde_json::Error> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some(value);
        read_key(key, seed).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, serde_json::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(CaseInsensitive(value)),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Reads `key` as serde_json reads an object's key (so a
/// `HashMap<u32, _>` still reads `"7"` as 7): through serde_json's own
/// reading of an object of one entry.
fn read_key<'de, S: DeserializeSeed<'de>>(key: String, seed: S) -> Result<S::Value, serde_json::Error> {
    struct KeyOf<S>(S);

    impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for KeyOf<S> {
        type Value = S::Value;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of one entry")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<S::Value, A::Error> {
            let key = map.next_key_seed(self.0)?.ok_or_else(|| de::Error::custom("key is missing"))?;
            map.next_value::<IgnoredAny>()?;
            Ok(key)
        }
    }

    let mut one = Map::new();
    one.insert(key, Value::Null);
    one.deserialize_any(KeyOf(seed))
}

/// An enum written `{"Variant": content}`.
struct Variant {
    variant: String,
    content: Value,
}

impl<'de> EnumAccess<'de> for Variant {
    type Error = serde_json::Error;
    type Variant = CaseInsensitive;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, CaseInsensitive), serde_json::Error> {
        let name: StringDeserializer<serde_json::Error> = self.variant.into_deserializer();
        Ok((seed.deserialize(name)?, CaseInsensitive(self.content)))
    }
}

impl<'de> VariantAccess<'de> for CaseInsensitive {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), serde_json::Error> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, serde_json::Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, serde_json::Error> {
        self.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        self.deserialize_struct("", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    /// What `mmplugin-gen settings` writes, in miniature.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(default)]
    struct Settings {
        #[serde(rename = "blockedword")]
        blocked_word: String,
        #[serde(rename = "enabled")]
        enabled: bool,
    }

    impl Default for Settings {
        fn default() -> Self {
            Self { blocked_word: "forbidden".into(), enabled: true }
        }
    }

    /// A setting holding a list of objects, named as a Go plugin's struct
    /// names them.
    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default)]
    struct Links {
        #[serde(rename = "links")]
        links: Vec<Link>,
        #[serde(rename = "fallback")]
        fallback: Option<Link>,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default)]
    struct Link {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Pattern")]
        pattern: String,
    }

    fn link(name: &str, pattern: &str) -> Link {
        Link { name: name.into(), pattern: pattern.into() }
    }

    #[test]
    fn keys_match_in_any_case_and_missing_ones_take_their_defaults() {
        let settings: Settings = from_config(json!({ "BlockedWord": "spoiler" })).unwrap();
        assert_eq!(settings, Settings { blocked_word: "spoiler".into(), enabled: true });
        let settings: Settings = from_config(json!({ "blockedword": "x", "Enabled": false })).unwrap();
        assert_eq!(settings, Settings { blocked_word: "x".into(), enabled: false });
    }

    #[test]
    fn nothing_configured_is_the_defaults() {
        assert_eq!(from_config::<Settings>(Value::Null).unwrap(), Settings::default());
        assert_eq!(from_config::<Settings>(json!({})).unwrap(), Settings::default());
    }

    #[test]
    fn null_is_nothing_as_in_go() {
        #[derive(Debug, Default, PartialEq, serde::Deserialize)]
        #[serde(default)]
        struct Link {
            #[serde(rename = "Name")]
            name: String,
            #[serde(rename = "Scope")]
            scope: Vec<String>,
            #[serde(rename = "Note")]
            note: Option<String>,
        }
        let links: Vec<Link> =
            from_value_case_insensitive(json!([{ "name": "a", "scope": null, "note": null }, null])).unwrap();
        assert_eq!(links, [Link { name: "a".into(), ..Link::default() }, Link::default()]);
        // serde_json alone refuses both.
        assert!(serde_json::from_value::<Vec<Link>>(json!([{ "Scope": null }])).is_err());
        assert!(serde_json::from_value::<Vec<Link>>(json!([null])).is_err());
    }

    #[test]
    fn a_wrong_value_names_the_setting() {
        let error = from_config::<Settings>(json!({ "Enabled": "yes" })).unwrap_err();
        assert!(error.to_string().contains("Settings"), "{error}");
        assert!(error.source.to_string().contains("invalid type"), "{error}");
        assert!(from_config::<Settings>(json!([1])).unwrap_err().to_string().contains("not a JSON object"));
        // The same words serde_json says, deep down too.
        let deep = json!({ "Links": [{ "name": 7 }] });
        assert_eq!(
            from_config::<Links>(deep).unwrap_err().source.to_string(),
            serde_json::from_value::<Link>(json!({ "Name": 7 })).unwrap_err().to_string()
        );
    }

    #[test]
    fn objects_in_a_list_match_their_keys_in_any_case() {
        let config = json!({
            "Links": [
                { "name": "issue", "pattern": "#(\\d+)" },
                { "NAME": "mr", "Pattern": "!(\\d+)", "Unknown": true },
            ],
        });
        let settings: Links = from_config(config).unwrap();
        assert_eq!(settings.links, [link("issue", "#(\\d+)"), link("mr", "!(\\d+)")]);
        let plain: Links = serde_json::from_value(json!({ "links": [{ "name": "issue" }] })).unwrap();
        assert_eq!(plain.links, [Link::default()], "serde alone reads the defaults: the bug this fixes");
    }

    #[test]
    fn an_exact_spelling_wins_over_another_case_and_otherwise_the_last_key() {
        // Written in key order, so the object's order is the same with and
        // without serde_json's `preserve_order`.
        let exact_first: Link =
            from_value_case_insensitive(json!({ "NAME": "upper", "Name": "exact", "name": "lower" })).unwrap();
        assert_eq!(exact_first.name, "exact");
        let exact_last: Link = from_value_case_insensitive(json!({ "Name": "exact", "name": "lower" })).unwrap();
        assert_eq!(exact_last.name, "exact");
        let no_exact: Link = from_value_case_insensitive(json!({ "NAME": "upper", "nAME": "mixed" })).unwrap();
        assert_eq!(no_exact.name, "mixed", "the last in the object's order");

        /// Two fields whose names differ only in case (as Go's `json:"k"` and `json:"K"`).
        #[derive(Debug, Default, PartialEq, Deserialize)]
        #[serde(default)]
        struct Both {
            k: String,
            #[serde(rename = "K")]
            upper: String,
        }
        let both: Both = from_value_case_insensitive(json!({ "K": "u", "k": "l" })).unwrap();
        assert_eq!(both, Both { k: "l".into(), upper: "u".into() }, "each exact spelling finds its own field");
        let folded: Both = from_value_case_insensitive(json!({ "\u{212a}": "kelvin" })).unwrap();
        assert_eq!(folded, Both { k: "kelvin".into(), upper: String::new() }, "else the first field declared");
    }

    #[test]
    fn map_keys_are_kept_and_their_values_still_match_in_any_case() {
        #[derive(Debug, Default, PartialEq, Deserialize)]
        #[serde(default)]
        struct Named {
            #[serde(rename = "byname")]
            by_name: HashMap<String, Link>,
            #[serde(rename = "counts")]
            counts: BTreeMap<u32, String>,
        }
        let named: Named = from_config(json!({
            "ByName": { "Jira": { "PATTERN": "J-\\d+" }, "jira": { "name": "j" } },
            "Counts": { "7": "seven" },
        }))
        .unwrap();
        let expected: HashMap<String, Link> =
            [("Jira".to_owned(), link("", "J-\\d+")), ("jira".to_owned(), link("j", ""))].into();
        assert_eq!(named.by_name, expected);
        assert_eq!(named.counts, BTreeMap::from([(7, "seven".to_owned())]), "keys read as serde_json reads them");
        let top: HashMap<String, u8> = from_value_case_insensitive(json!({ "BlockedWord": 1 })).unwrap();
        assert_eq!(top, HashMap::from([("BlockedWord".to_owned(), 1)]));
    }

    #[test]
    fn an_option_a_newtype_and_an_enum_pass_the_matching_down() {
        let settings: Links = from_config(json!({ "FallBack": { "NAME": "any", "pattern": ".*" } })).unwrap();
        assert_eq!(settings.fallback, Some(link("any", ".*")));
        let none: Links = from_config(json!({ "fallback": null, "links": [] })).unwrap();
        assert_eq!(none, Links::default());

        #[derive(Debug, PartialEq, Deserialize)]
        struct Wrapped(Link);
        #[derive(Debug, PartialEq, Deserialize)]
        enum Rule {
            Off,
            One(Link),
            Pair(Link, Link),
            Inline {
                #[serde(rename = "Pattern")]
                pattern: String,
            },
        }
        let wrapped: Wrapped = from_value_case_insensitive(json!({ "name": "w" })).unwrap();
        assert_eq!(wrapped, Wrapped(link("w", "")));
        let rules: Vec<Rule> = from_value_case_insensitive(json!([
            "Off",
            { "One": { "name": "a" } },
            { "Pair": [{ "name": "b" }, { "PATTERN": "c" }] },
            { "Inline": { "pattern": "d" } },
        ]))
        .unwrap();
        assert_eq!(
            rules,
            [
                Rule::Off,
                Rule::One(link("a", "")),
                Rule::Pair(link("b", ""), link("", "c")),
                Rule::Inline { pattern: "d".into() }
            ]
        );
        assert!(from_value_case_insensitive::<Rule>(json!({ "one": {} })).is_err(), "variant names are exact");
        assert!(from_value_case_insensitive::<(u8, u8)>(json!([1, 2, 3])).is_err(), "a tuple too long, as serde_json");
    }
}

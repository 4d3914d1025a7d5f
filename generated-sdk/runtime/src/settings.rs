//! The plugin's settings, read into the author's `serde` struct.
//!
//! What the server hands a plugin (mattermost/mattermost: the System
//! Console's plugin settings and `GetPluginConfig` in `app/plugin_api.go`):
//! the console saves each setting under its key lowercased (`BlockedWord` is
//! stored as `blockedword`), and a plugin nobody configured has no settings
//! at all (an empty map, or JSON `null` where the settings travel as JSON).
//! So keys are matched lowercased, and an empty or `null` configuration is
//! the struct's defaults. `mmplugin-gen settings plugin.json` writes the
//! struct, with a lowercased `rename` per field and the manifest's defaults.

use serde::de::DeserializeOwned;
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
/// `T`, its keys lowercased first; `null` or `{}` gives `T::default()`.
/// Give `T` `#[serde(default)]` so a setting nobody saved takes its default.
pub fn from_config<T: DeserializeOwned + Default>(config: Value) -> Result<T, SettingsError> {
    let map = match config {
        Value::Null => return Ok(T::default()),
        Value::Object(map) if map.is_empty() => return Ok(T::default()),
        Value::Object(map) => map,
        other => {
            return Err(SettingsError {
                type_name: std::any::type_name::<T>(),
                source: serde::de::Error::custom(format!("the settings are not a JSON object but {other}")),
            });
        }
    };
    let lowered: Map<String, Value> = map.into_iter().map(|(key, value)| (key.to_lowercase(), value)).collect();
    serde_json::from_value(Value::Object(lowered))
        .map_err(|source| SettingsError { type_name: std::any::type_name::<T>(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What `mmplugin-gen settings` writes, in miniature.
    #[derive(Debug, PartialEq, serde::Deserialize)]
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
    fn a_wrong_value_names_the_setting() {
        let error = from_config::<Settings>(json!({ "Enabled": "yes" })).unwrap_err();
        assert!(error.to_string().contains("Settings"), "{error}");
        assert!(error.source.to_string().contains("invalid type"), "{error}");
        assert!(from_config::<Settings>(json!([1])).unwrap_err().to_string().contains("not a JSON object"));
    }
}

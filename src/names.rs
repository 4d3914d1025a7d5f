//! Rust identifiers for proto names, exactly as prost-build and tonic-build
//! spell them: the generated wrappers must name the generated stubs right.
//! Also the field names `mmplugin-gen settings` gives plugin settings' keys.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// A proto name as a Rust field, method or module name (`KVSet` → `kv_set`).
pub fn snake(name: &str) -> String {
    escape(name.to_snake_case())
}

/// A proto name as a Rust type or variant name (`ServeHTTPRequest` → `ServeHttpRequest`).
pub fn upper_camel(name: &str) -> String {
    escape(name.to_upper_camel_case())
}

/// A plugin setting's key as a Rust field name: snake case (`BlockedWord` →
/// `blocked_word`), ASCII only (any other character becomes `_`), keywords
/// escaped as for proto names, and `setting_` before a name that would start
/// with a digit (`2FA` → `setting_2fa`); a key with no ASCII letter or digit
/// at all becomes `setting`.
pub fn setting_field(key: &str) -> String {
    let snake = key.to_snake_case();
    let mut ascii = String::with_capacity(snake.len());
    for c in snake.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if !(c == '_' && (ascii.is_empty() || ascii.ends_with('_'))) {
            ascii.push(c);
        }
    }
    let ascii = ascii.trim_end_matches('_');
    if ascii.is_empty() {
        "setting".to_owned()
    } else if ascii.starts_with(|c: char| c.is_ascii_digit()) {
        format!("setting_{ascii}")
    } else {
        escape(ascii.to_owned())
    }
}

/// Makes a converted name a legal identifier: keywords that can be raw
/// become `r#kw`, those that cannot get a trailing `_`, and a leading digit
/// gets a leading `_` (prost's rules).
fn escape(ident: String) -> String {
    const RAW: &[&str] = &[
        "as", "break", "const", "continue", "else", "enum", "false", "fn", "for", "if", "impl", "in", "let",
        "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static", "struct", "trait", "true",
        "type", "unsafe", "use", "where", "while", "dyn", "abstract", "become", "box", "do", "final", "macro",
        "override", "priv", "typeof", "unsized", "virtual", "yield", "async", "await", "try", "gen",
    ];
    const SUFFIXED: &[&str] = &["_", "super", "self", "Self", "extern", "crate"];
    if RAW.contains(&ident.as_str()) {
        format!("r#{ident}")
    } else if SUFFIXED.contains(&ident.as_str()) {
        format!("{ident}_")
    } else if ident.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{ident}")
    } else {
        ident
    }
}

/// An identifier without its raw prefix, for building other names from it
/// (`r#type` → `type`).
pub fn bare(ident: &str) -> &str {
    ident.strip_prefix("r#").unwrap_or(ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acronyms_follow_heck_like_prost() {
        assert_eq!(snake("KVSet"), "kv_set");
        assert_eq!(snake("ServeHTTP"), "serve_http");
        assert_eq!(snake("GetLDAPUserAttributes"), "get_ldap_user_attributes");
        assert_eq!(snake("SetUserStatusTimedDND"), "set_user_status_timed_dnd");
        assert_eq!(upper_camel("ServeHTTPRequest"), "ServeHttpRequest");
        assert_eq!(upper_camel("KVSetRequest"), "KvSetRequest");
        assert_eq!(upper_camel("PluginAPI"), "PluginApi");
    }

    #[test]
    fn keywords_are_escaped() {
        assert_eq!(snake("type"), "r#type");
        assert_eq!(snake("self"), "self_");
        assert_eq!(upper_camel("self"), "Self_");
        assert_eq!(snake("async"), "r#async");
        assert_eq!(bare("r#type"), "type");
    }

    #[test]
    fn setting_fields() {
        for (key, field) in [
            ("BlockedWord", "blocked_word"),
            ("RTCDServiceURL", "rtcd_service_url"),
            ("foo-bar", "foo_bar"),
            ("Foo Bar", "foo_bar"),
            ("type", "r#type"),
            ("Self", "self_"),
            ("2FA", "setting_2fa"),
            ("---", "setting"),
            ("日本", "setting"),
            ("naïve", "na_ve"),
            ("_x_", "x"),
        ] {
            assert_eq!(setting_field(key), field, "{key}");
        }
    }
}

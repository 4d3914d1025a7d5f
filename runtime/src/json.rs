//! Conversions between protobuf's JSON-like well-known types
//! (`google.protobuf.Struct`, `Value`) and `serde_json`, and JSON carried in
//! `bytes` fields.
//!
//! Numbers: protobuf holds every number as an `f64`. Whole numbers that fit
//! come back as JSON integers, so `{"count": 3}` round-trips as `3`, not `3.0`.

use prost_types::{ListValue, Struct, Value, value::Kind};
use serde_json::{Map, Number};

/// Reads JSON into `T` as Go's `encoding/json` does: keys matched to fields
/// in any case at every depth, `null` as nothing (see
/// [`crate::settings::from_value_case_insensitive`]). For JSON written by
/// Go code or people, such as a request body another plugin sends.
pub use crate::settings::from_value_case_insensitive as from_value_go;

/// A `Struct` as a JSON object.
pub fn struct_to_object(s: Struct) -> Map<String, serde_json::Value> {
    s.fields.into_iter().map(|(k, v)| (k, value_to_json(v))).collect()
}

/// A JSON object as a `Struct`.
pub fn object_to_struct(map: Map<String, serde_json::Value>) -> Struct {
    Struct { fields: map.into_iter().map(|(k, v)| (k, json_to_value(v))).collect() }
}

/// A protobuf `Value` as JSON. A value with no kind set is `null`.
pub fn value_to_json(value: Value) -> serde_json::Value {
    match value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(b),
        Some(Kind::NumberValue(n)) => number_to_json(n),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s),
        Some(Kind::StructValue(s)) => serde_json::Value::Object(struct_to_object(s)),
        Some(Kind::ListValue(list)) => serde_json::Value::Array(list.values.into_iter().map(value_to_json).collect()),
    }
}

/// JSON as a protobuf `Value`. Integers beyond 2^53 lose precision, as they
/// would in any protobuf `Value`.
pub fn json_to_value(value: serde_json::Value) -> Value {
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(items) => {
            Kind::ListValue(ListValue { values: items.into_iter().map(json_to_value).collect() })
        }
        serde_json::Value::Object(map) => Kind::StructValue(object_to_struct(map)),
    };
    Value { kind: Some(kind) }
}

fn number_to_json(n: f64) -> serde_json::Value {
    // 2^53: beyond it an f64 no longer holds every integer exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= EXACT {
        // In range and whole, so the cast is exact.
        serde_json::Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// Decodes JSON carried in a `bytes` field; empty bytes are `null`.
pub fn from_bytes(bytes: &[u8], field: &'static str) -> Result<serde_json::Value, crate::Error> {
    if bytes.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|source| crate::Error::Json { field, source })
}

/// Encodes JSON for a `bytes` field.
pub fn to_bytes(value: &serde_json::Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_round_trip() {
        let original = json!({"a": 1, "b": [true, null, "x", 2.5], "c": {"d": -7}});
        let serde_json::Value::Object(map) = original.clone() else { unreachable!() };
        let back = serde_json::Value::Object(struct_to_object(object_to_struct(map)));
        assert_eq!(back, original);
    }

    #[test]
    fn empty_bytes_are_null_and_bad_bytes_are_an_error() {
        assert_eq!(from_bytes(b"", "f").unwrap(), serde_json::Value::Null);
        assert!(matches!(from_bytes(b"{", "f"), Err(crate::Error::Json { field: "f", .. })));
        assert_eq!(from_bytes(&to_bytes(&json!({"k": 1})), "f").unwrap(), json!({"k": 1}));
    }
}

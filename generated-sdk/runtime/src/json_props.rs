//! Property tests of the JSON ↔ `Struct`/`Value` conversions ([`crate::json`])
//! on generated values, and the configuration every property test of the
//! crate shares ([`config`]).
//!
//! Properties:
//! - any JSON object (numbers: integers within ±2^53, finite floats;
//!   strings: any Unicode; objects and arrays nested a few levels deep)
//!   comes back from `Struct` as it went in, integers as integers; a float
//!   with no fraction within ±2^53 comes back as the integer it equals (the
//!   module's documented rule, as a protobuf `Value` holds only `f64`);
//! - any protobuf `Value` whose numbers are finite comes back from JSON as
//!   it went in.
//!
//! Runs are repeatable: a fixed seed, 256 cases each. For a longer run:
//! `PROPTEST_CASES=100000 cargo test -p mmplugin-runtime props`; for other
//! inputs, another seed: `PROPTEST_RNG_SEED=<u64>`.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use prost_types::{ListValue, Struct, Value, value::Kind};
use serde_json::{Map, Number};

use crate::json::{json_to_value, object_to_struct, struct_to_object, value_to_json};

/// The seed of every property test of this crate, unless `PROPTEST_RNG_SEED`
/// names another: CI runs the same cases every time.
const SEED: u64 = 0x6d6d_706c_7567_696e;

/// The configuration of the crate's property tests: `cases` cases
/// (`PROPTEST_CASES` overrides), the fixed [`SEED`] (`PROPTEST_RNG_SEED`
/// overrides), and no regression files written into the source tree (a
/// failure prints its minimal input; add it as a plain test).
pub(crate) fn config(cases: u32) -> Config {
    let from_env = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { from_env.cases } else { cases },
        rng_seed: match from_env.rng_seed {
            RngSeed::Random => RngSeed::Fixed(SEED),
            fixed => fixed,
        },
        failure_persistence: None,
        ..from_env
    }
}

/// 2^53: every integer up to it is exact in an `f64`.
const EXACT: i64 = 1 << 53;

/// Finite floats of every kind: normal, subnormal, zeros of both signs,
/// whole ones (which come back as integers) and the edges of ±2^53.
fn finite_float() -> impl Strategy<Value = f64> {
    use proptest::num::f64;
    prop_oneof![
        4 => f64::POSITIVE | f64::NEGATIVE | f64::NORMAL | f64::SUBNORMAL | f64::ZERO,
        2 => (-1e6..1e6f64).prop_map(f64::trunc),
        1 => (-4.0..4.0f64).prop_map(|x| x * EXACT as f64),
        1 => prop::sample::select(vec![
            EXACT as f64,
            -(EXACT as f64),
            EXACT as f64 + 2.0,
            -(EXACT as f64) - 2.0,
            0.5,
            -0.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
        ]),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z_]{0,8}", 1 => any::<String>()]
}

/// Any JSON value the conversions are meant for.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        (-EXACT..=EXACT).prop_map(serde_json::Value::from),
        prop::sample::select(vec![0, 1, -1, EXACT, -EXACT, EXACT - 1]).prop_map(serde_json::Value::from),
        finite_float().prop_map(|x| serde_json::Value::Number(Number::from_f64(x).expect("finite"))),
        any::<String>().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|fields| serde_json::Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, serde_json::Value>> {
    prop::collection::btree_map(key(), json(), 0..8).prop_map(|fields| fields.into_iter().collect())
}

/// What a JSON value is after a trip through protobuf, by the module's
/// rule: a float with no fraction within ±2^53 is that integer; everything
/// else is unchanged.
fn through_protobuf(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().expect("a float");
            if x.fract() == 0.0 && x.abs() <= EXACT as f64 { serde_json::Value::from(x as i64) } else { value.clone() }
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(through_protobuf).collect()),
        serde_json::Value::Object(fields) => {
            serde_json::Value::Object(fields.iter().map(|(k, v)| (k.clone(), through_protobuf(v))).collect())
        }
        other => other.clone(),
    }
}

/// Any protobuf `Value` with a kind set and finite numbers.
fn value() -> impl Strategy<Value = Value> {
    let kind = |kind| Value { kind: Some(kind) };
    let leaf = prop_oneof![
        Just(kind(Kind::NullValue(0))),
        any::<bool>().prop_map(move |b| kind(Kind::BoolValue(b))),
        finite_float().prop_map(move |x| kind(Kind::NumberValue(x))),
        (-EXACT..=EXACT).prop_map(move |n| kind(Kind::NumberValue(n as f64))),
        any::<String>().prop_map(move |s| kind(Kind::StringValue(s))),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8)
                .prop_map(move |values| kind(Kind::ListValue(ListValue { values }))),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(move |fields| kind(Kind::StructValue(Struct { fields }))),
        ]
    })
}

/// How many numbers in `value` are integers, recursively.
fn integers_in(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Number(n) => usize::from(n.is_i64() || n.is_u64()),
        serde_json::Value::Array(items) => items.iter().map(integers_in).sum(),
        serde_json::Value::Object(fields) => fields.values().map(integers_in).sum(),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// object → Struct → object: exactly the object, by the number rule
    /// (`through_protobuf`); integers stay integers, unicode stays as it is.
    #[test]
    fn props_json_objects_round_trip_through_struct(object in json_object()) {
        let expected = through_protobuf(&serde_json::Value::Object(object.clone()));
        let back = serde_json::Value::Object(struct_to_object(object_to_struct(object.clone())));
        prop_assert_eq!(&back, &expected);
        // Every integer that went in is still an integer (none became a float).
        prop_assert!(integers_in(&back) >= integers_in(&serde_json::Value::Object(object)));
    }

    /// Value → JSON → Value: exactly the value, for finite numbers.
    #[test]
    fn props_protobuf_values_round_trip_through_json(value in value()) {
        let back = json_to_value(value_to_json(value.clone()));
        prop_assert_eq!(back, value);
    }

    /// JSON → Value → JSON, for any value (not only objects).
    #[test]
    fn props_json_values_round_trip_through_value(value in json()) {
        let back = value_to_json(json_to_value(value.clone()));
        prop_assert_eq!(back, through_protobuf(&value));
    }
}

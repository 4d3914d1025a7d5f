//! One small proto and one golden per generator rule, side by side
//! (`tests/rules/<rule>/rule.proto` and `inspect.txt`), in the style of
//! typify's samples: open the two files to see what a rule does. Each proto
//! says, at its top, the rule and where in the generator it lives.
//!
//! The golden is what `mmplugin-gen inspect` prints for the proto: every
//! RPC's classification and the Rust names and signatures it becomes. Each
//! rule's proto also generates a whole SDK without error. Accept an intended
//! change with `MMPLUGIN_GEN_BLESS=1 cargo test --test rules`.

mod common;

use std::path::PathBuf;

use common::{assert_golden, root, run};

/// Every rule folder, by name.
fn rules() -> Vec<PathBuf> {
    let mut rules: Vec<PathBuf> = std::fs::read_dir(root().join("tests/rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("rule.proto").is_file())
        .collect();
    rules.sort();
    rules
}

#[test]
fn every_rule_is_golden() {
    let rules = rules();
    assert!(rules.len() >= 9, "the rule samples are missing: {rules:?}");
    for rule in rules {
        let out = run(&["inspect", "--proto", rule.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", rule.display(), String::from_utf8_lossy(&out.stderr));
        assert_golden(&rule.join("inspect.txt"), &String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn every_rule_generates_an_sdk() {
    for rule in rules() {
        let tmp = tempfile::tempdir().unwrap();
        let sdk = tmp.path().join("sdk");
        let out = run(&["--proto", rule.to_str().unwrap(), "--out", sdk.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", rule.display(), String::from_utf8_lossy(&out.stderr));
        assert!(sdk.join("src/lib.rs").is_file() && sdk.join("runtime/src/lib.rs").is_file(), "{}", rule.display());
    }
}

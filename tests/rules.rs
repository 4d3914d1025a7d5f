//! One small proto and one golden per generator rule, side by side
//! (`tests/rules/<rule>/rule.proto` and `inspect.txt`), in the style of
//! typify's samples: open the two files to see what a rule does. Each proto
//! says, at its top, the rule and where in the generator it lives.
//!
//! The golden is what `mmplugin-gen inspect` prints for the proto: every
//! RPC's classification and the Rust names and signatures it becomes. Each
//! rule's proto also generates a whole SDK without error. A rule that
//! refuses a proto has `error.txt` instead: the exact error (`file:line:col:
//! reason`) that `inspect` and generation print, exiting 1 and writing
//! nothing. Accept an intended change with
//! `MMPLUGIN_GEN_BLESS=1 cargo test --test rules`.
//!
//! The SDKs of the rules in [`COMPILED`] are compiled, test kit on, with
//! `MMPLUGIN_COMPILE_SDKS=1`, as `scripts/test-all` (which `.ci/run` runs)
//! sets; see tests/holdout.rs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_golden, root, run, snapshot, target_dir, text};

/// The rules whose generated SDK is compiled: names that only a compiler
/// proves do not clash.
const COMPILED: &[&str] = &["parameter-names"];

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

/// A rule whose proto the generator refuses.
fn refused(rule: &Path) -> bool {
    rule.join("error.txt").is_file()
}

#[test]
fn every_rule_is_golden() {
    let rules = rules();
    assert!(rules.len() >= 12, "the rule samples are missing: {rules:?}");
    for rule in rules.iter().filter(|r| !refused(r)) {
        let out = run(&["inspect", "--proto", rule.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", rule.display(), text(&out.stderr));
        assert_golden(&rule.join("inspect.txt"), &text(&out.stdout));
    }
}

#[test]
fn every_rule_generates_an_sdk() {
    for rule in rules().iter().filter(|r| !refused(r)) {
        let tmp = tempfile::tempdir().unwrap();
        let sdk = tmp.path().join("sdk");
        let out = run(&["--proto", rule.to_str().unwrap(), "--out", sdk.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", rule.display(), text(&out.stderr));
        assert!(sdk.join("src/lib.rs").is_file() && sdk.join("runtime/src/lib.rs").is_file(), "{}", rule.display());
    }
}

#[test]
fn a_refused_rule_names_file_line_col_and_writes_nothing() {
    let refusals: Vec<PathBuf> = rules().into_iter().filter(|r| refused(r)).collect();
    assert!(refusals.len() >= 2, "the refused samples are missing: {refusals:?}");
    // An SDK generated before, which a refused proto must leave as it is.
    let tmp = tempfile::tempdir().unwrap();
    let sdk = tmp.path().join("sdk");
    let before = run(&["--proto", "tests/rules/acronyms", "--out", sdk.to_str().unwrap()]);
    assert!(before.status.success(), "{}", text(&before.stderr));
    let tree = snapshot(&sdk);
    for rule in refusals {
        let golden = rule.join("error.txt");
        let inspect = run(&["inspect", "--proto", rule.to_str().unwrap()]);
        assert_eq!(inspect.status.code(), Some(1), "{}", rule.display());
        assert_golden(&golden, &text(&inspect.stderr));
        assert!(inspect.stdout.is_empty(), "{}: {}", rule.display(), text(&inspect.stdout));

        let generate = run(&["--proto", rule.to_str().unwrap(), "--out", sdk.to_str().unwrap()]);
        assert_eq!(generate.status.code(), Some(1), "{}", rule.display());
        assert_golden(&golden, &text(&generate.stderr));
        assert_eq!(snapshot(&sdk), tree, "{}: the output folder changed", rule.display());
        let beside: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(beside, ["sdk"], "{}: nothing is written beside it", rule.display());

        // `--check` cannot tell: 2, not the 1 of "would change".
        let check = run(&["--proto", rule.to_str().unwrap(), "--out", sdk.to_str().unwrap(), "--check"]);
        assert_eq!(check.status.code(), Some(2), "{}", rule.display());
        assert_golden(&golden, &text(&check.stderr));
    }
}

#[test]
fn names_that_could_clash_compile() {
    if !std::env::var("MMPLUGIN_COMPILE_SDKS").is_ok_and(|v| v == "1") {
        eprintln!(
            "SKIPPED: compiling the SDKs of {COMPILED:?} with the test kit (set MMPLUGIN_COMPILE_SDKS=1; \
             scripts/test-all does); only their inspect goldens were checked"
        );
        return;
    }
    for rule in COMPILED {
        let tmp = tempfile::tempdir().unwrap();
        let sdk = tmp.path().join("sdk");
        let proto = root().join("tests/rules").join(rule);
        let out = run(&["--proto", proto.to_str().unwrap(), "--out", sdk.to_str().unwrap()]);
        assert!(out.status.success(), "{rule}: {}", text(&out.stderr));
        let status = Command::new(env!("CARGO"))
            .args(["check", "--quiet", "--manifest-path"])
            .arg(sdk.join("testing/Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir().join("standalone"))
            .status()
            .unwrap();
        assert!(status.success(), "the SDK of the `{rule}` rule does not compile with the test kit on");
    }
}

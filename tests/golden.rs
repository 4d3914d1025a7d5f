//! Golden tests: the committed SDKs are exactly what the generator makes now.
//! (That they compile is checked apart: they are workspace members.)

mod common;

use std::path::Path;

use common::{assert_golden, root};
use mmplugin_gen::{emit, load::ProtoSources, render::SdkCrate};

/// Regenerates `proto` in memory and compares it with `sdk`, file by file.
fn check_sdk(proto: &Path, sdk: &Path, crate_name: &str) {
    let sources = ProtoSources::from_dir(proto).unwrap();
    let sdk_crate = SdkCrate { crate_name: crate_name.into(), ..SdkCrate::default() };
    let generated = mmplugin_gen::generate(&sources, &sdk_crate).unwrap();
    if common::blessing() {
        emit::write(sdk, &generated.files).unwrap();
        return;
    }
    for file in &generated.files {
        assert_golden(&sdk.join(&file.path), &file.contents);
    }
    let stale = emit::check(sdk, &generated.files).unwrap();
    assert!(stale.is_empty(), "{} has files the generator no longer makes: {stale:?}", sdk.display());
}

#[test]
fn committed_sdk_matches_the_generator() {
    check_sdk(&root().join("proto"), &root().join("generated-sdk"), "mattermost-plugin");
}

#[test]
fn edge_fixture_sdk_matches_the_generator() {
    let fixture = root().join("tests/fixtures/edge");
    check_sdk(&fixture.join("proto"), &fixture.join("sdk"), "edge-fixture-sdk");
}

#[test]
fn embedded_contract_is_the_committed_proto_folder() {
    assert_eq!(ProtoSources::embedded(), ProtoSources::from_dir(&root().join("proto")).unwrap());
}

#[test]
fn inspect_report_of_the_contract() {
    let fds = ProtoSources::embedded().compile().unwrap();
    let contract = mmplugin_gen::classify::classify(&fds).unwrap();
    assert_golden(&root().join("tests/golden/inspect.txt"), &mmplugin_gen::inspect::report(&contract));
}

#[test]
fn inspect_report_of_the_edge_fixture() {
    let fds = ProtoSources::from_dir(&root().join("tests/fixtures/edge/proto")).unwrap().compile().unwrap();
    let contract = mmplugin_gen::classify::classify(&fds).unwrap();
    assert_golden(&root().join("tests/fixtures/edge/inspect.txt"), &mmplugin_gen::inspect::report(&contract));
}

#[test]
fn generation_is_deterministic() {
    let sources = ProtoSources::embedded();
    let a = mmplugin_gen::generate(&sources, &SdkCrate::default()).unwrap().files;
    let b = mmplugin_gen::generate(&sources, &SdkCrate::default()).unwrap().files;
    assert_eq!(a, b);
}

/// The README's "Testing your plugin" example is the example plugin's
/// `tests/readme.rs` word for word, so the example in the README is a test
/// that compiles and passes (`cargo test -p hello-plugin --test readme`).
#[test]
fn readme_testing_example_is_the_example_test() {
    let test = root().join("examples/hello-plugin/tests/readme.rs");
    let example = std::fs::read_to_string(&test).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (_, section) =
        readme.split_once("\n## Testing your plugin\n").expect("README.md has \"## Testing your plugin\"");
    let section = section.split("\n## ").next().unwrap();
    let (_, block) = section.split_once("\n```rust\n").expect("the section has a ```rust block");
    let (block, _) = block.split_once("\n```\n").expect("the ```rust block is closed");
    let block = format!("{block}\n");
    if block != example {
        let line = block
            .lines()
            .zip(example.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| block.lines().count().min(example.lines().count()));
        panic!(
            "the ```rust block of README.md's \"Testing your plugin\" differs from {}, first at line {}:\n  \
             README: {:?}\n  test:   {:?}\n(change both: the README shows the test as it is)",
            test.display(),
            line + 1,
            block.lines().nth(line),
            example.lines().nth(line),
        );
    }
}

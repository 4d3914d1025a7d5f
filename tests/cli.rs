//! The command line, as a user runs it.

mod common;

use std::fs;

use common::{assert_golden, root, run, snapshot};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_is_golden() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert_golden(&root().join("tests/golden/help.txt"), &text(&out.stdout));
}

#[test]
fn bad_proto_names_file_line_col_and_leaves_the_output_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let proto = tmp.path().join("proto");
    let out = tmp.path().join("sdk");
    fs::create_dir_all(&proto).unwrap();
    for entry in fs::read_dir(root().join("tests/fixtures/edge/proto")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), proto.join(entry.file_name())).unwrap();
    }
    let ok = run(&["--proto", proto.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let before = snapshot(&out);

    // Line 3, column 16: a field without a number.
    fs::write(proto.join("bad.proto"), "syntax = \"proto3\";\npackage fixture.edge.v1;\nmessage Bad { int32 x = ; }\n")
        .unwrap();
    let bad = run(&["--proto", proto.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = text(&bad.stderr);
    assert!(stderr.contains("bad.proto:3:25:"), "{stderr}");
    assert_eq!(snapshot(&out), before, "the output folder changed");
    let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "no staging folder is left behind: {leftovers:?}");
}

#[test]
fn unknown_type_is_located_too() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("x.proto"), "syntax = \"proto3\";\n\nmessage X {\n  Missing m = 1;\n}\n").unwrap();
    let out = run(&["--proto", tmp.path().to_str().unwrap(), "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("x.proto:4:3:"), "{}", text(&out.stderr));
}

#[test]
fn check_lists_a_stale_tree_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sdk");
    let out_arg = out.to_str().unwrap();
    assert!(run(&["--out", out_arg]).status.success());
    let fresh = run(&["--out", out_arg, "--check"]);
    assert!(fresh.status.success(), "{}", text(&fresh.stdout));

    fs::write(out.join("src/hooks.rs"), "// edited by hand\n").unwrap();
    fs::write(out.join("src/stray.rs"), "// not generated\n").unwrap();
    fs::remove_file(out.join("src/error.rs")).unwrap();
    let stale_tree = snapshot(&out);
    let stale = run(&["--out", out_arg, "--check"]);
    assert_eq!(stale.status.code(), Some(1));
    let listed = text(&stale.stdout);
    for line in ["added:    src/error.rs", "modified: src/hooks.rs", "removed:  src/stray.rs", "3 files would change"] {
        assert!(listed.contains(line), "missing {line:?} in:\n{listed}");
    }
    assert_eq!(snapshot(&out), stale_tree, "--check wrote something");

    // A real run repairs it: exactly the generated files again.
    assert!(run(&["--out", out_arg]).status.success());
    assert!(run(&["--out", out_arg, "--check"]).status.success());
    assert!(!out.join("src/stray.rs").exists());
}

#[test]
fn generation_is_byte_identical_across_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(run(&["--out", a.to_str().unwrap()]).status.success());
    assert!(run(&["--out", b.to_str().unwrap()]).status.success());
    assert_eq!(snapshot(&a), snapshot(&b));
    assert_eq!(snapshot(&a), snapshot(&root().join("generated-sdk")), "the embedded contract makes the committed SDK");
}

#[test]
fn refuses_to_replace_a_folder_it_did_not_make() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("precious.txt"), "keep me").unwrap();
    let out = run(&["--out", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("refusing to replace"), "{}", text(&out.stderr));
    assert_eq!(fs::read_to_string(tmp.path().join("precious.txt")).unwrap(), "keep me");
}

#[test]
fn unknown_service_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&["--proto", "tests/fixtures/edge/proto", "--out", tmp.path().join("sdk").to_str().unwrap()]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("service `Telemetry` is neither PluginHooks nor PluginAPI"));
}

#[test]
fn diff_of_identical_contracts_is_empty() {
    let out = run(&["diff", "proto", "proto"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("0 differences"), "{}", text(&out.stdout));
}

#[test]
fn diff_lists_wire_changes_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let new = tmp.path();
    for entry in fs::read_dir(root().join("proto")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), new.join(entry.file_name())).unwrap();
    }
    let edit = |file: &str, from: &str, to: &str| {
        let path = new.join(file);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} lacks {from:?}");
        fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit("api_user_team.proto", "message DeleteUserRequest {\n  string user_id = 1;", "message DeleteUserRequest {\n  string user_id = 9;");
    edit("hooks.proto", "rpc OnDeactivate(", "rpc OnDeactivated(");
    edit("api.proto", "rpc GetUser(GetUserRequest) returns (GetUserResponse);", "rpc GetUser(GetUserRequest) returns (GetUserResponse);\n  rpc GetUserAgain(GetUserRequest) returns (GetUserResponse);");
    let out = run(&["diff", "proto", new.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let listed = text(&out.stdout);
    for line in [
        "hook added: PluginHooks.OnDeactivated",
        "hook removed: PluginHooks.OnDeactivate",
        "API method added: PluginAPI.GetUserAgain",
        "field renumbered: mattermost.pluginapi.v1.DeleteUserRequest.user_id: 1 -> 9",
        "4 differences",
    ] {
        assert!(listed.contains(line), "missing {line:?} in:\n{listed}");
    }
}

#[test]
fn contract_is_wire_identical_to_the_reference() {
    let reference = root().join("../shared/upstream-proto");
    if !reference.exists() {
        eprintln!("SKIPPED: {} is absent; the diff against Mattermost's protos cannot run", reference.display());
        return;
    }
    let out = run(&["diff", reference.to_str().unwrap(), "proto"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).starts_with("0 differences"), "{}", text(&out.stdout));
}

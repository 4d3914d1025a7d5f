//! The command line, as a user runs it.

mod common;

use std::fs;

use common::{assert_golden, root, run, snapshot, text};

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
    // `--check` cannot tell whether anything would change: 2, not 1.
    let out = run(&["--proto", tmp.path().to_str().unwrap(), "--check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("x.proto:4:3:"), "{}", text(&out.stderr));
}

#[test]
fn import_cycle_is_located_at_the_import() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("a.proto"), "syntax = \"proto3\";\npackage c.v1;\nimport \"b.proto\";\n").unwrap();
    fs::write(tmp.path().join("b.proto"), "syntax = \"proto3\";\npackage c.v1;\n\nimport \"a.proto\";\n").unwrap();
    let out = run(&["--proto", tmp.path().to_str().unwrap(), "--out", tmp.path().join("sdk").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: a.proto:3:1: import cycle detected: a.proto -> b.proto -> a.proto\n");
    assert!(!tmp.path().join("sdk").exists());
}

#[test]
fn invalid_utf8_is_located() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("u.proto");
    // Line 3: `// caf` then a Latin-1 `é`, the 7th character.
    fs::write(&file, b"syntax = \"proto3\";\npackage u.v1;\n// caf\xe9\nmessage U {}\n").unwrap();
    let out = run(&["--proto", tmp.path().to_str().unwrap(), "--out", tmp.path().join("sdk").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("error: {}:3:7: not valid UTF-8 (a .proto file is UTF-8 text)\n", file.display())
    );
}

#[test]
fn an_io_error_prints_its_cause_once() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let out = run(&["--proto", missing.to_str().unwrap(), "--out", tmp.path().join("sdk").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
    assert_eq!(stderr.matches(missing.to_str().unwrap()).count(), 1, "{stderr}");

    // An output folder below a file: the OS error once too.
    fs::write(tmp.path().join("file"), "").unwrap();
    let out = run(&["--out", tmp.path().join("file/sdk").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
}

#[test]
fn stale_trees_of_a_killed_run_are_removed_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sdk");
    assert!(run(&["--proto", "tests/rules/acronyms", "--out", out.to_str().unwrap()]).status.success());
    // A process that has exited: its id is free.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    let dead = child.id();
    let live = std::process::id();
    let tree = |name: &str| {
        let dir = tmp.path().join(name);
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(dir.join("src/lib.rs"), "// half written\n").unwrap();
        dir
    };
    let stale = [tree(&format!(".sdk.mmplugin-gen-new-{dead}")), tree(&format!(".sdk.mmplugin-gen-old-{dead}"))];
    let kept = [
        // A run still going.
        tree(&format!(".sdk.mmplugin-gen-new-{live}")),
        // Another output's.
        tree(&format!(".sdk2.mmplugin-gen-new-{dead}")),
        // Names that only look like it.
        tree(&format!(".sdk.mmplugin-gen-new-{dead}.bak")),
        tree(&format!(".sdk.mmplugin-gen-new-0{dead}")),
        tree(".sdk.mmplugin-gen-new-"),
        tree(&format!("sdk.mmplugin-gen-new-{dead}")),
    ];
    let file = tmp.path().join(format!(".sdk.mmplugin-gen-new-{}", dead + 1));
    fs::write(&file, "not a folder").unwrap();

    // Up to date: nothing to write, and the leftovers go all the same.
    let again = run(&["--proto", "tests/rules/acronyms", "--out", out.to_str().unwrap()]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    for dir in &stale {
        assert!(!dir.exists(), "{} was left", dir.display());
    }
    for dir in &kept {
        assert_eq!(fs::read_to_string(dir.join("src/lib.rs")).unwrap(), "// half written\n", "{}", dir.display());
    }
    assert!(file.is_file());
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
    assert_eq!(out.status.code(), Some(0));
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
fn diff_exits_2_when_it_cannot_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    for args in [["diff", missing.to_str().unwrap(), "proto"], ["diff", "proto", missing.to_str().unwrap()]] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "nothing is compared: {}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
    }
    // Protos that do not compile: located, and 2.
    let bad = tmp.path().join("bad");
    fs::create_dir_all(&bad).unwrap();
    fs::write(bad.join("x.proto"), "syntax = \"proto3\";\nmessage X {\n  Missing m = 1;\n}\n").unwrap();
    let out = run(&["diff", "proto", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: x.proto:3:3:"), "{}", text(&out.stderr));
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

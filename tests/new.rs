//! `mmplugin-gen new DIR`: what it writes, what it refuses, and (with
//! `MMPLUGIN_COMPILE_NEW=1`, as `scripts/test-all` sets) that the project it writes
//! builds, passes its own tests, bundles with its `bundle.sh`, and starts
//! under the Go host that plays Mattermost's gRPC plugin host.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{root, run, snapshot, target_dir, text};

fn new(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["new", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args)
}

/// The project files (not the SDK's), as `new` prints them.
const PROJECT: [&str; 10] = [
    ".gitignore",
    "Cargo.toml",
    "README.md",
    "assets/i18n/en.json",
    "bundle.sh",
    "plugin.json",
    "src/lib.rs",
    "src/main.rs",
    "src/settings.rs",
    "tests/plugin.rs",
];

#[test]
fn it_writes_a_project_with_the_sdk_inside_and_the_same_bytes_each_time() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("greeter");
    let out = new(&dir, &["--id", "org.acme.greeter", "--name", "Greeter \"Deluxe\""]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    for file in PROJECT {
        assert!(printed.contains(&dir.join(file).display().to_string()), "{file} in {printed}");
    }
    assert!(printed.contains("mattermost-plugin ("), "{printed}");
    assert!(text(&out.stderr).contains("cargo test && ./bundle.sh"), "the next step is said");

    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("plugin.json")).unwrap()).unwrap();
    assert_eq!(
        (manifest["id"].as_str(), manifest["name"].as_str()),
        (Some("org.acme.greeter"), Some("Greeter \"Deluxe\""))
    );
    let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("name = \"greeter\"") && cargo.contains("path = \"mattermost-plugin\""), "{cargo}");
    assert!(cargo.contains("\n[workspace]\n"), "a workspace of its own");
    // The settings struct is what `mmplugin-gen settings` prints for it.
    let settings = run(&["settings", dir.join("plugin.json").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dir.join("src/settings.rs")).unwrap(), text(&settings.stdout));
    // The SDK is the one the generator makes from its built-in contract.
    let generated = mmplugin_gen::generate(
        &mmplugin_gen::load::ProtoSources::embedded(),
        &mmplugin_gen::render::SdkCrate::default(),
    )
    .unwrap();
    let mut wanted: Vec<(PathBuf, Vec<u8>)> =
        generated.files.into_iter().map(|f| (f.path, f.contents.into_bytes())).collect();
    wanted.sort();
    assert_eq!(snapshot(&dir.join("mattermost-plugin")), wanted);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("bundle.sh")).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "bundle.sh runs");
    }
    // The same again, byte for byte.
    let again = temp.path().join("other").join("greeter");
    assert!(new(&again, &["--id", "org.acme.greeter", "--name", "Greeter \"Deluxe\""]).status.success());
    assert_eq!(snapshot(&dir), snapshot(&again));
    assert!(
        !temp.path().read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("mmplugin-gen-new"))
    );
}

#[test]
fn it_refuses_a_folder_that_is_not_empty_and_bad_names_touching_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let busy = temp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let out = new(&busy, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("busy: not empty"), "{}", text(&out.stderr));
    assert_eq!(snapshot(&busy), vec![(PathBuf::from("notes.txt"), b"mine".to_vec())]);

    let cases: [(&str, &[&str], &str); 3] = [
        ("ok-name", &["--id", "no/slashes"], "plugin id \"no/slashes\""),
        ("2fast", &[], "\"2fast\" cannot be a package name"),
        ("ok-name", &["--name", " "], "the plugin name must not be empty"),
    ];
    for (folder, extra, wanted) in cases {
        let dir = temp.path().join(folder);
        let out = new(&dir, extra);
        assert_eq!(out.status.code(), Some(1), "{folder} {extra:?}");
        assert!(text(&out.stderr).contains(wanted), "{}", text(&out.stderr));
        assert!(!dir.exists(), "nothing written for {folder} {extra:?}");
    }
    // An empty folder is fine, and the defaults come from its name.
    let empty = temp.path().join("my_plugin");
    std::fs::create_dir(&empty).unwrap();
    assert!(new(&empty, &[]).status.success());
    let manifest = std::fs::read_to_string(empty.join("plugin.json")).unwrap();
    assert!(manifest.contains("\"com.example.my_plugin\"") && manifest.contains("\"My Plugin\""), "{manifest}");
}

/// The author's loop, end to end: `cargo test` in the new project, then
/// `bundle.sh`, then the bundle started by the Go host.
#[test]
fn the_new_project_builds_passes_its_tests_bundles_and_starts_under_the_host() {
    if !std::env::var("MMPLUGIN_COMPILE_NEW").is_ok_and(|v| v == "1") {
        eprintln!(
            "SKIPPED: building the project `new` writes, its tests, its bundle and the host starting it \
             (set MMPLUGIN_COMPILE_NEW=1; .ci/run does); only its files were checked"
        );
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("hello-new");
    assert!(new(&dir, &[]).status.success());
    // Shares the standalone SDK check's target folder: the same dependencies.
    let target = target_dir().join("standalone");

    let tests = Command::new(env!("CARGO"))
        .args(["test", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(tests.status.success(), "cargo test failed:\n{}\n{}", text(&tests.stdout), text(&tests.stderr));
    assert!(text(&tests.stdout).contains("test result: ok. 2 passed"), "{}", text(&tests.stdout));

    let generator = Path::new(env!("CARGO_BIN_EXE_mmplugin-gen")).parent().unwrap().to_owned();
    let path = std::env::join_paths(
        std::iter::once(generator).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let bundled = Command::new("sh")
        .arg("bundle.sh")
        .current_dir(&dir)
        .env("PATH", path)
        .env("PROFILE", "debug")
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(bundled.status.success(), "bundle.sh failed:\n{}", text(&bundled.stderr));
    let bundle = PathBuf::from(text(&bundled.stdout).lines().last().unwrap().trim());
    let bundle = dir.join(bundle);
    assert!(bundle.ends_with("dist/com.example.hello-new-0.1.0.tar.gz"), "{}", bundle.display());

    let host = Command::new("bash")
        .arg(root().join("tests/interop/go-host/run.sh"))
        .args(["-start-only"])
        .arg(&bundle)
        .output()
        .unwrap();
    let report = text(&host.stdout);
    if host.status.code() == Some(2) && std::env::var("MMPLUGIN_REQUIRE_INTEROP").is_err() {
        eprintln!("SKIPPED: the Go host is not installed here (run.sh: {})", text(&host.stderr).trim());
        return;
    }
    assert_eq!(host.status.code(), Some(0), "{report}\n{}", text(&host.stderr));
    assert!(
        report.contains("ok: Implemented twice, same answer: [OnActivate OnConfigurationChange MessageWillBePosted ServeHTTP]"),
        "{report}"
    );
    assert!(report.contains("ok: OnActivate answered without an error"), "{report}");
    assert!(report.contains("exited gracefully"), "{report}");
    eprintln!("{report}");
}

/// `new .` in an empty folder writes the project into that folder, which
/// stays the same folder: it used to be replaced, and a shell standing in it
/// then listed nothing.
#[cfg(unix)]
#[test]
fn new_dot_writes_in_place_and_keeps_the_folder() {
    use std::os::unix::fs::MetadataExt as _;
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("in-place");
    std::fs::create_dir(&dir).unwrap();
    let inode = std::fs::metadata(&dir).unwrap().ino();
    let out = Command::new(env!("CARGO_BIN_EXE_mmplugin-gen"))
        .args(["new", "."])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::metadata(&dir).unwrap().ino(), inode, "the same folder");
    for file in PROJECT {
        assert!(dir.join(file).is_file(), "{file}");
    }
    let manifest = std::fs::read_to_string(dir.join("plugin.json")).unwrap();
    assert!(manifest.contains("com.example.in-place"), "named after the folder: {manifest}");
    let beside: Vec<_> = std::fs::read_dir(temp.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(beside, [std::ffi::OsString::from("in-place")], "no staging folder left beside it");
}

/// A `new` killed halfway left its staging folder; the next `new` beside it
/// removes it (its process is gone), and leaves a running one's alone.
#[cfg(unix)]
#[test]
fn the_next_new_removes_what_a_killed_one_left() {
    let temp = tempfile::tempdir().unwrap();
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let stale = temp.path().join(format!(".half.mmplugin-gen-new-{gone_pid}"));
    let running = temp.path().join(format!(".other.mmplugin-gen-new-{}", std::process::id()));
    for dir in [&stale, &running] {
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/main.rs"), "half").unwrap();
    }
    let out = new(&temp.path().join("fresh"), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!stale.exists(), "the dead process's staging folder went");
    assert!(running.exists(), "a live process's stays");
}

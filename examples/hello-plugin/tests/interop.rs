//! Interoperability with peers we did not write: a host built on hashicorp
//! go-plugin and grpc-go that plays the real Mattermost gRPC plugin host
//! (tests/interop/go-host, every rule it plays cited from `runtime/src/host_rules.md`), and
//! Python grpcio.
//!
//! The Go host installs the plugin from the bundle `mmplugin-gen bundle`
//! writes (the same library code, [`mmplugin_gen::bundle::write`]) and starts
//! it as the server does: through the interpreter path the host looks for,
//! from the plugin folder.
//!
//! Their toolchains come from Debian and PyPI (`scripts/test-all` installs
//! them). Without them these tests say SKIPPED loudly and pass, unless
//! `MMPLUGIN_REQUIRE_INTEROP=1` (set by `scripts/test-all`) makes a missing
//! toolchain a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mmplugin_gen::bundle::{self, Bundle, Platform};

const HELLO: &str = env!("CARGO_BIN_EXE_hello-plugin");
const MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.json");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn required() -> bool {
    std::env::var("MMPLUGIN_REQUIRE_INTEROP").is_ok_and(|v| v == "1")
}

fn show(output: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The example's bundle for this machine, written into `dir`.
fn bundle_for_this_machine(dir: &Path) -> PathBuf {
    let platform = Platform::host().expect("the interop host runs on a platform the server supports");
    let written = bundle::write(&Bundle {
        manifest: MANIFEST.into(),
        executables: vec![(platform, HELLO.into())],
        out: dir.to_owned(),
    })
    .expect("the example bundles");
    for note in &written.notes {
        println!("bundle: {note}");
    }
    written.path
}

/// Runs the Go host on `bundle` with `flags`; `None` when its toolchain is
/// missing (and that is allowed).
fn go_host(flags: &[&str], envs: &[(&str, &str)], bundle: &Path) -> Option<Output> {
    let output = Command::new("bash")
        .arg(format!("{REPO}/tests/interop/go-host/run.sh"))
        .args(flags)
        .arg(bundle)
        .envs(envs.iter().copied())
        .output()
        .expect("run tests/interop/go-host/run.sh");
    let text = show(&output);
    if output.status.code() == Some(2) && text.contains("missing prerequisites") {
        assert!(!required(), "the Go interop toolchain is missing and MMPLUGIN_REQUIRE_INTEROP=1:\n{text}");
        eprintln!("SKIPPED: go-plugin interop: Go toolchain or go-plugin packages missing (see scripts/test-all)\n{text}");
        return None;
    }
    println!("{text}");
    Some(output)
}

/// Asserts a passing run and returns its stdout.
fn passed(output: &Output) -> String {
    let text = show(output);
    assert!(output.status.success(), "the go-plugin host reported failures:\n{text}");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!stdout.contains("FAIL"), "{text}");
    stdout
}

#[test]
fn the_real_host_runs_the_bundle_from_activation_to_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_for_this_machine(dir.path());
    let Some(output) = go_host(&[], &[("GO_HOST_CALLS", "400")], &bundle) else { return };
    let stdout = passed(&output);
    for expected in [
        // The bundle starts through the interpreter path, from the plugin folder.
        "ok: started from the bundle: interpreter venv/bin/python",
        // Implemented twice, then OnActivate, never OnConfigurationChange;
        // the translations (the host has no GetBundlePath: the plugin goes
        // on in English) and the settings were loaded before the activation
        // code ran.
        "never OnConfigurationChange",
        "API calls in order: [GetBundlePath GetConfig GetPluginConfig RegisterCommand GetServerVersion]",
        // The admin's word is in force at the first post.
        "rejected: \"Posts containing \\\"bananas\\\" are not allowed.\"",
        // A 100 MiB file, in one message as the server sends it, read to its
        // last bytes.
        "ok: FileWillBeUploaded(notes.txt, 100 MiB) allowed",
        "ok: FileWillBeUploaded(leak.txt, 100 MiB) refused in",
        "\"Files containing \\\"bananas\\\" are not allowed.\"",
        // The typo's text reaches what the server shows.
        "fails as the server shows it: ExecuteCommand: plugin.hook.error, unknown option `--shout`",
        // An API error keeps its id and status through the hook.
        "app.user.missing_account.const",
        // Routing on the rewritten URL, and 64 MiB through the bridge.
        "path \"/hello\", query \"a=1&b=2\"",
        "ServeHTTP POST /plugins/com.example.hello-rust/echo of 64 MiB",
        // The 4 MiB limit, refused with the sizes.
        "413 \"the request is",
        "ok: stop: Kill",
        // The files the bundle ships: the icon the manifest names, and the
        // asset the plugin reads through GetBundlePath (the plugin folder),
        // relative to its working directory.
        "ok: the icon icon_path \"assets/icon.svg\" is in the installed bundle",
        "ok: assets/greeting.txt is readable from the plugin's working directory (the plugin folder, ",
        "ok: ServeHTTP GET /plugins/com.example.hello-rust/greeting: 200, the text of assets/greeting.txt, \
         read through GetBundlePath",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    // The plugin's tracing event for the refused post reaches the host's log
    // as an hclog entry with its fields as fields: go-plugin parses the hclog
    // JSON line from the plugin's stderr and logs the other keys as fields
    // (client.go, Client.logStderr), which hclog's text format writes as
    // key=value.
    let logged = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "ok: the host logged the plugin's refusal as an hclog entry with fields user_id, channel_id, hook: ",
            )
        })
        .expect("the host's check of the refusal's log entry");
    let logged: String = serde_json::from_str(logged).expect("a quoted log line");
    let (_, fields) = logged.split_once(": refused a post: ").expect("the message, then the fields");
    let fields: Vec<&str> = fields.split(' ').collect();
    for field in ["user_id=user-alice", "channel_id=channel-1", "hook=MessageWillBePosted"] {
        assert!(fields.contains(&field), "no {field} in {logged:?}");
    }
    assert!(logged.contains(" [INFO]  ") && !logged.contains("@message"), "{logged:?}");
    // grpc-go's own refusal of a request over its limit, as the host's API
    // server sends it, is what the SDK reads as `Error::TooLarge`.
    let refusal = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ok: grpc-go refuses a 5 MiB API request: code=ResourceExhausted message="))
        .expect("the host's self-check of the API limit");
    let message: String = serde_json::from_str(refusal).expect("a quoted message");
    let error = mattermost_plugin::Error::from_status(tonic::Status::resource_exhausted(message));
    assert!(
        matches!(error, mattermost_plugin::Error::TooLarge { size: 5_242_880, limit: 4_194_304 }),
        "{error:?}"
    );
}

/// A simulated HA cluster: three plugin processes from the bundle, as on
/// three servers, one KV store. All count hellos at once, 1,000 each; the
/// typed store's compare-and-set update loses none of them.
#[test]
fn three_nodes_on_one_kv_store_count_every_hello_once() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_for_this_machine(dir.path());
    let Some(output) = go_host(&["-nodes", "3"], &[], &bundle) else { return };
    let stdout = passed(&output);
    for node in 1..=3 {
        for expected in [
            format!("ok: node {node}: started from the bundle: interpreter venv/bin/python"),
            format!(
                "ok: node {node}: OnActivate (listed, so called) -> no error; API calls in order: [GetBundlePath GetConfig GetPluginConfig RegisterCommand GetServerVersion]"
            ),
            format!("ok: node {node}: stop: Kill (Shutdown, close) -> the plugin exited gracefully"),
        ] {
            assert!(stdout.contains(&expected), "no {expected:?} in:\n{stdout}");
        }
    }
    let figures = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("ok: cluster of 3 nodes, one KV store, 3 x 1000 \"/hello\" calls (8 at a time per node): ")
        })
        .expect("the cluster's figures");
    let figures: std::collections::HashMap<&str, &str> =
        figures.split(' ').map(|f| f.split_once('=').expect("key=value")).collect();
    for (key, want) in [
        ("calls", "3000"),
        ("answered", "3000"),
        ("answered_per_node", "1000,1000,1000"),
        ("failed", "0"),
        ("not_run", "0"),
        // The counter as the typed KV stores a u64: a JSON number.
        ("counter", "3000"),
        // Each hello number handed out once: no update lost.
        ("numbers", "1..=3000"),
        ("duplicates", "0"),
        ("missing", "0"),
    ] {
        assert_eq!(figures.get(key).copied(), Some(want), "{key} in {figures:?}");
    }
    // The nodes did race: some atomic sets lost to another node's write and
    // were retried (the point of the compare-and-set).
    let conflicts: u64 = figures["cas_conflicts"].parse().expect("a count");
    assert!(conflicts > 0, "no compare-and-set conflict: the nodes never raced ({figures:?})");
    println!("cluster: {} ms for 3000 calls, {conflicts} compare-and-set conflicts", figures["elapsed_ms"]);
}

/// Needs the plugin built with `auto-mtls` (`.ci/run` runs it so).
#[cfg(feature = "auto-mtls")]
#[test]
fn the_real_host_with_go_plugins_automatic_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_for_this_machine(dir.path());
    let Some(output) = go_host(&[], &[("GO_HOST_AUTOMTLS", "1"), ("GO_HOST_CALLS", "100")], &bundle) else { return };
    let stdout = passed(&output);
    assert!(stdout.contains("auto-mTLS ON"), "{stdout}");
}

#[test]
fn a_failing_activation_reaches_the_host_readable() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_for_this_machine(dir.path());
    let Some(output) = go_host(&["-fail-register"], &[], &bundle) else { return };
    let stdout = passed(&output);
    // "OnActivate: <the API's id>, <its text>": where, id, detailed_error.
    assert!(
        stdout.contains("activation refused as the server shows it: OnActivate: app.command.duplicate.app_error, "),
        "{stdout}"
    );
}

/// A manifest without `server.runtime: "python"` is a Go net/rpc plugin to
/// the server (`runtime/src/host_rules.md`, "Which plugins the server starts over gRPC"): the
/// host refuses our gRPC handshake, exit code 3 with its reason.
#[test]
fn a_go_style_bundle_is_refused_with_the_hosts_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_for_this_machine(dir.path());
    // Unpack, drop the runtime, pack again: what a Go-style manifest gives.
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = |args: &[&str]| assert!(Command::new("tar").args(args).status().unwrap().success(), "tar {args:?}");
    tar(&["-xzf", bundle.to_str().unwrap(), "-C", unpacked.to_str().unwrap()]);
    let manifest_path = unpacked.join("com.example.hello-rust/plugin.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["server"].as_object_mut().unwrap().remove("runtime");
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let go_style = dir.path().join("go-style.tar.gz");
    tar(&["-czf", go_style.to_str().unwrap(), "-C", unpacked.to_str().unwrap(), "com.example.hello-rust"]);

    let Some(output) = go_host(&[], &[], &go_style) else { return };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    assert!(stdout.contains("refused: ") && stdout.contains("Unsupported plugin protocol \"grpc\""), "{stdout}");
}

#[test]
fn python_grpcio_calls_hooks_and_serves_the_api() {
    let output = Command::new("python3")
        .arg(format!("{REPO}/tests/interop/python/interop.py"))
        .arg(HELLO)
        .output()
        .expect("run python3 tests/interop/python/interop.py");
    let text = show(&output);
    println!("{text}");
    assert!(output.status.success(), "the Python interop run reported failures:\n{text}");
    if String::from_utf8_lossy(&output.stdout).contains("SKIPPED") {
        eprintln!("SKIPPED: Python interop: grpcio-tools missing (pip install -r tests/interop/python/requirements.txt)");
        return;
    }
    assert!(String::from_utf8_lossy(&output.stdout).contains(" passed, 0 failed"), "{text}");
}

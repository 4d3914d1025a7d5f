//! A contract change reaches the test kit with no code change: the committed
//! contract plus a hook and an API method the generator has never seen gets
//! a driver method for the hook and an answer setter for the method, beside
//! the kit's state; and (with `MMPLUGIN_COMPILE_SDKS=1`, as `scripts/test-all`
//! sets) that SDK compiles with the kit on.

mod common;

use std::path::Path;
use std::process::Command;

use common::{root, target_dir};
use mmplugin_gen::{emit, load::ProtoSources, render::SdkCrate};

/// The new hook and API method, in their own file.
const HOLDOUT_PROTO: &str = r#"syntax = "proto3";

package mattermost.pluginapi.v1;

option go_package = "github.com/mattermost/mattermost/server/public/pluginapi/grpc/generated/go/pluginapiv1";

import "common.proto";
import "hooks_common.proto";

// A thing happened.
message OnBrandNewThingRequest {
  PluginContext plugin_context = 1;
  string thing_id = 2;
  int64 weight = 3;
}

message OnBrandNewThingResponse {
  AppError error = 1;
}

message GetBrandNewThingRequest {
  string thing_id = 1;
}

message GetBrandNewThingResponse {
  AppError error = 1;
  string label = 2;
  int64 weight = 3;
}
"#;

/// `file` with `import "holdout.proto";` after its imports and `rpc` first in `service`.
fn with_rpc(file: &str, service: &str, rpc: &str) -> String {
    let file = file.replacen("\nimport ", "\nimport \"holdout.proto\";\nimport ", 1);
    let opening = format!("service {service} {{\n");
    assert!(file.contains(&opening), "no `{opening}`");
    file.replacen(&opening, &format!("{opening}  {rpc}\n"), 1)
}

/// The committed protos plus the hold-out hook and method, written to `dir`.
fn write_holdout_protos(dir: &Path) {
    for entry in std::fs::read_dir(root().join("proto")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let text = match name.as_str() {
            "hooks.proto" => with_rpc(
                &text,
                "PluginHooks",
                "rpc OnBrandNewThing(OnBrandNewThingRequest) returns (OnBrandNewThingResponse);",
            ),
            "api.proto" => with_rpc(
                &text,
                "PluginAPI",
                "rpc GetBrandNewThing(GetBrandNewThingRequest) returns (GetBrandNewThingResponse);",
            ),
            _ => text,
        };
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::write(dir.join("holdout.proto"), HOLDOUT_PROTO).unwrap();
}

#[test]
fn a_new_hook_and_api_method_get_a_driver_method_and_an_answer_setter() {
    let protos = tempfile::tempdir().unwrap();
    write_holdout_protos(protos.path());
    let sources = ProtoSources::from_dir(protos.path()).unwrap();
    let generated = mmplugin_gen::generate(&sources, &SdkCrate::default()).unwrap();
    let file = |path: &str| {
        generated.files.iter().find(|f| f.path == Path::new(path)).map(|f| f.contents.clone()).unwrap_or_default()
    };
    // The kit's lib.rs and its answers, one file per API group.
    let kit: String = generated
        .files
        .iter()
        .filter(|f| f.path == Path::new("testing/src/lib.rs") || f.path.starts_with("testing/src/answers"))
        .map(|f| f.contents.as_str())
        .collect();
    // Compared without whitespace or trailing commas, so formatting does not matter.
    let squeeze = |text: &str| text.split_whitespace().collect::<String>().replace(",)", ")");
    let squeezed = squeeze(&kit);
    for expected in [
        // The driver: the hook's arguments, the host's PluginContext, the response the server gets.
        "pub async fn on_brand_new_thing(&self, thing_id: String, weight: i64) -> Result<proto::OnBrandNewThingResponse, Status>",
        "HookName::OnBrandNewThing",
        // The answer setter, typed as the client method returns, and the fake's answer.
        "pub fn on_get_brand_new_thing( &self, answer: impl Fn(proto::GetBrandNewThingRequest) -> Result<sdk::api::GetBrandNewThingOutput, Error>",
        "async fn get_brand_new_thing( &self, request: Request<proto::GetBrandNewThingRequest>)",
        "unanswered(\"GetBrandNewThing\", \"on_get_brand_new_thing\")",
    ] {
        assert!(squeezed.contains(&squeeze(expected)), "the kit lacks `{expected}`");
    }
    assert!(!file("testing/src/state.rs").is_empty(), "the kit's state stays: every method it answers is still there");
    let methods = generated.contract.api_methods().count();
    assert_eq!(methods, 237, "the 236 methods and the new one");
    assert_eq!(kit.matches("    pub fn on_").count(), methods, "one answer setter per API method");
    let hooks = generated.contract.plugin_hooks().filter(|h| h.name != "ServeHTTP").count();
    // Besides: `TestHostBuilder::start`, `TestHost::start`, `deactivate`, `capture`, `http`, `http_as`,
    // `http_from_plugin`, `FakeServer::settle`, `TestHost::settle`.
    assert_eq!(kit.matches("    pub async fn ").count(), hooks + 9, "one driver method per hook but the HTTP stream");

    if std::env::var("MMPLUGIN_COMPILE_SDKS").is_ok_and(|v| v == "1") {
        let sdk = tempfile::tempdir().unwrap();
        emit::write(sdk.path(), &generated.files).unwrap();
        let status = Command::new(env!("CARGO"))
            .args(["check", "--quiet", "--manifest-path"])
            .arg(sdk.path().join("testing/Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir().join("standalone"))
            .status()
            .unwrap();
        assert!(status.success(), "the hold-out SDK does not compile with the test kit on");
    } else {
        eprintln!(
            "SKIPPED: compiling the hold-out SDK with the test kit (set MMPLUGIN_COMPILE_SDKS=1; scripts/test-all does); \
             only its text was checked"
        );
    }
}

//! The example plugin installed from its bundle, as the real host installs
//! it: `mmplugin-gen bundle`'s code writes the bundle, `tar` unpacks it, and
//! the plugin starts as `<plugin folder>/venv/bin/python <executable>` from
//! the plugin folder (`runtime/src/host_rules.md`, "Which plugins the server starts over gRPC").

#![allow(dead_code, reason = "each bench uses a different part")]

use std::path::PathBuf;

use mmplugin_gen::bundle::{self, Bundle, Platform};

/// The plugin binary under benchmark.
pub const HELLO: &str = env!("CARGO_BIN_EXE_hello-plugin");
const MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.json");

/// A bundle, written and unpacked into a folder of its own.
pub struct Installed {
    /// The bundle (`.tar.gz`).
    pub bundle: PathBuf,
    /// The plugin folder: the bundle's top folder, unpacked.
    pub folder: PathBuf,
    /// The executable argument the host passes, as the manifest names it.
    pub executable: String,
    _dir: tempfile::TempDir,
}

impl Installed {
    /// Bundles [`HELLO`] for this machine and unpacks it.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let platform = Platform::host().expect("a platform the server supports");
        let written = bundle::write(&Bundle {
            manifest: MANIFEST.into(),
            executables: vec![(platform, HELLO.into())],
            out: dir.path().to_owned(),
        })
        .expect("the example bundles");
        let unpacked = dir.path().join("installed");
        std::fs::create_dir_all(&unpacked).unwrap();
        let status = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(&written.path)
            .arg("-C")
            .arg(&unpacked)
            .status()
            .expect("tar");
        assert!(status.success(), "tar could not unpack {}", written.path.display());
        let folder = unpacked.join("com.example.hello-rust");
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join("plugin.json")).unwrap()).unwrap();
        let executable = manifest["server"]["executables"][platform.as_str()].as_str().unwrap().to_owned();
        Self { bundle: written.path, folder, executable, _dir: dir }
    }

    /// The command the host runs: the interpreter it finds, given the
    /// executable, in the plugin folder.
    pub fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(self.folder.join("venv/bin/python"));
        command.arg(&self.executable).current_dir(&self.folder);
        command
    }
}

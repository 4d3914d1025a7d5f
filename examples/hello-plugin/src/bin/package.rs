//! Packages a plugin as the `.tar.gz` bundle Mattermost installs:
//! `<id>/plugin.json` and the server executable at the path the manifest
//! names for the platform.
//!
//! ```text
//! package <plugin.json> <executable> <platform> <out-dir>
//! ```
//!
//! `platform` is a key of the manifest's `server.executables`, such as
//! `linux-amd64`. Prints the bundle's path.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [manifest, executable, platform, out] = args.as_slice() else {
        eprintln!("usage: package <plugin.json> <executable> <platform> <out-dir>");
        return ExitCode::FAILURE;
    };
    match package(Path::new(manifest), Path::new(executable), platform, Path::new(out)) {
        Ok(bundle) => {
            println!("{}", bundle.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn package(manifest: &Path, executable: &Path, platform: &str, out: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", manifest.display()))?;
    let field = |name: &str| {
        json[name]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{}: no `{name}`", manifest.display()))
    };
    let (id, version) = (field("id")?, field("version")?);
    let target = json["server"]["executables"][platform]
        .as_str()
        .ok_or_else(|| format!("{}: no server.executables.{platform}", manifest.display()))?;
    if target.starts_with('/') || target.split('/').any(|part| part == "..") {
        return Err(format!("server.executables.{platform} must stay inside the bundle: {target}"));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let bundle = out.join(format!("{id}-{version}.tar.gz"));
    let file = File::create(&bundle).map_err(|e| format!("{}: {e}", bundle.display()))?;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
    let write = |tar: &mut tar::Builder<_>, name: String, bytes: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes).map_err(|e| format!("writing the bundle: {e}"))
    };
    write(&mut tar, format!("{id}/plugin.json"), text.as_bytes(), 0o644)?;
    let binary = std::fs::read(executable).map_err(|e| format!("{}: {e}", executable.display()))?;
    write(&mut tar, format!("{id}/{target}"), &binary, 0o755)?;
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .map_err(|e| format!("writing {}: {e}", bundle.display()))?;
    Ok(bundle)
}

//! Embeds what `mmplugin-gen` writes without reading the repository: the
//! committed `proto/` contract (so the binary runs with no files on disk),
//! the names of its API methods (what the SDK's hand-written files may
//! call), and the `runtime/` crate, which every generated SDK gets a copy of.

use std::{env, fmt::Write as _, fs, path::Path};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=proto");
    let protos = files(&root.join("proto"), |name| name.ends_with(".proto"));
    embed(&root.join("proto"), &protos, "embedded_protos.rs");
    let services = services(&root.join("proto"), &protos);
    println!("cargo:rustc-env=MMPLUGIN_CONTRACT={}", contract_summary(&root.join("proto"), &protos, &services));
    // The API service (`classify::API_SERVICE`): its RPC names.
    let api = services.iter().find(|(name, _)| name == "PluginAPI").map(|(_, rpcs)| rpcs.as_slice()).unwrap_or(&[]);
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("embedded_api_rpcs.rs");
    fs::write(dest, format!("&{api:?}")).unwrap();

    println!("cargo:rerun-if-changed=runtime");
    let runtime = root.join("runtime");
    let mut crate_files = vec!["Cargo.toml".to_owned()];
    crate_files.extend(files(&runtime.join("src"), |name| name.ends_with(".rs") || name.ends_with(".md")).into_iter().map(|f| format!("src/{f}")));
    crate_files.sort();
    embed(&runtime, &crate_files, "embedded_runtime.rs");
}

/// The files below `dir` (recursively) whose names pass `keep`, as paths
/// relative to `dir` with `/` separators, sorted.
fn files(dir: &Path, keep: fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, prefix)) = stack.pop() {
        for entry in fs::read_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().expect("UTF-8 file names");
            let relative = format!("{prefix}{name}");
            if entry.file_type().unwrap().is_dir() {
                stack.push((entry.path(), format!("{relative}/")));
            } else if keep(&name) {
                out.push(relative);
            }
        }
    }
    out.sort();
    out
}

/// The package, and each service with the names of its RPCs, read from
/// the committed protos line by line (one `rpc` per line, as they are
/// written).
fn services(dir: &Path, relative: &[String]) -> Vec<(String, Vec<String>)> {
    let mut services: Vec<(String, Vec<String>)> = Vec::new();
    for file in relative {
        let text = fs::read_to_string(dir.join(file)).unwrap();
        let mut current: Option<usize> = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("service ") {
                let name = rest.trim_end_matches('{').trim().to_owned();
                current = Some(services.iter().position(|(n, _)| *n == name).unwrap_or_else(|| {
                    services.push((name, Vec::new()));
                    services.len() - 1
                }));
            } else if let Some(rest) = line.strip_prefix("rpc ") {
                if let Some(i) = current {
                    services[i].1.push(rest.split('(').next().unwrap_or("").trim().to_owned());
                }
            } else if line == "}" {
                current = None;
            }
        }
    }
    services
}

/// Which contract is embedded, for `--version`: its package, how many RPCs
/// each service has, and a digest of the files (FNV-1a, 64 bits, over each
/// path and contents), so two binaries can tell whether theirs differ.
fn contract_summary(dir: &Path, relative: &[String], services: &[(String, Vec<String>)]) -> String {
    let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
    let mut package = String::new();
    for file in relative {
        let text = fs::read_to_string(dir.join(file)).unwrap();
        for byte in file.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            digest = (digest ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        if let Some(name) = text.lines().find_map(|line| line.trim().strip_prefix("package ")) {
            package = name.trim_end_matches(';').trim().to_owned();
        }
    }
    let counts: Vec<String> = services.iter().map(|(name, rpcs)| format!("{} {name} RPCs", rpcs.len())).collect();
    format!("{package}: {}; protos fnv1a64 {digest:016x}", counts.join(", "))
}

/// Writes `OUT_DIR/name`: a `&[(relative path, contents)]` expression.
fn embed(dir: &Path, relative: &[String], name: &str) {
    let mut out = String::from("&[\n");
    for file in relative {
        let path = dir.join(file);
        writeln!(out, "    ({file:?}, include_str!({:?})),", path.display()).unwrap();
    }
    out.push(']');
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join(name);
    fs::write(dest, out).unwrap();
}

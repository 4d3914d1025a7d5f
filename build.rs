//! Embeds what `mmplugin-gen` writes without reading the repository: the
//! committed `proto/` contract (so the binary runs with no files on disk)
//! and the `runtime/` crate, which every generated SDK gets a copy of.

use std::{env, fmt::Write as _, fs, path::Path};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=proto");
    let protos = files(&root.join("proto"), |name| name.ends_with(".proto"));
    embed(&root.join("proto"), &protos, "embedded_protos.rs");

    println!("cargo:rerun-if-changed=runtime");
    let runtime = root.join("runtime");
    let mut crate_files = vec!["Cargo.toml".to_owned()];
    crate_files.extend(files(&runtime.join("src"), |name| name.ends_with(".rs")).into_iter().map(|f| format!("src/{f}")));
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

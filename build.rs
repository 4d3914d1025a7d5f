//! Embeds the committed `proto/` contract into the binary, so that
//! `mmplugin-gen` runs with no files on disk.

use std::{env, fmt::Write as _, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=proto");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("proto/ is part of the crate")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.ends_with(".proto").then_some(name)
        })
        .collect();
    names.sort();
    let mut out = String::from("&[\n");
    for name in &names {
        let path = dir.join(name);
        writeln!(out, "    ({name:?}, include_str!({:?})),", path.display()).unwrap();
    }
    out.push(']');
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("embedded_protos.rs");
    fs::write(dest, out).unwrap();
}

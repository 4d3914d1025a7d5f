//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};

/// Set to `1` to accept changed output: goldens are rewritten, not compared.
pub const BLESS_ENV: &str = "MMPLUGIN_GEN_BLESS";

pub fn blessing() -> bool {
    std::env::var(BLESS_ENV).is_ok_and(|v| v == "1")
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `actual` with the golden file, or rewrites it when blessing.
pub fn assert_golden(golden: &Path, actual: &str) {
    if blessing() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(golden, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(golden)
        .unwrap_or_else(|e| panic!("{}: {e} (run with {BLESS_ENV}=1 to create it)", golden.display()));
    if expected != actual {
        let line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or_else(|| {
            expected.lines().count().min(actual.lines().count())
        });
        panic!(
            "{} differs from the output, first at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             (if the change is intended, rerun with {BLESS_ENV}=1 and commit the result)",
            golden.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}

/// A process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Cargo's output folder: `CARGO_TARGET_DIR` when set (relative to the
/// project, as cargo reads it from here), else `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// Runs the `mmplugin-gen` binary.
pub fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mmplugin-gen"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("mmplugin-gen runs")
}

/// Every file below `dir`, with its contents, sorted.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().to_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

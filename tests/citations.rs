//! Comments cite only what a reader can open (issue 21): the host's rules
//! are a document in the repository, `runtime/src/host_rules.md`, shipped
//! in every SDK, and every citation resolves.
//!
//! Read are the sources, templates, tests, scripts and docs of the
//! repository and of the SDKs it generates (`generated-sdk/`, the edge
//! fixture's), each file whole: a citation may run over a comment's
//! line break.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where a cited path may be: the repository, the generated SDK (whose own
/// files cite `runtime/src/…` and `src/…`), the example plugin (whose docs
/// cite its `tests/…`), the project `mmplugin-gen new` writes (its files
/// are the templates in `templates/new/`, some with `.askama` appended).
const BASES: &[&str] = &["", "generated-sdk", "examples/hello-plugin", "examples/autolink", "templates/new"];

/// Top folders of the repository, an SDK or the example: a path in
/// backticks starting with one is a citation of a file.
const TOP: &[&str] = &["src", "runtime", "templates", "tests", "examples", "scripts", "benches", "generated-sdk", "proto"];

/// Every file read, as (path from the root, text).
fn sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for top in TOP.iter().chain(&[".ci"]) {
        for entry in walkdir::WalkDir::new(root().join(top)).sort_by_file_name() {
            let entry = entry.unwrap();
            let path = entry.path();
            let relative = path.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
            let wanted = ["rs", "askama", "go", "py", "md", "sh", "toml"]
                .iter()
                .any(|ext| path.extension().is_some_and(|e| e == *ext))
                || relative.starts_with(".ci/")
                || relative.starts_with("scripts/");
            if entry.file_type().is_file()
                && wanted
                && !relative.contains("/target/")
                && let Ok(text) = std::fs::read_to_string(path)
            {
                out.push((relative, text));
            }
        }
    }
    out.push(("README.md".into(), std::fs::read_to_string(root().join("README.md")).unwrap()));
    out.push(("build.rs".into(), std::fs::read_to_string(root().join("build.rs")).unwrap()));
    out
}

/// `text` with each line break, and the comment marker after it, as one
/// space: a citation broken over comment lines reads whole.
fn flattened(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.trim_start();
        let line = ["//!", "///", "//", "# ", "#", "* "]
            .iter()
            .find_map(|marker| line.strip_prefix(marker))
            .unwrap_or(line);
        out.push_str(line.trim());
        out.push(' ');
    }
    out
}

/// `a/{b,c}.rs` as `a/b.rs` and `a/c.rs`.
fn expand(path: &str) -> Vec<String> {
    match (path.find('{'), path.find('}')) {
        (Some(open), Some(close)) if open < close => path[open + 1..close]
            .split(',')
            .flat_map(|alt| expand(&format!("{}{alt}{}", &path[..open], &path[close + 1..])))
            .collect(),
        _ => vec![path.to_owned()],
    }
}

#[test]
fn no_comment_cites_the_contract_notes_outside_the_repository() {
    // The notes' file name, spelt so that this line does not match itself.
    let notes = concat!("CONTRACT", ".md");
    let mut found = Vec::new();
    for (path, text) in sources() {
        for (n, line) in text.lines().enumerate() {
            if line.contains(notes) {
                found.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "cite runtime/src/host_rules.md instead:\n{}", found.join("\n"));
}

#[test]
fn every_host_rules_section_cited_exists() {
    let rules = std::fs::read_to_string(root().join("runtime/src/host_rules.md")).unwrap();
    let sections: Vec<&str> = rules.lines().filter_map(|l| l.strip_prefix("## ")).collect();
    assert!(sections.len() >= 10, "{sections:?}");
    let citation = regex::Regex::new(r#"host[ _]rules(?:\.md`?)?,\s+"([^"]+)""#).unwrap();
    let (mut cited, mut unknown) = (0, Vec::new());
    for (path, text) in sources() {
        for found in citation.captures_iter(&flattened(&text)) {
            cited += 1;
            let section = found[1].split_whitespace().collect::<Vec<_>>().join(" ");
            if !sections.contains(&section.as_str()) {
                unknown.push(format!("{path}: \"{section}\""));
            }
        }
    }
    assert!(cited >= 40, "only {cited} citations found: the pattern no longer matches them");
    assert!(unknown.is_empty(), "sections not in runtime/src/host_rules.md {sections:?}:\n{}", unknown.join("\n"));
}

#[test]
fn every_file_cited_in_backticks_exists() {
    let citation = regex::Regex::new(&format!(r"`((?:{})/[A-Za-z0-9_./{{}},-]+)`", TOP.join("|"))).unwrap();
    let (mut cited, mut missing) = (0, Vec::new());
    for (path, text) in sources() {
        for found in citation.captures_iter(&text) {
            for cited_path in expand(&found[1]) {
                let cited_path = cited_path.trim_end_matches(['.', ',', ':']);
                cited += 1;
                let exists = |base: &&str| {
                    let path = root().join(base).join(cited_path);
                    path.exists() || (*base == "templates/new" && path.with_extension("rs.askama").exists())
                };
                if !BASES.iter().any(exists) {
                    missing.push(format!("{path}: `{cited_path}`"));
                }
            }
        }
    }
    assert!(cited >= 100, "only {cited} paths found: the pattern no longer matches them");
    assert!(missing.is_empty(), "cited, but in neither the repository, the SDK nor the example:\n{}", missing.join("\n"));
}

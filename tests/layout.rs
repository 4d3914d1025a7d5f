//! The generated SDK's modules depend on each other one way (issue 21): no
//! circle, and a hook call runs the process (`serve`) → server glue →
//! plugin trait.
//!
//! Read from the generated sources: every `crate::<module>` path in code
//! (comments aside) is an edge. A module names what it takes by its module
//! (`crate::plugin::Plugin`, not the crate root's re-export
//! `crate::Plugin`), so that every edge is visible here and to a reader.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The SDKs the repository generates: the committed one and the edge
/// fixture's.
const SDKS: &[&str] = &["generated-sdk", "tests/fixtures/edge/sdk"];

/// Modules that `lib.rs` defines inline or re-exports from another crate:
/// nodes with no edges of their own.
const LEAVES: &[&str] = &["proto", "json", "prelude"];

/// `module -> modules it names`, and the paths that name a crate-root item
/// instead of its module, for the SDK's `src/`.
fn graph(sdk: &Path) -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    let src = sdk.join("src");
    let mut modules: BTreeSet<String> = LEAVES.iter().map(|m| (*m).to_owned()).collect();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name != "lib" {
            modules.insert(name);
        }
    }
    let path_re = regex::Regex::new(r"\bcrate::(\w+)").unwrap();
    let (mut edges, mut root_items) = (BTreeMap::<String, BTreeSet<String>>::new(), Vec::new());
    for entry in walkdir::WalkDir::new(&src).sort_by_file_name() {
        let entry = entry.unwrap();
        let relative = entry.path().strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        if !entry.file_type().is_file() || relative == "lib.rs" {
            continue;
        }
        let module = relative.split(['/', '.']).next().unwrap().to_owned();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let from = edges.entry(module.clone()).or_default();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            // `use crate::{a, b}` lists modules too.
            let listed = line.split_once("crate::{").map(|(_, rest)| rest.split('}').next().unwrap_or(""));
            let named: Vec<&str> = path_re
                .captures_iter(line)
                .map(|c| c.get(1).unwrap().as_str())
                .chain(listed.into_iter().flat_map(|l| l.split(',').map(|s| s.trim().split("::").next().unwrap())))
                .filter(|s| !s.is_empty())
                .collect();
            for target in named {
                if modules.contains(target) {
                    if target != module {
                        from.insert(target.to_owned());
                    }
                } else {
                    root_items.push(format!("{}/src/{relative}:{}: crate::{target}", sdk.display(), n + 1));
                }
            }
        }
    }
    (edges, root_items)
}

/// A circle in `edges`, if there is one, as the modules along it.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

#[test]
fn the_generated_modules_depend_on_each_other_one_way() {
    for sdk in SDKS {
        let (edges, root_items) = graph(&root().join(sdk));
        assert!(root_items.is_empty(), "name the module, not the crate root's re-export:\n{}", root_items.join("\n"));
        assert!(edges.len() >= 6, "{sdk}: only {edges:?}");
        if let Some(found) = circle(&edges) {
            panic!("{sdk}: a circle among the modules: {}\n{edges:#?}", found.join(" -> "));
        }
        // The hook path: process -> server -> plugin, never back.
        let uses = |from: &str, to: &str| edges.get(from).is_some_and(|e| e.contains(to));
        assert!(uses("process", "server") && uses("server", "plugin"), "{sdk}: {edges:#?}");
        for below in ["plugin", "context"] {
            for above in ["server", "process"] {
                assert!(!uses(below, above), "{sdk}: {below} uses {above}");
            }
        }
    }
}

#[test]
fn a_circle_is_found_and_shown() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("plugin", &["runtime", "hooks"][..]),
        ("runtime", &["plugin"][..]),
        ("hooks", &[][..]),
    ]
    .into_iter()
    .map(|(from, to)| (from.to_owned(), to.iter().map(|t| (*t).to_owned()).collect()))
    .collect();
    assert_eq!(circle(&edges), Some(vec!["plugin".into(), "runtime".into(), "plugin".into()]));
    let mut one_way = edges;
    one_way.get_mut("runtime").unwrap().clear();
    assert_eq!(circle(&one_way), None);
}

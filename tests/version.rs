//! `mmplugin-gen --version` says which contract the binary embeds, so an
//! author can tell which Mattermost protos an installed generator makes
//! SDKs from.

mod common;

use common::{run, text};

#[test]
fn the_version_names_the_embedded_contract_and_its_rpcs() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    let line = text(&out.stdout);
    let fds = mmplugin_gen::load::ProtoSources::embedded().compile().unwrap();
    let package = fds.file.iter().find(|f| !f.service.is_empty()).and_then(|f| f.package.clone()).unwrap();
    let mut wanted = format!("mmplugin-gen {} (contract {package}: ", env!("CARGO_PKG_VERSION"));
    let mut services: Vec<(String, usize)> = fds
        .file
        .iter()
        .flat_map(|f| f.service.iter())
        .map(|s| (s.name.clone().unwrap_or_default(), s.method.len()))
        .collect();
    services.sort();
    let counts: Vec<String> = services.iter().map(|(name, n)| format!("{n} {name} RPCs")).collect();
    wanted.push_str(&counts.join(", "));
    assert!(line.starts_with(&wanted), "{line:?} should start with {wanted:?}");
    let digest = line.trim_end().strip_suffix(')').and_then(|l| l.rsplit("protos fnv1a64 ").next()).unwrap();
    assert_eq!(digest.len(), 16, "{line}");
    assert!(digest.chars().all(|c| c.is_ascii_hexdigit()), "{line}");
    assert_eq!(text(&run(&["-V"]).stdout), line, "-V says the same");
}

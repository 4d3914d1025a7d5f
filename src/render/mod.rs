//! Render: the contract model, through askama templates, into the files of
//! the SDK crate (unformatted Rust; `emit` formats and writes).
//!
//! Templates hold the shape of the output and match on the model's data
//! (hook answers, decision variants, how a parameter becomes a request
//! field); the view structs here add only what is not the model's: rustdoc
//! text and which items a file imports, decided from that data.

mod api;
mod hooks;
pub mod stubs;
pub mod testing;

use std::path::PathBuf;

use askama::Template;
use prost_types::FileDescriptorSet;

use crate::classify::{API_SERVICE, HOOKS_SERVICE};
// The templates match on these.
use crate::model::{
    Answer, ApiInput, Contract, DecisionVariant, DefaultAnswer, DefaultValue, FromResponse, Hook, HookKind, HttpShape,
    IntoRequest, ParamFrom, PluginMethod, Presence,
};
use crate::names::snake;

/// One file of the output, relative to the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path below the output folder, with `/` separators.
    pub path: PathBuf,
    /// Rust to be formatted, or text written as is.
    pub kind: FileKind,
    /// The contents (for Rust: still to be formatted).
    pub source: String,
    /// Rust that is already formatted, appended after `source` is.
    pub preformatted: String,
}

/// How `emit` treats a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Formatted in-process, with the `@generated` header put first.
    Rust,
    /// Written as rendered.
    Text,
}

/// What the generated crate is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The package name (`mattermost-plugin`).
    pub crate_name: String,
    /// The package version.
    pub version: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self { crate_name: "mattermost-plugin".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// Renders every file of the SDK crate. The prost/tonic stubs are made on
/// other threads while the templates render.
pub fn render(contract: &Contract, fds: &FileDescriptorSet, settings: &Settings) -> anyhow::Result<Vec<GeneratedFile>> {
    std::thread::scope(|scope| {
        let stubs = scope.spawn(|| stubs::generate(fds, &contract.package, &bytes_fields(contract)));
        let mut files = templates(contract, settings)?;
        let stubs = stubs.join().unwrap_or_else(|_| Err(anyhow::anyhow!("stub generation panicked")))?;
        files.push(GeneratedFile {
            path: "src/proto.rs".into(),
            kind: FileKind::Rust,
            source: stubs.messages,
            preformatted: stubs.clients + &stubs.servers,
        });
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    })
}

/// The typed KV store and settings (`src/kv.rs`): plain Rust, compiled where
/// it lands, copied into an SDK whose contract has the API methods it calls.
const KV_RS: &str = include_str!("../../templates/sdk/kv.rs");

/// The API methods `templates/sdk/kv.rs` calls, by RPC name.
const KV_RS_CALLS: &[&str] = &["KVGet", "KVSetWithOptions", "KVDelete", "KVList", "GetPluginConfig"];

/// Whether the contract has every method the typed KV store calls.
fn has_kv(contract: &Contract) -> bool {
    KV_RS_CALLS.iter().all(|name| contract.api_methods().any(|m| m.name == *name))
}

/// The API trait that has the `PluginHTTP` method, which `http::send` calls.
fn plugin_http_trait(contract: &Contract) -> Option<&str> {
    contract.api_groups.iter().find(|g| g.methods.iter().any(|m| m.plugin_http)).map(|g| g.trait_name.as_str())
}

/// Fields prost should carry as `bytes::Bytes`: the HTTP body chunks, so
/// they pass from the wire to the handler and back without copies.
fn bytes_fields(contract: &Contract) -> Vec<String> {
    contract
        .hooks
        .iter()
        .filter_map(|h| match &h.kind {
            HookKind::Streaming { http: Some(shape) } => Some(shape.body_fields.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[derive(Template)]
#[template(path = "sdk/Cargo.toml.askama", escape = "none")]
struct CargoToml<'a> {
    package: &'a str,
    crate_name: &'a str,
    version: &'a str,
}

#[derive(Template)]
#[template(path = "sdk/lib.rs.askama", escape = "none")]
struct LibRs<'a> {
    has_http: bool,
    has_kv: bool,
    package: &'a str,
    crate_ident: &'a str,
    api_count: usize,
    group_count: usize,
    hook_count: usize,
    groups: &'a [api::GroupView<'a>],
}

#[derive(Template)]
#[template(path = "sdk/hooks.rs.askama", escape = "none")]
struct HooksRs<'a> {
    service: &'a str,
    hooks: &'a [HookView<'a>],
}

#[derive(Template)]
#[template(path = "sdk/api_mod.rs.askama", escape = "none")]
struct ApiModRs<'a> {
    crate_ident: &'a str,
    groups: &'a [api::GroupView<'a>],
}

#[derive(Template)]
#[template(path = "sdk/api_group.rs.askama", escape = "none")]
struct ApiGroupRs<'a> {
    group: &'a api::GroupView<'a>,
}

#[derive(Template)]
#[template(path = "sdk/plugin.rs.askama", escape = "none")]
struct PluginRs<'a> {
    service: &'a str,
    crate_ident: &'a str,
    runtime_imports: &'a [&'a str],
    hooks: &'a [hooks::HookMethodView<'a>],
    /// `(hook, first)`: `hook` runs `first`'s method before its own.
    runs_first: &'a [(String, String)],
    implemented: Option<&'a ImplementedView>,
    http: Option<&'a HttpView<'a>>,
}

/// The HTTP stream hook (`ServeHTTP`), bridged to `http` types.
struct HttpView<'a> {
    hook: &'a Hook,
    sig: &'a PluginMethod,
    doc: Vec<String>,
    shape: &'a HttpShape,
}

#[derive(Template)]
#[template(path = "sdk/http.rs.askama", escape = "none")]
struct HttpRs<'a> {
    /// The API trait with `plugin_http`, when the API has a `PluginHTTP`
    /// method of the expected shape.
    plugin_http: Option<&'a str>,
    hook: &'a str,
    method: &'a str,
    request: &'a str,
    response: &'a str,
    request_init: &'a str,
    response_init: &'a str,
    header: &'a str,
}

/// The `Implemented` RPC, which the runtime answers from `Plugin::IMPLEMENTED`.
struct ImplementedView {
    method: String,
    request: String,
    response: String,
    /// The response field listing hook names.
    field: String,
    has_error: bool,
}

#[derive(Template)]
#[template(path = "sdk/macros/Cargo.toml.askama", escape = "none")]
struct MacrosCargoToml<'a> {
    package: &'a str,
    crate_name: &'a str,
    version: &'a str,
}

#[derive(Template)]
#[template(path = "sdk/macros/lib.rs.askama", escape = "none")]
struct MacrosLibRs<'a> {
    service: &'a str,
    crate_name: &'a str,
    crate_ident: &'a str,
    /// Every `Plugin` method and its `HookName` variant.
    methods: &'a [(String, String)],
}

/// The `runtime/` crate, embedded by the build script: the contract-independent
/// half of every SDK, copied into it byte for byte as its `runtime/` sub-crate
/// (only its package name and version change, in `Cargo.toml`).
const RUNTIME_CRATE: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_runtime.rs"));

/// The runtime crate's package name where it lives; each SDK's copy is
/// named after the SDK (`<crate>-runtime`).
const RUNTIME_PACKAGE: &str = "mmplugin-runtime";

/// The runtime crate's files as they go into an SDK: `runtime/src/…` as they
/// are, and `runtime/Cargo.toml` with the SDK's package name and version.
fn runtime_crate(settings: &Settings, package: &str) -> anyhow::Result<Vec<GeneratedFile>> {
    RUNTIME_CRATE
        .iter()
        .map(|(path, source)| {
            let source =
                if *path == "Cargo.toml" { runtime_manifest(source, settings, package)? } else { (*source).to_owned() };
            Ok(GeneratedFile {
                path: format!("runtime/{path}").into(),
                kind: FileKind::Text,
                source,
                preformatted: String::new(),
            })
        })
        .collect()
}

/// The runtime's `Cargo.toml` for an SDK: its `[package]` name and version
/// replaced, a line saying where it comes from put first.
fn runtime_manifest(source: &str, settings: &Settings, package: &str) -> anyhow::Result<String> {
    let name = format!("name = \"{RUNTIME_PACKAGE}\"");
    let version = source
        .lines()
        .find(|l| l.starts_with("version = "))
        .ok_or_else(|| anyhow::anyhow!("runtime/Cargo.toml has no version line"))?;
    if !source.lines().any(|l| l == name) {
        anyhow::bail!("runtime/Cargo.toml does not name the package {RUNTIME_PACKAGE:?}");
    }
    let body = source.replacen(&name, &format!("name = \"{}-runtime\"", settings.crate_name), 1).replacen(
        version,
        &format!("version = \"{}\"", settings.version),
        1,
    );
    Ok(format!(
        "# @generated by mmplugin-gen from the {package} protos: a copy of its runtime/ crate. Do not edit:\n\
         # change runtime/ in mmplugin-gen, then regenerate.\n{body}"
    ))
}

#[derive(Template)]
#[template(path = "sdk/error.rs.askama", escape = "none")]
struct ErrorRs;

#[derive(Template)]
#[template(path = "sdk/testing.rs.askama", escape = "none")]
struct TestingRs<'a> {
    api_service: &'a str,
    methods: &'a [testing::FakeMethodView<'a>],
    hooks: &'a [testing::DriverHookView<'a>],
    has_state: bool,
    implemented: Option<&'a ImplementedView>,
    activate: Option<testing::NamedHook>,
    deactivate: Option<testing::NamedHook>,
    http: Option<testing::NamedHook>,
}

#[derive(Template)]
#[template(path = "sdk/runtime.rs.askama", escape = "none")]
struct RuntimeRs<'a> {
    service: &'a str,
}

struct HookView<'a> {
    hook: &'a Hook,
    doc: Vec<String>,
}

fn templates(contract: &Contract, settings: &Settings) -> anyhow::Result<Vec<GeneratedFile>> {
    let crate_ident = snake(&settings.crate_name);
    let hooks: Vec<HookView> =
        contract.plugin_hooks().map(|hook| HookView { hook, doc: doc_lines(&hook.doc) }).collect();
    let groups: Vec<api::GroupView> = contract.api_groups.iter().map(|g| api::GroupView::new(API_SERVICE, g)).collect();

    let by_name = |name: &str| contract.hooks.iter().find(|h| h.name == name);
    let run_by = |hook: &Hook| contract.hooks.iter().find(|h| h.runs_first.as_deref() == Some(hook.name.as_str()));
    let hook_methods: Vec<hooks::HookMethodView> = contract
        .hooks
        .iter()
        .filter_map(|h| hooks::HookMethodView::new(h, h.runs_first.as_deref().and_then(by_name), run_by(h)))
        .collect();
    // Hooks `Implemented` lists when the plugin wrote the hook that runs first in them.
    let runs_first: Vec<(String, String)> = contract
        .hooks
        .iter()
        .filter_map(|h| Some((h.variant.clone(), by_name(h.runs_first.as_deref()?)?.variant.clone())))
        .collect();
    let implemented = contract.hooks.iter().find_map(|h| match &h.kind {
        HookKind::Implemented { names } => Some(ImplementedView {
            method: h.method.clone(),
            request: h.request.clone(),
            response: h.response.clone(),
            field: names.rust_name.clone(),
            has_error: h.returns_error,
        }),
        _ => None,
    });
    let runtime_imports = hooks::runtime_imports(&hook_methods);
    // Every hook the `Plugin` trait has a method for, in contract order.
    let plugin_methods: Vec<(String, String)> = contract
        .hooks
        .iter()
        .filter(|h| h.plugin_method.is_some())
        .map(|h| (h.method.clone(), h.variant.clone()))
        .collect();
    let http = contract.hooks.iter().find_map(|h| match (&h.kind, &h.plugin_method) {
        (HookKind::Streaming { http: Some(shape) }, Some(sig)) => {
            Some(HttpView { hook: h, sig, doc: doc_lines(&h.doc), shape })
        }
        _ => None,
    });

    let rust = |path: &str, source: String| GeneratedFile {
        path: path.into(),
        kind: FileKind::Rust,
        source,
        preformatted: String::new(),
    };
    let mut files = vec![
        GeneratedFile {
            path: "Cargo.toml".into(),
            kind: FileKind::Text,
            source: CargoToml {
                package: &contract.package,
                crate_name: &settings.crate_name,
                version: &settings.version,
            }
            .render()?,
            preformatted: String::new(),
        },
        rust(
            "src/lib.rs",
            LibRs {
                has_http: http.is_some(),
                has_kv: has_kv(contract),
                package: &contract.package,
                crate_ident: &crate_ident,
                api_count: contract.api_methods().count(),
                group_count: groups.len(),
                hook_count: hooks.len(),
                groups: &groups,
            }
            .render()?,
        ),
        rust("src/hooks.rs", HooksRs { service: HOOKS_SERVICE, hooks: &hooks }.render()?),
        rust("src/error.rs", ErrorRs.render()?),
        rust(
            "src/plugin.rs",
            PluginRs {
                service: HOOKS_SERVICE,
                crate_ident: &crate_ident,
                runtime_imports: &runtime_imports,
                hooks: &hook_methods,
                runs_first: &runs_first,
                implemented: implemented.as_ref(),
                http: http.as_ref(),
            }
            .render()?,
        ),
        GeneratedFile {
            path: "macros/Cargo.toml".into(),
            kind: FileKind::Text,
            source: MacrosCargoToml {
                package: &contract.package,
                crate_name: &settings.crate_name,
                version: &settings.version,
            }
            .render()?,
            preformatted: String::new(),
        },
        rust(
            "macros/src/lib.rs",
            MacrosLibRs {
                service: HOOKS_SERVICE,
                crate_name: &settings.crate_name,
                crate_ident: &crate_ident,
                methods: &plugin_methods,
            }
            .render()?,
        ),
        rust("src/runtime.rs", RuntimeRs { service: HOOKS_SERVICE }.render()?),
        rust("src/api/mod.rs", ApiModRs { crate_ident: &crate_ident, groups: &groups }.render()?),
    ];
    for group in &groups {
        files.push(rust(&format!("src/api/{}.rs", group.group.name), ApiGroupRs { group }.render()?));
    }
    files.extend(runtime_crate(settings, &contract.package)?);
    let (fake_methods, has_state) = testing::fake_methods(contract)?;
    let driver_hooks = testing::driver_hooks(contract);
    let source = TestingRs {
        api_service: API_SERVICE,
        methods: &fake_methods,
        hooks: &driver_hooks,
        has_state,
        implemented: implemented.as_ref(),
        activate: testing::named_hook(contract, crate::classify::ACTIVATION.0),
        deactivate: testing::named_hook(contract, "OnDeactivate"),
        http: testing::http_hook(contract),
    }
    .render()?;
    files.push(rust("src/testing/mod.rs", source));
    if has_kv(contract) {
        files.push(GeneratedFile {
            path: "src/kv.rs".into(),
            kind: FileKind::Text,
            source: format!(
                "// @generated by mmplugin-gen: a copy of its templates/sdk/kv.rs. Do not edit:\n\
                 // change that file, then regenerate.\n\n{KV_RS}"
            ),
            preformatted: String::new(),
        });
    }
    if has_state {
        files.push(GeneratedFile {
            path: "src/testing/state.rs".into(),
            kind: FileKind::Text,
            source: format!(
                "// @generated by mmplugin-gen: a copy of its templates/sdk/testing/state.rs. Do not edit:\n\
                 // change that file, then regenerate.\n\n{}",
                testing::STATE_RS
            ),
            preformatted: String::new(),
        });
    }
    if let Some(http) = &http {
        let source = HttpRs {
            plugin_http: plugin_http_trait(contract),
            hook: &http.hook.name,
            method: &http.hook.method,
            request: &http.shape.request,
            response: &http.shape.response,
            request_init: &http.shape.request_init,
            response_init: &http.shape.response_init,
            header: &http.shape.header,
        }
        .render()?;
        files.push(rust("src/http.rs", source));
    }
    Ok(files)
}

/// Proto comment lines made safe as rustdoc: no indentation (which would
/// make a doctest), and outside `code spans` brackets and angle brackets
/// escaped (they would be taken for links and HTML).
pub(crate) fn doc_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            let mut out = String::with_capacity(line.len());
            let mut in_code = false;
            for c in line.trim().chars() {
                if c == '`' {
                    in_code = !in_code;
                } else if !in_code && matches!(c, '[' | ']' | '<' | '>') {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        })
        .collect()
}

/// What the view tests read: one rendered file, by its tokens.
#[cfg(test)]
pub(crate) mod test_render {
    use super::{Settings, templates};
    use crate::model::Contract;

    /// The file at `path` of the SDK rendered from `contract`, checked to
    /// parse as Rust, then [`squash`]ed. Unformatted: formatting keeps the
    /// tokens but may restructure (brace a match arm, unbrace a lone import).
    pub(crate) fn squashed(contract: &Contract, path: &str) -> String {
        let files = templates(contract, &Settings::default()).expect("the templates render");
        let file = files.into_iter().find(|f| f.path.to_str() == Some(path)).expect("the file is rendered");
        syn::parse_file(&file.source).expect("the rendered file is Rust");
        squash(&file.source)
    }

    /// Code without whitespace, and without the commas before a closing
    /// bracket that formatting adds or drops, so a test can look for a
    /// piece of code whatever its layout (both sides squashed).
    pub(crate) fn squash(code: &str) -> String {
        let mut out: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        for close in [')', '}', ']'] {
            out = out.replace(&format!(",{close}"), &close.to_string());
        }
        out
    }

    /// Asserts that `file` holds each piece of code (a piece's last comma
    /// may be a closing bracket's in the file).
    pub(crate) fn assert_has(file: &str, pieces: &[&str]) {
        for piece in pieces {
            let piece = squash(piece);
            assert!(file.contains(piece.trim_end_matches(',')), "missing: {piece}\nin: {file}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_lines_escape_outside_code_only() {
        let lines = vec!["  Returns []T or <b>, see `map[string]int`.".to_owned()];
        assert_eq!(doc_lines(&lines), vec!["Returns \\[\\]T or \\<b\\>, see `map[string]int`."]);
    }
}

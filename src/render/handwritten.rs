//! The SDK's hand-written files on top of the API (`templates/sdk/*.rs`):
//! plain Rust, written against the reference contract (the protos embedded
//! in mmplugin-gen) and copied as they are into an SDK whose contract has
//! what they need.
//!
//! What a file needs is read from its source, never listed: the API methods
//! it calls (a method call whose name is one of the reference contract's
//! API methods, `self.kv_get(…)`), and the hand-written modules it uses
//! (`crate::cluster::…`), which must be in the SDK too. Comments and doc
//! examples do not count: the source is read as Rust tokens.
//!
//! The test kit's state and app layer (`templates/sdk/testing/`) are read
//! the same way, by the methods they answer (`render::testing`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use anyhow::Context as _;
use proc_macro2::{TokenStream, TokenTree};

use crate::model::Contract;

/// A hand-written file of the SDK.
pub struct Handwritten {
    /// Where it goes in the SDK (`src/kv.rs`); its stem is its module.
    pub to: &'static str,
    /// Where it comes from, relative to mmplugin-gen's root.
    pub from: &'static str,
    /// Its text.
    pub source: &'static str,
}

impl Handwritten {
    /// The module the file is in the SDK (`kv` for `src/kv.rs`).
    pub fn module(&self) -> &'static str {
        self.to.trim_start_matches("src/").trim_end_matches(".rs")
    }
}

/// Every hand-written file, in the order they are written.
pub const FILES: &[Handwritten] = &[
    // The typed KV store and the settings reader.
    Handwritten { to: "src/kv.rs", from: "templates/sdk/kv.rs", source: include_str!("../../templates/sdk/kv.rs") },
    // The cluster toolkit: lock, jobs, events.
    Handwritten {
        to: "src/cluster.rs",
        from: "templates/sdk/cluster.rs",
        source: include_str!("../../templates/sdk/cluster.rs"),
    },
    // The plugin's bot.
    Handwritten { to: "src/bot.rs", from: "templates/sdk/bot.rs", source: include_str!("../../templates/sdk/bot.rs") },
    // Builders and helpers on the wire messages, attachments and actions.
    Handwritten {
        to: "src/model.rs",
        from: "templates/sdk/model.rs",
        source: include_str!("../../templates/sdk/model.rs"),
    },
    // The plugin's own texts in each user's language (`assets/i18n`).
    Handwritten {
        to: "src/i18n.rs",
        from: "templates/sdk/i18n.rs",
        source: include_str!("../../templates/sdk/i18n.rs"),
    },
];

/// What a file needs of the SDK it goes into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// API methods it calls, by RPC name.
    pub calls: BTreeSet<String>,
    /// Hand-written modules it uses (`cluster`).
    pub modules: BTreeSet<String>,
}

/// What `file` needs, read from its source: method calls named as the
/// reference contract's API methods (`reference`: Rust method name → RPC
/// name), and `crate::<module>` paths naming another hand-written file.
pub fn needs(file: &Handwritten, reference: &BTreeMap<String, String>) -> anyhow::Result<Needs> {
    let tokens: TokenStream =
        file.source.parse().map_err(|e| anyhow::anyhow!("{e}")).with_context(|| format!("{} is not Rust", file.from))?;
    let others: BTreeSet<&str> = FILES.iter().map(Handwritten::module).filter(|m| *m != file.module()).collect();
    let (mut calls, mut modules) = (BTreeSet::new(), BTreeSet::new());
    scan(tokens, &mut |window| match window {
        // `.name(…)`
        [TokenTree::Punct(dot), TokenTree::Ident(name), TokenTree::Group(args), ..]
            if dot.as_char() == '.' && args.delimiter() == proc_macro2::Delimiter::Parenthesis =>
        {
            if let Some(rpc) = reference.get(&name.to_string()) {
                calls.insert(rpc.clone());
            }
        }
        // `crate::module`
        [TokenTree::Ident(krate), TokenTree::Punct(first), TokenTree::Punct(second), TokenTree::Ident(module)]
            if krate == "crate"
                && first.as_char() == ':'
                && second.as_char() == ':'
                && others.contains(module.to_string().as_str()) =>
        {
            modules.insert(module.to_string());
        }
        _ => {}
    });
    Ok(Needs { calls, modules })
}

/// Calls `each` with every run of four consecutive tokens (fewer at the
/// end), at every depth: a run does not cross a group's bounds.
fn scan(tokens: TokenStream, each: &mut dyn FnMut(&[TokenTree])) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for start in 0..tokens.len() {
        each(&tokens[start..(start + 4).min(tokens.len())]);
        if let TokenTree::Group(group) = &tokens[start] {
            scan(group.stream(), each);
        }
    }
}

/// The RPC names of the embedded protos' API service, listed by the build
/// script (no protos compiled at run time for this).
const REFERENCE_RPCS: &[&str] = include!(concat!(env!("OUT_DIR"), "/embedded_api_rpcs.rs"));

/// The reference contract's API methods, Rust method name → RPC name (the
/// method named as classify names it: `KVGet` → `kv_get`).
pub fn reference() -> &'static BTreeMap<String, String> {
    static REFERENCE: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    REFERENCE.get_or_init(|| REFERENCE_RPCS.iter().map(|rpc| (crate::names::snake(rpc), (*rpc).to_owned())).collect())
}

/// The hand-written files an SDK of `contract` gets: each whose API calls
/// the contract has, and whose hand-written modules it gets too.
pub fn files_for(contract: &Contract) -> anyhow::Result<Vec<&'static Handwritten>> {
    let reference = reference();
    let has: BTreeSet<&str> = contract.api_methods().map(|m| m.name.as_str()).collect();
    let mut chosen: Vec<&'static Handwritten> = Vec::new();
    // FILES is in dependency order: a file's modules come before it.
    for file in FILES {
        let needs = needs(file, reference)?;
        let calls_ok = needs.calls.iter().all(|rpc| has.contains(rpc.as_str()));
        let modules_ok = needs.modules.iter().all(|m| chosen.iter().any(|c| c.module() == m));
        if calls_ok && modules_ok {
            chosen.push(file);
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs_of(module: &str) -> Needs {
        let file = FILES.iter().find(|f| f.module() == module).unwrap();
        needs(file, reference()).unwrap()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    /// What the files call today, read from them (these lists were kept by
    /// hand before; a new call shows up here).
    #[test]
    fn each_file_needs_what_it_calls() {
        assert_eq!(needs_of("kv").calls, set(&["GetPluginConfig", "KVDelete", "KVGet", "KVList", "KVSetWithOptions"]));
        assert_eq!(needs_of("kv").modules, set(&[]));
        assert_eq!(needs_of("cluster").calls, set(&["PublishPluginClusterEvent"]));
        assert_eq!(needs_of("cluster").modules, set(&["kv"]));
        assert_eq!(needs_of("bot").calls, set(&["EnsureBotUser", "SetProfileImage"]));
        assert_eq!(needs_of("bot").modules, set(&["cluster"]));
        assert_eq!(needs_of("model").calls, set(&["GetChannelMember", "GetTeamMember"]));
        assert_eq!(needs_of("model").modules, set(&[]));
        assert_eq!(needs_of("i18n").calls, set(&["GetBundlePath", "GetConfig", "GetUser"]));
        assert_eq!(needs_of("i18n").modules, set(&[]));
    }

    /// The build script's line-by-line list agrees with the protos compiled.
    #[test]
    fn the_reference_is_the_embedded_contracts_api() {
        let compiled = crate::classify::classify(&crate::load::ProtoSources::embedded().compile().unwrap()).unwrap();
        let methods: BTreeMap<String, String> =
            compiled.api_methods().map(|m| (m.method.clone(), m.name.clone())).collect();
        assert_eq!(reference(), &methods);
        assert_eq!(methods.len(), 236);
    }

    #[test]
    fn comments_and_doc_examples_are_not_calls() {
        let file = Handwritten {
            to: "src/x.rs",
            from: "x.rs",
            source: "/// `cx.api.get_user(id)`\n// self.kv_get(k)\nfn f(api: &A) { api.kv_list(0, 10); }",
        };
        assert_eq!(needs(&file, reference()).unwrap().calls, set(&["KVList"]));
    }

    #[test]
    fn a_contract_without_a_call_gets_neither_the_file_nor_the_files_that_use_it() {
        let full = crate::classify::classify(&crate::load::ProtoSources::embedded().compile().unwrap()).unwrap();
        let all: Vec<&str> = files_for(&full).unwrap().iter().map(|f| f.module()).collect();
        assert_eq!(all, ["kv", "cluster", "bot", "model", "i18n"]);
        let mut without_event = full.clone();
        for group in &mut without_event.api_groups {
            group.methods.retain(|m| m.name != "PublishPluginClusterEvent");
        }
        let some: Vec<&str> = files_for(&without_event).unwrap().iter().map(|f| f.module()).collect();
        assert_eq!(some, ["kv", "model", "i18n"], "no cluster toolkit, so no bot either");
        let mut without_kv_get = full.clone();
        for group in &mut without_kv_get.api_groups {
            group.methods.retain(|m| m.name != "KVGet");
        }
        let left: Vec<&str> = files_for(&without_kv_get).unwrap().iter().map(|f| f.module()).collect();
        assert_eq!(left, ["model", "i18n"], "the cluster toolkit keeps its state in the KV store; the model does not");
    }
}

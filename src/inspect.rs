//! `mmplugin-gen inspect`: the classification as text, one RPC a line, each
//! followed by the Rust signature the SDK gives it, read from the same model
//! the templates print.

use std::fmt::Write as _;

use crate::classify::{API_SERVICE, HOOKS_SERVICE};
use crate::model::{
    Answer, ApiInput, ApiMethod, Contract, DecisionVariant, Field, Hook, HookKind, ParamFrom, PluginMethod, Presence,
};

/// Where the signature lines start, under the RPC name.
const INDENT: &str = "      ";
/// What the hook lines say.
const HOOKS_LEGEND: &str =
    "  (RPC, HookName variant, kind and shape; then the Plugin method as a plugin writes it, which
  the trait declares as `fn …(…) -> impl Future<Output = …> + Send`, and a veto hook's decision)";
/// What the API lines say.
const API_LEGEND: &str = "  (RPC, how the request is passed; then the method of the group's trait as `async fn`, which
  the trait declares as `fn …(…) -> impl Future<Output = Result<…, Error>> + Send`)";

/// Every RPC with its kind, shape or group, and the Rust it becomes: a
/// hook's `Plugin` method and decision enum, an API method and its alias.
pub fn report(contract: &Contract) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "package {}", contract.package);
    let _ = writeln!(w, "\n{HOOKS_SERVICE}: {} RPCs ({} hooks)", contract.hooks.len(), contract.plugin_hooks().count());
    if !contract.hooks.is_empty() {
        let _ = writeln!(w, "{HOOKS_LEGEND}");
    }
    for hook in &contract.hooks {
        let variant = match hook.kind {
            HookKind::Implemented { .. } => "-".to_owned(),
            _ => format!("HookName::{}", hook.variant),
        };
        let _ = writeln!(w, "  {:<36} {:<40} {}", hook.name, variant, hook_shape(hook));
        match (&hook.plugin_method, &hook.kind) {
            (Some(sig), _) => {
                let _ = writeln!(w, "{INDENT}{}", plugin_signature(&hook.method, sig));
                if let Answer::Decision(decision) = &sig.answer {
                    let variants: Vec<String> = decision.variants.iter().map(decision_variant).collect();
                    let _ = writeln!(w, "{INDENT}enum {} {{ {} }}", decision.name, variants.join(", "));
                }
            }
            (None, HookKind::Implemented { .. }) => {
                let _ = writeln!(w, "{INDENT}(no Plugin method: the SDK answers from Plugin::IMPLEMENTED)");
            }
            (None, _) => {
                let _ = writeln!(
                    w,
                    "{INDENT}(no Plugin method: the stream has no HTTP shape; the server gets Unimplemented)"
                );
            }
        }
    }
    let total: usize = contract.api_groups.iter().map(|g| g.methods.len()).sum();
    let _ = writeln!(w, "\n{API_SERVICE}: {total} methods in {} groups", contract.api_groups.len());
    if total > 0 {
        let _ = writeln!(w, "{API_LEGEND}");
    }
    for group in &contract.api_groups {
        let _ = writeln!(w, "  {} ({}): {} methods", group.name, group.trait_name, group.methods.len());
        for m in &group.methods {
            let _ = writeln!(w, "    {:<36} {:<29} {}", m.name, api_shape(m), api_signature(m));
            if let Some(alias) = &m.alias {
                let _ = writeln!(w, "    {:<36} {:<29} type {} = {};", "", "", alias.name, alias.tuple);
            }
        }
    }
    if !contract.other_services.is_empty() {
        let _ = writeln!(w, "\nother services (stubs only, no typed wrappers):");
        for s in &contract.other_services {
            let _ = writeln!(w, "  {s}: neither {HOOKS_SERVICE} nor {API_SERVICE}");
        }
    }
    out
}

/// A hook's kind and what classify found in its messages.
fn hook_shape(hook: &Hook) -> String {
    let mut shape = vec![hook.kind.label().to_owned()];
    match &hook.kind {
        HookKind::Veto { replacements, reason, dismiss } => {
            shape.push(format!("reason={}", reason.name));
            if !replacements.is_empty() {
                shape.push(format!("replaces={}", names(replacements)));
            }
            if let Some(dismiss) = dismiss {
                shape.push(format!("dismiss={dismiss}"));
            }
        }
        HookKind::Value { fields } => shape.push(format!("returns={}", names(fields))),
        HookKind::Streaming { http: Some(_) } => shape.push("http".into()),
        _ => {}
    }
    if let Some(sig) = &hook.plugin_method {
        let unset: Vec<&str> = sig
            .params
            .iter()
            .filter(|p| matches!(p.from, ParamFrom::Arg { presence: Presence::Optional, .. }))
            .map(|p| p.name.as_str())
            .collect();
        if !unset.is_empty() {
            shape.push(format!("may-be-unset={}", unset.join(",")));
        }
        if let crate::model::DefaultAnswer::Passthrough(arg) = &sig.default {
            shape.push(format!("passthrough={arg}"));
        }
    }
    if hook.plugin_context {
        shape.push("context".into());
    }
    if hook.returns_error {
        shape.push("error".into());
    }
    if let Some(first) = &hook.runs_first {
        shape.push(format!("runs-first={first}"));
    }
    shape.join(" ")
}

/// `async fn method(&self, cx: &Context, …) -> Output`, as a plugin writes it.
fn plugin_signature(method: &str, sig: &PluginMethod) -> String {
    let params: String = sig.params.iter().map(|p| format!(", {}: {}", p.name, p.ty)).collect();
    let output = if sig.output.is_unit() { String::new() } else { format!(" -> {}", sig.output) };
    format!("async fn {method}(&self, cx: &Context{params}){output}")
}

fn decision_variant(variant: &DecisionVariant) -> String {
    match variant {
        DecisionVariant::Allow => "Allow".into(),
        DecisionVariant::Replace(one) => format!("Replace({})", one.ty),
        DecisionVariant::ReplaceFields(each) => {
            let fields: Vec<String> = each.iter().map(|r| format!("{}: {}", r.name, r.ty)).collect();
            format!("Replace {{ {} }}", fields.join(", "))
        }
        DecisionVariant::Reject => "Reject(String)".into(),
        DecisionVariant::Dismiss { .. } => "Dismiss".into(),
    }
}

/// How an API method takes its request, and what else classify found.
fn api_shape(m: &ApiMethod) -> String {
    let mut shape = vec![match m.input {
        ApiInput::Params(_) => "params",
        ApiInput::Message(_) => "message",
    }];
    if m.large_payload {
        shape.push("4MiB-limit");
    }
    if m.plugin_http {
        shape.push("plugin-http");
    }
    shape.join(" ")
}

/// `async fn method(&self, …) -> Result<Ok, Error>`.
fn api_signature(m: &ApiMethod) -> String {
    let params: String = match &m.input {
        ApiInput::Params(params) => params.iter().map(|p| format!(", {}: {}", p.name, p.ty)).collect(),
        ApiInput::Message(ty) => format!(", request: {ty}"),
    };
    format!("async fn {}(&self{params}) -> Result<{}, Error>", m.method, m.ok)
}

fn names(fields: &[Field]) -> String {
    fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(",")
}

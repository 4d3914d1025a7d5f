//! `mmplugin-gen inspect`: the classification as text, one RPC a line.

use std::fmt::Write as _;

use crate::classify::{API_SERVICE, HOOKS_SERVICE};
use crate::model::{ApiInput, Contract, Field, HookKind};
use crate::names::upper_camel;

/// Every RPC with its kind, shape or group, and the Rust names it becomes.
pub fn report(contract: &Contract) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "package {}", contract.package);
    let _ = writeln!(w, "\n{HOOKS_SERVICE}: {} RPCs ({} hooks)", contract.hooks.len(), contract.plugin_hooks().count());
    for hook in &contract.hooks {
        let mut shape = vec![hook.kind.label().to_owned()];
        match &hook.kind {
            HookKind::Veto { replacements, reason, .. } => {
                shape.push(format!("reason={}", reason.name));
                if !replacements.is_empty() {
                    shape.push(format!("replaces={}", names(replacements)));
                }
            }
            HookKind::Value { fields } => shape.push(format!("returns={}", names(fields))),
            HookKind::Streaming { http: Some(_) } => shape.push("http".into()),
            _ => {}
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
        let variant = match hook.kind {
            HookKind::Implemented { .. } => "-".to_owned(),
            _ => format!("HookName::{}", upper_camel(&hook.name)),
        };
        let args = hook.args.iter().map(|f| format!("{}: {}", f.rust_name, f.describe())).collect::<Vec<_>>();
        let _ = writeln!(
            w,
            "  {:<36} {:<62} fn {}({})  {}",
            hook.name,
            shape.join(" "),
            hook.method,
            args.join(", "),
            variant
        );
    }
    let total: usize = contract.api_groups.iter().map(|g| g.methods.len()).sum();
    let _ = writeln!(w, "\n{API_SERVICE}: {total} methods in {} groups", contract.api_groups.len());
    for group in &contract.api_groups {
        let _ = writeln!(w, "  {} ({}): {} methods", group.name, group.trait_name, group.methods.len());
        for m in &group.methods {
            let input = match &m.input {
                ApiInput::Params(params) => params
                    .iter()
                    .map(|p| format!("{}: {}", p.field.rust_name, p.field.describe()))
                    .collect::<Vec<_>>()
                    .join(", "),
                ApiInput::Message(_) => format!("request: {}", m.request),
            };
            let output = match m.outputs.as_slice() {
                [] => "()".to_owned(),
                [one] => one.field.describe(),
                many => format!("({})", many.iter().map(|o| o.field.describe()).collect::<Vec<_>>().join(", ")),
            };
            let limit = if m.large_payload { "  (bytes: 4 MiB request limit)" } else { "" };
            let _ = writeln!(w, "    {:<36} fn {}({input}) -> {output}{limit}", m.name, m.method);
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

fn names(fields: &[Field]) -> String {
    fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(",")
}

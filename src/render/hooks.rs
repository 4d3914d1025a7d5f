//! How each hook reads in Rust: the `Plugin` trait method a plugin author
//! writes, the decision type of a veto hook, and the glue in the hook server
//! that unwraps the request and builds the response. Every decision about a
//! hook's Rust shape is made here; `plugin.rs.askama` only prints it.

use crate::model::{Card, Field, Hook, HookKind, Ty};
use crate::names::{snake, upper_camel};
use crate::render::api::{message_path, prost_ty};
use crate::render::doc_lines;

/// Veto hooks that may also drop their subject without a word, and the
/// reason the server reads as "dismiss".
const DISMISS: &[(&str, &str)] = &[("MessageWillBePosted", "plugin.message_will_be_posted.dismiss_post")];

/// Message arguments the server may leave unset (a nil pointer in Go), so
/// the plugin gets an `Option`. Every other message argument is always
/// sent; a request without one is refused as `InvalidArgument`.
const MAY_BE_UNSET: &[(&str, &str)] = &[("OnCloudLimitsUpdated", "limits")];

/// One hook, ready for `plugin.rs.askama`.
pub struct HookMethodView {
    /// The `HookName` variant.
    pub variant: String,
    /// The method name (`message_will_be_posted`).
    pub method: String,
    /// Docs of the trait method.
    pub doc: Vec<String>,
    /// `proto::…Request` / `proto::…Response`.
    pub request: String,
    pub response: String,
    /// The trait method's parameters after `cx` (the plugin context first, when there is one).
    pub params: Vec<Param>,
    /// What the trait method's future yields.
    pub ret: String,
    /// The default method body (a future expression).
    pub default_body: String,
    /// Names the default body does not use (silenced with `let _ = …`).
    pub unused: String,
    /// Statements that take the parameters out of `request`.
    pub extract: Vec<String>,
    /// The arguments passed to the plugin's method, after `&cx`.
    pub call_args: String,
    /// Statements that turn `outcome` into `Ok(response)`.
    pub respond: String,
    /// The veto decision type, for veto hooks.
    pub decision: Option<DecisionView>,
    /// The hook whose method runs first inside this one's call.
    pub first: Option<FirstView>,
}

/// A hook's method that runs first inside another hook's call.
pub struct FirstView {
    /// Its `HookName` variant.
    pub variant: String,
    /// Its `Plugin` method.
    pub method: String,
}

pub struct Param {
    pub name: String,
    pub ty: String,
}

/// A veto hook's decision enum.
pub struct DecisionView {
    pub name: String,
    pub hook_method: String,
    pub response: String,
    /// Variant declarations, with their docs, as Rust.
    pub variants: Vec<String>,
    /// `match` arms from a decision to the response.
    pub arms: Vec<String>,
}

impl HookMethodView {
    /// `None` for `Implemented` and streaming hooks, which the runtime
    /// answers itself.
    /// `run_by` is the hook that runs this one first, if any.
    pub fn new(hook: &Hook, run_by: Option<&Hook>) -> Option<Self> {
        if matches!(hook.kind, HookKind::Implemented { .. } | HookKind::Streaming { .. }) {
            return None;
        }
        let variant = upper_camel(&hook.name);
        let mut params = Vec::new();
        let mut extract = Vec::new();
        let mut call_args = Vec::new();
        if hook.plugin_context {
            params.push(Param { name: "pc".into(), ty: "&proto::PluginContext".into() });
            extract.push("let pc = request.plugin_context.unwrap_or_default();".into());
            call_args.push("&pc".to_owned());
        }
        for f in &hook.args {
            let unset = MAY_BE_UNSET.contains(&(hook.name.as_str(), f.name.as_str()));
            let f = &if unset { Field { card: Card::Optional, ..f.clone() } } else { f.clone() };
            params.push(Param { name: f.rust_name.clone(), ty: arg_ty(f) });
            extract.push(arg_extract(f));
            call_args.push(f.rust_name.clone());
        }

        let mut doc = doc_lines(&hook.doc);
        let documented: Vec<&Field> = hook.args.iter().filter(|f| !f.doc.is_empty()).collect();
        if hook.plugin_context || !documented.is_empty() {
            doc.push(String::new());
            doc.push("# Arguments".into());
            if hook.plugin_context {
                doc.push("- `pc`: who and what triggered the hook (session, request id, client address).".into());
            }
            doc.extend(documented.iter().map(|f| field_doc_line(f)));
        }
        let first = hook.runs_first.as_deref().map(|name| FirstView { variant: upper_camel(name), method: snake(name) });
        if let Some(first) = &first {
            doc.push(String::new());
            doc.extend([
                format!("Before this method runs, the SDK runs [`Plugin::{}`] in the same call, as", first.method),
                "Go's SDK does: the server does not call that hook at start, so this is where a plugin".into(),
                "reads its settings before it activates. A failure there is logged and activation goes on;".into(),
                "a failure here fails the activation. `Implemented` lists this hook when either method".into(),
                "is written.".into(),
            ]);
        }
        if let Some(by) = run_by {
            doc.push(String::new());
            doc.extend([
                format!("Also runs at the start of every `{}` call, before [`Plugin::{}`]:", by.name, by.method),
                format!("the server sends no `{}` at start, and Go's SDK runs it there too.", hook.name),
                "A failure there is logged, and the activation goes on.".into(),
            ]);
        }

        let response = format!("proto::{}", hook.response);
        let mut decision = None;
        let (value_ty, default_value, respond) = match &hook.kind {
            HookKind::Notification => {
                let respond = if hook.returns_error {
                    format!("let error = app_error(HookName::{variant}.as_str(), outcome)?;\nOk(Response::new({response} {{ error }}))")
                } else {
                    format!("outcome.map_err(Failure::into_status)?;\nOk(Response::new({response} {{}}))")
                };
                ("()".to_owned(), "()".to_owned(), respond)
            }
            HookKind::Value { fields } => {
                let (ty, default, fill) = value_shape(fields);
                let respond = if hook.returns_error {
                    format!(
                        "let (error, value) = app_error_or(HookName::{variant}.as_str(), outcome)?;\n{fill}\nOk(Response::new({response} {{ error, {} }}))",
                        field_list(fields)
                    )
                } else {
                    format!(
                        "let value = outcome.map_err(Failure::into_status)?;\n{fill}\nOk(Response::new({response} {{ {} }}))",
                        field_list(fields)
                    )
                };
                (ty, default, respond)
            }
            HookKind::Veto { replacements, reason } => {
                let view = decision_view(hook, &variant, &response, replacements, reason);
                let name = view.name.clone();
                decision = Some(view);
                let respond = if hook.returns_error {
                    format!(
                        "let (error, decision) = app_error_or(HookName::{variant}.as_str(), outcome)?;\nOk(Response::new({response} {{ error, ..decision.into() }}))"
                    )
                } else {
                    "let decision = outcome.map_err(Failure::into_status)?;\nOk(Response::new(decision.into()))".to_owned()
                };
                (name.clone(), format!("{name}::Allow"), respond)
            }
            HookKind::Implemented { .. } | HookKind::Streaming { .. } => unreachable!("filtered above"),
        };
        let ret = if hook.returns_error { format!("HookResult<{value_ty}>") } else { value_ty };
        let ret = ret.replace("HookResult<()>", "HookResult");
        // A value hook whose answer has the type and name of an argument
        // hands it back unchanged by default (`MessagesWillBeConsumed`).
        let passthrough = match &hook.kind {
            HookKind::Value { fields } if fields.len() == 1 => {
                hook.args.iter().find(|a| a.name == fields[0].name && a.ty == fields[0].ty && a.card == fields[0].card)
            }
            _ => None,
        };
        let default_value = passthrough.map_or(default_value, |a| a.rust_name.clone());
        let default_value = if hook.returns_error { format!("Ok({default_value})") } else { default_value };
        let default_body = if default_value == "()" {
            "async {}".to_owned()
        } else if passthrough.is_some() {
            format!("async move {{ {default_value} }}")
        } else {
            format!("async {{ {default_value} }}")
        };
        let mut unused: Vec<String> = vec!["cx".into()];
        unused.extend(params.iter().map(|p| p.name.clone()).filter(|n| passthrough.is_none_or(|a| &a.rust_name != n)));
        let unused = if unused.len() == 1 { unused.remove(0) } else { format!("({})", unused.join(", ")) };

        Some(Self {
            variant,
            method: hook.method.clone(),
            doc,
            request: format!("proto::{}", hook.request),
            response,
            params,
            ret,
            default_body,
            unused,
            extract,
            call_args: call_args.iter().map(|a| format!(", {a}")).collect(),
            respond,
            decision,
            first,
        })
    }
}

/// What `plugin.rs` imports from the runtime: only what its hooks use.
pub fn runtime_imports(hooks: &[HookMethodView]) -> String {
    let uses = |needle: &str| hooks.iter().any(|h| h.respond.contains(needle) || h.extract.iter().any(|e| e.contains(needle)));
    let mut names = vec!["Context", "HookServer"];
    if uses("Failure::") {
        names.push("Failure");
    }
    if hooks.iter().any(|h| h.ret.contains("HookResult")) {
        names.push("HookResult");
    }
    if uses("app_error(") {
        names.push("app_error");
    }
    if uses("app_error_or(") {
        names.push("app_error_or");
    }
    if hooks.iter().any(|h| h.decision.as_ref().is_some_and(|d| d.arms.iter().any(|a| a.contains("rejection(")))) {
        names.push("rejection");
    }
    if uses("required_argument(") {
        names.push("required_argument");
    }
    names.join(", ")
}

fn field_doc_line(f: &Field) -> String {
    let text = doc_lines(&f.doc).join(" ");
    format!("- `{}`: {text}", f.rust_name)
}

fn field_list(fields: &[Field]) -> String {
    fields.iter().map(|f| f.rust_name.clone()).collect::<Vec<_>>().join(", ")
}

/// The type a hook argument has in the `Plugin` method.
fn arg_ty(f: &Field) -> String {
    match (f.card, &f.ty) {
        (Card::Single, Ty::Message(p)) => message_path(p),
        (Card::Optional, Ty::Message(p)) => format!("Option<{}>", message_path(p)),
        (Card::Optional, ty) => format!("Option<{}>", prost_ty(ty)),
        (Card::Repeated, ty @ Ty::Map(..)) => prost_ty(ty),
        (Card::Repeated, ty) => format!("Vec<{}>", prost_ty(ty)),
        (Card::Single, ty) => prost_ty(ty),
    }
}

/// Takes one argument out of `request`. A message the hook cannot do
/// without is an `InvalidArgument` status when it is missing.
fn arg_extract(f: &Field) -> String {
    let name = &f.rust_name;
    match (f.card, &f.ty) {
        (Card::Single, Ty::Message(_)) => {
            format!("let {name} = required_argument(request.{name}, \"{}\")?;", crate::names::bare(name))
        }
        _ => format!("let {name} = request.{name};"),
    }
}

/// A value hook's answer: its Rust type, its default, and the statements
/// that bind each response field from `value`.
fn value_shape(fields: &[Field]) -> (String, String, String) {
    let one = |f: &Field| -> (String, String, String) {
        let name = &f.rust_name;
        match (f.card, &f.ty) {
            // `modified_*` messages are replacements: `None` keeps the original.
            (Card::Single, Ty::Message(p)) if f.name.starts_with("modified_") => {
                (format!("Option<{}>", message_path(p)), "None".into(), name.clone())
            }
            (Card::Single, Ty::Message(p)) => {
                (message_path(p), format!("{}::default()", message_path(p)), format!("Some({name})"))
            }
            _ => (arg_ty(f), "Default::default()".into(), name.clone()),
        }
    };
    let shapes: Vec<(String, String, String)> = fields.iter().map(one).collect();
    let binds = |pattern: String| -> String {
        let wraps: Vec<String> = fields
            .iter()
            .zip(&shapes)
            .filter(|(f, (_, _, wrap))| *wrap != f.rust_name)
            .map(|(f, (_, _, wrap))| format!("let {} = {wrap};", f.rust_name))
            .collect();
        std::iter::once(pattern).chain(wraps).collect::<Vec<_>>().join("\n")
    };
    match shapes.as_slice() {
        [(ty, default, _)] => (ty.clone(), default.clone(), binds(format!("let {} = value;", fields[0].rust_name))),
        many => {
            let tys: Vec<&str> = many.iter().map(|(t, _, _)| t.as_str()).collect();
            let defaults: Vec<&str> = many.iter().map(|(_, d, _)| d.as_str()).collect();
            (
                format!("({})", tys.join(", ")),
                format!("({})", defaults.join(", ")),
                binds(format!("let ({}) = value;", field_list(fields))),
            )
        }
    }
}

fn decision_view(hook: &Hook, variant: &str, response: &str, replacements: &[Field], reason: &Field) -> DecisionView {
    let name = format!("{variant}Decision");
    let reason_field = &reason.rust_name;
    // Whether the response has fields besides the one a variant sets; if
    // not, `..Self::default()` would be a needless update.
    let others = |set: usize| replacements.len() + 1 + usize::from(hook.returns_error) > set;
    let rest = |set: usize| if others(set) { ", ..Self::default()" } else { "" };
    let mut variants = vec!["/// Let it through unchanged.\nAllow,".to_owned()];
    let mut arms = vec![format!("{name}::Allow => Self::default(),")];
    match replacements {
        [] => {}
        [one] => {
            let docs = doc_lines(&one.doc).into_iter().map(|l| format!("/// {l}\n")).collect::<String>();
            // Messages are boxed: a decision is mostly `Allow`, and a
            // message is hundreds of bytes.
            let (ty, value) = match (&one.card, &one.ty) {
                (Card::Single, Ty::Message(p)) => (format!("Box<{}>", message_path(p)), "Some(*replacement)".to_owned()),
                _ => (arg_ty(one), "replacement".to_owned()),
            };
            variants.push(format!("/// Let it through, replaced by this.\n///\n{docs}Replace({ty}),"));
            arms.push(format!(
                "{name}::Replace(replacement) => Self {{ {}: {value}{} }},",
                one.rust_name,
                rest(1)
            ));
        }
        many => {
            let fields: Vec<String> = many
                .iter()
                .map(|f| {
                    let docs = doc_lines(&f.doc).into_iter().map(|l| format!("/// {l}\n")).collect::<String>();
                    format!("{docs}{}: {},", replacement_name(f), prost_field_ty(f))
                })
                .collect();
            variants.push(format!("/// Let it through with these replacements.\nReplace {{\n{}\n}},", fields.join("\n")));
            let binds: Vec<String> = many.iter().map(replacement_name).collect();
            let sets: Vec<String> = many
                .iter()
                .map(|f| match &f.ty {
                    Ty::Message(_) => format!("{}: {}.map(|boxed| *boxed)", f.rust_name, replacement_name(f)),
                    _ => format!("{}: {}", f.rust_name, replacement_name(f)),
                })
                .collect();
            arms.push(format!(
                "{name}::Replace {{ {} }} => Self {{ {}{} }},",
                binds.join(", "),
                sets.join(", "),
                rest(many.len())
            ));
        }
    }
    variants.push(
        "/// Refuse it, with the reason the user is shown. An empty reason would\n\
         /// mean \"allow\" on the wire, so the SDK sends a generic one instead."
            .to_owned()
            + "\nReject(String),",
    );
    arms.push(format!("{name}::Reject(reason) => Self {{ {reason_field}: rejection(reason){} }},", rest(1)));
    if let Some((_, dismiss)) = DISMISS.iter().find(|(h, _)| *h == hook.name) {
        variants.push(format!(
            "/// Drop it silently: the user is told nothing (the reason `{dismiss}`)."
        ) + "\nDismiss,");
        arms.push(format!("{name}::Dismiss => Self {{ {reason_field}: \"{dismiss}\".to_owned(){} }},", rest(1)));
    }
    DecisionView { name, hook_method: hook.method.clone(), response: response.to_owned(), variants, arms }
}

/// `modified_file_info` → `file_info`: the variant already says "replace".
fn replacement_name(f: &Field) -> String {
    f.rust_name.strip_prefix("modified_").unwrap_or(&f.rust_name).to_owned()
}

/// The type of a replacement field: prost's, with messages boxed.
fn prost_field_ty(f: &Field) -> String {
    match (f.card, &f.ty) {
        (Card::Single | Card::Optional, Ty::Message(p)) => format!("Option<Box<{}>>", message_path(p)),
        _ => arg_ty(f),
    }
}

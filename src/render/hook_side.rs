//! The hook side of the SDK, as its templates see it: `hooks.rs` (the
//! `HookName` enum), `context.rs`, `plugin.rs` (the trait and decisions),
//! `server.rs` (the glue), `process.rs` (serve and run), `http.rs` and the
//! `#[plugin]` macro. Each hook's [`PluginMethod`] comes from the model, with
//! its rustdoc, the hook that runs first in it, and the runtime items the
//! files import. The Rust shape itself (parameters, output, decision enum,
//! default answer) is the model's; the templates match on it.

use askama::Template;

use crate::classify::HOOKS_SERVICE;
use crate::model::{
    Answer, Contract, Decision, DecisionVariant, DefaultAnswer, DefaultValue, Field, Hook, HookKind, HttpShape,
    ParamFrom, PluginMethod, Presence, Replacement,
};
use crate::render::{GeneratedFile, doc_lines, rust};

/// Every view the hook side's templates take, made once from the contract.
pub struct Views<'a> {
    /// The hooks the `HookName` enum names.
    names: Vec<HookView<'a>>,
    /// The hooks with a `Plugin` method the hook server calls.
    methods: Vec<HookMethodView<'a>>,
    /// `(hook, first)`: `hook` runs `first`'s method before its own, and
    /// `Implemented` lists `hook` when the plugin wrote either.
    runs_first: Vec<(String, String)>,
    /// Every `Plugin` method and its `HookName` variant, in contract order.
    plugin_methods: Vec<(String, String)>,
    implemented: Option<ImplementedView>,
    http: Option<HttpView<'a>>,
}

impl<'a> Views<'a> {
    pub fn new(contract: &'a Contract) -> Self {
        let by_name = |name: &str| contract.hooks.iter().find(|h| h.name == name);
        let run_by =
            |hook: &Hook| contract.hooks.iter().find(|h| h.runs_first.as_deref() == Some(hook.name.as_str()));
        Self {
            names: contract.plugin_hooks().map(|hook| HookView { hook, doc: doc_lines(&hook.doc) }).collect(),
            methods: contract
                .hooks
                .iter()
                .filter_map(|h| HookMethodView::new(h, h.runs_first.as_deref().and_then(by_name), run_by(h)))
                .collect(),
            runs_first: contract
                .hooks
                .iter()
                .filter_map(|h| Some((h.variant.clone(), by_name(h.runs_first.as_deref()?)?.variant.clone())))
                .collect(),
            plugin_methods: contract
                .hooks
                .iter()
                .filter(|h| h.plugin_method.is_some())
                .map(|h| (h.method.clone(), h.variant.clone()))
                .collect(),
            implemented: contract.hooks.iter().find_map(ImplementedView::new),
            http: contract.hooks.iter().find_map(|h| match (&h.kind, &h.plugin_method) {
                (HookKind::Streaming { http: Some(shape) }, Some(sig)) => {
                    Some(HttpView { hook: h, sig, doc: doc_lines(&h.doc), shape })
                }
                _ => None,
            }),
        }
    }

    /// Whether the contract has the HTTP stream hook (and the SDK its `http` module).
    pub fn has_http(&self) -> bool {
        self.http.is_some()
    }

    /// The `Implemented` RPC, if the contract has it.
    pub fn implemented(&self) -> Option<&ImplementedView> {
        self.implemented.as_ref()
    }

    /// The hook side's files. `plugin_http` is the API trait with
    /// `plugin_http`, which `http.rs` calls.
    pub fn files(&self, crate_name: &str, crate_ident: &str, plugin_http: Option<&str>) -> anyhow::Result<Vec<GeneratedFile>> {
        let (plugin_imports, server_imports) = (plugin_imports(&self.methods), server_imports(&self.methods));
        let http = self.http.as_ref();
        let mut files = vec![
            rust("src/hooks.rs", HooksRs { service: HOOKS_SERVICE, hooks: &self.names }.render()?),
            rust("src/context.rs", ContextRs.render()?),
            rust(
                "src/plugin.rs",
                PluginRs {
                    service: HOOKS_SERVICE,
                    crate_ident,
                    plugin_imports: &plugin_imports,
                    hooks: &self.methods,
                    runs_first: &self.runs_first,
                    http,
                }
                .render()?,
            ),
            rust(
                "src/server.rs",
                ServerRs {
                    service: HOOKS_SERVICE,
                    server_imports: &server_imports,
                    hooks: &self.methods,
                    implemented: self.implemented.as_ref(),
                    http,
                }
                .render()?,
            ),
            rust("src/process.rs", ProcessRs.render()?),
            rust(
                "macros/src/lib.rs",
                MacrosLibRs { service: HOOKS_SERVICE, crate_name, crate_ident, methods: &self.plugin_methods }
                    .render()?,
            ),
        ];
        if let Some(http) = http {
            let source = HttpRs {
                plugin_http,
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
}

/// A hook as the `HookName` enum names it.
struct HookView<'a> {
    hook: &'a Hook,
    doc: Vec<String>,
}

#[derive(Template)]
#[template(path = "sdk/hooks.rs.askama", escape = "none")]
struct HooksRs<'a> {
    service: &'a str,
    hooks: &'a [HookView<'a>],
}

#[derive(Template)]
#[template(path = "sdk/context.rs.askama", escape = "none")]
struct ContextRs;

#[derive(Template)]
#[template(path = "sdk/plugin.rs.askama", escape = "none")]
struct PluginRs<'a> {
    service: &'a str,
    crate_ident: &'a str,
    plugin_imports: &'a [&'a str],
    hooks: &'a [HookMethodView<'a>],
    runs_first: &'a [(String, String)],
    http: Option<&'a HttpView<'a>>,
}

#[derive(Template)]
#[template(path = "sdk/server.rs.askama", escape = "none")]
struct ServerRs<'a> {
    service: &'a str,
    server_imports: &'a [&'a str],
    hooks: &'a [HookMethodView<'a>],
    implemented: Option<&'a ImplementedView>,
    http: Option<&'a HttpView<'a>>,
}

#[derive(Template)]
#[template(path = "sdk/process.rs.askama", escape = "none")]
struct ProcessRs;

#[derive(Template)]
#[template(path = "sdk/macros/lib.rs.askama", escape = "none")]
struct MacrosLibRs<'a> {
    service: &'a str,
    crate_name: &'a str,
    crate_ident: &'a str,
    /// Every `Plugin` method and its `HookName` variant.
    methods: &'a [(String, String)],
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
pub struct ImplementedView {
    pub method: String,
    pub request: String,
    pub response: String,
    /// The response field listing hook names.
    pub field: String,
    pub has_error: bool,
}

impl ImplementedView {
    fn new(hook: &Hook) -> Option<Self> {
        match &hook.kind {
            HookKind::Implemented { names } => Some(Self {
                method: hook.method.clone(),
                request: hook.request.clone(),
                response: hook.response.clone(),
                field: names.rust_name.clone(),
                has_error: hook.returns_error,
            }),
            _ => None,
        }
    }
}

/// One hook with a `Plugin` method the hook server calls (not `Implemented`,
/// not the HTTP stream, which have their own parts of the template).
pub struct HookMethodView<'a> {
    /// The hook.
    pub hook: &'a Hook,
    /// Its `Plugin` method.
    pub sig: &'a PluginMethod,
    /// Rustdoc lines of the trait method.
    pub doc: Vec<String>,
    /// The hook whose method runs first inside this one's call.
    pub first: Option<&'a Hook>,
    /// The decision enum of a veto hook.
    pub decision: Option<DecisionView<'a>>,
}

/// A veto hook's decision enum and its conversion into the response.
pub struct DecisionView<'a> {
    /// The enum.
    pub decision: &'a Decision,
    /// The `Plugin` method that returns it.
    pub hook_method: &'a str,
    /// The response message it converts into (below `proto`).
    pub response: &'a str,
    /// The response has fields besides the reason, so a variant that sets
    /// only the reason fills the rest with `..Self::default()` (without
    /// others, that would be a needless update).
    pub reason_has_company: bool,
}

impl DecisionView<'_> {
    /// Rustdoc lines of a replacement, from its response field's comment.
    pub fn doc(&self, replacement: &Replacement) -> Vec<String> {
        doc_lines(&replacement.field.doc)
    }
}

impl<'a> HookMethodView<'a> {
    /// `None` for hooks the template serves apart or not at all: `Implemented`
    /// and streams. `first` is the hook that runs first in this one, and
    /// `run_by` the hook that runs this one first, if any.
    pub fn new(hook: &'a Hook, first: Option<&'a Hook>, run_by: Option<&Hook>) -> Option<Self> {
        let sig = hook.plugin_method.as_ref()?;
        if matches!(sig.answer, Answer::Http) {
            return None;
        }
        let mut doc = doc_lines(&hook.doc);
        let documented: Vec<&Field> = hook.args.iter().filter(|f| !f.doc.is_empty()).collect();
        if hook.plugin_context || !documented.is_empty() {
            doc.push(String::new());
            doc.push("# Arguments".into());
            if hook.plugin_context {
                doc.push("- `pc`: who and what triggered the hook (session, request id, client address).".into());
            }
            doc.extend(documented.iter().map(|f| field_doc_line(sig, f)));
        }
        if let Some(first) = first {
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
        let decision = match (&sig.answer, &hook.kind) {
            (Answer::Decision(decision), HookKind::Veto { replacements, .. }) => Some(DecisionView {
                decision,
                hook_method: &hook.method,
                response: &hook.response,
                reason_has_company: !replacements.is_empty() || hook.returns_error,
            }),
            _ => None,
        };
        Some(Self { hook, sig, doc, first, decision })
    }

    /// The default body hands an argument back, so its future takes it (`async move`).
    pub fn passes_through(&self) -> bool {
        matches!(self.sig.default, DefaultAnswer::Passthrough(_))
    }

    /// What the default body leaves unused, silenced with `let _ = …`: the
    /// context and every parameter but the one handed back.
    pub fn unused(&self) -> Vec<&str> {
        let kept = match &self.sig.default {
            DefaultAnswer::Passthrough(name) => Some(name.as_str()),
            _ => None,
        };
        std::iter::once("cx")
            .chain(self.sig.params.iter().map(|p| p.name.as_str()).filter(|n| Some(*n) != kept))
            .collect()
    }
}

/// What `plugin.rs` imports from the runtime crate: only what its hooks
/// use (results of hooks that can fail, refusals).
pub fn plugin_imports(hooks: &[HookMethodView]) -> Vec<&'static str> {
    let any = |pick: fn(&HookMethodView) -> bool| hooks.iter().any(pick);
    [
        (any(|h| h.hook.returns_error), "HookResult"),
        (
            any(|h| h.decision.as_ref().is_some_and(|d| d.decision.variants.contains(&DecisionVariant::Reject))),
            "hook_call::rejection",
        ),
    ]
    .into_iter()
    .filter_map(|(used, name)| used.then_some(name))
    .collect()
}

/// What `server.rs` imports from the runtime's `hook_call` module: `Failure`,
/// then only what its hooks use, in a fixed order.
pub fn server_imports(hooks: &[HookMethodView]) -> Vec<&'static str> {
    let any = |pick: fn(&HookMethodView) -> bool| hooks.iter().any(pick);
    [
        (true, "Failure"),
        (any(|h| h.hook.returns_error && matches!(h.sig.answer, Answer::Nothing)), "app_error"),
        (
            any(|h| h.hook.returns_error && matches!(h.sig.answer, Answer::Fields(_) | Answer::Decision(_))),
            "app_error_or",
        ),
        (
            any(|h| h.sig.params.iter().any(|p| matches!(p.from, ParamFrom::Arg { presence: Presence::Required, .. }))),
            "required_argument",
        ),
    ]
    .into_iter()
    .filter_map(|(used, name)| used.then_some(name))
    .collect()
}

/// The `# Arguments` line of the parameter that takes the request field `f`.
fn field_doc_line(sig: &PluginMethod, f: &Field) -> String {
    let text = doc_lines(&f.doc).join(" ");
    let name = sig
        .params
        .iter()
        .find(|p| matches!(&p.from, ParamFrom::Arg { field, .. } if *field == f.rust_name))
        .map_or(f.rust_name.as_str(), |p| p.name.as_str());
    format!("- `{name}`: {text}")
}

#[cfg(test)]
mod tests {
    use crate::classify::test_proto::{HOOKS, contract};
    use crate::render::test_render::{assert_has, squash, squashed};

    /// The trait (`plugin.rs`) and the glue that serves it (`server.rs`).
    fn plugin_rs() -> String {
        let c = contract(HOOKS);
        squashed(&c, "src/plugin.rs") + &squashed(&c, "src/server.rs")
    }

    #[test]
    fn veto_with_one_replacement() {
        assert_has(
            &plugin_rs(),
            &[
                "fn note_will_be_saved(&self, cx: &Context, pc: &proto::PluginContext, note: proto::Note)
                    -> impl Future<Output = NoteWillBeSavedDecision> + Send {
                    let _ = (cx, pc, note);
                    async { NoteWillBeSavedDecision::Allow }
                }",
                "Replace(Box<proto::Note>),",
                "NoteWillBeSavedDecision::Replace(replacement) => Self { modified_note: Some(*replacement), ..Self::default() },",
                "NoteWillBeSavedDecision::Reject(reason) => Self { rejection_reason: rejection(reason), ..Self::default() },",
                // The glue: the context lent, the message required, the decision converted.
                "let pc = received.plugin_context.unwrap_or_default();
                 let note = required_argument(received.note, \"note\")?;",
                "plugin.note_will_be_saved(&cx, &pc, note).await",
                "let decision = outcome.map_err(Failure::into_status)?; Ok(Response::new(decision.into()))",
            ],
        );
    }

    #[test]
    fn veto_with_several_replacements() {
        assert_has(
            &plugin_rs(),
            &[
                "Replace { file_info: Option<Box<proto::FileInfo>>, content: Vec<u8> },",
                "FileWillBeUploadedDecision::Replace { file_info, content } => Self {
                    modified_file_info: file_info.map(|boxed| *boxed),
                    modified_content: content,
                    ..Self::default()
                },",
            ],
        );
    }

    #[test]
    fn veto_with_dismiss() {
        assert_has(
            &plugin_rs(),
            &[
                "Reject(String), /// Drop it silently: the user is told nothing \
                 (the reason `plugin.message_will_be_posted.dismiss_post`).\n Dismiss, }",
                "MessageWillBePostedDecision::Dismiss => Self {
                    rejection_reason: \"plugin.message_will_be_posted.dismiss_post\".to_owned(),
                    ..Self::default()
                },",
            ],
        );
        let file = plugin_rs();
        assert_eq!(file.matches("Decision::Dismiss").count(), 1, "only MessageWillBePosted dismisses");
    }

    #[test]
    fn veto_with_a_reason_only_sets_the_whole_response() {
        let file = plugin_rs();
        assert_has(
            &file,
            &["ChannelWillBeJoinedDecision::Reject(reason) => Self { rejection_reason: rejection(reason) },"],
        );
        // With an error field, the response has more to fill.
        assert_has(
            &file,
            &[
                "UserWillLogInDecision::Reject(reason) => Self { rejection_reason: rejection(reason), ..Self::default() },",
                "async { Ok(UserWillLogInDecision::Allow) }",
                "let (error, decision) = app_error_or(HookName::UserWillLogIn.as_str(), outcome)?;
                 Ok(Response::new(proto::UserWillLogInResponse { error: error.map(crate::error::to_proto), ..decision.into() }))",
            ],
        );
    }

    #[test]
    fn value_hook_passes_its_argument_through_by_default() {
        assert_has(
            &plugin_rs(),
            &[
                "fn messages_will_be_consumed(&self, cx: &Context, posts: Vec<proto::Post>)
                    -> impl Future<Output = Vec<proto::Post>> + Send {
                    let _ = cx;
                    async move { posts }
                }",
                "let posts = received.posts;",
                "let value = outcome.map_err(Failure::into_status)?;
                 let posts = value;
                 Ok(Response::new(proto::MessagesWillBeConsumedResponse { posts }))",
            ],
        );
    }

    #[test]
    fn value_hook_with_several_answers_and_an_error() {
        assert_has(
            &plugin_rs(),
            &[
                "-> impl Future<Output = HookResult<(i64, proto::Report)>> + Send {
                    let _ = (cx, user_id);
                    async { Ok((Default::default(), proto::Report::default())) }
                }",
                "let (error, value) = app_error_or(HookName::Tally.as_str(), outcome)?;
                 let (count, report) = value;
                 let report = Some(report);
                 Ok(Response::new(proto::TallyResponse { error: error.map(crate::error::to_proto), count, report }))",
                // A replacement is already an `Option`, `None` by default.
                "async { Ok(None) }",
                "let modified_config = value;
                 Ok(Response::new(proto::ConfigurationWillBeSavedResponse { error: error.map(crate::error::to_proto), modified_config }))",
            ],
        );
    }

    #[test]
    fn notifications_with_and_without_error() {
        assert_has(
            &plugin_rs(),
            &[
                "fn on_activate(&self, cx: &Context) -> impl Future<Output = HookResult> + Send {
                    let _ = cx;
                    async { Ok(()) }
                }",
                "let _ = request;",
                "let error = app_error(HookName::OnActivate.as_str(), outcome)?;
                 Ok(Response::new(proto::OnActivateResponse { error: error.map(crate::error::to_proto) }))",
                "fn on_cloud_limits_updated(&self, cx: &Context, limits: Option<proto::ProductLimits>)
                    -> impl Future<Output = ()> + Send {
                    let _ = (cx, limits);
                    async {}
                }",
                "outcome.map_err(Failure::into_status)?;
                 Ok(Response::new(proto::OnCloudLimitsUpdatedResponse {}))",
            ],
        );
    }

    #[test]
    fn an_argument_that_may_be_unset_is_taken_as_it_comes() {
        let file = plugin_rs();
        assert_has(&file, &["let limits = received.limits;", "let actor = received.actor;"]);
        assert_has(&file, &["let member = required_argument(received.member, \"member\")?;"]);
        assert!(!file.contains(&squash("required_argument(received.limits")));
    }

    #[test]
    fn runtime_imports_follow_the_hooks() {
        let c = contract(HOOKS);
        assert_has(&squashed(&c, "src/plugin.rs"), &["use mmplugin_runtime::{HookResult, hook_call::rejection};"]);
        assert_has(
            &squashed(&c, "src/server.rs"),
            &["use mmplugin_runtime::hook_call::{Failure, app_error, app_error_or, required_argument};"],
        );
        // One notification without error and without a required argument needs little.
        let one = contract(
            "service PluginHooks { rpc OnCloudLimitsUpdated(Req) returns (Resp); }
             message ProductLimits { int64 messages = 1; }
             message Req { ProductLimits limits = 1; }
             message Resp {}",
        );
        assert!(!squashed(&one, "src/plugin.rs").contains("use mmplugin_runtime"));
        assert_has(&squashed(&one, "src/server.rs"), &["use mmplugin_runtime::hook_call::{Failure};"]);
    }
}

//! The test kit (the SDK's `testing/` crate) as `testing.rs.askama` sees it: the fake
//! server's answer for every API method and the host driver's method for
//! every hook, generated; and the kit's hand-written knowledge of the
//! server's state (`templates/sdk/testing/state.rs`) and of what the host
//! keeps of a hook's request (`templates/sdk/testing/host.rs`), copied as
//! they are when the contract has every method and hook they name.

use std::collections::BTreeMap;

use anyhow::Context as _;

use crate::model::{ApiMethod, Contract, Hook, HookKind, ParamFrom, Presence, RustType};

/// The kit's state: plain Rust, compiled where it lands
/// (`generated-sdk/testing/src/state.rs`). Its `impl State` answers API
/// methods by their Rust names: `fn kv_get(&mut self, request:
/// proto::KvGetRequest) -> Result<proto::KvGetResponse, AppError>`.
pub const STATE_RS: &str = include_str!("../../templates/sdk/testing/state.rs");

/// The table of the server's rules the kit's state and app layer play,
/// rendered as the kit's `server_rules` docs.
pub const RULES_MD: &str = include_str!("../../templates/sdk/testing/RULES.md");

/// The kit's app layer, beside the state: its `impl App` answers the API
/// methods whose answer on the server runs plugin hooks, by their Rust
/// names: `async fn create_post(&self, request: proto::CreatePostRequest)
/// -> Result<proto::CreatePostResponse, AppError>`.
pub const APP_RS: &str = include_str!("../../templates/sdk/testing/app.rs");

/// What the host keeps of the messages it converts: a `pub(super) fn`
/// taking `&mut proto::…Request` of a hook (`fn execute_command(request:
/// &mut proto::ExecuteCommandRequest)`) is what the host sends of that
/// hook's request, run by the host driver's method for the hook.
pub const HOST_RS: &str = include_str!("../../templates/sdk/testing/host.rs");

/// An API method as the fake server answers it.
pub struct FakeMethodView<'a> {
    /// The method.
    pub m: &'a ApiMethod,
    /// The client method, as the docs name it: a link, or plain code for a
    /// raw identifier (`r#match`), which rustdoc links cannot name.
    pub doc_ref: String,
    /// The override setter (`on_kv_get`).
    pub on: String,
    /// The fake's own answer (`answer_kv_get`), in its group's module.
    pub answer: String,
    /// The API group's module, in the kit's `answers/` as in the client's `api/`.
    pub group: &'a str,
    /// The API group's trait (`KvStoreApi`).
    pub group_trait: &'a str,
    /// The gRPC path the fake's dispatcher routes (`/package.Service/Method`).
    pub path: String,
    /// The typed result an override returns, as the client method returns
    /// it (an output alias spelled from the crate root).
    pub ok: String,
    /// The kit's state answers it when no override does.
    pub stateful: bool,
    /// The kit's app layer answers it (running hooks) when no override does.
    pub app: bool,
}

/// A hook as the host driver calls it.
pub struct DriverHookView<'a> {
    /// The hook.
    pub hook: &'a Hook,
    /// The driver method's parameters: the `Plugin` method's, less the
    /// `PluginContext` the host supplies.
    pub params: Vec<DriverParam>,
    /// The request field that carries the `PluginContext`.
    pub context_field: Option<String>,
    /// The kit's `host::…` function that keeps of the request what the
    /// host sends, when the host drops some of it.
    pub host_sends: Option<String>,
}

/// One parameter of a driver method, and its request field.
pub struct DriverParam {
    /// The name, as in the `Plugin` method.
    pub name: String,
    /// The request field (Rust name).
    pub field: String,
    /// Its type, as in the `Plugin` method.
    pub ty: RustType,
    /// A message the method gets bare, which the request carries as `Some`.
    pub wrap: bool,
}

/// A hook the host calls by name (`OnActivate`, `OnDeactivate`, the HTTP stream).
pub struct NamedHook {
    /// The tonic and driver method.
    pub method: String,
    /// The `HookName` variant.
    pub variant: String,
    /// The RPC name.
    pub name: String,
    /// The response carries an `AppError`.
    pub returns_error: bool,
}

impl NamedHook {
    fn of(hook: &Hook) -> Self {
        Self {
            method: hook.method.clone(),
            variant: hook.variant.clone(),
            name: hook.name.clone(),
            returns_error: hook.returns_error,
        }
    }
}

/// The fake's methods, each marked stateful when the kit's state answers
/// it; whether the state (with the app layer and the host's conversions)
/// is included at all.
pub fn fake_methods(contract: &Contract) -> anyhow::Result<(Vec<FakeMethodView<'_>>, bool)> {
    let stateful = answered_methods(STATE_RS, "State", "templates/sdk/testing/state.rs")?;
    let app = answered_methods(APP_RS, "App", "templates/sdk/testing/app.rs")?;
    let by_method: BTreeMap<&str, &ApiMethod> = contract.api_methods().map(|m| (m.method.as_str(), m)).collect();
    let hook_requests: Vec<&str> = contract.hooks.iter().map(|h| h.request.as_str()).collect();
    // All or nothing: the state is written against one contract, and only
    // compiles against a contract with every method it answers and every
    // hook whose request the host's conversions name.
    let has_state = stateful
        .iter()
        .chain(&app)
        .all(|(method, request)| by_method.get(method.as_str()).is_some_and(|m| &m.request == request))
        && host_conversions()?.keys().all(|request| hook_requests.contains(&request.as_str()));
    let views = contract
        .api_groups
        .iter()
        .flat_map(|g| g.methods.iter().map(move |m| (g, m)))
        .map(|(g, m)| FakeMethodView {
            m,
            doc_ref: if m.method.starts_with("r#") {
                format!("`{}::{}`", g.trait_name, crate::names::bare(&m.method))
            } else {
                format!("[`sdk::api::{}::{}`]", g.trait_name, m.method)
            },
            on: format!("on_{}", crate::names::bare(&m.method)),
            answer: format!("answer_{}", crate::names::bare(&m.method)),
            group: &g.name,
            group_trait: &g.trait_name,
            path: format!("/{}.{}/{}", contract.package, crate::classify::API_SERVICE, m.name),
            ok: match &m.alias {
                Some(alias) => format!("sdk::api::{}", alias.name),
                None => m.ok.to_string(),
            },
            stateful: has_state && stateful.contains_key(&m.method),
            app: has_state && app.contains_key(&m.method),
        })
        .collect();
    Ok((views, has_state))
}

/// The hooks the driver has a method for: every hook with a `Plugin`
/// method, but the HTTP stream (sent as `http::Request`s). With the kit's
/// state (`has_state`), a hook whose request the host converts runs the
/// kit's conversion.
pub fn driver_hooks(contract: &Contract, has_state: bool) -> anyhow::Result<Vec<DriverHookView<'_>>> {
    let conversions = if has_state { host_conversions()? } else { BTreeMap::new() };
    let views = contract
        .hooks
        .iter()
        .filter(|h| !matches!(h.kind, HookKind::Streaming { .. } | HookKind::Implemented { .. }))
        .filter_map(|hook| {
            let sig = hook.plugin_method.as_ref()?;
            let mut context_field = None;
            let mut params = Vec::new();
            for p in &sig.params {
                match &p.from {
                    ParamFrom::PluginContext { field } => context_field = Some(field.clone()),
                    ParamFrom::Arg { field, presence } => params.push(DriverParam {
                        name: p.name.clone(),
                        field: field.clone(),
                        ty: p.ty.clone(),
                        wrap: *presence == Presence::Required,
                    }),
                    ParamFrom::HttpStream => return None,
                }
            }
            let host_sends = conversions.get(&hook.request).cloned();
            Some(DriverHookView { hook, params, context_field, host_sends })
        })
        .collect();
    Ok(views)
}

/// The kit's conversions of hook requests (`templates/sdk/testing/host.rs`):
/// request message (below `proto`) → function name. A conversion is a
/// top-level `pub(super) fn` taking one `&mut proto::…Request`.
pub fn host_conversions() -> anyhow::Result<BTreeMap<String, String>> {
    let parsed = syn::parse_file(HOST_RS).context("templates/sdk/testing/host.rs does not parse")?;
    let mut conversions = BTreeMap::new();
    for item in &parsed.items {
        let syn::Item::Fn(f) = item else { continue };
        if !matches!(f.vis, syn::Visibility::Restricted(_)) {
            continue;
        }
        let mut inputs = f.sig.inputs.iter();
        let (Some(syn::FnArg::Typed(arg)), None) = (inputs.next(), inputs.next()) else { continue };
        let syn::Type::Reference(reference) = &*arg.ty else { continue };
        let (Some(_), syn::Type::Path(ty)) = (reference.mutability, &*reference.elem) else { continue };
        let segments: Vec<String> = ty.path.segments.iter().map(|s| s.ident.to_string()).collect();
        if let [proto, request] = segments.as_slice()
            && proto == "proto"
            && request.ends_with("Request")
        {
            conversions.insert(request.clone(), f.sig.ident.to_string());
        }
    }
    Ok(conversions)
}

/// The hook of this name, as the host calls it.
pub fn named_hook(contract: &Contract, name: &str) -> Option<NamedHook> {
    contract.hooks.iter().find(|h| h.name == name && h.plugin_method.is_some()).map(NamedHook::of)
}

/// The HTTP stream hook, when the contract has one of the HTTP shape.
pub fn http_hook(contract: &Contract) -> Option<NamedHook> {
    contract
        .hooks
        .iter()
        .find(|h| matches!(h.kind, HookKind::Streaming { http: Some(_) }) && h.plugin_method.is_some())
        .map(NamedHook::of)
}

/// The methods `impl {type_name}` answers: Rust method name → request message
/// (below `proto`), read from its source (`file`, named in errors). A method
/// answers when it is `pub(super)` and takes `self` and one
/// `proto::…Request`.
pub fn answered_methods(source: &str, type_name: &str, file: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let parsed = syn::parse_file(source).with_context(|| format!("{file} does not parse"))?;
    let mut methods = BTreeMap::new();
    for item in &parsed.items {
        let syn::Item::Impl(block) = item else {
            continue;
        };
        let syn::Type::Path(self_ty) = &*block.self_ty else {
            continue;
        };
        let named = self_ty.path.segments.last().is_some_and(|segment| segment.ident == type_name);
        if block.trait_.is_some() || !named {
            continue;
        }
        for item in &block.items {
            let syn::ImplItem::Fn(f) = item else { continue };
            if !matches!(f.vis, syn::Visibility::Restricted(_)) {
                continue;
            }
            // `(&mut self, request: proto::XRequest)`
            let mut inputs = f.sig.inputs.iter();
            let (Some(syn::FnArg::Receiver(_)), Some(syn::FnArg::Typed(arg)), None) =
                (inputs.next(), inputs.next(), inputs.next())
            else {
                continue;
            };
            let syn::Type::Path(ty) = &*arg.ty else {
                continue;
            };
            let segments: Vec<String> = ty.path.segments.iter().map(|s| s.ident.to_string()).collect();
            if let [proto, request] = segments.as_slice()
                && proto == "proto"
                && request.ends_with("Request")
            {
                methods.insert(f.sig.ident.to_string(), request.clone());
            }
        }
    }
    Ok(methods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_answers_methods_by_their_rust_names() {
        let source = r"
            impl State {
                pub(super) fn kv_get(&mut self, request: proto::KvGetRequest) -> Result<proto::KvGetResponse, AppError> { todo!() }
                fn helper(&mut self, request: proto::KvGetRequest) {}
                pub(super) fn seed(&mut self) {}
            }
            impl Other { pub(super) fn get_user(&mut self, request: proto::GetUserRequest) {} }
        ";
        let methods = answered_methods(source, "State", "state.rs").unwrap();
        assert_eq!(methods.into_iter().collect::<Vec<_>>(), [("kv_get".to_owned(), "KvGetRequest".to_owned())]);
    }

    #[test]
    fn the_host_converts_the_requests_of_the_hooks_whose_fields_it_drops() {
        let conversions = host_conversions().unwrap();
        let requests: Vec<&str> = conversions.keys().map(String::as_str).collect();
        assert_eq!(
            requests,
            [
                "ChannelHasBeenCreatedRequest",
                "ExecuteCommandRequest",
                "MessageHasBeenDeletedRequest",
                "MessageHasBeenPostedRequest",
                "MessageHasBeenUpdatedRequest",
                "MessageWillBePostedRequest",
                "MessageWillBeUpdatedRequest",
                "MessagesWillBeConsumedRequest",
                "OnCloudLimitsUpdatedRequest",
                "OnSharedChannelsAttachmentSyncMsgRequest",
                "OnSharedChannelsPingRequest",
                "OnSharedChannelsProfileImageSyncMsgRequest",
                "OnSharedChannelsSyncMsgRequest",
            ]
        );
        assert_eq!(conversions["ExecuteCommandRequest"], "execute_command");
    }

    #[test]
    fn the_app_layer_answers_the_methods_that_run_hooks() {
        let methods = answered_methods(APP_RS, "App", "app.rs").unwrap();
        for method in ["create_post", "update_post", "delete_post", "add_reaction", "create_team_member", "save_plugin_config"] {
            assert!(methods.contains_key(method), "{method}: {methods:?}");
        }
        let state = answered_methods(STATE_RS, "State", "state.rs").unwrap();
        let both: Vec<_> = methods.keys().filter(|m| state.contains_key(*m)).collect();
        assert!(both.is_empty(), "answered by the state and the app layer: {both:?}");
    }

    /// The state and the app layer are all or nothing: a method they answer
    /// that the contract lacks (a helper taking a `…Request`, a misspelt
    /// name) would silently drop them from the SDK made from the committed
    /// contract.
    #[test]
    fn the_committed_contract_keeps_the_state_and_the_app_layer() {
        let fds = crate::load::ProtoSources::embedded().compile().unwrap();
        let contract = crate::classify::classify(&fds).unwrap();
        let (views, has_state) = fake_methods(&contract).unwrap();
        let names = |source, ty| answered_methods(source, ty, "").unwrap().into_keys().collect::<Vec<_>>();
        let missing: Vec<String> = names(STATE_RS, "State")
            .into_iter()
            .chain(names(APP_RS, "App"))
            .filter(|method| !views.iter().any(|v| &v.m.method == method))
            .collect();
        assert!(has_state, "answered but not in the contract: {missing:?}");
        assert!(views.iter().any(|v| v.app) && views.iter().any(|v| v.stateful));
    }

    #[test]
    fn only_request_messages_make_an_answer() {
        let source = "impl State { pub(super) fn save_post(&mut self, post: proto::Post) -> Result<proto::Post, AppError> { todo!() } }";
        assert!(answered_methods(source, "State", "state.rs").unwrap().is_empty());
    }

    #[test]
    fn the_committed_state_answers_the_common_methods() {
        let methods = answered_methods(STATE_RS, "State", "state.rs").unwrap();
        for method in ["kv_get", "kv_set", "kv_compare_and_set", "get_user", "get_post", "ensure_bot_user"] {
            assert!(methods.contains_key(method), "{method}: {methods:?}");
        }
    }
}

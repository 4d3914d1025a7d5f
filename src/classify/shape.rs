//! Shape: how each classified hook and API method reads in Rust.
//!
//! The type every field has in the SDK, the parameters and output of each
//! `Plugin` method and typed API method, a veto hook's decision enum and an
//! API method's output alias: decided here, once, from the contract facts
//! [`super`] settles ([`super::arg_presence`], [`super::answer_presence`],
//! [`super::passthrough`], [`super::DISMISS`]). Render prints the result and
//! `inspect` reports it, so the two cannot disagree.

use crate::model::{
    Answer, AnswerField, ApiInput, ApiOutput, ApiParam, Card, Decision, DecisionVariant, DefaultAnswer, DefaultValue,
    Field, FromResponse, Hook, HookKind, IntoRequest, OutputAlias, Param, ParamFrom, PluginMethod, Presence,
    Replacement, RustType, Ty,
};
use crate::names::upper_camel;

use super::{answer_presence, arg_presence, passthrough, replacement_name};

/// The name a hook's `PluginContext` parameter has.
const CONTEXT_PARAM: &str = "pc";

/// The names the generated code for a hook binds or calls by their bare
/// name where a parameter named like a request field would clash: the
/// `Plugin` method's `cx` and `pc`; in the hook server's glue, which binds
/// each argument to a local of its parameter's name, the request message
/// `received` (read field by field), the `plugin` and `cx` of the closure
/// that calls the method, and the runtime's `required_argument`,
/// `app_error` and `app_error_or`, called after the arguments are bound. A
/// hook argument whose field has one of these names gets `_` appended
/// (`plugin` → `plugin_`), more if that is a field too. The other names the
/// glue and the test kit's driver bind (`request`, `outcome`, `error`,
/// `value`, `decision`, `hooks`) are bound where no argument is read after
/// them, so a field may have them (the `rules/parameter-names` case
/// compiles an SDK with every one).
pub const HOOK_RESERVED: &[&str] =
    &["cx", CONTEXT_PARAM, "received", "plugin", "required_argument", "app_error", "app_error_or"];

/// The names the generated API client calls by their bare name after it
/// has bound its parameters: `check(response.error)`, `required_field(…)`.
/// A parameter named like one gets `_` appended, as for [`HOOK_RESERVED`].
pub const API_RESERVED: &[&str] = &["check", "required_field"];

/// A parameter name for each of `fields` (Rust names, in order): the
/// field's own, or for one named like a `reserved` name, the name with `_`
/// appended until it is neither reserved nor another field's or
/// parameter's name.
pub fn param_names(fields: &[&str], reserved: &[&str]) -> Vec<String> {
    let mut taken: Vec<String> = reserved.iter().chain(fields).map(|n| (*n).to_owned()).collect();
    fields
        .iter()
        .map(|&field| {
            if !reserved.contains(&field) {
                return field.to_owned();
            }
            let mut name = format!("{field}_");
            while taken.contains(&name) {
                name.push('_');
            }
            taken.push(name.clone());
            name
        })
        .collect()
}

/// A message or enum of the contract as the SDK names it (`proto::Post`), or
/// a well-known type as prost does (`prost_types::Struct`).
pub fn proto_path(path: &str) -> RustType {
    match path.strip_prefix("::") {
        Some(well_known) => RustType::named(well_known),
        None => RustType::named(format!("proto::{path}")),
    }
}

/// The type prost gives one element of a field.
fn prost_element(ty: &Ty) -> RustType {
    match ty {
        Ty::Scalar(s) => RustType::named(*s),
        Ty::String => RustType::named("String"),
        Ty::Bytes | Ty::JsonBytes => RustType::named("u8").vec(),
        Ty::Enum(_) => RustType::named("i32"),
        Ty::Message(p) => proto_path(p),
        Ty::Struct => RustType::named("prost_types::Struct"),
        Ty::Value => RustType::named("prost_types::Value"),
        Ty::Wrapper(s) => RustType::named(*s).option(),
        Ty::Map(k, v) => RustType::HashMap(Box::new(prost_element(k)), Box::new(prost_element(v))),
    }
}

/// The type prost gives a field, except that a singular message is bare:
/// where it goes, it is known to be set.
fn prost_field(f: &Field) -> RustType {
    match (f.card, &f.ty) {
        (Card::Optional, ty) => prost_element(ty).option(),
        (Card::Repeated, ty @ Ty::Map(..)) => prost_element(ty),
        (Card::Repeated, ty) => prost_element(ty).vec(),
        (Card::Single, ty) => prost_element(ty),
    }
}

/// The type a hook argument or answer has in a `Plugin` method.
fn method_type(f: &Field, presence: Presence) -> RustType {
    match presence {
        Presence::Optional => prost_element(&f.ty).option(),
        Presence::Plain | Presence::Required => prost_field(f),
    }
}

/// `serde_json::Map<String, serde_json::Value>`, what a `Struct` is to a caller.
fn json_object() -> RustType {
    RustType::Named { path: "serde_json::Map".into(), args: vec![RustType::named("String"), json_value()] }
}

/// `serde_json::Value`.
fn json_value() -> RustType {
    RustType::named("serde_json::Value")
}

/// The `Plugin` method of a hook whose kind, arguments and error are
/// classified; `context` is its request's `PluginContext` field, if any.
/// `None` when the SDK writes no method: `Implemented`, and a stream
/// without the HTTP shape.
pub fn plugin_method(hook: &Hook, context: Option<&Field>) -> Option<PluginMethod> {
    let can_fail = |ty: RustType| if hook.returns_error { ty.hook_result() } else { ty };
    let mut params: Vec<Param> = context
        .map(|field| Param {
            name: CONTEXT_PARAM.into(),
            ty: prost_element(&field.ty).by_ref(),
            from: ParamFrom::PluginContext { field: field.rust_name.clone() },
        })
        .into_iter()
        .collect();
    let fields: Vec<&str> = hook.args.iter().map(|f| f.rust_name.as_str()).collect();
    let names = param_names(&fields, HOOK_RESERVED);
    params.extend(hook.args.iter().zip(names).map(|(f, name)| {
        let presence = arg_presence(&hook.name, f);
        Param { name, ty: method_type(f, presence), from: ParamFrom::Arg { field: f.rust_name.clone(), presence } }
    }));
    let (output, answer, default) = match &hook.kind {
        HookKind::Implemented { .. } | HookKind::Streaming { http: None } => return None,
        HookKind::Streaming { http: Some(_) } => {
            let params = vec![Param {
                name: "request".into(),
                ty: RustType::named("crate::http::HttpRequest"),
                from: ParamFrom::HttpStream,
            }];
            let output = RustType::named("crate::http::HttpResponse");
            return Some(PluginMethod { params, output, answer: Answer::Http, default: DefaultAnswer::NotFound });
        }
        HookKind::Notification => (can_fail(RustType::unit()), Answer::Nothing, DefaultAnswer::Nothing),
        HookKind::Value { fields } => {
            let answers: Vec<AnswerField> = fields
                .iter()
                .map(|f| {
                    let presence = answer_presence(f);
                    AnswerField { name: f.rust_name.clone(), ty: method_type(f, presence), presence }
                })
                .collect();
            let value = match answers.as_slice() {
                [one] => one.ty.clone(),
                many => RustType::Tuple(many.iter().map(|a| a.ty.clone()).collect()),
            };
            let default = match passthrough(&hook.args, fields) {
                Some(arg) => DefaultAnswer::Passthrough(param_of(&params, &arg.rust_name)),
                None => DefaultAnswer::Values(
                    answers
                        .iter()
                        .map(|a| match a.presence {
                            Presence::Required => DefaultValue::DefaultOf(a.ty.clone()),
                            Presence::Optional => DefaultValue::None,
                            Presence::Plain => DefaultValue::Default,
                        })
                        .collect(),
                ),
            };
            (can_fail(value), Answer::Fields(answers), default)
        }
        HookKind::Veto { replacements, reason, dismiss } => {
            let decision = decision(&hook.variant, replacements, reason, dismiss.as_deref());
            let default = DefaultAnswer::Allow { decision: decision.name.clone() };
            (can_fail(RustType::named(decision.name.clone())), Answer::Decision(decision), default)
        }
    };
    Some(PluginMethod { params, output, answer, default })
}

/// The name of the parameter that takes the request field `field`.
fn param_of(params: &[Param], field: &str) -> String {
    params
        .iter()
        .find(|p| matches!(&p.from, ParamFrom::Arg { field: f, .. } if f == field))
        .map_or_else(|| field.to_owned(), |p| p.name.clone())
}

/// A veto hook's decision enum: `Allow`, a `Replace` with the one
/// replacement or with each of several, `Reject`, and `Dismiss` for the
/// hooks that have a dismiss reason.
fn decision(variant: &str, replacements: &[Field], reason: &Field, dismiss: Option<&str>) -> Decision {
    let mut variants = vec![DecisionVariant::Allow];
    match replacements {
        [] => {}
        [one] => {
            let (ty, boxed) = match (one.card, &one.ty) {
                (Card::Single, Ty::Message(p)) => (proto_path(p).boxed(), true),
                _ => (prost_field(one), false),
            };
            variants.push(DecisionVariant::Replace(Replacement {
                name: replacement_name(one),
                field: one.clone(),
                ty,
                boxed,
            }));
        }
        many => variants.push(DecisionVariant::ReplaceFields(
            many.iter()
                .map(|f| {
                    // Each is optional on its own: a message is `None` to keep the original.
                    let (ty, boxed) = match (f.card, &f.ty) {
                        (Card::Single | Card::Optional, Ty::Message(p)) => (proto_path(p).boxed().option(), true),
                        _ => (prost_field(f), false),
                    };
                    Replacement { name: replacement_name(f), field: f.clone(), ty, boxed }
                })
                .collect(),
        )),
    }
    variants.push(DecisionVariant::Reject);
    if let Some(reason) = dismiss {
        variants.push(DecisionVariant::Dismiss { reason: reason.to_owned() });
    }
    Decision { name: format!("{variant}Decision"), reason_field: reason.rust_name.clone(), variants }
}

/// How a typed API method takes its request: `params` are the request's
/// fields when they are few enough to be parameters, `None` when the caller
/// passes the message `request` (a Rust path below `proto`).
pub fn api_input(request: &str, params: Option<Vec<Field>>) -> ApiInput {
    match params {
        Some(fields) => {
            let names = param_names(&fields.iter().map(|f| f.rust_name.as_str()).collect::<Vec<_>>(), API_RESERVED);
            ApiInput::Params(fields.into_iter().zip(names).map(|(field, name)| api_param(field, name)).collect())
        }
        None => ApiInput::Message(proto_path(request)),
    }
}

/// The parameter a caller passes for a request field: strings and bytes as
/// anything convertible, JSON as `serde_json`, messages bare.
fn api_param(field: Field, name: String) -> ApiParam {
    let (ty, into) = match (field.card, &field.ty) {
        (Card::Single, Ty::String) => (RustType::named("String").impl_into(), IntoRequest::Into),
        (Card::Single, Ty::Bytes) => (RustType::named("u8").vec().impl_into(), IntoRequest::Into),
        (Card::Single, Ty::JsonBytes) => (json_value().by_ref(), IntoRequest::JsonBytes),
        (Card::Single, Ty::Enum(p)) => (proto_path(p), IntoRequest::Into),
        (Card::Single, Ty::Message(p)) => (proto_path(p), IntoRequest::Some),
        (Card::Single, Ty::Struct) => (json_object(), IntoRequest::Struct),
        (Card::Single, Ty::Value) => (json_value(), IntoRequest::Value),
        _ => (prost_field(&field), IntoRequest::AsIs),
    };
    ApiParam { name, field, ty, into }
}

/// What a caller gets for a response field: JSON as `serde_json`, enums
/// checked, messages required.
pub fn api_output(field: Field) -> ApiOutput {
    let (ty, from) = match (field.card, &field.ty) {
        (Card::Single, Ty::JsonBytes) => (json_value(), FromResponse::JsonBytes),
        (Card::Single, Ty::Enum(p)) => (proto_path(p), FromResponse::Enum),
        (Card::Single, Ty::Message(p)) => (proto_path(p), FromResponse::Required),
        (Card::Single, Ty::Struct) => (json_object(), FromResponse::Struct),
        (Card::Single, Ty::Value) => (json_value(), FromResponse::Value),
        _ => (prost_field(&field), FromResponse::AsIs),
    };
    ApiOutput { field, ty, from }
}

/// What an API method returns inside `Result`: `()`, the one output, or a
/// tuple of several named by an alias (`GetIcon` → `GetIconOutput`).
pub fn api_ok(rpc: &str, outputs: &[ApiOutput]) -> (RustType, Option<OutputAlias>) {
    match outputs {
        [] => (RustType::unit(), None),
        [one] => (one.ty.clone(), None),
        many => {
            let name = format!("{}Output", upper_camel(rpc));
            let tuple = RustType::Tuple(many.iter().map(|o| o.ty.clone()).collect());
            (RustType::named(name.clone()), Some(OutputAlias { name, tuple }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::DISMISS;
    use crate::classify::test_proto::{API, HOOKS, contract};
    use crate::model::Contract;

    fn plugin_method<'a>(c: &'a Contract, hook: &str) -> &'a PluginMethod {
        let hook = c.hooks.iter().find(|h| h.name == hook).expect("the hook is in the test proto");
        hook.plugin_method.as_ref().expect("the hook has a Plugin method")
    }

    fn api_method<'a>(c: &'a Contract, rpc: &str) -> &'a crate::model::ApiMethod {
        c.api_methods().find(|m| m.name == rpc).expect("the method is in the test proto")
    }

    /// `name: Type` of each parameter.
    fn params(sig: &PluginMethod) -> Vec<String> {
        sig.params.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect()
    }

    fn decision(sig: &PluginMethod) -> &Decision {
        match &sig.answer {
            Answer::Decision(decision) => decision,
            other => panic!("not a veto hook: {other:?}"),
        }
    }

    #[test]
    fn veto_with_one_replacement_boxes_it() {
        let c = contract(HOOKS);
        let sig = plugin_method(&c, "NoteWillBeSaved");
        assert_eq!(params(sig), ["pc: &proto::PluginContext", "note: proto::Note"]);
        assert_eq!(sig.output.to_string(), "NoteWillBeSavedDecision");
        assert_eq!(sig.default, DefaultAnswer::Allow { decision: "NoteWillBeSavedDecision".into() });
        let d = decision(sig);
        assert_eq!(d.reason_field, "rejection_reason");
        let [DecisionVariant::Allow, DecisionVariant::Replace(one), DecisionVariant::Reject] = d.variants.as_slice()
        else {
            panic!("Allow, Replace, Reject (no Dismiss): {:?}", d.variants)
        };
        assert_eq!((one.name.as_str(), one.field.name.as_str()), ("note", "modified_note"));
        assert_eq!(one.ty.to_string(), "Box<proto::Note>");
        assert!(one.boxed);
    }

    #[test]
    fn veto_with_several_replacements_makes_each_optional() {
        let c = contract(HOOKS);
        let d = decision(plugin_method(&c, "FileWillBeUploaded"));
        let [DecisionVariant::Allow, DecisionVariant::ReplaceFields(each), DecisionVariant::Reject] =
            d.variants.as_slice()
        else {
            panic!("Allow, Replace {{ … }}, Reject: {:?}", d.variants)
        };
        let each: Vec<(&str, String, bool)> =
            each.iter().map(|r| (r.name.as_str(), r.ty.to_string(), r.boxed)).collect();
        assert_eq!(
            each,
            [("file_info", "Option<Box<proto::FileInfo>>".into(), true), ("content", "Vec<u8>".into(), false)]
        );
    }

    #[test]
    fn veto_dismisses_where_the_contract_says() {
        let c = contract(HOOKS);
        let d = decision(plugin_method(&c, "MessageWillBePosted"));
        let reason = DISMISS[0].1.to_owned();
        assert_eq!(d.variants.last(), Some(&DecisionVariant::Dismiss { reason }));
        assert!(
            !decision(plugin_method(&c, "UserWillLogIn"))
                .variants
                .iter()
                .any(|v| matches!(v, DecisionVariant::Dismiss { .. }))
        );
    }

    #[test]
    fn veto_with_error_and_reason_only() {
        let c = contract(HOOKS);
        let sig = plugin_method(&c, "UserWillLogIn");
        assert_eq!(sig.output.to_string(), "HookResult<UserWillLogInDecision>");
        assert_eq!(decision(sig).variants, [DecisionVariant::Allow, DecisionVariant::Reject]);
    }

    #[test]
    fn value_hook_hands_its_argument_back_by_default() {
        let c = contract(HOOKS);
        let sig = plugin_method(&c, "MessagesWillBeConsumed");
        assert_eq!(params(sig), ["posts: Vec<proto::Post>"]);
        assert_eq!(sig.output.to_string(), "Vec<proto::Post>");
        assert_eq!(sig.default, DefaultAnswer::Passthrough("posts".into()));
    }

    #[test]
    fn value_hook_answers_a_tuple_of_several() {
        let c = contract(HOOKS);
        let sig = plugin_method(&c, "Tally");
        assert_eq!(sig.output.to_string(), "HookResult<(i64, proto::Report)>");
        let Answer::Fields(fields) = &sig.answer else { panic!("a value hook: {:?}", sig.answer) };
        let presence: Vec<(&str, Presence)> = fields.iter().map(|f| (f.name.as_str(), f.presence)).collect();
        assert_eq!(presence, [("count", Presence::Plain), ("report", Presence::Required)]);
        let report = RustType::named("proto::Report");
        assert_eq!(sig.default, DefaultAnswer::Values(vec![DefaultValue::Default, DefaultValue::DefaultOf(report)]));
    }

    #[test]
    fn a_modified_answer_is_optional_and_none_by_default() {
        let c = contract(HOOKS);
        let sig = plugin_method(&c, "ConfigurationWillBeSaved");
        assert_eq!(params(sig), ["new_config: proto::Config"]);
        assert_eq!(sig.output.to_string(), "HookResult<Option<proto::Config>>");
        assert_eq!(sig.default, DefaultAnswer::Values(vec![DefaultValue::None]));
    }

    #[test]
    fn notifications_answer_nothing_or_an_error() {
        let c = contract(HOOKS);
        let with_error = plugin_method(&c, "OnActivate");
        assert_eq!((with_error.output.to_string(), &with_error.answer), ("HookResult".into(), &Answer::Nothing));
        let without = plugin_method(&c, "OnCloudLimitsUpdated");
        assert_eq!((without.output.to_string(), &without.default), ("()".into(), &DefaultAnswer::Nothing));
    }

    #[test]
    fn message_arguments_are_required_unless_they_may_be_unset() {
        let c = contract(HOOKS);
        let limits = plugin_method(&c, "OnCloudLimitsUpdated");
        assert_eq!(params(limits), ["limits: Option<proto::ProductLimits>"]);
        assert_eq!(limits.params[0].from, ParamFrom::Arg { field: "limits".into(), presence: Presence::Optional });
        let joined = plugin_method(&c, "UserHasJoinedTeam");
        assert_eq!(params(joined), ["pc: &proto::PluginContext", "member: proto::User", "actor: Option<proto::User>"]);
        let from: Vec<&ParamFrom> = joined.params.iter().map(|p| &p.from).collect();
        assert_eq!(
            from,
            [
                &ParamFrom::PluginContext { field: "plugin_context".into() },
                &ParamFrom::Arg { field: "member".into(), presence: Presence::Required },
                &ParamFrom::Arg { field: "actor".into(), presence: Presence::Optional },
            ]
        );
    }

    #[test]
    fn api_params_take_plain_rust_values() {
        let c = contract(API);
        let params = |rpc: &str| match &api_method(&c, rpc).input {
            ApiInput::Params(params) => {
                params.iter().map(|p| (format!("{}: {}", p.field.rust_name, p.ty), p.into)).collect::<Vec<_>>()
            }
            ApiInput::Message(ty) => panic!("{rpc} takes the message {ty}"),
        };
        assert_eq!(
            params("KVSet"),
            [
                ("key: impl Into<String>".into(), IntoRequest::Into),
                ("value: impl Into<Vec<u8>>".into(), IntoRequest::Into)
            ]
        );
        assert_eq!(
            params("SaveSettings"),
            [
                ("settings_json: &serde_json::Value".into(), IntoRequest::JsonBytes),
                ("props: serde_json::Map<String, serde_json::Value>".into(), IntoRequest::Struct),
                ("kind: proto::Kind".into(), IntoRequest::Into),
                ("thing: proto::Thing".into(), IntoRequest::Some),
            ]
        );
        assert_eq!(params("GetThing"), [("tags: Vec<String>".into(), IntoRequest::AsIs)]);
        assert_eq!(
            params("PublishWebSocketEvent"),
            [
                ("event: impl Into<String>".into(), IntoRequest::Into),
                ("data: serde_json::Value".into(), IntoRequest::Value)
            ]
        );
    }

    #[test]
    fn api_takes_the_message_when_fields_are_many_or_a_oneof() {
        let c = contract(API);
        for (rpc, request) in [("SearchThings", "proto::SearchThingsRequest"), ("PickThing", "proto::PickThingRequest")]
        {
            assert_eq!(api_method(&c, rpc).input, ApiInput::Message(RustType::named(request)), "{rpc}");
        }
    }

    #[test]
    fn api_outputs_are_converted_for_the_caller() {
        let c = contract(API);
        let output = |rpc: &str| {
            let m = api_method(&c, rpc);
            assert!(m.alias.is_none(), "{rpc}");
            (m.ok.to_string(), m.outputs.iter().map(|o| o.from).collect::<Vec<_>>())
        };
        assert_eq!(output("KVSet"), ("()".into(), vec![]));
        assert_eq!(output("GetThing"), ("proto::Thing".into(), vec![FromResponse::Required]));
        assert_eq!(
            output("GetProps"),
            ("serde_json::Map<String, serde_json::Value>".into(), vec![FromResponse::Struct])
        );
        assert_eq!(output("GetKind"), ("proto::Kind".into(), vec![FromResponse::Enum]));
        assert_eq!(output("GetLicense"), ("serde_json::Value".into(), vec![FromResponse::JsonBytes]));
        assert_eq!(output("SearchThings"), ("Vec<proto::Thing>".into(), vec![FromResponse::AsIs]));
    }

    #[test]
    fn several_api_outputs_are_named_by_an_alias() {
        let c = contract(API);
        let m = api_method(&c, "SaveSettings");
        assert_eq!(m.ok.to_string(), "SaveSettingsOutput");
        let alias = m.alias.as_ref().expect("an alias");
        assert_eq!(
            (alias.name.as_str(), alias.tuple.to_string()),
            ("SaveSettingsOutput", "(Option<i64>, serde_json::Value)".into())
        );
        let from: Vec<FromResponse> = m.outputs.iter().map(|o| o.from).collect();
        assert_eq!(from, [FromResponse::AsIs, FromResponse::JsonBytes]);
    }

    #[test]
    fn a_field_named_like_a_name_of_the_generated_code_gets_an_underscore() {
        assert_eq!(
            param_names(&["post", "plugin", "plugin_", "cx", "request", "r#type"], HOOK_RESERVED),
            ["post", "plugin__", "plugin_", "cx_", "request", "r#type"]
        );
        assert_eq!(param_names(&["check", "key"], API_RESERVED), ["check_", "key"]);
        let c = contract(
            "service PluginHooks { rpc Clash(ClashRequest) returns (ClashResponse); }
             message ClashRequest {
               PluginContext plugin_context = 1; string pc = 2; repeated string plugin = 3; string request = 4;
             }
             message ClashResponse { repeated string plugin = 1; }",
        );
        let sig = plugin_method(&c, "Clash");
        assert_eq!(
            params(sig),
            ["pc: &proto::PluginContext", "pc_: String", "plugin_: Vec<String>", "request: String"]
        );
        assert_eq!(sig.params[2].from, ParamFrom::Arg { field: "plugin".into(), presence: Presence::Plain });
        // The answer hands the argument back: by its parameter's name.
        assert_eq!(sig.default, DefaultAnswer::Passthrough("plugin_".into()));
    }
}

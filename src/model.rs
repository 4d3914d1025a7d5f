//! The plain data model of a plugin contract: what `classify` decides and
//! what the templates and `inspect` see. No descriptors, no code strings:
//! names, facts, and Rust types as data ([`RustType`]).

use std::fmt;

/// A classified plugin contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// The proto package (`mattermost.pluginapi.v1`).
    pub package: String,
    /// The hooks service's RPCs, in proto order (including `Implemented`).
    pub hooks: Vec<Hook>,
    /// The API methods, grouped by domain, groups in a fixed order.
    pub api_groups: Vec<ApiGroup>,
    /// Services that are neither `PluginHooks` nor `PluginAPI`: reported, and
    /// given stubs, but no typed wrappers.
    pub other_services: Vec<String>,
}

impl Contract {
    /// Every API method, group by group.
    pub fn api_methods(&self) -> impl Iterator<Item = &ApiMethod> {
        self.api_groups.iter().flat_map(|group| &group.methods)
    }

    /// The hooks a plugin can implement (all but the `Implemented` query).
    pub fn plugin_hooks(&self) -> impl Iterator<Item = &Hook> {
        self.hooks.iter().filter(|hook| !matches!(hook.kind, HookKind::Implemented { .. }))
    }
}

/// One RPC of `PluginHooks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The RPC name, which is also the hook's name in `Implemented`.
    pub name: String,
    /// The tonic method name, also the `Plugin` method's (`message_will_be_posted`).
    pub method: String,
    /// The `HookName` variant (`MessageWillBePosted`).
    pub variant: String,
    /// Doc lines from the proto comment.
    pub doc: Vec<String>,
    /// Request and response message type names (Rust).
    pub request: String,
    /// See `request`.
    pub response: String,
    /// The request carries a `PluginContext`.
    pub plugin_context: bool,
    /// The request carries a `RequestContext`, which the server leaves empty.
    pub request_context: bool,
    /// The response carries an `AppError error` (the Go hook returns `error`).
    pub returns_error: bool,
    /// The request fields a handler receives (no context fields).
    pub args: Vec<Field>,
    /// What the hook answers.
    pub kind: HookKind,
    /// A hook whose plugin method runs first, inside this hook's call, its
    /// failure logged rather than answered (`OnActivate` runs
    /// `OnConfigurationChange` first, as Go's SDK does); `Implemented` then
    /// lists this hook when the plugin writes either.
    pub runs_first: Option<String>,
    /// The `Plugin` method a plugin writes for this hook; `None` for
    /// `Implemented` (the SDK answers it) and for a stream without the HTTP
    /// shape (the server gets `Unimplemented`).
    pub plugin_method: Option<PluginMethod>,
}

/// What a hook answers to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookKind {
    /// `Implemented`: the list of hooks the plugin provides.
    Implemented {
        /// The response field that lists the hook names.
        names: Field,
    },
    /// Nothing but, possibly, an error: the server is telling the plugin.
    Notification,
    /// A value the server uses (`RunDataRetention`'s count, `ExecuteCommand`'s response).
    Value {
        /// The response fields, besides `error`.
        fields: Vec<Field>,
    },
    /// Allow, replace or reject what the server is about to do.
    Veto {
        /// Fields that carry a replacement (may be empty: reject or allow only).
        replacements: Vec<Field>,
        /// The field that carries the rejection reason.
        reason: Field,
        /// The reason that asks the server to drop the subject without a
        /// word to the user, for the hooks that have one.
        dismiss: Option<String>,
    },
    /// A bidirectional stream (`ServeHTTP`).
    Streaming {
        /// The messages, when they have the shape of an HTTP exchange (an
        /// `init` with method, URL and headers, then body chunks): the SDK
        /// then bridges the stream to `http` types.
        http: Option<HttpShape>,
    },
}

/// The messages of an HTTP-over-gRPC stream, as Rust type names below `proto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpShape {
    /// The stream's request message (`ServeHttpRequest`).
    pub request: String,
    /// The stream's response message.
    pub response: String,
    /// The request's `init` message (the test kit's host builds it).
    pub request_init: String,
    /// The response's `init` message.
    pub response_init: String,
    /// The header message (`key`, `values`).
    pub header: String,
    /// Full proto paths of the body chunk fields, carried as `bytes::Bytes`
    /// so chunks pass through without copies.
    pub body_fields: Vec<String>,
}

impl HookKind {
    /// A short name for reports.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Implemented { .. } => "implemented",
            Self::Notification => "notification",
            Self::Value { .. } => "value",
            Self::Veto { .. } => "veto",
            Self::Streaming { .. } => "streaming",
        }
    }
}

/// A hook's method in the `Plugin` trait, as a plugin author writes it:
/// `async fn {method}(&self, cx: &Context, {params}) -> {output}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginMethod {
    /// The parameters after `&self, cx: &Context`, in order.
    pub params: Vec<Param>,
    /// What the method's future yields.
    pub output: RustType,
    /// How that output becomes the hook's response.
    pub answer: Answer,
    /// What the method answers when the plugin does not write it: what the
    /// server does when no plugin handles the hook.
    pub default: DefaultAnswer,
}

/// A parameter of a `Plugin` method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The Rust name (`pc`, `post`, `request`).
    pub name: String,
    /// Its type.
    pub ty: RustType,
    /// Where the SDK takes it from.
    pub from: ParamFrom,
}

impl Param {
    /// The name without a raw prefix (`r#type` → `type`).
    pub fn plain_name(&self) -> &str {
        crate::names::bare(&self.name)
    }

    /// The request field an argument comes from, without a raw prefix, as
    /// error messages name the argument.
    pub fn plain_field(&self) -> &str {
        match &self.from {
            ParamFrom::PluginContext { field } | ParamFrom::Arg { field, .. } => crate::names::bare(field),
            ParamFrom::HttpStream => self.plain_name(),
        }
    }

    /// Whether the argument comes from a request field that has another
    /// name than the parameter (the field's name is one the generated code
    /// uses itself).
    pub fn renamed(&self) -> bool {
        matches!(&self.from, ParamFrom::Arg { field, .. } if *field != self.name)
    }
}

/// Where a `Plugin` method's parameter comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamFrom {
    /// The request's `PluginContext`, in the field named here, lent to the
    /// method; an unset one reads as empty.
    PluginContext {
        /// The request field (Rust name).
        field: String,
    },
    /// A request field (one of the hook's `args`): the parameter has the
    /// field's name unless that name is one the generated code uses itself
    /// (see [`crate::classify::shape::HOOK_RESERVED`]).
    Arg {
        /// The request field (Rust name).
        field: String,
        /// Whether a message argument is always sent.
        presence: Presence,
    },
    /// The `ServeHTTP` stream, bridged to an `http::Request`.
    HttpStream,
}

/// How a message value crosses between the wire, where prost makes every
/// message field an `Option`, and a `Plugin` method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Not a message (scalars, strings, bytes, repeated fields, maps):
    /// prost's type is used as it is.
    Plain,
    /// A message that is always there, bare in the method. A request
    /// without it is refused as `InvalidArgument`; an answer is sent set.
    Required,
    /// A message that may be absent, an `Option` in the method: proto3
    /// `optional`, an argument the server may leave unset, a replacement
    /// whose `None` keeps the original.
    Optional,
}

/// How a `Plugin` method's output becomes the hook's response (besides the
/// error, when the hook has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Nothing: the response carries at most the error.
    Nothing,
    /// The response fields, in order: the output is the one field's value,
    /// or a tuple of them.
    Fields(Vec<AnswerField>),
    /// A veto hook's decision enum, converted into the response.
    Decision(Decision),
    /// The `ServeHTTP` stream, answered by the HTTP bridge.
    Http,
}

/// A response field a value hook's output fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerField {
    /// The response field (Rust name).
    pub name: String,
    /// Its type in the method's output.
    pub ty: RustType,
    /// Whether a message answer is always set or may be left unset.
    pub presence: Presence,
}

/// What a `Plugin` method answers when the plugin does not write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultAnswer {
    /// Nothing (`()`, or `Ok(())` for a hook that can fail).
    Nothing,
    /// One value per answer field (a tuple when several).
    Values(Vec<DefaultValue>),
    /// The argument of this name, handed back unchanged.
    Passthrough(String),
    /// The decision enum's `Allow` (the enum is named here).
    Allow {
        /// The decision enum's name.
        decision: String,
    },
    /// The HTTP bridge's 404.
    NotFound,
}

/// The default of one answer field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultValue {
    /// `Default::default()`.
    Default,
    /// `None`: an optional answer left unset.
    None,
    /// `T::default()` for this type (a message that is always answered).
    DefaultOf(RustType),
}

/// A veto hook's decision enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The enum's name (`MessageWillBePostedDecision`).
    pub name: String,
    /// The response field that carries the rejection reason (Rust name).
    pub reason_field: String,
    /// The variants, `Allow` (the default) first.
    pub variants: Vec<DecisionVariant>,
}

/// A variant of a decision enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionVariant {
    /// `Allow`: let it through unchanged.
    Allow,
    /// `Replace(T)`: let it through, replaced by the one replacement.
    Replace(Replacement),
    /// `Replace { a, b }`: let it through with these replacements, each
    /// optional on its own.
    ReplaceFields(Vec<Replacement>),
    /// `Reject(String)`: refuse it, with the reason the user is shown.
    Reject,
    /// `Dismiss`: drop it without a word, by sending this reason.
    Dismiss {
        /// The reason the server reads as "dismiss".
        reason: String,
    },
}

/// A replacement a decision carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// Its name in a `Replace { … }` variant (`file_info` for `modified_file_info`).
    pub name: String,
    /// The response field it sets.
    pub field: Field,
    /// Its type in the variant.
    pub ty: RustType,
    /// A message boxed in the variant (a decision is mostly `Allow`, and a
    /// message is hundreds of bytes), unboxed into the response.
    pub boxed: bool,
}

/// API methods of one domain, served as one trait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiGroup {
    /// Snake-case group name (`users`), also the module name.
    pub name: String,
    /// The trait's name (`UsersApi`).
    pub trait_name: String,
    /// One line on what the group covers.
    pub summary: String,
    /// The methods, in proto order.
    pub methods: Vec<ApiMethod>,
}

/// One RPC of `PluginAPI`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiMethod {
    /// The RPC name (`GetUser`).
    pub name: String,
    /// The tonic method name, also the typed wrapper's (`get_user`).
    pub method: String,
    /// Doc lines from the proto comment.
    pub doc: Vec<String>,
    /// Request message type name (Rust).
    pub request: String,
    /// Response message type name (Rust).
    pub response: String,
    /// How the caller passes the request.
    pub input: ApiInput,
    /// The response fields besides `error`, in field order.
    pub outputs: Vec<ApiOutput>,
    /// What the method returns inside `Result<_, Error>`: `()`, the one
    /// output's type, or the name of the tuple alias of several.
    pub ok: RustType,
    /// For several outputs, the tuple alias that names them.
    pub alias: Option<OutputAlias>,
    /// The response has the `AppError error` field.
    pub response_has_error: bool,
    /// The server reports this method's application errors in the
    /// response's `error` field (otherwise as a gRPC status).
    pub error_in_response: bool,
    /// The request carries `bytes`, so it may run into the server's request
    /// size limit (4 MiB on the real host); its docs say so.
    pub large_payload: bool,
    /// This is the API's `PluginHTTP`, which the SDK's `http::send` calls.
    pub plugin_http: bool,
}

/// How a typed API method takes its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiInput {
    /// Each request field is a parameter.
    Params(Vec<ApiParam>),
    /// The request has too many fields (or a oneof): the caller builds the
    /// request message itself, with `..Default::default()`. The parameter
    /// (`request`) has this type.
    Message(RustType),
}

/// A parameter of a typed API method: one request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiParam {
    /// The parameter's name: the field's Rust name, unless the client's
    /// code calls something of that name (see
    /// [`crate::classify::shape::API_RESERVED`]).
    pub name: String,
    /// The request field.
    pub field: Field,
    /// The parameter's type.
    pub ty: RustType,
    /// How the parameter becomes the field's value.
    pub into: IntoRequest,
}

/// How an API parameter becomes its request field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntoRequest {
    /// As it is.
    AsIs,
    /// `.into()`: an `impl Into<String>`, an `impl Into<Vec<u8>>`, an enum's `i32`.
    Into,
    /// `Some(…)`: a message.
    Some,
    /// A JSON value serialized into `bytes`.
    JsonBytes,
    /// A JSON object into a `google.protobuf.Struct`.
    Struct,
    /// A JSON value into a `google.protobuf.Value`.
    Value,
}

/// A response field a typed API method returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiOutput {
    /// The response field.
    pub field: Field,
    /// The type the caller gets.
    pub ty: RustType,
    /// How the field's value becomes that.
    pub from: FromResponse,
}

/// How a response field becomes what an API method returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromResponse {
    /// As it is.
    AsIs,
    /// `bytes` parsed as JSON; fails on bad JSON.
    JsonBytes,
    /// An enum's `i32` checked against the enum; fails on an unknown value.
    Enum,
    /// A message that must be there; fails when it is not.
    Required,
    /// A `google.protobuf.Struct` as a JSON object; unset is empty.
    Struct,
    /// A `google.protobuf.Value` as JSON; unset is `null`.
    Value,
}

impl FromResponse {
    /// The conversion can fail (it is followed by `?`).
    pub fn fallible(self) -> bool {
        matches!(self, Self::JsonBytes | Self::Enum | Self::Required)
    }
}

/// The tuple alias of an API method with several outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputAlias {
    /// Its name (`GetIconOutput`).
    pub name: String,
    /// The tuple it names, in field order.
    pub tuple: RustType,
}

/// A message field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Proto field name.
    pub name: String,
    /// Rust field name, as prost spells it.
    pub rust_name: String,
    /// Field number.
    pub number: i32,
    /// Type.
    pub ty: Ty,
    /// Single, optional or repeated.
    pub card: Card,
    /// Doc lines from the proto comment.
    pub doc: Vec<String>,
}

/// Field cardinality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    /// Plain proto3 field (message fields are `Option` in prost).
    Single,
    /// `optional` scalar (an `Option` in prost).
    Optional,
    /// `repeated` (a `Vec`), or a map when the type is `Ty::Map`.
    Repeated,
}

/// A field type, as a plugin author sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// A scalar with the given Rust type (`bool`, `i64`, …).
    Scalar(&'static str),
    /// `string`.
    String,
    /// `bytes`.
    Bytes,
    /// `bytes` that carry JSON (the field name ends in `_json`).
    JsonBytes,
    /// An enum (prost stores it as `i32`); the Rust type path below `proto`.
    Enum(String),
    /// A message; its Rust type path below `proto` (or `::prost_types::…`).
    Message(String),
    /// `google.protobuf.Struct`: a JSON object.
    Struct,
    /// `google.protobuf.Value`: any JSON value.
    Value,
    /// A `google.protobuf.*Value` wrapper around the scalar given: an optional scalar.
    Wrapper(&'static str),
    /// `map<K, V>`.
    Map(Box<Ty>, Box<Ty>),
}

impl Ty {
    /// How the type reads in reports (`string`, `User`, `map<string, i64>`).
    pub fn describe(&self) -> String {
        match self {
            Self::Scalar(s) => (*s).to_owned(),
            Self::String => "string".into(),
            Self::Bytes => "bytes".into(),
            Self::JsonBytes => "json-bytes".into(),
            Self::Enum(p) | Self::Message(p) => p.clone(),
            Self::Struct => "json-object".into(),
            Self::Value => "json-value".into(),
            Self::Wrapper(s) => format!("{s}?"),
            Self::Map(k, v) => format!("map<{}, {}>", k.describe(), v.describe()),
        }
    }
}

impl Field {
    /// The Rust name without a raw prefix (`r#type` → `type`), as error
    /// messages name the field.
    pub fn plain_name(&self) -> &str {
        crate::names::bare(&self.rust_name)
    }

    /// How the field's type reads in reports (`repeated string`, `optional i64`).
    pub fn describe(&self) -> String {
        match (self.card, &self.ty) {
            (_, Ty::Map(..)) | (Card::Single, _) => self.ty.describe(),
            (Card::Optional, ty) => format!("optional {}", ty.describe()),
            (Card::Repeated, ty) => format!("repeated {}", ty.describe()),
        }
    }
}

/// A Rust type, as the generated code spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RustType {
    /// A type by its path, with its generic arguments if any (`String`,
    /// `proto::Post`, `serde_json::Map<String, serde_json::Value>`).
    Named {
        /// The path.
        path: String,
        /// Generic arguments.
        args: Vec<RustType>,
    },
    /// `Option<T>`.
    Option(Box<RustType>),
    /// `Vec<T>`.
    Vec(Box<RustType>),
    /// `Box<T>`.
    Box(Box<RustType>),
    /// `std::collections::HashMap<K, V>`.
    HashMap(Box<RustType>, Box<RustType>),
    /// `&T`.
    Ref(Box<RustType>),
    /// `impl Into<T>`: a parameter that takes anything convertible.
    ImplInto(Box<RustType>),
    /// `(A, B)`; `()` when empty.
    Tuple(Vec<RustType>),
    /// The SDK's `HookResult<T>`, written `HookResult` for `()`.
    HookResult(Box<RustType>),
}

impl RustType {
    /// A type by its path, without generic arguments.
    pub fn named(path: impl Into<String>) -> Self {
        Self::Named { path: path.into(), args: vec![] }
    }

    /// `()`.
    pub fn unit() -> Self {
        Self::Tuple(vec![])
    }

    /// `Option<self>`.
    pub fn option(self) -> Self {
        Self::Option(Box::new(self))
    }

    /// `Vec<self>`.
    pub fn vec(self) -> Self {
        Self::Vec(Box::new(self))
    }

    /// `Box<self>`.
    pub fn boxed(self) -> Self {
        Self::Box(Box::new(self))
    }

    /// `&self`.
    pub fn by_ref(self) -> Self {
        Self::Ref(Box::new(self))
    }

    /// `impl Into<self>`.
    pub fn impl_into(self) -> Self {
        Self::ImplInto(Box::new(self))
    }

    /// `HookResult<self>`.
    pub fn hook_result(self) -> Self {
        Self::HookResult(Box::new(self))
    }

    /// `()`.
    pub fn is_unit(&self) -> bool {
        matches!(self, Self::Tuple(items) if items.is_empty())
    }
}

impl fmt::Display for RustType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, items: &[RustType]) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            Ok(())
        }
        match self {
            Self::Named { path, args } if args.is_empty() => f.write_str(path),
            Self::Named { path, args } => {
                write!(f, "{path}<")?;
                list(f, args)?;
                f.write_str(">")
            }
            Self::Option(inner) => write!(f, "Option<{inner}>"),
            Self::Vec(inner) => write!(f, "Vec<{inner}>"),
            Self::Box(inner) => write!(f, "Box<{inner}>"),
            Self::HashMap(key, value) => write!(f, "std::collections::HashMap<{key}, {value}>"),
            Self::Ref(inner) => write!(f, "&{inner}"),
            Self::ImplInto(inner) => write!(f, "impl Into<{inner}>"),
            Self::Tuple(items) => {
                f.write_str("(")?;
                list(f, items)?;
                f.write_str(if items.len() == 1 { ",)" } else { ")" })
            }
            Self::HookResult(inner) if inner.is_unit() => f.write_str("HookResult"),
            Self::HookResult(inner) => write!(f, "HookResult<{inner}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RustType;

    #[test]
    fn rust_types_print_as_rust() {
        let string = || RustType::named("String");
        let json = RustType::named("serde_json::Value");
        let map = RustType::Named { path: "serde_json::Map".into(), args: vec![string(), json.clone()] };
        for (ty, expected) in [
            (RustType::unit(), "()"),
            (RustType::unit().hook_result(), "HookResult"),
            (RustType::named("proto::Post").boxed().option().hook_result(), "HookResult<Option<Box<proto::Post>>>"),
            (RustType::named("u8").vec().impl_into(), "impl Into<Vec<u8>>"),
            (json.by_ref(), "&serde_json::Value"),
            (map, "serde_json::Map<String, serde_json::Value>"),
            (RustType::HashMap(Box::new(string()), Box::new(string())), "std::collections::HashMap<String, String>"),
            (RustType::Tuple(vec![string()]), "(String,)"),
            (RustType::Tuple(vec![RustType::named("i64").option(), string()]), "(Option<i64>, String)"),
        ] {
            assert_eq!(ty.to_string(), expected);
        }
    }
}

//! The plain data model of a plugin contract: what `classify` decides and
//! what the templates see. No descriptors, no code strings: names and facts.

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
    /// The tonic method name (`message_will_be_posted`).
    pub method: String,
    /// Doc lines from the proto comment.
    pub doc: Vec<String>,
    /// Request and response message type names (Rust).
    pub request: String,
    /// See `request`.
    pub response: String,
    /// The request carries a `PluginContext`.
    pub plugin_context: bool,
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
    /// The request's `init` message.
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
    pub outputs: Vec<Field>,
    /// The response has the `AppError error` field.
    pub response_has_error: bool,
    /// The request carries `bytes`, so it may run into the server's request
    /// size limit (4 MiB on the real host); its docs say so.
    pub large_payload: bool,
}

/// How a typed API method takes its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiInput {
    /// Each request field is a parameter.
    Params(Vec<Field>),
    /// The request has too many fields (or a oneof): the caller builds the
    /// request message itself, with `..Default::default()`.
    Message,
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
    /// How the field's type reads in reports (`repeated string`, `optional i64`).
    pub fn describe(&self) -> String {
        match (self.card, &self.ty) {
            (_, Ty::Map(..)) | (Card::Single, _) => self.ty.describe(),
            (Card::Optional, ty) => format!("optional {}", ty.describe()),
            (Card::Repeated, ty) => format!("repeated {}", ty.describe()),
        }
    }
}

//! Classify: turn compiled descriptors into the plain [`Contract`] model.
//!
//! Every decision about the contract's meaning lives here: which service is
//! which, each hook's shape, the API's domain groups, and how a request is
//! passed. The rules use names from the contract only (services, RPCs,
//! fields), so a new RPC in the protos is classified without code changes;
//! the few facts the protos cannot say (which reason dismisses a post,
//! which argument Go may send as nil) are named constants below.
//!
//! The [`shape`] step then decides how each hook and API method reads in
//! Rust (parameter names and types, outputs, decision enums), so `render`
//! and `inspect` print the same model.

use std::collections::HashMap;

use prost_types::{
    DescriptorProto, FileDescriptorProto, FileDescriptorSet, SourceCodeInfo,
    field_descriptor_proto::{Label, Type},
};

use crate::model::{ApiGroup, ApiMethod, ApiOutput, Card, Contract, Field, Hook, HookKind, HttpShape, Presence, Ty};
use crate::names::{snake, upper_camel};

pub mod shape;

/// The service the plugin serves and the server calls.
pub const HOOKS_SERVICE: &str = "PluginHooks";
/// The service the server serves and the plugin calls.
pub const API_SERVICE: &str = "PluginAPI";
/// An API request with more fields than this is passed as the request message.
pub const MAX_PARAMS: usize = 4;
/// Activation as Go plugins get it: the hook the server calls to activate a
/// plugin, and the hook whose plugin method runs first inside it. Go's SDK
/// loads the configuration inside `OnActivate`, and the gRPC host never
/// calls `OnConfigurationChange` at start (`runtime/src/host_rules.md`, "Start sequence"), so
/// an SDK that did not do the same would ignore the admin's settings until
/// the next config save.
pub const ACTIVATION: (&str, &str) = ("OnActivate", "OnConfigurationChange");
/// Veto hooks whose subject the plugin may drop without a word to the
/// user, and the rejection reason the server reads as "dismiss" (Go's
/// `plugin.DismissPostError`; `runtime/src/host_rules.md`, "Services and shapes": the server drops the post without telling its author).
pub const DISMISS: &[(&str, &str)] = &[("MessageWillBePosted", "plugin.message_will_be_posted.dismiss_post")];
/// Message arguments the server may leave unset (a nil pointer in Go:
/// `OnCloudLimitsUpdated` is called with no limits when there are none), so
/// the plugin gets an `Option`. Every other message argument is always
/// sent; a request without one is refused as `InvalidArgument`.
pub const MAY_BE_UNSET: &[(&str, &str)] = &[("OnCloudLimitsUpdated", "limits")];
/// A response message named `modified_…` replaces what the server had, and
/// unset keeps the original (`ConfigurationWillBeSaved`'s `modified_config`,
/// a veto hook's `modified_post`): the plugin answers an `Option`, and a
/// decision names the replacement without the prefix (`Replace { file_info }`).
pub const REPLACEMENT_PREFIX: &str = "modified_";
/// The API method that sends an HTTP request to the server or to another
/// plugin (Go: `PluginHTTP(*http.Request) *http.Response`), which the SDK's
/// `http::send` wraps: its name, its request fields and its response fields
/// besides `error`, in order. A method of that name with other fields is an
/// ordinary method.
pub const PLUGIN_HTTP: (&str, &[&str], &[&str]) =
    ("PluginHTTP", &["method", "url", "headers", "body"], &["status_code", "headers", "body"]);
/// The API methods whose server-side handlers report an application error
/// in the response's `error` field, with status OK: those of the host's KV,
/// post and file handlers (mattermost/mattermost,
/// `server/public/pluginapi/grpc/server/api_kv.go`, `api_post.go`,
/// `api_file.go`). Every other handler answers a gRPC status instead
/// (`runtime/src/host_rules.md`, "The plugin API's answers"). The client
/// reads both; the test kit's fake server answers each method in its host's
/// form.
pub const ERROR_IN_RESPONSE: &[&str] = &[
    // KV
    "KVSet",
    "KVCompareAndSet",
    "KVCompareAndDelete",
    "KVSetWithOptions",
    "KVSetWithExpiry",
    "KVGet",
    "KVDelete",
    "KVDeleteAll",
    "KVList",
    // Posts
    "CreatePost",
    "AddReaction",
    "RemoveReaction",
    "GetReactions",
    "DeletePost",
    "GetPostThread",
    "GetPost",
    "GetPostsSince",
    "GetPostsAfter",
    "GetPostsBefore",
    "GetPostsForChannel",
    "UpdatePost",
    "SearchPostsInTeam",
    "SearchPostsInTeamForUser",
    // Files
    "CopyFileInfos",
    "GetFileInfo",
    "SetFileSearchableContent",
    "GetFileInfos",
    "GetFile",
    "GetFileLink",
    "ReadFile",
    "UploadFile",
];

/// Why descriptors do not make a plugin contract.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClassifyError {
    /// The files declare no package besides the well-known types.
    #[error("the protos declare no package: the contract needs one (e.g. `package mattermost.pluginapi.v1;`)")]
    NoPackage,
    /// The SDK puts one package in one module; several would need several.
    #[error("the protos declare several packages ({0}); the plugin contract is one package")]
    SeveralPackages(String),
    /// A type is referenced that no file defines (protox would normally catch this).
    #[error("{rpc}: unknown message type `{ty}`")]
    UnknownType {
        /// Where it is used.
        rpc: String,
        /// The type name.
        ty: String,
    },
    /// The protos use something the SDK cannot generate code for, which
    /// would otherwise make an SDK that does not compile.
    #[error("{file}:{line}:{col}: {reason}")]
    Unsupported {
        /// The file, by its name among the sources.
        file: String,
        /// 1-based line of the construct.
        line: usize,
        /// 1-based column of the construct.
        col: usize,
        /// What is not supported, and what to do instead.
        reason: String,
    },
}

impl ClassifyError {
    /// `reason`, located at the first of the descriptor `paths` of `file`
    /// that its source info has (its start), else at the file's first line.
    fn unsupported(file: &FileDescriptorProto, paths: &[&[i32]], reason: String) -> Self {
        let locations = file.source_code_info.as_ref().map_or(&[][..], |info| info.location.as_slice());
        let span = paths.iter().find_map(|path| locations.iter().find(|l| l.path == *path)).map(|l| l.span.as_slice());
        let (line, col) = match span {
            Some([line, col, ..]) => (*line as usize + 1, *col as usize + 1),
            _ => (1, 1),
        };
        Self::Unsupported { file: file.name().to_owned(), line, col, reason }
    }
}

/// The one `syntax` the contract may declare: prost gives proto2 fields
/// other Rust types (every scalar an `Option`, `required` fields bare) than
/// the SDK's shapes assume.
const SYNTAX: &str = "proto3";

/// Refuses a file of the contract package that is not [`SYNTAX`], at its
/// `syntax` statement (or its first line when it has none: proto2 by default).
fn check_syntax(file: &FileDescriptorProto) -> Result<(), ClassifyError> {
    // FileDescriptorProto.syntax is field 12; empty means proto2.
    const SYNTAX_PATH: &[i32] = &[12];
    let syntax = if file.syntax().is_empty() { "proto2" } else { file.syntax() };
    if syntax == SYNTAX {
        return Ok(());
    }
    Err(ClassifyError::unsupported(
        file,
        &[SYNTAX_PATH],
        format!(
            "syntax \"{syntax}\" is not supported: the plugin contract is proto3 (prost gives {syntax} fields \
             other Rust types than the SDK is written for); declare `syntax = \"proto3\";`"
        ),
    ))
}

/// Builds the contract model from a compiled descriptor set.
pub fn classify(fds: &FileDescriptorSet) -> Result<Contract, ClassifyError> {
    let package = contract_package(fds)?;
    let index = Index::new(fds, &package);
    let mut contract = Contract { package: package.clone(), hooks: vec![], api_groups: vec![], other_services: vec![] };
    let mut api = vec![];
    for file in fds.file.iter().filter(|f| f.package() == package) {
        check_syntax(file)?;
        for (si, service) in file.service.iter().enumerate() {
            let methods = service.method.iter().enumerate().map(|(mi, method)| {
                let doc = comments(file.source_code_info.as_ref(), &[6, si as i32, 2, mi as i32]);
                let rpc = format!("{}.{}", service.name(), method.name());
                let request = index.message(method.input_type(), &rpc)?;
                let response = index.message(method.output_type(), &rpc)?;
                let streaming = (method.client_streaming() || method.server_streaming())
                    .then(|| http_shape(&index, method.input_type(), method.output_type()));
                Ok((method.name(), doc, request, response, streaming))
            });
            match service.name() {
                HOOKS_SERVICE => {
                    for m in methods {
                        let (name, doc, req, resp, streaming) = m?;
                        contract.hooks.push(hook(&index, name, doc, req, resp, streaming));
                    }
                }
                API_SERVICE => {
                    for (mi, m) in methods.enumerate() {
                        let (name, doc, req, resp, streaming) = m?;
                        if streaming.is_some() {
                            let method = &service.method[mi];
                            // The first `stream`: before the request (field 5) or the response (field 6).
                            let at = if method.client_streaming() { 5 } else { 6 };
                            let rpc = [6, si as i32, 2, mi as i32];
                            return Err(ClassifyError::unsupported(
                                file,
                                &[&[&rpc[..], &[at]].concat(), &rpc],
                                format!(
                                    "{API_SERVICE}.{name}: a streaming API method is not supported: the SDK's \
                                     client and test kit send each {API_SERVICE} method one request and read one \
                                     response; make it unary, or move it to another service (which gets raw stubs only)"
                                ),
                            ));
                        }
                        api.push(api_method(&index, name, doc, req, resp));
                    }
                }
                other => contract.other_services.push(other.to_owned()),
            }
        }
    }
    contract.api_groups = group(api);
    link_activation(&mut contract.hooks);
    Ok(contract)
}

/// Applies [`ACTIVATION`] when both hooks are there and the one that runs
/// first can run without arguments and answers nothing but an error.
fn link_activation(hooks: &mut [Hook]) {
    let (activate, first) = ACTIVATION;
    let runnable = hooks
        .iter()
        .any(|h| h.name == first && h.args.is_empty() && !h.plugin_context && matches!(h.kind, HookKind::Notification));
    if let Some(hook) = hooks.iter_mut().find(|h| h.name == activate && matches!(h.kind, HookKind::Notification))
        && runnable
    {
        hook.runs_first = Some(first.to_owned());
    }
}

fn contract_package(fds: &FileDescriptorSet) -> Result<String, ClassifyError> {
    let mut packages: Vec<&str> =
        fds.file.iter().map(FileDescriptorProto::package).filter(|p| !p.starts_with("google.protobuf")).collect();
    packages.sort_unstable();
    packages.dedup();
    match packages.as_slice() {
        [] => Err(ClassifyError::NoPackage),
        [one] => Ok((*one).to_owned()),
        several => Err(ClassifyError::SeveralPackages(several.join(", "))),
    }
}

/// `streaming` is `None` for a unary hook, and for a streaming one the HTTP
/// shape of its messages, if they have one.
fn hook(
    index: &Index,
    name: &str,
    doc: Vec<String>,
    req: &MessageInfo,
    resp: &MessageInfo,
    streaming: Option<Option<HttpShape>>,
) -> Hook {
    let is_type = |f: &Field, ty: &str| matches!(&f.ty, Ty::Message(p) if p == ty);
    let request_fields = index.fields(req);
    let response_fields = index.fields(resp);
    let context = request_fields.iter().find(|f| is_type(f, "PluginContext")).cloned();
    let request_context = request_fields.iter().any(|f| is_type(f, "RequestContext"));
    let returns_error = response_fields.iter().any(|f| f.name == "error" && is_type(f, "AppError"));
    let args: Vec<Field> =
        request_fields.into_iter().filter(|f| !is_type(f, "PluginContext") && !is_type(f, "RequestContext")).collect();
    // Only the `AppError error` is the hook's error; an `error` of another type is an answer.
    let mut answers: Vec<Field> =
        response_fields.into_iter().filter(|f| !(f.name == "error" && is_type(f, "AppError"))).collect();
    let kind = if let Some(http) = streaming.clone() {
        HookKind::Streaming { http }
    } else if let Some(at) = (name == "Implemented")
        .then(|| answers.iter().position(|f| f.card == Card::Repeated && f.ty == Ty::String))
        .flatten()
    {
        HookKind::Implemented { names: answers.remove(at) }
    } else if let Some(at) = answers.iter().position(|f| f.name == "rejection_reason" && f.ty == Ty::String) {
        let reason = answers.remove(at);
        let dismiss = DISMISS.iter().find(|(hook, _)| *hook == name).map(|(_, reason)| (*reason).to_owned());
        HookKind::Veto { replacements: answers, reason, dismiss }
    } else if answers.is_empty() {
        HookKind::Notification
    } else {
        HookKind::Value { fields: answers }
    };
    let mut hook = Hook {
        name: name.to_owned(),
        method: snake(name),
        variant: upper_camel(name),
        doc,
        request: req.rust.clone(),
        response: resp.rust.clone(),
        plugin_context: context.is_some(),
        request_context,
        returns_error,
        args: if streaming.is_some() { vec![] } else { args },
        kind,
        runs_first: None,
        plugin_method: None,
    };
    hook.plugin_method = shape::plugin_method(&hook, context.as_ref());
    hook
}

/// Whether a hook's message argument is always sent: not when the proto
/// marks it `optional` or it is one of [`MAY_BE_UNSET`]; [`Presence::Plain`]
/// for any argument that is not a message.
pub fn arg_presence(hook: &str, arg: &Field) -> Presence {
    match (arg.card, &arg.ty) {
        (Card::Optional, Ty::Message(_)) => Presence::Optional,
        (Card::Single, Ty::Message(_)) if MAY_BE_UNSET.contains(&(hook, arg.name.as_str())) => Presence::Optional,
        (Card::Single, Ty::Message(_)) => Presence::Required,
        _ => Presence::Plain,
    }
}

/// Whether a value hook's message answer must be set, or may be left unset:
/// when the proto marks it `optional` or it is a replacement
/// ([`REPLACEMENT_PREFIX`]); [`Presence::Plain`] for any answer that is not a message.
pub fn answer_presence(answer: &Field) -> Presence {
    match (answer.card, &answer.ty) {
        (Card::Optional, Ty::Message(_)) => Presence::Optional,
        (Card::Single, Ty::Message(_)) if answer.name.starts_with(REPLACEMENT_PREFIX) => Presence::Optional,
        (Card::Single, Ty::Message(_)) => Presence::Required,
        _ => Presence::Plain,
    }
}

/// A replacement's name in a decision: the field's without [`REPLACEMENT_PREFIX`]
/// (`modified_file_info` → `file_info`), as the variant already says "replace".
pub fn replacement_name(field: &Field) -> String {
    field.rust_name.strip_prefix(REPLACEMENT_PREFIX).unwrap_or(&field.rust_name).to_owned()
}

/// The argument a value hook hands back unchanged when the plugin does not
/// write it: a hook whose one answer has the name and type of an argument
/// filters or edits that argument (`MessagesWillBeConsumed` answers the
/// posts to deliver), so by default it delivers it as it came.
pub fn passthrough<'a>(args: &'a [Field], answers: &[Field]) -> Option<&'a Field> {
    let [answer] = answers else { return None };
    args.iter().find(|a| a.name == answer.name && a.ty == answer.ty && a.card == answer.card)
}

/// Whether an API method is [`PLUGIN_HTTP`].
fn is_plugin_http(name: &str, params: Option<&[Field]>, outputs: &[Field]) -> bool {
    let (rpc, request, response) = PLUGIN_HTTP;
    let names = |fields: &[Field]| fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
    name == rpc && params.is_some_and(|p| names(p) == request) && names(outputs) == response
}

/// The HTTP shape of a stream's messages: every field the SDK's HTTP bridge
/// reads or writes must be there with its type, or there is no bridge.
fn http_shape(index: &Index, request: &str, response: &str) -> Option<HttpShape> {
    use prost_types::FieldDescriptorProto;
    let message = |full: &str| index.messages.get(full);
    let field = |m: &MessageInfo<'_>, name: &str, ty: Type, repeated: bool| -> Option<FieldDescriptorProto> {
        let f = m.desc.field.iter().find(|f| f.name() == name)?;
        (f.r#type() == ty && (f.label() == Label::Repeated) == repeated).then(|| f.clone())
    };
    let has = |m: &MessageInfo<'_>, fields: &[(&str, Type, bool)]| {
        fields.iter().all(|(name, ty, repeated)| field(m, name, *ty, *repeated).is_some())
    };
    let (req, resp) = (message(request)?, message(response)?);
    let body = [("body_chunk", Type::Bytes, false), ("body_complete", Type::Bool, false)];
    if !has(req, &body) || !has(resp, &body) || !has(resp, &[("flush", Type::Bool, false)]) {
        return None;
    }
    let req_init = message(field(req, "init", Type::Message, false)?.type_name())?;
    let resp_init = message(field(resp, "init", Type::Message, false)?.type_name())?;
    let strings = ["method", "url", "host", "remote_addr", "request_uri"].map(|n| (n, Type::String, false));
    let numbers = [
        ("proto_major", Type::Int32, false),
        ("proto_minor", Type::Int32, false),
        ("content_length", Type::Int64, false),
    ];
    if !has(req_init, &strings) || !has(req_init, &numbers) || !has(resp_init, &[("status_code", Type::Int32, false)]) {
        return None;
    }
    let context = field(req_init, "plugin_context", Type::Message, false)?;
    if !context.type_name().ends_with(".PluginContext") {
        return None;
    }
    let header_type = field(req_init, "headers", Type::Message, true)?.type_name().to_owned();
    if field(resp_init, "headers", Type::Message, true)?.type_name() != header_type {
        return None;
    }
    let header = message(&header_type)?;
    if !has(header, &[("key", Type::String, false), ("values", Type::String, true)]) {
        return None;
    }
    Some(HttpShape {
        request: req.rust.clone(),
        response: resp.rust.clone(),
        request_init: req_init.rust.clone(),
        response_init: resp_init.rust.clone(),
        header: header.rust.clone(),
        body_fields: vec![format!("{request}.body_chunk"), format!("{response}.body_chunk")],
    })
}

fn api_method(index: &Index, name: &str, doc: Vec<String>, req: &MessageInfo, resp: &MessageInfo) -> ApiMethod {
    let request_fields = index.fields(req);
    let has_oneof = req.desc.field.iter().any(|f| f.oneof_index.is_some() && !f.proto3_optional());
    let params = (request_fields.len() <= MAX_PARAMS && !has_oneof).then_some(request_fields);
    let large_payload = req.desc.field.iter().any(|f| f.r#type() == Type::Bytes);
    let response_fields = index.fields(resp);
    let response_has_error = response_fields.iter().any(|f| f.name == "error");
    let outputs: Vec<Field> = response_fields.into_iter().filter(|f| f.name != "error").collect();
    let plugin_http = is_plugin_http(name, params.as_deref(), &outputs);
    let outputs: Vec<ApiOutput> = outputs.into_iter().map(shape::api_output).collect();
    let (ok, alias) = shape::api_ok(name, &outputs);
    ApiMethod {
        name: name.to_owned(),
        method: snake(name),
        doc,
        request: req.rust.clone(),
        response: resp.rust.clone(),
        input: shape::api_input(&req.rust, params),
        outputs,
        ok,
        alias,
        error_in_response: response_has_error && ERROR_IN_RESPONSE.contains(&name),
        response_has_error,
        large_payload,
        plugin_http,
    }
}

/// One domain group: its name, trait, summary, and the keywords that claim a
/// method for it. Keywords are snake-case word sequences matched against the
/// method name's words.
struct GroupRule {
    name: &'static str,
    trait_name: &'static str,
    summary: &'static str,
    /// Domain words that decide the group wherever they stand (`KVSet`,
    /// `ShareChannel`, `CreateUploadSession`).
    strong: &'static [&'static str],
    /// Broad nouns (users, teams, channels, posts, plugins): used when no
    /// strong word is present, the earliest one winning (`GetUsersInChannel`
    /// is about users, `GetChannelMembersForUser` about channels).
    weak: &'static [&'static str],
}

const GROUP_RULES: &[GroupRule] = &[
    GroupRule {
        name: "users",
        trait_name: "UsersApi",
        summary: "Users, their statuses, sessions, access tokens and profile images.",
        strong: &[],
        weak: &["user", "users", "session", "profile_image"],
    },
    GroupRule {
        name: "teams",
        trait_name: "TeamsApi",
        summary: "Teams, team members and team icons.",
        strong: &[],
        weak: &["team", "teams"],
    },
    GroupRule {
        name: "channels",
        trait_name: "ChannelsApi",
        summary: "Channels, direct and group messages, channel members and sidebar categories.",
        strong: &["group_channel"],
        weak: &["channel", "channels"],
    },
    GroupRule {
        name: "posts",
        trait_name: "PostsApi",
        summary: "Posts, ephemeral posts, threads and reactions.",
        strong: &[],
        weak: &["post", "posts", "reaction", "reactions"],
    },
    GroupRule {
        name: "files",
        trait_name: "FilesApi",
        summary: "Files, file infos and resumable uploads.",
        strong: &["file", "files", "upload"],
        weak: &[],
    },
    GroupRule {
        name: "kv",
        trait_name: "KvStoreApi",
        summary: "The plugin's key-value store.",
        strong: &["kv"],
        weak: &[],
    },
    GroupRule { name: "bots", trait_name: "BotsApi", summary: "Bot accounts.", strong: &["bot", "bots"], weak: &[] },
    GroupRule {
        name: "config",
        trait_name: "ConfigApi",
        summary: "Server configuration and the plugin's own configuration.",
        strong: &["config", "configuration"],
        weak: &[],
    },
    GroupRule {
        name: "commands",
        trait_name: "CommandsApi",
        summary: "Slash commands.",
        strong: &["command", "commands"],
        weak: &[],
    },
    GroupRule {
        name: "plugins",
        trait_name: "PluginsApi",
        summary: "Installed plugins, this plugin's identity and plugin-to-plugin HTTP.",
        strong: &[],
        weak: &["plugin", "plugins", "bundle"],
    },
    GroupRule {
        name: "groups",
        trait_name: "GroupsApi",
        summary: "User groups, their members and syncables.",
        strong: &["group", "groups", "syncable", "syncables"],
        weak: &[],
    },
    GroupRule {
        name: "properties",
        trait_name: "PropertiesApi",
        summary: "Property groups, fields and values.",
        strong: &["property"],
        weak: &[],
    },
    GroupRule {
        name: "shared_channels",
        trait_name: "SharedChannelsApi",
        summary: "Shared channels and remote clusters.",
        strong: &["shared", "share", "unshare", "remote"],
        weak: &[],
    },
    GroupRule {
        name: "preferences",
        trait_name: "PreferencesApi",
        summary: "User preferences.",
        strong: &["preference", "preferences"],
        weak: &[],
    },
    GroupRule { name: "oauth", trait_name: "OAuthApi", summary: "OAuth apps.", strong: &["o_auth"], weak: &[] },
    GroupRule { name: "emoji", trait_name: "EmojiApi", summary: "Custom emoji.", strong: &["emoji"], weak: &[] },
    GroupRule {
        name: "permissions",
        trait_name: "PermissionsApi",
        summary: "Permission checks and role grants.",
        strong: &["permission"],
        weak: &[],
    },
    GroupRule {
        name: "system",
        trait_name: "SystemApi",
        summary: "The server: version, license, telemetry ids, cloud limits.",
        strong: &["license", "enterprise", "server_version", "system", "diagnostic", "telemetry", "cloud"],
        weak: &[],
    },
    GroupRule {
        name: "logging",
        trait_name: "LoggingApi",
        summary: "The server log and audit records.",
        strong: &["log"],
        weak: &[],
    },
    GroupRule {
        name: "events",
        trait_name: "EventsApi",
        summary: "WebSocket events and cluster events.",
        strong: &["web_socket", "cluster"],
        weak: &[],
    },
    GroupRule {
        name: "notifications",
        trait_name: "NotificationsApi",
        summary: "Email and push notifications.",
        strong: &["mail", "push_notification"],
        weak: &[],
    },
];

/// The group of methods no rule claims.
const CATCH_ALL: (&str, &str, &str) = ("other", "OtherApi", "Methods outside the domains above.");

/// Which rule claims an RPC name: the earliest strong keyword, else the
/// earliest weak one; at one position the longest keyword wins.
fn group_of(rpc: &str) -> Option<usize> {
    let snake = snake(rpc);
    let words: Vec<&str> = snake.split('_').collect();
    let tier = |pick: fn(&GroupRule) -> &[&str]| {
        (0..words.len()).find_map(|at| {
            GROUP_RULES
                .iter()
                .enumerate()
                .flat_map(|(g, rule)| pick(rule).iter().map(move |kw| (g, *kw)))
                .filter(|(_, kw)| {
                    let kw: Vec<&str> = kw.split('_').collect();
                    words[at..].starts_with(&kw)
                })
                .max_by_key(|(_, kw)| kw.len())
                .map(|(g, _)| g)
        })
    };
    tier(|r| r.strong).or_else(|| tier(|r| r.weak))
}

fn group(methods: Vec<ApiMethod>) -> Vec<ApiGroup> {
    let mut groups: Vec<ApiGroup> = GROUP_RULES
        .iter()
        .map(|r| r.name)
        .chain([CATCH_ALL.0])
        .zip(GROUP_RULES.iter().map(|r| (r.trait_name, r.summary)).chain([(CATCH_ALL.1, CATCH_ALL.2)]))
        .map(|(name, (trait_name, summary))| ApiGroup {
            name: name.to_owned(),
            trait_name: trait_name.to_owned(),
            summary: summary.to_owned(),
            methods: vec![],
        })
        .collect();
    for method in methods {
        let at = group_of(&method.name).unwrap_or(GROUP_RULES.len());
        groups[at].methods.push(method);
    }
    groups.retain(|g| !g.methods.is_empty());
    groups
}

/// A message of the contract package, with what is needed to describe it.
struct MessageInfo<'a> {
    desc: &'a DescriptorProto,
    /// Rust path below the `proto` module (`User`, `outer::Inner`).
    rust: String,
    /// Field docs, by field index.
    field_docs: Vec<Vec<String>>,
}

/// Every message and enum of the descriptor set, by full proto name.
struct Index<'a> {
    messages: HashMap<String, MessageInfo<'a>>,
    enums: HashMap<String, String>,
}

impl<'a> Index<'a> {
    fn new(fds: &'a FileDescriptorSet, package: &str) -> Self {
        let mut index = Index { messages: HashMap::new(), enums: HashMap::new() };
        for file in &fds.file {
            let ours = file.package() == package;
            let prefix = format!(".{}", file.package());
            for (mi, message) in file.message_type.iter().enumerate() {
                index.add_message(file, ours, &prefix, "", message, vec![4, mi as i32]);
            }
            for e in &file.enum_type {
                let rust = if ours { upper_camel(e.name()) } else { format!("::prost_types::{}", e.name()) };
                index.enums.insert(format!("{prefix}.{}", e.name()), rust);
            }
        }
        index
    }

    fn add_message(
        &mut self,
        file: &'a FileDescriptorProto,
        ours: bool,
        prefix: &str,
        module: &str,
        message: &'a DescriptorProto,
        path: Vec<i32>,
    ) {
        let full = format!("{prefix}.{}", message.name());
        let rust = if ours {
            format!("{module}{}", upper_camel(message.name()))
        } else {
            format!("::prost_types::{}", message.name())
        };
        let info = file.source_code_info.as_ref();
        let field_docs =
            (0..message.field.len()).map(|fi| comments(info, &[path.as_slice(), &[2, fi as i32]].concat())).collect();
        let inner_module = format!("{module}{}::", snake(message.name()));
        for (ni, nested) in message.nested_type.iter().enumerate() {
            self.add_message(file, ours, &full, &inner_module, nested, [path.as_slice(), &[3, ni as i32]].concat());
        }
        for e in &message.enum_type {
            self.enums.insert(format!("{full}.{}", e.name()), format!("{inner_module}{}", upper_camel(e.name())));
        }
        self.messages.insert(full, MessageInfo { desc: message, rust, field_docs });
    }

    fn message(&self, full: &str, rpc: &str) -> Result<&MessageInfo<'a>, ClassifyError> {
        self.messages.get(full).ok_or_else(|| ClassifyError::UnknownType { rpc: rpc.to_owned(), ty: full.to_owned() })
    }

    /// The fields of a message, in declaration order.
    fn fields(&self, message: &MessageInfo) -> Vec<Field> {
        message
            .desc
            .field
            .iter()
            .zip(&message.field_docs)
            .map(|(f, doc)| {
                let ty = self.ty(f);
                let card = match f.label() {
                    _ if matches!(ty, Ty::Map(..)) => Card::Repeated,
                    Label::Repeated => Card::Repeated,
                    _ if f.proto3_optional() => Card::Optional,
                    _ => Card::Single,
                };
                Field {
                    name: f.name().to_owned(),
                    rust_name: snake(f.name()),
                    number: f.number(),
                    ty,
                    card,
                    doc: doc.clone(),
                }
            })
            .collect()
    }

    fn ty(&self, f: &prost_types::FieldDescriptorProto) -> Ty {
        match f.r#type() {
            Type::Double => Ty::Scalar("f64"),
            Type::Float => Ty::Scalar("f32"),
            Type::Int64 | Type::Sint64 | Type::Sfixed64 => Ty::Scalar("i64"),
            Type::Uint64 | Type::Fixed64 => Ty::Scalar("u64"),
            Type::Int32 | Type::Sint32 | Type::Sfixed32 => Ty::Scalar("i32"),
            Type::Uint32 | Type::Fixed32 => Ty::Scalar("u32"),
            Type::Bool => Ty::Scalar("bool"),
            Type::String => Ty::String,
            Type::Bytes if f.name().ends_with("_json") => Ty::JsonBytes,
            Type::Bytes => Ty::Bytes,
            Type::Enum => Ty::Enum(self.enums.get(f.type_name()).cloned().unwrap_or_else(|| f.type_name().to_owned())),
            Type::Message | Type::Group => self.message_ty(f.type_name()),
        }
    }

    fn message_ty(&self, full: &str) -> Ty {
        let wrapper = |s| Ty::Wrapper(s);
        match full {
            ".google.protobuf.Struct" => Ty::Struct,
            ".google.protobuf.Value" => Ty::Value,
            ".google.protobuf.Int64Value" => wrapper("i64"),
            ".google.protobuf.UInt64Value" => wrapper("u64"),
            ".google.protobuf.Int32Value" => wrapper("i32"),
            ".google.protobuf.UInt32Value" => wrapper("u32"),
            ".google.protobuf.BoolValue" => wrapper("bool"),
            ".google.protobuf.DoubleValue" => wrapper("f64"),
            ".google.protobuf.FloatValue" => wrapper("f32"),
            ".google.protobuf.StringValue" => wrapper("String"),
            _ => match self.messages.get(full) {
                Some(entry) if entry.desc.options.as_ref().is_some_and(|o| o.map_entry()) => {
                    let key = &entry.desc.field[0];
                    let value = &entry.desc.field[1];
                    Ty::Map(Box::new(self.ty(key)), Box::new(self.ty(value)))
                }
                Some(entry) => Ty::Message(entry.rust.clone()),
                None => Ty::Message(full.to_owned()),
            },
        }
    }
}

/// The comment attached to a descriptor path, as doc lines.
fn comments(info: Option<&SourceCodeInfo>, path: &[i32]) -> Vec<String> {
    let Some(location) = info.and_then(|i| i.location.iter().find(|l| l.path == path)) else {
        return vec![];
    };
    let text = location.leading_comments.as_deref().or(location.trailing_comments.as_deref()).unwrap_or("");
    let mut lines: Vec<String> = text.lines().map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end().to_owned()).collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    while lines.first().is_some_and(String::is_empty) {
        lines.remove(0);
    }
    lines
}

/// Contracts compiled from a few lines of proto, for the unit tests of the
/// steps that read the model.
#[cfg(test)]
pub(crate) mod test_proto {
    use super::classify;
    use crate::load::ProtoSources;
    use crate::model::Contract;

    /// `body` (services and messages) in package `t.v1`, beside an
    /// `AppError` and a `PluginContext` of the usual shape.
    pub(crate) fn contract(body: &str) -> Contract {
        let text = format!(
            "syntax = \"proto3\";\npackage t.v1;\n\
             message AppError {{ string id = 1; string message = 2; }}\n\
             message PluginContext {{ string session_id = 1; }}\n{body}"
        );
        let sources: ProtoSources = [("t.proto".to_owned(), text)].into_iter().collect();
        classify(&sources.compile().expect("the test proto compiles")).expect("the test proto is a contract")
    }

    /// A hook of each shape, named as in the real contract where a rule
    /// depends on the name (dismiss, may-be-unset).
    pub(crate) const HOOKS: &str = r#"
        service PluginHooks {
          rpc NoteWillBeSaved(NoteWillBeSavedRequest) returns (NoteWillBeSavedResponse);
          rpc FileWillBeUploaded(FileWillBeUploadedRequest) returns (FileWillBeUploadedResponse);
          rpc MessageWillBePosted(MessageWillBePostedRequest) returns (MessageWillBePostedResponse);
          rpc UserWillLogIn(UserWillLogInRequest) returns (UserWillLogInResponse);
          rpc MessagesWillBeConsumed(MessagesWillBeConsumedRequest) returns (MessagesWillBeConsumedResponse);
          rpc Tally(TallyRequest) returns (TallyResponse);
          rpc ConfigurationWillBeSaved(ConfigurationWillBeSavedRequest) returns (ConfigurationWillBeSavedResponse);
          rpc OnActivate(OnActivateRequest) returns (OnActivateResponse);
          rpc OnCloudLimitsUpdated(OnCloudLimitsUpdatedRequest) returns (OnCloudLimitsUpdatedResponse);
          rpc UserHasJoinedTeam(UserHasJoinedTeamRequest) returns (UserHasJoinedTeamResponse);
          rpc ChannelWillBeJoined(ChannelWillBeJoinedRequest) returns (ChannelWillBeJoinedResponse);
        }
        message Note { string id = 1; }
        message Post { string id = 1; }
        message User { string id = 1; }
        message FileInfo { string name = 1; }
        message Report { string text = 1; }
        message Config { string site_url = 1; }
        message ProductLimits { int64 messages = 1; }
        message NoteWillBeSavedRequest { PluginContext plugin_context = 1; Note note = 2; }
        message NoteWillBeSavedResponse { Note modified_note = 1; string rejection_reason = 2; }
        message FileWillBeUploadedRequest { FileInfo file_info = 1; bytes file_content = 2; }
        message FileWillBeUploadedResponse {
          FileInfo modified_file_info = 1; bytes modified_content = 2; string rejection_reason = 3;
        }
        message MessageWillBePostedRequest { Post post = 1; }
        message MessageWillBePostedResponse { Post modified_post = 1; string rejection_reason = 2; }
        message UserWillLogInRequest { User user = 1; }
        message UserWillLogInResponse { AppError error = 1; string rejection_reason = 2; }
        message MessagesWillBeConsumedRequest { repeated Post posts = 1; }
        message MessagesWillBeConsumedResponse { repeated Post posts = 1; }
        message TallyRequest { string user_id = 1; }
        message TallyResponse { AppError error = 1; int64 count = 2; Report report = 3; }
        message ConfigurationWillBeSavedRequest { Config new_config = 1; }
        message ConfigurationWillBeSavedResponse { AppError error = 1; Config modified_config = 2; }
        message OnActivateRequest {}
        message OnActivateResponse { AppError error = 1; }
        message OnCloudLimitsUpdatedRequest { ProductLimits limits = 1; }
        message OnCloudLimitsUpdatedResponse {}
        message UserHasJoinedTeamRequest { PluginContext plugin_context = 1; User member = 2; optional User actor = 3; }
        message UserHasJoinedTeamResponse {}
        message ChannelWillBeJoinedRequest { string channel_id = 1; }
        message ChannelWillBeJoinedResponse { string rejection_reason = 1; }
    "#;

    /// One of each way to pass a request and read a response.
    pub(crate) const API: &str = r#"
        import "google/protobuf/struct.proto";
        import "google/protobuf/wrappers.proto";
        service PluginAPI {
          rpc KVSet(KVSetRequest) returns (KVSetResponse);
          rpc SaveSettings(SaveSettingsRequest) returns (SaveSettingsResponse);
          rpc SearchThings(SearchThingsRequest) returns (SearchThingsResponse);
          rpc PickThing(PickThingRequest) returns (PickThingResponse);
          rpc GetThing(GetThingRequest) returns (GetThingResponse);
          rpc GetProps(GetPropsRequest) returns (GetPropsResponse);
          rpc GetKind(GetKindRequest) returns (GetKindResponse);
          rpc GetLicense(GetLicenseRequest) returns (GetLicenseResponse);
          rpc PublishWebSocketEvent(PublishWebSocketEventRequest) returns (PublishWebSocketEventResponse);
        }
        enum Kind { KIND_UNSPECIFIED = 0; KIND_BIG = 1; }
        message Thing { string id = 1; }
        message KVSetRequest { string key = 1; bytes value = 2; }
        message KVSetResponse { AppError error = 1; }
        message SaveSettingsRequest {
          bytes settings_json = 1; google.protobuf.Struct props = 2; Kind kind = 3; Thing thing = 4;
        }
        message SaveSettingsResponse {
          AppError error = 1; google.protobuf.Int64Value revision = 2; bytes previous_json = 3;
        }
        message SearchThingsRequest { string a = 1; string b = 2; string c = 3; string d = 4; string e = 5; }
        message SearchThingsResponse { AppError error = 1; repeated Thing things = 2; }
        message PickThingRequest { oneof by { string id = 1; string name = 2; } }
        message PickThingResponse { AppError error = 1; }
        message GetThingRequest { repeated string tags = 1; }
        message GetThingResponse { AppError error = 1; Thing thing = 2; }
        message GetPropsRequest {}
        message GetPropsResponse { AppError error = 1; google.protobuf.Struct props = 2; }
        message GetKindRequest {}
        message GetKindResponse { AppError error = 1; Kind kind = 2; }
        message GetLicenseRequest {}
        message GetLicenseResponse { AppError error = 1; bytes license_json = 2; }
        message PublishWebSocketEventRequest { string event = 1; google.protobuf.Value data = 2; }
        message PublishWebSocketEventResponse {}
    "#;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group_name(rpc: &str) -> &'static str {
        group_of(rpc).map_or(CATCH_ALL.0, |g| GROUP_RULES[g].name)
    }

    #[test]
    fn grouping_rules_pick_the_domain() {
        for (rpc, expected) in [
            ("GetUser", "users"),
            ("GetUsersInChannel", "users"),
            ("GetChannelMembersForUser", "channels"),
            ("GetGroupChannel", "channels"),
            ("GetGroupByRemoteID", "groups"),
            ("RegisterPluginForSharedChannels", "shared_channels"),
            ("LoadPluginConfiguration", "config"),
            ("SearchPostsInTeamForUser", "posts"),
            ("CreateUploadSession", "files"),
            ("KVSetWithExpiry", "kv"),
            ("CreateOAuthApp", "oauth"),
            ("HasPermissionToChannel", "permissions"),
            ("GetServerVersion", "system"),
            ("PublishWebSocketEvent", "events"),
            ("EnsureBotUser", "bots"),
            ("ExecuteSlashCommand", "commands"),
            ("OpenInteractiveDialog", "other"),
        ] {
            assert_eq!(group_name(rpc), expected, "{rpc}");
        }
    }

    #[test]
    fn plugin_http_is_known_by_its_name_and_fields() {
        let api = |request: &str| {
            test_proto::contract(&format!(
                "service PluginAPI {{ rpc PluginHTTP(PluginHTTPRequest) returns (PluginHTTPResponse); }}\n\
                 message PluginHTTPRequest {{ {request} }}\n\
                 message PluginHTTPResponse {{ AppError error = 1; int32 status_code = 2; \
                 map<string, string> headers = 3; bytes body = 4; }}"
            ))
        };
        let exact = api("string method = 1; string url = 2; map<string, string> headers = 3; bytes body = 4;");
        assert!(exact.api_methods().all(|m| m.plugin_http));
        let other = api("string method = 1; string url = 2; bytes body = 3;");
        assert!(other.api_methods().all(|m| !m.plugin_http));
    }

    fn refusal(text: &str) -> String {
        let sources: crate::load::ProtoSources = [("r.proto".to_owned(), text.to_owned())].into_iter().collect();
        classify(&sources.compile().expect("the test proto compiles")).expect_err("refused").to_string()
    }

    #[test]
    fn a_streaming_api_method_is_refused_at_its_stream() {
        let err = refusal(
            "syntax = \"proto3\";\npackage t.v1;\nmessage M {}\nservice PluginAPI {\n  rpc Ok(M) returns (M);\n  \
             rpc Watch(M) returns (stream M);\n}\n",
        );
        assert!(err.starts_with("r.proto:6:25: PluginAPI.Watch: a streaming API method is not supported"), "{err}");
    }

    #[test]
    fn proto2_is_refused_at_its_syntax_statement() {
        let err = refusal("\nsyntax = \"proto2\";\npackage t.v1;\nmessage M { optional int32 n = 1; }\n");
        assert!(err.starts_with("r.proto:2:1: syntax \"proto2\" is not supported"), "{err}");
        // No syntax statement is proto2 too.
        let err = refusal("package t.v1;\nmessage M { optional int32 n = 1; }\n");
        assert!(err.starts_with("r.proto:1:1: syntax \"proto2\" is not supported"), "{err}");
    }

    #[test]
    fn comments_are_trimmed() {
        let info = SourceCodeInfo {
            location: vec![prost_types::source_code_info::Location {
                path: vec![4, 0],
                leading_comments: Some("\n A thing.\n  Indented.\n\n".into()),
                ..Default::default()
            }],
        };
        assert_eq!(comments(Some(&info), &[4, 0]), vec!["A thing.", " Indented."]);
        assert!(comments(Some(&info), &[4, 1]).is_empty());
    }
}

//! How each API method reads in Rust: parameter types, the request it
//! builds, and how the result is taken out of the response. The mapping from
//! field types to Rust code lives here, in one place.

use crate::model::{ApiInput, ApiMethod, Card, Field, Ty};
use crate::render::doc_lines;

/// One typed API method, ready for `api_group.rs.askama`.
pub struct MethodView {
    pub method: String,
    pub doc: Vec<String>,
    pub params: Vec<ParamView>,
    /// The `Ok` type.
    pub ret: String,
    /// Builds the request message from the parameters (none when the
    /// caller passes the message itself).
    pub build_request: Option<String>,
    /// For several outputs: the tuple alias's name and its definition.
    pub output_alias: Option<(String, String)>,
    /// The response is read (it has an error field or outputs).
    pub uses_response: bool,
    pub check_error: bool,
    /// The method's last expression, built from `response`.
    pub tail: String,
    pub uses_required: bool,
}

pub struct ParamView {
    pub name: String,
    pub ty: String,
}

impl MethodView {
    pub fn new(service: &str, m: &ApiMethod) -> Self {
        let mut doc = doc_lines(&m.doc);
        let (params, build_request) = match &m.input {
            ApiInput::Message => {
                let params = vec![ParamView { name: "request".into(), ty: format!("proto::{}", m.request) }];
                (params, None)
            }
            ApiInput::Params(fields) => {
                let params = fields.iter().map(|f| ParamView { name: f.rust_name.clone(), ty: param_ty(f) }).collect();
                let inits: Vec<String> = fields
                    .iter()
                    .map(|f| match param_into(f) {
                        value if value == f.rust_name => value,
                        value => format!("{}: {value}", f.rust_name),
                    })
                    .collect();
                (params, Some(format!("proto::{} {{ {} }}", m.request, inits.join(", "))))
            }
        };
        if let ApiInput::Params(fields) = &m.input
            && fields.iter().any(|f| !f.doc.is_empty())
        {
            doc.push(String::new());
            doc.push("# Arguments".into());
            doc.extend(fields.iter().map(field_doc_line));
        }
        if m.outputs.len() > 1 {
            doc.push(String::new());
            doc.push("# Returns".into());
            doc.push("A tuple, in this order:".into());
            doc.extend(m.outputs.iter().map(field_doc_line));
        }
        if m.large_payload {
            if !doc.is_empty() {
                doc.push(String::new());
            }
            doc.push(
                "The server takes requests of up to 4 MiB ([`crate::api::MAX_REQUEST_SIZE`]): a larger one \
                 fails with [`Error::TooLarge`] before it is sent."
                    .into(),
            );
        }
        if !doc.is_empty() {
            doc.push(String::new());
        }
        doc.push(format!("Calls `{service}/{}`.", m.name));

        let results: Vec<(String, String)> = m.outputs.iter().map(|f| (output_ty(f), output_expr(f))).collect();
        let mut output_alias = None;
        let (ret, tail) = match results.as_slice() {
            [] => ("()".to_owned(), "Ok(())".to_owned()),
            // A single fallible conversion is the tail itself, not `Ok(x?)`.
            [(ty, expr)] => match expr.strip_suffix('?') {
                Some(fallible) => (ty.clone(), fallible.to_owned()),
                None => (ty.clone(), format!("Ok({expr})")),
            },
            many => {
                let (tys, exprs): (Vec<_>, Vec<_>) = many.iter().cloned().unzip();
                let alias = format!("{}Output", crate::names::upper_camel(&m.name));
                output_alias = Some((alias.clone(), format!("({})", tys.join(", "))));
                (alias, format!("Ok(({}))", exprs.join(", ")))
            }
        };
        let uses_required = tail.contains("required_field(");
        MethodView {
            method: m.method.clone(),
            doc,
            params,
            ret,
            build_request,
            output_alias,
            uses_response: m.response_has_error || !m.outputs.is_empty(),
            check_error: m.response_has_error,
            tail,
            uses_required,
        }
    }
}

fn field_doc_line(f: &Field) -> String {
    let text = doc_lines(&f.doc).join(" ");
    if text.is_empty() { format!("- `{}`", f.rust_name) } else { format!("- `{}`: {text}", f.rust_name) }
}

/// The Rust type prost gives a field's element.
pub(super) fn prost_ty(ty: &Ty) -> String {
    match ty {
        Ty::Scalar(s) => (*s).to_owned(),
        Ty::String => "String".into(),
        Ty::Bytes | Ty::JsonBytes => "Vec<u8>".into(),
        Ty::Enum(_) => "i32".into(),
        Ty::Message(p) => message_path(p),
        Ty::Struct => "prost_types::Struct".into(),
        Ty::Value => "prost_types::Value".into(),
        Ty::Wrapper(s) => format!("Option<{s}>"),
        Ty::Map(k, v) => format!("std::collections::HashMap<{}, {}>", prost_ty(k), prost_ty(v)),
    }
}

pub(super) fn message_path(p: &str) -> String {
    if p.starts_with("::") { p.trim_start_matches("::").to_owned() } else { format!("proto::{p}") }
}

/// The parameter type a caller passes for a request field.
fn param_ty(f: &Field) -> String {
    match (f.card, &f.ty) {
        (Card::Single, Ty::String) => "impl Into<String>".into(),
        (Card::Single, Ty::Bytes) => "impl Into<Vec<u8>>".into(),
        (Card::Single, Ty::JsonBytes) => "&serde_json::Value".into(),
        (Card::Single, Ty::Enum(p)) => format!("proto::{p}"),
        (Card::Single, Ty::Message(p)) => message_path(p),
        (Card::Single, Ty::Struct) => "serde_json::Map<String, serde_json::Value>".into(),
        (Card::Single, Ty::Value) => "serde_json::Value".into(),
        (Card::Single, ty) => prost_ty(ty),
        (Card::Optional, ty) => format!("Option<{}>", prost_ty(ty)),
        (Card::Repeated, ty @ Ty::Map(..)) => prost_ty(ty),
        (Card::Repeated, ty) => format!("Vec<{}>", prost_ty(ty)),
    }
}

/// Turns a parameter into the request field's value.
fn param_into(f: &Field) -> String {
    let name = &f.rust_name;
    match (f.card, &f.ty) {
        (Card::Single, Ty::String | Ty::Bytes) => format!("{name}.into()"),
        (Card::Single, Ty::JsonBytes) => format!("crate::json::to_bytes({name})"),
        (Card::Single, Ty::Enum(_)) => format!("{name}.into()"),
        (Card::Single, Ty::Message(_)) => format!("Some({name})"),
        (Card::Single, Ty::Struct) => format!("Some(crate::json::object_to_struct({name}))"),
        (Card::Single, Ty::Value) => format!("Some(crate::json::json_to_value({name}))"),
        _ => name.clone(),
    }
}

/// The type a caller gets for a response field.
fn output_ty(f: &Field) -> String {
    match (f.card, &f.ty) {
        (Card::Single, Ty::JsonBytes) => "serde_json::Value".into(),
        (Card::Single, Ty::Enum(p)) => format!("proto::{p}"),
        (Card::Single, Ty::Message(p)) => message_path(p),
        (Card::Single, Ty::Struct) => "serde_json::Map<String, serde_json::Value>".into(),
        (Card::Single, Ty::Value) => "serde_json::Value".into(),
        _ => param_ty(f).replace("impl Into<String>", "String").replace("impl Into<Vec<u8>>", "Vec<u8>"),
    }
}

/// Takes a response field out of `response`.
fn output_expr(f: &Field) -> String {
    let name = &f.rust_name;
    let field = crate::names::bare(name);
    match (f.card, &f.ty) {
        (Card::Single, Ty::JsonBytes) => format!("crate::json::from_bytes(&response.{name}, \"{field}\")?"),
        (Card::Single, Ty::Enum(p)) => {
            format!("proto::{p}::try_from(response.{name}).map_err(|_| Error::MissingField(\"{field}\"))?")
        }
        (Card::Single, Ty::Message(_)) => format!("required_field(response.{name}, \"{field}\")?"),
        (Card::Single, Ty::Struct) => {
            format!("response.{name}.map(crate::json::struct_to_object).unwrap_or_default()")
        }
        (Card::Single, Ty::Value) => {
            format!("response.{name}.map(crate::json::value_to_json).unwrap_or(serde_json::Value::Null)")
        }
        _ => format!("response.{name}"),
    }
}

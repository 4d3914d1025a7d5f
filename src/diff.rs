//! `mmplugin-gen diff OLD NEW`: what changed between two contracts, at the
//! descriptor level (comments and layout do not count), in the terms a
//! plugin author cares about.

use std::collections::BTreeMap;
use std::fmt;

use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet, ServiceDescriptorProto};

use crate::classify::{API_SERVICE, HOOKS_SERVICE};

/// One difference between two contracts. Every one changes the wire.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Difference {
    /// A hook the new contract adds.
    HookAdded(String),
    /// A hook the new contract no longer has.
    HookRemoved(String),
    /// An API method the new contract adds.
    ApiAdded(String),
    /// An API method the new contract no longer has.
    ApiRemoved(String),
    /// An RPC of another service added or removed.
    RpcAdded(String),
    /// See `RpcAdded`.
    RpcRemoved(String),
    /// An RPC whose request, response or streaming changed.
    RpcChanged { rpc: String, old: String, new: String },
    /// A service added or removed.
    ServiceAdded(String),
    /// See `ServiceAdded`.
    ServiceRemoved(String),
    /// A message or enum added or removed.
    TypeAdded(String),
    /// See `TypeAdded`.
    TypeRemoved(String),
    /// A field added.
    FieldAdded { field: String, number: i32 },
    /// A field removed.
    FieldRemoved { field: String, number: i32 },
    /// A field that kept its name but not its number.
    FieldRenumbered { field: String, old: i32, new: i32 },
    /// A field number that now has another name.
    FieldRenamed { number: String, old: String, new: String },
    /// A field whose type, label or oneof changed.
    FieldRetyped { field: String, old: String, new: String },
    /// An enum value added, removed or renumbered.
    EnumValueChanged { value: String, old: Option<i32>, new: Option<i32> },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HookAdded(n) => write!(f, "hook added: {n}"),
            Self::HookRemoved(n) => write!(f, "hook removed: {n}"),
            Self::ApiAdded(n) => write!(f, "API method added: {n}"),
            Self::ApiRemoved(n) => write!(f, "API method removed: {n}"),
            Self::RpcAdded(n) => write!(f, "rpc added: {n}"),
            Self::RpcRemoved(n) => write!(f, "rpc removed: {n}"),
            Self::RpcChanged { rpc, old, new } => write!(f, "rpc changed: {rpc}: {old} -> {new}"),
            Self::ServiceAdded(n) => write!(f, "service added: {n}"),
            Self::ServiceRemoved(n) => write!(f, "service removed: {n}"),
            Self::TypeAdded(n) => write!(f, "type added: {n}"),
            Self::TypeRemoved(n) => write!(f, "type removed: {n}"),
            Self::FieldAdded { field, number } => write!(f, "field added: {field} = {number}"),
            Self::FieldRemoved { field, number } => write!(f, "field removed: {field} = {number}"),
            Self::FieldRenumbered { field, old, new } => write!(f, "field renumbered: {field}: {old} -> {new}"),
            Self::FieldRenamed { number, old, new } => write!(f, "field renamed: {number}: {old} -> {new}"),
            Self::FieldRetyped { field, old, new } => write!(f, "field retyped: {field}: {old} -> {new}"),
            Self::EnumValueChanged { value, old, new } => {
                let n = |v: &Option<i32>| v.map_or("absent".to_owned(), |v| v.to_string());
                write!(f, "enum value changed: {value}: {} -> {}", n(old), n(new))
            }
        }
    }
}

/// Every difference from `old` to `new`, sorted.
pub fn diff(old: &FileDescriptorSet, new: &FileDescriptorSet) -> Vec<Difference> {
    let (old, new) = (Index::new(old), Index::new(new));
    let mut out = vec![];
    for (name, svc) in &old.services {
        match new.services.get(name) {
            None => out.push(Difference::ServiceRemoved(name.clone())),
            Some(new_svc) => rpcs(svc, new_svc, &mut out),
        }
    }
    for (name, svc) in &new.services {
        if !old.services.contains_key(name) {
            out.push(Difference::ServiceAdded(name.clone()));
            let empty = ServiceDescriptorProto { name: svc.name.clone(), ..Default::default() };
            rpcs(&empty, svc, &mut out);
        }
    }
    for (name, msg) in &old.messages {
        match new.messages.get(name) {
            None => out.push(Difference::TypeRemoved(name.clone())),
            Some(new_msg) => fields(name, msg, new_msg, &mut out),
        }
    }
    for (name, e) in &old.enums {
        match new.enums.get(name) {
            None => out.push(Difference::TypeRemoved(name.clone())),
            Some(new_e) => values(name, e, new_e, &mut out),
        }
    }
    for name in new.messages.keys().chain(new.enums.keys()) {
        if !old.messages.contains_key(name) && !old.enums.contains_key(name) {
            out.push(Difference::TypeAdded(name.clone()));
        }
    }
    out.sort();
    out
}

fn rpcs(old: &ServiceDescriptorProto, new: &ServiceDescriptorProto, out: &mut Vec<Difference>) {
    let signature = |m: &prost_types::MethodDescriptorProto| {
        let stream = |s: bool| if s { "stream " } else { "" };
        format!(
            "({}{}) returns ({}{})",
            stream(m.client_streaming()),
            m.input_type().trim_start_matches('.'),
            stream(m.server_streaming()),
            m.output_type().trim_start_matches('.')
        )
    };
    type Make = fn(String) -> Difference;
    let (added, removed): (Make, Make) = match new.name() {
        HOOKS_SERVICE => (Difference::HookAdded, Difference::HookRemoved),
        API_SERVICE => (Difference::ApiAdded, Difference::ApiRemoved),
        _ => (Difference::RpcAdded, Difference::RpcRemoved),
    };
    let qualified = |m: &str| format!("{}.{m}", new.name());
    for m in &old.method {
        match new.method.iter().find(|n| n.name() == m.name()) {
            None => out.push(removed(qualified(m.name()))),
            Some(n) if signature(m) != signature(n) => {
                out.push(Difference::RpcChanged { rpc: qualified(m.name()), old: signature(m), new: signature(n) })
            }
            Some(_) => {}
        }
    }
    for m in &new.method {
        if !old.method.iter().any(|o| o.name() == m.name()) {
            out.push(added(qualified(m.name())));
        }
    }
}

/// A field's wire shape: label, type (with its type name) and oneof.
fn shape(msg: &DescriptorProto, f: &FieldDescriptorProto) -> String {
    let label = match (f.label(), f.proto3_optional()) {
        (prost_types::field_descriptor_proto::Label::Repeated, _) => "repeated ",
        (_, true) => "optional ",
        _ => "",
    };
    let ty = match f.type_name() {
        "" => format!("{:?}", f.r#type()).to_lowercase(),
        name => name.trim_start_matches('.').to_owned(),
    };
    let oneof = match f.oneof_index {
        Some(i) if !f.proto3_optional() => {
            format!(" (oneof {})", msg.oneof_decl.get(i as usize).map_or("?", |o| o.name()))
        }
        _ => String::new(),
    };
    format!("{label}{ty}{oneof}")
}

fn fields(name: &str, old: &DescriptorProto, new: &DescriptorProto, out: &mut Vec<Difference>) {
    let field = |f: &FieldDescriptorProto| format!("{name}.{}", f.name());
    for f in &old.field {
        match new.field.iter().find(|n| n.name() == f.name()) {
            Some(n) => {
                if n.number() != f.number() {
                    out.push(Difference::FieldRenumbered { field: field(f), old: f.number(), new: n.number() });
                }
                let (a, b) = (shape(old, f), shape(new, n));
                if a != b {
                    out.push(Difference::FieldRetyped { field: field(f), old: a, new: b });
                }
            }
            None => match new.field.iter().find(|n| n.number() == f.number()) {
                Some(n) => out.push(Difference::FieldRenamed {
                    number: format!("{name} #{}", f.number()),
                    old: f.name().to_owned(),
                    new: n.name().to_owned(),
                }),
                None => out.push(Difference::FieldRemoved { field: field(f), number: f.number() }),
            },
        }
    }
    for n in &new.field {
        let known = old.field.iter().any(|f| f.name() == n.name() || f.number() == n.number());
        if !known {
            out.push(Difference::FieldAdded { field: field(n), number: n.number() });
        }
    }
}

fn values(name: &str, old: &EnumDescriptorProto, new: &EnumDescriptorProto, out: &mut Vec<Difference>) {
    let number = |e: &EnumDescriptorProto, v: &str| e.value.iter().find(|x| x.name() == v).map(|x| x.number());
    let mut names: Vec<&str> = old.value.iter().chain(&new.value).map(|v| v.name()).collect();
    names.sort_unstable();
    names.dedup();
    for v in names {
        let (a, b) = (number(old, v), number(new, v));
        if a != b {
            out.push(Difference::EnumValueChanged { value: format!("{name}.{v}"), old: a, new: b });
        }
    }
}

/// Services, messages (nested ones too) and enums by full name.
struct Index<'a> {
    services: BTreeMap<String, &'a ServiceDescriptorProto>,
    messages: BTreeMap<String, &'a DescriptorProto>,
    enums: BTreeMap<String, &'a EnumDescriptorProto>,
}

impl<'a> Index<'a> {
    fn new(fds: &'a FileDescriptorSet) -> Self {
        let mut index = Index { services: BTreeMap::new(), messages: BTreeMap::new(), enums: BTreeMap::new() };
        for file in fds.file.iter().filter(|f| !f.package().starts_with("google.protobuf")) {
            let prefix = file.package().to_owned();
            for s in &file.service {
                index.services.insert(format!("{prefix}.{}", s.name()), s);
            }
            for e in &file.enum_type {
                index.enums.insert(format!("{prefix}.{}", e.name()), e);
            }
            for m in &file.message_type {
                index.add(&prefix, m);
            }
        }
        index
    }

    fn add(&mut self, prefix: &str, m: &'a DescriptorProto) {
        let name = format!("{prefix}.{}", m.name());
        for e in &m.enum_type {
            self.enums.insert(format!("{name}.{}", e.name()), e);
        }
        for n in &m.nested_type {
            self.add(&name, n);
        }
        self.messages.insert(name, m);
    }
}

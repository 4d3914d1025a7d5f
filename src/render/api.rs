//! The API methods as `api_group.rs.askama` sees them: each method from the
//! model, with its rustdoc, and what each group's file imports and
//! re-exports. Parameter and output types, and how each becomes a request
//! field or comes out of the response, are the model's; the template
//! matches on them.

use crate::model::{ApiGroup, ApiInput, ApiMethod, Field, FromResponse};
use crate::render::doc_lines;

/// One typed API method.
pub struct MethodView<'a> {
    /// The method.
    pub m: &'a ApiMethod,
    /// Rustdoc lines of the trait method.
    pub doc: Vec<String>,
    /// The RPC's gRPC path, `/<package>.<service>/<rpc>`.
    pub path: String,
}

impl<'a> MethodView<'a> {
    /// The view of `m`, a method of `service` in `package`.
    pub fn new(package: &str, service: &str, m: &'a ApiMethod) -> Self {
        let mut doc = doc_lines(&m.doc);
        if let ApiInput::Params(params) = &m.input
            && params.iter().any(|p| !p.field.doc.is_empty())
        {
            doc.push(String::new());
            doc.push("# Arguments".into());
            doc.extend(params.iter().map(|p| field_doc_line(&p.name, &p.field)));
        }
        if m.outputs.len() > 1 {
            doc.push(String::new());
            doc.push("# Returns".into());
            doc.push("A tuple, in this order:".into());
            doc.extend(m.outputs.iter().map(|o| field_doc_line(&o.field.rust_name, &o.field)));
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
        Self { m, doc, path: format!("/{package}.{service}/{}", m.name) }
    }

    /// The response is read: it has an error field or outputs.
    pub fn uses_response(&self) -> bool {
        self.m.response_has_error || !self.m.outputs.is_empty()
    }
}

/// One domain group, served as one trait in its own file.
pub struct GroupView<'a> {
    /// The group.
    pub group: &'a ApiGroup,
    /// What the file imports from `crate::error`, in a fixed order.
    pub error_imports: Vec<&'static str>,
    /// What `api` re-exports from the file: the trait and output aliases.
    pub exports: Vec<&'a str>,
    /// The methods.
    pub methods: Vec<MethodView<'a>>,
}

impl<'a> GroupView<'a> {
    /// The view of `group`, a group of `service` in `package`.
    pub fn new(package: &str, service: &str, group: &'a ApiGroup) -> Self {
        let methods: Vec<MethodView> = group.methods.iter().map(|m| MethodView::new(package, service, m)).collect();
        let error_imports = [
            // `check(response.error)` turns an `AppError` into `Error::App`.
            (group.methods.iter().any(|m| m.response_has_error), "check"),
            (group.methods.iter().flat_map(|m| &m.outputs).any(|o| o.from == FromResponse::Required), "required_field"),
        ]
        .into_iter()
        .filter_map(|(used, name)| used.then_some(name))
        .collect();
        let exports = std::iter::once(group.trait_name.as_str())
            .chain(group.methods.iter().filter_map(|m| m.alias.as_ref().map(|a| a.name.as_str())))
            .collect();
        Self { group, error_imports, exports, methods }
    }
}

/// `name`'s line in an `# Arguments` or `# Returns` list, from the doc of its field `f`.
fn field_doc_line(name: &str, f: &Field) -> String {
    let text = doc_lines(&f.doc).join(" ");
    if text.is_empty() { format!("- `{name}`") } else { format!("- `{name}`: {text}") }
}

#[cfg(test)]
mod tests {
    use crate::classify::test_proto::{API, contract};
    use crate::render::test_render::{assert_has, squash, squashed};

    fn file(path: &str) -> String {
        squashed(&contract(API), path)
    }

    #[test]
    fn params_build_the_request() {
        assert_has(
            &file("src/api/kv.rs"),
            &[
                "fn kv_set(&self, key: impl Into<String>, value: impl Into<Vec<u8>>)
                    -> impl Future<Output = Result<(), Error>> + Send {
                    let request = proto::KvSetRequest { key: key.into(), value: value.into() };",
                "check(response.error)?; Ok(())",
            ],
        );
        assert_has(
            &file("src/api/other.rs"),
            &[
                "let request = proto::SaveSettingsRequest {
                    settings_json: crate::json::to_bytes(settings_json),
                    props: Some(crate::json::object_to_struct(props)),
                    kind: kind.into(),
                    thing: Some(thing),
                };",
                "let request = proto::GetThingRequest { tags };",
            ],
        );
        assert_has(
            &file("src/api/events.rs"),
            &["let request = proto::PublishWebSocketEventRequest {
                 event: event.into(),
                 data: Some(crate::json::json_to_value(data)),
             };"],
        );
    }

    #[test]
    fn a_message_input_is_the_request() {
        let other = file("src/api/other.rs");
        for (method, request) in [("search_things", "SearchThingsRequest"), ("pick_thing", "PickThingRequest")] {
            let opening = format!("fn {method}(&self, request: proto::{request})");
            assert_has(&other, &[&opening]);
            let body = &other[other.rfind(&squash(&opening)).expect("the impl")..];
            assert!(body.find("letfits=") < body.find("letrequest="), "{method} builds no request");
        }
    }

    #[test]
    fn several_outputs_are_an_alias() {
        assert_has(
            &file("src/api/other.rs"),
            &[
                "pub type SaveSettingsOutput = (Option<i64>, serde_json::Value);",
                "-> impl Future<Output = Result<SaveSettingsOutput, Error>> + Send",
                "Ok((response.revision, crate::json::from_bytes(&response.previous_json, \"previous_json\")?))",
            ],
        );
        assert_has(&file("src/api/mod.rs"), &["pub use other::{OtherApi, SaveSettingsOutput};"]);
    }

    #[test]
    fn one_output_is_converted_for_the_caller() {
        assert_has(
            &file("src/api/other.rs"),
            &[
                // Fallible conversions are the tail themselves; the others are wrapped in `Ok`.
                "check(response.error)?; required_field(response.thing, \"thing\") }",
                "check(response.error)?;
                 proto::Kind::try_from(response.kind).map_err(|_| Error::MissingField(\"kind\")) }",
                "check(response.error)?; Ok(response.props.map(crate::json::struct_to_object).unwrap_or_default()) }",
                "check(response.error)?; Ok(response.things) }",
            ],
        );
        assert_has(
            &file("src/api/system.rs"),
            &["check(response.error)?; crate::json::from_bytes(&response.license_json, \"license_json\") }"],
        );
    }

    #[test]
    fn every_method_is_one_call_at_its_grpc_path() {
        assert_has(&file("src/api/kv.rs"), &[r#"let call = self.call("KVSet", "/t.v1.PluginAPI/KVSet", request);"#]);
    }

    #[test]
    fn error_imports_follow_the_methods() {
        assert_has(&file("src/api/other.rs"), &["use crate::error::{Error, check, required_field};"]);
        assert_has(&file("src/api/kv.rs"), &["use crate::error::{Error, check};"]);
        // No error field, no output: the response is not read, only the
        // error type its signature names is imported.
        let events = file("src/api/events.rs");
        assert_has(&events, &["use crate::error::{Error};"]);
        assert_has(&events, &["super::answer(call, |_: proto::PublishWebSocketEventResponse| Ok(()))"]);
    }
}

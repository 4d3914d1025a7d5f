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
}

impl<'a> MethodView<'a> {
    /// The view of `m`, a method of `service`.
    pub fn new(service: &str, m: &'a ApiMethod) -> Self {
        let mut doc = doc_lines(&m.doc);
        if let ApiInput::Params(params) = &m.input
            && params.iter().any(|p| !p.field.doc.is_empty())
        {
            doc.push(String::new());
            doc.push("# Arguments".into());
            doc.extend(params.iter().map(|p| field_doc_line(&p.field)));
        }
        if m.outputs.len() > 1 {
            doc.push(String::new());
            doc.push("# Returns".into());
            doc.push("A tuple, in this order:".into());
            doc.extend(m.outputs.iter().map(|o| field_doc_line(&o.field)));
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
        Self { m, doc }
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
    /// The view of `group`, a group of `service`.
    pub fn new(service: &str, group: &'a ApiGroup) -> Self {
        let methods: Vec<MethodView> = group.methods.iter().map(|m| MethodView::new(service, m)).collect();
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

fn field_doc_line(f: &Field) -> String {
    let text = doc_lines(&f.doc).join(" ");
    if text.is_empty() { format!("- `{}`", f.rust_name) } else { format!("- `{}`: {text}", f.rust_name) }
}

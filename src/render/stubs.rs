//! Message types and gRPC stubs: prost-build and tonic-prost-build, run in
//! memory on the descriptors protox made (no protoc, no build script).
//!
//! Three independent passes run on their own threads: messages, clients and
//! servers. Service code comes out of tonic already formatted, so it is kept
//! apart from the messages and never parsed twice.

use std::sync::{Arc, Mutex};

use prost_build::{Module, Service, ServiceGenerator};
use prost_types::{FileDescriptorProto, FileDescriptorSet};

/// The prost messages and the tonic clients and servers of one package.
pub struct Stubs {
    /// Messages and enums, unformatted (prost's own layout).
    pub messages: String,
    /// Client modules, one per service, formatted.
    pub clients: String,
    /// Server modules, one per service, formatted.
    pub servers: String,
}

/// Runs prost-build (messages) and tonic-prost-build (services) for `package`.
/// `bytes_fields` (full proto paths) become `bytes::Bytes` instead of `Vec<u8>`.
pub fn generate(fds: &FileDescriptorSet, package: &str, bytes_fields: &[String]) -> anyhow::Result<Stubs> {
    std::thread::scope(|scope| {
        let clients = scope.spawn(|| services(fds, package, true));
        let servers = scope.spawn(|| services(fds, package, false));
        let messages = messages(fds, package, bytes_fields);
        let join = |h: std::thread::ScopedJoinHandle<'_, anyhow::Result<String>>| {
            h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("stub generation panicked")))
        };
        Ok(Stubs { messages: messages?, clients: join(clients)?, servers: join(servers)? })
    })
}

fn messages(fds: &FileDescriptorSet, package: &str, bytes_fields: &[String]) -> anyhow::Result<String> {
    let mut config = prost_build::Config::new();
    config.format(false).bytes(bytes_fields);
    let module = Module::from_protobuf_package_name(package);
    // Every file goes in (prost needs the well-known types to decide derives);
    // only the contract package's module is kept. Services are dropped here.
    let requests = fds
        .file
        .iter()
        .map(|f| (Module::from_protobuf_package_name(f.package()), FileDescriptorProto { service: vec![], ..f.clone() }))
        .collect();
    Ok(config.generate(requests)?.remove(&module).unwrap_or_default())
}

/// The client (or server) modules of every service of `package`. Messages
/// are dropped from the input: service code only names their Rust paths.
fn services(fds: &FileDescriptorSet, package: &str, client: bool) -> anyhow::Result<String> {
    let out = Arc::new(Mutex::new(String::new()));
    let tonic = tonic_prost_build::configure()
        .build_client(client)
        .build_server(!client)
        .build_transport(true)
        // Every server method gets a default answering `Unimplemented`, so a
        // fake PluginAPI in a plugin's tests writes only the methods it uses.
        .generate_default_stubs(true)
        .service_generator();
    let mut config = prost_build::Config::new();
    config.format(false).service_generator(Box::new(Collect { inner: tonic, out: Arc::clone(&out) }));
    let requests = fds
        .file
        .iter()
        .filter(|f| f.package() == package && !f.service.is_empty())
        .map(|f| {
            let services_only = FileDescriptorProto {
                message_type: vec![],
                enum_type: vec![],
                service: f.service.clone(),
                name: f.name.clone(),
                package: f.package.clone(),
                source_code_info: f.source_code_info.clone(),
                ..Default::default()
            };
            (Module::from_protobuf_package_name(package), services_only)
        })
        .collect();
    config.generate(requests)?;
    let code = std::mem::take(&mut *out.lock().map_err(|_| anyhow::anyhow!("stub generation panicked"))?);
    Ok(code)
}

/// Collects service code apart from the message buffer prost passes in.
struct Collect {
    inner: Box<dyn ServiceGenerator>,
    out: Arc<Mutex<String>>,
}

impl Collect {
    fn with_out(&mut self, f: impl FnOnce(&mut dyn ServiceGenerator, &mut String)) {
        // A poisoned lock means a panic already on its way up; keep going.
        let mut out = self.out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(self.inner.as_mut(), &mut out);
    }
}

impl ServiceGenerator for Collect {
    fn generate(&mut self, service: Service, messages: &mut String) {
        // prost drops a module whose buffer stays empty and then fails to
        // finalize it; a newline keeps it (the buffer itself is discarded).
        messages.push('\n');
        self.with_out(|inner, out| inner.generate(service, out));
    }

    fn finalize(&mut self, _messages: &mut String) {
        self.with_out(|inner, out| inner.finalize(out));
    }

    fn finalize_package(&mut self, package: &str, _messages: &mut String) {
        self.with_out(|inner, out| inner.finalize_package(package, out));
    }
}

//! Message types and gRPC stubs: prost-build and tonic-prost-build, run in
//! memory on the descriptors protox made (no protoc, no build script).
//!
//! Three independent passes run on their own threads: messages, clients and
//! servers. Service code comes out of tonic already formatted, so it is kept
//! apart from the messages and never parsed twice.
//!
//! A plugin serves the hooks service and calls the API service; the other
//! two sides (a hooks client, an API server) exist for the test kit, which
//! plays the server, and go to the kit's own crate: the API server alone is
//! over 40% of the stubs, and a plugin's build should not pay for it.

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
    /// The client and server modules only the test kit uses, formatted.
    pub kit: String,
}

/// Which service the plugin serves and which it calls (proto names).
#[derive(Debug, Clone, Copy)]
pub struct Roles<'a> {
    /// The service the plugin serves: its server side is the plugin's.
    pub served: &'a str,
    /// The service the plugin calls: its client side is the plugin's.
    pub called: &'a str,
}

impl Roles<'_> {
    /// Whether a plugin never uses this side of `service`: the client of
    /// the service it serves, or the server of the one it calls.
    fn test_kit_only(&self, service: &str, side: Side) -> bool {
        match side {
            Side::Client => service == self.served,
            Side::Server => service == self.called,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// Runs prost-build (messages) and tonic-prost-build (services) for `package`.
/// `bytes_fields` (full proto paths) become `bytes::Bytes` instead of `Vec<u8>`.
pub fn generate(
    fds: &FileDescriptorSet,
    package: &str,
    bytes_fields: &[String],
    roles: Roles,
) -> anyhow::Result<Stubs> {
    std::thread::scope(|scope| {
        let clients = scope.spawn(|| services(fds, package, Side::Client, roles));
        let servers = scope.spawn(|| services(fds, package, Side::Server, roles));
        let messages = messages(fds, package, bytes_fields);
        let join = |h: std::thread::ScopedJoinHandle<'_, anyhow::Result<Sides>>| {
            h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("stub generation panicked")))
        };
        let (clients, servers) = (join(clients)?, join(servers)?);
        Ok(Stubs { messages: messages?, clients: clients.plugin, servers: servers.plugin, kit: clients.kit + &servers.kit })
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
        .map(|f| {
            (Module::from_protobuf_package_name(f.package()), FileDescriptorProto { service: vec![], ..f.clone() })
        })
        .collect();
    Ok(config.generate(requests)?.remove(&module).unwrap_or_default())
}

/// Service code of one side, split by who uses it.
#[derive(Default)]
struct Sides {
    /// What a plugin uses.
    plugin: String,
    /// What only the test kit uses.
    kit: String,
}

/// The client (or server) modules of every service of `package`. Messages
/// are dropped from the input: service code only names their Rust paths.
fn services(fds: &FileDescriptorSet, package: &str, side: Side, roles: Roles) -> anyhow::Result<Sides> {
    let out = Arc::new(Mutex::new(Sides::default()));
    let tonic = tonic_prost_build::configure()
        .build_client(side == Side::Client)
        .build_server(side == Side::Server)
        .build_transport(true)
        // Every server method gets a default answering `Unimplemented`, so a
        // fake PluginAPI in a plugin's tests writes only the methods it uses.
        .generate_default_stubs(true)
        .service_generator();
    let mut config = prost_build::Config::new();
    let collect =
        Collect { inner: tonic, out: Arc::clone(&out), side, roles: (roles.served.into(), roles.called.into()) };
    config.format(false).service_generator(Box::new(collect));
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

/// Collects service code apart from the message buffer prost passes in,
/// setting apart the modules only the test kit uses.
struct Collect {
    inner: Box<dyn ServiceGenerator>,
    out: Arc<Mutex<Sides>>,
    side: Side,
    /// `Roles`, owned: prost wants a `'static` generator.
    roles: (String, String),
}

impl Collect {
    fn with_out(&mut self, f: impl FnOnce(&mut dyn ServiceGenerator, &mut Sides)) {
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
        let roles = Roles { served: &self.roles.0, called: &self.roles.1 };
        let test_kit_only = roles.test_kit_only(&service.proto_name, self.side);
        let mut code = String::new();
        self.inner.generate(service, &mut code);
        self.with_out(|_, out| if test_kit_only { out.kit.push_str(&code) } else { out.plugin.push_str(&code) });
    }

    fn finalize(&mut self, _messages: &mut String) {
        self.with_out(|inner, out| inner.finalize(&mut out.plugin));
    }

    fn finalize_package(&mut self, package: &str, _messages: &mut String) {
        self.with_out(|inner, out| inner.finalize_package(package, &mut out.plugin));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sides_a_plugin_never_uses_are_for_the_test_kit() {
        let roles = Roles { served: "PluginHooks", called: "PluginAPI" };
        assert!(roles.test_kit_only("PluginHooks", Side::Client));
        assert!(roles.test_kit_only("PluginAPI", Side::Server));
        assert!(!roles.test_kit_only("PluginHooks", Side::Server));
        assert!(!roles.test_kit_only("PluginAPI", Side::Client));
        assert!(!roles.test_kit_only("Other", Side::Client));
    }
}

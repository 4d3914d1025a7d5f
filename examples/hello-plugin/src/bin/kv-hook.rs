//! [`KvHook`] as a plugin process, served as the server starts plugins:
//! the socket side of the test kit's benchmark (`benches/kit.rs`).

use std::process::ExitCode;

use hello_plugin::kv_hook::KvHook;

fn main() -> ExitCode {
    mattermost_plugin::serve(KvHook::default())
}

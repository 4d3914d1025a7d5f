//! hello-plugin's executable: the plugin process the Mattermost server
//! starts. The plugin itself is the library's [`hello_plugin::Hello`]
//! (`src/plugin.rs`), where its tests reach it.

use std::process::ExitCode;

fn main() -> ExitCode {
    mattermost_plugin::serve(hello_plugin::Hello::new())
}

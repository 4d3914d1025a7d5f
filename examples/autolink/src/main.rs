//! The plugin process the Mattermost server starts.

fn main() -> std::process::ExitCode {
    mattermost_plugin::serve(autolink::Autolink::new())
}

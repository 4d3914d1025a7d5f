//! A plugin that misbehaves on request, for the SDK's end-to-end tests: a
//! hook that panics, a hook that never finishes, a hook that takes a while.
//! Not an example to follow.

use std::process::ExitCode;
use std::time::Duration;

use mattermost_plugin::{Context, HookResult, MessageWillBePostedDecision, Plugin, proto};

struct Chaos;

#[mattermost_plugin::plugin]
impl Plugin for Chaos {
    /// `panic` panics, `hang` never answers, `slow` answers after 800 ms,
    /// anything else is allowed.
    async fn message_will_be_posted(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        post: proto::Post,
    ) -> MessageWillBePostedDecision {
        match post.message.as_str() {
            "panic" => panic!("asked to panic"),
            "hang" => std::future::pending().await,
            "slow" => {
                tokio::time::sleep(Duration::from_millis(800)).await;
                MessageWillBePostedDecision::Reject("slow answer".into())
            }
            _ => MessageWillBePostedDecision::Allow,
        }
    }

    /// Panics: a hook with an `error` field answers the panic there.
    async fn execute_command(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        _args: proto::CommandArgs,
    ) -> HookResult<proto::CommandResponse> {
        panic!("command handler panicked")
    }
}

fn main() -> ExitCode {
    mattermost_plugin::serve(Chaos)
}

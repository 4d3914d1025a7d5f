//! A plugin that misbehaves on request, for the SDK's end-to-end tests: a
//! hook that panics, a hook that never finishes, a hook that takes a while.
//! Not an example to follow.

use std::process::ExitCode;
use std::time::Duration;

use mattermost_plugin::http::{self, ResponseWriter};
use mattermost_plugin::{Context, HookResult, HttpRequest, HttpResponse, MessageWillBePostedDecision, Plugin, proto};

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

    /// Go-style handlers through the response writer: `/writer` writes a
    /// status, two header values and three flushed pieces; `/bad-status`
    /// writes status 1000; `/panic` panics before answering.
    async fn serve_http(&self, _cx: &Context, request: HttpRequest) -> HttpResponse {
        match request.uri().path() {
            "/writer" => http::respond_with(request, |_request, mut w: ResponseWriter| async move {
                w.headers_mut().append("X-Step", "one".parse().unwrap());
                w.headers_mut().append("X-Step", "two".parse().unwrap());
                w.write_header(201);
                for piece in ["a", "b", "c"] {
                    if w.write(piece).await.is_err() || w.flush().await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }),
            "/bad-status" => http::respond_with(request, |_request, mut w: ResponseWriter| async move {
                w.write_header(1000);
                let _ = w.write("oops").await;
            }),
            "/panic" => panic!("HTTP handler asked to panic"),
            _ => http::not_found(),
        }
    }
}

fn main() -> ExitCode {
    mattermost_plugin::serve(Chaos)
}

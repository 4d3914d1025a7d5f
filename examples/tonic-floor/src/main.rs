//! The floor of `scripts/bench-build`: a plugin server with nothing but
//! tonic, the messages and stubs the SDK is generated with (its proto crate,
//! compiled here as they are: the hooks server and the API client, as in a
//! plugin; the test kit's stubs are in the kit's own crate), and one
//! hook. It prints go-plugin's handshake line and serves `Implemented` and
//! `MessageWillBePosted` on loopback.
//!
//! It is a yardstick for build times, not a plugin: no health service, no
//! logging, no API client, no settings.

#[allow(dead_code, clippy::all)]
#[path = "../../../generated-sdk/proto/src/lib.rs"]
mod proto;

use proto::plugin_hooks_server::{PluginHooks, PluginHooksServer};
use proto::{ImplementedRequest, ImplementedResponse, MessageWillBePostedRequest, MessageWillBePostedResponse};
use tonic::{Request, Response, Status};

struct Floor;

#[tonic::async_trait]
impl PluginHooks for Floor {
    async fn implemented(&self, _: Request<ImplementedRequest>) -> Result<Response<ImplementedResponse>, Status> {
        Ok(Response::new(ImplementedResponse { hooks: vec!["MessageWillBePosted".into()], ..Default::default() }))
    }

    async fn message_will_be_posted(
        &self,
        request: Request<MessageWillBePostedRequest>,
    ) -> Result<Response<MessageWillBePostedResponse>, Status> {
        let post = request.into_inner().post.unwrap_or_default();
        let refused = post.message.contains("forbidden");
        Ok(Response::new(MessageWillBePostedResponse {
            rejection_reason: if refused { "forbidden".into() } else { String::new() },
            ..Default::default()
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("1|1|tcp|{}|grpc", listener.local_addr()?);
    tonic::transport::Server::builder()
        .add_service(PluginHooksServer::new(Floor))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await?;
    Ok(())
}

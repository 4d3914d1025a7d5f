//! The baseline of the benchmarks (`benches/hooks.rs`, `benches/http.rs`):
//! a bare tonic server answering `MessageWillBePosted` with the example
//! plugin's own filter code, and `ServeHTTP` with an echo that copies each
//! request chunk into a response message, with nothing of the SDK's runtime
//! or HTTP bridge. Prints its address on stdout.

use std::sync::RwLock;

use mattermost_plugin::proto::plugin_hooks_server::{PluginHooks, PluginHooksServer};
use mattermost_plugin::proto::{
    MessageWillBePostedRequest, MessageWillBePostedResponse, Post, ServeHttpRequest, ServeHttpResponse,
    ServeHttpResponseInit,
};
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use hello_plugin::filter::{self, Verdict};
use hello_plugin::settings::Settings;

#[derive(Default)]
struct Bare {
    settings: RwLock<Settings>,
}

#[tonic::async_trait]
impl PluginHooks for Bare {
    async fn message_will_be_posted(
        &self,
        request: Request<MessageWillBePostedRequest>,
    ) -> Result<Response<MessageWillBePostedResponse>, Status> {
        let post = request.into_inner().post.ok_or_else(|| Status::invalid_argument("no post"))?;
        let verdict = filter::check(&self.settings.read().unwrap_or_else(|poisoned| poisoned.into_inner()), &post.message);
        let response = match verdict {
            Verdict::Allow => MessageWillBePostedResponse::default(),
            Verdict::Reject(reason) => MessageWillBePostedResponse { rejection_reason: reason, ..Default::default() },
            Verdict::Rewrite(message) => {
                MessageWillBePostedResponse { modified_post: Some(Post { message, ..post }), ..Default::default() }
            }
        };
        Ok(Response::new(response))
    }

    async fn serve_http(
        &self,
        request: Request<tonic::Streaming<ServeHttpRequest>>,
    ) -> Result<Response<BoxStream<ServeHttpResponse>>, Status> {
        let mut requests = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let init = ServeHttpResponse {
                init: Some(ServeHttpResponseInit { status_code: 200, headers: vec![] }),
                ..Default::default()
            };
            if tx.send(Ok(init)).await.is_err() {
                return;
            }
            while let Ok(Some(message)) = requests.message().await {
                let done = message.body_complete;
                let out = ServeHttpResponse { body_chunk: message.body_chunk, body_complete: done, ..Default::default() };
                if tx.send(Ok(out)).await.is_err() || done {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

#[tokio::main]
async fn main() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    println!("{}", listener.local_addr().expect("address"));
    tonic::transport::Server::builder()
        .add_service(PluginHooksServer::new(Bare::default()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .expect("serve");
}

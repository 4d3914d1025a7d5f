//! Starting a plugin binary the way the Mattermost server does, and a fake
//! `PluginAPI` for it to call.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mattermost_plugin_testing::plugin_api_server::{PluginApi, PluginApiServer};
use mattermost_plugin_testing::plugin_hooks_client::PluginHooksClient;
use mattermost_plugin::proto;
use mattermost_plugin::process::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

/// Every wait in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(10);

pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future).await.expect("timed out")
}

/// A plugin process, started as the server starts it.
pub struct PluginProcess {
    pub child: Child,
    /// The handshake line, split on `|`.
    pub handshake: Vec<String>,
    pub address: SocketAddr,
    /// Every line the plugin wrote to stderr so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// stdout lines after the handshake (there must be none).
    pub extra_stdout: Arc<Mutex<Vec<String>>>,
    pub started_in: Duration,
}

/// The environment the server gives a plugin, with `extra` on top; an
/// empty value removes a variable.
pub fn plugin_env(api: Option<SocketAddr>, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env = HashMap::new();
    env.insert(MAGIC_COOKIE_KEY.to_owned(), MAGIC_COOKIE_VALUE.to_owned());
    env.insert("PLUGIN_PROTOCOL_VERSIONS".to_owned(), "1".to_owned());
    // Port 0: the OS picks, so tests running at once never collide.
    env.insert("PLUGIN_MIN_PORT".to_owned(), "0".to_owned());
    env.insert("PLUGIN_MAX_PORT".to_owned(), "0".to_owned());
    env.insert("MATTERMOST_PLUGIN_LOG_LEVEL".to_owned(), "debug".to_owned());
    if let Some(api) = api {
        env.insert("MATTERMOST_PLUGIN_API_TARGET".to_owned(), api.to_string());
    }
    for (k, v) in extra {
        if v.is_empty() {
            env.remove(*k);
        } else {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    env
}

impl PluginProcess {
    /// Starts `binary` with exactly `env` (plus PATH) and reads its handshake.
    pub async fn start(binary: &str, env: HashMap<String, String>) -> Self {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the plugin");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let mut out_lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(5), out_lines.next_line())
            .await
            .expect("no handshake within 5 s")
            .expect("read stdout")
            .unwrap_or_else(|| panic!("the plugin closed stdout without a handshake; stderr: {:?}", stderr.lock().unwrap()));
        let started_in = started.elapsed();
        let extra_stdout = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&extra_stdout);
        tokio::spawn(async move {
            while let Ok(Some(line)) = out_lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let handshake: Vec<String> = first.split('|').map(str::to_owned).collect();
        assert!(handshake.len() == 5 || handshake.len() == 6, "handshake {first:?}");
        let address = handshake[3].parse().expect("handshake address");
        Self { child, handshake, address, stderr, extra_stdout, started_in }
    }

    pub async fn channel(&self) -> Channel {
        within(Endpoint::from_shared(format!("http://{}", self.address)).unwrap().connect()).await.expect("connect")
    }

    pub async fn hooks(&self) -> PluginHooksClient<Channel> {
        PluginHooksClient::new(self.channel().await)
    }

    /// Waits (bounded) for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(limit, self.child.wait()).await.ok().map(|r| r.expect("wait"))
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The first stderr line `matches` accepts, waiting for it (bounded by
    /// `LIMIT`): the plugin's log lines go through a buffer its own thread
    /// drains, so a line can reach stderr after the answer that caused it.
    /// Panics with every line read when none matches in time.
    #[allow(dead_code)] // not every test binary that shares this module uses it
    pub async fn logged(&self, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let lines = self.stderr_lines();
            if let Some(line) = lines.iter().find(|l| matches(l)) {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "no such line on stderr within {LIMIT:?}: {lines:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Whether process `pid` has stopped: gone, or a zombie waiting for
/// whoever adopted it to reap it.
pub fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |stat| stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
}

/// Calls go-plugin's `plugin.GRPCController/Shutdown`.
pub async fn shutdown(channel: Channel) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/plugin.GRPCController/Shutdown");
    let codec = tonic_prost::ProstCodec::<mattermost_plugin::process::Empty, mattermost_plugin::process::Empty>::default();
    grpc.unary(Request::new(mattermost_plugin::process::Empty {}), path, codec).await.map(|_| ())
}

/// What the fake server was asked.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiCall {
    GetPluginConfig,
    RegisterCommand(String),
    GetServerVersion,
}

/// A fake `PluginAPI` for what the plugin process does at activation: the
/// plugin's settings, the command registration, the server version, and a
/// record of calls. `GetPluginConfig` fails as the real server's handler
/// does (`runtime/src/host_rules.md`, "The plugin API's answers"): a gRPC status `"<id>: <message>"`. (The
/// plugin's own logic is tested with the SDK's test kit, `tests/kit.rs`.)
#[derive(Default, Clone)]
pub struct FakeApi {
    pub calls: Arc<Mutex<Vec<ApiCall>>>,
    pub config: Arc<Mutex<HashMap<String, String>>>,
    /// `GetPluginConfig` fails (status form).
    pub config_fails: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeApi {
    fn record(&self, call: ApiCall) {
        self.calls.lock().unwrap().push(call);
    }

    pub fn calls(&self) -> Vec<ApiCall> {
        self.calls.lock().unwrap().clone()
    }

    /// Serves the fake on a loopback port.
    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let service = PluginApiServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        address
    }
}

#[tonic::async_trait]
impl PluginApi for FakeApi {
    async fn get_plugin_config(
        &self,
        _request: Request<proto::GetPluginConfigRequest>,
    ) -> Result<Response<proto::GetPluginConfigResponse>, Status> {
        self.record(ApiCall::GetPluginConfig);
        if self.config_fails.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Status::internal("app.plugin.config.fake_failure: the configuration store is down"));
        }
        let fields = self
            .config
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (k.clone(), prost_types::Value { kind: Some(prost_types::value::Kind::StringValue(v.clone())) })
            })
            .collect();
        Ok(Response::new(proto::GetPluginConfigResponse {
            error: None,
            config: Some(prost_types::Struct { fields }),
        }))
    }

    async fn register_command(
        &self,
        request: Request<proto::RegisterCommandRequest>,
    ) -> Result<Response<proto::RegisterCommandResponse>, Status> {
        let trigger = request.into_inner().command.map(|c| c.trigger).unwrap_or_default();
        self.record(ApiCall::RegisterCommand(trigger));
        Ok(Response::new(proto::RegisterCommandResponse { error: None }))
    }

    async fn get_server_version(
        &self,
        _request: Request<proto::GetServerVersionRequest>,
    ) -> Result<Response<proto::GetServerVersionResponse>, Status> {
        self.record(ApiCall::GetServerVersion);
        Ok(Response::new(proto::GetServerVersionResponse { error: None, version: "10.5.0".into() }))
    }
}

pub fn post(message: &str) -> proto::MessageWillBePostedRequest {
    proto::MessageWillBePostedRequest {
        post: Some(proto::Post { id: "p1".into(), message: message.into(), ..Default::default() }),
        ..Default::default()
    }
}

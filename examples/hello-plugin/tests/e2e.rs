//! End to end: the example plugin (and a misbehaving one) started as the
//! Mattermost server starts them, over real sockets.

mod common;

use std::time::{Duration, Instant};

use common::{ApiCall, FakeApi, PluginProcess, plugin_env, post, shutdown, within};
use mattermost_plugin::proto;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const HELLO: &str = env!("CARGO_BIN_EXE_hello-plugin");
const CHAOS: &str = env!("CARGO_BIN_EXE_chaos-plugin");

async fn hello_with_api() -> (PluginProcess, FakeApi) {
    let api = FakeApi::default();
    let address = api.serve().await;
    (PluginProcess::start(HELLO, plugin_env(Some(address), &[])).await, api)
}

#[tokio::test]
async fn refuses_to_run_without_the_magic_cookie() {
    let output = within(
        tokio::process::Command::new(HELLO)
            .env_remove("MATTERMOST_PLUGIN")
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "stdout: {:?}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is a Mattermost plugin") && stderr.contains("not meant to be run directly"), "{stderr}");
}

#[tokio::test]
async fn refuses_a_protocol_version_it_does_not_speak() {
    let output = within(
        tokio::process::Command::new(HELLO)
            .envs(plugin_env(None, &[("PLUGIN_PROTOCOL_VERSIONS", "2,3")]))
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("protocol versions `2,3`"));
}

#[tokio::test]
async fn handshake_is_the_first_and_only_stdout_line_and_logs_are_hclog_json() {
    let (plugin, _api) = hello_with_api().await;
    assert_eq!(&plugin.handshake[..3], ["1", "1", "tcp"]);
    assert_eq!(plugin.handshake[4], "grpc");
    assert!(plugin.address.ip().is_loopback());
    let mut hooks = plugin.hooks().await;
    within(hooks.on_activate(proto::OnActivateRequest::default())).await.unwrap();
    // The activation logs at info; wait (bounded) for the line to arrive.
    plugin.logged(|l| l.contains("active on Mattermost 10.5.0")).await;
    for line in plugin.stderr_lines() {
        let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        for key in ["@level", "@message", "@timestamp"] {
            assert!(value[key].is_string(), "{key} in {line}");
        }
        let timestamp = value["@timestamp"].as_str().unwrap();
        let fraction = timestamp.split('.').nth(1).unwrap_or_default();
        assert_eq!(fraction.len(), "000000Z".len(), "six fraction digits: {timestamp}");
    }
    let activated = plugin.stderr_lines().into_iter().find(|l| l.contains("active on Mattermost")).unwrap();
    let activated: serde_json::Value = serde_json::from_str(&activated).unwrap();
    assert_eq!(activated["@level"], "info");
    assert_eq!(activated["hook"], "OnActivate");
    assert!(plugin.extra_stdout.lock().unwrap().is_empty());
}

#[tokio::test]
async fn binds_the_first_free_port_of_the_range() {
    // Hold the first port of a range so the plugin has to move on.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let first = held.local_addr().unwrap().port();
    let last = first.saturating_add(20);
    let (min, max) = (first.to_string(), last.to_string());
    let plugin =
        PluginProcess::start(HELLO, plugin_env(None, &[("PLUGIN_MIN_PORT", &min), ("PLUGIN_MAX_PORT", &max)])).await;
    let port = plugin.address.port();
    assert!(port > first && port <= last, "port {port} outside {first}..={last} or on the held port");
}

#[tokio::test]
async fn health_reports_plugin_serving() {
    let (plugin, _api) = hello_with_api().await;
    let mut health = HealthClient::new(plugin.channel().await);
    for service in ["plugin", ""] {
        let answer = within(health.check(HealthCheckRequest { service: service.into() })).await.unwrap();
        assert_eq!(answer.into_inner().status(), ServingStatus::Serving, "service {service:?}");
    }
}

#[tokio::test]
async fn implemented_lists_exactly_the_hooks_the_plugin_wrote() {
    let (plugin, _api) = hello_with_api().await;
    let answer = within(plugin.hooks().await.implemented(proto::ImplementedRequest::default())).await.unwrap();
    let answer = answer.into_inner();
    assert!(answer.error.is_none());
    let mut hooks = answer.hooks;
    hooks.sort();
    assert_eq!(hooks, ["ExecuteCommand", "FileWillBeUploaded", "MessageWillBePosted", "OnActivate", "OnConfigurationChange", "ServeHTTP"]);
}

/// A host that does send `OnConfigurationChange` before `OnActivate` (as the
/// Python SDK's tests assume) breaks nothing: each call reads the settings,
/// and the last read wins.
#[tokio::test]
async fn a_host_that_also_sends_on_configuration_change_first_breaks_nothing() {
    let (plugin, api) = hello_with_api().await;
    // Lowercased, as the System Console stores setting keys.
    api.config.lock().unwrap().insert("blockedword".into(), "spoiler".into());
    let mut hooks = plugin.hooks().await;
    let configured = within(hooks.on_configuration_change(proto::OnConfigurationChangeRequest::default())).await;
    assert!(configured.unwrap().into_inner().error.is_none());
    let activated = within(hooks.on_activate(proto::OnActivateRequest::default())).await.unwrap();
    assert!(activated.into_inner().error.is_none());
    assert_eq!(
        api.calls(),
        [
            ApiCall::GetPluginConfig,
            ApiCall::GetPluginConfig,
            ApiCall::RegisterCommand("hello".into()),
            ApiCall::GetServerVersion
        ]
    );
    let spoiler = within(hooks.message_will_be_posted(post("no spoiler here"))).await.unwrap().into_inner();
    assert!(spoiler.rejection_reason.contains("spoiler"), "{spoiler:?}");
}

/// As in Go's SDK: settings that cannot be read at activation are logged,
/// and the activation goes on with the defaults.
#[tokio::test]
async fn a_failing_configuration_at_activation_is_logged_and_activation_goes_on() {
    let (plugin, api) = hello_with_api().await;
    api.config_fails.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut hooks = plugin.hooks().await;
    let activated = within(hooks.on_activate(proto::OnActivateRequest::default())).await.unwrap().into_inner();
    assert!(activated.error.is_none(), "{activated:?}");
    assert_eq!(
        api.calls(),
        [ApiCall::GetPluginConfig, ApiCall::RegisterCommand("hello".into()), ApiCall::GetServerVersion]
    );
    let logged = plugin.logged(|l| l.contains("the configuration store is down")).await;
    let logged: serde_json::Value = serde_json::from_str(&logged).unwrap();
    assert_eq!(logged["@level"], "error");
    assert_eq!(logged["hook"], "OnConfigurationChange");
    assert!(logged["@message"].as_str().unwrap().contains("before OnActivate"), "{logged}");
    // The defaults are in force.
    let forbidden = within(hooks.message_will_be_posted(post("this is forbidden"))).await.unwrap().into_inner();
    assert!(forbidden.rejection_reason.contains("forbidden"));
}

/// A failing `on_activate` fails the activation, its text where the host
/// shows it: the host rebuilds the error from `where`, `id`,
/// `detailed_error` and the status, and drops `message` (`runtime/src/host_rules.md`, "Hook
/// errors").
#[tokio::test]
async fn a_failing_activation_answers_its_error_readable_by_the_host() {
    // No PluginAPI at all: the configuration (logged) and the registration fail.
    let plugin = PluginProcess::start(HELLO, plugin_env(None, &[])).await;
    let answer = within(plugin.hooks().await.on_activate(proto::OnActivateRequest::default())).await.unwrap();
    let error = answer.into_inner().error.expect("an app error");
    assert_eq!(error.id, mattermost_plugin::HookError::GENERIC_ID);
    assert_eq!(error.r#where, "OnActivate");
    assert_eq!(error.status_code, 500);
    assert!(
        error.detailed_error.contains("transport") || error.detailed_error.contains("connect"),
        "{error:?}"
    );
    assert_eq!(error.message, error.detailed_error, "the message is kept too");
}

#[tokio::test]
async fn a_hook_the_plugin_did_not_write_answers_the_default() {
    let (plugin, _api) = hello_with_api().await;
    let mut hooks = plugin.hooks().await;
    let request = proto::MessageHasBeenPostedRequest { post: Some(proto::Post::default()), ..Default::default() };
    within(hooks.message_has_been_posted(request)).await.expect("notification answers empty");
    let posts = vec![proto::Post { id: "a".into(), ..Default::default() }, proto::Post { id: "b".into(), ..Default::default() }];
    let consumed = within(hooks.messages_will_be_consumed(proto::MessagesWillBeConsumedRequest { posts: posts.clone(), ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(consumed.posts, posts, "by default posts are delivered unchanged");
}

#[tokio::test]
async fn a_request_missing_its_message_is_invalid_and_the_plugin_keeps_serving() {
    let (plugin, _api) = hello_with_api().await;
    let mut hooks = plugin.hooks().await;
    let status = within(hooks.message_will_be_posted(proto::MessageWillBePostedRequest::default())).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("post"), "{status:?}");
    within(hooks.message_will_be_posted(post("hello"))).await.expect("still serving");
}

#[tokio::test]
async fn a_panicking_hook_answers_internal_and_the_next_call_succeeds() {
    let plugin = PluginProcess::start(CHAOS, plugin_env(None, &[])).await;
    let mut hooks = plugin.hooks().await;
    let status = within(hooks.message_will_be_posted(post("panic"))).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(status.message().contains("asked to panic"), "{status:?}");
    within(hooks.message_will_be_posted(post("fine"))).await.expect("serving after a panic");
    // A hook with an error field answers the panic there.
    let request = proto::ExecuteCommandRequest { args: Some(proto::CommandArgs::default()), ..Default::default() };
    let answer = within(hooks.execute_command(request)).await.unwrap().into_inner();
    let error = answer.error.expect("the panic as an app error");
    assert_eq!(error.id, "plugin.hook.panic");
    assert!(error.message.contains("command handler panicked"));
    assert_eq!(error.detailed_error, error.message, "readable where the host shows it");
    assert_eq!(error.r#where, "ExecuteCommand");
    plugin.logged(|l| l.contains("\"@level\":\"error\"") && l.contains("asked to panic")).await;
}

#[tokio::test]
async fn a_hook_past_the_timeout_is_cancelled_with_deadline_exceeded() {
    let plugin = PluginProcess::start(CHAOS, plugin_env(None, &[("MATTERMOST_PLUGIN_HOOK_TIMEOUT", "0.3")])).await;
    let mut hooks = plugin.hooks().await;
    let started = Instant::now();
    let status = within(hooks.message_will_be_posted(post("hang"))).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(5));
    within(hooks.message_will_be_posted(post("fine"))).await.expect("serving after a timeout");
}

#[tokio::test]
async fn hooks_run_concurrently() {
    let plugin = PluginProcess::start(CHAOS, plugin_env(None, &[])).await;
    let hooks = plugin.hooks().await;
    // Eight 800 ms hooks at once finish long before 8 × 800 ms.
    let started = Instant::now();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let mut hooks = hooks.clone();
            tokio::spawn(async move { hooks.message_will_be_posted(post("slow")).await })
        })
        .collect();
    for call in calls {
        let answer = within(call).await.unwrap().unwrap().into_inner();
        assert_eq!(answer.rejection_reason, "slow answer");
    }
    assert!(started.elapsed() < Duration::from_millis(8 * 800), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn shutdown_finishes_in_flight_hooks_and_exits_within_two_seconds() {
    let mut plugin = PluginProcess::start(CHAOS, plugin_env(None, &[])).await;
    let channel = plugin.channel().await;
    let mut hooks = mattermost_plugin_testing::plugin_hooks_client::PluginHooksClient::new(channel.clone());
    let in_flight = tokio::spawn(async move { hooks.message_will_be_posted(post("slow")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    within(shutdown(channel)).await.expect("Shutdown answers");
    let answer = within(in_flight).await.unwrap().expect("the in-flight hook still answers");
    assert_eq!(answer.into_inner().rejection_reason, "slow answer");
    let status = plugin.wait_exit(Duration::from_secs(2)).await.expect("exited within 2 s of Shutdown");
    assert!(status.success(), "{status:?}");
    assert!(asked.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn exits_when_the_host_connection_goes_away() {
    let (mut plugin, _api) = hello_with_api().await;
    {
        let mut hooks = plugin.hooks().await;
        within(hooks.implemented(proto::ImplementedRequest::default())).await.unwrap();
    }
    // The client and its connection are gone; the plugin waits 2 s for a
    // reconnection, then stops.
    let status = plugin.wait_exit(Duration::from_secs(6)).await.expect("exited after the host went away");
    assert!(status.success(), "{status:?}");
    plugin.logged(|l| l.contains("closed its connection")).await;
}

#[tokio::test]
async fn stops_on_sigterm() {
    let (mut plugin, _api) = hello_with_api().await;
    let pid = plugin.child.id().expect("running");
    let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let status = plugin.wait_exit(Duration::from_secs(3)).await.expect("exited after SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn exits_when_the_host_process_goes_away() {
    // A shell stands in for the host: it starts the plugin, says its pid,
    // and exits. The plugin, orphaned, must notice and stop.
    let env = plugin_env(None, &[]);
    let mut shell = tokio::process::Command::new("sh")
        .arg("-c")
        .arg("\"$0\" > /dev/null 2>&1 & echo $!; sleep 0.5")
        .arg(HELLO)
        .envs(env)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pid = String::new();
    {
        use tokio::io::AsyncBufReadExt as _;
        let mut out = tokio::io::BufReader::new(shell.stdout.take().unwrap());
        within(out.read_line(&mut pid)).await.unwrap();
    }
    let pid = pid.trim().to_owned();
    assert!(within(shell.wait()).await.unwrap().success());
    let pid: u32 = pid.parse().expect("a pid");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !common::stopped(pid) {
        assert!(Instant::now() < deadline, "plugin {pid} still running 5 s after its host went away");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#!/usr/bin/env python3
"""Interop test: drive a Rust Mattermost plugin with Python grpcio.

    python3 interop.py <plugin-binary>

grpcio (gRPC's C core) is a stack independent of the plugin's tonic, so this
checks the wire contract from the outside. The script plays the Mattermost
gRPC plugin host with the same host facts as tests/interop/go-host (see
runtime/src/host_rules.md): it serves a small in-memory `PluginAPI`, starts
the plugin binary directly (not from a bundle; go-host covers installation)
with go-plugin's environment (magic cookie, protocol versions, port range)
plus MATTERMOST_PLUGIN_API_TARGET and no mTLS, reads the handshake line,
checks health, calls `Implemented`, then `OnActivate` (never
`OnConfigurationChange` at start: the SDK must load the settings itself, so
`GetPluginConfig` must come before the plugin's `RegisterCommand`), calls
hooks, reads hook errors the way the host does (`where` and
`detailed_error`; the host drops `message`), sends ServeHTTP as the server
does (`url` with the `/plugins/<id>` prefix and `access_token` removed and
the query re-encoded with sorted keys, `request_uri` the raw request-target,
the server's header rules, the first body piece inside the init message),
checks the plugin's stdout/stderr and stops it with
`plugin.GRPCController/Shutdown`.

Written for the example `hello-plugin` (examples/hello-plugin). Each check
prints one `ok: ...` or `FAIL: ...` line; the exit code is 0 only when all
pass. Without grpcio-tools the test is skipped (exit 0), unless
MMPLUGIN_REQUIRE_INTEROP=1 (exit 1).
"""

import concurrent.futures
import hashlib
import importlib
import json
import os
import queue
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "..", "proto"))
MANIFEST = os.path.normpath(os.path.join(HERE, "..", "..", "..", "examples", "hello-plugin", "plugin.json"))


def plugin_id():
    """The example's manifest id, lower-cased as the server reads it."""
    try:
        with open(MANIFEST) as f:
            return json.load(f)["id"].lower()
    except (OSError, ValueError, KeyError):
        return "com.example.hello-rust"

MAGIC_COOKIE_KEY = "MATTERMOST_PLUGIN"
MAGIC_COOKIE_VALUE = "Securely message teams, anywhere."

HANDSHAKE_TIMEOUT = 5.0  # seconds to wait for the handshake line
RPC_TIMEOUT = 10.0  # deadline of every RPC this script makes
SHUTDOWN_EXIT_TIMEOUT = 2.0  # the host kills a plugin 2 s after Shutdown

EXPECTED_HOOKS = {"OnConfigurationChange", "OnActivate", "MessageWillBePosted", "FileWillBeUploaded", "ExecuteCommand", "ServeHTTP"}

HTTP_CHUNK = 64 * 1024  # the server reads request bodies in 64 KiB pieces; response chunks are at most that
SESSION_COOKIE = "MMAUTHTOKEN"  # the session cookie the server removes before ServeHTTP
HTTP_TIMEOUT = 60.0  # deadline of one ServeHTTP stream (a few MiB each way)

# grpc.health.v1, written out here so no grpcio-health-checking is needed.
HEALTH_PROTO = """\
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
"""

# hclog's JSON timestamp layout: 2006-01-02T15:04:05.000000Z07:00
HCLOG_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")


def skip_or_fail_without_tools():
    print("SKIPPED: python grpcio-tools not installed (pip install grpcio-tools)", flush=True)
    if os.environ.get("MMPLUGIN_REQUIRE_INTEROP") == "1":
        print("FAIL: MMPLUGIN_REQUIRE_INTEROP=1 but the Python interop test cannot run", flush=True)
        sys.exit(1)
    sys.exit(0)


try:
    import grpc  # noqa: E402
    import grpc_tools  # noqa: E402
except ImportError:
    skip_or_fail_without_tools()


class Checks:
    """Collects results; prints one line per check."""

    def __init__(self):
        self.failed = 0
        self.passed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print(f"ok: {what}", flush=True)
        else:
            self.failed += 1
            suffix = f" ({detail})" if detail else ""
            print(f"FAIL: {what}{suffix}", flush=True)
        return ok

    def fail(self, what, detail=""):
        return self.check(False, what, detail)


# --------------------------------------------------------------------------
# Stub generation


def generate_stubs(out_dir):
    """Runs grpc_tools.protoc on proto/*.proto (and a health proto); returns
    the list of generated module names."""
    wkt_include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    health_dir = os.path.join(out_dir, "_health_src")
    os.makedirs(health_dir)
    with open(os.path.join(health_dir, "interop_health.proto"), "w") as f:
        f.write(HEALTH_PROTO)
    protos = sorted(p for p in os.listdir(PROTO_DIR) if p.endswith(".proto"))
    if not protos:
        raise RuntimeError(f"no .proto files in {PROTO_DIR}")
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"-I{PROTO_DIR}", f"-I{health_dir}", f"-I{wkt_include}",
        f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
        *protos, "interop_health.proto",
    ]
    res = subprocess.run(cmd, cwd=PROTO_DIR, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"protoc failed ({res.returncode}): {res.stderr.strip()}")
    return [p[: -len(".proto")] for p in protos] + ["interop_health"]


class Stubs:
    """The generated modules, with message lookup by name."""

    def __init__(self, out_dir, names):
        sys.path.insert(0, out_dir)
        self.pb2 = [importlib.import_module(f"{n}_pb2") for n in names]
        self.api_grpc = importlib.import_module("api_pb2_grpc")
        self.hooks_grpc = importlib.import_module("hooks_pb2_grpc")
        self.health = importlib.import_module("interop_health_pb2")
        self.health_grpc = importlib.import_module("interop_health_pb2_grpc")

    def __getattr__(self, name):
        for mod in self.pb2:
            cls = getattr(mod, name, None)
            if cls is not None:
                return cls
        raise AttributeError(f"no generated message {name}")


# --------------------------------------------------------------------------
# The fake server side: PluginAPI


class CallRecorder(grpc.ServerInterceptor):
    """Records every RPC the plugin makes (method name), implemented or not."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = []

    def intercept_service(self, continuation, handler_call_details):
        with self.lock:
            self.calls.append(handler_call_details.method.rsplit("/", 1)[-1])
        return continuation(handler_call_details)

    def names(self):
        with self.lock:
            return list(self.calls)


def make_api_servicer(stubs):
    from google.protobuf import struct_pb2

    class FakePluginAPI(stubs.api_grpc.PluginAPIServicer):
        def __init__(self):
            self.lock = threading.Lock()
            self.kv = {}
            self.commands = []

        def GetPluginConfig(self, request, context):
            config = struct_pb2.Struct()
            # Lowercased, as the System Console stores setting keys.
            config.update({"blockedword": "spoiler"})
            return stubs.GetPluginConfigResponse(config=config)

        def RegisterCommand(self, request, context):
            with self.lock:
                self.commands.append(request.command)
            return stubs.RegisterCommandResponse()

        def GetServerVersion(self, request, context):
            return stubs.GetServerVersionResponse(version="10.5.0")

        def KVGet(self, request, context):
            with self.lock:
                value = self.kv.get(request.key)
            # Mattermost answers a missing key with an empty value, no error.
            return stubs.KVGetResponse(value=value or b"")

        def KVSet(self, request, context):
            with self.lock:
                if request.value:
                    self.kv[request.key] = bytes(request.value)
                else:
                    self.kv.pop(request.key, None)
            return stubs.KVSetResponse()

        def compare_and_set(self, key, old, new):
            # The server's CompareAndSet, self.lock held: an empty old value
            # means "only if the key is absent"; an empty new value deletes,
            # and only a stored value can match for that.
            current = self.kv.get(key)
            if not new:
                success = bool(old) and current == old
                if success:
                    del self.kv[key]
            elif not old:
                success = current is None
            else:
                success = current == old
            if success and new:
                self.kv[key] = new
            return success

        def KVCompareAndSet(self, request, context):
            with self.lock:
                success = self.compare_and_set(request.key, bytes(request.old_value), bytes(request.new_value))
            return stubs.KVCompareAndSetResponse(success=success)

        def KVSetWithOptions(self, request, context):
            # Atomic with options.old_value: a compare-and-set; not atomic: a
            # plain set (an empty value deletes) that answers true.
            with self.lock:
                value, options = bytes(request.value), request.options
                if options.atomic:
                    success = self.compare_and_set(request.key, bytes(options.old_value), value)
                else:
                    success = True
                    if value:
                        self.kv[request.key] = value
                    else:
                        self.kv.pop(request.key, None)
            return stubs.KVSetWithOptionsResponse(success=success)

    return FakePluginAPI()


# --------------------------------------------------------------------------
# The plugin process


class PluginProcess:
    def __init__(self, binary, api_port, min_port, max_port):
        env = dict(os.environ)
        env.update({
            MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE,
            "PLUGIN_PROTOCOL_VERSIONS": "1",
            "PLUGIN_MIN_PORT": str(min_port),
            "PLUGIN_MAX_PORT": str(max_port),
            "MATTERMOST_PLUGIN_API_TARGET": f"127.0.0.1:{api_port}",
        })
        env.pop("PLUGIN_CLIENT_CERT", None)  # no auto-mTLS here
        # Debug level: more log lines for the stderr format check below.
        env.setdefault("MATTERMOST_PLUGIN_LOG_LEVEL", "debug")
        self.proc = subprocess.Popen(
            [binary], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.stdout_lines = []
        self.stderr_lines = []
        self.first_stdout = queue.Queue()
        self.readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout_lines, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr_lines, False), daemon=True),
        ]
        for t in self.readers:
            t.start()

    def _read(self, stream, sink, signal_first):
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                sink.append(line)
                if signal_first and len(sink) == 1:
                    self.first_stdout.put(line)
        finally:
            if signal_first and not sink:
                self.first_stdout.put(None)  # EOF before any line

    def handshake(self, timeout):
        try:
            return self.first_stdout.get(timeout=timeout)
        except queue.Empty:
            return None

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def drain(self, timeout=2.0):
        """After exit: let the readers reach EOF."""
        deadline = time.monotonic() + timeout
        for t in self.readers:
            t.join(max(0.0, deadline - time.monotonic()))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.wait(5)


# --------------------------------------------------------------------------
# The test


def host_error(e):
    """A hook's AppError as the server shows it (AppError.Error()): the host
    rebuilds it with model.NewAppError(where, id, params, detailed_error,
    status_code), so `message` is replaced by the id's translation (the id
    itself for a plugin's id): `where: id[, detailed_error]`."""
    shown = f"{e.where}: {e.id}"
    return f"{shown}, {e.detailed_error}" if e.detailed_error else shown


def post_request(stubs, message, n=0):
    return stubs.MessageWillBePostedRequest(
        context=stubs.RequestContext(),
        plugin_context=stubs.PluginContext(session_id="sess", request_id=f"req{n}", accept_language="en"),
        post=stubs.Post(id=f"post{n}", user_id="user1", channel_id="chan1", message=message),
    )


def plugin_url(target, pid):
    """What the server puts in `url` (plugin_requests.go): the browser's
    request-target with the `/plugins/<id>` prefix removed from the path and
    `access_token` removed from the query, the query re-encoded like Go's
    url.Values.Encode (keys sorted, each key's values in order)."""
    parts = urllib.parse.urlsplit(target)
    path = parts.path
    prefix = f"/plugins/{pid}"
    if path.startswith(prefix):
        path = path[len(prefix):]
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    values = {}
    for k, v in pairs:
        if k != "access_token":
            values.setdefault(k, []).append(v)
    # Go's url.QueryEscape leaves exactly A-Za-z0-9 and -_.~ alone, like quote_plus(safe="").
    query = "&".join(f"{urllib.parse.quote_plus(k, safe='')}={urllib.parse.quote_plus(v, safe='')}"
                     for k in sorted(values) for v in values[k])
    return path + ("?" + query if query else "")


def server_headers(sent, session_user):
    """The server's header rules (plugin_requests.go): client-sent
    Mattermost-User-Id and Mattermost-Plugin-ID go; with a session,
    Authorization goes and Mattermost-User-Id is the session's user; Referer
    and the session cookie go. `sent` is a list of (name, value)."""
    drop = {"mattermost-user-id", "mattermost-plugin-id", "referer"}
    if session_user:
        drop.add("authorization")
    out = {}
    names = {}
    for k, v in sent:
        if k.lower() in drop:
            continue
        if k.lower() == "cookie":
            kept = [c.strip() for c in v.split(";") if c.strip() and c.strip().split("=", 1)[0] != SESSION_COOKIE]
            if not kept:
                continue
            v = "; ".join(kept)
        name = names.setdefault(k.lower(), k)
        out.setdefault(name, []).append(v)
    if session_user:
        out["Mattermost-User-Id"] = [session_user]
    return out


def http_request_stream(stubs, method, target, body, content_type=None, headers=(), session_user="user1",
                        chunk=HTTP_CHUNK):
    """The request stream the server sends for one browser request to
    `target` (`/plugins/<id>/...`): `init` carrying the first body piece (and
    `body_complete` when that piece is the whole body, or there is none), then
    one message per 64 KiB piece, `body_complete` on the last. grpcio pulls
    this generator on its own thread while the caller reads the responses,
    so sending and receiving overlap."""
    sent = [("User-Agent", "mmplugin-interop"), *headers]
    if session_user:
        sent.append(("Authorization", "Bearer interop-token"))
    if content_type is not None:
        sent.append(("Content-Type", content_type))
    if body:
        sent.append(("Content-Length", str(len(body))))
    hdrs = server_headers(sent, session_user)
    init = stubs.ServeHTTPRequestInit(
        plugin_context=stubs.PluginContext(session_id="sess" if session_user else "",
                                           request_id=f"http-{method}-{target}"),
        method=method,
        url=plugin_url(target, plugin_id()),
        proto="HTTP/1.1",
        proto_major=1,
        proto_minor=1,
        headers=[stubs.HTTPHeader(key=k, values=v) for k, v in sorted(hdrs.items())],
        host="localhost:8065",
        remote_addr="127.0.0.1:54321",
        request_uri=target,
        content_length=len(body),
    )
    view = memoryview(body)
    first = bytes(view[:chunk])
    yield stubs.ServeHTTPRequest(init=init, body_chunk=first, body_complete=len(first) == len(body))
    for off in range(len(first), len(body), chunk):
        end = min(off + chunk, len(body))
        yield stubs.ServeHTTPRequest(body_chunk=bytes(view[off:end]), body_complete=end == len(body))


class HTTPResult:
    """One ServeHTTP answer, checked against the response-stream contract as
    it streams in; the body is hashed (and kept only when asked)."""

    def __init__(self, keep_body):
        self.status = None
        self.headers = {}  # lower-cased name -> list of values
        self.problems = []
        self.messages = 0
        self.chunks = 0
        self.max_chunk = 0
        self.size = 0
        self.sha = hashlib.sha256()
        self.body = bytearray() if keep_body else None
        self.complete = False

    def add(self, msg):
        n = self.messages
        self.messages += 1
        if self.complete:
            self.problems.append(f"message #{n} after body_complete")
        if n == 0:
            if not msg.HasField("init"):
                self.problems.append("first response message has no init")
            else:
                code = msg.init.status_code
                self.status = 200 if code == 0 else code
                for h in msg.init.headers:
                    self.headers.setdefault(h.key.lower(), []).extend(h.values)
        elif msg.HasField("init"):
            self.problems.append(f"init repeated in response message #{n}")
        data = msg.body_chunk
        if data:
            self.chunks += 1
            self.max_chunk = max(self.max_chunk, len(data))
            if len(data) > HTTP_CHUNK and len(self.problems) < 5:
                self.problems.append(f"chunk of {len(data)} bytes in message #{n} (max {HTTP_CHUNK})")
            self.size += len(data)
            self.sha.update(data)
            if self.body is not None:
                self.body += data
        if msg.body_complete:
            self.complete = True

    def finish(self):
        if self.messages == 0:
            self.problems.append("no response message")
        elif not self.complete:
            self.problems.append("the last response message lacks body_complete")
        return self


def serve_http(stubs, hooks, method, target, body, content_type=None, keep_body=False, headers=()):
    """Runs one ServeHTTP stream for a browser request to `target`; returns
    (HTTPResult, seconds). A gRPC error propagates; the whole exchange is
    bounded by HTTP_TIMEOUT."""
    result = HTTPResult(keep_body)
    started = time.monotonic()
    responses = hooks.ServeHTTP(http_request_stream(stubs, method, target, body, content_type, headers),
                                timeout=HTTP_TIMEOUT)
    try:
        for msg in responses:
            result.add(msg)
    finally:
        responses.cancel()  # no-op once finished; stops the stream on any surprise
    return result.finish(), time.monotonic() - started


def http_header(result, name):
    values = result.headers.get(name.lower(), [])
    return values[0] if values else None


def run(binary, checks):
    tmp = tempfile.TemporaryDirectory(prefix="mmplugin-interop-")
    server = None
    plugin = None
    channel = None
    try:
        stubs = Stubs(tmp.name, generate_stubs(tmp.name))
        checks.check(True, f"generated Python stubs from {PROTO_DIR}")

        recorder = CallRecorder()
        api = make_api_servicer(stubs)
        server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=16), interceptors=[recorder])
        stubs.api_grpc.add_PluginAPIServicer_to_server(api, server)
        api_port = server.add_insecure_port("127.0.0.1:0")
        if not checks.check(api_port > 0, "PluginAPI server bound on 127.0.0.1", f"port {api_port}"):
            return
        server.start()

        min_port = random.randrange(20000, 29000)
        max_port = min_port + 49
        plugin = PluginProcess(binary, api_port, min_port, max_port)

        # ---- handshake
        line = plugin.handshake(HANDSHAKE_TIMEOUT)
        if line is None:
            code = plugin.proc.poll()
            checks.fail(f"handshake line within {HANDSHAKE_TIMEOUT:.0f} s",
                        f"exit code {code}; stderr: {plugin.stderr_lines[-5:]}")
            return
        parts = line.split("|")
        addr = parts[3] if len(parts) >= 4 else ""
        port = int(addr.rsplit(":", 1)[-1]) if re.fullmatch(r"127\.0\.0\.1:\d+", addr) else -1
        if not checks.check(
            len(parts) == 5 and parts[:3] == ["1", "1", "tcp"] and parts[4] == "grpc" and min_port <= port <= max_port,
            f"handshake line {line!r} (port within {min_port}..{max_port})",
        ):
            return

        channel = grpc.insecure_channel(addr)
        try:
            grpc.channel_ready_future(channel).result(timeout=HANDSHAKE_TIMEOUT)
        except grpc.FutureTimeoutError:
            checks.fail(f"connect to the plugin at {addr}")
            return
        hooks = stubs.hooks_grpc.PluginHooksStub(channel)
        health = stubs.health_grpc.HealthStub(channel)

        def safe(what, fn):
            """Runs one RPC; a gRPC error becomes a FAIL line and None."""
            try:
                return fn()
            except grpc.RpcError as e:
                checks.fail(what, f"gRPC {e.code().name}: {e.details()}")
                return None

        # ---- health
        resp = safe("health Check(\"plugin\")",
                    lambda: health.Check(stubs.health.HealthCheckRequest(service="plugin"), timeout=RPC_TIMEOUT))
        if resp is not None:
            status = stubs.health.HealthCheckResponse.ServingStatus.Name(resp.status)
            checks.check(status == "SERVING", "health Check(\"plugin\") == SERVING", f"got {status}")

        # ---- Implemented
        resp = safe("Implemented", lambda: hooks.Implemented(
            stubs.ImplementedRequest(context=stubs.RequestContext()), timeout=RPC_TIMEOUT))
        implemented = []
        if resp is not None:
            got = list(resp.hooks)
            implemented = got
            checks.check(set(got) == EXPECTED_HOOKS and len(got) == len(EXPECTED_HOOKS) and not resp.HasField("error"),
                         f"Implemented lists the {len(EXPECTED_HOOKS)} hooks: {got}", f"expected {sorted(EXPECTED_HOOKS)}")

        # ---- OnActivate: the host calls it only when Implemented lists it, and
        # never calls OnConfigurationChange at start: the SDK loads the settings
        # (GetPluginConfig) before the plugin's own activation code runs.
        if "OnActivate" not in implemented:
            checks.fail("OnActivate listed by Implemented", f"got {implemented}; the host would never activate it")
        else:
            resp = safe("OnActivate", lambda: hooks.OnActivate(
                stubs.OnActivateRequest(context=stubs.RequestContext()), timeout=RPC_TIMEOUT))
            if resp is not None:
                checks.check(not resp.HasField("error"), "OnActivate succeeds", f"error {host_error(resp.error)}")
                calls = recorder.names()
                order_ok = ("GetPluginConfig" in calls and "RegisterCommand" in calls
                            and calls.index("GetPluginConfig") < calls.index("RegisterCommand"))
                checks.check(order_ok, "OnActivate: the settings were loaded (GetPluginConfig) before RegisterCommand",
                             f"API calls in order: {calls}")
                with api.lock:
                    triggers = [c.trigger for c in api.commands]
                checks.check(triggers == ["hello"], "OnActivate registered the command with trigger \"hello\"",
                             f"registered triggers: {triggers}")
                checks.check("GetServerVersion" in calls, "OnActivate called PluginAPI GetServerVersion",
                             f"calls: {calls}")

        # ---- MessageWillBePosted
        def mwbp(message, n=0):
            return hooks.MessageWillBePosted(post_request(stubs, message, n), timeout=RPC_TIMEOUT)

        def judge(message, resp):
            """Returns None when the answer is right for the configured plugin, else why not."""
            if "spoiler" in message:
                if "spoiler" not in resp.rejection_reason:
                    return f"expected a rejection mentioning 'spoiler', got {resp}"
            elif message == "teh cat":
                if resp.rejection_reason or resp.modified_post.message != "the cat":
                    return f"expected modified_post.message 'the cat', got {resp}"
            else:
                if resp.rejection_reason or resp.HasField("modified_post"):
                    return f"expected an empty answer (allow unchanged), got {resp}"
            return None

        for message, what in [
            ("no spoilers here", "MessageWillBePosted(\"no spoilers here\") rejected, reason mentions \"spoiler\""),
            ("this is forbidden", "MessageWillBePosted(\"this is forbidden\") allowed (configured word replaced the default)"),
            ("teh cat", "MessageWillBePosted(\"teh cat\") -> \"the cat\""),
        ]:
            resp = safe(what, lambda: mwbp(message))
            if resp is not None:
                why = judge(message, resp)
                detail = why or ""
                if why is None and resp.rejection_reason:
                    what += f": {resp.rejection_reason!r}"
                checks.check(why is None, what, detail)

        # ---- ExecuteCommand twice
        counts = []
        for i in (1, 2):
            what = f"ExecuteCommand(\"/hello Alice\") #{i}"
            req = stubs.ExecuteCommandRequest(
                context=stubs.RequestContext(),
                plugin_context=stubs.PluginContext(session_id="sess", request_id=f"cmd{i}"),
                args=stubs.CommandArgs(user_id="user1", channel_id="chan1", team_id="team1", command="/hello Alice"),
            )
            resp = safe(what, lambda: hooks.ExecuteCommand(req, timeout=RPC_TIMEOUT))
            if resp is None:
                continue
            text = resp.response.text
            m = re.search(r"hello number (\d+)", text)
            count = int(m.group(1)) if m else None
            counts.append(count)
            checks.check(not resp.HasField("error") and "Hello, Alice" in text and count == i,
                         f"{what} -> {text!r}", f"expected 'Hello, Alice' and count {i}; error {resp.error}")
        with api.lock:
            stored = api.kv.get("hello_count")
        checks.check(stored == b"2", "KV store holds hello_count = b\"2\"", f"got {stored!r}")
        checks.check("KVGet" in recorder.names() and "KVSetWithOptions" in recorder.names(),
                     "ExecuteCommand used PluginAPI KVGet and KVSetWithOptions", f"calls: {recorder.names()}")

        # ---- a hook error, read as the host reads it: where, id, detailed_error
        # (the host drops `message` and shows the id's translation instead)
        what = "ExecuteCommand(\"/hello --shout\") fails with \"unknown option\" in detailed_error, where ExecuteCommand"
        req = stubs.ExecuteCommandRequest(
            context=stubs.RequestContext(),
            plugin_context=stubs.PluginContext(session_id="sess", request_id="cmd-shout"),
            args=stubs.CommandArgs(user_id="user1", channel_id="chan1", team_id="team1", command="/hello --shout"),
        )
        resp = safe(what, lambda: hooks.ExecuteCommand(req, timeout=RPC_TIMEOUT))
        if resp is not None:
            shown = host_error(resp.error) if resp.HasField("error") else None
            checks.check(shown is not None and resp.error.where == "ExecuteCommand"
                         and "unknown option" in resp.error.detailed_error,
                         f"{what}: the server shows {shown!r}",
                         f"expected an error; got error {{{str(resp.error).strip()}}}, "
                         f"response.text {resp.response.text!r}".replace("\n", " "))

        # ---- 20 concurrent MessageWillBePosted
        samples = ["a spoiler alert", "teh cat", "this is forbidden", "plain words"]
        jobs = [(samples[i % len(samples)], 100 + i) for i in range(20)]
        wrong = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
            futures = {pool.submit(mwbp, msg, n): msg for msg, n in jobs}
            try:
                for fut in concurrent.futures.as_completed(futures, timeout=RPC_TIMEOUT + 5):
                    msg = futures[fut]
                    try:
                        why = judge(msg, fut.result())
                    except grpc.RpcError as e:
                        why = f"gRPC {e.code().name}: {e.details()}"
                    if why:
                        wrong.append(f"{msg!r}: {why}")
            except concurrent.futures.TimeoutError:
                wrong.append("timed out waiting for the concurrent calls")
        checks.check(not wrong, "20 concurrent MessageWillBePosted calls all answer correctly", "; ".join(wrong[:3]))

        # ---- ServeHTTP
        def http_check(what, method, target, body, content_type=None, keep_body=False, headers=()):
            """Runs one ServeHTTP stream; a gRPC error becomes a FAIL line and None."""
            try:
                return serve_http(stubs, hooks, method, target, body, content_type, keep_body, headers)
            except grpc.RpcError as e:
                checks.fail(what, f"gRPC {e.code().name}: {e.details()}")
                return None, 0.0

        def stream_ok(res):
            return res.status == 200 and not res.problems

        def stream_detail(res):
            return (f"status {res.status}, {res.messages} messages, largest chunk {res.max_chunk}, "
                    f"problems: {res.problems or 'none'}")

        prefix = f"/plugins/{plugin_id()}"

        # (0) GET /hello: the plugin routes on the rewritten url and sees the server's headers
        target = f"{prefix}/hello?b=2&access_token=secret&a=1"
        what = f"ServeHTTP GET {target} (url {plugin_url(target, plugin_id())!r})"
        res, _ = http_check(what, "GET", target, b"", keep_body=True,
                            headers=[("Referer", "http://localhost:8065/x"), ("Mattermost-User-Id", "forged"),
                                     ("Cookie", f"{SESSION_COOKIE}=token; theme=dark"),
                                     ("X-Tag", "one"), ("X-Tag", "two")])
        if res is not None:
            try:
                answer = json.loads(bytes(res.body))
            except ValueError as e:
                answer = {"unparsable": f"{e}: {bytes(res.body[:200])!r}"}
            want = {"path": "/hello", "query": "a=1&b=2", "hello": "user1", "tags": ["one", "two"]}
            got = {k: answer.get(k) for k in want} if isinstance(answer, dict) else answer
            checks.check(stream_ok(res) and got == want and res.headers.get("x-tag") == ["one", "two"],
                         f"{what}: 200, path /hello, query a=1&b=2, the session's user, X-Tag echoed",
                         f"{stream_detail(res)}; expected {want}, got {answer}; X-Tag {res.headers.get('x-tag')}")

        # (a) POST /echo, 5 MiB of pseudo-random bytes, 64 KiB chunks, read while sent
        size = 5 * 1024 * 1024
        body = random.Random(20240501).randbytes(size)
        want = hashlib.sha256(body).hexdigest()
        what = "ServeHTTP POST /echo of 5 MiB"
        res, secs = http_check(what, "POST", f"{prefix}/echo", body, "application/x-interop-test")
        if res is not None:
            checks.check(stream_ok(res),
                         f"{what}: status 200, init only in the first of {res.messages} messages, "
                         f"{res.chunks} chunks all <= {HTTP_CHUNK} bytes (largest {res.max_chunk}), "
                         "body_complete on the last", stream_detail(res))
            got = res.sha.hexdigest()
            checks.check(res.size == size and got == want,
                         f"{what}: echoed body matches (sha256 {got[:16]}..., {size / 2**20 / max(secs, 1e-9):.0f} MiB/s)",
                         f"got {res.size} bytes sha256 {got}, sent {size} bytes sha256 {want}")
            ct = http_header(res, "Content-Type")
            checks.check(ct == "application/x-interop-test", f"{what}: Content-Type echoed ({ct!r})",
                         f"response headers {res.headers}")

        # (b) POST /upload, 3 MiB: the plugin answers the body's sha256 and length
        size = 3 * 1024 * 1024
        body = random.Random(20240502).randbytes(size)
        want = hashlib.sha256(body).hexdigest()
        what = "ServeHTTP POST /upload of 3 MiB"
        res, _ = http_check(what, "POST", f"{prefix}/upload", body, "application/octet-stream", keep_body=True)
        if res is not None:
            try:
                answer = json.loads(bytes(res.body))
            except ValueError as e:
                answer = {"unparsable": f"{e}: {bytes(res.body[:200])!r}"}
            checks.check(stream_ok(res) and isinstance(answer, dict)
                         and answer.get("bytes") == size and answer.get("sha256") == want,
                         f"{what}: JSON bytes == {size} and sha256 matches",
                         f"{stream_detail(res)}; answer {answer}; want sha256 {want}")

        # (c) POST /echo with no body: init carries body_complete
        what = "ServeHTTP POST /echo with an empty body"
        res, _ = http_check(what, "POST", f"{prefix}/echo", b"", keep_body=True)
        if res is not None:
            checks.check(stream_ok(res) and res.size == 0,
                         f"{what}: status 200, empty body, body_complete on the last of {res.messages} messages",
                         f"{stream_detail(res)}; body {bytes(res.body[:100])!r}")

        # ---- unexpected API calls (informative: only the ones the fake serves,
        # and the ones the plugin does without: its translations, the server's
        # language and the caller's, without which it answers in English)
        served = {"GetPluginConfig", "RegisterCommand", "GetServerVersion", "KVGet", "KVSet", "KVCompareAndSet",
                  "KVSetWithOptions"}
        done_without = {"GetBundlePath", "GetConfig", "GetUser"}
        others = sorted(set(recorder.names()) - served - done_without)
        checks.check(not others, "the plugin called only the PluginAPI methods it needs", f"also called {others}")

        # ---- Shutdown
        shutdown = channel.unary_unary(
            "/plugin.GRPCController/Shutdown",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        try:
            shutdown(b"", timeout=RPC_TIMEOUT)
            shutdown_ok = True
        except grpc.RpcError as e:
            # The plugin may exit so fast the answer is lost; the exit code decides below.
            shutdown_ok = e.code() == grpc.StatusCode.UNAVAILABLE
            checks.check(shutdown_ok, "plugin.GRPCController/Shutdown answered",
                         f"gRPC {e.code().name}: {e.details()}")
        else:
            checks.check(True, "plugin.GRPCController/Shutdown answered")
        started = time.monotonic()
        code = plugin.wait(SHUTDOWN_EXIT_TIMEOUT)
        elapsed = time.monotonic() - started
        checks.check(code == 0, f"plugin exited with code 0 within {SHUTDOWN_EXIT_TIMEOUT:.0f} s of Shutdown",
                     "still running" if code is None else f"exit code {code} after {elapsed:.2f} s")
        if code is None:
            plugin.kill()
        plugin.drain()

        # ---- stdout / stderr
        checks.check(len(plugin.stdout_lines) == 1, "stdout had exactly one line (the handshake)",
                     f"{len(plugin.stdout_lines)} lines: {plugin.stdout_lines[:5]}")
        bad = []
        for line in plugin.stderr_lines:
            try:
                obj = json.loads(line)
            except ValueError:
                bad.append(f"not JSON: {line!r}")
                continue
            if not isinstance(obj, dict):
                bad.append(f"not an object: {line!r}")
                continue
            for key in ("@level", "@message", "@timestamp"):
                if not isinstance(obj.get(key), str):
                    bad.append(f"{key} missing or not a string: {line!r}")
                    break
            else:
                if not HCLOG_TIMESTAMP.match(obj["@timestamp"]):
                    bad.append(f"@timestamp without exactly 6 fraction digits: {line!r}")
        checks.check(not bad, f"all {len(plugin.stderr_lines)} stderr lines are hclog JSON "
                              "(string @level/@message/@timestamp, 6 fraction digits)", "; ".join(bad[:3]))
        checks.check(any("10.5.0" in line for line in plugin.stderr_lines),
                     "the plugin logged the server version it got from GetServerVersion (10.5.0)",
                     f"{len(plugin.stderr_lines)} stderr lines, none mentions 10.5.0")
    except Exception as e:  # noqa: BLE001 - any surprise is a failed test, not a traceback
        checks.fail("interop test raised", f"{type(e).__name__}: {e}")
    finally:
        if channel is not None:
            channel.close()
        if plugin is not None:
            plugin.kill()
            plugin.drain()
            if checks.failed or os.environ.get("MMPLUGIN_INTEROP_VERBOSE") == "1":
                for line in plugin.stderr_lines:
                    print(f"  plugin stderr: {line}", flush=True)
        if server is not None:
            server.stop(grace=None)
        tmp.cleanup()


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} <plugin-binary>", file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"FAIL: {binary} is not an executable file", flush=True)
        return 1
    checks = Checks()
    run(binary, checks)
    print(f"{checks.passed} passed, {checks.failed} failed", flush=True)
    return 0 if checks.failed == 0 and checks.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

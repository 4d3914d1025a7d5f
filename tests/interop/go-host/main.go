// go-host: an interop test host that plays the real Mattermost gRPC plugin
// host against a plugin bundle.
//
// It installs the bundle the way the server does (extract, read plugin.json),
// decides between the gRPC host and the Go net/rpc host from the manifest,
// starts the plugin through hashicorp go-plugin exactly as Mattermost's
// python supervisor does (interpreter from the bundle's venv, executable
// argument, plugin folder as working directory, API target in the
// environment), serves a fake PluginAPI with grpc-go's default limits, calls
// the hooks as the server calls them (dynamic messages built from a
// descriptor set), and stops the plugin with go-plugin's Kill. With -nodes N
// it plays an HA cluster instead: N plugin processes from the bundle on one
// shared KV store, all counting hellos at once (see usageText).
//
// The host facts reproduced here are the rules of runtime/src/host_rules.md
// in this repository ("host rules" below, by section), each with the
// upstream file it comes from: Mattermost's server/public/plugin/
// (python_supervisor.go, hooks_grpc_client.go, environment.go),
// server/channels/app/plugin_requests.go and server/public/model
// (manifest.go, AppError). Each fixture that encodes one cites it.
//
// Usage: go-host [flags] <bundle.tar.gz> <descriptor-set.pb>
// (see usageText below for flags, environment and exit codes).
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"math"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	protov1 "github.com/golang/protobuf/proto"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

const usageText = `usage: go-host [flags] <bundle.tar.gz> <descriptor-set.pb>

Installs the plugin bundle and starts it the way the real Mattermost gRPC
plugin host does, then runs the interop checks against it (one line each,
"ok: ..." or "FAIL: ...").

Flags:
  -settings JSON   the admin's plugin settings GetPluginConfig answers
                   (default {"blockedword": "bananas"}: the System Console
                   stores setting keys lowercased)
  -fail-register   activation-failure run only: RegisterCommand fails, the
                   host expects OnActivate to fail, shows the error as the
                   server renders it, and stops the plugin
  -bare BINARY     bench only (GO_HOST_BENCH_ONLY=1): start BINARY directly
                   instead of through the bundle, with the same environment
  -start-only      any plugin, not only the example: start it from the bundle,
                   Implemented twice (same answer), OnActivate if listed (no
                   error), OnDeactivate if listed, and the graceful stop;
                   none of the example's own checks
  -post TEXT       with -start-only: after OnActivate, a MessageWillBePosted
                   of TEXT by user-alice, printing what the plugin made of
                   it ("post: <text> -> <message>", or "unchanged")
  -nodes N         N > 1: the cluster run instead of the session. N plugin
                   processes from the bundle, as on N servers of a cluster
                   (each its own go-plugin client and API server), on ONE
                   fake PluginAPI store (one database). Each is started and
                   activated as in the session, then all run GO_HOST_CLUSTER_CALLS
                   "/hello" commands each at once (8 at a time per node, 60 s
                   cap); the hello_count counter must end at N x calls and the
                   answers' hello numbers must be exactly 1..N x calls (no lost
                   update); then each is stopped. Default 1: the session.

Environment:
  GO_HOST_CALLS=N        sequential MessageWillBePosted calls of the latency
                         line (default 2000); 8 concurrent workers make N/2 each
  GO_HOST_BENCH_ONLY=1   print only the "start:", "latency:" and "echo:" lines
                         (and FAIL lines)
  GO_HOST_AUTOMTLS=1     turn on go-plugin's automatic mTLS. The real host
                         runs gRPC plugins WITHOUT mTLS; this only keeps the
                         SDK's mTLS path covered.
  GO_HOST_CLUSTER_CALLS=N  "/hello" commands per node of the cluster run
                         (default 1000)

Exit codes: 0 every check passed; 1 a check failed; 2 usage or prerequisite
problem; 3 the bundle declares a Go (net/rpc) plugin and go-plugin refused it,
as the real server would ("refused: <reason>" on stdout).
`

const (
	protoPackage = "mattermost.pluginapi.v1"
	hooksService = protoPackage + ".PluginHooks"
	apiService   = protoPackage + ".PluginAPI"

	// host rules, "Starting and stopping": the one variable the gRPC host adds.
	apiTargetEnv = "MATTERMOST_PLUGIN_API_TARGET"
	// go-plugin's Kill logs this when it had to SIGKILL the plugin.
	forcedKillLine = "plugin failed to exit gracefully"
	// host rules, "Stop sequence": hook calls time out after 30 s on the host.
	hookTimeout = 30 * time.Second
	// host rules, "ServeHTTP stream" / hooks_grpc_client.go: the server reads
	// the body in 64 KiB pieces, and response chunks are at most 64 KiB.
	httpChunk = 64 << 10
	// grpc-go's default server receive limit, which the real PluginAPI
	// server keeps (host rules, "Message sizes").
	apiMaxRequest = 4 << 20

	echoBytes = 64 << 20
	echoLimit = 120 * time.Second
	// model.SessionCookieToken: the session cookie plugin_requests.go removes.
	sessionCookie = "MMAUTHTOKEN"

	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitRefused = 3
)

// ---------------------------------------------------------------------------
// Codec
//
// grpc-go 1.33's default "proto" codec marshals with golang/protobuf 1.3,
// which cannot handle dynamicpb messages. This codec replaces it for the whole
// process: APIv2 messages (dynamicpb) go through google.golang.org/protobuf,
// generated APIv1 messages (health check, go-plugin's controller and broker)
// keep their original path, and rawFrame passes bytes through untouched
// (used by the fake PluginAPI to see each request's size). Keeping the name
// "proto" keeps the wire content-type "application/grpc", as with a real
// Mattermost server.

type rawFrame struct{ data []byte }

type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v interface{}) ([]byte, error) {
	switch m := v.(type) {
	case *rawFrame:
		return m.data, nil
	case proto.Message:
		return proto.Marshal(m)
	case protov1.Message:
		return protov1.Marshal(m)
	}
	return nil, fmt.Errorf("codec: cannot marshal %T", v)
}

func (codec) Unmarshal(data []byte, v interface{}) error {
	switch m := v.(type) {
	case *rawFrame:
		m.data = append([]byte(nil), data...)
		return nil
	case proto.Message:
		return proto.Unmarshal(data, m)
	case protov1.Message:
		return protov1.Unmarshal(data, m)
	}
	return fmt.Errorf("codec: cannot unmarshal into %T", v)
}

func init() { encoding.RegisterCodec(codec{}) }

// ---------------------------------------------------------------------------
// Output

type report struct {
	benchOnly bool
	failed    int
	// prefix starts every line: "node 2: " while the cluster run starts
	// and stops its nodes one by one; "" otherwise.
	prefix string
}

func (r *report) ok(format string, args ...interface{}) {
	if !r.benchOnly {
		fmt.Printf("ok: "+r.prefix+format+"\n", args...)
	}
}

func (r *report) fail(format string, args ...interface{}) {
	r.failed++
	fmt.Printf("FAIL: "+r.prefix+format+"\n", args...)
}

// check prints ok or FAIL; problem == "" means ok.
func (r *report) check(what, problem string) bool {
	if problem != "" {
		r.fail("%s: %s", what, problem)
		return false
	}
	r.ok("%s", what)
	return true
}

// lockedBuffer collects the host's hclog output (the plugin's stderr lines
// arrive through go-plugin's logger) for inspection.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls the log for up to d: stderr lines arrive asynchronously.
func (b *lockedBuffer) waitFor(s string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if strings.Contains(b.String(), s) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Descriptors and dynamic messages

type contract struct {
	hooks protoreflect.ServiceDescriptor
	api   protoreflect.ServiceDescriptor
}

func loadContract(path string) (*contract, error) {
	data, err := ioutil.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parsing descriptor set: %v", err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("building descriptors: %v", err)
	}
	hooks, err := findService(files, hooksService)
	if err != nil {
		return nil, err
	}
	api, err := findService(files, apiService)
	if err != nil {
		return nil, err
	}
	return &contract{hooks: hooks, api: api}, nil
}

func findService(files *protoregistry.Files, name string) (protoreflect.ServiceDescriptor, error) {
	d, err := files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, fmt.Errorf("descriptor set lacks %s: %v", name, err)
	}
	svc, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a service", name)
	}
	return svc, nil
}

// field finds a field by its proto name, or fails with a readable error.
func field(m protoreflect.Message, name string) (protoreflect.FieldDescriptor, error) {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		return nil, fmt.Errorf("%s has no field %q", m.Descriptor().FullName(), name)
	}
	return fd, nil
}

// walk follows a dotted path to the message holding its last field;
// mutable creates the messages on the way.
func walk(m protoreflect.Message, path string, mutable bool) (protoreflect.Message, protoreflect.FieldDescriptor, error) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		fd, err := field(m, p)
		if err != nil {
			return nil, nil, err
		}
		if mutable {
			m = m.Mutable(fd).Message()
		} else {
			m = m.Get(fd).Message()
		}
	}
	fd, err := field(m, parts[len(parts)-1])
	return m, fd, err
}

func set(m protoreflect.Message, path string, v protoreflect.Value) error {
	owner, fd, err := walk(m, path, true)
	if err != nil {
		return err
	}
	owner.Set(fd, v)
	return nil
}

func setString(m protoreflect.Message, path, v string) error {
	return set(m, path, protoreflect.ValueOfString(v))
}

// getString reads a string at a dotted path; unset messages read as empty.
func getString(m protoreflect.Message, path string) string {
	owner, fd, err := walk(m, path, false)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return owner.Get(fd).String()
}

func has(m protoreflect.Message, path string) bool {
	owner, fd, err := walk(m, path, false)
	return err == nil && owner.Has(fd)
}

// ---------------------------------------------------------------------------
// AppError as the host sees it

// appError is Mattermost's model.AppError, rebuilt by the host from a hook
// response. hooks_grpc_client.go calls model.NewAppError(where, id, params,
// detailed_error, status_code): the plugin's `message` is dropped and the
// translation of `id` takes its place; an id without a translation
// translates to itself (host rules, "Hook errors").
type appError struct {
	Where, ID, Message, DetailedError string
	StatusCode                        int32
	pluginMessage                     string // what the plugin sent; the host drops it
}

func hostAppError(m protoreflect.Message) *appError {
	return &appError{
		Where:         getString(m, "where"),
		ID:            getString(m, "id"),
		Message:       getString(m, "id"), // T(id) == id: no translation for a plugin's id
		DetailedError: getString(m, "detailed_error"),
		StatusCode:    int32(m.Get(m.Descriptor().Fields().ByName("status_code")).Int()),
		pluginMessage: getString(m, "message"),
	}
}

// Error is model.AppError.Error(): what the server logs and shows.
func (e *appError) Error() string {
	s := e.Where + ": " + e.Message
	if e.DetailedError != "" {
		s += ", " + e.DetailedError
	}
	return s
}

// responseError returns the host's AppError when a hook response's `error`
// (field 1) is set.
func responseError(resp protoreflect.Message) *appError {
	fd := resp.Descriptor().Fields().ByName("error")
	if fd == nil || !resp.Has(fd) {
		return nil
	}
	return hostAppError(resp.Get(fd).Message())
}

// ---------------------------------------------------------------------------
// Fake PluginAPI

type apiCall struct {
	node    int // which node's API server it reached (0 outside the cluster run)
	method  string
	size    int    // request bytes; -1 when grpc-go refused the request
	refused string // grpc-go's error for a refused request
}

type fakeAPI struct {
	svc protoreflect.ServiceDescriptor

	mu           sync.Mutex
	calls        []apiCall
	settings     []byte // the admin's plugin settings, JSON
	kv           map[string][]byte
	commands     []string
	kvFail       bool
	registerFail bool
	// bundlePath is what GetBundlePath answers: the plugin folder the
	// bundle was unpacked into, absolute (host rules, "A bundle's other
	// files": PluginAPI.GetBundlePath answers PluginSettings.Directory/<id>).
	bundlePath string
	// casConflicts counts the atomic sets (KVCompareAndSet, atomic
	// KVSetWithOptions) that failed: another writer changed the value first.
	casConflicts int
}

// appErrorStatus is the status-form error of the PluginAPI handlers other
// than KV, post and file: message "<id>: <message>", code from the app
// error's HTTP status (host rules, "The plugin API's answers").
func appErrorStatus(httpStatus int, id, message string) error {
	code := codes.Internal
	switch httpStatus {
	case 400:
		code = codes.InvalidArgument
	case 404:
		code = codes.NotFound
	case 409:
		code = codes.AlreadyExists
	case 413, 429:
		code = codes.ResourceExhausted
	}
	return status.Error(code, id+": "+message)
}

// setAppError fills a response's `error` (field 1): the in-field form the KV,
// post and file handlers use (host rules, "The plugin API's answers").
func setAppError(resp *dynamicpb.Message, id, message, detail, where string, httpStatus int32) error {
	fd, err := field(resp, "error")
	if err != nil {
		return err
	}
	e := resp.Mutable(fd).Message()
	e.Set(e.Descriptor().Fields().ByName("id"), protoreflect.ValueOfString(id))
	e.Set(e.Descriptor().Fields().ByName("message"), protoreflect.ValueOfString(message))
	e.Set(e.Descriptor().Fields().ByName("detailed_error"), protoreflect.ValueOfString(detail))
	e.Set(e.Descriptor().Fields().ByName("where"), protoreflect.ValueOfString(where))
	e.Set(e.Descriptor().Fields().ByName("status_code"), protoreflect.ValueOfInt32(httpStatus))
	return nil
}

func (f *fakeAPI) record(c apiCall) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

func (f *fakeAPI) seen() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

// names lists the methods node called, in order.
func (f *fakeAPI) names(node int) []string {
	var out []string
	for _, c := range f.seen() {
		if c.node == node {
			out = append(out, c.method)
		}
	}
	return out
}

// value reads key from the KV store as stored (nil when absent).
func (f *fakeAPI) value(key string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.kv[key]...)
}

func (f *fakeAPI) conflicts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.casConflicts
}

func (f *fakeAPI) setKVFail(on bool) {
	f.mu.Lock()
	f.kvFail = on
	f.mu.Unlock()
}

// compareAndSet is the server's CompareAndSet, f.mu held: an empty old
// value means "only if the key is absent"; an empty new value deletes, and
// only a stored value can match for that.
func (f *fakeAPI) compareAndSet(key string, old, next []byte) bool {
	current, exists := f.kv[key]
	var success bool
	switch {
	case len(next) == 0:
		success = len(old) > 0 && exists && bytes.Equal(current, old)
		if success {
			delete(f.kv, key)
		}
	case len(old) == 0:
		success = !exists
	default:
		success = exists && bytes.Equal(current, old)
	}
	if success && len(next) > 0 {
		f.kv[key] = append([]byte(nil), next...)
	}
	if !success {
		f.casConflicts++
	}
	return success
}

// handler serves every PluginAPI method (grpc.UnknownServiceHandler) for
// node: each node of a cluster has its own server, hence its own API
// server, while the KV store (the database) is shared: one fakeAPI.
func (f *fakeAPI) handler(node int) grpc.StreamHandler {
	return func(_ interface{}, stream grpc.ServerStream) error { return f.handle(node, stream) }
}

func (f *fakeAPI) handle(node int, stream grpc.ServerStream) error {
	full, _ := grpc.MethodFromServerStream(stream)
	name := full[strings.LastIndex(full, "/")+1:]
	var in rawFrame
	if err := stream.RecvMsg(&in); err != nil {
		// grpc-go's own ResourceExhausted for a request over 4 MiB lands here.
		f.record(apiCall{node: node, method: name, size: -1, refused: err.Error()})
		return err
	}
	f.record(apiCall{node: node, method: name, size: len(in.data)})
	if full != "/"+apiService+"/"+name {
		return status.Errorf(codes.Unimplemented, "go-host's fake PluginAPI serves only %s, not %s", apiService, full)
	}
	md := f.svc.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return status.Errorf(codes.Unimplemented, "%s has no method %s in the descriptor set", apiService, name)
	}
	req := dynamicpb.NewMessage(md.Input())
	if err := proto.Unmarshal(in.data, req); err != nil {
		return status.Errorf(codes.InvalidArgument, "go-host: cannot parse %s: %v", md.Input().FullName(), err)
	}
	resp := dynamicpb.NewMessage(md.Output())
	if err := f.serve(name, req, resp); err != nil {
		return err
	}
	return stream.SendMsg(resp)
}

func (f *fakeAPI) serve(name string, req, resp *dynamicpb.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch name {
	case "GetPluginConfig":
		fd, err := field(resp, "config")
		if err != nil {
			return status.Error(codes.Internal, err.Error())
		}
		config := dynamicpb.NewMessage(fd.Message()) // google.protobuf.Struct
		if err := protojson.Unmarshal(f.settings, config); err != nil {
			return status.Errorf(codes.Internal, "go-host: settings as Struct: %v", err)
		}
		resp.Set(fd, protoreflect.ValueOfMessage(config))
	case "GetServerVersion":
		return setString(resp, "version", "10.5.0")
	case "GetBundlePath":
		return setString(resp, "path", f.bundlePath)
	case "RegisterCommand":
		if f.registerFail {
			// The status form (host rules, "The plugin API's answers"): 409 -> AlreadyExists.
			return appErrorStatus(409, "app.command.duplicate.app_error",
				"This trigger word is already in use. Please choose another word.")
		}
		f.commands = append(f.commands, getString(req, "command.trigger"))
	case "GetUser":
		id := getString(req, "user_id")
		if id != "user-alice" {
			// The status form: 404 -> NotFound, message "<id>: <message>".
			return appErrorStatus(404, "app.user.missing_account.const", "Unable to find the user.")
		}
		if err := setString(resp, "user.id", "user-alice"); err != nil {
			return err
		}
		return setString(resp, "user.username", "alice")
	case "KVGet", "KVSet", "KVCompareAndSet", "KVSetWithOptions":
		if f.kvFail {
			// The in-field form the KV handlers use: status OK, AppError in `error`.
			return setAppError(resp, "app.plugin.kv.fake_failure", "go-host: the KV store is switched off",
				kvFailureDetail, "fakeAPI."+name, 500)
		}
		key := getString(req, "key")
		if name == "KVGet" {
			if v, ok := f.kv[key]; ok {
				fd, _ := field(resp, "value")
				resp.Set(fd, protoreflect.ValueOfBytes(append([]byte(nil), v...)))
			}
			return nil
		}
		if name == "KVCompareAndSet" || name == "KVSetWithOptions" {
			var old, next []byte
			atomic := true
			if name == "KVCompareAndSet" {
				oldFD, _ := field(req, "old_value")
				newFD, _ := field(req, "new_value")
				old, next = req.Get(oldFD).Bytes(), req.Get(newFD).Bytes()
			} else {
				// KVSetWithOptions: atomic with options.old_value is a
				// compare-and-set; not atomic, a plain set (an empty value
				// deletes) that answers true; an old value without atomic
				// is the server's 400 (model.PluginKVSetOptions.IsValid).
				valueFD, _ := field(req, "value")
				next = req.Get(valueFD).Bytes()
				atomic = false
				if optsFD, err := field(req, "options"); err == nil && req.Has(optsFD) {
					opts := req.Get(optsFD).Message()
					atomicFD, _ := field(opts, "atomic")
					oldFD, _ := field(opts, "old_value")
					atomic, old = opts.Get(atomicFD).Bool(), opts.Get(oldFD).Bytes()
				}
				if !atomic && len(old) > 0 {
					return setAppError(resp, "model.plugin_kvset_options.is_valid.old_value.app_error",
						"old value given to a non-atomic set", "", "fakeAPI."+name, 400)
				}
			}
			success := true
			if atomic {
				success = f.compareAndSet(key, old, next)
			} else if len(next) > 0 {
				f.kv[key] = append([]byte(nil), next...)
			} else {
				delete(f.kv, key)
			}
			fd, _ := field(resp, "success")
			resp.Set(fd, protoreflect.ValueOfBool(success))
			return nil
		}
		fd, _ := field(req, "value")
		if v := req.Get(fd).Bytes(); len(v) > 0 {
			f.kv[key] = append([]byte(nil), v...)
		} else {
			delete(f.kv, key) // a nil value deletes, as in Go's KVSet
		}
	case "KVDelete":
		delete(f.kv, getString(req, "key"))
	default:
		return status.Errorf(codes.Unimplemented, "go-host's fake PluginAPI does not implement %s", name)
	}
	return nil
}

// ---------------------------------------------------------------------------
// The bundle and the manifest

// manifest holds the parts of model.Manifest the host uses to start a
// plugin, and the icon it shows.
type manifest struct {
	ID       string `json:"id"`
	IconPath string `json:"icon_path"`
	Server   *struct {
		Executables map[string]string `json:"executables"`
		Executable  string            `json:"executable"`
		Runtime     string            `json:"runtime"`
	} `json:"server"`
}

// model.IsValidPluginId (host rules, "Which plugins the server starts over gRPC"): 3–190 chars.
var pluginIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-_\.]+$`)

// extractBundle unpacks the .tar.gz into a temporary directory and returns
// the plugin folder: the bundle's single top folder, which holds plugin.json
// (host rules, "Which plugins the server starts over gRPC": a bundle is a .tar.gz whose single top
// folder holds plugin.json).
func extractBundle(path, into string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	for entries := 0; ; entries++ {
		if entries > 100000 {
			return "", errors.New("more than 100000 entries")
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading tar: %v", err)
		}
		name := filepath.Clean(filepath.FromSlash(hdr.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("entry %q leaves the bundle", hdr.Name)
		}
		target := filepath.Join(into, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return "", err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return "", err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode)&0o777)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", err
			}
		default:
			// Links and devices are not plugin content; the server skips them too.
		}
	}
	top, err := ioutil.ReadDir(into)
	if err != nil {
		return "", err
	}
	if len(top) != 1 || !top[0].IsDir() {
		var names []string
		for _, e := range top {
			names = append(names, e.Name())
		}
		return "", fmt.Errorf("want a single top folder holding plugin.json, found %v", names)
	}
	return filepath.Join(into, top[0].Name()), nil
}

func readManifest(dir string) (*manifest, error) {
	data, err := ioutil.ReadFile(filepath.Join(dir, "plugin.json"))
	if err != nil {
		for _, alt := range []string{"plugin.yaml", "plugin.yml"} {
			if _, serr := os.Stat(filepath.Join(dir, alt)); serr == nil {
				return nil, fmt.Errorf("the bundle has %s; go-host reads plugin.json only", alt)
			}
		}
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("plugin.json: %v", err)
	}
	// model/manifest.go: the id is lower-cased when the manifest is read.
	m.ID = strings.ToLower(m.ID)
	if len(m.ID) < 3 || len(m.ID) > 190 || !pluginIDPattern.MatchString(m.ID) {
		return nil, fmt.Errorf("plugin.json: invalid id %q", m.ID)
	}
	return &m, nil
}

// executable is model.Manifest.GetExecutableForRuntime:
// server.executables["<GOOS>-<GOARCH>"], else server.executable.
func (m *manifest) executable() string {
	if m.Server == nil {
		return ""
	}
	if e, ok := m.Server.Executables[runtime.GOOS+"-"+runtime.GOARCH]; ok && e != "" {
		return e
	}
	return m.Server.Executable
}

// usesGRPC: python_supervisor.go starts a plugin over gRPC only when
// server.runtime is "python" or the executable ends in .py; every other
// plugin is a Go net/rpc plugin (host rules, "Which plugins the server starts over gRPC").
func (m *manifest) usesGRPC() bool {
	return m.Server != nil && (m.Server.Runtime == "python" || strings.HasSuffix(m.executable(), ".py"))
}

// sanitizeExecutable: supervisor.go / python_supervisor.go clean the path
// relative to the plugin folder and refuse one that leaves it.
func sanitizeExecutable(exe string) (string, error) {
	if exe == "" {
		return "", errors.New("no backend executable specified for " + runtime.GOOS + "-" + runtime.GOARCH)
	}
	clean := filepath.Clean(filepath.Join(".", exe))
	if strings.HasPrefix(clean, "..") {
		return "", fmt.Errorf("invalid backend executable %q: leaves the plugin folder", exe)
	}
	return clean, nil
}

// findInterpreter: python_supervisor.go takes the first of the bundle's venv
// interpreters that exists, made absolute, else python3, then python, on PATH.
func findInterpreter(dir string) (string, error) {
	candidates := []string{"venv/bin/python", "venv/bin/python3", ".venv/bin/python", ".venv/bin/python3"}
	if runtime.GOOS == "windows" {
		candidates = []string{`venv\Scripts\python.exe`, `.venv\Scripts\python.exe`}
	}
	for _, c := range candidates {
		p := filepath.Join(dir, filepath.FromSlash(c))
		if _, err := os.Stat(p); err == nil {
			return filepath.Abs(p)
		}
	}
	for _, name := range []string{"python3", "python"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Python interpreter: none in the bundle's venv and neither python3 nor python on PATH")
}

// handshake is Mattermost's go-plugin handshake (host rules, "Starting and stopping").
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "MATTERMOST_PLUGIN",
	MagicCookieValue: "Securely message teams, anywhere.",
}

// hooksPlugin is the one plugin type, "hooks"; in gRPC mode it hands out the
// raw connection, which the dynamic calls use.
type hooksPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (hooksPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("go-host only consumes plugins")
}

func (hooksPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return conn, nil
}

// refuseGoPlugin starts a bundle that declares a Go plugin the way
// supervisor.go does: the executable itself, joined to the plugin folder,
// with go-plugin's default AllowedProtocols (net/rpc only). A plugin that
// answers a grpc handshake is refused by go-plugin itself.
func refuseGoPlugin(dir, exe string, logger hclog.Logger) (string, bool) {
	clean, err := sanitizeExecutable(exe)
	if err != nil {
		return err.Error(), true
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: handshake,
		Plugins:         map[string]plugin.Plugin{"hooks": hooksPlugin{}},
		Cmd:             exec.Command(filepath.Join(dir, clean)),
		StartTimeout:    3 * time.Second,
		Logger:          logger,
		// AllowedProtocols left nil: go-plugin's default, [netrpc].
	})
	defer client.Kill()
	// Only the start decides: go-plugin checks the handshake's protocol
	// against AllowedProtocols there. (Dispensing would fail for any Go
	// plugin here, since go-host has no net/rpc hooks client.)
	if _, err := client.Client(); err != nil {
		return err.Error(), true
	}
	return "", false
}

// ---------------------------------------------------------------------------
// Hooks: dynamic calls, recorded

type hooks struct {
	conn *grpc.ClientConn
	svc  protoreflect.ServiceDescriptor

	mu     sync.Mutex
	called []string // every hook the host called, in order
}

func (h *hooks) method(name string) (protoreflect.MethodDescriptor, error) {
	md := h.svc.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, fmt.Errorf("%s has no method %s", hooksService, name)
	}
	return md, nil
}

func (h *hooks) newRequest(name string) *dynamicpb.Message {
	md, err := h.method(name)
	if err != nil {
		panic(err) // the hooks used here are all in the contract; checked at start
	}
	return dynamicpb.NewMessage(md.Input())
}

func (h *hooks) record(name string) {
	h.mu.Lock()
	h.called = append(h.called, name)
	h.mu.Unlock()
}

func (h *hooks) calledHooks() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.called...)
}

func (h *hooks) call(name string, req *dynamicpb.Message) (*dynamicpb.Message, error) {
	md, err := h.method(name)
	if err != nil {
		return nil, err
	}
	if req == nil {
		req = dynamicpb.NewMessage(md.Input())
	}
	h.record(name)
	resp := dynamicpb.NewMessage(md.Output())
	ctx, cancel := context.WithTimeout(context.Background(), hookTimeout)
	defer cancel()
	if err := h.conn.Invoke(ctx, "/"+hooksService+"/"+name, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// implemented calls Implemented and returns the hook names.
func (h *hooks) implemented() ([]string, error) {
	resp, err := h.call("Implemented", nil)
	if err != nil {
		return nil, err
	}
	if e := responseError(resp); e != nil {
		return nil, fmt.Errorf("Implemented answered an error: %s", e.Error())
	}
	fd, err := field(resp, "hooks")
	if err != nil {
		return nil, err
	}
	var out []string
	l := resp.Get(fd).List()
	for i := 0; i < l.Len(); i++ {
		out = append(out, l.Get(i).String())
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// ServeHTTP as the server sends it

// browserRequest is what a browser sends to /plugins/<id>/...
type browserRequest struct {
	method      string
	target      string      // the raw request-target
	headers     [][2]string // as sent, in order
	sessionUser string      // the user the session resolves to; "" = none
	body        io.Reader   // nil = no body
	size        int64
}

// pluginURL is plugin_requests.go's rewrite of the request URL: the
// /plugins/<id> prefix leaves the path, access_token leaves the query, and
// the query is re-encoded by url.Values.Encode (keys sorted)
// (host rules, "ServeHTTP stream": what url and request_uri hold).
func pluginURL(target, id string) (string, error) {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return "", err
	}
	u.Path = strings.TrimPrefix(u.Path, "/plugins/"+id)
	q := u.Query()
	q.Del("access_token")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// serverHeaders applies plugin_requests.go's header rules to the browser's
// headers (host rules, "ServeHTTP stream").
func serverHeaders(sent [][2]string, sessionUser string) http.Header {
	h := http.Header{}
	for _, kv := range sent {
		h.Add(kv[0], kv[1])
	}
	h.Del("Mattermost-User-Id")
	h.Del("Mattermost-Plugin-ID")
	if sessionUser != "" {
		h.Del("Authorization")
		h.Set("Mattermost-User-Id", sessionUser)
	}
	h.Del("Referer")
	if cookies := (&http.Request{Header: h}).Cookies(); len(cookies) > 0 {
		var keep []string
		for _, c := range cookies {
			if c.Name != sessionCookie {
				keep = append(keep, c.String())
			}
		}
		h.Del("Cookie")
		if len(keep) > 0 {
			h.Set("Cookie", strings.Join(keep, "; "))
		}
	}
	return h
}

type httpResult struct {
	status   int32
	headers  http.Header
	messages int
	chunks   int
	maxChunk int
	flushes  int
	size     int64
	sum      string // sha256 of the received body, hex
	body     []byte // kept when asked, up to keepLimit
	complete bool
	problems []string

	url, requestURI string // what the host sent
	sentSum         string
	sentMessages    int
}

const keepLimit = 8 << 20

func (r *httpResult) problem(format string, args ...interface{}) {
	if len(r.problems) < 5 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *httpResult) detail() string {
	return fmt.Sprintf("status %d, %d messages, %d chunks (largest %d), %d bytes, body_complete=%v, stream problems %v",
		r.status, r.messages, r.chunks, r.maxChunk, r.size, r.complete, r.problems)
}

func (r *httpResult) bodyText() string {
	s := string(r.body)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return strconv.Quote(s)
}

func fieldsOf(md protoreflect.MessageDescriptor, names ...string) (map[string]protoreflect.FieldDescriptor, error) {
	out := make(map[string]protoreflect.FieldDescriptor, len(names))
	for _, n := range names {
		fd := md.Fields().ByName(protoreflect.Name(n))
		if fd == nil {
			return nil, fmt.Errorf("%s has no field %q", md.FullName(), n)
		}
		out[n] = fd
	}
	return out, nil
}

// serveHTTP sends one browser request through the ServeHTTP stream as
// hooks_grpc_client.go does: the body is read in 64 KiB pieces, the first
// piece rides in the init message (with body_complete when that read hit
// the end), then one message per piece, body_complete on the last; sending
// and receiving run concurrently. The response is checked as it arrives:
// init in the first message only, chunks of at most 64 KiB, body_complete
// on the last. Status 0 means 200; outside 100-999 the server answers 500.
func (h *hooks) serveHTTP(pluginID string, br browserRequest, keepBody bool, limit time.Duration) (*httpResult, time.Duration, error) {
	md, err := h.method("ServeHTTP")
	if err != nil {
		return nil, 0, err
	}
	if !md.IsStreamingClient() || !md.IsStreamingServer() {
		return nil, 0, fmt.Errorf("%s/ServeHTTP is not a bidirectional stream in the descriptor set", hooksService)
	}
	reqF, err := fieldsOf(md.Input(), "init", "body_chunk", "body_complete")
	if err != nil {
		return nil, 0, err
	}
	initF, err := fieldsOf(reqF["init"].Message(), "plugin_context", "method", "url", "proto", "proto_major",
		"proto_minor", "headers", "host", "remote_addr", "request_uri", "content_length")
	if err != nil {
		return nil, 0, err
	}
	hdrF, err := fieldsOf(initF["headers"].Message(), "key", "values")
	if err != nil {
		return nil, 0, err
	}
	respF, err := fieldsOf(md.Output(), "init", "body_chunk", "body_complete", "flush")
	if err != nil {
		return nil, 0, err
	}
	rinitF, err := fieldsOf(respF["init"].Message(), "status_code", "headers")
	if err != nil {
		return nil, 0, err
	}
	rhdrF, err := fieldsOf(rinitF["headers"].Message(), "key", "values")
	if err != nil {
		return nil, 0, err
	}

	res := &httpResult{headers: http.Header{}, requestURI: br.target}
	if res.url, err = pluginURL(br.target, pluginID); err != nil {
		return nil, 0, fmt.Errorf("request-target %q: %v", br.target, err)
	}
	headers := serverHeaders(br.headers, br.sessionUser)
	if br.size > 0 {
		headers.Set("Content-Length", strconv.FormatInt(br.size, 10))
	}

	first := dynamicpb.NewMessage(md.Input())
	init := first.Mutable(reqF["init"]).Message()
	if br.sessionUser != "" {
		_ = setString(init, "plugin_context.session_id", "session-of-"+br.sessionUser)
	}
	_ = setString(init, "plugin_context.request_id", "go-host-"+strings.ToLower(br.method)+"-request")
	_ = setString(init, "plugin_context.ip_address", "127.0.0.1")
	init.Set(initF["method"], protoreflect.ValueOfString(br.method))
	init.Set(initF["url"], protoreflect.ValueOfString(res.url))
	init.Set(initF["request_uri"], protoreflect.ValueOfString(br.target))
	init.Set(initF["proto"], protoreflect.ValueOfString("HTTP/1.1"))
	init.Set(initF["proto_major"], protoreflect.ValueOfInt32(1))
	init.Set(initF["proto_minor"], protoreflect.ValueOfInt32(1))
	init.Set(initF["host"], protoreflect.ValueOfString("localhost:8065"))
	init.Set(initF["remote_addr"], protoreflect.ValueOfString("127.0.0.1:54321"))
	init.Set(initF["content_length"], protoreflect.ValueOfInt64(br.size))
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hl := init.Mutable(initF["headers"]).List()
	for _, k := range keys {
		e := hl.NewElement()
		e.Message().Set(hdrF["key"], protoreflect.ValueOfString(k))
		vl := e.Message().Mutable(hdrF["values"]).List()
		for _, v := range headers[k] {
			vl.Append(protoreflect.ValueOfString(v))
		}
		hl.Append(e)
	}

	body := br.body
	if body == nil {
		body = bytes.NewReader(nil)
	}
	// read returns the next piece of at most 64 KiB and whether the read hit the end.
	read := func() ([]byte, bool, error) {
		buf := make([]byte, httpChunk) // fresh each time: grpc may still hold the last message
		n, err := io.ReadFull(body, buf)
		switch err {
		case nil:
			return buf, false, nil
		case io.EOF, io.ErrUnexpectedEOF:
			return buf[:n], true, nil
		}
		return nil, true, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	h.record("ServeHTTP")
	cs, err := h.conn.NewStream(ctx, &grpc.StreamDesc{StreamName: "ServeHTTP", ServerStreams: true, ClientStreams: true},
		"/"+hooksService+"/ServeHTTP")
	if err != nil {
		return nil, 0, fmt.Errorf("open stream: %v", err)
	}

	type sent struct {
		sum      string
		messages int
		err      error
	}
	sendDone := make(chan sent, 1)
	go func() {
		hash := sha256.New()
		msgs := 0
		err := func() error {
			piece, eof, err := read()
			if err != nil {
				return err
			}
			msg := first
			for i := 0; i < 1<<20; i++ { // bounded: 64 GiB of 64 KiB pieces
				var next []byte
				nextEOF := eof
				if !eof {
					if next, nextEOF, err = read(); err != nil {
						return err
					}
				}
				last := eof || (len(next) == 0 && nextEOF)
				if len(piece) > 0 {
					msg.Set(reqF["body_chunk"], protoreflect.ValueOfBytes(piece))
					hash.Write(piece)
				}
				if last {
					msg.Set(reqF["body_complete"], protoreflect.ValueOfBool(true))
				}
				if err := cs.SendMsg(msg); err != nil {
					return err
				}
				msgs++
				if last {
					return cs.CloseSend()
				}
				piece, eof = next, nextEOF
				msg = dynamicpb.NewMessage(md.Input())
			}
			return errors.New("request body too long")
		}()
		sendDone <- sent{hex.EncodeToString(hash.Sum(nil)), msgs, err}
	}()

	hash := sha256.New()
	var recvErr error
	for i := 0; ; i++ {
		msg := dynamicpb.NewMessage(md.Output())
		if err := cs.RecvMsg(msg); err != nil {
			if err != io.EOF {
				recvErr = err
			}
			break
		}
		res.messages++
		if res.complete {
			res.problem("message #%d after body_complete", i)
		}
		if i == 0 {
			if !msg.Has(respF["init"]) {
				res.problem("first response message has no init")
			} else {
				ri := msg.Get(respF["init"]).Message()
				res.status = int32(ri.Get(rinitF["status_code"]).Int())
				// hooks_grpc_client.go: 0 means 200; outside 100-999 the server answers 500.
				if res.status == 0 {
					res.status = 200
				} else if res.status < 100 || res.status > 999 {
					res.problem("status %d outside 100-999: the server answers 500", res.status)
					res.status = 500
				}
				l := ri.Get(rinitF["headers"]).List()
				for j := 0; j < l.Len(); j++ {
					hm := l.Get(j).Message()
					vs := hm.Get(rhdrF["values"]).List()
					for k := 0; k < vs.Len(); k++ {
						res.headers.Add(hm.Get(rhdrF["key"]).String(), vs.Get(k).String())
					}
				}
			}
		} else if msg.Has(respF["init"]) {
			res.problem("init repeated in response message #%d", i)
		}
		if b := msg.Get(respF["body_chunk"]).Bytes(); len(b) > 0 {
			res.chunks++
			if len(b) > res.maxChunk {
				res.maxChunk = len(b)
			}
			if len(b) > httpChunk {
				res.problem("chunk of %d bytes in message #%d (max %d)", len(b), i, httpChunk)
			}
			res.size += int64(len(b))
			hash.Write(b)
			if keepBody && len(res.body) < keepLimit {
				res.body = append(res.body, b...)
			}
		}
		if msg.Get(respF["flush"]).Bool() {
			res.flushes++
		}
		if msg.Get(respF["body_complete"]).Bool() {
			res.complete = true
		}
	}
	elapsed := time.Since(start)
	cancel() // unblocks a sender stuck on flow control after a failed receive
	s := <-sendDone
	res.sum = hex.EncodeToString(hash.Sum(nil))
	res.sentSum, res.sentMessages = s.sum, s.messages
	if recvErr != nil {
		return res, elapsed, fmt.Errorf("receive after %d messages: %v", res.messages, recvErr)
	}
	// io.EOF from SendMsg means the plugin ended the stream before reading
	// the whole body (allowed: it may answer early); RecvMsg has the outcome.
	if s.err != nil && s.err != io.EOF {
		return res, elapsed, fmt.Errorf("send: %v", s.err)
	}
	if res.messages == 0 {
		res.problem("no response message")
	} else if !res.complete {
		res.problem("the last response message lacks body_complete")
	}
	return res, elapsed, nil
}

// randReader yields n pseudo-random bytes.
type randReader struct {
	rng  *rand.Rand
	left int64
}

func (r *randReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	r.rng.Read(p)
	r.left -= int64(len(p))
	return len(p), nil
}

func mibPerSec(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / (1 << 20) / d.Seconds()
}

// ---------------------------------------------------------------------------
// Latency

type benchResult struct {
	calls, errors int
	firstErr      error
	p50, p99      time.Duration
	rate          float64
	capped        bool
}

func summarize(lat []time.Duration, errs int, firstErr error, elapsed time.Duration, capped bool) benchResult {
	r := benchResult{calls: len(lat), errors: errs, firstErr: firstErr, capped: capped}
	if len(lat) == 0 {
		return r
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pick := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(lat)))) - 1
		if i < 0 {
			i = 0
		}
		return lat[i]
	}
	r.p50, r.p99 = pick(0.50), pick(0.99)
	r.rate = float64(len(lat)) / elapsed.Seconds()
	return r
}

// bench calls MessageWillBePosted without recording each call (the host's
// record would grow by thousands of identical entries).
func bench(h *hooks, req *dynamicpb.Message, sequential, workers, perWorker int, budget time.Duration) (benchResult, benchResult) {
	md, _ := h.method("MessageWillBePosted")
	one := func() error {
		resp := dynamicpb.NewMessage(md.Output())
		ctx, cancel := context.WithTimeout(context.Background(), hookTimeout)
		defer cancel()
		return h.conn.Invoke(ctx, "/"+hooksService+"/MessageWillBePosted", req, resp)
	}
	deadline := time.Now().Add(budget)
	run := func(n int, lat *[]time.Duration, errs *int, first *error) bool {
		for i := 0; i < n; i++ {
			if time.Now().After(deadline) {
				return true
			}
			t := time.Now()
			if err := one(); err != nil {
				*errs++
				if *first == nil {
					*first = err
				}
				continue
			}
			*lat = append(*lat, time.Since(t))
		}
		return false
	}

	var seq []time.Duration
	var seqErrs int
	var seqFirst error
	start := time.Now()
	capped := run(sequential, &seq, &seqErrs, &seqFirst)
	seqRes := summarize(seq, seqErrs, seqFirst, time.Since(start), capped)

	var mu sync.Mutex
	var all []time.Duration
	var conErrs int
	var conFirst error
	conCapped := false
	var wg sync.WaitGroup
	start = time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			var errs int
			var first error
			hit := run(perWorker, &local, &errs, &first)
			mu.Lock()
			all = append(all, local...)
			conErrs += errs
			if conFirst == nil {
				conFirst = first
			}
			conCapped = conCapped || hit
			mu.Unlock()
		}()
	}
	wg.Wait()
	return seqRes, summarize(all, conErrs, conFirst, time.Since(start), conCapped)
}

func us(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }

// ---------------------------------------------------------------------------
// Main

type options struct {
	settings     []byte
	failRegister bool
	bare         string
	bundle       string
	descriptors  string
	benchOnly    bool
	autoMTLS     bool
	calls        int
	startOnly    bool   // start, activate and stop any plugin: no session
	post         string // -start-only: a post to send after OnActivate
	nodes        int    // > 1: the cluster run
	clusterCalls int    // "/hello" calls per node in the cluster run
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	return def
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func usageError(format string, args ...interface{}) int {
	fmt.Fprintf(os.Stderr, "go-host: "+format+"\n\n", args...)
	fmt.Fprint(os.Stderr, usageText)
	return exitUsage
}

func main() { os.Exit(mainCode()) }

func mainCode() int {
	fs := flag.NewFlagSet("go-host", flag.ContinueOnError)
	fs.SetOutput(ioutil.Discard)
	// The System Console saves plugin settings under lowercased keys and
	// GetPluginConfig answers them as stored (mattermost/mattermost: the
	// admin console's custom plugin settings, app/plugin_api.go).
	settings := fs.String("settings", `{"blockedword": "bananas"}`, "")
	failRegister := fs.Bool("fail-register", false, "")
	bare := fs.String("bare", "", "")
	nodes := fs.Int("nodes", 1, "")
	startOnly := fs.Bool("start-only", false, "")
	post := fs.String("post", "", "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprint(os.Stdout, usageText)
			return exitUsage
		}
		return usageError("%v", err)
	}
	if fs.NArg() != 2 {
		return usageError("want <bundle.tar.gz> <descriptor-set.pb> after the flags, got %d argument(s)", fs.NArg())
	}
	o := &options{
		failRegister: *failRegister,
		startOnly:    *startOnly,
		post:         *post,
		bundle:       fs.Arg(0),
		descriptors:  fs.Arg(1),
		benchOnly:    os.Getenv("GO_HOST_BENCH_ONLY") == "1",
		autoMTLS:     os.Getenv("GO_HOST_AUTOMTLS") == "1",
		calls:        envInt("GO_HOST_CALLS", 2000),
		nodes:        *nodes,
		clusterCalls: envInt("GO_HOST_CLUSTER_CALLS", 1000),
	}
	if o.nodes < 1 || o.nodes > 16 {
		return usageError("-nodes must be 1 to 16, got %d", o.nodes)
	}
	if o.nodes > 1 && (o.failRegister || o.benchOnly || *bare != "" || o.startOnly) {
		return usageError("-nodes is the cluster run: not with -fail-register, -bare, -start-only or GO_HOST_BENCH_ONLY")
	}
	if o.post != "" && !o.startOnly {
		return usageError("-post is for -start-only runs")
	}
	if o.startOnly && (o.failRegister || o.benchOnly || *bare != "") {
		return usageError("-start-only: not with -fail-register, -bare or GO_HOST_BENCH_ONLY")
	}
	var obj map[string]interface{}
	if err := json.Unmarshal([]byte(*settings), &obj); err != nil || obj == nil {
		return usageError("-settings must be a JSON object: %q", *settings)
	}
	o.settings = []byte(*settings)
	if *bare != "" {
		if !o.benchOnly {
			return usageError("-bare is for the bench only (GO_HOST_BENCH_ONLY=1)")
		}
		p, err := filepath.Abs(*bare)
		if err != nil {
			return usageError("-bare %s: %v", *bare, err)
		}
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return usageError("-bare %s: not an executable file", *bare)
		}
		o.bare = p
	}
	if o.failRegister && o.benchOnly {
		return usageError("-fail-register is not a bench run; unset GO_HOST_BENCH_ONLY")
	}
	if st, err := os.Stat(o.bundle); err != nil || st.IsDir() {
		return usageError("bundle %s: not a file", o.bundle)
	}
	if _, err := os.Stat(o.descriptors); err != nil {
		return usageError("descriptor set: %v", err)
	}
	return run(o)
}

func run(o *options) int {
	rep := &report{benchOnly: o.benchOnly}
	con, err := loadContract(o.descriptors)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-host: descriptor set %s: %v\n", o.descriptors, err)
		return exitUsage
	}
	for _, name := range []string{"Implemented", "OnActivate", "OnDeactivate", "MessageWillBePosted", "ExecuteCommand", "ServeHTTP"} {
		if con.hooks.Methods().ByName(protoreflect.Name(name)) == nil {
			fmt.Fprintf(os.Stderr, "go-host: descriptor set: %s has no %s\n", hooksService, name)
			return exitUsage
		}
	}

	// The host's logger: its output is kept, since the plugin's stderr lines
	// reach the host through go-plugin's logger.
	logBuf := &lockedBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "go-host",
		Level:  hclog.Debug,
		Output: io.MultiWriter(logBuf, os.Stderr),
	})

	// 1. Install: extract the bundle, read the manifest.
	tmp, err := ioutil.TempDir("", "go-host-")
	if err != nil {
		rep.fail("temporary directory: %v", err)
		return exitFailed
	}
	defer os.RemoveAll(tmp)
	dir, err := extractBundle(o.bundle, tmp)
	if err != nil {
		rep.fail("install bundle %s: %v", o.bundle, err)
		return exitFailed
	}
	m, err := readManifest(dir)
	if err != nil {
		rep.fail("install bundle %s: %v", o.bundle, err)
		return exitFailed
	}

	// Go plugins go to supervisor.go's net/rpc host, which refuses gRPC.
	if !m.usesGRPC() {
		reason, refused := refuseGoPlugin(dir, m.executable(), logger)
		if refused {
			fmt.Printf("refused: %s\n", strings.Replace(reason, "\n", " ", -1))
			return exitRefused
		}
		rep.fail("the bundle declares a Go plugin and it started over net/rpc: go-host checks gRPC plugins only")
		return exitFailed
	}

	// The fake PluginAPI, started before the plugin, with grpc-go's DEFAULT
	// server options: the real PluginAPI server refuses requests over 4 MiB
	// (host rules, "Message sizes"). Do not raise MaxRecvMsgSize here.
	// One API server per node (each node of a cluster is a server of its
	// own), all on one fakeAPI: one KV store, as one database.
	// GetBundlePath answers the plugin folder, absolute, as the server does.
	bundlePath, err := filepath.Abs(dir)
	if err != nil {
		rep.fail("plugin folder %s: %v", dir, err)
		return exitFailed
	}
	api := &fakeAPI{svc: con.api, settings: o.settings, kv: map[string][]byte{}, registerFail: o.failRegister,
		bundlePath: bundlePath}
	targets := make([]string, o.nodes)
	for i := range targets {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			rep.fail("fake PluginAPI listen: %v", err)
			return exitFailed
		}
		apiServer := grpc.NewServer(grpc.UnknownServiceHandler(api.handler(i)))
		go apiServer.Serve(lis)
		defer apiServer.Stop()
		targets[i] = lis.Addr().String()
	}
	if o.nodes > 1 {
		return cluster(rep, o, dir, m, con, api, targets, logger, logBuf)
	}
	if !o.benchOnly {
		apiLimitSelfCheck(rep)
	}

	n, err := startNode(o, dir, m, con.hooks, targets[0], logger)
	if err != nil {
		rep.fail("%v", err)
		return exitFailed
	}
	killed := false
	defer func() {
		if !killed {
			n.client.Kill()
		}
	}()
	n.announce(rep, o)

	var code int
	if o.startOnly {
		code = startOnlySession(rep, n.hooks, o.post)
	} else {
		pid := 0
		if rc := n.client.ReattachConfig(); rc != nil {
			pid = rc.Pid
		}
		code = session(rep, o, m, n.hooks, api, logBuf, bundlePath, pid)
	}

	// Stop: OnDeactivate if listed (called in session), then go-plugin's
	// Kill (host rules, "Stop sequence").
	n.stop(rep, logBuf, "")
	killed = true
	if code != exitOK || rep.failed > 0 {
		if !o.benchOnly {
			fmt.Printf("%d check(s) failed\n", rep.failed)
		}
		return exitFailed
	}
	return exitOK
}

// startOnlySession is the -start-only run: what the host does with any
// plugin between start and stop (host rules, "Start sequence",
// "Stop sequence"): Implemented twice, OnActivate only if listed,
// and OnDeactivate only if listed.
func startOnlySession(rep *report, h *hooks, post string) int {
	first, err1 := h.implemented()
	second, err2 := h.implemented()
	if err1 != nil || err2 != nil {
		rep.fail("Implemented: %v / %v: the host refuses to start the plugin", err1, err2)
		return exitFailed
	}
	if strings.Join(first, ",") != strings.Join(second, ",") {
		rep.fail("Implemented twice: answers differ: %v then %v", first, second)
		return exitFailed
	}
	rep.ok("Implemented twice, same answer: %v", first)
	for _, hook := range []string{"OnActivate", "OnDeactivate"} {
		if !contains(first, hook) {
			continue
		}
		resp, err := h.call(hook, nil)
		switch {
		case err != nil:
			rep.fail("%s: gRPC error %v", hook, err)
			return exitFailed
		case responseError(resp) != nil:
			rep.fail("%s: the server shows %q", hook, responseError(resp).Error())
			return exitFailed
		}
		rep.ok("%s answered without an error", hook)
		if hook == "OnActivate" && post != "" && contains(first, "MessageWillBePosted") {
			req := h.newRequest("MessageWillBePosted")
			_ = setString(req, "post.id", "post-1")
			_ = setString(req, "post.user_id", "user-alice")
			_ = setString(req, "post.channel_id", "channel-1")
			_ = setString(req, "post.message", post)
			resp, err := h.call("MessageWillBePosted", req)
			switch {
			case err != nil:
				rep.fail("MessageWillBePosted: gRPC error %v", err)
				return exitFailed
			case has(resp, "modified_post"):
				rep.ok("post: %q -> %q", post, getString(resp, "modified_post.message"))
			default:
				rep.ok("post: %q unchanged (%q)", post, getString(resp, "rejection_reason"))
			}
		}
	}
	return exitOK
}

// node is one plugin process under its own go-plugin client, as on one
// server (of a cluster).
type node struct {
	client              *plugin.Client
	hooks               *hooks
	started             string // how the process was started
	handshakeT, healthT time.Duration
}

// startNode starts the plugin as python_supervisor.go does, its API at
// apiTarget: handshake, connect, health, dispense. On failure the process
// is already stopped and the error says which step failed.
func startNode(o *options, dir string, m *manifest, svc protoreflect.ServiceDescriptor, apiTarget string, logger hclog.Logger) (*node, error) {
	// The command, as python_supervisor.go builds it.
	exe := m.executable()
	clean, err := sanitizeExecutable(exe)
	if err != nil {
		return nil, fmt.Errorf("start: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, clean)); err != nil {
		return nil, fmt.Errorf("start: script not found: %s (%v)", clean, err)
	}
	var cmd *exec.Cmd
	var started string
	if o.bare != "" {
		cmd = exec.Command(o.bare)
		started = "bare binary " + o.bare
	} else {
		interp, err := findInterpreter(dir)
		if err != nil {
			return nil, fmt.Errorf("start: %v", err)
		}
		// exec.Command(interpreter, executable as written), cmd.Dir = plugin folder.
		cmd = exec.Command(interp, exe)
		cmd.Dir = dir
		shown := interp
		if rel, err := filepath.Rel(dir, interp); err == nil && !strings.HasPrefix(rel, "..") {
			shown = rel
		}
		started = fmt.Sprintf("interpreter %s, executable argument %s, working directory %s", shown, exe, dir)
	}
	// host rules, "Starting and stopping" / python_supervisor.go: the host's
	// own environment plus the API target; go-plugin adds its
	// cookie, PLUGIN_PROTOCOL_VERSIONS and the port range itself. go-plugin
	// 1.0.1 appends os.Environ() after cmd.Env (the last duplicate wins), so
	// the host's own copy is set too (nodes start one after the other, so
	// each gets its own target). No PLUGIN_CLIENT_CERT unless
	// GO_HOST_AUTOMTLS: the real host runs without mTLS.
	os.Setenv(apiTargetEnv, apiTarget)
	os.Unsetenv("PLUGIN_CLIENT_CERT")
	cmd.Env = append(os.Environ(), apiTargetEnv+"="+apiTarget)

	// python_supervisor.go's go-plugin client: one plugin "hooks", gRPC
	// only, 3 s to print the handshake, the host's logger (host rules,
	// "Starting and stopping").
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          map[string]plugin.Plugin{"hooks": hooksPlugin{}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Cmd:              cmd,
		StartTimeout:     3 * time.Second,
		Logger:           logger,
		AutoMTLS:         o.autoMTLS, // off unless GO_HOST_AUTOMTLS=1: the real host has no mTLS
	})
	n := &node{client: client, started: started}
	conn, err := n.connect()
	if err != nil {
		client.Kill()
		return nil, err
	}
	n.hooks = &hooks{conn: conn, svc: svc}
	return n, nil
}

// connect: handshake, connect, health, dispense.
func (n *node) connect() (*grpc.ClientConn, error) {
	t0 := time.Now()
	if _, err := n.client.Start(); err != nil {
		return nil, fmt.Errorf("start (%s): %v", n.started, err)
	}
	n.handshakeT = time.Since(t0)
	rpcClient, err := n.client.Client()
	if err != nil {
		return nil, fmt.Errorf("connect: %v", err)
	}
	if err := rpcClient.Ping(); err != nil {
		return nil, fmt.Errorf("health check for service %q: %v", plugin.GRPCServiceName, err)
	}
	n.healthT = time.Since(t0)
	raw, err := rpcClient.Dispense("hooks")
	if err != nil {
		return nil, fmt.Errorf("dispense: %v", err)
	}
	conn, ok := raw.(*grpc.ClientConn)
	if !ok {
		return nil, fmt.Errorf("dispense returned %T", raw)
	}
	return conn, nil
}

// announce prints the start line (and the bench's "start:" line).
func (n *node) announce(rep *report, o *options) {
	mtls := "off, as on the real host"
	if o.autoMTLS {
		mtls = "ON (GO_HOST_AUTOMTLS=1; the real host runs without mTLS)"
	}
	if o.benchOnly {
		fmt.Printf("start: handshake in %d ms\n", n.handshakeT.Milliseconds())
	}
	rep.ok("started from the bundle: %s; handshake in %d ms, health in %d ms (protocol %d, auto-mTLS %s)",
		n.started, n.handshakeT.Milliseconds(), n.healthT.Milliseconds(), n.client.NegotiatedVersion(), mtls)
}

// stop is go-plugin's Kill: Shutdown RPC, close, wait 2 s, SIGKILL
// (host rules, "Stop sequence"), checked to have ended gracefully. name is
// the node's logger name ("" for the host's own logger), to find go-plugin's
// forced-kill warning for this node.
func (n *node) stop(rep *report, logBuf *lockedBuffer, name string) {
	stopT := time.Now()
	n.client.Kill()
	stopMs := time.Since(stopT).Milliseconds()
	forced := false
	for _, line := range strings.Split(logBuf.String(), "\n") {
		if strings.Contains(line, forcedKillLine) && strings.Contains(line, name) {
			forced = true
		}
	}
	switch {
	case forced:
		rep.fail("stop: go-plugin logged %q after %d ms: the plugin did not exit within 2 s of Shutdown and was killed", forcedKillLine, stopMs)
	case !n.client.Exited():
		rep.fail("stop: the plugin process has not exited after %d ms", stopMs)
	default:
		rep.ok("stop: Kill (Shutdown, close) -> the plugin exited gracefully in %d ms", stopMs)
	}
}

// session runs everything between start and stop.
// dir is the plugin folder, pid the plugin's process.
func session(rep *report, o *options, m *manifest, h *hooks, api *fakeAPI, logBuf *lockedBuffer, dir string, pid int) int {
	implemented, code, ok := activate(rep, o, h, api, 0)
	if !ok {
		return code
	}

	if o.benchOnly {
		benchRun(rep, o, m, h)
		return exitOK
	}

	posts(rep, h, blockedWord(o.settings), logBuf)
	uploads(rep, h, blockedWord(o.settings), implemented)
	commands(rep, h)
	httpChecks(rep, m, h, api)
	bundleFiles(rep, m, h, api, dir, pid)
	kvFailure(rep, h, api, logBuf)
	latency(rep, o, h)

	deactivate(rep, h, implemented)
	return exitOK
}

// deactivate is the stop sequence's first step: OnDeactivate, if listed.
func deactivate(rep *report, h *hooks, implemented []string) {
	if !contains(implemented, "OnDeactivate") {
		return
	}
	if resp, err := h.call("OnDeactivate", nil); err != nil {
		rep.fail("OnDeactivate: gRPC error %v", err)
	} else if e := responseError(resp); e != nil {
		rep.fail("OnDeactivate: the server logs %q", e.Error())
	} else {
		rep.ok("OnDeactivate (listed, so called): no error")
	}
}

// activate is the gRPC host's start sequence after the handshake:
// Implemented twice, then OnActivate if listed (node: whose API calls to
// check). ok is false when the session ends here, with code.
func activate(rep *report, o *options, h *hooks, api *fakeAPI, node int) (implemented []string, code int, ok bool) {
	// 4. Implemented twice: once to build the hooks client, once more by the
	// supervisor (hooks_grpc_client.go, python_supervisor.go); both must agree.
	first, err1 := h.implemented()
	second, err2 := h.implemented()
	if err1 != nil || err2 != nil {
		rep.fail("Implemented: %v / %v: the host refuses to start the plugin", err1, err2)
		return nil, exitFailed, false
	}
	var missing []string
	for _, want := range []string{"OnActivate", "MessageWillBePosted", "ExecuteCommand", "ServeHTTP"} {
		if !contains(first, want) {
			missing = append(missing, want)
		}
	}
	switch {
	case strings.Join(first, ",") != strings.Join(second, ","):
		rep.fail("Implemented twice: answers differ: %v then %v", first, second)
	case len(missing) > 0:
		rep.fail("Implemented twice: expected OnActivate, MessageWillBePosted, ExecuteCommand, ServeHTTP; missing %v in %v", missing, first)
	default:
		rep.ok("Implemented twice, same answer: %v", first)
	}
	implemented = first

	// 5. OnActivate, only because Implemented listed it; never
	// OnConfigurationChange at start (host rules, "Start sequence").
	if !contains(implemented, "OnActivate") {
		rep.fail("OnActivate: not in Implemented, so the host does not call it (the settings are never loaded)")
	} else {
		resp, err := h.call("OnActivate", nil)
		switch {
		case o.failRegister:
			return nil, activationRefused(rep, resp, err), false
		case err != nil:
			rep.fail("OnActivate: gRPC error %v", err)
			return nil, exitFailed, false
		case responseError(resp) != nil:
			rep.fail("OnActivate: the server shows %q and deactivates the plugin", responseError(resp).Error())
			return nil, exitFailed, false
		}
		calls := api.names(node)
		cfg, reg := -1, -1
		for i, c := range calls {
			if c == "GetPluginConfig" && cfg < 0 {
				cfg = i
			}
			if c == "RegisterCommand" && reg < 0 {
				reg = i
			}
		}
		problem := ""
		switch {
		case cfg < 0:
			problem = fmt.Sprintf("expected GetPluginConfig (the SDK loads the settings at activation) before RegisterCommand; the fake PluginAPI saw %v", calls)
		case reg < 0:
			problem = fmt.Sprintf("expected RegisterCommand (trigger \"hello\"); the fake PluginAPI saw %v", calls)
		case cfg > reg:
			problem = fmt.Sprintf("expected GetPluginConfig before RegisterCommand; the fake PluginAPI saw %v", calls)
		}
		rep.check(fmt.Sprintf("OnActivate (listed, so called) -> no error; API calls in order: %v", calls), problem)
	}
	if o.failRegister {
		rep.fail("-fail-register: OnActivate was not called")
		return nil, exitFailed, false
	}
	if contains(h.calledHooks(), "OnConfigurationChange") {
		rep.fail("start sequence: the host called OnConfigurationChange (it never does at start)")
	} else {
		rep.ok("start sequence: the host called %v and never OnConfigurationChange", h.calledHooks())
	}
	return implemented, exitOK, true
}

// activationRefused checks the -fail-register run: RegisterCommand fails
// with the status form, and the plugin's activation fails with that error.
func activationRefused(rep *report, resp *dynamicpb.Message, err error) int {
	if err != nil {
		rep.fail("OnActivate with RegisterCommand failing: expected an AppError in the response, got gRPC error %v", err)
		return exitFailed
	}
	e := responseError(resp)
	if e == nil {
		rep.fail("OnActivate with RegisterCommand failing: expected the activation to fail, it succeeded")
		return exitFailed
	}
	rendered := e.Error()
	var problems []string
	if !strings.Contains(rendered, "OnActivate") {
		problems = append(problems, "no \"OnActivate\"")
	}
	if !strings.Contains(rendered, "app.command.duplicate.app_error") {
		problems = append(problems, "no API error id app.command.duplicate.app_error")
	}
	if e.DetailedError == "" {
		problems = append(problems, "empty detailed part (the plugin's message "+strconv.Quote(e.pluginMessage)+" is dropped by the host)")
	}
	if len(problems) > 0 {
		rep.fail("activation refused, but the server shows %q: %s", rendered, strings.Join(problems, "; "))
		return exitFailed
	}
	rep.ok("activation refused as the server shows it: %s", rendered)
	return exitOK
}

// blockedWord is the word the plugin should refuse under the admin's
// settings: BlockedWord, else the manifest's default "forbidden".
func blockedWord(settings []byte) string {
	var s struct{ BlockedWord string }
	if json.Unmarshal(settings, &s) != nil || s.BlockedWord == "" {
		return "forbidden"
	}
	return s.BlockedWord
}

// The author and channel of the posts the host sends.
const (
	postUser    = "user-alice"
	postChannel = "channel-1"
)

func posts(rep *report, h *hooks, word string, logBuf *lockedBuffer) {
	call := func(text string) (reason string, modified bool, modMsg string, err error) {
		req := h.newRequest("MessageWillBePosted")
		_ = setString(req, "plugin_context.request_id", "go-host-post")
		_ = setString(req, "post.id", "post-1")
		_ = setString(req, "post.user_id", postUser)
		_ = setString(req, "post.channel_id", postChannel)
		if err = setString(req, "post.message", text); err != nil {
			return
		}
		resp, err := h.call("MessageWillBePosted", req)
		if err != nil {
			return
		}
		return getString(resp, "rejection_reason"), has(resp, "modified_post"), getString(resp, "modified_post.message"), nil
	}
	describe := func(reason string, modified bool, msg string) string {
		switch {
		case reason != "" && modified:
			return fmt.Sprintf("rejected (%q) and modified_post %q", reason, msg)
		case reason != "":
			return fmt.Sprintf("rejected (%q)", reason)
		case modified:
			return fmt.Sprintf("modified_post %q", msg)
		}
		return "allowed unchanged"
	}

	w := []rune(word)
	banned := "I like " + strings.ToUpper(string(w[:1])) + string(w[1:])
	if reason, modified, msg, err := call(banned); err != nil {
		rep.fail("MessageWillBePosted(%q): gRPC error %v", banned, err)
	} else if reason == "" || !strings.Contains(strings.ToLower(reason), strings.ToLower(word)) {
		rep.fail("MessageWillBePosted(%q): expected a rejection mentioning %s (the admin's BlockedWord), got %s", banned, word, describe(reason, modified, msg))
	} else {
		rep.ok("MessageWillBePosted(%q) rejected: %q", banned, reason)
	}
	// The plugin logs the refusal with the post's author and channel as
	// tracing fields; they must reach the host's log as fields of the entry.
	if line, problem := refusalLogged(logBuf); problem != "" {
		rep.fail("the plugin's \"refused a post\" in the host's log: %s", problem)
	} else {
		rep.ok("the host logged the plugin's refusal as an hclog entry with fields user_id, channel_id, hook: %q", line)
	}

	const formerDefault = "this is forbidden"
	if strings.Contains(formerDefault, strings.ToLower(word)) {
		// -settings kept the default word (or one inside this post): no check of the replacement.
	} else if reason, modified, msg, err := call(formerDefault); err != nil {
		rep.fail("MessageWillBePosted(%q): gRPC error %v", formerDefault, err)
	} else if reason != "" || modified {
		rep.fail("MessageWillBePosted(%q): expected allowed unchanged (the admin's %q replaces the default \"forbidden\"), got %s", formerDefault, word, describe(reason, modified, msg))
	} else {
		rep.ok("MessageWillBePosted(%q) allowed unchanged (the admin's setting replaced the default word)", formerDefault)
	}

	const typo = "teh cat"
	if reason, modified, msg, err := call(typo); err != nil {
		rep.fail("MessageWillBePosted(%q): gRPC error %v", typo, err)
	} else if reason != "" || !modified || msg != "the cat" {
		rep.fail("MessageWillBePosted(%q): expected modified_post \"the cat\", got %s", typo, describe(reason, modified, msg))
	} else {
		rep.ok("MessageWillBePosted(%q) rewritten to %q", typo, msg)
	}
}

// uploadSize is the server's default maximum file size (100 MiB), the
// largest file a FileWillBeUploaded call carries by default: the server
// sends the whole file in one message (host rules, "What the host converts
// and loses").
const uploadSize = 100 << 20

// uploads calls FileWillBeUploaded, if listed, with two text files of
// uploadSize bytes, as the server would: one with the blocked word in its
// last bytes (refused, naming the word: the plugin read all of it) and one
// without (allowed unchanged).
func uploads(rep *report, h *hooks, word string, implemented []string) {
	if !contains(implemented, "FileWillBeUploaded") {
		return
	}
	call := func(name string, content []byte) (reason string, modified bool, err error) {
		req := h.newRequest("FileWillBeUploaded")
		_ = setString(req, "plugin_context.request_id", "go-host-upload")
		_ = setString(req, "file_info.name", name)
		_ = setString(req, "file_info.creator_id", postUser)
		if err = set(req, "file_content", protoreflect.ValueOfBytes(content)); err != nil {
			return
		}
		resp, err := h.call("FileWillBeUploaded", req)
		if err != nil {
			return
		}
		// proto3: Has is true for a set message or non-empty bytes.
		return getString(resp, "rejection_reason"), has(resp, "modified_file_info") || has(resp, "modified_content"), nil
	}
	text := func(last string) []byte {
		out := bytes.Repeat([]byte("all work and no play makes a dull upload\n"), uploadSize/41+1)[:uploadSize-len(last)]
		return append(out, last...)
	}
	for _, c := range []struct {
		name, last string
		refused    bool
	}{
		{"notes.txt", " the end", false},
		{"leak.txt", " " + word, true},
	} {
		started := time.Now()
		reason, modified, err := call(c.name, text(c.last))
		took := time.Since(started).Round(time.Millisecond)
		switch {
		case err != nil:
			rep.fail("FileWillBeUploaded(%s, 100 MiB): gRPC error %v", c.name, err)
		case modified:
			rep.fail("FileWillBeUploaded(%s, 100 MiB): the plugin replaced the file", c.name)
		case c.refused && !strings.Contains(strings.ToLower(reason), strings.ToLower(word)):
			rep.fail("FileWillBeUploaded(%s, 100 MiB, %q in its last bytes): expected a refusal naming it, got %q", c.name, word, reason)
		case !c.refused && reason != "":
			rep.fail("FileWillBeUploaded(%s, 100 MiB): expected allowed, got refused (%q)", c.name, reason)
		case c.refused:
			rep.ok("FileWillBeUploaded(%s, 100 MiB) refused in %v: %q", c.name, took, reason)
		default:
			rep.ok("FileWillBeUploaded(%s, 100 MiB) allowed in %v", c.name, took)
		}
	}
}

// refusalLine is one entry the host's hclog logger writes (text format,
// go-hclog's intLogger.logPlain) for a plugin's info event with fields:
// "<time> [INFO]  <logger name>: <message>: k=v k=v ...". go-plugin
// (client.go, Client.logStderr; log_entry.go, parseJSON) reads each
// plugin stderr line that is hclog JSON, takes @message, @level and
// @timestamp out, and logs the message at that level with every other key
// as a field (plus its own "timestamp" field), in no fixed order.
var refusalLine = regexp.MustCompile(`^\S+ \[INFO\]  \S+: refused a post:( .*)$`)

// refusalLogged finds the plugin's "refused a post" entry in the host's log
// and checks its fields: the post's user_id and channel_id, and the hook
// the SDK adds. It returns the line, or what is wrong.
func refusalLogged(logBuf *lockedBuffer) (string, string) {
	const message = "refused a post"
	if !logBuf.waitFor(message, 2*time.Second) {
		return "", "no entry mentions it within 2 s"
	}
	var found []string
	for _, line := range strings.Split(logBuf.String(), "\n") {
		if strings.Contains(line, message) {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		return "", fmt.Sprintf("expected one entry, found %d: %q", len(found), found)
	}
	line := found[0]
	m := refusalLine.FindStringSubmatch(line)
	if m == nil {
		return "", fmt.Sprintf("expected an info entry with message %q and key=value fields (not a raw JSON line), got %q", message, line)
	}
	fields, err := hclogFields(m[1])
	if err != nil {
		return "", fmt.Sprintf("%v in %q", err, line)
	}
	var problems []string
	for _, want := range [][2]string{{"user_id", postUser}, {"channel_id", postChannel}, {"hook", "MessageWillBePosted"}} {
		if got, ok := fields[want[0]]; !ok {
			problems = append(problems, fmt.Sprintf("no field %s", want[0]))
		} else if got != want[1] {
			problems = append(problems, fmt.Sprintf("%s=%q, want %q", want[0], got, want[1]))
		}
	}
	for k := range fields {
		if strings.HasPrefix(k, "@") {
			problems = append(problems, fmt.Sprintf("hclog's own key %s left as a field", k))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return "", fmt.Sprintf("%s in %q", strings.Join(problems, "; "), line)
	}
	return line, ""
}

// hclogFields parses the fields of an hclog text entry, " k=v k=\"v w\"":
// logPlain writes each as key=value, the value in double quotes (not
// escaped) when it holds white space.
func hclogFields(s string) (map[string]string, error) {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return out, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.ContainsAny(s[:eq], " \"") {
			return nil, fmt.Errorf("no key=value at %q", s)
		}
		key, rest := s[:eq], s[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted value at %q", s)
			}
			val, s = rest[1:1+end], rest[2+end:]
		} else if sp := strings.IndexByte(rest, ' '); sp >= 0 {
			val, s = rest[:sp], rest[sp:]
		} else {
			val, s = rest, ""
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("field %s twice", key)
		}
		out[key] = val
	}
}

// command runs ExecuteCommand and returns the response text and the host's
// AppError, if any.
func command(h *hooks, userID, line string) (string, *appError, error) {
	resp, err := h.call("ExecuteCommand", commandRequest(h, userID, line))
	if err != nil {
		return "", nil, err
	}
	return getString(resp, "response.text"), responseError(resp), nil
}

func commandRequest(h *hooks, userID, line string) *dynamicpb.Message {
	req := h.newRequest("ExecuteCommand")
	_ = setString(req, "plugin_context.request_id", "go-host-command")
	_ = setString(req, "args.user_id", userID)
	_ = setString(req, "args.channel_id", "channel-1")
	_ = setString(req, "args.team_id", "team-1")
	_ = setString(req, "args.command", line)
	return req
}

func commands(rep *report, h *hooks) {
	for n := 1; n <= 2; n++ {
		what := fmt.Sprintf("ExecuteCommand(\"/hello Alice\") #%d", n)
		want := fmt.Sprintf("(hello number %d)", n)
		text, e, err := command(h, "user-alice", "/hello Alice")
		switch {
		case err != nil:
			rep.fail("%s: gRPC error %v", what, err)
		case e != nil:
			rep.fail("%s: expected a greeting, the server shows the error %q", what, e.Error())
		case !strings.Contains(text, "Hello, Alice") || !strings.Contains(text, want):
			rep.fail("%s: expected text with \"Hello, Alice\" and %q, got %q", what, want, text)
		default:
			rep.ok("%s: %q", what, text)
		}
	}

	const shout = "/hello --shout"
	text, e, err := command(h, "user-alice", shout)
	switch {
	case err != nil:
		rep.fail("ExecuteCommand(%q): gRPC error %v", shout, err)
	case e == nil:
		rep.fail("ExecuteCommand(%q): expected a hook error containing \"unknown option\", got the answer %q", shout, text)
	case !strings.Contains(e.Error(), "ExecuteCommand: ") || !strings.Contains(e.Error(), "unknown option"):
		rep.fail("ExecuteCommand(%q): the server shows %q; expected \"ExecuteCommand: \" and \"unknown option\" in it (the host keeps where, id and detailed_error; the plugin's message %q is dropped)",
			shout, e.Error(), e.pluginMessage)
	default:
		rep.ok("ExecuteCommand(%q) fails as the server shows it: %s", shout, e.Error())
	}

	const anon = "/hello"
	text, e, err = command(h, "user-alice", anon)
	switch {
	case err != nil:
		rep.fail("ExecuteCommand(%q) from user-alice: gRPC error %v", anon, err)
	case e != nil:
		rep.fail("ExecuteCommand(%q) from user-alice: expected \"Hello, @alice\" (GetUser of the caller), the server shows the error %q", anon, e.Error())
	case !strings.Contains(text, "Hello, @alice"):
		rep.fail("ExecuteCommand(%q) from user-alice: expected \"Hello, @alice\" (GetUser of the caller), got %q", anon, text)
	default:
		rep.ok("ExecuteCommand(%q) from user-alice greets by username: %q", anon, text)
	}

	text, e, err = command(h, "user-nobody", anon)
	switch {
	case err != nil:
		rep.fail("ExecuteCommand(%q) from user-nobody: gRPC error %v", anon, err)
	case e == nil:
		rep.fail("ExecuteCommand(%q) from user-nobody: expected the GetUser error (id app.user.missing_account.const, status 404, where ExecuteCommand), got the answer %q", anon, text)
	case e.ID != "app.user.missing_account.const" || e.StatusCode != 404 || e.Where != "ExecuteCommand":
		rep.fail("ExecuteCommand(%q) from user-nobody: expected id app.user.missing_account.const, status_code 404, where ExecuteCommand; got id %q, status_code %d, where %q (the server shows %q)",
			anon, e.ID, e.StatusCode, e.Where, e.Error())
	default:
		rep.ok("ExecuteCommand(%q) from user-nobody fails with the API error kept: %s (status %d)", anon, e.Error(), e.StatusCode)
	}
}

func httpChecks(rep *report, m *manifest, h *hooks, api *fakeAPI) {
	prefix := "/plugins/" + m.ID

	// GET /hello: the server's URL rewrite and header rules.
	target := prefix + "/hello?b=2&access_token=secret&a=1"
	what := "ServeHTTP GET " + target
	res, _, err := h.serveHTTP(m.ID, browserRequest{
		method: "GET",
		target: target,
		headers: [][2]string{
			{"Authorization", "Bearer token"},
			{"Referer", "http://localhost:8065/somewhere"},
			{"Mattermost-User-Id", "forged"},
			{"Cookie", sessionCookie + "=token; theme=dark"},
			{"X-Tag", "one"},
			{"X-Tag", "two"},
		},
		sessionUser: "user-alice",
	}, true, hookTimeout)
	if err != nil {
		rep.fail("%s: %v", what, err)
	} else {
		var got struct {
			Hello, RequestID string
			Tags             []string
			Path, Query      *string
		}
		var problems []string
		if res.status != 200 || len(res.problems) > 0 {
			problems = append(problems, "expected status 200 and a well-formed stream, got "+res.detail()+", body "+res.bodyText())
		} else if err := json.Unmarshal(res.body, &got); err != nil {
			problems = append(problems, fmt.Sprintf("expected JSON, got %s (%v)", res.bodyText(), err))
		} else {
			str := func(p *string) string {
				if p == nil {
					return "<missing>"
				}
				return strconv.Quote(*p)
			}
			if got.Path == nil || *got.Path != "/hello" {
				problems = append(problems, "expected path \"/hello\", got "+str(got.Path))
			}
			if got.Query == nil || *got.Query != "a=1&b=2" {
				problems = append(problems, "expected query \"a=1&b=2\", got "+str(got.Query))
			}
			if got.Hello != "user-alice" {
				problems = append(problems, fmt.Sprintf("expected hello \"user-alice\" (the session's user, not the forged header), got %q", got.Hello))
			}
			if strings.Join(got.Tags, ",") != "one,two" {
				problems = append(problems, fmt.Sprintf("expected tags [one two], got %q", got.Tags))
			}
			if echoed := res.headers.Values("X-Tag"); strings.Join(echoed, ",") != "one,two" {
				problems = append(problems, fmt.Sprintf("expected X-Tag one, two echoed, got %q", echoed))
			}
		}
		sentAs := fmt.Sprintf("url %q, request_uri %q", res.url, res.requestURI)
		if len(problems) > 0 {
			rep.fail("%s (sent as %s): %s", what, sentAs, strings.Join(problems, "; "))
		} else {
			rep.ok("%s (sent as %s): 200, path \"/hello\", query \"a=1&b=2\", hello \"user-alice\", tags [one two], X-Tag echoed", what, sentAs)
		}
	}

	// POST /echo of 64 MiB.
	echo(rep, m, h, false)

	// PUT and GET /note: the caller's note in the KV store.
	note := make([]byte, 1<<10)
	rand.New(rand.NewSource(3)).Read(note)
	alice := [][2]string{{"Authorization", "Bearer token"}, {"Content-Type", "application/octet-stream"}}
	res, _, err = h.serveHTTP(m.ID, browserRequest{method: "PUT", target: prefix + "/note", headers: alice,
		sessionUser: "user-alice", body: bytes.NewReader(note), size: int64(len(note))}, true, hookTimeout)
	if err != nil {
		rep.fail("ServeHTTP PUT /note of 1 KiB: %v", err)
	} else if res.status != 204 || len(res.problems) > 0 {
		rep.fail("ServeHTTP PUT /note of 1 KiB as user-alice: expected 204, got %s, body %s", res.detail(), res.bodyText())
	} else {
		rep.ok("ServeHTTP PUT /note of 1 KiB as user-alice: 204 (%d request message(s), the body inside init)", res.sentMessages)
	}
	res, _, err = h.serveHTTP(m.ID, browserRequest{method: "GET", target: prefix + "/note", headers: alice[:1],
		sessionUser: "user-alice"}, true, hookTimeout)
	if err != nil {
		rep.fail("ServeHTTP GET /note: %v", err)
	} else if res.status != 200 || len(res.problems) > 0 || !bytes.Equal(res.body, note) {
		rep.fail("ServeHTTP GET /note as user-alice: expected 200 and the 1 KiB stored, got %s, body %s", res.detail(), res.bodyText())
	} else {
		rep.ok("ServeHTTP GET /note as user-alice: 200 and the same 1 KiB")
	}
	const big = 5 << 20
	res, _, err = h.serveHTTP(m.ID, browserRequest{method: "PUT", target: prefix + "/note", headers: alice,
		sessionUser: "user-alice", body: &randReader{rng: rand.New(rand.NewSource(4)), left: big}, size: big}, true, hookTimeout)
	if err != nil {
		rep.fail("ServeHTTP PUT /note of 5 MiB: %v", err)
	} else if res.status != 413 || !strings.Contains(string(res.body), "4194304") {
		rep.fail("ServeHTTP PUT /note of 5 MiB: expected 413 with a body naming the limit 4194304, got %s, body %s", res.detail(), res.bodyText())
	} else {
		rep.ok("ServeHTTP PUT /note of 5 MiB: 413 %s", res.bodyText())
	}

	// The API server's limit held: nothing over 4 MiB reached a handler.
	largest, refused := 0, []string{}
	for _, c := range api.seen() {
		if c.size > largest {
			largest = c.size
		}
		if c.refused != "" {
			refused = append(refused, c.method+": "+c.refused)
		}
	}
	note2 := "none"
	if len(refused) > 0 {
		note2 = strings.Join(refused, "; ")
	}
	if largest > apiMaxRequest {
		rep.fail("fake PluginAPI received a %d-byte request, over grpc-go's default limit %d", largest, apiMaxRequest)
	} else {
		rep.ok("fake PluginAPI (grpc-go default limits) never received a request over %d bytes: largest %d; refused by grpc-go: %s",
			apiMaxRequest, largest, note2)
	}
}

// greetingAsset is the file the example plugin ships in its bundle and
// serves at /greeting, read from the folder GetBundlePath answers.
const greetingAsset = "assets/greeting.txt"

// bundleFiles checks the files the bundle ships beside the binaries (host
// rules, "A bundle's other files"): the icon the manifest names is in the
// installed plugin folder and reads as SVG (getIcon takes nothing else);
// the example's asset is there, relative to the plugin's working directory,
// which is the plugin folder (python_supervisor.go sets cmd.Dir; on Linux
// the process's /proc/<pid>/cwd shows it); and the plugin serves its text
// at /greeting, having asked GetBundlePath where it is installed.
func bundleFiles(rep *report, m *manifest, h *hooks, api *fakeAPI, dir string, pid int) {
	icon, err := ioutil.ReadFile(filepath.Join(dir, filepath.FromSlash(m.IconPath)))
	text := strings.ToLower(strings.TrimSpace(string(icon)))
	svg := (strings.HasPrefix(text, "<svg") || strings.HasPrefix(text, "<?xml")) && strings.HasSuffix(text, "</svg>")
	switch {
	case m.IconPath == "":
		rep.fail("the manifest names no icon_path; the example ships assets/icon.svg")
	case err != nil:
		rep.fail("the icon icon_path %q is not in the installed bundle: %v", m.IconPath, err)
	case !svg:
		rep.fail("the icon icon_path %q is in the installed bundle but is not an SVG: %.40q", m.IconPath, icon)
	default:
		rep.ok("the icon icon_path %q is in the installed bundle: %d bytes of SVG", m.IconPath, len(icon))
	}

	// The working directory of the plugin's process is the plugin folder:
	// the asset's path relative to it is the one the bundle ships.
	cwd := dir
	how := "the folder the host started it in"
	if runtime.GOOS == "linux" && pid > 0 {
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil {
			cwd, how = link, fmt.Sprintf("/proc/%d/cwd", pid)
		}
	}
	want, err := ioutil.ReadFile(filepath.Join(cwd, filepath.FromSlash(greetingAsset)))
	switch {
	case err != nil:
		rep.fail("%s is not readable from the plugin's working directory %s (%s): %v", greetingAsset, cwd, how, err)
		return
	case !sameFolder(cwd, dir):
		rep.fail("the plugin's working directory is %s (%s), not the plugin folder %s", cwd, how, dir)
		return
	default:
		rep.ok("%s is readable from the plugin's working directory (the plugin folder, %s): %q", greetingAsset, how, want)
	}

	target := "/plugins/" + m.ID + "/greeting"
	res, _, err := h.serveHTTP(m.ID, browserRequest{method: "GET", target: target}, true, hookTimeout)
	switch {
	case err != nil:
		rep.fail("ServeHTTP GET %s: %v", target, err)
	case res.status != 200 || !bytes.Equal(res.body, want):
		rep.fail("ServeHTTP GET %s: expected 200 and the text of %s (%q), got %s, body %s", target, greetingAsset, want, res.detail(), res.bodyText())
	case !contains(api.names(0), "GetBundlePath"):
		rep.fail("ServeHTTP GET %s: the text of %s, but the plugin never asked GetBundlePath (API calls: %v)", target, greetingAsset, api.names(0))
	default:
		rep.ok("ServeHTTP GET %s: 200, the text of %s, read through GetBundlePath (%s)", target, greetingAsset, dir)
	}
}

// sameFolder tells whether two paths name one folder, symlinks resolved.
func sameFolder(a, b string) bool {
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

// echo POSTs 64 MiB to /echo; in bench mode it prints the "echo:" line.
func echo(rep *report, m *manifest, h *hooks, bench bool) {
	const ct = "application/x-go-host"
	what := "ServeHTTP POST /plugins/" + m.ID + "/echo of 64 MiB"
	res, took, err := h.serveHTTP(m.ID, browserRequest{
		method:      "POST",
		target:      "/plugins/" + m.ID + "/echo",
		headers:     [][2]string{{"Authorization", "Bearer token"}, {"Content-Type", ct}},
		sessionUser: "user-alice",
		body:        &randReader{rng: rand.New(rand.NewSource(2)), left: echoBytes},
		size:        echoBytes,
	}, false, echoLimit)
	var problem string
	switch {
	case err != nil:
		problem = fmt.Sprintf("%v (after %d ms; %s)", err, took.Milliseconds(), res.detailOrNil())
	case res.status != 200 || len(res.problems) > 0:
		problem = "expected 200 and a well-formed stream, got " + res.detail()
	case res.size != echoBytes || res.sum != res.sentSum:
		problem = fmt.Sprintf("echoed %d bytes sha256 %s, sent %d bytes sha256 %s", res.size, res.sum, int64(echoBytes), res.sentSum)
	case res.headers.Get("Content-Type") != ct:
		problem = fmt.Sprintf("Content-Type %q not echoed (headers %v)", res.headers.Get("Content-Type"), res.headers)
	}
	if bench {
		if problem != "" {
			fmt.Printf("echo: failed after %d ms\n", took.Milliseconds())
			rep.fail("%s: %s", what, problem)
		} else {
			fmt.Printf("echo: %d MiB in %d ms, %.0f MiB/s\n", echoBytes>>20, took.Milliseconds(), mibPerSec(echoBytes, took))
		}
		return
	}
	if problem != "" {
		rep.fail("%s: %s", what, problem)
		return
	}
	rep.ok("%s in %d ms, %.0f MiB/s: 200, sha256 %s... equal, %d chunks <= 64 KiB (largest %d), init only first, body_complete last, Content-Type echoed",
		what, took.Milliseconds(), mibPerSec(echoBytes, took), res.sum[:16], res.chunks, res.maxChunk)
}

func (r *httpResult) detailOrNil() string {
	if r == nil {
		return "no response"
	}
	return r.detail()
}

// kvFailureDetail is the detailed error of the KV store's failures when it is
// switched off. The plugin logs an API error as Go's AppError.Error() shows
// it, "where: message, detailed error", without the id (the SDK's Display
// since its model layer), so the log is searched for this text.
const kvFailureDetail = "go-host fake PluginAPI: KV failure mode"

func kvFailure(rep *report, h *hooks, api *fakeAPI, logBuf *lockedBuffer) {
	api.setKVFail(true)
	defer api.setKVFail(false)
	const line = "/hello Bob"
	text, e, err := command(h, "user-alice", line)
	var problems []string
	switch {
	case err != nil:
		problems = append(problems, fmt.Sprintf("gRPC error %v", err))
	case e != nil:
		problems = append(problems, fmt.Sprintf("expected a greeting without a count, the server shows the error %q", e.Error()))
	case !strings.Contains(text, "Hello, Bob") || strings.Contains(text, "(hello number"):
		problems = append(problems, fmt.Sprintf("expected \"Hello, Bob\" without \"(hello number\", got %q", text))
	}
	// The plugin logs the error as Go's AppError.Error() renders it:
	// "where: message, detailed error".
	const logged = "go-host: the KV store is switched off, go-host fake PluginAPI: KV failure mode"
	if !logBuf.waitFor(logged, 2*time.Second) {
		problems = append(problems, fmt.Sprintf("the plugin's log (its stderr through go-plugin's logger) never says %q", logged))
	}
	rep.check(fmt.Sprintf("ExecuteCommand(%q) with the KV store failing (AppError in the response) -> %q; the AppError's text in the plugin's log", line, text),
		strings.Join(problems, "; "))
}

func latency(rep *report, o *options, h *hooks) {
	req := h.newRequest("MessageWillBePosted")
	_ = setString(req, "post.message", "hello")
	const workers = 8
	perWorker := o.calls / 2
	if perWorker < 1 {
		perWorker = 1
	}
	seq, con := bench(h, req, o.calls, workers, perWorker, 60*time.Second)
	note := ""
	if seq.capped || con.capped {
		note = " (stopped by the 60 s cap)"
	}
	fmt.Printf("latency: MessageWillBePosted sequential n=%d p50=%sus p99=%sus %.0f calls/s; concurrent %dx%d n=%d p50=%sus p99=%sus %.0f calls/s%s\n",
		seq.calls, us(seq.p50), us(seq.p99), seq.rate,
		workers, perWorker, con.calls, us(con.p50), us(con.p99), con.rate, note)
	if seq.errors > 0 || con.errors > 0 {
		first := seq.firstErr
		if first == nil {
			first = con.firstErr
		}
		rep.fail("latency: %d sequential and %d concurrent calls failed; first: %v", seq.errors, con.errors, first)
	} else if seq.calls == 0 || con.calls == 0 {
		rep.fail("latency: no call completed")
	}
}

func benchRun(rep *report, o *options, m *manifest, h *hooks) {
	latency(rep, o, h)
	echo(rep, m, h, true)
}

// ---------------------------------------------------------------------------
// The cluster run

const (
	// clusterWorkers: the concurrent "/hello" calls per node.
	clusterWorkers = 8
	// clusterLimit bounds the whole load.
	clusterLimit = 60 * time.Second
	// counterKey is the example plugin's hello counter in the KV store.
	counterKey = "hello_count"
)

// helloAnswer is the example plugin's answer to "/hello NAME" when it could
// count: "Hello, NAME! (hello number N)".
var helloAnswer = regexp.MustCompile(`^Hello, (\S+)! \(hello number (\d+)\)$`)

// cluster is the -nodes run: o.nodes plugin processes from the same bundle,
// as on the servers of a cluster, each with its own go-plugin client and API
// server, all on one fakeAPI (one KV store, as one database). Each is
// started and activated as in the session; then all run o.clusterCalls
// "/hello" commands each at once, which count in one KV key with the typed
// store's compare-and-set update: the count must end at nodes x calls and
// the answers must hand out each number once. Then each is stopped.
func cluster(rep *report, o *options, dir string, m *manifest, con *contract, api *fakeAPI, targets []string,
	logger hclog.Logger, logBuf *lockedBuffer) int {
	var nodes []*node
	var implemented [][]string
	stopped := make([]bool, len(targets))
	defer func() {
		for i, n := range nodes {
			if !stopped[i] {
				n.client.Kill()
			}
		}
	}()
	loggerName := func(i int) string { return fmt.Sprintf("node%d", i+1) }
	for i, target := range targets {
		rep.prefix = fmt.Sprintf("node %d: ", i+1)
		// Each node's entries under its own name: go-host.nodeN.python for
		// the plugin's stderr, go-host.nodeN for go-plugin's own.
		n, err := startNode(o, dir, m, con.hooks, target, logger.Named(loggerName(i)))
		if err != nil {
			rep.fail("%v", err)
			return exitFailed
		}
		nodes = append(nodes, n)
		n.announce(rep, o)
		impl, code, ok := activate(rep, o, n.hooks, api, i)
		if !ok {
			return code
		}
		implemented = append(implemented, impl)
	}
	rep.prefix = ""

	load(rep, o, nodes, api)

	for i, n := range nodes {
		rep.prefix = fmt.Sprintf("node %d: ", i+1)
		deactivate(rep, n.hooks, implemented[i])
		n.stop(rep, logBuf, "go-host."+loggerName(i)+":")
		stopped[i] = true
	}
	rep.prefix = ""
	if rep.failed > 0 {
		fmt.Printf("%d check(s) failed\n", rep.failed)
		return exitFailed
	}
	return exitOK
}

// load runs the cluster's "/hello" calls on all nodes at once and checks
// the counter and the numbers handed out.
func load(rep *report, o *options, nodes []*node, api *fakeAPI) {
	total := len(nodes) * o.clusterCalls
	conflictsBefore := api.conflicts()
	ctx, cancel := context.WithTimeout(context.Background(), clusterLimit)
	defer cancel()

	var mu sync.Mutex
	numbers := make([]int, 0, total)
	answered := make([]int, len(nodes))
	var failed, notRun int
	var firstFailure string
	fail := func(what string) {
		mu.Lock()
		failed++
		if firstFailure == "" {
			firstFailure = what
		}
		mu.Unlock()
	}

	md, _ := nodes[0].hooks.method("ExecuteCommand")
	start := time.Now()
	var wg sync.WaitGroup
	for i, n := range nodes {
		name := fmt.Sprintf("Node%d", i+1)
		line := "/hello " + name
		calls := make(chan struct{}, o.clusterCalls)
		for c := 0; c < o.clusterCalls; c++ {
			calls <- struct{}{}
		}
		close(calls)
		for w := 0; w < clusterWorkers; w++ {
			wg.Add(1)
			go func(i int, h *hooks) {
				defer wg.Done()
				for range calls {
					if ctx.Err() != nil {
						mu.Lock()
						notRun++
						mu.Unlock()
						continue
					}
					// Not h.call: thousands of identical entries would
					// swell the record of hooks called.
					resp := dynamicpb.NewMessage(md.Output())
					callCtx, cancelCall := context.WithTimeout(ctx, hookTimeout)
					err := h.conn.Invoke(callCtx, "/"+hooksService+"/ExecuteCommand", commandRequest(h, "user-alice", line), resp)
					cancelCall()
					if err != nil {
						fail(fmt.Sprintf("node %d: ExecuteCommand(%q): gRPC error %v", i+1, line, err))
						continue
					}
					if e := responseError(resp); e != nil {
						fail(fmt.Sprintf("node %d: ExecuteCommand(%q): the server shows %q", i+1, line, e.Error()))
						continue
					}
					text := getString(resp, "response.text")
					a := helloAnswer.FindStringSubmatch(text)
					if a == nil || a[1] != name {
						// Without a count, the plugin's update gave up (or the KV failed).
						fail(fmt.Sprintf("node %d: ExecuteCommand(%q): expected \"Hello, %s! (hello number N)\", got %q", i+1, line, name, text))
						continue
					}
					num, _ := strconv.Atoi(a[2])
					mu.Lock()
					numbers = append(numbers, num)
					answered[i]++
					mu.Unlock()
				}
			}(i, n.hooks)
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	conflicts := api.conflicts() - conflictsBefore

	// The hello numbers: exactly 1..total, each once.
	sort.Ints(numbers)
	duplicates, outside := 0, 0
	seen := make([]bool, total+1)
	for _, n := range numbers {
		switch {
		case n < 1 || n > total:
			outside++
		case seen[n]:
			duplicates++
		default:
			seen[n] = true
		}
	}
	missing := 0
	for n := 1; n <= total; n++ {
		if !seen[n] {
			missing++
		}
	}
	// The counter as stored: the typed KV writes a u64 as a JSON number.
	stored := api.value(counterKey)
	var counter uint64
	counterErr := json.Unmarshal(stored, &counter)

	perNode := make([]string, len(answered))
	for i, a := range answered {
		perNode[i] = strconv.Itoa(a)
	}
	rangeText := fmt.Sprintf("1..=%d", total)
	if len(numbers) > 0 {
		rangeText = fmt.Sprintf("%d..=%d", numbers[0], numbers[len(numbers)-1])
	}
	figures := fmt.Sprintf("calls=%d answered=%d answered_per_node=%s failed=%d not_run=%d elapsed_ms=%d calls_per_s=%.0f counter=%s numbers=%s duplicates=%d missing=%d cas_conflicts=%d",
		total, len(numbers), strings.Join(perNode, ","), failed, notRun, elapsed.Milliseconds(),
		float64(len(numbers))/elapsed.Seconds(), stored, rangeText, duplicates, missing, conflicts)
	var problems []string
	if notRun > 0 {
		problems = append(problems, fmt.Sprintf("%d calls not made within the %s cap", notRun, clusterLimit))
	}
	if failed > 0 {
		problems = append(problems, fmt.Sprintf("%d calls failed, first: %s", failed, firstFailure))
	}
	if counterErr != nil || string(stored) != strconv.Itoa(total) || counter != uint64(total) {
		problems = append(problems, fmt.Sprintf("KV %s holds %q, expected the JSON number %d", counterKey, stored, total))
	}
	if duplicates > 0 || missing > 0 || outside > 0 {
		problems = append(problems, fmt.Sprintf("hello numbers: %d duplicated, %d missing, %d outside 1..=%d: an update was lost",
			duplicates, missing, outside, total))
	}
	what := fmt.Sprintf("cluster of %d nodes, one KV store, %d x %d \"/hello\" calls (%d at a time per node)",
		len(nodes), len(nodes), o.clusterCalls, clusterWorkers)
	if len(problems) > 0 {
		rep.fail("%s: %s: %s", what, strings.Join(problems, "; "), figures)
	} else {
		rep.ok("%s: %s", what, figures)
	}
}

// apiLimitSelfCheck sends a 5 MiB request to a grpc-go server with the
// default options, as the fake PluginAPI and the real one run (a separate
// server, so the fake's record of calls stays the plugin's), and prints the
// status grpc-go answers with: the SDK reads its refusal for size from
// exactly this text (host rules, "Message sizes"), and the interop test
// checks it against the SDK.
func apiLimitSelfCheck(rep *report) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		rep.fail("API limit self-check: listen: %v", err)
		return
	}
	// The handler reads the request: grpc-go checks the size as it receives.
	server := grpc.NewServer(grpc.UnknownServiceHandler(func(_ interface{}, stream grpc.ServerStream) error {
		return stream.RecvMsg(&rawFrame{})
	}))
	go server.Serve(lis)
	defer server.Stop()
	conn, err := grpc.Dial(lis.Addr().String(), grpc.WithInsecure(), grpc.WithBlock(), grpc.WithTimeout(5*time.Second))
	if err != nil {
		rep.fail("API limit self-check: dial: %v", err)
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	big := &rawFrame{data: make([]byte, 5<<20)}
	err = conn.Invoke(ctx, "/"+apiService+"/KVSet", big, &rawFrame{})
	st, _ := status.FromError(err)
	if err == nil || st.Code() != codes.ResourceExhausted {
		rep.fail("API limit self-check: a 5 MiB request got %v, want ResourceExhausted from grpc-go's default limit", err)
		return
	}
	rep.ok("grpc-go refuses a 5 MiB API request: code=%s message=%q", st.Code(), st.Message())
}

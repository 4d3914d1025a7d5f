// go-host: an interop test host for Mattermost plugins.
//
// It starts a plugin executable the way the Mattermost server does, with the
// real hashicorp go-plugin client in gRPC mode, serves a fake PluginAPI that
// answers every call with an empty (successful) response, calls a few hooks
// through dynamic messages built from a descriptor set, measures latency and
// finally stops the plugin, checking that it exited without being killed.
//
// Usage: go-host <plugin-binary> <descriptor-set.pb>
//
// Environment:
//
//	GO_HOST_AUTOMTLS=1     enable go-plugin's automatic mTLS
//	GO_HOST_CALLS=N        sequential latency calls (default 2000); each of the
//	                       8 concurrent workers makes N/2 calls
//	GO_HOST_BENCH_ONLY=1   run every check, but print only the latency line,
//	                       the "echo:" line (ServeHTTP throughput of a 64 MiB
//	                       echo, measured in this mode only) and failures on
//	                       stdout
//
// Each check prints one line, "ok: ..." or "FAIL: ..."; the exit code is 0
// when every check passed and 1 otherwise.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/ioutil"
	"math"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	protov1 "github.com/golang/protobuf/proto"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

const (
	protoPackage   = "mattermost.pluginapi.v1"
	hooksService   = protoPackage + ".PluginHooks"
	apiService     = protoPackage + ".PluginAPI"
	apiTargetEnv   = "MATTERMOST_PLUGIN_API_TARGET"
	descriptorEnv  = "GO_HOST_DESCRIPTOR_SET" // read by the Go stand-in plugin only
	forcedKillLine = "plugin failed to exit gracefully"
	hookTimeout    = 30 * time.Second
	maxMessageSize = 64 << 20
	httpChunk      = 64 << 10 // the contract's largest ServeHTTP body chunk
	echoBenchBytes = 64 << 20
	echoBenchLimit = 60 * time.Second
)

// ---------------------------------------------------------------------------
// Codec
//
// grpc-go 1.33's default "proto" codec marshals with golang/protobuf 1.3,
// which cannot handle dynamicpb messages. This codec replaces it for the whole
// process: APIv2 messages (dynamicpb) go through google.golang.org/protobuf,
// generated APIv1 messages (health check, go-plugin's controller and broker)
// keep their original path, and rawFrame passes bytes through untouched
// (used by the fake PluginAPI). Keeping the name "proto" means the wire
// content-type stays "application/grpc", as with a real Mattermost server.

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
// Output and results

type report struct {
	benchOnly bool
	failed    int
}

func (r *report) ok(format string, args ...interface{}) {
	if !r.benchOnly {
		fmt.Printf("ok: "+format+"\n", args...)
	}
}

func (r *report) fail(format string, args ...interface{}) {
	r.failed++
	fmt.Printf("FAIL: "+format+"\n", args...)
}

func (r *report) info(format string, args ...interface{}) {
	if !r.benchOnly {
		fmt.Printf(format+"\n", args...)
	}
}

// lockedBuffer collects the host's hclog output for inspection after Kill.
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

// ---------------------------------------------------------------------------
// Fake PluginAPI: every method answers an empty message, i.e. success.

type fakeAPI struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeAPI) handle(_ interface{}, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	f.mu.Lock()
	f.calls = append(f.calls, method)
	f.mu.Unlock()
	var in rawFrame
	if err := stream.RecvMsg(&in); err != nil {
		return err
	}
	return stream.SendMsg(&rawFrame{})
}

func (f *fakeAPI) saw(method string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c == method {
			return true
		}
	}
	return false
}

func (f *fakeAPI) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// ---------------------------------------------------------------------------
// go-plugin glue: the one plugin type, "hooks", hands out the raw connection.

type hooksPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (hooksPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return fmt.Errorf("go-host only consumes plugins")
}

func (hooksPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return conn, nil
}

// ---------------------------------------------------------------------------
// Dynamic hook calls

type hooks struct {
	conn *grpc.ClientConn
	svc  protoreflect.ServiceDescriptor
}

func (h *hooks) method(name string) (protoreflect.MethodDescriptor, error) {
	md := h.svc.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, fmt.Errorf("%s has no method %s", hooksService, name)
	}
	return md, nil
}

func (h *hooks) newRequest(name string) (*dynamicpb.Message, error) {
	md, err := h.method(name)
	if err != nil {
		return nil, err
	}
	return dynamicpb.NewMessage(md.Input()), nil
}

func (h *hooks) call(name string, req *dynamicpb.Message) (*dynamicpb.Message, error) {
	md, err := h.method(name)
	if err != nil {
		return nil, err
	}
	if req == nil {
		req = dynamicpb.NewMessage(md.Input())
	}
	resp := dynamicpb.NewMessage(md.Output())
	ctx, cancel := context.WithTimeout(context.Background(), hookTimeout)
	defer cancel()
	if err := h.conn.Invoke(ctx, "/"+hooksService+"/"+name, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// field finds a field by its proto name, or fails with a readable error.
func field(m protoreflect.Message, name string) (protoreflect.FieldDescriptor, error) {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		return nil, fmt.Errorf("%s has no field %q", m.Descriptor().FullName(), name)
	}
	return fd, nil
}

// setString sets a string at a dotted path, creating the messages on the way.
func setString(m protoreflect.Message, path string, value string) error {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		fd, err := field(m, p)
		if err != nil {
			return err
		}
		m = m.Mutable(fd).Message()
	}
	fd, err := field(m, parts[len(parts)-1])
	if err != nil {
		return err
	}
	m.Set(fd, protoreflect.ValueOfString(value))
	return nil
}

// getString reads a string at a dotted path; unset messages read as empty.
func getString(m protoreflect.Message, path string) (string, error) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		fd, err := field(m, p)
		if err != nil {
			return "", err
		}
		m = m.Get(fd).Message()
	}
	fd, err := field(m, parts[len(parts)-1])
	if err != nil {
		return "", err
	}
	return m.Get(fd).String(), nil
}

// has reports whether a (message) field is set.
func has(m protoreflect.Message, name string) (bool, error) {
	fd, err := field(m, name)
	if err != nil {
		return false, err
	}
	return m.Has(fd), nil
}

// appErrorText renders an AppError-typed field when it is set.
func appErrorText(m protoreflect.Message, name string) (string, bool) {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || !m.Has(fd) {
		return "", false
	}
	e := m.Get(fd).Message()
	id, _ := getString(e, "id")
	msg, _ := getString(e, "message")
	return fmt.Sprintf("id=%q message=%q", id, msg), true
}

func loadHooksService(path string) (protoreflect.ServiceDescriptor, error) {
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
	return findService(files, hooksService)
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

// ---------------------------------------------------------------------------
// ServeHTTP: a bidirectional stream. The request body is sent from a
// goroutine while the responses are read, as the Mattermost server does; a
// plugin that echoes as it reads would otherwise stall on flow control.

type httpResult struct {
	status   int32 // 0 in the init means 200
	headers  map[string][]string
	messages int
	chunks   int
	maxChunk int
	size     int64
	sum      string // sha256 of the received body, hex
	sentSum  string // sha256 of the sent body, hex
	complete bool
	problems []string
}

func (r *httpResult) ok() bool { return r.status == 200 && len(r.problems) == 0 }

func (r *httpResult) problem(format string, args ...interface{}) {
	if len(r.problems) < 5 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *httpResult) header(name string) string {
	for k, v := range r.headers {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (r *httpResult) detail() string {
	return fmt.Sprintf("status %d, %d messages, %d chunks (largest %d), %d bytes, body_complete=%v, problems %v",
		r.status, r.messages, r.chunks, r.maxChunk, r.size, r.complete, r.problems)
}

// fieldsOf resolves the named fields of a message descriptor.
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

// serveHTTP sends one HTTP request of `size` pseudo-random bytes (seeded
// with `seed`, in 64 KiB chunks) through ServeHTTP and checks the response
// stream as it arrives: init in the first message only, chunks of at most
// 64 KiB, body_complete on the last. The whole exchange is bounded by limit.
func (h *hooks) serveHTTP(method, path, contentType string, size int64, seed int64, limit time.Duration) (*httpResult, time.Duration, error) {
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
	respF, err := fieldsOf(md.Output(), "init", "body_chunk", "body_complete")
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

	// The first message: init, with body_complete already set when there is no body.
	first := dynamicpb.NewMessage(md.Input())
	init := first.Mutable(reqF["init"]).Message()
	if err := setString(init, "plugin_context.request_id", "go-host-http"); err != nil {
		return nil, 0, err
	}
	init.Set(initF["method"], protoreflect.ValueOfString(method))
	init.Set(initF["url"], protoreflect.ValueOfString(path))
	init.Set(initF["request_uri"], protoreflect.ValueOfString(path))
	init.Set(initF["proto"], protoreflect.ValueOfString("HTTP/1.1"))
	init.Set(initF["proto_major"], protoreflect.ValueOfInt32(1))
	init.Set(initF["proto_minor"], protoreflect.ValueOfInt32(1))
	init.Set(initF["host"], protoreflect.ValueOfString("localhost:8065"))
	init.Set(initF["remote_addr"], protoreflect.ValueOfString("127.0.0.1:54321"))
	init.Set(initF["content_length"], protoreflect.ValueOfInt64(size))
	headers := init.Mutable(initF["headers"]).List()
	for _, kv := range [][2]string{{"Content-Type", contentType}, {"Content-Length", strconv.FormatInt(size, 10)}} {
		if kv[1] == "" {
			continue
		}
		e := headers.NewElement()
		e.Message().Set(hdrF["key"], protoreflect.ValueOfString(kv[0]))
		e.Message().Mutable(hdrF["values"]).List().Append(protoreflect.ValueOfString(kv[1]))
		headers.Append(e)
	}
	if size == 0 {
		first.Set(reqF["body_complete"], protoreflect.ValueOfBool(true))
	}

	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	desc := &grpc.StreamDesc{StreamName: "ServeHTTP", ServerStreams: true, ClientStreams: true}
	cs, err := h.conn.NewStream(ctx, desc, "/"+hooksService+"/ServeHTTP")
	if err != nil {
		return nil, 0, fmt.Errorf("open stream: %v", err)
	}

	// Sender: init, then the body; the plugin may answer before it has read it all.
	type sent struct {
		sum string
		err error
	}
	sendDone := make(chan sent, 1)
	go func() {
		hash := sha256.New()
		rng := rand.New(rand.NewSource(seed))
		err := cs.SendMsg(first)
		for off := int64(0); err == nil && off < size; {
			n := int64(httpChunk)
			if size-off < n {
				n = size - off
			}
			buf := make([]byte, n) // fresh each time: grpc may still hold the last message
			rng.Read(buf)
			hash.Write(buf)
			off += n
			msg := dynamicpb.NewMessage(md.Input())
			msg.Set(reqF["body_chunk"], protoreflect.ValueOfBytes(buf))
			if off == size {
				msg.Set(reqF["body_complete"], protoreflect.ValueOfBool(true))
			}
			err = cs.SendMsg(msg)
		}
		if err == nil {
			err = cs.CloseSend()
		}
		sendDone <- sent{hex.EncodeToString(hash.Sum(nil)), err}
	}()

	// Receiver.
	res := &httpResult{headers: map[string][]string{}}
	hash := sha256.New()
	var recvErr error
	for {
		msg := dynamicpb.NewMessage(md.Output())
		if err := cs.RecvMsg(msg); err != nil {
			if err != io.EOF {
				recvErr = err
			}
			break
		}
		n := res.messages
		res.messages++
		if res.complete {
			res.problem("message #%d after body_complete", n)
		}
		if n == 0 {
			if !msg.Has(respF["init"]) {
				res.problem("first response message has no init")
			} else {
				ri := msg.Get(respF["init"]).Message()
				res.status = int32(ri.Get(rinitF["status_code"]).Int())
				if res.status == 0 {
					res.status = 200
				}
				l := ri.Get(rinitF["headers"]).List()
				for i := 0; i < l.Len(); i++ {
					hm := l.Get(i).Message()
					k := hm.Get(rhdrF["key"]).String()
					vs := hm.Get(rhdrF["values"]).List()
					for j := 0; j < vs.Len(); j++ {
						res.headers[k] = append(res.headers[k], vs.Get(j).String())
					}
				}
			}
		} else if msg.Has(respF["init"]) {
			res.problem("init repeated in response message #%d", n)
		}
		if b := msg.Get(respF["body_chunk"]).Bytes(); len(b) > 0 {
			res.chunks++
			if len(b) > res.maxChunk {
				res.maxChunk = len(b)
			}
			if len(b) > httpChunk {
				res.problem("chunk of %d bytes in message #%d (max %d)", len(b), n, httpChunk)
			}
			res.size += int64(len(b))
			hash.Write(b)
		}
		if msg.Get(respF["body_complete"]).Bool() {
			res.complete = true
		}
	}
	elapsed := time.Since(start)
	cancel() // unblocks a sender stuck on flow control after a failed receive
	s := <-sendDone
	res.sum = hex.EncodeToString(hash.Sum(nil))
	res.sentSum = s.sum
	if recvErr != nil {
		return res, elapsed, fmt.Errorf("receive after %d messages: %v", res.messages, recvErr)
	}
	// io.EOF from SendMsg means the stream ended early; RecvMsg has the reason.
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

func mibPerSec(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / (1 << 20) / d.Seconds()
}

// ---------------------------------------------------------------------------
// Latency

type benchResult struct {
	calls   int
	errors  int
	firstEr error
	p50     time.Duration
	p99     time.Duration
	rate    float64
	capped  bool
}

func summarize(lat []time.Duration, errs int, firstErr error, elapsed time.Duration, capped bool) benchResult {
	r := benchResult{calls: len(lat), errors: errs, firstEr: firstErr, capped: capped}
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

func bench(h *hooks, req *dynamicpb.Message, sequential, workers, perWorker int, budget time.Duration) (benchResult, benchResult) {
	deadline := time.Now().Add(budget)

	seq := make([]time.Duration, 0, sequential)
	var seqErrs int
	var seqFirst error
	start := time.Now()
	capped := false
	for i := 0; i < sequential; i++ {
		if time.Now().After(deadline) {
			capped = true
			break
		}
		t := time.Now()
		_, err := h.call("MessageWillBePosted", req)
		if err != nil {
			seqErrs++
			if seqFirst == nil {
				seqFirst = err
			}
			continue
		}
		seq = append(seq, time.Since(t))
	}
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
			local := make([]time.Duration, 0, perWorker)
			errs, hitCap := 0, false
			var first error
			for i := 0; i < perWorker; i++ {
				if time.Now().After(deadline) {
					hitCap = true
					break
				}
				t := time.Now()
				if _, err := h.call("MessageWillBePosted", req); err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			all = append(all, local...)
			conErrs += errs
			if conFirst == nil {
				conFirst = first
			}
			conCapped = conCapped || hitCap
			mu.Unlock()
		}()
	}
	wg.Wait()
	conRes := summarize(all, conErrs, conFirst, time.Since(start), conCapped)
	return seqRes, conRes
}

func us(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }

// ---------------------------------------------------------------------------

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

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go-host <plugin-binary> <descriptor-set.pb>")
		os.Exit(2)
	}
	os.Exit(run(os.Args[1], os.Args[2]))
}

func run(binary, descriptorSet string) int {
	rep := &report{benchOnly: os.Getenv("GO_HOST_BENCH_ONLY") == "1"}

	svc, err := loadHooksService(descriptorSet)
	if err != nil {
		rep.fail("descriptor set %s: %v", descriptorSet, err)
		return 1
	}

	// 1. The fake PluginAPI, started before the plugin.
	api := &fakeAPI{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		rep.fail("fake PluginAPI listen: %v", err)
		return 1
	}
	apiServer := grpc.NewServer(
		grpc.UnknownServiceHandler(api.handle),
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.MaxSendMsgSize(maxMessageSize),
	)
	go apiServer.Serve(lis)
	defer apiServer.Stop()
	apiTarget := lis.Addr().String()
	rep.info("fake PluginAPI listening on %s", apiTarget)

	// go-plugin appends os.Environ() after cmd.Env, and the last duplicate
	// wins, so the variables are set in our own environment as well.
	os.Setenv(apiTargetEnv, apiTarget)
	os.Setenv(descriptorEnv, descriptorSet)

	// 2. The go-plugin client, configured as Mattermost configures it.
	logBuf := &lockedBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "go-host",
		Level:  hclog.Debug,
		Output: io.MultiWriter(logBuf, os.Stderr),
	})
	cmd := exec.Command(binary)
	cmd.Env = []string{apiTargetEnv + "=" + apiTarget}
	autoMTLS := os.Getenv("GO_HOST_AUTOMTLS") == "1"
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  1,
			MagicCookieKey:   "MATTERMOST_PLUGIN",
			MagicCookieValue: "Securely message teams, anywhere.",
		},
		Plugins:          map[string]plugin.Plugin{"hooks": hooksPlugin{}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Cmd:              cmd,
		Logger:           logger,
		AutoMTLS:         autoMTLS,
	})
	killed := false
	defer func() {
		if !killed {
			client.Kill()
		}
	}()

	startT := time.Now()
	rpcClient, err := client.Client()
	if err != nil {
		rep.fail("start plugin: %v", err)
		return 1
	}
	if err := rpcClient.Ping(); err != nil {
		rep.fail("health check for service %q: %v", plugin.GRPCServiceName, err)
		return 1
	}
	raw, err := rpcClient.Dispense("hooks")
	if err != nil {
		rep.fail("dispense: %v", err)
		return 1
	}
	conn, ok := raw.(*grpc.ClientConn)
	if !ok {
		rep.fail("dispense returned %T", raw)
		return 1
	}
	mtls := "off"
	if autoMTLS {
		mtls = "on"
	}
	rep.ok("plugin started, handshake read, health check passed in %d ms (protocol %d, auto-mTLS %s)",
		time.Since(startT).Milliseconds(), client.NegotiatedVersion(), mtls)

	h := &hooks{conn: conn, svc: svc}

	// a. Implemented
	var implemented []string
	if resp, err := h.call("Implemented", nil); err != nil {
		rep.fail("Implemented: %v", err)
	} else {
		listField := "hooks" // the contract's name; older drafts said hook_names
		if resp.Descriptor().Fields().ByName("hooks") == nil {
			listField = "hook_names"
		}
		fd, ferr := field(resp, listField)
		if ferr != nil {
			rep.fail("Implemented: %v", ferr)
		} else {
			l := resp.Get(fd).List()
			for i := 0; i < l.Len(); i++ {
				implemented = append(implemented, l.Get(i).String())
			}
			var missing []string
			for _, want := range []string{"OnActivate", "MessageWillBePosted", "ExecuteCommand"} {
				if !contains(implemented, want) {
					missing = append(missing, want)
				}
			}
			if e, set := appErrorText(resp, "error"); set {
				rep.fail("Implemented answered an error: %s", e)
			} else if len(missing) > 0 {
				rep.fail("Implemented lacks %v; got %v", missing, implemented)
			} else {
				rep.ok("Implemented: %v", implemented)
			}
		}
	}

	// Mattermost's start sequence: OnConfigurationChange, if provided, before OnActivate.
	if contains(implemented, "OnConfigurationChange") {
		if resp, err := h.call("OnConfigurationChange", nil); err != nil {
			rep.fail("OnConfigurationChange: %v", err)
		} else if e, set := appErrorText(resp, "error"); set {
			rep.fail("OnConfigurationChange answered an error: %s", e)
		} else {
			rep.ok("OnConfigurationChange: no error")
		}
	}

	// b. OnActivate
	if resp, err := h.call("OnActivate", nil); err != nil {
		rep.fail("OnActivate: %v", err)
	} else if e, set := appErrorText(resp, "error"); set {
		rep.fail("OnActivate answered an error: %s", e)
	} else {
		rep.ok("OnActivate: no error")
	}
	registerCommand := "/" + apiService + "/RegisterCommand"
	if api.saw(registerCommand) {
		rep.ok("fake PluginAPI saw %s (all calls: %v)", registerCommand, api.seen())
	} else {
		rep.fail("fake PluginAPI never saw %s (calls: %v)", registerCommand, api.seen())
	}

	// c, d, e. MessageWillBePosted
	postReq := func(text string) (*dynamicpb.Message, error) {
		req, err := h.newRequest("MessageWillBePosted")
		if err != nil {
			return nil, err
		}
		return req, setString(req, "post.message", text)
	}
	postCall := func(text string) (reason string, modified bool, modMsg string, err error) {
		req, err := postReq(text)
		if err != nil {
			return
		}
		resp, err := h.call("MessageWillBePosted", req)
		if err != nil {
			return
		}
		if reason, err = getString(resp, "rejection_reason"); err != nil {
			return
		}
		if modified, err = has(resp, "modified_post"); err != nil {
			return
		}
		if modified {
			modMsg, err = getString(resp, "modified_post.message")
		}
		return
	}

	if reason, _, _, err := postCall("this is forbidden"); err != nil {
		rep.fail("MessageWillBePosted(%q): %v", "this is forbidden", err)
	} else if reason == "" || !strings.Contains(reason, "forbidden") {
		rep.fail("MessageWillBePosted(%q): rejection_reason %q does not mention \"forbidden\"", "this is forbidden", reason)
	} else {
		rep.ok("MessageWillBePosted(%q) rejected: %q", "this is forbidden", reason)
	}

	if reason, modified, msg, err := postCall("teh cat"); err != nil {
		rep.fail("MessageWillBePosted(%q): %v", "teh cat", err)
	} else if !modified || msg != "the cat" {
		rep.fail("MessageWillBePosted(%q): modified_post set=%v message=%q, want \"the cat\" (rejection %q)", "teh cat", modified, msg, reason)
	} else {
		rep.ok("MessageWillBePosted(%q) rewritten to %q", "teh cat", msg)
	}

	if reason, modified, msg, err := postCall("hello"); err != nil {
		rep.fail("MessageWillBePosted(%q): %v", "hello", err)
	} else if reason != "" || modified {
		rep.fail("MessageWillBePosted(%q): want allow unchanged, got rejection %q, modified_post set=%v (%q)", "hello", reason, modified, msg)
	} else {
		rep.ok("MessageWillBePosted(%q) allowed unchanged", "hello")
	}

	// f. ExecuteCommand
	if req, err := h.newRequest("ExecuteCommand"); err != nil {
		rep.fail("ExecuteCommand: %v", err)
	} else if err := setString(req, "args.command", "/hello Alice"); err != nil {
		rep.fail("ExecuteCommand: %v", err)
	} else if resp, err := h.call("ExecuteCommand", req); err != nil {
		rep.fail("ExecuteCommand(%q): %v", "/hello Alice", err)
	} else if e, set := appErrorText(resp, "error"); set {
		rep.fail("ExecuteCommand(%q) answered an error: %s", "/hello Alice", e)
	} else if text, err := getString(resp, "response.text"); err != nil {
		rep.fail("ExecuteCommand: %v", err)
	} else if !strings.Contains(text, "Hello, Alice") {
		rep.fail("ExecuteCommand(%q): response.text %q lacks \"Hello, Alice\"", "/hello Alice", text)
	} else {
		rep.ok("ExecuteCommand(%q): %q", "/hello Alice", text)
	}

	// g0. ServeHTTP: POST /echo of 5 MiB through the bidirectional stream.
	hasServeHTTP := contains(implemented, "ServeHTTP")
	if !hasServeHTTP {
		rep.info("skipped: ServeHTTP not in Implemented")
	} else {
		const size = 5 << 20
		res, took, err := h.serveHTTP("POST", "/echo", "application/x-go-host", size, 1, hookTimeout)
		switch {
		case err != nil:
			rep.fail("ServeHTTP POST /echo of 5 MiB: %v", err)
		case !res.ok():
			rep.fail("ServeHTTP POST /echo of 5 MiB: %s", res.detail())
		case res.size != size || res.sum != res.sentSum:
			rep.fail("ServeHTTP POST /echo of 5 MiB: echoed %d bytes sha256 %s, sent %d bytes sha256 %s", res.size, res.sum, size, res.sentSum)
		case res.header("Content-Type") != "application/x-go-host":
			rep.fail("ServeHTTP POST /echo of 5 MiB: Content-Type %q not echoed (headers %v)", res.header("Content-Type"), res.headers)
		default:
			rep.ok("ServeHTTP echo of 5 MiB in %d ms, %.0f MiB/s: status 200, init only first, %d chunks <= 64 KiB (largest %d), body_complete last, sha256 %s... equal",
				took.Milliseconds(), mibPerSec(size, took), res.chunks, res.maxChunk, res.sum[:16])
		}
	}

	// g. Latency of MessageWillBePosted("hello")
	if req, err := postReq("hello"); err != nil {
		rep.fail("latency: %v", err)
	} else {
		sequential := envInt("GO_HOST_CALLS", 2000)
		const workers = 8
		perWorker := sequential / 2
		if perWorker < 1 {
			perWorker = 1
		}
		seq, con := bench(h, req, sequential, workers, perWorker, 60*time.Second)
		note := ""
		if seq.capped || con.capped {
			note = " (stopped by the 60 s cap)"
		}
		fmt.Printf("latency: MessageWillBePosted sequential n=%d p50=%sus p99=%sus %.0f calls/s; concurrent %dx%d n=%d p50=%sus p99=%sus %.0f calls/s%s\n",
			seq.calls, us(seq.p50), us(seq.p99), seq.rate,
			workers, perWorker, con.calls, us(con.p50), us(con.p99), con.rate, note)
		if seq.errors > 0 || con.errors > 0 {
			first := seq.firstEr
			if first == nil {
				first = con.firstEr
			}
			rep.fail("latency: %d sequential and %d concurrent calls failed; first: %v", seq.errors, con.errors, first)
		} else if seq.calls == 0 || con.calls == 0 {
			rep.fail("latency: no call completed")
		}
	}

	// g2. ServeHTTP throughput (bench mode only): a 64 MiB echo, bounded by 60 s.
	if rep.benchOnly {
		if !hasServeHTTP {
			fmt.Println("echo: skipped, ServeHTTP not in Implemented")
		} else {
			res, took, err := h.serveHTTP("POST", "/echo", "application/octet-stream", echoBenchBytes, 2, echoBenchLimit)
			switch {
			case err != nil:
				fmt.Printf("echo: failed after %d ms\n", took.Milliseconds())
				rep.fail("ServeHTTP echo of 64 MiB: %v", err)
			case !res.ok() || res.size != echoBenchBytes || res.sum != res.sentSum:
				fmt.Printf("echo: failed after %d ms\n", took.Milliseconds())
				rep.fail("ServeHTTP echo of 64 MiB: %s; sha256 %s, sent %s", res.detail(), res.sum, res.sentSum)
			default:
				fmt.Printf("echo: %d MiB in %d ms, %.0f MiB/s\n", echoBenchBytes>>20, took.Milliseconds(), mibPerSec(echoBenchBytes, took))
			}
		}
	}

	// Mattermost's stop sequence: OnDeactivate, if provided, then Kill.
	if contains(implemented, "OnDeactivate") {
		if resp, err := h.call("OnDeactivate", nil); err != nil {
			rep.fail("OnDeactivate: %v", err)
		} else if e, set := appErrorText(resp, "error"); set {
			rep.fail("OnDeactivate answered an error: %s", e)
		} else {
			rep.ok("OnDeactivate: no error")
		}
	}

	// h. Graceful stop
	stopT := time.Now()
	client.Kill()
	killed = true
	stopMs := time.Since(stopT).Milliseconds()
	logs := logBuf.String()
	switch {
	case strings.Contains(logs, forcedKillLine):
		rep.fail("stop: go-plugin logged %q after %d ms: the plugin was killed", forcedKillLine, stopMs)
	case !client.Exited():
		rep.fail("stop: plugin process has not exited after %d ms", stopMs)
	default:
		rep.ok("graceful stop in %d ms", stopMs)
	}

	if rep.failed > 0 {
		rep.info("%d check(s) failed", rep.failed)
		return 1
	}
	return 0
}

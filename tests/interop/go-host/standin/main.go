// standin: a minimal Go plugin used only to validate go-host.
//
// It is served by go-plugin's own plugin.Serve in gRPC mode and registers
// mattermost.pluginapi.v1.PluginHooks through a hand-written grpc.ServiceDesc
// whose handlers use dynamicpb messages. The descriptors come from the file
// named by GO_HOST_DESCRIPTOR_SET, which go-host puts in its environment.
//
// Behaviour: Implemented lists OnActivate, MessageWillBePosted and
// ExecuteCommand; OnActivate registers the /hello command through the
// PluginAPI at MATTERMOST_PLUGIN_API_TARGET; MessageWillBePosted rejects
// posts containing "forbidden" and rewrites "teh" to "the"; ExecuteCommand
// answers "/hello NAME" with "Hello, NAME!".
package main

import (
	"context"
	"fmt"
	"io/ioutil"
	"os"
	"strings"
	"time"

	protov1 "github.com/golang/protobuf/proto"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

const pkg = "mattermost.pluginapi.v1"

// codec: APIv2 (dynamicpb) through google.golang.org/protobuf, generated
// APIv1 types (health, go-plugin internals) through golang/protobuf.
type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v interface{}) ([]byte, error) {
	switch m := v.(type) {
	case proto.Message:
		return proto.Marshal(m)
	case protov1.Message:
		return protov1.Marshal(m)
	}
	return nil, fmt.Errorf("codec: cannot marshal %T", v)
}

func (codec) Unmarshal(data []byte, v interface{}) error {
	switch m := v.(type) {
	case proto.Message:
		return proto.Unmarshal(data, m)
	case protov1.Message:
		return protov1.Unmarshal(data, m)
	}
	return fmt.Errorf("codec: cannot unmarshal into %T", v)
}

func init() { encoding.RegisterCodec(codec{}) }

var logger = hclog.New(&hclog.LoggerOptions{Name: "standin", Level: hclog.Debug, Output: os.Stderr, JSONFormat: true})

type desc struct {
	hooks protoreflect.ServiceDescriptor
	api   protoreflect.ServiceDescriptor
}

func load() (*desc, error) {
	path := os.Getenv("GO_HOST_DESCRIPTOR_SET")
	if path == "" {
		return nil, fmt.Errorf("GO_HOST_DESCRIPTOR_SET is not set")
	}
	data, err := ioutil.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		return nil, err
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, err
	}
	d := &desc{}
	for name, dst := range map[string]*protoreflect.ServiceDescriptor{pkg + ".PluginHooks": &d.hooks, pkg + ".PluginAPI": &d.api} {
		found, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return nil, err
		}
		*dst = found.(protoreflect.ServiceDescriptor)
	}
	return d, nil
}

// Small reflection helpers over dotted field paths.
func fd(m protoreflect.Message, name string) protoreflect.FieldDescriptor {
	f := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if f == nil {
		panic(fmt.Sprintf("%s has no field %s", m.Descriptor().FullName(), name))
	}
	return f
}

func get(m protoreflect.Message, path string) string {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		m = m.Get(fd(m, p)).Message()
	}
	return m.Get(fd(m, parts[len(parts)-1])).String()
}

func set(m protoreflect.Message, path, value string) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		m = m.Mutable(fd(m, p)).Message()
	}
	m.Set(fd(m, parts[len(parts)-1]), protoreflect.ValueOfString(value))
}

type hookFunc func(req, resp *dynamicpb.Message) error

type standin struct {
	d *desc
}

func (s *standin) implemented(_, resp *dynamicpb.Message) error {
	l := resp.Mutable(fd(resp, "hooks")).List()
	for _, n := range []string{"OnActivate", "MessageWillBePosted", "ExecuteCommand"} {
		l.Append(protoreflect.ValueOfString(n))
	}
	return nil
}

func (s *standin) onActivate(_, resp *dynamicpb.Message) error {
	target := os.Getenv("MATTERMOST_PLUGIN_API_TARGET")
	conn, err := grpc.Dial(target, grpc.WithInsecure())
	if err == nil {
		defer conn.Close()
		md := s.d.api.Methods().ByName("RegisterCommand")
		req := dynamicpb.NewMessage(md.Input())
		set(req, "command.trigger", "hello")
		set(req, "command.auto_complete_desc", "Says hello")
		out := dynamicpb.NewMessage(md.Output())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = conn.Invoke(ctx, "/"+pkg+".PluginAPI/RegisterCommand", req, out)
	}
	if err != nil {
		logger.Error("RegisterCommand failed", "error", err)
		set(resp, "error.id", "standin.register_command")
		set(resp, "error.message", err.Error())
	}
	return nil
}

func (s *standin) messageWillBePosted(req, resp *dynamicpb.Message) error {
	msg := get(req, "post.message")
	switch {
	case strings.Contains(msg, "forbidden"):
		set(resp, "rejection_reason", "posts containing \"forbidden\" are not allowed")
	case strings.Contains(msg, "teh"):
		post := proto.Clone(req.Get(fd(req, "post")).Message().Interface())
		resp.Set(fd(resp, "modified_post"), protoreflect.ValueOfMessage(post.ProtoReflect()))
		set(resp, "modified_post.message", strings.ReplaceAll(msg, "teh", "the"))
	}
	return nil
}

func (s *standin) executeCommand(req, resp *dynamicpb.Message) error {
	name := strings.TrimSpace(strings.TrimPrefix(get(req, "args.command"), "/hello"))
	if name == "" {
		name = "world"
	}
	set(resp, "response.response_type", "ephemeral")
	set(resp, "response.text", "Hello, "+name+"!")
	return nil
}

func (s *standin) serviceDesc() *grpc.ServiceDesc {
	sd := &grpc.ServiceDesc{
		ServiceName: pkg + ".PluginHooks",
		HandlerType: (*interface{})(nil),
		Metadata:    "hooks.proto",
	}
	for name, fn := range map[string]hookFunc{
		"Implemented":         s.implemented,
		"OnActivate":          s.onActivate,
		"MessageWillBePosted": s.messageWillBePosted,
		"ExecuteCommand":      s.executeCommand,
	} {
		md := s.d.hooks.Methods().ByName(protoreflect.Name(name))
		fn := fn
		sd.Methods = append(sd.Methods, grpc.MethodDesc{
			MethodName: name,
			Handler: func(_ interface{}, _ context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
				req := dynamicpb.NewMessage(md.Input())
				if err := dec(req); err != nil {
					return nil, err
				}
				resp := dynamicpb.NewMessage(md.Output())
				return resp, fn(req, resp)
			},
		})
	}
	return sd
}

type hooksPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	s *standin
}

func (p hooksPlugin) GRPCServer(_ *plugin.GRPCBroker, srv *grpc.Server) error {
	srv.RegisterService(p.s.serviceDesc(), p.s)
	return nil
}

func (hooksPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, fmt.Errorf("standin only serves")
}

func main() {
	d, err := load()
	if err != nil {
		logger.Error("cannot load descriptors", "error", err)
		os.Exit(1)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  1,
			MagicCookieKey:   "MATTERMOST_PLUGIN",
			MagicCookieValue: "Securely message teams, anywhere.",
		},
		Plugins:    map[string]plugin.Plugin{"hooks": hooksPlugin{s: &standin{d: d}}},
		GRPCServer: plugin.DefaultGRPCServer,
		Logger:     logger,
	})
}

#!/usr/bin/env bash
# Interop test: install a plugin bundle and run it under a host that plays
# the real Mattermost gRPC plugin host (hashicorp go-plugin, grpc-go).
#
#   run.sh [flags] <bundle.tar.gz>
#
# Flags pass through to go-host:
#   -settings JSON   the admin's plugin settings (default {"blockedword": "bananas"},
#                    lowercased as the System Console stores them)
#   -fail-register   activation-failure run: RegisterCommand fails, OnActivate must fail
#   -bare BINARY     bench only (GO_HOST_BENCH_ONLY=1): start BINARY directly
#   -start-only      any plugin: start, Implemented, OnActivate/OnDeactivate
#                    if listed, stop; none of the example's own checks
#   -post TEXT       with -start-only: a MessageWillBePosted of TEXT after
#                    OnActivate, printing what the plugin made of it
#   -nodes N         N > 1: a simulated HA cluster instead of the session:
#                    N plugin processes from the bundle (each its own go-plugin
#                    client and API server, as on N servers) on ONE fake KV
#                    store; after each one's start and OnActivate, all run
#                    "/hello" at once (GO_HOST_CLUSTER_CALLS per node, default
#                    1000, 8 at a time per node, 60 s cap); the counter must end
#                    at N x calls with each hello number handed out once; then
#                    each node is stopped. -nodes 3 is the three-node cluster.
#
# Builds go-host offline in GOPATH mode against Debian's Go packages, makes a
# descriptor set of the project's protos with protoc, runs the host and exits
# with its exit code: 0 all checks passed, 1 a check failed, 2 usage or a
# missing prerequisite, 3 the bundle declares a Go (net/rpc) plugin, which
# the host refuses ("refused: <reason>"). Environment knobs of the host
# (GO_HOST_CALLS, GO_HOST_BENCH_ONLY, GO_HOST_AUTOMTLS, GO_HOST_CLUSTER_CALLS)
# pass through.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
proto_dir="$(cd "$here/../../../proto" && pwd)"

usage() {
    echo "usage: $0 [-settings JSON] [-fail-register] [-bare BINARY] [-start-only] [-post TEXT] [-nodes N] <bundle.tar.gz>" >&2
    exit 2
}
[ $# -ge 1 ] || usage
case "${!#}" in -*) usage ;; esac
bundle="${!#}"
flags=("${@:1:$#-1}")
if [ ! -f "$bundle" ]; then
    echo "run.sh: $bundle is not a file" >&2
    exit 2
fi

missing=()
command -v go >/dev/null 2>&1 || missing+=("go (Debian: golang-go)")
command -v protoc >/dev/null 2>&1 || missing+=("protoc (Debian: protobuf-compiler)")
[ -f /usr/include/google/protobuf/struct.proto ] || missing+=("well-known .proto files (Debian: libprotobuf-dev)")
for d in github.com/hashicorp/go-plugin:golang-github-hashicorp-go-plugin-dev \
         google.golang.org/grpc:golang-google-grpc-dev \
         google.golang.org/protobuf:golang-google-protobuf-dev; do
    [ -d "/usr/share/gocode/src/${d%%:*}" ] || missing+=("${d%%:*} (Debian: ${d##*:})")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "run.sh: missing prerequisites:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    echo "install with: apt-get install -y golang-go golang-github-hashicorp-go-plugin-dev golang-google-grpc-dev golang-google-protobuf-dev protobuf-compiler libprotobuf-dev" >&2
    exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# go needs a build cache; without HOME (as in some CI shells) use a temporary one.
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
    export GOCACHE="$tmp/gocache"
fi

echo "run.sh: building go-host" >&2
(cd "$here" && env -u GOFLAGS GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off CGO_ENABLED=0 \
    go build -o "$tmp/go-host" .)

protoc --include_imports --descriptor_set_out="$tmp/contract.pb" \
    -I "$proto_dir" -I /usr/include "$proto_dir"/*.proto

set +e
"$tmp/go-host" ${flags[@]+"${flags[@]}"} "$bundle" "$tmp/contract.pb"
rc=$?
set -e
exit $rc

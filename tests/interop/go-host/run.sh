#!/usr/bin/env bash
# Interop test: run a plugin executable under a real hashicorp go-plugin host.
#
#   run.sh <plugin-binary>   test that plugin
#   run.sh --standin         build and test the Go stand-in plugin (validates the host)
#
# Builds go-host offline in GOPATH mode against Debian's Go packages, makes a
# descriptor set of the project's protos with protoc, runs the host and exits
# with its exit code. Environment knobs of the host (GO_HOST_AUTOMTLS,
# GO_HOST_CALLS, GO_HOST_BENCH_ONLY) pass through.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
proto_dir="$(cd "$here/../../../proto" && pwd)"

if [ $# -ne 1 ]; then
    echo "usage: $0 <plugin-binary> | --standin" >&2
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

gobuild() { # <dir> <output>
    (cd "$1" && env -u GOFLAGS GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off CGO_ENABLED=0 \
        go build -o "$2" .)
}

echo "run.sh: building go-host" >&2
gobuild "$here" "$tmp/go-host"

plugin="$1"
if [ "$plugin" = "--standin" ]; then
    echo "run.sh: building the Go stand-in plugin" >&2
    gobuild "$here/standin" "$tmp/standin"
    plugin="$tmp/standin"
elif [ ! -x "$plugin" ]; then
    echo "run.sh: $plugin is not an executable file" >&2
    exit 2
fi
plugin="$(cd "$(dirname "$plugin")" && pwd)/$(basename "$plugin")"

protoc --include_imports --descriptor_set_out="$tmp/contract.pb" \
    -I "$proto_dir" -I /usr/include "$proto_dir"/*.proto

set +e
"$tmp/go-host" "$plugin" "$tmp/contract.pb"
rc=$?
set -e
exit $rc

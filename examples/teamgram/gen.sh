#!/usr/bin/env bash
# Regenerates sessionpb/ and statuspb/ (the gRPC stubs of Teamgram's session and status services,
# proto/teamgram/session/session.tl.proto and proto/teamgram/status/status.tl.proto; teamgram-server is not a Go module one can require)
# with protoc from the PyPI package grpcio-tools and the Go plugins at the versions below. The
# mtproto imports are mapped to Teamgram's own Go package (github.com/teamgram/proto/mtproto), whose
# files register under the same names, so the messages are Teamgram's types.
set -euo pipefail
cd "$(dirname "$0")"
PROTOC_GEN_GO=v1.36.12
PROTOC_GEN_GO_GRPC=v1.6.2
python3 -c 'import grpc_tools' 2>/dev/null || {
  echo "gen.sh: needs grpcio-tools (pip install --user grpcio-tools)" >&2
  exit 1
}
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" GOFLAGS= go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO"
GOBIN="$bin" GOFLAGS= go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC"
mt=github.com/teamgram/proto/mtproto
core="Mschema.tl.core_types.proto=$mt,Mschema.tl.transport.proto=$mt,Mschema.tl.sync.proto=$mt"
# gen NAME: proto/teamgram/NAME/NAME.tl.proto → NAMEpb/
gen() {
  local name=$1 m="M$1.tl.proto=mtgate.example/teamgram/$1pb;$1pb,$core"
  mkdir -p "$1pb"
  python3 -m grpc_tools.protoc -I "../../proto/teamgram/$name" -I ../../proto/teamgram/mtproto \
    --plugin=protoc-gen-go="$bin/protoc-gen-go" --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
    --go_out="$1pb" --go_opt=paths=source_relative --go_opt="$m" \
    --go-grpc_out="$1pb" --go-grpc_opt=paths=source_relative --go-grpc_opt="$m" \
    "$name.tl.proto"
}
gen session
gen status

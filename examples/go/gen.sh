#!/usr/bin/env bash
# Regenerates upstreampb/ (the gRPC stubs of proto/mtgate_upstream.proto) with protoc from the PyPI
# package grpcio-tools and the Go plugins at the versions below (installed into a temp GOBIN).
# The Go package is given with M options, so the shared .proto needs no go_package.
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
pkg=mtgate.example/backend/upstreampb
mkdir -p upstreampb
python3 -m grpc_tools.protoc -I ../../proto \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
  --go_out=upstreampb --go_opt=paths=source_relative --go_opt=Mmtgate_upstream.proto=$pkg \
  --go-grpc_out=upstreampb --go-grpc_opt=paths=source_relative --go-grpc_opt=Mmtgate_upstream.proto=$pkg \
  mtgate_upstream.proto

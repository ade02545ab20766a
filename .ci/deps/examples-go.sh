#!/usr/bin/env bash
# Go modules of the Go example backend (examples/go, module mtgate.example/backend: gotd/td, grpc
# and protobuf pinned in its go.mod/go.sum), for test/examples/go.test.ts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/lib/go-module.sh" "$here/../../examples/go"

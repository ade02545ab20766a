#!/usr/bin/env bash
# Go modules of the Go example backend (examples/go, module mtgate.example/backend: gotd/td, grpc
# and protobuf pinned in its go.mod/go.sum), for test/examples/go.test.ts. Downloads them into the
# module cache, then compiles the backend once so the test's own (offline, GOPROXY=off) build finds
# everything already compiled in the build cache. Idempotent: both steps are no-ops when the caches
# are warm.
set -euo pipefail
cd "$(dirname "$0")/../../examples/go"

if ! command -v go >/dev/null 2>&1; then
  echo ".ci/deps/examples-go.sh: \`go\` not found on PATH (examples/go needs Go >= $(sed -n 's/^go //p' go.mod))" >&2
  exit 1
fi

# The build must use go.sum as committed: no -mod=mod from the environment.
GOFLAGS="$(printf '%s\n' ${GOFLAGS:-} | grep -v -e '^-mod=' -e '^-buildvcs' | tr '\n' ' ') -mod=readonly -buildvcs=false"
export GOFLAGS GOWORK=off

go mod download
go mod verify >/dev/null
go build -o /dev/null .

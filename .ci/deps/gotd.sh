#!/usr/bin/env bash
# Go modules of test/interop/gotd.test.ts (client program test/interop/gotd, module
# mtgate/test/interop/gotd: gotd/td pinned in its go.mod/go.sum). Downloads them into the module
# cache, then compiles the program once so the test's own (offline, GOPROXY=off) build finds gotd
# already compiled in the build cache. Idempotent: both steps are no-ops when the caches are warm.
set -euo pipefail
cd "$(dirname "$0")/../../test/interop/gotd"

if ! command -v go >/dev/null 2>&1; then
  echo ".ci/deps/gotd.sh: \`go\` not found on PATH (test/interop/gotd needs Go >= $(sed -n 's/^go //p' go.mod))" >&2
  exit 1
fi

# The build must use go.sum as committed: no -mod=mod from the environment.
GOFLAGS="$(printf '%s\n' ${GOFLAGS:-} | grep -v -e '^-mod=' -e '^-buildvcs' | tr '\n' ' ') -mod=readonly -buildvcs=false"
export GOFLAGS GOWORK=off

go mod download
go mod verify >/dev/null
go build -o /dev/null .

#!/usr/bin/env bash
# Downloads the modules of the Go module in directory argument 1 (pinned in its go.mod/go.sum) into
# the module cache, then compiles it once, so that a test's own offline (GOPROXY=off) build finds
# everything compiled in the build cache. Idempotent: both steps are no-ops when the caches are warm.
set -euo pipefail
cd "$1"

if ! command -v go >/dev/null 2>&1; then
  echo "$0: \`go\` not found on PATH ($PWD needs Go >= $(sed -n 's/^go //p' go.mod))" >&2
  exit 1
fi

# The build must use go.sum as committed: no -mod=mod from the environment.
GOFLAGS="$(printf '%s\n' ${GOFLAGS:-} | grep -v -e '^-mod=' -e '^-buildvcs' | tr '\n' ' ') -mod=readonly -buildvcs=false"
export GOFLAGS GOWORK=off

go mod download
go mod verify >/dev/null
go build -o /dev/null .

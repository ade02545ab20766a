#!/usr/bin/env bash
# Go modules of Teamgram's codec checker (test/rpc/teamgram/go, module mtgate.test/tgcodec:
# github.com/teamgram/proto pinned in its go.mod/go.sum), for test/rpc/teamgram/*.test.ts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/lib/go-module.sh" "$here/../../test/rpc/teamgram/go"

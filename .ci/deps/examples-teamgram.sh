#!/usr/bin/env bash
# Go modules of the fake Teamgram deployment (examples/teamgram, module mtgate.example/teamgram; it
# reads etcd through its JSON gateway, so no etcd module:
# github.com/teamgram/proto, grpc, protobuf and go-sql-driver/mysql pinned in its go.mod/go.sum), for
# test/examples/teamgram.test.ts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/lib/go-module.sh" "$here/../../examples/teamgram"

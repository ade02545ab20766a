#!/usr/bin/env bash
# Go modules of bench/peers/tgtest (gotd/td's tgtest server for `npm run bench -- peers`, module
# mtgate/bench/peers/tgtest: gotd/td pinned in its go.mod/go.sum), built offline by test/bench/peers.test.ts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/lib/go-module.sh" "$here/../../bench/peers/tgtest"

#!/usr/bin/env bash
# Go modules of test/interop/gotd.test.ts (client program test/interop/gotd, module
# mtgate/test/interop/gotd: gotd/td pinned in its go.mod/go.sum).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/lib/go-module.sh" "$here/../../test/interop/gotd"

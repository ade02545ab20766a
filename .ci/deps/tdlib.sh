#!/usr/bin/env bash
# TDLib in tests (test/interop/tdlib.test.ts, client C of test/examples/scenario.ts): TDLib itself
# comes from npm (prebuilt-tdlib, tdl); the tests run it in a loopback-only network namespace, which needs `ip` from iproute2 (and root).
set -euo pipefail
if ! command -v ip >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iproute2 >/dev/null
fi

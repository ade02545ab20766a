#!/usr/bin/env bash
# TDLib interop test (test/interop/tdlib.test.ts): TDLib itself comes from npm (prebuilt-tdlib, tdl);
# the test runs it in a loopback-only network namespace, which needs `ip` from iproute2 (and root).
set -euo pipefail
if ! command -v ip >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iproute2 >/dev/null
fi

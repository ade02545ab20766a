#!/usr/bin/env bash
# PyPI clients of test/e2e/python.test.ts (driver test/e2e/python/leading_zero.py), installed into
# the `python3` on PATH, the interpreter the test runs. Pinned, with their dependencies; a no-op
# when these versions are already there.
set -euo pipefail

PINS=(
  telethon==1.45.0      # Telethon 1.x; needs pyaes, rsa
  kurigram==2.2.26      # Pyrogram fork, imports as `pyrogram`; needs pyaes, python-socks
  pyaes==1.6.1
  rsa==4.7.2
  pyasn1==0.6.3
  python-socks==3.2.2
)

if ! command -v python3 >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
fi

# Exit 0 when every pin is installed at its version.
installed() {
  python3 - "${PINS[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for pin in sys.argv[1:]:
    name, want = pin.split('==')
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

installed && exit 0

if ! python3 -m pip --version >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
fi

# Debian's own python3 is marked externally managed (PEP 668): pip then needs the override.
FLAGS=(-q --disable-pip-version-check --no-input --root-user-action=ignore)
if python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
  FLAGS+=(--break-system-packages)
fi
python3 -m pip install "${FLAGS[@]}" "${PINS[@]}"
installed || { echo ".ci/deps/python.sh: pinned versions not installed after pip install" >&2; exit 1; }

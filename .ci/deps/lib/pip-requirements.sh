#!/usr/bin/env bash
# Installs the exact pins of a requirements file (argument 1) into the `python3` on PATH, the
# interpreter the tests run; a no-op when those versions are already there.
set -euo pipefail
REQUIREMENTS="$1"

if ! command -v python3 >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
fi

# Exit 0 when every pin of the requirements file is installed at its version.
installed() {
  python3 - "$REQUIREMENTS" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for line in open(sys.argv[1]):
    pin = line.split('#', 1)[0].strip()
    if not pin:
        continue
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
python3 -m pip install "${FLAGS[@]}" -r "$REQUIREMENTS"
installed || { echo "$0: pinned versions not installed after pip install" >&2; exit 1; }

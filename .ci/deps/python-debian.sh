#!/usr/bin/env bash
# Telethon as Debian packages it (python3-telethon, TL layer 144) for test/interop/telethon-144.test.ts,
# which runs it with Debian's /usr/bin/python3; a no-op when the package is installed.
set -euo pipefail

PACKAGE=python3-telethon

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$PACKAGE" 2>/dev/null)" = installed ]
}

installed && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo ".ci/deps/python-debian.sh: $PACKAGE is not installed and there is no apt-get to install it" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$PACKAGE" >/dev/null; } || ! installed; then
  echo ".ci/deps/python-debian.sh: could not install $PACKAGE with apt-get (needs root or sudo, and a Debian release that has it)" >&2
  exit 1
fi

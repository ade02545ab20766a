#!/usr/bin/env bash
# PyPI clients of test/interop/python*.test.ts (drivers in test/interop/python/), exact pins with
# their dependencies in test/interop/python/requirements.txt.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/lib/pip-requirements.sh" "$here/../../test/interop/python/requirements.txt"

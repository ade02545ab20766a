#!/usr/bin/env bash
# PyPI packages of the Python example backend (examples/python: grpcio, grpcio-tools, protobuf),
# exact pins in examples/python/requirements.txt, for test/examples/python*.test.ts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/lib/pip-requirements.sh" "$here/../../examples/python/requirements.txt"

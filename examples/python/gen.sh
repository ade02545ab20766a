#!/usr/bin/env bash
# Generates the gRPC stubs of proto/mtgate_upstream.proto (mtgate_upstream_pb2.py,
# mtgate_upstream_pb2_grpc.py) into gen/ beside this script (not committed), with the grpcio-tools
# of requirements.txt. backend.py runs the same generation itself when gen/ is missing or older
# than the .proto, so running this by hand is optional.
set -euo pipefail
cd "$(dirname "$0")"
python3 -c 'import stubs; stubs.generate()'

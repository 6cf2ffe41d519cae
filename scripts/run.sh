#!/usr/bin/env bash
# Installs what is missing, builds the server and runs it with the demo
# configuration (examples/demo.yaml) on http://127.0.0.1:8000.
# Extra arguments go to the server, e.g. `scripts/run.sh --port 9000`.
#
# It shares build/ with scripts/test.sh's normal pass, so it sets every option
# it relies on (that pass sets them back on): only the server is built here.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-dependencies.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DCMAKE_UNITY_BUILD=ON -DPROCESSPYPE_SANITIZE=OFF -DPROCESSPYPE_FUZZ=OFF \
  -DPROCESSPYPE_BUILD_TESTS=OFF -DPROCESSPYPE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build --target processpype_server -j "$(nproc)"
exec build/server/processpype --config examples/demo.yaml "$@"

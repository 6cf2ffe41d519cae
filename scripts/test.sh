#!/usr/bin/env bash
# Installs what is missing, builds everything (library, server, examples,
# tests, benchmarks) and runs every test: once in a normal build, once built
# with AddressSanitizer + UndefinedBehaviorSanitizer.
# `scripts/test.sh --fast` skips the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-dependencies.sh
jobs="$(nproc)"

run_suite() {  # build-dir, extra cmake flags...
  local dir="$1"
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  # Sequential: several tests assert latency bounds (status reads under 50 ms
  # while a manager blocks) that a parallel run would make meaningless.
  ctest --test-dir "$dir" --output-on-failure --timeout 300
}

run_suite build
if [ "${1:-}" != "--fast" ]; then
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  run_suite build-sanitize -DPROCESSPYPE_SANITIZE=ON -DPROCESSPYPE_BUILD_BENCHMARKS=OFF
fi

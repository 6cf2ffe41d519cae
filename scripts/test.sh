#!/usr/bin/env bash
# Installs what is missing, builds everything (library, server, examples,
# tests, benchmarks) and runs every test: once in a normal build (build/),
# once built with AddressSanitizer + UndefinedBehaviorSanitizer
# (build-sanitize/).
# `scripts/test.sh --fast` skips the sanitizer pass.
#
# Each pass sets every option it relies on: a build directory keeps its
# CMake options from earlier runs (scripts/run.sh configures build/ without
# tests and benchmarks). A pass is a function; add one to `passes` below.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=false
for arg in "$@"; do
  case "$arg" in
    --fast) fast=true ;;
    *)
      echo "usage: scripts/test.sh [--fast]" >&2
      exit 2
      ;;
  esac
done

scripts/install-dependencies.sh
jobs="$(nproc)"

run_suite() {  # build-dir, cmake options...
  local dir="$1"
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  # Sequential: several tests assert latency bounds (status reads under 50 ms
  # while a manager blocks) that a parallel run would make meaningless.
  # No tests found is a failure, not a pass.
  ctest --test-dir "$dir" --output-on-failure --timeout 300 --no-tests=error
}

normal_pass() {
  run_suite build -DPROCESSPYPE_SANITIZE=OFF -DPROCESSPYPE_BUILD_TESTS=ON \
    -DPROCESSPYPE_BUILD_BENCHMARKS=ON
}

sanitizer_pass() {
  local -x ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
  local -x UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  run_suite build-sanitize -DPROCESSPYPE_SANITIZE=ON -DPROCESSPYPE_BUILD_TESTS=ON \
    -DPROCESSPYPE_BUILD_BENCHMARKS=OFF
}

passes=(normal_pass)
if [ "$fast" = false ]; then
  passes+=(sanitizer_pass)
fi
for pass in "${passes[@]}"; do
  echo "== scripts/test.sh: ${pass}"
  "$pass"
done

#!/usr/bin/env bash
# Installs what is missing, builds everything (library, server, examples,
# tests, benchmarks, fuzz targets) and runs every test, in two passes:
#
#  1. normal: g++, optimized (build/); every test.
#  2. sanitized: clang, AddressSanitizer (leak detection on) and
#     UndefinedBehaviorSanitizer, with libFuzzer's coverage instrumentation
#     (build-sanitize/); every test (the membership tests repeat each
#     formation 3 times instead of 20 or 50), then each fuzz target for FUZZ_SECONDS (default 60,
#     scripts/fuzz.sh) on the same build.
#
# `scripts/test.sh --fast` runs the normal pass only.
#
# Both passes build without debug information and with unity builds (a few
# sources per compiler run): a fresh machine with 2 cores runs all of it in
# under 40 minutes. To debug a failure, configure a build of your own
# (CMAKE_BUILD_TYPE=Debug). Each pass sets every option it relies on: a
# build directory keeps its CMake options from earlier runs.
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

configure_and_build() {  # build-dir, cmake options...
  local dir="$1"
  shift
  cmake -S . -B "$dir" -DCMAKE_UNITY_BUILD=ON -DPROCESSPYPE_BUILD_TESTS=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

run_tests() {  # build-dir
  local dir="$1" status=0
  local common=(--test-dir "$dir" --output-on-failure --timeout 300 --no-tests=error)
  # Tests labelled `serial` (bounds on latency and timing, busy-machine
  # membership, browsers) run one at a time, after the others ran in
  # parallel: those wait on sockets and timers more than on the CPU.
  # No tests found is a failure, not a pass.
  ctest "${common[@]}" -j "$((jobs * 2))" -LE serial || status=1
  cp "$dir/Testing/Temporary/LastTestsFailed.log" "$dir/parallel-failed.log" 2>/dev/null || true
  ctest "${common[@]}" -L serial || status=1
  if [ "$status" -ne 0 ]; then explain_failures "$dir"; fi
  return "$status"
}

# The output of the first failed tests once more, at the end of the log
# where a reader of a long CI log looks first, and whether each fails again.
explain_failures() {  # build-dir
  local dir="$1"
  cat "$dir/parallel-failed.log" "$dir/Testing/Temporary/LastTestsFailed.log" 2>/dev/null |
    sed -E 's/^[0-9]+://' | head -n 3 | while IFS= read -r name; do
    echo "== again, alone: $name"
    ctest --test-dir "$dir" --output-on-failure --timeout 300 -R "^$(printf '%s' "$name" |
      sed -E 's/[][\\.^$*+?(){}|/]/\\&/g')\$" 2>&1 | tail -n 40 || true
  done
}

normal_pass() {
  configure_and_build build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DPROCESSPYPE_SANITIZE=OFF -DPROCESSPYPE_FUZZ=OFF -DPROCESSPYPE_BUILD_BENCHMARKS=ON
  run_tests build
}

sanitizer_pass() {
  local -x ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  local -x PROCESSPYPE_TEST_REPETITIONS=3 PROCESSPYPE_TEST_SANITIZED=1
  local -x UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/fuzz/ubsan.supp"
  CC=clang-14 CXX=clang++-14 configure_and_build build-sanitize \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DPROCESSPYPE_SANITIZE=ON -DPROCESSPYPE_FUZZ=ON -DPROCESSPYPE_BUILD_BENCHMARKS=OFF
  run_tests build-sanitize
  FUZZ_BUILD_DIR=build-sanitize FUZZ_CONFIGURED=1 scripts/fuzz.sh
}

passes=(normal_pass)
if [ "$fast" = false ]; then
  passes+=(sanitizer_pass)
fi
for pass in "${passes[@]}"; do
  echo "== scripts/test.sh: ${pass} ($(date +%T))"
  SECONDS=0
  "$pass"
  echo "== scripts/test.sh: ${pass} took ${SECONDS} s"
done

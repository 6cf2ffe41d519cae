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
# sources per compiler run); the sanitizer pass builds the tests' own code
# without optimization (tests/CMakeLists.txt). Its build runs while the
# normal pass's serial tests run, at the lowest CPU and I/O priority: those
# tests mostly wait on timers and sockets, and hold their bounds on a
# machine kept busy at normal priority. A fresh machine with 2 cores runs
# all of it in under 40 minutes. To debug a failure, configure a build of
# your own (CMAKE_BUILD_TYPE=Debug). Each pass sets every option it relies
# on: a build directory keeps its CMake options from earlier runs.
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

# Tests labelled `serial` (bounds on latency and timing, busy-machine
# membership, browsers) run one at a time, after the others ran in
# parallel: those wait on sockets and timers more than on the CPU.
# No tests found is a failure, not a pass.
ctest_options=(--output-on-failure --timeout 300 --no-tests=error)

run_parallel_tests() {  # build-dir
  local dir="$1" status=0
  ctest --test-dir "$dir" "${ctest_options[@]}" -j "$((jobs * 2))" -LE serial || status=1
  cp "$dir/Testing/Temporary/LastTestsFailed.log" "$dir/parallel-failed.log" 2>/dev/null || true
  return "$status"
}

run_serial_tests() {  # build-dir
  ctest --test-dir "$1" "${ctest_options[@]}" -L serial
}

run_tests() {  # build-dir
  local dir="$1" status=0
  run_parallel_tests "$dir" || status=1
  run_serial_tests "$dir" || status=1
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

sanitizer_build() {
  CC=clang-14 CXX=clang++-14 configure_and_build build-sanitize \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DPROCESSPYPE_SANITIZE=ON -DPROCESSPYPE_FUZZ=ON -DPROCESSPYPE_BUILD_BENCHMARKS=OFF
}

# The sanitizer pass's build, started during the normal pass (see the top),
# in a process group of its own so that an early exit ends all of it.
background_build_pid=""
background_build_log=build/build-sanitize.log
start_background_sanitizer_build() {
  echo "== scripts/test.sh: building build-sanitize in the background ($(date +%T)), log: $background_build_log"
  setsid nice -n 19 ionice -c 3 bash -c \
    "set -euo pipefail; jobs=$jobs; $(declare -f configure_and_build sanitizer_build); sanitizer_build" \
    >"$background_build_log" 2>&1 &
  background_build_pid=$!
}
stop_background_build() {
  if [ -n "$background_build_pid" ]; then kill -- "-$background_build_pid" 2>/dev/null || true; fi
}
trap stop_background_build EXIT

normal_pass() {
  local status=0
  configure_and_build build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DPROCESSPYPE_SANITIZE=OFF -DPROCESSPYPE_FUZZ=OFF -DPROCESSPYPE_BUILD_BENCHMARKS=ON
  run_parallel_tests build || status=1
  if [ "$fast" = false ]; then start_background_sanitizer_build; fi
  run_serial_tests build || status=1
  if [ "$status" -ne 0 ]; then explain_failures build; fi
  return "$status"
}

sanitizer_pass() {
  local -x ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  local -x PROCESSPYPE_TEST_REPETITIONS=3 PROCESSPYPE_TEST_SANITIZED=1
  local -x UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/fuzz/ubsan.supp"
  if [ -n "$background_build_pid" ]; then
    local build_status=0
    wait "$background_build_pid" || build_status=$?
    background_build_pid=""
    echo "== scripts/test.sh: the background build ended ($(date +%T)) with status $build_status"
  fi
  # Whatever the background build left (nothing when it succeeded), at
  # normal priority: a compiler error shows here, at the end of the log.
  sanitizer_build
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

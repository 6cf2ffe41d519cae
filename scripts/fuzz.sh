#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang-14, everything under
# AddressSanitizer + UndefinedBehaviorSanitizer) in build-fuzz, runs each for
# FUZZ_SECONDS (default 60) on a copy of its seed corpus (fuzz/corpus/<target>,
# left unchanged), prints a summary and exits non-zero when a target
# crashed, hung, leaked or reported undefined behaviour. A finding's input
# is kept in build-fuzz/fuzz-artifacts/ (until that target runs again), each
# target's whole log in build-fuzz/fuzz-<target>.log.
#
#   scripts/fuzz.sh                         every target, 60 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh        longer
#   FUZZ_TARGETS="http yaml" scripts/fuzz.sh
#   FUZZ_CORPUS_OUT=/tmp/corpus scripts/fuzz.sh   keep the grown corpora there
#   FUZZ_BUILD_DIR=build-sanitize FUZZ_CONFIGURED=1 scripts/fuzz.sh
#       build the targets in a tree configured with PROCESSPYPE_FUZZ=ON
#       already (scripts/test.sh's sanitizer pass)
#
# Targets run side by side, as many at a time as there are cores: each is
# one process on one core, so its executions per second stay its own.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-dependencies.sh
# The fuzzing toolchain, not in the shared list of install-dependencies.sh.
fuzz_packages=(clang-14 libfuzzer-14-dev libclang-rt-14-dev)
missing=()
for package in "${fuzz_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -ne 0 ]; then
  echo "Installing: ${missing[*]}" >&2
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

seconds="${FUZZ_SECONDS:-60}"
targets="${FUZZ_TARGETS:-http config yaml path state_row}"
build_dir="${FUZZ_BUILD_DIR:-build-fuzz}"
artifacts="$build_dir/fuzz-artifacts"

if [ "${FUZZ_CONFIGURED:-0}" != 1 ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -DPROCESSPYPE_FUZZ=ON \
    -DPROCESSPYPE_BUILD_TESTS=OFF -DPROCESSPYPE_BUILD_BENCHMARKS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build_dir" -j "$(nproc)" --target fuzz_targets

# Longest input per target (fuzz_http also breaks its limits with small
# inputs: see the control byte in fuzz/http_fuzzer.cpp).
max_len() {
  case "$1" in
    http) echo 16384 ;;
    yaml) echo 8192 ;;
    config | state_row) echo 4096 ;;
    *) echo 1024 ;;
  esac
}

# Per-target libFuzzer flags. fuzz_http keeps a node's state between inputs,
# so nearly every input "allocates more than it frees": checking for leaks
# after each one (a full LeakSanitizer pass) and libFuzzer's entropic
# feature bookkeeping (linear in its rare features, over ~50,000 features
# per input) cost more than the target itself. Its leaks are still found:
# LeakSanitizer checks the whole process at exit.
extra_flags() {
  case "$1" in
    http) echo "-detect_leaks=0 -entropic=0" ;;
    *) echo "" ;;
  esac
}

export ASAN_OPTIONS="detect_leaks=1"
# fuzz/ubsan.supp: one report inside CAF 0.17's headers (see the file).
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/fuzz/ubsan.supp"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"

# Runs one target; leaves its summary row in $work/row-<target> and its
# status (ok or FAILED) in $work/status-<target>.
fuzz_target() {
  local target="$1"
  local binary="$build_dir/fuzz/fuzz_$target"
  local corpus="$work/corpus-$target"
  local log="$build_dir/fuzz-$target.log"
  mkdir -p "$corpus"
  rm -f "$artifacts/$target"-*  # the findings of an earlier run
  cp fuzz/corpus/"$target"/* "$corpus"/
  echo "== fuzz_$target: $seconds s (log: $log)"
  local status=ok
  # shellcheck disable=SC2046  # the extra flags are words
  if ! "$binary" "$corpus" -max_total_time="$seconds" -max_len="$(max_len "$target")" \
      -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 $(extra_flags "$target") \
      -artifact_prefix="$artifacts/$target-" >"$log" 2>&1; then
    status=FAILED
  fi
  # A leak reported at exit leaves the exit status alone in some setups.
  if grep -qE "ERROR: (LeakSanitizer|AddressSanitizer|libFuzzer)|runtime error:" "$log"; then
    status=FAILED
  fi
  local final runs
  final="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  runs="$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$final")"
  field() { sed -nE "s|.* $1: ([^ ]+).*|\1|p" <<<"$final"; }
  printf '%-8s %-7s %10s %8s %7s %7s %14s\n' "$target" "$status" "${runs:--}" \
    "$(field exec/s)" "$(field cov)" "$(field ft)" "$(field corp)" >"$work/row-$target"
  echo "$status" >"$work/status-$target"
  if [ -n "${FUZZ_CORPUS_OUT:-}" ]; then
    mkdir -p "$FUZZ_CORPUS_OUT/$target"
    cp "$corpus"/* "$FUZZ_CORPUS_OUT/$target"/
  fi
}

parallel="${FUZZ_JOBS:-$(nproc)}"
running=0
for target in $targets; do
  fuzz_target "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=0
for target in $targets; do
  if [ "$(cat "$work/status-$target" 2>/dev/null)" != ok ]; then
    failed=1
    log="$build_dir/fuzz-$target.log"
    echo "-- fuzz_$target failed; the end of its log:"
    tail -n 60 "$log" 2>/dev/null || true
    find "$artifacts" -name "$target-*" | sed 's/^/   input: /'
    echo "   minimize: $build_dir/fuzz/fuzz_$target -minimize_crash=1 -runs=100000 <input>"
  fi
done

echo
echo "== Fuzzing summary ($seconds s per target; corpus: inputs/bytes)"
printf '%-8s %-7s %10s %8s %7s %7s %14s\n' target status runs exec/s cov ft corpus
for target in $targets; do cat "$work/row-$target" 2>/dev/null || echo "$target (no result)"; done
exit "$failed"

#!/usr/bin/env bash
# Where a server's CPU goes while wrk loads it the way a benchmark figure
# does: starts the processpype binary (two for the remote scenarios) on
# 127.0.0.1, prepares the instances, runs wrk, and `perf record -g`s each
# server process meanwhile; then prints the top frames (self time) and the
# share of each part (kernel, OpenSSL, Asio, RESTinio, CAF, ProcessPype,
# ...) of every recorded process. docs/performance.md quotes these.
#
#   benchmarks/scripts/profile.sh SCENARIO [SECONDS (5)]
#
# Scenarios (each is the load of one benchmark figure):
#   https        GET /services/bench over HTTPS, 32 connections (security_benchmark)
#   streams      start/stop, 32 connections, 10 clients following /events (rest_benchmark C)
#   transition   start/stop, one connection (rest_benchmark B)
#   four         start/stop, 4 connections (rest_benchmark A2)
#   remote-cycle start/stop through a peer, 32 connections (cluster_benchmark)
#   remote-echo  the echo route through a peer, 32 connections (cluster_benchmark)
#
# PROCESSPYPE_BINARY (default build/server/processpype), WRK (default wrk).
# Needs perf, wrk, curl and, for https, openssl. Loopback only; every child
# is ended by its pid when the script ends.
set -euo pipefail
cd "$(dirname "$0")/../.."

scenario="${1:-}"
seconds="${2:-5}"
binary="${PROCESSPYPE_BINARY:-build/server/processpype}"
wrk="${WRK:-wrk}"
scripts="benchmarks/scripts"
case "$scenario" in
  https | streams | transition | four | remote-cycle | remote-echo) ;;
  *)
    sed -n '2,21p' "$0" >&2
    exit 2
    ;;
esac
[ -x "$binary" ] || { echo "no server binary $binary (build processpype_server)" >&2; exit 1; }

work="$(mktemp -d)"
children=()
cleanup() {
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the binary with "$@"; waits (10 s at most) until GET / answers on
# $1's URL ($2 = http or https). Sets $server_pid.
start_server() {
  local url="$1"
  shift
  "$binary" --log-level error "$@" >"$work/server-$$-$RANDOM.log" 2>&1 &
  server_pid=$!
  children+=("$server_pid")
  for _ in $(seq 100); do
    if curl -sk -o /dev/null "$url/"; then return 0; fi
    sleep 0.1
  done
  echo "the server did not answer on $url in 10 s" >&2
  exit 1
}

post() { curl -sk -o /dev/null -w '%{http_code}' -X POST "$@"; }

register() {  # base-url name [node]
  local body="{\"service_name\":\"echo\",\"instance_name\":\"$2\"${3:+,\"node\":\"$3\"}}"
  [ "$(post "$1/services/register" -d "$body")" = 200 ] || { echo "cannot register $2" >&2; exit 1; }
}

# Records every pid in $@ while wrk runs "${load[@]}"; then reports each.
profile_during() {
  local pids=("$@") records=()
  "$wrk" "${load[@]}" >"$work/wrk.txt" 2>&1 &
  local wrk_pid=$!
  children+=("$wrk_pid")
  sleep 1  # past the connections' start
  local window=$((seconds - 2))
  for pid in "${pids[@]}"; do
    timeout -s INT "$window" perf record -q -e cpu-clock -g -p "$pid" \
      -o "$work/perf-$pid.data" >/dev/null 2>&1 &
    records+=($!)
    timeout -s INT "$window" perf stat -x, -e task-clock,context-switches -p "$pid" \
      -o "$work/stat-$pid.txt" >/dev/null 2>&1 &
    records+=($!)
  done
  for record in "${records[@]}"; do wait "$record" || true; done
  wait "$wrk_pid" || true
  echo "== wrk ${load[*]}"
  grep -E "Requests/sec|Latency |50%|99%" "$work/wrk.txt" || cat "$work/wrk.txt"
  echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  local rate
  rate="$(sed -nE 's/^Requests\/sec: *([0-9.]+).*/\1/p' "$work/wrk.txt")"
  for pid in "${pids[@]}"; do report "$pid" "$rate" "$window"; done
}

# The top frames by self time, and the share of each part of the program.
report() {
  local data="$work/perf-$1.data" frames="$work/frames-$1.txt"
  perf report -i "$data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9]' >"$frames" || true
  echo
  echo "== process $1 (${names[$1]:-server})"
  awk -F, -v rate="${2:-0}" -v window="${3:-1}" '
    $3 == "task-clock" { cpu_ms = $1 }
    $3 == "context-switches" { switches = $1 }
    END {
      requests = rate * window
      if (requests > 0)
        printf "per request: %.1f us of CPU, %.2f context switches (%.0f requests in %d s)\n",
          cpu_ms * 1000 / requests, switches / requests, requests, window
    }' "$work/stat-$1.txt"
  echo "-- top frames, self time"
  cut -c1-150 "$frames" | sed -n '1,25p'
  echo "-- by part"
  python3 -c '
import re, sys
parts = {}
def part(dso, sym):
    if dso.startswith("[kernel") or sym.startswith("[k]"): return "kernel (TCP, epoll, futex, scheduling)"
    if "libssl" in dso or "libcrypto" in dso: return "OpenSSL"
    if "libcaf" in dso: return "CAF"
    if "libc.so" in dso or "libstdc++" in dso or "ld-linux" in dso: return "libc, libstdc++ (malloc, memcpy, ...)"
    if "libhttp_parser" in dso: return "http_parser"
    if "libfmt" in dso: return "fmt"
    for prefix, name in (("restinio::", "RESTinio"), ("asio::", "Asio"), ("caf::", "CAF"),
                         ("nlohmann::", "nlohmann::json"), ("spdlog::", "spdlog"), ("fmt::", "fmt"),
                         ("processpype::", "ProcessPype")):
        if prefix in sym: return name
    return "other (inlined std::, unknown)"
for line in sys.stdin:
    match = re.match(r"\s*([0-9.]+)%\s+(\S+)\s+(.*)", line)
    if not match: continue
    share, dso, sym = float(match.group(1)), match.group(2), match.group(3)
    name = part(dso, sym)
    parts[name] = parts.get(name, 0) + share
for name, share in sorted(parts.items(), key=lambda item: -item[1]):
    print(f"  {share:6.2f}%  {name}")
' <"$frames"
}

declare -A names
port="$(free_port)"
base="http://127.0.0.1:$port"
start_stop=("-s" "$scripts/start_stop.lua")
case "$scenario" in
  https)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
      -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
    printf 'server:\n  tls:\n    certificate: %s\n    key: %s\n' "$work/cert.pem" "$work/key.pem" \
      >"$work/tls.yaml"
    base="https://127.0.0.1:$port"
    start_server "$base" --port "$port" --config "$work/tls.yaml"
    register "$base" bench
    post "$base/services/bench/start" >/dev/null
    load=(-t2 -c32 "-d${seconds}s" --latency "$base/services/bench")
    profile_during "$server_pid"
    ;;
  streams | transition | four)
    start_server "$base" --port "$port"
    for i in $(seq 0 33); do register "$base" "cycle-$i"; done
    followers=()
    if [ "$scenario" = streams ]; then
      for _ in $(seq 10); do
        curl -sN -o /dev/null -H 'Accept: text/event-stream' "$base/events" &
        children+=($!)
      done
    fi
    case "$scenario" in
      streams) load=(-t2 -c32) per_thread=17 ;;
      transition) load=(-t1 -c1) per_thread=2 ;;
      four) load=(-t2 -c4) per_thread=3 ;;
    esac
    load+=("-d${seconds}s" --latency "${start_stop[@]}" "$base/" -- cycle- "$per_thread" /services/)
    profile_during "$server_pid"
    ;;
  remote-cycle | remote-echo)
    node_a="$(free_port)"
    node_b="$(free_port)"
    start_server "$base" --port "$port" --node-port "$node_a" --node-id a
    a_pid=$server_pid
    b_port="$(free_port)"
    start_server "http://127.0.0.1:$b_port" --port "$b_port" --node-port "$node_b" --node-id b \
      --join "127.0.0.1:$node_a"
    b_pid=$server_pid
    names[$a_pid]="node a: REST, forwards to b"
    names[$b_pid]="node b: runs the instances"
    for _ in $(seq 150); do
      curl -s "$base/nodes" | grep -q '"id":"b"[^}]*"state":"up"' && break
      sleep 0.1
    done
    if [ "$scenario" = remote-cycle ]; then
      for i in $(seq 0 33); do register "$base" "remote-cycle-$i" b; done
      load=(-t2 -c32 "-d${seconds}s" --latency "${start_stop[@]}" "$base/" -- remote-cycle- 17
        /nodes/b/services/)
    else
      register "$base" remote b
      post "$base/nodes/b/services/remote/start" >/dev/null
      load=(-t2 -c32 "-d${seconds}s" --latency -s "$scripts/echo.lua"
        "$base/nodes/b/services/remote/echo")
    fi
    profile_during "$a_pid" "$b_pid"
    ;;
esac

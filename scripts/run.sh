#!/usr/bin/env bash
# Sets up a Debian 12 machine (packages), builds onsync, and runs onsync-server and
# onsync-gateway with deploy/examples/onsync.yaml on loopback, then shows a few calls.
# Runs until Ctrl-C. Usage: scripts/run.sh [--check]   (--check: show the calls, then stop)
#
# Environment: ONSYNC_CONFIG (default deploy/examples/onsync.yaml), ONSYNC_GRPC_PORT (50051),
# ONSYNC_HTTP_PORT (8080).
set -euo pipefail
cd "$(dirname "$0")/.."
check_only=false
[[ ${1:-} == --check ]] && check_only=true

config=${ONSYNC_CONFIG:-deploy/examples/onsync.yaml}
grpc_addr=127.0.0.1:${ONSYNC_GRPC_PORT:-50051}
http_addr=127.0.0.1:${ONSYNC_HTTP_PORT:-8080}

scripts/setup.sh
cmake --preset debug >/dev/null
cmake --build --preset debug

logs=$(mktemp -d)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "run.sh: stopped (logs in $logs)"
}
trap stop EXIT

# Starts a binary and waits for its "listening on HOST:PORT" line; sets $bound to HOST:PORT.
start() {
  local name=$1; shift
  "build/bin/$name" "$@" >"$logs/$name.out" 2>"$logs/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do
    if grep -q "listening on" "$logs/$name.out"; then
      cat "$logs/$name.out"
      bound=$(awk '/listening on/ {print $NF; exit}' "$logs/$name.out")
      return 0
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: $name did not start:" >&2; cat "$logs/$name.log" >&2; exit 1
}

start onsync-server --config "$config" --listen "$grpc_addr"
grpc_addr=$bound
start onsync-gateway --listen "$http_addr" --server "$grpc_addr"
http_addr=$bound

show() { echo; echo "\$ $*"; "$@"; echo; }  # a failing call fails the script (set -e)
show curl -sS --fail-with-body "http://$http_addr/readyz"
show curl -sS --fail-with-body -X POST -H 'Content-Type: application/json' -d '{}' \
  "http://$http_addr/onsync.v1.SyncService/ListProfiles"
show scripts/grpc-reflect "$grpc_addr" list
show scripts/grpc-reflect "$grpc_addr" call grpc.health.v1.Health/Check '{}'

if $check_only; then exit 0; fi
echo "onsync is running: gRPC on $grpc_addr, HTTP on $http_addr; logs in $logs. Ctrl-C stops."
wait

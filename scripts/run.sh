#!/usr/bin/env bash
# Sets up a Debian 12 machine (packages), builds onsync, and runs on loopback: the sandbox (fake
# ServiceNow and Onspring), onsync-server with deploy/examples/business-app.yaml connected to the
# sandbox, and onsync-gateway; then shows a few calls. Runs until Ctrl-C.
# Usage: scripts/run.sh [--check]   (--check: show the calls, then stop)
#
# Environment: ONSYNC_CONFIG (default deploy/examples/business-app.yaml; when it has no `servicenow` /
# `onspring` sections, connections to the sandbox are added), ONSYNC_GRPC_PORT (50051),
# ONSYNC_HTTP_PORT (8080), ONSYNC_SANDBOX_SN_PORT (8081), ONSYNC_SANDBOX_OS_PORT (8082).
set -euo pipefail
cd "$(dirname "$0")/.."
check_only=false
[[ ${1:-} == --check ]] && check_only=true

config=${ONSYNC_CONFIG:-deploy/examples/business-app.yaml}
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

# The sandbox's outcomes are configured once the gateway's address is known (scripts/demo-loop).
start onsync-sandbox --servicenow-listen "127.0.0.1:${ONSYNC_SANDBOX_SN_PORT:-8081}" \
  --onspring-listen "127.0.0.1:${ONSYNC_SANDBOX_OS_PORT:-8082}"
for _ in $(seq 50); do grep -q "onspring listening on" "$logs/onsync-sandbox.out" && break; sleep 0.1; done
servicenow_url=http://$(awk '/servicenow listening on/ {print $NF; exit}' "$logs/onsync-sandbox.out")
onspring_url=http://$(awk '/onspring listening on/ {print $NF; exit}' "$logs/onsync-sandbox.out")

# Without real connections in the config, point onsync at the sandbox (its published test
# credentials, passed as secret files like real ones).
if ! grep -Eq '^(servicenow|onspring):' "$config"; then
  umask 077
  printf 'sandbox' >"$logs/servicenow-password"
  printf 'sandbox-key' >"$logs/onspring-api-key"
  { cat "$config"; cat <<YAML
servicenow:
  instance_url: $servicenow_url
  auth: {basic: {username: admin, password_file: $logs/servicenow-password}}
onspring:
  base_url: $onspring_url
  api_key_file: $logs/onspring-api-key
YAML
  } >"$logs/onsync.yaml"
  config=$logs/onsync.yaml
fi

start onsync-server --config "$config" --listen "$grpc_addr" --jobs_db "$logs/jobs.db"
grpc_addr=$bound
start onsync-gateway --listen "$http_addr" --server "$grpc_addr"
http_addr=$bound

show() { echo; echo "\$ $*"; "$@"; echo; }  # a failing call fails the script (set -e)
echo; echo "== The sandbox's ServiceNow, and onsync's probes and profiles"
show curl -sS --fail-with-body -u admin:sandbox \
  "$servicenow_url/api/now/table/cmdb_ci_business_app?sysparm_fields=name,it_application_owner.name&sysparm_limit=2"
show curl -sS --fail-with-body "http://$http_addr/readyz"
show curl -sS --fail-with-body -X POST -H 'Content-Type: application/json' -d '{}' \
  "http://$http_addr/onsync.v1.SyncService/ListProfiles"
show scripts/grpc-reflect "$grpc_addr" list

echo; echo "== One sync, three ways (Onspring's outcome would send these requests)"
# What an outcome on the business_app profile sends: its templated body.
show curl -sS --fail-with-body -i -X POST -H 'Content-Type: application/json' \
  -d '{"recordId": 1001, "name": "Payroll"}' "http://$http_addr/v1/outcomes/business_app"
# The PoC's route, unchanged: credentials in the headers, the whole configuration in the body.
show curl -sS --fail-with-body -i -X POST -u admin:sandbox -H 'x-apikey: sandbox-key' \
  -H 'Content-Type: application/json' -d '{"serviceNowBaseUrl": "'"$servicenow_url"'",
  "appName": "Legacy CRM", "onspringUserAppId": 100, "onspringUserFirstNameFieldId": 1001,
  "onspringUserLastNameFieldId": 1002, "onspringUserUsernameFieldId": 1003,
  "onspringUserEmailFieldId": 1004, "onspringUserStatusFieldId": 1006,
  "onspringUserStatusValue": "6f0caae9-2f2d-5073-8d41-592671697963",
  "onspringUserTierFieldId": 1007, "onspringUserTierValue": "9e34f1a4-7bbb-5b84-af5b-0b954f359412",
  "onspringUserFullNameFieldId": 1005, "onspringRegTypeAppId": 200,
  "onspringRegTypeIdFieldId": 2001}' "http://$http_addr/sync"
# gRPC, as grpcurl would call it (server reflection, no .proto files): a dry run of a write-back.
show scripts/grpc-reflect "$grpc_addr" call onsync.v1.SyncService/SyncRecord \
  '{"profile": "business_app", "trigger": {"key": "Pay^Roll"}, "mode": "SYNC_MODE_DRY_RUN"}'

echo; echo "== The whole loop: Onspring's outcome fires, onsync answers, the record fills in"
scripts/demo-loop "$onspring_url" "http://$http_addr"

if $check_only; then exit 0; fi
echo "onsync is running: gRPC on $grpc_addr, HTTP on $http_addr; sandbox ServiceNow on"
echo "$servicenow_url, Onspring on $onspring_url; logs in $logs. Ctrl-C stops."
wait

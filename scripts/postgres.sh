#!/usr/bin/env bash
# A throw-away PostgreSQL for the tests (the PostgreSQL job store's contract tests).
#
# Usage:
#   scripts/postgres.sh start DIR   # initializes DIR/data (first time), starts the server, writes
#                                   # the libpq DSN to DIR/dsn and prints it
#   scripts/postgres.sh stop DIR    # stops it; does nothing when it is not running
#
# The server uses Debian's `postgresql` package binaries (/usr/lib/postgresql/<version>/bin), listens
# on 127.0.0.1 only, on a free port, with no Unix socket, and trusts every local connection of its
# one user (onsync_test, a superuser; database onsync_test). It is tuned for tests, not for data:
# fsync is off. PostgreSQL refuses to run as root, so when this script runs as root it runs the
# server as the `postgres` system user that the package creates (runuser), and makes DIR its own;
# DIR's parent directories must then be searchable by that user (e.g. a directory under /tmp).
# Nothing is downloaded; nothing outside DIR is written.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
(($# == 2)) || usage
command=$1
# Stopping what was never started is done already.
if [[ $command == stop && ! -d $2 ]]; then
  exit 0
fi
mkdir -p "$2"
dir=$(cd "$2" && pwd)
data=$dir/data

bin_dir=""
for candidate in /usr/lib/postgresql/*/bin; do
  [[ -x $candidate/pg_ctl ]] && bin_dir=$candidate
done
if [[ -z $bin_dir ]]; then
  echo "postgres.sh: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin;" \
    "install Debian's postgresql package (scripts/setup.sh does)" >&2
  exit 1
fi

# Runs a PostgreSQL program as the user the server runs as.
as_server_user() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() {
  [[ -f $data/postmaster.pid ]] && as_server_user "$bin_dir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

stop() {
  if [[ ! -d $data ]] || ! running; then
    rm -f "$data/postmaster.pid" 2>/dev/null || true
    return 0
  fi
  # Immediate: the data is thrown away anyway, and the tests' connections need no goodbye.
  as_server_user "$bin_dir/pg_ctl" -D "$data" -m immediate -w -t 60 stop >/dev/null
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  if ((EUID == 0)); then
    if ! id postgres >/dev/null 2>&1; then
      echo "postgres.sh: running as root needs the postgres system user (Debian's postgresql package)" >&2
      exit 1
    fi
    chown -R postgres: "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      echo "postgres.sh: the postgres user cannot reach $dir (a parent directory is not searchable);" \
        "use a directory under /tmp" >&2
      exit 1
    fi
  fi
  if running; then
    cat "$dir/dsn"
    return 0
  fi
  if [[ ! -f $data/PG_VERSION ]]; then
    rm -rf "$data"
    as_server_user "$bin_dir/initdb" -D "$data" -U onsync_test --auth=trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
    cat >>"$data/postgresql.conf" <<'EOF'
# scripts/postgres.sh: a throw-away server for tests.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  fi
  # The port is free when picked; another program can take it before the server binds it, so a
  # failed start is retried on another port.
  local port=""
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if as_server_user "$bin_dir/pg_ctl" -D "$data" -l "$dir/postgres.log" -o "-p $port" -w -t 60 \
      start >/dev/null 2>&1; then
      break
    fi
    port=""
  done
  if [[ -z $port ]]; then
    echo "postgres.sh: the server did not start; its log:" >&2
    tail -n 30 "$dir/postgres.log" >&2 || true
    exit 1
  fi
  local psql=("$bin_dir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U onsync_test)
  if [[ -z $(as_server_user "${psql[@]}" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'onsync_test'") ]]; then
    as_server_user "${psql[@]}" -d postgres -c "CREATE DATABASE onsync_test"
  fi
  local dsn="host=127.0.0.1 port=$port user=onsync_test dbname=onsync_test"
  echo "$dsn" >"$dir/dsn"
  echo "$dsn"
}

case $command in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac

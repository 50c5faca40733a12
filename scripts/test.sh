#!/usr/bin/env bash
# Sets up a Debian 12 machine (packages), builds onsync and runs the whole test suite.
# Usage: scripts/test.sh [PRESET]   (default: debug; also asan-ubsan)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-debug}

scripts/setup.sh
start=$(date +%s)
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
echo "test.sh: build took $(($(date +%s) - start)) s (preset $preset)"

# A throw-away PostgreSQL for the PostgreSQL job store's tests (they fail without it), stopped and
# removed on exit whatever happens. Under /tmp: when run as root, the server runs as the postgres
# user, who must be able to reach the directory.
pg_dir=$(mktemp -d /tmp/onsync-test-pg.XXXXXX)
cleanup_postgres() {
  scripts/postgres.sh stop "$pg_dir" || true
  rm -rf "$pg_dir"
}
trap cleanup_postgres EXIT
scripts/postgres.sh start "$pg_dir" >/dev/null
ONSYNC_TEST_PG_DSN=$(cat "$pg_dir/dsn")
export ONSYNC_TEST_PG_DSN
echo "test.sh: PostgreSQL for the tests at $ONSYNC_TEST_PG_DSN"

ctest --preset "$preset"

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
ctest --preset "$preset"

#!/usr/bin/env bash
# Installs exactly the Debian 12 (bookworm) packages that onsync's build, tests and tools need.
# Idempotent: packages already present are left alone; nothing is fetched from anywhere else.
# Run as root (or with sudo). Usage: scripts/setup.sh
set -euo pipefail

PACKAGES=(
  # Toolchain and build.
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  # gRPC, protobuf, Abseil (+ grpc-proto for health.proto / reflection.proto).
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev grpc-proto
  # Libraries used by the code.
  libcurl4-openssl-dev rapidjson-dev libboost-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev libsqlite3-dev libpq-dev libssl-dev zlib1g-dev libc-ares-dev libre2-dev
  # Tests and benchmarks (postgresql: the throw-away server of scripts/postgres.sh; python3-yaml:
  # Python's YAML parser, for the project's Python tooling).
  libgtest-dev libgmock-dev libbenchmark-dev curl procps openssl postgresql python3-yaml
  # Fuzzing and sanitizers (clang + libFuzzer runtime).
  clang libclang-rt-14-dev
  # The independent gRPC client used by the reflection tests (Debian's python, not a venv).
  python3 python3-grpcio python3-protobuf
)

# Node.js + npm run the public Onspring JS SDK in the sandbox fidelity test. A machine that
# already has a Node.js with npm (e.g. from another repository) keeps it.
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
else
  SUDO=""
  if ((EUID != 0)); then SUDO="sudo"; fi
  echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The public Onspring JS SDK (pinned by its package-lock.json) for the sandbox fidelity test.
sdk_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/clients/sandbox/sdk"
if [[ ! -d $sdk_dir/node_modules/onspring-api-sdk ]]; then
  echo "setup: installing the Onspring JS SDK with npm"
  npm ci --prefix "$sdk_dir" --no-audit --no-fund --loglevel=error >/dev/null
fi
echo "setup: done"

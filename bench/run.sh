#!/usr/bin/env bash
# `make bench`: see bench/bench.py. Needs root (BPF) and the build directory.
set -euo pipefail
build=${1:-build}
exec python3 "$(dirname "$0")/bench.py" --build "$build" "${@:2}"

#!/usr/bin/env bash
# Runs the peer benchmark (see bench/bench.py) on the release binary `make build` makes.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build >/dev/null
exec python3 bench/bench.py "$@"

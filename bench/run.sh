#!/usr/bin/env bash
# Runs the peer benchmark (see bench/bench.py): builds opensnoop in release mode first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH=/opt/swift/usr/bin:$PATH
swift build -c release --product opensnoop --static-swift-stdlib >/dev/null
exec python3 bench/bench.py "$@"

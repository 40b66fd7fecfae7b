#!/usr/bin/env bash
# Installs the Debian packages opensnoop builds, tests and benchmarks with, if any is missing
# (xz-utils and patch unpack libbpf's source package: scripts/libbpf.sh).
set -euo pipefail
packages=(libbpf-dev libelf-dev zlib1g-dev liburing-dev bpftool libbpf-tools make util-linux python3 python3-yaml gcc gcc-multilib prometheus xz-utils patch)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v swift >/dev/null 2>&1 && [ ! -x /opt/swift/usr/bin/swift ]; then
    echo "Swift 6.1 or later is needed (expected at /opt/swift)" >&2
    exit 1
fi

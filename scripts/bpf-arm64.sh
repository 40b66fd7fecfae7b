#!/usr/bin/env bash
# Compiles every BPF program of both packages (the root one and Tools/) for arm64 (with the arm64 vmlinux.h), as the plugin
# compiles them for the build machine: the objects must build for both architectures the package
# ships headers for, whichever one builds it. Part of `make test`; writes nothing but a scratch
# directory under .build/.
set -euo pipefail
shopt -s nullglob  # a folder without BPF programs (the root's Sources/) matches nothing
cd "$(dirname "$0")/.."
clang=/opt/swift/usr/bin/clang
command -v "$clang" >/dev/null || clang=clang
out=.build/bpf-arm64
mkdir -p "$out"
failed=0
count=0
for source in Sources/*/bpf/*.bpf.c Examples/*/bpf/*.bpf.c Tests/*/bpf/*.bpf.c Tools/Sources/*/bpf/*.bpf.c; do
	dir=$(dirname "$source")
	includes=(-I Sources/BPFHeaders/bpf/arm64 -I Sources/BPFHeaders/bpf -I "$dir")
	# The target's C dependencies' headers (a shared event header in NAME/include).
	for include in Sources/*/include Tools/Sources/*/include; do includes+=(-I "$include"); done
	count=$((count + 1))
	if ! "$clang" -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_arm64 -Wall -Wno-default-const-init-var-unsafe \
		"${includes[@]}" -c "$source" -o "$out/$(basename "$source" .c).o"; then
		echo "arm64: $source does not compile" >&2
		failed=$((failed + 1))
	fi
done
echo "arm64 BPF objects: $((count - failed)) passed, $failed failed"
[ "$failed" = 0 ]

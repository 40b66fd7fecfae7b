# swift-opensnoop: `make run` builds and starts the tracer, `make test` runs every test (on this
# machine's kernel, then on Debian's kernels booted under qemu (`make kernel-test` alone), then the
# deploy files run for real (`make fleet-test` alone).
# Two Swift packages: the root one (BPFKit, its plugin, the examples; no dependencies) and Tools/
# (opensnoop, opensnoop-agent, execsnoop; depends on the root one by path). Their products are in
# .build/ and Tools/.build/.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)
# SwiftPM and the tests keep their temporary files here, not in /tmp.
export TMPDIR := $(CURDIR)/.build/tmp
SWIFT ?= swift
TOOLS := --package-path Tools
BIN := Tools/.build/release/opensnoop
ARGS ?=
# The release binaries: Swift runtime linked in, symbols and debug info stripped at link time
# (for profiling with symbols, build without `-Xlinker --strip-all`), linked by the toolchain's
# lld with packed relative relocations (glibc 2.36+): the loader then reads a few KiB of
# relocations instead of 886 KiB, 0.8 MiB less memory at start; and without SwiftPM's $ORIGIN
# run path, which made the loader look for each system library in ten places beside the binary
# first. opensnoop-agent is opensnoop with the metrics server (--metrics) linked in.
# libbpf linked in too: a static libbpf 1.6 or later (Debian 12's shared one is 1.1, which reads
# and copies the kernel's BTF: 8 MiB more at peak), built once by scripts/libbpf.sh from Debian's
# source package into $(LIBBPF): its lib/ holds only libbpf.a, so CLibBPF's -lbpf takes it
# (while no other -L comes first: Tools/'s CZlib has no pkgConfig for that reason), and its
# include/ comes before /usr/include. Debug builds and `swift test` use the system's libbpf.
LIBBPF := $(CURDIR)/.build/libbpf
# Fails if one of the binaries $(1) still loads a shared libbpf.
STATIC_LIBBPF = for f in $(1); do ! readelf -d $$f | grep -q 'NEEDED.*libbpf\.so' || \
	{ echo "$$f needs the system's libbpf.so, not $(LIBBPF)/lib/libbpf.a" >&2; exit 1; }; done
# The other release products that link libbpf (opensnoop-testhelper does not).
OTHER_RELEASE := Tools/.build/release/execsnoop .build/release/opens .build/release/opens-pid
RELEASE_FLAGS := -c release --static-swift-stdlib --disable-local-rpath -Xswiftc -use-ld=lld \
	-Xlinker --strip-all -Xlinker -z -Xlinker pack-relative-relocs \
	-Xlinker -L$(LIBBPF)/lib -Xcc -I$(LIBBPF)/include

.PHONY: deps build run test bench kernel-test kernel-bench fleet-test clean

deps:
	@scripts/install-deps.sh

build: deps
	mkdir -p $(TMPDIR)
	scripts/libbpf.sh $(LIBBPF)
	$(SWIFT) build $(TOOLS) $(RELEASE_FLAGS) --product opensnoop
	$(SWIFT) build $(TOOLS) $(RELEASE_FLAGS) --product opensnoop-agent
	@$(call STATIC_LIBBPF,$(BIN) $(BIN)-agent)

run: build
	$(BIN) $(ARGS)

# Every test: BPFKit's tests (root package), the tools' unit and integration tests (Tools/) on
# this machine's kernel, then the kernel matrix and the fleet checks.
test: deps
	mkdir -p $(TMPDIR)
	$(SWIFT) build --build-tests
	$(SWIFT) test
	$(SWIFT) build $(TOOLS) --build-tests
	$(SWIFT) test $(TOOLS)
	scripts/bpf-arm64.sh
	$(MAKE) kernel-test
	$(MAKE) fleet-test

bench: build
	bench/run.sh

# The kernel matrix: boots Debian's 5.10, 6.1, 6.12, 6.18 and newest 7.x cloud kernels under qemu,
# each once, and runs every tracer in each (Tests/KernelMatrix/run.sh says how to choose fewer,
# e.g. KERNELS="6.1 7.x" make kernel-test). Also builds the rest of the release products (execsnoop,
# the test helper; the Examples, in the root package); an up-to-date build is not redone.
kernel-test: build
	$(SWIFT) build $(TOOLS) $(RELEASE_FLAGS)
	$(SWIFT) build $(RELEASE_FLAGS)
	@$(call STATIC_LIBBPF,$(OTHER_RELEASE))
	Tests/KernelMatrix/run.sh

# The benchmark inside the kernel matrix's guests (same kernels, KERNELS selection and cache):
# the open loop and the getppid loop untraced, under each attach mode and under libbpf-tools'
# opensnoop, alternating in one run per kernel; ratios only (the guests run under TCG: see
# Tests/KernelMatrix/run.sh). About 5-10 minutes for the five kernels; not part of `make test`.
kernel-bench: build
	$(SWIFT) build $(TOOLS) $(RELEASE_FLAGS)
	$(SWIFT) build $(RELEASE_FLAGS)
	@$(call STATIC_LIBBPF,$(OTHER_RELEASE))
	KMX_MODE=bench Tests/KernelMatrix/run.sh

# The deploy files run for real: the DaemonSet against Kubernetes' schema, the image under podman
# with the DaemonSet's security context, the unit under systemd in a qemu guest.
fleet-test: build
	Tests/Fleet/run.sh

clean:
	rm -rf .build Tools/.build bench/out

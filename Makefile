# swift-opensnoop: `make run` builds and starts the tracer, `make test` runs every test.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)
# SwiftPM and the tests keep their temporary files here, not in /tmp.
export TMPDIR := $(CURDIR)/.build/tmp
SWIFT ?= swift
BIN := .build/release/opensnoop
ARGS ?=
# The release binary: Swift runtime linked in, symbols and debug info stripped at link time
# (for profiling with symbols, build without `-Xlinker --strip-all`).
RELEASE_FLAGS := -c release --product opensnoop --static-swift-stdlib -Xlinker --strip-all

.PHONY: deps build run test bench clean

deps:
	@scripts/install-deps.sh

build: deps
	mkdir -p $(TMPDIR)
	$(SWIFT) build $(RELEASE_FLAGS)

run: build
	$(BIN) $(ARGS)

test: deps
	mkdir -p $(TMPDIR)
	$(SWIFT) build --build-tests
	$(SWIFT) test

bench: build
	bench/run.sh

clean:
	rm -rf .build bench/out

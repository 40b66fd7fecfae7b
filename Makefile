# swift-opensnoop: `make run` builds and starts the tracer, `make test` runs every test.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift
BIN := .build/release/opensnoop
ARGS ?=

.PHONY: deps build run test bench clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product opensnoop --static-swift-stdlib

run: build
	$(BIN) $(ARGS)

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

bench: build
	bench/run.sh

clean:
	rm -rf .build bench/out

# ocirun: `make demo` builds and runs the hello bundle; `make test` runs every test.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.1.0-dev)
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# A static, stripped binary without the CLI's doc generators: no dynamic
# loader or libc.so to map and relocate at each of the two execs of a create
# (the command and the init), and fewer pages touched (docs/PERFORMANCE.md).
# GOEXPERIMENT=jsonv2: encoding/json runs on the json/v2 engine, whose first
# decode of a type costs about a third of v1's (config.json, the state, the
# init's config: ~0.5 ms per process here); same results, error texts differ.
# nogreenteagc: Go 1.26's default collector lays out every new span with its
# mark bits and queues it on a span set, touching pages a process that never
# collects does not need: ~30 % of an ocirun process's page faults (429 -> 303
# for `--version`), 0.1-0.2 ms each, 7-15 % of 100 concurrent creates. Every
# ocirun process is short-lived and most never run a cycle. Go 1.27 may drop
# this opt-out; see docs/PERFORMANCE.md. tests/ and tests/vm build with
# `make goexperiment`'s value.
GOEXPERIMENT := jsonv2,nogreenteagc
BUILDTAGS := netgo osusergo urfave_cli_no_docs
STATIC := -s -w -linkmode external -extldflags -static

.PHONY: all goexperiment deps build rootfs demo test vm-test validate bench criu-test criu-times lint clean

all: build

goexperiment:
	@echo $(GOEXPERIMENT)

deps:
	@./scripts/install-deps.sh

# Static, linked with musl when musl-gcc is there (scripts/build.sh says why).
build:
	./scripts/build.sh "$(GOEXPERIMENT)" "$(BUILDTAGS)" "$(LDFLAGS) $(STATIC)"

rootfs:
	@./bundles/mkrootfs.sh bundles/rootfs

# Build, then run the hello bundle: it prints from inside a new container.
demo: deps build rootfs
	./ocirun --root /run/ocirun-demo run --bundle bundles/hello ocirun-demo-$$$$

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

# Every test: unit tests and real containers on this host (as root), twice
# (as ocirun builds them, then with the Go init for every container:
# OCIRUN_GO_INIT=1, see libcontainer/parent_build.go), the
# cgroup v2 tests inside a small VM (tests/vm/run.sh), and containerd's
# runc shim driving ocirun (tests/containerd/run.sh), and the runtime-tools
# validation suite failing on regressions (tests/validation/run.sh).
# Checkpoint/restore tests use the CRIU that tests/criu/setup.sh finds or
# unpacks (the host's criu 3.17 does not work on this kernel).
test: deps build rootfs lint
	OCIRUN_BINARY=$(CURDIR)/ocirun OCIRUN_CRIU=$$(./tests/criu/setup.sh) $(GO) test -count=1 -timeout 20m ./...
	OCIRUN_GO_INIT=1 OCIRUN_BINARY=$(CURDIR)/ocirun OCIRUN_CRIU=$$(./tests/criu/setup.sh) $(GO) test -count=1 -timeout 20m ./tests/
	./tests/vm/run.sh
	timeout 600 ./tests/containerd/run.sh
	./tests/validation/run.sh

criu-test: deps build rootfs
	OCIRUN_BINARY=$(CURDIR)/ocirun OCIRUN_CRIU=$$(./tests/criu/setup.sh) $(GO) test -count=1 -run 'Checkpoint' -v ./tests/

# Checkpoint and restore times of ocirun and runc with the same CRIU.
criu-times: deps
	./tests/criu/times.sh

vm-test: deps rootfs
	./tests/vm/run.sh

# The runtime-tools validation suite, both versions; fails on a regression
# (tests/validation/PASSING.*), or with VALIDATION_STRICT=1 on any failure
# not in tests/validation/EXPECTED_FAILURES.
validate: deps
	./tests/validation/run.sh

# ocirun against runc and crun (installed from Debian): one table, never a failure.
bench: deps
	./tests/bench/run.sh

clean:
	rm -f ocirun

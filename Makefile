# ctrlscope build. `make` builds build/ctrlscope; `make check` runs every test tier;
# `make demo` runs the agent on this machine; `make bench` measures overhead.
# `make check SANITIZE=address,undefined` builds and tests under ASan and UBSan.
# `make vmtest` runs the kernel tier and the agent under Debian's kernels in QEMU.
# `make cross-arm64` cross-builds for arm64 into build/arm64 (make check's arm64 tier).

ARCH      := x86
CLANG     ?= clang-19
LLVM_STRIP ?= llvm-strip-19
CLANG_FORMAT ?= clang-format-19
BPFTOOL   ?= bpftool
CC        ?= gcc
PYTHON    ?= python3
BUILD     := build
GEN       := $(BUILD)/gen
ARM64_BUILD := $(BUILD)/arm64
SANITIZE  ?=

VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

WARNINGS  := -Wall -Wextra -Werror
# user/ is in layers, one folder each (user/README.md); every folder is on the include
# path, and tests/layers.sh checks that no include climbs a layer.
LAYERS    := lib gobin core kube web targets modules
USER_INC  := -Iuser $(patsubst %,-Iuser/%,$(LAYERS))
CFLAGS    := -g -O2 -std=gnu11 $(WARNINGS) -Wshadow -Wformat=2 -Wno-format-nonliteral \
	     -D_GNU_SOURCE -Iinclude $(USER_INC) -I$(BUILD)
LDLIBS    := -Wl,-Bstatic -lbpf -Wl,-Bdynamic -lelf -lz -lmicrohttpd -lgnutls -lyaml -lcurl -ljansson \
	     -lssl -lcrypto -lcrypt -lpthread
BPF_CFLAGS := -g -O2 -mcpu=v3 -target bpf -D__TARGET_ARCH_$(ARCH) $(WARNINGS) \
	      -Wno-unused-parameter -Iinclude -Ibpf -Ivmlinux/$(ARCH)

# Fixtures and the demo workload are load generators, not code under test: they stay
# uninstrumented, as sanitizer runtimes make system calls of their own (getppid, ...).
FIXTURE_CFLAGS := $(CFLAGS)

ifneq ($(SANITIZE),)
CFLAGS    += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS   += -fsanitize=$(SANITIZE)
endif

MODULES   := kfeatures targets syscalls net sched proc reconcile
BPF_OBJS  := $(patsubst %,$(BUILD)/bpf/%.bpf.o,$(MODULES))
SKELS     := $(patsubst %,$(BUILD)/%.skel.h,$(MODULES))
LIB_SRCS  := $(filter-out user/main.c,$(wildcard user/*.c user/*/*.c))
LIB_OBJS  := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(BUILD)/obj/syscall_table.o
LIB       := $(BUILD)/libctrlscope.a

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_*.c))
BPF_TESTS  := $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/%,$(wildcard tests/bpf/test_*.c))
BPF_TEST_SKELS := $(patsubst tests/bpf/%.bpf.c,$(BUILD)/tests/bpf/%.skel.h,$(wildcard tests/bpf/*.bpf.c))
FIXTURES   := $(patsubst tests/fixtures/%.c,$(BUILD)/fixtures/%,$(wildcard tests/fixtures/*.c)) \
	      $(BUILD)/fixtures/fakeapi
FUZZERS    := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 5

.PHONY: all deps check test-unit test-go test-bpf test-e2e test-fuzz test-format test-chart demo bench fuzz \
	format clean vmlinux vmtest test-vm cross-arm64 cross-build test-arm64 \
	test-soak soak controlplane dev-cluster reconciler

all: $(BUILD)/ctrlscope $(BUILD)/demo-workload

deps:
	@bash .ci/deps

# Rebuild everything when the compiler flags change (SANITIZE=... and back).
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@
FORCE:

# The version lives in its own header, rewritten only when it changes, so that a new
# commit rebuilds two objects rather than all of them.
$(GEN)/version.h: FORCE | $(GEN)
	@printf '#define CTRLSCOPE_VERSION "%s"\n#define CTRLSCOPE_REVISION "%s"\n' \
		'$(VERSION)' '$(REVISION)' | cmp -s - $@ || \
		printf '#define CTRLSCOPE_VERSION "%s"\n#define CTRLSCOPE_REVISION "%s"\n' \
		'$(VERSION)' '$(REVISION)' > $@

# The layout of the kernel state a restarted agent adopts from its pins (user/core/pin.h):
# a hash of every BPF source and shared header, so that a binary whose maps could differ
# in any way never reads another's.
LAYOUT_SRCS := $(sort $(wildcard bpf/*.bpf.c bpf/*.h include/ctrlscope/*.h))
$(GEN)/layout.h: $(LAYOUT_SRCS) | $(GEN)
	@printf '#define CTRLSCOPE_LAYOUT "%s"\n' \
		"$$(cat $(LAYOUT_SRCS) | sha256sum | cut -c1-16)" > $@.tmp && mv $@.tmp $@

# Skeletons and BPF objects are intermediate files: keep them.
.SECONDARY: $(BPF_OBJS) $(SKELS) $(BPF_TEST_SKELS)

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c bpf/maps.bpf.h $(wildcard include/ctrlscope/*.h) | $(BUILD)/bpf
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(LLVM_STRIP) -g $@

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

# The system call numbers of the target, as its own preprocessor ($(CC), with --target and
# --sysroot when cross-compiling) sees <asm/unistd.h>; then the table of their names.
$(GEN)/syscall_numbers.h: user/modules/gen_syscall_numbers.sh $(BUILD)/.flags | $(GEN)
	sh user/modules/gen_syscall_numbers.sh -M $@.d $@ $(CC) > $@.tmp && mv $@.tmp $@

$(GEN)/syscall_table.c: user/modules/gen_syscall_table.awk $(GEN)/syscall_numbers.h \
		user/modules/syscalls_x86_64_extra.tsv | $(GEN)
	awk -f user/modules/gen_syscall_table.awk $(GEN)/syscall_numbers.h user/modules/syscalls_x86_64_extra.tsv > $@

$(BUILD)/obj/syscall_table.o: $(GEN)/syscall_table.c $(BUILD)/.flags | $(BUILD)/obj
	$(CC) $(CFLAGS) -Wno-missing-field-initializers -c $< -o $@

$(BUILD)/obj/main.o $(BUILD)/obj/agent.o: $(GEN)/version.h
$(BUILD)/obj/agent.o $(BUILD)/fuzz/obj/agent.o: $(GEN)/layout.h

$(BUILD)/obj/%.o: user/%.c $(SKELS) $(BUILD)/.flags | $(BUILD)/obj
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/ctrlscope: $(BUILD)/obj/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/demo-workload: examples/demo-workload.c
	$(CC) $(FIXTURE_CFLAGS) -o $@ $<

$(BUILD)/fixtures/%: tests/fixtures/%.c | $(BUILD)/fixtures
	$(CC) $(FIXTURE_CFLAGS) -o $@ $< -lpthread

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB) | $(BUILD)/tests/unit
	$(CC) $(CFLAGS) -Itests -o $@ $< $(LIB) $(LDFLAGS) -lcmocka $(LDLIBS)

# BPF objects the kernel tier loads for its own purposes (not the agent's).
$(BUILD)/tests/bpf/%.bpf.o: tests/bpf/%.bpf.c | $(BUILD)/tests/bpf
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/tests/bpf/%.skel.h: $(BUILD)/tests/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/bpf/%: tests/bpf/%.c $(LIB) $(BPF_TEST_SKELS) | $(BUILD)/tests/bpf
	$(CC) $(CFLAGS) -Itests -I$(BUILD)/tests/bpf -o $@ $< $(LIB) $(LDFLAGS) -lcmocka $(LDLIBS)

# The fake Kubernetes API server of the e2e tests (Go, the real k8s.io/api types).
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
$(BUILD)/fixtures/fakeapi: $(wildcard tests/fixtures/fakeapi/*.go) tests/fixtures/fakeapi/go.mod \
		tests/fixtures/fakeapi/go.sum | $(BUILD)/fixtures
	cd tests/fixtures/fakeapi && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly \
		$(GO) build -o $(abspath $@) .

# libFuzzer targets are built with clang and ASan whatever SANITIZE says. The daemon's
# sources are compiled once for all of them (instrumented, without libFuzzer's main).
FUZZ_CFLAGS := -g -O1 -std=gnu11 $(WARNINGS) -D_GNU_SOURCE -Iinclude $(USER_INC) -I$(BUILD) \
	       -fsanitize=address,undefined
FUZZ_OBJS := $(patsubst user/%.c,$(BUILD)/fuzz/obj/%.o,$(LIB_SRCS)) $(BUILD)/fuzz/obj/syscall_table.o
FUZZ_LIB  := $(BUILD)/fuzz/libctrlscope-fuzz.a

$(BUILD)/fuzz/obj/%.o: user/%.c $(wildcard user/*.h user/*/*.h) $(SKELS) | $(BUILD)/fuzz/obj
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/obj/syscall_table.o: $(GEN)/syscall_table.c | $(BUILD)/fuzz/obj
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIB): $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(FUZZ_LIB) | $(BUILD)/fuzz
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(LDLIBS)

$(BUILD)/bpf $(BUILD)/obj $(GEN) $(BUILD)/fixtures $(BUILD)/tests/unit $(BUILD)/tests/bpf \
$(BUILD)/fuzz $(BUILD)/fuzz/obj $(BUILD)/results:
	@mkdir -p $@

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/*/*.d $(GEN)/syscall_numbers.h.d)

# --- tests -----------------------------------------------------------------------------
# Every tier writes TAP lines to build/results/<tier>.tap; the summary counts them.

check: deps
	@$(MAKE) --no-print-directory all $(UNIT_TESTS) $(BPF_TESTS) $(FIXTURES) $(FUZZERS)
	@rm -rf $(BUILD)/results && mkdir -p $(BUILD)/results
	@$(MAKE) --no-print-directory -k test-format test-unit test-go test-bpf test-e2e test-soak \
		test-fuzz test-chart test-arm64 test-vm || true
	@tests/summary.sh $(BUILD)/results

test-format: | $(BUILD)/results
	@tests/run-format.sh $(CLANG_FORMAT) > $(BUILD)/results/format.tap
	@tests/layers.sh > $(BUILD)/results/layers.tap

# The controller-runtime fixture in every variant the reconcile tests read (two
# controller-runtime versions, two Go toolchains, stripped and not): about 6 minutes of
# CPU cold (make deps builds it beside the control plane, sharing its build cache).
RECONCILER := $(BUILD)/fixtures/reconciler/.made
$(RECONCILER): tests/fixtures/reconciler/build.sh tests/fixtures/reconciler/main.go \
		$(wildcard tests/fixtures/reconciler/go*.mod tests/fixtures/reconciler/go*.sum)
	@tests/fixtures/reconciler/build.sh $(GO) $(BUILD)/fixtures/reconciler && touch $@
reconciler: $(RECONCILER)

# The Go binaries test_gobin reads, with what Go's own tools say about them.
GOBIN_DATA := $(BUILD)/tests/gobin
GOBIN_BINS := $(BUILD)/fixtures/fakeapi $(BUILD)/fixtures/reconciler/reconciler-cr0.25-go1.26 \
	      $(BUILD)/fixtures/reconciler/reconciler-cr0.22-go1.27
$(filter $(BUILD)/fixtures/reconciler/%,$(GOBIN_BINS)): $(RECONCILER)
$(GOBIN_DATA)/.made: $(GOBIN_BINS) tests/unit/gobin-testdata.sh
	tests/unit/gobin-testdata.sh $(GO) $(GOBIN_DATA) $(GOBIN_BINS) && touch $@
$(BUILD)/tests/unit/test_gobin $(BUILD)/tests/unit/test_reconcile_plan: \
	private CFLAGS += -DGOBIN_TESTDATA='"$(abspath $(GOBIN_DATA))"'

test-unit: $(UNIT_TESTS) $(GOBIN_DATA)/.made | $(BUILD)/results
	@tests/run-unit.sh $(UNIT_TESTS) > $(BUILD)/results/unit.tap

# The fake API server's own Go tests (vet, then go test).
test-go: | $(BUILD)/results
	@tests/run-go.sh $(GO) tests/fixtures/fakeapi > $(BUILD)/results/go.tap

test-bpf: $(BPF_TESTS) $(FIXTURES) $(BPF_OBJS) | $(BUILD)/results
	@tests/run-unit.sh $(BPF_TESTS) > $(BUILD)/results/bpf.tap
	@tests/bpf/no-fetch-atomics.sh $(BUILD) > $(BUILD)/results/atomics.tap


test-e2e: all $(FIXTURES) $(RECONCILER) controlplane | $(BUILD)/results
	@$(PYTHON) tests/e2e/run.py --build $(BUILD) > $(BUILD)/results/e2e.tap

# A real kube-apiserver and etcd for the e2e tests' control plane, from the Go module
# proxy (tests/controlplane/build.sh): about 10 minutes cold (4 of them downloading), nothing
# once built.
controlplane:
	@tests/controlplane/build.sh $(BUILD)/controlplane

# That control plane, for running the agent by hand against it: prints a kubeconfig.
dev-cluster: controlplane
	@$(PYTHON) tests/controlplane/dev_cluster.py --build $(BUILD)

# The kernel matrix: Debian's own cloud kernels (tests/vm/kernels, downloaded once into
# build/vm/cache) booted under QEMU without KVM, each running the kernel tier (tests/bpf)
# and the agent against the demo workload. `make vmtest` prints a report per kernel,
# `make test-vm` the same as TAP. KERNELS="6.1 7.3" runs a subset; VM_JOBS (guests at a
# time), VM_TIMEOUT (seconds per kernel). The arm64 kernels (KERNELS=arm64 selects them)
# run the arm64 cross build (make cross-arm64, below), and the unit test of the syscall
# names too: their only run on arm64.
KERNELS    ?=
VM_FIXTURES := $(filter-out $(BUILD)/fixtures/fakeapi,$(FIXTURES))
VM_ARM64_TESTS := $(patsubst $(BUILD)/%,$(ARM64_BUILD)/%,$(BPF_TESTS)) \
		  $(ARM64_BUILD)/tests/unit/test_syscalls_names
VM_RUN     := $(PYTHON) tests/vm/run.py --build $(BUILD) --tests "$(BPF_TESTS)" \
	      --arm64-build $(ARM64_BUILD) --arm64-tests "$(VM_ARM64_TESTS)"

vmtest: all $(BPF_TESTS) $(VM_FIXTURES) $(RECONCILER) cross-arm64
	@$(VM_RUN) $(KERNELS)

test-vm: all $(BPF_TESTS) $(VM_FIXTURES) $(RECONCILER) cross-arm64 | $(BUILD)/results
	@$(VM_RUN) --tap $(KERNELS) > $(BUILD)/results/vm.tap

# The arm64 build, cross-compiled into build/arm64 (the x86 build is left alone): the BPF
# objects and skeletons (-D__TARGET_ARCH_arm64 -Ivmlinux/arm64), the agent, the demo
# workload, the unit and kernel-tier tests and the fixtures (not the Go fake API server,
# not the fuzzers), by clang-19 --target=aarch64-linux-gnu against the arm64 sysroot of
# tools/arm64-sysroot.sh (build/arm64/sysroot: Debian's arm64 packages, downloaded once,
# by make deps), linked by binutils-aarch64-linux-gnu's ld. The syscall table is arm64's
# (user/modules/gen_syscall_numbers.sh runs the target's preprocessor). `make test-arm64` checks
# what it built, as TAP (tests/run-arm64.sh).
ARM64_SYSROOT := $(abspath $(ARM64_BUILD))/sysroot
ARM64_CC      := $(CLANG) --target=aarch64-linux-gnu --sysroot=$(ARM64_SYSROOT)

cross-arm64:
	@bash tools/arm64-sysroot.sh --build $(BUILD) >/dev/null
	@$(MAKE) --no-print-directory ARCH=arm64 BUILD=$(ARM64_BUILD) CC="$(ARM64_CC)" SANITIZE= \
		cross-build

# What a guest or another architecture needs: with BUILD=... ARCH=... CC=... (above).
cross-build: all $(UNIT_TESTS) $(BPF_TESTS) $(VM_FIXTURES)

test-arm64: | $(BUILD)/results
	+@tests/run-arm64.sh $(BUILD) $(MAKE) > $(BUILD)/results/arm64.tap

# The soak tier (tests/soak/soak.py): churn, scrapes and reloads at once, then exact
# counts, no stale state, flat memory and descriptors. `make check` runs it for
# 60 s; `make soak` for SOAK_SECONDS (default 1800), for example under the sanitizers:
# make soak BUILD=build/asan SANITIZE=address,undefined.
SOAK_SECONDS ?= 1800
test-soak: all $(FIXTURES) | $(BUILD)/results
	@$(PYTHON) tests/soak/soak.py --build $(BUILD) --seconds 60 > $(BUILD)/results/soak.tap

soak: deps
	@$(MAKE) --no-print-directory all $(FIXTURES)
	@$(PYTHON) tests/soak/soak.py --build $(BUILD) --seconds $(SOAK_SECONDS)

# The Helm chart (lint, every ci/ scenario, helm-unittest), the alerts (promtool) and the
# dashboard; helm and the plugin come from make deps.
test-chart: all $(BUILD)/fixtures/fakeapi | $(BUILD)/results
	@tests/run-chart.sh $(BUILD)/tools > $(BUILD)/results/chart.tap

test-fuzz: $(FUZZERS) | $(BUILD)/results
	@tests/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZERS) > $(BUILD)/results/fuzz.tap

fuzz: $(FUZZERS)
	@tests/run-fuzz.sh 300 $(FUZZERS)

# --- demo and benchmarks ---------------------------------------------------------------

demo: deps
	@$(MAKE) --no-print-directory all
	@examples/demo.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/getppid $(BUILD)/bench/pingpong \
		$(BUILD)/fixtures/netload $(BUILD)/fixtures/sysload $(BUILD)/bench/scrapeclient \
		$(RECONCILER)
	@bench/run.sh $(BUILD)

$(BUILD)/bench/getppid: bench/getppid.c bench/floor.bpf.c | $(BUILD)/bench
	$(CLANG) $(BPF_CFLAGS) -Ibench -c bench/floor.bpf.c -o $(BUILD)/bench/floor.bpf.o
	$(BPFTOOL) gen skeleton $(BUILD)/bench/floor.bpf.o name floor_bpf > $(BUILD)/bench/floor.skel.h
	$(CC) $(CFLAGS) -I$(BUILD)/bench -o $@ bench/getppid.c $(LDLIBS)

$(BUILD)/bench/pingpong: bench/pingpong.c bench/schedfloor.bpf.c | $(BUILD)/bench
	$(CLANG) $(BPF_CFLAGS) -Ibench -c bench/schedfloor.bpf.c -o $(BUILD)/bench/schedfloor.bpf.o
	$(BPFTOOL) gen skeleton $(BUILD)/bench/schedfloor.bpf.o name schedfloor_bpf \
		> $(BUILD)/bench/schedfloor.skel.h
	$(CC) $(CFLAGS) -I$(BUILD)/bench -o $@ bench/pingpong.c $(LDLIBS)

# The scrape benchmark's client: Go's HTTP client, keep-alive, as Prometheus scrapes.
$(BUILD)/bench/scrapeclient: bench/scrapeclient/main.go bench/scrapeclient/go.mod | $(BUILD)/bench
	cd bench/scrapeclient && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly \
		$(GO) build -o $(abspath $@) .

$(BUILD)/bench:
	@mkdir -p $@

# --- maintenance -----------------------------------------------------------------------

format:
	$(CLANG_FORMAT) -i bpf/*.c bpf/*.h include/ctrlscope/*.h user/*.c user/*.h user/*/*.[ch] \
		tests/unit/*.c tests/bpf/*.c tests/fixtures/*.c tests/fuzz/*.c bench/*.c \
		examples/*.c

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h

clean:
	rm -rf $(BUILD)

# tailedcore - build, test, demo, bench.
#
# Libraries are found with pkg-config. On a cluster with environment modules,
# either point PKG_CONFIG_PATH at the modules' .pc files, or bypass pkg-config
# entirely by setting TC_CPPFLAGS and TC_LIBS, e.g.
#   make TC_CPPFLAGS="-I$HDF5_DIR/include" TC_LIBS="-L$HDF5_DIR/lib -lhdf5 -lscalapack -lopenblas -ltiff -lpng -ljpeg"
# CC defaults to mpicc so the MPI flags come from the wrapper on such systems.
# BUILD selects the build directory (several builds can share one tree).

PKGS     ?= ompi-c hdf5-openmpi scalapack-openmpi openblas libtiff-4 libpng libjpeg
BUILD    ?= build
CC       := mpicc
SAN      ?=
SKIP_DEPS ?=

ifeq ($(TC_LIBS),)
  PKG_OK := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo ok)
  TC_CPPFLAGS ?= $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
  TC_LIBS     ?= $(shell pkg-config --libs $(PKGS) 2>/dev/null)
else
  PKG_OK := ok
endif

CPPFLAGS += -Isrc -Impi $(TC_CPPFLAGS)
# CFLAGS (optimisation, debug, target) may come from a module environment;
# the language level, feature macros and warnings the code relies on are
# added whatever CFLAGS holds.
CFLAGS   ?= -O2 -g -march=x86-64-v2
TC_REQUIRED_FLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Wno-unused-parameter
ifeq ($(SAN),1)
  CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address,undefined
endif
LDLIBS   += $(TC_LIBS) -lm
# The CNN's direct loops (depthwise conv, ReLU6, im2col) and LOF's row scans
# are the places where vector width matters (mobilenetv2 ~2x with AVX2+FMA);
# so are the coreset's int8 and bf16 steps (int8 3x faster with AVX2: the
# widening multiply-add is compute, not bandwidth).
# Every x86 HPC node since 2013 has both; set TC_KERNEL_ARCH= (empty) for
# older ones. Results do not depend on it (ISO C mode: no FMA contraction,
# no reassociation).
TC_KERNEL_ARCH ?= -mavx2 -mfma
$(BUILD)/obj/src/cnn.o $(BUILD)/obj/src/lof.o $(BUILD)/obj/src/tailsampler.o $(BUILD)/obj/src/transpose.o $(BUILD)/obj/src/coreset.o: CFLAGS += -O3 $(TC_KERNEL_ARCH)

LIB_SRCS  := $(wildcard src/*.c)
LIB_OBJS  := $(patsubst src/%.c,$(BUILD)/obj/src/%.o,$(LIB_SRCS))
MPI_SRCS  := $(filter-out mpi/main.c,$(wildcard mpi/*.c))
MPI_OBJS  := $(patsubst mpi/%.c,$(BUILD)/obj/mpi/%.o,$(MPI_SRCS))
# gen/ holds the data-set generators (synthetic renderer, long-tail builder,
# dataset.json writer). Only inputs/ tools and tests link them and only they
# get -Igen: the detector (src/, mpi/) cannot include a generator header.
GEN_SRCS  := $(wildcard gen/*.c)
GEN_OBJS  := $(patsubst gen/%.c,$(BUILD)/obj/gen/%.o,$(GEN_SRCS))
GEN_CPPFLAGS := -Igen
TOOL_SRCS := $(wildcard inputs/*.c)
TOOLS     := $(patsubst inputs/%.c,$(BUILD)/%,$(TOOL_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNITS     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS)) $(BUILD)/tests/test_coreset_portable
TTOOL_SRCS := $(wildcard tests/tools/*.c)
TTOOLS    := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TTOOL_SRCS))
HDRS      := $(wildcard src/*.h mpi/*.h gen/*.h inputs/*.h tests/unit/*.h tests/tools/*.h)
BENCH_SRCS := $(wildcard bench/*.c)
BENCHES   := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

.PHONY: all deps test test-unit test-mpi test-tcp demo bench bench-bin realbench clean check-pkgs fuzz
.DELETE_ON_ERROR:

all: check-pkgs $(BUILD)/tailedcore $(TOOLS) $(TTOOLS)
	@echo "built $(BUILD)/tailedcore"

check-pkgs:
ifneq ($(PKG_OK),ok)
	$(error pkg-config cannot find one of: $(PKGS). Run ./deps.sh (Debian, as root) or see README "Build on a cluster")
endif

deps:
ifeq ($(SKIP_DEPS),)
	@./deps.sh
endif

$(BUILD)/obj/src/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TC_REQUIRED_FLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/mpi/%.o: mpi/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TC_REQUIRED_FLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/gen/%.o: gen/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TC_REQUIRED_FLAGS) $(CPPFLAGS) $(GEN_CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libtailedcore.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libtcmpi.a: $(MPI_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libtcgen.a: $(GEN_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tailedcore: mpi/main.c $(BUILD)/libtcmpi.a $(BUILD)/libtailedcore.a $(HDRS)
	$(CC) $(TC_REQUIRED_FLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ mpi/main.c $(BUILD)/libtcmpi.a $(BUILD)/libtailedcore.a $(LDLIBS)

$(BUILD)/%: inputs/%.c $(BUILD)/libtcgen.a $(BUILD)/libtailedcore.a $(HDRS)
	$(CC) $(TC_REQUIRED_FLAGS) $(CPPFLAGS) $(GEN_CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtcgen.a $(BUILD)/libtailedcore.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libtcmpi.a $(BUILD)/libtcgen.a $(BUILD)/libtailedcore.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TC_REQUIRED_FLAGS) $(CPPFLAGS) $(GEN_CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtcmpi.a $(BUILD)/libtcgen.a $(BUILD)/libtailedcore.a $(LDLIBS)

# The coreset kernel once more without TC_KERNEL_ARCH: its portable path (no
# AVX2) must select what the vector one does; the same tests run on it.
$(BUILD)/obj/portable/coreset.o: src/coreset.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TC_REQUIRED_FLAGS) $(CPPFLAGS) $(CFLAGS) -O3 -c -o $@ $<

$(BUILD)/tests/test_coreset_portable: tests/unit/test_coreset.c $(BUILD)/obj/portable/coreset.o $(BUILD)/libtcmpi.a $(BUILD)/libtcgen.a $(BUILD)/libtailedcore.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TC_REQUIRED_FLAGS) $(CPPFLAGS) $(GEN_CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/obj/portable/coreset.o $(BUILD)/libtcmpi.a $(BUILD)/libtcgen.a $(BUILD)/libtailedcore.a $(LDLIBS)

$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libtcmpi.a $(BUILD)/libtcgen.a $(BUILD)/libtailedcore.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TC_REQUIRED_FLAGS) $(CPPFLAGS) $(GEN_CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtcmpi.a $(BUILD)/libtcgen.a $(BUILD)/libtailedcore.a $(LDLIBS)

# make test: dependencies, build, then every unit binary and every tests/mpi
# script; the runner prints "N passed, N failed" and fails on any failure.
test: deps
	$(MAKE) --no-print-directory SKIP_DEPS=1 all $(UNITS) $(TTOOLS)
	@BUILD=$(BUILD) tests/run.sh

test-unit: all $(UNITS) $(TTOOLS)
	@BUILD=$(BUILD) tests/run.sh unit

test-mpi: all $(UNITS) $(TTOOLS)
	@BUILD=$(BUILD) tests/run.sh mpi

# the rank-count suites again over Open MPI's TCP transport only (as across nodes)
test-tcp: all $(UNITS) $(TTOOLS)
	@BUILD=$(BUILD) tests/run.sh tcp

# make demo: dependencies, build, default weights, synthetic data, the three
# methods on 2 ranks, the comparison table and plots (see demo.sh)
demo:
	./demo.sh

# bench/limits and bench/pingpong measure the machine and link only the
# libraries, so a half-built library never stops them; limits alone uses
# OpenMP for its bandwidth threads. Other bench/*.c (stage benches) link ours.
BENCH_CORE := $(BUILD)/bench/limits $(BUILD)/bench/pingpong
$(BUILD)/bench/limits: CFLAGS += -fopenmp
$(BENCH_CORE): $(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TC_REQUIRED_FLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libtcmpi.a $(BUILD)/libtailedcore.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TC_REQUIRED_FLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtcmpi.a $(BUILD)/libtailedcore.a $(LDLIBS)

bench-bin: check-pkgs $(BENCHES)

# make bench [BENCH_ARGS=--quick]: bench/run.sh installs the peers (as root,
# ./deps.sh bench), builds what it needs, runs everything, writes BENCHMARKS.md.
bench:
	@BUILD=$(BUILD) SKIP_DEPS=$(SKIP_DEPS) bench/run.sh $(BENCH_ARGS)

# make realbench: the real-photo long-tail benchmark of issue 15 (packages as
# root with ./deps.sh demo realbench, build, weights, data, TailSampler's
# Table 5 and the three methods; long, resumable). Settings: bench/realbench.sh --help.
realbench:
	@BUILD=$(BUILD) SKIP_DEPS=$(SKIP_DEPS) bench/realbench.sh $(REALBENCH_ARGS)

clean:
	rm -rf $(BUILD)

# make fuzz [FUZZ_MINUTES=10] [FUZZ_SEED=1] [FUZZ_ARGS="--timeout 30 --mem-bound-mb 1024"]: mutated images and HDF5 files
# through every reading command under the ASan + UBSan build (build-san), with
# a timeout and a peak-RSS bound per input; not part of make test. Summary in
# build-san/fuzz/summary.md, each finding's input and repro.sh in
# build-san/fuzz/findings/. Debian's python3 (h5py) on purpose: a pyenv or
# venv python first on PATH usually lacks it.
FUZZ_MINUTES ?= 10
FUZZ_SEED ?= 1
FUZZ_PYTHON ?= /usr/bin/python3
fuzz:
	$(MAKE) --no-print-directory SAN=1 BUILD=build-san SKIP_DEPS=1 all build-san/tests/test_cnn
	$(FUZZ_PYTHON) tests/fuzz/fuzz.py --build build-san --minutes $(FUZZ_MINUTES) --seed $(FUZZ_SEED) $(FUZZ_ARGS)

# presto - one GNU Makefile.
#   make              build every tool (CPU backend; CUDA parts only when nvcc is found)
#   make test         everything that needs no GPU
#   make conformance FIXTURES=DIR   the reference fixtures, one line per fixture
#   make test-gpu     the CUDA kernels against the CPU reference (skips without nvcc or a GPU)
#   make fuzz         run the libFuzzer targets for a short while
VERSION   := 0.1.0
PREFIX    ?= /usr/local
CC        ?= cc
CXX       ?= c++
OPT       ?= -O2
CFLAGS    ?= $(OPT) -g
CXXFLAGS  ?= $(OPT) -g
FIXTURES  ?= ../shared/conformance
BUILD     ?= build

PKGS      := msgpack jansson sndfile sentencepiece libpng
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Threads come from OpenBLAS (pthread build): the GEMMs are nearly all the
# work. The element-wise ops stay single-threaded: OpenMP worker threads that
# spin beside BLAS threads made a loaded 2-core machine 2-40x slower.
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null)

CPPFLAGS  += -Ilib -Iformats -DPRESTO_VERSION='"$(VERSION)"' -D_GNU_SOURCE $(BLAS_CFLAGS) $(PKG_CFLAGS)
WARN      := -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -Wno-unknown-pragmas
ALL_CFLAGS   = -std=c11 $(WARN) $(CFLAGS)
ALL_CXXFLAGS = -std=c++17 $(WARN) $(CXXFLAGS)
LDLIBS    += $(BLAS_LIBS) $(PKG_LIBS) -lstdc++ -lm -lpthread -ldl

LIB_C     := $(wildcard lib/*.c lib/ops/*.c formats/*.c)
LIB_CXX   := $(wildcard lib/*.cc)
LIB_OBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_C)) $(patsubst %.cc,$(BUILD)/obj/%.o,$(LIB_CXX))
LIB_A     := $(BUILD)/libpresto.a
TOOLS     := $(patsubst bin/%.c,$(BUILD)/bin/%,$(wildcard bin/presto-*.c))
BIN_COMMON := $(wildcard bin/common.c)
TEST_SRC  := $(wildcard tests/unit/*.c)
TESTS     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
CONF_SRC  := $(wildcard tests/conformance/*.c)
CONF      := $(BUILD)/tests/conformance
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(wildcard tests/tools/*.c)) $(BUILD)/tests/libfakecuda.so

NVCC      ?= $(shell command -v nvcc 2>/dev/null)
ifneq ($(NVCC),)
# CUDA parts are built only by `make test-gpu` (the tools do not use them yet)
CU_SRC    := $(wildcard kernels/*.cu)
CU_OBJ    := $(patsubst kernels/%.cu,$(BUILD)/obj/kernels/%.o,$(CU_SRC))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(realpath $(NVCC)))
# Hopper (H100/H200) and Ampere code, and PTX for newer GPUs
NVCC_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
	     -gencode arch=compute_90,code=compute_90
# the headers the GPU tests include (they are compiled in one step, with no
# dependency files)
GPU_TEST_DEPS := tests/gpu/gpucheck.h tests/unit/check.h tests/unit/testrand.h
GPU_TESTS := $(BUILD)/tests/gpu/test_kernels $(BUILD)/tests/gpu/test_dit $(BUILD)/tests/gpu/test_vae \
	     $(BUILD)/tests/gpu/test_t5
# the backend library the tools dlopen when they use a GPU (lib/accel.c)
CUDA_LIB  := $(BUILD)/lib/presto/libpresto-cuda.so
endif

.SECONDARY:

.PHONY: emu all test unit conformance cli fuzz clean install check-man test-model setup test-gpu
all: $(TOOLS) $(TEST_TOOLS) $(CUDA_LIB)

$(BUILD)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.cc Makefile
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(ALL_CXXFLAGS) -MMD -MP -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/obj/bin/%.o $(patsubst %.c,$(BUILD)/obj/%.o,$(BIN_COMMON)) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/tools/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(CONF): $(patsubst %.c,$(BUILD)/obj/%.o,$(CONF_SRC)) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

unit: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; PRESTO_FIXTURES=$(FIXTURES) $$t; done

conformance: $(CONF)
	$(CONF) $(FIXTURES)

cli: all
	@BUILD=$(BUILD) FIXTURES=$(FIXTURES) sh tests/cli/run.sh

# everything that needs no GPU, one closing "N passed, N failed" line
test: all $(TESTS) $(CONF) emu
	@BUILD=$(BUILD) FIXTURES=$(FIXTURES) sh tests/run.sh

# a random-weight model for quick pipeline checks (it makes noise)
TEST_MODEL := $(BUILD)/models/test
test-model: $(TEST_MODEL)/config.json
$(TEST_MODEL)/config.json: $(BUILD)/tests/mkmodel
	@mkdir -p $(dir $(TEST_MODEL))
	$(BUILD)/tests/mkmodel $(TEST_MODEL)

setup:
	sh pipelines/setup.sh

check-man: all
	@sh tests/check-man.sh $(BUILD)/bin

FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/*.c))
fuzz:
	@sh tests/fuzz/run.sh $(FUZZ_TARGETS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/man5/*.5 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 644 man/man7/*.7 $(DESTDIR)$(PREFIX)/share/man/man7
ifneq ($(CUDA_LIB),)
	install -d $(DESTDIR)$(PREFIX)/lib/presto
	install -m 755 $(CUDA_LIB) $(DESTDIR)$(PREFIX)/lib/presto
endif

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# a stand-in driver library for testing the device probe without a GPU
$(BUILD)/tests/libfakecuda.so: tests/fakecuda/libfakecuda.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -fPIC $< -o $@

# ---- CUDA (kernels/, tests/gpu/) ----
KERNEL_DEPS := kernels/kernels.h kernels/launch.h lib/cuda_backend.h lib/dit_internal.h lib/dit.h \
	       lib/oobleck_internal.h lib/t5_internal.h lib/sampler.h lib/sampler_step.h lib/rng_core.h lib/hostdev.h
$(BUILD)/obj/kernels/%.o: kernels/%.cu $(KERNEL_DEPS) Makefile
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -std=c++17 $(NVCC_ARCH) $(NVCC_EXTRA) -Xcompiler -fPIC -Ikernels -Ilib -Iformats $(PKG_CFLAGS) -c $< -o $@
# the sampler's steps round as the C reference does: no contracted multiply-adds
$(BUILD)/obj/kernels/sampler.o: NVCC_EXTRA := -fmad=false

# cudart static, cuBLAS from the toolkit
$(CUDA_LIB): $(CU_OBJ)
	@mkdir -p $(dir $@)
	$(NVCC) -shared $(NVCC_ARCH) $^ -L$(CUDA_HOME)/lib64 -Xlinker -rpath,$(CUDA_HOME)/lib64 -lcublas -o $@

# cudart linked statically: the test needs only the driver where it runs
$(BUILD)/tests/gpu/%: tests/gpu/%.c $(GPU_TEST_DEPS) $(CU_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ikernels -I$(CUDA_HOME)/include $(ALL_CFLAGS) $< $(CU_OBJ) $(LIB_A) \
		-L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/lib -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart_static -lrt \
		$(LDLIBS) -o $@

# ---- the same kernels on the CPU emulator (kernels/emu): no GPU, no nvcc ----
EMU_SRC   := $(wildcard kernels/*.cu)
EMU_OBJ   := $(patsubst kernels/%.cu,$(BUILD)/obj/emu/%.o,$(EMU_SRC)) $(BUILD)/obj/emu/emu.o $(BUILD)/obj/emu/cublas.o
EMU_FLAGS := -DPRESTO_CUDA_EMU -Ikernels/emu -Ikernels -Ilib
EMU_TESTS := $(BUILD)/tests/emu/test_kernels $(BUILD)/tests/emu/test_dit $(BUILD)/tests/emu/test_vae \
	     $(BUILD)/tests/emu/test_t5 $(BUILD)/tests/emu/test_emu \
	     $(BUILD)/tests/emu/libpresto-cuda.so

$(BUILD)/obj/emu/%.o: kernels/%.cu $(KERNEL_DEPS) $(wildcard kernels/emu/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) $(CPPFLAGS) $(ALL_CXXFLAGS) -fPIC -x c++ -c $< -o $@

$(BUILD)/obj/emu/%.o: kernels/emu/%.cc $(wildcard kernels/emu/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) $(ALL_CXXFLAGS) -fPIC -c $< -o $@

# the backend library on the emulator: the tools' GPU path tested without a GPU
$(BUILD)/tests/emu/libpresto-cuda.so: $(EMU_OBJ)
	@mkdir -p $(dir $@)
	$(CXX) -shared $^ -o $@

$(BUILD)/tests/emu/%: tests/gpu/%.c $(GPU_TEST_DEPS) $(EMU_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(EMU_FLAGS) $(CPPFLAGS) $(ALL_CFLAGS) $< $(EMU_OBJ) $(LIB_A) $(LDLIBS) -o $@

$(BUILD)/tests/emu/test_emu: tests/emu/test_emu.cc $(BUILD)/obj/emu/emu.o
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) $(ALL_CXXFLAGS) $^ -o $@

emu: $(EMU_TESTS)

# the kernels against the CPU reference; skips without nvcc or a GPU
test-gpu: $(GPU_TESTS) $(CONF) $(CUDA_LIB)
	@BUILD=$(BUILD) FIXTURES=$(FIXTURES) sh tests/gpu/run.sh

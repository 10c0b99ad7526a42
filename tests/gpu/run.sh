#!/bin/sh
# run.sh - `make test-gpu`: the CUDA kernels against the CPU reference.
# Skips (exit 0) where nvcc was not found or no CUDA device can be used, so
# it never fails a machine without a GPU.
: "${BUILD:=build}"
t=$BUILD/tests/gpu/test_kernels
if [ ! -x "$t" ]; then
	echo "test-gpu: SKIP (no nvcc: the CUDA kernels were not built)"
	exit 0
fi
"$t"
rc=$?
if [ "$rc" = 77 ]; then
	echo "test-gpu: SKIP (no CUDA device)"
	exit 0
fi
exit "$rc"

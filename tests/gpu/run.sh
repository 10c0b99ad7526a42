#!/bin/sh
# run.sh - `make test-gpu`: the CUDA kernels and the DiT against the CPU
# reference. Skips (exit 0) where nvcc was not found or no CUDA device can be
# used, so it never fails a machine without a GPU.
: "${BUILD:=build}"
set -- "$BUILD"/tests/gpu/test_kernels "$BUILD"/tests/gpu/test_dit "$BUILD"/tests/gpu/test_vae "$BUILD"/tests/gpu/test_t5
if [ ! -x "$1" ]; then
	echo "test-gpu: SKIP (no nvcc: the CUDA kernels were not built)"
	exit 0
fi
failed=0
for t in "$@"; do
	"$t"
	rc=$?
	if [ "$rc" = 77 ]; then
		echo "test-gpu: SKIP (no CUDA device)"
		exit 0
	fi
	[ "$rc" = 0 ] || failed=1
done
# the reference fixtures with the models on the GPU (fp32)
: "${FIXTURES:=../shared/conformance}"
if [ -d "$FIXTURES" ]; then
	"$BUILD"/tests/conformance --device cuda "$FIXTURES" || failed=1
else
	echo "test-gpu: no fixtures at $FIXTURES: conformance on the GPU not run"
fi
exit $failed

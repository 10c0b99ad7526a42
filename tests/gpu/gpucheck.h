/* gpucheck.h - what the GPU tests share (after check.h): the skip when no
 * CUDA device can be used, and the comparison of a device result with the
 * CPU reference (max |got - ref| over max |ref|, non-finite values). */
#ifndef PRESTO_GPUCHECK_H
#define PRESTO_GPUCHECK_H

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* exit 77 (skipped) without a usable CUDA device */
static void require_gpu(void)
{
	int count = 0;
	cudaError_t e = cudaGetDeviceCount(&count);
	if (e != cudaSuccess || count == 0) {
		printf("SKIP: no usable CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "none");
		exit(77);
	}
}

/* with $PRESTO_TEST_DIGEST set, one line appended to that file for every
 * device result a test checks: its length and a 64-bit FNV-1a hash of its
 * bytes. tests/run.sh compares the lines of runs on the emulator with its
 * threads in forward and in reverse order: a result that depends on the
 * order has a race in its kernel. */
static void digest(const char *what, const void *p, size_t bytes)
{
	const char *path = getenv("PRESTO_TEST_DIGEST");
	if (!path || !*path)
		return;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < bytes; i++)
		h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
	FILE *f = fopen(path, "a");
	if (!f || fprintf(f, "%s %zu %016llx\n", what, bytes, (unsigned long long)h) < 0 || fclose(f)) {
		fprintf(stderr, "cannot append to %s\n", path);
		exit(1);
	}
}

/* normalised error of got[n] (host) against ref[n]; *bad counts the values
 * of got that are not finite */
static double norm_error(const float *got, const float *ref, size_t n, size_t *bad)
{
	digest("result", got, n * sizeof *got);
	double err = 0, mx = 0;
	*bad = 0;
	for (size_t i = 0; i < n; i++) {
		*bad += !isfinite(got[i]);
		err = fmax(err, fabs((double)got[i] - ref[i]));
		mx = fmax(mx, fabs((double)ref[i]));
	}
	return err / (mx > 0 ? mx : 1);
}

#endif

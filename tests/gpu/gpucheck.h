/* gpucheck.h - what the GPU tests share (after check.h): the skip when no
 * CUDA device can be used, and the comparison of a device result with the
 * CPU reference (max |got - ref| over max |ref|, non-finite values). */
#ifndef PRESTO_GPUCHECK_H
#define PRESTO_GPUCHECK_H

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>

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

/* normalised error of got[n] (host) against ref[n]; *bad counts the values
 * of got that are not finite */
static double norm_error(const float *got, const float *ref, size_t n, size_t *bad)
{
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

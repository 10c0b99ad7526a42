/* norm.c - LayerNorm and RMSNorm over the last dimension. */
#include <math.h>

#include "ops.h"

void presto_layernorm_forward(float *y, const float *x, const float *gamma, const float *beta, int N, int D, float eps)
{
#pragma omp parallel for schedule(static) if (N > 64)
	for (int n = 0; n < N; n++) {
		const float *xr = x + (size_t)n * D;
		float *yr = y + (size_t)n * D;
		double mean = 0, var = 0;
		for (int d = 0; d < D; d++)
			mean += xr[d];
		mean /= D;
		for (int d = 0; d < D; d++) {
			double c = xr[d] - mean;
			var += c * c;
		}
		var /= D;
		float m = (float)mean, rs = (float)(1.0 / sqrt(var + eps));
		for (int d = 0; d < D; d++) {
			float v = (xr[d] - m) * rs;
			if (gamma)
				v *= gamma[d];
			if (beta)
				v += beta[d];
			yr[d] = v;
		}
	}
}

void presto_rmsnorm_forward(float *y, const float *x, const float *w, int N, int D, float eps)
{
#pragma omp parallel for schedule(static) if (N > 64)
	for (int n = 0; n < N; n++) {
		const float *xr = x + (size_t)n * D;
		float *yr = y + (size_t)n * D;
		double ss = 0;
		for (int d = 0; d < D; d++)
			ss += (double)xr[d] * xr[d];
		float rs = (float)(1.0 / sqrt(ss / D + eps));
		for (int d = 0; d < D; d++)
			yr[d] = w ? (xr[d] * rs) * w[d] : xr[d] * rs;
	}
}

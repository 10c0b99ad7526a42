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

void presto_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
			       const float *gamma, int N, int D, float eps)
{
	for (int n = 0; n < N; n++) {
		const float *xr = x + (size_t)n * D, *gr = dy + (size_t)n * D;
		/* mean and 1/std recomputed exactly as the forward does */
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
		double sg = 0, sgx = 0;
		for (int d = 0; d < D; d++) {
			float xh = (xr[d] - m) * rs;
			float g = gamma ? gr[d] * gamma[d] : gr[d];
			if (dgamma)
				dgamma[d] += gr[d] * xh;
			if (dbeta)
				dbeta[d] += gr[d];
			sg += g;
			sgx += (double)g * xh;
		}
		if (!dx)
			continue;
		/* dx = rs (g - mean(g) - xhat mean(g xhat)), g = dy gamma */
		float mg = (float)(sg / D), mgx = (float)(sgx / D);
		float *dr = dx + (size_t)n * D;
		for (int d = 0; d < D; d++) {
			float xh = (xr[d] - m) * rs;
			float g = gamma ? gr[d] * gamma[d] : gr[d];
			dr[d] += rs * (g - mg - xh * mgx);
		}
	}
}

void presto_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, int N, int D,
			     float eps)
{
	for (int n = 0; n < N; n++) {
		const float *xr = x + (size_t)n * D, *gr = dy + (size_t)n * D;
		double ss = 0;
		for (int d = 0; d < D; d++)
			ss += (double)xr[d] * xr[d];
		float rs = (float)(1.0 / sqrt(ss / D + eps));
		double sgx = 0;
		for (int d = 0; d < D; d++) {
			float g = w ? gr[d] * w[d] : gr[d];
			if (dw)
				dw[d] += gr[d] * (xr[d] * rs);
			sgx += (double)g * xr[d];
		}
		if (!dx)
			continue;
		/* dx = rs g - x rs^3 mean(g x), g = dy w */
		float k = (float)(sgx / D) * rs * rs * rs;
		float *dr = dx + (size_t)n * D;
		for (int d = 0; d < D; d++) {
			float g = w ? gr[d] * w[d] : gr[d];
			dr[d] += rs * g - xr[d] * k;
		}
	}
}

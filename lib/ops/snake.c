/* snake.c - SnakeBeta with log-scale parameters (Oobleck activations):
 * y = x + 1/(exp(beta) + 1e-9) * sin(exp(alpha) x)^2, per channel. */
#include <math.h>

#include "ops.h"

void presto_snake_beta_forward(float *y, const float *x, const float *alpha, const float *beta, int C, int T)
{
#pragma omp parallel for schedule(static) if ((size_t)C * T > 65536)
	for (int c = 0; c < C; c++) {
		float a = expf(alpha[c]), ib = 1.0f / (expf(beta[c]) + 1e-9f);
		const float *xr = x + (size_t)c * T;
		float *yr = y + (size_t)c * T;
		for (int t = 0; t < T; t++) {
			float s = sinf(a * xr[t]);
			yr[t] = xr[t] + ib * s * s;
		}
	}
}

/* With a = exp(alpha), e = exp(beta), ib = 1/(e + 1e-9), s = sin(a x):
 *   dy/dx     = 1 + ib * a * sin(2 a x)        (2 s cos(a x) = sin(2 a x))
 *   dy/dalpha = ib * sin(2 a x) * a x
 *   dy/dbeta  = -s^2 * e * ib^2
 * Per-channel sums are accumulated in double. */
void presto_snake_beta_backward(float *dx, float *dalpha, float *dbeta, const float *dy, const float *x,
				const float *alpha, const float *beta, int C, int T)
{
#pragma omp parallel for schedule(static) if ((size_t)C * T > 65536)
	for (int c = 0; c < C; c++) {
		float a = expf(alpha[c]), e = expf(beta[c]), ib = 1.0f / (e + 1e-9f);
		const float *xr = x + (size_t)c * T, *gr = dy + (size_t)c * T;
		float *dxr = dx ? dx + (size_t)c * T : NULL;
		double sa = 0, sb = 0;
		for (int t = 0; t < T; t++) {
			float ax = a * xr[t], s = sinf(ax), s2 = sinf(2.0f * ax);
			if (dxr)
				dxr[t] += gr[t] * (1.0f + ib * a * s2);
			sa += (double)gr[t] * (double)(s2 * ax);
			sb += (double)gr[t] * (double)(s * s);
		}
		if (dalpha)
			dalpha[c] += (float)(sa * ib);
		if (dbeta)
			dbeta[c] -= (float)(sb * (double)e * (double)ib * (double)ib);
	}
}

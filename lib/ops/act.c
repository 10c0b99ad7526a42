/* act.c - element-wise activations, SwiGLU, Snake, Fourier features. */
#include <math.h>

#include "ops.h"

void openblas_set_num_threads(int n);

void presto_set_threads(int n)
{
	if (n > 0)
		openblas_set_num_threads(n);
}

void presto_silu_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] / (1.0f + expf(-x[i]));
}

void presto_relu_forward(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void presto_gelu_tanh_forward(float *y, const float *x, size_t n)
{
	const float k = 0.7978845608028654f; /* sqrt(2/pi) */
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++) {
		float u = x[i];
		y[i] = 0.5f * u * (1.0f + tanhf(k * (u + 0.044715f * u * u * u)));
	}
}

void presto_gelu_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
}

void presto_swiglu_forward(float *y, const float *xg, int N, int F)
{
#pragma omp parallel for schedule(static) if ((size_t)N * F > 65536)
	for (int n = 0; n < N; n++) {
		const float *a = xg + (size_t)n * 2 * F, *g = a + F;
		float *yr = y + (size_t)n * F;
		for (int f = 0; f < F; f++)
			yr[f] = a[f] * (g[f] / (1.0f + expf(-g[f])));
	}
}

void presto_mul_forward(float *y, const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = a[i] * b[i];
}

void presto_add_inplace(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += x[i];
}

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

void presto_fourier_features_forward(float *y, const float *t, const float *w, int N, int F)
{
	const float two_pi = 6.283185307179586f;
	for (int n = 0; n < N; n++)
		for (int f = 0; f < F; f++) {
			float a = two_pi * t[n] * w[f];
			y[(size_t)n * 2 * F + f] = cosf(a);
			y[(size_t)n * 2 * F + F + f] = sinf(a);
		}
}

void presto_weight_norm_fold(float *w, const float *g, const float *v, int D0, int rest)
{
	for (int i = 0; i < D0; i++) {
		const float *vr = v + (size_t)i * rest;
		double ss = 0;
		for (int j = 0; j < rest; j++)
			ss += (double)vr[j] * vr[j];
		float s = (float)(g[i] / sqrt(ss));
		for (int j = 0; j < rest; j++)
			w[(size_t)i * rest + j] = vr[j] * s;
	}
}

/* act.c - element-wise activations, SwiGLU, Fourier features. */
#include <math.h>

#include "ops.h"

#define BLOCK 256 /* elements per stack block of the sigmoids */

/* s[i] = 1 / (1 + exp(-x[i])) for i < n <= BLOCK, with presto_expf_block */
static void sigmoid_block(float *s, const float *x, int n)
{
	for (int i = 0; i < n; i++)
		s[i] = -x[i];
	presto_expf_block(s, s, (size_t)n);
	for (int i = 0; i < n; i++)
		s[i] = 1.0f / (1.0f + s[i]);
}

void presto_silu_forward(float *y, const float *x, size_t n)
{
	float s[BLOCK];
	for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
		int m = n - i0 < BLOCK ? (int)(n - i0) : BLOCK;
		sigmoid_block(s, x + i0, m);
		for (int i = 0; i < m; i++)
			y[i0 + i] = x[i0 + i] * s[i];
	}
}

void presto_silu_backward(float *dx, const float *dy, const float *x, size_t n)
{
	float s[BLOCK];
	for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
		int m = n - i0 < BLOCK ? (int)(n - i0) : BLOCK;
		sigmoid_block(s, x + i0, m);
		for (int i = 0; i < m; i++) {
			float xi = x[i0 + i];
			dx[i0 + i] += dy[i0 + i] * s[i] * (1.0f + xi * (1.0f - s[i]));
		}
	}
}

void presto_relu_forward(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void presto_relu_backward(float *dx, const float *dy, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (x[i] > 0.0f)
			dx[i] += dy[i];
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

void presto_gelu_tanh_backward(float *dx, const float *dy, const float *x, size_t n)
{
	const float k = 0.7978845608028654f;
	for (size_t i = 0; i < n; i++) {
		float u = x[i], th = tanhf(k * (u + 0.044715f * u * u * u));
		float d = 0.5f * (1.0f + th) + 0.5f * u * (1.0f - th * th) * k * (1.0f + 3.0f * 0.044715f * u * u);
		dx[i] += dy[i] * d;
	}
}

void presto_gelu_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
}

void presto_gelu_backward(float *dx, const float *dy, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float u = x[i];
		float d = 0.5f * (1.0f + erff(u * 0.7071067811865476f)) + u * 0.3989422804014327f * expf(-0.5f * u * u);
		dx[i] += dy[i] * d;
	}
}

void presto_swiglu_forward(float *y, const float *xg, int N, int F)
{
	float s[BLOCK];
	for (int n = 0; n < N; n++) {
		const float *a = xg + (size_t)n * 2 * F, *g = a + F;
		float *yr = y + (size_t)n * F;
		for (int f0 = 0; f0 < F; f0 += BLOCK) {
			int m = F - f0 < BLOCK ? F - f0 : BLOCK;
			sigmoid_block(s, g + f0, m);
			for (int i = 0; i < m; i++)
				yr[f0 + i] = a[f0 + i] * (g[f0 + i] * s[i]);
		}
	}
}

void presto_swiglu_backward(float *dxg, const float *dy, const float *xg, int N, int F)
{
	float s[BLOCK];
	for (int n = 0; n < N; n++) {
		const float *a = xg + (size_t)n * 2 * F, *g = a + F, *dr = dy + (size_t)n * F;
		float *da = dxg + (size_t)n * 2 * F, *dg = da + F;
		for (int f0 = 0; f0 < F; f0 += BLOCK) {
			int m = F - f0 < BLOCK ? F - f0 : BLOCK;
			sigmoid_block(s, g + f0, m);
			for (int i = 0; i < m; i++) {
				int f = f0 + i;
				da[f] += dr[f] * (g[f] * s[i]);
				dg[f] += dr[f] * a[f] * s[i] * (1.0f + g[f] * (1.0f - s[i]));
			}
		}
	}
}

void presto_mul_forward(float *y, const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = a[i] * b[i];
}

void presto_mul_backward(float *da, float *db, const float *dy, const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (da)
			da[i] += dy[i] * b[i];
		if (db)
			db[i] += dy[i] * a[i];
	}
}

typedef struct {
	float *y;
	const float *x;
	size_t n;
} add_job;

#define ADD_PART (1 << 16) /* elements per parallel part */

static void add_part(void *ctx, int i, int w)
{
	(void)w;
	const add_job *j = ctx;
	size_t a = (size_t)i * ADD_PART, b = a + ADD_PART < j->n ? a + ADD_PART : j->n;
	for (size_t k = a; k < b; k++)
		j->y[k] += j->x[k];
}

void presto_add_inplace(float *y, const float *x, size_t n)
{
	add_job j = {y, x, n};
	size_t parts = (n + ADD_PART - 1) / ADD_PART;
	if (parts >= 4 && parts <= 1u << 30) /* else not worth the threads */
		presto_parallel((int)parts, add_part, &j);
	else
		for (size_t i = 0; i < parts; i++)
			add_part(&j, (int)i, 0);
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

void presto_fourier_features_backward(float *dt, float *dw, const float *dy, const float *t, const float *w, int N,
				      int F)
{
	const float two_pi = 6.283185307179586f;
	for (int n = 0; n < N; n++) {
		const float *dc = dy + (size_t)n * 2 * F, *ds = dc + F;
		double st = 0;
		for (int f = 0; f < F; f++) {
			float a = two_pi * t[n] * w[f];
			/* dL/da = -sin(a) dy_cos + cos(a) dy_sin */
			float ga = ds[f] * cosf(a) - dc[f] * sinf(a);
			st += (double)ga * w[f];
			if (dw)
				dw[f] += ga * (two_pi * t[n]);
		}
		if (dt)
			dt[n] += (float)(st * two_pi);
	}
}

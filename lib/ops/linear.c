/* linear.c - fully connected layer through BLAS. */
#include <cblas.h>
#include <string.h>

#include "ops.h"

void presto_linear_forward(float *y, const float *x, const float *w, const float *b, int N, int In, int O)
{
	if (N <= 0 || O <= 0)
		return;
	if (b) {
		for (int n = 0; n < N; n++)
			memcpy(y + (size_t)n * O, b, sizeof(float) * (size_t)O);
	}
	if (In <= 0) {
		if (!b)
			memset(y, 0, sizeof(float) * (size_t)N * (size_t)O);
		return;
	}
	/* y[N,O] (+)= x[N,In] * W[O,In]^T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, In, 1.0f, x, In, w, In, b ? 1.0f : 0.0f, y, O);
}

void presto_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int N,
			    int In, int O)
{
	if (N <= 0 || O <= 0)
		return;
	if (db)
		for (int n = 0; n < N; n++) {
			const float *r = dy + (size_t)n * O;
			for (int o = 0; o < O; o++)
				db[o] += r[o];
		}
	if (In <= 0)
		return;
	/* dx[N,In] += dy[N,O] W[O,In] */
	if (dx)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, In, O, 1.0f, dy, O, w, In, 1.0f, dx, In);
	/* dW[O,In] += dy[N,O]^T x[N,In] */
	if (dw)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, In, N, 1.0f, dy, O, x, In, 1.0f, dw, In);
}

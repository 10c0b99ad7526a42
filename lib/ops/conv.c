/* conv.c - 1-D convolution and transposed convolution (im2col + GEMM). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

int presto_conv1d_out_len(int Tin, int K, int stride, int pad, int dil)
{
	int span = dil * (K - 1) + 1;
	int n = Tin + 2 * pad - span;
	return n < 0 ? 0 : n / stride + 1;
}

size_t presto_conv1d_work_size(int Cin, int Tin, int K, int stride, int pad, int dil)
{
	return (size_t)Cin * K * (size_t)presto_conv1d_out_len(Tin, K, stride, pad, dil);
}

void presto_conv1d_forward(float *y, const float *x, const float *w, const float *b, int Cin, int Cout, int Tin,
			   int K, int stride, int pad, int dil, float *work)
{
	int Tout = presto_conv1d_out_len(Tin, K, stride, pad, dil);
	if (Tout <= 0)
		return;
	const float *cols = x;
	float *own = NULL;
	if (!(K == 1 && stride == 1 && pad == 0)) {
		/* cols[(c*K + k), t] = x[c, t*stride - pad + k*dil] */
		float *c2 = work ? work : (own = malloc(sizeof(float) * presto_conv1d_work_size(Cin, Tin, K, stride, pad, dil)));
		if (!c2)
			abort();
#pragma omp parallel for schedule(static) if ((size_t)Cin * K * Tout > 65536)
		for (int c = 0; c < Cin; c++)
			for (int k = 0; k < K; k++) {
				float *row = c2 + ((size_t)c * K + k) * Tout;
				const float *xr = x + (size_t)c * Tin;
				for (int t = 0; t < Tout; t++) {
					int i = t * stride - pad + k * dil;
					row[t] = (i >= 0 && i < Tin) ? xr[i] : 0.0f;
				}
			}
		cols = c2;
	}
	for (int o = 0; o < Cout; o++) {
		float bv = b ? b[o] : 0.0f;
		for (int t = 0; t < Tout; t++)
			y[(size_t)o * Tout + t] = bv;
	}
	/* y[Cout, Tout] += W[Cout, Cin*K] cols[Cin*K, Tout] */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Cout, Tout, Cin * K, 1.0f, w, Cin * K, cols, Tout, 1.0f,
		    y, Tout);
	free(own);
}

int presto_conv_transpose1d_out_len(int Tin, int K, int stride, int pad)
{
	int n = (Tin - 1) * stride - 2 * pad + K;
	return n < 0 ? 0 : n;
}

size_t presto_conv_transpose1d_work_size(int Cout, int Tin, int K)
{
	return (size_t)Cout * K * Tin;
}

void presto_conv_transpose1d_forward(float *y, const float *x, const float *w, const float *b, int Cin, int Cout,
				     int Tin, int K, int stride, int pad, float *work)
{
	int Tout = presto_conv_transpose1d_out_len(Tin, K, stride, pad);
	if (Tout <= 0)
		return;
	float *own = NULL;
	float *cols = work ? work : (own = malloc(sizeof(float) * presto_conv_transpose1d_work_size(Cout, Tin, K)));
	if (!cols)
		abort();
	/* cols[Cout*K, Tin] = W^T[Cout*K, Cin] x[Cin, Tin]; W is [Cin, Cout*K] */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Cout * K, Tin, Cin, 1.0f, w, Cout * K, x, Tin, 0.0f, cols,
		    Tin);
	/* col2im: y[o, t*stride - pad + k] += cols[o*K + k, t] */
#pragma omp parallel for schedule(static) if ((size_t)Cout * Tout > 65536)
	for (int o = 0; o < Cout; o++) {
		float *yr = y + (size_t)o * Tout;
		float bv = b ? b[o] : 0.0f;
		for (int t = 0; t < Tout; t++)
			yr[t] = bv;
		for (int k = 0; k < K; k++) {
			const float *cr = cols + ((size_t)o * K + k) * Tin;
			for (int t = 0; t < Tin; t++) {
				int i = t * stride - pad + k;
				if (i >= 0 && i < Tout)
					yr[i] += cr[t];
			}
		}
	}
	free(own);
}

/* conv.c - 1-D convolution and transposed convolution (im2col + GEMM) with
 * their backward passes, and the backward of weight-norm folding. */
#include <cblas.h>
#include <math.h>
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

size_t presto_conv1d_backward_work_size(int Cin, int Tin, int K, int stride, int pad, int dil)
{
	return presto_conv1d_work_size(Cin, Tin, K, stride, pad, dil);
}

/* y = W cols + b with cols = im2col(x), so dW += dy cols^T, db += rows of dy,
 * dcols = W^T dy and dx += col2im(dcols). work holds cols, then dcols. */
void presto_conv1d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
			    int Cin, int Cout, int Tin, int K, int stride, int pad, int dil, float *work)
{
	int Tout = presto_conv1d_out_len(Tin, K, stride, pad, dil);
	if (Tout <= 0)
		return;
	int CK = Cin * K;
	if (db)
		for (int o = 0; o < Cout; o++) {
			const float *g = dy + (size_t)o * Tout;
			double s = 0;
			for (int t = 0; t < Tout; t++)
				s += g[t];
			db[o] += (float)s;
		}
	if (K == 1 && stride == 1 && pad == 0) {
		/* pointwise: cols = x */
		if (dw)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Cout, Cin, Tout, 1.0f, dy, Tout, x, Tin,
				    1.0f, dw, Cin);
		if (dx)
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Cin, Tout, Cout, 1.0f, w, Cin, dy, Tout,
				    1.0f, dx, Tin);
		return;
	}
	if (!dw && !dx)
		return;
	float *own = NULL;
	float *cols = work ? work
			   : (own = malloc(sizeof(float) * presto_conv1d_backward_work_size(Cin, Tin, K, stride, pad, dil)));
	if (!cols)
		abort();
	if (dw) {
		/* cols[(c*K + k), t] = x[c, t*stride - pad + k*dil] */
		for (int c = 0; c < Cin; c++)
			for (int k = 0; k < K; k++) {
				float *row = cols + ((size_t)c * K + k) * Tout;
				const float *xr = x + (size_t)c * Tin;
				for (int t = 0; t < Tout; t++) {
					int i = t * stride - pad + k * dil;
					row[t] = (i >= 0 && i < Tin) ? xr[i] : 0.0f;
				}
			}
		/* dW[Cout, Cin*K] += dy[Cout, Tout] cols^T */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Cout, CK, Tout, 1.0f, dy, Tout, cols, Tout, 1.0f,
			    dw, CK);
	}
	if (dx) {
		/* dcols[Cin*K, Tout] = W^T dy, then col2im */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CK, Tout, Cout, 1.0f, w, CK, dy, Tout, 0.0f, cols,
			    Tout);
		for (int c = 0; c < Cin; c++) {
			float *xr = dx + (size_t)c * Tin;
			for (int k = 0; k < K; k++) {
				const float *row = cols + ((size_t)c * K + k) * Tout;
				for (int t = 0; t < Tout; t++) {
					int i = t * stride - pad + k * dil;
					if (i >= 0 && i < Tin)
						xr[i] += row[t];
				}
			}
		}
	}
	free(own);
}

size_t presto_conv_transpose1d_backward_work_size(int Cout, int Tin, int K)
{
	return presto_conv_transpose1d_work_size(Cout, Tin, K);
}

/* y = col2im(W^T x) + b, so dcols = im2col(dy) [Cout*K, Tin],
 * dW[Cin, Cout*K] += x dcols^T, dx += W dcols, db += rows of dy. */
void presto_conv_transpose1d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
				      const float *w, int Cin, int Cout, int Tin, int K, int stride, int pad,
				      float *work)
{
	int Tout = presto_conv_transpose1d_out_len(Tin, K, stride, pad);
	if (Tout <= 0)
		return;
	if (db)
		for (int o = 0; o < Cout; o++) {
			const float *g = dy + (size_t)o * Tout;
			double s = 0;
			for (int t = 0; t < Tout; t++)
				s += g[t];
			db[o] += (float)s;
		}
	if (!dw && !dx)
		return;
	float *own = NULL;
	float *cols = work ? work : (own = malloc(sizeof(float) * presto_conv_transpose1d_backward_work_size(Cout, Tin, K)));
	if (!cols)
		abort();
	for (int o = 0; o < Cout; o++) {
		const float *g = dy + (size_t)o * Tout;
		for (int k = 0; k < K; k++) {
			float *row = cols + ((size_t)o * K + k) * Tin;
			for (int t = 0; t < Tin; t++) {
				int i = t * stride - pad + k;
				row[t] = (i >= 0 && i < Tout) ? g[i] : 0.0f;
			}
		}
	}
	int OK = Cout * K;
	if (dw)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Cin, OK, Tin, 1.0f, x, Tin, cols, Tin, 1.0f, dw, OK);
	if (dx)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Cin, Tin, OK, 1.0f, w, OK, cols, Tin, 1.0f, dx,
			    Tin);
	free(own);
}

/* w = g v / n with n = ||v|| (per row): dg = (dw . v) / n and
 * dv = (g / n) (dw - (dg / n) v). Sums in double. */
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

void presto_weight_norm_backward(float *dg, float *dv, const float *dw, const float *g, const float *v, int D0,
				 int rest)
{
	for (int i = 0; i < D0; i++) {
		const float *vr = v + (size_t)i * rest, *gr = dw + (size_t)i * rest;
		double ss = 0, dot = 0;
		for (int j = 0; j < rest; j++) {
			ss += (double)vr[j] * vr[j];
			dot += (double)gr[j] * vr[j];
		}
		double n = sqrt(ss), dgi = dot / n;
		if (dg)
			dg[i] += (float)dgi;
		if (dv) {
			double s = g[i] / n, c = dgi / n;
			float *dr = dv + (size_t)i * rest;
			for (int j = 0; j < rest; j++)
				dr[j] += (float)(s * (gr[j] - c * vr[j]));
		}
	}
}

/* conv.c - 1-D convolution and transposed convolution (im2col + GEMM) with
 * their backward passes, and the backward of weight-norm folding.
 *
 * im2col / col2im run over chunks of output columns (a chunk of the column
 * buffer stays in cache between the copy and the GEMM), and each row splits
 * into its zero-padded ends and a branch-free interior (a memcpy or a
 * contiguous add at stride 1). The bias gradients sum in fixed float lanes
 * added in double: the same bits whatever the vector width. Callers' work
 * buffers keep their documented sizes; only a chunk's worth is used. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* The vectoriser at its usual strength (the -O2 default "very cheap" cost
 * model skips loops with a tail). No fast-math: nothing is reassociated. */
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#pragma STDC FP_CONTRACT OFF

#define SUM_LANES 8 /* float partial sums per row sum */
#define SUM_BLOCK 512

/* The t in [0, n) with 0 <= t*stride + off < len are [*lo, *hi). */
static void valid_range(int n, int len, int stride, int off, int *lo, int *hi)
{
	long a = off >= 0 ? 0 : ((long)-off + stride - 1) / stride;
	long b = (long)len - off <= 0 ? 0 : ((long)len - off + stride - 1) / stride;
	if (b > n)
		b = n;
	if (a > b)
		a = b;
	*lo = (int)a;
	*hi = (int)b;
}

/* im2col of one row: row[t] = src[t*stride + off] for t < n, 0 where the
 * index falls outside [0, len). */
static void gather_row(float *restrict row, const float *restrict src, int n, int len, int stride, int off)
{
	int lo, hi;
	valid_range(n, len, stride, off, &lo, &hi);
	if (lo > 0)
		memset(row, 0, sizeof(float) * (size_t)lo);
	if (stride == 1) {
		if (hi > lo)
			memcpy(row + lo, src + lo + off, sizeof(float) * (size_t)(hi - lo));
	} else if (hi > lo) {
		const float *sp = src + ((long)lo * stride + off);
		for (int t = 0; t < hi - lo; t++)
			row[lo + t] = sp[(size_t)t * stride];
	}
	if (hi < n)
		memset(row + hi, 0, sizeof(float) * (size_t)(n - hi));
}

/* im2col of a chunk of n output columns starting at t0:
 * cols[(c*K + k), t] = src[c, (t0 + t)*stride - pad + k*dil] (0 outside). */
static void gather_chunk(float *cols, const float *src, int C, int K, int n, int len, int stride, int pad, int dil,
			 int t0)
{
	for (int c = 0; c < C; c++)
		for (int k = 0; k < K; k++)
			gather_row(cols + ((size_t)c * K + k) * n, src + (size_t)c * len, n, len, stride,
				   t0 * stride + k * dil - pad);
}

/* The chunk buffer: the caller's work or an allocation (*own, to free). */
static float *chunk_buffer(float *work, size_t n, float **own)
{
	float *b = work ? work : (*own = malloc(sizeof(float) * n));
	if (!b)
		abort();
	return b;
}

/* col2im of one row: dst[t*stride + off] += row[t] for t < n where the index
 * falls inside [0, len). */
static void scatter_add_row(float *restrict dst, const float *restrict row, int n, int len, int stride, int off)
{
	int lo, hi;
	valid_range(n, len, stride, off, &lo, &hi);
	if (hi <= lo)
		return;
	float *dp = dst + ((long)lo * stride + off);
	const float *rp = row + lo;
	if (stride == 1)
		for (int t = 0; t < hi - lo; t++)
			dp[t] += rp[t];
	else
		for (int t = 0; t < hi - lo; t++)
			dp[(size_t)t * stride] += rp[t];
}

/* The im2col buffers are filled and consumed in chunks of columns of about
 * CHUNK_FLOATS floats, so that a chunk is still in cache when the GEMM reads
 * it (or col2im reads the GEMM's output). */
#ifndef CHUNK_FLOATS
#define CHUNK_FLOATS (1 << 16)
#endif
#define CHUNK_MIN 256

/* columns per chunk for a buffer of `rows` rows and n columns */
static int chunk_len(int rows, int n)
{
	int c = CHUNK_FLOATS / (rows > 0 ? rows : 1);
	c = c < CHUNK_MIN ? CHUNK_MIN : c / 16 * 16;
	return c < n ? c : n;
}

/* sum of p[0..n): in blocks of SUM_BLOCK, SUM_LANES float partial sums (lane
 * i mod SUM_LANES) added in double in lane order; the tail in double. The
 * same result whatever the vector width. */
static double row_sum(const float *restrict p, size_t n)
{
	double s = 0;
	size_t i = 0;
	while (i + SUM_LANES <= n) {
		size_t end = n - i < SUM_BLOCK ? i + (n - i) / SUM_LANES * SUM_LANES : i + SUM_BLOCK;
		float acc[SUM_LANES] = {0};
		for (; i < end; i += SUM_LANES)
			for (int j = 0; j < SUM_LANES; j++)
				acc[j] += p[i + j];
		for (int j = 0; j < SUM_LANES; j++)
			s += acc[j];
	}
	for (; i < n; i++)
		s += p[i];
	return s;
}

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

typedef struct {
	float *y;
	const float *x, *w;
	float *cols; /* a chunk's buffer per worker */
	int Cin, Cout, Tin, Tout, K, stride, pad, dil, nb;
} conv_job;

/* chunk i of the output columns: im2col, then y[Cout, t0 .. t0 + n) +=
 * W[Cout, Cin*K] cols[Cin*K, n] */
static void conv_chunk(void *ctx, int i, int wk)
{
	const conv_job *j = ctx;
	int CK = j->Cin * j->K, t0 = i * j->nb, n = j->Tout - t0 < j->nb ? j->Tout - t0 : j->nb;
	float *cols = j->cols + (size_t)wk * CK * j->nb;
	gather_chunk(cols, j->x, j->Cin, j->K, n, j->Tin, j->stride, j->pad, j->dil, t0);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->Cout, n, CK, 1.0f, j->w, CK, cols, n, 1.0f, j->y + t0,
		    j->Tout);
}

/* chunk i of a pointwise convolution: y[Cout, t0 .. t0 + n) += W x[Cin, t0 .. t0 + n) */
static void pointwise_chunk(void *ctx, int i, int wk)
{
	(void)wk;
	const conv_job *j = ctx;
	int t0 = i * j->nb, n = j->Tout - t0 < j->nb ? j->Tout - t0 : j->nb;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->Cout, n, j->Cin, 1.0f, j->w, j->Cin, j->x + t0, j->Tin,
		    1.0f, j->y + t0, j->Tout);
}

void presto_conv1d_forward(float *y, const float *x, const float *w, const float *b, int Cin, int Cout, int Tin,
			   int K, int stride, int pad, int dil, float *work)
{
	int Tout = presto_conv1d_out_len(Tin, K, stride, pad, dil);
	if (Tout <= 0)
		return;
	for (int o = 0; o < Cout; o++) {
		float bv = b ? b[o] : 0.0f;
		for (int t = 0; t < Tout; t++)
			y[(size_t)o * Tout + t] = bv;
	}
	int CK = Cin * K;
	if (K == 1 && stride == 1 && pad == 0) {
		/* pointwise: cols = x, chunks of columns in parallel */
		conv_job j = {y, x, w, NULL, Cin, Cout, Tin, Tout, 1, 1, 0, 1, chunk_len(Cin + Cout, Tout)};
		presto_parallel((Tout + j.nb - 1) / j.nb, pointwise_chunk, &j);
		return;
	}
	int nb = chunk_len(CK, Tout), chunks = (Tout + nb - 1) / nb;
	/* the chunks in parallel, each worker with its own column buffer: the
	 * caller's work holds Tout / nb of them */
	int p = presto_parallel_workers(chunks);
	if (work && p > Tout / nb)
		p = Tout / nb > 0 ? Tout / nb : 1;
	float *own = NULL, *cols = chunk_buffer(work, (size_t)CK * nb * (size_t)p, &own);
	conv_job j = {y, x, w, cols, Cin, Cout, Tin, Tout, K, stride, pad, dil, nb};
	presto_parallel_limited(chunks, p, conv_chunk, &j);
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

#define CONVT_GROUP 8 /* output channels per task of a transposed convolution */

typedef struct {
	float *y;
	const float *x, *w;
	float *cols; /* a buffer of nb columns per worker */
	int Cin, Cout, Tin, Tout, K, stride, pad, nb, group;
} convt_job;

/* output channels [o0, o0 + group) of a transposed convolution, chunk by
 * chunk of input frames: cols = W^T[rows of o] x[Cin, t0 .. t0 + n), then
 * col2im y[o, (t0 + t)*stride - pad + k] += cols[o*K + k, t] */
static void convt_group(void *ctx, int g, int wk)
{
	const convt_job *j = ctx;
	int K = j->K, OK = j->Cout * K, o0 = g * j->group;
	int no = j->Cout - o0 < j->group ? j->Cout - o0 : j->group, rows = no * K;
	float *cols = j->cols + (size_t)wk * j->group * K * j->nb;
	for (int t0 = 0; t0 < j->Tin; t0 += j->nb) {
		int n = j->Tin - t0 < j->nb ? j->Tin - t0 : j->nb;
		/* W is [Cin, Cout*K]: the rows of W^T for channels o0.. are its columns from o0*K */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, n, j->Cin, 1.0f, j->w + (size_t)o0 * K, OK,
			    j->x + t0, j->Tin, 0.0f, cols, n);
		for (int o = 0; o < no; o++)
			for (int k = 0; k < K; k++)
				scatter_add_row(j->y + (size_t)(o0 + o) * j->Tout, cols + ((size_t)o * K + k) * n, n, j->Tout,
						j->stride, t0 * j->stride + k - j->pad);
	}
}

void presto_conv_transpose1d_forward(float *y, const float *x, const float *w, const float *b, int Cin, int Cout,
				     int Tin, int K, int stride, int pad, float *work)
{
	int Tout = presto_conv_transpose1d_out_len(Tin, K, stride, pad);
	if (Tout <= 0)
		return;
	int OK = Cout * K, nb = chunk_len(OK, Tin);
	for (int o = 0; o < Cout; o++) {
		float *yr = y + (size_t)o * Tout;
		float bv = b ? b[o] : 0.0f;
		for (int t = 0; t < Tout; t++)
			yr[t] = bv;
	}
	/* groups of CONVT_GROUP output channels in parallel (each writes its
	 * own rows of y; the grouping does not depend on the workers, nor do
	 * the results), each worker with a column buffer of group*K rows: the
	 * caller's work (Cout*K x Tin) holds p of them when p * group <= Cout */
	int group = Cout < CONVT_GROUP ? Cout : CONVT_GROUP, groups = (Cout + group - 1) / group;
	int p = presto_parallel_workers(groups);
	if (work && p > Cout / group)
		p = Cout / group > 0 ? Cout / group : 1;
	float *own = NULL, *cols = chunk_buffer(work, (size_t)group * K * nb * (size_t)p, &own);
	convt_job j = {y, x, w, cols, Cin, Cout, Tin, Tout, K, stride, pad, nb, group};
	presto_parallel_limited(groups, p, convt_group, &j);
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
		for (int o = 0; o < Cout; o++)
			db[o] += (float)row_sum(dy + (size_t)o * Tout, (size_t)Tout);
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
	int nb = chunk_len(CK, Tout);
	float *own = NULL, *cols = chunk_buffer(work, (size_t)CK * nb, &own);
	for (int t0 = 0; t0 < Tout; t0 += nb) {
		int n = Tout - t0 < nb ? Tout - t0 : nb;
		if (dw) {
			gather_chunk(cols, x, Cin, K, n, Tin, stride, pad, dil, t0);
			/* dW[Cout, Cin*K] += dy[Cout, t0 .. t0 + n) cols^T */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Cout, CK, n, 1.0f, dy + t0, Tout, cols, n,
				    1.0f, dw, CK);
		}
		if (dx) {
			/* dcols[Cin*K, n] = W^T dy[Cout, t0 .. t0 + n), then col2im */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CK, n, Cout, 1.0f, w, CK, dy + t0, Tout, 0.0f,
				    cols, n);
			for (int c = 0; c < Cin; c++)
				for (int k = 0; k < K; k++)
					scatter_add_row(dx + (size_t)c * Tin, cols + ((size_t)c * K + k) * n, n, Tin, stride,
							t0 * stride + k * dil - pad);
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
		for (int o = 0; o < Cout; o++)
			db[o] += (float)row_sum(dy + (size_t)o * Tout, (size_t)Tout);
	if (!dw && !dx)
		return;
	int OK = Cout * K, nb = chunk_len(OK, Tin);
	float *own = NULL, *cols = chunk_buffer(work, (size_t)OK * nb, &own);
	for (int t0 = 0; t0 < Tin; t0 += nb) {
		int n = Tin - t0 < nb ? Tin - t0 : nb;
		/* cols[(o*K + k), t] = dy[o, (t0 + t)*stride - pad + k] */
		gather_chunk(cols, dy, Cout, K, n, Tout, stride, pad, 1, t0);
		/* dW[Cin, Cout*K] += x[Cin, t0 .. t0 + n) cols^T; dx[:, t0 .. t0 + n) += W cols */
		if (dw)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Cin, OK, n, 1.0f, x + t0, Tin, cols, n, 1.0f,
				    dw, OK);
		if (dx)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Cin, n, OK, 1.0f, w, OK, cols, n, 1.0f,
				    dx + t0, Tin);
	}
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

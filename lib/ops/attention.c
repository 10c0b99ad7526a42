/* attention.c - multi-head attention with grouped-query heads (fp32 softmax).
 *
 * The backward recomputes the probabilities from q and k (flash-attention
 * style) with the very code of the forward, so nothing of size Tq*Tk*H is
 * kept between the passes. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* the row loops below vectorise at this strength (the -O2 default skips
 * loops with a tail); no reassociation, so the results are the same bits on
 * every machine */
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")

#define LANES 8 /* partial sums and maxima, in a fixed layout */

/* sum over j < n of a[j] (lane_sum) or a[j] b[j] (lane_dot) in double:
 * LANES partial sums, added in lane order */
static double lane_total(const double *acc)
{
	double s = 0;
	for (int l = 0; l < LANES; l++)
		s += acc[l];
	return s;
}

static double lane_sum(const float *a, int n)
{
	double acc[LANES] = {0};
	int j = 0;
	for (; j + LANES <= n; j += LANES)
		for (int l = 0; l < LANES; l++)
			acc[l] += a[j + l];
	for (int l = 0; j < n; j++, l++)
		acc[l] += a[j];
	return lane_total(acc);
}

static double lane_dot(const float *a, const float *b, int n)
{
	double acc[LANES] = {0};
	int j = 0;
	for (; j + LANES <= n; j += LANES)
		for (int l = 0; l < LANES; l++)
			acc[l] += (double)a[j + l] * b[j + l];
	for (int l = 0; j < n; j++, l++)
		acc[l] += (double)a[j] * b[j];
	return lane_total(acc);
}

/* row[0..n) = softmax(row), n >= 1: exp(row - max) (presto_expf_block)
 * over its sum in double. */
static void softmax_row(float *row, int n)
{
	float m[LANES];
	for (int l = 0; l < LANES; l++)
		m[l] = row[0];
	int j = 0;
	for (; j + LANES <= n; j += LANES)
		for (int l = 0; l < LANES; l++)
			m[l] = row[j + l] > m[l] ? row[j + l] : m[l];
	for (int l = 0; j < n; j++, l++)
		m[l] = row[j] > m[l] ? row[j] : m[l];
	float mx = m[0];
	for (int l = 1; l < LANES; l++)
		mx = m[l] > mx ? m[l] : mx;
	for (j = 0; j < n; j++)
		row[j] -= mx;
	presto_expf_block(row, row, (size_t)n);
	float inv = (float)(1.0 / lane_sum(row, n));
	for (j = 0; j < n; j++)
		row[j] *= inv;
}

/* s[Tq, Tk] = softmax over keys of (scale q k^T + bias[h] + mask) for item b,
 * head h. */
static void attention_probs(float *s, const float *qb, const float *kb, int b, int h, int Tq, int Tk, int qs, int ks,
			    int Dh, float scale, const float *bias, const float *key_mask)
{
	/* s[Tq, Tk] = scale * q k^T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, Dh, scale, qb, qs, kb, ks, 0.0f, s, Tk);
	for (int i = 0; i < Tq; i++) {
		float *row = s + (size_t)i * Tk;
		if (bias) {
			const float *br = bias + ((size_t)h * Tq + i) * Tk;
			for (int j = 0; j < Tk; j++)
				row[j] += br[j];
		}
		if (key_mask) {
			const float *m = key_mask + (size_t)b * Tk;
			for (int j = 0; j < Tk; j++)
				if (m[j] == 0.0f)
					row[j] += -FLT_MAX;
		}
		softmax_row(row, Tk);
	}
}

typedef struct {
	float *o, *s; /* s: Tq x Tk scores per worker */
	const float *q, *k, *v, *bias, *key_mask;
	int Tq, Tk, H, group, Dh, qs, ks, vs;
	float scale;
} attn_job;

/* task b * H + h: item b, head h */
static void attention_head(void *ctx, int i, int w)
{
	const attn_job *j = ctx;
	int b = i / j->H, h = i % j->H, Tq = j->Tq, Tk = j->Tk, Dh = j->Dh;
	float *s = j->s + (size_t)w * Tq * (size_t)(Tk > 0 ? Tk : 1);
	const float *qb = j->q + (size_t)b * Tq * j->qs + (size_t)h * Dh;
	const float *kb = j->k + (size_t)b * Tk * j->ks + (size_t)(h / j->group) * Dh;
	const float *vb = j->v + (size_t)b * Tk * j->vs + (size_t)(h / j->group) * Dh;
	float *ob = j->o + (size_t)b * Tq * j->H * Dh + (size_t)h * Dh;
	attention_probs(s, qb, kb, b, h, Tq, Tk, j->qs, j->ks, Dh, j->scale, j->bias, j->key_mask);
	/* o[Tq, Dh] = p[Tq, Tk] v[Tk, Dh] */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, Dh, Tk, 1.0f, s, Tk, vb, j->vs, 0.0f, ob, j->H * Dh);
}

/* the heads of every item in parallel (each writes its own columns of o) */
void presto_attention_forward(float *o, const float *q, const float *k, const float *v, int B, int Tq, int Tk, int H,
			      int KVH, int Dh, int qs, int ks, int vs, float scale, const float *bias,
			      const float *key_mask)
{
	int p = presto_parallel_workers(B * H);
	float *s = malloc(sizeof(float) * (size_t)Tq * (size_t)(Tk > 0 ? Tk : 1) * (size_t)p);
	if (!s)
		abort(); /* scratch of Tq*Tk floats a worker; sizes are bounded by the model */
	attn_job j = {o, s, q, k, v, bias, key_mask, Tq, Tk, H, H / KVH, Dh, qs, ks, vs, scale};
	presto_parallel_limited(B * H, p, attention_head, &j);
	free(s);
}

typedef struct {
	float *dq, *dk, *dv, *dbias, *scratch; /* scratch: 2*Tq*Tk floats per worker */
	const float *dout, *q, *k, *v, *bias, *key_mask;
	int B, Tq, Tk, H, group, Dh, qs, ks, vs;
	float scale;
} attn_bwd_job;

/* task g: kv head g and its group of query heads, every item in order (each
 * task writes its own columns of dq, dk, dv and its own heads of dbias, so
 * the sums run in the order of the serial loop) */
static void attention_backward_group(void *ctx, int g, int w)
{
	const attn_bwd_job *J = ctx;
	int Tq = J->Tq, Tk = J->Tk, Dh = J->Dh, H = J->H, qs = J->qs, ks = J->ks, vs = J->vs;
	size_t ss = (size_t)Tq * Tk;
	float *p = J->scratch + (size_t)w * 2 * ss, *dp = p + ss;
	for (int b = 0; b < J->B; b++) {
		/* an item whose keys are all masked attends uniformly whatever q
		 * and k are: its scores get no gradient */
		int live = 1;
		if (J->key_mask) {
			live = 0;
			for (int j = 0; j < Tk && !live; j++)
				live = J->key_mask[(size_t)b * Tk + j] != 0.0f;
		}
		for (int h = g * J->group; h < (g + 1) * J->group; h++) {
			size_t ko = (size_t)b * Tk * ks + (size_t)g * Dh;
			size_t vo = (size_t)b * Tk * vs + (size_t)g * Dh;
			const float *qb = J->q + (size_t)b * Tq * qs + (size_t)h * Dh;
			const float *kb = J->k + ko, *vb = J->v + vo;
			const float *gb = J->dout + (size_t)b * Tq * H * Dh + (size_t)h * Dh;
			attention_probs(p, qb, kb, b, h, Tq, Tk, qs, ks, Dh, J->scale, J->bias, J->key_mask);
			/* dv[Tk, Dh] += p^T dO */
			if (J->dv)
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, Dh, Tq, 1.0f, p, Tk, gb, H * Dh,
					    1.0f, J->dv + vo, vs);
			if (!live || !(J->dq || J->dk || J->dbias))
				continue;
			/* dp[Tq, Tk] = dO v^T; ds = p (dp - rowsum(p dp)) in place */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, Dh, 1.0f, gb, H * Dh, vb, vs, 0.0f,
				    dp, Tk);
			for (int i = 0; i < Tq; i++) {
				const float *pr = p + (size_t)i * Tk;
				float *dr = dp + (size_t)i * Tk;
				float d = (float)lane_dot(pr, dr, Tk);
				for (int j = 0; j < Tk; j++)
					dr[j] = pr[j] * (dr[j] - d);
				if (J->dbias) {
					float *br = J->dbias + ((size_t)h * Tq + i) * Tk;
					for (int j = 0; j < Tk; j++)
						br[j] += dr[j];
				}
			}
			/* dq[Tq, Dh] += scale ds k; dk[Tk, Dh] += scale ds^T q */
			if (J->dq)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, Dh, Tk, J->scale, dp, Tk, kb, ks,
					    1.0f, J->dq + (size_t)b * Tq * qs + (size_t)h * Dh, qs);
			if (J->dk)
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, Dh, Tq, J->scale, dp, Tk, qb, qs,
					    1.0f, J->dk + ko, ks);
		}
	}
}

/* the kv heads in parallel (presto_parallel), each with its query heads */
void presto_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout, const float *q,
			       const float *k, const float *v, int B, int Tq, int Tk, int H, int KVH, int Dh, int qs,
			       int ks, int vs, float scale, const float *bias, const float *key_mask)
{
	if (B <= 0 || Tq <= 0 || Tk <= 0 || H <= 0)
		return;
	int p = presto_parallel_workers(KVH);
	float *scratch = malloc(sizeof(float) * 2 * (size_t)Tq * Tk * (size_t)p);
	if (!scratch)
		abort(); /* scratch of 2*Tq*Tk floats a worker, as the forward's */
	attn_bwd_job j = {dq, dk, dv, dbias, scratch, dout, q, k, v, bias, key_mask, B, Tq, Tk, H, H / KVH, Dh, qs,
			  ks, vs, scale};
	presto_parallel_limited(KVH, p, attention_backward_group, &j);
	free(scratch);
}

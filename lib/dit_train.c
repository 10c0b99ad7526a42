/* dit_train.c - the DiT's training forward (saving what the backward needs)
 * and its backward pass, fp32 on the CPU.
 *
 * The forward runs the very block code of the inference forward
 * (presto_dit_self_attn & co.), so its output is bit-identical to
 * presto_dit_forward's. It keeps, per block, the residual stream at the
 * block's input and after each branch, the attention inputs after qk-norm and
 * RoPE (and before qk-norm when there is one), the attention outputs and the
 * feed-forward projection; the LayerNorm outputs and the SwiGLU output are
 * recomputed in the backward (cheap next to the GEMMs), the attention
 * probabilities too (presto_attention_backward). Everything lives in one
 * arena allocated for a (B, T, S) shape and reused while the shape stays.
 *
 * Every GEMM is per batch item as in the forward: an item's input gradients
 * are bit-identical whatever else is in the batch, and the parameter
 * gradients of a batch equal, bit for bit, those of its items run one after
 * the other into the same gradient buffer (gradient accumulation over
 * micro-batches changes nothing). */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "dit.h"
#include "dit_internal.h"
#include "ops.h"

#define lin presto_dit_lin

typedef struct {
	float *h0, *h1, *h2;   /* [N, D] block input, after self-attention, after cross-attention */
	float *qkv_raw, *qkv;  /* [N, 3D] projection before qk-norm (qk-norm only), after qk-norm and RoPE */
	float *sao;            /* [N, D] self-attention output, before to_out */
	float *cq_raw, *cq;    /* [N, D] cross-attention queries before (qk-norm only) and after qk-norm */
	float *ckv_raw, *ckv;  /* [B*S, 2Ce] keys and values, likewise */
	float *cao;            /* [N, D] cross-attention output, before to_out */
	float *big;            /* [N, 2F] feed-forward projection (SwiGLU input) */
} blk_save;

struct presto_dit_train {
	presto_dit *m;
	int B, T, S;           /* the arena's shape (S = 0: no context) */
	int ready;             /* a forward filled the arena */
	int has_global;
	float *arena;
	blk_save *bs;          /* [depth] */
	unsigned char *mask;   /* [depth] blocks the last forward ran */
	int dh_block;          /* presto_dit_train_set_dhidden() */
	const float *dh_extra;

	/* saved by the forward */
	float *t, *glob, *cross;        /* copies of the inputs [B], [B, G], [B*S, Cc] */
	float *xt0, *xt1, *xo;          /* [B*T, C] input rows, after preprocess_conv, postprocess_conv input */
	float *tf;                      /* [B, TF] Fourier features */
	float *ta, *tsl, *te;           /* [B, D] to_timestep_embed pre-SiLU, SiLU, output */
	float *ga, *gsl, *ge;           /* [B, D] to_global_embed likewise */
	float *ca, *csl, *ctx;          /* [B*S, Ce] to_cond_embed pre-SiLU, SiLU, output */
	float *hf;                      /* [N, D] after the last block */
	/* scratch */
	float *xn, *mid, *br;           /* [N, D], [N, max(D, F)], [N, D] */
	float *pc, *po;                 /* [B*T, C], [N, C] */
	float *dh, *dxn, *dmid, *dbig;  /* [N, D], [N, D], [N, max(D, F)], [N, max(3D, 2F)] */
	float *dckv, *dctx, *dcs, *dca; /* [B*S, 2Ce], [B*S, Ce] x 3 */
	float *dte, *dts, *dta, *dgs, *dga; /* [B, D] */
	float *dtf;                     /* [B, TF] */
	float *dxt1, *dxt0, *dpc;       /* [B*T, C] */
	float *tmp;                     /* [max(D, 2Ce)] qk-norm backward scratch */
};

/* ---- arena ---- */


static void carve_all(presto_dit_train *c, presto_carver *cv, int B, int T, int S)
{
	const presto_dit_config *k = &c->m->c;
	size_t N = (size_t)B * (T + 1), NT = (size_t)B * T, NS = (size_t)B * S;
	size_t D = (size_t)k->embed_dim, F = D * (size_t)k->ff_mult, C = (size_t)k->io_channels;
	size_t Ce = (size_t)k->cond_embed_dim, Cc = (size_t)k->cond_token_dim, G = (size_t)k->global_cond_dim;
	size_t TF = (size_t)k->timestep_features_dim;
	size_t wbig = 3 * D > 2 * F ? 3 * D : 2 * F, wmid = D > F ? D : F;
	int qk = k->qk_norm != 0;
	for (int i = 0; i < k->depth; i++) {
		blk_save *b = &c->bs[i];
		b->h0 = presto_carve(cv, N * D);
		b->h1 = presto_carve(cv, N * D);
		b->h2 = S ? presto_carve(cv, N * D) : b->h1;
		b->qkv_raw = qk ? presto_carve(cv, N * 3 * D) : NULL;
		b->qkv = presto_carve(cv, N * 3 * D);
		b->sao = presto_carve(cv, N * D);
		b->cq_raw = S && qk ? presto_carve(cv, N * D) : NULL;
		b->cq = S ? presto_carve(cv, N * D) : NULL;
		b->ckv_raw = S && qk ? presto_carve(cv, NS * 2 * Ce) : NULL;
		b->ckv = S ? presto_carve(cv, NS * 2 * Ce) : NULL;
		b->cao = S ? presto_carve(cv, N * D) : NULL;
		b->big = presto_carve(cv, N * 2 * F);
	}
	float **bd[] = {&c->ta, &c->tsl, &c->te, &c->ga, &c->gsl, &c->ge, &c->dte, &c->dts, &c->dta, &c->dgs, &c->dga};
	for (size_t i = 0; i < sizeof bd / sizeof bd[0]; i++)
		*bd[i] = presto_carve(cv, (size_t)B * D);
	float **ns[] = {&c->ca, &c->csl, &c->ctx, &c->dctx, &c->dcs, &c->dca};
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
		*ns[i] = presto_carve(cv, NS * Ce);
	float **nt[] = {&c->xt0, &c->xt1, &c->xo, &c->pc, &c->dxt1, &c->dxt0, &c->dpc};
	for (size_t i = 0; i < sizeof nt / sizeof nt[0]; i++)
		*nt[i] = presto_carve(cv, NT * C);
	c->t = presto_carve(cv, (size_t)B);
	c->glob = presto_carve(cv, (size_t)B * G);
	c->cross = presto_carve(cv, NS * Cc);
	c->tf = presto_carve(cv, (size_t)B * TF);
	c->dtf = presto_carve(cv, (size_t)B * TF);
	c->hf = presto_carve(cv, N * D);
	c->xn = presto_carve(cv, N * D);
	c->mid = presto_carve(cv, N * wmid);
	c->br = presto_carve(cv, N * D);
	c->po = presto_carve(cv, N * C);
	c->dh = presto_carve(cv, N * D);
	c->dxn = presto_carve(cv, N * D);
	c->dmid = presto_carve(cv, N * wmid);
	c->dbig = presto_carve(cv, N * wbig);
	c->dckv = presto_carve(cv, NS * 2 * Ce);
	c->tmp = presto_carve(cv, D > 2 * Ce ? D : 2 * Ce);
}

static presto_status arena_for(presto_dit_train *c, int B, int T, int S)
{
	if (c->arena && c->B == B && c->T == T && c->S == S)
		return PRESTO_OK;
	free(c->arena);
	c->arena = NULL;
	c->ready = 0;
	presto_carver cv = {NULL, 0, 0};
	carve_all(c, &cv, B, T, S);
	if (cv.overflow || cv.used > SIZE_MAX / sizeof(float) - 16)
		return presto_error_set(PRESTO_ENOMEM, "DiT training activations: size overflow");
	float *p = presto_falloc(cv.used + 16);
	if (!p)
		return presto_error_wrap(PRESTO_ENOMEM, "DiT training activations (%zu MiB): ",
					 cv.used * sizeof(float) >> 20);
	c->arena = p;
	cv.base = (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
	cv.used = 0;
	carve_all(c, &cv, B, T, S);
	c->B = B, c->T = T, c->S = S;
	return PRESTO_OK;
}

presto_status presto_dit_train_new(presto_dit *m, presto_dit_train **out)
{
	*out = NULL;
	presto_dit_train *c = presto_calloc(1, sizeof *c);
	if (!c)
		return PRESTO_ENOMEM;
	int depth = m->c.depth ? m->c.depth : 1;
	c->m = m;
	c->dh_block = INT_MIN;
	c->bs = presto_calloc((size_t)depth, sizeof *c->bs);
	c->mask = presto_calloc((size_t)depth, 1);
	if (!c->bs || !c->mask) {
		presto_dit_train_free(c);
		return PRESTO_ENOMEM;
	}
	*out = c;
	return PRESTO_OK;
}

void presto_dit_train_free(presto_dit_train *c)
{
	if (!c)
		return;
	free(c->arena);
	free(c->bs);
	free(c->mask);
	free(c);
}

/* The residual stream entering block i (i == depth: after the last block). */
static float *stream_in(const presto_dit_train *c, int i) { return i < c->m->c.depth ? c->bs[i].h0 : c->hf; }

/* ---- forward ---- */

presto_status presto_dit_train_forward(presto_dit_train *c, float *out, const float *x, const float *t,
				       const float *cross, int S, const float *global, int B, int T,
				       const unsigned char *block_mask)
{
	presto_dit *m = c->m;
	const presto_dit_config *k = &m->c;
	int C = k->io_channels, D = k->embed_dim, TF = k->timestep_features_dim, Ce = k->cond_embed_dim;
	int G = k->global_cond_dim, Cc = k->cond_token_dim;
	if (B <= 0 || T <= 0 || S < 0)
		return presto_error_set(PRESTO_EINVAL, "DiT training forward: bad sizes B=%d T=%d S=%d", B, T, S);
	if ((long long)B * (T + 1) > INT_MAX || (long long)B * S > INT_MAX)
		return presto_error_set(PRESTO_EINVAL, "DiT training forward: batch of %d x %d frames is too large", B,
					T);
	if (!cross || !Ce)
		S = 0;
	c->has_global = global && G;
	c->dh_extra = NULL;
	c->dh_block = INT_MIN;
	PRESTO_TRY(arena_for(c, B, T, S));
	int T1 = T + 1, N = B * T1, NT = B * T;
	float scale = (float)(1.0 / sqrt((double)k->d_head));

	for (int i = 0; i < k->depth; i++)
		c->mask[i] = !block_mask || block_mask[i];
	memcpy(c->t, t, sizeof(float) * (size_t)B);
	if (c->has_global)
		memcpy(c->glob, global, sizeof(float) * (size_t)B * G);
	if (S)
		memcpy(c->cross, cross, sizeof(float) * (size_t)B * S * Cc);

	/* preprocess_conv (1x1, no bias), residual, as token rows [B*T, C] */
	for (int b = 0; b < B; b++)
		for (int ch = 0; ch < C; ch++)
			for (int i = 0; i < T; i++)
				c->xt0[((size_t)b * T + i) * C + ch] = x[((size_t)b * C + ch) * T + i];
	lin(c->pc, c->xt0, m->pre_conv, NULL, B, T, C, C);
	memcpy(c->xt1, c->xt0, sizeof(float) * (size_t)NT * C);
	presto_add_inplace(c->xt1, c->pc, (size_t)NT * C);

	/* timestep and global embeddings -> the prepended token */
	presto_fourier_features_forward(c->tf, c->t, m->ts_freq, B, TF / 2);
	lin(c->ta, c->tf, m->ts_w0, m->ts_b0, B, 1, TF, D);
	presto_silu_forward(c->tsl, c->ta, (size_t)B * D);
	lin(c->te, c->tsl, m->ts_w2, m->ts_b2, B, 1, D, D);
	if (c->has_global) {
		lin(c->ga, c->glob, m->glob_w0, NULL, B, 1, G, D);
		presto_silu_forward(c->gsl, c->ga, (size_t)B * D);
		lin(c->ge, c->gsl, m->glob_w2, NULL, B, 1, D, D);
	}
	float *h = stream_in(c, 0);
	for (int b = 0; b < B; b++) {
		float *row = h + (size_t)b * T1 * D;
		const float *te = c->te + (size_t)b * D, *ge = c->ge + (size_t)b * D;
		for (int d = 0; d < D; d++)
			row[d] = c->has_global ? ge[d] + te[d] : te[d];
	}
	for (int b = 0; b < B; b++)
		presto_linear_forward(h + ((size_t)b * T1 + 1) * D, c->xt1 + (size_t)b * T * C, m->proj_in, NULL, T, C,
				      D);

	/* context tokens */
	if (S) {
		lin(c->ca, c->cross, m->cond_w0, NULL, B, S, Cc, Ce);
		presto_silu_forward(c->csl, c->ca, (size_t)B * S * Ce);
		lin(c->ctx, c->csl, m->cond_w2, NULL, B, S, Ce, Ce);
	}

	size_t nd = (size_t)N * D;
	for (int i = 0; i < k->depth; i++) {
		const dit_block *bl = &m->blocks[i];
		blk_save *s = &c->bs[i];
		float *next = stream_in(c, i + 1);
		if (!c->mask[i]) {
			memcpy(next, s->h0, sizeof(float) * nd);
			continue;
		}
		presto_layernorm_forward(c->xn, s->h0, bl->pre_g, bl->pre_b, N, D, k->norm_eps);
		presto_dit_self_attn(m, bl, c->xn, s->qkv_raw, s->qkv, s->sao, c->br, B, T1, scale);
		memcpy(s->h1, s->h0, sizeof(float) * nd);
		presto_add_inplace(s->h1, c->br, nd);
		if (S) {
			presto_layernorm_forward(c->xn, s->h1, bl->ca_g, bl->ca_b, N, D, k->norm_eps);
			presto_dit_cross_attn(m, bl, c->xn, c->ctx, s->cq_raw, s->cq, s->ckv_raw, s->ckv, s->cao, c->br,
					      B, T1, S, scale);
			memcpy(s->h2, s->h1, sizeof(float) * nd);
			presto_add_inplace(s->h2, c->br, nd);
		}
		presto_layernorm_forward(c->xn, s->h2, bl->ff_g, bl->ff_b, N, D, k->norm_eps);
		presto_dit_ff(m, bl, c->xn, s->big, c->mid, c->br, B, T1);
		memcpy(next, s->h2, sizeof(float) * nd);
		presto_add_inplace(next, c->br, nd);
	}

	/* project_out, drop the global token, postprocess_conv (residual) */
	lin(c->po, c->hf, m->proj_out, NULL, B, T1, D, C);
	for (int b = 0; b < B; b++)
		memcpy(c->xo + (size_t)b * T * C, c->po + ((size_t)b * T1 + 1) * C, sizeof(float) * (size_t)T * C);
	lin(c->pc, c->xo, m->post_conv, NULL, B, T, C, C);
	for (int b = 0; b < B; b++)
		for (int i = 0; i < T; i++) {
			const float *o = c->xo + ((size_t)b * T + i) * C, *p = c->pc + ((size_t)b * T + i) * C;
			for (int ch = 0; ch < C; ch++)
				out[((size_t)b * C + ch) * T + i] = p[ch] + o[ch];
		}
	c->ready = 1;
	return PRESTO_OK;
}

const float *presto_dit_train_hidden(const presto_dit_train *c, int block)
{
	if (!c->ready || block < -1 || block >= c->m->c.depth)
		return NULL;
	return stream_in(c, block + 1);
}

presto_status presto_dit_train_set_dhidden(presto_dit_train *c, int block, const float *dh)
{
	if (block < -1 || block >= c->m->c.depth)
		return presto_error_set(PRESTO_EINVAL, "DiT: no block %d to take a hidden-state gradient", block);
	c->dh_block = block;
	c->dh_extra = dh;
	return PRESTO_OK;
}

/* ---- backward ---- */

/* The gradient slot of weight w in dparams, or NULL (no gradient wanted, or
 * w is not a trainable entry of the bound table). */
static float *grad_of(const presto_dit *m, float *dparams, const float *w)
{
	return m->ps ? presto_params_grad_slot(m->ps, m->pbase, dparams, w) : NULL;
}

/* presto_linear_backward over B items of `rows` rows, one GEMM per item. */
static void lin_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int B, int rows,
		    int In, int O)
{
	if (!dx && !dw && !db)
		return;
	for (int i = 0; i < B; i++)
		presto_linear_backward(dx ? dx + (size_t)i * rows * In : NULL, dw, db, dy + (size_t)i * rows * O,
				       x + (size_t)i * rows * In, w, rows, In, O);
}

static void zero(float *p, size_t n) { memset(p, 0, sizeof(float) * n); }

/* Backward of presto_dit_qk_normalize in place on g (N tokens at g + n*stride,
 * H heads of Dh), from the pre-norm values raw (same layout). */
static void qk_norm_backward(float *g, const float *raw, int N, int stride, int H, int Dh, int kind, const qk_ln *ln,
			     float *dw, float *db, float *tmp)
{
	for (int n = 0; n < N; n++) {
		float *gt = g + (size_t)n * stride;
		const float *xt = raw + (size_t)n * stride;
		if (kind == 1) {
			memcpy(tmp, gt, sizeof(float) * (size_t)H * Dh);
			zero(gt, (size_t)H * Dh);
			presto_layernorm_backward(gt, dw, db, tmp, xt, ln->w, H, Dh, 1e-6f);
			continue;
		}
		for (int h = 0; h < H; h++) {
			float *gh = gt + (size_t)h * Dh;
			const float *xh = xt + (size_t)h * Dh;
			double ss = 0;
			for (int d = 0; d < Dh; d++)
				ss += (double)xh[d] * xh[d];
			float nrm = (float)sqrt(ss);
			if (nrm < 1e-12f) { /* x / eps: linear */
				for (int d = 0; d < Dh; d++)
					gh[d] /= 1e-12f;
				continue;
			}
			/* y = x / |x|: dx = (g - y (y . g)) / |x| */
			double dot = 0;
			for (int d = 0; d < Dh; d++)
				dot += (double)(xh[d] / nrm) * gh[d];
			float dt = (float)dot;
			for (int d = 0; d < Dh; d++)
				gh[d] = (gh[d] - (xh[d] / nrm) * dt) / nrm;
		}
	}
}

/* One block backward: c->dh holds dL/d(block output) and becomes dL/d(block
 * input); parameter gradients accumulate into dparams, context gradients into
 * c->dctx. */
static void block_backward(presto_dit_train *c, int i, float *dparams, float scale)
{
	presto_dit *m = c->m;
	const presto_dit_config *k = &m->c;
	const dit_block *bl = &m->blocks[i];
	const blk_save *s = &c->bs[i];
	int B = c->B, T1 = c->T + 1, S = c->S, N = B * T1;
	int D = k->embed_dim, F = D * k->ff_mult, H = k->num_heads, Dh = k->d_head, Ce = k->cond_embed_dim;
	int KVH = k->kv_heads_cross;
	size_t nd = (size_t)N * D;
#define GR(w) grad_of(m, dparams, (w))

	/* feed-forward: out = h2 + ff(LN(h2)) */
	presto_layernorm_forward(c->xn, s->h2, bl->ff_g, bl->ff_b, N, D, k->norm_eps);
	presto_swiglu_forward(c->mid, s->big, N, F);
	zero(c->dmid, (size_t)N * F);
	lin_bwd(c->dmid, GR(bl->ff_out), GR(bl->ff_out_b), c->dh, c->mid, bl->ff_out, B, T1, F, D);
	zero(c->dbig, (size_t)N * 2 * F);
	presto_swiglu_backward(c->dbig, c->dmid, s->big, N, F);
	zero(c->dxn, nd);
	lin_bwd(c->dxn, GR(bl->ff_in), GR(bl->ff_in_b), c->dbig, c->xn, bl->ff_in, B, T1, D, 2 * F);
	presto_layernorm_backward(c->dh, GR(bl->ff_g), GR(bl->ff_b), c->dxn, s->h2, bl->ff_g, N, D, k->norm_eps);

	/* cross-attention: h2 = h1 + ca(LN(h1), ctx) */
	if (S) {
		float *dq = c->dbig, *dao = c->dmid;
		presto_layernorm_forward(c->xn, s->h1, bl->ca_g, bl->ca_b, N, D, k->norm_eps);
		zero(dao, nd);
		lin_bwd(dao, GR(bl->ca_out), NULL, c->dh, s->cao, bl->ca_out, B, T1, D, D);
		zero(dq, nd);
		zero(c->dckv, (size_t)B * S * 2 * Ce);
		presto_attention_backward(dq, c->dckv, c->dckv + Ce, NULL, dao, s->cq, s->ckv, s->ckv + Ce, B, T1, S, H,
					  KVH, Dh, D, 2 * Ce, 2 * Ce, scale, NULL, NULL);
		if (k->qk_norm) {
			qk_norm_backward(dq, s->cq_raw, N, D, H, Dh, k->qk_norm, &bl->ca_qn, GR(bl->ca_qn.w),
					 GR(bl->ca_qn.b), c->tmp);
			qk_norm_backward(c->dckv, s->ckv_raw, B * S, 2 * Ce, KVH, Dh, k->qk_norm, &bl->ca_kn,
					 GR(bl->ca_kn.w), GR(bl->ca_kn.b), c->tmp);
		}
		zero(c->dxn, nd);
		lin_bwd(c->dxn, GR(bl->ca_q), NULL, dq, c->xn, bl->ca_q, B, T1, D, D);
		lin_bwd(c->dctx, GR(bl->ca_kv), NULL, c->dckv, c->ctx, bl->ca_kv, B, S, Ce, 2 * Ce);
		presto_layernorm_backward(c->dh, GR(bl->ca_g), GR(bl->ca_b), c->dxn, s->h1, bl->ca_g, N, D,
					  k->norm_eps);
	}

	/* self-attention: h1 = h0 + sa(LN(h0)) */
	float *dqkv = c->dbig, *dao = c->dmid;
	presto_layernorm_forward(c->xn, s->h0, bl->pre_g, bl->pre_b, N, D, k->norm_eps);
	zero(dao, nd);
	lin_bwd(dao, GR(bl->sa_out), NULL, c->dh, s->sao, bl->sa_out, B, T1, D, D);
	zero(dqkv, 3 * nd);
	presto_attention_backward(dqkv, dqkv + D, dqkv + 2 * D, NULL, dao, s->qkv, s->qkv + D, s->qkv + 2 * D, B, T1, T1,
				  H, H, Dh, 3 * D, 3 * D, 3 * D, scale, NULL, NULL);
	if (k->rotary_dim)
		for (int b = 0; b < B; b++) {
			float *base = dqkv + (size_t)b * T1 * 3 * D;
			presto_rope_backward(base, T1, H, Dh, 3 * D, k->rotary_dim, m->inv_freq, 0);
			presto_rope_backward(base + D, T1, H, Dh, 3 * D, k->rotary_dim, m->inv_freq, 0);
		}
	if (k->qk_norm) {
		qk_norm_backward(dqkv, s->qkv_raw, N, 3 * D, H, Dh, k->qk_norm, &bl->sa_qn, GR(bl->sa_qn.w),
				 GR(bl->sa_qn.b), c->tmp);
		qk_norm_backward(dqkv + D, s->qkv_raw + D, N, 3 * D, H, Dh, k->qk_norm, &bl->sa_kn, GR(bl->sa_kn.w),
				 GR(bl->sa_kn.b), c->tmp);
	}
	zero(c->dxn, nd);
	lin_bwd(c->dxn, GR(bl->qkv), NULL, dqkv, c->xn, bl->qkv, B, T1, D, 3 * D);
	presto_layernorm_backward(c->dh, GR(bl->pre_g), GR(bl->pre_b), c->dxn, s->h0, bl->pre_g, N, D, k->norm_eps);
#undef GR
}

presto_status presto_dit_train_backward(presto_dit_train *c, const float *dout, float *dparams, float *dx, float *dt,
					float *dcross, float *dglobal)
{
	presto_dit *m = c->m;
	const presto_dit_config *k = &m->c;
	if (!c->ready)
		return presto_error_set(PRESTO_EINVAL, "DiT backward: no training forward to go back through");
	if (dparams && !m->ps)
		return presto_error_set(PRESTO_EINVAL,
					"DiT backward: parameter gradients need a model bound to a parameter table");
	int B = c->B, T = c->T, S = c->S, T1 = T + 1, N = B * T1, NT = B * T;
	int C = k->io_channels, D = k->embed_dim, TF = k->timestep_features_dim, Ce = k->cond_embed_dim;
	int G = k->global_cond_dim, Cc = k->cond_token_dim;
	float scale = (float)(1.0 / sqrt((double)k->d_head));
#define GR(w) grad_of(m, dparams, (w))

	/* output: out = xo + xo Wpost^T (token rows), xo = project_out rows 1.. */
	zero(c->dh, (size_t)N * D);
	if (dout) {
		for (int b = 0; b < B; b++)
			for (int ch = 0; ch < C; ch++)
				for (int i = 0; i < T; i++)
					c->dpc[((size_t)b * T + i) * C + ch] = dout[((size_t)b * C + ch) * T + i];
		float *dxo = c->dxt0;
		memcpy(dxo, c->dpc, sizeof(float) * (size_t)NT * C);
		lin_bwd(dxo, GR(m->post_conv), NULL, c->dpc, c->xo, m->post_conv, B, T, C, C);
		zero(c->po, (size_t)N * C); /* dL/d(project_out rows); the global token's row gets none */
		for (int b = 0; b < B; b++)
			memcpy(c->po + ((size_t)b * T1 + 1) * C, dxo + (size_t)b * T * C, sizeof(float) * (size_t)T * C);
		lin_bwd(c->dh, GR(m->proj_out), NULL, c->po, c->hf, m->proj_out, B, T1, D, C);
	}

	/* blocks, last to first (a skipped block is the identity) */
	zero(c->dctx, (size_t)B * S * Ce);
	for (int i = k->depth - 1; i >= -1; i--) {
		if (c->dh_extra && c->dh_block == i)
			presto_add_inplace(c->dh, c->dh_extra, (size_t)N * D);
		if (i >= 0 && c->mask[i])
			block_backward(c, i, dparams, scale);
	}
	c->dh_extra = NULL;
	c->dh_block = INT_MIN;

	/* project_in (rows 1.. of every item), preprocess_conv residual */
	float *wpre = GR(m->pre_conv);
	if (dx || wpre || GR(m->proj_in)) {
		zero(c->dxt1, (size_t)NT * C);
		for (int b = 0; b < B; b++)
			presto_linear_backward(c->dxt1 + (size_t)b * T * C, GR(m->proj_in), NULL,
					       c->dh + ((size_t)b * T1 + 1) * D, c->xt1 + (size_t)b * T * C, m->proj_in,
					       T, C, D);
		memcpy(c->dxt0, c->dxt1, sizeof(float) * (size_t)NT * C);
		lin_bwd(dx ? c->dxt0 : NULL, wpre, NULL, c->dxt1, c->xt0, m->pre_conv, B, T, C, C);
		if (dx)
			for (int b = 0; b < B; b++)
				for (int ch = 0; ch < C; ch++)
					for (int i = 0; i < T; i++)
						dx[((size_t)b * C + ch) * T + i] += c->dxt0[((size_t)b * T + i) * C + ch];
	}

	/* the prepended token: te (+ ge) */
	for (int b = 0; b < B; b++)
		memcpy(c->dte + (size_t)b * D, c->dh + (size_t)b * T1 * D, sizeof(float) * (size_t)D);
	float *dfreq = GR(m->ts_freq);
	zero(c->dts, (size_t)B * D);
	lin_bwd(c->dts, GR(m->ts_w2), GR(m->ts_b2), c->dte, c->tsl, m->ts_w2, B, 1, D, D);
	zero(c->dta, (size_t)B * D);
	presto_silu_backward(c->dta, c->dts, c->ta, (size_t)B * D);
	if (dt || dfreq) {
		zero(c->dtf, (size_t)B * TF);
		lin_bwd(c->dtf, GR(m->ts_w0), GR(m->ts_b0), c->dta, c->tf, m->ts_w0, B, 1, TF, D);
		presto_fourier_features_backward(dt, dfreq, c->dtf, c->t, m->ts_freq, B, TF / 2);
	} else
		lin_bwd(NULL, GR(m->ts_w0), GR(m->ts_b0), c->dta, c->tf, m->ts_w0, B, 1, TF, D);
	if (c->has_global) {
		zero(c->dgs, (size_t)B * D);
		lin_bwd(c->dgs, GR(m->glob_w2), NULL, c->dte, c->gsl, m->glob_w2, B, 1, D, D);
		zero(c->dga, (size_t)B * D);
		presto_silu_backward(c->dga, c->dgs, c->ga, (size_t)B * D);
		lin_bwd(dglobal, GR(m->glob_w0), NULL, c->dga, c->glob, m->glob_w0, B, 1, G, D);
	}

	/* context tokens */
	if (S) {
		zero(c->dcs, (size_t)B * S * Ce);
		lin_bwd(c->dcs, GR(m->cond_w2), NULL, c->dctx, c->csl, m->cond_w2, B, S, Ce, Ce);
		zero(c->dca, (size_t)B * S * Ce);
		presto_silu_backward(c->dca, c->dcs, c->ca, (size_t)B * S * Ce);
		lin_bwd(dcross, GR(m->cond_w0), NULL, c->dca, c->cross, m->cond_w0, B, S, Cc, Ce);
	}
#undef GR
	return PRESTO_OK;
}

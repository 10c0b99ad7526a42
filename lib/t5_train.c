/* t5_train.c - the T5 encoder's training forward (keeping what the backward
 * needs) and its backward pass, fp32 on the CPU.
 *
 * The forward is presto_t5_run, the inference forward's code, with one set of
 * buffers per block and the feed-forward activation written beside its input
 * instead of over it: its output is presto_t5_forward's, bit for bit. Kept per
 * block: the residual stream at the block input and after the attention
 * residual, q, k, v, the attention output, the wi (wi_0) and wi_1 outputs.
 * The backward recomputes the RMSNorm outputs, the activations and the
 * attention probabilities (presto_attention_backward). Everything lives in
 * one arena allocated for the context's (B, L). */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ops.h"
#include "t5.h"
#include "t5_internal.h"

struct presto_t5_train {
	presto_t5 *m;
	int B, L;
	int ready;             /* a forward filled the arena */
	int has_mask;
	float *arena;
	t5_layer_bufs *lb;     /* [num_layers] */
	t5_run_bufs rb;
	int32_t *ids;          /* [N] copy of the forward's ids; rb.bk follows it */
	float *mask;           /* [N] copy of the forward's mask */
	double *drel;          /* [num_buckets * H] scatter-add accumulator */
	/* backward scratch */
	float *dh, *dx;        /* [N, D] */
	float *dq, *dk, *dv, *datt; /* [N, I] */
	float *g, *dhid, *dg, *df2; /* [N, F] (g, df2: gated only) */
	float *dbias;          /* [H, L, L] */
};

/* ---- arena ---- */


static void carve_all(presto_t5_train *t, presto_carver *cv)
{
	const presto_t5_config *c = &t->m->c;
	size_t N = (size_t)t->B * t->L, NL = (size_t)t->L * t->L;
	size_t D = (size_t)c->d_model, I = (size_t)c->num_heads * c->d_kv, F = (size_t)c->d_ff;
	size_t HNL = NL * (size_t)c->num_heads;
	if (HNL / (size_t)c->num_heads != NL)
		cv->overflow = 1;
	for (int i = 0; i < c->num_layers; i++) {
		t5_layer_bufs *lb = &t->lb[i];
		lb->h0 = presto_carve(cv, N * D);
		lb->h1 = presto_carve(cv, N * D);
		lb->q = presto_carve(cv, N * I);
		lb->k = presto_carve(cv, N * I);
		lb->v = presto_carve(cv, N * I);
		lb->att = presto_carve(cv, N * I);
		lb->f1 = presto_carve(cv, N * F);
		lb->f2 = c->gated ? presto_carve(cv, N * F) : NULL;
	}
	t->rb.h = presto_carve(cv, N * D);
	t->rb.x = presto_carve(cv, N * D);
	t->rb.tmp = presto_carve(cv, N * D);
	t->rb.bias = presto_carve(cv, HNL);
	float *hid = presto_carve(cv, N * F);
	for (int i = 0; i < c->num_layers; i++)
		t->lb[i].hid = hid;
	t->mask = presto_carve(cv, N);
	t->dh = presto_carve(cv, N * D);
	t->dx = presto_carve(cv, N * D);
	t->dq = presto_carve(cv, N * I);
	t->dk = presto_carve(cv, N * I);
	t->dv = presto_carve(cv, N * I);
	t->datt = presto_carve(cv, N * I);
	t->g = c->gated ? presto_carve(cv, N * F) : NULL;
	t->dhid = presto_carve(cv, N * F);
	t->dg = presto_carve(cv, N * F);
	t->df2 = c->gated ? presto_carve(cv, N * F) : NULL;
	t->dbias = presto_carve(cv, HNL);
}

presto_status presto_t5_train_new(presto_t5 *m, int B, int L, presto_t5_train **out)
{
	*out = NULL;
	const presto_t5_config *c = &m->c;
	if (B <= 0 || L <= 0)
		return presto_error_set(PRESTO_EINVAL, "t5 training: empty batch (B %d, L %d)", B, L);
	if ((long long)B * L > INT_MAX || (long long)L * L > INT_MAX)
		return presto_error_set(PRESTO_EINVAL, "t5 training: batch of %d x %d tokens is too large", B, L);
	presto_t5_train *t = presto_calloc(1, sizeof *t);
	if (!t)
		return PRESTO_ENOMEM;
	t->m = m;
	t->B = B;
	t->L = L;
	size_t N = (size_t)B * L, NL = (size_t)L * L;
	t->lb = presto_calloc((size_t)c->num_layers, sizeof *t->lb);
	t->ids = presto_calloc(N + NL, sizeof(int32_t));
	t->drel = presto_calloc((size_t)c->num_buckets * c->num_heads, sizeof(double));
	if (!t->lb || !t->ids || !t->drel) {
		presto_t5_train_free(t);
		return PRESTO_ENOMEM;
	}
	t->rb.bk = t->ids + N;
	t->rb.layer = t->lb;
	t->rb.per_layer = 1;
	presto_carver cv = {NULL, 0, 0};
	carve_all(t, &cv);
	if (cv.overflow || cv.used > SIZE_MAX / sizeof(float) - 16) {
		presto_t5_train_free(t);
		return presto_error_set(PRESTO_ENOMEM, "t5 training activations: size overflow");
	}
	float *p = presto_falloc(cv.used + 16);
	if (!p) {
		presto_t5_train_free(t);
		return presto_error_wrap(PRESTO_ENOMEM, "t5 training activations (%zu MiB): ",
					 cv.used * sizeof(float) >> 20);
	}
	t->arena = p;
	cv.base = (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
	cv.used = 0;
	carve_all(t, &cv);
	*out = t;
	return PRESTO_OK;
}

void presto_t5_train_free(presto_t5_train *t)
{
	if (!t)
		return;
	free(t->arena);
	free(t->lb);
	free(t->ids);
	free(t->drel);
	free(t);
}

/* ---- forward ---- */

presto_status presto_t5_train_forward(presto_t5_train *t, float *out, const int32_t *ids, const float *mask)
{
	size_t N = (size_t)t->B * t->L;
	t->ready = 0;
	memcpy(t->ids, ids, sizeof(int32_t) * N);
	t->has_mask = mask != NULL;
	if (mask)
		memcpy(t->mask, mask, sizeof(float) * N);
	PRESTO_TRY(presto_t5_run(t->m, out, t->ids, t->has_mask ? t->mask : NULL, t->B, t->L, NULL, NULL, &t->rb));
	t->ready = 1;
	return PRESTO_OK;
}

/* ---- backward ---- */

/* The gradient slot of weight w in dparams, or NULL (no gradient wanted, or
 * w is not a trainable entry of the bound table). */
static float *grad_of(const presto_t5 *m, float *dparams, const float *w)
{
	return m->ps ? presto_params_grad_slot(m->ps, m->pbase, dparams, w) : NULL;
}

static void zero(float *p, size_t n) { memset(p, 0, sizeof(float) * n); }

/* Block i: t->dh holds dL/d(block output) and becomes dL/d(block input);
 * the position-bias gradient accumulates into t->dbias (when wanted). */
static void block_backward(presto_t5_train *t, int i, float *dparams, int want_dbias)
{
	const presto_t5 *m = t->m;
	const presto_t5_config *c = &m->c;
	const t5_block *b = &m->blocks[i];
	const t5_layer_bufs *s = &t->lb[i];
	int B = t->B, L = t->L, rows = B * L;
	int D = c->d_model, H = c->num_heads, Dh = c->d_kv, I = H * Dh, F = c->d_ff;
	size_t N = (size_t)rows, nd = N * D, ni = N * I, nf = N * F;
	float *x = t->rb.x, *hid = s->hid;
#define GR(w) grad_of(m, dparams, (w))

	/* feed-forward: out = h1 + wo(act(RMS(h1) ln1)) */
	presto_rmsnorm_forward(x, s->h1, b->ln1, rows, D, c->eps);
	if (c->gated) {
		presto_gelu_tanh_forward(t->g, s->f1, nf);
		presto_mul_forward(hid, t->g, s->f2, nf);
	} else {
		presto_relu_forward(hid, s->f1, nf);
	}
	zero(t->dhid, nf);
	presto_linear_backward(t->dhid, GR(b->wo), NULL, t->dh, hid, b->wo, rows, F, D);
	float *df1 = t->dg;
	if (c->gated) {
		/* hid = gelu(f1) f2: dg = dhid f2, df2 = dhid gelu(f1); df1 = gelu'(f1) dg */
		zero(t->dg, nf);
		zero(t->df2, nf);
		presto_mul_backward(t->dg, t->df2, t->dhid, t->g, s->f2, nf);
		df1 = t->dhid;
		zero(df1, nf);
		presto_gelu_tanh_backward(df1, t->dg, s->f1, nf);
	} else {
		zero(df1, nf);
		presto_relu_backward(df1, t->dhid, s->f1, nf);
	}
	zero(t->dx, nd);
	presto_linear_backward(t->dx, GR(b->wi), NULL, df1, x, b->wi, rows, D, F);
	if (c->gated)
		presto_linear_backward(t->dx, GR(b->wi1), NULL, t->df2, x, b->wi1, rows, D, F);
	presto_rmsnorm_backward(t->dh, GR(b->ln1), t->dx, s->h1, b->ln1, rows, D, c->eps);

	/* self-attention: h1 = h0 + o(attn(q, k, v; bias, mask)), q = RMS(h0) ln0 Wq^T, ... */
	presto_rmsnorm_forward(x, s->h0, b->ln0, rows, D, c->eps);
	zero(t->datt, ni);
	presto_linear_backward(t->datt, GR(b->o), NULL, t->dh, s->att, b->o, rows, I, D);
	zero(t->dq, ni);
	zero(t->dk, ni);
	zero(t->dv, ni);
	presto_attention_backward(t->dq, t->dk, t->dv, want_dbias ? t->dbias : NULL, t->datt, s->q, s->k, s->v, B, L,
				  L, H, H, Dh, I, I, I, 1.0f, t->rb.bias, t->has_mask ? t->mask : NULL);
	zero(t->dx, nd);
	presto_linear_backward(t->dx, GR(b->q), NULL, t->dq, x, b->q, rows, D, I);
	presto_linear_backward(t->dx, GR(b->k), NULL, t->dk, x, b->k, rows, D, I);
	presto_linear_backward(t->dx, GR(b->v), NULL, t->dv, x, b->v, rows, D, I);
	presto_rmsnorm_backward(t->dh, GR(b->ln0), t->dx, s->h0, b->ln0, rows, D, c->eps);
#undef GR
}

presto_status presto_t5_train_backward(presto_t5_train *t, const float *dout, float *dparams)
{
	const presto_t5 *m = t->m;
	const presto_t5_config *c = &m->c;
	if (!t->ready)
		return presto_error_set(PRESTO_EINVAL, "t5 backward: no training forward to go back through");
	if (!dparams)
		return PRESTO_OK; /* nothing else has a gradient */
	if (!m->ps)
		return presto_error_set(PRESTO_EINVAL,
					"t5 backward: parameter gradients need a model bound to a parameter table");
	int rows = t->B * t->L, L = t->L, D = c->d_model, H = c->num_heads;
	size_t N = (size_t)rows, NL = (size_t)L * L;
	float *drel = grad_of(m, dparams, m->rel_bias);

	/* final norm: out = RMS(h) final_ln */
	zero(t->dh, N * D);
	presto_rmsnorm_backward(t->dh, grad_of(m, dparams, m->final_ln), dout, t->rb.h, m->final_ln, rows, D, c->eps);

	if (drel)
		zero(t->dbias, NL * H);
	for (int i = c->num_layers - 1; i >= 0; i--)
		block_backward(t, i, dparams, drel != NULL);

	/* embedding: h[n] = shared[ids[n]] */
	float *demb = grad_of(m, dparams, m->shared);
	if (demb)
		for (size_t n = 0; n < N; n++)
			presto_add_inplace(demb + (size_t)t->ids[n] * D, t->dh + n * D, (size_t)D);

	/* position bias: bias[h, e] = rel_bias[bk[e], h] */
	if (drel) {
		size_t nb = (size_t)c->num_buckets * H;
		memset(t->drel, 0, sizeof(double) * nb);
		for (int hh = 0; hh < H; hh++)
			for (size_t e = 0; e < NL; e++)
				t->drel[(size_t)t->rb.bk[e] * H + hh] += t->dbias[hh * NL + e];
		for (size_t j = 0; j < nb; j++)
			drel[j] += (float)t->drel[j];
	}
	return PRESTO_OK;
}

/* test_ops_grad.c - finite-difference checks of every backward pass of the
 * transformer ops (lib/ops/{linear,norm,act,rope,attention}.c) and of the
 * whole DiT (lib/dit.c) on tiny random configurations.
 *
 * Each check takes L = sum_i y_i r_i (r random, so dL/dy = r, L summed in
 * double), perturbs inputs and parameters by +-h, and compares the central
 * difference with the analytic gradient; the error is max |num - ana| over
 * max |ana| (a wrong gradient is off by O(1)). Gradient buffers start at a
 * non-zero value that is subtracted afterwards, which also checks that the
 * backwards accumulate. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit.h"
#include "ops.h"
#include "params.h"

#include "check.h"
#include "testrand.h"
#include "randparams.h"
#include "fdcheck.h"

#define PRE 0.25f /* what every gradient buffer holds before a backward */

TEST_RAND_SEED(0x9e3779b97f4a7c15ull);
static void unpre(float *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g[i] -= PRE;
}

/* ---- linear ---- */

typedef struct {
	int N, In, O;
	float *x, *w, *b;
} lin_ctx;
static void lin_fwd(void *c, float *y)
{
	lin_ctx *l = c;
	presto_linear_forward(y, l->x, l->w, l->b, l->N, l->In, l->O);
}
static void test_linear(void)
{
	lin_ctx l = {7, 5, 6, NULL, NULL, NULL};
	size_t nx = (size_t)l.N * l.In, nw = (size_t)l.O * l.In, ny = (size_t)l.N * l.O;
	l.x = vec(nx, 1), l.w = vec(nw, 0.5f), l.b = vec(l.O, 0.1f);
	float *y = vec(ny, 0), *r = vec(ny, 1);
	float *dx = fill(nx, PRE), *dw = fill(nw, PRE), *db = fill(l.O, PRE);
	presto_linear_backward(dx, dw, db, r, l.x, l.w, l.N, l.In, l.O);
	unpre(dx, nx), unpre(dw, nw), unpre(db, l.O);
	problem p = {.f = lin_fwd, .ctx = &l, .y = y, .r = r, .ny = ny};
	fd_check(&p, "linear dx", l.x, dx, nx, 1e-2f, 1e-3, 0);
	fd_check(&p, "linear dW", l.w, dw, nw, 1e-2f, 1e-3, 0);
	fd_check(&p, "linear db", l.b, db, l.O, 1e-2f, 1e-3, 0);
	free(l.x), free(l.w), free(l.b), free(y), free(r), free(dx), free(dw), free(db);
}

/* ---- norms ---- */

typedef struct {
	int N, D, rms;
	float eps;
	float *x, *g, *b;
} norm_ctx;
static void norm_fwd(void *c, float *y)
{
	norm_ctx *n = c;
	if (n->rms)
		presto_rmsnorm_forward(y, n->x, n->g, n->N, n->D, n->eps);
	else
		presto_layernorm_forward(y, n->x, n->g, n->b, n->N, n->D, n->eps);
}
static void test_norms(void)
{
	for (int rms = 0; rms < 2; rms++)
		for (int affine = 0; affine < 2; affine++) {
			norm_ctx n = {5, 12, rms, rms ? 1e-6f : 1e-5f, NULL, NULL, NULL};
			size_t nx = (size_t)n.N * n.D;
			n.x = vec(nx, 1);
			for (int i = 0; i < n.D; i++) /* one row with a non-zero mean and a large scale */
				n.x[i] = 3.0f + 2.0f * n.x[i];
			n.g = affine ? vec(n.D, 0.3f) : NULL;
			n.b = affine && !rms ? vec(n.D, 0.1f) : NULL;
			for (int i = 0; affine && i < n.D; i++)
				n.g[i] += 1.0f;
			float *y = vec(nx, 0), *r = vec(nx, 1);
			float *dx = fill(nx, PRE), *dg = fill(n.D, PRE), *db = fill(n.D, PRE);
			if (rms)
				presto_rmsnorm_backward(dx, affine ? dg : NULL, r, n.x, n.g, n.N, n.D, n.eps);
			else
				presto_layernorm_backward(dx, affine ? dg : NULL, affine ? db : NULL, r, n.x, n.g, n.N, n.D,
							  n.eps);
			unpre(dx, nx), unpre(dg, n.D), unpre(db, n.D);
			problem p = {.f = norm_fwd, .ctx = &n, .y = y, .r = r, .ny = nx};
			char what[64];
			const char *name = rms ? "rmsnorm" : "layernorm";
			snprintf(what, sizeof what, "%s%s dx", name, affine ? "" : " (no affine)");
			fd_check(&p, what, n.x, dx, nx, 2e-3f, 2e-3, 0);
			if (affine) {
				snprintf(what, sizeof what, "%s d%s", name, rms ? "w" : "gamma");
				fd_check(&p, what, n.g, dg, n.D, 2e-3f, 2e-3, 0);
			}
			if (affine && !rms)
				fd_check(&p, "layernorm dbeta", n.b, db, n.D, 2e-3f, 2e-3, 0);
			free(n.x), free(n.g), free(n.b), free(y), free(r), free(dx), free(dg), free(db);
		}
}

/* ---- element-wise activations, SwiGLU, mul ---- */

typedef struct {
	int which;
	size_t n;
	float *x, *b;
} act_ctx;
static void act_fwd(void *c, float *y)
{
	act_ctx *a = c;
	switch (a->which) {
	case 0: presto_silu_forward(y, a->x, a->n); break;
	case 1: presto_relu_forward(y, a->x, a->n); break;
	case 2: presto_gelu_tanh_forward(y, a->x, a->n); break;
	case 3: presto_gelu_forward(y, a->x, a->n); break;
	case 4: presto_swiglu_forward(y, a->x, (int)a->n, 9); break;
	case 5: presto_mul_forward(y, a->x, a->b, a->n); break;
	}
}
static void test_acts(void)
{
	static const char *const names[] = {"silu", "relu", "gelu_tanh", "gelu", "swiglu", "mul"};
	for (int w = 0; w < 6; w++) {
		act_ctx a = {w, 64, NULL, NULL};
		size_t nx = w == 4 ? a.n * 18 : a.n, ny = w == 4 ? a.n * 9 : a.n;
		a.x = vec(nx, 2);
		for (size_t i = 0; w == 1 && i < nx; i++) /* keep away from relu's kink */
			if (fabsf(a.x[i]) < 0.05f)
				a.x[i] = 0.1f;
		a.b = vec(nx, 1);
		float *y = vec(ny, 0), *r = vec(ny, 1), *dx = fill(nx, PRE), *db = fill(nx, PRE);
		switch (w) {
		case 0: presto_silu_backward(dx, r, a.x, a.n); break;
		case 1: presto_relu_backward(dx, r, a.x, a.n); break;
		case 2: presto_gelu_tanh_backward(dx, r, a.x, a.n); break;
		case 3: presto_gelu_backward(dx, r, a.x, a.n); break;
		case 4: presto_swiglu_backward(dx, r, a.x, (int)a.n, 9); break;
		case 5: presto_mul_backward(dx, db, r, a.x, a.b, a.n); break;
		}
		unpre(dx, nx), unpre(db, nx);
		problem p = {.f = act_fwd, .ctx = &a, .y = y, .r = r, .ny = ny};
		char what[64];
		snprintf(what, sizeof what, "%s dx", names[w]);
		fd_check(&p, what, a.x, dx, nx, 1e-2f, 1e-3, 0);
		if (w == 5)
			fd_check(&p, "mul db", a.b, db, nx, 1e-2f, 1e-3, 0);
		free(a.x), free(a.b), free(y), free(r), free(dx), free(db);
	}
}

/* ---- rotary embedding ---- */

typedef struct {
	int T, H, Dh, stride, rot, pos0;
	float *x, *inv;
} rope_ctx;
static void rope_fwd(void *c, float *y)
{
	rope_ctx *r = c;
	size_t n = (size_t)r->T * r->stride;
	memcpy(y, r->x, sizeof(float) * n);
	presto_rope_forward(y, r->T, r->H, r->Dh, r->stride, r->rot, r->inv, r->pos0);
}
static void test_rope(void)
{
	/* partial rotation (12 of 16 dims), padded token stride, offset positions */
	rope_ctx c = {6, 3, 16, 3 * 16 + 5, 12, 7, NULL, NULL};
	size_t n = (size_t)c.T * c.stride;
	c.x = vec(n, 1);
	c.inv = malloc(sizeof(float) * (size_t)c.rot / 2);
	for (int j = 0; j < c.rot / 2; j++)
		c.inv[j] = 1.0f / powf(10000.0f, (float)(2 * j) / (float)c.rot);
	float *y = vec(n, 0), *r = vec(n, 1), *g = malloc(sizeof(float) * n);
	memcpy(g, r, sizeof(float) * n);
	presto_rope_backward(g, c.T, c.H, c.Dh, c.stride, c.rot, c.inv, c.pos0);
	problem p = {.f = rope_fwd, .ctx = &c, .y = y, .r = r, .ny = n};
	fd_check(&p, "rope dx (in place, partial dims)", c.x, g, n, 1e-2f, 1e-3, 0);
	free(c.x), free(c.inv), free(y), free(r), free(g);
}

/* ---- attention ---- */

typedef struct {
	int B, Tq, Tk, H, KVH, Dh, qs, ks, vs;
	float scale;
	float *q, *k, *v, *bias, *mask;
} attn_ctx;
static void attn_fwd(void *c, float *y)
{
	attn_ctx *a = c;
	presto_attention_forward(y, a->q, a->k, a->v, a->B, a->Tq, a->Tk, a->H, a->KVH, a->Dh, a->qs, a->ks, a->vs,
				 a->scale, a->bias, a->mask);
}
static void test_attention_case(const char *label, int B, int Tq, int Tk, int H, int KVH, int Dh, int pad, int bias,
				int mask)
{
	attn_ctx a = {B, Tq, Tk, H, KVH, Dh, H * Dh + pad, KVH * Dh + 2 * pad, KVH * Dh + pad, 1.0f / sqrtf((float)Dh),
		      NULL, NULL, NULL, NULL, NULL};
	size_t nq = (size_t)B * Tq * a.qs, nk = (size_t)B * Tk * a.ks, nv = (size_t)B * Tk * a.vs;
	size_t no = (size_t)B * Tq * H * Dh, nb = (size_t)H * Tq * Tk;
	a.q = vec(nq, 1), a.k = vec(nk, 1), a.v = vec(nv, 1);
	if (bias)
		a.bias = vec(nb, 0.5f);
	if (mask) {
		a.mask = fill((size_t)B * Tk, 1);
		a.mask[1] = a.mask[Tk - 1] = 0; /* item 0: two keys masked */
		for (int j = 0; B > 2 && j < Tk; j++)
			a.mask[2 * Tk + j] = 0; /* item 2: every key masked */
	}
	float *y = vec(no, 0), *r = vec(no, 1);
	float *dq = fill(nq, PRE), *dk = fill(nk, PRE), *dv = fill(nv, PRE), *db = fill(nb, PRE);
	presto_attention_backward(dq, dk, dv, bias ? db : NULL, r, a.q, a.k, a.v, B, Tq, Tk, H, KVH, Dh, a.qs, a.ks, a.vs,
				  a.scale, a.bias, a.mask);
	unpre(dq, nq), unpre(dk, nk), unpre(dv, nv), unpre(db, nb);
	problem p = {.f = attn_fwd, .ctx = &a, .y = y, .r = r, .ny = no};
	char what[96];
	snprintf(what, sizeof what, "attention %s dq", label);
	fd_check(&p, what, a.q, dq, nq, 1e-2f, 2e-3, 0);
	snprintf(what, sizeof what, "attention %s dk", label);
	fd_check(&p, what, a.k, dk, nk, 1e-2f, 2e-3, 0);
	snprintf(what, sizeof what, "attention %s dv", label);
	fd_check(&p, what, a.v, dv, nv, 1e-2f, 2e-3, 0);
	if (bias) {
		snprintf(what, sizeof what, "attention %s dbias", label);
		fd_check(&p, what, a.bias, db, nb, 1e-2f, 2e-3, 0);
	}
	free(a.q), free(a.k), free(a.v), free(a.bias), free(a.mask), free(y), free(r), free(dq), free(dk), free(dv);
	free(db);
}

/* q, k, v in one fused [N, 3D] buffer and their gradients in another, as the
 * DiT's self-attention uses them. */
typedef struct {
	int B, T, H, Dh;
	float *qkv;
} fused_ctx;
static void fused_fwd(void *c, float *y)
{
	fused_ctx *f = c;
	int D = f->H * f->Dh;
	presto_attention_forward(y, f->qkv, f->qkv + D, f->qkv + 2 * D, f->B, f->T, f->T, f->H, f->H, f->Dh, 3 * D,
				 3 * D, 3 * D, 0.5f, NULL, NULL);
}
static void test_attention(void)
{
	test_attention_case("(GQA 4/2, padded strides)", 2, 5, 7, 4, 2, 8, 3, 0, 0);
	test_attention_case("(GQA 6/3, bias, key mask)", 3, 4, 6, 6, 3, 4, 1, 1, 1);
	test_attention_case("(MQA 3/1, bias)", 2, 6, 5, 3, 1, 4, 0, 1, 0);

	fused_ctx f = {2, 5, 2, 4, NULL};
	int D = f.H * f.Dh;
	size_t n = (size_t)f.B * f.T * 3 * D, no = (size_t)f.B * f.T * D;
	f.qkv = vec(n, 1);
	float *y = vec(no, 0), *r = vec(no, 1), *g = fill(n, PRE);
	presto_attention_backward(g, g + D, g + 2 * D, NULL, r, f.qkv, f.qkv + D, f.qkv + 2 * D, f.B, f.T, f.T, f.H, f.H,
				  f.Dh, 3 * D, 3 * D, 3 * D, 0.5f, NULL, NULL);
	unpre(g, n);
	problem p = {.f = fused_fwd, .ctx = &f, .y = y, .r = r, .ny = no};
	fd_check(&p, "attention (fused qkv) dqkv", f.qkv, g, n, 1e-2f, 2e-3, 0);
	free(f.qkv), free(y), free(r), free(g);
}

/* ---- Fourier features ---- */

typedef struct {
	int N, F;
	float *t, *w;
} ff_ctx;
static void ff_fwd(void *c, float *y)
{
	ff_ctx *f = c;
	presto_fourier_features_forward(y, f->t, f->w, f->N, f->F);
}
static void test_fourier(void)
{
	ff_ctx f = {3, 8, NULL, NULL};
	f.t = vec(f.N, 0.3f), f.w = vec(f.F, 1);
	size_t ny = (size_t)f.N * 2 * f.F;
	float *y = vec(ny, 0), *r = vec(ny, 1), *dt = fill(f.N, PRE), *dw = fill(f.F, PRE);
	presto_fourier_features_backward(dt, dw, r, f.t, f.w, f.N, f.F);
	unpre(dt, f.N), unpre(dw, f.F);
	problem p = {.f = ff_fwd, .ctx = &f, .y = y, .r = r, .ny = ny};
	fd_check(&p, "fourier features dt", f.t, dt, f.N, 1e-3f, 2e-3, 0);
	fd_check(&p, "fourier features dW", f.w, dw, f.F, 1e-3f, 2e-3, 0);
	free(f.t), free(f.w), free(y), free(r), free(dt), free(dw);
}

/* ---- the whole DiT ---- */

typedef struct {
	presto_dit_train *tr;
	const float *x, *t, *cross, *global;
	int S, B, T, hid; /* hid: block whose hidden state also enters L (-2: none) */
	const unsigned char *mask;
	const float *r2;  /* dL/d(hidden) */
	size_t nh;
} dit_ctx;

static void dit_fwd(void *c, float *y)
{
	dit_ctx *d = c;
	if (presto_dit_train_forward(d->tr, y, d->x, d->t, d->cross, d->S, d->global, d->B, d->T, d->mask))
		abort();
}

/* sum(hidden * r2) for the block with a hidden-state gradient */
static double dit_extra(void *c)
{
	dit_ctx *d = c;
	if (d->hid < -1)
		return 0;
	const float *h = presto_dit_train_hidden(d->tr, d->hid);
	double acc = 0;
	for (size_t i = 0; i < d->nh; i++)
		acc += (double)h[i] * d->r2[i];
	return acc;
}

/* One configuration: JSON of the diffusion config; B, T, S; global on/off;
 * a block mask (or NULL); the block whose hidden state also gets a gradient
 * (-2: none). */
static void test_dit_case(const char *label, const char *json, int B, int T, int S, int use_global,
			  const unsigned char *mask, int hid)
{
	json_error_t jerr;
	json_t *js = json_loads(json, 0, &jerr);
	presto_dit_config cfg;
	presto_params ps;
	presto_params_init(&ps);
	presto_dit *m = NULL;
	presto_dit_train *tr = NULL;
	if (!js || presto_dit_config_from_json(js, &cfg) || presto_dit_params(&cfg, "model.model.", &ps) ||
	    presto_params_alloc(&ps) || presto_dit_params_defaults(&cfg, "model.model.", &ps, ps.data) ||
	    presto_dit_bind(&ps, ps.data, "model.model.", &cfg, &m) || presto_dit_train_new(m, &tr)) {
		CHECK(0, "%s: set-up (%s)", label, js ? presto_error() : jerr.text);
		json_decref(js);
		return;
	}
	json_decref(js);
	int failures0 = failures;
	randomize_params(&ps);
	int C = cfg.io_channels, Cc = cfg.cond_token_dim, G = cfg.global_cond_dim, D = cfg.embed_dim;
	size_t nx = (size_t)B * C * T, nc = (size_t)B * S * Cc, ng = (size_t)B * G, nh = (size_t)B * (T + 1) * D;
	float *x = vec(nx, 1), *t = vec(B, 0), *cross = vec(nc, 1), *global = vec(ng, 1);
	for (int b = 0; b < B; b++)
		t[b] = 0.1f + 0.8f * (float)unif();
	float *y = vec(nx, 0), *y2 = vec(nx, 0), *r = vec(nx, 1), *r2 = vec(nh, 0.3f);
	float *dx = fill(nx, PRE), *dt = fill(B, PRE), *dc = fill(nc, PRE), *dg = fill(ng, PRE);
	float *dp = presto_params_buffer(&ps);
	dit_ctx dc_ = {tr, x, t, S ? cross : NULL, use_global ? global : NULL, S, B, T, hid, mask, r2, nh};
	char what[200];

	/* the training forward is the inference forward, bit for bit */
	presto_dit_opts o = {.block_mask = mask};
	presto_status rc = presto_dit_forward(m, y2, x, t, dc_.cross, S, dc_.global, B, T, &o);
	dc_.hid = -2;
	dit_fwd(&dc_, y);
	dc_.hid = hid;
	snprintf(what, sizeof what, "DiT %s: training forward == inference forward (bits)", label);
	CHECK(!rc && !memcmp(y, y2, sizeof(float) * nx), "%s", what);

	/* backward (dparams starts at 0; the other gradients at PRE) */
	dit_fwd(&dc_, y);
	if (hid > -2)
		presto_dit_train_set_dhidden(tr, hid, r2);
	rc = presto_dit_train_backward(tr, r, dp, dx, dt, S ? dc : NULL, use_global ? dg : NULL);
	CHECK(!rc, "DiT %s: backward runs", label);
	unpre(dx, nx), unpre(dt, B), unpre(dc, nc), unpre(dg, ng);

	problem p = {.f = dit_fwd, .ctx = &dc_, .y = y, .r = r, .ny = nx, .extra = dit_extra, .quiet = 1};
	int bad_buffers = 0, skipped_clean = 1;
	for (int i = 0; i < ps.n; i++) {
		presto_param_info *pi = &ps.p[i];
		const float *g = dp + pi->offset;
		int nonzero = 0;
		for (size_t j = 0; j < pi->numel; j++)
			nonzero |= g[j] != 0.0f;
		int blk = -1;
		if (sscanf(pi->name, "model.model.transformer.layers.%d.", &blk) != 1)
			blk = -1;
		if (!pi->trainable) {
			bad_buffers += nonzero;
			continue;
		}
		if (blk >= 0 && mask && !mask[blk]) {
			skipped_clean &= !nonzero;
			continue;
		}
		snprintf(what, sizeof what, "DiT %s: %s", label, pi->name + strlen("model.model."));
		fd_dir(&p, what, ps.data + pi->offset, g, pi->numel, 2e-2, 2e-2);
		/* the q, k (and v) rows of fused projections on their own: the
		 * v path alone would dominate the whole tensor's derivative */
		int parts = strstr(pi->name, "to_qkv.") ? 3 : strstr(pi->name, "to_kv.") ? 2 : 1;
		size_t rows = pi->numel / (size_t)parts;
		for (int q = 0; parts > 1 && q < parts; q++) {
			snprintf(what, sizeof what, "DiT %s: %s rows of %s", label, "q\0k\0v" + 2 * (q + 3 - parts),
				 pi->name + strlen("model.model."));
			fd_dir(&p, what, ps.data + pi->offset + q * rows, g + q * rows, rows, 2e-2, 2e-2);
		}
	}
	CHECK(!bad_buffers, "DiT %s: no gradient written for buffers", label);
	if (mask)
		CHECK(skipped_clean, "DiT %s: no gradient for the skipped blocks", label);
	snprintf(what, sizeof what, "DiT %s: dx", label);
	fd_dir(&p, what, x, dx, nx, 2e-3, 2e-2);
	fd_check(&p, what, x, dx, nx, 2e-2f, 3e-2, 6);
	snprintf(what, sizeof what, "DiT %s: dt", label);
	fd_check(&p, what, t, dt, B, 1e-3f, 3e-2, 0);
	if (S) {
		snprintf(what, sizeof what, "DiT %s: dcross", label);
		fd_dir(&p, what, cross, dc, nc, 2e-3, 2e-2);
		fd_check(&p, what, cross, dc, nc, 2e-2f, 3e-2, 6);
	}
	if (use_global && G) {
		snprintf(what, sizeof what, "DiT %s: dglobal", label);
		fd_dir(&p, what, global, dg, ng, 2e-3, 2e-2);
		fd_check(&p, what, global, dg, ng, 2e-2f, 3e-2, 6);
	}
	CHECK(failures == failures0, "DiT %s: every parameter and input gradient matches finite differences", label);

	free(x), free(t), free(cross), free(global), free(y), free(y2), free(r), free(r2), free(dx), free(dt);
	free(dc), free(dg), free(dp);
	presto_dit_train_free(tr);
	presto_dit_free(m);
	presto_params_free(&ps);
}

static void test_dit(void)
{
	/* SAO 1.0-like: narrow context without projection (grouped-query
	 * cross-attention), global conditioning, partial RoPE (32 of 64 dims),
	 * a skipped middle block, a gradient on the first block's output too */
	static const unsigned char skip_mid[3] = {1, 0, 1};
	test_dit_case("sao-like", "{\"io_channels\": 3, \"embed_dim\": 128, \"depth\": 3, \"num_heads\": 2,"
				  " \"cond_token_dim\": 64, \"global_cond_dim\": 24, \"project_cond_tokens\": false,"
				  " \"ff_kwargs\": {\"mult\": 2}}",
		      2, 5, 3, 1, skip_mid, 0);
	/* SAO Small-like: projected context, qk LayerNorm, trainable LayerNorm
	 * beta, no global input */
	test_dit_case("saos-like", "{\"io_channels\": 2, \"embed_dim\": 64, \"depth\": 2, \"num_heads\": 2,"
				   " \"cond_token_dim\": 20, \"global_cond_dim\": 0, \"attn_kwargs\": {\"qk_norm\": \"ln\"},"
				   " \"norm_kwargs\": {\"bias\": true}, \"ff_kwargs\": {\"mult\": 1}}",
		      2, 4, 5, 0, NULL, -2);
	/* l2 qk-norm, feed-forward without biases, no context, global token */
	test_dit_case("l2/no-context", "{\"io_channels\": 2, \"embed_dim\": 64, \"depth\": 1, \"num_heads\": 1,"
				       " \"global_cond_dim\": 8, \"attn_kwargs\": {\"qk_norm\": \"l2\"},"
				       " \"ff_kwargs\": {\"mult\": 1, \"no_bias\": true}}",
		      1, 6, 0, 1, NULL, -1);
}

int main(void)
{
	test_linear();
	test_norms();
	test_acts();
	test_rope();
	test_attention();
	test_fourier();
	test_dit();
	return check_status();
}

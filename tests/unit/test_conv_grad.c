/* test_conv_grad.c - finite-difference checks of the backward passes of
 * the convolution ops (strides, dilations, padding, odd lengths, the
 * pointwise path), SnakeBeta, weight-norm folding, the VAE bottleneck / KL
 * and whole Oobleck encoder and decoder on tiny random configs (the
 * grad_oobleck fixture covers only a tanh-less decoder at scale 1).
 *
 * Each check: loss = sum(r * output) with random r in double, the analytic
 * gradient from the backward with dy = r accumulated onto random prior
 * contents (so "+=" is checked too), the numerical one by central
 * differences (five-point stencil); error = max |analytic - numerical| /
 * max |numerical| over the tensor (for whole networks with a floor of 1% of
 * the loss's largest gradient: the fp32 noise of the loss is absolute). Also:
 * a training forward equals the inference forward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oobleck.h"
#include "ops.h"
#include "rng.h"

#include "check.h"

#define TOL 2e-3     /* one op */
#define NET_TOL 5e-3 /* a whole encoder / decoder (the fp32 noise of the loss is near 1e-3 of the floor) */

static uint64_t stream_ctr = 1;

static float *randn(size_t n, float sd)
{
	float *p = malloc(sizeof(float) * (n ? n : 1));
	presto_randn(p, n, 20240917, stream_ctr++, 0);
	for (size_t i = 0; i < n; i++)
		p[i] *= sd;
	return p;
}

static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static double dot(const float *a, const float *r, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * r[i];
	return s;
}

typedef double (*lossfn)(void *ctx);

/* Largest |an - num| over p[0..n), num the derivative of f by the
 * five-point stencil (truncation O(eps^4), so that eps can be large against
 * the fp32 rounding of the loss); *mx = largest |num|. */
static double fd_diff(lossfn f, void *ctx, float *p, const float *an, size_t n, float eps, double *mx)
{
	double worst = 0;
	*mx = 0;
	for (size_t i = 0; i < n; i++) {
		float save = p[i];
		double v[4];
		const float k[4] = {-2, -1, 1, 2};
		for (int j = 0; j < 4; j++) {
			p[i] = save + k[j] * eps;
			v[j] = f(ctx);
		}
		p[i] = save;
		double num = (8.0 * (v[2] - v[1]) - (v[3] - v[0])) / (12.0 * eps);
		worst = fmax(worst, fabs(num - an[i]));
		*mx = fmax(*mx, fabs(num));
	}
	return worst;
}

/* Normalised error max |an - num| / max(max |num|, floor); the floor is for
 * gradients that vanish or are tiny next to others of the same loss (the
 * fp32 noise of the loss is an absolute error). */
static double fd_err_floor(lossfn f, void *ctx, float *p, const float *an, size_t n, float eps, double floor)
{
	double mx, d = fd_diff(f, ctx, p, an, n, eps, &mx);
	mx = fmax(mx, floor);
	return mx > 0 ? d / mx : (d > 0 ? INFINITY : 0);
}

static double fd_err(lossfn f, void *ctx, float *p, const float *an, size_t n, float eps)
{
	return fd_err_floor(f, ctx, p, an, n, eps, 0);
}

/* an - prior: the gradient a backward added onto random prior contents */
static float *added(const float *got, const float *prior, size_t n)
{
	float *d = malloc(sizeof(float) * (n ? n : 1));
	for (size_t i = 0; i < n; i++)
		d[i] = got[i] - prior[i];
	return d;
}

/* ---- conv1d ---- */

typedef struct {
	int Cin, Cout, Tin, K, stride, pad, dil, Tout, transposed;
	float *x, *w, *b, *y, *r;
} conv_case;

static double conv_loss(void *ctx)
{
	conv_case *c = ctx;
	if (c->transposed)
		presto_conv_transpose1d_forward(c->y, c->x, c->w, c->b, c->Cin, c->Cout, c->Tin, c->K, c->stride,
						c->pad, NULL);
	else
		presto_conv1d_forward(c->y, c->x, c->w, c->b, c->Cin, c->Cout, c->Tin, c->K, c->stride, c->pad, c->dil,
				      NULL);
	return dot(c->y, c->r, (size_t)c->Cout * c->Tout);
}

static void conv_check(int transposed, int Cin, int Cout, int Tin, int K, int stride, int pad, int dil, int bias,
		       int use_work)
{
	conv_case c = {Cin, Cout, Tin, K, stride, pad, dil, 0, transposed, NULL, NULL, NULL, NULL, NULL};
	c.Tout = transposed ? presto_conv_transpose1d_out_len(Tin, K, stride, pad)
			    : presto_conv1d_out_len(Tin, K, stride, pad, dil);
	size_t nx = (size_t)Cin * Tin, nw = (size_t)Cin * Cout * K, ny = (size_t)Cout * c.Tout;
	c.x = randn(nx, 1);
	c.w = randn(nw, 0.5f);
	c.b = bias ? randn((size_t)Cout, 0.1f) : NULL;
	c.y = zeros(ny);
	c.r = randn(ny, 1);
	float *dx = randn(nx, 1), *dw = randn(nw, 1), *db = randn((size_t)Cout, 1);
	float *px = malloc(sizeof(float) * nx), *pw = malloc(sizeof(float) * nw), *pb = malloc(sizeof(float) * Cout);
	memcpy(px, dx, sizeof(float) * nx);
	memcpy(pw, dw, sizeof(float) * nw);
	memcpy(pb, db, sizeof(float) * Cout);
	size_t nwork = transposed ? presto_conv_transpose1d_backward_work_size(Cout, Tin, K)
				  : presto_conv1d_backward_work_size(Cin, Tin, K, stride, pad, dil);
	float *work = use_work ? zeros(nwork) : NULL;
	if (transposed)
		presto_conv_transpose1d_backward(dx, dw, bias ? db : NULL, c.r, c.x, c.w, Cin, Cout, Tin, K, stride, pad,
						 work);
	else
		presto_conv1d_backward(dx, dw, bias ? db : NULL, c.r, c.x, c.w, Cin, Cout, Tin, K, stride, pad, dil, work);
	float *gx = added(dx, px, nx), *gw = added(dw, pw, nw), *gb = added(db, pb, Cout);
	double ex = fd_err(conv_loss, &c, c.x, gx, nx, 0.05f);
	double ew = fd_err(conv_loss, &c, c.w, gw, nw, 0.05f);
	double eb = bias ? fd_err(conv_loss, &c, c.b, gb, Cout, 0.05f) : 0;
	int untouched = bias || !memcmp(db, pb, sizeof(float) * Cout);
	CHECK(ex < TOL && ew < TOL && eb < TOL && untouched,
	      "%s Cin %d Cout %d T %d->%d K %d stride %d pad %d dil %d%s%s: dx %.1e dw %.1e db %.1e",
	      transposed ? "conv_transpose1d" : "conv1d", Cin, Cout, Tin, c.Tout, K, stride, pad, dil,
	      bias ? "" : " no bias", use_work ? "" : " (own work)", ex, ew, eb);

	/* only some gradients asked for: the same values */
	memcpy(dw, pw, sizeof(float) * nw);
	if (transposed)
		presto_conv_transpose1d_backward(NULL, dw, NULL, c.r, c.x, c.w, Cin, Cout, Tin, K, stride, pad, work);
	else
		presto_conv1d_backward(NULL, dw, NULL, c.r, c.x, c.w, Cin, Cout, Tin, K, stride, pad, dil, work);
	float *gw2 = added(dw, pw, nw);
	double d = 0;
	for (size_t i = 0; i < nw; i++)
		d = fmax(d, fabs(gw2[i] - gw[i]));
	EXPECT(d == 0, "dw alone differs by %g", d);
	free(gw2);
	free(c.x), free(c.w), free(c.b), free(c.y), free(c.r);
	free(dx), free(dw), free(db), free(px), free(pw), free(pb), free(gx), free(gw), free(gb), free(work);
}

static void test_conv(void)
{
	/* Cin Cout Tin K stride pad dil bias work */
	conv_check(0, 3, 4, 13, 3, 1, 1, 1, 1, 1);
	conv_check(0, 2, 3, 17, 7, 1, 9, 3, 1, 1);  /* dilated, length kept */
	conv_check(0, 2, 2, 19, 7, 1, 27, 9, 1, 0); /* dilation 9, K span > T */
	conv_check(0, 3, 2, 16, 4, 2, 1, 1, 1, 1);  /* strided (encoder block, s 2) */
	conv_check(0, 2, 3, 23, 6, 3, 2, 1, 1, 1);  /* stride 3, odd length */
	conv_check(0, 4, 5, 9, 1, 1, 0, 1, 1, 1);   /* pointwise */
	conv_check(0, 4, 5, 9, 1, 1, 0, 1, 0, 0);   /* pointwise, no bias */
	conv_check(0, 3, 2, 10, 1, 2, 0, 1, 1, 1);  /* K 1 strided (im2col path) */
	conv_check(0, 2, 2, 5, 7, 1, 3, 1, 0, 1);   /* K > T */
	conv_check(0, 3, 4, 12, 3, 2, 0, 2, 1, 0);  /* stride and dilation, no pad */
	conv_check(1, 3, 2, 7, 4, 2, 1, 1, 1, 1);   /* decoder block, s 2 */
	conv_check(1, 2, 3, 5, 8, 4, 2, 1, 1, 1);   /* s 4 */
	conv_check(1, 2, 2, 7, 6, 3, 2, 1, 1, 0);   /* s 3, odd */
	conv_check(1, 2, 2, 6, 3, 1, 1, 1, 0, 1);
	conv_check(1, 3, 4, 5, 5, 3, 0, 1, 1, 1);
	conv_check(1, 2, 3, 5, 2, 3, 0, 1, 1, 1);   /* K < stride: gaps */
}

/* ---- snake ---- */

typedef struct {
	int C, T;
	float *x, *alpha, *beta, *y, *r;
} snake_case;

static double snake_loss(void *ctx)
{
	snake_case *s = ctx;
	presto_snake_beta_forward(s->y, s->x, s->alpha, s->beta, s->C, s->T);
	return dot(s->y, s->r, (size_t)s->C * s->T);
}

static void test_snake(int C, int T)
{
	snake_case s = {C, T, NULL, NULL, NULL, NULL, NULL};
	size_t n = (size_t)C * T;
	s.x = randn(n, 2);
	s.alpha = randn((size_t)C, 0.3f);
	s.beta = randn((size_t)C, 0.3f);
	s.y = zeros(n);
	s.r = randn(n, 1);
	float *dx = randn(n, 1), *da = randn((size_t)C, 1), *db = randn((size_t)C, 1);
	float *px = malloc(sizeof(float) * n), *pa = malloc(sizeof(float) * C), *pb = malloc(sizeof(float) * C);
	memcpy(px, dx, sizeof(float) * n);
	memcpy(pa, da, sizeof(float) * C);
	memcpy(pb, db, sizeof(float) * C);
	presto_snake_beta_backward(dx, da, db, s.r, s.x, s.alpha, s.beta, C, T);
	float *gx = added(dx, px, n), *ga = added(da, pa, C), *gb = added(db, pb, C);
	double ex = fd_err(snake_loss, &s, s.x, gx, n, 1e-2f);
	double ea = fd_err(snake_loss, &s, s.alpha, ga, C, 1e-2f);
	double eb = fd_err(snake_loss, &s, s.beta, gb, C, 1e-2f);
	CHECK(ex < TOL && ea < TOL && eb < TOL, "snake_beta C %d T %d: dx %.1e dalpha %.1e dbeta %.1e", C, T, ex, ea,
	      eb);
	free(s.x), free(s.alpha), free(s.beta), free(s.y), free(s.r);
	free(dx), free(da), free(db), free(px), free(pa), free(pb), free(gx), free(ga), free(gb);
}

/* ---- weight norm ---- */

typedef struct {
	int D0, rest;
	float *g, *v, *w, *r;
} wn_case;

static double wn_loss(void *ctx)
{
	wn_case *c = ctx;
	presto_weight_norm_fold(c->w, c->g, c->v, c->D0, c->rest);
	return dot(c->w, c->r, (size_t)c->D0 * c->rest);
}

static void test_weight_norm(int D0, int rest)
{
	wn_case c = {D0, rest, NULL, NULL, NULL, NULL};
	size_t n = (size_t)D0 * rest;
	c.g = randn((size_t)D0, 0.5f);
	c.v = randn(n, 1);
	c.w = zeros(n);
	c.r = randn(n, 1);
	float *dg = randn((size_t)D0, 1), *dv = randn(n, 1);
	float *pg = malloc(sizeof(float) * D0), *pv = malloc(sizeof(float) * n);
	memcpy(pg, dg, sizeof(float) * D0);
	memcpy(pv, dv, sizeof(float) * n);
	presto_weight_norm_backward(dg, dv, c.r, c.g, c.v, D0, rest);
	float *gg = added(dg, pg, D0), *gv = added(dv, pv, n);
	double eg = fd_err(wn_loss, &c, c.g, gg, D0, 1e-2f);
	/* with one column the weight is g sign(v): dv vanishes, compared to dg's size */
	double ev = fd_err_floor(wn_loss, &c, c.v, gv, n, 1e-2f, rest == 1 ? 1.0 : 0.0);
	CHECK(eg < TOL && ev < TOL, "weight_norm %d x %d: dg %.1e dv %.1e", D0, rest, eg, ev);
	free(c.g), free(c.v), free(c.w), free(c.r), free(dg), free(dv), free(pg), free(pv), free(gg), free(gv);
}

/* ---- bottleneck ---- */

typedef struct {
	presto_oobleck_config c;
	int Lz;
	float *pre, *noise, *z, *rz;
	double wkl;
} bn_case;

static double bn_loss(void *ctx)
{
	bn_case *b = ctx;
	double kl;
	presto_vae_bottleneck(&b->c, b->z, b->pre, b->noise, b->Lz, &kl);
	return dot(b->z, b->rz, (size_t)b->c.latent_dim * b->Lz) + b->wkl * kl;
}

static void test_bottleneck(float scale, int with_noise, double wkl, int with_dz)
{
	bn_case b = {.Lz = 7, .wkl = wkl};
	b.c.latent_dim = 3;
	b.c.encoder_out_dim = 6;
	b.c.scale = scale;
	size_t n = (size_t)b.c.latent_dim * b.Lz;
	b.pre = randn(2 * n, 1.5f);
	b.noise = with_noise ? randn(n, 1) : NULL;
	b.z = zeros(n);
	b.rz = with_dz ? randn(n, 1) : zeros(n);
	float *d = randn(2 * n, 1), *p = malloc(sizeof(float) * 2 * n);
	memcpy(p, d, sizeof(float) * 2 * n);
	presto_vae_bottleneck_backward(&b.c, d, with_dz ? b.rz : NULL, wkl, b.pre, b.noise, b.Lz);
	float *g = added(d, p, 2 * n);
	double e = fd_err(bn_loss, &b, b.pre, g, 2 * n, 1e-2f);
	CHECK(e < TOL, "bottleneck scale %g%s, d_kl %g%s: d_pre %.1e", scale, with_noise ? " noise" : "", wkl,
	      with_dz ? ", d_z" : "", e);
	free(b.pre), free(b.noise), free(b.z), free(b.rz), free(d), free(p), free(g);
}

/* ---- whole encoder / decoder ---- */

typedef struct {
	presto_oobleck_config c;
	presto_params ps;
	presto_vae *m;
	presto_vae_train *t;
	int dec, B, len, out_len;
	float *in, *out, *r;
	size_t nin, nout;
} net_case;

static double net_loss(void *ctx)
{
	net_case *n = ctx;
	presto_status s = n->dec ? presto_vae_decode_train(n->t, n->out, n->in, n->B, n->len)
				 : presto_vae_encode_train(n->t, n->out, n->in, n->B, n->len);
	if (s)
		return NAN;
	return dot(n->out, n->r, n->nout);
}

static void tiny_config(presto_oobleck_config *c, int final_tanh, float scale)
{
	memset(c, 0, sizeof *c);
	c->audio_channels = 2;
	c->channels = 2;
	c->n_blocks = 2;
	c->c_mults[0] = 1;
	c->c_mults[1] = 2;
	c->strides[0] = 2;
	c->strides[1] = 3;
	c->latent_dim = 2;
	c->encoder_out_dim = 4;
	c->use_snake = 1;
	c->final_tanh = final_tanh;
	c->downsampling_ratio = 6;
	c->has_encoder = c->has_decoder = 1;
	c->scale = scale;
}

/* Random parameters like the fixtures: v ~ N(0,1), g ~ U(0.25, 0.75),
 * bias ~ N(0, 0.1^2), log alpha / beta ~ N(0, 0.3^2). */
static void init_params(presto_params *ps)
{
	for (int i = 0; i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		float *d = ps->data + pi->offset;
		const char *leaf = strrchr(pi->name, '.') + 1;
		float sd = !strcmp(leaf, "weight_v") ? 1.0f : !strcmp(leaf, "bias") ? 0.1f : 0.3f;
		float *r = randn(pi->numel, sd);
		memcpy(d, r, sizeof(float) * pi->numel);
		if (!strcmp(leaf, "weight_g"))
			presto_rand(d, pi->numel, 7, stream_ctr++, 0);
		if (!strcmp(leaf, "weight_g"))
			for (size_t j = 0; j < pi->numel; j++)
				d[j] = 0.25f + 0.5f * d[j];
		free(r);
	}
}

static void test_net(int dec, int final_tanh, float scale, int B, int len, int want_dx)
{
	net_case n = {.dec = dec, .B = B, .len = len};
	tiny_config(&n.c, final_tanh, scale);
	presto_params_init(&n.ps);
	if (presto_oobleck_params(&n.c, "pretransform.model.", !dec, dec, &n.ps) || presto_params_alloc(&n.ps)) {
		CHECK(0, "parameter table: %s", presto_error());
		return;
	}
	init_params(&n.ps);
	if (presto_vae_from_params(&n.c, &n.ps, "pretransform.model.", !dec, dec, &n.m) ||
	    presto_vae_train_new(n.m, &n.t)) {
		CHECK(0, "model: %s", presto_error());
		presto_params_free(&n.ps);
		return;
	}
	int ch_in = dec ? n.c.latent_dim : n.c.audio_channels, ch_out = dec ? n.c.audio_channels : n.c.encoder_out_dim;
	n.out_len = dec ? presto_vae_audio_len(&n.c, len) : presto_vae_latent_len(&n.c, len);
	n.nin = (size_t)B * ch_in * len;
	n.nout = (size_t)B * ch_out * n.out_len;
	n.in = randn(n.nin, dec ? 1.0f : 0.5f);
	n.out = zeros(n.nout);
	n.r = randn(n.nout, 1);

	/* the training forward equals the inference forward, item by item */
	double loss = net_loss(&n), fdiff = 0;
	float *ref = zeros(n.nout / B);
	for (int b = 0; b < B; b++) {
		presto_status s = dec ? presto_vae_decode(n.m, ref, n.in + n.nin / B * b, len, NULL, NULL)
				      : presto_vae_encode(n.m, ref, n.in + n.nin / B * b, len, NULL, NULL);
		EXPECT(!s, "inference: %s", presto_error());
		for (size_t i = 0; i < n.nout / B; i++)
			fdiff = fmax(fdiff, fabs(ref[i] - n.out[n.nout / B * b + i]));
	}
	free(ref);
	CHECK(isfinite(loss) && fdiff == 0, "%s training forward = inference forward (B %d, %d -> %d frames)",
	      dec ? "decoder" : "encoder", B, len, n.out_len);

	float *grad = presto_params_buffer(&n.ps), *prior = presto_params_buffer(&n.ps);
	float *dx = randn(n.nin, 1), *px = malloc(sizeof(float) * n.nin);
	float *rr = randn(n.ps.total, 1);
	memcpy(grad, rr, sizeof(float) * n.ps.total);
	memcpy(prior, rr, sizeof(float) * n.ps.total);
	memcpy(px, dx, sizeof(float) * n.nin);
	free(rr);
	presto_status s = dec ? presto_vae_decode_backward(n.t, want_dx ? dx : NULL, grad, n.r)
			      : presto_vae_encode_backward(n.t, want_dx ? dx : NULL, grad, n.r);
	EXPECT(!s, "backward: %s", presto_error());

	/* FD over every parameter, normalised per tensor with a floor of 1% of
	 * the largest gradient of the loss (the FD noise is about 1e-5 absolute) */
	double *diff = calloc((size_t)n.ps.n, sizeof(double)), *tmax = calloc((size_t)n.ps.n, sizeof(double));
	double gmax = 0, worst = 0;
	const char *worst_name = "";
	for (int i = 0; i < n.ps.n; i++) {
		const presto_param_info *pi = &n.ps.p[i];
		float *g = added(grad + pi->offset, prior + pi->offset, pi->numel);
		diff[i] = fd_diff(net_loss, &n, n.ps.data + pi->offset, g, pi->numel, 2e-2f, &tmax[i]);
		gmax = fmax(gmax, tmax[i]);
		free(g);
	}
	for (int i = 0; i < n.ps.n; i++) {
		double e = diff[i] / fmax(tmax[i], 1e-2 * gmax);
		if (!(e <= worst)) {
			worst = e;
			worst_name = n.ps.p[i].name;
		}
	}
	free(diff);
	free(tmax);
	double ex = 0;
	if (want_dx) {
		float *g = added(dx, px, n.nin);
		ex = fd_err(net_loss, &n, n.in, g, n.nin, 2e-2f);
		free(g);
	} else {
		EXPECT(!memcmp(dx, px, sizeof(float) * n.nin), "input gradient written though not asked for");
	}
	CHECK(worst < NET_TOL && ex < NET_TOL, "%s backward%s scale %g, B %d: %d tensors, worst %.1e (%s), d%s %.1e",
	      dec ? "decoder" : "encoder", final_tanh ? " (tanh)" : "", scale, B, n.ps.n, worst, worst_name,
	      dec ? "z" : "audio", ex);

	free(grad), free(prior), free(dx), free(px), free(n.in), free(n.out), free(n.r);
	presto_vae_train_free(n.t);
	presto_vae_free(n.m);
	presto_params_free(&n.ps);
}

/* The table lists every tensor once, with the reference names and shapes. */
static void test_table(void)
{
	presto_oobleck_config c;
	presto_params ps;
	tiny_config(&c, 0, 1);
	presto_params_init(&ps);
	presto_status s = presto_oobleck_params(&c, "p.", 1, 1, &ps);
	int n_enc = 0, n_dec = 0;
	for (int i = 0; i < ps.n; i++) {
		n_enc += !strncmp(ps.p[i].name, "p.encoder.", 10);
		n_dec += !strncmp(ps.p[i].name, "p.decoder.", 10);
	}
	/* encoder: 2 convs + per block 3 units (2 snakes, 2 convs) + snake +
	 * conv, final snake; decoder the same minus one bias (last conv) */
	int convs = 2 + c.n_blocks * 7, snakes = 1 + c.n_blocks * 7;
	CHECK(!s && n_enc == convs * 3 + snakes * 2 && n_dec == convs * 3 - 1 + snakes * 2 && n_enc + n_dec == ps.n,
	      "parameter table: %d encoder, %d decoder tensors", n_enc, n_dec);
	int i = presto_params_find(&ps, "p.decoder.layers.1.layers.1.weight_v");
	int j = presto_params_find(&ps, "p.decoder.layers.1.layers.1.weight_g");
	int k = presto_params_find(&ps, "p.encoder.layers.1.layers.0.layers.0.alpha");
	CHECK(i >= 0 && j >= 0 && k >= 0 && ps.p[i].shape[0] == 4 && ps.p[i].shape[1] == 2 && ps.p[i].shape[2] == 6 &&
		      ps.p[j].shape[0] == 4 && ps.p[j].shape[1] == 1 && ps.p[i].decay && !ps.p[j].decay,
	      "ConvTranspose1d weight_v [in, out, k], weight_g [in, 1, 1]");
	presto_vae *m;
	s = presto_params_alloc(&ps);
	CHECK(!s && presto_vae_from_params(&c, &ps, "q.", 1, 0, &m) == PRESTO_EINVAL,
	      "binding with another prefix fails: %s", presto_error());
	presto_params_free(&ps);
}

int main(void)
{
	presto_set_threads(1);
	test_conv();
	test_snake(3, 11);
	test_snake(1, 40);
	test_weight_norm(3, 10);
	test_weight_norm(4, 1);
	test_bottleneck(1.0f, 1, 0.0, 1);
	test_bottleneck(1.0f, 1, 0.7, 1);
	test_bottleneck(1.7f, 1, 0.3, 1);
	test_bottleneck(0.5f, 0, 0.0, 1);
	test_bottleneck(1.0f, 0, 1.3, 0);
	test_table();
	test_net(0, 0, 1.0f, 2, 25, 1);
	test_net(0, 0, 1.0f, 1, 24, 0);
	test_net(1, 1, 1.0f, 2, 5, 1);
	test_net(1, 0, 1.5f, 1, 4, 1);
	return check_status();
}

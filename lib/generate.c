/* generate.c - the sampling loop around the DiT. */
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dit_internal.h"
#include "rng.h"

enum { STREAM_INIT = 0, STREAM_STEP = 1 }; /* rng streams: initial noise, then one per step */

typedef struct {
	presto_dit *dit;
	const presto_dit_device *dev; /* the loop on the device, or NULL */
	const presto_model_config *c;
	const presto_gen_opts *o;
	const float *cross, *neg, *global;
	int S, T, B;
	float *t; /* [B] */
} gen_ctx;

static presto_status net(void *ctx, float *out, const float *x_in, double t_net, int eval_index)
{
	gen_ctx *g = ctx;
	for (int b = 0; b < g->B; b++)
		g->t[b] = (float)t_net;
	presto_dit_opts dopts = {0};
	if (g->o->budget)
		dopts.block_mask = presto_budget_mask(g->o->budget, presto_precond_sigma(&g->c->precond, t_net));
	if (g->dev)
		return g->dev->forward(g->dev->ctx, out, x_in, g->t, dopts.block_mask);
	return presto_dit_forward_cfg(g->dit, out, x_in, g->t, g->cross, g->neg, g->S, g->global, g->B, g->T,
				      (float)g->o->cfg_scale, NULL, NULL, &dopts);
}

/* each record's noise from its own seed: record b's elements are those a
 * batch of one would draw */
typedef struct {
	const uint64_t *seeds;
	int B;
	size_t n; /* elements a record */
	const presto_vecs *vecs;
} noise_ctx;

static presto_status draw(const noise_ctx *nc, float *out, uint64_t stream)
{
	for (int b = 0; b < nc->B; b++) {
		float *o = out + (size_t)b * nc->n;
		if (nc->vecs) {
			presto_status rc = nc->vecs->randn(nc->vecs->ctx, o, nc->n, nc->seeds[b], stream, 0);
			if (rc)
				return rc;
		} else {
			presto_randn(o, nc->n, nc->seeds[b], stream, 0);
		}
	}
	return PRESTO_OK;
}

static presto_status noise(void *ctx, float *out, size_t n, int call, double sigma, double sigma_next)
{
	noise_ctx *nc = ctx;
	(void)sigma, (void)sigma_next;
	if (n != (size_t)nc->B * nc->n)
		return presto_error_set(PRESTO_EINVAL, "noise for %zu elements, the batch has %zu", n,
					(size_t)nc->B * nc->n);
	return draw(nc, out, STREAM_STEP + (uint64_t)call);
}

void presto_dit_set_device(presto_dit *m, const presto_dit_device *d)
{
	m->device = d;
}

int presto_dit_device_loop(const presto_dit *m)
{
	return m->device != NULL;
}

int presto_latent_frames(const presto_model_config *c, double seconds)
{
	int ratio = c->vae.downsampling_ratio > 0 ? c->vae.downsampling_ratio : 1;
	if (c->sample_size > 0)
		return (int)((c->sample_size + ratio - 1) / ratio);
	double frames = ceil(seconds * c->sample_rate / ratio);
	return frames < 1 ? 1 : (int)frames;
}

presto_status presto_gen_schedule(const presto_model_config *c, const presto_gen_opts *o, double *sigmas, int *steps)
{
	int n = o->steps;
	if (n < 1 || n > 10000)
		return presto_error_set(PRESTO_EINVAL, "steps must be 1..10000 (got %d)", n);
	if (!strcmp(o->schedule, "explicit")) {
		if (!o->sigmas)
			return presto_error_set(PRESTO_EINVAL, "explicit schedule without sigmas");
		memcpy(sigmas, o->sigmas, sizeof(double) * (size_t)(n + 1));
	} else if (!strcmp(o->schedule, "karras"))
		presto_sigmas_karras(sigmas, n, o->sigma_min, o->sigma_max, o->rho);
	else if (!strcmp(o->schedule, "polyexponential") || !strcmp(o->schedule, "log-linear"))
		presto_sigmas_polyexponential(sigmas, n, o->sigma_min, o->sigma_max,
					      !strcmp(o->schedule, "log-linear") ? 1.0 : o->rho);
	else if (!strcmp(o->schedule, "rf"))
		presto_sigmas_rf_logsnr(sigmas, n, -6.0, 2.0);
	else
		return presto_error_set(PRESTO_EINVAL, "unknown schedule \"%s\" (karras, polyexponential, log-linear, rf, explicit)",
					o->schedule);
	for (int i = 0; i < n; i++)
		if (!(sigmas[i] > sigmas[i + 1]) || sigmas[i + 1] < 0)
			return presto_error_set(PRESTO_EINVAL, "the sigma schedule must decrease strictly to 0");
	if (sigmas[n] != 0)
		return presto_error_set(PRESTO_EINVAL, "the sigma schedule must end in 0");
	*steps = n;
	if (o->init) { /* variation: keep the part of the schedule below init_sigma */
		int first = 0;
		while (first < n && sigmas[first] > o->init_sigma)
			first++;
		if (first >= n)
			return presto_error_set(PRESTO_EINVAL, "variation sigma %g is below the whole schedule", o->init_sigma);
		memmove(sigmas, sigmas + first, sizeof(double) * (size_t)(n + 1 - first));
		*steps = n - first;
	}
	return PRESTO_OK;
}

/* x = the sampler's start: unit noise (x on entry) scaled to sigmas[0], plus
 * the variation's clean latent init (NULL: none), in the sampler's space */
static presto_status start(const presto_vecs *v, const presto_model_config *c, const presto_gen_opts *o,
			   const double *sigmas, float *x, const float *init, size_t n)
{
	presto_step s = {.op = PRESTO_STEP_AXPBY, .n = n, .out = x};
	double a = 1, b = sigmas[0];
	if (presto_sampler_input_space(o->sampler)) /* y = a x0 + b eps: finite even at sigma = inf */
		presto_precond_input(&c->precond, sigmas[0], &a, &b, NULL);
	else if (isinf(sigmas[0]))
		return presto_error_set(PRESTO_EINVAL, "sampler %s needs a finite sigma_max", presto_sampler_name(o->sampler));
	if (init) {
		s.a = init, s.k[0] = a;
		s.b = x, s.k[1] = b;
	} else {
		s.a = x, s.k[0] = b;
	}
	return presto_vecs_step(v, &s);
}

presto_status presto_generate(presto_dit *dit, const presto_model_config *c, const presto_gen_opts *o,
			      const float *cross, const float *neg, int S, const float *global, int T, float *latent)
{
	return presto_generate_batch(dit, c, o, 1, &o->seed, NULL, cross, neg, S, global, T, latent);
}

presto_status presto_generate_batch(presto_dit *dit, const presto_model_config *c, const presto_gen_opts *o, int B,
				    const uint64_t *seeds, const float *const *inits, const float *cross,
				    const float *neg, int S, const float *global, int T, float *latents)
{
	int C = c->dit.io_channels, steps;
	if (B < 1 || T < 1 || (size_t)B * (size_t)C * (size_t)T > ((size_t)1 << 40))
		return presto_error_set(PRESTO_EINVAL, "a batch of %d records of %d frames", B, T);
	size_t n = (size_t)C * (size_t)T, nb = (size_t)B * n;
	const presto_dit_device *dev = dit->device;
	const presto_vecs *v = dev ? &dev->vecs : NULL;
	double *sigmas = presto_malloc(sizeof(double) * (size_t)(o->steps + 1));
	float *t = presto_falloc((size_t)B);
	float *x = v ? NULL : latents, *scratch = NULL, *init = NULL, *init_host = NULL;
	noise_ctx nc = {.seeds = seeds, .B = B, .n = n, .vecs = v};
	presto_status rc = PRESTO_ENOMEM;
	if (!sigmas || !t)
		goto out;
	rc = presto_gen_schedule(c, o, sigmas, &steps);
	if (rc)
		goto out;
	rc = PRESTO_ENOMEM;
	/* the start latents, [B, C, T] (inits NULL: every record starts from o->init) */
	if (o->init) {
		if (B == 1 && (!inits || inits[0] == o->init)) {
			init_host = (float *)o->init;
		} else {
			if (!(init_host = presto_falloc(nb)))
				goto out;
			for (int b = 0; b < B; b++)
				memcpy(init_host + (size_t)b * n, inits ? inits[b] : o->init, sizeof(float) * n);
		}
	}
	if (v) { /* the latent, the init and the scratch in device memory */
		if (!(x = v->alloc(v->ctx, nb)) || !(scratch = v->alloc(v->ctx, 2 * nb)))
			goto out;
		if (init_host && (!(init = v->alloc(v->ctx, nb)) || (rc = v->put(v->ctx, init, init_host, nb))))
			goto out;
		rc = draw(&nc, x, STREAM_INIT);
		if (!rc)
			rc = dev->begin(dev->ctx, cross, neg, S, global, B, T, (float)o->cfg_scale);
		if (rc)
			goto out;
	} else {
		if (!(scratch = presto_falloc(2 * nb)))
			goto out;
		init = init_host;
		draw(&nc, x, STREAM_INIT);
	}
	rc = start(v, c, o, sigmas, x, init, nb);
	if (rc)
		goto out;
	gen_ctx g = {.dit = dit, .dev = dev, .c = c, .o = o, .cross = cross, .neg = neg, .global = global, .S = S,
		     .T = T, .B = B, .t = t};
	presto_denoiser d = {.pre = c->precond, .net = net, .net_ctx = &g, .n = nb, .scratch = scratch, .vecs = v};
	presto_sampler_opts so = {.kind = o->sampler, .eta = o->eta, .s_noise = o->s_noise, .noise = noise,
				  .noise_ctx = &nc, .step = o->step, .step_ctx = o->step_ctx,
				  .step_need = o->step_need};
	rc = presto_sample(&d, &so, x, sigmas, steps);
	if (!rc && v)
		rc = v->get(v->ctx, latents, x, nb);
out:
	free(sigmas);
	free(t);
	if (v) {
		if (x)
			v->free(v->ctx, x);
		if (scratch)
			v->free(v->ctx, scratch);
		if (init)
			v->free(v->ctx, init);
	} else {
		free(scratch);
	}
	if (init_host && init_host != o->init)
		free(init_host);
	return rc;
}

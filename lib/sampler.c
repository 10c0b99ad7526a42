/* sampler.c - preconditioning, noise schedules and the samplers of sampler.h.
 *
 * The k-diffusion samplers follow k_diffusion/sampling.py at 0455157
 * step by step (same update order, same special cases); per-element updates
 * are computed in double from the float state and rounded once. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- preconditioning ---- */

void presto_precond_coeffs(const presto_precond_params *p, double sigma, double *c_skip, double *c_out, double *c_in,
			   double *t_net)
{
	double sk, so, si, tn;
	double sd = p->kind == PRESTO_PRECOND_EDM ? p->sigma_data : 1.0;

	if (p->kind == PRESTO_PRECOND_RF) {
		if (isinf(sigma)) {
			sk = 0;
			si = 0;
			tn = 1;
		} else {
			si = 1.0 / (1.0 + sigma);
			sk = si;
			tn = sigma / (1.0 + sigma);
		}
		so = -tn;
	} else if (isinf(sigma)) {
		sk = 0;
		si = 0;
		so = p->kind == PRESTO_PRECOND_EDM ? sd : -1.0;
		tn = p->kind == PRESTO_PRECOND_EDM ? INFINITY : 1.0;
	} else {
		double r = hypot(sigma, sd);
		sk = (sd / r) * (sd / r);
		si = 1.0 / r;
		if (p->kind == PRESTO_PRECOND_EDM) {
			so = sd * (sigma / r);
			tn = log(sigma) / 4.0;
		} else {
			so = -(sigma / r);
			tn = atan(sigma) * 2.0 / M_PI;
		}
	}
	if (c_skip)
		*c_skip = sk;
	if (c_out)
		*c_out = so;
	if (c_in)
		*c_in = si;
	if (t_net)
		*t_net = tn;
}

void presto_precond_input(const presto_precond_params *p, double sigma, double *a, double *b, double *k_skip)
{
	double ca, cb, ks;
	double sd = p->kind == PRESTO_PRECOND_EDM ? p->sigma_data : 1.0;

	if (p->kind == PRESTO_PRECOND_RF) {
		ca = isinf(sigma) ? 0.0 : 1.0 / (1.0 + sigma);
		cb = isinf(sigma) ? 1.0 : sigma / (1.0 + sigma);
		ks = 1.0;
	} else if (isinf(sigma)) {
		ca = 0;
		cb = 1;
		ks = 0;
	} else {
		double r = hypot(sigma, sd);
		ca = 1.0 / r;
		cb = sigma / r;
		ks = sd * (sd / r);
	}
	if (a)
		*a = ca;
	if (b)
		*b = cb;
	if (k_skip)
		*k_skip = ks;
}

static const char *const precond_names[] = {"edm", "v", "rf"};

int presto_precond_parse(const char *name, presto_precond *kind)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(name, precond_names[i])) {
			*kind = (presto_precond)i;
			return 0;
		}
	return -1;
}

const char *presto_precond_name(presto_precond kind)
{
	return (unsigned)kind < 3 ? precond_names[kind] : "?";
}

double presto_rf_t_to_sigma(double t)
{
	return t >= 1.0 ? INFINITY : t / (1.0 - t);
}

double presto_rf_sigma_to_t(double sigma)
{
	return isinf(sigma) ? 1.0 : sigma / (1.0 + sigma);
}

double presto_precond_sigma(const presto_precond_params *p, double t_net)
{
	switch (p->kind) {
	case PRESTO_PRECOND_V:
		return t_net >= 1 ? INFINITY : tan(t_net * M_PI / 2);
	case PRESTO_PRECOND_RF:
		return presto_rf_t_to_sigma(t_net);
	case PRESTO_PRECOND_EDM:
		return exp(4 * t_net);
	}
	return NAN;
}

/* ---- denoiser ---- */

static presto_status check_tnet(double t_net, double sigma)
{
	if (!isfinite(t_net))
		return presto_error_set(PRESTO_EINVAL, "denoiser: network time is not finite at sigma %g", sigma);
	return PRESTO_OK;
}

void presto_step_apply(const presto_step *s)
{
	for (size_t i = 0; i < s->n; i++)
		presto_step_elem(s, i);
}

presto_status presto_vecs_step(const presto_vecs *vecs, const presto_step *s)
{
	if (vecs)
		return vecs->step(vecs->ctx, s);
	presto_step_apply(s);
	return PRESTO_OK;
}

/* out = k0 a + k1 b (b NULL: k0 a) over n elements */
static presto_status axpby(const presto_vecs *v, size_t n, float *out, double k0, const float *a, double k1,
			   const float *b)
{
	presto_step s = {.op = PRESTO_STEP_AXPBY, .n = n, .out = out, .a = a, .b = b, .k = {k0, k1}};
	return presto_vecs_step(v, &s);
}

presto_status presto_denoise(presto_denoiser *d, float *denoised, const float *x, double sigma, int eval_index)
{
	if (!(sigma > 0) || isinf(sigma))
		return presto_error_set(PRESTO_EINVAL, "denoiser: sigma %g out of (0, inf)", sigma);
	double c_skip, c_out, c_in, t_net;
	presto_precond_coeffs(&d->pre, sigma, &c_skip, &c_out, &c_in, &t_net);
	PRESTO_TRY(check_tnet(t_net, sigma));
	float *xin = d->scratch, *f = d->scratch + d->n;
	PRESTO_TRY(axpby(d->vecs, d->n, xin, c_in, x, 0, NULL));
	PRESTO_TRY(d->net(d->net_ctx, f, xin, t_net, eval_index));
	return axpby(d->vecs, d->n, denoised, c_skip, x, c_out, f);
}

presto_status presto_denoise_input(presto_denoiser *d, float *denoised, const float *y, double sigma, int eval_index)
{
	if (!(sigma > 0))
		return presto_error_set(PRESTO_EINVAL, "denoiser: sigma %g out of (0, inf]", sigma);
	double c_out, t_net, k_skip;
	presto_precond_coeffs(&d->pre, sigma, NULL, &c_out, NULL, &t_net);
	presto_precond_input(&d->pre, sigma, NULL, NULL, &k_skip);
	PRESTO_TRY(check_tnet(t_net, sigma));
	float *f = d->scratch + d->n;
	PRESTO_TRY(d->net(d->net_ctx, f, y, t_net, eval_index));
	return axpby(d->vecs, d->n, denoised, k_skip, y, c_out, f);
}

/* ---- schedules ---- */

/* torch.linspace(a, b, n)[i] (exact end points) */
static double linspace(double a, double b, int n, int i)
{
	if (n <= 1)
		return a;
	if (i == n - 1)
		return b;
	return a + (b - a) * (double)i / (double)(n - 1);
}

void presto_sigmas_karras(double *out, int steps, double sigma_min, double sigma_max, double rho)
{
	double min_inv = pow(sigma_min, 1.0 / rho), max_inv = pow(sigma_max, 1.0 / rho);
	for (int i = 0; i < steps; i++)
		out[i] = pow(max_inv + linspace(0, 1, steps, i) * (min_inv - max_inv), rho);
	out[steps] = 0;
}

void presto_sigmas_polyexponential(double *out, int steps, double sigma_min, double sigma_max, double rho)
{
	double lmin = log(sigma_min), lmax = log(sigma_max);
	for (int i = 0; i < steps; i++)
		out[i] = exp(pow(linspace(1, 0, steps, i), rho) * (lmax - lmin) + lmin);
	out[steps] = 0;
}

void presto_t_rf_logsnr(double *t, int steps, double logsnr_start, double logsnr_end, double t_first)
{
	for (int i = 0; i <= steps; i++)
		t[i] = 1.0 / (1.0 + exp(linspace(logsnr_start, logsnr_end, steps + 1, i)));
	t[0] = t_first;
	t[steps] = 0;
}

void presto_sigmas_rf_logsnr(double *out, int steps, double logsnr_start, double logsnr_end)
{
	presto_t_rf_logsnr(out, steps, logsnr_start, logsnr_end, 1.0);
	for (int i = 0; i <= steps; i++)
		out[i] = presto_rf_t_to_sigma(out[i]);
}

void presto_sigmas_rf(double *out, int steps, double t_max)
{
	if (t_max > 1)
		t_max = 1;
	double start = t_max < 1 ? log((1 - t_max) / t_max + 1e-6) : -6.0;
	presto_t_rf_logsnr(out, steps, start, 2.0, t_max);
	for (int i = 0; i <= steps; i++)
		out[i] = presto_rf_t_to_sigma(out[i]);
}

/* ---- samplers ---- */

static const char *const sampler_names[] = {"euler", "heun", "dpmpp-2m", "dpmpp-3m-sde", "pingpong", "presto"};
#define N_SAMPLERS ((int)(sizeof sampler_names / sizeof sampler_names[0]))

int presto_sampler_parse(const char *name, presto_sampler_kind *kind)
{
	for (int i = 0; i < N_SAMPLERS; i++) {
		const char *a = sampler_names[i], *b = name;
		while (*a && (*a == *b || (*a == '-' && *b == '_'))) {
			a++;
			b++;
		}
		if (!*a && !*b) {
			*kind = (presto_sampler_kind)i;
			return 0;
		}
	}
	return -1;
}

const char *presto_sampler_name(presto_sampler_kind kind)
{
	return (int)kind >= 0 && (int)kind < N_SAMPLERS ? sampler_names[kind] : "?";
}

int presto_sampler_input_space(presto_sampler_kind kind)
{
	return kind == PRESTO_SAMPLER_PINGPONG || kind == PRESTO_SAMPLER_PRESTO;
}

typedef struct {
	presto_denoiser *d;
	const presto_sampler_opts *o;
	const presto_vecs *v;
	size_t n;
	int evals, draws;
	float *buf[4];
	float *host; /* 2n floats: host copies for the step callback (device vectors) */
} run;

static presto_status denoise(run *r, float *den, const float *x, double sigma)
{
	return presto_denoise(r->d, den, x, sigma, r->evals++);
}

static presto_status step_cb(run *r, int i, double sigma, const float *x, const float *den)
{
	if (!r->o->step)
		return PRESTO_OK;
	if (r->o->step_need != PRESTO_STEP_LATENTS) {
		if (r->v && r->o->step_need == PRESTO_STEP_DONE)
			PRESTO_TRY(r->v->wait(r->v->ctx));
		r->o->step(r->o->step_ctx, i, sigma, NULL, NULL);
		return PRESTO_OK;
	}
	if (r->v) {
		if (!r->host && !(r->host = presto_falloc(2 * r->n)))
			return PRESTO_ENOMEM;
		PRESTO_TRY(r->v->get(r->v->ctx, r->host, x, r->n));
		PRESTO_TRY(r->v->get(r->v->ctx, r->host + r->n, den, r->n));
		x = r->host;
		den = r->host + r->n;
	}
	r->o->step(r->o->step_ctx, i, sigma, x, den);
	return PRESTO_OK;
}

static presto_status draw(run *r, float *out, double sigma, double sigma_next)
{
	return r->o->noise(r->o->noise_ctx, out, r->n, r->draws++, sigma, sigma_next);
}

static presto_status apply(run *r, presto_step s)
{
	s.n = r->n;
	return presto_vecs_step(r->v, &s);
}

static presto_status euler(run *r, float *x, const double *s, int steps)
{
	float *den = r->buf[0];
	for (int i = 0; i < steps; i++) {
		PRESTO_TRY(denoise(r, den, x, s[i]));
		PRESTO_TRY(step_cb(r, i, s[i], x, den));
		PRESTO_TRY(apply(r, (presto_step){.op = PRESTO_STEP_EULER, .out = x, .a = x, .b = den,
						  .k = {s[i], s[i + 1] - s[i]}}));
	}
	return PRESTO_OK;
}

static presto_status heun(run *r, float *x, const double *s, int steps)
{
	float *den = r->buf[0], *d = r->buf[1], *x2 = r->buf[2];
	for (int i = 0; i < steps; i++) {
		PRESTO_TRY(denoise(r, den, x, s[i]));
		PRESTO_TRY(step_cb(r, i, s[i], x, den));
		double dt = s[i + 1] - s[i];
		if (s[i + 1] == 0) {
			PRESTO_TRY(apply(r, (presto_step){.op = PRESTO_STEP_EULER, .out = x, .a = x, .b = den,
							  .k = {s[i], dt}}));
			continue;
		}
		PRESTO_TRY(apply(r, (presto_step){.op = PRESTO_STEP_EULER, .out = x2, .out2 = d, .a = x, .b = den,
						  .k = {s[i], dt}}));
		PRESTO_TRY(denoise(r, den, x2, s[i + 1]));
		PRESTO_TRY(apply(r, (presto_step){.op = PRESTO_STEP_HEUN, .out = x, .a = x, .b = x2, .c = d, .d = den,
						  .k = {s[i + 1], dt}}));
	}
	return PRESTO_OK;
}

static presto_status dpmpp_2m(run *r, float *x, const double *s, int steps)
{
	float *den = r->buf[0], *old = r->buf[1];
	for (int i = 0; i < steps; i++) {
		PRESTO_TRY(denoise(r, den, x, s[i]));
		PRESTO_TRY(step_cb(r, i, s[i], x, den));
		double a, b, c_new = 1, c_old = 0;
		if (s[i + 1] == 0) {
			a = 0;
			b = 1;
		} else {
			double t = -log(s[i]), t_next = -log(s[i + 1]);
			double h = t_next - t;
			a = s[i + 1] / s[i];
			b = -expm1(-h);
			if (i > 0) {
				double r_ = (t + log(s[i - 1])) / h;
				c_new = 1 + 1 / (2 * r_);
				c_old = 1 / (2 * r_);
			}
		}
		PRESTO_TRY(apply(r, (presto_step){.op = PRESTO_STEP_DPM2M, .out = x, .a = x, .b = den,
						  .c = c_old != 0 ? old : NULL, .k = {a, b, c_new, c_old}}));
		float *tmp = old;
		old = den;
		den = tmp;
	}
	return PRESTO_OK;
}

static presto_status dpmpp_3m_sde(run *r, float *x, const double *s, int steps)
{
	const presto_sampler_opts *o = r->o;
	float *den = r->buf[0], *den1 = r->buf[1], *den2 = r->buf[2], *eps = r->buf[3];
	double h = 0, h1 = 0, h2 = 0;
	int have_h = 0, have_h1 = 0, have_h2 = 0;

	for (int i = 0; i < steps; i++) {
		PRESTO_TRY(denoise(r, den, x, s[i]));
		PRESTO_TRY(step_cb(r, i, s[i], x, den));
		if (s[i + 1] == 0) {
			PRESTO_TRY(apply(r, (presto_step){.op = PRESTO_STEP_AXPBY, .out = x, .a = den, .k = {1}}));
		} else {
			h = log(s[i]) - log(s[i + 1]);
			have_h = 1;
			double h_eta = h * (o->eta + 1);
			double e = exp(-h_eta), one_m_e = -expm1(-h_eta);
			double phi2 = expm1(-h_eta) / h_eta + 1;
			double phi3 = phi2 / h_eta - 0.5;
			double noise_c = 0;
			if (o->eta != 0) {
				PRESTO_TRY(draw(r, eps, s[i], s[i + 1]));
				noise_c = s[i + 1] * sqrt(-expm1(-2 * h * o->eta)) * o->s_noise;
			}
			presto_step st = {.op = PRESTO_STEP_DPM3M, .out = x, .a = x, .b = den,
					  .e = o->eta != 0 ? eps : NULL, .k = {e, one_m_e, phi2, phi3, 0, 0, noise_c}};
			if (have_h2) {
				st.c = den1;
				st.d = den2;
				st.k[4] = h1 / h;
				st.k[5] = h2 / h;
			} else if (have_h1) {
				st.c = den1;
				st.k[4] = h1 / h;
			}
			PRESTO_TRY(apply(r, st));
		}
		float *tmp = den2;
		den2 = den1;
		den1 = den;
		den = tmp;
		h2 = h1;
		have_h2 = have_h1;
		h1 = h;
		have_h1 = have_h;
	}
	return PRESTO_OK;
}

/* pingpong / presto: state y in network-input space */
static presto_status pingpong(run *r, float *y, const double *s, int steps)
{
	float *den = r->buf[0], *eps = r->buf[1];
	for (int i = 0; i < steps; i++) {
		PRESTO_TRY(presto_denoise_input(r->d, den, y, s[i], r->evals++));
		PRESTO_TRY(step_cb(r, i, s[i], y, den));
		if (i == steps - 1)
			return apply(r, (presto_step){.op = PRESTO_STEP_AXPBY, .out = y, .a = den, .k = {1}});
		double a, b;
		presto_precond_input(&r->d->pre, s[i + 1], &a, &b, NULL);
		PRESTO_TRY(draw(r, eps, s[i], s[i + 1]));
		PRESTO_TRY(apply(r, (presto_step){.op = PRESTO_STEP_AXPBY, .out = y, .a = den, .b = eps, .k = {a, b}}));
	}
	return PRESTO_OK;
}

static presto_status check_sigmas(const presto_sampler_opts *o, const double *s, int steps)
{
	int input = presto_sampler_input_space(o->kind);
	if (steps < 1)
		return presto_error_set(PRESTO_EINVAL, "sampler: %d steps", steps);
	for (int i = 0; i < steps; i++) {
		if (!(s[i] > 0))
			return presto_error_set(PRESTO_EINVAL, "sampler: sigma[%d] = %g is not > 0", i, s[i]);
		if (isinf(s[i]) && (i > 0 || !input))
			return presto_error_set(PRESTO_EINVAL, "sampler %s: sigma[%d] is infinite",
						presto_sampler_name(o->kind), i);
	}
	if (!(s[steps] >= 0) || isinf(s[steps]))
		return presto_error_set(PRESTO_EINVAL, "sampler: final sigma %g", s[steps]);
	if (input && s[steps] != 0)
		return presto_error_set(PRESTO_EINVAL, "sampler %s: final sigma must be 0", presto_sampler_name(o->kind));
	return PRESTO_OK;
}

presto_status presto_sample(presto_denoiser *d, const presto_sampler_opts *o, float *x, const double *sigmas,
			    int steps)
{
	PRESTO_TRY(check_sigmas(o, sigmas, steps));
	int need_noise = presto_sampler_input_space(o->kind) ||
			 (o->kind == PRESTO_SAMPLER_DPMPP_3M_SDE && o->eta != 0);
	if (need_noise && !o->noise)
		return presto_error_set(PRESTO_EINVAL, "sampler %s needs a noise source", presto_sampler_name(o->kind));
	if (!d->net || !d->scratch)
		return presto_error_set(PRESTO_EINVAL, "sampler: denoiser without network or scratch");

	run r = {.d = d, .o = o, .v = d->vecs, .n = d->n};
	float *mem = NULL;
	size_t total;
	if (!presto_mul_size(d->n, 4, &total))
		return presto_error_set(PRESTO_ENOMEM, "sampler: size overflow");
	mem = r.v ? r.v->alloc(r.v->ctx, total ? total : 1) : presto_fzalloc(total ? total : 1);
	if (!mem)
		return PRESTO_ENOMEM;
	for (int i = 0; i < 4; i++)
		r.buf[i] = mem + (size_t)i * d->n;

	presto_status st;
	switch (o->kind) {
	case PRESTO_SAMPLER_EULER:
		st = euler(&r, x, sigmas, steps);
		break;
	case PRESTO_SAMPLER_HEUN:
		st = heun(&r, x, sigmas, steps);
		break;
	case PRESTO_SAMPLER_DPMPP_2M:
		st = dpmpp_2m(&r, x, sigmas, steps);
		break;
	case PRESTO_SAMPLER_DPMPP_3M_SDE:
		st = dpmpp_3m_sde(&r, x, sigmas, steps);
		break;
	case PRESTO_SAMPLER_PINGPONG:
	case PRESTO_SAMPLER_PRESTO:
		st = pingpong(&r, x, sigmas, steps);
		break;
	default:
		st = presto_error_set(PRESTO_EINVAL, "sampler: unknown kind %d", (int)o->kind);
	}
	if (r.v)
		r.v->free(r.v->ctx, mem);
	else
		free(mem);
	free(r.host);
	return st;
}

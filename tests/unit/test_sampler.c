/* test_sampler.c - analytic checks of lib/sampler.c, independent of fixtures:
 * preconditioning coefficients (known values, sigma = inf, the network-input
 * form), schedules (end points, shape), every sampler with the exact denoiser
 * of a point mass (returns x0) and of a Gaussian (converges to the
 * probability-flow ODE solution), the presto / pingpong update, the call
 * counting and the argument checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "sampler.h"

#include "check.h"


static int near(double a, double b, double tol)
{
	return fabs(a - b) <= tol * fmax(1.0, fabs(b));
}

enum { N = 24 };

static const presto_precond_params PRE_V = {PRESTO_PRECOND_V, 1.0};
static const presto_precond_params PRE_RF = {PRESTO_PRECOND_RF, 1.0};
static const presto_precond_params PRE_EDM = {PRESTO_PRECOND_EDM, 0.5};

/* ---- preconditioning ---- */

static void precond(void)
{
	double cs, co, ci, t, a, b, k;
	presto_precond_coeffs(&PRE_V, 1.0, &cs, &co, &ci, &t);
	CHECK(near(cs, 0.5, 1e-15) && near(co, -M_SQRT1_2, 1e-15) && near(ci, M_SQRT1_2, 1e-15) && near(t, 0.5, 1e-15),
	      "v at sigma 1: c_skip 1/2, c_out -1/sqrt2, c_in 1/sqrt2, t 1/2");
	presto_precond_coeffs(&PRE_RF, 1.0, &cs, &co, &ci, &t);
	CHECK(cs == 0.5 && co == -0.5 && ci == 0.5 && t == 0.5, "rf at sigma 1: c_skip 1/2, c_out -1/2, c_in 1/2, t 1/2");
	presto_precond_coeffs(&PRE_EDM, 0.5, &cs, &co, &ci, &t);
	CHECK(near(cs, 0.5, 1e-15) && near(co, 0.5 * M_SQRT1_2, 1e-15) && near(ci, M_SQRT2, 1e-15) &&
		      near(t, log(0.5) / 4, 1e-15),
	      "edm at sigma = sigma_data: c_skip 1/2, c_out sd/sqrt2, c_in 1/(sd sqrt2), c_noise log(s)/4");

	const presto_precond_params *all[3] = {&PRE_V, &PRE_RF, &PRE_EDM};
	int fin = 1, tfin = 1, lim = 1, inp = 1, inv = 1;
	for (int p = 0; p < 3; p++) {
		presto_precond_coeffs(all[p], INFINITY, &cs, &co, &ci, &t);
		presto_precond_input(all[p], INFINITY, &a, &b, &k);
		fin &= isfinite(cs) && isfinite(co) && isfinite(ci) && isfinite(a) && isfinite(b) && isfinite(k);
		fin &= a == 0 && b == 1 && ci == 0 && cs == 0;
		if (all[p]->kind != PRESTO_PRECOND_EDM)
			tfin &= isfinite(t) && t == 1;
		else
			tfin &= isinf(t);
		/* continuity towards inf */
		double cs2, co2, ci2, t2, a2, b2, k2;
		presto_precond_coeffs(all[p], 1e12, &cs2, &co2, &ci2, &t2);
		presto_precond_input(all[p], 1e12, &a2, &b2, &k2);
		lim &= near(cs2, cs, 1e-11) && near(co2, co, 1e-11) && near(ci2, ci, 1e-11) && near(a2, a, 1e-11) &&
		       near(b2, b, 1e-11) && near(k2, k, 1e-11);
		if (all[p]->kind != PRESTO_PRECOND_EDM)
			lim &= near(t2, t, 1e-11);
		/* input form and the inverse time map at finite sigma */
		for (double s = 0.01; s < 1000; s *= 3.7) {
			presto_precond_coeffs(all[p], s, &cs, &co, &ci, &t);
			presto_precond_input(all[p], s, &a, &b, &k);
			inp &= near(a, ci, 1e-14) && near(b, ci * s, 1e-14) && near(k, cs / ci, 1e-14);
			inv &= near(presto_precond_sigma(all[p], t), s, 1e-9);
		}
	}
	CHECK(fin, "c_skip, c_out, c_in, a, b, k_skip finite at sigma = inf (rf, v, edm); a = c_in = 0, b = 1");
	CHECK(tfin, "network time at sigma = inf: 1 for rf and v, +inf for edm");
	CHECK(lim, "coefficients at sigma 1e12 approach the sigma = inf values");
	CHECK(inp, "network-input form: a = c_in, b = c_in sigma, k_skip = c_skip / c_in");
	CHECK(inv, "presto_precond_sigma inverts the network time");

	presto_precond pk;
	int names = 1;
	for (int p = 0; p < 3; p++)
		names &= !presto_precond_parse(presto_precond_name((presto_precond)p), &pk) && pk == (presto_precond)p;
	names &= presto_precond_parse("x", &pk) == -1;
	CHECK(names, "precond names parse back");
}

/* ---- schedules ---- */

static void schedules(void)
{
	double s[33];
	presto_sigmas_karras(s, 32, 0.03, 80, 7);
	int mono = 1;
	for (int i = 0; i < 32; i++)
		mono &= s[i] > s[i + 1];
	CHECK(near(s[0], 80, 1e-13) && near(s[31], 0.03, 1e-13) && s[32] == 0 && mono,
	      "karras: sigma_max first, sigma_min last, then 0, decreasing");
	/* rho = 1 is linear in sigma */
	presto_sigmas_karras(s, 5, 1, 5, 1);
	CHECK(near(s[1], 4, 1e-14) && near(s[2], 3, 1e-14) && near(s[3], 2, 1e-14), "karras rho 1 is linear");
	presto_sigmas_polyexponential(s, 8, 0.3, 500, 1);
	int loglin = 1;
	for (int i = 1; i < 7; i++)
		loglin &= near(s[i] / s[i + 1], s[0] / s[1], 1e-12);
	CHECK(near(s[0], 500, 1e-13) && near(s[7], 0.3, 1e-13) && s[8] == 0 && loglin,
	      "polyexponential: end points, then 0; rho 1 is log-linear");
	presto_sigmas_polyexponential(s, 8, 0.3, 500, 2);
	CHECK(near(s[0], 500, 1e-13) && near(s[7], 0.3, 1e-13) && s[1] < 500 * pow(0.3 / 500, 1.0 / 7),
	      "polyexponential rho 2 keeps the end points and falls faster at first");
	presto_sigmas_karras(s, 1, 0.03, 80, 7);
	double p1[2];
	presto_sigmas_polyexponential(p1, 1, 0.03, 80, 1);
	CHECK(near(s[0], 80, 1e-13) && s[1] == 0 && near(p1[0], 80, 1e-13) && p1[1] == 0,
	      "one step: sigma_max then 0 (torch.linspace(a, b, 1) = [a])");

	double t[9], r[9];
	presto_t_rf_logsnr(t, 8, -6, 2, 1);
	presto_sigmas_rf_logsnr(r, 8, -6, 2);
	int ok = t[0] == 1 && t[8] == 0 && isinf(r[0]) && r[8] == 0;
	for (int i = 1; i < 8; i++) {
		double ls = -6 + 8.0 * i / 8;
		ok &= near(t[i], 1 / (1 + exp(ls)), 1e-15) && near(r[i], t[i] / (1 - t[i]), 1e-14);
		ok &= near(presto_rf_sigma_to_t(r[i]), t[i], 1e-15);
	}
	CHECK(ok, "rf logsnr schedule: t = sigmoid(-linspace(-6, 2)), t0 = 1 (sigma inf), last 0");
	double q[9];
	presto_sigmas_rf(q, 8, 1.0);
	ok = 1;
	for (int i = 0; i < 9; i++)
		ok &= q[i] == r[i];
	presto_sigmas_rf(q, 8, 0.5);
	double ls1 = log(1 + 1e-6) + (2 - log(1 + 1e-6)) / 8;
	ok &= near(q[0], 1, 1e-15) && near(presto_rf_sigma_to_t(q[1]), 1 / (1 + exp(ls1)), 1e-12);
	CHECK(ok, "sample_rf schedule: sigma_max 1 is the -6..2 schedule; sigma_max 0.5 starts at t 0.5");
}

/* ---- model denoisers through the network callback ---- */

typedef struct {
	presto_precond_params pre;
	int kind;         /* 0 point mass at x0, 1 Gaussian N(0, var), 2 F = 0.5 x_in + t */
	int input_space;  /* the sampler hands network-input space */
	const float *x0;
	double var;
	int calls, bad_order;
	float *last_in;
} model;

static presto_status net(void *ctx, float *out, const float *x_in, double t_net, int k)
{
	model *m = ctx;
	if (k != m->calls++)
		m->bad_order = 1;
	if (m->last_in)
		memcpy(m->last_in, x_in, sizeof(float) * N);
	if (m->kind == 2) {
		for (int i = 0; i < N; i++)
			out[i] = (float)(0.5 * x_in[i] + t_net);
		return PRESTO_OK;
	}
	double s = presto_precond_sigma(&m->pre, t_net), cs, co, ci, a, b, ks;
	presto_precond_coeffs(&m->pre, s, &cs, &co, &ci, NULL);
	presto_precond_input(&m->pre, s, &a, &b, &ks);
	for (int i = 0; i < N; i++) {
		/* D(y) = ks y + co F: the exact posterior mean as a function of y */
		double y = x_in[i], den;
		if (m->kind == 0)
			den = m->x0[i];
		else /* x = y / a, E[x0 | x] = var / (var + s^2) x = var a / (var a^2 + b^2) y */
			den = m->var * a / (m->var * a * a + b * b) * y;
		out[i] = (float)((den - ks * y) / co);
	}
	return PRESTO_OK;
}

static presto_status noise(void *ctx, float *out, size_t n, int call, double sigma, double sigma_next)
{
	presto_randn(out, n, 1234, 100 + (uint64_t)call, 0);
	return PRESTO_OK;
}

static presto_status run(presto_sampler_kind kind, model *m, float *x, const double *sig, int steps, double eta)
{
	float scratch[2 * N];
	presto_denoiser d = {.pre = m->pre, .net = net, .net_ctx = m, .n = N, .scratch = scratch};
	presto_sampler_opts o = {.kind = kind, .eta = eta, .s_noise = 1, .noise = noise};
	m->calls = 0;
	m->bad_order = 0;
	m->input_space = presto_sampler_input_space(kind);
	return presto_sample(&d, &o, x, sig, steps);
}

static double max_rel(const float *a, const float *b)
{
	double e = 0, r = 0;
	for (int i = 0; i < N; i++) {
		e = fmax(e, fabs((double)a[i] - b[i]));
		r = fmax(r, fabs((double)b[i]));
	}
	return e / r;
}

static void start(const presto_precond_params *pre, presto_sampler_kind k, const double *sig, float *x)
{
	float eps[N];
	presto_randn(eps, N, 99, 0, 0);
	double b;
	presto_precond_input(pre, sig[0], NULL, &b, NULL);
	for (int i = 0; i < N; i++)
		x[i] = presto_sampler_input_space(k) ? (float)(b * eps[i]) : (float)(sig[0] * eps[i]);
}

static void point_mass(void)
{
	float x0[N], x[N];
	presto_randn(x0, N, 7, 0, 0);
	const presto_precond_params *pres[3] = {&PRE_V, &PRE_RF, &PRE_EDM};
	double kar[11], rf[11];
	presto_sigmas_karras(kar, 10, 0.03, 80, 7);
	presto_sigmas_rf_logsnr(rf, 10, -6, 2);
	for (int k = 0; k <= PRESTO_SAMPLER_PRESTO; k++)
		for (int p = 0; p < 3; p++) {
			model m = {.pre = *pres[p], .kind = 0, .x0 = x0};
			/* samplers in network-input space start at sigma inf when they can */
			int from_inf = presto_sampler_input_space((presto_sampler_kind)k) && p != 2;
			const double *sig = from_inf ? rf : kar;
			start(&m.pre, (presto_sampler_kind)k, sig, x);
			presto_status st = run((presto_sampler_kind)k, &m, x, sig, 10, 1.0);
			char what[160];
			double e = st ? INFINITY : max_rel(x, x0);
			snprintf(what, sizeof what, "%s/%s%s: point-mass denoiser returns x0 (rel err %.1e)",
				 presto_sampler_name((presto_sampler_kind)k), presto_precond_name(pres[p]->kind),
				 from_inf ? " from sigma inf" : "", e);
			CHECK(e < 2e-6 && !m.bad_order, "%s", what);
		}
}

/* Gaussian data N(0, var): the probability-flow ODE maps x(S) to
 * x(0) = x(S) sqrt(var) / sqrt(S^2 + var). Each sampler (deterministic:
 * dpmpp-3m-sde at eta 0) must approach it at its order: the error at 4x the
 * steps shrinks by 4^order (1 for euler, 2 for the others here; the float
 * state and the final sigma_min -> 0 step put a floor near 1e-5). */
static void gaussian(void)
{
	static const struct {
		presto_sampler_kind k;
		int steps, order;
		double tol;
	} cases[] = {
		{PRESTO_SAMPLER_EULER, 100, 1, 4e-2},
		{PRESTO_SAMPLER_HEUN, 20, 2, 6e-2},
		{PRESTO_SAMPLER_DPMPP_2M, 20, 2, 7e-2},
		{PRESTO_SAMPLER_DPMPP_3M_SDE, 20, 2, 2e-2},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		double err[2];
		for (int pass = 0; pass < 2; pass++) {
			int steps = pass ? cases[c].steps * 4 : cases[c].steps;
			double *sig = malloc(sizeof(double) * (size_t)(steps + 1));
			presto_sigmas_karras(sig, steps, 0.002, 80, 7);
			model m = {.pre = PRE_V, .kind = 1, .var = 0.25};
			float x[N], want[N];
			start(&m.pre, cases[c].k, sig, x);
			for (int i = 0; i < N; i++)
				want[i] = (float)(x[i] * sqrt(m.var) / sqrt(sig[0] * sig[0] + m.var));
			presto_status st = run(cases[c].k, &m, x, sig, steps, 0);
			err[pass] = st ? INFINITY : max_rel(x, want);
			free(sig);
		}
		char what[200];
		double order = log2(err[0] / err[1]) / 2;
		snprintf(what, sizeof what,
			 "%s: Gaussian data converges to the ODE solution (rel err %.1e at %d steps, order %.2f)",
			 presto_sampler_name(cases[c].k), err[0], cases[c].steps, order);
		CHECK(err[0] < cases[c].tol && order > cases[c].order - 0.3, "%s", what);
	}
}

static void presto_update(void)
{
	float y[N], got[N], want[N], eps[N], in1[N], den[N];
	double sig[4];
	presto_sigmas_rf_logsnr(sig, 3, -6, 2);
	model m = {.pre = PRE_RF, .kind = 2, .last_in = in1};
	float scratch[2 * N];
	presto_denoiser d = {.pre = m.pre, .net = net, .net_ctx = &m, .n = N, .scratch = scratch};

	/* one step from sigma inf: the output is D(noise) */
	presto_randn(y, N, 5, 0, 0);
	memcpy(got, y, sizeof y);
	double one[2] = {INFINITY, 0};
	presto_status st = run(PRESTO_SAMPLER_PRESTO, &m, got, one, 1, 1);
	presto_denoise_input(&d, want, y, INFINITY, 0);
	int ok = !st && !memcmp(got, want, sizeof got);
	for (int i = 0; i < N; i++) /* rf: D = y - 1 * (0.5 y + 1) */
		ok &= fabsf(want[i] - (0.5f * y[i] - 1.0f)) < 1e-6f;
	CHECK(ok, "presto, 1 step from sigma inf: returns D(noise) (rf: D = y - F(y, 1))");

	/* two steps: the second network input is (1 - t1) x0 + t1 eps0 (pingpong) */
	memcpy(got, y, sizeof y);
	double two[3];
	presto_sigmas_rf_logsnr(two, 2, -6, 2);
	st = run(PRESTO_SAMPLER_PINGPONG, &m, got, two, 2, 1);
	noise(NULL, eps, N, 0, two[0], two[1]);
	double t1 = presto_rf_sigma_to_t(two[1]);
	ok = !st && m.calls == 2;
	for (int i = 0; i < N; i++) {
		den[i] = 0.5f * y[i] - 1.0f;
		ok &= fabs(in1[i] - ((1 - t1) * den[i] + t1 * eps[i])) < 1e-6;
	}
	CHECK(ok, "pingpong step: y1 = (1 - t1) x0 + t1 eps as stable-audio-tools sample_flow_pingpong");

	/* v preconditioning from sigma inf: finite and D at inf = c_out F */
	model mv = {.pre = PRE_V, .kind = 2};
	memcpy(got, y, sizeof y);
	st = run(PRESTO_SAMPLER_PRESTO, &mv, got, one, 1, 1);
	ok = !st;
	for (int i = 0; i < N; i++)
		ok &= fabsf(got[i] - -(0.5f * y[i] + 1.0f)) < 1e-6f;
	CHECK(ok, "presto with v preconditioning from sigma inf: D = -F(y, 1)");

	/* edm cannot start at inf */
	model me = {.pre = PRE_EDM, .kind = 2};
	memcpy(got, y, sizeof y);
	CHECK(run(PRESTO_SAMPLER_PRESTO, &me, got, one, 1, 1) == PRESTO_EINVAL, "presto/edm at sigma inf is an error");
}

static void counting_and_errors(void)
{
	float x[N], x0[N] = {0};
	double sig[9];
	presto_sigmas_polyexponential(sig, 8, 0.3, 500, 1);
	model m = {.pre = PRE_V, .kind = 0, .x0 = x0};
	start(&m.pre, PRESTO_SAMPLER_HEUN, sig, x);
	presto_status st = run(PRESTO_SAMPLER_HEUN, &m, x, sig, 8, 0);
	CHECK(!st && m.calls == 15 && !m.bad_order, "heun: 8 steps make 15 network calls, indexed 0..14");

	float scratch[2 * N];
	presto_denoiser d = {.pre = PRE_V, .net = net, .net_ctx = &m, .n = N, .scratch = scratch};
	presto_sampler_opts o = {.kind = PRESTO_SAMPLER_DPMPP_3M_SDE, .eta = 1, .s_noise = 1};
	CHECK(presto_sample(&d, &o, x, sig, 8) == PRESTO_EINVAL, "dpmpp-3m-sde without a noise source is an error");
	o.eta = 0;
	CHECK(presto_sample(&d, &o, x, sig, 8) == PRESTO_OK, "dpmpp-3m-sde with eta 0 needs no noise source");
	double bad[3] = {INFINITY, 1, 0};
	o.kind = PRESTO_SAMPLER_EULER;
	CHECK(presto_sample(&d, &o, x, bad, 2) == PRESTO_EINVAL, "euler from sigma inf is an error");
	double neg[3] = {1, -1, 0};
	CHECK(presto_sample(&d, &o, x, neg, 2) == PRESTO_EINVAL, "a negative sigma is an error");
	double nz[3] = {2, 1, 0.5};
	o.kind = PRESTO_SAMPLER_PRESTO;
	o.noise = noise;
	CHECK(presto_sample(&d, &o, x, nz, 2) == PRESTO_EINVAL, "presto must end at sigma 0");
	CHECK(presto_sample(&d, &o, x, nz, 0) == PRESTO_EINVAL, "zero steps is an error");

	presto_sampler_kind k;
	int ok = 1;
	for (int i = 0; i <= PRESTO_SAMPLER_PRESTO; i++)
		ok &= !presto_sampler_parse(presto_sampler_name((presto_sampler_kind)i), &k) && k == (presto_sampler_kind)i;
	ok &= !presto_sampler_parse("dpmpp_3m_sde", &k) && k == PRESTO_SAMPLER_DPMPP_3M_SDE;
	ok &= presto_sampler_parse("dpmpp-3m", &k) == -1 && presto_sampler_parse("", &k) == -1;
	CHECK(ok, "sampler names parse back ('_' for '-' accepted)");
}

/* ---- the loop on other memory (presto_vecs) ----
 * A stand-in device: its pointers are host addresses with bit 62 flipped,
 * which fault if the host dereferences them, so a sampler that touched its
 * vectors directly would crash here instead of passing. */
#define DEV_BIT ((uintptr_t)1 << 62)
static float *flip(const float *p)
{
	return p ? (float *)((uintptr_t)p ^ DEV_BIT) : NULL;
}

typedef struct {
	int allocs, frees, steps, gets, puts, waits, draws;
	model *m;
} fakedev;

static float *fd_alloc(void *ctx, size_t n)
{
	((fakedev *)ctx)->allocs++;
	float *p = malloc(sizeof(float) * n);
	return p ? flip(p) : NULL;
}
static void fd_free(void *ctx, float *p)
{
	((fakedev *)ctx)->frees++;
	free(flip(p));
}
static presto_status fd_step(void *ctx, const presto_step *s)
{
	((fakedev *)ctx)->steps++;
	presto_step h = *s;
	h.out = flip(s->out), h.out2 = flip(s->out2), h.a = flip(s->a), h.b = flip(s->b), h.c = flip(s->c);
	h.d = flip(s->d), h.e = flip(s->e);
	presto_step_apply(&h);
	return PRESTO_OK;
}
static presto_status fd_get(void *ctx, float *host, const float *v, size_t n)
{
	((fakedev *)ctx)->gets++;
	memcpy(host, flip(v), sizeof(float) * n);
	return PRESTO_OK;
}
static presto_status fd_put(void *ctx, float *v, const float *host, size_t n)
{
	((fakedev *)ctx)->puts++;
	memcpy(flip(v), host, sizeof(float) * n);
	return PRESTO_OK;
}
static presto_status fd_wait(void *ctx)
{
	((fakedev *)ctx)->waits++;
	return PRESTO_OK;
}
static presto_status fd_net(void *ctx, float *out, const float *x_in, double t_net, int k)
{
	return net(((fakedev *)ctx)->m, flip(out), flip(x_in), t_net, k);
}
static presto_status fd_noise(void *ctx, float *out, size_t n, int call, double sigma, double sigma_next)
{
	((fakedev *)ctx)->draws++;
	return noise(NULL, flip(out), n, call, sigma, sigma_next);
}

typedef struct {
	int calls, nulls;
	float xs[16][N], ds[16][N];
} steps_seen;

static void seen(void *ctx, int i, double sigma, const float *x, const float *den)
{
	steps_seen *s = ctx;
	s->calls++;
	if (!x || !den) {
		s->nulls++;
		return;
	}
	if (i >= 0 && i < 16) {
		memcpy(s->xs[i], x, sizeof(float) * N);
		memcpy(s->ds[i], den, sizeof(float) * N);
	}
}

static void other_memory(void)
{
	const presto_sampler_kind kinds[] = {PRESTO_SAMPLER_EULER, PRESTO_SAMPLER_HEUN, PRESTO_SAMPLER_DPMPP_2M,
					     PRESTO_SAMPLER_DPMPP_3M_SDE, PRESTO_SAMPLER_PINGPONG};
	for (size_t q = 0; q < sizeof kinds / sizeof kinds[0]; q++) {
		presto_sampler_kind kind = kinds[q];
		int input = presto_sampler_input_space(kind), steps = 6;
		double sig[7];
		if (input)
			presto_sigmas_rf_logsnr(sig, steps, -6, 2);
		else
			presto_sigmas_polyexponential(sig, steps, 0.3, 80, 1);
		model m = {.pre = input ? PRE_RF : PRE_V, .kind = 2};
		float x[N], ref[N], got[N], scratch[2 * N];
		static steps_seen sh, sd;
		memset(&sh, 0, sizeof sh);
		memset(&sd, 0, sizeof sd);
		presto_randn(x, N, 5, 0, 0);
		memcpy(ref, x, sizeof x);
		presto_denoiser dh = {.pre = m.pre, .net = net, .net_ctx = &m, .n = N, .scratch = scratch};
		presto_sampler_opts oh = {.kind = kind, .eta = 1, .s_noise = 1, .noise = noise, .step = seen, .step_ctx = &sh};
		presto_status st = presto_sample(&dh, &oh, ref, sig, steps);

		fakedev fd = {.m = &m};
		presto_vecs v = {.ctx = &fd, .alloc = fd_alloc, .free = fd_free, .step = fd_step, .get = fd_get,
				 .put = fd_put, .wait = fd_wait};
		float *dx = fd_alloc(&fd, N), *dscratch = fd_alloc(&fd, 2 * N);
		fd_put(&fd, dx, x, N);
		presto_denoiser dd = {.pre = m.pre, .net = fd_net, .net_ctx = &fd, .n = N, .scratch = dscratch, .vecs = &v};
		presto_sampler_opts od = {.kind = kind, .eta = 1, .s_noise = 1, .noise = fd_noise, .noise_ctx = &fd,
					  .step = seen, .step_ctx = &sd};
		presto_status st2 = presto_sample(&dd, &od, dx, sig, steps);
		fd_get(&fd, got, dx, N);
		int same = !st && !st2 && !memcmp(got, ref, sizeof got) && sh.calls == steps && sd.calls == steps &&
			   !memcmp(sh.xs, sd.xs, sizeof sh.xs) && !memcmp(sh.ds, sd.ds, sizeof sh.ds);
		CHECK(same, "%s on stand-in device memory: the host's floats, steps and step latents",
		      presto_sampler_name(kind));
		/* the callback's latents are the only copies back; wait only when asked */
		CHECK(fd.gets == 2 * steps + 1 && fd.puts == 1 && fd.waits == 0, "%s: %d copies back (2 a step), %d waits",
		      presto_sampler_name(kind), fd.gets, fd.waits);
		memset(&sd, 0, sizeof sd);
		fd.gets = 0;
		od.step_need = PRESTO_STEP_DONE;
		fd_put(&fd, dx, x, N);
		st2 = presto_sample(&dd, &od, dx, sig, steps);
		fd_get(&fd, got, dx, N);
		CHECK(!st2 && !memcmp(got, ref, sizeof got) && sd.calls == steps && sd.nulls == steps && fd.gets == 1 &&
		      fd.waits == steps, "%s: PRESTO_STEP_DONE waits once a step and copies nothing",
		      presto_sampler_name(kind));
		od.step_need = PRESTO_STEP_QUEUED;
		fd.waits = 0;
		st2 = presto_sample(&dd, &od, dx, sig, steps);
		CHECK(!st2 && fd.waits == 0, "%s: PRESTO_STEP_QUEUED never waits", presto_sampler_name(kind));
		fd_free(&fd, dx);
		fd_free(&fd, dscratch);
		CHECK(fd.allocs == fd.frees, "%s: %d allocations, %d frees", presto_sampler_name(kind), fd.allocs, fd.frees);
	}
}

int main(void)
{
	precond();
	schedules();
	point_mass();
	gaussian();
	presto_update();
	counting_and_errors();
	other_memory();
	return check_status();
}

/* conf_sampler.c - conformance of the samplers (sampler_* fixtures).
 *
 * Two levels:
 *   replay  the network replays the recorded denoiser outputs (inter.eval.
 *           denoised, or inter.step.denoised for pingpong) so the sampler
 *           math is checked on its own: the x it hands the network, the
 *           sigmas, the callbacks, the noise calls and out.x;
 *   full    the same run with the real DiT of the sibling model file
 *           (json "model"), conditioning in.cross_attn_cond / in.global_cond
 *           and the cfg scale of json "model_kwargs".
 * The schedule function is also checked against in.sigmas / in.t_schedule
 * from the parameters in json "schedule". */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit.h"
#include "accel.h"
#include "fixture.h"
#include "sampler.h"

#define REPLAY_TOL 1e-5   /* replay: only float rounding of the sampler math */
#define SCHEDULE_TOL 1e-6 /* schedule in double vs the reference's float32 */
#define FULL_TOL 5e-4     /* README: the 8-step samplers with the DiT */

/* ---- JSON string parsing ---- */

static const char *jstr(fixture *fx, const char *key)
{
	const char *s = json_string_value(json_object_get(fx->json, key));
	return s ? s : "";
}

/* Value of `name=<number>` in s, 0 if found. */
static int find_kw(const char *s, const char *name, double *v)
{
	size_t l = strlen(name);
	for (const char *p = strstr(s, name); p; p = strstr(p + 1, name)) {
		if (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue;
		const char *q = p + l;
		while (*q == ' ')
			q++;
		if (*q != '=')
			continue;
		char *end;
		*v = strtod(q + 1, &end);
		if (end != q + 1)
			return 0;
	}
	return -1;
}

/* Arguments of `fn(a, b, name=c, ...)` in s: positional ones into pos[] (NAN
 * when not a number), keyword ones looked up by the caller with find_kw on
 * the returned argument text. Returns the number of positional arguments, -1
 * when fn( is missing or unterminated. */
static int call_args(const char *s, const char *fn, double *pos, int max_pos, char *args, size_t args_len)
{
	const char *p = strstr(s, fn);
	if (!p)
		return -1;
	p += strlen(fn);
	const char *e = strchr(p, ')');
	if (!e || (size_t)(e - p) >= args_len)
		return -1;
	memcpy(args, p, (size_t)(e - p));
	args[e - p] = 0;
	int n = 0;
	for (char *a = args; *a && n < max_pos;) {
		char *c = strchr(a, ',');
		size_t len = c ? (size_t)(c - a) : strlen(a);
		if (!memchr(a, '=', len)) {
			char *end;
			double v = strtod(a, &end);
			while (end < a + len && isspace((unsigned char)*end))
				end++;
			pos[n++] = end == a + len && end != a ? v : NAN;
		}
		if (!c)
			break;
		a = c + 1;
	}
	return n;
}

typedef enum { SCHED_KARRAS, SCHED_POLYEXP, SCHED_RF } sched_kind;

typedef struct {
	sched_kind kind;
	int steps;
	double smin, smax, rho;  /* karras, polyexponential */
	double ls0, ls1, t0;     /* rf logsnr */
} schedule;

/* "get_sigmas_polyexponential(8, 0.3, 500.0, rho=1.0)", "get_sigmas_karras(...)"
 * or "logsnr = linspace(-6, 2, steps+1); ... t[0] = 1 ...". */
static int parse_schedule(fixture *fx, const char *s, int steps, schedule *sc)
{
	char args[512];
	double pos[4];
	int n;
	memset(sc, 0, sizeof *sc);
	sc->steps = steps;
	if ((n = call_args(s, "get_sigmas_polyexponential(", pos, 4, args, sizeof args)) >= 0 ||
	    (n = call_args(s, "get_sigmas_karras(", pos, 4, args, sizeof args)) >= 0) {
		sc->kind = strstr(s, "get_sigmas_karras(") ? SCHED_KARRAS : SCHED_POLYEXP;
		double v[4] = {NAN, NAN, NAN, sc->kind == SCHED_KARRAS ? 7.0 : 1.0};
		for (int i = 0; i < n; i++)
			v[i] = pos[i];
		static const char *const kw[4] = {"n", "sigma_min", "sigma_max", "rho"};
		for (int i = 0; i < 4; i++)
			find_kw(args, kw[i], &v[i]);
		for (int i = 0; i < 4; i++)
			if (!isfinite(v[i])) {
				fx_fail(fx, "cannot parse argument %s of the schedule \"%s\"", kw[i], s);
				return -1;
			}
		if ((int)v[0] != steps) {
			fx_fail(fx, "schedule \"%s\" has %d steps, the fixture %d", s, (int)v[0], steps);
			return -1;
		}
		sc->smin = v[1];
		sc->smax = v[2];
		sc->rho = v[3];
		return 0;
	}
	if ((n = call_args(s, "linspace(", pos, 2, args, sizeof args)) >= 2 && isfinite(pos[0]) && isfinite(pos[1])) {
		sc->kind = SCHED_RF;
		sc->ls0 = pos[0];
		sc->ls1 = pos[1];
		sc->t0 = 1.0;
		const char *t = strstr(s, "t[0]");
		if (t) {
			t += 4;
			while (*t == ' ')
				t++;
			char *end;
			if (*t != '=' || (sc->t0 = strtod(t + 1, &end), end == t + 1)) {
				fx_fail(fx, "cannot parse t[0] in the schedule \"%s\"", s);
				return -1;
			}
		}
		return 0;
	}
	fx_fail(fx, "cannot parse the schedule \"%s\" (get_sigmas_polyexponential, get_sigmas_karras or "
		    "logsnr = linspace(...))", s);
	return -1;
}

static int parse_sampler(const char *s, presto_sampler_kind *k)
{
	if (strstr(s, "dpmpp_3m_sde"))
		*k = PRESTO_SAMPLER_DPMPP_3M_SDE;
	else if (strstr(s, "dpmpp_2m_sde") || strstr(s, "euler_ancestral"))
		return -1;
	else if (strstr(s, "dpmpp_2m"))
		*k = PRESTO_SAMPLER_DPMPP_2M;
	else if (strstr(s, "sample_heun"))
		*k = PRESTO_SAMPLER_HEUN;
	else if (strstr(s, "sample_euler"))
		*k = PRESTO_SAMPLER_EULER;
	else if (strstr(s, "pingpong"))
		*k = PRESTO_SAMPLER_PINGPONG;
	else
		return -1;
	return 0;
}

/* The preconditioning from "denoiser" (VDenoiser), "sampler" (sample_rf) or
 * the model's diffusion_objective. */
static int parse_precond(fixture *fx, const json_t *model_json, presto_precond_params *p)
{
	const char *den = jstr(fx, "denoiser"), *smp = jstr(fx, "sampler");
	const char *obj = model_json ? json_string_value(json_object_get(model_json, "diffusion_objective")) : NULL;
	p->sigma_data = 1.0;
	if (strstr(den, "VDenoiser"))
		p->kind = PRESTO_PRECOND_V;
	else if (strstr(smp, "sample_rf") || strstr(den, "rf_denoiser"))
		p->kind = PRESTO_PRECOND_RF;
	else if (obj && !strncmp(obj, "rf", 2))
		p->kind = PRESTO_PRECOND_RF;
	else if (obj && obj[0] == 'v' && !isalpha((unsigned char)obj[1]))
		p->kind = PRESTO_PRECOND_V;
	else
		return -1;
	return 0;
}

/* ---- the network and callbacks ---- */

typedef struct {
	fixture *fx;
	presto_precond_params pre;
	int input_space, B;
	size_t n;
	int max_evals, evals, failed;
	const float *replay;  /* [max_evals, n] denoised to reproduce (replay level) */
	float *got_x;         /* [max_evals, n] the x each call saw (sampler's space) */
	float *got_den;       /* [max_evals, n] denoised of each call */
	float *got_sigma;     /* [max_evals, B] */
	/* full level */
	presto_dit *dit;
	const float *cross, *global;
	int S, T;
	float cfg;
	float *t;             /* [B] */
	/* steps */
	int steps;
	float *step_x, *step_den; /* [steps, n] */
	/* noise */
	const float *noise_src;   /* [max_draws, n] */
	int max_draws, draws;
	float *got_noise_sigmas;  /* [max_draws, 2] */
} run_ctx;

static presto_status net(void *ctx, float *out, const float *x_in, double t_net, int k)
{
	run_ctx *r = ctx;
	if (k != r->evals || k >= r->max_evals) {
		fx_fail(r->fx, "network call %d: expected call %d of %d", k, r->evals, r->max_evals);
		r->failed = 1;
		return presto_error_set(PRESTO_EINVAL, "unexpected network call");
	}
	r->evals++;
	double sigma = presto_precond_sigma(&r->pre, t_net);
	double c_skip, c_out, c_in, k_skip;
	presto_precond_coeffs(&r->pre, sigma, &c_skip, &c_out, &c_in, NULL);
	presto_precond_input(&r->pre, sigma, NULL, NULL, &k_skip);
	float *gx = r->got_x + (size_t)k * r->n, *gd = r->got_den + (size_t)k * r->n;
	for (int b = 0; b < r->B; b++)
		r->got_sigma[(size_t)k * (size_t)r->B + (size_t)b] = (float)sigma;
	/* D = cs x + c_out F with (cs, x) = (k_skip, x_in) in input space, else
	 * (c_skip, x_in / c_in) */
	double cs = r->input_space ? k_skip : c_skip;
	for (size_t i = 0; i < r->n; i++)
		gx[i] = r->input_space ? x_in[i] : (float)(x_in[i] / c_in);
	if (r->replay) {
		const float *d = r->replay + (size_t)k * r->n;
		for (size_t i = 0; i < r->n; i++) {
			out[i] = (float)((d[i] - cs * gx[i]) / c_out);
			gd[i] = d[i];
		}
		return PRESTO_OK;
	}
	for (int b = 0; b < r->B; b++)
		r->t[b] = (float)t_net;
	PRESTO_TRY(presto_dit_forward_cfg(r->dit, out, x_in, r->t, r->cross, NULL, r->S, r->global, r->B, r->T, r->cfg,
					  NULL, NULL, NULL));
	for (size_t i = 0; i < r->n; i++)
		gd[i] = (float)(cs * gx[i] + c_out * out[i]);
	return PRESTO_OK;
}

static void on_step(void *ctx, int i, double sigma, const float *x, const float *den)
{
	run_ctx *r = ctx;
	if (i < 0 || i >= r->steps) {
		fx_fail(r->fx, "step callback %d out of %d steps", i, r->steps);
		return;
	}
	memcpy(r->step_x + (size_t)i * r->n, x, r->n * sizeof *x);
	memcpy(r->step_den + (size_t)i * r->n, den, r->n * sizeof *den);
}

static presto_status noise(void *ctx, float *out, size_t n, int call, double sigma, double sigma_next)
{
	run_ctx *r = ctx;
	if (!r->noise_src || call != r->draws || call >= r->max_draws || n != r->n) {
		fx_fail(r->fx, "noise call %d: expected call %d of %d", call, r->draws, r->max_draws);
		return presto_error_set(PRESTO_EINVAL, "unexpected noise call");
	}
	r->draws++;
	memcpy(out, r->noise_src + (size_t)call * n, n * sizeof *out);
	r->got_noise_sigmas[2 * call] = (float)sigma;
	r->got_noise_sigmas[2 * call + 1] = (float)sigma_next;
	return PRESTO_OK;
}

/* ---- one run (replay or full) ---- */

typedef struct {
	presto_sampler_kind kind;
	presto_precond_params pre;
	double eta, s_noise;
	int steps, B, T, has_eval;
	size_t n;
	double *sigmas;       /* [steps + 1] as the reference used them */
	const float *x0;      /* start in the sampler's space */
} setup;

static void run_level(fixture *fx, const setup *su, run_ctx *r, double tol)
{
	float *x = presto_falloc(su->n), *scratch = presto_falloc(2 * su->n);
	size_t E = (size_t)r->max_evals, D = (size_t)(r->max_draws > 0 ? r->max_draws : 1);
	r->got_x = presto_fzalloc(E * su->n);
	r->got_den = presto_fzalloc(E * su->n);
	r->got_sigma = presto_fzalloc(E * (size_t)su->B);
	r->step_x = presto_fzalloc((size_t)su->steps * su->n);
	r->step_den = presto_fzalloc((size_t)su->steps * su->n);
	r->got_noise_sigmas = presto_fzalloc(2 * D);
	r->t = presto_falloc((size_t)su->B);
	if (!x || !scratch || !r->got_x || !r->got_den || !r->got_sigma || !r->step_x || !r->step_den ||
	    !r->got_noise_sigmas || !r->t) {
		fx_fail(fx, "out of memory");
		goto out;
	}
	memcpy(x, su->x0, su->n * sizeof *x);
	presto_denoiser d = {.pre = su->pre, .net = net, .net_ctx = r, .n = su->n, .scratch = scratch};
	presto_sampler_opts o = {.kind = su->kind, .eta = su->eta, .s_noise = su->s_noise, .noise = noise,
				 .noise_ctx = r, .step = on_step, .step_ctx = r};
	if (presto_sample(&d, &o, x, su->sigmas, su->steps)) {
		if (!r->failed)
			fx_fail(fx, "%s: %s", presto_sampler_name(su->kind), presto_error());
		goto out;
	}
	if (r->evals != r->max_evals)
		fx_fail(fx, "%d network calls, the reference made %d", r->evals, r->max_evals);
	if (r->noise_src && r->draws != r->max_draws)
		fx_fail(fx, "%d noise draws, the reference made %d", r->draws, r->max_draws);
	fx_check_tol(fx, "out.x", x, su->n, tol);
	fx_check_tol(fx, "inter.step.x", r->step_x, (size_t)su->steps * su->n, tol);
	fx_check_tol(fx, "inter.step.denoised", r->step_den, (size_t)su->steps * su->n, tol);
	/* the fp64 run of the reference, where present (full level only: the
	 * replay reproduces the fp32 run's own denoiser outputs) */
	if (!r->replay) {
		if (presto_st_get(fx->st, "f64.out.x"))
			fx_check_tol(fx, "f64.out.x", x, su->n, tol);
		if (presto_st_get(fx->st, "f64.inter.step.denoised"))
			fx_check_tol(fx, "f64.inter.step.denoised", r->step_den, (size_t)su->steps * su->n, tol);
		if (su->has_eval && presto_st_get(fx->st, "f64.inter.eval.denoised"))
			fx_check_tol(fx, "f64.inter.eval.denoised", r->got_den, E * su->n, tol);
	}
	if (su->has_eval) {
		fx_check_tol(fx, "inter.eval.x", r->got_x, E * su->n, tol);
		fx_check_tol(fx, "inter.eval.denoised", r->got_den, E * su->n, tol);
		fx_check_tol(fx, "inter.eval.sigma", r->got_sigma, E * (size_t)su->B, REPLAY_TOL);
	}
	if (r->noise_src && fx_numel(fx, "in.sde_noise_sigmas"))
		fx_check_tol(fx, "in.sde_noise_sigmas", r->got_noise_sigmas, 2 * (size_t)r->max_draws, REPLAY_TOL);
out:
	free(x);
	free(scratch);
	free(r->got_x);
	free(r->got_den);
	free(r->got_sigma);
	free(r->step_x);
	free(r->step_den);
	free(r->got_noise_sigmas);
	free(r->t);
}

/* The noise source the reference used: in.sde_noise (dpmpp-3m-sde) or
 * in.step_noise (pingpong; its last draw is multiplied by t = 0 and not
 * made here). */
static void noise_source(fixture *fx, const setup *su, run_ctx *r)
{
	int64_t shape[8];
	int nd;
	const char *name = su->kind == PRESTO_SAMPLER_DPMPP_3M_SDE ? "in.sde_noise" :
			   presto_sampler_input_space(su->kind)     ? "in.step_noise" :
								      NULL;
	if (!name || (su->kind == PRESTO_SAMPLER_DPMPP_3M_SDE && su->eta == 0))
		return;
	r->noise_src = fx_ref(fx, name, shape, &nd);
	if (!r->noise_src)
		return;
	r->max_draws = (int)(fx_numel(fx, name) / su->n);
	if (presto_sampler_input_space(su->kind) && r->max_draws > su->steps - 1)
		r->max_draws = su->steps - 1;
}

/* ---- the real DiT ---- */

/* "dit_sao.safetensors of the same folder ..." -> "dit_sao" */
static int model_base(const char *s, char *base, size_t len)
{
	const char *e = strstr(s, ".safetensors");
	if (!e)
		return -1;
	const char *b = e;
	while (b > s && (isalnum((unsigned char)b[-1]) || strchr("_-.", b[-1])))
		b--;
	if (b == e || (size_t)(e - b) >= len)
		return -1;
	memcpy(base, b, (size_t)(e - b));
	base[e - b] = 0;
	return 0;
}

static double parse_cfg_scale(fixture *fx)
{
	double v = 1.0;
	const char *kw = jstr(fx, "model_kwargs");
	if (strstr(kw, "cfg_scale") && find_kw(kw, "cfg_scale", &v)) {
		fx_fail(fx, "cannot parse cfg_scale in \"%s\"", kw);
		return NAN;
	}
	return v;
}

static void run_full(fixture *fx, const setup *su, const char *base, json_t *mj)
{
	char file[512];
	presto_dit *m = NULL;
	presto_dit_config cfg;
	json_t *dcfg = json_object_get(json_object_get(json_object_get(json_object_get(mj, "model_config"), "model"),
						       "diffusion"),
				       "config");
	if (!dcfg) {
		fx_fail(fx, "%s.json has no model_config.model.diffusion.config", base);
		return;
	}
	snprintf(file, sizeof file, "%s.safetensors", base);
	presto_st *st = fx_open_sibling(fx, file);
	if (!st)
		return;
	if (presto_dit_config_from_json(dcfg, &cfg) || presto_dit_load(st, "model.model.", &cfg, &m)) {
		fx_fail(fx, "loading the DiT of %s: %s", file, presto_error());
		return;
	}
	int64_t cs[8], gs[8];
	int cnd, gnd;
	run_ctx r = {.fx = fx, .pre = su->pre, .input_space = presto_sampler_input_space(su->kind), .B = su->B,
		     .n = su->n, .dit = m, .T = su->T, .steps = su->steps};
	r.cfg = (float)parse_cfg_scale(fx);
	r.cross = fx_ref(fx, "in.cross_attn_cond", cs, &cnd);
	r.global = presto_st_get(fx->st, "in.global_cond") ? fx_ref(fx, "in.global_cond", gs, &gnd) : NULL;
	r.max_evals = su->has_eval ? (int)(fx_numel(fx, "inter.eval.x") / su->n) : su->steps;
	if (!r.cross || cnd != 3 || cs[0] != su->B || !isfinite(r.cfg)) {
		fx_fail(fx, "bad in.cross_attn_cond or cfg scale");
		presto_dit_free(m);
		return;
	}
	r.S = (int)cs[1];
	noise_source(fx, su, &r);
	if (fx->verbose)
		fprintf(stderr, "  full (DiT %s, cfg %g):\n", base, (double)r.cfg);
	presto_accel *accel = fx_gpu_dit(fx, m); /* with --device: every DiT evaluation on the GPU */
	if (!fx_device || accel)
		run_level(fx, su, &r, fx->tol);
	presto_accel_free(accel);
	presto_dit_free(m);
}

/* ---- the handler ---- */

static int check_schedule(fixture *fx, setup *su)
{
	schedule sc;
	if (parse_schedule(fx, jstr(fx, "schedule"), su->steps, &sc))
		return -1;
	double *s = malloc(sizeof(double) * (size_t)(su->steps + 1));
	float *f = malloc(sizeof(float) * (size_t)(su->steps + 1));
	if (!s || !f) {
		free(s);
		free(f);
		fx_fail(fx, "out of memory");
		return -1;
	}
	if (sc.kind == SCHED_KARRAS)
		presto_sigmas_karras(s, su->steps, sc.smin, sc.smax, sc.rho);
	else if (sc.kind == SCHED_POLYEXP)
		presto_sigmas_polyexponential(s, su->steps, sc.smin, sc.smax, sc.rho);
	else
		presto_t_rf_logsnr(s, su->steps, sc.ls0, sc.ls1, sc.t0);
	for (int i = 0; i <= su->steps; i++)
		f[i] = (float)s[i];
	fx_check_tol(fx, sc.kind == SCHED_RF ? "in.t_schedule" : "in.sigmas", f, (size_t)su->steps + 1, SCHEDULE_TOL);
	free(s);
	free(f);
	return 0;
}

int conf_sampler(fixture *fx, const char **skip_reason)
{
	setup su = {0};
	const json_t *params = json_object_get(fx->json, "params");
	json_t *mj = NULL;
	char base[256], path[4096];
	float *x0 = NULL;

	if (parse_sampler(jstr(fx, "sampler"), &su.kind)) {
		*skip_reason = "sampler not supported";
		return 1;
	}
	double churn = json_number_value(json_object_get(params, "s_churn"));
	if (churn != 0) {
		*skip_reason = "s_churn > 0 not supported";
		return 1;
	}
	su.eta = json_object_get(params, "eta") ? json_number_value(json_object_get(params, "eta")) : 1.0;
	su.s_noise = json_object_get(params, "s_noise") ? json_number_value(json_object_get(params, "s_noise")) : 1.0;
	if (model_base(jstr(fx, "model"), base, sizeof base) == 0) {
		json_error_t err;
		snprintf(path, sizeof path, "%s/%s.json", fx->dir, base);
		if (!(mj = json_load_file(path, 0, &err)))
			fx_fail(fx, "%s: %s", path, err.text);
	} else
		fx_fail(fx, "no model file in \"model\": \"%s\"", jstr(fx, "model"));
	if (parse_precond(fx, mj, &su.pre)) {
		fx_fail(fx, "cannot tell the preconditioning (denoiser \"%s\")", jstr(fx, "denoiser"));
		goto out;
	}
	fx->tol = FULL_TOL;

	/* geometry and the start */
	int64_t shape[8];
	int nd;
	const float *noise0 = fx_ref(fx, "in.noise", shape, &nd);
	if (!noise0 || nd != 3)
		goto out;
	su.B = (int)shape[0];
	su.T = (int)shape[2];
	su.n = fx_numel(fx, "in.noise");
	int input = presto_sampler_input_space(su.kind);
	const char *sname = presto_st_get(fx->st, "in.sigmas") ? "in.sigmas" : "in.t_schedule";
	const float *sg = fx_ref(fx, sname, shape, &nd);
	if (!sg || nd != 1 || shape[0] < 2)
		goto out;
	su.steps = (int)shape[0] - 1;
	su.sigmas = malloc(sizeof(double) * (size_t)(su.steps + 1));
	x0 = presto_falloc(su.n);
	if (!su.sigmas || !x0)
		goto out;
	for (int i = 0; i <= su.steps; i++)
		su.sigmas[i] = sname[3] == 's' ? sg[i] : presto_rf_t_to_sigma(sg[i]);
	if (check_schedule(fx, &su))
		goto out;
	if (input) {
		double b;
		presto_precond_input(&su.pre, su.sigmas[0], NULL, &b, NULL);
		for (size_t i = 0; i < su.n; i++)
			x0[i] = (float)(b * noise0[i]);
	} else {
		for (size_t i = 0; i < su.n; i++)
			x0[i] = (float)(noise0[i] * su.sigmas[0]);
		if (presto_st_get(fx->st, "in.x_init"))
			fx_check_tol(fx, "in.x_init", x0, su.n, REPLAY_TOL);
	}
	su.x0 = x0;
	su.has_eval = presto_st_get(fx->st, "inter.eval.x") != NULL;

	/* replay */
	run_ctx r = {.fx = fx, .pre = su.pre, .input_space = input, .B = su.B, .n = su.n, .steps = su.steps};
	const char *rep = su.has_eval ? "inter.eval.denoised" : "inter.step.denoised";
	r.replay = fx_ref(fx, rep, NULL, NULL);
	if (!r.replay)
		goto out;
	r.max_evals = (int)(fx_numel(fx, rep) / su.n);
	noise_source(fx, &su, &r);
	if (fx->verbose)
		fprintf(stderr, "  replay (%s, %s, %d steps):\n", presto_sampler_name(su.kind),
			presto_precond_name(su.pre.kind), su.steps);
	run_level(fx, &su, &r, REPLAY_TOL);

	/* full */
	if (mj)
		run_full(fx, &su, base, mj);
out:
	json_decref(mj);
	free(su.sigmas);
	free(x0);
	return 0;
}

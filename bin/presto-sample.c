/* presto-sample - conditioning stream to latent stream: the DiT with a
 * sampler, classifier-free guidance, layer budgets and per-record seeds. */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "accel.h"
#include "common.h"
#include "generate.h"
#include "ops.h"
#include "stream.h"

enum {
	OPT_SAMPLER = 256, OPT_CFG, OPT_SCHEDULE, OPT_SIGMA_MIN, OPT_SIGMA_MAX, OPT_RHO, OPT_SIGMAS, OPT_ETA,
	OPT_S_NOISE, OPT_BUDGET, OPT_NO_BUDGET, OPT_EMIT_STEPS, OPT_SECONDS, OPT_THREADS, OPT_PROGRESS, OPT_INIT,
	OPT_INIT_SIGMA, OPT_DEVICE, OPT_PRECISION, OPT_BATCH,
};

static const presto_cli_option options[] = {
	{"model", 'm', "DIR", "model directory (default: $PRESTO_MODEL, else the shipped default)"},
	{"output", 'o', "FILE", "write the latent stream to FILE instead of stdout"},
	{"steps", 'n', "N", "sampling steps (default: the model's)"},
	{"seed", 'S', "N", "seed of the first record; record i uses N+i (default: random)"},
	{"sampler", OPT_SAMPLER, "NAME", "euler, heun, dpmpp-2m, dpmpp-3m-sde, pingpong or presto"},
	{"cfg", OPT_CFG, "SCALE", "classifier-free guidance scale, 1 = off (default: the model's)"},
	{"schedule", OPT_SCHEDULE, "NAME", "karras, polyexponential, log-linear or rf"},
	{"sigma-min", OPT_SIGMA_MIN, "S", "smallest noise level of the schedule"},
	{"sigma-max", OPT_SIGMA_MAX, "S", "largest noise level of the schedule"},
	{"rho", OPT_RHO, "RHO", "schedule curvature (karras, polyexponential)"},
	{"sigmas", OPT_SIGMAS, "LIST", "explicit schedule: comma-separated decreasing sigmas ending in 0"},
	{"eta", OPT_ETA, "ETA", "dpmpp-3m-sde noise amount (default 1)"},
	{"s-noise", OPT_S_NOISE, "S", "dpmpp-3m-sde noise scale (default 1)"},
	{"budget", OPT_BUDGET, "JSON", "layer budget: JSON array or @FILE (see presto-model(5))"},
	{"no-budget", OPT_NO_BUDGET, NULL, "run every block at every noise level"},
	{"seconds", OPT_SECONDS, "SECONDS", "clip length (default: each record's seconds_total)"},
	{"emit-steps", OPT_EMIT_STEPS, NULL, "add every step's x and denoised latent to the records"},
	{"device", OPT_DEVICE, "DEV", "auto, cpu, cuda or cuda:N (default: $PRESTO_DEVICE, else auto)"},
	{"precision", OPT_PRECISION, "P", "on a GPU: auto, fp32 or bf16 (default auto: bf16 where supported)"},
	{"batch", OPT_BATCH, "N", "sample up to N consecutive records of one length at once (default 1)"},
	{"threads", OPT_THREADS, "N", "CPU threads for the matrix products (default: all cores)"},
	{"progress", OPT_PROGRESS, NULL, "show progress on stderr even when it is not a terminal"},
	{"init", OPT_INIT, "FILE", "variations: start from the latents of FILE (e.g. presto-ingest output)"},
	{"init-sigma", OPT_INIT_SIGMA, "S", "with --init: noise the start latent to S and sample from there (default 1)"},
	{0},
};

static const presto_cli_spec spec = {
	"presto-sample",
	"[OPTION]... [FILE]",
	"Sample latents from a conditioning stream (default: stdin).",
	options,
	"Reads a presto-stream(5) of kind cond, writes one of kind latent: one record\n"
	"per input record, with the seed and every sampling parameter in its params.\n",
};

typedef struct {
	int n_steps;
	float *xs, *ds; /* [B, steps, C, T] */
	size_t n;       /* elements a record */
	int B;
	int progress;   /* 0 none, 1 one line per step, 2 redrawn line (terminal) */
	uint64_t rec, last; /* the ids of the batch's first and last records */
} steps_ctx;

static void on_step(void *ctx, int i, double sigma, const float *x, const float *denoised)
{
	steps_ctx *s = ctx;
	(void)sigma;
	if (s->xs && i < s->n_steps) {
		for (int b = 0; b < s->B; b++) {
			size_t at = ((size_t)b * (size_t)s->n_steps + (size_t)i) * s->n;
			memcpy(s->xs + at, x + (size_t)b * s->n, sizeof(float) * s->n);
			memcpy(s->ds + at, denoised + (size_t)b * s->n, sizeof(float) * s->n);
		}
	}
	if (!s->progress)
		return;
	char what[64];
	if (s->B > 1)
		snprintf(what, sizeof what, "records %llu-%llu", (unsigned long long)s->rec, (unsigned long long)s->last);
	else
		snprintf(what, sizeof what, "record %llu", (unsigned long long)s->rec);
	if (s->progress == 2) {
		fprintf(stderr, "\r%s: %s step %d/%d\033[K", presto_progname(), what, i + 1, s->n_steps);
		if (i + 1 >= s->n_steps)
			fputc('\n', stderr);
	} else {
		fprintf(stderr, "%s: %s step %d/%d\n", presto_progname(), what, i + 1, s->n_steps);
	}
}

/* Parameters the latent records set themselves (not copied from the input). */
static int own_param(const char *name)
{
	static const char *const own[] = {"seed", "sampler", "steps", "sigmas", "cfg", "schedule",
					  "eta", "s_noise", "budget", "model", "device"};
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
		if (!strcmp(name, own[i]))
			return 1;
	return 0;
}

/* One input record waiting for its batch: its conditioning, length, start
 * latent (--init) and seed. */
typedef struct {
	presto_record rec;
	float *cross, *neg, *global;
	int S, T;
	const float *init;
	uint64_t seed;
} item;

static void item_free(item *it)
{
	free(it->cross);
	free(it->neg);
	free(it->global);
	presto_record_free(&it->rec);
	memset(it, 0, sizeof *it);
}

/* the conditioning and length of record `index` of the input */
static presto_status read_item(item *it, const presto_model_config *mc, double seconds, const char *in_label,
			       float **inits, const int64_t *init_T, int n_inits, uint64_t index)
{
	presto_record *rec = &it->rec;
	int64_t cs[2] = {-1, mc->dit.cond_token_dim}, gs[1] = {mc->dit.global_cond_dim};
	double secs = seconds;
	presto_status st = presto_record_f32(rec, "cross_attn_cond", 2, cs, &it->cross);
	if (!st && presto_record_tensor(rec, "negative_cross_attn_cond")) {
		int64_t ns[2] = {cs[0], cs[1]};
		st = presto_record_f32(rec, "negative_cross_attn_cond", 2, ns, &it->neg);
	}
	if (!st && mc->dit.global_cond_dim)
		st = presto_record_f32(rec, "global_cond", 1, gs, &it->global);
	if (!st && secs < 0)
		st = presto_record_double(rec, "seconds_total", &secs);
	if (!st && !(secs > 0 && secs <= 3600))
		st = presto_error_set(PRESTO_EINVAL, "record %llu: seconds_total %g out of range",
				      (unsigned long long)rec->id, secs);
	if (st) /* the record's own errors name it; add the input */
		return presto_error_wrap(st, "%s: ", in_label);
	it->S = (int)cs[0];
	it->T = presto_latent_frames(mc, secs);
	if (inits) { /* a variation keeps the length of its start latent */
		if (n_inits > 1 && index >= (uint64_t)n_inits)
			return presto_error_set(PRESTO_EINVAL, "--init holds %d records, the input more", n_inits);
		int k = n_inits > 1 ? (int)index : 0;
		it->init = inits[k];
		it->T = (int)init_T[k];
	}
	return PRESTO_OK;
}

/* whether b can join a batch that starts with a */
static int same_shape(const item *a, const item *b)
{
	return a->T == b->T && a->S == b->S && !a->neg == !b->neg;
}

typedef struct {
	presto_dit *dit;
	const presto_model_config *mc;
	presto_gen_opts *g;
	steps_ctx *sc;
	presto_stream_writer *w;
	int emit, used_steps;
	const double *sigmas;
	const char *budget_json, *device_used;
	uint64_t written; /* records written so far */
} batch_run;

/* the latents of q[0..nq) in one presto_generate_batch, then their records */
static presto_status run_batch(batch_run *br, const item *q, int nq)
{
	const presto_model_config *mc = br->mc;
	presto_gen_opts *g = br->g;
	steps_ctx *sc = br->sc;
	int C = mc->dit.io_channels, T = q[0].T, S = q[0].S, gd = mc->dit.global_cond_dim;
	int cd = mc->dit.cond_token_dim;
	size_t n = (size_t)C * (size_t)T, nc = (size_t)S * (size_t)cd;
	presto_status st = PRESTO_ENOMEM;
	float *latents = presto_falloc(n * (size_t)nq), *cross = NULL, *neg = NULL, *global = NULL;
	uint64_t *seeds = presto_malloc(sizeof *seeds * (size_t)nq);
	const float **inits = presto_malloc(sizeof *inits * (size_t)nq);
	presto_param *p = NULL;
	if (!latents || !seeds || !inits)
		goto out;
	if (nq == 1) { /* the record's own arrays */
		cross = q[0].cross, neg = q[0].neg, global = q[0].global;
	} else {
		if (!(cross = presto_falloc(nc * (size_t)nq)) || (q[0].neg && !(neg = presto_falloc(nc * (size_t)nq))) ||
		    (q[0].global && !(global = presto_falloc((size_t)gd * (size_t)nq))))
			goto out;
		for (int b = 0; b < nq; b++) {
			memcpy(cross + (size_t)b * nc, q[b].cross, sizeof(float) * nc);
			if (neg)
				memcpy(neg + (size_t)b * nc, q[b].neg, sizeof(float) * nc);
			if (global)
				memcpy(global + (size_t)b * (size_t)gd, q[b].global, sizeof(float) * (size_t)gd);
		}
	}
	for (int b = 0; b < nq; b++) {
		seeds[b] = q[b].seed;
		inits[b] = q[b].init;
	}
	sc->n = n;
	sc->B = nq;
	sc->rec = q[0].rec.id;
	sc->last = q[nq - 1].rec.id;
	if (br->emit) {
		free(sc->xs);
		free(sc->ds);
		sc->xs = presto_falloc(n * (size_t)br->used_steps * (size_t)nq);
		sc->ds = presto_falloc(n * (size_t)br->used_steps * (size_t)nq);
		if (!sc->xs || !sc->ds)
			goto out;
	}
	g->seed = seeds[0];
	/* the latents only for --emit-steps; progress waits for each step */
	g->step = br->emit || sc->progress ? on_step : NULL;
	g->step_ctx = sc;
	g->step_need = br->emit ? PRESTO_STEP_LATENTS : PRESTO_STEP_DONE;
	st = presto_generate_batch(br->dit, mc, g, nq, seeds, g->init ? inits : NULL, cross, neg, S, global, T,
				   latents);
	if (st) {
		if (nq > 1)
			presto_error_wrap(st, "records %llu-%llu: ", (unsigned long long)q[0].rec.id,
					  (unsigned long long)q[nq - 1].rec.id);
		else
			presto_error_wrap(st, "record %llu: ", (unsigned long long)q[0].rec.id);
		goto out;
	}
	for (int b = 0; b < nq && !st; b++) {
		const presto_record *rec = &q[b].rec;
		free(p);
		if (!(p = presto_malloc(sizeof *p * ((size_t)rec->n_params + 12)))) {
			st = PRESTO_ENOMEM;
			break;
		}
		int np = 0;
		for (int i = 0; i < rec->n_params; i++) /* what produced the conditioning */
			if (!own_param(rec->params[i].name))
				p[np++] = rec->params[i];
		p[np++] = presto_param_int("seed", (int64_t)seeds[b]);
		p[np++] = presto_param_str("sampler", presto_sampler_name(g->sampler));
		p[np++] = presto_param_int("steps", br->used_steps);
		p[np++] = presto_param_array("sigmas", br->sigmas, (size_t)br->used_steps + 1);
		p[np++] = presto_param_float("cfg", g->cfg_scale);
		p[np++] = presto_param_str("schedule", g->schedule);
		if (g->sampler == PRESTO_SAMPLER_DPMPP_3M_SDE) {
			p[np++] = presto_param_float("eta", g->eta);
			p[np++] = presto_param_float("s_noise", g->s_noise);
		}
		p[np++] = g->budget ? presto_param_str("budget", br->budget_json) : presto_param_nil("budget");
		p[np++] = presto_param_str("model", mc->id);
		p[np++] = presto_param_str("device", br->device_used);
		presto_tensor t[3];
		const char *names[3] = {"latent", "steps.x", "steps.denoised"};
		size_t per = n * (size_t)br->used_steps;
		t[0] = presto_tensor_wrap(PRESTO_F32, 2, (int64_t[]){C, T}, latents + (size_t)b * n);
		if (br->emit) {
			t[1] = presto_tensor_wrap(PRESTO_F32, 3, (int64_t[]){br->used_steps, C, T}, sc->xs + (size_t)b * per);
			t[2] = presto_tensor_wrap(PRESTO_F32, 3, (int64_t[]){br->used_steps, C, T}, sc->ds + (size_t)b * per);
		}
		presto_record orec = {.id = rec->id, .n_params = np, .params = p, .n_tensors = br->emit ? 3 : 1,
				      .tensor_names = (char **)names, .tensors = t};
		/* the header goes out with the first record: a failure before
		 * it leaves the output empty */
		presto_stream_header h = {.kind = PRESTO_KIND_LATENT, .producer = "presto-sample " PRESTO_VERSION,
					  .model = mc->id};
		if (br->written == 0)
			st = presto_stream_write_header(br->w, &h);
		if (!st)
			st = presto_stream_write_record(br->w, &orec);
		br->written++;
	}
out:
	if (nq > 1) {
		free(cross);
		free(neg);
		free(global);
	}
	free(latents);
	free(seeds);
	free(inits);
	free(p);
	return st;
}

static presto_status parse_sigmas(const char *s, double **out, int *steps)
{
	int n = 0, cap = 16;
	double *v = presto_malloc(sizeof(double) * (size_t)cap);
	if (!v)
		return PRESTO_ENOMEM;
	const char *p = s;
	while (*p) {
		char *end;
		double x = strtod(p, &end);
		if (end == p || (*end && *end != ',')) {
			free(v);
			return presto_error_set(PRESTO_EINVAL, "--sigmas: '%s' is not a comma-separated list of numbers", s);
		}
		if (n == cap) {
			double *nv = realloc(v, sizeof(double) * (size_t)(cap *= 2));
			if (!nv) {
				free(v);
				return presto_error_set(PRESTO_ENOMEM, "out of memory");
			}
			v = nv;
		}
		v[n++] = x;
		p = *end ? end + 1 : end;
	}
	if (n < 2 || v[n - 1] != 0) {
		free(v);
		return presto_error_set(PRESTO_EINVAL, "--sigmas: need at least two values ending in 0");
	}
	*out = v;
	*steps = n - 1;
	return PRESTO_OK;
}

/* All latents of a latent stream ([C, T] each), for --init. */
static presto_status read_inits(const char *path, int C, float ***out, int64_t **T, int *n)
{
	FILE *f = NULL;
	const char *label;
	presto_stream_reader *r = NULL;
	presto_record rec = {0};
	float **v = NULL;
	int64_t *t = NULL;
	int k = 0;
	presto_status st = presto_input_open(path, &f, &label);
	if (!st)
		st = presto_stream_reader_open_file(f, label, PRESTO_KIND_LATENT, &r);
	while (!st && !(st = presto_stream_next(r, &rec))) {
		float **nv = realloc(v, sizeof *v * (size_t)(k + 1));
		int64_t *nt = realloc(t, sizeof *t * (size_t)(k + 1));
		if (nv)
			v = nv;
		if (nt)
			t = nt;
		int64_t shape[2] = {C, -1};
		if (!nv || !nt)
			st = presto_error_set(PRESTO_ENOMEM, "out of memory");
		else if (!(st = presto_record_f32(&rec, "latent", 2, shape, &v[k])))
			t[k++] = shape[1];
		presto_record_free(&rec);
	}
	if (st == PRESTO_EEOF)
		st = k ? PRESTO_OK : presto_error_set(PRESTO_EINVAL, "--init %s: the stream holds no record", label);
	else if (st)
		presto_error_wrap(st, "--init: ");
	presto_stream_reader_close(r);
	if (f)
		presto_input_close(f);
	if (st) {
		for (int i = 0; i < k; i++)
			free(v[i]);
		free(v);
		free(t);
		return st;
	}
	*out = v;
	*T = t;
	*n = k;
	return PRESTO_OK;
}

static presto_status read_budget(const char *arg, int depth, presto_budget *b)
{
	json_error_t jerr;
	json_t *j = arg[0] == '@' ? json_load_file(arg + 1, 0, &jerr) : json_loads(arg, 0, &jerr);
	if (!j)
		return presto_error_set(PRESTO_EINVAL, "--budget: %s", jerr.text);
	presto_status st = presto_budget_from_json(j, depth, b);
	json_decref(j);
	if (st)
		return presto_error_wrap(st, "--budget: ");
	return PRESTO_OK;
}

int main(int argc, char **argv)
{
	presto_cli cli;
	const char *arg, *model = NULL, *out = NULL, *sampler = NULL, *schedule = NULL, *sigmas_arg = NULL,
			 *budget_arg = NULL, *init_arg = NULL, *device_arg = NULL, *precision_arg = NULL;
	double init_sigma = -1;
	long long steps = 0, seed = -1, threads = 0, batch = 1;
	double cfg = -1, smin = -1, smax = -1, rho = -1, eta = 1, s_noise = 1, seconds = -1;
	int no_budget = 0, emit = 0, progress = 0, c;
	presto_cli_init(&cli, &spec, argc, argv);
	while ((c = presto_cli_next(&cli, &arg)) != PRESTO_CLI_END) {
		switch (c) {
		case PRESTO_CLI_EXIT: return cli.exit_code;
		case 'm': model = arg; break;
		case 'o': out = arg; break;
		case 'n': if (!presto_cli_int("--steps", arg, 1, 10000, &steps)) return 1; break;
		case 'S': if (!presto_cli_int("--seed", arg, 0, (1LL << 62), &seed)) return 1; break;
		case OPT_SAMPLER: sampler = arg; break;
		case OPT_CFG: if (!presto_cli_double("--cfg", arg, 0, 100, &cfg)) return 1; break;
		case OPT_SCHEDULE: schedule = arg; break;
		case OPT_SIGMA_MIN: if (!presto_cli_double("--sigma-min", arg, 1e-6, 1e6, &smin)) return 1; break;
		case OPT_SIGMA_MAX: if (!presto_cli_double("--sigma-max", arg, 1e-6, 1e6, &smax)) return 1; break;
		case OPT_RHO: if (!presto_cli_double("--rho", arg, 0.01, 100, &rho)) return 1; break;
		case OPT_SIGMAS: sigmas_arg = arg; break;
		case OPT_ETA: if (!presto_cli_double("--eta", arg, 0, 10, &eta)) return 1; break;
		case OPT_S_NOISE: if (!presto_cli_double("--s-noise", arg, 0, 10, &s_noise)) return 1; break;
		case OPT_BUDGET: budget_arg = arg; break;
		case OPT_NO_BUDGET: no_budget = 1; break;
		case OPT_SECONDS: if (!presto_cli_double("--seconds", arg, 0.01, 3600, &seconds)) return 1; break;
		case OPT_EMIT_STEPS: emit = 1; break;
		case OPT_THREADS: if (!presto_cli_int("--threads", arg, 1, 1024, &threads)) return 1; break;
		case OPT_PROGRESS: progress = 1; break;
		case OPT_INIT: init_arg = arg; break;
		case OPT_DEVICE: device_arg = arg; break;
		case OPT_PRECISION: precision_arg = arg; break;
		case OPT_BATCH: if (!presto_cli_int("--batch", arg, 1, 256, &batch)) return 1; break;
		case OPT_INIT_SIGMA: if (!presto_cli_double("--init-sigma", arg, 1e-6, 1e6, &init_sigma)) return 1; break;
		}
	}
	if (argc - cli.optind > 1)
		return presto_cli_usage("at most one input FILE");
	if (init_sigma > 0 && !init_arg)
		return presto_cli_usage("--init-sigma needs --init");
	presto_device_req dreq;
	if (presto_cli_device(device_arg, precision_arg, &dreq))
		return PRESTO_EXIT_USAGE;
	presto_sampler_kind kind = PRESTO_SAMPLER_EULER;
	if (sampler && presto_sampler_parse(sampler, &kind))
		return presto_cli_usage("--sampler: unknown sampler '%s'", sampler);
	if (budget_arg && no_budget)
		return presto_cli_usage("--budget and --no-budget exclude each other");
	presto_set_threads((int)threads);

	presto_model_config mc;
	presto_status st = presto_model_config_open(model, &mc);
	if (st)
		return presto_cli_status(st);

	presto_gen_opts g = {.steps = mc.steps, .cfg_scale = mc.cfg_scale, .sigma_min = mc.sigma_min,
			     .sigma_max = mc.sigma_max, .rho = mc.rho, .eta = eta, .s_noise = s_noise};
	snprintf(g.schedule, sizeof g.schedule, "%s", mc.schedule);
	if (!sampler && presto_sampler_parse(mc.sampler, &kind)) {
		presto_model_config_free(&mc);
		return presto_cli_error("%s/config.json: unknown sampler '%s'", mc.dir, mc.sampler);
	}
	g.sampler = kind;
	if (steps)
		g.steps = (int)steps;
	if (cfg >= 0)
		g.cfg_scale = cfg;
	if (schedule)
		snprintf(g.schedule, sizeof g.schedule, "%s", schedule);
	if (smin > 0)
		g.sigma_min = smin;
	if (smax > 0)
		g.sigma_max = smax;
	if (rho > 0)
		g.rho = rho;
	double *explicit_sigmas = NULL;
	presto_budget budget = mc.budget;
	if (sigmas_arg) {
		int n = 0;
		st = parse_sigmas(sigmas_arg, &explicit_sigmas, &n);
		if (st) {
			presto_model_config_free(&mc);
			presto_cli_status(st);
			return PRESTO_EXIT_USAGE;
		}
		if (steps && steps != n) {
			presto_model_config_free(&mc);
			free(explicit_sigmas);
			return presto_cli_usage("--steps %lld disagrees with the %d steps of --sigmas", steps, n);
		}
		g.steps = n;
		g.sigmas = explicit_sigmas;
		snprintf(g.schedule, sizeof g.schedule, "explicit");
	}
	if (budget_arg && (st = read_budget(budget_arg, mc.dit.depth, &budget))) {
		presto_model_config_free(&mc);
		free(explicit_sigmas);
		presto_cli_status(st);
		return PRESTO_EXIT_USAGE;
	}
	if (no_budget)
		budget.n = 0;
	g.budget = budget.n ? &budget : NULL;
	if (seed < 0) {
		uint64_t r;
		if (getrandom(&r, sizeof r, 0) != sizeof r)
			r = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
		seed = (long long)(r >> 34); /* leave room for + record index */
	}
	/* A bad schedule is a usage error when options chose it, a model
	 * error when it is the model's default. */
	int sched_opts = steps || schedule || smin > 0 || smax > 0 || rho > 0 || sigmas_arg;
	double *sigmas = NULL;
	int used_steps = 0;
	float **inits = NULL; /* --init latents, one per record (or one for all) */
	int64_t *init_T = NULL;
	int n_inits = 0;
	if (init_arg) {
		g.init_sigma = init_sigma > 0 ? init_sigma : 1.0;
		st = read_inits(init_arg, mc.dit.io_channels, &inits, &init_T, &n_inits);
		if (st) {
			presto_model_config_free(&mc);
			free(explicit_sigmas);
			return presto_cli_status(st);
		}
		g.init = inits[0]; /* the schedule is cut at init_sigma */
	}
	if (g.steps < 1 || g.steps > 10000)
		st = presto_error_set(PRESTO_EINVAL, "steps must be 1..10000 (got %d)", g.steps);
	else if (!(sigmas = presto_malloc(sizeof(double) * (size_t)(g.steps + 1))))
		st = presto_error_set(PRESTO_ENOMEM, "out of memory");
	else
		st = presto_gen_schedule(&mc, &g, sigmas, &used_steps);
	if (!st && isinf(sigmas[0]) && !presto_sampler_input_space(g.sampler))
		st = presto_error_set(PRESTO_EINVAL,
				      "sampler %s cannot start at sigma = inf (the %s schedule): use pingpong or presto, "
				      "or a schedule with a finite --sigma-max",
				      presto_sampler_name(g.sampler), g.schedule);
	if (st) {
		int usage = st == PRESTO_EINVAL && (sched_opts || sampler);
		if (st == PRESTO_EINVAL && !usage)
			presto_error_wrap(st, "%s/config.json: presto.sampling: ", mc.dir);
		presto_model_config_free(&mc);
		free(explicit_sigmas);
		free(sigmas);
		presto_cli_status(st);
		return usage ? PRESTO_EXIT_USAGE : PRESTO_EXIT_RUNTIME;
	}

	presto_st *wst = NULL;
	presto_dit *dit = NULL;
	FILE *in = NULL;
	const char *in_label;
	presto_stream_reader *r = NULL;
	presto_stream_writer *w = NULL;
	presto_output o = {0};
	presto_record rec = {0};
	/* --progress: even without a terminal or with PRESTO_QUIET set */
	steps_ctx sc = {.progress = presto_cli_progress_enabled() ? 2 : progress ? (isatty(2) ? 2 : 1) : 0,
			.n_steps = used_steps};
	char *budget_json = NULL;
	if (g.budget) {
		json_t *bj = json_array();
		for (int i = 0; i < budget.n; i++) {
			json_t *e = json_object(), *bl = json_array();
			json_object_set_new(e, "sigma_min", json_real(budget.e[i].sigma_lo));
			json_object_set_new(e, "sigma_max", isinf(budget.e[i].sigma_hi) ? json_null() : json_real(budget.e[i].sigma_hi));
			for (int k = 0; k < mc.dit.depth; k++)
				if (budget.e[i].run[k])
					json_array_append_new(bl, json_integer(k));
			json_object_set_new(e, "blocks", bl);
			json_array_append_new(bj, e);
		}
		budget_json = json_dumps(bj, JSON_COMPACT);
		json_decref(bj);
	}

	st = presto_input_open(cli.optind < argc ? argv[cli.optind] : NULL, &in, &in_label);
	if (!st)
		st = presto_stream_reader_open_file(in, in_label, PRESTO_KIND_COND, &r);
	if (!st)
		st = presto_stream_read_header(r, NULL);
	if (!st)
		st = presto_model_load_dit(&mc, &wst, &dit);
	presto_accel *accel = NULL;
	char device_used[320], device_note[600];
	if (!st)
		st = presto_accel_attach(dit, &dreq, &accel, device_used, sizeof device_used, device_note,
					 sizeof device_note);
	if (!st)
		presto_cli_device_note(device_note);
	if (!st)
		st = presto_output_open(&o, out, 1);
	if (!st)
		st = presto_stream_writer_open_file(o.f, o.label, &w);
	if (!st && g.budget && !budget_json)
		st = presto_error_set(PRESTO_ENOMEM, "out of memory");
	/* records wait in q until --batch of them (of one length, conditioning
	 * length and kind) are there, the next differs or the input ends */
	item *q = presto_malloc(sizeof *q * (size_t)batch);
	int nq = 0;
	uint64_t index = 0;
	if (!q)
		st = PRESTO_ENOMEM;
	batch_run br = {.dit = dit, .mc = &mc, .g = &g, .sc = &sc, .w = w, .emit = emit, .used_steps = used_steps,
			.sigmas = sigmas, .budget_json = budget_json, .device_used = device_used};
	while (!st) {
		presto_status rs = presto_stream_next(r, &rec);
		if (rs && rs != PRESTO_EEOF) {
			st = rs;
			break;
		}
		item it = {0};
		if (!rs) {
			it.rec = rec;
			memset(&rec, 0, sizeof rec);
			st = read_item(&it, &mc, seconds, in_label, inits, init_T, n_inits, index);
			if (st) {
				item_free(&it);
				break;
			}
			it.seed = (uint64_t)seed + index;
			index++;
		}
		if (nq && (rs || !same_shape(&q[0], &it) || nq == batch)) {
			st = run_batch(&br, q, nq);
			for (int k = 0; k < nq; k++)
				item_free(&q[k]);
			nq = 0;
		}
		if (rs)
			break;
		if (st) {
			item_free(&it);
			break;
		}
		q[nq++] = it;
	}
	for (int k = 0; k < nq; k++)
		item_free(&q[k]);
	free(q);
	presto_record_free(&rec);
	if (!st && !index)
		st = presto_error_set(PRESTO_EINVAL, "%s: the stream holds no record", in_label);
	int rc = presto_cli_finish_stream(st, w, &o);
	presto_stream_reader_close(r);
	if (in)
		presto_input_close(in);
	presto_accel_free(accel);
	presto_dit_free(dit);
	presto_st_close(wst);
	free(sc.xs);
	free(sc.ds);
	free(budget_json);
	free(sigmas);
	free(explicit_sigmas);
	for (int i = 0; i < n_inits; i++)
		free(inits[i]);
	free(inits);
	free(init_T);
	presto_model_config_free(&mc);
	return rc;
}

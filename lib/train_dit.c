/* train_dit.c - training the teacher DiT (see train_dit.h for the
 * objective, the data handling and the random-number layout). */
#include "train_dit.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dit_init.h"
#include "ops.h"
#include "rng.h"

#define DIT_PREFIX "model.model."
#define COND_PREFIX "conditioner.conditioners."

/* rng streams of batch k (of the run's seed) */
enum { RS_EPS = 0, RS_LEVEL_N = 1, RS_LEVEL_U = 2, RS_DROP = 3 };
/* seeds derived from the run's seed for the other uses */
#define SEED_INIT(s) ((s) ^ 0x696e6974ull)   /* "init" */
#define SEED_DATA(s) ((s) ^ 0x64617461ull)   /* "data" */
#define SEED_VALID(s) ((s) ^ 0x76616c6964ull) /* "valid" */

/* ------------------------------------------------------------------ */
/* small helpers */

static uint64_t fnv1a_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t fnv1a_str(const char *s) { return fnv1a_bytes(0xcbf29ce484222325ull, s, strlen(s)); }

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int starts_with(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = presto_malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* Standard normal quantile by bisection on the CDF (only for the handful of
 * fixed validation levels). */
static double norm_quantile(double q)
{
	double lo = -40, hi = 40;
	for (int i = 0; i < 200; i++) {
		double mid = 0.5 * (lo + hi);
		if (0.5 * erfc(-mid / sqrt(2.0)) < q)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

/* ------------------------------------------------------------------ */
/* the data set */

void presto_latent_set_free(presto_latent_set *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++) {
		if (s->prompt)
			free(s->prompt[i]);
		if (s->split)
			free(s->split[i]);
	}
	free(s->prompt);
	free(s->split);
	free(s->off);
	free(s->T);
	free(s->lat);
	free(s->id);
	free(s->num);
	memset(s, 0, sizeof *s);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 1;
	size_t nc = *cap ? *cap : 64;
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return 0;
		nc *= 2;
	}
	size_t bytes;
	if (!presto_mul_size(nc, elem, &bytes))
		return 0;
	void *q = realloc(*p, bytes);
	if (!q)
		return 0;
	*p = q;
	*cap = nc;
	return 1;
}

presto_status presto_latent_set_read(presto_stream_reader *r, const presto_model_config *mc, int f16,
				     presto_latent_set *s)
{
	memset(s, 0, sizeof *s);
	s->f16 = !!f16;
	s->C = mc->dit.io_channels;
	for (int k = 0; k < mc->n_conds; k++)
		if (!mc->conds[k].is_text)
			snprintf(s->num_id[s->n_num++], 64, "%s", mc->conds[k].id);
	size_t cap_lat = 0, n_lat = 0, esz = f16 ? 2 : 4;
	size_t c_off = 0, c_T = 0, c_p = 0, c_s = 0, c_id = 0, c_num = 0;
	uint64_t h = 0xcbf29ce484222325ull;
	presto_status st;
	presto_record rec;
	while (!(st = presto_stream_next(r, &rec))) {
		int i = s->n;
		float *z = NULL;
		const presto_tensor *t = presto_record_tensor(&rec, "latent");
		int64_t shape3[3] = {1, s->C, -1}, shape2[2] = {s->C, -1};
		if (!t)
			st = presto_error_set(PRESTO_EINVAL, "record %llu: no tensor 'latent'", (unsigned long long)rec.id);
		else if (t->ndim == 3)
			st = presto_record_f32(&rec, "latent", 3, shape3, &z);
		else
			st = presto_record_f32(&rec, "latent", 2, shape2, &z);
		int T = st ? 0 : (int)(t->ndim == 3 ? shape3[2] : shape2[1]);
		if (!st && T <= 0)
			st = presto_error_set(PRESTO_EINVAL, "record %llu: empty latent", (unsigned long long)rec.id);
		size_t n = (size_t)s->C * (size_t)T;
		if (!st && (!grow((void **)&s->off, &c_off, (size_t)i + 1, sizeof *s->off) ||
			    !grow((void **)&s->T, &c_T, (size_t)i + 1, sizeof *s->T) ||
			    !grow((void **)&s->prompt, &c_p, (size_t)i + 1, sizeof *s->prompt) ||
			    !grow((void **)&s->split, &c_s, (size_t)i + 1, sizeof *s->split) ||
			    !grow((void **)&s->id, &c_id, (size_t)i + 1, sizeof *s->id) ||
			    !grow((void **)&s->num, &c_num, ((size_t)i + 1) * (size_t)(s->n_num ? s->n_num : 1),
				  sizeof *s->num) ||
			    !grow(&s->lat, &cap_lat, n_lat + n, esz)))
			st = presto_error_set(PRESTO_ENOMEM, "out of memory holding %d latents", i + 1);
		if (!st) {
			s->prompt[i] = NULL;
			s->split[i] = NULL;
			s->off[i] = n_lat;
			s->T[i] = T;
			s->id[i] = rec.id;
			s->n = i + 1; /* owns prompt/split from here (freed on error) */
			if (f16) {
				uint16_t *d = (uint16_t *)s->lat + n_lat;
				for (size_t j = 0; j < n; j++)
					d[j] = presto_float_to_half(z[j]);
				h = fnv1a_bytes(h, d, n * 2);
			} else {
				memcpy((float *)s->lat + n_lat, z, n * 4);
				h = fnv1a_bytes(h, z, n * 4);
			}
			n_lat += n;
			if (T > s->T_max)
				s->T_max = T;
		}
		/* the text: "prompt" (presto-encode's name), else "caption" (a corpus table's) */
		const char *text_key = "prompt";
		const presto_param *pp = st ? NULL : presto_record_param(&rec, text_key);
		if (!st && !pp && (pp = presto_record_param(&rec, "caption")))
			text_key = "caption";
		if (!st && mc->has_t5 && !pp)
			st = presto_error_set(PRESTO_EINVAL,
					      "record %llu: no \"prompt\" or \"caption\" (the model is text-conditioned)",
					      (unsigned long long)rec.id);
		if (!st) {
			const char *p = "";
			if (pp)
				st = presto_record_str(&rec, text_key, &p);
			if (!st && !(s->prompt[i] = xstrdup(p)))
				st = PRESTO_ENOMEM;
		}
		if (!st && presto_record_param(&rec, "split")) {
			const char *sp;
			st = presto_record_str(&rec, "split", &sp);
			if (!st && !(s->split[i] = xstrdup(sp)))
				st = PRESTO_ENOMEM;
		}
		if (!st) {
			h = fnv1a_bytes(h, s->prompt[i], strlen(s->prompt[i]) + 1);
			h = fnv1a_bytes(h, s->split[i] ? s->split[i] : "", strlen(s->split[i] ? s->split[i] : "") + 1);
		}
		for (int k = 0; !st && k < s->n_num; k++) {
			double v = 0;
			if (presto_record_param(&rec, s->num_id[k]) || strcmp(s->num_id[k], "seconds_start"))
				st = presto_record_double(&rec, s->num_id[k], &v);
			if (!st && !isfinite(v))
				st = presto_error_set(PRESTO_EINVAL, "record %llu: \"%s\" is not finite",
						      (unsigned long long)rec.id, s->num_id[k]);
			s->num[(size_t)i * s->n_num + k] = v;
			h = fnv1a_bytes(h, &v, sizeof v);
		}
		free(z);
		presto_record_free(&rec);
		if (st)
			break;
	}
	if (st == PRESTO_EEOF) {
		st = PRESTO_OK;
		if (!s->n)
			st = presto_error_set(PRESTO_EINVAL, "the latent stream has no records");
	}
	if (st) {
		presto_latent_set_free(s);
		return st;
	}
	s->checksum = h;
	return PRESTO_OK;
}

presto_status presto_latent_set_load(const char *path, const presto_model_config *mc, int f16,
				     presto_latent_set *s)
{
	memset(s, 0, sizeof *s);
	int is_stdin = !strcmp(path, "-");
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f)
		return presto_error_set(PRESTO_EIO, "%s: %s", path, strerror(errno));
	presto_stream_reader *r;
	presto_status st = presto_stream_reader_open_file(f, is_stdin ? "stdin" : path, PRESTO_KIND_LATENT, &r);
	if (!st) {
		st = presto_latent_set_read(r, mc, f16, s);
		presto_stream_reader_close(r);
	}
	if (!is_stdin)
		fclose(f);
	return st;
}

void presto_latent_set_get(const presto_latent_set *s, int i, int off, int len, float *out)
{
	int T = s->T[i];
	for (int c = 0; c < s->C; c++) {
		size_t src = s->off[i] + (size_t)c * T + (size_t)off;
		float *o = out + (size_t)c * len;
		if (s->f16) {
			const uint16_t *h = (const uint16_t *)s->lat + src;
			for (int t = 0; t < len; t++)
				o[t] = presto_half_to_float(h[t]);
		} else
			memcpy(o, (const float *)s->lat + src, sizeof(float) * (size_t)len);
	}
}

/* ------------------------------------------------------------------ */
/* options */

const char *presto_noise_dist_name(presto_noise_dist d)
{
	switch (d) {
	case PRESTO_NOISE_LOGNORMAL: return "lognormal";
	case PRESTO_NOISE_UNIFORM: return "uniform";
	case PRESTO_NOISE_LOGIT_NORMAL: return "logit-normal";
	}
	return "?";
}

int presto_noise_dist_parse(const char *name, presto_noise_dist *d)
{
	if (!strcmp(name, "lognormal") || !strcmp(name, "log-normal"))
		*d = PRESTO_NOISE_LOGNORMAL;
	else if (!strcmp(name, "uniform"))
		*d = PRESTO_NOISE_UNIFORM;
	else if (!strcmp(name, "logit-normal") || !strcmp(name, "logit_normal"))
		*d = PRESTO_NOISE_LOGIT_NORMAL;
	else
		return -1;
	return 0;
}

void presto_dit_train_opts_defaults(presto_dit_train_opts *o, presto_precond kind)
{
	memset(o, 0, sizeof *o);
	o->seed = 0;
	o->batch = 8;
	o->train_split = "train";
	o->valid_split = "valid";
	o->n_valid_sigmas = 8;
	o->noise = kind == PRESTO_PRECOND_EDM ? PRESTO_NOISE_LOGNORMAL
		   : kind == PRESTO_PRECOND_V ? PRESTO_NOISE_UNIFORM
					      : PRESTO_NOISE_LOGIT_NORMAL;
	o->p_mean = kind == PRESTO_PRECOND_EDM ? -1.2 : 0.0;
	o->p_std = kind == PRESTO_PRECOND_EDM ? 1.2 : 1.0;
	o->cond_dropout = 0.1;
	o->zero_init_branch_outputs = 1;
	o->train_text = 1;
	o->train_conditioners = 1;
	o->adamw = (presto_adamw_config){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 1e-3};
	o->lr = (presto_lr_schedule){.kind = PRESTO_LR_CONSTANT, .lr = 1e-4, .warmup_steps = 100};
	o->max_grad_norm = 1.0;
	o->ema_decay = 0.999;
	o->ema_warmup_power = 0.75;
}

void presto_dit_train_coeffs(const presto_precond_params *pre, double s, double *a, double *b, double *ka,
			     double *ke, double *t_net)
{
	double k_skip;
	presto_precond_input(pre, s, a, b, &k_skip);
	presto_precond_coeffs(pre, s, NULL, NULL, NULL, t_net);
	switch (pre->kind) {
	case PRESTO_PRECOND_EDM: {
		double sd = pre->sigma_data, r = sqrt(s * s + sd * sd);
		*ka = s / (sd * r);
		*ke = -sd / r;
		break;
	}
	case PRESTO_PRECOND_V: {
		double r = sqrt(s * s + 1.0);
		*ka = isinf(s) ? -1.0 : -s / r;
		*ke = isinf(s) ? 0.0 : 1.0 / r;
		break;
	}
	case PRESTO_PRECOND_RF:
		*ka = -1.0;
		*ke = 1.0;
		break;
	}
}

/* ------------------------------------------------------------------ */
/* proj_out's init: nn.Linear's default, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * for weight and bias, from stream FNV-1a(key without "conditioner.
 * conditioners.") of the seed, as the conditioners' own init does */

static void init_uniform(const presto_params *ps, float *data, int i, uint64_t seed, double bound)
{
	const char *key = ps->p[i].name;
	if (starts_with(key, COND_PREFIX))
		key += strlen(COND_PREFIX);
	float *p = data + ps->p[i].offset;
	size_t n = ps->p[i].numel;
	presto_rand(p, n, seed, fnv1a_str(key), 0);
	for (size_t j = 0; j < n; j++)
		p[j] = (float)(bound * (2.0 * p[j] - 1.0));
}

/* ------------------------------------------------------------------ */
/* the trainer */

typedef struct {
	int is_text;  /* else a number conditioner */
	int num;      /* index among the number conditioners */
	int pos;      /* first context row (cross) or first column / cond_dim (global) */
} cond_slot;

struct presto_dit_trainer {
	const presto_model_config *mc;
	const presto_latent_set *data;
	presto_dit_train_opts o;
	int B, C, T, S, G, cd;
	int *train, n_train, *valid, n_valid;
	double k;        /* latent scale divisor */
	double s0;       /* the model's pretransform scale */

	/* conditioning layout */
	int n_num;                    /* number conditioners (= data->n_num) */
	float num_min[PRESTO_MAX_CONDS], num_max[PRESTO_MAX_CONDS];
	int n_cross, n_global;
	cond_slot cross[PRESTO_MAX_CONDS], global[PRESTO_MAX_CONDS];
	int num_used_cross[PRESTO_MAX_CONDS], num_used_global[PRESTO_MAX_CONDS];

	/* text */
	int has_text, text_train, L, dm;
	char text_cond_id[64];
	int32_t *ids;                 /* [n records, L] */
	float *tmask;                 /* [n records, L] */
	presto_st *text_st;           /* the model's text file (frozen T5, init) */
	presto_t5 *t5, *t5_ema;       /* live (frozen: loaded), EMA-bound */
	presto_t5_train *t5ctx;
	int has_proj;
	int i_pw, i_pb;               /* table entries of proj_out */

	/* parameters and optimiser */
	presto_params ps;
	float *grad;
	presto_adamw opt;
	presto_lr_schedule sched;
	presto_ema ema;
	int has_ema;
	presto_loss_scale ls;
	presto_train_state st;
	presto_dit *dit, *dit_ema;
	presto_dit_train *dctx;
	presto_numcond num[PRESTO_MAX_CONDS], num_ema[PRESTO_MAX_CONDS];

	/* data order */
	int *perm;
	int64_t perm_epoch;

	/* batch buffers */
	int *bidx, *boff;
	float *x0, *eps, *y, *tgt, *F, *dF, *tnet, *keep;
	double *vals;                 /* [B, n_num] */
	double *nv;                   /* [B] one conditioner's values */
	float *crossb, *dcross, *globb, *dglob;
	int32_t *bids;
	float *bmask;
	float *th, *tp, *dtp, *dth;   /* [B*L, dm], [B*L, cd], [B*L, cd], [B*L, dm] */
	float *nout[PRESTO_MAX_CONDS], *dnout;
	double *sig;                  /* [B] noise levels */
	int *zero;                    /* [B] zeros (crop offsets of validation) */
};

static int cond_index(const presto_model_config *c, const char *id)
{
	for (int k = 0; k < c->n_conds; k++)
		if (!strcmp(c->conds[k].id, id))
			return k;
	return -1;
}

static int num_index(const presto_latent_set *d, const char *id)
{
	for (int k = 0; k < d->n_num; k++)
		if (!strcmp(d->num_id[k], id))
			return k;
	return -1;
}

void presto_dit_trainer_free(presto_dit_trainer *tr)
{
	if (!tr)
		return;
	presto_dit_train_free(tr->dctx);
	presto_dit_free(tr->dit);
	presto_dit_free(tr->dit_ema);
	presto_t5_train_free(tr->t5ctx);
	presto_t5_free(tr->t5);
	presto_t5_free(tr->t5_ema);
	presto_st_close(tr->text_st);
	presto_adamw_free(&tr->opt);
	if (tr->has_ema)
		presto_ema_free(&tr->ema);
	free(tr->grad);
	presto_params_free(&tr->ps);
	free(tr->train);
	free(tr->valid);
	free(tr->ids);
	free(tr->tmask);
	free(tr->perm);
	void *bufs[] = {tr->bidx, tr->boff, tr->x0, tr->eps, tr->y, tr->tgt, tr->F, tr->dF, tr->tnet, tr->keep,
			tr->vals, tr->nv, tr->crossb, tr->dcross, tr->globb, tr->dglob, tr->bids, tr->bmask,
			tr->th, tr->tp, tr->dtp, tr->dth, tr->dnout, tr->sig, tr->zero};
	for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
		free(bufs[i]);
	for (int j = 0; j < PRESTO_MAX_CONDS; j++)
		free(tr->nout[j]);
	free(tr);
}

/* Conditioning layout and checks against the DiT. */
static presto_status setup_conditioning(presto_dit_trainer *tr)
{
	const presto_model_config *mc = tr->mc;
	const presto_latent_set *d = tr->data;
	tr->cd = mc->cond_dim;
	tr->n_num = d->n_num;
	for (int j = 0; j < d->n_num; j++) {
		int k = cond_index(mc, d->num_id[j]);
		if (k < 0 || mc->conds[k].is_text)
			return presto_error_set(PRESTO_EINVAL, "the latent set was read for another model");
		tr->num_min[j] = mc->conds[k].min_val;
		tr->num_max[j] = mc->conds[k].max_val;
	}
	int n_text = 0;
	for (int k = 0; k < mc->n_conds; k++)
		if (mc->conds[k].is_text) {
			n_text++;
			tr->L = mc->conds[k].max_length;
			snprintf(tr->text_cond_id, sizeof tr->text_cond_id, "%s", mc->conds[k].id);
		}
	if (n_text > 1)
		return presto_error_set(PRESTO_EUNSUP, "training supports one text conditioner (the model has %d)",
					n_text);
	int pos = 0;
	for (int i = 0; i < mc->n_cross; i++) {
		int k = cond_index(mc, mc->cross_ids[i]);
		cond_slot *s = &tr->cross[tr->n_cross++];
		s->is_text = mc->conds[k].is_text;
		s->pos = pos;
		if (s->is_text) {
			tr->has_text = 1;
			pos += tr->L;
		} else {
			s->num = num_index(d, mc->cross_ids[i]);
			tr->num_used_cross[s->num] = 1;
			pos++;
		}
	}
	tr->S = pos;
	for (int i = 0; i < mc->n_global; i++) {
		int k = cond_index(mc, mc->global_ids[i]);
		if (mc->conds[k].is_text)
			return presto_error_set(PRESTO_EUNSUP, "global conditioning on text is not supported");
		cond_slot *s = &tr->global[tr->n_global++];
		s->num = num_index(d, mc->global_ids[i]);
		s->pos = i * tr->cd;
		tr->num_used_global[s->num] = 1;
	}
	tr->G = mc->n_global * tr->cd;
	if (tr->S && mc->cond_dim != mc->dit.cond_token_dim)
		return presto_error_set(PRESTO_EINVAL, "%s/config.json: cond_dim %d differs from the DiT cond_token_dim %d",
					mc->dir, mc->cond_dim, mc->dit.cond_token_dim);
	if (tr->S && !mc->dit.cond_token_dim)
		return presto_error_set(PRESTO_EINVAL, "%s/config.json: cross-attention conditioning but the DiT has no "
					"cond_token_dim", mc->dir);
	if (tr->G != mc->dit.global_cond_dim)
		return presto_error_set(PRESTO_EINVAL, "%s/config.json: global conditioning is %d wide, the DiT expects %d",
					mc->dir, tr->G, mc->dit.global_cond_dim);
	if (tr->has_text)
		tr->dm = mc->t5.d_model;
	tr->has_proj = tr->has_text && tr->dm != tr->cd;
	return PRESTO_OK;
}

static presto_status setup_splits(presto_dit_trainer *tr)
{
	const presto_latent_set *d = tr->data;
	const presto_dit_train_opts *o = &tr->o;
	tr->train = presto_calloc((size_t)d->n, sizeof(int));
	tr->valid = presto_calloc((size_t)d->n, sizeof(int));
	if (!tr->train || !tr->valid)
		return PRESTO_ENOMEM;
	for (int i = 0; i < d->n; i++) {
		const char *sp = d->split[i];
		if (!o->train_split || !sp || !strcmp(sp, o->train_split))
			tr->train[tr->n_train++] = i;
		else if (o->valid_split && !strcmp(sp, o->valid_split) &&
			 (o->valid_max <= 0 || tr->n_valid < o->valid_max))
			tr->valid[tr->n_valid++] = i;
	}
	if (tr->n_train < tr->B)
		return presto_error_set(PRESTO_EINVAL, "%d training records (split \"%s\"), fewer than a batch of %d",
					tr->n_train, o->train_split ? o->train_split : "*", tr->B);
	/* frames */
	if (o->frames > 0)
		tr->T = o->frames;
	else
		tr->T = d->T[tr->train[0]];
	for (int j = 0; j < tr->n_train + tr->n_valid; j++) {
		int i = j < tr->n_train ? tr->train[j] : tr->valid[j - tr->n_train];
		if (o->frames > 0 ? d->T[i] < tr->T : d->T[i] != tr->T)
			return presto_error_set(PRESTO_EINVAL,
						"record %llu has %d latent frames, %s %d (records of other lengths "
						"need a training crop: frames)",
						(unsigned long long)d->id[i], d->T[i],
						o->frames > 0 ? "fewer than the crop of" : "the first training record", tr->T);
	}
	return PRESTO_OK;
}

/* k = RMS of the training latents / the target RMS. */
static presto_status setup_scale(presto_dit_trainer *tr)
{
	const presto_latent_set *d = tr->data;
	tr->s0 = tr->mc->vae.scale > 0 ? tr->mc->vae.scale : 1.0;
	if (tr->o.latent_scale > 0) {
		tr->k = tr->o.latent_scale;
		return PRESTO_OK;
	}
	double ss = 0;
	size_t n = 0;
	float *buf = presto_falloc((size_t)d->C * d->T_max);
	if (!buf)
		return PRESTO_ENOMEM;
	for (int j = 0; j < tr->n_train; j++) {
		int i = tr->train[j];
		size_t m = (size_t)d->C * d->T[i];
		presto_latent_set_get(d, i, 0, d->T[i], buf);
		for (size_t e = 0; e < m; e++)
			ss += (double)buf[e] * buf[e];
		n += m;
	}
	free(buf);
	double rms = sqrt(ss / (double)n);
	double target = tr->mc->precond.kind == PRESTO_PRECOND_EDM ? tr->mc->precond.sigma_data : 1.0;
	if (!(rms > 0) || !isfinite(rms))
		return presto_error_set(PRESTO_EINVAL, "the training latents have RMS %g: cannot normalise them", rms);
	tr->k = rms / target;
	return PRESTO_OK;
}

static presto_status setup_text_ids(presto_dit_trainer *tr)
{
	const presto_latent_set *d = tr->data;
	int L = tr->L;
	size_t n;
	if (!presto_mul_size((size_t)d->n, (size_t)L, &n))
		return PRESTO_ENOMEM;
	tr->ids = presto_malloc(sizeof(int32_t) * n);
	tr->tmask = presto_falloc(n);
	if (!tr->ids || !tr->tmask)
		return PRESTO_ENOMEM;
	presto_tokenizer *tk;
	PRESTO_TRY(presto_tokenizer_load(tr->mc->tokenizer_file, &tk));
	presto_status st = PRESTO_OK;
	if (presto_tokenizer_vocab_size(tk) > tr->mc->t5.vocab_size)
		st = presto_error_set(PRESTO_EINVAL, "tokenizer has %d pieces, the T5 vocabulary %d",
				      presto_tokenizer_vocab_size(tk), tr->mc->t5.vocab_size);
	for (int i = 0; !st && i < d->n; i++)
		st = presto_tokenizer_encode_t5(tk, d->prompt[i], L, tr->ids + (size_t)i * L, tr->tmask + (size_t)i * L,
						NULL);
	presto_tokenizer_free(tk);
	return st;
}

/* The parameter table: DiT, number conditioners, proj_out, trained T5. */
static presto_status setup_params(presto_dit_trainer *tr)
{
	const presto_model_config *mc = tr->mc;
	presto_params *ps = &tr->ps;
	presto_params_init(ps);
	PRESTO_TRY(presto_dit_params(&mc->dit, DIT_PREFIX, ps));
	int tc = tr->o.train_conditioners;
	for (int j = 0; j < tr->n_num; j++) {
		int first = ps->n;
		PRESTO_TRY(presto_numcond_params(COND_PREFIX, tr->data->num_id[j], PRESTO_NUMCOND_DEFAULT_FREQ, tr->cd,
						 ps));
		for (int i = first; i < ps->n; i++)
			ps->p[i].trainable = tc;
	}
	if (tr->has_proj) {
		char name[256];
		snprintf(name, sizeof name, COND_PREFIX "%s.proj_out.weight", tr->text_cond_id);
		if ((tr->i_pw = presto_params_add(ps, name, 2, (int64_t[]){tr->cd, tr->dm}, tc, 1)) < 0)
			return PRESTO_EINVAL;
		snprintf(name, sizeof name, COND_PREFIX "%s.proj_out.bias", tr->text_cond_id);
		if ((tr->i_pb = presto_params_add(ps, name, 1, (int64_t[]){tr->cd}, tc, 0)) < 0)
			return PRESTO_EINVAL;
	}
	if (tr->has_text && tr->text_train)
		PRESTO_TRY(presto_t5_params(&mc->t5, mc->t5_prefix, ps));
	return presto_params_alloc(ps);
}

/* Weights of the table's text-side tensors (conditioners; T5 when trained)
 * from the model's text file. */
static presto_status load_text_params(presto_dit_trainer *tr)
{
	presto_params *ps = &tr->ps;
	if (tr->has_text && tr->text_train)
		PRESTO_TRY(presto_t5_params_load(&tr->mc->t5, tr->mc->t5_prefix, ps, tr->text_st));
	for (int i = 0; i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		if (!starts_with(pi->name, COND_PREFIX))
			continue;
		const float *src;
		PRESTO_TRY(presto_st_f32(tr->text_st, pi->name, pi->ndim, pi->shape, &src));
		memcpy(ps->data + pi->offset, src, sizeof(float) * pi->numel);
	}
	return PRESTO_OK;
}

static presto_status init_params(presto_dit_trainer *tr)
{
	const presto_model_config *mc = tr->mc;
	presto_params *ps = &tr->ps;
	uint64_t seed = SEED_INIT(tr->o.seed);
	if (tr->o.init_from_model) {
		presto_st *dst;
		PRESTO_TRY(presto_st_open(mc->dit_file, &dst));
		presto_status st = presto_dit_params_load(&mc->dit, DIT_PREFIX, ps, dst);
		presto_st_close(dst);
		PRESTO_TRY(st);
		if (tr->text_st)
			PRESTO_TRY(load_text_params(tr));
		return PRESTO_OK;
	}
	/* the model config's zero_init_branch_outputs wins over the option */
	json_t *zi = json_object_get(
		json_object_get(json_object_get(json_object_get(mc->root, "model"), "diffusion"), "config"),
		"zero_init_branch_outputs");
	int zero_branch = json_is_boolean(zi) ? json_is_true(zi) : tr->o.zero_init_branch_outputs;
	PRESTO_TRY(presto_dit_params_init(ps, ps->data, &mc->dit, DIT_PREFIX, seed, zero_branch));
	for (int j = 0; j < tr->n_num; j++)
		PRESTO_TRY(presto_numcond_params_init(ps, ps->data, COND_PREFIX, tr->data->num_id[j], seed));
	if (tr->has_proj) {
		double bound = 1.0 / sqrt((double)tr->dm);
		init_uniform(ps, ps->data, tr->i_pw, seed, bound);
		init_uniform(ps, ps->data, tr->i_pb, seed, bound);
	}
	if (tr->has_text && tr->text_train)
		PRESTO_TRY(presto_t5_params_init(&mc->t5, mc->t5_prefix, ps, ps->data, seed, 1.0f));
	return PRESTO_OK;
}

static presto_status alloc_batch(presto_dit_trainer *tr)
{
	size_t B = (size_t)tr->B, CT = (size_t)tr->C * tr->T, S = (size_t)tr->S, cd = (size_t)tr->cd;
	size_t L = (size_t)tr->L, dm = (size_t)tr->dm, nn = (size_t)(tr->n_num ? tr->n_num : 1);
	tr->bidx = presto_calloc(B, sizeof(int));
	tr->boff = presto_calloc(B, sizeof(int));
	tr->vals = presto_calloc(B * nn, sizeof(double));
	tr->nv = presto_calloc(B, sizeof(double));
	float **f[] = {&tr->x0, &tr->eps, &tr->y, &tr->tgt, &tr->F, &tr->dF};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		if (!(*f[i] = presto_fzalloc(B * CT)))
			return PRESTO_ENOMEM;
	if (!(tr->tnet = presto_fzalloc(B)) || !(tr->keep = presto_fzalloc(B)) ||
	    !(tr->crossb = presto_fzalloc(B * (S ? S : 1) * (cd ? cd : 1))) ||
	    !(tr->dcross = presto_fzalloc(B * (S ? S : 1) * (cd ? cd : 1))) ||
	    !(tr->globb = presto_fzalloc(B * (size_t)(tr->G ? tr->G : 1))) ||
	    !(tr->dglob = presto_fzalloc(B * (size_t)(tr->G ? tr->G : 1))) || !tr->bidx || !tr->boff || !tr->vals ||
	    !tr->nv)
		return PRESTO_ENOMEM;
	if (tr->has_text) {
		size_t wmax = dm > cd ? dm : cd;
		if (!(tr->bids = presto_calloc(B * L, sizeof(int32_t))) || !(tr->bmask = presto_fzalloc(B * L)) ||
		    !(tr->th = presto_fzalloc(B * L * dm)) || !(tr->tp = presto_fzalloc(B * L * wmax)) ||
		    !(tr->dtp = presto_fzalloc(B * L * wmax)) || !(tr->dth = presto_fzalloc(B * L * dm)))
			return PRESTO_ENOMEM;
	}
	for (int j = 0; j < tr->n_num; j++)
		if (!(tr->nout[j] = presto_fzalloc(B * cd)))
			return PRESTO_ENOMEM;
	if (tr->n_num && !(tr->dnout = presto_fzalloc(B * cd)))
		return PRESTO_ENOMEM;
	if (!(tr->sig = presto_calloc(B, sizeof(double))) || !(tr->zero = presto_calloc(B, sizeof(int))))
		return PRESTO_ENOMEM;
	return PRESTO_OK;
}

static presto_status bind_numconds(presto_dit_trainer *tr, const float *data, presto_numcond *nc)
{
	for (int j = 0; j < tr->n_num; j++)
		PRESTO_TRY(presto_numcond_bind(&tr->ps, data, COND_PREFIX, tr->data->num_id[j], tr->num_min[j],
					       tr->num_max[j], tr->cd, &nc[j]));
	return PRESTO_OK;
}

static presto_status check_opts(const presto_dit_train_opts *o, const presto_model_config *mc)
{
	if (o->batch < 1 || o->batch > 65536)
		return presto_error_set(PRESTO_EINVAL, "batch size %d out of range", o->batch);
	if (!(o->cond_dropout >= 0 && o->cond_dropout <= 1))
		return presto_error_set(PRESTO_EINVAL, "condition dropout %g outside [0, 1]", o->cond_dropout);
	if (!(o->p_std >= 0) || !isfinite(o->p_mean) || !isfinite(o->p_std))
		return presto_error_set(PRESTO_EINVAL, "bad noise distribution parameters (%g, %g)", o->p_mean, o->p_std);
	if (o->noise != PRESTO_NOISE_LOGNORMAL && mc->precond.kind == PRESTO_PRECOND_EDM)
		return presto_error_set(PRESTO_EINVAL, "the %s noise distribution draws network times; edm needs "
					"lognormal", presto_noise_dist_name(o->noise));
	if (o->latent_scale < 0 || !isfinite(o->latent_scale))
		return presto_error_set(PRESTO_EINVAL, "latent scale %g must be positive (0: measure)", o->latent_scale);
	if (o->n_valid_sigmas < 1 || o->n_valid_sigmas > 1024)
		return presto_error_set(PRESTO_EINVAL, "validation levels %d out of range 1..1024", o->n_valid_sigmas);
	if (!(o->ema_decay >= 0 && o->ema_decay < 1))
		return presto_error_set(PRESTO_EINVAL, "EMA decay %g outside [0, 1)", o->ema_decay);
	if (o->frames < 0)
		return presto_error_set(PRESTO_EINVAL, "crop of %d frames", o->frames);
	return PRESTO_OK;
}

presto_status presto_dit_trainer_new(const presto_model_config *mc, const presto_latent_set *data,
				     const presto_dit_train_opts *o, presto_dit_trainer **out)
{
	*out = NULL;
	PRESTO_TRY(check_opts(o, mc));
	if (data->C != mc->dit.io_channels)
		return presto_error_set(PRESTO_EINVAL, "latents of %d channels, the DiT takes %d", data->C,
					mc->dit.io_channels);
	presto_dit_trainer *tr = presto_calloc(1, sizeof *tr);
	if (!tr)
		return PRESTO_ENOMEM;
	tr->mc = mc;
	tr->data = data;
	tr->o = *o;
	tr->B = o->batch;
	tr->C = data->C;
	tr->perm_epoch = -1;
	presto_status st = setup_conditioning(tr);
	if (!st)
		st = setup_splits(tr);
	if (!st)
		st = setup_scale(tr);
	if (!st && tr->has_text) {
		tr->text_train = o->train_text;
		st = setup_text_ids(tr);
	}
	/* the model's text file: a frozen T5, or the init of fine-tuning */
	if (!st && ((tr->has_text && !tr->text_train) || (o->init_from_model && (tr->has_text || tr->n_num)))) {
		st = presto_st_open(mc->text_file, &tr->text_st);
		if (st)
			st = presto_error_wrap(st, "%s: ", o->init_from_model ? "the model's text weights (init_from_model)"
									: "a frozen T5 needs the model's text weights");
	}
	if (!st && tr->has_text && !tr->text_train)
		st = presto_t5_load(tr->text_st, mc->t5_prefix, &mc->t5, &tr->t5);
	if (!st)
		st = setup_params(tr);
	if (!st)
		st = init_params(tr);
	if (!st && !(tr->grad = presto_params_buffer(&tr->ps)))
		st = PRESTO_ENOMEM;
	if (!st)
		st = presto_dit_bind(&tr->ps, tr->ps.data, DIT_PREFIX, &mc->dit, &tr->dit);
	if (!st)
		st = presto_dit_train_new(tr->dit, &tr->dctx);
	if (!st && tr->has_text && tr->text_train) {
		st = presto_t5_bind(&tr->ps, tr->ps.data, mc->t5_prefix, &mc->t5, &tr->t5);
		if (!st)
			st = presto_t5_train_new(tr->t5, tr->B, tr->L, &tr->t5ctx);
	}
	if (!st)
		st = presto_adamw_init(&tr->opt, &tr->ps, &o->adamw);
	tr->sched = o->lr;
	if (!st && o->ema_decay > 0) {
		st = presto_ema_init(&tr->ema, &tr->ps, o->ema_decay, o->ema_warmup_power);
		tr->has_ema = !st;
	}
	presto_loss_scale_init(&tr->ls, o->loss_scaling, 65536.0f, 2000);
	if (!st && tr->has_ema) {
		st = presto_dit_bind(&tr->ps, tr->ema.w, DIT_PREFIX, &mc->dit, &tr->dit_ema);
		if (!st && tr->has_text && tr->text_train)
			st = presto_t5_bind(&tr->ps, tr->ema.w, mc->t5_prefix, &mc->t5, &tr->t5_ema);
	}
	if (!st)
		st = alloc_batch(tr);
	if (!st)
		st = bind_numconds(tr, tr->ps.data, tr->num);
	if (!st && tr->has_ema)
		st = bind_numconds(tr, tr->ema.w, tr->num_ema);
	if (st) {
		presto_dit_trainer_free(tr);
		return st;
	}
	tr->st = (presto_train_state){.ps = &tr->ps, .opt = &tr->opt, .sched = &tr->sched,
				      .ema = tr->has_ema ? &tr->ema : NULL, .scale = &tr->ls,
				      .max_grad_norm = o->max_grad_norm, .rng = {.seed = o->seed, .counter = 0},
				      .data = {.seed = SEED_DATA(o->seed), .epoch = 0, .position = 0}};
	*out = tr;
	return PRESTO_OK;
}

/* ------------------------------------------------------------------ */
/* data order */

static presto_status ensure_perm(presto_dit_trainer *tr, int64_t epoch)
{
	if (tr->perm && tr->perm_epoch == epoch)
		return PRESTO_OK;
	int n = tr->n_train;
	if (!tr->perm && !(tr->perm = presto_calloc((size_t)n, sizeof(int))))
		return PRESTO_ENOMEM;
	float *u = presto_falloc((size_t)n);
	if (!u)
		return PRESTO_ENOMEM;
	presto_rand(u, (size_t)n, tr->st.data.seed, 2 * (uint64_t)epoch, 0);
	for (int i = 0; i < n; i++)
		tr->perm[i] = tr->train[i];
	for (int i = n - 1; i > 0; i--) { /* Fisher-Yates with u[i] */
		int j = (int)((double)u[i] * (i + 1));
		if (j > i)
			j = i;
		int t = tr->perm[i];
		tr->perm[i] = tr->perm[j];
		tr->perm[j] = t;
	}
	free(u);
	tr->perm_epoch = epoch;
	return PRESTO_OK;
}

/* The next batch's records and crop offsets; advances the cursor. */
static presto_status next_batch(presto_dit_trainer *tr, presto_data_cursor *c)
{
	if (c->position < 0 || c->position + tr->B > tr->n_train) {
		c->epoch++;
		c->position = 0;
	}
	PRESTO_TRY(ensure_perm(tr, c->epoch));
	const presto_latent_set *d = tr->data;
	for (int b = 0; b < tr->B; b++) {
		int i = tr->perm[c->position + b];
		tr->bidx[b] = i;
		tr->boff[b] = 0;
		if (tr->o.frames > 0 && d->T[i] > tr->T) {
			float u;
			presto_rand(&u, 1, c->seed, 2 * (uint64_t)c->epoch + 1, (uint64_t)(c->position + b));
			int span = d->T[i] - tr->T + 1, off = (int)((double)u * span);
			tr->boff[b] = off < span ? off : span - 1;
		}
	}
	c->position += tr->B;
	return PRESTO_OK;
}

/* The conditioner values of batch item b: the record's, with seconds_start
 * moved to the crop window. */
static void item_values(presto_dit_trainer *tr, int b, int rec, int off, double *v)
{
	const presto_latent_set *d = tr->data;
	for (int j = 0; j < tr->n_num; j++) {
		v[j] = d->num[(size_t)rec * d->n_num + j];
		if (off && !strcmp(d->num_id[j], "seconds_start"))
			v[j] += (double)off * tr->mc->vae.downsampling_ratio / tr->mc->sample_rate;
	}
	(void)b;
}

/* ------------------------------------------------------------------ */
/* conditioning forward and backward */

/* cross [nb, S, cd] and global [nb, G] for records idx with values vals
 * [nb, n_num], from the live (ema 0) or EMA weights. train: through the
 * training contexts (nb = B), keeping what cond_backward needs. */
static presto_status cond_forward(presto_dit_trainer *tr, int ema, int train, const int *idx, const double *vals,
				  int nb, float *cross, float *global)
{
	int L = tr->L, cd = tr->cd, dm = tr->dm, S = tr->S;
	const float *pbase = ema ? tr->ema.w : tr->ps.data;
	if (tr->has_text) {
		for (int b = 0; b < nb; b++) {
			memcpy(tr->bids + (size_t)b * L, tr->ids + (size_t)idx[b] * L, sizeof(int32_t) * (size_t)L);
			memcpy(tr->bmask + (size_t)b * L, tr->tmask + (size_t)idx[b] * L, sizeof(float) * (size_t)L);
		}
		if (train && tr->t5ctx)
			PRESTO_TRY(presto_t5_train_forward(tr->t5ctx, tr->th, tr->bids, tr->bmask));
		else
			PRESTO_TRY(presto_t5_forward(ema && tr->t5_ema ? tr->t5_ema : tr->t5, tr->th, tr->bids, tr->bmask,
						     nb, L, NULL, NULL));
		const float *tp = tr->th;
		if (tr->has_proj) {
			presto_linear_forward(tr->tp, tr->th, pbase + tr->ps.p[tr->i_pw].offset,
					      pbase + tr->ps.p[tr->i_pb].offset, nb * L, dm, cd);
			tp = tr->tp;
		}
		for (int s = 0; s < tr->n_cross; s++) {
			if (!tr->cross[s].is_text)
				continue;
			for (int b = 0; b < nb; b++)
				for (int l = 0; l < L; l++) {
					float m = tr->bmask[(size_t)b * L + l];
					const float *src = tp + ((size_t)b * L + l) * cd;
					float *dst = cross + ((size_t)b * S + tr->cross[s].pos + l) * cd;
					for (int e = 0; e < cd; e++)
						dst[e] = src[e] * m;
				}
		}
	}
	const presto_numcond *nc = ema ? tr->num_ema : tr->num;
	for (int j = 0; j < tr->n_num; j++) {
		if (!tr->num_used_cross[j] && !tr->num_used_global[j])
			continue;
		for (int b = 0; b < nb; b++)
			tr->nv[b] = vals[(size_t)b * tr->n_num + j];
		presto_numcond_forward(&nc[j], tr->nout[j], tr->nv, nb, NULL);
	}
	for (int s = 0; s < tr->n_cross; s++) {
		if (tr->cross[s].is_text)
			continue;
		for (int b = 0; b < nb; b++)
			memcpy(cross + ((size_t)b * S + tr->cross[s].pos) * cd, tr->nout[tr->cross[s].num] + (size_t)b * cd,
			       sizeof(float) * (size_t)cd);
	}
	for (int s = 0; s < tr->n_global; s++)
		for (int b = 0; b < nb; b++)
			memcpy(global + (size_t)b * tr->G + tr->global[s].pos, tr->nout[tr->global[s].num] + (size_t)b * cd,
			       sizeof(float) * (size_t)cd);
	return PRESTO_OK;
}

static int text_trains(const presto_dit_trainer *tr)
{
	return tr->has_text && ((tr->has_proj && tr->o.train_conditioners) || tr->t5ctx);
}

/* Gradients of the conditioners from dcross [B, S, cd] (dropped items
 * already zeroed) and dglobal [B, G] into tr->grad. */
static presto_status cond_backward(presto_dit_trainer *tr, const float *dcross, const float *dglobal)
{
	int B = tr->B, L = tr->L, cd = tr->cd, dm = tr->dm, S = tr->S;
	presto_params *ps = &tr->ps;
	if (text_trains(tr)) {
		float *dtp = tr->has_proj ? tr->dtp : tr->dth;
		for (int s = 0; s < tr->n_cross; s++) {
			if (!tr->cross[s].is_text)
				continue;
			for (int b = 0; b < B; b++)
				for (int l = 0; l < L; l++) {
					float m = tr->bmask[(size_t)b * L + l];
					const float *src = dcross + ((size_t)b * S + tr->cross[s].pos + l) * cd;
					float *dst = dtp + ((size_t)b * L + l) * cd;
					for (int e = 0; e < cd; e++)
						dst[e] = src[e] * m;
				}
		}
		if (tr->has_proj) {
			int tw = tr->o.train_conditioners;
			if (tr->t5ctx)
				memset(tr->dth, 0, sizeof(float) * (size_t)B * L * dm);
			presto_linear_backward(tr->t5ctx ? tr->dth : NULL, tw ? tr->grad + ps->p[tr->i_pw].offset : NULL,
					       tw ? tr->grad + ps->p[tr->i_pb].offset : NULL, tr->dtp, tr->th,
					       ps->data + ps->p[tr->i_pw].offset, B * L, dm, cd);
		}
		if (tr->t5ctx)
			PRESTO_TRY(presto_t5_train_backward(tr->t5ctx, tr->dth, tr->grad));
	}
	if (!tr->o.train_conditioners)
		return PRESTO_OK;
	for (int j = 0; j < tr->n_num; j++) {
		if (!tr->num_used_cross[j] && !tr->num_used_global[j])
			continue;
		memset(tr->dnout, 0, sizeof(float) * (size_t)B * cd);
		for (int s = 0; s < tr->n_cross; s++)
			if (!tr->cross[s].is_text && tr->cross[s].num == j)
				for (int b = 0; b < B; b++)
					presto_add_inplace(tr->dnout + (size_t)b * cd,
							   dcross + ((size_t)b * S + tr->cross[s].pos) * cd, (size_t)cd);
		for (int s = 0; s < tr->n_global; s++)
			if (tr->global[s].num == j)
				for (int b = 0; b < B; b++)
					presto_add_inplace(tr->dnout + (size_t)b * cd,
							   dglobal + (size_t)b * tr->G + tr->global[s].pos, (size_t)cd);
		for (int b = 0; b < B; b++)
			tr->nv[b] = tr->vals[(size_t)b * tr->n_num + j];
		PRESTO_TRY(presto_numcond_backward(&tr->num[j], tr->grad, tr->dnout, tr->nv, B));
	}
	return PRESTO_OK;
}

/* ------------------------------------------------------------------ */
/* one step */

/* The noise level of item b of batch k. */
static double draw_sigma(const presto_dit_trainer *tr, uint64_t k, int b)
{
	const presto_precond_params *pre = &tr->mc->precond;
	uint64_t seed = tr->st.rng.seed;
	float z;
	switch (tr->o.noise) {
	case PRESTO_NOISE_LOGNORMAL:
		presto_randn(&z, 1, seed, 4 * k + RS_LEVEL_N, (uint64_t)b);
		return exp(tr->o.p_mean + tr->o.p_std * (double)z);
	case PRESTO_NOISE_UNIFORM:
		presto_rand(&z, 1, seed, 4 * k + RS_LEVEL_U, (uint64_t)b);
		return presto_precond_sigma(pre, (double)z);
	case PRESTO_NOISE_LOGIT_NORMAL:
		presto_randn(&z, 1, seed, 4 * k + RS_LEVEL_N, (uint64_t)b);
		return presto_precond_sigma(pre, 1.0 / (1.0 + exp(-(tr->o.p_mean + tr->o.p_std * (double)z))));
	}
	return 1.0;
}

/* y and the target of nb items from x0 and eps at levels sig[b]. */
static void noise_items(const presto_dit_trainer *tr, int nb, const double *sig, const float *x0, const float *eps,
			float *y, float *tgt, float *tnet)
{
	size_t CT = (size_t)tr->C * tr->T;
	for (int b = 0; b < nb; b++) {
		double a, bb, ka, ke, t;
		presto_dit_train_coeffs(&tr->mc->precond, sig[b], &a, &bb, &ka, &ke, &t);
		tnet[b] = (float)t;
		const float *xb = x0 + b * CT, *eb = eps + b * CT;
		float *yb = y + b * CT, *gb = tgt + b * CT;
		for (size_t i = 0; i < CT; i++) {
			yb[i] = (float)(a * xb[i] + bb * eb[i]);
			gb[i] = (float)(ka * xb[i] + ke * eb[i]);
		}
	}
}

/* Latents of the items, divided by k. */
static void load_latents(presto_dit_trainer *tr, int nb, const int *idx, const int *off, float *x0)
{
	size_t CT = (size_t)tr->C * tr->T;
	float inv = (float)(1.0 / tr->k);
	for (int b = 0; b < nb; b++) {
		float *xb = x0 + b * CT;
		presto_latent_set_get(tr->data, idx[b], off[b], tr->T, xb);
		for (size_t i = 0; i < CT; i++)
			xb[i] *= inv;
	}
}

/* Loss and gradient (into tr->grad, the loss multiplied by `scale`) of
 * batch k drawn at cursor *cur (advanced past the batch). Changes nothing
 * else of the training state. */
static presto_status batch_grad(presto_dit_trainer *tr, uint64_t k, presto_data_cursor *cur, float scale,
				double *loss_out)
{
	int B = tr->B, S = tr->S, cd = tr->cd;
	size_t CT = (size_t)tr->C * tr->T, n = (size_t)B * CT;
	PRESTO_TRY(next_batch(tr, cur));
	for (int b = 0; b < B; b++)
		item_values(tr, b, tr->bidx[b], tr->boff[b], tr->vals + (size_t)b * (tr->n_num ? tr->n_num : 1));
	load_latents(tr, B, tr->bidx, tr->boff, tr->x0);

	/* noise, levels, dropout */
	double *sig = tr->sig;
	presto_randn(tr->eps, n, tr->st.rng.seed, 4 * k + RS_EPS, 0);
	for (int b = 0; b < B; b++)
		sig[b] = draw_sigma(tr, k, b);
	presto_rand(tr->keep, (size_t)B, tr->st.rng.seed, 4 * k + RS_DROP, 0);
	for (int b = 0; b < B; b++)
		tr->keep[b] = (double)tr->keep[b] < tr->o.cond_dropout ? 0.0f : 1.0f;
	noise_items(tr, B, sig, tr->x0, tr->eps, tr->y, tr->tgt, tr->tnet);

	/* conditioning, with the dropped items' context zeroed */
	PRESTO_TRY(cond_forward(tr, 0, 1, tr->bidx, tr->vals, B, tr->crossb, tr->globb));
	for (int b = 0; b < B; b++)
		if (!tr->keep[b])
			memset(tr->crossb + (size_t)b * S * cd, 0, sizeof(float) * (size_t)S * cd);

	/* DiT, loss */
	PRESTO_TRY(presto_dit_train_forward(tr->dctx, tr->F, tr->y, tr->tnet, S ? tr->crossb : NULL, S,
					    tr->G ? tr->globb : NULL, B, tr->T, NULL));
	double ss = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)tr->F[i] - tr->tgt[i];
		ss += d * d;
	}
	*loss_out = ss / (double)n;

	/* backward: DiT, then the conditioners */
	float g = (float)(2.0 / (double)n * scale);
	for (size_t i = 0; i < n; i++)
		tr->dF[i] = g * (tr->F[i] - tr->tgt[i]);
	presto_grad_zero(&tr->ps, tr->grad);
	int need_c = S && text_trains(tr), need_n = tr->n_num && tr->o.train_conditioners;
	float *dcross = S && (need_c || need_n) ? tr->dcross : NULL;
	float *dglob = tr->G && need_n ? tr->dglob : NULL;
	if (dcross)
		memset(dcross, 0, sizeof(float) * (size_t)B * S * cd);
	if (dglob)
		memset(dglob, 0, sizeof(float) * (size_t)B * tr->G);
	PRESTO_TRY(presto_dit_train_backward(tr->dctx, tr->dF, tr->grad, NULL, NULL, dcross, dglob));
	if (dcross)
		for (int b = 0; b < B; b++)
			if (!tr->keep[b])
				memset(dcross + (size_t)b * S * cd, 0, sizeof(float) * (size_t)S * cd);
	if (dcross || dglob) {
		if (!dglob)
			memset(tr->dglob, 0, sizeof(float) * (size_t)B * (tr->G ? tr->G : 1));
		if (!dcross)
			memset(tr->dcross, 0, sizeof(float) * (size_t)B * (S ? S : 1) * (cd ? cd : 1));
		PRESTO_TRY(cond_backward(tr, tr->dcross, tr->dglob));
	}
	return PRESTO_OK;
}

presto_status presto_dit_trainer_grad(presto_dit_trainer *tr, double *loss, const float **grad)
{
	presto_data_cursor cur = tr->st.data;
	PRESTO_TRY(batch_grad(tr, tr->st.rng.counter, &cur, 1.0f, loss));
	if (grad)
		*grad = tr->grad;
	return PRESTO_OK;
}

float *presto_dit_trainer_weights(presto_dit_trainer *tr) { return tr->ps.data; }

presto_status presto_dit_trainer_step(presto_dit_trainer *tr, presto_dit_train_stats *out)
{
	double t0 = now_s(), loss;
	uint64_t k = tr->st.rng.counter;
	presto_data_cursor cur = tr->st.data;
	PRESTO_TRY(batch_grad(tr, k, &cur, tr->ls.scale, &loss));
	double lr = presto_lr_at(&tr->sched, tr->opt.step), gn;
	int ok = presto_loss_scale_update(&tr->ls, &tr->ps, tr->grad);
	if (ok) {
		gn = presto_grad_clip(&tr->ps, tr->grad, tr->st.max_grad_norm);
		presto_adamw_step(&tr->opt, &tr->ps, tr->grad, lr);
		if (tr->has_ema)
			presto_ema_update(&tr->ema, &tr->ps);
	} else
		gn = presto_grad_norm(&tr->ps, tr->grad);
	tr->st.data = cur;
	tr->st.rng.counter = k + 1;
	double dt = now_s() - t0;
	if (out)
		*out = (presto_dit_train_stats){.step = tr->opt.step, .batches = (int64_t)(k + 1),
						.epoch = cur.epoch, .position = cur.position, .loss = loss, .lr = lr,
						.grad_norm = gn, .skipped = !ok, .seconds = dt,
						.examples_per_s = dt > 0 ? tr->B / dt : 0};
	return PRESTO_OK;
}

/* ------------------------------------------------------------------ */
/* validation */

static double valid_sigma(const presto_dit_trainer *tr, int j)
{
	const presto_precond_params *pre = &tr->mc->precond;
	double q = (j + 0.5) / tr->o.n_valid_sigmas;
	switch (tr->o.noise) {
	case PRESTO_NOISE_LOGNORMAL: return exp(tr->o.p_mean + tr->o.p_std * norm_quantile(q));
	case PRESTO_NOISE_UNIFORM: return presto_precond_sigma(pre, q);
	case PRESTO_NOISE_LOGIT_NORMAL:
		return presto_precond_sigma(pre, 1.0 / (1.0 + exp(-(tr->o.p_mean + tr->o.p_std * norm_quantile(q)))));
	}
	return 1.0;
}

presto_status presto_dit_trainer_validate(presto_dit_trainer *tr, int use_ema, double *loss, double *per_sigma,
					  double *sigmas)
{
	if (!tr->n_valid)
		return presto_error_set(PRESTO_EINVAL, "no validation records (split \"%s\")",
					tr->o.valid_split ? tr->o.valid_split : "none");
	int ema = use_ema && tr->has_ema, nsig = tr->o.n_valid_sigmas, S = tr->S;
	presto_dit *m = ema ? tr->dit_ema : tr->dit;
	size_t CT = (size_t)tr->C * tr->T;
	double *acc = presto_calloc((size_t)nsig, sizeof(double));
	if (!acc)
		return PRESTO_ENOMEM;
	presto_status rc = PRESTO_OK;
	const int *zero = tr->zero;
	for (int r0 = 0; !rc && r0 < tr->n_valid; r0 += tr->B) {
		int nb = tr->n_valid - r0 < tr->B ? tr->n_valid - r0 : tr->B;
		const int *idx = tr->valid + r0;
		for (int b = 0; b < nb; b++)
			item_values(tr, b, idx[b], 0, tr->vals + (size_t)b * (tr->n_num ? tr->n_num : 1));
		load_latents(tr, nb, idx, zero, tr->x0);
		rc = cond_forward(tr, ema, 0, idx, tr->vals, nb, tr->crossb, tr->globb);
		for (int j = 0; !rc && j < nsig; j++) {
			double *sig = tr->sig;
			for (int b = 0; b < nb; b++)
				sig[b] = valid_sigma(tr, j);
			/* noise of valid record r0+b at level j: a function of the seed, j, r */
			presto_randn(tr->eps, (size_t)nb * CT, SEED_VALID(tr->o.seed), (uint64_t)j, (uint64_t)r0 * CT);
			noise_items(tr, nb, sig, tr->x0, tr->eps, tr->y, tr->tgt, tr->tnet);
			rc = presto_dit_forward(m, tr->F, tr->y, tr->tnet, S ? tr->crossb : NULL, S,
						tr->G ? tr->globb : NULL, nb, tr->T, NULL);
			for (size_t i = 0; !rc && i < (size_t)nb * CT; i++) {
				double d = (double)tr->F[i] - tr->tgt[i];
				acc[j] += d * d;
			}
		}
	}
	if (!rc) {
		double tot = 0, cnt = (double)tr->n_valid * (double)CT;
		for (int j = 0; j < nsig; j++) {
			double v = acc[j] / cnt;
			tot += v;
			if (per_sigma)
				per_sigma[j] = v;
			if (sigmas)
				sigmas[j] = valid_sigma(tr, j);
		}
		if (loss)
			*loss = tot / nsig;
	}
	free(acc);
	return rc;
}

/* ------------------------------------------------------------------ */
/* checkpoints */

static void opts_json(const presto_dit_trainer *tr, char *buf, size_t n)
{
	const presto_dit_train_opts *o = &tr->o;
	snprintf(buf, n,
		 "{\"seed\": %llu, \"batch\": %d, \"frames\": %d, \"noise\": \"%s\", \"p_mean\": %.17g, "
		 "\"p_std\": %.17g, \"cond_dropout\": %.17g, \"objective\": \"%s\", \"sigma_data\": %.17g, "
		 "\"train_text\": %d, \"train_conditioners\": %d, \"init_from_model\": %d}",
		 (unsigned long long)o->seed, o->batch, o->frames, presto_noise_dist_name(o->noise), o->p_mean, o->p_std,
		 o->cond_dropout, presto_precond_name(tr->mc->precond.kind), tr->mc->precond.sigma_data,
		 tr->text_train, o->train_conditioners, o->init_from_model);
}

presto_status presto_dit_trainer_save(presto_dit_trainer *tr, const char *dir, int keep, char **path_out)
{
	char scale[64], sum[32], ntr[32], opts[1024];
	snprintf(scale, sizeof scale, "%.17g", tr->k);
	snprintf(sum, sizeof sum, "%016llx", (unsigned long long)tr->data->checksum);
	snprintf(ntr, sizeof ntr, "%d", tr->n_train);
	opts_json(tr, opts, sizeof opts);
	const char *kv[] = {"dit_train.latent_scale", scale, "dit_train.data_checksum", sum,
			    "dit_train.n_train", ntr, "dit_train.options", opts};
	if (mkdir(dir, 0777) && errno != EEXIST)
		return presto_error_set(PRESTO_EIO, "%s: %s", dir, strerror(errno));
	return presto_checkpoint_save_rotating(dir, &tr->st, keep, 4, kv, path_out);
}

presto_status presto_dit_trainer_resume(presto_dit_trainer *tr, const char *path)
{
	struct stat sb;
	char *file = NULL;
	if (stat(path, &sb) != 0 && errno == ENOENT)
		return presto_error_set(PRESTO_EEOF, "%s: no checkpoint yet", path);
	if (S_ISDIR(sb.st_mode))
		PRESTO_TRY(presto_checkpoint_latest(path, &file));
	else if (!(file = xstrdup(path)))
		return PRESTO_ENOMEM;
	char *scale = NULL, *sum = NULL, *ntr = NULL;
	presto_status rc = presto_checkpoint_meta(file, "dit_train.latent_scale", &scale);
	if (!rc)
		rc = presto_checkpoint_meta(file, "dit_train.data_checksum", &sum);
	if (!rc)
		rc = presto_checkpoint_meta(file, "dit_train.n_train", &ntr);
	double k = scale ? strtod(scale, NULL) : 0;
	if (!rc && !(k > 0 && isfinite(k)))
		rc = presto_error_set(PRESTO_EINVAL, "%s: bad latent scale \"%s\"", file, scale);
	if (!rc && !tr->o.allow_data_change) {
		char cur[32];
		snprintf(cur, sizeof cur, "%016llx", (unsigned long long)tr->data->checksum);
		if (strcmp(cur, sum) || atoi(ntr) != tr->n_train)
			rc = presto_error_set(PRESTO_EINVAL,
					      "%s: the training data differ from the checkpoint's (%s records, "
					      "checksum %s; now %d, %s)",
					      file, ntr, sum, tr->n_train, cur);
	}
	if (!rc)
		rc = presto_checkpoint_load(file, &tr->st);
	if (!rc) {
		tr->k = k;
		tr->perm_epoch = -1;
	}
	free(scale);
	free(sum);
	free(ntr);
	free(file);
	return rc;
}

/* ------------------------------------------------------------------ */
/* export */

static presto_status copy_file(const char *src, const char *dst)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp%ld", dst, (long)getpid());
	FILE *in = fopen(src, "rb");
	if (!in)
		return presto_error_set(PRESTO_EIO, "%s: %s", src, strerror(errno));
	FILE *out = fopen(tmp, "wb");
	if (!out) {
		fclose(in);
		return presto_error_set(PRESTO_EIO, "%s: %s", tmp, strerror(errno));
	}
	char buf[1 << 16];
	size_t r;
	int bad = 0;
	while ((r = fread(buf, 1, sizeof buf, in)) > 0)
		if (fwrite(buf, 1, r, out) != r)
			bad = 1;
	bad |= ferror(in);
	fclose(in);
	bad |= fflush(out) != 0 || fsync(fileno(out)) != 0;
	bad |= fclose(out) != 0;
	if (bad || rename(tmp, dst)) {
		remove(tmp);
		return presto_error_set(PRESTO_EIO, "copying %s to %s failed", src, dst);
	}
	return PRESTO_OK;
}

static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static presto_status write_config(presto_dit_trainer *tr, const char *out_dir, int ema)
{
	json_t *root = json_deep_copy(tr->mc->root);
	if (!root)
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	presto_status rc = PRESTO_OK;
	json_t *model = json_object_get(root, "model"), *pre = json_object_get(model, "pretransform");
	json_t *presto = json_object_get(root, "presto");
	if (!json_is_object(presto)) {
		presto = json_object();
		json_object_set_new(root, "presto", presto);
	}
	/* the files are written under their default names */
	const char *keys[] = {"text_file", "dit_file", "vae_file", "tokenizer_file"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		json_object_del(presto, keys[i]);
	if (json_object_set_new(pre, "scale", json_real(tr->s0 * tr->k)))
		rc = presto_error_set(PRESTO_EINVAL, "config.json: no model.pretransform object");
	json_t *notes = json_pack("{s:s, s:I, s:f, s:s, s:s, s:f, s:f, s:f}", "trainer", "presto-train dit",
				  "steps", (json_int_t)tr->opt.step, "latent_scale_factor", tr->k, "weights",
				  ema ? "ema" : "live", "noise", presto_noise_dist_name(tr->o.noise), "p_mean",
				  tr->o.p_mean, "p_std", tr->o.p_std, "cond_dropout", tr->o.cond_dropout);
	if (notes)
		json_object_set_new(presto, "training", notes);
	char path[4200], tmp[4300];
	snprintf(path, sizeof path, "%s/config.json", out_dir);
	snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
	if (!rc && (json_dump_file(root, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) || rename(tmp, path))) {
		remove(tmp);
		rc = presto_error_set(PRESTO_EIO, "%s: cannot write", path);
	}
	json_decref(root);
	return rc;
}

presto_status presto_dit_trainer_export(presto_dit_trainer *tr, const char *out_dir, presto_dtype dtype, int use_ema)
{
	if (dtype != PRESTO_F32 && dtype != PRESTO_F16 && dtype != PRESTO_BF16)
		return presto_error_set(PRESTO_EINVAL, "export dtype must be F32, F16 or BF16");
	if (mkdir(out_dir, 0777) && errno != EEXIST)
		return presto_error_set(PRESTO_EIO, "%s: %s", out_dir, strerror(errno));
	int ema = use_ema && tr->has_ema;
	const float *buf = ema ? tr->ema.w : tr->ps.data;
	const presto_params *ps = &tr->ps;
	char step[32], path[4200];
	snprintf(step, sizeof step, "%lld", (long long)tr->opt.step);
	const char *meta[] = {"presto.producer", "presto-train dit " PRESTO_VERSION, "presto.step", step,
			      "presto.weights", ema ? "ema" : "live"};
	presto_st_list dit = {0}, text = {0};
	presto_status rc = PRESTO_OK;
	/* the text side: T5 (table or the model's file), then the conditioners */
	if (tr->has_text && !tr->text_train) {
		for (int i = 0; !rc && i < presto_st_count(tr->text_st); i++) {
			const char *name = presto_st_name(tr->text_st, i);
			if (!starts_with(name, tr->mc->t5_prefix))
				continue;
			const presto_tensor *t = presto_st_get(tr->text_st, name);
			float *f;
			rc = presto_tensor_to_f32(t, &f);
			if (!rc) {
				rc = presto_st_list_add_f32(&text, "", name, t->ndim, t->shape, f, dtype);
				free(f);
			}
		}
	}
	for (int i = 0; !rc && i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		presto_st_list *l = starts_with(pi->name, DIT_PREFIX) ? &dit : &text;
		/* buffers (rotary frequencies, fixed biases) stay fp32: the very
		 * values training used, a few bytes */
		rc = presto_st_list_add_f32(l, "", pi->name, pi->ndim, pi->shape, buf + pi->offset,
					    pi->trainable ? dtype : PRESTO_F32);
	}
	if (!rc) {
		snprintf(path, sizeof path, "%s/dit.safetensors", out_dir);
		rc = presto_st_list_write(&dit, path, 3, meta);
	}
	if (!rc && text.n) {
		snprintf(path, sizeof path, "%s/text.safetensors", out_dir);
		rc = presto_st_list_write(&text, path, 3, meta);
	}
	presto_st_list_free(&dit);
	presto_st_list_free(&text);
	/* the untrained parts, when exporting elsewhere */
	const char *src[] = {tr->mc->tokenizer_file, tr->mc->vae_file}, *dst[] = {"tokenizer.model", "vae.safetensors"};
	for (int i = 0; !rc && i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", out_dir, dst[i]);
		if (access(src[i], R_OK) == 0 && !same_file(src[i], path))
			rc = copy_file(src[i], path);
	}
	if (!rc)
		rc = write_config(tr, out_dir, ema);
	return rc;
}

/* ------------------------------------------------------------------ */
/* accessors and the loop */

double presto_dit_trainer_latent_scale(const presto_dit_trainer *tr) { return tr->k; }
int64_t presto_dit_trainer_step_count(const presto_dit_trainer *tr) { return tr->opt.step; }
int presto_dit_trainer_n_train(const presto_dit_trainer *tr) { return tr->n_train; }
int presto_dit_trainer_n_valid(const presto_dit_trainer *tr) { return tr->n_valid; }
const presto_params *presto_dit_trainer_params(const presto_dit_trainer *tr) { return &tr->ps; }
const float *presto_dit_trainer_ema(const presto_dit_trainer *tr) { return tr->has_ema ? tr->ema.w : NULL; }

presto_status presto_dit_trainer_run(presto_dit_trainer *tr, const presto_dit_train_loop *l)
{
	presto_status rc = PRESTO_OK;
	int64_t saved_at = -1;
	int nsig = tr->o.n_valid_sigmas;
	double *per = presto_calloc((size_t)nsig, sizeof(double)), *sig = presto_calloc((size_t)nsig, sizeof(double));
	if (!per || !sig) {
		free(per);
		free(sig);
		return PRESTO_ENOMEM;
	}
	while (!rc && tr->opt.step < l->steps && !(l->stop && *l->stop)) {
		presto_dit_train_stats s;
		int64_t before = tr->opt.step;
		rc = presto_dit_trainer_step(tr, &s);
		if (rc || s.step == before)
			continue; /* a skipped update: nothing is due */
		if (l->log && l->log_every > 0 && s.step % l->log_every == 0)
			l->log(l->ctx, &s);
		if (l->valid_every > 0 && s.step % l->valid_every == 0 && tr->n_valid) {
			double v;
			rc = presto_dit_trainer_validate(tr, 1, &v, per, sig);
			if (!rc && l->valid)
				l->valid(l->ctx, s.step, v, per, sig, nsig);
		}
		if (!rc && l->ckpt_dir && l->ckpt_every > 0 && s.step % l->ckpt_every == 0) {
			rc = presto_dit_trainer_save(tr, l->ckpt_dir, l->keep, NULL);
			saved_at = s.step;
		}
	}
	if (!rc && l->ckpt_dir && saved_at != tr->opt.step)
		rc = presto_dit_trainer_save(tr, l->ckpt_dir, l->keep, NULL);
	free(per);
	free(sig);
	return rc;
}

/* numcond.c - stable-audio-tools NumberConditioner (NumberEmbedder): loading
 * or binding to a parameter table, forward, backward, random init. */
#include "numcond.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "rng.h"

static const char *const suffix[3] = {".embedder.embedding.0.weights", ".embedding.1.weight", ".embedding.1.bias"};

/* <prefix><id>.embedder.embedding.<...> */
static presto_status tensor_name(char *name, size_t n, const char *prefix, const char *id, int which)
{
	int len = which == 0 ? snprintf(name, n, "%s%s%s", prefix, id, suffix[0])
			     : snprintf(name, n, "%s%s.embedder%s", prefix, id, suffix[which]);
	if (len < 0 || (size_t)len >= n)
		return presto_error_set(PRESTO_EINVAL, "number conditioner '%s': name too long", id);
	return PRESTO_OK;
}

static presto_status check_args(const char *id, float min_val, float max_val, int out_dim)
{
	if (strlen(id) >= sizeof((presto_numcond *)0)->id)
		return presto_error_set(PRESTO_EINVAL, "conditioner id '%s' is too long", id);
	if (!(max_val > min_val))
		return presto_error_set(PRESTO_EINVAL, "number conditioner '%s': max_val %g <= min_val %g", id,
					(double)max_val, (double)min_val);
	if (out_dim <= 0)
		return presto_error_set(PRESTO_EINVAL, "number conditioner '%s': output width %d", id, out_dim);
	return PRESTO_OK;
}

static void set_meta(presto_numcond *nc, const char *id, float min_val, float max_val, int out_dim, int F)
{
	snprintf(nc->id, sizeof nc->id, "%s", id);
	nc->min_val = min_val;
	nc->max_val = max_val;
	nc->out_dim = out_dim;
	nc->n_freq = F;
}

presto_status presto_numcond_load(presto_st *st, const char *prefix, const char *id, float min_val, float max_val,
				  int out_dim, presto_numcond *nc)
{
	char name[512];
	memset(nc, 0, sizeof *nc);
	PRESTO_TRY(check_args(id, min_val, max_val, out_dim));
	PRESTO_TRY(tensor_name(name, sizeof name, prefix, id, 0));
	const presto_tensor *t = presto_st_get(st, name);
	if (!t)
		return presto_error_set(PRESTO_EINVAL, "%s: missing tensor '%s'", presto_st_path(st), name);
	if (t->ndim != 1 || t->shape[0] <= 0 || t->shape[0] > PRESTO_NUMCOND_MAX_FREQ)
		return presto_error_set(PRESTO_EUNSUP, "%s: tensor '%s' must be 1-D with 1..%d frequencies",
					presto_st_path(st), name, PRESTO_NUMCOND_MAX_FREQ);
	int F = (int)t->shape[0];
	PRESTO_TRY(presto_st_f32(st, name, 1, (int64_t[]){F}, &nc->freq));
	PRESTO_TRY(presto_st_f32f(st, &nc->w, 2, (int64_t[]){out_dim, 2 * F + 1}, "%s%s.embedder.embedding.1.weight",
				  prefix, id));
	PRESTO_TRY(presto_st_f32f(st, &nc->b, 1, (int64_t[]){out_dim}, "%s%s.embedder.embedding.1.bias", prefix, id));
	set_meta(nc, id, min_val, max_val, out_dim, F);
	return PRESTO_OK;
}

/* id, min_val and max_val of a model_config "conditioning.configs" entry. */
static presto_status parse_info(const json_t *info, const char **id, float *min_val, float *max_val)
{
	json_t *jid = json_object_get(info, "id"), *type = json_object_get(info, "type");
	json_t *cfg = json_object_get(info, "config");
	if (!json_is_string(jid) || !json_is_string(type))
		return presto_error_set(PRESTO_EINVAL, "conditioner config without a string id and type");
	if (strcmp(json_string_value(type), "number"))
		return presto_error_set(PRESTO_EINVAL, "conditioner '%s' has type '%s', not 'number'",
					json_string_value(jid), json_string_value(type));
	json_t *lo = json_object_get(cfg, "min_val"), *hi = json_object_get(cfg, "max_val");
	if ((lo && !json_is_number(lo)) || (hi && !json_is_number(hi)))
		return presto_error_set(PRESTO_EINVAL, "conditioner '%s': min_val/max_val must be numbers",
					json_string_value(jid));
	/* NumberConditioner defaults: min_val 0, max_val 1 */
	*id = json_string_value(jid);
	*min_val = lo ? (float)json_number_value(lo) : 0.0f;
	*max_val = hi ? (float)json_number_value(hi) : 1.0f;
	return PRESTO_OK;
}

presto_status presto_numcond_from_json(presto_st *st, const char *prefix, const json_t *info, int out_dim,
				       presto_numcond *nc)
{
	const char *id;
	float min_val, max_val;
	PRESTO_TRY(parse_info(info, &id, &min_val, &max_val));
	return presto_numcond_load(st, prefix, id, min_val, max_val, out_dim, nc);
}

/* ---- parameter tables ---- */

presto_status presto_numcond_params(const char *prefix, const char *id, int n_freq, int out_dim, presto_params *ps)
{
	char name[512];
	if (n_freq <= 0 || n_freq > PRESTO_NUMCOND_MAX_FREQ || out_dim <= 0)
		return presto_error_set(PRESTO_EINVAL, "number conditioner '%s': %d frequencies, output width %d", id,
					n_freq, out_dim);
	int64_t shapes[3][2] = {{n_freq, 0}, {out_dim, 2 * n_freq + 1}, {out_dim, 0}};
	for (int k = 0; k < 3; k++) {
		PRESTO_TRY(tensor_name(name, sizeof name, prefix, id, k));
		if (presto_params_add(ps, name, k == 1 ? 2 : 1, shapes[k], 1, k == 1) < 0)
			return presto_error_wrap(PRESTO_EINVAL, "number conditioner parameters: ");
	}
	return PRESTO_OK;
}

/* The table entry of tensor `which`, checked against the expected shape
 * (n_freq < 0: taken from the table). */
static presto_status table_entry(const presto_params *ps, const char *prefix, const char *id, int which,
				 int *n_freq, int out_dim, const presto_param_info **out)
{
	char name[512];
	PRESTO_TRY(tensor_name(name, sizeof name, prefix, id, which));
	int i = presto_params_find(ps, name);
	if (i < 0)
		return presto_error_set(PRESTO_EINVAL, "no parameter %s in the table", name);
	const presto_param_info *pi = &ps->p[i];
	if (which == 0 && *n_freq < 0 && pi->ndim == 1 && pi->shape[0] > 0 && pi->shape[0] <= PRESTO_NUMCOND_MAX_FREQ)
		*n_freq = (int)pi->shape[0];
	int64_t want[2] = {which == 0 ? *n_freq : out_dim, 2 * (int64_t)*n_freq + 1};
	int ndim = which == 1 ? 2 : 1;
	int same = *n_freq > 0 && pi->ndim == ndim;
	for (int d = 0; same && d < ndim; d++)
		same = pi->shape[d] == want[d];
	if (!same)
		return presto_error_set(PRESTO_EINVAL, "parameter %s: unexpected shape", name);
	*out = pi;
	return PRESTO_OK;
}

presto_status presto_numcond_bind(const presto_params *ps, const float *data, const char *prefix, const char *id,
				  float min_val, float max_val, int out_dim, presto_numcond *nc)
{
	memset(nc, 0, sizeof *nc);
	if (!ps || !data)
		return presto_error_set(PRESTO_EINVAL, "number conditioner bind: no parameter table or buffer");
	PRESTO_TRY(check_args(id, min_val, max_val, out_dim));
	int F = -1;
	const presto_param_info *pi[3];
	for (int k = 0; k < 3; k++)
		PRESTO_TRY(table_entry(ps, prefix, id, k, &F, out_dim, &pi[k]));
	nc->freq = data + pi[0]->offset;
	nc->w = data + pi[1]->offset;
	nc->b = data + pi[2]->offset;
	nc->ps = ps;
	nc->pbase = data;
	set_meta(nc, id, min_val, max_val, out_dim, F);
	return PRESTO_OK;
}

presto_status presto_numcond_bind_json(const presto_params *ps, const float *data, const char *prefix,
				       const json_t *info, int out_dim, presto_numcond *nc)
{
	const char *id;
	float min_val, max_val;
	memset(nc, 0, sizeof *nc);
	PRESTO_TRY(parse_info(info, &id, &min_val, &max_val));
	return presto_numcond_bind(ps, data, prefix, id, min_val, max_val, out_dim, nc);
}

/* 64-bit FNV-1a of a string: the random stream of a tensor. */
static uint64_t key_stream(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h;
}

presto_status presto_numcond_params_init(const presto_params *ps, float *data, const char *prefix, const char *id,
					 uint64_t seed)
{
	if (!ps || !data)
		return presto_error_set(PRESTO_EINVAL, "number conditioner init: no parameter table or buffer");
	int F = -1;
	const presto_param_info *pi[3];
	PRESTO_TRY(table_entry(ps, prefix, id, 0, &F, 0, &pi[0])); /* F from the table */
	char name[512];
	PRESTO_TRY(tensor_name(name, sizeof name, prefix, id, 2));
	int ib = presto_params_find(ps, name);
	if (ib < 0 || ps->p[ib].ndim != 1 || ps->p[ib].shape[0] <= 0 || ps->p[ib].shape[0] > INT_MAX)
		return presto_error_set(PRESTO_EINVAL, "no 1-D parameter %s in the table", name);
	int out_dim = (int)ps->p[ib].shape[0];
	for (int k = 1; k < 3; k++)
		PRESTO_TRY(table_entry(ps, prefix, id, k, &F, out_dim, &pi[k]));
	/* streams from the prefix-less keys */
	for (int k = 0; k < 3; k++) {
		char key[512];
		PRESTO_TRY(tensor_name(key, sizeof key, "", id, k));
		float *p = data + pi[k]->offset;
		size_t n = pi[k]->numel;
		if (k == 0) { /* LearnedPositionalEmbedding: torch.randn */
			presto_randn(p, n, seed, key_stream(key), 0);
			continue;
		}
		/* nn.Linear's default: kaiming_uniform_(a = sqrt(5)) for the
		 * weight and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias,
		 * both bounds 1/sqrt(fan_in), fan_in = 2F + 1 */
		float bound = (float)(1.0 / sqrt(2.0 * F + 1.0));
		presto_rand(p, n, seed, key_stream(key), 0);
		for (size_t j = 0; j < n; j++)
			p[j] = (2.0f * p[j] - 1.0f) * bound;
	}
	return PRESTO_OK;
}

/* ---- forward, backward ---- */

/* The reference works in fp32 throughout: the python floats become a float32
 * tensor, clamp and normalise in fp32, then f = ((v * w) * 2) * pi. */
static float normalized(const presto_numcond *nc, double value)
{
	float x = (float)value, lo = nc->min_val, hi = nc->max_val;
	if (x < lo)
		x = lo;
	else if (x > hi)
		x = hi; /* NaN stays NaN, as torch.clamp */
	return (x - lo) / (float)((double)hi - (double)lo);
}

static void features_row(const presto_numcond *nc, float *f, double value)
{
	int F = nc->n_freq;
	float v = normalized(nc, value);
	const float pi = (float)M_PI;
	f[0] = v;
	for (int k = 0; k < F; k++) {
		float a = v * nc->freq[k] * 2.0f * pi;
		f[1 + k] = sinf(a);
		f[1 + F + k] = cosf(a);
	}
}

void presto_numcond_forward(const presto_numcond *nc, float *out, const double *values, int N, float *features)
{
	float local[1 + 2 * PRESTO_NUMCOND_MAX_FREQ];
	int W = 2 * nc->n_freq + 1;
	/* One row at a time, so a value's embedding does not depend on the
	 * batch it came with. */
	for (int n = 0; n < N; n++) {
		float *f = features ? features + (size_t)n * W : local;
		features_row(nc, f, values[n]);
		presto_linear_forward(out + (size_t)n * nc->out_dim, f, nc->w, nc->b, 1, W, nc->out_dim);
	}
}

/* The gradient slot of tensor w in dparams, or NULL (not a trainable entry). */
static float *grad_of(const presto_numcond *nc, float *dparams, const float *w)
{
	size_t off = (size_t)(w - nc->pbase);
	for (int i = 0; i < nc->ps->n; i++)
		if (nc->ps->p[i].offset == off)
			return nc->ps->p[i].trainable ? dparams + off : NULL;
	return NULL;
}

presto_status presto_numcond_backward(const presto_numcond *nc, float *dparams, const float *dout,
				      const double *values, int N)
{
	if (!dparams)
		return PRESTO_OK;
	if (!nc->ps)
		return presto_error_set(PRESTO_EINVAL, "number conditioner '%s' backward: not bound to a parameter table",
					nc->id);
	float f[1 + 2 * PRESTO_NUMCOND_MAX_FREQ], df[1 + 2 * PRESTO_NUMCOND_MAX_FREQ];
	int F = nc->n_freq, W = 2 * F + 1;
	float *dfreq = grad_of(nc, dparams, nc->freq), *dw = grad_of(nc, dparams, nc->w);
	float *db = grad_of(nc, dparams, nc->b);
	const float two_pi = 2.0f * (float)M_PI;
	/* row by row as the forward: a batch's gradients equal its rows'
	 * accumulated one after the other */
	for (int n = 0; n < N; n++) {
		const float *dy = dout + (size_t)n * nc->out_dim;
		features_row(nc, f, values[n]);
		if (dfreq)
			memset(df, 0, sizeof(float) * (size_t)W);
		presto_linear_backward(dfreq ? df : NULL, dw, db, dy, f, nc->w, 1, W, nc->out_dim);
		if (!dfreq)
			continue;
		/* a = v w 2 pi: d sin(a)/dw = cos(a) v 2 pi, d cos(a)/dw = -sin(a) v 2 pi */
		float v = f[0];
		for (int k = 0; k < F; k++) {
			float s = f[1 + k], co = f[1 + F + k];
			dfreq[k] += (df[1 + k] * co - df[1 + F + k] * s) * (v * two_pi);
		}
	}
	return PRESTO_OK;
}

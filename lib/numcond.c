/* numcond.c - stable-audio-tools NumberConditioner (NumberEmbedder). */
#include "numcond.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

presto_status presto_numcond_load(presto_st *st, const char *prefix, const char *id, float min_val, float max_val,
				  int out_dim, presto_numcond *nc)
{
	char name[512];
	memset(nc, 0, sizeof *nc);
	if (strlen(id) >= sizeof nc->id)
		return presto_error_set(PRESTO_EINVAL, "conditioner id '%s' is too long", id);
	if (!(max_val > min_val))
		return presto_error_set(PRESTO_EINVAL, "number conditioner '%s': max_val %g <= min_val %g", id,
					(double)max_val, (double)min_val);
	if (out_dim <= 0)
		return presto_error_set(PRESTO_EINVAL, "number conditioner '%s': output width %d", id, out_dim);
	snprintf(name, sizeof name, "%s%s.embedder.embedding.0.weights", prefix, id);
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
	snprintf(nc->id, sizeof nc->id, "%s", id);
	nc->min_val = min_val;
	nc->max_val = max_val;
	nc->out_dim = out_dim;
	nc->n_freq = F;
	return PRESTO_OK;
}

presto_status presto_numcond_from_json(presto_st *st, const char *prefix, const json_t *info, int out_dim,
				       presto_numcond *nc)
{
	json_t *id = json_object_get(info, "id"), *type = json_object_get(info, "type");
	json_t *cfg = json_object_get(info, "config");
	if (!json_is_string(id) || !json_is_string(type))
		return presto_error_set(PRESTO_EINVAL, "conditioner config without a string id and type");
	if (strcmp(json_string_value(type), "number"))
		return presto_error_set(PRESTO_EINVAL, "conditioner '%s' has type '%s', not 'number'",
					json_string_value(id), json_string_value(type));
	json_t *lo = json_object_get(cfg, "min_val"), *hi = json_object_get(cfg, "max_val");
	if ((lo && !json_is_number(lo)) || (hi && !json_is_number(hi)))
		return presto_error_set(PRESTO_EINVAL, "conditioner '%s': min_val/max_val must be numbers",
					json_string_value(id));
	/* NumberConditioner defaults: min_val 0, max_val 1 */
	float min_val = lo ? (float)json_number_value(lo) : 0.0f;
	float max_val = hi ? (float)json_number_value(hi) : 1.0f;
	return presto_numcond_load(st, prefix, json_string_value(id), min_val, max_val, out_dim, nc);
}

/* The reference works in fp32 throughout: the python floats become a float32
 * tensor, clamp and normalise in fp32, then f = ((v * w) * 2) * pi. */
static void features_row(const presto_numcond *nc, float *f, double value)
{
	int F = nc->n_freq;
	float x = (float)value, lo = nc->min_val, hi = nc->max_val;
	if (x < lo)
		x = lo;
	else if (x > hi)
		x = hi; /* NaN stays NaN, as torch.clamp */
	float v = (x - lo) / (float)((double)hi - (double)lo);
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

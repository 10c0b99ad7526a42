/* conf_number_cond.c - NumberConditioner fixtures: in.values through every
 * number conditioner of the fixture's conditioning config; checks
 * out.<id>.embedding and inter.<id>.features. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "numcond.h"

/* in.values as doubles (F64 holds the python floats exactly). */
static double *read_values(fixture *fx, const char *name, int *n)
{
	const presto_tensor *t = presto_st_get(fx->st, name);
	if (!t || t->ndim != 1) {
		fx_fail(fx, "%s missing or not 1-D", name);
		return NULL;
	}
	*n = (int)t->shape[0];
	double *v = malloc(sizeof(double) * (size_t)(*n ? *n : 1));
	if (!v)
		return NULL;
	if (t->dtype == PRESTO_F64) {
		memcpy(v, t->data, sizeof(double) * (size_t)*n);
	} else {
		const float *f = fx_ref(fx, name, NULL, NULL);
		if (!f) {
			free(v);
			return NULL;
		}
		for (int i = 0; i < *n; i++)
			v[i] = f[i];
	}
	return v;
}

int conf_number_cond(fixture *fx, const char **skip_reason)
{
	json_t *cc = json_object_get(fx->json, "conditioning_config");
	if (!cc) {
		json_t *mc = json_object_get(json_object_get(fx->json, "model_config"), "model");
		cc = json_object_get(mc, "conditioning");
	}
	json_t *configs = json_object_get(cc, "configs"), *cd = json_object_get(cc, "cond_dim");
	if (!json_is_array(configs) || !json_is_integer(cd)) {
		fx_fail(fx, "no conditioning_config with cond_dim and configs in the fixture JSON");
		return 0;
	}
	int n;
	double *values = read_values(fx, "in.values", &n);
	if (!values)
		return 0;
	int out_dim = (int)json_integer_value(cd), ran = 0;
	for (size_t i = 0; i < json_array_size(configs); i++) {
		json_t *info = json_array_get(configs, i);
		json_t *type = json_object_get(info, "type");
		if (!json_is_string(type) || strcmp(json_string_value(type), "number"))
			continue;
		presto_numcond nc;
		if (presto_numcond_from_json(fx->st, "conditioner.conditioners.", info, out_dim, &nc)) {
			fx_fail(fx, "%s", presto_error());
			continue;
		}
		float *out = malloc(sizeof(float) * (size_t)n * out_dim);
		float *feat = malloc(sizeof(float) * (size_t)n * (2 * nc.n_freq + 1));
		if (!out || !feat) {
			fx_fail(fx, "out of memory");
			free(out);
			free(feat);
			break;
		}
		presto_numcond_forward(&nc, out, values, n, feat);
		char name[160];
		snprintf(name, sizeof name, "out.%s.embedding", nc.id);
		fx_check(fx, name, out, (size_t)n * out_dim);
		snprintf(name, sizeof name, "f64.out.%s.embedding", nc.id);
		if (fx_numel(fx, name))
			fx_check(fx, name, out, (size_t)n * out_dim);
		snprintf(name, sizeof name, "inter.%s.features", nc.id);
		if (fx_numel(fx, name))
			fx_check(fx, name, feat, (size_t)n * (2 * nc.n_freq + 1));
		/* the same values one at a time give the same bits */
		float *one = malloc(sizeof(float) * (size_t)out_dim);
		for (int k = 0; one && k < n; k++) {
			presto_numcond_forward(&nc, one, values + k, 1, NULL);
			if (memcmp(one, out + (size_t)k * out_dim, sizeof(float) * (size_t)out_dim))
				fx_fail(fx, "%s: value %d embedded alone differs from the batch", nc.id, k);
		}
		free(one);
		free(out);
		free(feat);
		ran++;
	}
	free(values);
	if (!ran && !fx->failed) {
		*skip_reason = "no number conditioner in the fixture";
		return 1;
	}
	return 0;
}

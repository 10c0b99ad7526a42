/* dit_init.c - random initial DiT weights as stable-audio-tools constructs
 * them (see dit_init.h for the choices). */
#include "dit_init.h"

#include <math.h>
#include <string.h>

#include "rng.h"

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static int ends_with(const char *s, const char *sfx)
{
	size_t n = strlen(s), m = strlen(sfx);
	return n >= m && !strcmp(s + n - m, sfx);
}

enum { I_KEEP, I_ZERO, I_NORMAL, I_UNIFORM };

/* How tensor `key` (prefix-less) starts; *fan_in for I_UNIFORM. */
static int init_kind(const presto_params *decl, const char *prefix, const char *key, const presto_param_info *pi,
		     int zero_branch, int64_t *fan_in)
{
	if (!strcmp(key, "timestep_features.weight"))
		return I_NORMAL;
	if (!strcmp(key, "preprocess_conv.weight") || !strcmp(key, "postprocess_conv.weight"))
		return I_ZERO;
	if (ends_with(key, ".gamma") || ends_with(key, ".beta") || ends_with(key, "_norm.weight") ||
	    ends_with(key, "_norm.bias") || ends_with(key, "inv_freq"))
		return I_KEEP; /* presto_dit_params_defaults */
	if (zero_branch && (ends_with(key, ".to_out.weight") || ends_with(key, ".ff.ff.2.weight") ||
			    ends_with(key, ".ff.ff.2.bias")))
		return I_ZERO;
	if (pi->ndim >= 2) {
		*fan_in = pi->shape[1] * (pi->ndim == 3 ? pi->shape[2] : 1);
		return I_UNIFORM;
	}
	/* a bias: the fan-in of its layer's weight */
	char wname[600];
	size_t l = strlen(key);
	if (!ends_with(key, ".bias") || l + strlen(prefix) + 2 > sizeof wname)
		return -1;
	snprintf(wname, sizeof wname, "%s%.*sweight", prefix, (int)(l - 4), key);
	int w = presto_params_find(decl, wname);
	if (w < 0 || decl->p[w].ndim < 2)
		return -1;
	*fan_in = decl->p[w].shape[1];
	return I_UNIFORM;
}

presto_status presto_dit_params_init(const presto_params *ps, float *data, const presto_dit_config *c,
				     const char *prefix, uint64_t seed, int zero_init_branch_outputs)
{
	presto_params decl;
	presto_params_init(&decl);
	presto_status rc = presto_dit_params(c, prefix, &decl);
	if (!rc)
		rc = presto_dit_params_defaults(c, prefix, ps, data);
	size_t plen = strlen(prefix);
	for (int i = 0; !rc && i < decl.n; i++) {
		const presto_param_info *d = &decl.p[i];
		int k = presto_params_find(ps, d->name);
		if (k < 0) {
			rc = presto_error_set(PRESTO_EINVAL, "DiT init: %s is not in the parameter table", d->name);
			break;
		}
		const presto_param_info *pi = &ps->p[k];
		int same = pi->ndim == d->ndim;
		for (int j = 0; same && j < d->ndim; j++)
			same = pi->shape[j] == d->shape[j];
		if (!same) {
			rc = presto_error_set(PRESTO_EINVAL, "DiT init: %s has another shape in the table", d->name);
			break;
		}
		const char *key = d->name + plen;
		int64_t fan_in = 1;
		int kind = init_kind(&decl, prefix, key, pi, zero_init_branch_outputs, &fan_in);
		if (kind < 0) {
			rc = presto_error_set(PRESTO_EINVAL, "DiT init: no rule for %s", d->name);
			break;
		}
		float *p = data + pi->offset;
		uint64_t stream = fnv1a64(key);
		switch (kind) {
		case I_KEEP: break;
		case I_ZERO: memset(p, 0, sizeof(float) * pi->numel); break;
		case I_NORMAL: presto_randn(p, pi->numel, seed, stream, 0); break;
		case I_UNIFORM: {
			/* U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from U[0, 1): b (2u - 1) */
			double bound = 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1));
			presto_rand(p, pi->numel, seed, stream, 0);
			for (size_t j = 0; j < pi->numel; j++)
				p[j] = (float)(bound * (2.0 * p[j] - 1.0));
			break;
		}
		}
	}
	presto_params_free(&decl);
	return rc;
}

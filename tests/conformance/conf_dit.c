/* conf_dit.c - DiT fixtures (dit_sao, dit_saos): the number conditioners
 * rebuild in.cross_attn_cond / in.global_cond; the DiT runs on the in.*
 * tensors with cfg scale 1 (out.cfg1.v and every inter.* through the hook)
 * and with the fixture's batched CFG scale (out.cfg.v / .cond / .uncond). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit.h"
#include "accel.h"
#include "fixture.h"
#include "numcond.h"

#define MAX_IDS 16

typedef struct {
	fixture *fx;
	unsigned char *seen; /* per fixture tensor index */
} hook_ctx;

/* Check `name` and, when the fixture has it, the fp64 run's f64.<name>. */
static void check2(fixture *fx, const char *name, const float *data, size_t n)
{
	char f64[200];
	fx_check(fx, name, data, n);
	snprintf(f64, sizeof f64, "f64.%s", name);
	if (presto_st_get(fx->st, f64))
		fx_check(fx, f64, data, n);
}

static void check_hook(void *ctx, const char *name, const float *data, int ndim, const int64_t *shape)
{
	hook_ctx *h = ctx;
	char ref[200];
	snprintf(ref, sizeof ref, "inter.%s", name);
	if (!presto_st_get(h->fx->st, ref))
		return;
	size_t n = 1;
	for (int i = 0; i < ndim; i++)
		n *= (size_t)shape[i];
	check2(h->fx, ref, data, n);
	for (int i = 0; i < presto_st_count(h->fx->st); i++)
		if (!strcmp(presto_st_name(h->fx->st, i), ref))
			h->seen[i] = 1;
}

static int find_number(json_t *configs, const char *id)
{
	for (size_t i = 0; i < json_array_size(configs); i++) {
		json_t *c = json_array_get(configs, i);
		json_t *cid = json_object_get(c, "id"), *type = json_object_get(c, "type");
		if (json_is_string(cid) && !strcmp(json_string_value(cid), id) && json_is_string(type) &&
		    !strcmp(json_string_value(type), "number"))
			return (int)i;
	}
	return -1;
}

/* The number embeddings [B, cond_dim] of conditioner `id` for in.<id>. */
static float *number_embed(fixture *fx, json_t *configs, int k, int cond_dim, int B)
{
	json_t *info = json_array_get(configs, (size_t)k);
	presto_numcond nc;
	if (presto_numcond_from_json(fx->st, "conditioner.conditioners.", info, cond_dim, &nc)) {
		fx_fail(fx, "%s", presto_error());
		return NULL;
	}
	char name[160];
	snprintf(name, sizeof name, "in.%s", nc.id);
	if (fx_numel(fx, name) != (size_t)B) {
		fx_fail(fx, "%s: expected %d values", name, B);
		return NULL;
	}
	const float *v = fx_ref(fx, name, NULL, NULL);
	float *out = malloc(sizeof(float) * (size_t)B * cond_dim);
	double *d = malloc(sizeof(double) * (size_t)B);
	if (v && out && d) {
		for (int b = 0; b < B; b++)
			d[b] = v[b];
		presto_numcond_forward(&nc, out, d, B, NULL);
		free(d);
		return out;
	}
	free(out);
	free(d);
	return NULL;
}

/* Rebuild in.cross_attn_cond and in.global_cond from in.prompt_embeds and the
 * number conditioners, as get_conditioning_inputs concatenates them. */
static void check_conditioning(fixture *fx, json_t *model, int B, int S, int G)
{
	json_t *cond = json_object_get(model, "conditioning"), *diff = json_object_get(model, "diffusion");
	json_t *configs = json_object_get(cond, "configs"), *cd = json_object_get(cond, "cond_dim");
	if (!json_is_array(configs) || !json_is_integer(cd))
		return;
	int Dc = (int)json_integer_value(cd);
	json_t *cross_ids = json_object_get(diff, "cross_attention_cond_ids");
	json_t *global_ids = json_object_get(diff, "global_cond_ids");
	if (json_array_size(cross_ids) && S) {
		float *cross = calloc((size_t)B * S * Dc, sizeof(float));
		int pos = 0, ok = cross != NULL;
		for (size_t i = 0; ok && i < json_array_size(cross_ids); i++) {
			const char *id = json_string_value(json_array_get(cross_ids, i));
			int k = id ? find_number(configs, id) : -1;
			if (k >= 0) {
				float *e = number_embed(fx, configs, k, Dc, B);
				ok = e && pos + 1 <= S;
				for (int b = 0; ok && b < B; b++)
					memcpy(cross + ((size_t)b * S + pos) * Dc, e + (size_t)b * Dc,
					       sizeof(float) * (size_t)Dc);
				free(e);
				pos++;
				continue;
			}
			/* the text conditioner: its output is supplied as in.prompt_embeds */
			int64_t shp[8];
			int nd;
			const float *p = fx_ref(fx, "in.prompt_embeds", shp, &nd);
			ok = p && nd == 3 && shp[0] == B && shp[2] == Dc && pos + shp[1] <= S;
			for (int b = 0; ok && b < B; b++)
				memcpy(cross + ((size_t)b * S + pos) * Dc, p + (size_t)b * shp[1] * Dc,
				       sizeof(float) * (size_t)shp[1] * Dc);
			if (ok)
				pos += (int)shp[1];
		}
		if (ok && pos == S)
			check2(fx, "in.cross_attn_cond", cross, (size_t)B * S * Dc);
		else
			fx_fail(fx, "cannot rebuild in.cross_attn_cond from the conditioners");
		free(cross);
	}
	if (json_array_size(global_ids) && G) {
		size_t ng = json_array_size(global_ids);
		float *glob = malloc(sizeof(float) * (size_t)B * G);
		int ok = glob && (int)ng * Dc == G;
		for (size_t i = 0; ok && i < ng; i++) {
			const char *id = json_string_value(json_array_get(global_ids, i));
			int k = id ? find_number(configs, id) : -1;
			float *e = k >= 0 ? number_embed(fx, configs, k, Dc, B) : NULL;
			ok = e != NULL;
			for (int b = 0; ok && b < B; b++)
				memcpy(glob + (size_t)b * G + i * Dc, e + (size_t)b * Dc, sizeof(float) * (size_t)Dc);
			free(e);
		}
		if (ok)
			check2(fx, "in.global_cond", glob, (size_t)B * G);
		else
			fx_fail(fx, "cannot rebuild in.global_cond from the number conditioners");
		free(glob);
	}
}

int conf_dit(fixture *fx, const char **skip_reason)
{
	json_t *model = json_object_get(json_object_get(fx->json, "model_config"), "model");
	json_t *dcfg = json_object_get(json_object_get(model, "diffusion"), "config");
	presto_dit_config cfg;
	presto_status rc = presto_dit_config_from_json(dcfg, &cfg);
	if (rc == PRESTO_EUNSUP) {
		*skip_reason = presto_error();
		return 1;
	}
	if (rc) {
		fx_fail(fx, "model_config.model.diffusion.config: %s", presto_error());
		return 0;
	}
	presto_dit *m;
	if (presto_dit_load(fx->st, "model.model.", &cfg, &m)) {
		fx_fail(fx, "%s", presto_error());
		return 0;
	}
	int64_t xs[8], cs[8], gs[8];
	int xn, cn = 0, gn = 0;
	const float *x = fx_ref(fx, "in.x", xs, &xn);
	const float *t = fx_ref(fx, "in.t", NULL, NULL);
	const float *cross = presto_st_get(fx->st, "in.cross_attn_cond") ? fx_ref(fx, "in.cross_attn_cond", cs, &cn)
									  : NULL;
	const float *global = presto_st_get(fx->st, "in.global_cond") ? fx_ref(fx, "in.global_cond", gs, &gn) : NULL;
	if (!x || !t || xn != 3 || xs[1] != cfg.io_channels || fx_numel(fx, "in.t") != (size_t)xs[0] ||
	    (cross && (cn != 3 || cs[0] != xs[0] || cs[2] != cfg.cond_token_dim)) ||
	    (global && (gn != 2 || gs[0] != xs[0] || gs[1] != cfg.global_cond_dim))) {
		fx_fail(fx, "inputs missing or with shapes that do not fit the config");
		presto_dit_free(m);
		return 0;
	}
	int B = (int)xs[0], C = (int)xs[1], T = (int)xs[2], S = cross ? (int)cs[1] : 0;
	size_t n = (size_t)B * C * T;

	check_conditioning(fx, model, B, S, global ? cfg.global_cond_dim : 0);
	presto_accel *accel = NULL;

	float *out = malloc(sizeof(float) * n * 3);
	int nst = presto_st_count(fx->st);
	unsigned char *seen = calloc((size_t)nst, 1);
	if (!out || !seen) {
		fx_fail(fx, "out of memory");
		goto done;
	}
	hook_ctx hc = {fx, seen};
	presto_dit_opts opts = {.hook = check_hook, .hook_ctx = &hc};
	if (fx_device) { /* the outputs of the GPU: forwards without hooks */
		if (!(accel = fx_gpu_dit(fx, m)))
			goto done;
		if (presto_dit_forward_cfg(m, out, x, t, cross, NULL, S, global, B, T, 1.0f, NULL, NULL, NULL)) {
			fx_fail(fx, "%s", presto_error());
			goto done;
		}
		check2(fx, "out.cfg1.v", out, n);
	} else {
		if (presto_dit_forward(m, out, x, t, cross, S, global, B, T, &opts)) {
			fx_fail(fx, "%s", presto_error());
			goto done;
		}
		check2(fx, "out.cfg1.v", out, n);
		for (int i = 0; i < nst; i++)
			if (!strncmp(presto_st_name(fx->st, i), "inter.", 6) && !seen[i])
				fx_fail(fx, "%s: no intermediate of that name", presto_st_name(fx->st, i));
	}

	json_t *sc = json_object_get(json_object_get(fx->json, "cfg"), "scale");
	if (json_is_number(sc) && fx_numel(fx, "out.cfg.v")) {
		float scale = (float)json_number_value(sc);
		if (presto_dit_forward_cfg(m, out, x, t, cross, NULL, S, global, B, T, scale, out + n, out + 2 * n,
					   NULL)) {
			fx_fail(fx, "%s", presto_error());
			goto done;
		}
		check2(fx, "out.cfg.v", out, n);
		if (fx_numel(fx, "out.cfg.cond"))
			check2(fx, "out.cfg.cond", out + n, n);
		if (fx_numel(fx, "out.cfg.uncond"))
			check2(fx, "out.cfg.uncond", out + 2 * n, n);
	}
done:
	presto_accel_free(accel);
	free(seen);
	free(out);
	presto_dit_free(m);
	return 0;
}

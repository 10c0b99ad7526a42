/* conf_grad_dit.c - gradients through the DiT (grad_dit fixture).
 *
 * The DiT of the sibling dit_sao fixture (config from dit_sao.json, weights
 * from dit_sao.safetensors under "model.model.") is declared as a parameter
 * table, loaded and bound; one training forward gives v for in.x_t, in.t,
 * in.cross_attn_cond, in.global_cond, loss = mean((v - in.target)^2), and
 * the backward from dL/dv = 2 (v - target) / numel gives every parameter
 * gradient (grad.model.model.*: each trainable table entry must have one and
 * each reference one must be a trainable entry) and the input gradients
 * grad.in.x_t, grad.in.cross_attn_cond, grad.in.global_cond; f64.* where the
 * fixture has them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit.h"
#include "fixture.h"
#include "params.h"

#define PREFIX "model.model."

static void check2(fixture *fx, const char *name, const float *data, size_t n)
{
	char f64[200];
	fx_check(fx, name, data, n);
	snprintf(f64, sizeof f64, "f64.%s", name);
	if (presto_st_get(fx->st, f64))
		fx_check(fx, f64, data, n);
}

/* in.<name> with the expected shape, or NULL (fixture marked failed). */
static const float *input(fixture *fx, const char *name, int ndim, const int64_t *shape)
{
	int64_t s[8];
	int nd;
	const float *p = fx_ref(fx, name, s, &nd);
	int ok = p && nd == ndim;
	for (int i = 0; ok && i < ndim; i++)
		ok = s[i] == shape[i];
	if (!ok) {
		fx_fail(fx, "%s missing or not of the shape the config gives", name);
		return NULL;
	}
	return p;
}

int conf_grad_dit(fixture *fx, const char **skip_reason)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/dit_sao.json", fx->dir);
	json_error_t jerr;
	json_t *js = json_load_file(path, 0, &jerr);
	if (!js) {
		*skip_reason = "the dit_sao fixture (the model config) is missing";
		return 1;
	}
	presto_st *wst = fx_open_sibling(fx, "dit_sao.safetensors"); /* fails the fixture when missing */
	json_t *dcfg = json_object_get(
		json_object_get(json_object_get(json_object_get(js, "model_config"), "model"), "diffusion"), "config");
	presto_dit_config cfg;
	presto_params ps;
	presto_params_init(&ps);
	presto_dit *m = NULL;
	presto_dit_train *tr = NULL;
	float *buf = NULL, *dparams = NULL;
	if (!wst)
		goto done;
	if (presto_dit_config_from_json(dcfg, &cfg) || presto_dit_params(&cfg, PREFIX, &ps) ||
	    presto_params_alloc(&ps) || presto_params_load(&ps, wst, 0) ||
	    presto_dit_bind(&ps, ps.data, PREFIX, &cfg, &m) || presto_dit_train_new(m, &tr)) {
		fx_fail(fx, "%s", presto_error());
		goto done;
	}

	int64_t xs[8];
	int xn;
	if (!fx_ref(fx, "in.x_t", xs, &xn) || xn != 3 || xs[1] != cfg.io_channels) {
		fx_fail(fx, "in.x_t missing or not [B, %d, T]", cfg.io_channels);
		goto done;
	}
	int B = (int)xs[0], C = (int)xs[1], T = (int)xs[2];
	int64_t cs[8];
	int cn;
	if (!fx_ref(fx, "in.cross_attn_cond", cs, &cn) || cn != 3) {
		fx_fail(fx, "in.cross_attn_cond missing");
		goto done;
	}
	int S = (int)cs[1], Cc = cfg.cond_token_dim, G = cfg.global_cond_dim;
	const float *x = input(fx, "in.x_t", 3, xs);
	const float *t = input(fx, "in.t", 1, (int64_t[]){B});
	const float *cross = input(fx, "in.cross_attn_cond", 3, (int64_t[]){B, S, Cc});
	const float *global = input(fx, "in.global_cond", 2, (int64_t[]){B, G});
	const float *target = input(fx, "in.target", 3, xs);
	if (!x || !t || !cross || !global || !target)
		goto done;

	size_t n = (size_t)B * C * T, nc = (size_t)B * S * Cc, ng = (size_t)B * G;
	buf = calloc(3 * n + nc + ng, sizeof(float));
	dparams = presto_params_buffer(&ps);
	if (!buf || !dparams) {
		fx_fail(fx, "out of memory");
		goto done;
	}
	float *v = buf, *dv = v + n, *dx = dv + n, *dcross = dx + n, *dglobal = dcross + nc;
	if (presto_dit_train_forward(tr, v, x, t, cross, S, global, B, T, NULL)) {
		fx_fail(fx, "%s", presto_error());
		goto done;
	}
	check2(fx, "out.v", v, n);
	double loss = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)v[i] - target[i];
		loss += d * d;
		dv[i] = (float)(2.0 * d / (double)n);
	}
	float lossf = (float)(loss / (double)n);
	check2(fx, "out.loss", &lossf, 1);

	if (presto_dit_train_backward(tr, dv, dparams, dx, NULL, dcross, dglobal)) {
		fx_fail(fx, "%s", presto_error());
		goto done;
	}
	check2(fx, "grad.in.x_t", dx, n);
	check2(fx, "grad.in.cross_attn_cond", dcross, nc);
	check2(fx, "grad.in.global_cond", dglobal, ng);

	/* every trainable tensor against its reference gradient */
	char name[700];
	for (int i = 0; i < ps.n; i++) {
		const presto_param_info *pi = &ps.p[i];
		snprintf(name, sizeof name, "grad.%s", pi->name);
		int has = presto_st_get(fx->st, name) != NULL;
		if (pi->trainable && has)
			check2(fx, name, dparams + pi->offset, pi->numel);
		else if (pi->trainable)
			fx_fail(fx, "%s: trainable here, but the fixture has no gradient for it", pi->name);
		else if (has)
			fx_fail(fx, "%s: the fixture has a gradient for what is a buffer here", pi->name);
	}
	for (int i = 0; i < presto_st_count(fx->st); i++) {
		const char *key = presto_st_name(fx->st, i);
		if (!strncmp(key, "grad." PREFIX, strlen("grad." PREFIX)) && presto_params_find(&ps, key + 5) < 0)
			fx_fail(fx, "%s: no such tensor in the DiT's parameter table", key);
	}
done:
	free(buf);
	free(dparams);
	presto_dit_train_free(tr);
	presto_dit_free(m);
	presto_params_free(&ps);
	json_decref(js);
	return 0;
}

/* conf_grad_oobleck.c - gradients through the Oobleck decoder (grad_oobleck
 * fixture): loss = mean((decoder(in.z) - in.target)^2) over the batch; checks
 * out.decoded, out.loss, grad.in.z and the gradient of every decoder
 * parameter (weight_g, weight_v, bias, alpha, beta), with the fp64 twins
 * where the fixture has them. The parameter table and the fixture's gradient
 * list must name the same tensors. The fixture's JSON carries no config: the
 * decoder is the oobleck fixture's (same weights), so its pretransform_config
 * is read from oobleck.json beside it unless grad_oobleck.json has one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "oobleck.h"

#define PREFIX "pretransform.model."
#define GRAD_PREFIX "grad." PREFIX "decoder."

static int load_config(fixture *fx, presto_oobleck_config *c)
{
	json_t *own = NULL;
	const json_t *pt = json_object_get(fx->json, "pretransform_config");
	if (!pt) {
		char path[4096];
		json_error_t err;
		snprintf(path, sizeof path, "%s/oobleck.json", fx->dir);
		own = json_load_file(path, 0, &err);
		if (!own) {
			fx_fail(fx, "no pretransform_config and %s unreadable: %s", path, err.text);
			return -1;
		}
		pt = json_object_get(own, "pretransform_config");
	}
	int rc = 0;
	if (presto_oobleck_config_from_json(pt, c)) {
		fx_fail(fx, "%s", presto_error());
		rc = -1;
	}
	json_decref(own);
	return rc;
}

/* Every decoder parameter has a reference gradient and the reverse. */
static void check_names(fixture *fx, const presto_params *ps)
{
	char name[512];
	for (int i = 0; i < ps->n; i++) {
		snprintf(name, sizeof name, "grad.%s", ps->p[i].name);
		if (!presto_st_get(fx->st, name))
			fx_fail(fx, "parameter %s has no reference gradient", ps->p[i].name);
	}
	for (int k = 0; k < presto_st_count(fx->st); k++) {
		const char *nm = presto_st_name(fx->st, k);
		if (!strncmp(nm, GRAD_PREFIX, strlen(GRAD_PREFIX)) && presto_params_find(ps, nm + 5) < 0)
			fx_fail(fx, "reference gradient %s matches no decoder parameter", nm);
	}
}

static void run(fixture *fx, const presto_oobleck_config *c, presto_params *ps)
{
	presto_vae *m = NULL;
	presto_vae_train *t = NULL;
	float *out = NULL, *dout = NULL, *dz = NULL, *grad = NULL;
	int64_t sz[4], st[4];
	int nz, nt;
	const float *z = fx_ref(fx, "in.z", sz, &nz), *target = fx_ref(fx, "in.target", st, &nt);
	if (!z || !target)
		return;
	if (nz != 3 || nt != 3 || sz[1] != c->latent_dim || st[1] != c->audio_channels || st[0] != sz[0] ||
	    st[2] != presto_vae_audio_len(c, (int)sz[2])) {
		fx_fail(fx, "in.z / in.target: unexpected shapes");
		return;
	}
	int B = (int)sz[0], Lz = (int)sz[2], N = (int)st[2];
	size_t nout = (size_t)B * (size_t)c->audio_channels * (size_t)N, nzf = (size_t)B * c->latent_dim * Lz;
	if (presto_vae_from_params(c, ps, PREFIX, 0, 1, &m) || presto_vae_train_new(m, &t)) {
		fx_fail(fx, "%s", presto_error());
		goto done;
	}
	out = calloc(nout, sizeof(float));
	dout = calloc(nout, sizeof(float));
	dz = calloc(nzf, sizeof(float));
	grad = presto_params_buffer(ps);
	if (!out || !dout || !dz || !grad) {
		fx_fail(fx, "out of memory");
		goto done;
	}
	if (presto_vae_decode_train(t, out, z, B, Lz)) {
		fx_fail(fx, "%s", presto_error());
		goto done;
	}
	fx_check(fx, "out.decoded", out, nout);
	double loss = 0;
	for (size_t i = 0; i < nout; i++) {
		double d = (double)out[i] - target[i];
		loss += d * d;
		dout[i] = (float)(2.0 * d / (double)nout);
	}
	float lossf = (float)(loss / (double)nout);
	fx_check(fx, "out.loss", &lossf, 1);
	fx_check(fx, "f64.out.loss", &lossf, 1);
	if (presto_vae_decode_backward(t, dz, grad, dout)) {
		fx_fail(fx, "%s", presto_error());
		goto done;
	}
	fx_check(fx, "grad.in.z", dz, nzf);
	fx_check(fx, "f64.grad.in.z", dz, nzf);
	char name[512];
	for (int i = 0; i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		snprintf(name, sizeof name, "grad.%s", pi->name);
		if (presto_st_get(fx->st, name))
			fx_check(fx, name, grad + pi->offset, pi->numel);
		snprintf(name, sizeof name, "f64.grad.%s", pi->name);
		if (presto_st_get(fx->st, name))
			fx_check(fx, name, grad + pi->offset, pi->numel);
	}
done:
	free(out);
	free(dout);
	free(dz);
	free(grad);
	presto_vae_train_free(t);
	presto_vae_free(m);
}

int conf_grad_oobleck(fixture *fx, const char **skip_reason)
{
	presto_oobleck_config c;
	presto_params ps;
	fx->tol = 1e-4;
	if (load_config(fx, &c))
		return 0;
	presto_params_init(&ps);
	if (presto_oobleck_params(&c, PREFIX, 0, 1, &ps) || presto_params_alloc(&ps) ||
	    presto_params_load(&ps, fx->st, 0)) {
		fx_fail(fx, "%s", presto_error());
	} else {
		check_names(fx, &ps);
		run(fx, &c, &ps);
	}
	presto_params_free(&ps);
	return 0;
}

/* conf_oobleck.c - the Oobleck VAE fixture: encoder (pre-bottleneck output,
 * mean / scale halves), VAE bottleneck sample and KL, decoder of in.z and of
 * out.mean, every top-level encoder / decoder layer through the hook. Items
 * run one at a time (the reference pretransform has iterate_batch=True); the
 * intermediates are gathered into [B, C, T] as the fixture stores them. The
 * encoder and decoder then run again with a tiny work limit so that the tiled
 * convolution path is checked against the same references. Last, the
 * training forwards (a model on a parameter table, weights folded from
 * weight_g / weight_v, all items at once) are checked against the outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel.h"
#include "fixture.h"
#include "oobleck.h"

#define PREFIX "pretransform.model."
#define MAX_INTER 64

typedef struct {
	fixture *fx;
	int B, b;
	int n;
	struct {
		char name[80];
		int64_t C, T;
		float *data;    /* [B, C, T] */
	} t[MAX_INTER];
} gather;

static void gather_hook(void *ctx, const char *name, const float *data, int ndim, const int64_t *shape)
{
	gather *g = ctx;
	if (ndim != 2) {
		fx_fail(g->fx, "hook %s: ndim %d, expected 2", name, ndim);
		return;
	}
	int i = 0;
	while (i < g->n && strcmp(g->t[i].name, name))
		i++;
	if (i == g->n) {
		if (g->n == MAX_INTER) {
			fx_fail(g->fx, "too many hooked tensors");
			return;
		}
		snprintf(g->t[i].name, sizeof g->t[i].name, "%s", name);
		g->t[i].C = shape[0];
		g->t[i].T = shape[1];
		g->t[i].data = calloc((size_t)g->B * (size_t)(shape[0] * shape[1]), sizeof(float));
		g->n++;
	}
	if (g->t[i].C != shape[0] || g->t[i].T != shape[1] || !g->t[i].data) {
		fx_fail(g->fx, "hook %s: shape changed between items", name);
		return;
	}
	size_t per = (size_t)(shape[0] * shape[1]);
	memcpy(g->t[i].data + (size_t)g->b * per, data, per * sizeof(float));
}

/* Check every gathered tensor against inter.<name>, and that every
 * inter.<part>.* reference was produced. */
static void gather_check(fixture *fx, gather *g, const char *part)
{
	char ref[128];
	for (int i = 0; i < g->n; i++) {
		snprintf(ref, sizeof ref, "inter.%s", g->t[i].name);
		fx_check(fx, ref, g->t[i].data, (size_t)g->B * (size_t)(g->t[i].C * g->t[i].T));
	}
	size_t plen = strlen(part);
	for (int k = 0; k < presto_st_count(fx->st); k++) {
		const char *nm = presto_st_name(fx->st, k);
		if (strncmp(nm, "inter.", 6) || strncmp(nm + 6, part, plen) || nm[6 + plen] != '.')
			continue;
		int found = 0;
		for (int i = 0; i < g->n && !found; i++)
			found = !strcmp(g->t[i].name, nm + 6);
		if (!found)
			fx_fail(fx, "%s: never produced by the hook", nm);
	}
}

static void gather_free(gather *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->t[i].data);
	g->n = 0;
}

/* A [B, C, T] reference with C = want_c; returns NULL (fixture failed) otherwise. */
static const float *ref3(fixture *fx, const char *name, int want_c, int64_t *shape)
{
	int nd;
	const float *p = fx_ref(fx, name, shape, &nd);
	if (!p)
		return NULL;
	if (nd != 3 || shape[1] != want_c || shape[0] < 1 || shape[2] < 1) {
		fx_fail(fx, "%s: unexpected shape (want [B, %d, T])", name, want_c);
		return NULL;
	}
	return p;
}

typedef struct {
	float *enc, *mean, *scale, *lat, *dec, *dec_mean;
} outputs;

static void run_all(fixture *fx, presto_vae *m, int tiled)
{
	const presto_oobleck_config *c = presto_vae_get_config(m);
	int64_t sa[3], sn[3], sz[3], sm[3];
	const float *audio = ref3(fx, "in.audio", c->audio_channels, sa);
	const float *noise = ref3(fx, "in.vae_noise", c->latent_dim, sn);
	const float *z = ref3(fx, "in.z", c->latent_dim, sz);
	const float *rmean = ref3(fx, "out.mean", c->latent_dim, sm);
	if (!audio || !noise || !z || !rmean)
		return;
	int B = (int)sa[0], N = (int)sa[2], Lz = (int)sz[2];
	int Le = presto_vae_latent_len(c, N), Na = presto_vae_audio_len(c, Lz), Nm = presto_vae_audio_len(c, Le);
	if (Le < 1 || Na < 1 || Nm < 1 || sn[0] != B || sn[2] != Le || sz[0] != B || sm[0] != B || sm[2] != Le) {
		fx_fail(fx, "inconsistent input shapes");
		return;
	}
	size_t E = (size_t)c->encoder_out_dim * (size_t)Le, L = (size_t)c->latent_dim * (size_t)Le;
	size_t A = (size_t)c->audio_channels;
	outputs o = {
		.enc = calloc((size_t)B * E, sizeof(float)),
		.mean = calloc((size_t)B * L, sizeof(float)),
		.scale = calloc((size_t)B * L, sizeof(float)),
		.lat = calloc((size_t)B * L, sizeof(float)),
		.dec = calloc((size_t)B * A * (size_t)Na, sizeof(float)),
		.dec_mean = calloc((size_t)B * A * (size_t)Nm, sizeof(float)),
	};
	gather ge = {.fx = fx, .B = B}, gd = {.fx = fx, .B = B};
	double kl = 0;
	if (!o.enc || !o.mean || !o.scale || !o.lat || !o.dec || !o.dec_mean) {
		fx_fail(fx, "out of memory");
		goto done;
	}
	for (int b = 0; b < B; b++) {
		float *enc = o.enc + (size_t)b * E;
		ge.b = gd.b = b;
		if (presto_vae_encode(m, enc, audio + (size_t)b * A * (size_t)N, N, tiled ? NULL : gather_hook, &ge) ||
		    presto_vae_decode(m, o.dec + (size_t)b * A * (size_t)Na, z + (size_t)b * (size_t)c->latent_dim * Lz,
				      Lz, tiled ? NULL : gather_hook, &gd) ||
		    presto_vae_decode(m, o.dec_mean + (size_t)b * A * (size_t)Nm, rmean + (size_t)b * L, Le, NULL,
				      NULL)) {
			fx_fail(fx, "%s", presto_error());
			goto done;
		}
		memcpy(o.mean + (size_t)b * L, enc, L * sizeof(float));
		memcpy(o.scale + (size_t)b * L, enc + L, L * sizeof(float));
		double kb;
		presto_vae_bottleneck(c, o.lat + (size_t)b * L, enc, noise + (size_t)b * L, Le, &kb);
		kl += kb / B;
	}
	fx_check(fx, "out.encoder", o.enc, (size_t)B * E);
	fx_check(fx, "f64.out.encoder", o.enc, (size_t)B * E);
	fx_check(fx, "out.decoded", o.dec, (size_t)B * A * (size_t)Na);
	fx_check(fx, "f64.out.decoded", o.dec, (size_t)B * A * (size_t)Na);
	fx_check(fx, "out.decoded_from_mean", o.dec_mean, (size_t)B * A * (size_t)Nm);
	fx_check(fx, "f64.out.decoded_from_mean", o.dec_mean, (size_t)B * A * (size_t)Nm);
	if (!tiled) {
		float klf = (float)kl;
		fx_check(fx, "out.mean", o.mean, (size_t)B * L);
		fx_check(fx, "out.scale", o.scale, (size_t)B * L);
		fx_check(fx, "out.latent_sampled", o.lat, (size_t)B * L);
		fx_check(fx, "out.kl", &klf, 1);
		gather_check(fx, &ge, "encoder");
		gather_check(fx, &gd, "decoder");
	}
done:
	gather_free(&ge);
	gather_free(&gd);
	free(o.enc);
	free(o.mean);
	free(o.scale);
	free(o.lat);
	free(o.dec);
	free(o.dec_mean);
}

/* Training path: encoder, bottleneck and decoder of a table model. */
static void run_train(fixture *fx, const presto_oobleck_config *c)
{
	presto_params ps;
	presto_vae *m = NULL;
	presto_vae_train *t = NULL;
	float *enc = NULL, *lat = NULL, *dec = NULL;
	int64_t sa[3], sn[3], sz[3];
	presto_params_init(&ps);
	const float *audio = ref3(fx, "in.audio", c->audio_channels, sa);
	const float *noise = ref3(fx, "in.vae_noise", c->latent_dim, sn);
	const float *z = ref3(fx, "in.z", c->latent_dim, sz);
	if (!audio || !noise || !z)
		goto done;
	int B = (int)sa[0], N = (int)sa[2], Lz = (int)sz[2], Le = presto_vae_latent_len(c, N);
	int Na = presto_vae_audio_len(c, Lz);
	size_t E = (size_t)c->encoder_out_dim * (size_t)Le, L = (size_t)c->latent_dim * (size_t)Le;
	size_t nd = (size_t)B * (size_t)c->audio_channels * (size_t)Na;
	if (presto_oobleck_params(c, PREFIX, 1, 1, &ps) || presto_params_alloc(&ps) ||
	    presto_params_load(&ps, fx->st, 0) || presto_vae_from_params(c, &ps, PREFIX, 1, 1, &m) ||
	    presto_vae_train_new(m, &t)) {
		fx_fail(fx, "train: %s", presto_error());
		goto done;
	}
	enc = calloc((size_t)B * E, sizeof(float));
	lat = calloc((size_t)B * L, sizeof(float));
	dec = calloc(nd, sizeof(float));
	if (!enc || !lat || !dec) {
		fx_fail(fx, "out of memory");
		goto done;
	}
	if (presto_vae_encode_train(t, enc, audio, B, N) || presto_vae_decode_train(t, dec, z, B, Lz)) {
		fx_fail(fx, "train: %s", presto_error());
		goto done;
	}
	double kl = 0;
	for (int b = 0; b < B; b++) {
		double kb;
		presto_vae_bottleneck(c, lat + (size_t)b * L, enc + (size_t)b * E, noise + (size_t)b * L, Le, &kb);
		kl += kb / B;
	}
	float klf = (float)kl;
	fx_check(fx, "out.encoder", enc, (size_t)B * E);
	fx_check(fx, "out.latent_sampled", lat, (size_t)B * L);
	fx_check(fx, "out.kl", &klf, 1);
	fx_check(fx, "out.decoded", dec, nd);
done:
	free(enc);
	free(lat);
	free(dec);
	presto_vae_train_free(t);
	presto_vae_free(m);
	presto_params_free(&ps);
}

int conf_oobleck(fixture *fx, const char **skip_reason)
{
	presto_oobleck_config c;
	presto_vae *m;
	if (presto_oobleck_config_from_json(json_object_get(fx->json, "pretransform_config"), &c)) {
		fx_fail(fx, "%s", presto_error());
		return 0;
	}
	if (!c.has_encoder || !c.has_decoder) {
		*skip_reason = "fixture config lacks the encoder or the decoder";
		return 1;
	}
	if (presto_vae_load(fx->st, PREFIX, &c, &m)) {
		fx_fail(fx, "%s", presto_error());
		return 0;
	}
	if (!presto_vae_get_config(m)->has_encoder || !presto_vae_get_config(m)->has_decoder) {
		fx_fail(fx, "encoder or decoder weights missing under " PREFIX);
		presto_vae_free(m);
		return 0;
	}
	run_all(fx, m, 0);
	presto_vae_set_work_limit(m, 1);
	presto_accel *accel = fx_gpu_vae(fx, m); /* with --device: the hook-less decodes on the GPU */
	if (!fx_device || accel)
		run_all(fx, m, 1);
	presto_accel_free(accel);
	presto_vae_free(m);
	run_train(fx, &c);
	return 0;
}

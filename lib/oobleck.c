/* oobleck.c - the Oobleck VAE: config, weight loading (weight norm folded
 * once), encoder / decoder forward of one item, VAE bottleneck; for
 * training: the parameter table, models on it, forwards that keep their
 * activations and the backward passes (see "training" below).
 *
 * Layer layout (stable-audio-tools OobleckEncoder / OobleckDecoder, c_mults
 * with a 1 prepended, n = n_blocks, W = channels):
 *   encoder.layers.0        WNConv1d(audio -> W, k7, p3)
 *   encoder.layers.i        EncoderBlock(W*m[i-1] -> W*m[i], stride s[i-1]):
 *                           3 ResidualUnits (dil 1, 3, 9), SnakeBeta,
 *                           WNConv1d(k 2s, stride s, pad ceil(s/2))
 *   encoder.layers.n+1      SnakeBeta
 *   encoder.layers.n+2      WNConv1d(W*m[n] -> encoder_out_dim, k3, p1)
 *   decoder.layers.0        WNConv1d(latent -> W*m[n], k7, p3)
 *   decoder.layers.i        DecoderBlock(W*m[n-i+1] -> W*m[n-i], stride
 *                           s[n-i]): SnakeBeta, WNConvTranspose1d(k 2s,
 *                           stride s, pad ceil(s/2)), 3 ResidualUnits
 *   decoder.layers.n+1      SnakeBeta
 *   decoder.layers.n+2      WNConv1d(W -> audio, k7, p3, no bias)
 *   decoder.layers.n+3      Tanh (final_tanh) or Identity
 * ResidualUnit(dil d): x + conv1x1(snake(conv7_d(snake(x)))), the k7 conv
 * padded by 3d so that the length is kept.
 *
 * A forward runs twice through the same code: a dry pass that only walks the
 * geometry (lengths, largest activation, largest convolution scratch), then
 * the real pass on buffers allocated once for the call. */
#include "oobleck.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "oobleck_internal.h"

#define DEFAULT_WORK_LIMIT ((size_t)1 << 24)
#define MIN_TILE 32

/* ---- config ---- */

typedef struct {
	int io, channels, latent, n, use_snake, final_tanh;
	int c_mults[PRESTO_OOBLECK_MAX_BLOCKS], strides[PRESTO_OOBLECK_MAX_BLOCKS];
} oob_part;

static presto_status json_int(const json_t *o, const char *key, int *out, const char *where)
{
	const json_t *v = json_object_get(o, key);
	if (!v)
		return PRESTO_OK;
	if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 1e9) {
		*out = (int)json_real_value(v);
		return PRESTO_OK;
	}
	if (!json_is_integer(v) || json_integer_value(v) < -1000000000 || json_integer_value(v) > 1000000000)
		return presto_error_set(PRESTO_EINVAL, "%s: \"%s\" must be an integer", where, key);
	*out = (int)json_integer_value(v);
	return PRESTO_OK;
}

static presto_status json_flag(const json_t *o, const char *key, int *out, const char *where)
{
	const json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return PRESTO_OK;
	if (json_is_boolean(v))
		*out = json_is_true(v);
	else if (json_is_integer(v))
		*out = json_integer_value(v) != 0;
	else
		return presto_error_set(PRESTO_EINVAL, "%s: \"%s\" must be a boolean", where, key);
	return PRESTO_OK;
}

static presto_status json_int_list(const json_t *o, const char *key, int *out, int *n, const char *where)
{
	const json_t *v = json_object_get(o, key);
	if (!v)
		return PRESTO_OK;
	if (!json_is_array(v))
		return presto_error_set(PRESTO_EINVAL, "%s: \"%s\" must be a list of integers", where, key);
	if (json_array_size(v) > PRESTO_OOBLECK_MAX_BLOCKS)
		return presto_error_set(PRESTO_EUNSUP, "%s: \"%s\" has %zu entries (at most %d supported)", where, key,
					json_array_size(v), PRESTO_OOBLECK_MAX_BLOCKS);
	for (size_t i = 0; i < json_array_size(v); i++) {
		const json_t *e = json_array_get(v, i);
		if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > 65536)
			return presto_error_set(PRESTO_EINVAL, "%s: \"%s\"[%zu] must be a positive integer", where, key,
						i);
		out[i] = (int)json_integer_value(e);
	}
	*n = (int)json_array_size(v);
	return PRESTO_OK;
}

static presto_status parse_part(const json_t *part, int is_dec, oob_part *p)
{
	const char *where = is_dec ? "pretransform decoder" : "pretransform encoder";
	static const int def_mults[] = {1, 2, 4, 8}, def_strides[] = {2, 4, 8, 8};
	memset(p, 0, sizeof *p);
	p->io = 2;
	p->channels = 128;
	p->latent = 32;
	p->final_tanh = 1;
	p->n = 4;
	memcpy(p->c_mults, def_mults, sizeof def_mults);
	memcpy(p->strides, def_strides, sizeof def_strides);

	if (!json_is_object(part))
		return presto_error_set(PRESTO_EINVAL, "%s: not an object", where);
	const json_t *type = json_object_get(part, "type");
	if (!json_is_string(type))
		return presto_error_set(PRESTO_EINVAL, "%s: missing \"type\"", where);
	if (strcmp(json_string_value(type), "oobleck"))
		return presto_error_set(PRESTO_EUNSUP, "%s: type \"%s\" is not supported (only \"oobleck\")", where,
					json_string_value(type));
	int soft_clip = 0;
	PRESTO_TRY(json_flag(part, "soft_clip", &soft_clip, where));
	if (soft_clip)
		return presto_error_set(PRESTO_EUNSUP, "%s: soft_clip is not supported", where);
	const json_t *cfg = json_object_get(part, "config");
	if (!json_is_object(cfg))
		return presto_error_set(PRESTO_EINVAL, "%s: missing \"config\" object", where);

	static const char *const enc_keys[] = {"in_channels", "channels", "latent_dim", "c_mults", "strides",
					       "use_snake", "antialias_activation", NULL};
	static const char *const dec_keys[] = {"out_channels", "channels", "latent_dim", "c_mults", "strides",
					       "use_snake", "antialias_activation", "use_nearest_upsample",
					       "final_tanh", NULL};
	const char *key;
	const json_t *val;
	json_object_foreach((json_t *)cfg, key, val) {
		const char *const *k = is_dec ? dec_keys : enc_keys;
		while (*k && strcmp(*k, key))
			k++;
		if (!*k)
			return presto_error_set(PRESTO_EUNSUP, "%s: unknown option \"%s\"", where, key);
	}
	PRESTO_TRY(json_int(cfg, is_dec ? "out_channels" : "in_channels", &p->io, where));
	PRESTO_TRY(json_int(cfg, "channels", &p->channels, where));
	PRESTO_TRY(json_int(cfg, "latent_dim", &p->latent, where));
	int nm = p->n, ns = p->n;
	PRESTO_TRY(json_int_list(cfg, "c_mults", p->c_mults, &nm, where));
	PRESTO_TRY(json_int_list(cfg, "strides", p->strides, &ns, where));
	if (nm != ns)
		return presto_error_set(PRESTO_EINVAL, "%s: c_mults has %d entries but strides %d", where, nm, ns);
	p->n = nm;
	PRESTO_TRY(json_flag(cfg, "use_snake", &p->use_snake, where));
	int aa = 0, nearest = 0;
	PRESTO_TRY(json_flag(cfg, "antialias_activation", &aa, where));
	PRESTO_TRY(json_flag(cfg, "use_nearest_upsample", &nearest, where));
	if (is_dec)
		PRESTO_TRY(json_flag(cfg, "final_tanh", &p->final_tanh, where));
	else
		p->final_tanh = 0;
	if (!p->use_snake)
		return presto_error_set(PRESTO_EUNSUP, "%s: only use_snake=true is supported (ELU variant)", where);
	if (aa)
		return presto_error_set(PRESTO_EUNSUP, "%s: antialias_activation is not supported", where);
	if (nearest)
		return presto_error_set(PRESTO_EUNSUP, "%s: use_nearest_upsample is not supported", where);
	if (p->io < 1 || p->io > 64 || p->channels < 1 || p->channels > 65536 || p->latent < 1 || p->latent > 65536)
		return presto_error_set(PRESTO_EINVAL, "%s: channel counts out of range", where);
	for (int i = 0; i < p->n; i++)
		if ((int64_t)p->c_mults[i] * p->channels > 65536)
			return presto_error_set(PRESTO_EINVAL, "%s: channels * c_mults too large", where);
	return PRESTO_OK;
}

presto_status presto_oobleck_config_from_json(const json_t *pt, presto_oobleck_config *c)
{
	memset(c, 0, sizeof *c);
	if (!json_is_object(pt))
		return presto_error_set(PRESTO_EINVAL, "pretransform: not an object");
	const json_t *type = json_object_get(pt, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "autoencoder"))
		return presto_error_set(PRESTO_EUNSUP, "pretransform: type must be \"autoencoder\"");
	c->scale = 1.0f;
	const json_t *sc = json_object_get(pt, "scale");
	if (sc) {
		if (!json_is_number(sc) || !(json_number_value(sc) > 0) || !isfinite(json_number_value(sc)))
			return presto_error_set(PRESTO_EINVAL, "pretransform: \"scale\" must be a positive number");
		c->scale = (float)json_number_value(sc);
	}
	const json_t *cfg = json_object_get(pt, "config");
	if (!json_is_object(cfg))
		return presto_error_set(PRESTO_EINVAL, "pretransform: missing \"config\" object");
	if (json_object_get(cfg, "pretransform") && !json_is_null(json_object_get(cfg, "pretransform")))
		return presto_error_set(PRESTO_EUNSUP, "pretransform: nested pretransform is not supported");

	const json_t *bn = json_object_get(cfg, "bottleneck");
	const json_t *bt = json_object_get(bn, "type");
	if (!json_is_string(bt) || strcmp(json_string_value(bt), "vae"))
		return presto_error_set(PRESTO_EUNSUP, "pretransform: only the \"vae\" bottleneck is supported");

	int latent = 0, ratio = 0, io = 0;
	PRESTO_TRY(json_int(cfg, "latent_dim", &latent, "pretransform"));
	PRESTO_TRY(json_int(cfg, "downsampling_ratio", &ratio, "pretransform"));
	PRESTO_TRY(json_int(cfg, "io_channels", &io, "pretransform"));
	if (latent <= 0 || ratio <= 0 || io <= 0)
		return presto_error_set(PRESTO_EINVAL,
					"pretransform: latent_dim, downsampling_ratio and io_channels are required");
	static const char *const io_keys[] = {"in_channels", "out_channels"};
	for (int i = 0; i < 2; i++) {
		int v = io;
		PRESTO_TRY(json_int(cfg, io_keys[i], &v, "pretransform"));
		if (v != io)
			return presto_error_set(PRESTO_EUNSUP, "pretransform: %s %d differs from io_channels %d",
						io_keys[i], v, io);
	}

	const json_t *je = json_object_get(cfg, "encoder"), *jd = json_object_get(cfg, "decoder");
	if (json_is_null(je))
		je = NULL;
	if (json_is_null(jd))
		jd = NULL;
	if (!je && !jd)
		return presto_error_set(PRESTO_EINVAL, "pretransform: neither encoder nor decoder given");
	oob_part e, d;
	if (je)
		PRESTO_TRY(parse_part(je, 0, &e));
	if (jd)
		PRESTO_TRY(parse_part(jd, 1, &d));
	if (je && jd && (e.channels != d.channels || e.n != d.n ||
			 memcmp(e.c_mults, d.c_mults, sizeof(int) * (size_t)e.n) ||
			 memcmp(e.strides, d.strides, sizeof(int) * (size_t)e.n)))
		return presto_error_set(PRESTO_EUNSUP,
					"pretransform: encoder and decoder differ in channels, c_mults or strides");
	const oob_part *g = jd ? &d : &e;
	c->audio_channels = io;
	c->channels = g->channels;
	c->n_blocks = g->n;
	memcpy(c->c_mults, g->c_mults, sizeof c->c_mults);
	memcpy(c->strides, g->strides, sizeof c->strides);
	c->latent_dim = latent;
	c->encoder_out_dim = 2 * latent;
	c->use_snake = 1;
	c->final_tanh = jd ? d.final_tanh : 0;
	c->has_encoder = je != NULL;
	c->has_decoder = jd != NULL;
	int64_t prod = 1;
	for (int i = 0; i < g->n; i++) {
		prod *= g->strides[i];
		if (prod > 1 << 24)
			return presto_error_set(PRESTO_EINVAL, "pretransform: product of strides too large");
	}
	if (prod != ratio)
		return presto_error_set(PRESTO_EINVAL,
					"pretransform: downsampling_ratio %d is not the product of the strides (%lld)",
					ratio, (long long)prod);
	c->downsampling_ratio = ratio;
	if (je && e.io != io)
		return presto_error_set(PRESTO_EINVAL, "pretransform: encoder in_channels %d, io_channels %d", e.io,
					io);
	if (jd && d.io != io)
		return presto_error_set(PRESTO_EINVAL, "pretransform: decoder out_channels %d, io_channels %d", d.io,
					io);
	if (je && e.latent != 2 * latent)
		return presto_error_set(PRESTO_EINVAL,
					"pretransform: encoder latent_dim %d must be 2 * latent_dim (%d) for the VAE",
					e.latent, 2 * latent);
	if (jd && d.latent != latent)
		return presto_error_set(PRESTO_EINVAL, "pretransform: decoder latent_dim %d, latent_dim %d", d.latent,
					latent);
	return PRESTO_OK;
}

/* Width of encoder stage i (0 = after the input conv, n = deepest). */
static int stage_width(const presto_oobleck_config *c, int i)
{
	return c->channels * (i == 0 ? 1 : c->c_mults[i - 1]);
}

static int down_pad(int s) { return (s + 1) / 2; }

int presto_vae_latent_len(const presto_oobleck_config *c, int N)
{
	if (N < 1)
		return -1;
	int T = N;
	for (int i = 0; i < c->n_blocks; i++) {
		int s = c->strides[i];
		T = presto_conv1d_out_len(T, 2 * s, s, down_pad(s), 1);
		if (T < 1)
			return -1;
	}
	return T;
}

int presto_vae_audio_len(const presto_oobleck_config *c, int Lz)
{
	if (Lz < 1)
		return -1;
	int64_t T = Lz;
	for (int i = c->n_blocks - 1; i >= 0; i--) {
		int s = c->strides[i];
		T = (T - 1) * s - 2 * down_pad(s) + 2 * s;
		if (T < 1 || T > INT32_MAX)
			return -1;
	}
	return (int)T;
}

double presto_vae_decode_flops(const presto_oobleck_config *c, int Lz)
{
	if (presto_vae_audio_len(c, Lz) < 1)
		return 0;
	int n = c->n_blocks;
	double T = Lz, f = 2.0 * c->latent_dim * stage_width(c, n) * 7 * T;
	for (int i = 0; i < n; i++) {
		int st = n - 1 - i, ci = stage_width(c, st + 1), co = stage_width(c, st), s = c->strides[st];
		f += 2.0 * ci * co * (2 * s) * T; /* transposed: every input frame meets every tap */
		T = (T - 1) * s - 2 * down_pad(s) + 2 * s;
		f += 3 * (2.0 * co * co * 7 * T + 2.0 * co * co * T); /* residual units: k7 then 1x1 */
	}
	return f + 2.0 * stage_width(c, 0) * c->audio_channels * 7 * T;
}

/* ---- loading ---- */

/* One walk over the layers serves three purposes: loading a checkpoint
 * (st), declaring the parameters in a table (decl) and binding a model to an
 * allocated table (bind). */
typedef struct {
	presto_st *st;
	const char *prefix;
	presto_vae *m;
	presto_params *decl;
	const presto_params *bind;
} loader;

static float *keep(presto_vae *m, size_t n)
{
	if (m->n_allocs == m->cap_allocs) {
		int cap = m->cap_allocs ? 2 * m->cap_allocs : 256;
		float **a = realloc(m->allocs, sizeof *a * (size_t)cap);
		if (!a) {
			presto_error_set(PRESTO_ENOMEM, "out of memory");
			return NULL;
		}
		m->allocs = a;
		m->cap_allocs = cap;
	}
	float *p = presto_falloc(n);
	if (p)
		m->allocs[m->n_allocs++] = p;
	return p;
}

static presto_status full_name(char *buf, size_t n, const loader *L, const char *base, const char *leaf)
{
	if ((size_t)snprintf(buf, n, "%s%s.%s", L->prefix, base, leaf) >= n)
		return presto_error_set(PRESTO_EINVAL, "tensor name too long: %s%s", L->prefix, base);
	return PRESTO_OK;
}

static presto_status load_copy(loader *L, float **out, const char *base, const char *leaf, int ndim,
			       const int64_t *shape)
{
	char name[512];
	const float *src;
	size_t n;
	PRESTO_TRY(full_name(name, sizeof name, L, base, leaf));
	PRESTO_TRY(presto_st_f32(L->st, name, ndim, shape, &src));
	if (!presto_numel(shape, ndim, &n))
		return presto_error_set(PRESTO_ENOMEM, "%s: size overflow", name);
	float *dst = keep(L->m, n);
	if (!dst)
		return PRESTO_ENOMEM;
	memcpy(dst, src, n * sizeof(float));
	*out = dst;
	return PRESTO_OK;
}

static presto_status declare_param(loader *L, const char *base, const char *leaf, int ndim,
				   const int64_t *shape, int decay)
{
	char name[512];
	PRESTO_TRY(full_name(name, sizeof name, L, base, leaf));
	return presto_params_add(L->decl, name, ndim, shape, 1, decay) < 0 ? PRESTO_EINVAL : PRESTO_OK;
}

static presto_status bind_param(loader *L, const char *base, const char *leaf, int ndim, const int64_t *shape,
				float **ptr, size_t *off)
{
	char name[512];
	PRESTO_TRY(full_name(name, sizeof name, L, base, leaf));
	int i = presto_params_find(L->bind, name);
	if (i < 0)
		return presto_error_set(PRESTO_EINVAL, "parameter %s is not in the table", name);
	const presto_param_info *pi = &L->bind->p[i];
	if (pi->ndim != ndim || memcmp(pi->shape, shape, sizeof(int64_t) * (size_t)ndim))
		return presto_error_set(PRESTO_EINVAL, "parameter %s has another shape in the table", name);
	*ptr = L->bind->data + pi->offset;
	*off = pi->offset;
	return PRESTO_OK;
}

static presto_status load_conv(loader *L, vconv *cv, const char *base, int cin, int cout, int k, int stride,
			       int pad, int dil, int transposed, int bias)
{
	*cv = (vconv){.cin = cin, .cout = cout, .k = k, .stride = stride, .pad = pad, .dil = dil,
		      .transposed = transposed};
	/* Conv1d weight [cout, cin, k]; ConvTranspose1d weight [cin, cout, k].
	 * Weight norm (dim 0) scales each row of dim 0: g is [dim0, 1, 1]. */
	int64_t wshape[3] = {transposed ? cin : cout, transposed ? cout : cin, k};
	int64_t gshape[3] = {wshape[0], 1, 1}, bshape[1] = {cout};
	char name[512];
	if (L->decl) {
		PRESTO_TRY(declare_param(L, base, "weight_g", 3, gshape, 0));
		PRESTO_TRY(declare_param(L, base, "weight_v", 3, wshape, 1));
		return bias ? declare_param(L, base, "bias", 1, bshape, 0) : PRESTO_OK;
	}
	if (L->bind) {
		float *p;
		PRESTO_TRY(bind_param(L, base, "weight_g", 3, gshape, &p, &cv->pg));
		cv->g = p;
		PRESTO_TRY(bind_param(L, base, "weight_v", 3, wshape, &p, &cv->pv));
		cv->v = p;
		cv->wo = L->m->fold_n;
		L->m->fold_n += (size_t)wshape[0] * (size_t)wshape[1] * (size_t)k;
		return bias ? bind_param(L, base, "bias", 1, bshape, &cv->b, &cv->pb) : PRESTO_OK;
	}
	PRESTO_TRY(full_name(name, sizeof name, L, base, "weight_g"));
	if (presto_st_get(L->st, name)) {
		const float *g, *v;
		PRESTO_TRY(presto_st_f32(L->st, name, 3, gshape, &g));
		PRESTO_TRY(full_name(name, sizeof name, L, base, "weight_v"));
		PRESTO_TRY(presto_st_f32(L->st, name, 3, wshape, &v));
		int rest = (transposed ? cout : cin) * k;
		cv->w = keep(L->m, (size_t)wshape[0] * (size_t)rest);
		if (!cv->w)
			return PRESTO_ENOMEM;
		presto_weight_norm_fold(cv->w, g, v, (int)wshape[0], rest);
	} else {
		PRESTO_TRY(load_copy(L, &cv->w, base, "weight", 3, wshape));
	}
	if (bias)
		PRESTO_TRY(load_copy(L, &cv->b, base, "bias", 1, bshape));
	return PRESTO_OK;
}

static presto_status load_snake(loader *L, vsnake *s, const char *base, int c)
{
	int64_t shape[1] = {c};
	s->c = c;
	if (L->decl) {
		PRESTO_TRY(declare_param(L, base, "alpha", 1, shape, 0));
		return declare_param(L, base, "beta", 1, shape, 0);
	}
	if (L->bind) {
		PRESTO_TRY(bind_param(L, base, "alpha", 1, shape, &s->alpha, &s->pa));
		return bind_param(L, base, "beta", 1, shape, &s->beta, &s->pb);
	}
	PRESTO_TRY(load_copy(L, &s->alpha, base, "alpha", 1, shape));
	return load_copy(L, &s->beta, base, "beta", 1, shape);
}

static presto_status load_res(loader *L, vres *r, const char *base, int c, int dil)
{
	char b[256];
	snprintf(b, sizeof b, "%s.layers.0", base);
	PRESTO_TRY(load_snake(L, &r->s1, b, c));
	snprintf(b, sizeof b, "%s.layers.1", base);
	PRESTO_TRY(load_conv(L, &r->c1, b, c, c, 7, 1, 3 * dil, dil, 0, 1));
	snprintf(b, sizeof b, "%s.layers.2", base);
	PRESTO_TRY(load_snake(L, &r->s2, b, c));
	snprintf(b, sizeof b, "%s.layers.3", base);
	return load_conv(L, &r->c2, b, c, c, 1, 1, 0, 1, 0, 1);
}

static const int res_dil[3] = {1, 3, 9};

static presto_status load_encoder(loader *L)
{
	presto_vae *m = L->m;
	const presto_oobleck_config *c = &m->c;
	int n = c->n_blocks;
	char b[256];
	PRESTO_TRY(load_conv(L, &m->e_in, "encoder.layers.0", c->audio_channels, stage_width(c, 0), 7, 1, 3, 1, 0, 1));
	for (int i = 0; i < n; i++) {
		int ci = stage_width(c, i), co = stage_width(c, i + 1), s = c->strides[i];
		vblock *bl = &m->e_blk[i];
		for (int j = 0; j < 3; j++) {
			snprintf(b, sizeof b, "encoder.layers.%d.layers.%d", i + 1, j);
			PRESTO_TRY(load_res(L, &bl->ru[j], b, ci, res_dil[j]));
		}
		snprintf(b, sizeof b, "encoder.layers.%d.layers.3", i + 1);
		PRESTO_TRY(load_snake(L, &bl->act, b, ci));
		snprintf(b, sizeof b, "encoder.layers.%d.layers.4", i + 1);
		PRESTO_TRY(load_conv(L, &bl->conv, b, ci, co, 2 * s, s, down_pad(s), 1, 0, 1));
	}
	snprintf(b, sizeof b, "encoder.layers.%d", n + 1);
	PRESTO_TRY(load_snake(L, &m->e_act, b, stage_width(c, n)));
	snprintf(b, sizeof b, "encoder.layers.%d", n + 2);
	return load_conv(L, &m->e_out, b, stage_width(c, n), c->encoder_out_dim, 3, 1, 1, 1, 0, 1);
}

static presto_status load_decoder(loader *L)
{
	presto_vae *m = L->m;
	const presto_oobleck_config *c = &m->c;
	int n = c->n_blocks;
	char b[256];
	PRESTO_TRY(load_conv(L, &m->d_in, "decoder.layers.0", c->latent_dim, stage_width(c, n), 7, 1, 3, 1, 0, 1));
	for (int i = 0; i < n; i++) {
		/* decoder block i+1 undoes encoder stage n-1-i */
		int st = n - 1 - i;
		int ci = stage_width(c, st + 1), co = stage_width(c, st), s = c->strides[st];
		vblock *bl = &m->d_blk[i];
		snprintf(b, sizeof b, "decoder.layers.%d.layers.0", i + 1);
		PRESTO_TRY(load_snake(L, &bl->act, b, ci));
		snprintf(b, sizeof b, "decoder.layers.%d.layers.1", i + 1);
		PRESTO_TRY(load_conv(L, &bl->conv, b, ci, co, 2 * s, s, down_pad(s), 1, 1, 1));
		for (int j = 0; j < 3; j++) {
			snprintf(b, sizeof b, "decoder.layers.%d.layers.%d", i + 1, j + 2);
			PRESTO_TRY(load_res(L, &bl->ru[j], b, co, res_dil[j]));
		}
	}
	snprintf(b, sizeof b, "decoder.layers.%d", n + 1);
	PRESTO_TRY(load_snake(L, &m->d_act, b, stage_width(c, 0)));
	snprintf(b, sizeof b, "decoder.layers.%d", n + 2);
	return load_conv(L, &m->d_out, b, stage_width(c, 0), c->audio_channels, 7, 1, 3, 1, 0, 0);
}

static int has_conv(loader *L, const char *base)
{
	char name[512];
	if (full_name(name, sizeof name, L, base, "weight_v"))
		return 0;
	if (presto_st_get(L->st, name))
		return 1;
	if (full_name(name, sizeof name, L, base, "weight"))
		return 0;
	return presto_st_get(L->st, name) != NULL;
}

static presto_status check_config(const presto_oobleck_config *c)
{
	if (c->n_blocks < 0 || c->n_blocks > PRESTO_OOBLECK_MAX_BLOCKS || !c->use_snake || c->channels < 1 ||
	    c->audio_channels < 1 || c->latent_dim < 1 || c->encoder_out_dim != 2 * c->latent_dim)
		return presto_error_set(PRESTO_EINVAL, "vae: invalid config");
	return PRESTO_OK;
}

presto_status presto_vae_load(presto_st *st, const char *prefix, const presto_oobleck_config *c, presto_vae **out)
{
	*out = NULL;
	PRESTO_TRY(check_config(c));
	presto_vae *m = presto_calloc(1, sizeof *m);
	if (!m)
		return PRESTO_ENOMEM;
	m->c = *c;
	if (!(m->c.scale > 0))
		m->c.scale = 1.0f;
	m->work_limit = DEFAULT_WORK_LIMIT;
	loader L = {.st = st, .prefix = prefix ? prefix : "", .m = m};
	m->c.has_encoder = c->has_encoder && has_conv(&L, "encoder.layers.0");
	m->c.has_decoder = c->has_decoder && has_conv(&L, "decoder.layers.0");
	presto_status s = PRESTO_OK;
	if (!m->c.has_encoder && !m->c.has_decoder)
		s = presto_error_set(PRESTO_EINVAL, "%s: no Oobleck encoder or decoder under '%sencoder.' / "
				     "'%sdecoder.'", presto_st_path(st), L.prefix, L.prefix);
	if (!s && m->c.has_encoder)
		s = load_encoder(&L);
	if (!s && m->c.has_decoder)
		s = load_decoder(&L);
	if (s) {
		presto_vae_free(m);
		return presto_error_wrap(s, "loading vae: ");
	}
	*out = m;
	return PRESTO_OK;
}

void presto_vae_free(presto_vae *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_allocs; i++)
		free(m->allocs[i]);
	free(m->allocs);
	free(m);
}

const presto_oobleck_config *presto_vae_get_config(const presto_vae *m) { return &m->c; }

void presto_vae_set_work_limit(presto_vae *m, size_t floats) { m->work_limit = floats ? floats : DEFAULT_WORK_LIMIT; }

/* ---- forward ---- */

typedef struct {
	int dry;
	size_t limit;           /* im2col floats before a conv is tiled */
	size_t need_act, need_scratch;
	float *scratch;
	presto_hook hook;
	void *hook_ctx;
	const char *part;       /* "encoder" / "decoder" */
} run;

static void need(size_t *have, size_t a, size_t b)
{
	size_t n;
	if (!presto_mul_size(a, b, &n))
		n = SIZE_MAX;
	if (n > *have)
		*have = n;
}

static void hook_out(run *r, int layer, const float *x, int C, int T)
{
	if (r->dry || !r->hook)
		return;
	char name[64];
	int64_t shape[2] = {C, T};
	snprintf(name, sizeof name, "%s.layers.%d", r->part, layer);
	r->hook(r->hook_ctx, name, x, 2, shape);
}

static void snake_apply(run *r, const vsnake *s, float *y, const float *x, int T)
{
	need(&r->need_act, (size_t)s->c, (size_t)T);
	if (!r->dry)
		presto_snake_beta_forward(y, x, s->alpha, s->beta, s->c, T);
}

/* Tile of output frames such that the im2col block stays near the limit. */
static int tile_len(size_t limit, size_t per_frame, int total)
{
	size_t t = limit / (per_frame ? per_frame : 1);
	if (t < MIN_TILE)
		t = MIN_TILE;
	return t < (size_t)total ? (int)t : total;
}

/* The row copies of a tiled convolution, a channel per task: its input
 * window (zeros outside [0, len)) and its output tile. */
typedef struct {
	float *dst;
	const float *src;
	int len, n, off;
} tile_copy;

/* dst[c, j] = src[c, off + j] for j < n (0 outside [0, len)) */
static void window_row(void *ctx, int c, int w)
{
	(void)w;
	const tile_copy *t = ctx;
	const float *xr = t->src + (size_t)c * (size_t)t->len;
	float *dst = t->dst + (size_t)c * (size_t)t->n;
	for (int j = 0; j < t->n; j++) {
		int i = t->off + j;
		dst[j] = (i >= 0 && i < t->len) ? xr[i] : 0.0f;
	}
}

/* dst[c, off .. off + n) = src[c, 0 .. n) (dst rows of len) */
static void out_row(void *ctx, int c, int w)
{
	(void)w;
	const tile_copy *t = ctx;
	memcpy(t->dst + (size_t)c * (size_t)t->len + t->off, t->src + (size_t)c * (size_t)t->n,
	       sizeof(float) * (size_t)t->n);
}

/* y[cout, Tout] = conv(x[cin, Tin]); returns Tout, or 0 when Tin is too short. */
static int conv1d_apply(run *r, const vconv *cv, float *y, const float *x, int Tin)
{
	int Tout = presto_conv1d_out_len(Tin, cv->k, cv->stride, cv->pad, cv->dil);
	if (Tout < 1)
		return 0;
	need(&r->need_act, (size_t)cv->cout, (size_t)Tout);
	int pointwise = cv->k == 1 && cv->stride == 1 && cv->pad == 0;
	size_t per_frame = (size_t)cv->cin * (size_t)cv->k;
	size_t full = pointwise ? 0 : presto_conv1d_work_size(cv->cin, Tin, cv->k, cv->stride, cv->pad, cv->dil);
	if (full <= r->limit || pointwise) {
		if (r->dry)
			need(&r->need_scratch, full ? full : 1, 1);
		else
			presto_conv1d_forward(y, x, cv->w, cv->b, cv->cin, cv->cout, Tin, cv->k, cv->stride, cv->pad,
					      cv->dil, r->scratch);
		return Tout;
	}
	/* Tiled: copy the input window of each tile (zeros outside [0, Tin)),
	 * convolve it without padding, copy the tile out. */
	int tile = tile_len(r->limit, per_frame, Tout);
	int span = cv->dil * (cv->k - 1) + 1;
	int win = (tile - 1) * cv->stride + span;
	size_t n_win = (size_t)cv->cin * (size_t)win, n_cols = per_frame * (size_t)tile;
	size_t n_out = (size_t)cv->cout * (size_t)tile;
	if (r->dry) {
		need(&r->need_scratch, n_win + n_cols + n_out, 1);
		return Tout;
	}
	float *xw = r->scratch, *cols = xw + n_win, *yt = cols + n_cols;
	for (int t0 = 0; t0 < Tout; t0 += tile) {
		int nt = Tout - t0 < tile ? Tout - t0 : tile;
		int w = (nt - 1) * cv->stride + span;
		tile_copy c = {xw, x, Tin, w, t0 * cv->stride - cv->pad};
		presto_parallel(cv->cin, window_row, &c);
		presto_conv1d_forward(yt, xw, cv->w, cv->b, cv->cin, cv->cout, w, cv->k, cv->stride, 0, cv->dil, cols);
		tile_copy o = {y, yt, Tout, nt, t0};
		presto_parallel(cv->cout, out_row, &o);
	}
	return Tout;
}

/* y[cout, Tout] = conv_transpose(x[cin, Tin]); returns Tout or 0. */
static int convt_apply(run *r, const vconv *cv, float *y, const float *x, int Tin)
{
	int64_t T64 = (int64_t)(Tin - 1) * cv->stride - 2 * cv->pad + cv->k;
	if (T64 < 1 || T64 > INT32_MAX)
		return 0;
	int Tout = (int)T64;
	need(&r->need_act, (size_t)cv->cout, (size_t)Tout);
	size_t per_frame = (size_t)cv->cout * (size_t)cv->k;
	size_t full = presto_conv_transpose1d_work_size(cv->cout, Tin, cv->k);
	if (full <= r->limit) {
		if (r->dry)
			need(&r->need_scratch, full, 1);
		else
			presto_conv_transpose1d_forward(y, x, cv->w, cv->b, cv->cin, cv->cout, Tin, cv->k, cv->stride,
							cv->pad, r->scratch);
		return Tout;
	}
	/* Tiled over input frames: each tile's full (unpadded) output is added
	 * into y at its offset, y starting from the bias. */
	int tile = tile_len(r->limit, per_frame, Tin);
	int span = (tile - 1) * cv->stride + cv->k;
	size_t n_in = (size_t)cv->cin * (size_t)tile, n_cols = per_frame * (size_t)tile;
	size_t n_out = (size_t)cv->cout * (size_t)span;
	if (r->dry) {
		need(&r->need_scratch, n_in + n_cols + n_out, 1);
		return Tout;
	}
	float *xt = r->scratch, *cols = xt + n_in, *yt = cols + n_cols;
	for (int o = 0; o < cv->cout; o++) {
		float bv = cv->b ? cv->b[o] : 0.0f;
		float *yr = y + (size_t)o * (size_t)Tout;
		for (int t = 0; t < Tout; t++)
			yr[t] = bv;
	}
	for (int t0 = 0; t0 < Tin; t0 += tile) {
		int nt = Tin - t0 < tile ? Tin - t0 : tile;
		int L = (nt - 1) * cv->stride + cv->k;
		for (int ci = 0; ci < cv->cin; ci++)
			memcpy(xt + (size_t)ci * (size_t)nt, x + (size_t)ci * (size_t)Tin + t0,
			       sizeof(float) * (size_t)nt);
		presto_conv_transpose1d_forward(yt, xt, cv->w, NULL, cv->cin, cv->cout, nt, cv->k, cv->stride, 0, cols);
		int i0 = t0 * cv->stride - cv->pad;
		for (int o = 0; o < cv->cout; o++) {
			float *yr = y + (size_t)o * (size_t)Tout;
			const float *tr = yt + (size_t)o * (size_t)L;
			for (int j = 0; j < L; j++) {
				int i = i0 + j;
				if (i >= 0 && i < Tout)
					yr[i] += tr[j];
			}
		}
	}
	return Tout;
}

/* x[C, T] += unit(x); b, c are scratch activations. */
static void res_apply(run *r, const vres *u, float *x, float *b, float *c, int T)
{
	snake_apply(r, &u->s1, b, x, T);
	conv1d_apply(r, &u->c1, c, b, T);
	snake_apply(r, &u->s2, b, c, T);
	conv1d_apply(r, &u->c2, c, b, T);
	if (!r->dry)
		presto_add_inplace(x, c, (size_t)u->c2.cout * (size_t)T);
}

/* Encoder on audio[audio_channels, N] into out; returns the latent length or 0. */
static int encoder_run(run *r, const presto_vae *m, float *out, const float *audio, int N, float **buf)
{
	const presto_oobleck_config *c = &m->c;
	int n = c->n_blocks;
	int T = conv1d_apply(r, &m->e_in, buf[0], audio, N);
	if (!T)
		return 0;
	hook_out(r, 0, buf[0], m->e_in.cout, T);
	for (int i = 0; i < n; i++) {
		const vblock *bl = &m->e_blk[i];
		for (int j = 0; j < 3; j++)
			res_apply(r, &bl->ru[j], buf[0], buf[1], buf[2], T);
		snake_apply(r, &bl->act, buf[1], buf[0], T);
		T = conv1d_apply(r, &bl->conv, buf[0], buf[1], T);
		if (!T)
			return 0;
		hook_out(r, i + 1, buf[0], bl->conv.cout, T);
	}
	snake_apply(r, &m->e_act, buf[1], buf[0], T);
	hook_out(r, n + 1, buf[1], m->e_act.c, T);
	T = conv1d_apply(r, &m->e_out, out, buf[1], T);
	hook_out(r, n + 2, out, m->e_out.cout, T);
	return T;
}

/* Decoder on z[latent, Lz] into audio; returns the audio length or 0. */
static int decoder_run(run *r, const presto_vae *m, float *audio, const float *z, int Lz, float **buf)
{
	const presto_oobleck_config *c = &m->c;
	int n = c->n_blocks;
	int T = conv1d_apply(r, &m->d_in, buf[0], z, Lz);
	if (!T)
		return 0;
	hook_out(r, 0, buf[0], m->d_in.cout, T);
	for (int i = 0; i < n; i++) {
		const vblock *bl = &m->d_blk[i];
		snake_apply(r, &bl->act, buf[1], buf[0], T);
		T = convt_apply(r, &bl->conv, buf[0], buf[1], T);
		if (!T)
			return 0;
		for (int j = 0; j < 3; j++)
			res_apply(r, &bl->ru[j], buf[0], buf[1], buf[2], T);
		hook_out(r, i + 1, buf[0], bl->conv.cout, T);
	}
	snake_apply(r, &m->d_act, buf[1], buf[0], T);
	hook_out(r, n + 1, buf[1], m->d_act.c, T);
	T = conv1d_apply(r, &m->d_out, audio, buf[1], T);
	hook_out(r, n + 2, audio, m->d_out.cout, T);
	if (!r->dry && c->final_tanh)
		for (size_t i = 0, k = (size_t)m->d_out.cout * (size_t)T; i < k; i++)
			audio[i] = tanhf(audio[i]);
	hook_out(r, n + 3, audio, m->d_out.cout, T);
	return T;
}

/* Three activation buffers and the conv scratch (r->scratch), sized by the
 * dry pass. */
static float *alloc_work(run *r, float **buf)
{
	size_t act = r->need_act ? r->need_act : 1, total;
	if (!presto_mul_size(act, 3, &total) || total > SIZE_MAX - r->need_scratch) {
		presto_error_set(PRESTO_ENOMEM, "vae: work buffers too large");
		return NULL;
	}
	float *w = presto_falloc(total + r->need_scratch);
	if (!w)
		return NULL;
	for (int i = 0; i < 3; i++)
		buf[i] = w + (size_t)i * act;
	r->scratch = w + 3 * act;
	return w;
}

presto_status presto_vae_encode(presto_vae *m, float *out, const float *audio, int N, presto_hook hook, void *ctx)
{
	if (!m->c.has_encoder)
		return presto_error_set(PRESTO_EUNSUP, "vae: no encoder loaded");
	if (m->accel_enc && m->accel_ctx && !hook) {
		if (presto_vae_latent_len(&m->c, N) < 1)
			return presto_error_set(PRESTO_EINVAL, "vae encode: %d audio frames are too few", N);
		return m->accel_enc(m->accel_ctx, out, audio, N);
	}
	run r = {.dry = 1, .limit = m->work_limit, .hook = hook, .hook_ctx = ctx, .part = "encoder"};
	float *buf[3] = {NULL, NULL, NULL};
	if (N < 1 || !encoder_run(&r, m, NULL, NULL, N, buf))
		return presto_error_set(PRESTO_EINVAL, "vae encode: %d audio frames are too few for the encoder", N);
	float *work = alloc_work(&r, buf);
	if (!work)
		return PRESTO_ENOMEM;
	r.dry = 0;
	encoder_run(&r, m, out, audio, N, buf);
	free(work);
	return PRESTO_OK;
}

static float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

void presto_vae_bottleneck(const presto_oobleck_config *c, float *z, const float *pre, const float *noise, int Lz,
			   double *kl)
{
	size_t n = (size_t)c->latent_dim * (size_t)Lz;
	float scale = c->scale > 0 ? c->scale : 1.0f;
	double acc = 0;
	for (size_t i = 0; i < n; i++) {
		float mean = pre[i], sd = softplus(pre[n + i]) + 1e-4f;
		float var = sd * sd;
		acc += (double)(mean * mean + var - logf(var) - 1.0f);
		float v = noise ? noise[i] * sd + mean : mean;
		z[i] = scale == 1.0f ? v : v / scale;
	}
	if (kl)
		*kl = Lz > 0 ? acc / Lz : 0;
}

void presto_vae_set_accel(presto_vae *m, presto_vae_accel_fn fn, void *ctx)
{
	m->accel = fn;
	m->accel_ctx = fn ? ctx : NULL;
	if (!fn)
		m->accel_enc = NULL;
}

void presto_vae_set_encode_accel(presto_vae *m, presto_vae_encode_accel_fn fn) { m->accel_enc = fn; }

presto_status presto_vae_decode(presto_vae *m, float *audio, const float *z, int Lz, presto_hook hook, void *ctx)
{
	if (!m->c.has_decoder)
		return presto_error_set(PRESTO_EUNSUP, "vae: no decoder loaded");
	if (m->accel && !hook) {
		if (Lz < 1 || presto_vae_audio_len(&m->c, Lz) < 1)
			return presto_error_set(PRESTO_EINVAL, "vae decode: %d latent frames give no valid audio length",
						Lz);
		return m->accel(m->accel_ctx, audio, z, Lz);
	}
	run r = {.dry = 1, .limit = m->work_limit, .hook = hook, .hook_ctx = ctx, .part = "decoder"};
	float *buf[3] = {NULL, NULL, NULL};
	if (Lz < 1 || !decoder_run(&r, m, NULL, NULL, Lz, buf))
		return presto_error_set(PRESTO_EINVAL, "vae decode: %d latent frames give no valid audio length", Lz);
	size_t nz = (size_t)m->c.latent_dim * (size_t)Lz;
	int scaled = m->c.scale != 1.0f;
	if (scaled)
		r.need_scratch += nz;
	float *work = alloc_work(&r, buf);
	if (!work)
		return PRESTO_ENOMEM;
	r.dry = 0;
	if (scaled) {
		/* the scaled latent sits at the end of the scratch, past what any conv uses */
		float *zs = r.scratch + r.need_scratch - nz;
		for (size_t i = 0; i < nz; i++)
			zs[i] = z[i] * m->c.scale;
		z = zs;
	}
	decoder_run(&r, m, audio, z, Lz, buf);
	free(work);
	return PRESTO_OK;
}

/* ---- training: parameter tables ---- */

presto_status presto_oobleck_params(const presto_oobleck_config *c, const char *prefix, int encoder, int decoder,
				    presto_params *ps)
{
	PRESTO_TRY(check_config(c));
	presto_vae *m = presto_calloc(1, sizeof *m);
	if (!m)
		return PRESTO_ENOMEM;
	m->c = *c;
	loader L = {.prefix = prefix ? prefix : "", .m = m, .decl = ps};
	presto_status s = PRESTO_OK;
	if (encoder)
		s = load_encoder(&L);
	if (!s && decoder)
		s = load_decoder(&L);
	free(m);
	return s ? presto_error_wrap(s, "vae parameters: ") : PRESTO_OK;
}

/* Every convolution of the encoder (dec = 0) or the decoder; returns the count. */
static int part_convs(presto_vae *m, int dec, vconv **out)
{
	int k = 0, n = m->c.n_blocks;
	out[k++] = dec ? &m->d_in : &m->e_in;
	for (int i = 0; i < n; i++) {
		vblock *bl = dec ? &m->d_blk[i] : &m->e_blk[i];
		if (dec)
			out[k++] = &bl->conv;
		for (int j = 0; j < 3; j++) {
			out[k++] = &bl->ru[j].c1;
			out[k++] = &bl->ru[j].c2;
		}
		if (!dec)
			out[k++] = &bl->conv;
	}
	out[k++] = dec ? &m->d_out : &m->e_out;
	return k;
}

#define MAX_CONVS (2 + 7 * PRESTO_OOBLECK_MAX_BLOCKS)

static int conv_rows(const vconv *cv) { return cv->transposed ? cv->cin : cv->cout; }
static int conv_rest(const vconv *cv) { return (cv->transposed ? cv->cout : cv->cin) * cv->k; }

static void refold_part(presto_vae *m, int dec)
{
	vconv *cv[MAX_CONVS];
	int k = part_convs(m, dec, cv);
	for (int i = 0; i < k; i++)
		presto_weight_norm_fold(cv[i]->w, cv[i]->g, cv[i]->v, conv_rows(cv[i]), conv_rest(cv[i]));
}

void presto_vae_refold(presto_vae *m)
{
	if (!m->ps)
		return;
	if (m->c.has_encoder)
		refold_part(m, 0);
	if (m->c.has_decoder)
		refold_part(m, 1);
}

presto_status presto_vae_from_params(const presto_oobleck_config *c, const presto_params *ps, const char *prefix,
				     int encoder, int decoder, presto_vae **out)
{
	*out = NULL;
	PRESTO_TRY(check_config(c));
	if (!ps->data)
		return presto_error_set(PRESTO_EINVAL, "vae: parameter table not allocated");
	if (!encoder && !decoder)
		return presto_error_set(PRESTO_EINVAL, "vae: neither encoder nor decoder asked for");
	presto_vae *m = presto_calloc(1, sizeof *m);
	if (!m)
		return PRESTO_ENOMEM;
	m->c = *c;
	if (!(m->c.scale > 0))
		m->c.scale = 1.0f;
	m->c.has_encoder = encoder != 0;
	m->c.has_decoder = decoder != 0;
	m->work_limit = DEFAULT_WORK_LIMIT;
	m->ps = ps;
	loader L = {.prefix = prefix ? prefix : "", .m = m, .bind = ps};
	presto_status s = PRESTO_OK;
	if (encoder)
		s = load_encoder(&L);
	if (!s && decoder)
		s = load_decoder(&L);
	if (!s && !(m->fold = keep(m, m->fold_n ? m->fold_n : 1)))
		s = PRESTO_ENOMEM;
	if (s) {
		presto_vae_free(m);
		return presto_error_wrap(s, "vae from parameters: ");
	}
	for (int dec = 0; dec < 2; dec++) {
		if (!(dec ? decoder : encoder))
			continue;
		vconv *cv[MAX_CONVS];
		int k = part_convs(m, dec, cv);
		for (int i = 0; i < k; i++)
			cv[i]->w = m->fold + cv[i]->wo;
	}
	presto_vae_refold(m);
	*out = m;
	return PRESTO_OK;
}

/* ---- training: forward with saved activations, backward ----
 *
 * Saved per item (offsets in one item's slice of the arena), with block i's
 * residual unit j computing out = x + c2(snake2(u)), u = c1(snake1(x)):
 *   in        the input (audio, or z * scale)
 *   a[i]      input of block i's own SnakeBeta (decoder: the block input;
 *             encoder: the output of its last residual unit)
 *   xin[i][j] input of residual unit j, u[i][j] its first conv's output
 *   xf        input of the final SnakeBeta
 *   y         the decoder output after tanh (final_tanh only)
 * Snake outputs (the conv inputs) are recomputed in the backward. */

typedef struct {
	int B, len;             /* laid out for B items of input length len */
	int T[PRESTO_OOBLECK_MAX_BLOCKS + 1]; /* after the input conv (0), after block i (i + 1) */
	int Tout;
	size_t in, a[PRESTO_OOBLECK_MAX_BLOCKS], xin[PRESTO_OOBLECK_MAX_BLOCKS][3], u[PRESTO_OOBLECK_MAX_BLOCKS][3];
	size_t xf, y;
	size_t item;            /* floats per item */
	size_t act, work;       /* largest [C, T] and largest conv scratch */
	float *arena;
	size_t cap;
	int ready;              /* a forward filled the arena */
} tape;

struct presto_vae_train {
	presto_vae *m;
	tape enc, dec;
	float *scratch;         /* 4 activations + conv work */
	size_t scratch_cap;
	float *dw;              /* gradient of the folded weights (m->fold layout) */
};

static int take(tape *tp, size_t *off, int C, int T, size_t *pos)
{
	size_t n;
	if (T < 1 || !presto_mul_size((size_t)C, (size_t)T, &n) || *off > SIZE_MAX - n)
		return 0;
	*pos = *off;
	*off += n;
	if (n > tp->act)
		tp->act = n;
	return 1;
}

static void need_work(tape *tp, const vconv *cv, int Tin)
{
	size_t w = cv->transposed ? presto_conv_transpose1d_backward_work_size(cv->cout, Tin, cv->k)
				  : cv->k == 1 && cv->stride == 1 && cv->pad == 0
					    ? 0
					    : presto_conv1d_backward_work_size(cv->cin, Tin, cv->k, cv->stride, cv->pad,
									       cv->dil);
	if (w > tp->work)
		tp->work = w;
}

static int conv_len(const vconv *cv, int Tin)
{
	if (!cv->transposed)
		return presto_conv1d_out_len(Tin, cv->k, cv->stride, cv->pad, cv->dil);
	int64_t T = (int64_t)(Tin - 1) * cv->stride - 2 * cv->pad + cv->k;
	return T < 1 || T > INT32_MAX ? 0 : (int)T;
}

/* Lay out one item of the encoder (dec = 0, len = audio frames) or the
 * decoder (len = latent frames); 0 when the length does not fit. */
static int layout(const presto_vae *m, int dec, int len, tape *tp)
{
	const presto_oobleck_config *c = &m->c;
	int n = c->n_blocks, ok = 1;
	size_t off = 0;
	tp->act = tp->work = 0;
	tp->len = len;
	const vconv *cin = dec ? &m->d_in : &m->e_in, *cout = dec ? &m->d_out : &m->e_out;
	ok &= take(tp, &off, cin->cin, len, &tp->in);
	need_work(tp, cin, len);
	int T = ok ? conv_len(cin, len) : 0;
	tp->T[0] = T;
	for (int i = 0; i < n && T > 0 && ok; i++) {
		const vblock *bl = dec ? &m->d_blk[i] : &m->e_blk[i];
		if (dec) {
			ok &= take(tp, &off, bl->act.c, T, &tp->a[i]);
			need_work(tp, &bl->conv, T);
			T = conv_len(&bl->conv, T);
		}
		for (int j = 0; j < 3 && T > 0 && ok; j++) {
			ok &= take(tp, &off, bl->ru[j].c1.cin, T, &tp->xin[i][j]);
			ok &= take(tp, &off, bl->ru[j].c1.cout, T, &tp->u[i][j]);
			need_work(tp, &bl->ru[j].c1, T);
		}
		if (!dec && T > 0) {
			ok &= take(tp, &off, bl->act.c, T, &tp->a[i]);
			need_work(tp, &bl->conv, T);
			T = conv_len(&bl->conv, T);
		}
		tp->T[i + 1] = T;
	}
	if (!ok || T < 1)
		return 0;
	ok &= take(tp, &off, cout->cin, T, &tp->xf);
	need_work(tp, cout, T);
	tp->Tout = conv_len(cout, T);
	size_t unsaved = 0, pos; /* the output is not kept, but it (its gradient) must fit the buffers */
	ok &= take(tp, &unsaved, cout->cout, tp->Tout, &pos);
	if (dec && c->final_tanh)
		ok &= take(tp, &off, cout->cout, tp->Tout, &tp->y);
	tp->item = off;
	return ok && tp->Tout > 0;
}

/* Arena for B items and scratch for this part; the arena keeps its memory
 * when it is large enough. */
static presto_status prepare(presto_vae_train *t, int dec, int B, int len)
{
	tape *tp = dec ? &t->dec : &t->enc;
	tp->ready = 0;
	if (B < 1)
		return presto_error_set(PRESTO_EINVAL, "vae train: batch of %d items", B);
	if (!layout(t->m, dec, len, tp))
		return presto_error_set(PRESTO_EINVAL, "vae train: %d %s frames do not fit the %s", len,
					dec ? "latent" : "audio", dec ? "decoder" : "encoder");
	size_t total, act4, scratch;
	if (!presto_mul_size(tp->item, (size_t)B, &total) || !presto_mul_size(tp->act, 4, &act4) ||
	    act4 > SIZE_MAX - tp->work)
		return presto_error_set(PRESTO_ENOMEM, "vae train: activations too large");
	scratch = act4 + tp->work;
	if (total > tp->cap) {
		free(tp->arena);
		tp->cap = 0;
		if (!(tp->arena = presto_falloc(total)))
			return PRESTO_ENOMEM;
		tp->cap = total;
	}
	if (scratch > t->scratch_cap) {
		free(t->scratch);
		t->scratch_cap = 0;
		if (!(t->scratch = presto_falloc(scratch)))
			return PRESTO_ENOMEM;
		t->scratch_cap = scratch;
	}
	tp->B = B;
	return PRESTO_OK;
}

presto_status presto_vae_train_new(presto_vae *m, presto_vae_train **out)
{
	*out = NULL;
	if (!m->ps)
		return presto_error_set(PRESTO_EUNSUP, "vae train: the model is not built on a parameter table");
	presto_vae_train *t = presto_calloc(1, sizeof *t);
	if (!t)
		return PRESTO_ENOMEM;
	t->m = m;
	if (!(t->dw = presto_fzalloc(m->fold_n ? m->fold_n : 1))) {
		free(t);
		return PRESTO_ENOMEM;
	}
	*out = t;
	return PRESTO_OK;
}

void presto_vae_train_free(presto_vae_train *t)
{
	if (!t)
		return;
	free(t->enc.arena);
	free(t->dec.arena);
	free(t->scratch);
	free(t->dw);
	free(t);
}

static void conv_fwd(const vconv *cv, float *y, const float *x, int Tin, float *work)
{
	if (cv->transposed)
		presto_conv_transpose1d_forward(y, x, cv->w, cv->b, cv->cin, cv->cout, Tin, cv->k, cv->stride, cv->pad,
						work);
	else
		presto_conv1d_forward(y, x, cv->w, cv->b, cv->cin, cv->cout, Tin, cv->k, cv->stride, cv->pad, cv->dil,
				      work);
}

static void snake_fwd(const vsnake *s, float *y, const float *x, int T)
{
	presto_snake_beta_forward(y, x, s->alpha, s->beta, s->c, T);
}

/* next[C, T] = x + c2(snake2(c1(snake1(x)))), u = c1(snake1(x)) saved. */
static void res_fwd(const vres *r, float *next, float *u, const float *x, int T, float *S, float *work)
{
	snake_fwd(&r->s1, S, x, T);
	conv_fwd(&r->c1, u, S, T, work);
	snake_fwd(&r->s2, S, u, T);
	conv_fwd(&r->c2, next, S, T, work);
	presto_add_inplace(next, x, (size_t)r->c2.cout * (size_t)T);
}

/* Forward of one item into its arena slice; out = the part's output. */
static void part_fwd(presto_vae_train *t, int dec, float *base, float *out)
{
	const presto_vae *m = t->m;
	tape *tp = dec ? &t->dec : &t->enc;
	int n = m->c.n_blocks;
	float *S = t->scratch, *work = t->scratch + tp->act;
	const vconv *cin = dec ? &m->d_in : &m->e_in, *cout = dec ? &m->d_out : &m->e_out;
	/* where the input conv writes: the first saved tensor after it */
	float *first = n == 0 ? base + tp->xf : dec ? base + tp->a[0] : base + tp->xin[0][0];
	conv_fwd(cin, first, base + tp->in, tp->len, work);
	for (int i = 0; i < n; i++) {
		const vblock *bl = dec ? &m->d_blk[i] : &m->e_blk[i];
		int T = tp->T[i];
		if (dec) {
			snake_fwd(&bl->act, S, base + tp->a[i], T);
			conv_fwd(&bl->conv, base + tp->xin[i][0], S, T, work);
			T = tp->T[i + 1];
		}
		for (int j = 0; j < 3; j++) {
			float *next = j < 2 ? base + tp->xin[i][j + 1]
				      : dec ? (i + 1 < n ? base + tp->a[i + 1] : base + tp->xf)
					    : base + tp->a[i];
			res_fwd(&bl->ru[j], next, base + tp->u[i][j], base + tp->xin[i][j], T, S, work);
		}
		if (!dec) {
			snake_fwd(&bl->act, S, base + tp->a[i], T);
			conv_fwd(&bl->conv, i + 1 < n ? base + tp->xin[i + 1][0] : base + tp->xf, S, T, work);
		}
	}
	int T = tp->T[n];
	snake_fwd(dec ? &m->d_act : &m->e_act, S, base + tp->xf, T);
	conv_fwd(cout, out, S, T, work);
	if (dec && m->c.final_tanh) {
		size_t k = (size_t)cout->cout * (size_t)tp->Tout;
		for (size_t i = 0; i < k; i++)
			out[i] = tanhf(out[i]);
		memcpy(base + tp->y, out, k * sizeof(float));
	}
}

presto_status presto_vae_encode_train(presto_vae_train *t, float *pre, const float *audio, int B, int N)
{
	presto_vae *m = t->m;
	if (!m->c.has_encoder)
		return presto_error_set(PRESTO_EUNSUP, "vae: no encoder");
	PRESTO_TRY(prepare(t, 0, B, N));
	refold_part(m, 0);
	tape *tp = &t->enc;
	size_t nin = (size_t)m->c.audio_channels * (size_t)N, nout = (size_t)m->e_out.cout * (size_t)tp->Tout;
	for (int b = 0; b < B; b++) {
		float *base = tp->arena + (size_t)b * tp->item;
		memcpy(base + tp->in, audio + (size_t)b * nin, nin * sizeof(float));
		part_fwd(t, 0, base, pre + (size_t)b * nout);
	}
	tp->ready = 1;
	return PRESTO_OK;
}

presto_status presto_vae_decode_train(presto_vae_train *t, float *audio, const float *z, int B, int Lz)
{
	presto_vae *m = t->m;
	if (!m->c.has_decoder)
		return presto_error_set(PRESTO_EUNSUP, "vae: no decoder");
	PRESTO_TRY(prepare(t, 1, B, Lz));
	refold_part(m, 1);
	tape *tp = &t->dec;
	size_t nin = (size_t)m->c.latent_dim * (size_t)Lz, nout = (size_t)m->d_out.cout * (size_t)tp->Tout;
	float scale = m->c.scale;
	for (int b = 0; b < B; b++) {
		float *base = tp->arena + (size_t)b * tp->item;
		const float *zb = z + (size_t)b * nin;
		float *in = base + tp->in;
		for (size_t i = 0; i < nin; i++)
			in[i] = scale == 1.0f ? zb[i] : zb[i] * scale;
		part_fwd(t, 1, base, audio + (size_t)b * nout);
	}
	tp->ready = 1;
	return PRESTO_OK;
}

/* Backward of one conv for dy [cout, Tout]: dx (+=, may be NULL) from its
 * input x [cin, Tin]; dw into t->dw, db into grad. */
static void conv_bwd(presto_vae_train *t, const vconv *cv, float *dx, const float *dy, const float *x, int Tin,
		     float *grad, float *work)
{
	float *dw = t->dw + cv->wo, *db = cv->b ? grad + cv->pb : NULL;
	if (cv->transposed)
		presto_conv_transpose1d_backward(dx, dw, db, dy, x, cv->w, cv->cin, cv->cout, Tin, cv->k, cv->stride,
						 cv->pad, work);
	else
		presto_conv1d_backward(dx, dw, db, dy, x, cv->w, cv->cin, cv->cout, Tin, cv->k, cv->stride, cv->pad,
				       cv->dil, work);
}

static void snake_bwd(const vsnake *s, float *dx, const float *dy, const float *x, int T, float *grad)
{
	presto_snake_beta_backward(dx, grad + s->pa, grad + s->pb, dy, x, s->alpha, s->beta, s->c, T);
}

static void zero(float *p, int C, int T) { memset(p, 0, sizeof(float) * (size_t)C * (size_t)T); }

/* The scratch of a backward: G the running gradient, A recomputed snake
 * outputs, B2 and D conv / snake input gradients, then the conv work. */
typedef struct {
	float *G, *A, *B2, *D, *work;
} bufs;

/* G [C, T] = d(unit output) -> d(unit input) (the identity path is already in G). */
static void res_bwd(presto_vae_train *t, const vres *r, const float *x, const float *u, int T, float *grad,
		    bufs *s)
{
	int C = r->c1.cin;
	snake_fwd(&r->s2, s->A, u, T);
	zero(s->B2, C, T);
	conv_bwd(t, &r->c2, s->B2, s->G, s->A, T, grad, s->work);
	zero(s->D, C, T);
	snake_bwd(&r->s2, s->D, s->B2, u, T, grad);
	snake_fwd(&r->s1, s->A, x, T);
	zero(s->B2, C, T);
	conv_bwd(t, &r->c1, s->B2, s->D, s->A, T, grad, s->work);
	snake_bwd(&r->s1, s->G, s->B2, x, T, grad);
}

/* G = d(conv(snake(x))) [cout, conv_len(T)] -> d x [cin, T]. */
static void snake_conv_bwd(presto_vae_train *t, const vsnake *sn, const vconv *cv, const float *x, int T,
			   float *grad, bufs *s)
{
	snake_fwd(sn, s->A, x, T);
	zero(s->B2, cv->cin, T);
	conv_bwd(t, cv, s->B2, s->G, s->A, T, grad, s->work);
	zero(s->G, cv->cin, T);
	snake_bwd(sn, s->G, s->B2, x, T, grad);
}

/* One item: G holds d(output) -> d(output of the input conv). */
static void part_bwd(presto_vae_train *t, int dec, const float *base, float *grad, bufs *s)
{
	const presto_vae *m = t->m;
	tape *tp = dec ? &t->dec : &t->enc;
	int n = m->c.n_blocks;
	const vconv *cout = dec ? &m->d_out : &m->e_out;
	snake_conv_bwd(t, dec ? &m->d_act : &m->e_act, cout, base + tp->xf, tp->T[n], grad, s);
	for (int i = n - 1; i >= 0; i--) {
		const vblock *bl = dec ? &m->d_blk[i] : &m->e_blk[i];
		if (!dec)
			snake_conv_bwd(t, &bl->act, &bl->conv, base + tp->a[i], tp->T[i], grad, s);
		int T = dec ? tp->T[i + 1] : tp->T[i];
		for (int j = 2; j >= 0; j--)
			res_bwd(t, &bl->ru[j], base + tp->xin[i][j], base + tp->u[i][j], T, grad, s);
		if (dec)
			snake_conv_bwd(t, &bl->act, &bl->conv, base + tp->a[i], tp->T[i], grad, s);
	}
}

/* Backward of the last forward of a part over its B items. */
static presto_status backward(presto_vae_train *t, int dec, float *dx, float *grad, const float *dout)
{
	presto_vae *m = t->m;
	tape *tp = dec ? &t->dec : &t->enc;
	if (!tp->ready)
		return presto_error_set(PRESTO_EINVAL, "vae backward: no %s forward to go back through",
					dec ? "decoder" : "encoder");
	vconv *cv[MAX_CONVS];
	int k = part_convs(m, dec, cv);
	for (int i = 0; i < k; i++)
		memset(t->dw + cv[i]->wo, 0, sizeof(float) * (size_t)conv_rows(cv[i]) * (size_t)conv_rest(cv[i]));
	bufs s = {.G = t->scratch, .A = t->scratch + tp->act, .B2 = t->scratch + 2 * tp->act,
		  .D = t->scratch + 3 * tp->act, .work = t->scratch + 4 * tp->act};
	const vconv *cin = dec ? &m->d_in : &m->e_in, *cout = dec ? &m->d_out : &m->e_out;
	size_t nin = (size_t)cin->cin * (size_t)tp->len, nout = (size_t)cout->cout * (size_t)tp->Tout;
	float scale = m->c.scale;
	int scaled = dec && scale != 1.0f;
	for (int b = 0; b < tp->B; b++) {
		const float *base = tp->arena + (size_t)b * tp->item;
		memcpy(s.G, dout + (size_t)b * nout, nout * sizeof(float));
		if (dec && m->c.final_tanh) {
			const float *y = base + tp->y;
			for (size_t i = 0; i < nout; i++)
				s.G[i] *= 1.0f - y[i] * y[i];
		}
		part_bwd(t, dec, base, grad, &s);
		float *dxb = dx ? dx + (size_t)b * nin : NULL;
		if (scaled && dxb) {
			/* d(z * scale) into D (free by now), then dz += scale * it */
			zero(s.D, cin->cin, tp->len);
			conv_bwd(t, cin, s.D, s.G, base + tp->in, tp->len, grad, s.work);
			for (size_t i = 0; i < nin; i++)
				dxb[i] += s.D[i] * scale;
		} else {
			conv_bwd(t, cin, dxb, s.G, base + tp->in, tp->len, grad, s.work);
		}
	}
	for (int i = 0; i < k; i++)
		presto_weight_norm_backward(grad + cv[i]->pg, grad + cv[i]->pv, t->dw + cv[i]->wo, cv[i]->g, cv[i]->v,
					    conv_rows(cv[i]), conv_rest(cv[i]));
	return PRESTO_OK;
}

presto_status presto_vae_encode_backward(presto_vae_train *t, float *d_audio, float *grad, const float *d_pre)
{
	return backward(t, 0, d_audio, grad, d_pre);
}

presto_status presto_vae_decode_backward(presto_vae_train *t, float *dz, float *grad, const float *d_audio)
{
	return backward(t, 1, dz, grad, d_audio);
}

void presto_vae_bottleneck_backward(const presto_oobleck_config *c, float *d_pre, const float *d_z, double d_kl,
				    const float *pre, const float *noise, int Lz)
{
	size_t n = (size_t)c->latent_dim * (size_t)Lz;
	float scale = c->scale > 0 ? c->scale : 1.0f;
	double kw = Lz > 0 ? d_kl / Lz : 0;
	for (size_t i = 0; i < n; i++) {
		float mean = pre[i], x = pre[n + i];
		float sd = softplus(x) + 1e-4f;
		/* softplus' = sigmoid (1 above the threshold where softplus is x) */
		double sig = x > 20.0f ? 1.0 : 1.0 / (1.0 + exp(-(double)x));
		/* kl term: mean^2 + sd^2 - log sd^2 - 1 */
		double dm = kw * 2.0 * mean, dsd = kw * (2.0 * sd - 2.0 / sd);
		if (d_z) {
			double g = scale == 1.0f ? d_z[i] : (double)d_z[i] / scale;
			dm += g;
			if (noise)
				dsd += g * noise[i];
		}
		d_pre[i] += (float)dm;
		d_pre[n + i] += (float)(dsd * sig);
	}
}

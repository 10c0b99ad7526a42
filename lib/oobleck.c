/* oobleck.c - the Oobleck VAE: config, weight loading (weight norm folded
 * once), encoder / decoder forward of one item, VAE bottleneck.
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

#define DEFAULT_WORK_LIMIT ((size_t)1 << 24)
#define MIN_TILE 32

typedef struct {
	float *w, *b;           /* folded weight (torch layout), bias or NULL */
	int cin, cout, k, stride, pad, dil, transposed;
} vconv;

typedef struct {
	float *alpha, *beta;    /* log-scale SnakeBeta parameters [C] */
	int c;
} vsnake;

typedef struct {
	vsnake s1, s2;
	vconv c1, c2;           /* k7 dilated, then 1x1 */
} vres;

typedef struct {
	vres ru[3];
	vsnake act;
	vconv conv;             /* strided conv (encoder) / transposed (decoder) */
} vblock;

struct presto_vae {
	presto_oobleck_config c;
	size_t work_limit;
	vconv e_in, e_out;
	vsnake e_act;
	vblock e_blk[PRESTO_OOBLECK_MAX_BLOCKS];
	vconv d_in, d_out;
	vsnake d_act;
	vblock d_blk[PRESTO_OOBLECK_MAX_BLOCKS];
	float **allocs;         /* every parameter array, freed with the model */
	int n_allocs, cap_allocs;
};

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

/* ---- loading ---- */

typedef struct {
	presto_st *st;
	const char *prefix;
	presto_vae *m;
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

static presto_status load_conv(loader *L, vconv *cv, const char *base, int cin, int cout, int k, int stride,
			       int pad, int dil, int transposed, int bias)
{
	*cv = (vconv){.cin = cin, .cout = cout, .k = k, .stride = stride, .pad = pad, .dil = dil,
		      .transposed = transposed};
	/* Conv1d weight [cout, cin, k]; ConvTranspose1d weight [cin, cout, k].
	 * Weight norm (dim 0) scales each row of dim 0: g is [dim0, 1, 1]. */
	int64_t wshape[3] = {transposed ? cin : cout, transposed ? cout : cin, k};
	char name[512];
	PRESTO_TRY(full_name(name, sizeof name, L, base, "weight_g"));
	if (presto_st_get(L->st, name)) {
		int64_t gshape[3] = {wshape[0], 1, 1};
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
	if (bias) {
		int64_t bshape[1] = {cout};
		PRESTO_TRY(load_copy(L, &cv->b, base, "bias", 1, bshape));
	}
	return PRESTO_OK;
}

static presto_status load_snake(loader *L, vsnake *s, const char *base, int c)
{
	int64_t shape[1] = {c};
	s->c = c;
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

presto_status presto_vae_load(presto_st *st, const char *prefix, const presto_oobleck_config *c, presto_vae **out)
{
	*out = NULL;
	if (c->n_blocks < 0 || c->n_blocks > PRESTO_OOBLECK_MAX_BLOCKS || !c->use_snake || c->channels < 1 ||
	    c->audio_channels < 1 || c->latent_dim < 1 || c->encoder_out_dim != 2 * c->latent_dim)
		return presto_error_set(PRESTO_EINVAL, "vae: invalid config");
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
		int i0 = t0 * cv->stride - cv->pad;
		for (int ci = 0; ci < cv->cin; ci++) {
			const float *xr = x + (size_t)ci * (size_t)Tin;
			float *dst = xw + (size_t)ci * (size_t)w;
			for (int j = 0; j < w; j++) {
				int i = i0 + j;
				dst[j] = (i >= 0 && i < Tin) ? xr[i] : 0.0f;
			}
		}
		presto_conv1d_forward(yt, xw, cv->w, cv->b, cv->cin, cv->cout, w, cv->k, cv->stride, 0, cv->dil, cols);
		for (int o = 0; o < cv->cout; o++)
			memcpy(y + (size_t)o * (size_t)Tout + t0, yt + (size_t)o * (size_t)nt,
			       sizeof(float) * (size_t)nt);
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

presto_status presto_vae_decode(presto_vae *m, float *audio, const float *z, int Lz, presto_hook hook, void *ctx)
{
	if (!m->c.has_decoder)
		return presto_error_set(PRESTO_EUNSUP, "vae: no decoder loaded");
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

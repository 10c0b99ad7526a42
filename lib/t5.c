/* t5.c - the T5 encoder stack (HF T5EncoderModel), fp32 on the CPU.
 *
 * Weights are fp32 views into the safetensors handle given to presto_t5_load()
 * (which must outlive the model), or into a parameter table's buffer
 * (presto_t5_bind). One forward allocates its activations in a single block:
 * every projection is one GEMM over the B*L token rows. lib/t5_train.c runs
 * the same forward (presto_t5_run) keeping its activations, and the backward. */
#include "t5.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "rng.h"
#include "t5_internal.h"

static int json_int(const json_t *cfg, const char *key, int def, int *out)
{
	const json_t *v = json_object_get(cfg, key);
	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_number(v))
		return -1;
	double d = json_number_value(v);
	if (d != floor(d) || d < -2147483648.0 || d > 2147483647.0)
		return -1;
	*out = (int)d;
	return 0;
}

static presto_status config_check(const presto_t5_config *c)
{
	if (c->vocab_size <= 0 || c->d_model <= 0 || c->d_kv <= 0 || c->num_heads <= 0 || c->d_ff <= 0 ||
	    c->num_layers <= 0 || !(c->eps >= 0.0f) || !isfinite(c->eps))
		return presto_error_set(PRESTO_EINVAL, "t5 config: sizes must be positive");
	/* bidirectional buckets: half per sign, half of those exact */
	if (c->num_buckets < 4 || c->max_distance <= c->num_buckets / 4)
		return presto_error_set(PRESTO_EUNSUP, "t5 config: %d buckets with max distance %d not supported",
					c->num_buckets, c->max_distance);
	if ((int64_t)c->num_heads * c->d_kv > (1 << 30))
		return presto_error_set(PRESTO_EINVAL, "t5 config: num_heads * d_kv too large");
	return PRESTO_OK;
}

presto_status presto_t5_config_from_json(const json_t *cfg, presto_t5_config *c)
{
	static const struct {
		const char *key;
		size_t off;
		int def; /* HF T5Config defaults */
	} ints[] = {
		{"vocab_size", offsetof(presto_t5_config, vocab_size), 32128},
		{"d_model", offsetof(presto_t5_config, d_model), 512},
		{"d_kv", offsetof(presto_t5_config, d_kv), 64},
		{"num_heads", offsetof(presto_t5_config, num_heads), 8},
		{"d_ff", offsetof(presto_t5_config, d_ff), 2048},
		{"num_layers", offsetof(presto_t5_config, num_layers), 6},
		{"relative_attention_num_buckets", offsetof(presto_t5_config, num_buckets), 32},
		{"relative_attention_max_distance", offsetof(presto_t5_config, max_distance), 128},
	};
	if (!json_is_object(cfg))
		return presto_error_set(PRESTO_EINVAL, "t5 config: not a JSON object");
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		int *dst = (int *)((char *)c + ints[i].off);
		if (json_int(cfg, ints[i].key, ints[i].def, dst) || *dst <= 0)
			return presto_error_set(PRESTO_EINVAL, "t5 config: '%s' must be a positive integer", ints[i].key);
	}
	const json_t *eps = json_object_get(cfg, "layer_norm_epsilon");
	if (eps && !json_is_null(eps) && !json_is_number(eps))
		return presto_error_set(PRESTO_EINVAL, "t5 config: 'layer_norm_epsilon' must be a number");
	c->eps = eps && json_is_number(eps) ? (float)json_number_value(eps) : 1e-6f;

	const json_t *ff = json_object_get(cfg, "feed_forward_proj");
	const char *proj = ff && json_is_string(ff) ? json_string_value(ff) : "relu";
	if (ff && !json_is_null(ff) && !json_is_string(ff))
		return presto_error_set(PRESTO_EINVAL, "t5 config: 'feed_forward_proj' must be a string");
	if (!strcmp(proj, "relu"))
		c->gated = 0;
	else if (!strcmp(proj, "gated-gelu"))
		c->gated = 1;
	else
		return presto_error_set(PRESTO_EUNSUP, "t5 config: feed_forward_proj '%s' not supported (relu, gated-gelu)",
					proj);
	return config_check(c);
}

const presto_t5_config *presto_t5_get_config(const presto_t5 *m) { return &m->c; }

void presto_t5_free(presto_t5 *m)
{
	if (!m)
		return;
	free(m->blocks);
	free(m);
}

/* ---- the tensors of the encoder ---- */

enum { K_EMB, K_RELB, K_MAT, K_NORM };

/* A visitor sees every tensor: its full name (prefix + key), the key alone,
 * its shape, kind, the standard deviation of its random init (HF
 * T5PreTrainedModel._init_weights with initializer_factor 1; norms: the fill
 * value) and the model's slot for its pointer (NULL when only declaring). */
typedef presto_status (*t5_visit_fn)(void *ctx, const char *name, const char *key, int ndim, const int64_t *shape,
				     int kind, double std, const float **slot);

typedef struct {
	t5_visit_fn fn;
	void *ctx;
	const char *prefix;
} t5_visitor;

static presto_status visit(const t5_visitor *v, const float **slot, int kind, double std, int ndim, int64_t d0,
			   int64_t d1, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static presto_status visit(const t5_visitor *v, const float **slot, int kind, double std, int ndim, int64_t d0,
			   int64_t d1, const char *fmt, ...)
{
	char key[256], name[1280];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(key, sizeof key, fmt, ap);
	va_end(ap);
	if ((size_t)snprintf(name, sizeof name, "%s%s", v->prefix, key) >= sizeof name)
		return presto_error_set(PRESTO_EINVAL, "t5: weight prefix too long");
	int64_t shape[2] = {d0, d1};
	return v->fn(v->ctx, name, key, ndim, shape, kind, std, slot);
}

#define SLOT(x) (m ? &(x) : NULL)

/* Every tensor in the HF state_dict order (encoder.embed_tokens.weight, tied
 * to shared.weight, is not a tensor of its own); m NULL only declares. */
static presto_status walk(const t5_visitor *v, const presto_t5_config *c, presto_t5 *m)
{
	int64_t D = c->d_model, I = (int64_t)c->num_heads * c->d_kv, F = c->d_ff;
	double sd = 1.0 / sqrt((double)D), sf = 1.0 / sqrt((double)F);
	double sq = 1.0 / sqrt((double)D * c->d_kv), so = 1.0 / sqrt((double)I);
	PRESTO_TRY(visit(v, SLOT(m->shared), K_EMB, 1.0, 2, c->vocab_size, D, "shared.weight"));
	for (int i = 0; i < c->num_layers; i++) {
		t5_block *b = m ? &m->blocks[i] : NULL;
#define BSLOT(x) (b ? &b->x : NULL)
		PRESTO_TRY(visit(v, BSLOT(q), K_MAT, sq, 2, I, D, "encoder.block.%d.layer.0.SelfAttention.q.weight", i));
		PRESTO_TRY(visit(v, BSLOT(k), K_MAT, sd, 2, I, D, "encoder.block.%d.layer.0.SelfAttention.k.weight", i));
		PRESTO_TRY(visit(v, BSLOT(v), K_MAT, sd, 2, I, D, "encoder.block.%d.layer.0.SelfAttention.v.weight", i));
		PRESTO_TRY(visit(v, BSLOT(o), K_MAT, so, 2, D, I, "encoder.block.%d.layer.0.SelfAttention.o.weight", i));
		if (i == 0)
			PRESTO_TRY(visit(v, SLOT(m->rel_bias), K_RELB, sd, 2, c->num_buckets, c->num_heads,
					 "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"));
		PRESTO_TRY(visit(v, BSLOT(ln0), K_NORM, 1.0, 1, D, 0, "encoder.block.%d.layer.0.layer_norm.weight", i));
		if (c->gated) {
			PRESTO_TRY(visit(v, BSLOT(wi), K_MAT, sd, 2, F, D,
					 "encoder.block.%d.layer.1.DenseReluDense.wi_0.weight", i));
			PRESTO_TRY(visit(v, BSLOT(wi1), K_MAT, sd, 2, F, D,
					 "encoder.block.%d.layer.1.DenseReluDense.wi_1.weight", i));
		} else {
			PRESTO_TRY(visit(v, BSLOT(wi), K_MAT, sd, 2, F, D, "encoder.block.%d.layer.1.DenseReluDense.wi.weight",
					 i));
		}
		PRESTO_TRY(visit(v, BSLOT(wo), K_MAT, sf, 2, D, F, "encoder.block.%d.layer.1.DenseReluDense.wo.weight", i));
		PRESTO_TRY(visit(v, BSLOT(ln1), K_NORM, 1.0, 1, D, 0, "encoder.block.%d.layer.1.layer_norm.weight", i));
#undef BSLOT
	}
	PRESTO_TRY(visit(v, SLOT(m->final_ln), K_NORM, 1.0, 1, D, 0, "encoder.final_layer_norm.weight"));
	return PRESTO_OK;
}

#undef SLOT

/* The embedding of a checkpoint: shared.weight, or encoder.embed_tokens.weight
 * where only that is stored. */
static const char *emb_name(presto_st *st, const char *name, const char *prefix, char *alt, size_t n)
{
	if (presto_st_get(st, name))
		return name;
	snprintf(alt, n, "%sencoder.embed_tokens.weight", prefix);
	return presto_st_get(st, alt) ? alt : name;
}

typedef struct {
	presto_st *st;           /* loading from a file, or */
	const presto_params *ps; /* binding to a table */
	const float *data;
	const char *prefix;
} getter;

static presto_status get_tensor(void *ctx, const char *name, const char *key, int ndim, const int64_t *shape,
				int kind, double std, const float **slot)
{
	getter *g = ctx;
	if (g->st) {
		char alt[1280];
		if (kind == K_EMB)
			name = emb_name(g->st, name, g->prefix, alt, sizeof alt);
		return presto_st_f32(g->st, name, ndim, shape, slot);
	}
	int i = presto_params_find(g->ps, name);
	if (i < 0)
		return presto_error_set(PRESTO_EINVAL, "no parameter %s in the table", name);
	const presto_param_info *pi = &g->ps->p[i];
	int same = pi->ndim == ndim;
	for (int d = 0; same && d < ndim; d++)
		same = pi->shape[d] == shape[d];
	if (!same)
		return presto_error_set(PRESTO_EINVAL, "parameter %s has another shape than the config gives", name);
	*slot = g->data + pi->offset;
	return PRESTO_OK;
}

static presto_status t5_new(const presto_t5_config *c, getter *g, presto_t5 **out)
{
	*out = NULL;
	if (!g->prefix)
		g->prefix = "";
	PRESTO_TRY(config_check(c));
	presto_t5 *m = presto_calloc(1, sizeof *m);
	if (!m)
		return PRESTO_ENOMEM;
	m->c = *c;
	m->ps = g->ps;
	m->pbase = g->data;
	m->blocks = presto_calloc((size_t)c->num_layers, sizeof *m->blocks);
	if (!m->blocks) {
		presto_t5_free(m);
		return PRESTO_ENOMEM;
	}
	t5_visitor v = {get_tensor, g, g->prefix};
	presto_status s = walk(&v, c, m);
	if (s) {
		presto_t5_free(m);
		return presto_error_wrap(s, "loading t5: ");
	}
	*out = m;
	return PRESTO_OK;
}

presto_status presto_t5_load(presto_st *st, const char *prefix, const presto_t5_config *c, presto_t5 **out)
{
	getter g = {st, NULL, NULL, prefix};
	return t5_new(c, &g, out);
}

presto_status presto_t5_bind(const presto_params *ps, const float *data, const char *prefix,
			     const presto_t5_config *c, presto_t5 **out)
{
	*out = NULL;
	if (!ps || !data)
		return presto_error_set(PRESTO_EINVAL, "t5 bind: no parameter table or buffer");
	getter g = {NULL, ps, data, prefix};
	return t5_new(c, &g, out);
}

/* ---- parameter tables ---- */

static presto_status add_param(void *ctx, const char *name, const char *key, int ndim, const int64_t *shape,
			       int kind, double std, const float **slot)
{
	/* weight decay on the matrices and the embedding; not on the norms nor
	 * on the position-bias table (a bias) */
	if (presto_params_add(ctx, name, ndim, shape, 1, kind == K_MAT || kind == K_EMB) < 0)
		return presto_error_wrap(PRESTO_EINVAL, "t5 parameters: ");
	return PRESTO_OK;
}

presto_status presto_t5_params(const presto_t5_config *c, const char *prefix, presto_params *ps)
{
	PRESTO_TRY(config_check(c));
	t5_visitor v = {add_param, ps, prefix ? prefix : ""};
	return walk(&v, c, NULL);
}

/* 64-bit FNV-1a of a key: the random stream of a tensor. */
static uint64_t key_stream(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h;
}

typedef struct {
	const presto_params *ps;
	float *data;
	uint64_t seed;
	double factor;
} initer;

static presto_status init_param(void *ctx, const char *name, const char *key, int ndim, const int64_t *shape,
				int kind, double std, const float **slot)
{
	initer *in = ctx;
	int i = presto_params_find(in->ps, name);
	if (i < 0)
		return presto_error_set(PRESTO_EINVAL, "t5 parameters: %s is not in the table", name);
	float *p = in->data + in->ps->p[i].offset;
	size_t n = in->ps->p[i].numel;
	if (kind == K_NORM) {
		float fill = (float)(in->factor * std);
		for (size_t j = 0; j < n; j++)
			p[j] = fill;
		return PRESTO_OK;
	}
	presto_randn(p, n, in->seed, key_stream(key), 0);
	float s = (float)(in->factor * std);
	for (size_t j = 0; j < n; j++)
		p[j] *= s;
	return PRESTO_OK;
}

presto_status presto_t5_params_init(const presto_t5_config *c, const char *prefix, const presto_params *ps,
				    float *data, uint64_t seed, float factor)
{
	if (!data)
		return presto_error_set(PRESTO_EINVAL, "t5 init: no buffer");
	PRESTO_TRY(config_check(c));
	initer in = {ps, data, seed, factor};
	t5_visitor v = {init_param, &in, prefix ? prefix : ""};
	return walk(&v, c, NULL);
}

static presto_status load_param(void *ctx, const char *name, const char *key, int ndim, const int64_t *shape,
				int kind, double std, const float **slot)
{
	getter *g = ctx;
	int i = presto_params_find(g->ps, name);
	if (i < 0)
		return presto_error_set(PRESTO_EINVAL, "t5 parameters: %s is not in the table", name);
	char alt[1280];
	const float *src;
	if (kind == K_EMB)
		name = emb_name(g->st, name, g->prefix, alt, sizeof alt);
	PRESTO_TRY(presto_st_f32(g->st, name, ndim, shape, &src));
	memcpy((float *)g->data + g->ps->p[i].offset, src, sizeof(float) * g->ps->p[i].numel);
	return PRESTO_OK;
}

presto_status presto_t5_params_load(const presto_t5_config *c, const char *prefix, presto_params *ps, presto_st *st)
{
	if (!ps->data)
		return presto_error_set(PRESTO_EINVAL, "t5 parameters: table not allocated");
	PRESTO_TRY(config_check(c));
	getter g = {st, ps, ps->data, prefix ? prefix : ""};
	t5_visitor v = {load_param, &g, g.prefix};
	presto_status rc = walk(&v, c, NULL);
	return rc ? presto_error_wrap(rc, "loading the t5 parameters: ") : PRESTO_OK;
}

/* Large-distance bucket offset (from max_exact) of |r| = a >= max_exact, before
 * the clamp. T5's own numbers (16 buckets per sign, 8 exact, max distance 128)
 * give floor(8 * log(a/8) / log(16)) = floor(log2(a^2 / 64)): computed in
 * integers so that a = 16, 32, 64 land on their bucket edges whatever libm
 * does. Other settings follow the reference's float32 evaluation. */
static int bucket_large(int a, int nb, int exact, int max_distance)
{
	int span = nb - exact;
	int ratio = max_distance / exact;
	if (ratio * exact == max_distance && ratio > 1 && !(ratio & (ratio - 1))) {
		int p = 0;
		while ((1 << p) < ratio)
			p++;
		if (span == 2 * p) {
			/* floor(2 * log2(a / exact)) = floor(log2(a^2 / exact^2)) */
			if (a >= max_distance)
				return span;
			int64_t q = (int64_t)a * a / ((int64_t)exact * exact);
			int t = 0;
			while (q > 1) {
				q >>= 1;
				t++;
			}
			return t;
		}
	}
	float x = (float)a / (float)exact;
	float v = logf(x) / (float)log((double)max_distance / (double)exact) * (float)span;
	return v >= (float)span ? span : (int)v;
}

void presto_t5_buckets(int32_t *buckets, int L, int num_buckets, int max_distance)
{
	int nb = num_buckets / 2, exact = nb / 2;
	for (int i = 0; i < L; i++) {
		for (int j = 0; j < L; j++) {
			int r = j - i, a = r < 0 ? -r : r;
			int v = a < exact ? a : exact + bucket_large(a, nb, exact, max_distance);
			if (v > nb - 1)
				v = nb - 1;
			buckets[(size_t)i * L + j] = (r > 0 ? nb : 0) + v;
		}
	}
}

static void hook3(presto_hook hook, void *ctx, const char *name, const float *x, int B, int L, int D)
{
	int64_t shape[3] = {B, L, D};
	if (hook)
		hook(ctx, name, x, 3, shape);
}

static void hook_block(presto_hook hook, void *ctx, int i, const char *what, const float *x, int B, int L, int D)
{
	char name[64];
	if (!hook)
		return;
	snprintf(name, sizeof name, "block%d.%s", i, what);
	hook3(hook, ctx, name, x, B, L, D);
}

presto_status presto_t5_run(const presto_t5 *m, float *out, const int32_t *ids, const float *mask, int B, int L,
			    presto_hook hook, void *hook_ctx, const t5_run_bufs *rb)
{
	const presto_t5_config *c = &m->c;
	int D = c->d_model, H = c->num_heads, Dh = c->d_kv, I = H * Dh, F = c->d_ff;
	size_t N = (size_t)B * L, NL = (size_t)L * L;
	for (size_t n = 0; n < N; n++)
		if (ids[n] < 0 || ids[n] >= c->vocab_size)
			return presto_error_set(PRESTO_EINVAL, "t5: token id %d at %zu outside [0, %d)", (int)ids[n], n,
						c->vocab_size);
	float *h = rb->h, *x = rb->x, *tmp = rb->tmp, *bias = rb->bias;

	/* position bias [H, L, L] = rel_bias[bucket(j - i), h] */
	presto_t5_buckets(rb->bk, L, c->num_buckets, c->max_distance);
	for (int hh = 0; hh < H; hh++)
		for (size_t e = 0; e < NL; e++)
			bias[hh * NL + e] = m->rel_bias[(size_t)rb->bk[e] * H + hh];
	if (hook) {
		int64_t shape[4] = {1, H, L, L};
		hook(hook_ctx, "position_bias", bias, 4, shape);
	}

	for (size_t n = 0; n < N; n++)
		memcpy(h + n * D, m->shared + (size_t)ids[n] * D, sizeof(float) * (size_t)D);
	hook3(hook, hook_ctx, "embed", h, B, L, D);

	int rows = (int)N;
	for (int i = 0; i < c->num_layers; i++) {
		const t5_block *b = &m->blocks[i];
		const t5_layer_bufs *lb = &rb->layer[rb->per_layer ? i : 0];
		if (lb->h0)
			memcpy(lb->h0, h, sizeof(float) * N * D);
		presto_rmsnorm_forward(x, h, b->ln0, rows, D, c->eps);
		hook_block(hook, hook_ctx, i, "attn_norm", x, B, L, D);
		presto_linear_forward(lb->q, x, b->q, NULL, rows, D, I);
		presto_linear_forward(lb->k, x, b->k, NULL, rows, D, I);
		presto_linear_forward(lb->v, x, b->v, NULL, rows, D, I);
		presto_attention_forward(lb->att, lb->q, lb->k, lb->v, B, L, L, H, H, Dh, I, I, I, 1.0f, bias, mask);
		presto_linear_forward(tmp, lb->att, b->o, NULL, rows, I, D);
		hook_block(hook, hook_ctx, i, "attn", tmp, B, L, D);
		presto_add_inplace(h, tmp, N * D);
		hook_block(hook, hook_ctx, i, "attn_res", h, B, L, D);
		if (lb->h1)
			memcpy(lb->h1, h, sizeof(float) * N * D);

		presto_rmsnorm_forward(x, h, b->ln1, rows, D, c->eps);
		hook_block(hook, hook_ctx, i, "ff_norm", x, B, L, D);
		presto_linear_forward(lb->f1, x, b->wi, NULL, rows, D, F);
		if (c->gated) {
			presto_gelu_tanh_forward(lb->hid, lb->f1, N * F);
			hook_block(hook, hook_ctx, i, "ff_act", lb->hid, B, L, F);
			presto_linear_forward(lb->f2, x, b->wi1, NULL, rows, D, F);
			presto_mul_forward(lb->hid, lb->hid, lb->f2, N * F);
		} else {
			presto_relu_forward(lb->hid, lb->f1, N * F);
		}
		hook_block(hook, hook_ctx, i, "ff_hidden", lb->hid, B, L, F);
		presto_linear_forward(tmp, lb->hid, b->wo, NULL, rows, F, D);
		hook_block(hook, hook_ctx, i, "ff", tmp, B, L, D);
		presto_add_inplace(h, tmp, N * D);
		hook_block(hook, hook_ctx, i, "out", h, B, L, D);
	}
	presto_rmsnorm_forward(out, h, m->final_ln, rows, D, c->eps);
	return PRESTO_OK;
}

double presto_t5_flops(const presto_t5_config *c, int B, int L)
{
	double N = (double)B * L, D = c->d_model, I = (double)c->num_heads * c->d_kv, F = c->d_ff;
	double layer = 2 * N * D * I * 4 + 4.0 * B * L * L * I + 2 * N * D * F * (c->gated ? 3 : 2);
	return layer * c->num_layers;
}

void presto_t5_set_accel(presto_t5 *m, presto_t5_accel_fn fn, void *ctx)
{
	m->accel = fn;
	m->accel_ctx = fn ? ctx : NULL;
}

presto_status presto_t5_forward(presto_t5 *m, float *out, const int32_t *ids, const float *mask, int B, int L,
				presto_hook hook, void *hook_ctx)
{
	const presto_t5_config *c = &m->c;
	int D = c->d_model, H = c->num_heads, Dh = c->d_kv, I = H * Dh, F = c->d_ff;
	if (B <= 0 || L <= 0)
		return presto_error_set(PRESTO_EINVAL, "t5: empty batch (B %d, L %d)", B, L);
	size_t N, NL, need = 0, t;
	if (!presto_mul_size((size_t)B, (size_t)L, &N) || N > INT_MAX || !presto_mul_size((size_t)L, (size_t)L, &NL))
		return presto_error_set(PRESTO_ENOMEM, "t5: batch too large");
	for (size_t n = 0; n < N; n++)
		if (ids[n] < 0 || ids[n] >= c->vocab_size)
			return presto_error_set(PRESTO_EINVAL, "t5: token id %d at %zu outside [0, %d)", (int)ids[n], n,
						c->vocab_size);
	if (m->accel && !hook)
		return m->accel(m->accel_ctx, out, ids, mask, B, L);
	/* floats: h, x, tmp [N, D]; q, k, v, att [N, I]; f1, f2 [N, F]; bias [H, L, L] */
	size_t per_row = 3 * (size_t)D + 4 * (size_t)I + 2 * (size_t)F;
	if (!presto_mul_size(N, per_row, &need) || !presto_mul_size(NL, (size_t)H, &t) || need + t < need)
		return presto_error_set(PRESTO_ENOMEM, "t5: batch too large");
	need += t;
	float *buf = presto_falloc(need);
	int32_t *bk = presto_malloc(sizeof(int32_t) * NL);
	if (!buf || !bk) {
		free(buf);
		free(bk);
		return PRESTO_ENOMEM;
	}
	t5_layer_bufs lb = {0};
	t5_run_bufs rb = {.layer = &lb, .per_layer = 0, .bk = bk};
	rb.h = buf, rb.x = rb.h + N * D, rb.tmp = rb.x + N * D;
	lb.q = rb.tmp + N * D, lb.k = lb.q + N * I, lb.v = lb.k + N * I, lb.att = lb.v + N * I;
	lb.f1 = lb.att + N * I, lb.f2 = lb.f1 + N * F, rb.bias = lb.f2 + N * F;
	lb.hid = lb.f1; /* in place, as nothing needs the pre-activation */
	presto_status s = presto_t5_run(m, out, ids, mask, B, L, hook, hook_ctx, &rb);
	free(buf);
	free(bk);
	return s;
}

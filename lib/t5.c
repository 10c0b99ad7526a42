/* t5.c - the T5 encoder stack (HF T5EncoderModel), fp32 on the CPU.
 *
 * Weights are fp32 views into the safetensors handle given to presto_t5_load()
 * (which must outlive the model). One forward allocates its activations in a
 * single block: every projection is one GEMM over the B*L token rows. */
#include "t5.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

typedef struct {
	const float *ln0, *q, *k, *v, *o;  /* ln0 [D]; q,k,v [I, D]; o [D, I] */
	const float *ln1, *wi, *wi1, *wo;   /* ln1 [D]; wi (wi_0 when gated), wi1 [F, D]; wo [D, F] */
} t5_block;

struct presto_t5 {
	presto_t5_config c;
	const float *shared;    /* [V, D] */
	const float *rel_bias;  /* [num_buckets, H] (block 0) */
	const float *final_ln;  /* [D] */
	t5_block *blocks;       /* [num_layers] */
};

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

/* <prefix>encoder.block.<i>.layer.<what>.weight */
static presto_status load_block(presto_st *st, const char *prefix, int i, const char *what, int ndim,
				const int64_t *shape, const float **w)
{
	return presto_st_f32f(st, w, ndim, shape, "%sencoder.block.%d.layer.%s.weight", prefix, i, what);
}

presto_status presto_t5_load(presto_st *st, const char *prefix, const presto_t5_config *c, presto_t5 **out)
{
	*out = NULL;
	if (!prefix)
		prefix = "";
	PRESTO_TRY(config_check(c));
	presto_t5 *m = presto_calloc(1, sizeof *m);
	if (!m)
		return PRESTO_ENOMEM;
	m->c = *c;
	m->blocks = presto_calloc((size_t)c->num_layers, sizeof *m->blocks);
	if (!m->blocks) {
		presto_t5_free(m);
		return PRESTO_ENOMEM;
	}
	int64_t D = c->d_model, I = (int64_t)c->num_heads * c->d_kv, F = c->d_ff;
	int64_t s_emb[2] = {c->vocab_size, D}, s_d[1] = {D}, s_id[2] = {I, D}, s_di[2] = {D, I};
	int64_t s_fd[2] = {F, D}, s_df[2] = {D, F}, s_rb[2] = {c->num_buckets, c->num_heads};
	presto_status s;
	/* encoder.embed_tokens.weight is tied to shared.weight; accept either */
	s = presto_st_f32f(st, &m->shared, 2, s_emb, "%sshared.weight", prefix);
	if (s) {
		char alt[1024];
		snprintf(alt, sizeof alt, "%sencoder.embed_tokens.weight", prefix);
		if (presto_st_get(st, alt))
			s = presto_st_f32(st, alt, 2, s_emb, &m->shared);
	}
	if (!s)
		s = presto_st_f32f(st, &m->rel_bias, 2, s_rb,
				   "%sencoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", prefix);
	if (!s)
		s = presto_st_f32f(st, &m->final_ln, 1, s_d, "%sencoder.final_layer_norm.weight", prefix);
	for (int i = 0; i < c->num_layers && !s; i++) {
		t5_block *b = &m->blocks[i];
		const char *wi = c->gated ? "1.DenseReluDense.wi_0" : "1.DenseReluDense.wi";
		s = load_block(st, prefix, i, "0.layer_norm", 1, s_d, &b->ln0);
		if (!s)
			s = load_block(st, prefix, i, "0.SelfAttention.q", 2, s_id, &b->q);
		if (!s)
			s = load_block(st, prefix, i, "0.SelfAttention.k", 2, s_id, &b->k);
		if (!s)
			s = load_block(st, prefix, i, "0.SelfAttention.v", 2, s_id, &b->v);
		if (!s)
			s = load_block(st, prefix, i, "0.SelfAttention.o", 2, s_di, &b->o);
		if (!s)
			s = load_block(st, prefix, i, "1.layer_norm", 1, s_d, &b->ln1);
		if (!s)
			s = load_block(st, prefix, i, wi, 2, s_fd, &b->wi);
		if (!s && c->gated)
			s = load_block(st, prefix, i, "1.DenseReluDense.wi_1", 2, s_fd, &b->wi1);
		if (!s)
			s = load_block(st, prefix, i, "1.DenseReluDense.wo", 2, s_df, &b->wo);
	}
	if (s) {
		presto_t5_free(m);
		return presto_error_wrap(s, "loading t5: ");
	}
	*out = m;
	return PRESTO_OK;
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
	float *h = buf, *x = h + N * D, *tmp = x + N * D;
	float *q = tmp + N * D, *k = q + N * I, *v = k + N * I, *att = v + N * I;
	float *f1 = att + N * I, *f2 = f1 + N * F, *bias = f2 + N * F;

	/* position bias [H, L, L] = rel_bias[bucket(j - i), h] */
	presto_t5_buckets(bk, L, c->num_buckets, c->max_distance);
	for (int hh = 0; hh < H; hh++)
		for (size_t e = 0; e < NL; e++)
			bias[hh * NL + e] = m->rel_bias[(size_t)bk[e] * H + hh];
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
		presto_rmsnorm_forward(x, h, b->ln0, rows, D, c->eps);
		hook_block(hook, hook_ctx, i, "attn_norm", x, B, L, D);
		presto_linear_forward(q, x, b->q, NULL, rows, D, I);
		presto_linear_forward(k, x, b->k, NULL, rows, D, I);
		presto_linear_forward(v, x, b->v, NULL, rows, D, I);
		presto_attention_forward(att, q, k, v, B, L, L, H, H, Dh, I, I, I, 1.0f, bias, mask);
		presto_linear_forward(tmp, att, b->o, NULL, rows, I, D);
		hook_block(hook, hook_ctx, i, "attn", tmp, B, L, D);
		presto_add_inplace(h, tmp, N * D);
		hook_block(hook, hook_ctx, i, "attn_res", h, B, L, D);

		presto_rmsnorm_forward(x, h, b->ln1, rows, D, c->eps);
		hook_block(hook, hook_ctx, i, "ff_norm", x, B, L, D);
		presto_linear_forward(f1, x, b->wi, NULL, rows, D, F);
		if (c->gated) {
			presto_gelu_tanh_forward(f1, f1, N * F);
			hook_block(hook, hook_ctx, i, "ff_act", f1, B, L, F);
			presto_linear_forward(f2, x, b->wi1, NULL, rows, D, F);
			presto_mul_forward(f1, f1, f2, N * F);
		} else {
			presto_relu_forward(f1, f1, N * F);
		}
		hook_block(hook, hook_ctx, i, "ff_hidden", f1, B, L, F);
		presto_linear_forward(tmp, f1, b->wo, NULL, rows, F, D);
		hook_block(hook, hook_ctx, i, "ff", tmp, B, L, D);
		presto_add_inplace(h, tmp, N * D);
		hook_block(hook, hook_ctx, i, "out", h, B, L, D);
	}
	presto_rmsnorm_forward(out, h, m->final_ln, rows, D, c->eps);
	free(buf);
	free(bk);
	return PRESTO_OK;
}

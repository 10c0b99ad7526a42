/* conf_t5.c - T5 encoder fixtures (t5_*): HF T5EncoderModel outputs, every
 * block intermediate, the bucket table (exact) and the additive mask. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel.h"
#include "fixture.h"
#include "ops.h"
#include "t5.h"

typedef struct {
	fixture *fx;
	float *position_bias; /* copy of the hooked [1, H, L, L] bias */
	size_t bias_n;
	char **seen;          /* hooked names */
	int n_seen;
} t5_ctx;

static void on_hook(void *ctx_, const char *name, const float *data, int ndim, const int64_t *shape)
{
	t5_ctx *ctx = ctx_;
	char ref[160];
	size_t n;
	if (!presto_numel(shape, ndim, &n))
		return;
	snprintf(ref, sizeof ref, "inter.%s", name);
	char **grown = realloc(ctx->seen, sizeof *grown * (size_t)(ctx->n_seen + 1));
	if (grown) {
		ctx->seen = grown;
		if ((grown[ctx->n_seen] = strdup(ref)))
			ctx->n_seen++;
	}
	if (!strcmp(name, "position_bias") && !ctx->position_bias) {
		ctx->position_bias = malloc(sizeof(float) * n);
		if (ctx->position_bias) {
			memcpy(ctx->position_bias, data, sizeof(float) * n);
			ctx->bias_n = n;
		}
	}
	/* the fixture stores ff_act only for the gated variant */
	if (!presto_st_get(ctx->fx->st, ref) && strstr(name, "ff_act"))
		return;
	fx_check(ctx->fx, ref, data, n);
	/* the fp64 run of the reference, where stored (block outputs) */
	snprintf(ref, sizeof ref, "f64.inter.%s", name);
	if (presto_st_get(ctx->fx->st, ref))
		fx_check(ctx->fx, ref, data, n);
}

/* inter.buckets must be the same integers. */
static void check_buckets(fixture *fx, const presto_t5_config *c, int L)
{
	size_t n = (size_t)L * L;
	int64_t shape[PRESTO_MAX_DIMS];
	int nd;
	const float *ref = fx_ref(fx, "inter.buckets", shape, &nd);
	int32_t *bk = malloc(sizeof(int32_t) * n);
	float *f = malloc(sizeof(float) * n);
	if (!ref || !bk || !f) {
		if (ref)
			fx_fail(fx, "out of memory");
		free(bk);
		free(f);
		return;
	}
	presto_t5_buckets(bk, L, c->num_buckets, c->max_distance);
	size_t bad = 0, first = 0;
	if (fx_numel(fx, "inter.buckets") != n) {
		fx_fail(fx, "inter.buckets: reference has %zu entries, expected %zu", fx_numel(fx, "inter.buckets"), n);
	} else {
		for (size_t i = 0; i < n; i++)
			if ((float)bk[i] != ref[i] && !bad++)
				first = i;
		if (bad)
			fx_fail(fx, "inter.buckets: %zu of %zu entries differ (first at (%zu, %zu): %d vs %g)", bad, n,
				first / (size_t)L, first % (size_t)L, (int)bk[first], (double)ref[first]);
		for (size_t i = 0; i < n; i++)
			f[i] = (float)bk[i];
		fx_check_tol(fx, "inter.buckets", f, n, 0.0);
	}
	free(bk);
	free(f);
}

/* inter.extended_attention_mask [B,1,1,L] and inter.position_bias_with_mask
 * [B,H,L,L] from our mask and bias, as the attention op adds them. */
static void check_masks(fixture *fx, const float *mask, const float *pb, int B, int H, int L)
{
	size_t nl = (size_t)L * L;
	float *ext = presto_falloc((size_t)B * L);
	float *pbm = presto_falloc((size_t)B * H * nl);
	if (!ext || !pbm) {
		fx_fail(fx, "out of memory");
		free(ext);
		free(pbm);
		return;
	}
	for (size_t i = 0; i < (size_t)B * L; i++)
		ext[i] = (1.0f - mask[i]) * -FLT_MAX;
	for (int b = 0; b < B; b++)
		for (int h = 0; h < H; h++)
			for (size_t e = 0; e < nl; e++)
				pbm[((size_t)b * H + h) * nl + e] = pb[h * nl + e] + ext[(size_t)b * L + e % L];
	if (presto_st_get(fx->st, "inter.extended_attention_mask"))
		fx_check(fx, "inter.extended_attention_mask", ext, (size_t)B * L);
	if (presto_st_get(fx->st, "inter.position_bias_with_mask"))
		fx_check(fx, "inter.position_bias_with_mask", pbm, (size_t)B * H * nl);
	free(ext);
	free(pbm);
}

/* Every inter.* block tensor of the fixture must have been produced. */
static void check_all_seen(fixture *fx, const t5_ctx *ctx)
{
	static const char *const handled[] = {"inter.buckets", "inter.extended_attention_mask",
					      "inter.position_bias_with_mask"};
	for (int i = 0; i < presto_st_count(fx->st); i++) {
		const char *name = presto_st_name(fx->st, i);
		int found = strncmp(name, "inter.", 6) != 0;
		for (size_t j = 0; !found && j < sizeof handled / sizeof handled[0]; j++)
			found = !strcmp(name, handled[j]);
		for (int j = 0; !found && j < ctx->n_seen; j++)
			found = !strcmp(name, ctx->seen[j]);
		if (!found)
			fx_fail(fx, "%s: not produced by the forward pass", name);
	}
}

int conf_t5(fixture *fx, const char **skip_reason)
{
	presto_t5_config c;
	if (presto_t5_config_from_json(json_object_get(fx->json, "t5_config"), &c)) {
		fx_fail(fx, "%s", presto_error());
		return 0;
	}
	int64_t shape[PRESTO_MAX_DIMS];
	int nd;
	const float *ids_f = fx_ref(fx, "in.input_ids", shape, &nd);
	if (!ids_f)
		return 0;
	if (nd != 2) {
		fx_fail(fx, "in.input_ids: expected [B, L]");
		return 0;
	}
	int B = (int)shape[0], L = (int)shape[1];
	size_t N = (size_t)B * L;
	const float *mask = fx_ref(fx, "in.attention_mask", shape, &nd);
	if (!mask)
		return 0;
	if (fx_numel(fx, "in.attention_mask") != N) {
		fx_fail(fx, "in.attention_mask: expected %zu values", N);
		return 0;
	}
	presto_t5 *m = NULL;
	if (presto_t5_load(fx->st, "", &c, &m)) {
		fx_fail(fx, "%s", presto_error());
		return 0;
	}
	int32_t *ids = malloc(sizeof(int32_t) * N);
	float *out = presto_falloc(N * (size_t)c.d_model);
	t5_ctx ctx = {.fx = fx};
	if (!ids || !out) {
		fx_fail(fx, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < N; i++)
		ids[i] = (int32_t)ids_f[i];
	if (presto_t5_forward(m, out, ids, mask, B, L, on_hook, &ctx)) {
		fx_fail(fx, "forward: %s", presto_error());
		goto done;
	}
	size_t no = N * (size_t)c.d_model;
	fx_check(fx, "out.last_hidden_state", out, no);
	if (presto_st_get(fx->st, "f64.out.last_hidden_state"))
		fx_check(fx, "f64.out.last_hidden_state", out, no);
	for (size_t i = 0; i < N; i++)
		for (int d = 0; d < c.d_model; d++)
			out[i * c.d_model + d] *= mask[i];
	fx_check(fx, "out.last_hidden_state_masked", out, no);
	if (presto_st_get(fx->st, "f64.out.last_hidden_state_masked"))
		fx_check(fx, "f64.out.last_hidden_state_masked", out, no);
	check_buckets(fx, &c, L);
	if (ctx.position_bias && ctx.bias_n == (size_t)c.num_heads * L * L)
		check_masks(fx, mask, ctx.position_bias, B, c.num_heads, L);
	else
		fx_fail(fx, "position_bias hook not called");
	check_all_seen(fx, &ctx);
	presto_accel *accel = fx_gpu_t5(fx, m); /* with --device: the forward again, on the GPU */
	if (accel) {
		if (presto_t5_forward(m, out, ids, mask, B, L, NULL, NULL))
			fx_fail(fx, "GPU forward: %s", presto_error());
		else
			fx_check(fx, "out.last_hidden_state", out, no);
	}
	presto_accel_free(accel);
done:
	for (int i = 0; i < ctx.n_seen; i++)
		free(ctx.seen[i]);
	free(ctx.seen);
	free(ctx.position_bias);
	free(ids);
	free(out);
	presto_t5_free(m);
	return 0;
}

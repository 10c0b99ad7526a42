/* test_dit_batch.c - the DiT gives every batch item the same bits whatever
 * else is in the batch (plain and batched-CFG forwards), an all-ones block
 * mask equals no mask, and skipping a block changes the output.
 * Uses the dit_sao conformance fixture: `test_dit_batch [DIR]`, DIR from
 * argv[1], $PRESTO_FIXTURES or ../shared/conformance; prints "skip" when the
 * fixture is absent. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit.h"

#include "check.h"


static float *tensor(presto_st *st, const char *name, int64_t *shape)
{
	const presto_tensor *t = presto_st_get(st, name);
	float *f = NULL;
	if (!t || presto_tensor_to_f32(t, &f))
		return NULL;
	memcpy(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
	return f;
}

static uint32_t lcg = 12345;
static float urand(void)
{
	lcg = lcg * 1664525u + 1013904223u;
	return (float)(lcg >> 8) / 16777216.0f * 2.0f - 1.0f;
}

/* Inputs of a batch: x [B, C, T], t [B], cross [B, S, Cc], global [B, G]. */
typedef struct {
	int B, C, T, S, Cc, G;
	float *x, *t, *cross, *global;
} batch;

/* Each item alone vs the whole batch, plain (scale 1) and batched CFG. */
static void check_items(presto_dit *m, const batch *in, float scale, const char *label)
{
	size_t nx = (size_t)in->C * in->T, nc = (size_t)in->S * in->Cc, ng = (size_t)in->G;
	float *all = malloc(sizeof(float) * nx * in->B * 3), *one = malloc(sizeof(float) * nx * 3);
	char what[160];
	if (!all || !one) {
		CHECK(0, "out of memory");
		return;
	}
	presto_status rc = presto_dit_forward_cfg(m, all, in->x, in->t, in->cross, NULL, in->S, in->global, in->B,
						  in->T, scale, all + nx * in->B, all + 2 * nx * in->B, NULL);
	snprintf(what, sizeof what, "%s: batch of %d runs (%s)", label, in->B, rc ? presto_error() : "");
	CHECK(!rc, "%s", what);
	int same = !rc;
	for (int b = 0; same && b < in->B; b++) {
		rc = presto_dit_forward_cfg(m, one, in->x + b * nx, in->t + b, in->cross + b * nc, NULL, in->S,
					    in->global + b * ng, 1, in->T, scale, one + nx, one + 2 * nx, NULL);
		same = !rc && !memcmp(one, all + b * nx, sizeof(float) * nx) &&
		       !memcmp(one + nx, all + (in->B + b) * nx, sizeof(float) * nx);
		if (scale != 1.0f)
			same = same && !memcmp(one + 2 * nx, all + (2 * in->B + b) * nx, sizeof(float) * nx);
	}
	snprintf(what, sizeof what, "%s: each item alone is bit-identical to the batch of %d (cfg scale %g)", label,
		 in->B, (double)scale);
	CHECK(same, "%s", what);
	free(all);
	free(one);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("PRESTO_FIXTURES");
	if (!dir || !*dir)
		dir = "../shared/conformance";
	char path[4096];
	snprintf(path, sizeof path, "%s/dit_sao.json", dir);
	json_error_t jerr;
	json_t *js = json_load_file(path, 0, &jerr);
	presto_st *st = NULL;
	snprintf(path, sizeof path, "%s/dit_sao.safetensors", dir);
	if (!js || presto_st_open(path, &st)) {
		printf("skip (no dit_sao fixture in %s)\n", dir);
		json_decref(js);
		return 0;
	}
	json_t *dcfg = json_object_get(
		json_object_get(json_object_get(json_object_get(js, "model_config"), "model"), "diffusion"), "config");
	presto_dit_config cfg;
	presto_dit *m = NULL;
	if (presto_dit_config_from_json(dcfg, &cfg) || presto_dit_load(st, "model.model.", &cfg, &m)) {
		printf("FAIL loading the DiT: %s\n", presto_error());
		return 1;
	}

	/* the fixture's own batch */
	int64_t xs[8], ts[8], cs[8], gs[8];
	batch fb = {0};
	fb.x = tensor(st, "in.x", xs);
	fb.t = tensor(st, "in.t", ts);
	fb.cross = tensor(st, "in.cross_attn_cond", cs);
	fb.global = tensor(st, "in.global_cond", gs);
	if (!fb.x || !fb.t || !fb.cross || !fb.global) {
		printf("FAIL fixture inputs missing\n");
		return 1;
	}
	fb.B = (int)xs[0], fb.C = (int)xs[1], fb.T = (int)xs[2], fb.S = (int)cs[1], fb.Cc = (int)cs[2];
	fb.G = (int)gs[1];
	check_items(m, &fb, 1.0f, "fixture batch");
	check_items(m, &fb, 4.5f, "fixture batch");

	/* a larger synthetic batch (more rows per GEMM, more threads) */
	batch sb = {.B = 3, .C = fb.C, .T = 61, .S = 9, .Cc = fb.Cc, .G = fb.G};
	sb.x = malloc(sizeof(float) * (size_t)sb.B * sb.C * sb.T);
	sb.t = malloc(sizeof(float) * (size_t)sb.B);
	sb.cross = malloc(sizeof(float) * (size_t)sb.B * sb.S * sb.Cc);
	sb.global = malloc(sizeof(float) * (size_t)sb.B * sb.G);
	for (size_t i = 0; i < (size_t)sb.B * sb.C * sb.T; i++)
		sb.x[i] = urand();
	for (int b = 0; b < sb.B; b++)
		sb.t[b] = 0.5f + 0.45f * urand();
	for (size_t i = 0; i < (size_t)sb.B * sb.S * sb.Cc; i++)
		sb.cross[i] = urand();
	for (size_t i = 0; i < (size_t)sb.B * sb.G; i++)
		sb.global[i] = urand();
	check_items(m, &sb, 1.0f, "synthetic batch");
	check_items(m, &sb, 7.0f, "synthetic batch");

	/* block masks */
	size_t n = (size_t)fb.B * fb.C * fb.T;
	float *ref = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
	unsigned char *mask = malloc((size_t)cfg.depth);
	presto_status rc = presto_dit_forward(m, ref, fb.x, fb.t, fb.cross, fb.S, fb.global, fb.B, fb.T, NULL);
	memset(mask, 1, (size_t)cfg.depth);
	presto_dit_opts o = {.block_mask = mask};
	rc = rc ? rc : presto_dit_forward(m, got, fb.x, fb.t, fb.cross, fb.S, fb.global, fb.B, fb.T, &o);
	CHECK(!rc && !memcmp(ref, got, sizeof(float) * n), "an all-ones block mask equals no mask");
	for (int i = 0; i < cfg.depth; i++) {
		memset(mask, 1, (size_t)cfg.depth);
		mask[i] = 0;
		rc = presto_dit_forward(m, got, fb.x, fb.t, fb.cross, fb.S, fb.global, fb.B, fb.T, &o);
		double diff = 0;
		for (size_t k = 0; !rc && k < n; k++)
			diff += (got[k] - ref[k]) * (got[k] - ref[k]);
		char what[96];
		snprintf(what, sizeof what, "skipping block %d changes the output", i);
		CHECK(!rc && diff > 1e-6, "%s", what);
	}

	free(ref);
	free(got);
	free(mask);
	free(sb.x);
	free(sb.t);
	free(sb.cross);
	free(sb.global);
	free(fb.x);
	free(fb.t);
	free(fb.cross);
	free(fb.global);
	presto_dit_free(m);
	presto_st_close(st);
	json_decref(js);
	return check_status();
}

/* test_dit_batch.c - the DiT gives every batch item the same bits whatever
 * else is in the batch (plain and batched-CFG forwards), an all-ones block
 * mask equals no mask, and skipping a block changes the output. The same for
 * training: a model bound to a parameter table computes the loaded model's
 * bits; the training backward gives every item the same input-gradient bits
 * whatever else is in the batch, a batch's parameter gradients equal those
 * of its items accumulated one after the other (micro-batching changes no
 * bit), and skipping parameter gradients changes no input gradient.
 * Uses the dit_sao conformance fixture: `test_dit_batch [DIR]`, DIR from
 * argv[1], $PRESTO_FIXTURES or ../shared/conformance; prints "skip" when the
 * fixture is absent. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Training: bound model, per-item input gradients, micro-batch parameter
 * gradients. */
static void check_training(presto_st *st, const presto_dit_config *cfg, presto_dit *loaded, const batch *in)
{
	presto_params ps;
	presto_params_init(&ps);
	presto_dit *m = NULL;
	presto_dit_train *tr = NULL;
	if (presto_dit_params(cfg, "model.model.", &ps) || presto_params_alloc(&ps) ||
	    presto_dit_params_load(cfg, "model.model.", &ps, st) ||
	    presto_dit_bind(&ps, ps.data, "model.model.", cfg, &m) || presto_dit_train_new(m, &tr)) {
		CHECK(0, "binding the DiT to a parameter table: %s", presto_error());
		presto_params_free(&ps);
		return;
	}
	/* a checkpoint without the buffers (LayerNorm beta, inv_freq) loads, the
	 * buffers at their reference values */
	char tmp[] = "/tmp/presto-dit-XXXXXX";
	int fd = mkstemp(tmp);
	presto_params p2;
	presto_params_init(&p2);
	presto_st *st2 = NULL;
	presto_status rc = fd < 0 ? PRESTO_EIO : presto_params_save(&ps, ps.data, tmp, "", PRESTO_F32, 1, 0, NULL);
	rc = rc ? rc : presto_st_open(tmp, &st2);
	rc = rc ? rc : presto_dit_params(cfg, "model.model.", &p2);
	rc = rc ? rc : presto_params_alloc(&p2);
	rc = rc ? rc : presto_dit_params_load(cfg, "model.model.", &p2, st2);
	int same = !rc && p2.total == ps.total;
	for (int i = 0; same && i < ps.n; i++) {
		const presto_param_info *pi = &ps.p[i];
		const float *a = ps.data + pi->offset, *b = p2.data + pi->offset;
		if (pi->trainable)
			same = !memcmp(a, b, sizeof(float) * pi->numel);
		else if (strstr(pi->name, ".beta"))
			for (size_t j = 0; j < pi->numel; j++)
				same &= b[j] == 0.0f;
		else
			for (size_t j = 0; j < pi->numel; j++) /* inv_freq: torch's fp32 pow may differ by an ulp */
				same &= fabsf(a[j] - b[j]) <= 1e-6f * fabsf(a[j]);
	}
	CHECK(same, "a checkpoint without buffers loads into the table (%s)", rc ? presto_error() : "");
	presto_st_close(st2);
	presto_params_free(&p2);
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}

	int B = in->B, C = in->C, T = in->T, S = in->S;
	size_t nx = (size_t)C * T, nc = (size_t)S * in->Cc, ng = (size_t)in->G;
	float *a = malloc(sizeof(float) * nx * B), *b = malloc(sizeof(float) * nx * B);
	float *dout = malloc(sizeof(float) * nx * B);
	float *dx = calloc(nx * B, sizeof(float)), *dc = calloc(nc * B, sizeof(float)), *dg = calloc(ng * B, sizeof(float));
	float *dt = calloc((size_t)B, sizeof(float));
	float *dx1 = calloc(nx * B, sizeof(float)), *dc1 = calloc(nc * B, sizeof(float));
	float *dg1 = calloc(ng * B, sizeof(float)), *dt1 = calloc((size_t)B, sizeof(float));
	float *gp = presto_params_buffer(&ps), *gp1 = presto_params_buffer(&ps);
	for (size_t i = 0; i < nx * B; i++)
		dout[i] = urand();

	rc = presto_dit_forward(loaded, a, in->x, in->t, in->cross, S, in->global, B, T, NULL);
	rc = rc ? rc : presto_dit_forward(m, b, in->x, in->t, in->cross, S, in->global, B, T, NULL);
	CHECK(!rc && !memcmp(a, b, sizeof(float) * nx * B), "a DiT bound to a parameter table computes the same bits");
	rc = presto_dit_train_forward(tr, b, in->x, in->t, in->cross, S, in->global, B, T, NULL);
	CHECK(!rc && !memcmp(a, b, sizeof(float) * nx * B), "the training forward computes the same bits");

	/* the batch, then each item alone into the other buffers */
	rc = presto_dit_train_backward(tr, dout, gp, dx, dt, dc, dg);
	for (int i = 0; !rc && i < B; i++) {
		rc = presto_dit_train_forward(tr, b, in->x + i * nx, in->t + i, in->cross + i * nc, S,
					      in->global + i * ng, 1, T, NULL);
		rc = rc ? rc : presto_dit_train_backward(tr, dout + i * nx, gp1, dx1 + i * nx, dt1 + i, dc1 + i * nc,
							 dg1 + i * ng);
	}
	CHECK(!rc && !memcmp(dx, dx1, sizeof(float) * nx * B) && !memcmp(dc, dc1, sizeof(float) * nc * B) &&
		      !memcmp(dg, dg1, sizeof(float) * ng * B) && !memcmp(dt, dt1, sizeof(float) * B),
	      "training backward: each item's input gradients are bit-identical to the batch's (%s)",
	      rc ? presto_error() : "");
	CHECK(!rc && !memcmp(gp, gp1, sizeof(float) * ps.total),
	      "training backward: the batch's parameter gradients equal its items' accumulated one by one (bits)");

	/* no parameter gradients: the same input gradients */
	memset(dx1, 0, sizeof(float) * nx * B);
	memset(dc1, 0, sizeof(float) * nc * B);
	rc = presto_dit_train_forward(tr, b, in->x, in->t, in->cross, S, in->global, B, T, NULL);
	rc = rc ? rc : presto_dit_train_backward(tr, dout, NULL, dx1, NULL, dc1, NULL);
	CHECK(!rc && !memcmp(dx, dx1, sizeof(float) * nx * B) && !memcmp(dc, dc1, sizeof(float) * nc * B),
	      "training backward without parameter gradients: the same input gradients");
	/* a loaded (unbound) model gives input gradients too, but no parameter gradients */
	presto_dit_train *tl = NULL;
	memset(dx1, 0, sizeof(float) * nx * B);
	rc = presto_dit_train_new(loaded, &tl);
	rc = rc ? rc : presto_dit_train_forward(tl, b, in->x, in->t, in->cross, S, in->global, B, T, NULL);
	rc = rc ? rc : presto_dit_train_backward(tl, dout, NULL, dx1, NULL, NULL, NULL);
	CHECK(!rc && !memcmp(dx, dx1, sizeof(float) * nx * B), "a loaded model's training backward: the same dx");
	CHECK(presto_dit_train_backward(tl, dout, gp1, NULL, NULL, NULL, NULL) == PRESTO_EINVAL,
	      "a loaded model refuses parameter gradients");
	presto_dit_train_free(tl);

	free(a), free(b), free(dout), free(dx), free(dc), free(dg), free(dt), free(dx1), free(dc1), free(dg1);
	free(dt1), free(gp), free(gp1);
	presto_dit_train_free(tr);
	presto_dit_free(m);
	presto_params_free(&ps);
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
	check_training(st, &cfg, m, &sb);

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

/* test_text_grad.c - the text side of training: the T5 encoder's parameter
 * table, binding, random init, training forward and backward (lib/t5.c,
 * lib/t5_train.c), and the number conditioners' (lib/numcond.c).
 *
 * Finite-difference checks (tests/unit/fdcheck.h): L = sum_i y_i r_i
 * (r random, so dL/dy = r, L summed in double); fd_check compares central
 * differences (fourth order) at single entries with the analytic gradient,
 * error max |num - ana| over max |ana| of the tensor; fd_dir compares the
 * derivative along a random direction of a whole tensor with <grad, u>.
 * Gradient buffers start at PRE, subtracted afterwards, which checks that the
 * backwards accumulate. Also: the bound and training forwards equal
 * presto_t5_forward bit for bit (random tiny models and, when present, the
 * t5_* conformance fixtures: `test_text_grad [DIR]`, DIR from argv[1],
 * $PRESTO_FIXTURES or ../shared/conformance). */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numcond.h"
#include "params.h"
#include "t5.h"

#include "check.h"
#include "testrand.h"
#include "fdcheck.h"

#define PRE 0.25f /* what every gradient buffer holds before a backward */

TEST_RAND_SEED(0x2545f4914f6cdd1dull);

/* ---- T5 ---- */

typedef struct {
	presto_t5_train *tr;
	presto_t5 *m;            /* the bound model (FD evaluations) */
	const int32_t *ids;
	const float *mask;
	int B, L, F, relu;
	unsigned char *sign;     /* [layers, B*L, F] ReLU input > 0 at the base point */
	int record, crossed;
} t5_ctx;

/* ReLU sides: block{i}.ff_hidden (the ReLU output) > 0 iff its input is. */
static void t5_hook(void *c, const char *name, const float *x, int ndim, const int64_t *shape)
{
	t5_ctx *t = c;
	int blk;
	char what[32];
	if (sscanf(name, "block%d.%31s", &blk, what) != 2 || strcmp(what, "ff_hidden"))
		return;
	size_t n = (size_t)t->B * t->L * t->F;
	unsigned char *sg = t->sign + (size_t)blk * n;
	for (size_t i = 0; i < n; i++) {
		unsigned char pos = x[i] > 0.0f;
		if (t->record)
			sg[i] = pos;
		else if (sg[i] != pos)
			t->crossed = 1;
	}
}

/* The training forward, or (FD evaluations of the ReLU model) the bound
 * model's presto_t5_forward, bit-identical, with the hook that notices when
 * a ReLU input changes sides. */
static void t5_fwd(void *c, float *y)
{
	t5_ctx *t = c;
	presto_status rc = t->relu ? presto_t5_forward(t->m, y, t->ids, t->mask, t->B, t->L, t5_hook, t)
				   : presto_t5_train_forward(t->tr, y, t->ids, t->mask);
	if (rc)
		abort();
}

static const char *strip(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) ? name : name + strlen(prefix);
}

/* Save the table to a temporary file and open it. */
static presto_status save_open(const presto_params *ps, char *path, presto_st **st)
{
	*st = NULL;
	int fd = mkstemp(path);
	if (fd < 0)
		return PRESTO_EIO;
	close(fd);
	presto_status rc = presto_params_save(ps, ps->data, path, "", PRESTO_F32, 0, 0, NULL);
	return rc ? rc : presto_st_open(path, st);
}

static void test_t5_case(const char *label, int gated)
{
	static const char *const prefix = "conditioner.conditioners.prompt.model.";
	/* I = 12 != D; 8 buckets: |r| >= 2 is log-bucketed, so several
	 * relative positions share a bucket at L = 9 */
	presto_t5_config c = {.vocab_size = 13, .d_model = 16, .d_kv = 4, .num_heads = 3, .d_ff = 20, .num_layers = 2,
			      .gated = gated, .num_buckets = 8, .max_distance = 12, .eps = 1e-6f};
	enum { B = 3, L = 9 };
	const int len[B] = {9, 6, 2};
	int D = c.d_model;
	size_t N = (size_t)B * L, no = N * D;
	presto_params ps;
	presto_params_init(&ps);
	presto_t5 *m = NULL, *ml = NULL;
	presto_t5_train *tr = NULL;
	char what[256];
	if (presto_t5_params(&c, prefix, &ps) || presto_params_alloc(&ps) ||
	    presto_t5_params_init(&c, prefix, &ps, ps.data, 42, 1.0f) || presto_t5_bind(&ps, ps.data, prefix, &c, &m) ||
	    presto_t5_train_new(m, B, L, &tr)) {
		CHECK(0, "t5 %s: set-up (%s)", label, presto_error());
		return;
	}
	int failures0 = failures;
	/* layer norms away from 1 (HF's init fills them with 1) */
	for (int i = 0; i < ps.n; i++)
		if (strstr(ps.p[i].name, "layer_norm"))
			for (size_t j = 0; j < ps.p[i].numel; j++)
				ps.data[ps.p[i].offset + j] += 0.2f * randn();

	/* ids: real tokens from [2, 11) then EOS (1), pads 0; 11 and 12 never occur */
	int32_t ids[B * L];
	float mask[B * L];
	for (int b = 0; b < B; b++)
		for (int j = 0; j < L; j++) {
			int real = j < len[b];
			ids[b * L + j] = !real ? 0 : j == len[b] - 1 ? 1 : 2 + (int32_t)(unif() * 9);
			mask[b * L + j] = real ? 1.0f : 0.0f;
		}
	t5_ctx tc = {tr, m, ids, mask, B, L, c.d_ff, 0, NULL, 0, 0};
	tc.sign = malloc((size_t)c.num_layers * N * c.d_ff);
	float *y = vec(no, 0), *y2 = vec(no, 0), *y3 = vec(no, 0), *r = vec(no, 1), *rm = vec(no, 0);
	for (size_t n = 0; n < N; n++)
		for (int d = 0; d < D; d++)
			rm[n * D + d] = r[n * D + d] * mask[n];

	/* the training forward and the bound forward are presto_t5_forward's, on
	 * a model loaded from a file of the same weights */
	char path[] = "/tmp/presto-t5-XXXXXX";
	presto_st *st = NULL;
	presto_params p2;
	presto_params_init(&p2);
	presto_status rc = save_open(&ps, path, &st);
	rc = rc ? rc : presto_t5_load(st, prefix, &c, &ml);
	rc = rc ? rc : presto_t5_forward(ml, y2, ids, mask, B, L, NULL, NULL);
	rc = rc ? rc : presto_t5_forward(m, y3, ids, mask, B, L, NULL, NULL);
	t5_fwd(&tc, y);
	snprintf(what, sizeof what, "t5 %s: training forward == bound forward == loaded forward (bits)", label);
	CHECK(!rc && !memcmp(y, y2, sizeof(float) * no) && !memcmp(y3, y2, sizeof(float) * no), "%s", what);
	rc = rc ? rc : presto_t5_params(&c, prefix, &p2);
	rc = rc ? rc : presto_params_alloc(&p2);
	rc = rc ? rc : presto_t5_params_load(&c, prefix, &p2, st);
	CHECK(!rc && p2.total == ps.total && !memcmp(p2.data, ps.data, sizeof(float) * ps.total),
	      "t5 %s: presto_t5_params_load reads back a saved table", label);
	if (ml) {
		float *dp0 = presto_params_buffer(&ps);
		presto_t5_train *trl = NULL;
		rc = presto_t5_train_new(ml, B, L, &trl);
		rc = rc ? rc : presto_t5_train_forward(trl, y2, ids, mask);
		CHECK(!rc && presto_t5_train_backward(trl, r, dp0) == PRESTO_EINVAL,
		      "t5 %s: parameter gradients of a loaded (unbound) model are an error", label);
		presto_t5_train_free(trl);
		free(dp0);
	}
	presto_t5_free(ml);
	presto_st_close(st);
	unlink(path);
	presto_params_free(&p2);
	int32_t bad = ids[4];
	ids[4] = c.vocab_size;
	CHECK(presto_t5_train_forward(tr, y, ids, mask) == PRESTO_EINVAL, "t5 %s: an id outside the vocabulary is an error",
	      label);
	CHECK(presto_t5_train_backward(tr, r, ps.data) == PRESTO_EINVAL, "t5 %s: no backward after a failed forward",
	      label);
	ids[4] = bad;

	/* backward (every gradient starts at PRE) */
	float *dp = presto_params_buffer(&ps), *dpm = presto_params_buffer(&ps);
	for (size_t i = 0; i < ps.total; i++)
		dp[i] = dpm[i] = PRE;
	t5_fwd(&tc, y);
	rc = presto_t5_train_backward(tr, r, dp);
	rc = rc ? rc : presto_t5_train_backward(tr, rm, dpm);
	CHECK(!rc, "t5 %s: backward runs", label);
	for (size_t i = 0; i < ps.total; i++)
		dp[i] -= PRE, dpm[i] -= PRE;

	/* the ReLU model's FD evaluations watch the ReLU inputs' sides at the
	 * base point */
	tc.relu = !gated;
	tc.record = 1;
	t5_fwd(&tc, y);
	tc.record = 0;
	problem p = {.f = t5_fwd, .ctx = &tc, .y = y, .r = r, .ny = no, .crossed = gated ? NULL : &tc.crossed};
	float h = 1e-2f;
	for (int i = 0; i < ps.n; i++) {
		presto_param_info *pi = &ps.p[i];
		float *x = ps.data + pi->offset, *g = dp + pi->offset;
		const char *key = strip(pi->name, prefix);
		snprintf(what, sizeof what, "t5 %s: %s", label, key);
		fd_dir(&p, what, x, g, pi->numel, h, 1e-2);
		if (!strcmp(key, "shared.weight")) {
			/* every entry of the rows that occur; the others have none */
			size_t *idx = malloc(sizeof(size_t) * pi->numel), k = 0;
			int unused_clean = 1, occurs[64] = {0};
			for (size_t n = 0; n < N; n++)
				occurs[ids[n]] = 1;
			for (int row = 0; row < c.vocab_size; row++)
				for (int d = 0; d < D; d++) {
					if (occurs[row])
						idx[k++] = (size_t)row * D + d;
					else
						unused_clean &= g[row * D + d] == 0.0f;
				}
			snprintf(what, sizeof what, "t5 %s: shared.weight rows of the ids (entry by entry)", label);
			fd_entries(&p, what, x, g, pi->numel, idx, k, h, 2e-3);
			CHECK(unused_clean && !occurs[11] && !occurs[12],
			      "t5 %s: rows of ids that do not occur get no gradient", label);
			/* the pad id occurs at padded positions only: with dout
			 * zero on padded rows (the caller's mask) it has no
			 * effect, and no gradient */
			const float *gm = dpm + pi->offset;
			int pad_clean = 1, pad_unmasked = 0;
			for (int d = 0; d < D; d++) {
				pad_clean &= gm[d] == 0.0f;
				pad_unmasked |= g[d] != 0.0f;
			}
			CHECK(pad_clean && pad_unmasked,
			      "t5 %s: pad-only id: gradient only from the padded rows' own outputs", label);
			free(idx);
		} else if (strstr(key, "relative_attention_bias")) {
			snprintf(what, sizeof what, "t5 %s: relative_attention_bias (every bucket)", label);
			fd_check(&p, what, x, g, pi->numel, h, 2e-3, 0);
		} else {
			snprintf(what, sizeof what, "t5 %s: %s (12 entries)", label, key);
			fd_check(&p, what, x, g, pi->numel, h, 2e-3, 12);
		}
	}

	/* the mask-weighted dout (what a caller multiplying by the mask sends) */
	problem pm = {.f = t5_fwd, .ctx = &tc, .y = y, .r = rm, .ny = no, .crossed = p.crossed};
	for (int i = 0; i < ps.n; i++) {
		presto_param_info *pi = &ps.p[i];
		const char *key = strip(pi->name, prefix);
		if (strcmp(key, "shared.weight") && !strstr(key, "relative_attention_bias") && !strstr(key, ".1.q.") &&
		    !strstr(key, "block.0.layer.0.SelfAttention.k."))
			continue;
		snprintf(what, sizeof what, "t5 %s: masked dout: %s", label, key);
		fd_check(&pm, what, ps.data + pi->offset, dpm + pi->offset, pi->numel, h, 2e-3, 0);
	}
	CHECK(failures == failures0, "t5 %s: every parameter gradient matches finite differences", label);

	free(y), free(y2), free(y3), free(r), free(rm), free(dp), free(dpm), free(tc.sign);
	presto_t5_train_free(tr);
	presto_t5_free(m);
	presto_params_free(&ps);
}

/* The init: HF T5's scales, deterministic, independent of the prefix. */
static void test_t5_init(void)
{
	presto_t5_config c = {.vocab_size = 300, .d_model = 64, .d_kv = 16, .num_heads = 4, .d_ff = 96, .num_layers = 2,
			      .gated = 1, .num_buckets = 32, .max_distance = 128, .eps = 1e-6f};
	presto_params a, b;
	presto_params_init(&a);
	presto_params_init(&b);
	if (presto_t5_params(&c, "", &a) || presto_params_alloc(&a) || presto_t5_params(&c, "t5.", &b) ||
	    presto_params_alloc(&b) || presto_t5_params_init(&c, "", &a, a.data, 7, 1.0f)) {
		CHECK(0, "t5 init: set-up (%s)", presto_error());
		return;
	}
	/* 1 embedding, 2 x (4 + 4 + 2) + relative bias + final norm */
	CHECK(a.n == 1 + 2 * 9 + 1 + 1, "t5 init: %d tensors declared (gated, 2 blocks)", a.n);
	int ok = 1;
	for (int i = 0; i < a.n; i++) {
		const presto_param_info *pi = &a.p[i];
		const float *x = a.data + pi->offset;
		double D = c.d_model, want;
		int norm = strstr(pi->name, "layer_norm") != NULL;
		if (norm)
			want = 0;
		else if (!strcmp(pi->name, "shared.weight"))
			want = 1;
		else if (strstr(pi->name, ".q.weight"))
			want = 1 / sqrt(D * c.d_kv);
		else if (strstr(pi->name, ".o.weight"))
			want = 1 / sqrt((double)c.num_heads * c.d_kv);
		else if (strstr(pi->name, ".wo.weight"))
			want = 1 / sqrt((double)c.d_ff);
		else
			want = 1 / sqrt(D); /* k, v, wi_0, wi_1, relative_attention_bias */
		double s1 = 0, s2 = 0;
		for (size_t j = 0; j < pi->numel; j++)
			s1 += x[j], s2 += (double)x[j] * x[j];
		double mean = s1 / (double)pi->numel, sd = sqrt(s2 / (double)pi->numel - mean * mean);
		int good;
		if (norm) {
			good = 1;
			for (size_t j = 0; j < pi->numel; j++)
				good &= x[j] == 1.0f;
		} else {
			double tol = 5.0 / sqrt(2.0 * (double)pi->numel); /* 5 standard errors of the sd */
			good = fabs(sd / want - 1) < tol && fabs(mean) < 5 * want / sqrt((double)pi->numel);
		}
		EXPECT(good, "t5 init: %s: mean %.4g sd %.4g, want sd %.4g", pi->name, mean, sd, want);
		ok &= good;
		int expect_decay = !norm && !strstr(pi->name, "relative_attention_bias");
		EXPECT(pi->trainable && pi->decay == expect_decay, "t5 init: %s: trainable %d decay %d", pi->name,
		       pi->trainable, pi->decay);
		ok &= pi->trainable && pi->decay == expect_decay;
	}
	CHECK(ok, "t5 init: HF T5 scales (N(0,1) embedding, q (D d_kv)^-1/2, k v wi D^-1/2, o (H d_kv)^-1/2, "
		  "wo F^-1/2, bias table D^-1/2, norms 1), decay flags");
	float *a2 = presto_params_buffer(&a);
	presto_status rc = presto_t5_params_init(&c, "", &a, a2, 7, 1.0f);
	rc = rc ? rc : presto_t5_params_init(&c, "t5.", &b, b.data, 7, 1.0f);
	int same_prefix = !rc;
	for (int i = 0; same_prefix && i < a.n; i++)
		same_prefix = !memcmp(a.data + a.p[i].offset, b.data + b.p[i].offset, sizeof(float) * a.p[i].numel);
	CHECK(!rc && !memcmp(a.data, a2, sizeof(float) * a.total) && same_prefix,
	      "t5 init: the same seed gives the same bits, whatever the prefix");
	rc = presto_t5_params_init(&c, "", &a, a2, 8, 0.5f);
	float *ln = presto_params_ptr(&a, a2, "encoder.final_layer_norm.weight");
	CHECK(!rc && memcmp(a.data, a2, sizeof(float) * a.p[0].numel) && ln && ln[0] == 0.5f,
	      "t5 init: another seed gives other values; initializer_factor scales (norms = factor)");
	free(a2);
	presto_params_free(&a);
	presto_params_free(&b);
}

/* The conformance fixtures: the table names every tensor of the reference
 * state_dict, and the bound model reproduces the loaded one bit for bit. */
static void test_t5_fixture(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.json", dir, name);
	json_error_t jerr;
	json_t *js = json_load_file(path, 0, &jerr);
	presto_st *st = NULL;
	snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
	if (!js || presto_st_open(path, &st)) {
		printf("skip %s (no fixture in %s)\n", name, dir);
		json_decref(js);
		return;
	}
	presto_t5_config c;
	presto_params ps;
	presto_params_init(&ps);
	presto_t5 *ml = NULL, *mb = NULL;
	presto_t5_train *tr = NULL;
	const presto_tensor *tid = presto_st_get(st, "in.input_ids"), *tm = presto_st_get(st, "in.attention_mask");
	float *idf = NULL, *mask = NULL;
	if (presto_t5_config_from_json(json_object_get(js, "t5_config"), &c) || !tid || !tm || tid->ndim != 2 ||
	    presto_tensor_to_f32(tid, &idf) || presto_tensor_to_f32(tm, &mask) || presto_t5_load(st, "", &c, &ml) ||
	    presto_t5_params(&c, "", &ps) || presto_params_alloc(&ps) || presto_t5_params_load(&c, "", &ps, st) ||
	    presto_t5_bind(&ps, ps.data, "", &c, &mb) ||
	    presto_t5_train_new(mb, (int)tid->shape[0], (int)tid->shape[1], &tr)) {
		CHECK(0, "%s: set-up (%s)", name, presto_error());
		goto done;
	}
	int weights = 0, named = 1;
	for (int i = 0; i < presto_st_count(st); i++) {
		const char *n = presto_st_name(st, i);
		if (!strncmp(n, "in.", 3) || !strncmp(n, "out.", 4) || !strncmp(n, "inter.", 6) || !strncmp(n, "f64.", 4))
			continue;
		weights++;
		named &= presto_params_find(&ps, n) >= 0;
	}
	CHECK(named && weights == ps.n, "%s: the table declares exactly the fixture's %d weight tensors", name, weights);
	int B = (int)tid->shape[0], L = (int)tid->shape[1];
	size_t N = (size_t)B * L, no = N * c.d_model;
	int32_t *ids = malloc(sizeof(int32_t) * N);
	float *a = malloc(sizeof(float) * no), *b = malloc(sizeof(float) * no), *t = malloc(sizeof(float) * no);
	for (size_t i = 0; i < N; i++)
		ids[i] = (int32_t)idf[i];
	presto_status rc = presto_t5_forward(ml, a, ids, mask, B, L, NULL, NULL);
	rc = rc ? rc : presto_t5_forward(mb, b, ids, mask, B, L, NULL, NULL);
	rc = rc ? rc : presto_t5_train_forward(tr, t, ids, mask);
	CHECK(!rc && !memcmp(a, b, sizeof(float) * no) && !memcmp(a, t, sizeof(float) * no),
	      "%s: bound and training forwards == presto_t5_forward (bits)", name);
	/* a backward of the fixture's size runs and gives finite gradients */
	float *dp = presto_params_buffer(&ps);
	rc = rc ? rc : presto_t5_train_backward(tr, a, dp);
	int finite = !rc;
	for (size_t i = 0; finite && i < ps.total; i++)
		finite = isfinite(dp[i]);
	CHECK(finite, "%s: backward gives finite gradients", name);
	free(dp), free(ids), free(a), free(b), free(t);
done:
	free(idf);
	free(mask);
	presto_t5_train_free(tr);
	presto_t5_free(mb);
	presto_t5_free(ml);
	presto_params_free(&ps);
	presto_st_close(st);
	json_decref(js);
}

/* ---- number conditioners ---- */

typedef struct {
	const presto_numcond *nc;
	const double *values;
	int N;
} nc_ctx;

static void nc_fwd(void *c, float *y)
{
	nc_ctx *n = c;
	presto_numcond_forward(n->nc, y, n->values, n->N, NULL);
}

static void test_numcond(void)
{
	static const char *const prefix = "conditioner.conditioners.";
	enum { F = 8, O = 6, N = 7 };
	presto_params ps;
	presto_params_init(&ps);
	presto_numcond nc, nl;
	if (presto_numcond_params(prefix, "seconds_total", F, O, &ps) || presto_params_alloc(&ps) ||
	    presto_numcond_params_init(&ps, ps.data, prefix, "seconds_total", 3) ||
	    presto_numcond_bind(&ps, ps.data, prefix, "seconds_total", 0.0f, 47.0f, O, &nc)) {
		CHECK(0, "numcond: set-up (%s)", presto_error());
		return;
	}
	CHECK(nc.n_freq == F && ps.n == 3 && !ps.p[0].decay && ps.p[1].decay && !ps.p[2].decay,
	      "numcond: 3 tensors, F from the table, decay on the weight only");
	/* clamped values (-3, 60) included */
	const double values[N] = {-3.0, 0.0, 5.5, 12.25, 30.0, 47.0, 60.0};
	nc_ctx ctx = {&nc, values, N};
	float *y = vec((size_t)N * O, 0), *y2 = vec((size_t)N * O, 0), *r = vec((size_t)N * O, 1);

	/* bound == loaded (bits) */
	char path[] = "/tmp/presto-nc-XXXXXX";
	presto_st *st = NULL;
	presto_status rc = save_open(&ps, path, &st);
	rc = rc ? rc : presto_numcond_load(st, prefix, "seconds_total", 0.0f, 47.0f, O, &nl);
	if (!rc) {
		presto_numcond_forward(&nl, y2, values, N, NULL);
		nc_fwd(&ctx, y);
	}
	CHECK(!rc && !memcmp(y, y2, sizeof(float) * N * O), "numcond: bound forward == loaded forward (bits)");
	float *dp = presto_params_buffer(&ps);
	CHECK(!rc && presto_numcond_backward(&nl, dp, r, values, N) == PRESTO_EINVAL,
	      "numcond: gradients of a loaded (unbound) conditioner are an error");
	presto_st_close(st);
	unlink(path);

	for (size_t i = 0; i < ps.total; i++)
		dp[i] = PRE;
	rc = presto_numcond_backward(&nc, dp, r, values, N);
	CHECK(!rc, "numcond: backward runs");
	for (size_t i = 0; i < ps.total; i++)
		dp[i] -= PRE;
	problem p = {.f = nc_fwd, .ctx = &ctx, .y = y, .r = r, .ny = (size_t)N * O};
	static const char *const names[3] = {"frequencies (embedding.0.weights)", "embedding.1.weight",
					     "embedding.1.bias"};
	for (int i = 0; i < 3; i++) {
		char what[128];
		snprintf(what, sizeof what, "numcond: %s", names[i]);
		fd_check(&p, what, ps.data + ps.p[i].offset, dp + ps.p[i].offset, ps.p[i].numel, 1e-3f, 2e-3, 0);
	}
	/* the gradient of a batch = its rows' one after the other */
	float *d1 = presto_params_buffer(&ps), *dn = presto_params_buffer(&ps);
	rc = presto_numcond_backward(&nc, dn, r, values, N);
	for (int n = 0; !rc && n < N; n++)
		rc = presto_numcond_backward(&nc, d1, r + (size_t)n * O, values + n, 1);
	CHECK(!rc && !memcmp(d1, dn, sizeof(float) * ps.total), "numcond: batch gradients == rows accumulated (bits)");
	free(d1), free(dn), free(dp), free(y), free(y2), free(r);
	presto_params_free(&ps);

	/* the reference's init at its size: F = 128, 768 outputs */
	presto_params_init(&ps);
	int Fd = PRESTO_NUMCOND_DEFAULT_FREQ, Od = 768;
	if (presto_numcond_params(prefix, "seconds_start", Fd, Od, &ps) || presto_params_alloc(&ps) ||
	    presto_numcond_params_init(&ps, ps.data, prefix, "seconds_start", 11)) {
		CHECK(0, "numcond init: set-up (%s)", presto_error());
		return;
	}
	double bound = 1 / sqrt(2.0 * Fd + 1), s1 = 0, s2 = 0, w2 = 0, wmax = 0;
	const float *fq = ps.data + ps.p[0].offset, *w = ps.data + ps.p[1].offset;
	for (int k = 0; k < Fd; k++)
		s1 += fq[k], s2 += (double)fq[k] * fq[k];
	for (size_t j = 0; j < ps.p[1].numel; j++) {
		w2 += (double)w[j] * w[j];
		if (fabs(w[j]) > wmax)
			wmax = fabs(w[j]);
	}
	double fsd = sqrt(s2 / Fd - (s1 / Fd) * (s1 / Fd)), wsd = sqrt(w2 / (double)ps.p[1].numel);
	CHECK(fabs(fsd - 1) < 0.35 && fabs(s1 / Fd) < 0.45 && wmax < bound && wmax > 0.99 * bound &&
		      fabs(wsd / (bound / sqrt(3.0)) - 1) < 0.01,
	      "numcond init: frequencies N(0,1) (sd %.3f), Linear U(+-1/sqrt(2F+1)) (max %.4g of %.4g, sd %.4g)", fsd,
	      wmax, bound, wsd);
	presto_params_free(&ps);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("PRESTO_FIXTURES");
	if (!dir || !*dir)
		dir = "../shared/conformance";
	test_t5_case("relu", 0);
	test_t5_case("gated-gelu", 1);
	test_t5_init();
	test_t5_fixture(dir, "t5_relu");
	test_t5_fixture(dir, "t5_gated");
	test_t5_fixture(dir, "t5_long");
	test_numcond();
	return check_status();
}

/* test_train_dit.c - lib/train_dit.c and lib/dit_init.c on a tiny model
 * (mkmodel-like sizes, EDM objective, T5 narrower than the conditioning so
 * that proj_out trains too) and synthetic latents with a learnable structure
 * (per prompt class: a constant per channel plus a sinusoid, plus noise):
 *   - the latent stream loads, splits and crops as documented;
 *   - the training coefficients reproduce D(x; s) = x0 for edm, v and rf;
 *   - the DiT init follows stable-audio-tools (zero branch outputs and
 *     convolutions, Linear bounds, N(0, 1) Fourier frequencies);
 *   - the gradient of the whole pipeline (T5, proj_out, number embedders,
 *     context masking and dropout, DiT) matches finite differences;
 *   - a short run lowers the validation loss;
 *   - an interrupted and resumed run equals the uninterrupted one bit for bit;
 *   - the exported directory loads (config, DiT, conditioning encoder),
 *     computes the trainer's EMA model's bits, generates latents of the
 *     prompted class with presto_generate, and fine-tunes (frozen T5);
 *   - full condition dropout leaves the text side without gradients.
 * Exit status 0 when every check passes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dit_init.h"
#include "ops.h"
#include "generate.h"
#include "rng.h"
#include "train_dit.h"

#include "check.h"

enum { C = 8, TREC = 36, TCROP = 32, K = 4, N_TRAIN = 48, N_VALID = 8 };
static const double RAW = 3.0; /* raw latent magnitude: the latent scale must find it */
static const char *prompts[K] = {"warm lofi piano", "fast techno drums", "slow sad cello solo",
				 "bright acoustic guitar"};
static char dir[256];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The class pattern, before RAW: channel constant mu + sinusoid. */
static double mu(int c, int ch) { return ch % K == c ? 1.0 : -1.0 / 3; }
static double pattern(int c, int ch, int t) { return mu(c, ch) + 0.5 * sin(0.35 * (c + 1) * t + ch); }

static int write_model(const char *d, const char *objective)
{
	char path[512];
	snprintf(path, sizeof path, "%s/captions.txt", d);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	static const char *extra[] = {"upbeat jazz trio with brushed drums", "dark ambient synth pad in D minor",
				      "funky electric bass and clavinet groove", "latin bossa nova with nylon guitar",
				      "cinematic strings and brass, epic", "reggae skank guitar and bass, 75 BPM"};
	for (int r = 0; r < 6; r++) {
		for (int i = 0; i < K; i++)
			fprintf(f, "%s\n", prompts[i]);
		for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
			fprintf(f, "%s\n", extra[i]);
	}
	fclose(f);
	char prefix[512];
	snprintf(prefix, sizeof prefix, "%s/tokenizer", d);
	if (presto_tokenizer_train(path, prefix, 80))
		return -1;
	remove(path);
	presto_tokenizer *tk;
	snprintf(path, sizeof path, "%s/tokenizer.model", d);
	if (presto_tokenizer_load(path, &tk))
		return -1;
	int vocab = presto_tokenizer_vocab_size(tk);
	presto_tokenizer_free(tk);
	snprintf(path, sizeof path, "%s/config.json", d);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f,
		"{\"model_type\": \"diffusion_cond\", \"sample_rate\": 44100, \"audio_channels\": 2,\n"
		" \"model\": {\"io_channels\": %d,\n"
		"  \"pretransform\": {\"type\": \"autoencoder\", \"scale\": 2.0, \"config\": {\n"
		"   \"encoder\": {\"type\": \"oobleck\", \"config\": {\"in_channels\": 2, \"channels\": 4, \"c_mults\": [1, 2], "
		"\"strides\": [4, 8], \"latent_dim\": %d, \"use_snake\": true}},\n"
		"   \"decoder\": {\"type\": \"oobleck\", \"config\": {\"out_channels\": 2, \"channels\": 4, \"c_mults\": [1, 2], "
		"\"strides\": [4, 8], \"latent_dim\": %d, \"use_snake\": true, \"final_tanh\": false}},\n"
		"   \"bottleneck\": {\"type\": \"vae\"}, \"latent_dim\": %d, \"downsampling_ratio\": 32, \"io_channels\": 2}},\n"
		"  \"conditioning\": {\"cond_dim\": 32, \"configs\": [\n"
		"   {\"id\": \"prompt\", \"type\": \"t5\", \"config\": {\"t5_model_name\": \"tiny\", \"max_length\": 8}},\n"
		"   {\"id\": \"seconds_start\", \"type\": \"number\", \"config\": {\"min_val\": 0, \"max_val\": 512}},\n"
		"   {\"id\": \"seconds_total\", \"type\": \"number\", \"config\": {\"min_val\": 0, \"max_val\": 512}}]},\n"
		"  \"diffusion\": {\"cross_attention_cond_ids\": [\"prompt\", \"seconds_start\", \"seconds_total\"],\n"
		"   \"global_cond_ids\": [\"seconds_start\", \"seconds_total\"], \"type\": \"dit\",\n"
		"   \"diffusion_objective\": \"%s\", \"sigma_data\": 0.5,\n"
		"   \"config\": {\"io_channels\": %d, \"embed_dim\": 64, \"depth\": 2, \"num_heads\": 2, \"cond_token_dim\": 32,\n"
		"    \"global_cond_dim\": 64, \"project_cond_tokens\": false, \"transformer_type\": \"continuous_transformer\"}}},\n"
		" \"presto\": {\"id\": \"train-test\",\n"
		"  \"t5_config\": {\"vocab_size\": %d, \"d_model\": 24, \"d_kv\": 12, \"num_heads\": 2, \"d_ff\": 48, "
		"\"num_layers\": 2, \"feed_forward_proj\": \"relu\"},\n"
		"  \"sampling\": {\"sampler\": \"heun\", \"steps\": 12, \"cfg_scale\": 1, \"schedule\": \"karras\", "
		"\"sigma_min\": 0.01, \"sigma_max\": 40, \"rho\": 7}}}\n",
		C, 2 * C, C, C, objective, C, vocab);
	return fclose(f) ? -1 : 0;
}

/* The stream: N_TRAIN training records (class i % K), N_VALID validation
 * ones; seconds_start omitted (defaults to 0). */
static FILE *write_stream(void)
{
	FILE *f = tmpfile();
	presto_stream_writer *w;
	if (!f || presto_stream_writer_open_file(f, "tmp", &w))
		return NULL;
	presto_stream_header h = {.kind = PRESTO_KIND_LATENT, .producer = "test"};
	float z[C * TREC], eps[C * TREC];
	presto_status st = presto_stream_write_header(w, &h);
	for (int r = 0; !st && r < N_TRAIN + N_VALID; r++) {
		int c = r % K;
		presto_randn(eps, C * TREC, 99, (uint64_t)r, 0);
		for (int ch = 0; ch < C; ch++)
			for (int t = 0; t < TREC; t++)
				z[ch * TREC + t] = (float)(RAW * (pattern(c, ch, t) + 0.1 * eps[ch * TREC + t]));
		presto_param p[3] = {presto_param_str("prompt", prompts[c]), presto_param_float("seconds_total", 10 + c),
				     presto_param_str("split", r < N_TRAIN ? "train" : "valid")};
		const char *name = "latent";
		presto_tensor t = presto_tensor_wrap(PRESTO_F32, 2, (int64_t[]){C, TREC}, z);
		presto_record rec = {.id = (uint64_t)r, .n_params = 3, .params = p, .n_tensors = 1,
				     .tensor_names = (char **)&name, .tensors = &t};
		st = presto_stream_write_record(w, &rec);
	}
	if (!st)
		st = presto_stream_write_end(w);
	presto_stream_writer_close(w);
	if (st)
		return NULL;
	rewind(f);
	return f;
}

static void test_coeffs(void)
{
	presto_precond_params pres[3] = {{PRESTO_PRECOND_EDM, 0.5}, {PRESTO_PRECOND_V, 1}, {PRESTO_PRECOND_RF, 0}};
	double worst = 0;
	for (int p = 0; p < 3; p++)
		for (double s = 1e-3; s < 2e3; s *= 3.7) {
			double a, b, ka, ke, t, cs, co, ci, tn;
			presto_dit_train_coeffs(&pres[p], s, &a, &b, &ka, &ke, &t);
			presto_precond_coeffs(&pres[p], s, &cs, &co, &ci, &tn);
			/* D = c_skip (x0 + s eps) + c_out (ka x0 + ke eps) must be x0 */
			double e1 = fabs(cs + co * ka - 1), e2 = fabs(cs * s + co * ke);
			double e3 = fabs(a - ci) + fabs(b - ci * s) + fabs(t - tn);
			double e = e1 > e2 ? e1 : e2;
			e = e > e3 ? e : e3;
			worst = e > worst ? e : worst;
		}
	CHECK(worst < 1e-12, "training targets give D(x; s) = x0 for edm, v, rf (worst error %.2g)", worst);
}

static void test_init(const presto_model_config *mc)
{
	presto_params ps;
	presto_params_init(&ps);
	presto_status rc = presto_dit_params(&mc->dit, "model.model.", &ps);
	if (!rc)
		rc = presto_params_alloc(&ps);
	if (!rc)
		rc = presto_dit_params_init(&ps, ps.data, &mc->dit, "model.model.", 5, 1);
	CHECK(!rc, "DiT random init runs (%s)", rc ? presto_error() : "ok");
	if (rc)
		return;
	const char *zeros[] = {"preprocess_conv.weight", "postprocess_conv.weight",
			       "transformer.layers.0.self_attn.to_out.weight", "transformer.layers.1.cross_attn.to_out.weight",
			       "transformer.layers.0.ff.ff.2.weight", "transformer.layers.1.ff.ff.2.bias"};
	int zero_ok = 1;
	for (size_t i = 0; i < sizeof zeros / sizeof zeros[0]; i++) {
		char name[256];
		snprintf(name, sizeof name, "model.model.%s", zeros[i]);
		int k = presto_params_find(&ps, name);
		for (size_t j = 0; k >= 0 && j < ps.p[k].numel; j++)
			zero_ok &= ps.data[ps.p[k].offset + j] == 0.0f;
		zero_ok &= k >= 0;
	}
	CHECK(zero_ok, "branch outputs and the 1x1 convolutions start at zero");
	struct {
		const char *name;
		double bound;
	} uni[] = {{"transformer.layers.0.self_attn.to_qkv.weight", 1 / 8.0},
		   {"to_timestep_embed.0.weight", 1 / 16.0},
		   {"to_timestep_embed.0.bias", 1 / 16.0},
		   {"transformer.layers.1.ff.ff.0.proj.bias", 1 / 8.0},
		   {"to_global_embed.0.weight", 1 / 8.0}};
	int uni_ok = 1;
	for (size_t i = 0; i < sizeof uni / sizeof uni[0]; i++) {
		char name[256];
		snprintf(name, sizeof name, "model.model.%s", uni[i].name);
		int k = presto_params_find(&ps, name);
		double mx = 0;
		for (size_t j = 0; k >= 0 && j < ps.p[k].numel; j++)
			mx = fmax(mx, fabs(ps.data[ps.p[k].offset + j]));
		/* max of n uniforms is close to the bound */
		uni_ok &= k >= 0 && mx <= uni[i].bound && mx > 0.8 * uni[i].bound;
		EXPECT(k >= 0 && mx <= uni[i].bound && mx > 0.8 * uni[i].bound, "%s: max |w| %g, bound %g", uni[i].name,
		       mx, uni[i].bound);
	}
	CHECK(uni_ok, "Linear weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))");
	int k = presto_params_find(&ps, "model.model.timestep_features.weight");
	double s2 = 0;
	for (size_t j = 0; j < ps.p[k].numel; j++)
		s2 += (double)ps.data[ps.p[k].offset + j] * ps.data[ps.p[k].offset + j];
	s2 = sqrt(s2 / (double)ps.p[k].numel);
	k = presto_params_find(&ps, "model.model.transformer.layers.0.pre_norm.gamma");
	CHECK(s2 > 0.8 && s2 < 1.2 && ps.data[ps.p[k].offset] == 1.0f,
	      "Fourier frequencies ~ N(0, 1) (rms %.3f), LayerNorm gamma 1", s2);
	presto_params_free(&ps);
}

static void base_opts(presto_dit_train_opts *o)
{
	presto_dit_train_opts_defaults(o, PRESTO_PRECOND_EDM);
	o->seed = 7;
	o->batch = 8;
	o->frames = TCROP;
	o->lr.lr = 3e-3;
	o->lr.warmup_steps = 10;
	o->ema_decay = 0.99;
	o->ema_warmup_power = 0.75;
}

static presto_dit_trainer *new_trainer(const presto_model_config *mc, const presto_latent_set *set,
				       const presto_dit_train_opts *o)
{
	presto_dit_trainer *tr = NULL;
	presto_status rc = presto_dit_trainer_new(mc, set, o, &tr);
	EXPECT(!rc, "trainer: %s", presto_error());
	return rc ? NULL : tr;
}

static int run_steps(presto_dit_trainer *tr, int n, double *losses)
{
	for (int i = 0; i < n; i++) {
		presto_dit_train_stats s;
		if (presto_dit_trainer_step(tr, &s)) {
			printf("FAIL step: %s\n", presto_error());
			failures++;
			return -1;
		}
		if (losses)
			losses[i] = s.loss;
	}
	return 0;
}

/* Finite differences of the whole pipeline's loss at a few parameters per
 * part, after some steps (the zero-initialised branch outputs would hide
 * the context's gradients at the start). */
static void test_fd(const presto_model_config *mc, const presto_latent_set *set)
{
	presto_dit_train_opts o;
	base_opts(&o);
	o.cond_dropout = 0.5; /* a batch with dropped and kept items */
	presto_dit_trainer *tr = new_trainer(mc, set, &o);
	if (!tr || run_steps(tr, 15, NULL))
		goto out;
	const presto_params *ps = presto_dit_trainer_params(tr);
	float *w = presto_dit_trainer_weights(tr);
	const char *names[] = {"conditioner.conditioners.prompt.proj_out.weight",
			       "conditioner.conditioners.prompt.proj_out.bias",
			       "t5.encoder.final_layer_norm.weight",
			       "t5.shared.weight",
			       "t5.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
			       "conditioner.conditioners.seconds_total.embedder.embedding.1.weight",
			       "conditioner.conditioners.seconds_total.embedder.embedding.0.weights",
			       "conditioner.conditioners.seconds_start.embedder.embedding.1.bias",
			       "model.model.to_cond_embed.0.weight",
			       "model.model.to_global_embed.0.weight",
			       "model.model.transformer.layers.1.cross_attn.to_kv.weight",
			       "model.model.transformer.layers.0.self_attn.to_qkv.weight"};
	double worst = 0;
	int n_checked = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		int k = presto_params_find(ps, names[i]);
		double loss;
		const float *g;
		if (k < 0 || presto_dit_trainer_grad(tr, &loss, &g)) {
			CHECK(0, "gradient of %s (%s)", names[i], k < 0 ? "not in the table" : presto_error());
			continue;
		}
		/* the element with the largest gradient */
		size_t best = ps->p[k].offset;
		for (size_t j = ps->p[k].offset; j < ps->p[k].offset + ps->p[k].numel; j++)
			if (fabsf(g[j]) > fabsf(g[best]))
				best = j;
		double an = g[best];
		float w0 = w[best];
		/* central differences at h, 2h and 4h: their spread measures the
		 * difference's own error (fp32 rounding of L over h), which
		 * matters for parameters whose gradient is near that floor (the
		 * seconds' Fourier frequencies: 4.01e-6, 4.43e-6, 3.74e-6 at h,
		 * 2h, 4h, analytic 3.98e-6). The analytic value must lie within
		 * 3% plus that spread of the range (a wrong gradient is off by
		 * O(1) where the differences agree to 1e-4). */
		double fd[3], lo = INFINITY, hi = -INFINITY;
		for (int m = 0; m < 3; m++) {
			double h = (1 << m) * 1e-2 * fmax(fabs(w0), 0.2), lp, lm;
			w[best] = (float)(w0 + h);
			double hp = (double)w[best] - w0;
			presto_dit_trainer_grad(tr, &lp, NULL);
			w[best] = (float)(w0 - h);
			double hm = w0 - (double)w[best];
			presto_dit_trainer_grad(tr, &lm, NULL);
			w[best] = w0;
			fd[m] = (lp - lm) / (hp + hm);
			lo = fmin(lo, fd[m]);
			hi = fmax(hi, fd[m]);
		}
		double out = fmax((an < lo ? lo - an : (an > hi ? an - hi : 0)) - (hi - lo), 0);
		double err = out / fmax(fabs(an), 1e-6);
		EXPECT(err < 0.03, "%s: analytic %.6g, finite differences %.6g (h) %.6g (2h) %.6g (4h)", names[i], an,
		       fd[0], fd[1], fd[2]);
		if (getenv("VERBOSE"))
			printf("     %-72s analytic %.6g, fd %.6g / %.6g / %.6g\n", names[i], an, fd[0], fd[1], fd[2]);
		worst = err > worst ? err : worst;
		n_checked++;
	}
	CHECK(n_checked == (int)(sizeof names / sizeof names[0]) && worst < 0.03,
	      "pipeline gradient = finite differences on %d parameters (worst relative error %.2g)", n_checked,
	      worst);
out:
	presto_dit_trainer_free(tr);
}

static void valid(presto_dit_trainer *tr, int ema, double *v)
{
	presto_status rc = presto_dit_trainer_validate(tr, ema, v, NULL, NULL);
	EXPECT(!rc, "validation: %s", presto_error());
}

static int class_of(const float *lat, double k, double *margin)
{
	/* nearest class by per-channel means (latents in DiT space = raw / k) */
	int best = -1;
	double bd = 1e300, bd2 = 1e300;
	for (int c = 0; c < K; c++) {
		double d = 0;
		for (int ch = 0; ch < C; ch++) {
			double m = 0;
			for (int t = 0; t < TCROP; t++)
				m += lat[ch * TCROP + t];
			m /= TCROP;
			double e = m - RAW * mu(c, ch) / k;
			d += e * e;
		}
		if (d < bd)
			bd2 = bd, bd = d, best = c;
		else if (d < bd2)
			bd2 = d;
	}
	if (margin)
		*margin = bd2 / bd;
	return best;
}

static void test_export(presto_dit_trainer *tr, const presto_model_config *mc0, const presto_latent_set *set,
			double val_ema)
{
	char out[512], out16[512];
	snprintf(out, sizeof out, "%s/exported", dir);
	snprintf(out16, sizeof out16, "%s/exported16", dir);
	presto_status rc = presto_dit_trainer_export(tr, out, PRESTO_F32, 1);
	CHECK(!rc, "export (f32, EMA) (%s)", rc ? presto_error() : "ok");
	rc = presto_dit_trainer_export(tr, out16, PRESTO_F16, 1);
	CHECK(!rc, "export (f16, EMA) (%s)", rc ? presto_error() : "ok");
	presto_model_config mc;
	rc = presto_model_config_load(out, &mc);
	CHECK(!rc, "exported config loads (%s)", rc ? presto_error() : "ok");
	if (rc)
		return;
	double k = presto_dit_trainer_latent_scale(tr);
	CHECK(fabs(mc.vae.scale - 2.0 * k) < 1e-5 * k, "exported pretransform scale = s0 * k (%g = 2 * %g)",
	      (double)mc.vae.scale, k);
	double ss = 0;
	for (int i = 0; i < set->n; i++)
		if (!strcmp(set->split[i], "train"))
			for (int j = 0; j < C * TREC; j++)
				ss += (double)((float *)set->lat)[set->off[i] + j] * ((float *)set->lat)[set->off[i] + j];
	double want = sqrt(ss / (N_TRAIN * C * TREC)) / 0.5;
	CHECK(fabs(k - want) < 1e-12 * want, "latent scale k = %.9g = RMS(training latents) / sigma_data", k);

	/* the loaded DiT computes the trainer's EMA model */
	presto_st *st = NULL, *st16 = NULL;
	presto_dit *dit = NULL, *dit16 = NULL, *bound = NULL;
	presto_model_config mc16;
	rc = presto_model_load_dit(&mc, &st, &dit);
	if (!rc)
		rc = presto_dit_bind(presto_dit_trainer_params(tr), presto_dit_trainer_ema(tr), "model.model.", &mc.dit,
				     &bound);
	if (!rc && !(rc = presto_model_config_load(out16, &mc16))) {
		rc = presto_model_load_dit(&mc16, &st16, &dit16);
		presto_model_config_free(&mc16);
	}
	CHECK(!rc, "exported DiT loads (f32 and f16) (%s)", rc ? presto_error() : "ok");
	if (!rc) {
		int S = 10, B = 2;
		float x[B * C * TCROP], t[2] = {0.1f, -0.4f}, cross[B * S * 32], glob[B * 64];
		float o1[B * C * TCROP], o2[B * C * TCROP], o3[B * C * TCROP];
		presto_randn(x, sizeof x / 4, 3, 0, 0);
		presto_randn(cross, sizeof cross / 4, 3, 1, 0);
		presto_randn(glob, sizeof glob / 4, 3, 2, 0);
		rc = presto_dit_forward(dit, o1, x, t, cross, S, glob, B, TCROP, NULL);
		if (!rc)
			rc = presto_dit_forward(bound, o2, x, t, cross, S, glob, B, TCROP, NULL);
		if (!rc)
			rc = presto_dit_forward(dit16, o3, x, t, cross, S, glob, B, TCROP, NULL);
		double e16 = 0, mx = 0;
		for (size_t i = 0; i < sizeof o1 / 4; i++) {
			e16 = fmax(e16, fabs(o3[i] - o1[i]));
			mx = fmax(mx, fabs(o1[i]));
		}
		CHECK(!rc && !memcmp(o1, o2, sizeof o1), "exported f32 DiT = the trainer's EMA DiT, bit for bit");
		CHECK(!rc && e16 < 2e-2 * mx, "exported f16 DiT within f16 rounding (max error %.2g of %.2g)", e16, mx);
	}
	/* buffers (the rotary frequencies) are exported in fp32, the values
	 * training used, whatever the weights' dtype */
	{
		char path[4200];
		snprintf(path, sizeof path, "%s/dit.safetensors", out16);
		presto_st *f = NULL;
		const presto_params *ps = presto_dit_trainer_params(tr);
		const float *w = presto_dit_trainer_ema(tr);
		int nbuf = 0, good = !presto_st_open(path, &f);
		for (int i = 0; good && i < ps->n; i++) {
			const presto_param_info *pi = &ps->p[i];
			if (pi->trainable || strncmp(pi->name, "model.", 6))
				continue;
			const presto_tensor *t = presto_st_get(f, pi->name);
			good = t && t->dtype == PRESTO_F32 && t->nbytes == 4 * pi->numel &&
			       !memcmp(t->data, w + pi->offset, t->nbytes);
			nbuf++;
		}
		CHECK(good && nbuf > 0, "an f16 export keeps its %d buffer(s) (rotary frequencies) in fp32, bit for bit",
		      nbuf);
		presto_st_close(f);
	}

	/* generation through the model directory's conditioning encoder */
	presto_cond_encoder *enc = NULL;
	if (!rc)
		rc = presto_cond_encoder_load(&mc, &enc);
	CHECK(!rc, "exported conditioning encoder loads (%s)", rc ? presto_error() : "ok");
	int right = 0;
	double worst_margin = 1e300;
	for (int c = 0; !rc && c < K; c++) {
		int S = presto_cond_encoder_seq_len(enc), G = presto_cond_encoder_global_dim(enc);
		float *cross = calloc((size_t)S * 32, 4), *glob = calloc((size_t)G + 1, 4), *lat = calloc(C * TCROP, 4);
		presto_cond_input in = {.prompt = prompts[c], .seconds_start = 0, .seconds_total = 10 + c, .bpm = -1};
		rc = presto_cond_encode(enc, &in, cross, NULL, glob);
		presto_gen_opts g = {.sampler = PRESTO_SAMPLER_HEUN, .steps = 12, .cfg_scale = 3.0, .sigma_min = 0.01,
				     .sigma_max = 40, .rho = 7, .seed = 100 + (uint64_t)c};
		snprintf(g.schedule, sizeof g.schedule, "karras");
		if (!rc)
			rc = presto_generate(dit, &mc, &g, cross, NULL, S, glob, TCROP, lat);
		double margin = 0;
		int got = rc ? -1 : class_of(lat, k, &margin);
		EXPECT(got == c, "prompt \"%s\" generated class %d", prompts[c], got);
		worst_margin = fmin(worst_margin, got == c ? margin : 0);
		right += got == c;
		free(cross);
		free(glob);
		free(lat);
	}
	CHECK(!rc && right == K,
	      "presto_generate with the exported model (heun, CFG 3): %d of %d prompts give their class (squared "
	      "distance to the next class >= %.1f x) (%s)",
	      right, K, worst_margin, rc ? presto_error() : "ok");
	presto_cond_encoder_free(enc);
	presto_dit_free(dit);
	presto_dit_free(dit16);
	presto_dit_free(bound);
	presto_st_close(st);
	presto_st_close(st16);

	/* fine-tuning the exported model, T5 frozen from its text file */
	presto_dit_train_opts o;
	base_opts(&o);
	o.init_from_model = 1;
	o.train_text = 0;
	presto_dit_trainer *ft = new_trainer(&mc, set, &o);
	if (ft) {
		double v;
		valid(ft, 0, &v);
		CHECK(fabs(v - val_ema) <= 1e-6 * val_ema,
		      "fine-tuning starts from the exported weights (validation %.9g, exported EMA %.9g)", v, val_ema);
		double l[3];
		CHECK(!run_steps(ft, 3, l) && isfinite(l[2]), "fine-tuning with a frozen T5 runs (loss %.4g)", l[2]);
		char out2[512];
		snprintf(out2, sizeof out2, "%s/finetuned", dir);
		presto_model_config mc2;
		presto_cond_encoder *e2 = NULL;
		rc = presto_dit_trainer_export(ft, out2, PRESTO_BF16, 0);
		if (!rc && !(rc = presto_model_config_load(out2, &mc2))) {
			rc = presto_cond_encoder_load(&mc2, &e2);
			presto_cond_encoder_free(e2);
			presto_model_config_free(&mc2);
		}
		CHECK(!rc, "a fine-tuned model (frozen T5 copied, bf16) exports and its encoder loads (%s)",
		      rc ? presto_error() : "ok");
	}
	presto_dit_trainer_free(ft);
	presto_model_config_free(&mc);
	(void)mc0;
}

typedef struct {
	int logs, valids;
} loop_count;

static void on_log(void *ctx, const presto_dit_train_stats *s)
{
	((loop_count *)ctx)->logs += s->step % 2 == 0 && isfinite(s->loss) && s->examples_per_s > 0;
}

static void on_valid(void *ctx, int64_t step, double loss, const double *per, const double *sig, int n)
{
	((loop_count *)ctx)->valids += n == 8 && isfinite(loss) && sig[0] < sig[n - 1];
}

static void test_learn_resume_export(const presto_model_config *mc, const presto_latent_set *set)
{
	presto_dit_train_opts o;
	base_opts(&o);
	/* learning */
	presto_dit_trainer *a = new_trainer(mc, set, &o);
	if (!a)
		return;
	CHECK(presto_dit_trainer_n_train(a) == N_TRAIN && presto_dit_trainer_n_valid(a) == N_VALID,
	      "splits: %d training, %d validation records", presto_dit_trainer_n_train(a),
	      presto_dit_trainer_n_valid(a));
	double v0, v0b, v1, v1l, losses[200];
	valid(a, 0, &v0);
	valid(a, 0, &v0b);
	CHECK(v0 == v0b, "validation is deterministic (%.9g)", v0);
	const int N = 100;
	double t0 = now_s();
	run_steps(a, N, losses);
	double dt = now_s() - t0;
	valid(a, 1, &v1);
	valid(a, 0, &v1l);
	double first = 0, last = 0;
	for (int i = 0; i < 10; i++)
		first += losses[i] / 10, last += losses[N - 10 + i] / 10;
	CHECK(v1 < 0.5 * v0 && last < 0.7 * first,
	      "%d steps lower the loss: validation %.4f -> %.4f (EMA), %.4f (live); training %.4f -> %.4f", N, v0, v1,
	      v1l, first, last);
	printf("info %d steps of batch 8 x %d frames in %.2f s: %.0f examples/s\n", N, TCROP, dt, N * 8 / dt);

	/* resume: 2M uninterrupted == M, checkpoint, fresh trainer, resume, M */
	const int M = 6;
	char ck[512];
	snprintf(ck, sizeof ck, "%s/ckpt", dir);
	presto_dit_trainer *u = new_trainer(mc, set, &o), *b = new_trainer(mc, set, &o), *c = new_trainer(mc, set, &o);
	double lu[2 * M], lb[M], lc[M];
	int ok = u && b && c && !run_steps(u, 2 * M, lu) && !run_steps(b, M, lb);
	presto_status rc = ok ? presto_dit_trainer_resume(c, ck) : PRESTO_EINVAL;
	CHECK(rc == PRESTO_EEOF, "resuming from an empty checkpoint directory says so (a fresh run)");
	rc = ok ? presto_dit_trainer_save(b, ck, 2, NULL) : PRESTO_EINVAL;
	if (!rc)
		rc = presto_dit_trainer_resume(c, ck);
	CHECK(!rc, "checkpoint saved and restored (%s)", rc ? presto_error() : "ok");
	if (!rc && !run_steps(c, M, lc)) {
		const presto_params *ps = presto_dit_trainer_params(u);
		size_t bytes = sizeof(float) * ps->total;
		int same_w = !memcmp(presto_dit_trainer_weights(u), presto_dit_trainer_weights(c), bytes);
		int same_e = !memcmp(presto_dit_trainer_ema(u), presto_dit_trainer_ema(c), bytes);
		int same_l = !memcmp(lu + M, lc, sizeof lc) && !memcmp(lu, lb, sizeof lb);
		double vu, vc;
		valid(u, 1, &vu);
		valid(c, 1, &vc);
		CHECK(same_w && same_e && same_l && vu == vc && presto_dit_trainer_step_count(c) == 2 * M,
		      "interrupted + resumed run == uninterrupted run bit for bit (weights %d, EMA %d, losses %d)", same_w,
		      same_e, same_l);
	}
	/* the loop: the same run with logging, validation and checkpoints */
	presto_dit_trainer *lp = new_trainer(mc, set, &o);
	loop_count cnt = {0};
	char ck2[512];
	snprintf(ck2, sizeof ck2, "%s/ckpt-loop", dir);
	presto_dit_train_loop l = {.steps = 2 * M, .log_every = 2, .valid_every = M, .ckpt_every = 4,
				   .ckpt_dir = ck2, .keep = 2, .log = on_log, .valid = on_valid, .ctx = &cnt};
	rc = lp ? presto_dit_trainer_run(lp, &l) : PRESTO_EINVAL;
	char *latest = NULL;
	int same = !rc && u && !memcmp(presto_dit_trainer_weights(u), presto_dit_trainer_weights(lp),
				       sizeof(float) * presto_dit_trainer_params(u)->total);
	if (!rc)
		rc = presto_checkpoint_latest(ck2, &latest);
	CHECK(!rc && same && cnt.logs == M && cnt.valids == 2 && latest && strstr(latest, "step-000012"),
	      "the loop: %d log and %d validation calls, final checkpoint %s, same weights as step by step (%s)",
	      cnt.logs, cnt.valids, latest ? latest : "-", rc ? presto_error() : "ok");
	free(latest);
	presto_dit_trainer_free(lp);
	presto_dit_trainer_free(u);
	presto_dit_trainer_free(b);
	presto_dit_trainer_free(c);

	test_export(a, mc, set, v1);
	presto_dit_trainer_free(a);
}

/* Every item's context dropped: no gradient reaches the text side. */
static void test_drop_all(const presto_model_config *mc, const presto_latent_set *set)
{
	presto_dit_train_opts o;
	base_opts(&o);
	o.cond_dropout = 1.0;
	o.cond_dropout = 0.0; /* first some steps with context, so that every path carries gradients */
	presto_dit_trainer *tr = new_trainer(mc, set, &o), *tr1;
	if (!tr || run_steps(tr, 10, NULL))
		goto out;
	char ck[512];
	snprintf(ck, sizeof ck, "%s/ckpt-drop", dir);
	o.cond_dropout = 1.0;
	o.allow_data_change = 0;
	tr1 = new_trainer(mc, set, &o);
	presto_status rc0 = tr1 ? presto_dit_trainer_save(tr, ck, 1, NULL) : PRESTO_EINVAL;
	if (!rc0)
		rc0 = presto_dit_trainer_resume(tr1, ck);
	presto_dit_trainer_free(tr);
	tr = tr1;
	if (rc0 || !tr) {
		CHECK(0, "dropout test setup (%s)", presto_error());
		goto out;
	}
	double loss;
	const float *g;
	presto_status rc = presto_dit_trainer_grad(tr, &loss, &g);
	const presto_params *ps = presto_dit_trainer_params(tr);
	double text = 0, num = 0, cond = 0;
	for (int i = 0; !rc && i < ps->n; i++) {
		double s = 0;
		for (size_t j = 0; j < ps->p[i].numel; j++)
			s += fabs(g[ps->p[i].offset + j]);
		if (!strncmp(ps->p[i].name, "t5.", 3) || strstr(ps->p[i].name, "proj_out"))
			text += s;
		else if (strstr(ps->p[i].name, "embedder"))
			num += s;
		else if (strstr(ps->p[i].name, "to_cond_embed"))
			cond += s;
	}
	CHECK(!rc && text == 0 && cond == 0 && num > 0,
	      "condition dropout 1: no gradient to T5, proj_out, to_cond_embed (%g, %g); the global numbers still "
	      "learn (%g)",
	      text, cond, num);
	/* and with context, they all get some */
	presto_dit_train_opts o2;
	base_opts(&o2);
	o2.cond_dropout = 0.0;
	presto_dit_trainer *t2 = new_trainer(mc, set, &o2);
	rc = t2 ? presto_dit_trainer_resume(t2, ck) : PRESTO_EINVAL;
	if (!rc)
		rc = presto_dit_trainer_grad(t2, &loss, &g);
	text = 0;
	for (int i = 0; !rc && i < ps->n; i++)
		if (!strncmp(ps->p[i].name, "t5.", 3) || strstr(ps->p[i].name, "proj_out"))
			for (size_t j = 0; j < ps->p[i].numel; j++)
				text += fabs(g[ps->p[i].offset + j]);
	CHECK(!rc && text > 0, "without dropout the text side gets gradients (%g)", text);
	presto_dit_trainer_free(t2);
out:
	presto_dit_trainer_free(tr);
}

/* v (uniform t) and rf (logit-normal t) train too; their latents are
 * normalised to RMS 1. */
static void test_objectives(const presto_latent_set *set)
{
	const char *obj[] = {"v", "rf"};
	for (int i = 0; i < 2; i++) {
		char d[512];
		snprintf(d, sizeof d, "%s/%s", dir, obj[i]);
		presto_model_config mc;
		presto_status rc = mkdir(d, 0777) || write_model(d, obj[i]) ? PRESTO_EIO : presto_model_config_load(d, &mc);
		CHECK(!rc, "%s model (%s)", obj[i], rc ? presto_error() : "ok");
		if (rc)
			continue;
		presto_dit_train_opts o;
		presto_dit_train_opts_defaults(&o, mc.precond.kind);
		o.seed = 3;
		o.frames = TCROP;
		o.lr.lr = 3e-3;
		o.lr.warmup_steps = 5;
		presto_dit_trainer *tr = new_trainer(&mc, set, &o);
		double v0 = 0, v1 = 0, k0 = 0;
		if (tr) {
			valid(tr, 0, &v0);
			run_steps(tr, 25, NULL);
			valid(tr, 0, &v1);
			k0 = presto_dit_trainer_latent_scale(tr);
		}
		CHECK(tr && v1 < 0.8 * v0,
		      "%s objective (%s noise): 25 steps lower the validation loss %.4f -> %.4f", obj[i],
		      presto_noise_dist_name(i ? PRESTO_NOISE_LOGIT_NORMAL : PRESTO_NOISE_UNIFORM), v0, v1);
		presto_dit_trainer_free(tr);
		/* edm's k is RMS / 0.5, these RMS / 1 */
		double ss = 0;
		for (int r = 0; r < set->n; r++)
			if (!strcmp(set->split[r], "train"))
				for (int j = 0; j < C * TREC; j++)
					ss += (double)((float *)set->lat)[set->off[r] + j] * ((float *)set->lat)[set->off[r] + j];
		double want = sqrt(ss / (N_TRAIN * C * TREC));
		CHECK(fabs(k0 - want) < 1e-12 * want, "%s: latent scale k = %.9g = RMS(training latents) / 1", obj[i], k0);
		presto_model_config_free(&mc);
	}
}

int main(void)
{
	presto_set_threads(1);
	snprintf(dir, sizeof dir, "/tmp/test_train_dit.XXXXXX");
	if (!mkdtemp(dir) || write_model(dir, "edm")) {
		printf("FAIL model directory: %s\n", presto_error());
		return 1;
	}
	presto_model_config mc;
	presto_status rc = presto_model_config_load(dir, &mc);
	CHECK(!rc, "test model config loads (%s)", rc ? presto_error() : "ok");
	if (rc)
		return check_status();
	FILE *f = write_stream();
	presto_latent_set set;
	presto_stream_reader *r = NULL;
	rc = f ? presto_stream_reader_open_file(f, "tmp", PRESTO_KIND_LATENT, &r) : PRESTO_EIO;
	if (!rc)
		rc = presto_latent_set_read(r, &mc, 0, &set);
	presto_stream_reader_close(r);
	CHECK(!rc && set.n == N_TRAIN + N_VALID && set.C == C && set.T_max == TREC && set.n_num == 2 &&
		      set.num[0] == 0 && set.num[1] == 10,
	      "latent stream read: %d records [%d, %d], seconds_start defaults to 0 (%s)", rc ? 0 : set.n, C, TREC,
	      rc ? presto_error() : "ok");
	if (rc)
		return check_status();
	/* the same stream held as halves */
	presto_latent_set h;
	rewind(f);
	rc = presto_stream_reader_open_file(f, "tmp", PRESTO_KIND_LATENT, &r);
	if (!rc)
		rc = presto_latent_set_read(r, &mc, 1, &h);
	presto_stream_reader_close(r);
	if (!rc) {
		float a[C * 4], b[C * 4];
		double e = 0;
		for (int i = 0; i < set.n; i++) {
			presto_latent_set_get(&set, i, 3, 4, a);
			presto_latent_set_get(&h, i, 3, 4, b);
			for (int j = 0; j < C * 4; j++)
				e = fmax(e, fabs(a[j] - b[j]) / fmax(fabs(a[j]), 1e-3));
		}
		CHECK(e < 1e-3 && h.checksum != set.checksum, "latents held as f16: windows within half rounding (%.2g)", e);
		presto_latent_set_free(&h);
	} else
		CHECK(0, "f16 latent set (%s)", presto_error());
	fclose(f);

	test_coeffs();
	test_init(&mc);
	test_fd(&mc, &set);
	test_drop_all(&mc, &set);
	test_learn_resume_export(&mc, &set);
	test_objectives(&set);

	presto_latent_set_free(&set);
	presto_model_config_free(&mc);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd))
		printf("warning: could not remove %s\n", dir);
	return check_status();
}

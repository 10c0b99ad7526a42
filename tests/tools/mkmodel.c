/* mkmodel.c - write a random-weight presto model directory for tests.
 *
 *   mkmodel DIR [--seed N] [--objective v|rf|edm] [--bpm] [--size tiny|sao-small|sao1] [--dtype f32|f16|bf16]
 *
 * config.json and tokenizer.model (trained on a few captions) first; the
 * weights then come from the models' own parameter tables (the names and
 * shapes every loader expects) with their training initialisers (T5 and
 * conditioners as HF / PyTorch construct them, the DiT as stable-audio-tools
 * does but without zero-initialised branches, so that every block acts),
 * and random weight-normalised convolutions for the VAE.
 * --size sao-small gives a DiT of Stable Audio Open Small's shape (1024 wide,
 * 16 blocks, 8 heads, qk LayerNorm, projected context, 768-wide conditioning,
 * 64 latent channels, 2048x VAE downsampling) for benchmarks; its text encoder
 * and VAE stay tiny. --size sao1 gives Stable Audio Open 1.0's shapes
 * throughout: a DiT 1536 wide with 24 blocks of 24 heads, grouped-query
 * cross-attention to 768-wide tokens, 1536-wide global conditioning; a
 * T5-base-shaped encoder (768 wide, 12 layers, 12 heads, d_ff 3072, 128
 * tokens); the 2048x VAE (128 channels, c_mults 1 2 4 8 16, strides 2 4 4 8
 * 8, 64 latent channels); sampling defaults of its reference recipe
 * (dpmpp-3m-sde, 100 steps, cfg 7, sigma 0.3 to 500). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rng.h"
#include "safetensors.h"
#include "dit_init.h"
#include "model.h"
#include "numcond.h"
#include "oobleck.h"
#include "params.h"
#include "t5.h"
#include "tokenizer.h"

/* Save table ps (its data) as DIR/file in dtype. */
static void save(const presto_params *ps, const char *dir, const char *file, presto_dtype dtype)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	if (presto_params_save(ps, ps->data, path, "", dtype, 0, 0, NULL)) {
		fprintf(stderr, "mkmodel: %s\n", presto_error());
		exit(2);
	}
}

static void check(presto_status st)
{
	if (st) {
		fprintf(stderr, "mkmodel: %s\n", presto_error());
		exit(2);
	}
}

static const char *captions[] = {
	"warm lofi piano, 80 BPM", "upbeat jazz trio with brushed drums, 120 BPM",
	"dark ambient synth pad in D minor", "bright acoustic guitar strumming, 100 BPM, major key",
	"fast drum and bass with heavy bass line, 174 BPM", "slow blues shuffle with organ, 70 BPM",
	"cinematic strings and brass, epic, 90 BPM", "funky electric bass and clavinet groove, 110 BPM",
	"latin bossa nova with nylon guitar, 130 BPM", "chill hip hop beat with vinyl crackle, 85 BPM",
	"rock ballad with distorted guitar in E major", "techno four on the floor kick, 128 BPM",
	"waltz on accordion in three four time", "reggae skank guitar and bass, 75 BPM",
	"solo cello melody, sad and slow", "country fiddle and banjo, 140 BPM",
};

int main(int argc, char **argv)
{
	const char *dir = NULL, *objective = "v";
	uint64_t seed = 1234;
	int bpm = 0, big = 0;
	presto_dtype dtype = PRESTO_F32;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--objective") && i + 1 < argc)
			objective = argv[++i];
		else if (!strcmp(argv[i], "--bpm"))
			bpm = 1;
		else if (!strcmp(argv[i], "--size") && i + 1 < argc && !strcmp(argv[i + 1], "tiny"))
			i++;
		else if (!strcmp(argv[i], "--size") && i + 1 < argc && !strcmp(argv[i + 1], "sao-small"))
			big = 1, i++;
		else if (!strcmp(argv[i], "--size") && i + 1 < argc && !strcmp(argv[i + 1], "sao1"))
			big = 2, i++;
		else if (!strcmp(argv[i], "--dtype") && i + 1 < argc && !presto_dtype_parse(argv[i + 1], &dtype) &&
			 (dtype == PRESTO_F32 || dtype == PRESTO_F16 || dtype == PRESTO_BF16))
			i++;
		else if (argv[i][0] != '-' && !dir)
			dir = argv[i];
		else {
			fprintf(stderr, "usage: mkmodel DIR [--seed N] [--objective v|rf|edm] [--bpm] [--size tiny|sao-small|sao1] [--dtype f32|f16|bf16]\n");
			return 1;
		}
	}
	if (!dir) {
		fprintf(stderr, "usage: mkmodel DIR [--seed N] [--objective v|rf|edm] [--bpm] [--size tiny|sao-small|sao1] [--dtype f32|f16|bf16]\n");
		return 1;
	}
	if (mkdir(dir, 0777) && errno != EEXIST) {
		fprintf(stderr, "mkmodel: %s: %s\n", dir, strerror(errno));
		return 2;
	}
	/* sizes */
	const int sao1 = big == 2;
	const int DM = sao1 ? 768 : 32, H5 = sao1 ? 12 : 2, DKV = sao1 ? 64 : 16, DFF = sao1 ? 3072 : 64;
	const int L5 = sao1 ? 12 : 2, MAXLEN = sao1 ? 128 : big ? 64 : 16;
	const int CD = big ? 768 : 32, C = big ? 64 : 8, D = sao1 ? 1536 : big ? 1024 : 64;
	const int DEPTH = sao1 ? 24 : big ? 16 : 3, HEADS = sao1 ? 24 : big ? 8 : 2;
	const int CH = sao1 ? 128 : 4, QKLN = big == 1, PROJ = big == 1;
	/* VAE blocks: c_mults and strides */
	const char *vae_cm = sao1 ? "1, 2, 4, 8, 16" : "1, 2, 4";
	const char *vae_st = sao1 ? "2, 4, 4, 8, 8" : big ? "4, 16, 32" : "4, 8, 8";
	const int ratio = sao1 || big ? 2048 : 256;
	int n_num = bpm ? 3 : 2, GD = CD * n_num;

	/* tokenizer */
	char path[4096], prefix[4096];
	snprintf(path, sizeof path, "%s/captions.txt", dir);
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return 2;
	}
	for (int r = 0; r < 4; r++)
		for (size_t i = 0; i < sizeof captions / sizeof captions[0]; i++)
			fprintf(f, "%s\n", captions[i]);
	fclose(f);
	snprintf(prefix, sizeof prefix, "%s/tokenizer", dir);
	if (presto_tokenizer_train(path, prefix, 96)) {
		fprintf(stderr, "mkmodel: %s\n", presto_error());
		return 2;
	}
	remove(path);
	snprintf(path, sizeof path, "%s/tokenizer.vocab", dir);
	remove(path);
	presto_tokenizer *tk;
	snprintf(path, sizeof path, "%s/tokenizer.model", dir);
	if (presto_tokenizer_load(path, &tk)) {
		fprintf(stderr, "mkmodel: %s\n", presto_error());
		return 2;
	}
	int vocab = presto_tokenizer_vocab_size(tk);
	presto_tokenizer_free(tk);

	/* config.json */
	snprintf(path, sizeof path, "%s/config.json", dir);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		return 2;
	}
	fprintf(f,
		"{\n  \"model_type\": \"diffusion_cond\",\n  \"sample_rate\": 44100,\n  \"audio_channels\": 2,\n"
		"  \"model\": {\n    \"io_channels\": %d,\n"
		"    \"pretransform\": {\"type\": \"autoencoder\", \"iterate_batch\": true, \"config\": {\n"
		"      \"encoder\": {\"type\": \"oobleck\", \"config\": {\"in_channels\": 2, \"channels\": %d, \"c_mults\": [%s], \"strides\": [%s], \"latent_dim\": %d, \"use_snake\": true}},\n"
		"      \"decoder\": {\"type\": \"oobleck\", \"config\": {\"out_channels\": 2, \"channels\": %d, \"c_mults\": [%s], \"strides\": [%s], \"latent_dim\": %d, \"use_snake\": true, \"final_tanh\": false}},\n"
		"      \"bottleneck\": {\"type\": \"vae\"}, \"latent_dim\": %d, \"downsampling_ratio\": %d, \"io_channels\": 2}},\n"
		"    \"conditioning\": {\"cond_dim\": %d, \"configs\": [\n"
		"      {\"id\": \"prompt\", \"type\": \"t5\", \"config\": {\"t5_model_name\": \"tiny\", \"max_length\": %d}},\n"
		"      {\"id\": \"seconds_start\", \"type\": \"number\", \"config\": {\"min_val\": 0, \"max_val\": 512}},\n"
		"      {\"id\": \"seconds_total\", \"type\": \"number\", \"config\": {\"min_val\": 0, \"max_val\": 512}}%s]},\n"
		"    \"diffusion\": {\"cross_attention_cond_ids\": [\"prompt\", \"seconds_start\", \"seconds_total\"%s],\n"
		"      \"global_cond_ids\": [\"seconds_start\", \"seconds_total\"%s], \"type\": \"dit\", \"diffusion_objective\": \"%s\",\n"
		"      \"config\": {\"io_channels\": %d, \"embed_dim\": %d, \"depth\": %d, \"num_heads\": %d, \"cond_token_dim\": %d,\n"
		"        \"global_cond_dim\": %d, \"project_cond_tokens\": %s, \"transformer_type\": \"continuous_transformer\"%s}}\n"
		"  },\n"
		"  \"presto\": {\"id\": \"presto-test-%s\", \"description\": \"random weights, for tests only\",\n"
		"    \"t5_config\": {\"vocab_size\": %d, \"d_model\": %d, \"d_kv\": %d, \"num_heads\": %d, \"d_ff\": %d, \"num_layers\": %d, \"feed_forward_proj\": \"relu\", \"relative_attention_num_buckets\": 32, \"relative_attention_max_distance\": 128, \"layer_norm_epsilon\": 1e-06},\n"
		"    \"sampling\": {\"sampler\": \"%s\", \"steps\": %d, \"cfg_scale\": %s, \"schedule\": \"%s\", \"sigma_min\": %s, \"sigma_max\": %s, \"rho\": %s}}\n"
		"}\n",
		C, CH, vae_cm, vae_st, 2 * C, CH, vae_cm, vae_st, C, C, ratio, CD, MAXLEN,
		bpm ? ",\n      {\"id\": \"bpm\", \"type\": \"number\", \"config\": {\"min_val\": 0, \"max_val\": 300}}" : "",
		bpm ? ", \"bpm\"" : "", bpm ? ", \"bpm\"" : "", objective, C, D, DEPTH, HEADS, CD, GD, PROJ ? "true" : "false",
		QKLN ? ", \"attn_kwargs\": {\"qk_norm\": \"ln\"}" : "", sao1 ? "sao1" : big ? "sao-small" : "tiny", vocab, DM, DKV,
		H5, DFF, L5, !strcmp(objective, "rf") ? "pingpong" : "dpmpp-3m-sde", sao1 ? 100 : 8,
		!strcmp(objective, "rf") ? "1" : sao1 ? "7" : "4.5", !strcmp(objective, "rf") ? "rf" : sao1 ? "polyexponential" : "karras",
		sao1 ? "0.3" : "0.03", sao1 ? "500" : "80", sao1 ? "1" : "7");
	if (fclose(f)) {
		perror(path);
		return 2;
	}

	/* the weights, from the tables the loaders read */
	presto_model_config c;
	check(presto_model_config_load(dir, &c));
	presto_params ps;

	/* text.safetensors: T5 (+ projection to cond_dim) and number conditioners */
	presto_params_init(&ps);
	check(presto_t5_params(&c.t5, c.t5_prefix, &ps));
	const char *cc = "conditioner.conditioners.";
	for (int i = 0; i < c.n_conds; i++)
		if (!c.conds[i].is_text)
			check(presto_numcond_params(cc, c.conds[i].id, 128, c.cond_dim, &ps));
	if (c.t5.d_model != c.cond_dim) {
		if (presto_params_add(&ps, "conditioner.conditioners.prompt.proj_out.weight", 2,
				      (int64_t[]){c.cond_dim, c.t5.d_model}, 1, 1) < 0 ||
		    presto_params_add(&ps, "conditioner.conditioners.prompt.proj_out.bias", 1, (int64_t[]){c.cond_dim}, 1,
				      0) < 0)
			check(PRESTO_EINVAL);
	}
	check(presto_params_alloc(&ps));
	check(presto_t5_params_init(&c.t5, c.t5_prefix, &ps, ps.data, seed, 1.0f));
	for (int i = 0; i < c.n_conds; i++)
		if (!c.conds[i].is_text)
			check(presto_numcond_params_init(&ps, ps.data, cc, c.conds[i].id, seed));
	float *pw = presto_params_ptr(&ps, ps.data, "conditioner.conditioners.prompt.proj_out.weight");
	if (pw) {
		size_t n = (size_t)c.cond_dim * (size_t)c.t5.d_model;
		presto_randn(pw, n, seed, 77, 0);
		for (size_t k = 0; k < n; k++)
			pw[k] /= sqrtf((float)c.t5.d_model);
	}
	save(&ps, dir, "text.safetensors", dtype);
	presto_params_free(&ps);

	/* dit.safetensors: every block acts (no zero-initialised branch outputs) */
	presto_params_init(&ps);
	check(presto_dit_params(&c.dit, "model.model.", &ps));
	check(presto_params_alloc(&ps));
	check(presto_dit_params_init(&ps, ps.data, &c.dit, "model.model.", seed, 0));
	save(&ps, dir, "dit.safetensors", dtype);
	presto_params_free(&ps);

	/* vae.safetensors: weight_v ~ N(0, 1), weight_g ~ 0.5 +- 0.1, biases and Snake 0 */
	presto_params_init(&ps);
	check(presto_oobleck_params(&c.vae, "pretransform.model.", 1, 1, &ps));
	check(presto_params_alloc(&ps));
	for (int i = 0; i < ps.n; i++) {
		float *d = ps.data + ps.p[i].offset;
		size_t n = ps.p[i].numel, l = strlen(ps.p[i].name);
		int is_v = l > 8 && !strcmp(ps.p[i].name + l - 8, "weight_v");
		int is_g = l > 8 && !strcmp(ps.p[i].name + l - 8, "weight_g");
		if (is_v || is_g)
			presto_randn(d, n, seed, 1000 + (uint64_t)i, 0);
		for (size_t k = 0; is_g && k < n; k++)
			d[k] = 0.5f + 0.1f * d[k];
	}
	save(&ps, dir, "vae.safetensors", dtype);
	presto_params_free(&ps);
	presto_model_config_free(&c);
	return 0;
}

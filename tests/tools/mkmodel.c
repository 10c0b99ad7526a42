/* mkmodel.c - write a tiny random-weight presto model directory for tests.
 *
 *   mkmodel DIR [--seed N] [--objective v|rf|edm] [--bpm] [--size tiny|sao-small] [--dtype f32|f16]
 *
 * config.json, tokenizer.model (trained on a few captions), text, dit and vae
 * safetensors with SAO key names; weights ~ N(0, 1/fan_in), norms at 1.
 * --size sao-small gives a DiT of Stable Audio Open Small's shape (1024 wide,
 * 16 blocks, 8 heads, qk LayerNorm, projected context, 768-wide conditioning,
 * 64 latent channels, 2048x VAE downsampling) for benchmarks; its text encoder
 * and VAE stay tiny. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rng.h"
#include "safetensors.h"
#include "tokenizer.h"

enum { INIT_FANIN, INIT_ONE, INIT_ZERO, INIT_NORMAL, INIT_SMALL, INIT_UNIFORM_G };

typedef struct {
	int n;
	char *names[4096];
	presto_tensor t[4096];
	uint64_t seed;
	presto_dtype dtype;
} params;

static void add(params *p, int init, int ndim, const int64_t *shape, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void add(params *p, int init, int ndim, const int64_t *shape, const char *fmt, ...)
{
	char name[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	presto_tensor *t = &p->t[p->n];
	if (presto_tensor_alloc(t, PRESTO_F32, ndim, shape)) {
		fprintf(stderr, "mkmodel: %s\n", presto_error());
		exit(2);
	}
	size_t n = presto_tensor_numel(t);
	float *d = t->data;
	double fan_in = ndim >= 2 ? (double)shape[1] * (ndim == 3 ? (double)shape[2] : 1.0) : 1.0;
	presto_randn(d, n, p->seed, (uint64_t)p->n + 1000, 0);
	for (size_t i = 0; i < n; i++) {
		switch (init) {
		case INIT_FANIN: d[i] *= (float)(1.0 / sqrt(fan_in)); break;
		case INIT_ONE: d[i] = 1.0f; break;
		case INIT_ZERO: d[i] = 0.0f; break;
		case INIT_NORMAL: break;
		case INIT_SMALL: d[i] *= 0.1f; break;
		case INIT_UNIFORM_G: d[i] = 0.5f + 0.1f * d[i]; break;
		}
	}
	p->names[p->n++] = strdup(name);
}

static void write_params(params *p, const char *dir, const char *file)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	for (int i = 0; i < p->n && p->dtype != PRESTO_F32; i++) {
		presto_tensor h;
		if (presto_tensor_alloc(&h, p->dtype, p->t[i].ndim, p->t[i].shape) ||
		    presto_f32_convert(h.data, p->dtype, p->t[i].data, presto_tensor_numel(&h))) {
			fprintf(stderr, "mkmodel: %s\n", presto_error());
			exit(2);
		}
		presto_tensor_free(&p->t[i]);
		p->t[i] = h;
	}
	if (presto_st_write(path, p->n, (const char *const *)p->names, p->t, 0, NULL)) {
		fprintf(stderr, "mkmodel: %s\n", presto_error());
		exit(2);
	}
	for (int i = 0; i < p->n; i++) {
		free(p->names[i]);
		presto_tensor_free(&p->t[i]);
	}
	p->n = 0;
}

#define S(...) ((const int64_t[]){__VA_ARGS__})

/* WNConv1d / WNConvTranspose1d: weight_g over dim 0 of weight_v */
static void wnconv(params *p, const char *pre, int d0, int d1, int k, int bias, int bias_dim)
{
	add(p, INIT_UNIFORM_G, 3, S(d0, 1, 1), "%s.weight_g", pre);
	add(p, INIT_NORMAL, 3, S(d0, d1, k), "%s.weight_v", pre);
	if (bias)
		add(p, INIT_ZERO, 1, S(bias_dim), "%s.bias", pre);
}

static void snake(params *p, const char *pre, int c)
{
	add(p, INIT_ZERO, 1, S(c), "%s.alpha", pre);
	add(p, INIT_ZERO, 1, S(c), "%s.beta", pre);
}

static void resunit(params *p, const char *pre, int c)
{
	char n[256];
	snprintf(n, sizeof n, "%s.layers.0", pre);
	snake(p, n, c);
	snprintf(n, sizeof n, "%s.layers.1", pre);
	wnconv(p, n, c, c, 7, 1, c);
	snprintf(n, sizeof n, "%s.layers.2", pre);
	snake(p, n, c);
	snprintf(n, sizeof n, "%s.layers.3", pre);
	wnconv(p, n, c, c, 1, 1, c);
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
		else if (!strcmp(argv[i], "--dtype") && i + 1 < argc && !presto_dtype_parse(argv[i + 1], &dtype) &&
			 (dtype == PRESTO_F32 || dtype == PRESTO_F16 || dtype == PRESTO_BF16))
			i++;
		else if (argv[i][0] != '-' && !dir)
			dir = argv[i];
		else {
			fprintf(stderr, "usage: mkmodel DIR [--seed N] [--objective v|rf|edm] [--bpm] [--size tiny|sao-small] [--dtype f32|f16|bf16]\n");
			return 1;
		}
	}
	if (!dir) {
		fprintf(stderr, "usage: mkmodel DIR [--seed N] [--objective v|rf|edm] [--bpm] [--size tiny|sao-small] [--dtype f32|f16|bf16]\n");
		return 1;
	}
	if (mkdir(dir, 0777) && errno != EEXIST) {
		fprintf(stderr, "mkmodel: %s: %s\n", dir, strerror(errno));
		return 2;
	}
	/* sizes */
	const int DM = 32, H5 = 2, DKV = 16, DFF = 64, L5 = 2, MAXLEN = big ? 64 : 16;
	const int CD = big ? 768 : 32, C = big ? 64 : 8, D = big ? 1024 : 64, DEPTH = big ? 16 : 3, HEADS = big ? 8 : 2;
	const int CH = 4, QKLN = big, PROJ = big;
	const int cm[] = {1, 2, 4}, st[] = {4, big ? 16 : 8, big ? 32 : 8}, NB = 3;
	int n_num = bpm ? 3 : 2, GD = CD * n_num, CE = PROJ ? D : CD; /* context width seen by cross-attention */
	params p = {.seed = seed, .dtype = dtype};

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

	/* text.safetensors: T5 + number conditioners */
	add(&p, INIT_NORMAL, 2, S(vocab, DM), "t5.shared.weight");
	for (int b = 0; b < L5; b++) {
		const char *qkv[] = {"q", "k", "v"};
		for (int i = 0; i < 3; i++)
			add(&p, INIT_FANIN, 2, S(H5 * DKV, DM), "t5.encoder.block.%d.layer.0.SelfAttention.%s.weight", b, qkv[i]);
		add(&p, INIT_FANIN, 2, S(DM, H5 * DKV), "t5.encoder.block.%d.layer.0.SelfAttention.o.weight", b);
		if (b == 0)
			add(&p, INIT_NORMAL, 2, S(32, H5), "t5.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
		add(&p, INIT_ONE, 1, S(DM), "t5.encoder.block.%d.layer.0.layer_norm.weight", b);
		add(&p, INIT_ONE, 1, S(DM), "t5.encoder.block.%d.layer.1.layer_norm.weight", b);
		add(&p, INIT_FANIN, 2, S(DFF, DM), "t5.encoder.block.%d.layer.1.DenseReluDense.wi.weight", b);
		add(&p, INIT_FANIN, 2, S(DM, DFF), "t5.encoder.block.%d.layer.1.DenseReluDense.wo.weight", b);
	}
	add(&p, INIT_ONE, 1, S(DM), "t5.encoder.final_layer_norm.weight");
	if (DM != CD) {
		add(&p, INIT_FANIN, 2, S(CD, DM), "conditioner.conditioners.prompt.proj_out.weight");
		add(&p, INIT_ZERO, 1, S(CD), "conditioner.conditioners.prompt.proj_out.bias");
	}
	const char *nums[] = {"seconds_start", "seconds_total", "bpm"};
	for (int i = 0; i < n_num; i++) {
		add(&p, INIT_NORMAL, 1, S(128), "conditioner.conditioners.%s.embedder.embedding.0.weights", nums[i]);
		add(&p, INIT_FANIN, 2, S(CD, 257), "conditioner.conditioners.%s.embedder.embedding.1.weight", nums[i]);
		add(&p, INIT_SMALL, 1, S(CD), "conditioner.conditioners.%s.embedder.embedding.1.bias", nums[i]);
	}
	write_params(&p, dir, "text.safetensors");

	/* dit.safetensors (SAO 1.0 layout: project_cond_tokens false) */
	const char *m = "model.model.";
	int dh = D / HEADS, rot = dh / 2 > 32 ? dh / 2 : 32;
	if (rot > dh)
		rot = dh;
	add(&p, INIT_FANIN, 3, S(C, C, 1), "%spreprocess_conv.weight", m);
	add(&p, INIT_FANIN, 3, S(C, C, 1), "%spostprocess_conv.weight", m);
	add(&p, INIT_NORMAL, 2, S(128, 1), "%stimestep_features.weight", m);
	add(&p, INIT_FANIN, 2, S(CE, CD), "%sto_cond_embed.0.weight", m);
	add(&p, INIT_FANIN, 2, S(CE, CE), "%sto_cond_embed.2.weight", m);
	add(&p, INIT_FANIN, 2, S(D, GD), "%sto_global_embed.0.weight", m);
	add(&p, INIT_FANIN, 2, S(D, D), "%sto_global_embed.2.weight", m);
	add(&p, INIT_FANIN, 2, S(D, 256), "%sto_timestep_embed.0.weight", m);
	add(&p, INIT_ZERO, 1, S(D), "%sto_timestep_embed.0.bias", m);
	add(&p, INIT_FANIN, 2, S(D, D), "%sto_timestep_embed.2.weight", m);
	add(&p, INIT_ZERO, 1, S(D), "%sto_timestep_embed.2.bias", m);
	for (int b = 0; b < DEPTH; b++) {
		const char *norms[] = {"pre_norm", "cross_attend_norm", "ff_norm"};
		for (int i = 0; i < 3; i++) {
			add(&p, INIT_ONE, 1, S(D), "%stransformer.layers.%d.%s.gamma", m, b, norms[i]);
			add(&p, INIT_ZERO, 1, S(D), "%stransformer.layers.%d.%s.beta", m, b, norms[i]);
		}
		add(&p, INIT_FANIN, 2, S(3 * D, D), "%stransformer.layers.%d.self_attn.to_qkv.weight", m, b);
		add(&p, INIT_FANIN, 2, S(D, D), "%stransformer.layers.%d.self_attn.to_out.weight", m, b);
		add(&p, INIT_FANIN, 2, S(D, D), "%stransformer.layers.%d.cross_attn.to_q.weight", m, b);
		add(&p, INIT_FANIN, 2, S(2 * CE, CE), "%stransformer.layers.%d.cross_attn.to_kv.weight", m, b);
		const char *attn[] = {"self_attn", "cross_attn"}, *qk[] = {"q_norm", "k_norm"};
		for (int a = 0; QKLN && a < 2; a++)
			for (int q = 0; q < 2; q++) {
				add(&p, INIT_ONE, 1, S(dh), "%stransformer.layers.%d.%s.%s.weight", m, b, attn[a], qk[q]);
				add(&p, INIT_ZERO, 1, S(dh), "%stransformer.layers.%d.%s.%s.bias", m, b, attn[a], qk[q]);
			}
		add(&p, INIT_FANIN, 2, S(D, D), "%stransformer.layers.%d.cross_attn.to_out.weight", m, b);
		add(&p, INIT_FANIN, 2, S(8 * D, D), "%stransformer.layers.%d.ff.ff.0.proj.weight", m, b);
		add(&p, INIT_ZERO, 1, S(8 * D), "%stransformer.layers.%d.ff.ff.0.proj.bias", m, b);
		add(&p, INIT_FANIN, 2, S(D, 4 * D), "%stransformer.layers.%d.ff.ff.2.weight", m, b);
		add(&p, INIT_ZERO, 1, S(D), "%stransformer.layers.%d.ff.ff.2.bias", m, b);
	}
	add(&p, INIT_FANIN, 2, S(D, C), "%stransformer.project_in.weight", m);
	add(&p, INIT_FANIN, 2, S(C, D), "%stransformer.project_out.weight", m);
	add(&p, INIT_ZERO, 1, S(rot / 2), "%stransformer.rotary_pos_emb.inv_freq", m);
	float *inv = p.t[p.n - 1].data;
	for (int j = 0; j < rot / 2; j++)
		inv[j] = (float)(1.0 / pow(10000.0, (2.0 * j) / rot));
	write_params(&p, dir, "dit.safetensors");

	/* vae.safetensors */
	char n[256];
	const char *e = "pretransform.model.encoder.layers", *dcd = "pretransform.model.decoder.layers";
	snprintf(n, sizeof n, "%s.0", e);
	wnconv(&p, n, CH * cm[0], 2, 7, 1, CH * cm[0]);
	int in_m[4] = {1, cm[0], cm[1], cm[2]};
	for (int b = 0; b < NB; b++) {
		int ci = CH * in_m[b], co = CH * in_m[b + 1];
		for (int r = 0; r < 3; r++) {
			snprintf(n, sizeof n, "%s.%d.layers.%d", e, b + 1, r);
			resunit(&p, n, ci);
		}
		snprintf(n, sizeof n, "%s.%d.layers.3", e, b + 1);
		snake(&p, n, ci);
		snprintf(n, sizeof n, "%s.%d.layers.4", e, b + 1);
		wnconv(&p, n, co, ci, 2 * st[b], 1, co);
	}
	snprintf(n, sizeof n, "%s.%d", e, NB + 1);
	snake(&p, n, CH * cm[NB - 1]);
	snprintf(n, sizeof n, "%s.%d", e, NB + 2);
	wnconv(&p, n, 2 * C, CH * cm[NB - 1], 3, 1, 2 * C);
	snprintf(n, sizeof n, "%s.0", dcd);
	wnconv(&p, n, CH * cm[NB - 1], C, 7, 1, CH * cm[NB - 1]);
	for (int b = NB; b >= 1; b--) {
		int ci = CH * in_m[b], co = CH * in_m[b - 1];
		int li = NB - b + 1;
		snprintf(n, sizeof n, "%s.%d.layers.0", dcd, li);
		snake(&p, n, ci);
		snprintf(n, sizeof n, "%s.%d.layers.1", dcd, li);
		wnconv(&p, n, ci, co, 2 * st[b - 1], 1, co);
		for (int r = 0; r < 3; r++) {
			snprintf(n, sizeof n, "%s.%d.layers.%d", dcd, li, r + 2);
			resunit(&p, n, co);
		}
	}
	snprintf(n, sizeof n, "%s.%d", dcd, NB + 1);
	snake(&p, n, CH);
	snprintf(n, sizeof n, "%s.%d", dcd, NB + 2);
	wnconv(&p, n, 2, CH, 7, 0, 0);
	write_params(&p, dir, "vae.safetensors");

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
		"      \"encoder\": {\"type\": \"oobleck\", \"config\": {\"in_channels\": 2, \"channels\": %d, \"c_mults\": [%d, %d, %d], \"strides\": [%d, %d, %d], \"latent_dim\": %d, \"use_snake\": true}},\n"
		"      \"decoder\": {\"type\": \"oobleck\", \"config\": {\"out_channels\": 2, \"channels\": %d, \"c_mults\": [%d, %d, %d], \"strides\": [%d, %d, %d], \"latent_dim\": %d, \"use_snake\": true, \"final_tanh\": false}},\n"
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
		"  \"presto\": {\"id\": \"presto-test-tiny\", \"description\": \"random weights, for tests only\",\n"
		"    \"t5_config\": {\"vocab_size\": %d, \"d_model\": %d, \"d_kv\": %d, \"num_heads\": %d, \"d_ff\": %d, \"num_layers\": %d, \"feed_forward_proj\": \"relu\", \"relative_attention_num_buckets\": 32, \"relative_attention_max_distance\": 128, \"layer_norm_epsilon\": 1e-06},\n"
		"    \"sampling\": {\"sampler\": \"%s\", \"steps\": 8, \"cfg_scale\": %s, \"schedule\": \"%s\", \"sigma_min\": 0.03, \"sigma_max\": 80, \"rho\": 7}}\n"
		"}\n",
		C, CH, cm[0], cm[1], cm[2], st[0], st[1], st[2], 2 * C, CH, cm[0], cm[1], cm[2], st[0], st[1], st[2], C,
		C, st[0] * st[1] * st[2], CD, MAXLEN,
		bpm ? ",\n      {\"id\": \"bpm\", \"type\": \"number\", \"config\": {\"min_val\": 0, \"max_val\": 300}}" : "",
		bpm ? ", \"bpm\"" : "", bpm ? ", \"bpm\"" : "", objective, C, D, DEPTH, HEADS, CD, GD, PROJ ? "true" : "false",
		QKLN ? ", \"attn_kwargs\": {\"qk_norm\": \"ln\"}" : "", vocab, DM, DKV,
		H5, DFF, L5, !strcmp(objective, "rf") ? "pingpong" : "dpmpp-3m-sde",
		!strcmp(objective, "rf") ? "1" : "4.5", !strcmp(objective, "rf") ? "rf" : "karras");
	if (fclose(f)) {
		perror(path);
		return 2;
	}
	return 0;
}

/* mksaockpt.c - a fake stable-audio-tools checkpoint built from the
 * conformance fixtures, to test presto-import without downloads; and a
 * tensor-by-tensor comparison of two safetensors files.
 *
 *   mksaockpt FIXTURES OUTDIR
 *     OUTDIR/model.safetensors   model.model.* and conditioner.conditioners.*
 *                                of dit_sao, pretransform.model.* of oobleck,
 *                                a random prompt proj_out (T5 width ->
 *                                cond_dim) and a few keys the importer ignores
 *     OUTDIR/model_config.json   dit_sao's model_config with oobleck's
 *                                pretransform and a t5 "prompt" conditioner
 *     OUTDIR/t5/config.json, model.safetensors, spiece.model
 *                                t5_relu's T5 (plus a decoder tensor to drop)
 *                                and a SentencePiece model trained here
 *
 *   mksaockpt --compare A B [PREFIX_A PREFIX_B]
 *     every tensor of A named PREFIX_A<rest> is in B as PREFIX_B<rest> with
 *     the same dtype, shape and bytes (prefixes default to ""); exits 0 when
 *     all of them match and there is at least one, 1 otherwise. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rng.h"
#include "safetensors.h"
#include "tokenizer.h"

#define MAXT 4096

static void die(const char *what)
{
	fprintf(stderr, "mksaockpt: %s\n", what);
	exit(2);
}

static void check(presto_status st)
{
	if (st)
		die(presto_error());
}

typedef struct {
	int n;
	const char *names[MAXT];
	presto_tensor t[MAXT];
	presto_tensor owned[16];
	int n_owned;
} outlist;

static void add(outlist *o, const char *name, const presto_tensor *t)
{
	if (o->n == MAXT)
		die("too many tensors");
	o->names[o->n] = name;
	o->t[o->n++] = *t;
}

/* Add a new owned F32 tensor filled with N(0, 1) * scale. */
static void add_random(outlist *o, const char *name, int ndim, const int64_t *shape, uint64_t stream, float scale)
{
	presto_tensor *t = &o->owned[o->n_owned++];
	check(presto_tensor_alloc(t, PRESTO_F32, ndim, shape));
	float *d = t->data;
	size_t n = presto_tensor_numel(t);
	presto_randn(d, n, 20240607, stream, 0);
	for (size_t i = 0; i < n; i++)
		d[i] *= scale;
	add(o, name, t);
}

static void write_out(outlist *o, const char *path)
{
	check(presto_st_write(path, o->n, o->names, o->t, 0, NULL));
	for (int i = 0; i < o->n_owned; i++)
		presto_tensor_free(&o->owned[i]);
	memset(o, 0, sizeof *o);
}

/* Every tensor of st whose name starts with one of the prefixes. */
static void add_prefixed(outlist *o, presto_st *st, const char *p1, const char *p2)
{
	for (int i = 0; i < presto_st_count(st); i++) {
		const char *name = presto_st_name(st, i);
		if ((p1 && !strncmp(name, p1, strlen(p1))) || (p2 && !strncmp(name, p2, strlen(p2))))
			add(o, name, presto_st_get(st, name));
	}
}

static json_t *load(const char *dir, const char *file)
{
	char path[4200];
	json_error_t e;
	snprintf(path, sizeof path, "%s/%s", dir, file);
	json_t *j = json_load_file(path, 0, &e);
	if (!j) {
		fprintf(stderr, "mksaockpt: %s: %s\n", path, e.text);
		exit(2);
	}
	return j;
}

static int geti(json_t *o, const char *path)
{
	char buf[256], *save, *k;
	snprintf(buf, sizeof buf, "%s", path);
	for (k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		o = json_object_get(o, k);
	if (!json_is_integer(o)) {
		fprintf(stderr, "mksaockpt: fixture JSON lacks integer %s\n", path);
		exit(2);
	}
	return (int)json_integer_value(o);
}

static void dump(json_t *j, const char *dir, const char *file)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	if (json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(15)))
		die("cannot write a JSON file");
}

static const char *captions[] = {
	"warm lofi piano, 80 BPM", "upbeat jazz trio with brushed drums", "dark ambient synth pad in D minor",
	"bright acoustic guitar strumming", "fast drum and bass with heavy bass line", "a test prompt",
	"slow blues shuffle with organ", "cinematic strings and brass, epic", "chill hip hop beat with vinyl",
	"rock ballad with distorted guitar in E major", "techno four on the floor kick, 128 BPM",
};

static void train_tokenizer(const char *t5dir, int max_vocab)
{
	char path[4200], prefix[4200];
	snprintf(path, sizeof path, "%s/captions.txt", t5dir);
	FILE *f = fopen(path, "w");
	if (!f)
		die("cannot write captions.txt");
	for (int r = 0; r < 4; r++)
		for (size_t i = 0; i < sizeof captions / sizeof captions[0]; i++)
			fprintf(f, "%s\n", captions[i]);
	if (fclose(f))
		die("cannot write captions.txt");
	snprintf(prefix, sizeof prefix, "%s/spiece", t5dir);
	check(presto_tokenizer_train(path, prefix, 64));
	remove(path);
	snprintf(path, sizeof path, "%s/spiece.vocab", t5dir);
	remove(path);
	presto_tokenizer *tk;
	snprintf(path, sizeof path, "%s/spiece.model", t5dir);
	check(presto_tokenizer_load(path, &tk));
	int n = presto_tokenizer_vocab_size(tk);
	presto_tokenizer_free(tk);
	if (n > max_vocab) {
		fprintf(stderr, "mksaockpt: tokenizer has %d pieces, the T5 only %d\n", n, max_vocab);
		exit(2);
	}
}

static presto_st *open_fixture(const char *dir, const char *file)
{
	char path[4200];
	presto_st *st;
	snprintf(path, sizeof path, "%s/%s", dir, file);
	check(presto_st_open(path, &st));
	return st;
}

static int make(const char *fx, const char *out)
{
	if (mkdir(out, 0777) && errno != EEXIST)
		die("cannot create OUTDIR");
	char t5dir[4200], path[4300];
	snprintf(t5dir, sizeof t5dir, "%s/t5", out);
	if (mkdir(t5dir, 0777) && errno != EEXIST)
		die("cannot create OUTDIR/t5");
	json_t *jd = load(fx, "dit_sao.json"), *jo = load(fx, "oobleck.json"), *jt = load(fx, "t5_relu.json");
	json_t *mc = json_deep_copy(json_object_get(jd, "model_config"));
	json_t *pre = json_deep_copy(json_object_get(jo, "pretransform_config"));
	json_t *t5c = json_deep_copy(json_object_get(jt, "t5_config"));
	if (!json_is_object(mc) || !json_is_object(pre) || !json_is_object(t5c))
		die("fixture JSON lacks model_config, pretransform_config or t5_config");
	int io = geti(mc, "model.diffusion.config.io_channels"), latent = geti(pre, "config.latent_dim");
	int cond_dim = geti(mc, "model.conditioning.cond_dim"), d_model = geti(t5c, "d_model");
	int vocab = geti(t5c, "vocab_size");
	if (io != latent) {
		fprintf(stderr, "mksaockpt: oobleck latent_dim %d differs from dit_sao io_channels %d\n", latent, io);
		return 2;
	}

	/* model_config.json */
	json_t *model = json_object_get(mc, "model");
	json_t *pcfg = json_object_get(pre, "config");
	if (!json_object_get(pcfg, "downsampling_ratio"))
		json_object_set_new(pcfg, "downsampling_ratio", json_integer(geti(jo, "downsampling_ratio")));
	json_object_set_new(model, "pretransform", pre);
	json_t *configs = json_object_get(json_object_get(model, "conditioning"), "configs");
	json_array_insert_new(configs, 0,
			      json_pack("{s:s, s:s, s:{s:s, s:i}}", "id", "prompt", "type", "t5", "config",
					"t5_model_name", "t5-base", "max_length", 16));
	json_t *cross = json_object_get(json_object_get(model, "diffusion"), "cross_attention_cond_ids");
	int has_prompt = 0;
	for (size_t i = 0; i < json_array_size(cross); i++)
		has_prompt |= !strcmp(json_string_value(json_array_get(cross, i)), "prompt");
	if (!has_prompt)
		json_array_insert_new(cross, 0, json_string("prompt"));
	json_object_set_new(mc, "sample_rate", json_integer(44100));
	dump(mc, out, "model_config.json");

	/* model.safetensors */
	presto_st *sd = open_fixture(fx, "dit_sao.safetensors"), *so = open_fixture(fx, "oobleck.safetensors");
	presto_st *s5 = open_fixture(fx, "t5_relu.safetensors");
	static outlist o;
	add_prefixed(&o, sd, "model.model.", "conditioner.conditioners.");
	add_prefixed(&o, so, "pretransform.model.", NULL);
	add_random(&o, "conditioner.conditioners.prompt.proj_out.weight", 2, (int64_t[]){cond_dim, d_model}, 1,
		   (float)(1.0 / sqrt(d_model)));
	add_random(&o, "conditioner.conditioners.prompt.proj_out.bias", 1, (int64_t[]){cond_dim}, 2, 0.1f);
	add_random(&o, "model_ema.foo", 1, (int64_t[]){4}, 3, 1.0f);
	add_random(&o, "model_ema.bar", 2, (int64_t[]){2, 3}, 4, 1.0f);
	add_random(&o, "discriminator.conv.weight", 3, (int64_t[]){2, 2, 3}, 5, 1.0f);
	snprintf(path, sizeof path, "%s/model.safetensors", out);
	write_out(&o, path);

	/* t5/ */
	json_object_set_new(t5c, "model_type", json_string("t5"));
	dump(t5c, t5dir, "config.json");
	add_prefixed(&o, s5, "shared.weight", "encoder.");
	add_random(&o, "decoder.block.0.dummy", 1, (int64_t[]){3}, 6, 1.0f);
	snprintf(path, sizeof path, "%s/model.safetensors", t5dir);
	write_out(&o, path);
	train_tokenizer(t5dir, vocab);

	presto_st_close(sd);
	presto_st_close(so);
	presto_st_close(s5);
	json_decref(mc);
	json_decref(t5c);
	json_decref(jd);
	json_decref(jo);
	json_decref(jt);
	return 0;
}

static int compare(const char *a, const char *b, const char *pa, const char *pb)
{
	presto_st *sa, *sb;
	check(presto_st_open(a, &sa));
	check(presto_st_open(b, &sb));
	int matched = 0, bad = 0;
	size_t la = strlen(pa);
	for (int i = 0; i < presto_st_count(sa); i++) {
		const char *name = presto_st_name(sa, i);
		if (strncmp(name, pa, la))
			continue;
		char other[1024];
		snprintf(other, sizeof other, "%s%s", pb, name + la);
		const presto_tensor *x = presto_st_get(sa, name), *y = presto_st_get(sb, other);
		const char *why = NULL;
		if (!y)
			why = "missing";
		else if (x->dtype != y->dtype)
			why = "dtype differs";
		else if (x->ndim != y->ndim || memcmp(x->shape, y->shape, sizeof(int64_t) * (size_t)x->ndim))
			why = "shape differs";
		else if (x->nbytes != y->nbytes || memcmp(x->data, y->data, x->nbytes))
			why = "data differs";
		if (why) {
			fprintf(stderr, "mksaockpt: %s:%s vs %s:%s: %s\n", a, name, b, other, why);
			bad++;
		} else
			matched++;
	}
	presto_st_close(sa);
	presto_st_close(sb);
	printf("%d tensors equal, %d differ\n", matched, bad);
	return bad || !matched;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "--compare") && (argc == 4 || argc == 6))
		return compare(argv[2], argv[3], argc == 6 ? argv[4] : "", argc == 6 ? argv[5] : "");
	if (argc == 3 && argv[1][0] != '-')
		return make(argv[1], argv[2]);
	fprintf(stderr, "usage: mksaockpt FIXTURES OUTDIR\n"
			"       mksaockpt --compare A.safetensors B.safetensors [PREFIX_A PREFIX_B]\n");
	return 1;
}

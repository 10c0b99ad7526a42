/* presto-import - a stable-audio-tools checkpoint, its model_config and the
 * T5 text encoder to a presto model directory (presto-model(5)).
 *
 * The checkpoint is split by key prefix: model.model.* (the DiT) goes to
 * dit.safetensors, conditioner.conditioners.* with the T5 encoder (under
 * "t5.") to text.safetensors, pretransform.model.* (the Oobleck VAE) to
 * vae.safetensors. Everything is written into a temp directory next to the
 * output, loaded back the way the tools load it, and only then renamed into
 * place, so a failed import leaves nothing behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"
#include "model.h"

enum { OPT_CHECKPOINT = 256, OPT_CONFIG, OPT_T5, OPT_T5_CONFIG, OPT_SPIECE, OPT_DTYPE, OPT_ID, OPT_FORCE };

static const presto_cli_option options[] = {
	{"checkpoint", OPT_CHECKPOINT, "FILE", "stable-audio-tools checkpoint (model.safetensors)"},
	{"config", OPT_CONFIG, "FILE", "its model_config.json"},
	{"t5", OPT_T5, "PATH", "T5 encoder: a Hugging Face directory or a .safetensors file"},
	{"t5-config", OPT_T5_CONFIG, "FILE", "T5Config JSON (default: config.json of the --t5 directory)"},
	{"spiece", OPT_SPIECE, "FILE", "SentencePiece model (default: spiece.model of the --t5 directory)"},
	{"dtype", OPT_DTYPE, "TYPE", "store the weights as f32, f16, bf16 or keep (default keep)"},
	{"id", OPT_ID, "NAME", "model id (default: the name of the output directory)"},
	{"output", 'o', "DIR", "the model directory to create (required)"},
	{"force", OPT_FORCE, NULL, "replace DIR when it is an existing presto model directory"},
	{0},
};

static const presto_cli_spec spec = {
	"presto-import",
	"[OPTION]... --checkpoint FILE --config FILE -o DIR",
	"Turn a stable-audio-tools checkpoint into a presto model directory.",
	options,
	"The T5 encoder (--t5) is needed when the config has a conditioner of type\n"
	"\"t5\". DIR must not exist or be empty. Nothing is left behind on failure.\n",
};

#define PFX_DIT "model.model."
#define PFX_COND "conditioner.conditioners."
#define PFX_VAE "pretransform.model."
#define PFX_T5 "t5."

/* ---- the temp directory, removed on failure and on fatal signals ---- */

static char tmpdir[4096];
static volatile sig_atomic_t tmp_armed;

/* Remove the files of a flat directory and the directory itself, with
 * async-signal-safe calls only (getdents64 instead of readdir). */
static void remove_flat_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[4096];
		long n;
		while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
			for (long off = 0; off < n;) {
				/* struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name */
				unsigned short reclen;
				memcpy(&reclen, buf + off + 16, sizeof reclen);
				const char *name = buf + off + 19;
				if (strcmp(name, ".") && strcmp(name, ".."))
					unlinkat(fd, name, 0);
				off += reclen;
			}
		}
		close(fd);
	}
	rmdir(dir);
}

static void on_signal(int sig)
{
	if (tmp_armed)
		remove_flat_dir(tmpdir);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* ---- small helpers ---- */

static int starts(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

static int is_dir(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int exists(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0;
}

static presto_status write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return presto_error_set(PRESTO_EIO, "%s: %s", path, strerror(errno));
	int ok = fwrite(data, 1, n, f) == n && fflush(f) == 0 && fsync(fileno(f)) == 0;
	int err = errno;
	if (fclose(f) != 0 && ok)
		ok = 0, err = errno;
	if (!ok)
		return presto_error_set(PRESTO_EIO, "%s: write failed: %s", path, strerror(err ? err : EIO));
	return PRESTO_OK;
}

static presto_status read_file(const char *path, char **data, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return presto_error_set(PRESTO_EIO, "cannot open '%s': %s", path, strerror(errno));
	size_t cap = 1 << 16, len = 0;
	char *buf = presto_malloc(cap);
	while (buf) {
		len += fread(buf + len, 1, cap - len, f);
		if (len < cap)
			break;
		char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	int bad = ferror(f);
	fclose(f);
	if (!buf)
		return presto_error_set(PRESTO_ENOMEM, "%s: out of memory", path);
	if (bad) {
		free(buf);
		return presto_error_set(PRESTO_EIO, "%s: read error", path);
	}
	*data = buf;
	*n = len;
	return PRESTO_OK;
}

static presto_status load_json(const char *path, json_t **out)
{
	json_error_t e;
	*out = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	if (!*out) {
		if (!exists(path))
			return presto_error_set(PRESTO_EIO, "cannot open '%s': %s", path, strerror(ENOENT));
		return presto_error_set(PRESTO_EINVAL, "%s: line %d: %s", path, e.line, e.text);
	}
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return presto_error_set(PRESTO_EINVAL, "%s: not a JSON object", path);
	}
	return PRESTO_OK;
}

/* 1 when every real in j survives printing with 15 significant digits, so
 * that config.json shows 1e-6 rather than 9.9999999999999995e-7. */
static int reals_short(const json_t *j)
{
	if (json_is_real(j)) {
		char s[64];
		snprintf(s, sizeof s, "%.15g", json_real_value(j));
		return strtod(s, NULL) == json_real_value(j);
	}
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)j, k, v)
			if (!reals_short(v))
				return 0;
	}
	if (json_is_array(j))
		for (size_t i = 0; i < json_array_size(j); i++)
			if (!reals_short(json_array_get(j, i)))
				return 0;
	return 1;
}

/* Replace every occurrence of `from` in s (size n) by `to`. */
static void replace_all(char *s, size_t n, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to);
	char *p = s;
	while (fl && (p = strstr(p, from))) {
		size_t rest = strlen(p + fl);
		if ((size_t)(p - s) + tl + rest + 1 > n)
			return;
		memmove(p + tl, p + fl, rest + 1);
		memcpy(p, to, tl);
		p += tl;
	}
}

/* ---- tensor lists (one output file each) ---- */

typedef presto_st_list tlist;

/* Add `src` as `prefix` + `name`, converted to `dtype` when that is a float
 * type and src is a float tensor of another type (dtype < 0: keep; the
 * tensor is then borrowed from its mapping). */
static presto_status tlist_add(tlist *l, const char *prefix, const char *name, const presto_tensor *src, int dtype)
{
	if (dtype >= 0 && presto_dtype_is_float(src->dtype) && src->dtype != (presto_dtype)dtype) {
		float *f = NULL;
		presto_status st = presto_tensor_to_f32(src, &f);
		if (!st)
			st = presto_st_list_add_f32(l, prefix, name, src->ndim, src->shape, f, (presto_dtype)dtype);
		free(f);
		return st;
	}
	presto_tensor t = *src;
	t.owned = 0;
	return presto_st_list_push(l, prefix, name, t);
}

static presto_status tlist_write(tlist *l, const char *dir, const char *file)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	if (presto_cli_progress_enabled())
		presto_cli_msg("writing %s: %d tensors, %.1f MB", file, l->n, (double)l->bytes / 1e6);
	static const char *const meta[] = {"producer", "presto-import " PRESTO_VERSION};
	presto_status st = presto_st_list_write(l, path, 1, meta);
	presto_st_list_free(l);
	return st;
}

/* ---- the import ---- */

typedef struct {
	const char *checkpoint, *config, *t5, *t5_config, *spiece, *id, *out;
	int dtype; /* -1 keep */
	int force;
	/* derived */
	char dir[4096];     /* out without trailing slashes */
	char t5_weights[4200], t5_config_path[4200], spiece_path[4200];
	int replace;        /* 0 new, 1 existing empty dir, 2 --force over a model */
	json_t *root;       /* the model_config, becomes config.json */
	presto_st *ckpt, *t5st;
	presto_t5_config t5c;
	json_t *t5_json;    /* presto.t5_config */
} importer;

static const char *dtype_label(int dtype) { return dtype < 0 ? "keep" : presto_dtype_name((presto_dtype)dtype); }

/* A presto model directory: config.json holding a "presto" object. */
static int is_presto_model(const char *dir)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/config.json", dir);
	json_t *j = json_load_file(p, 0, NULL);
	int ok = json_is_object(json_object_get(j, "presto"));
	json_decref(j);
	return ok;
}

static presto_status check_output(importer *im)
{
	struct stat sb;
	if (lstat(im->dir, &sb) != 0) {
		if (errno == ENOENT)
			return PRESTO_OK;
		return presto_error_set(PRESTO_EIO, "%s: %s", im->dir, strerror(errno));
	}
	if (!S_ISDIR(sb.st_mode))
		return presto_error_set(PRESTO_EIO, "%s exists and is not a directory", im->dir);
	DIR *d = opendir(im->dir);
	if (!d)
		return presto_error_set(PRESTO_EIO, "%s: %s", im->dir, strerror(errno));
	int empty = 1;
	struct dirent *e;
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	if (empty) {
		im->replace = 1;
		return PRESTO_OK;
	}
	if (!im->force)
		return presto_error_set(PRESTO_EIO,
					"%s exists and is not empty (--force replaces a presto model directory)", im->dir);
	if (!is_presto_model(im->dir))
		return presto_error_set(PRESTO_EIO,
					"refusing to replace %s: not a presto model directory (no config.json with a "
					"\"presto\" object)",
					im->dir);
	im->replace = 2;
	return PRESTO_OK;
}

/* The first conditioner of type "t5" (its id), or NULL. */
static const char *t5_conditioner(const json_t *root)
{
	json_t *cfgs = json_object_get(json_object_get(json_object_get(root, "model"), "conditioning"), "configs");
	for (size_t i = 0; i < json_array_size(cfgs); i++) {
		json_t *c = json_array_get(cfgs, i);
		const char *type = json_string_value(json_object_get(c, "type"));
		if (type && !strcmp(type, "t5")) {
			const char *id = json_string_value(json_object_get(c, "id"));
			return id ? id : "?";
		}
	}
	return NULL;
}

static presto_status check_config(importer *im)
{
	const char *type = json_string_value(json_object_get(im->root, "model_type"));
	if (type && strcmp(type, "diffusion_cond"))
		return presto_error_set(PRESTO_EUNSUP, "%s: model_type \"%s\" is not supported (diffusion_cond only)",
					im->config, type);
	if (!json_is_object(json_object_get(im->root, "model")))
		return presto_error_set(PRESTO_EINVAL, "%s: no \"model\" object: not a stable-audio-tools model_config",
					im->config);
	if (json_object_get(im->root, "presto"))
		presto_cli_warn("%s already has a \"presto\" object: it is replaced", im->config);
	return PRESTO_OK;
}

/* Resolve the T5 paths (exit status 1 for a missing option, as a usage
 * error, is returned through *usage). */
static presto_status find_t5(importer *im, int *usage)
{
	if (!exists(im->t5))
		return presto_error_set(PRESTO_EIO, "cannot open '%s': %s", im->t5, strerror(errno));
	if (is_dir(im->t5)) {
		snprintf(im->t5_weights, sizeof im->t5_weights, "%s/model.safetensors", im->t5);
		if (!exists(im->t5_weights)) {
			char alt[4200];
			snprintf(alt, sizeof alt, "%s/model.safetensors.index.json", im->t5);
			if (exists(alt))
				return presto_error_set(PRESTO_EUNSUP,
							"%s: sharded checkpoints are not supported: merge the shards "
							"into one model.safetensors",
							im->t5);
			return presto_error_set(PRESTO_EIO,
						"%s has no model.safetensors (only safetensors weights are read: convert "
						"pytorch_model.bin first)",
						im->t5);
		}
		if (im->t5_config)
			snprintf(im->t5_config_path, sizeof im->t5_config_path, "%s", im->t5_config);
		else
			snprintf(im->t5_config_path, sizeof im->t5_config_path, "%s/config.json", im->t5);
		if (im->spiece)
			snprintf(im->spiece_path, sizeof im->spiece_path, "%s", im->spiece);
		else {
			snprintf(im->spiece_path, sizeof im->spiece_path, "%s/spiece.model", im->t5);
			if (!exists(im->spiece_path))
				return presto_error_set(PRESTO_EIO,
							"%s has no spiece.model: give the SentencePiece model with "
							"--spiece FILE",
							im->t5);
		}
		return PRESTO_OK;
	}
	snprintf(im->t5_weights, sizeof im->t5_weights, "%s", im->t5);
	if (!im->t5_config) {
		*usage = 1;
		return presto_error_set(PRESTO_EINVAL, "--t5 %s is a file: give its T5 config with --t5-config FILE",
					im->t5);
	}
	if (!im->spiece) {
		*usage = 1;
		return presto_error_set(PRESTO_EINVAL,
					"--t5 %s is a file: give its SentencePiece model with --spiece FILE", im->t5);
	}
	snprintf(im->t5_config_path, sizeof im->t5_config_path, "%s", im->t5_config);
	snprintf(im->spiece_path, sizeof im->spiece_path, "%s", im->spiece);
	return PRESTO_OK;
}

/* presto.t5_config: the keys presto reads, HF defaults filled in. */
static presto_status read_t5_config(importer *im)
{
	json_t *hf;
	PRESTO_TRY(load_json(im->t5_config_path, &hf));
	presto_status st = presto_t5_config_from_json(hf, &im->t5c);
	if (st) {
		json_decref(hf);
		return presto_error_wrap(st, "%s: ", im->t5_config_path);
	}
	const presto_t5_config *c = &im->t5c;
	json_t *eps = json_object_get(hf, "layer_norm_epsilon");
	eps = json_is_number(eps) ? json_incref(eps) : json_real(1e-6);
	im->t5_json = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:i, s:i, s:o}", "vocab_size", c->vocab_size,
				"d_model", c->d_model, "d_kv", c->d_kv, "num_heads", c->num_heads, "d_ff", c->d_ff,
				"num_layers", c->num_layers, "feed_forward_proj", c->gated ? "gated-gelu" : "relu",
				"relative_attention_num_buckets", c->num_buckets, "relative_attention_max_distance",
				c->max_distance, "layer_norm_epsilon", eps);
	json_decref(hf);
	if (!im->t5_json)
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	return PRESTO_OK;
}

static presto_status check_spiece(importer *im)
{
	presto_tokenizer *tk;
	presto_status st = presto_tokenizer_load(im->spiece_path, &tk);
	if (st)
		return st;
	int n = presto_tokenizer_vocab_size(tk);
	presto_tokenizer_free(tk);
	if (n > im->t5c.vocab_size)
		return presto_error_set(PRESTO_EINVAL,
					"%s has %d pieces but the T5 embedding has only %d rows: not the tokenizer of "
					"this encoder",
					im->spiece_path, n, im->t5c.vocab_size);
	return PRESTO_OK;
}

/* The presto object of config.json. */
static presto_status build_config(importer *im)
{
	json_t *diff = json_object_get(json_object_get(im->root, "model"), "diffusion");
	const char *obj = json_string_value(json_object_get(diff, "diffusion_objective"));
	int rf = obj && (!strcmp(obj, "rf_denoiser") || !strcmp(obj, "rectified_flow") || !strcmp(obj, "rf"));
	json_t *sampling = rf ? json_pack("{s:s, s:i, s:f, s:s}", "sampler", "pingpong", "steps", 8, "cfg_scale", 1.0,
					  "schedule", "rf")
			      : json_pack("{s:s, s:i, s:f, s:s, s:f, s:f, s:f}", "sampler", "dpmpp-3m-sde", "steps",
					  100, "cfg_scale", 7.0, "schedule", "polyexponential", "sigma_min", 0.3,
					  "sigma_max", 500.0, "rho", 1.0);
	json_t *source = json_pack("{s:s, s:s}", "checkpoint", im->checkpoint, "config", im->config);
	if (source && im->t5_json) {
		json_object_set_new(source, "t5", json_string(im->t5_weights));
		json_object_set_new(source, "t5_config", json_string(im->t5_config_path));
		json_object_set_new(source, "spiece", json_string(im->spiece_path));
	}
	if (source)
		json_object_set_new(source, "dtype", json_string(dtype_label(im->dtype)));
	json_t *p = json_object();
	if (!sampling || !source || !p) {
		json_decref(sampling);
		json_decref(source);
		json_decref(p);
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	}
	json_object_set_new(p, "id", json_string(im->id));
	if (im->t5_json) {
		json_object_set(p, "t5_config", im->t5_json);
		json_object_set_new(p, "t5_prefix", json_string(PFX_T5));
	}
	json_object_set_new(p, "sampling", sampling);
	json_object_set_new(p, "source", source);
	json_object_set_new(im->root, "presto", p);
	return PRESTO_OK;
}

static presto_status write_config(importer *im)
{
	size_t flags = JSON_INDENT(2) | (reals_short(im->root) ? JSON_REAL_PRECISION(15) : 0);
	char *text = json_dumps(im->root, flags);
	if (!text)
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	size_t n = strlen(text);
	char *buf = realloc(text, n + 2);
	if (!buf) {
		free(text);
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	}
	buf[n] = '\n';
	char path[4200];
	snprintf(path, sizeof path, "%s/config.json", tmpdir);
	presto_status st = write_file(path, buf, n + 1);
	free(buf);
	return st;
}

/* Check that the checkpoint holds a DiT and a VAE; note what is left out,
 * grouped by the first part of the name ("model_ema.* 1200"). */
static presto_status survey_checkpoint(importer *im)
{
	int n = presto_st_count(im->ckpt), dit = 0, vae = 0, other = 0, diffusion_keys = 0, ng = 0, more = 0;
	struct {
		char pfx[48];
		int n;
	} groups[6];
	for (int i = 0; i < n; i++) {
		const char *name = presto_st_name(im->ckpt, i);
		if (starts(name, PFX_DIT))
			dit++;
		else if (starts(name, PFX_VAE))
			vae++;
		else if (!starts(name, PFX_COND)) {
			other++;
			diffusion_keys += starts(name, "diffusion.");
			const char *dot = strchr(name, '.');
			int len = dot ? (int)(dot - name) + 1 : (int)strlen(name), g = 0;
			if (len > 40)
				len = 40;
			while (g < ng && (strncmp(groups[g].pfx, name, (size_t)len) || groups[g].pfx[len]))
				g++;
			if (g == ng && ng < 6) {
				snprintf(groups[ng].pfx, sizeof groups[ng].pfx, "%.*s", len, name);
				groups[ng++].n = 0;
			}
			if (g < ng)
				groups[g].n++;
			else
				more++;
		}
	}
	if (!dit)
		return presto_error_set(PRESTO_EINVAL, "%s: no DiT tensors (" PFX_DIT "*)%s", im->checkpoint,
					diffusion_keys ? ": a training checkpoint (diffusion.*) must be unwrapped first "
							 "(stable-audio-tools' unwrap_model.py)"
						       : "");
	if (!vae)
		return presto_error_set(PRESTO_EINVAL, "%s: no autoencoder tensors (" PFX_VAE "*)", im->checkpoint);
	if (other) {
		char list[512] = "";
		for (int g = 0; g < ng; g++) {
			size_t l = strlen(list);
			snprintf(list + l, sizeof list - l, "%s%s* %d", g ? ", " : "", groups[g].pfx, groups[g].n);
		}
		if (more) {
			size_t l = strlen(list);
			snprintf(list + l, sizeof list - l, ", %d more", more);
		}
		presto_cli_msg("ignoring %d checkpoint tensor%s outside " PFX_DIT ", " PFX_COND " and " PFX_VAE " (%s)",
			       other, other == 1 ? "" : "s", list);
	}
	return PRESTO_OK;
}

/* The checkpoint tensors under prefix, by their own names. */
static presto_status add_checkpoint(importer *im, const char *prefix, tlist *l)
{
	int n = presto_st_count(im->ckpt);
	for (int i = 0; i < n; i++) {
		const char *name = presto_st_name(im->ckpt, i);
		if (starts(name, prefix))
			PRESTO_TRY(tlist_add(l, "", name, presto_st_get(im->ckpt, name), im->dtype));
	}
	return PRESTO_OK;
}

/* T5 encoder tensors under "t5.": shared.weight (or encoder.embed_tokens.weight
 * when that is all there is) and encoder.*. */
static presto_status add_t5(importer *im, tlist *text)
{
	int n = presto_st_count(im->t5st), dropped = 0;
	int has_shared = presto_st_get(im->t5st, "shared.weight") != NULL;
	presto_status st = PRESTO_OK;
	for (int i = 0; !st && i < n; i++) {
		const char *name = presto_st_name(im->t5st, i);
		const presto_tensor *t = presto_st_get(im->t5st, name);
		if (!strcmp(name, "shared.weight"))
			st = tlist_add(text, PFX_T5, name, t, im->dtype);
		else if (!strcmp(name, "encoder.embed_tokens.weight")) {
			if (has_shared)
				dropped++;
			else
				st = tlist_add(text, PFX_T5, "shared.weight", t, im->dtype);
		} else if (starts(name, "encoder."))
			st = tlist_add(text, PFX_T5, name, t, im->dtype);
		else
			dropped++;
	}
	if (!st && dropped)
		presto_cli_msg("dropping %d tensor%s of %s that the encoder does not use (decoder, lm_head, tied "
			       "embedding)",
			       dropped, dropped == 1 ? "" : "s", im->t5_weights);
	return st;
}

static presto_status copy_tokenizer(importer *im)
{
	char *data = NULL, path[4200];
	size_t n = 0;
	PRESTO_TRY(read_file(im->spiece_path, &data, &n));
	snprintf(path, sizeof path, "%s/tokenizer.model", tmpdir);
	presto_status st = write_file(path, data, n);
	free(data);
	return st;
}

/* Load the written model the way the tools do. Messages name the files by
 * their final names rather than the temp directory. */
static presto_status validate(importer *im)
{
	if (presto_cli_progress_enabled())
		presto_cli_msg("checking the model");
	presto_model_config mc;
	presto_status st = presto_model_config_load(tmpdir, &mc);
	int components = 0;
	if (!st) {
		components = 1;
		presto_cond_encoder *enc = NULL;
		st = presto_cond_encoder_load(&mc, &enc);
		presto_cond_encoder_free(enc);
	}
	if (!st) {
		presto_st *w = NULL;
		presto_dit *dit = NULL;
		st = presto_model_load_dit(&mc, &w, &dit);
		presto_dit_free(dit);
		presto_st_close(w);
	}
	if (!st) {
		presto_st *w = NULL;
		presto_vae *vae = NULL;
		st = presto_model_load_vae(&mc, &w, &vae);
		presto_vae_free(vae);
		presto_st_close(w);
	}
	presto_model_config_free(&mc);
	if (!st)
		return PRESTO_OK;
	char msg[4096], from[4200];
	snprintf(msg, sizeof msg, "%s", presto_error());
	snprintf(from, sizeof from, "%s/config.json", tmpdir);
	replace_all(msg, sizeof msg, from, im->config);
	snprintf(from, sizeof from, "%s/tokenizer.model", tmpdir);
	replace_all(msg, sizeof msg, from, im->spiece_path);
	snprintf(from, sizeof from, "%s/", tmpdir);
	replace_all(msg, sizeof msg, from, "");
	if (components && im->t5st && strstr(msg, "'" PFX_T5))
		return presto_error_set(st, "%s does not fit %s: %s", im->t5_weights, im->t5_config_path, msg);
	if (components)
		return presto_error_set(st, "%s does not fit %s: %s", im->checkpoint, im->config, msg);
	return presto_error_set(st, "%s", msg);
}

/* Move the finished temp directory to its place. */
static presto_status commit(importer *im)
{
	mode_t mask = umask(0);
	umask(mask);
	chmod(tmpdir, 0777 & ~mask);
	if (im->replace == 2) {
		if (renameat2(AT_FDCWD, tmpdir, AT_FDCWD, im->dir, RENAME_EXCHANGE) == 0) {
			/* tmpdir now holds the old model */
			tmp_armed = 0;
			nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
			return PRESTO_OK;
		}
		char old[4200];
		snprintf(old, sizeof old, "%s.old", tmpdir);
		if (rename(im->dir, old) != 0)
			return presto_error_set(PRESTO_EIO, "cannot replace %s: %s", im->dir, strerror(errno));
		if (rename(tmpdir, im->dir) != 0) {
			int err = errno;
			rename(old, im->dir);
			return presto_error_set(PRESTO_EIO, "cannot replace %s: %s", im->dir, strerror(err));
		}
		tmp_armed = 0;
		nftw(old, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return PRESTO_OK;
	}
	if (rename(tmpdir, im->dir) != 0) {
		if (errno == ENOTEMPTY || errno == EEXIST)
			return presto_error_set(PRESTO_EIO, "%s appeared and is not empty: nothing written", im->dir);
		return presto_error_set(PRESTO_EIO, "cannot create %s: %s", im->dir, strerror(errno));
	}
	tmp_armed = 0;
	return PRESTO_OK;
}

static presto_status run(importer *im, int *usage)
{
	PRESTO_TRY(check_output(im));
	PRESTO_TRY(load_json(im->config, &im->root));
	PRESTO_TRY(check_config(im));
	const char *t5id = t5_conditioner(im->root);
	if (t5id && !im->t5) {
		*usage = 1;
		return presto_error_set(PRESTO_EINVAL,
					"%s: conditioner \"%s\" is a T5 text encoder: give it with --t5 PATH (a Hugging "
					"Face T5 directory such as t5-base)",
					im->config, t5id);
	}
	if (!t5id && (im->t5 || im->t5_config || im->spiece))
		presto_cli_msg("the config has no t5 conditioner: --t5, --t5-config and --spiece are not used");
	if (t5id) {
		PRESTO_TRY(find_t5(im, usage));
		PRESTO_TRY(read_t5_config(im));
		PRESTO_TRY(check_spiece(im));
		PRESTO_TRY(presto_st_open(im->t5_weights, &im->t5st));
	}
	PRESTO_TRY(presto_st_open(im->checkpoint, &im->ckpt));
	PRESTO_TRY(survey_checkpoint(im));
	PRESTO_TRY(build_config(im));

	/* temp directory next to the output */
	const char *slash = strrchr(im->dir, '/');
	int plen = slash ? (int)(slash - im->dir) + 1 : 0;
	snprintf(tmpdir, sizeof tmpdir, "%.*s.%s.import-XXXXXX", plen, im->dir, im->dir + plen);
	if (!mkdtemp(tmpdir))
		return presto_error_set(PRESTO_EIO, "cannot create a directory next to %s: %s", im->dir,
					strerror(errno));
	tmp_armed = 1;

	presto_status st = write_config(im);
	if (!st) { /* fail early on a config presto cannot use */
		presto_model_config mc;
		st = presto_model_config_load(tmpdir, &mc);
		presto_model_config_free(&mc);
		if (st) {
			char msg[4096], from[4200];
			snprintf(msg, sizeof msg, "%s", presto_error());
			snprintf(from, sizeof from, "%s/config.json", tmpdir);
			replace_all(msg, sizeof msg, from, im->config);
			presto_error_set(st, "%s", msg);
		}
	}
	/* one output file at a time, so that at most one component is held
	 * converted in memory */
	tlist l = {0};
	if (!st && im->t5st)
		st = add_t5(im, &l);
	if (!st)
		st = add_checkpoint(im, PFX_COND, &l);
	if (!st)
		st = tlist_write(&l, tmpdir, "text.safetensors");
	if (!st)
		st = add_checkpoint(im, PFX_VAE, &l);
	if (!st)
		st = tlist_write(&l, tmpdir, "vae.safetensors");
	if (!st)
		st = add_checkpoint(im, PFX_DIT, &l);
	if (!st)
		st = tlist_write(&l, tmpdir, "dit.safetensors");
	presto_st_list_free(&l);
	if (!st && t5id)
		st = copy_tokenizer(im);
	if (!st)
		st = validate(im);
	if (!st)
		st = commit(im);
	return st;
}

int main(int argc, char **argv)
{
	presto_cli cli;
	const char *arg;
	importer im = {.dtype = -1};
	int c;
	presto_cli_init(&cli, &spec, argc, argv);
	while ((c = presto_cli_next(&cli, &arg)) != PRESTO_CLI_END) {
		switch (c) {
		case PRESTO_CLI_EXIT: return cli.exit_code;
		case OPT_CHECKPOINT: im.checkpoint = arg; break;
		case OPT_CONFIG: im.config = arg; break;
		case OPT_T5: im.t5 = arg; break;
		case OPT_T5_CONFIG: im.t5_config = arg; break;
		case OPT_SPIECE: im.spiece = arg; break;
		case OPT_ID: im.id = arg; break;
		case 'o': im.out = arg; break;
		case OPT_FORCE: im.force = 1; break;
		case OPT_DTYPE: {
			presto_dtype t;
			if (!strcasecmp(arg, "keep"))
				im.dtype = -1;
			else if (!presto_dtype_parse(arg, &t) && (t == PRESTO_F32 || t == PRESTO_F16 || t == PRESTO_BF16))
				im.dtype = (int)t;
			else
				return presto_cli_usage("--dtype: '%s' is not f32, f16, bf16 or keep", arg);
			break;
		}
		}
	}
	if (cli.optind < argc)
		return presto_cli_usage("unexpected argument '%s'", argv[cli.optind]);
	if (!im.out)
		return presto_cli_usage("no output directory: give -o DIR");
	if (!im.checkpoint)
		return presto_cli_usage("no checkpoint: give --checkpoint FILE");
	if (!im.config)
		return presto_cli_usage("no model config: give --config FILE");
	snprintf(im.dir, sizeof im.dir, "%s", im.out);
	size_t l;
	while ((l = strlen(im.dir)) > 1 && im.dir[l - 1] == '/')
		im.dir[l - 1] = 0;
	const char *base = strrchr(im.dir, '/');
	base = base ? base + 1 : im.dir;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return presto_cli_usage("-o %s: give the path of a directory to create", im.out);
	if (!im.id)
		im.id = base;
	if (!*im.id || strlen(im.id) >= 256)
		return presto_cli_usage("--id: give a name of 1 to 255 bytes");

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	int usage = 0;
	presto_status st = run(&im, &usage);
	int rc = PRESTO_EXIT_OK;
	if (st) {
		if (tmp_armed) {
			tmp_armed = 0;
			remove_flat_dir(tmpdir);
		}
		rc = usage ? presto_cli_usage("%s", presto_error()) : presto_cli_status(st);
	} else if (presto_cli_progress_enabled())
		presto_cli_msg("wrote %s", im.dir);
	presto_st_close(im.ckpt);
	presto_st_close(im.t5st);
	json_decref(im.root);
	json_decref(im.t5_json);
	return rc;
}

/* model.c - model directory configuration and the conditioning encoder. */
#include "model.h"

#include <ctype.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops.h"

static presto_status cfg_err(const presto_model_config *c, const char *what)
{
	return presto_error_set(PRESTO_EINVAL, "%s/config.json: %s", c->dir, what);
}

static double num_or(const json_t *o, const char *key, double def)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : def;
}

static void str_or(char *dst, size_t n, const json_t *o, const char *key, const char *def)
{
	json_t *v = json_object_get(o, key);
	snprintf(dst, n, "%s", json_is_string(v) ? json_string_value(v) : def);
}

static presto_status read_ids(const presto_model_config *c, const json_t *arr, char ids[][64], int *n)
{
	*n = 0;
	if (!arr)
		return PRESTO_OK;
	if (!json_is_array(arr) || json_array_size(arr) > PRESTO_MAX_CONDS)
		return cfg_err(c, "conditioning id list is not an array of at most 8 strings");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *s = json_array_get(arr, i);
		if (!json_is_string(s))
			return cfg_err(c, "conditioning ids must be strings");
		snprintf(ids[*n], 64, "%s", json_string_value(s));
		(*n)++;
	}
	return PRESTO_OK;
}

static void join(char *dst, size_t n, const char *dir, const char *file)
{
	if (file[0] == '/')
		snprintf(dst, n, "%s", file);
	else
		snprintf(dst, n, "%s/%s", dir, file);
}

presto_status presto_budget_from_json(const json_t *j, int depth, presto_budget *b)
{
	memset(b, 0, sizeof *b);
	if (!j || json_is_null(j))
		return PRESTO_OK;
	if (!json_is_array(j) || json_array_size(j) > PRESTO_MAX_BUDGETS)
		return presto_error_set(PRESTO_EINVAL, "layer budget must be an array of at most %d entries",
					PRESTO_MAX_BUDGETS);
	if (depth > 256)
		return presto_error_set(PRESTO_EUNSUP, "layer budgets support at most 256 blocks");
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *e = json_array_get(j, i), *blocks = json_object_get(e, "blocks");
		presto_budget_entry *be = &b->e[b->n];
		json_t *lo = json_object_get(e, "sigma_min"), *hi = json_object_get(e, "sigma_max");
		if (!json_is_object(e) || !json_is_array(blocks) || (lo && !json_is_number(lo) && !json_is_null(lo)) ||
		    (hi && !json_is_number(hi) && !json_is_null(hi)))
			return presto_error_set(PRESTO_EINVAL,
						"layer budget entry %zu: expected {\"sigma_min\": a, \"sigma_max\": b, "
						"\"blocks\": [...]}",
						i);
		be->sigma_lo = json_is_number(lo) ? json_number_value(lo) : 0.0;
		be->sigma_hi = json_is_number(hi) ? json_number_value(hi) : INFINITY;
		for (size_t k = 0; k < json_array_size(blocks); k++) {
			json_t *x = json_array_get(blocks, k);
			if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= depth)
				return presto_error_set(PRESTO_EINVAL,
							"layer budget entry %zu: block index out of range 0..%d", i,
							depth - 1);
			be->run[json_integer_value(x)] = 1;
		}
		b->n++;
	}
	return PRESTO_OK;
}

const unsigned char *presto_budget_mask(const presto_budget *b, double sigma)
{
	for (int i = 0; i < b->n; i++)
		if (sigma >= b->e[i].sigma_lo && sigma < b->e[i].sigma_hi)
			return b->e[i].run;
	return NULL;
}

presto_status presto_model_config_load(const char *path, presto_model_config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->dir, sizeof c->dir, "%s", path);
	size_t l = strlen(c->dir);
	if (l > 12 && !strcmp(c->dir + l - 12, "/config.json"))
		c->dir[l - 12] = 0;
	while ((l = strlen(c->dir)) > 1 && c->dir[l - 1] == '/')
		c->dir[l - 1] = 0;
	char file[4200];
	snprintf(file, sizeof file, "%s/config.json", c->dir);
	json_error_t jerr;
	c->root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	if (!c->root) {
		struct stat sb;
		if (stat(file, &sb) != 0)
			return presto_error_set(PRESTO_EIO, "%s: no model here (config.json missing)", c->dir);
		return presto_error_set(PRESTO_EINVAL, "%s: line %d: %s", file, jerr.line, jerr.text);
	}
	json_t *root = c->root, *model = json_object_get(root, "model"), *presto = json_object_get(root, "presto");
	if (!json_is_object(model))
		return cfg_err(c, "missing \"model\" object (a stable-audio-tools model_config)");
	if (!json_is_object(presto))
		presto = NULL;
	c->sample_rate = (int)num_or(root, "sample_rate", 44100);
	c->audio_channels = (int)num_or(root, "audio_channels", 2);
	c->sample_size = (long)num_or(root, "sample_size", 0);
	if (presto && json_object_get(presto, "ignore_sample_size") == json_true())
		c->sample_size = 0;
	if (c->sample_rate <= 0 || c->audio_channels <= 0 || c->audio_channels > 16)
		return cfg_err(c, "bad sample_rate or audio_channels");
	const char *base = strrchr(c->dir, '/');
	str_or(c->id, sizeof c->id, presto, "id", base ? base + 1 : c->dir);

	/* files */
	char name[1024];
	str_or(name, sizeof name, presto, "text_file", "text.safetensors");
	join(c->text_file, sizeof c->text_file, c->dir, name);
	str_or(name, sizeof name, presto, "dit_file", "dit.safetensors");
	join(c->dit_file, sizeof c->dit_file, c->dir, name);
	str_or(name, sizeof name, presto, "vae_file", "vae.safetensors");
	join(c->vae_file, sizeof c->vae_file, c->dir, name);
	str_or(name, sizeof name, presto, "tokenizer_file", "tokenizer.model");
	join(c->tokenizer_file, sizeof c->tokenizer_file, c->dir, name);
	str_or(c->t5_prefix, sizeof c->t5_prefix, presto, "t5_prefix", "t5.");

	/* conditioning */
	json_t *cond = json_object_get(model, "conditioning");
	if (json_is_object(cond)) {
		c->cond_dim = (int)num_or(cond, "cond_dim", 0);
		json_t *cfgs = json_object_get(cond, "configs");
		if (!json_is_array(cfgs) || json_array_size(cfgs) > PRESTO_MAX_CONDS)
			return cfg_err(c, "model.conditioning.configs must be an array of at most 8 conditioners");
		for (size_t i = 0; i < json_array_size(cfgs); i++) {
			json_t *e = json_array_get(cfgs, i), *ec = json_object_get(e, "config");
			const char *id = json_string_value(json_object_get(e, "id"));
			const char *type = json_string_value(json_object_get(e, "type"));
			if (!id || !type)
				return cfg_err(c, "conditioner without id or type");
			snprintf(c->conds[c->n_conds].id, 64, "%s", id);
			if (!strcmp(type, "number")) {
				c->conds[c->n_conds].min_val = (float)num_or(ec, "min_val", 0);
				c->conds[c->n_conds].max_val = (float)num_or(ec, "max_val", 1);
				if (!(c->conds[c->n_conds].max_val > c->conds[c->n_conds].min_val))
					return cfg_err(c, "number conditioner with max_val <= min_val");
			} else if (!strcmp(type, "t5")) {
				c->conds[c->n_conds].is_text = 1;
				c->conds[c->n_conds].max_length = (int)num_or(ec, "max_length", 128);
				if (c->conds[c->n_conds].max_length <= 0 || c->conds[c->n_conds].max_length > 4096)
					return cfg_err(c, "t5 max_length out of range");
				c->has_t5 = 1;
			} else {
				char msg[128];
				snprintf(msg, sizeof msg, "conditioner type \"%s\" is not supported", type);
				return presto_error_set(PRESTO_EUNSUP, "%s/config.json: %s", c->dir, msg);
			}
			c->n_conds++;
		}
	}
	if (c->has_t5) {
		json_t *t5 = presto ? json_object_get(presto, "t5_config") : NULL;
		if (!t5)
			return cfg_err(c, "a t5 conditioner needs presto.t5_config (the T5Config of the encoder)");
		PRESTO_TRY(presto_t5_config_from_json(t5, &c->t5));
	}

	/* diffusion */
	json_t *diff = json_object_get(model, "diffusion");
	if (!json_is_object(diff))
		return cfg_err(c, "missing model.diffusion");
	const char *dtype = json_string_value(json_object_get(diff, "type"));
	if (dtype && strcmp(dtype, "dit"))
		return presto_error_set(PRESTO_EUNSUP, "%s/config.json: diffusion type \"%s\" is not supported (dit only)",
					c->dir, dtype);
	PRESTO_TRY(read_ids(c, json_object_get(diff, "cross_attention_cond_ids"), c->cross_ids, &c->n_cross));
	PRESTO_TRY(read_ids(c, json_object_get(diff, "global_cond_ids"), c->global_ids, &c->n_global));
	for (int i = 0; i < c->n_cross + c->n_global; i++) {
		const char *id = i < c->n_cross ? c->cross_ids[i] : c->global_ids[i - c->n_cross];
		int found = 0;
		for (int k = 0; k < c->n_conds; k++)
			found |= !strcmp(c->conds[k].id, id);
		if (!found) {
			presto_error_set(PRESTO_EINVAL, "%s/config.json: conditioning id \"%s\" is not a conditioner",
					 c->dir, id);
			return PRESTO_EINVAL;
		}
	}
	json_t *dc = json_object_get(diff, "config");
	if (!json_is_object(dc))
		return cfg_err(c, "missing model.diffusion.config");
	presto_status rc = presto_dit_config_from_json(dc, &c->dit);
	if (rc)
		return presto_error_wrap(rc, "%s/config.json: model.diffusion.config: ", c->dir);
	const char *obj = json_string_value(json_object_get(diff, "diffusion_objective"));
	c->precond.kind = PRESTO_PRECOND_V;
	c->precond.sigma_data = 1.0;
	if (obj) {
		if (!strcmp(obj, "rf_denoiser") || !strcmp(obj, "rectified_flow") || !strcmp(obj, "rf"))
			c->precond.kind = PRESTO_PRECOND_RF;
		else if (!strcmp(obj, "edm")) {
			c->precond.kind = PRESTO_PRECOND_EDM;
			c->precond.sigma_data = num_or(diff, "sigma_data", 0.5);
		} else if (strcmp(obj, "v"))
			return presto_error_set(PRESTO_EUNSUP, "%s/config.json: diffusion_objective \"%s\" is not supported",
						c->dir, obj);
	}
	rc = presto_budget_from_json(presto ? json_object_get(presto, "layer_budget") : NULL, c->dit.depth, &c->budget);
	if (rc)
		return presto_error_wrap(rc, "%s/config.json: presto.layer_budget: ", c->dir);

	/* autoencoder */
	json_t *pre = json_object_get(model, "pretransform");
	if (!json_is_object(pre))
		return cfg_err(c, "missing model.pretransform");
	rc = presto_oobleck_config_from_json(pre, &c->vae);
	if (rc)
		return presto_error_wrap(rc, "%s/config.json: model.pretransform: ", c->dir);
	if (c->vae.latent_dim != c->dit.io_channels)
		return cfg_err(c, "the VAE latent_dim and the DiT io_channels differ");

	/* sampling defaults */
	json_t *s = presto ? json_object_get(presto, "sampling") : NULL;
	int rf = c->precond.kind == PRESTO_PRECOND_RF;
	str_or(c->sampler, sizeof c->sampler, s, "sampler", rf ? "pingpong" : "dpmpp-3m-sde");
	str_or(c->schedule, sizeof c->schedule, s, "schedule", rf ? "rf" : "polyexponential");
	c->steps = (int)num_or(s, "steps", rf ? 8 : 100);
	c->cfg_scale = num_or(s, "cfg_scale", rf ? 1.0 : 7.0);
	c->sigma_min = num_or(s, "sigma_min", 0.3);
	c->sigma_max = num_or(s, "sigma_max", 500.0);
	c->rho = num_or(s, "rho", 1.0);
	return PRESTO_OK;
}

void presto_model_config_free(presto_model_config *c)
{
	json_decref(c->root);
	c->root = NULL;
}

static int is_dir_with_config(const char *d)
{
	char p[4200];
	struct stat sb;
	snprintf(p, sizeof p, "%s/config.json", d);
	return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

int presto_model_default_dir(char *buf, size_t n)
{
	const char *env = getenv("PRESTO_MODEL");
	if (env && *env) {
		snprintf(buf, n, "%s", env);
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len > 0) {
		exe[len] = 0;
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
		const char *rel[] = {"/../models/default", "/../../models/default", "/../share/presto/models/default"};
		for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
			char cand[PATH_MAX + 64];
			snprintf(cand, sizeof cand, "%s%s", exe, rel[i]);
			if (is_dir_with_config(cand)) {
				char real[PATH_MAX];
				snprintf(buf, n, "%s", realpath(cand, real) ? real : cand);
				return 0;
			}
		}
	}
	return -1;
}

presto_status presto_model_config_open(const char *dir, presto_model_config *c)
{
	char buf[4096];
	if (!dir) {
		if (presto_model_default_dir(buf, sizeof buf)) {
			memset(c, 0, sizeof *c);
			return presto_error_set(PRESTO_EIO, "no model: use --model DIR or set PRESTO_MODEL");
		}
		dir = buf;
	}
	return presto_model_config_load(dir, c);
}

presto_status presto_model_load_dit(const presto_model_config *c, presto_st **st, presto_dit **dit)
{
	*st = NULL;
	*dit = NULL;
	PRESTO_TRY(presto_st_open(c->dit_file, st));
	return presto_dit_load(*st, "model.model.", &c->dit, dit);
}

presto_status presto_model_load_vae(const presto_model_config *c, presto_st **st, presto_vae **vae)
{
	*st = NULL;
	*vae = NULL;
	PRESTO_TRY(presto_st_open(c->vae_file, st));
	return presto_vae_load(*st, "pretransform.model.", &c->vae, vae);
}

/* ---- conditioning encoder ---- */

struct presto_cond_encoder {
	const presto_model_config *c;
	presto_st *st;
	presto_t5 *t5;
	presto_tokenizer *tok;
	const float *proj_w, *proj_b; /* T5 -> cond_dim when the widths differ */
	presto_numcond num[PRESTO_MAX_CONDS];
	int text_len; /* max_length of the t5 conditioner */
	int seq_len, global_dim;
};

int presto_model_has_cond(const presto_model_config *c, const char *id)
{
	for (int i = 0; i < c->n_conds; i++)
		if (!strcmp(c->conds[i].id, id))
			return 1;
	return 0;
}

double presto_bpm_from_prompt(const char *p)
{
	for (const char *s = p; *s; s++) {
		if (!isdigit((unsigned char)*s) || (s > p && (isdigit((unsigned char)s[-1]) || s[-1] == '.')))
			continue;
		char *end;
		double v = strtod(s, &end);
		while (*end == ' ' || *end == '-')
			end++;
		if (!strncasecmp(end, "bpm", 3) && !isalnum((unsigned char)end[3]))
			return v;
	}
	return -1;
}

struct presto_t5 *presto_cond_encoder_t5(presto_cond_encoder *e) { return e->t5; }

static int cond_index(const presto_model_config *c, const char *id)
{
	for (int k = 0; k < c->n_conds; k++)
		if (!strcmp(c->conds[k].id, id))
			return k;
	return -1;
}

presto_status presto_cond_encoder_load(const presto_model_config *c, presto_cond_encoder **out)
{
	presto_cond_encoder *e = presto_calloc(1, sizeof *e);
	if (!e)
		return PRESTO_ENOMEM;
	e->c = c;
	presto_status rc = presto_st_open(c->text_file, &e->st);
	for (int k = 0; !rc && k < c->n_conds; k++) {
		if (c->conds[k].is_text) {
			e->text_len = c->conds[k].max_length;
			rc = presto_t5_load(e->st, c->t5_prefix, &c->t5, &e->t5);
			if (!rc)
				rc = presto_tokenizer_load(c->tokenizer_file, &e->tok);
			if (!rc && c->t5.d_model != c->cond_dim) {
				char name[128];
				snprintf(name, sizeof name, "conditioner.conditioners.%s.proj_out.", c->conds[k].id);
				rc = presto_st_f32f(e->st, &e->proj_w, 2, (int64_t[]){c->cond_dim, c->t5.d_model},
						    "%sweight", name);
				if (!rc)
					rc = presto_st_f32f(e->st, &e->proj_b, 1, (int64_t[]){c->cond_dim}, "%sbias",
							    name);
			}
		} else
			rc = presto_numcond_load(e->st, "conditioner.conditioners.", c->conds[k].id, c->conds[k].min_val,
						 c->conds[k].max_val, c->cond_dim, &e->num[k]);
	}
	for (int i = 0; !rc && i < c->n_cross; i++) {
		int k = cond_index(c, c->cross_ids[i]);
		e->seq_len += c->conds[k].is_text ? c->conds[k].max_length : 1;
	}
	for (int i = 0; !rc && i < c->n_global; i++) {
		int k = cond_index(c, c->global_ids[i]);
		if (c->conds[k].is_text)
			rc = presto_error_set(PRESTO_EUNSUP, "global conditioning on text is not supported");
		e->global_dim += c->cond_dim;
	}
	if (!rc && c->n_cross && c->cond_dim != c->dit.cond_token_dim)
		rc = presto_error_set(PRESTO_EINVAL, "%s/config.json: cond_dim %d differs from the DiT cond_token_dim %d",
				      c->dir, c->cond_dim, c->dit.cond_token_dim);
	if (!rc && e->global_dim != c->dit.global_cond_dim)
		rc = presto_error_set(PRESTO_EINVAL,
				      "%s/config.json: global conditioning is %d wide, the DiT expects %d", c->dir,
				      e->global_dim, c->dit.global_cond_dim);
	if (rc) {
		presto_cond_encoder_free(e);
		return rc;
	}
	*out = e;
	return PRESTO_OK;
}

void presto_cond_encoder_free(presto_cond_encoder *e)
{
	if (!e)
		return;
	presto_t5_free(e->t5);
	presto_tokenizer_free(e->tok);
	presto_st_close(e->st);
	free(e);
}

int presto_cond_encoder_seq_len(const presto_cond_encoder *e) { return e->seq_len; }
int presto_cond_encoder_global_dim(const presto_cond_encoder *e) { return e->global_dim; }

static double cond_value(const presto_cond_input *in, const char *id, int *ok)
{
	*ok = 1;
	if (!strcmp(id, "seconds_start"))
		return in->seconds_start;
	if (!strcmp(id, "seconds_total"))
		return in->seconds_total;
	if (!strcmp(id, "bpm") && in->bpm >= 0)
		return in->bpm;
	*ok = 0;
	return 0;
}

presto_status presto_cond_encode(presto_cond_encoder *e, const presto_cond_input *in, float *cross, float *mask,
				 float *global)
{
	const presto_model_config *c = e->c;
	int D = c->cond_dim;
	float *text = NULL, *tmask = NULL;
	int32_t *ids = NULL;
	presto_status rc = PRESTO_OK;
	if (e->t5) {
		int L = e->text_len, n;
		ids = presto_malloc(sizeof(int32_t) * (size_t)L);
		tmask = presto_falloc((size_t)L);
		text = presto_falloc((size_t)L * (size_t)(c->t5.d_model > D ? c->t5.d_model : D));
		if (!ids || !tmask || !text) {
			rc = PRESTO_ENOMEM;
			goto out;
		}
		rc = presto_tokenizer_encode_t5(e->tok, in->prompt ? in->prompt : "", L, ids, tmask, &n);
		if (!rc)
			rc = presto_t5_forward(e->t5, text, ids, tmask, 1, L, NULL, NULL);
		if (rc)
			goto out;
		if (e->proj_w) {
			float *p = presto_falloc((size_t)L * D);
			if (!p) {
				rc = PRESTO_ENOMEM;
				goto out;
			}
			presto_linear_forward(p, text, e->proj_w, e->proj_b, L, c->t5.d_model, D);
			free(text);
			text = p;
		}
		for (int t = 0; t < L; t++) /* the masked output, as T5Conditioner returns */
			for (int d = 0; d < D; d++)
				text[(size_t)t * D + d] *= tmask[t];
	}
	int pos = 0, gpos = 0;
	for (int i = 0; i < c->n_cross + c->n_global; i++) {
		int is_global = i >= c->n_cross;
		const char *id = is_global ? c->global_ids[i - c->n_cross] : c->cross_ids[i];
		int k = cond_index(c, id);
		if (c->conds[k].is_text) {
			memcpy(cross + (size_t)pos * D, text, sizeof(float) * (size_t)e->text_len * D);
			if (mask)
				memcpy(mask + pos, tmask, sizeof(float) * (size_t)e->text_len);
			pos += e->text_len;
			continue;
		}
		int ok;
		double v = cond_value(in, id, &ok);
		if (!ok) {
			rc = presto_error_set(PRESTO_EINVAL, "the model is conditioned on \"%s\", which was not given", id);
			goto out;
		}
		float *dst = is_global ? global + (size_t)gpos * D : cross + (size_t)pos * D;
		presto_numcond_forward(&e->num[k], dst, &v, 1, NULL);
		if (is_global)
			gpos++;
		else {
			if (mask)
				mask[pos] = 1.0f;
			pos++;
		}
	}
out:
	free(ids);
	free(tmask);
	free(text);
	return rc;
}

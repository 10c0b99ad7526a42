/* model.h - a presto model directory and the pieces each tool loads.
 *
 * A model is a directory holding config.json - a stable-audio-tools
 * model_config (model.pretransform, model.conditioning, model.diffusion,
 * sample_rate, audio_channels, optional sample_size) plus a "presto" object
 * naming the files and defaults - and one safetensors file per component:
 *   text.safetensors  T5 encoder (under presto.t5_prefix, "t5.") and the
 *                     conditioners (conditioner.conditioners.<id>.*)
 *   dit.safetensors   the DiT (model.model.*)
 *   vae.safetensors   the Oobleck VAE (pretransform.model.*)
 *   tokenizer.model   SentencePiece model of the text encoder
 * so that each tool loads only what it needs (man/man5/presto-model.5). */
#ifndef PRESTO_MODEL_H
#define PRESTO_MODEL_H

#include <jansson.h>

#include "dit.h"
#include "numcond.h"
#include "oobleck.h"
#include "sampler.h"
#include "t5.h"
#include "tokenizer.h"

#define PRESTO_MAX_CONDS 8
#define PRESTO_MAX_BUDGETS 64

typedef struct {
	double sigma_lo, sigma_hi;        /* applies to sigma_lo <= sigma < sigma_hi */
	unsigned char run[256];           /* 1 = block runs */
} presto_budget_entry;

typedef struct {
	int n;
	presto_budget_entry e[PRESTO_MAX_BUDGETS];
} presto_budget;

typedef struct {
	char dir[4096];
	json_t *root;            /* the whole config.json */
	char id[256];
	int sample_rate, audio_channels;
	long sample_size;        /* fixed audio length the model was trained on, 0 = any */

	/* conditioning */
	int cond_dim;
	int n_conds;
	struct {
		char id[64];
		int is_text;     /* "t5" */
		float min_val, max_val;  /* number */
		int max_length;  /* t5 */
	} conds[PRESTO_MAX_CONDS];
	char cross_ids[PRESTO_MAX_CONDS][64];
	int n_cross;
	char global_ids[PRESTO_MAX_CONDS][64];
	int n_global;
	presto_t5_config t5;
	int has_t5;
	char t5_prefix[64];

	/* diffusion */
	presto_dit_config dit;
	presto_precond_params precond;
	presto_budget budget;

	/* autoencoder */
	presto_oobleck_config vae;

	/* files */
	char text_file[4096], dit_file[4096], vae_file[4096], tokenizer_file[4096];

	/* sampling defaults */
	char sampler[32], schedule[32];
	int steps;
	double cfg_scale, sigma_min, sigma_max, rho;
} presto_model_config;

/* Parse <dir>/config.json (dir may also be the path of config.json itself). */
presto_status presto_model_config_load(const char *dir, presto_model_config *c);
void presto_model_config_free(presto_model_config *c);
/* Load the config of model directory `dir`, or of the default model when
 * dir is NULL ("no model: use --model DIR or set PRESTO_MODEL" if none). */
presto_status presto_model_config_open(const char *dir, presto_model_config *c);
/* Open a component's weights and load it; *st must stay open while the
 * model is used (the DiT uses fp32 weights in place) and is closed after. */
presto_status presto_model_load_dit(const presto_model_config *c, presto_st **st, presto_dit **dit);
presto_status presto_model_load_vae(const presto_model_config *c, presto_st **st, presto_vae **vae);
/* The default model directory: $PRESTO_MODEL, else the first of
 * <exe dir>/../models/default, <exe dir>/../../models/default, $PREFIX/share/presto/models/default
 * that exists. Returns 0 and fills buf, or -1. */
int presto_model_default_dir(char *buf, size_t n);

/* Layer budget from JSON: [{"sigma_min": a, "sigma_max": b, "blocks": [i, ...]}]
 * (blocks that RUN at a <= sigma < b; sigma_max may be null = inf). */
presto_status presto_budget_from_json(const json_t *j, int depth, presto_budget *b);
/* Mask of the blocks to run at sigma (NULL = all). */
const unsigned char *presto_budget_mask(const presto_budget *b, double sigma);

/* Whether the model has a conditioner of that id ("bpm", ...). */
int presto_model_has_cond(const presto_model_config *c, const char *id);
/* The tempo a prompt names ("..., 80 BPM" -> 80), or -1. */
double presto_bpm_from_prompt(const char *prompt);

/* ---- conditioning encoder (presto-encode) ---- */
typedef struct presto_cond_encoder presto_cond_encoder;
presto_status presto_cond_encoder_load(const presto_model_config *c, presto_cond_encoder **out);
void presto_cond_encoder_free(presto_cond_encoder *e);
/* Its T5 text encoder (NULL when the model has none), e.g. to put it on a GPU. */
struct presto_t5 *presto_cond_encoder_t5(presto_cond_encoder *e);
/* Width of the sequence (tokens) and of the global vector it produces. */
int presto_cond_encoder_seq_len(const presto_cond_encoder *e);
int presto_cond_encoder_global_dim(const presto_cond_encoder *e);

typedef struct {
	const char *prompt;
	double seconds_start, seconds_total, bpm; /* bpm < 0: not given */
} presto_cond_input;

/* cross[S, cond_dim], mask[S] (1 = real token), global[global_dim] (may be
 * NULL when the model has no global conditioning). */
presto_status presto_cond_encode(presto_cond_encoder *e, const presto_cond_input *in, float *cross, float *mask,
				 float *global);

#endif

/* train_dit.h - training the teacher DiT of a presto model (DESIGN.md §6):
 * the DiT, its conditioners (number embedders, the T5 projection) and, when
 * asked, the T5 text encoder, on a latent stream, fp32 on the CPU.
 *
 * Objective. Every preconditioning of lib/sampler.h is an EDM denoiser
 *   D(x; s) = c_skip(s) x + c_out(s) F(c_in(s) x, t_net(s)),  x = x0 + s eps.
 * The loss is EDM's weighted denoising loss
 *   E_{s, x0, eps} lambda(s) |D(x; s) - x0|^2,  lambda(s) = 1 / c_out(s)^2
 * (edm: (s^2 + sd^2) / (s sd)^2, Karras et al. 2022 eq. 8), computed in the
 * network's output space where it is a plain MSE:
 *   loss = mean over (b, c, t) of (F(y, t_net) - F_target)^2,
 *   y = c_in x = a x0 + b eps,  F_target = (x0 - c_skip x) / c_out
 *        = ka x0 + ke eps with, in double and finite at every s:
 *     edm: ka = s / (sd sqrt(s^2 + sd^2)),  ke = -sd / sqrt(s^2 + sd^2)
 *     v:   ka = -s / sqrt(s^2 + 1),         ke = 1 / sqrt(s^2 + 1)
 *          (F_target = v = alpha eps - sigma x0, stable-audio-tools' v loss)
 *     rf:  ka = -1,                          ke = 1  (F_target = eps - x0)
 * Training noise levels, one per item:
 *   LOGNORMAL    ln s ~ N(p_mean, p_std^2)          (EDM: -1.2, 1.2)
 *   UNIFORM      t ~ U[0, 1), s = the sigma of network time t (v: tan(t pi/2),
 *                rf: t/(1-t)); stable-audio-tools' "uniform" timestep sampler
 *                (SAO 1.0, v; it draws t from a scrambled Sobol sequence, here
 *                plain counter-based uniforms); not for edm
 *   LOGIT_NORMAL t = sigmoid(n), n ~ N(p_mean, p_std^2) (stable-audio-tools'
 *                "logit_normal" with p_mean 0, p_std 1: SAO Small, rf);
 *                not for edm
 * Conditioning dropout for classifier-free guidance: with probability
 * cond_dropout an item's whole cross-attention context [S, cond_dim] is
 * zeroed (the null condition presto_dit_forward_cfg and stable-audio-tools
 * use; the global conditioning is kept), so no gradient reaches its text.
 *
 * Latent scale. The stream holds z / s0 (s0 = the model config's
 * model.pretransform.scale, which presto-ingest's encoder applied). The
 * trainer divides them further by k so that the DiT sees latents of RMS
 * sigma_data (edm) or 1 (v, rf): k = RMS(training latents) / target, the
 * RMS sqrt(mean z^2) in double over every element of the training split
 * (the second moment is what the preconditioning assumes), unless the
 * options fix k. The exported config.json records s0 * k as the new
 * pretransform scale, so that presto-ingest/-decode of the exported model
 * produce and take exactly the latents the DiT was trained on.
 *
 * Step. Batch B of the epoch's permutation; text ids -> T5 (trainable or
 * frozen) -> proj_out (when T5's width differs from cond_dim) -> masked
 * (rows of padding tokens zero, as T5Conditioner returns) -> with the
 * number conditioners' tokens, concatenated in the order of
 * cross_attention_cond_ids -> context [B, S, cond_dim]; global_cond_ids
 * concatenated along the width -> global [B, G]; the DiT's training forward
 * and backward; the backward through every conditioner; loss scaling,
 * clipping, AdamW at the schedule's lr (weight decay on the tensors the
 * tables mark: matrices and embeddings, not biases and norms; stable-audio-
 * tools decays every parameter), EMA (optim.h). An epoch's last partial
 * batch is dropped (the next epoch starts instead). Randomness is
 * counter-based: batch k (the checkpoint's rng counter) draws its noise,
 * levels and dropout from streams 4k .. 4k+3 of the run's seed, and the data
 * order of epoch e is a Fisher-Yates shuffle with the draws of stream 2e of
 * the data seed: a resumed run repeats the uninterrupted one bit for bit.
 *
 * Everything trainable lives in ONE parameter table (lib/params.h): the DiT
 * under "model.model.", the conditioners under "conditioner.conditioners.",
 * a trained T5 under the model's t5_prefix ("t5."). A frozen T5 stays out
 * of the table (loaded from the model's text file, forward only). */
#ifndef PRESTO_TRAIN_DIT_H
#define PRESTO_TRAIN_DIT_H

#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "optim.h"
#include "stream.h"

/* ---- the data: a latent stream in memory ---- */

typedef struct {
	int n;                 /* records */
	int C;                 /* latent channels (the DiT's io_channels) */
	int T_max;             /* longest record */
	int f16;               /* latents held as IEEE half (else f32) */
	size_t *off;           /* [n] element offset of record i's latent [C, T_i] */
	int *T;                /* [n] frames */
	void *lat;             /* all latents, float or uint16_t */
	char **prompt;         /* [n] ("" when the record has none) */
	char **split;          /* [n] NULL when the record has no "split" */
	uint64_t *id;          /* [n] record ids */
	int n_num;             /* number conditioners of the model, in model order */
	char num_id[PRESTO_MAX_CONDS][64];
	double *num;           /* [n, n_num] their values */
	uint64_t checksum;     /* hash of every latent value (as stored), prompt,
				* split and conditioner value, in order */
} presto_latent_set;

/* Read every record of a latent stream (tensor "latent" [C, T] or [1, C, T]
 * with C = the DiT's io_channels; params "prompt" (or "caption"; a string, required when
 * the model has a t5 conditioner), "split" (string, optional), and one
 * number per number conditioner of the model, named by its id
 * ("seconds_total", "bpm", ...; "seconds_start" defaults to 0 when absent)).
 * f16: keep the latents as halves (half the memory; values rounded once at
 * load). A record that lacks what the model needs is an error naming it. */
presto_status presto_latent_set_read(presto_stream_reader *r, const presto_model_config *mc, int f16,
				     presto_latent_set *s);
/* The same from a file ("-": standard input). */
presto_status presto_latent_set_load(const char *path, const presto_model_config *mc, int f16,
				     presto_latent_set *s);
void presto_latent_set_free(presto_latent_set *s);
/* out[C, len] = frames off .. off+len-1 of record i, as floats. */
void presto_latent_set_get(const presto_latent_set *s, int i, int off, int len, float *out);

/* ---- options ---- */

typedef enum {
	PRESTO_NOISE_LOGNORMAL = 0,
	PRESTO_NOISE_UNIFORM,
	PRESTO_NOISE_LOGIT_NORMAL,
} presto_noise_dist;
/* "lognormal", "uniform", "logit-normal"; parse: 0 ok, -1 unknown. */
const char *presto_noise_dist_name(presto_noise_dist d);
int presto_noise_dist_parse(const char *name, presto_noise_dist *d);

typedef struct {
	uint64_t seed;            /* initial weights, noise, dropout, data order */
	int batch;                /* B (8) */
	int frames;               /* training crop T (0: every training record must
				   * have the same length, used whole); > 0: a random
				   * window of T frames per draw (records must be at
				   * least T long); seconds_start moves with the window */
	const char *train_split;  /* "train" (records without a split count as
				   * training records); NULL: every record */
	const char *valid_split;  /* "valid"; NULL: no validation */
	int valid_max;            /* validate on at most this many records (0: all) */
	int n_valid_sigmas;       /* fixed validation noise levels (8): the
				   * (k + 1/2)/n quantiles of the training
				   * distribution, k = 0 .. n-1 */
	/* objective (the preconditioning is the model's) */
	presto_noise_dist noise;
	double p_mean, p_std;     /* LOGNORMAL: -1.2, 1.2; LOGIT_NORMAL: 0, 1 */
	double cond_dropout;      /* 0.1 */
	double latent_scale;      /* k above: 0 measures it on the training split */
	/* what trains, and from where */
	int init_from_model;      /* 1: start from the model directory's dit and text
				   * weights (fine-tuning); 0: random (dit_init.h,
				   * conditioners and T5 as PyTorch constructs them) */
	int zero_init_branch_outputs; /* random DiT init (1); the model config's
				       * diffusion.config.zero_init_branch_outputs,
				       * when present, wins */
	int train_text;           /* 1: train the T5 encoder too (random init or the
				   * model's); 0: frozen, from the model's text file */
	int train_conditioners;   /* 1: number embedders and proj_out train (SAO) */
	/* optimisation (optim.h) */
	presto_adamw_config adamw;     /* betas 0.9/0.999, eps 1e-8, weight decay 1e-3 */
	presto_lr_schedule lr;         /* constant 1e-4, warm-up 100 */
	double max_grad_norm;          /* 1.0 (0: none) */
	double ema_decay;              /* 0.999 (0: no EMA) */
	double ema_warmup_power;       /* 0.75 */
	int loss_scaling;              /* dynamic loss scaling (0 on the CPU) */
	/* validation */
	int allow_data_change;    /* resume with other training data (else an error) */
} presto_dit_train_opts;

/* The defaults above, with the noise distribution that suits the model's
 * objective: LOGNORMAL (-1.2, 1.2) for edm, UNIFORM for v, LOGIT_NORMAL
 * (0, 1) for rf. */
void presto_dit_train_opts_defaults(presto_dit_train_opts *o, presto_precond kind);

/* The training coefficients at noise level sigma for the preconditioning:
 * network input y = a x0 + b eps, target F_target = ka x0 + ke eps (the
 * formulas above; finite for every sigma the objective allows), network time
 * t_net. */
void presto_dit_train_coeffs(const presto_precond_params *pre, double sigma, double *a, double *b, double *ka,
			     double *ke, double *t_net);

/* ---- the trainer ---- */

typedef struct presto_dit_trainer presto_dit_trainer;

/* A trainer for model `mc` (config.json of a model directory: the DiT, the
 * conditioning and its tokenizer.model; dit/text weight files only with
 * init_from_model or a frozen T5) on `data` (both must outlive it). Splits,
 * tokenisation and the latent scale are settled here. */
presto_status presto_dit_trainer_new(const presto_model_config *mc, const presto_latent_set *data,
				     const presto_dit_train_opts *o, presto_dit_trainer **out);
void presto_dit_trainer_free(presto_dit_trainer *tr);

typedef struct {
	int64_t step;             /* optimizer updates done (after this step) */
	int64_t batches;          /* batches drawn so far (skipped ones too) */
	int64_t epoch, position;  /* data cursor after the batch */
	double loss;              /* the batch's loss (unscaled) */
	double lr;                /* learning rate of the update */
	double grad_norm;         /* global norm before clipping */
	int skipped;              /* 1: non-finite gradient, no update */
	double seconds;           /* wall time of the step */
	double examples_per_s;    /* B / seconds */
} presto_dit_train_stats;

/* One training step (one batch, one update). st may be NULL. */
presto_status presto_dit_trainer_step(presto_dit_trainer *tr, presto_dit_train_stats *st);

/* The loss and the gradient (unscaled; a buffer of the table's layout owned
 * by the trainer, valid until its next call) of the batch the next step
 * would draw, without changing the training state: for tests (finite
 * differences against presto_dit_trainer_weights()) and diagnostics. */
presto_status presto_dit_trainer_grad(presto_dit_trainer *tr, double *loss, const float **grad);
/* The live weights (ps->data of presto_dit_trainer_params()); writable. */
float *presto_dit_trainer_weights(presto_dit_trainer *tr);

/* Validation loss (the training loss without dropout) over the validation
 * records (their first T frames when training crops) at the n_valid_sigmas
 * fixed levels, with fixed noise (a function of the seed and the record's
 * index only): deterministic, comparable between steps. use_ema: the EMA weights (when the run has them), else the live
 * ones. per_sigma (may be NULL) receives n_valid_sigmas means, sigmas (may
 * be NULL) the levels. EINVAL when there is no validation split. */
presto_status presto_dit_trainer_validate(presto_dit_trainer *tr, int use_ema, double *loss, double *per_sigma,
					  double *sigmas);

/* Whole training state to dir/step-NNNNNN.safetensors (rotating, `keep`
 * kept; checkpoint.h), with the options, the latent scale and the data's
 * checksum in its metadata. path_out (may be NULL): the file written. */
presto_status presto_dit_trainer_save(presto_dit_trainer *tr, const char *dir, int keep, char **path_out);
/* Restore a checkpoint: `path` is a checkpoint file or a directory (its
 * latest). PRESTO_EEOF when the path does not exist or the directory has
 * none (a fresh run; the state is untouched). The
 * latent scale comes from the checkpoint; other data than the checkpoint's
 * is an error unless allow_data_change. */
presto_status presto_dit_trainer_resume(presto_dit_trainer *tr, const char *path);

/* Write the trained parts of a presto model directory to out_dir (created
 * if missing): dit.safetensors (model.model.*), text.safetensors (the T5
 * under t5_prefix, trained or copied from the model's text file, and
 * conditioner.conditioners.*), config.json (the model's, with
 * model.pretransform.scale = s0 * k and presto.training notes), and, when
 * out_dir is not the model's directory, copies of its tokenizer.model and
 * vae.safetensors when they exist. use_ema: EMA weights (default choice)
 * when the run has them. dtype F32, F16 or BF16. */
presto_status presto_dit_trainer_export(presto_dit_trainer *tr, const char *out_dir, presto_dtype dtype, int use_ema);

/* Accessors. */
double presto_dit_trainer_latent_scale(const presto_dit_trainer *tr); /* k */
int64_t presto_dit_trainer_step_count(const presto_dit_trainer *tr);
int presto_dit_trainer_n_train(const presto_dit_trainer *tr);
int presto_dit_trainer_n_valid(const presto_dit_trainer *tr);
const presto_params *presto_dit_trainer_params(const presto_dit_trainer *tr);
/* The EMA weights (a buffer of the table's layout) or NULL. */
const float *presto_dit_trainer_ema(const presto_dit_trainer *tr);

/* ---- the loop ---- */

typedef struct {
	int64_t steps;            /* train until this many updates are done */
	int log_every;            /* call log every N steps (0: never) */
	int valid_every;          /* validate every N steps (0: never) */
	int ckpt_every;           /* checkpoint every N steps (0: only at the end) */
	const char *ckpt_dir;     /* NULL: no checkpoints */
	int keep;                 /* checkpoints kept (3) */
	void (*log)(void *ctx, const presto_dit_train_stats *s);
	void (*valid)(void *ctx, int64_t step, double loss, const double *per_sigma, const double *sigmas, int n);
	void *ctx;
	volatile int *stop;       /* set (e.g. by SIGINT): checkpoint and return */
} presto_dit_train_loop;

/* Train to l->steps (from wherever the trainer stands), with logging,
 * validation and checkpoints as asked; a last checkpoint is written when
 * the loop ends (reached, or stopped). */
presto_status presto_dit_trainer_run(presto_dit_trainer *tr, const presto_dit_train_loop *l);

#endif

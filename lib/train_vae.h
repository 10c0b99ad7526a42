/* train_vae.h - training the Oobleck VAE (stable-audio-tools'
 * AutoencoderTrainingWrapper without the adversarial part) on a list of audio
 * files; the library under `presto-train vae`.
 *
 * One step (batch B of random crops of `chunk` frames):
 *   pre = encoder(x)                                     [B, 2L, Lz]
 *   z   = mean + std * noise (VAE bottleneck, noise ~ N(0, 1))
 *   y   = decoder(z)                                      [B, C, chunk]
 *   loss = w_stft_lr * lr + w_stft_ms * ms                (loss.h, stereo form;
 *            the reference's argument order: input = x, target = y, so the
 *            spectral convergence is normalised by the decoded spectrum)
 *        + w_l1 * mean |y - x| + w_l2 * mean (y - x)^2
 *        + w_kl * KL, KL = mean over items of sum over latent channels,
 *            mean over frames of (mean^2 + var - log var - 1)
 *   backward -> gradient (every parameter: encoder and decoder weight_g,
 *   weight_v, bias, Snake alpha / beta) -> (non-finite: step skipped) ->
 *   global-norm clipping -> AdamW (weight decay on weight_v only) at the
 *   schedule's rate -> EMA.
 * Not implemented (yet): the adversarial and feature-matching terms (the
 * EnCodec multi-scale STFT discriminator), auraloss' perceptual A-weighting
 * pre-filter, latent masking, distillation.
 *
 * Frozen encoder (freeze_encoder, for improving the decoder of a VAE whose
 * latents a DiT was trained on): the encoder's tensors (the bottleneck has
 * none: it splits the encoder's last conv output into mean and scale) are
 * buffers of the table (trainable = 0, optim.h): no gradient is computed for
 * them (neither the encoder backward nor the bottleneck's is run, so the KL
 * term, still reported and part of `total`, has no effect), AdamW, clipping
 * and the finiteness check leave them alone (no weight decay either), the
 * EMA copies them (so it equals the weights). The forward, the batch, the
 * noise and the decoder's gradient are those of a full step: only the
 * decoder learns, on the same objective. The weights come from init_from or
 * a checkpoint of a frozen run (a random encoder is refused). The skipped
 * encoder backward is about a quarter of a step (default VAE, 4 x 65536
 * frames, one thread: 3.2 -> 2.4 s; docs/training.md).
 *
 * Data: crops are drawn with the counter-based RNG (lib/rng.h) from (seed,
 * draw index = step * B + item) only: file (uniform over the files, as the
 * reference, or weighted by length), offset (uniform over [0, frames - chunk];
 * 0 with zero padding for shorter files), polarity (negated with p = 1/2,
 * the reference's PhaseFlipper). The bottleneck noise of step s comes from
 * stream 2^32 + s. Nothing else is random, so the run's whole state is the
 * checkpoint's (parameters, moments, EMA, step counters, seed): a run killed
 * at any moment and resumed from its latest checkpoint goes on bit-identically
 * (same thread count and BLAS). Crops are read from the files on demand
 * (open, seek, read: memory does not grow with the corpus); files whose
 * channel count differs from the model's are converted (mono duplicated to
 * every channel; several channels averaged for a mono model); every file must
 * have the run's sample rate.
 *
 * Validation: `val_crops` crops of `chunk` frames at evenly spaced offsets of
 * every validation file (read once, kept in memory), reconstructed
 * deterministically (z = mean), with the EMA weights when there are some;
 * the same loss terms plus SI-SDR (mean over channels and crops).
 *
 * Counting: a step draws one batch; `steps` counts steps (the checkpoint's
 * rng.counter; data.position = steps * B, data.epoch 0), the optimizer's
 * step counts updates (fewer when steps were skipped) and drives the
 * learning-rate schedule.
 *
 * Cost (2 cores, fp32): the MR-STFT loss costs 3 STFT-sized products per
 * signal and resolution, about 24 T sum(n_fft) flops per signal of T
 * samples (3.2 GFLOP for T = 32768 with the default resolutions); a stereo
 * item is 4 signals (L, R, L+R, L-R). Crop reads: ~3 ms per 65536-frame
 * crop of a FLAC file, ~0.7 ms for WAV. */
#ifndef PRESTO_TRAIN_VAE_H
#define PRESTO_TRAIN_VAE_H

#include <jansson.h>
#include <stdint.h>

#include "checkpoint.h"
#include "loss.h"
#include "oobleck.h"
#include "optim.h"

/* Loss terms and step statistics. The loss terms are unweighted except
 * `total` (the objective); si_sdr in dB (validation only). */
typedef struct {
	double total;
	double stft_lr, stft_ms, l1, l2, kl;
	double si_sdr;
	double lr;          /* learning rate of the update (training) */
	double grad_norm;   /* before clipping; NaN for a skipped step */
	int skipped;        /* steps skipped (non-finite gradients) */
	double seconds;     /* wall time */
} presto_train_vae_stats;

typedef enum {
	PRESTO_TRAIN_VAE_STEP = 0, /* every log_every steps: stats averaged over them */
	PRESTO_TRAIN_VAE_VAL,      /* a validation pass */
	PRESTO_TRAIN_VAE_CKPT,     /* a checkpoint was written: message = its path */
	PRESTO_TRAIN_VAE_INFO,     /* a line of text (resumed from ..., ...) */
} presto_train_vae_event;

typedef struct {
	presto_train_vae_event event;
	int64_t step;           /* steps done (batches) */
	int64_t steps;          /* the run's total */
	int64_t updates;        /* optimizer updates done (step - skipped) */
	presto_train_vae_stats stats;
	double items_per_s;     /* STEP: crops per second over the window */
	double audio_per_s;     /* STEP: seconds of audio per second */
	const char *message;    /* CKPT, INFO (valid during the call) */
} presto_train_vae_log;

typedef void (*presto_train_vae_log_fn)(void *ctx, const presto_train_vae_log *rec);

typedef struct {
	/* ---- model */
	presto_oobleck_config model; /* geometry; both parts are trained
				      * (has_encoder / has_decoder ignored);
				      * scale is kept for the export */
	const char *init_from;       /* NULL: fresh initialisation (torch's
				      * default Conv1d init: v ~ U(+-1/sqrt(fan_in)),
				      * g = |v| per output row, bias ~
				      * U(+-1/sqrt(fan_in)), Snake log-alpha =
				      * log-beta = 0); or a vae.safetensors
				      * (pretransform.model.*; weight_g/weight_v
				      * or folded .weight) to fine-tune */
	int freeze_encoder;          /* 1: train the decoder only (above);
				      * needs init_from unless a checkpoint
				      * of a frozen run is resumed. A
				      * checkpoint records it: resuming one
				      * with the other setting is EINVAL */

	/* ---- data */
	const char *const *train_files; /* copied */
	int n_train;
	const char *const *val_files;   /* may be empty */
	int n_val;
	int sample_rate;                /* 44100 */
	int chunk;                      /* crop frames: a multiple of the
					 * downsampling ratio (65536 in SAO) */
	int batch;
	int phase_flip;                 /* 1 (reference) */
	int weight_by_length;           /* 0: files uniformly (reference) */

	/* ---- losses */
	presto_mrstft_config stft;      /* presto_mrstft_defaults() */
	double w_stft_lr, w_stft_ms;    /* 1, 2: the reference's objective */
	double w_l1, w_l2;              /* 0, 0 */
	double w_kl;                    /* 1e-4 (SAO 1.0's config: 1e-6) */

	/* ---- optimisation */
	int64_t steps;                  /* total steps of the run */
	presto_adamw_config adamw;      /* betas (0.8, 0.99), eps 1e-8, weight
					 * decay 0.01 (torch's default, which
					 * the reference leaves; here on
					 * weight_v only) */
	presto_lr_schedule lr;          /* constant 1e-4 */
	double max_grad_norm;           /* 0: none (the reference does not clip) */
	int use_ema;                    /* 1 */
	double ema_decay;               /* 0.9999 */
	double ema_warmup_power;        /* 0.75 (ema_pytorch power 3/4) */
	uint64_t seed;

	/* ---- validation */
	int val_every;                  /* steps between passes, 0: none */
	int val_crops;                  /* crops per validation file (2) */

	/* ---- checkpoints */
	const char *ckpt_dir;           /* NULL: none (created if missing) */
	int ckpt_every;                 /* steps, 0: only at the end / stop */
	int ckpt_keep;                  /* rotation: files kept (3) */
	int resume;                     /* 1: continue from ckpt_dir/latest when
					 * there is one (its seed and counters;
					 * the options' hyper-parameters) */

	/* ---- reporting */
	int log_every;                  /* steps per STEP record (10) */
	presto_train_vae_log_fn log;    /* may be NULL */
	void *log_ctx;
	volatile int *stop;             /* polled before every step (may be
					 * NULL): nonzero (set by a signal
					 * handler, a callback, ...) ends
					 * presto_train_vae_run after a
					 * checkpoint */
	int threads;                    /* BLAS threads, 0: leave as is */
} presto_train_vae_options;

/* Defaults as commented above (model: zeroed, to be filled in; files: none). */
void presto_train_vae_defaults(presto_train_vae_options *o);

typedef struct presto_train_vae presto_train_vae;

/* Validate the options, scan the files (sample rate, channels, length: EINVAL
 * naming the file), build the parameter table, optimizer and EMA, read the
 * validation crops, then initialise: from ckpt_dir/latest when resume is set
 * and one exists (a checkpoint of another model configuration, or of the
 * other freeze_encoder setting, is EINVAL), else from init_from or a fresh
 * initialisation from the seed (EINVAL with freeze_encoder). */
presto_status presto_train_vae_new(const presto_train_vae_options *o, presto_train_vae **out);
void presto_train_vae_free(presto_train_vae *tv);

/* One training step (batch drawn for the current step count). stats may be
 * NULL. Errors (I/O of a crop, ...) leave the state as it was before the
 * step. */
presto_status presto_train_vae_step(presto_train_vae *tv, presto_train_vae_stats *stats);
/* The loss and gradient of the batch the next step would draw, at the
 * current weights, without changing anything (for gradient checks and
 * diagnostics): grad (a buffer of the table's layout, may be NULL) receives
 * d total / d parameters (zeros for a frozen encoder's tensors); stats the
 * loss terms and grad_norm (of the trained tensors). */
presto_status presto_train_vae_eval(presto_train_vae *tv, float *grad, presto_train_vae_stats *stats);
/* A validation pass (EINVAL when there are no validation files). The
 * training state is unchanged. */
presto_status presto_train_vae_validate(presto_train_vae *tv, presto_train_vae_stats *stats);
/* Write a rotating checkpoint into ckpt_dir now (EINVAL without ckpt_dir);
 * path_out (may be NULL) receives its path (malloc'd). */
presto_status presto_train_vae_checkpoint(presto_train_vae *tv, char **path_out);
/* Steps until `steps` with the periodic STEP / VAL / CKPT records, then a
 * last checkpoint (when ckpt_dir is set and the last step has none). Stops
 * early, after a checkpoint, when *stop is set. */
presto_status presto_train_vae_run(presto_train_vae *tv);

/* Export the weights as a model directory's vae.safetensors: every
 * parameter (a frozen encoder's too) under its pretransform.model.encoder.* /
 * decoder.* name (weight_g / weight_v unfolded, as presto_vae_load takes
 * them), in dtype (PRESTO_F32, PRESTO_F16, PRESTO_BF16); the EMA weights
 * when ema and the run has them, else the raw ones. Atomic. */
presto_status presto_train_vae_export(presto_train_vae *tv, const char *path, int ema, presto_dtype dtype);
/* The "pretransform" object of a model directory's config.json for c (SAO's
 * layout: autoencoder, oobleck encoder / decoder, vae bottleneck; "scale"
 * when it is not 1). NULL on allocation failure (error set). */
json_t *presto_train_vae_pretransform_json(const presto_oobleck_config *c);

/* The state (parameters, moments, EMA, counters); rng.counter is the number
 * of steps done. The trainer's model reads its weights from state->ps->data:
 * a caller may change them between calls (a gradient check perturbs them);
 * nothing else of the state should be written. */
const presto_train_state *presto_train_vae_state(const presto_train_vae *tv);
int64_t presto_train_vae_steps_done(const presto_train_vae *tv);

/* Read frames [offset, offset + N) of an audio file as planar [C, N] floats
 * (full scale +-1, as presto_audio_read), converting the file's channels as
 * the trainer does and zero-padding past the end. EIO / EINVAL naming the
 * file. */
presto_status presto_train_vae_read_crop(const char *path, int64_t offset, int C, int N, float *out);

#endif

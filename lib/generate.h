/* generate.h - one latent from conditioning: noise, schedule, sampler, CFG
 * and layer budget around the DiT (what presto-sample runs per record). */
#ifndef PRESTO_GENERATE_H
#define PRESTO_GENERATE_H

#include "model.h"

typedef struct {
	presto_sampler_kind sampler;
	int steps;
	double cfg_scale;
	char schedule[32];        /* "karras", "polyexponential" (log-linear at rho 1), "rf", "explicit" */
	double sigma_min, sigma_max, rho;
	const double *sigmas;     /* explicit schedule: steps + 1 values ending in 0 (schedule "explicit") */
	uint64_t seed;
	const presto_budget *budget; /* NULL = every block */
	double eta, s_noise;      /* dpmpp-3m-sde */
	presto_step_fn step;      /* optional per-step callback */
	void *step_ctx;
	presto_step_need step_need; /* what it needs (sampler.h) */
	const float *init;        /* variation: start from this clean latent [C, T] ... */
	double init_sigma;        /* ... noised to this sigma (the schedule is cut there) */
} presto_gen_opts;

/* Fill sigmas[o->steps + 1] for the options (and the model's preconditioning).
 * Returns the number of steps actually used in *steps (a variation cuts the
 * schedule at init_sigma). */
presto_status presto_gen_schedule(const presto_model_config *c, const presto_gen_opts *o, double *sigmas, int *steps);

/* latent[C, T] for conditioning cross[S, cond_dim], neg[S, cond_dim] or NULL
 * (zeros: the reference's null condition), global[global_dim] or NULL.
 * Deterministic in (seed, options); noise element i of (seed, stream) does
 * not depend on anything else. */
presto_status presto_generate(presto_dit *dit, const presto_model_config *c, const presto_gen_opts *o,
			      const float *cross, const float *neg, int S, const float *global, int T, float *latent);

/* B records of T frames at once: each network evaluation runs the DiT on B
 * items (2B with guidance). Record b has the conditioning cross + b S
 * cond_dim (neg likewise, or NULL for all; global + b global_dim, or NULL),
 * the seed seeds[b], the start latent inits[b] when o->init is set (inits
 * NULL: o->init for every record) and its latent at latents + b C T. Every
 * other option is shared. Record b's latent is the one presto_generate
 * gives it alone (the same noise; on the CPU the same bytes, as the DiT's
 * items are computed independently; a GPU's batched matrix products may
 * round differently). o->step sees the whole batch, [B, C, T]. */
presto_status presto_generate_batch(presto_dit *dit, const presto_model_config *c, const presto_gen_opts *o, int B,
				    const uint64_t *seeds, const float *const *inits, const float *cross,
				    const float *neg, int S, const float *global, int T, float *latents);

/* The sampling loop on an accelerator (set by lib/accel.c): presto_generate
 * then keeps the latent, the sampler's vectors and the noise in device
 * memory (vecs), uploads a record's conditioning once (begin) and runs each
 * network evaluation with its guidance there (forward), so that per step
 * nothing crosses to the host but a few scalars. */
typedef struct presto_dit_device {
	presto_vecs vecs;
	/* the conditioning of the next forwards (host arrays, as for
	 * presto_dit_forward_cfg) for B items of T frames at guidance scale */
	presto_status (*begin)(void *ctx, const float *cross, const float *neg, int S, const float *global, int B,
			       int T, float scale);
	/* out = presto_dit_forward_cfg's out for device x [B, C, T] and host
	 * t [B], with begin's conditioning; block_mask as presto_dit_opts' */
	presto_status (*forward)(void *ctx, float *out, const float *x, const float *t,
				 const unsigned char *block_mask);
	void *ctx;
} presto_dit_device;
/* d NULL: the loop runs on the host (the DiT's forwards may still be
 * accelerated one by one). The model keeps the pointer, not owning it. */
void presto_dit_set_device(presto_dit *m, const presto_dit_device *d);
/* 1 when presto_generate runs m's sampling loop on a device */
int presto_dit_device_loop(const presto_dit *m);

/* Latent frames for a duration: ceil(seconds * sample_rate / ratio), or the
 * model's fixed sample_size / ratio when it has one. */
int presto_latent_frames(const presto_model_config *c, double seconds);

#endif

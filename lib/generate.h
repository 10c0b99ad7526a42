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

/* Latent frames for a duration: ceil(seconds * sample_rate / ratio), or the
 * model's fixed sample_size / ratio when it has one. */
int presto_latent_frames(const presto_model_config *c, double seconds);

#endif

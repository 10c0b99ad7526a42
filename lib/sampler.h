/* sampler.h - preconditioning, noise schedules and samplers.
 *
 * Every model is seen as an EDM denoiser D(x; sigma) (x = x0 + sigma * eps):
 *   edm: c_skip = sd^2/(s^2+sd^2), c_out = s sd/sqrt(s^2+sd^2),
 *        c_in = 1/sqrt(s^2+sd^2), network time c_noise = log(s)/4
 *   v:   (sigma_data 1, SAO 1.0) c_skip = 1/(s^2+1), c_out = -s/sqrt(s^2+1),
 *        c_in = 1/sqrt(s^2+1), network time t = atan(s) 2/pi
 *   rf:  (SAO Small) t = s/(1+s), c_in = 1/(1+s) = 1-t, network predicts
 *        v = eps - x0, D = x_in - t F(x_in, t)
 * The network input c_in * x stays finite when sigma = +inf (pure noise, as
 * the rf ping-pong schedule starts at t = 1), so samplers that may start at
 * sigma = inf (pingpong, presto) keep their state in network-input space.
 * Samplers are pure functions of (denoiser, x, sigmas, noise source). */
#ifndef PRESTO_SAMPLER_H
#define PRESTO_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum { PRESTO_PRECOND_EDM, PRESTO_PRECOND_V, PRESTO_PRECOND_RF } presto_precond;

typedef struct {
	presto_precond kind;
	double sigma_data; /* edm only */
} presto_precond_params;

/* c_skip, c_out, c_in and the network's time input for sigma (inf allowed). */
void presto_precond_coeffs(const presto_precond_params *p, double sigma, double *c_skip, double *c_out, double *c_in,
			   double *t_net);
int presto_precond_parse(const char *name, presto_precond *kind); /* "edm", "v", "rf" */
const char *presto_precond_name(presto_precond kind);

/* The network: out[n] = F(x_in[n], t_net) for the whole batch (n floats). */
typedef presto_status (*presto_net_fn)(void *ctx, float *out, const float *x_in, double t_net, int eval_index);

typedef struct {
	presto_precond_params pre;
	presto_net_fn net;
	void *net_ctx;
	size_t n;         /* floats in x (whole batch) */
	float *scratch;   /* 2n floats, owned by the caller */
} presto_denoiser;

/* denoised = D(x; sigma) for x in sigma space (finite sigma). */
presto_status presto_denoise(presto_denoiser *d, float *denoised, const float *x, double sigma, int eval_index);

/* Schedules: out[steps + 1] with out[steps] = 0. */
/* Karras et al. (rho, e.g. 7): sigma_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho */
void presto_sigmas_karras(double *out, int steps, double sigma_min, double sigma_max, double rho);
/* k-diffusion get_sigmas_polyexponential: exp(((linspace(1, 0, n))^rho) (log smax - log smin) + log smin);
 * rho = 1 is log-linear. */
void presto_sigmas_polyexponential(double *out, int steps, double sigma_min, double sigma_max, double rho);
/* stable-audio-tools sample_rf / pingpong: logsnr = linspace(logsnr_max_neg, 2, n+1)... as t
 * schedule t_i = sigmoid(-logsnr_i), t_0 = 1 (sigma inf), t_n = 0; out as sigmas
 * (sigma = t/(1-t), +inf for t = 1). */
void presto_sigmas_rf_logsnr(double *out, int steps, double logsnr_min, double logsnr_max);

typedef enum {
	PRESTO_SAMPLER_EULER,
	PRESTO_SAMPLER_HEUN,
	PRESTO_SAMPLER_DPMPP_2M,
	PRESTO_SAMPLER_DPMPP_3M_SDE,
	PRESTO_SAMPLER_PINGPONG,
	PRESTO_SAMPLER_PRESTO,
} presto_sampler_kind;
int presto_sampler_parse(const char *name, presto_sampler_kind *kind); /* "euler", "dpmpp-3m-sde", ... */
const char *presto_sampler_name(presto_sampler_kind kind);

/* Noise source for stochastic samplers: out[n] unit normal for the call-th
 * draw (0, 1, ...), made between sigma and sigma_next. */
typedef presto_status (*presto_noise_fn)(void *ctx, float *out, size_t n, int call, double sigma, double sigma_next);

/* Per-step callback (i, sigma_i, x at the start of the step, denoised). */
typedef void (*presto_step_fn)(void *ctx, int i, double sigma, const float *x, const float *denoised);

typedef struct {
	presto_sampler_kind kind;
	double eta, s_noise;   /* dpmpp-3m-sde (defaults 1, 1) */
	presto_noise_fn noise; /* required by dpmpp-3m-sde, pingpong, presto */
	void *noise_ctx;
	presto_step_fn step;   /* optional */
	void *step_ctx;
} presto_sampler_opts;

/* Run the sampler over sigmas[0..steps] (sigmas[steps] = 0). x: on entry the
 * initial x = noise * sigmas[0] in sigma space for euler/heun/dpmpp; for
 * pingpong/presto the network-input-space start c_in(sigma_0) * x (= unit
 * noise when sigma_0 = inf). On return the final latent. */
presto_status presto_sample(presto_denoiser *d, const presto_sampler_opts *o, float *x, const double *sigmas,
			    int steps);

#endif

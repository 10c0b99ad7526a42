/* sampler.h - preconditioning, noise schedules and samplers.
 *
 * Every model is seen as an EDM denoiser D(x; sigma) (x = x0 + sigma * eps):
 *   D(x; s) = c_skip(s) x + c_out(s) F(c_in(s) x, t_net(s))
 *   edm: c_skip = sd^2/(s^2+sd^2), c_out = s sd/sqrt(s^2+sd^2),
 *        c_in = 1/sqrt(s^2+sd^2), network time c_noise = log(s)/4 (Karras)
 *   v:   (k-diffusion VDenoiser, sigma_data 1, SAO 1.0) c_skip = 1/(s^2+1),
 *        c_out = -s/sqrt(s^2+1), c_in = 1/sqrt(s^2+1), t = atan(s) 2/pi
 *   rf:  (SAO Small) t = s/(1+s), c_in = 1/(1+s) = 1-t, the network predicts
 *        v = eps - x0: c_skip = 1/(1+s), c_out = -t (D = x_in - t F(x_in, t))
 * The network input y = c_in x = a(s) x0 + b(s) eps, with a = c_in and
 * b = c_in s, stays finite when sigma = +inf (pure noise, as the rf
 * ping-pong schedule starts at t = 1): a = 0, b = 1 for all three. In that
 * space D = k_skip y + c_out F(y, t_net) with k_skip = c_skip / c_in (rf 1,
 * v 1/sqrt(s^2+1), edm sd^2/sqrt(s^2+sd^2)), finite at sigma = inf too. So
 * the samplers that may start at sigma = inf (pingpong, presto) keep their
 * state in network-input space; edm cannot start there (c_noise = inf).
 * Samplers are pure functions of (denoiser, x, sigmas, noise source). */
#ifndef PRESTO_SAMPLER_H
#define PRESTO_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sampler_step.h"

typedef enum { PRESTO_PRECOND_EDM, PRESTO_PRECOND_V, PRESTO_PRECOND_RF } presto_precond;

typedef struct {
	presto_precond kind;
	double sigma_data; /* edm only (v is fixed at 1, rf has none) */
} presto_precond_params;

/* c_skip, c_out, c_in and the network's time input for sigma in [0, inf].
 * At sigma = inf: c_skip = 0, c_in = 0, c_out = -1 (v, rf) or sd (edm),
 * t_net = 1 (v, rf) or +inf (edm). Any output pointer may be NULL. */
void presto_precond_coeffs(const presto_precond_params *p, double sigma, double *c_skip, double *c_out, double *c_in,
			   double *t_net);
/* Network-input space: y = a x0 + b eps (a = c_in, b = c_in sigma) and
 * D = k_skip y + c_out F(y, t_net); finite at sigma = inf (a = 0, b = 1). */
void presto_precond_input(const presto_precond_params *p, double sigma, double *a, double *b, double *k_skip);
int presto_precond_parse(const char *name, presto_precond *kind); /* "edm", "v", "rf"; 0 ok, -1 unknown */
const char *presto_precond_name(presto_precond kind);

/* rf time <-> sigma: sigma = t/(1-t) (+inf at t = 1), t = sigma/(1+sigma). */
double presto_rf_t_to_sigma(double t);
double presto_rf_sigma_to_t(double sigma);

/* The noise level whose network time is t_net (inverse of the t_net of
 * presto_precond_coeffs: v tan(t pi/2), rf t/(1-t), edm exp(4t); +inf at
 * t_net = 1 for v and rf). */
double presto_precond_sigma(const presto_precond_params *p, double t_net);

/* The network: out[n] = F(x_in[n], t_net) for the whole batch (n floats);
 * eval_index counts the network calls of one presto_sample (0, 1, ...). */
typedef presto_status (*presto_net_fn)(void *ctx, float *out, const float *x_in, double t_net, int eval_index);

/* Where the sampling loop's vectors live. NULL stands for host memory and
 * the C reference (presto_step_apply); a GPU backend gives its own memory
 * and the CUDA twin of the steps, so that the whole loop stays on the
 * device: then every float * the sampler, the network and the noise source
 * pass each other is device memory, and only the step callback sees host
 * copies. Errors come back as a status with the message set. */
typedef struct presto_vecs {
	void *ctx;
	float *(*alloc)(void *ctx, size_t n); /* n floats; NULL (message set) on failure */
	void (*free)(void *ctx, float *p);
	presto_status (*step)(void *ctx, const presto_step *s);
	presto_status (*get)(void *ctx, float *host, const float *v, size_t n); /* device to host, waits */
	presto_status (*put)(void *ctx, float *v, const float *host, size_t n); /* host to device */
	presto_status (*wait)(void *ctx); /* until the queued work is done */
	/* presto_randn into device memory */
	presto_status (*randn)(void *ctx, float *v, size_t n, uint64_t seed, uint64_t stream, uint64_t offset);
} presto_vecs;

/* Run one element-wise step over all its elements on the host. */
void presto_step_apply(const presto_step *s);
/* ... or where vecs keeps its vectors (vecs NULL: presto_step_apply). */
presto_status presto_vecs_step(const presto_vecs *vecs, const presto_step *s);

typedef struct {
	presto_precond_params pre;
	presto_net_fn net;
	void *net_ctx;
	size_t n;         /* floats in x (whole batch) */
	float *scratch;   /* 2n floats, owned by the caller (in vecs' memory) */
	const presto_vecs *vecs; /* NULL: host memory */
} presto_denoiser;

/* denoised = D(x; sigma) for x in sigma space (0 < sigma < inf). */
presto_status presto_denoise(presto_denoiser *d, float *denoised, const float *x, double sigma, int eval_index);
/* denoised = D for y = c_in(sigma) x in network-input space (0 < sigma <= inf;
 * sigma = inf needs a finite t_net, i.e. v or rf). */
presto_status presto_denoise_input(presto_denoiser *d, float *denoised, const float *y, double sigma,
				   int eval_index);

/* Schedules: out[steps + 1] with out[steps] = 0 (k-diffusion append_zero). */
/* k-diffusion get_sigmas_karras(steps, sigma_min, sigma_max, rho) (rho e.g. 7):
 * sigma_i = (smax^(1/rho) + i/(steps-1) (smin^(1/rho) - smax^(1/rho)))^rho */
void presto_sigmas_karras(double *out, int steps, double sigma_min, double sigma_max, double rho);
/* k-diffusion get_sigmas_polyexponential(steps, sigma_min, sigma_max, rho):
 * sigma_i = exp(r_i^rho (log smax - log smin) + log smin), r = linspace(1, 0, steps);
 * rho = 1 is log-linear. */
void presto_sigmas_polyexponential(double *out, int steps, double sigma_min, double sigma_max, double rho);
/* logSNR-linear rf schedule: logsnr_i = linspace(logsnr_start, logsnr_end, steps + 1),
 * t_i = sigmoid(-logsnr_i), then t_0 = t_first and t_steps = 0. Written as
 * times into t[steps + 1]. */
void presto_t_rf_logsnr(double *t, int steps, double logsnr_start, double logsnr_end, double t_first);
/* The same as sigmas (sigma = t/(1-t), +inf for t = 1) with t_first = 1:
 * stable-audio-tools sample_rf at sigma_max 1 uses logsnr -6 .. 2. */
void presto_sigmas_rf_logsnr(double *out, int steps, double logsnr_start, double logsnr_end);
/* stable-audio-tools sample_rf's schedule for its sigma_max (here t_max,
 * clamped to 1): logsnr from log((1-t_max)/t_max + 1e-6) (-6 when t_max = 1)
 * to 2, t_0 = t_max; out as sigmas. */
void presto_sigmas_rf(double *out, int steps, double t_max);

typedef enum {
	PRESTO_SAMPLER_EULER,
	PRESTO_SAMPLER_HEUN,
	PRESTO_SAMPLER_DPMPP_2M,
	PRESTO_SAMPLER_DPMPP_3M_SDE,
	PRESTO_SAMPLER_PINGPONG,
	PRESTO_SAMPLER_PRESTO,
} presto_sampler_kind;
/* "euler", "heun", "dpmpp-2m", "dpmpp-3m-sde", "pingpong", "presto"
 * ('_' accepted for '-'); 0 ok, -1 unknown. */
int presto_sampler_parse(const char *name, presto_sampler_kind *kind);
const char *presto_sampler_name(presto_sampler_kind kind);
/* 1 when the sampler keeps its state in network-input space (pingpong, presto). */
int presto_sampler_input_space(presto_sampler_kind kind);

/* Noise source for stochastic samplers: out[n] unit normal for the call-th
 * draw (0, 1, ...), made between sigma and sigma_next. */
typedef presto_status (*presto_noise_fn)(void *ctx, float *out, size_t n, int call, double sigma, double sigma_next);

/* Per-step callback (i, sigma_i, x at the start of the step, denoised at
 * sigma_i); x is in the sampler's state space (network input for pingpong
 * and presto, as stable-audio-tools' pingpong callback reports it); host
 * copies when the vectors live on a device (presto_vecs). */
typedef void (*presto_step_fn)(void *ctx, int i, double sigma, const float *x, const float *denoised);
/* What a step callback needs: the latents (default), or only the step's
 * index, once the device has finished the step (timing) or as soon as the
 * host has queued it (nothing waits); x and denoised are NULL but for
 * PRESTO_STEP_LATENTS. On the host every step has finished when called. */
typedef enum { PRESTO_STEP_LATENTS = 0, PRESTO_STEP_DONE, PRESTO_STEP_QUEUED } presto_step_need;

typedef struct {
	presto_sampler_kind kind;
	double eta, s_noise;   /* dpmpp-3m-sde (k-diffusion defaults 1, 1) */
	presto_noise_fn noise; /* required by dpmpp-3m-sde (eta != 0), pingpong, presto */
	void *noise_ctx;
	presto_step_fn step;   /* optional */
	void *step_ctx;
	presto_step_need step_need;
} presto_sampler_opts;

/* Run the sampler over sigmas[0..steps] (non-increasing, sigmas[i] > 0 for
 * i < steps; k-diffusion samplers allow a final sigma > 0).
 *   euler, heun (s_churn 0), dpmpp-2m, dpmpp-3m-sde: k-diffusion 0455157.
 *     x on entry: noise * sigmas[0] in sigma space (sigmas[0] finite).
 *   pingpong, presto (the same update, for any preconditioning): for each
 *     step x0 = D(y_i; sigma_i), then y_{i+1} = a(sigma_{i+1}) x0 +
 *     b(sigma_{i+1}) eps_i (eps_i = noise draw i), and the last step returns
 *     x0; sigmas[steps] must be 0, sigmas[0] may be +inf. For rf this is
 *     stable-audio-tools sample_flow_pingpong (y = (1-t) x0 + t eps).
 *     x on entry: the network-input start c_in(sigma_0) * (x0 + sigma_0 eps)
 *     (= unit noise when sigma_0 = inf).
 * On return x holds the final latent (sigma space, = data space at 0). */
presto_status presto_sample(presto_denoiser *d, const presto_sampler_opts *o, float *x, const double *sigmas,
			    int steps);

#endif

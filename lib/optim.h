/* optim.h - the optimizer layer of training (llm.c style): AdamW, the
 * learning-rate schedule, global gradient-norm clipping, EMA weights and
 * dynamic loss scaling, all over a presto_params table. Gradients, moments
 * and EMA weights are buffers of the table's layout (presto_params_buffer);
 * a step is a loop over the tensors of the table.
 *
 * Which tensors take part:
 *   - AdamW, clipping, the finiteness check and unscaling touch trainable
 *     tensors only (trainable = 1); buffers (trainable = 0) keep their value
 *     and their gradient slots are ignored.
 *   - Weight decay applies to trainable tensors with decay = 1 only.
 *   - EMA covers every tensor: trainable ones are averaged, buffers copied.
 *
 * Step counting: `step` is the number of optimizer updates done so far. The
 * update that is about to be applied is number t = step + 1 (bias correction)
 * and its learning rate is presto_lr_at(schedule, step).
 *
 * Typical step of a trainer (loss scaling on or off, same code):
 *   presto_grad_zero(ps, grad);
 *   forward; backward with dloss = ls.scale (the loss scaled by ls.scale);
 *   if (presto_loss_scale_update(&ls, ps, grad)) {   // unscales, checks
 *       presto_grad_clip(ps, grad, max_norm);         // optional
 *       presto_adamw_step(&opt, ps, grad, presto_lr_at(&sched, opt.step));
 *       presto_ema_update(&ema, ps);
 *   }                                                 // else: step skipped
 *
 * Everything is single-threaded, in a fixed order, without FMA contraction
 * (C11 mode): the same inputs give bit-identical outputs, so a resumed run
 * continues exactly (see checkpoint.h). */
#ifndef PRESTO_OPTIM_H
#define PRESTO_OPTIM_H

#include <stdint.h>

#include "params.h"

/* ---- AdamW (Loshchilov & Hutter, decoupled weight decay; torch.optim.AdamW)
 *
 * For update t = step + 1 with learning rate lr, in double precision:
 *   c1 = 1 - beta1^t,  c2 = 1 - beta2^t
 *   a  = (float)(lr / c1)             step size
 *   r  = (float)(1 / sqrt(c2))        inverse root of the second correction
 *   d  = (float)(1 - lr * weight_decay)
 *   b1 = (float)beta1, o1 = (float)(1 - beta1), likewise b2, o2; e = (float)eps
 * then for every element of every trainable tensor, in float, in this order:
 *   m = b1 * m + o1 * g
 *   v = b2 * v + o2 * (g * g)
 *   p = p * d                         (only when the tensor's decay = 1)
 *   p = p - a * m / (sqrtf(v) * r + e)
 * which is m_hat / (sqrt(v_hat) + eps) with m_hat = m / c1, v_hat = v / c2,
 * as torch computes it (torch divides by sqrt(c2) where this multiplies by
 * its inverse: at most an ulp apart). */
typedef struct {
	double beta1;        /* 0.9 */
	double beta2;        /* 0.999 */
	double eps;          /* 1e-8 */
	double weight_decay; /* e.g. 1e-3 (stable-audio-tools), 0 for none */
} presto_adamw_config;

typedef struct {
	presto_adamw_config cfg;
	float *m, *v;    /* first and second moments, buffers of the layout */
	int64_t step;    /* updates done */
} presto_adamw;

/* torch defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
presto_adamw_config presto_adamw_defaults(void);
/* Allocate zeroed moments for ps; step = 0. Errors: ENOMEM; EINVAL for betas
 * outside [0, 1), eps <= 0 or a negative or non-finite value. */
presto_status presto_adamw_init(presto_adamw *opt, const presto_params *ps, const presto_adamw_config *cfg);
void presto_adamw_free(presto_adamw *opt);
/* One update of ps->data from grad (a buffer of the layout) at learning rate
 * lr (formula above); then step += 1. */
void presto_adamw_step(presto_adamw *opt, presto_params *ps, const float *grad, double lr);

/* ---- Learning-rate schedule: a pure function of the step count.
 *
 * s = step (updates done), peak = lr, W = warmup_steps:
 *   warm-up factor  w(s) = (s + 1) / W  for s < W, else 1 (W = 0: none)
 *   CONSTANT:  lr(s) = w(s) * peak
 *   COSINE:    p = clamp((s - W) / (decay_steps - W), 0, 1)  (1 when decay_steps <= W)
 *              lr(s) = w(s) * (min_lr + (peak - min_lr) * 0.5 * (1 + cos(pi p)))
 *              so the floor min_lr is reached at s = decay_steps and kept
 *   INVERSE:   stable-audio-tools' InverseLR (its SAO recipe: inv_gamma 1e6,
 *              power 0.5, exp_warmup 0.99), times w(s):
 *              lr(s) = w(s) * (1 - exp_warmup^(s + 1)) * max(min_lr, peak * (1 + s / inv_gamma)^-power)
 * All in double. */
typedef enum { PRESTO_LR_CONSTANT = 0, PRESTO_LR_COSINE, PRESTO_LR_INVERSE } presto_lr_kind;

typedef struct {
	presto_lr_kind kind;
	double lr;              /* peak learning rate */
	int64_t warmup_steps;   /* linear warm-up length W (0: none) */
	int64_t decay_steps;    /* COSINE: step at which min_lr is reached */
	double min_lr;          /* COSINE floor; INVERSE final_lr */
	double inv_gamma;       /* INVERSE */
	double power;           /* INVERSE */
	double exp_warmup;      /* INVERSE, in [0, 1): 0 = none */
} presto_lr_schedule;

double presto_lr_at(const presto_lr_schedule *s, int64_t step);
/* "constant", "cosine", "inverse"; parse returns -1 for an unknown name. */
const char *presto_lr_kind_name(presto_lr_kind k);
int presto_lr_kind_parse(const char *name, presto_lr_kind *k);

/* ---- Gradients */

/* grad = 0 over the whole layout. */
void presto_grad_zero(const presto_params *ps, float *grad);
/* 1 when every gradient of a trainable tensor is finite, else 0. */
int presto_grad_finite(const presto_params *ps, const float *grad);
/* sqrt(sum of g^2) over the trainable tensors, accumulated in double in table
 * order (Inf or NaN when a gradient is). */
double presto_grad_norm(const presto_params *ps, const float *grad);
/* Global-norm clipping (torch clip_grad_norm_): n = presto_grad_norm; when
 * n > max_norm, every trainable gradient is multiplied by
 * (float)(max_norm / (n + 1e-6)); otherwise grad is untouched. A non-finite
 * norm leaves grad untouched (the caller skips the step). max_norm <= 0
 * disables clipping. Returns n (the norm before clipping). */
double presto_grad_clip(const presto_params *ps, float *grad, double max_norm);

/* ---- EMA of the weights (ema_pytorch, as stable-audio-tools uses it)
 *
 * Update number u = updates (0 for the first):
 *   k = decay                                    when warmup_power = 0
 *   k = min(decay, max(0, 1 - (1 + u)^-warmup_power))  otherwise
 *       (warmup_power 1: 1 - 1/(u+1), the first update copies the weights;
 *        stable-audio-tools uses decay 0.9999, warmup_power 0.75)
 * then, in float with kf = (float)k, of = (float)(1 - k), for trainable tensors
 *   ema = kf * ema + of * w
 * and ema = w for buffers; updates += 1. */
typedef struct {
	double decay;         /* the cap, e.g. 0.999 */
	double warmup_power;  /* 0: constant decay */
	float *w;             /* EMA weights, a buffer of the layout */
	int64_t updates;
} presto_ema;

/* Allocate w as a copy of ps->data; updates = 0. EINVAL for decay outside
 * [0, 1] or a negative warmup_power. */
presto_status presto_ema_init(presto_ema *e, const presto_params *ps, double decay, double warmup_power);
void presto_ema_free(presto_ema *e);
/* The k of update number u (formula above). */
double presto_ema_decay_at(const presto_ema *e, int64_t u);
void presto_ema_update(presto_ema *e, const presto_params *ps);

/* ---- Dynamic loss scaling (torch.cuda.amp.GradScaler)
 *
 * The trainer seeds the backward pass with the loss multiplied by `scale`.
 * presto_loss_scale_update then, when enabled:
 *   multiplies every trainable gradient by (float)(1 / scale) (exact: the
 *   scale is a power of two while growth/backoff are 2 and 0.5);
 *   if any trainable gradient is not finite: the step must be skipped,
 *     scale = max(min_scale, scale * backoff), good_steps = 0, skipped += 1,
 *     returns 0;
 *   else good_steps += 1, and when good_steps == growth_interval:
 *     scale = min(max_scale, scale * growth), good_steps = 0; returns 1.
 * Disabled (fp32 CPU training): scale stays 1, gradients are not touched, a
 * non-finite gradient still returns 0 (skipped += 1) without changing scale. */
typedef struct {
	int enabled;
	float scale;           /* current scale (1 when disabled) */
	float growth;          /* 2 */
	float backoff;         /* 0.5 */
	int growth_interval;   /* N good steps before growing (torch: 2000) */
	float min_scale;       /* 1 */
	float max_scale;       /* 2^24 */
	int good_steps;        /* consecutive good steps since the last change */
	int64_t skipped;       /* steps skipped so far */
} presto_loss_scale;

/* enabled with scale init_scale (torch: 65536) and growth_interval; the
 * other fields take the defaults above. Disabled: scale 1. */
void presto_loss_scale_init(presto_loss_scale *ls, int enabled, float init_scale, int growth_interval);
/* Unscale, check and update as above; 1 = apply the step, 0 = skip it. */
int presto_loss_scale_update(presto_loss_scale *ls, const presto_params *ps, float *grad);

#endif

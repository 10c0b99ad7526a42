/* optim.c - AdamW, learning-rate schedules, gradient clipping, EMA and
 * dynamic loss scaling over a parameter table (formulas in optim.h). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- AdamW */

presto_adamw_config presto_adamw_defaults(void)
{
	return (presto_adamw_config){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
}

presto_status presto_adamw_init(presto_adamw *opt, const presto_params *ps, const presto_adamw_config *cfg)
{
	memset(opt, 0, sizeof *opt);
	if (!(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1))
		return presto_error_set(PRESTO_EINVAL, "adamw: betas (%g, %g) must lie in [0, 1)", cfg->beta1, cfg->beta2);
	if (!(cfg->eps > 0) || !isfinite(cfg->eps))
		return presto_error_set(PRESTO_EINVAL, "adamw: eps %g must be positive and finite", cfg->eps);
	if (!(cfg->weight_decay >= 0) || !isfinite(cfg->weight_decay))
		return presto_error_set(PRESTO_EINVAL, "adamw: weight decay %g must be >= 0 and finite", cfg->weight_decay);
	opt->cfg = *cfg;
	opt->m = presto_params_buffer(ps);
	opt->v = presto_params_buffer(ps);
	if (!opt->m || !opt->v) {
		presto_adamw_free(opt);
		return PRESTO_ENOMEM;
	}
	return PRESTO_OK;
}

void presto_adamw_free(presto_adamw *opt)
{
	free(opt->m);
	free(opt->v);
	opt->m = opt->v = NULL;
}

void presto_adamw_step(presto_adamw *opt, presto_params *ps, const float *grad, double lr)
{
	const presto_adamw_config *c = &opt->cfg;
	double t = (double)(opt->step + 1);
	double c1 = 1.0 - pow(c->beta1, t), c2 = 1.0 - pow(c->beta2, t);
	const float a = (float)(lr / c1), r = (float)(1.0 / sqrt(c2)), d = (float)(1.0 - lr * c->weight_decay);
	const float b1 = (float)c->beta1, o1 = (float)(1.0 - c->beta1);
	const float b2 = (float)c->beta2, o2 = (float)(1.0 - c->beta2);
	const float e = (float)c->eps;
	for (int i = 0; i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		if (!pi->trainable)
			continue;
		float *p = ps->data + pi->offset, *m = opt->m + pi->offset, *v = opt->v + pi->offset;
		const float *g = grad + pi->offset;
		const int decay = pi->decay;
		for (size_t j = 0; j < pi->numel; j++) {
			float gj = g[j];
			float mj = b1 * m[j] + o1 * gj;
			float vj = b2 * v[j] + o2 * (gj * gj);
			float pj = p[j];
			if (decay)
				pj = pj * d;
			pj = pj - a * mj / (sqrtf(vj) * r + e);
			m[j] = mj;
			v[j] = vj;
			p[j] = pj;
		}
	}
	opt->step++;
}

/* ---- Learning-rate schedule */

static const char *const lr_names[] = {"constant", "cosine", "inverse"};

const char *presto_lr_kind_name(presto_lr_kind k)
{
	return (unsigned)k < sizeof lr_names / sizeof lr_names[0] ? lr_names[k] : "unknown";
}

int presto_lr_kind_parse(const char *name, presto_lr_kind *k)
{
	for (unsigned i = 0; i < sizeof lr_names / sizeof lr_names[0]; i++)
		if (!strcmp(name, lr_names[i])) {
			*k = (presto_lr_kind)i;
			return 0;
		}
	return -1;
}

double presto_lr_at(const presto_lr_schedule *s, int64_t step)
{
	double w = 1.0;
	if (s->warmup_steps > 0 && step < s->warmup_steps)
		w = (double)(step + 1) / (double)s->warmup_steps;
	switch (s->kind) {
	case PRESTO_LR_COSINE: {
		double p = 1.0;
		int64_t W = s->warmup_steps > 0 ? s->warmup_steps : 0;
		if (s->decay_steps > W) {
			p = (double)(step - W) / (double)(s->decay_steps - W);
			p = p < 0 ? 0 : p > 1 ? 1 : p;
		}
		return w * (s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * p)));
	}
	case PRESTO_LR_INVERSE: {
		double ew = 1.0 - pow(s->exp_warmup, (double)(step + 1));
		double m = s->lr * pow(1.0 + (double)step / s->inv_gamma, -s->power);
		return w * ew * (m > s->min_lr ? m : s->min_lr);
	}
	case PRESTO_LR_CONSTANT:
	default:
		return w * s->lr;
	}
}

/* ---- Gradients */

void presto_grad_zero(const presto_params *ps, float *grad)
{
	memset(grad, 0, sizeof(float) * ps->total);
}

int presto_grad_finite(const presto_params *ps, const float *grad)
{
	for (int i = 0; i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		if (!pi->trainable)
			continue;
		const float *g = grad + pi->offset;
		for (size_t j = 0; j < pi->numel; j++)
			if (!isfinite(g[j]))
				return 0;
	}
	return 1;
}

double presto_grad_norm(const presto_params *ps, const float *grad)
{
	double s = 0;
	for (int i = 0; i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		if (!pi->trainable)
			continue;
		const float *g = grad + pi->offset;
		for (size_t j = 0; j < pi->numel; j++)
			s += (double)g[j] * (double)g[j];
	}
	return sqrt(s);
}

static void grad_scale(const presto_params *ps, float *grad, float k)
{
	for (int i = 0; i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		if (!pi->trainable)
			continue;
		float *g = grad + pi->offset;
		for (size_t j = 0; j < pi->numel; j++)
			g[j] *= k;
	}
}

double presto_grad_clip(const presto_params *ps, float *grad, double max_norm)
{
	double n = presto_grad_norm(ps, grad);
	if (max_norm > 0 && isfinite(n) && n > max_norm)
		grad_scale(ps, grad, (float)(max_norm / (n + 1e-6)));
	return n;
}

/* ---- EMA */

presto_status presto_ema_init(presto_ema *e, const presto_params *ps, double decay, double warmup_power)
{
	memset(e, 0, sizeof *e);
	if (!(decay >= 0 && decay <= 1))
		return presto_error_set(PRESTO_EINVAL, "ema: decay %g must lie in [0, 1]", decay);
	if (!(warmup_power >= 0) || !isfinite(warmup_power))
		return presto_error_set(PRESTO_EINVAL, "ema: warm-up power %g must be >= 0 and finite", warmup_power);
	e->decay = decay;
	e->warmup_power = warmup_power;
	e->w = presto_params_buffer(ps);
	if (!e->w)
		return PRESTO_ENOMEM;
	if (ps->data)
		memcpy(e->w, ps->data, sizeof(float) * ps->total);
	return PRESTO_OK;
}

void presto_ema_free(presto_ema *e)
{
	free(e->w);
	e->w = NULL;
}

double presto_ema_decay_at(const presto_ema *e, int64_t u)
{
	if (e->warmup_power <= 0)
		return e->decay;
	double k = 1.0 - pow(1.0 + (double)u, -e->warmup_power);
	if (k < 0)
		k = 0;
	return k < e->decay ? k : e->decay;
}

void presto_ema_update(presto_ema *e, const presto_params *ps)
{
	double k = presto_ema_decay_at(e, e->updates);
	const float kf = (float)k, of = (float)(1.0 - k);
	for (int i = 0; i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		float *w = e->w + pi->offset;
		const float *p = ps->data + pi->offset;
		if (!pi->trainable) {
			memcpy(w, p, sizeof(float) * pi->numel);
			continue;
		}
		for (size_t j = 0; j < pi->numel; j++)
			w[j] = kf * w[j] + of * p[j];
	}
	e->updates++;
}

/* ---- Dynamic loss scaling */

void presto_loss_scale_init(presto_loss_scale *ls, int enabled, float init_scale, int growth_interval)
{
	memset(ls, 0, sizeof *ls);
	ls->enabled = enabled;
	ls->scale = enabled ? init_scale : 1.0f;
	ls->growth = 2.0f;
	ls->backoff = 0.5f;
	ls->growth_interval = growth_interval > 0 ? growth_interval : 2000;
	ls->min_scale = 1.0f;
	ls->max_scale = 16777216.0f; /* 2^24 */
}

int presto_loss_scale_update(presto_loss_scale *ls, const presto_params *ps, float *grad)
{
	if (!ls->enabled) {
		if (presto_grad_finite(ps, grad))
			return 1;
		ls->skipped++;
		return 0;
	}
	if (ls->scale != 1.0f)
		grad_scale(ps, grad, (float)(1.0 / (double)ls->scale));
	if (!presto_grad_finite(ps, grad)) {
		float s = ls->scale * ls->backoff;
		ls->scale = s > ls->min_scale ? s : ls->min_scale;
		ls->good_steps = 0;
		ls->skipped++;
		return 0;
	}
	if (++ls->good_steps >= ls->growth_interval) {
		float s = ls->scale * ls->growth;
		ls->scale = s < ls->max_scale ? s : ls->max_scale;
		ls->good_steps = 0;
	}
	return 1;
}

/* test_optim.c - lib/optim.c: AdamW converges on a linear regression, one and
 * two steps match the formula computed by hand in double, weight decay only
 * on decay = 1 tensors, buffers never move; learning-rate schedules; global
 * norm clipping; EMA with and without warm-up; dynamic loss scaling (skip
 * and halve on Inf/NaN, grow after N good steps, bounds, disabled mode).
 * Exit status 0 when every check passes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"
#include "rng.h"

#include "check.h"

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

enum { O = 3, I = 4, NB = 2 };

/* W [O, I] (decay), b [O] (no decay), buf [NB] (a buffer: not trained) */
static void table(presto_params *ps)
{
	presto_params_init(ps);
	const int64_t sw[2] = {O, I}, sb[1] = {O}, sn[1] = {NB};
	int ok = presto_params_add(ps, "lin.weight", 2, sw, 1, 1) == 0 &&
		 presto_params_add(ps, "lin.bias", 1, sb, 1, 0) == 1 &&
		 presto_params_add(ps, "norm.buf", 1, sn, 0, 0) == 2 && !presto_params_alloc(ps);
	if (!ok) {
		printf("FAIL building the table: %s\n", presto_error());
		exit(1);
	}
}

/* ---- AdamW converges: y = W* x + b*, loss = 1/(2N) sum |W x + b - y|^2 */
static void test_converge(void)
{
	enum { N = 64 };
	presto_params ps;
	table(&ps);
	float X[N * I], Y[N * O], Wt[O * I], bt[O];
	presto_randn(X, N * I, 1, 0, 0);
	presto_randn(Wt, O * I, 1, 1, 0);
	presto_randn(bt, O, 1, 2, 0);
	for (int n = 0; n < N; n++)
		for (int o = 0; o < O; o++) {
			double s = bt[o];
			for (int i = 0; i < I; i++)
				s += (double)Wt[o * I + i] * X[n * I + i];
			Y[n * O + o] = (float)s;
		}
	float *W = presto_params_ptr(&ps, ps.data, "lin.weight"), *b = presto_params_ptr(&ps, ps.data, "lin.bias");
	float *grad = presto_params_buffer(&ps);
	float *gW = presto_params_ptr(&ps, grad, "lin.weight"), *gb = presto_params_ptr(&ps, grad, "lin.bias");
	float *buf = presto_params_ptr(&ps, ps.data, "norm.buf");
	buf[0] = 3;
	buf[1] = -4;
	presto_adamw opt;
	presto_adamw_config cfg = presto_adamw_defaults();
	cfg.weight_decay = 0;
	CHECK(!presto_adamw_init(&opt, &ps, &cfg), "adamw init");
	presto_lr_schedule sched = {.kind = PRESTO_LR_COSINE, .lr = 0.05, .warmup_steps = 20, .decay_steps = 1500};
	double loss0 = -1, loss = 0;
	for (int step = 0; step < 1500; step++) {
		presto_grad_zero(&ps, grad);
		loss = 0;
		for (int n = 0; n < N; n++)
			for (int o = 0; o < O; o++) {
				double r = b[o] - Y[n * O + o];
				for (int i = 0; i < I; i++)
					r += (double)W[o * I + i] * X[n * I + i];
				loss += 0.5 * r * r / N;
				gb[o] += (float)(r / N);
				for (int i = 0; i < I; i++)
					gW[o * I + i] += (float)(r * X[n * I + i] / N);
			}
		if (loss0 < 0)
			loss0 = loss;
		presto_adamw_step(&opt, &ps, grad, presto_lr_at(&sched, opt.step));
	}
	double err = 0;
	for (int k = 0; k < O * I; k++)
		err = fmax(err, fabs(W[k] - Wt[k]));
	for (int k = 0; k < O; k++)
		err = fmax(err, fabs(b[k] - bt[k]));
	CHECK(loss < 1e-9 * loss0 && err < 1e-4, "AdamW converges on linear regression: loss %.3g -> %.3g, max |w - w*| %.2g",
	      loss0, loss, err);
	CHECK(opt.step == 1500 && buf[0] == 3 && buf[1] == -4, "step count 1500, the buffer never moved");
	presto_adamw_free(&opt);
	free(grad);
	presto_params_free(&ps);
}

/* ---- one and two steps against the formula in double */
static void test_hand_step(void)
{
	presto_params ps;
	table(&ps);
	const size_t T = ps.total;
	float *grad = presto_params_buffer(&ps), *g2 = presto_params_buffer(&ps);
	float p0[64];
	for (size_t k = 0; k < T; k++) {
		p0[k] = ps.data[k] = (float)(0.9 * sin(1.0 + k));          /* |p| < 1 */
		grad[k] = (float)(0.5 * cos(2.0 + 3 * k) * (k % 5 ? 1 : 1e-3));
		g2[k] = (float)(-0.3 * sin(0.5 + 7 * k));
	}
	presto_adamw_config cfg = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};
	presto_adamw opt;
	CHECK(!presto_adamw_init(&opt, &ps, &cfg), "adamw init");
	const double lr = 1e-2, lr2 = 7e-3;
	presto_adamw_step(&opt, &ps, grad, lr);
	double e1 = 0, e2 = 0, em = 0, ev = 0;
	int moved_buffer = 0;
	double p1[64];
	for (int t = 0; t < ps.n; t++) {
		const presto_param_info *pi = &ps.p[t];
		for (size_t j = 0; j < pi->numel; j++) {
			size_t k = pi->offset + j;
			/* t = 1: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps) */
			double g = grad[k], want = p0[k];
			if (pi->trainable)
				want = p0[k] * (pi->decay ? 1 - lr * cfg.weight_decay : 1) - lr * g / (fabs(g) + cfg.eps);
			p1[k] = ps.data[k];
			if (!pi->trainable)
				moved_buffer |= ps.data[k] != p0[k];
			e1 = fmax(e1, fabs(ps.data[k] - want) / fmax(1, fabs(want)));
		}
	}
	CHECK(e1 <= 1e-7, "first AdamW step = p (1 - lr wd) - lr g / (|g| + eps): max error %.2g", e1);
	presto_adamw_step(&opt, &ps, g2, lr2);
	for (int t = 0; t < ps.n; t++) {
		const presto_param_info *pi = &ps.p[t];
		for (size_t j = 0; j < pi->numel; j++) {
			size_t k = pi->offset + j;
			double want = p1[k];
			if (pi->trainable) {
				double b1 = cfg.beta1, b2 = cfg.beta2, g = grad[k], h = g2[k];
				double m = b1 * (1 - b1) * g + (1 - b1) * h;
				double v = b2 * (1 - b2) * g * g + (1 - b2) * h * h;
				double mh = m / (1 - b1 * b1), vh = v / (1 - b2 * b2);
				want = p1[k] * (pi->decay ? 1 - lr2 * cfg.weight_decay : 1) - lr2 * mh / (sqrt(vh) + cfg.eps);
				em = fmax(em, fabs(opt.m[k] - m) / fmax(1e-3, fabs(m)));
				ev = fmax(ev, fabs(opt.v[k] - v) / fmax(1e-6, fabs(v)));
			}
			if (!pi->trainable)
				moved_buffer |= ps.data[k] != p0[k] || opt.m[k] != 0 || opt.v[k] != 0;
			e2 = fmax(e2, fabs(ps.data[k] - want) / fmax(1, fabs(want)));
		}
	}
	CHECK(e2 <= 1e-7, "second AdamW step with bias correction: max error %.2g", e2);
	CHECK(em <= 1e-6 && ev <= 1e-6, "moments m, v: max relative error %.2g, %.2g", em, ev);
	CHECK(!moved_buffer, "buffers (trainable = 0): value and moments untouched");
	presto_adamw_free(&opt);

	/* invalid hyper-parameters */
	presto_adamw_config bad = cfg;
	bad.beta1 = 1;
	EXPECT(presto_adamw_init(&opt, &ps, &bad) == PRESTO_EINVAL, "beta1 = 1 refused");
	bad = cfg;
	bad.eps = 0;
	EXPECT(presto_adamw_init(&opt, &ps, &bad) == PRESTO_EINVAL, "eps = 0 refused");
	bad = cfg;
	bad.weight_decay = NAN;
	EXPECT(presto_adamw_init(&opt, &ps, &bad) == PRESTO_EINVAL, "NaN weight decay refused");
	free(grad);
	free(g2);
	presto_params_free(&ps);
}

/* ---- decoupled weight decay: with zero gradients only decay = 1 tensors shrink */
static void test_weight_decay(void)
{
	presto_params ps;
	table(&ps);
	for (size_t k = 0; k < ps.total; k++)
		ps.data[k] = 1.0f + (float)k;
	float *grad = presto_params_buffer(&ps);
	float *before = presto_params_buffer(&ps);
	memcpy(before, ps.data, sizeof(float) * ps.total);
	presto_adamw_config cfg = presto_adamw_defaults();
	cfg.weight_decay = 0.5;
	presto_adamw opt;
	presto_adamw_init(&opt, &ps, &cfg);
	const double lr = 0.1;
	presto_adamw_step(&opt, &ps, grad, lr);
	int ok_w = 1, ok_other = 1;
	const float d = (float)(1 - lr * cfg.weight_decay);
	for (int t = 0; t < ps.n; t++) {
		const presto_param_info *pi = &ps.p[t];
		for (size_t j = 0; j < pi->numel; j++) {
			size_t k = pi->offset + j;
			if (pi->decay && pi->trainable)
				ok_w &= ps.data[k] == before[k] * d;
			else
				ok_other &= ps.data[k] == before[k];
		}
	}
	CHECK(ok_w, "decay = 1 tensor multiplied by exactly (1 - lr wd) = %g", d);
	CHECK(ok_other, "decay = 0 tensor and buffer unchanged");
	presto_adamw_free(&opt);
	free(grad);
	free(before);
	presto_params_free(&ps);
}

static void test_schedule(void)
{
	presto_lr_schedule c = {.kind = PRESTO_LR_CONSTANT, .lr = 1e-3, .warmup_steps = 10};
	CHECK(NEAR(presto_lr_at(&c, 0), 1e-4, 1e-18) && NEAR(presto_lr_at(&c, 4), 5e-4, 1e-18) &&
		      presto_lr_at(&c, 9) == 1e-3 && presto_lr_at(&c, 10) == 1e-3 && presto_lr_at(&c, 100000) == 1e-3,
	      "linear warm-up over 10 steps, then constant");
	c.warmup_steps = 0;
	EXPECT(presto_lr_at(&c, 0) == 1e-3, "no warm-up");
	presto_lr_schedule cs = {.kind = PRESTO_LR_COSINE, .lr = 1.0, .warmup_steps = 10, .decay_steps = 110, .min_lr = 0.1};
	CHECK(NEAR(presto_lr_at(&cs, 4), 0.5, 1e-15) && presto_lr_at(&cs, 10) == 1.0 &&
		      NEAR(presto_lr_at(&cs, 60), 0.55, 1e-15) && NEAR(presto_lr_at(&cs, 110), 0.1, 1e-15) &&
		      NEAR(presto_lr_at(&cs, 5000), 0.1, 1e-15),
	      "cosine: peak after warm-up, midpoint (peak + floor) / 2, floor at decay_steps and after");
	double prev = 2;
	int mono = 1;
	for (int s = 10; s <= 120; s++) {
		double l = presto_lr_at(&cs, s);
		mono &= l <= prev;
		prev = l;
	}
	EXPECT(mono, "cosine decay is monotone");
	presto_lr_schedule iv = {.kind = PRESTO_LR_INVERSE, .lr = 5e-5, .inv_gamma = 1e6, .power = 0.5, .exp_warmup = 0.99};
	double want = (1 - pow(0.99, 1001)) * 5e-5 * pow(1 + 1000 / 1e6, -0.5);
	CHECK(NEAR(presto_lr_at(&iv, 1000), want, 1e-20) && NEAR(presto_lr_at(&iv, 0), 0.01 * 5e-5, 1e-20),
	      "inverse (stable-audio-tools InverseLR): %.9g", presto_lr_at(&iv, 1000));
	presto_lr_kind k;
	EXPECT(!presto_lr_kind_parse("cosine", &k) && k == PRESTO_LR_COSINE && presto_lr_kind_parse("linear", &k) == -1 &&
		       !strcmp(presto_lr_kind_name(PRESTO_LR_INVERSE), "inverse"),
	       "kind names");
}

static void test_grads(void)
{
	presto_params ps;
	table(&ps);
	float *g = presto_params_buffer(&ps);
	float *W = presto_params_ptr(&ps, g, "lin.weight"), *b = presto_params_ptr(&ps, g, "lin.bias"),
	      *n = presto_params_ptr(&ps, g, "norm.buf");
	for (int k = 0; k < O * I; k++)
		W[k] = (k % 2) ? 1 : -1;
	for (int k = 0; k < O; k++)
		b[k] = 2;
	n[0] = 100;
	n[1] = NAN; /* a buffer's gradient slot is ignored */
	CHECK(presto_grad_norm(&ps, g) == sqrt(24.0), "norm over trainable tensors only: %.17g", presto_grad_norm(&ps, g));
	CHECK(presto_grad_finite(&ps, g), "finite check ignores buffers");
	float keep[64];
	memcpy(keep, g, sizeof(float) * ps.total);
	double nb = presto_grad_clip(&ps, g, 10);
	CHECK(nb == sqrt(24.0) && !memcmp(keep, g, sizeof(float) * ps.total), "clip above the norm: untouched, returns the norm");
	nb = presto_grad_clip(&ps, g, 1.5);
	double na = presto_grad_norm(&ps, g);
	CHECK(nb == sqrt(24.0) && NEAR(na, 1.5, 1e-6), "clip to 1.5: norm %.9g -> %.9g", nb, na);
	float k = (float)(1.5 / (sqrt(24.0) + 1e-6));
	EXPECT(W[1] == k && b[0] == 2 * k && n[0] == 100, "scaled by max_norm / (norm + 1e-6), the buffer slot untouched");
	memcpy(keep, g, sizeof(float) * ps.total);
	EXPECT(presto_grad_clip(&ps, g, 0) == na && !memcmp(keep, g, sizeof(float) * ps.total), "max_norm 0: no clipping");
	b[1] = INFINITY;
	memcpy(keep, g, sizeof(float) * ps.total);
	CHECK(isinf(presto_grad_clip(&ps, g, 1.0)) && !memcmp(keep, g, sizeof(float) * ps.total) &&
		      !presto_grad_finite(&ps, g),
	      "an Inf gradient: norm Inf, nothing scaled, not finite");
	b[1] = NAN;
	EXPECT(isnan(presto_grad_norm(&ps, g)) && !presto_grad_finite(&ps, g), "NaN gradient");
	presto_grad_zero(&ps, g);
	int zero = 1;
	for (size_t i = 0; i < ps.total; i++)
		zero &= g[i] == 0;
	CHECK(zero, "grad zero clears the whole layout");
	free(g);
	presto_params_free(&ps);
}

static void test_ema(void)
{
	presto_params ps;
	table(&ps);
	for (size_t k = 0; k < ps.total; k++)
		ps.data[k] = (float)k;
	presto_ema e;
	CHECK(!presto_ema_init(&e, &ps, 0.9, 0) && !memcmp(e.w, ps.data, sizeof(float) * ps.total),
	      "EMA starts as a copy of the weights");
	for (size_t k = 0; k < ps.total; k++)
		ps.data[k] = (float)(10 + k * 0.5);
	presto_ema_update(&e, &ps);
	int exact = 1;
	double err = 0;
	for (int t = 0; t < ps.n; t++) {
		const presto_param_info *pi = &ps.p[t];
		for (size_t j = 0; j < pi->numel; j++) {
			size_t k = pi->offset + j;
			float want = pi->trainable ? 0.9f * (float)k + (float)(1 - 0.9) * ps.data[k] : ps.data[k];
			exact &= e.w[k] == want;
			if (pi->trainable)
				err = fmax(err, fabs(e.w[k] - (0.9 * k + 0.1 * ps.data[k])));
		}
	}
	CHECK(exact && err < 1e-5 && e.updates == 1, "ema = 0.9 ema + 0.1 w (buffers copied), error vs double %.2g", err);
	presto_ema_free(&e);

	presto_ema_init(&e, &ps, 0.9, 1.0);
	CHECK(presto_ema_decay_at(&e, 0) == 0 && presto_ema_decay_at(&e, 1) == 0.5 &&
		      NEAR(presto_ema_decay_at(&e, 2), 2.0 / 3, 1e-15) && NEAR(presto_ema_decay_at(&e, 9), 0.9, 1e-15) &&
		      presto_ema_decay_at(&e, 100) == 0.9,
	      "warm-up 1 - 1/(u + 1), capped at 0.9");
	for (size_t k = 0; k < ps.total; k++)
		ps.data[k] = -1.0f - (float)k;
	presto_ema_update(&e, &ps);
	int copied = 1;
	for (int t = 0; t < ps.n; t++)
		copied &= !memcmp(e.w + ps.p[t].offset, ps.data + ps.p[t].offset, sizeof(float) * ps.p[t].numel);
	CHECK(copied, "first warmed-up update copies the weights");
	presto_ema_free(&e);
	presto_ema_init(&e, &ps, 0.9999, 0.75);
	EXPECT(NEAR(presto_ema_decay_at(&e, 15), 1 - pow(16, -0.75), 1e-15), "power 3/4 (stable-audio-tools)");
	presto_ema_free(&e);
	EXPECT(presto_ema_init(&e, &ps, 1.5, 0) == PRESTO_EINVAL && presto_ema_init(&e, &ps, 0.9, -1) == PRESTO_EINVAL,
	       "bad decay / power refused");
	presto_params_free(&ps);
}

static void test_loss_scale(void)
{
	presto_params ps;
	table(&ps);
	float *g = presto_params_buffer(&ps), *g0 = presto_params_buffer(&ps);
	float *b = presto_params_ptr(&ps, g, "lin.bias"), *n = presto_params_ptr(&ps, g, "norm.buf");
	for (size_t k = 0; k < ps.total; k++)
		g0[k] = (float)sin(1.0 + k);
	presto_loss_scale ls;
	presto_loss_scale_init(&ls, 1, 65536.0f, 3);
	int ok = 1;
	for (int step = 0; step < 3; step++) {
		/* the backward pass of a loss times ls.scale */
		for (size_t k = 0; k < ps.total; k++)
			g[k] = g0[k] * ls.scale;
		n[0] = n[1] = 12345; /* buffer slot: not unscaled */
		ok &= presto_loss_scale_update(&ls, &ps, g) == 1;
		for (int t = 0; t < 2; t++)
			ok &= !memcmp(g + ps.p[t].offset, g0 + ps.p[t].offset, sizeof(float) * ps.p[t].numel);
		ok &= n[0] == 12345;
		if (step < 2)
			ok &= ls.scale == 65536.0f && ls.good_steps == step + 1;
	}
	CHECK(ok, "finite steps: gradients unscaled exactly, step taken");
	CHECK(ls.scale == 131072.0f && ls.good_steps == 0, "scale doubles after 3 good steps: %g", ls.scale);
	for (size_t k = 0; k < ps.total; k++)
		g[k] = g0[k] * ls.scale;
	b[2] = INFINITY;
	CHECK(presto_loss_scale_update(&ls, &ps, g) == 0 && ls.scale == 65536.0f && ls.skipped == 1 && ls.good_steps == 0,
	      "Inf gradient: step skipped, scale halved to %g", ls.scale);
	ls.good_steps = 0;
	presto_loss_scale_update(&ls, &ps, g0); /* one good step */
	b[2] = NAN;
	CHECK(presto_loss_scale_update(&ls, &ps, g) == 0 && ls.scale == 32768.0f && ls.skipped == 2 && ls.good_steps == 0,
	      "NaN gradient: skipped, halved again, good-step count reset");
	/* bounds */
	ls.scale = 1;
	b[2] = INFINITY;
	presto_loss_scale_update(&ls, &ps, g);
	EXPECT(ls.scale == 1, "scale floor min_scale = 1");
	ls.scale = ls.max_scale;
	ls.good_steps = 2;
	memcpy(g, g0, sizeof(float) * ps.total);
	presto_loss_scale_update(&ls, &ps, g);
	EXPECT(ls.scale == ls.max_scale, "scale capped at max_scale");

	/* disabled: scale 1, gradients untouched, non-finite still skipped */
	presto_loss_scale_init(&ls, 0, 65536.0f, 3);
	memcpy(g, g0, sizeof(float) * ps.total);
	int all = 1;
	for (int step = 0; step < 5; step++)
		all &= presto_loss_scale_update(&ls, &ps, g) == 1;
	CHECK(all && ls.scale == 1 && !memcmp(g, g0, sizeof(float) * ps.total), "disabled: scale 1, gradients untouched");
	b[0] = -INFINITY;
	CHECK(presto_loss_scale_update(&ls, &ps, g) == 0 && ls.scale == 1 && ls.skipped == 1,
	      "disabled: a non-finite gradient still skips the step");
	free(g);
	free(g0);
	presto_params_free(&ps);
}

int main(void)
{
	test_converge();
	test_hand_step();
	test_weight_decay();
	test_schedule();
	test_grads();
	test_ema();
	test_loss_scale();
	return check_status();
}

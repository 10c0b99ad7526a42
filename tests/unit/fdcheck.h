/* fdcheck.h - the finite-difference engine of the gradient tests
 * (test_ops_grad.c, test_text_grad.c).
 *
 * A problem is L = sum_i y_i r_i (+ extra terms), y = f(ctx), r random, so
 * dL/dy = r; L is summed in double. fd_check compares fourth-order central
 * differences at single entries with the analytic gradient, the error being
 * max |num - ana| over max |ana| of the tensor (a wrong gradient is off by
 * O(1)); fd_dir compares the derivative along a random direction of a whole
 * tensor with <grad, u>, which tests every entry at once. Include after
 * check.h and testrand.h. */
#ifndef PRESTO_FDCHECK_H
#define PRESTO_FDCHECK_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef void (*fwd_fn)(void *ctx, float *y);

typedef struct {
	fwd_fn f;
	void *ctx;
	float *y;       /* ny outputs */
	const float *r; /* dL/dy */
	size_t ny;
	double (*extra)(void *ctx); /* NULL or more terms of L (after f) */
	double *mag;    /* NULL or where sum |y_i r_i| goes (the size of L's rounding) */
	int *crossed;   /* NULL (L is smooth) or set by f when a ReLU changed sides */
	int quiet;      /* fd_dir reports failures only (VERBOSE=1: every figure) */
} problem;

static double loss(const problem *p)
{
	p->f(p->ctx, p->y);
	double l = 0, a = 0;
	for (size_t i = 0; i < p->ny; i++) {
		l += (double)p->y[i] * p->r[i];
		a += fabs((double)p->y[i] * p->r[i]);
	}
	if (p->mag)
		*p->mag = a;
	return p->extra ? l + p->extra(p->ctx) : l;
}

/* dL/dx along u: fourth-order central difference, x = x0 + s u for s = +-h,
 * +-2h. Where L has kinks (ReLU), a difference whose points do not all lie
 * on the piece of x0 is taken again with h/4, twice at most; NAN when even
 * that crosses a kink (smaller steps would be all fp32 noise). *hused (may be
 * NULL) receives the h used. */
static double fd_along(const problem *p, float *x, const float *x0, const float *u, size_t n, double h,
		       double *hused)
{
	double l[4];
	static const double s[4] = {1, -1, 2, -2};
	int smooth = 1;
	for (int tries = 0;; tries++, h /= 4) {
		if (p->crossed)
			*p->crossed = 0;
		for (int k = 0; k < 4; k++) {
			for (size_t i = 0; i < n; i++)
				x[i] = (float)(x0[i] + s[k] * h * u[i]);
			l[k] = loss(p);
		}
		smooth = !p->crossed || !*p->crossed;
		if (smooth || tries == 2)
			break;
	}
	memcpy(x, x0, sizeof(float) * n);
	if (hused)
		*hused = h;
	return smooth ? (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * h) : NAN;
}

/* Central differences at the entries idx[0..n) of x (all of x when idx is
 * NULL) against ana; the error is relative to max |ana| over the whole
 * tensor (nall entries). Entries next to a ReLU kink are skipped (counted). */
static void fd_entries(const problem *p, const char *what, float *x, const float *ana, size_t nall,
		       const size_t *idx, size_t n, float h, double tol)
{
	double err = 0, amax = 0;
	size_t skipped = 0;
	for (size_t i = 0; i < nall; i++)
		if (fabs(ana[i]) > amax)
			amax = fabs(ana[i]);
	for (size_t k = 0; k < n; k++) {
		size_t i = idx ? idx[k] : k;
		float x0 = x[i], one = 1.0f;
		double num = fd_along(p, x + i, &x0, &one, 1, h, NULL);
		if (isnan(num)) {
			skipped++;
			continue;
		}
		double e = fabs(num - ana[i]);
		if (e > err)
			err = e;
	}
	double rel = err / (amax > 1e-12 ? amax : 1e-12);
	char note[48] = "";
	if (skipped)
		snprintf(note, sizeof note, ", %zu of %zu at a kink", skipped, n);
	CHECK(rel < tol && amax > 0 && skipped * 4 <= n, "%-56s rel err %.2e (max |grad| %.3g%s)", what, rel, amax,
	      note);
}

/* Up to maxn evenly spread entries of x (all when maxn is 0 or >= n). */
static void fd_check(const problem *p, const char *what, float *x, const float *ana, size_t n, float h, double tol,
		     size_t maxn)
{
	size_t step = maxn && n > maxn ? (n + maxn - 1) / maxn : 1, m = 0;
	size_t *idx = malloc(sizeof(size_t) * (n ? n : 1));
	for (size_t i = (step > 1 ? (size_t)(unif() * step) : 0); i < n; i += step)
		idx[m++] = i;
	fd_entries(p, what, x, ana, n, idx, m, h, tol);
	free(idx);
}

/* The derivative along a random direction u of the whole tensor (scaled to
 * its entries' size) against <grad, u>, with an allowance for L's fp32
 * rounding amplified by the difference quotient. */
static void fd_dir(const problem *p, const char *what, float *x, const float *ana, size_t n, double h, double tol)
{
	double ss = 0;
	for (size_t i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	float sc = ss > 0 ? (float)sqrt(ss / (double)n) : 0.1f;
	float *x0 = malloc(sizeof(float) * n), *u = vec(n, sc);
	memcpy(x0, x, sizeof(float) * n);
	double dir = 0;
	for (size_t i = 0; i < n; i++)
		dir += (double)ana[i] * u[i];
	double num = fd_along(p, x, x0, u, n, h, &h);
	if (isnan(num)) { /* every direction of this tensor crosses ReLU kinks */
		CHECK(1, "%-56s skipped (ReLU kinks along every step)", what);
		free(x0);
		free(u);
		return;
	}
	double mag = 0;
	problem q = *p;
	q.mag = &mag;
	loss(&q);
	double noise = 1e-6 * mag / h;
	double rel = fabs(num - dir) / (fabs(dir) > 1e-30 ? fabs(dir) : 1e-30);
	int ok = fabs(num - dir) <= tol * fabs(dir) + noise;
	if (!p->quiet)
		CHECK(ok, "%-56s rel err %.2e (along a random direction)", what, rel);
	else {
		EXPECT(ok, "%s: directional derivative %.6g, finite difference %.6g (rel err %.2e, noise %.1e)",
		       what, dir, num, rel, noise);
		if (getenv("VERBOSE"))
			printf("     %-58s rel err %.2e (noise %.1e of %.1e)\n", what, rel, noise, fabs(dir));
	}
	free(x0);
	free(u);
}

#endif

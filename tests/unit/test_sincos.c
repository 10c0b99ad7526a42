/* test_sincos.c - the float sine and cosine of the snake activation
 * (presto_sincosf_block, lib/ops/snake.c) against double-precision sin and
 * cos: dense sweeps of small and large arguments, negatives, zero and
 * subnormals, the arguments nearest the multiples of pi/2 (where the range
 * reduction cancels), the libm fallback beyond the polynomial range, inf and
 * NaN; and that an element's result does not depend on where in a block it
 * sits (vector body or scalar tail).
 *
 * Error measure: |approx - exact| in units of 2^-24 max(|exact|, 2^-126)
 * ("ulp": between a half and one float ulp of the exact result), and the
 * absolute error. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#include "check.h"
#include "testrand.h"

TEST_RAND_SEED(0x5eed5eed12345678ull);

#define LIMIT 12000.0f /* the polynomial range of snake.c */
/* the bounds: 4 x 2^-24 relative (about 2 to 4 ulps), 2^-23 absolute */
#define MAX_REL 4.0
#define MAX_ABS 0x1p-23

typedef struct {
	double ulp, abs; /* worst error in ulps of the result, worst absolute error */
	float at_ulp, at_abs;
} worst;

static void account(worst *w, float x, float got, double exact)
{
	double e = fabs((double)got - exact);
	double u = e / (ldexp(1.0, -24) * fmax(fabs(exact), FLT_MIN));
	if (u > w->ulp) {
		w->ulp = u;
		w->at_ulp = x;
	}
	if (e > w->abs) {
		w->abs = e;
		w->at_abs = x;
	}
}

/* The errors of sin and cos over x[0..n). */
static void sweep(const float *x, size_t n, worst *ws, worst *wc)
{
	float *s = malloc(sizeof(float) * n), *c = malloc(sizeof(float) * n);
	presto_sincosf_block(s, c, x, n);
	for (size_t i = 0; i < n; i++) {
		account(ws, x[i], s[i], sin((double)x[i]));
		account(wc, x[i], c[i], cos((double)x[i]));
	}
	free(s);
	free(c);
}

static void report(const char *what, const worst *ws, const worst *wc, double max_ulp, double max_abs)
{
	CHECK(ws->ulp <= max_ulp && wc->ulp <= max_ulp && ws->abs <= max_abs && wc->abs <= max_abs,
	      "%s: sin %.2f ulp (at %.9g), abs %.2e (at %.9g); cos %.2f ulp (at %.9g), abs %.2e (at %.9g)", what,
	      ws->ulp, (double)ws->at_ulp, ws->abs, (double)ws->at_abs, wc->ulp, (double)wc->at_ulp, wc->abs,
	      (double)wc->at_abs);
}

int main(void)
{
	/* dense sweep of [-8, 8] and every float in [1, 1 + 2^-10) and around 0 */
	{
		size_t n = 1600001;
		float *x = malloc(sizeof(float) * n);
		for (size_t i = 0; i < n; i++)
			x[i] = (float)(-8.0 + 16.0 * (double)i / (double)(n - 1));
		worst ws = {0}, wc = {0};
		sweep(x, n, &ws, &wc);
		size_t m = 0;
		for (float v = 1.0f; v < 1.0f + 0x1p-10f; v = nextafterf(v, 2.0f))
			x[m++] = v;
		for (float v = 0x1p-20f; v < 0x1p-19f && m + 2 <= n; v = nextafterf(v, 1.0f)) {
			x[m++] = v;
			x[m++] = -v;
		}
		sweep(x, m, &ws, &wc);
		report("[-8, 8] dense, [1, 1 + 2^-10) and +-[2^-20, 2^-19) every float", &ws, &wc, MAX_REL, MAX_ABS);
		free(x);
	}
	/* zero, subnormals, tiny: sin x = x and cos x = 1 exactly (the sign of a
	 * zero sine is not kept: the snake squares it) */
	{
		const float x[] = {0.0f, -0.0f, 0x1p-149f, -0x1p-149f, 0x1p-130f, FLT_MIN, -FLT_MIN, 1e-30f, -1e-20f, 1e-10f};
		size_t n = sizeof x / sizeof x[0];
		float s[sizeof x / sizeof x[0]], c[sizeof x / sizeof x[0]];
		presto_sincosf_block(s, c, x, n);
		int ok = 1;
		for (size_t i = 0; i < n; i++)
			ok &= s[i] == x[i] && c[i] == 1.0f;
		CHECK(ok, "sin x = x and cos x = 1 for zero, subnormal and tiny x");
	}
	/* uniform random arguments over the whole polynomial range, both signs */
	{
		size_t n = 2000000;
		float *x = malloc(sizeof(float) * n);
		for (size_t i = 0; i < n; i++)
			x[i] = (float)((2.0 * unif() - 1.0) * LIMIT);
		worst ws = {0}, wc = {0};
		sweep(x, n, &ws, &wc);
		report("2e6 random x in [-12000, 12000]", &ws, &wc, MAX_REL, MAX_ABS);
		/* log-uniform magnitudes 2^-30 .. 12000 */
		for (size_t i = 0; i < n; i++) {
			float v = (float)exp2(-30.0 + unif() * (30.0 + log2(LIMIT)));
			x[i] = (i & 1) ? -fminf(v, LIMIT) : fminf(v, LIMIT);
		}
		ws = (worst){0}, wc = (worst){0};
		sweep(x, n, &ws, &wc);
		report("2e6 random x, |x| log-uniform in [2^-30, 12000]", &ws, &wc, MAX_REL, MAX_ABS);
		free(x);
	}
	/* the floats nearest k pi/2 (+- 4 ulps), where x - k pi/2 cancels: the
	 * result is tiny for even k (sin) or odd k (cos); the reduction carries
	 * pi/2 to 2^-62, so even these keep the relative bound */
	{
		int K = (int)(LIMIT / 1.5707963267948966);
		size_t n = (size_t)(2 * K + 1) * 9, m = 0;
		float *x = malloc(sizeof(float) * n);
		for (int k = -K; k <= K; k++) {
			float v = (float)(k * 1.5707963267948966);
			for (int j = 0; j < 4; j++)
				v = nextafterf(v, -INFINITY);
			for (int j = 0; j < 9; j++, v = nextafterf(v, INFINITY))
				if (fabsf(v) <= LIMIT)
					x[m++] = v;
		}
		worst ws = {0}, wc = {0};
		sweep(x, m, &ws, &wc);
		report("the 9 floats nearest each k pi/2, |k| <= 7639", &ws, &wc, MAX_REL, MAX_ABS);
		free(x);
	}
	/* beyond the polynomial range: the libm values exactly; inf and NaN give
	 * NaN; in-range neighbours in the same block are unaffected */
	{
		const float big[] = {12000.5f, -12001.0f, 1e5f, -3.0e6f, 1e10f, -1e20f, FLT_MAX, -FLT_MAX};
		size_t nb = sizeof big / sizeof big[0];
		float x[40], s[40], c[40];
		int ok = 1;
		for (int i = 0; i < 40; i++)
			x[i] = 0.37f * (float)(i - 20);
		for (size_t i = 0; i < nb; i++)
			x[3 * i + 5] = big[i];
		presto_sincosf_block(s, c, x, 40);
		for (int i = 0; i < 40; i++) {
			if (fabsf(x[i]) > LIMIT)
				ok &= s[i] == sinf(x[i]) && c[i] == cosf(x[i]);
			else
				ok &= fabs(s[i] - sin((double)x[i])) <= MAX_ABS && fabs(c[i] - cos((double)x[i])) <= MAX_ABS;
		}
		CHECK(ok, "|x| > 12000: libm sinf / cosf exactly; the in-range arguments beside them stay accurate");
		const float bad[] = {INFINITY, -INFINITY, NAN, -NAN, 1.0f};
		float bs[5], bc[5];
		presto_sincosf_block(bs, bc, bad, 5);
		CHECK(isnan(bs[0]) && isnan(bc[0]) && isnan(bs[1]) && isnan(bc[1]) && isnan(bs[2]) && isnan(bc[2]) &&
			      isnan(bs[3]) && isnan(bc[3]) && fabs(bs[4] - sin(1.0)) < 1e-7 && fabs(bc[4] - cos(1.0)) < 1e-7,
		      "inf and NaN give NaN (sin %g %g %g, cos %g %g %g); 1 beside them gives %.9g %.9g", (double)bs[0],
		      (double)bs[1], (double)bs[2], (double)bc[0], (double)bc[1], (double)bc[2], (double)bs[4],
		      (double)bc[4]);
	}
	/* position independence: a block of 1000 against one element at a time
	 * and against odd-sized pieces (vector body vs scalar tail) */
	{
		size_t n = 1000;
		float *x = malloc(sizeof(float) * n), *s = malloc(sizeof(float) * n), *c = malloc(sizeof(float) * n);
		float *s1 = malloc(sizeof(float) * n), *c1 = malloc(sizeof(float) * n);
		for (size_t i = 0; i < n; i++)
			x[i] = (float)((2.0 * unif() - 1.0) * (i % 3 ? 50.0 : 1.0));
		presto_sincosf_block(s, c, x, n);
		for (size_t i = 0; i < n; i++)
			presto_sincosf_block(s1 + i, c1 + i, x + i, 1);
		int same1 = !memcmp(s, s1, sizeof(float) * n) && !memcmp(c, c1, sizeof(float) * n);
		for (size_t i = 0; i < n; i += 7)
			presto_sincosf_block(s1 + i, c1 + i, x + i, n - i < 7 ? n - i : 7);
		int same7 = !memcmp(s, s1, sizeof(float) * n) && !memcmp(c, c1, sizeof(float) * n);
		/* NULL outputs are allowed */
		presto_sincosf_block(s1, NULL, x, n);
		presto_sincosf_block(NULL, c1, x, n);
		int nulls = !memcmp(s, s1, sizeof(float) * n) && !memcmp(c, c1, sizeof(float) * n);
		CHECK(same1 && same7 && nulls,
		      "results bit-identical in a block of 1000, one at a time, in pieces of 7, with a NULL output");
		free(x), free(s), free(c), free(s1), free(c1);
	}
	return check_status();
}

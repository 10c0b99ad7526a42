/* test_expf.c - the vectorised float exponential (presto_expf_block,
 * lib/ops/expf.c) against double-precision exp: a dense sweep of the whole
 * finite range, every float in [-1, 1] of a coarse stride, the range ends
 * (overflow to inf, the subnormal results, the round-to-zero), inf and NaN;
 * that an element's result does not depend on where in a block it sits; and
 * that it works in place.
 *
 * Error measure: |approx - exact| in units of 2^-24 max(|exact|, 2^-126)
 * ("ulp": between a half and one float ulp of the exact result). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#include "check.h"
#include "testrand.h"

TEST_RAND_SEED(0x0e4a11ce5eedull);

#define MAX_ULP 4.0 /* 4 x 2^-24 relative: 2 to 4 float ulps */

static double worst_ulp(const float *x, size_t n, float *at)
{
	float *y = malloc(sizeof(float) * n);
	presto_expf_block(y, x, n);
	double w = 0;
	for (size_t i = 0; i < n; i++) {
		double e = exp((double)x[i]);
		double u = fabs((double)y[i] - e) / (ldexp(1.0, -24) * fmax(e, FLT_MIN));
		if (e > FLT_MAX) /* overflow: must be inf */
			u = isinf(y[i]) ? 0 : 1e9;
		if (u > w) {
			w = u;
			*at = x[i];
		}
	}
	free(y);
	return w;
}

int main(void)
{
	/* dense sweep of the range where exp is a normal float */
	size_t n = 2000003;
	float *x = malloc(sizeof(float) * n);
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(-87.3 + (88.72 + 87.3) * (double)i / (double)(n - 1));
	float at = 0;
	double w = worst_ulp(x, n, &at);
	CHECK(w <= MAX_ULP, "[-87.3, 88.72] (2e6 points): worst %.2f x 2^-24 relative, at %.9g", w, at);
	/* every 1103rd float of [-1, 1] (by bit pattern: both signs, down to
	 * the subnormals) */
	size_t m = 0;
	for (uint32_t sign = 0; sign < 2; sign++)
		for (uint32_t bits = 0; bits <= 0x3f800000u && m < n; bits += 1103) {
			uint32_t u = bits | sign << 31;
			memcpy(&x[m++], &u, 4);
		}
	w = worst_ulp(x, m, &at);
	CHECK(w <= MAX_ULP, "[-1, 1] (%zu floats): worst %.2f x 2^-24 relative, at %.9g", m, w, at);
	/* random arguments, uniformly in the exponent too */
	for (size_t i = 0; i < n; i++)
		x[i] = (float)((unif() < 0.5 ? -1 : 1) * exp(unif() * 4.48));
	w = worst_ulp(x, n, &at);
	CHECK(w <= MAX_ULP, "random in +-88 (log-uniform): worst %.2f x 2^-24 relative, at %.9g", w, at);

	/* the ends: subnormal results (libm), zero, overflow, specials */
	float sp[] = {-87.0f, -87.5f, -95.0f, -103.9f, -103.99f, -104.0f, -200.0f, -FLT_MAX, 88.0f, 88.5f, 88.72f, 88.73f,
		      100.0f, FLT_MAX, 0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-30f, -1e-30f};
	size_t ns = sizeof sp / sizeof sp[0];
	float ys[sizeof sp / sizeof sp[0]];
	presto_expf_block(ys, sp, ns);
	int same = 1;
	for (size_t i = 0; i < ns; i++) {
		float want = expf(sp[i]);
		int ok = isnan(want) ? isnan(ys[i]) : (want == 0 || isinf(want) || want < FLT_MIN) ? ys[i] == want
				: fabs((double)ys[i] - want) <= 4 * ldexp(1.0, -24) * want;
		if (!ok) {
			printf("     exp(%g): %a, libm %a\n", sp[i], ys[i], want);
			same = 0;
		}
	}
	CHECK(same, "range ends and specials as libm (subnormals, +0 below -103.98, inf above 88.72, NaN)");

	/* position independence: each element alone equals it inside blocks */
	size_t k = 1000;
	float *a = malloc(sizeof(float) * k), *b = malloc(sizeof(float) * k), one;
	for (size_t i = 0; i < k; i++)
		x[i] = (float)(200 * unif() - 110);
	presto_expf_block(a, x, k);
	int bits_same = 1;
	for (size_t i = 0; i < k; i++) {
		presto_expf_block(&one, x + i, 1);
		bits_same &= !memcmp(&one, a + i, 4);
	}
	for (size_t off = 1; off < 9; off++) {
		presto_expf_block(b, x + off, k - off);
		bits_same &= !memcmp(b, a + off, sizeof(float) * (k - off));
	}
	CHECK(bits_same, "the same bits alone, in a block, at any offset (vector body or scalar tail)");
	memcpy(b, x, sizeof(float) * k);
	presto_expf_block(b, b, k);
	CHECK(!memcmp(a, b, sizeof(float) * k), "in place (y == x) gives the same bits");
	free(a);
	free(b);
	free(x);
	return check_status();
}

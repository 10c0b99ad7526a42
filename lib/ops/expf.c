/* expf.c - a vectorised float exponential for the element-wise ops that
 * need many of them (softmax in attention, SiLU and SwiGLU).
 *
 * exp(x) = 2^k exp(r), k = round(x / ln 2), r = x - k ln 2 (two-part ln 2,
 * so r is exact to 2^-36), |r| <= ln2 / 2; exp(r) from its Taylor
 * polynomial of degree 7 (truncation error below 6e-9 relative on that
 * interval); 2^k is built in the exponent bits.
 * Written so that GCC vectorises the loop: every element gets the same float
 * operations whatever the vector width (no contraction into fused
 * multiply-adds, no reassociation), so results are the same bits whatever
 * the block, position or machine. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops.h"

#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#pragma STDC FP_CONTRACT OFF

#define BLOCK 256
/* the polynomial path: 2^k stays a normal float for these */
#define LO -87.0f
#define HI 88.0f
/* below this exp(x) rounds to +0 in float (e^-103.98 < 2^-150) */
#define ZERO_BELOW -103.98f
#define LOG2E 0x1.715476p+0f
#define LN2_HI 0x1.62e4p-1f     /* 16 significant bits: k * LN2_HI exact for |k| < 256 */
#define LN2_LO 0x1.7f7d1cp-20f
#define ROUND_MAGIC 0x1.8p+23f
/* exp(r) = 1 + r + r^2 (E2 + r (E3 + r (E4 + r (E5 + r (E6 + r E7))))), Ei = 1/i! */
#define E2 0.5f
#define E3 0x1.555556p-3f
#define E4 0x1.555556p-5f
#define E5 0x1.111112p-7f
#define E6 0x1.6c16c2p-10f
#define E7 0x1.a01a02p-13f

#if defined(__x86_64__) && defined(__GNUC__) && !defined(PRESTO_NO_TARGET_CLONES)
#define EXP_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define EXP_CLONES
#endif

/* y[i] = exp(x[i]) for i < n <= BLOCK (y, x distinct). */
EXP_CLONES static void exp_block(float *restrict y, const float *restrict x, int n)
{
	int bad = 0;
	for (int i = 0; i < n; i++)
		bad |= (((x[i] >= LO) & (x[i] <= HI)) | (x[i] < ZERO_BELOW)) ^ 1;
	/* clamped to the polynomial's range (NaN kept, fixed below); a loop of
	 * its own, which GCC vectorises (not so when fused with the next) */
	float cl[BLOCK];
	for (int i = 0; i < n; i++) {
		float c = x[i] > HI ? HI : x[i];
		cl[i] = c < LO ? LO : c;
	}
	for (int i = 0; i < n; i++) {
		float v = x[i], c = cl[i];
		float kf = (c * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
		int32_t k = (int32_t)kf;
		float r = c - kf * LN2_HI;
		r = r - kf * LN2_LO;
		float p = E6 + r * E7;
		p = E5 + r * p;
		p = E4 + r * p;
		p = E3 + r * p;
		p = E2 + r * p;
		p = (1.0f + r) + (r * r) * p;
		union {
			int32_t i;
			float f;
		} s = {.i = (k + 127) << 23};
		float keep = v < ZERO_BELOW ? 0.0f : 1.0f; /* a select the vectoriser takes */
		y[i] = (p * s.f) * keep;
	}
	if (bad) /* NaN, overflow, and the subnormal results: libm */
		for (int i = 0; i < n; i++)
			if (!(x[i] >= LO && x[i] <= HI) && !(x[i] < ZERO_BELOW))
				y[i] = expf(x[i]);
}

void presto_expf_block(float *y, const float *x, size_t n)
{
	float bx[BLOCK], by[BLOCK];
	for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
		int m = n - i0 < BLOCK ? (int)(n - i0) : BLOCK;
		memcpy(bx, x + i0, sizeof(float) * (size_t)m);
		exp_block(by, bx, m);
		memcpy(y + i0, by, sizeof(float) * (size_t)m);
	}
}

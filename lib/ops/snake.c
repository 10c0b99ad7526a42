/* snake.c - SnakeBeta with log-scale parameters (Oobleck activations):
 * y = x + 1/(exp(beta) + 1e-9) * sin(exp(alpha) x)^2, per channel.
 *
 * The sines and cosines come from presto_sincosf_block (below): range
 * reduction by pi/2 and two short polynomials, written so that GCC
 * vectorises the loops. Every loop here computes each element with the same
 * float operations whatever the vector width, and the per-channel sums use
 * a fixed lane layout (SUM_LANES float partial sums over a block, added in
 * double in lane order), so results are bit-identical run to run and
 * between vectorised and scalar builds. */
#include <math.h>

#include "ops.h"

/* The vectoriser at its usual strength for these loops (the -O2 default
 * "very cheap" cost model skips loops with a tail). No fast-math: no
 * reassociation, so no result depends on the vector width; and no
 * contraction into fused multiply-adds (GCC's default in ISO C mode). */
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#pragma STDC FP_CONTRACT OFF

#define BLOCK 256    /* elements per inner block (stack buffers) */
#define SUM_LANES 8  /* float partial sums per reduction */

/* Arguments with |v| <= SC_LIMIT take the polynomial path: the quadrant
 * k = round(v 2/pi) stays below 2^13, so k times each 11-bit part of pi/2
 * below is exact. Larger or non-finite ones go to libm. */
#define SC_LIMIT 12000.0f
#define TWO_OVER_PI 0x1.45f306p-1f
/* pi/2 = P1 + P2 + P3 + P4 to 2^-62; P1..P3 have at most 11 significant bits */
#define PIO2_1 0x1.92p+0f
#define PIO2_2 0x1.fb4p-12f
#define PIO2_3 0x1.444p-24f
#define PIO2_4 0x1.68c234p-39f
/* round-to-nearest of |u| < 2^22 by adding and subtracting 1.5 * 2^23 */
#define ROUND_MAGIC 0x1.8p+23f
/* Minimax on |r| <= 1.002 pi/4 (relative error, fitted for this file):
 * sin r = r + r^3 (S1 + S2 r^2 + S3 r^4)         max rel. error 3.9e-9
 * cos r = 1 - r^2/2 + r^4 (C1 + C2 r^2 + C3 r^4)  max rel. error 1.2e-10 */
#define S1 -0x1.555544p-3f
#define S2 0x1.110726p-7f
#define S3 -0x1.993ce2p-13f
#define C1 0x1.55554ap-5f
#define C2 -0x1.6c0c1ep-10f
#define C3 0x1.99e538p-16f

/* On x86-64 the sine and cosine loop also gets an AVX2 build, picked at load
 * time. Without -ffp-contract (ISO C mode) it does the same float operations
 * per element as the SSE2 build, so results do not depend on the machine. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(PRESTO_NO_TARGET_CLONES)
#define SC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SC_CLONES
#endif

/* s[i] = sin(v[i]), c[i] = cos(v[i]) for i < n <= BLOCK (s, c, v distinct). */
SC_CLONES static void sincos_block(float *restrict s, float *restrict c, const float *restrict v, int n)
{
	int bad = 0;
	for (int i = 0; i < n; i++)
		bad |= !(fabsf(v[i]) <= SC_LIMIT);
	/* out-of-range arguments: zeros through the polynomials, libm after */
	float clamped[BLOCK];
	const float *restrict src = v;
	if (bad) {
		for (int i = 0; i < n; i++)
			clamped[i] = fabsf(v[i]) <= SC_LIMIT ? v[i] : 0.0f;
		src = clamped;
	}
	for (int i = 0; i < n; i++) {
		float x = src[i];
		float kf = (x * TWO_OVER_PI + ROUND_MAGIC) - ROUND_MAGIC;
		int k = (int)kf;
		float r = x - kf * PIO2_1;
		r = r - kf * PIO2_2;
		r = r - kf * PIO2_3;
		r = r - kf * PIO2_4;
		float z = r * r;
		float sr = r + r * z * (S1 + z * (S2 + z * S3));
		float cr = (1.0f - 0.5f * z) + z * z * (C1 + z * (C2 + z * C3));
		/* sin(k pi/2 + r), cos(k pi/2 + r) by the quadrant k mod 4 */
		int odd = k & 1;
		float ss = odd ? cr : sr, cc = odd ? sr : cr;
		float sgs = (float)(1 - (k & 2)), sgc = (float)(1 - ((k + 1) & 2));
		s[i] = ss * sgs;
		c[i] = cc * sgc;
	}
	if (bad)
		for (int i = 0; i < n; i++)
			if (!(fabsf(v[i]) <= SC_LIMIT)) {
				s[i] = sinf(v[i]);
				c[i] = cosf(v[i]);
			}
}

void presto_sincosf_block(float *s, float *c, const float *x, size_t n)
{
	float bs[BLOCK], bc[BLOCK], bv[BLOCK];
	for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
		int m = n - i0 < BLOCK ? (int)(n - i0) : BLOCK;
		for (int i = 0; i < m; i++)
			bv[i] = x[i0 + i];
		sincos_block(bs, bc, bv, m);
		for (int i = 0; i < m; i++) {
			if (s)
				s[i0 + i] = bs[i];
			if (c)
				c[i0 + i] = bc[i];
		}
	}
}

typedef struct {
	float *y;
	const float *x, *alpha, *beta;
	int T;
} snake_job;

static void snake_channel(void *ctx, int c, int w)
{
	(void)w;
	const snake_job *j = ctx;
	float v[BLOCK], s[BLOCK], co[BLOCK];
	int T = j->T;
	float a = expf(j->alpha[c]), ib = 1.0f / (expf(j->beta[c]) + 1e-9f);
	const float *xr = j->x + (size_t)c * T;
	float *yr = j->y + (size_t)c * T;
	for (int t0 = 0; t0 < T; t0 += BLOCK) {
		int n = T - t0 < BLOCK ? T - t0 : BLOCK;
		const float *xb = xr + t0;
		for (int i = 0; i < n; i++)
			v[i] = a * xb[i];
		sincos_block(s, co, v, n);
		/* y may alias x: each element is read before it is written */
		for (int i = 0; i < n; i++)
			v[i] = xb[i] + ib * (s[i] * s[i]);
		float *yb = yr + t0;
		for (int i = 0; i < n; i++)
			yb[i] = v[i];
	}
}

/* channels in parallel once there is enough work to share */
#define PARALLEL_MIN (1 << 16)

void presto_snake_beta_forward(float *y, const float *x, const float *alpha, const float *beta, int C, int T)
{
	snake_job j = {y, x, alpha, beta, T};
	if ((size_t)C * (size_t)T >= PARALLEL_MIN && C > 1)
		presto_parallel(C, snake_channel, &j);
	else
		for (int c = 0; c < C; c++)
			snake_channel(&j, c, 0);
}

/* sum of p[0..n) as SUM_LANES float partial sums (lane i mod SUM_LANES) added
 * in double in lane order, then the tail in double. */
static double lane_sum(const float *restrict p, int n)
{
	float acc[SUM_LANES] = {0};
	int i = 0;
	for (; i + SUM_LANES <= n; i += SUM_LANES)
		for (int j = 0; j < SUM_LANES; j++)
			acc[j] += p[i + j];
	double s = 0;
	for (int j = 0; j < SUM_LANES; j++)
		s += acc[j];
	for (; i < n; i++)
		s += p[i];
	return s;
}

/* With a = exp(alpha), e = exp(beta), ib = 1/(e + 1e-9), s = sin(a x):
 *   dy/dx     = 1 + ib * a * sin(2 a x)        (2 s cos(a x) = sin(2 a x))
 *   dy/dalpha = ib * sin(2 a x) * a x
 *   dy/dbeta  = -s^2 * e * ib^2
 * Per-channel sums: float partial sums over blocks of BLOCK elements
 * (lane_sum), accumulated in double. */
void presto_snake_beta_backward(float *dx, float *dalpha, float *dbeta, const float *dy, const float *x,
				const float *alpha, const float *beta, int C, int T)
{
	float v[BLOCK], s[BLOCK], co[BLOCK], pa[BLOCK], pb[BLOCK];
	for (int c = 0; c < C; c++) {
		float a = expf(alpha[c]), e = expf(beta[c]), ib = 1.0f / (e + 1e-9f), iba = ib * a;
		const float *xr = x + (size_t)c * T, *gr = dy + (size_t)c * T;
		float *dxr = dx ? dx + (size_t)c * T : NULL;
		double sa = 0, sb = 0;
		for (int t0 = 0; t0 < T; t0 += BLOCK) {
			int n = T - t0 < BLOCK ? T - t0 : BLOCK;
			const float *xb = xr + t0, *gb = gr + t0;
			for (int i = 0; i < n; i++)
				v[i] = a * xb[i];
			sincos_block(s, co, v, n);
			for (int i = 0; i < n; i++) {
				float s2 = 2.0f * s[i] * co[i]; /* sin(2 a x) */
				co[i] = s2;
				pa[i] = gb[i] * (s2 * v[i]);
				pb[i] = gb[i] * (s[i] * s[i]);
			}
			if (dxr) {
				float *dxb = dxr + t0;
				for (int i = 0; i < n; i++)
					dxb[i] += gb[i] * (1.0f + iba * co[i]);
			}
			sa += lane_sum(pa, n);
			sb += lane_sum(pb, n);
		}
		if (dalpha)
			dalpha[c] += (float)(sa * ib);
		if (dbeta)
			dbeta[c] -= (float)(sb * (double)e * (double)ib * (double)ib);
	}
}

/* sampler_step.h - the element-wise updates of the samplers (sampler.c) and
 * of classifier-free guidance, written once for the C reference
 * (presto_step_apply in sampler.c) and its CUDA twin (kernels/sampler.cu),
 * so that the sampling loop can keep its vectors on a GPU and give the
 * same floats there.
 *
 * Every update reads float vectors, computes in double and rounds once to
 * float (two roundings where the samplers round twice), as the samplers
 * always did; CFG computes in float as lib/dit.c does. The CUDA twin is
 * built without contracting multiply-adds (nvcc -fmad=false) so that its
 * double and float arithmetic round exactly as the C code's.
 *
 * Outputs may alias inputs element for element (x in place); each element
 * reads its inputs before writing. */
#ifndef PRESTO_SAMPLER_STEP_H
#define PRESTO_SAMPLER_STEP_H

#include <stddef.h>

#include "hostdev.h"

typedef enum {
	/* out = k0 a + k1 b (b NULL: out = k0 a) */
	PRESTO_STEP_AXPBY,
	/* Euler: d = float((a - b) / k0), out = float(a + d k1); d written to
	 * out2 when out2 is not NULL (a = x, b = denoised, k0 = sigma, k1 = dt) */
	PRESTO_STEP_EULER,
	/* Heun's correction: out = float(a + (c + (b - d) / k0) / 2 * k1)
	 * (a = x, b = x2, c = d, d = denoised at x2, k0 = sigma_next, k1 = dt) */
	PRESTO_STEP_HEUN,
	/* DPM-Solver++(2M): out = float(k0 a + k1 (k2 b - k3 c)), or with c NULL
	 * out = float(k0 a + k1 b) (a = x, b = denoised, c = old denoised) */
	PRESTO_STEP_DPM2M,
	/* DPM-Solver++(3M) SDE (a = x, b = den, c = den1 or NULL, d = den2 or
	 * NULL, e = eps or NULL; k0 = exp(-h_eta), k1 = -expm1(-h_eta),
	 * k2 = phi2, k3 = phi3, k4 = r0, k5 = r1, k6 = the noise's scale):
	 *   d2 and d1 both: d10 = (b - c)/k4, d11 = (c - d)/k5,
	 *     D1 = d10 + (d10 - d11) k4/(k4 + k5), D2 = (d10 - d11)/(k4 + k5),
	 *     x' = k0 a + k1 b + k2 D1 - k3 D2
	 *   c only: x' = k0 a + k1 b + k2 (b - c)/k4
	 *   neither: x' = k0 a + k1 b
	 * then out = float(x'), and with e: out = float(out + e k6). */
	PRESTO_STEP_DPM3M,
	/* classifier-free guidance in float: out = b + (a - b) * (float)k0
	 * (a = cond, b = uncond) */
	PRESTO_STEP_CFG,
	/* out = (float)k0 */
	PRESTO_STEP_FILL,
} presto_step_op;

typedef struct {
	presto_step_op op;
	size_t n;
	float *out, *out2;
	const float *a, *b, *c, *d, *e;
	double k[7];
} presto_step;

/* element i of step s */
PRESTO_HD void presto_step_elem(const presto_step *s, size_t i)
{
	const double *k = s->k;
	switch (s->op) {
	case PRESTO_STEP_AXPBY:
		s->out[i] = s->b ? (float)(k[0] * s->a[i] + k[1] * s->b[i]) : (float)(k[0] * s->a[i]);
		break;
	case PRESTO_STEP_EULER: {
		double x = s->a[i];
		float d = (float)((x - s->b[i]) / k[0]);
		if (s->out2)
			s->out2[i] = d;
		s->out[i] = (float)(x + (double)d * k[1]);
		break;
	}
	case PRESTO_STEP_HEUN: {
		double d2 = ((double)s->b[i] - s->d[i]) / k[0];
		s->out[i] = (float)(s->a[i] + ((double)s->c[i] + d2) / 2 * k[1]);
		break;
	}
	case PRESTO_STEP_DPM2M:
		if (s->c) {
			double dd = k[2] * s->b[i] - k[3] * s->c[i];
			s->out[i] = (float)(k[0] * s->a[i] + k[1] * dd);
		} else {
			s->out[i] = (float)(k[0] * s->a[i] + k[1] * s->b[i]);
		}
		break;
	case PRESTO_STEP_DPM3M: {
		double x = s->a[i], den = s->b[i];
		float r;
		if (s->c && s->d) {
			double r0 = k[4], r1 = k[5];
			double d10 = (den - s->c[i]) / r0;
			double d11 = ((double)s->c[i] - s->d[i]) / r1;
			double d1 = d10 + (d10 - d11) * r0 / (r0 + r1);
			double d2 = (d10 - d11) / (r0 + r1);
			r = (float)(k[0] * x + k[1] * den + k[2] * d1 - k[3] * d2);
		} else if (s->c) {
			double d = (den - s->c[i]) / k[4];
			r = (float)(k[0] * x + k[1] * den + k[2] * d);
		} else {
			r = (float)(k[0] * x + k[1] * den);
		}
		if (s->e)
			r = (float)(r + (double)s->e[i] * k[6]);
		s->out[i] = r;
		break;
	}
	case PRESTO_STEP_CFG: {
		float co = s->a[i], uo = s->b[i];
		s->out[i] = uo + (co - uo) * (float)k[0];
		break;
	}
	case PRESTO_STEP_FILL:
		s->out[i] = (float)k[0];
		break;
	}
}

#endif

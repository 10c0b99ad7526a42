/* mix.h - the signal processing of presto-mix: summing clips with gains,
 * concatenation with an equal-power crossfade, peak measurement and
 * scaling, and linear / spherical interpolation of latents.
 *
 * Audio is fp32 planar as in formats/audio.h: x[c * N + t] for channel c,
 * frame t ([C, N]). A mono source mixed into C channels is copied to every
 * channel unchanged (no pan law). */
#ifndef PRESTO_MIX_H
#define PRESTO_MIX_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Decibels to a linear amplitude factor: 10^(db / 20). */
double presto_mix_db_gain(double db);

/* dst[c, t] += gain * src[c or 0, t] for t < src_N. dst is [C, N], src is
 * [src_C, src_N] with src_C == C or src_C == 1, src_N <= N; frames of dst
 * from src_N on are left as they are (zero padding of a shorter source). */
presto_status presto_mix_add(float *dst, int C, int64_t N, const float *src, int src_C, int64_t src_N, double gain);

/* Append gain * src to dst with an equal-power crossfade of xfade frames.
 * dst holds C rows of stride cap, the first *len frames in use; the last
 * xfade frames of dst and the first xfade of src overlap: at overlap frame i,
 * x = (i + 0.5) / xfade,
 *   dst = dst * cos(pi/2 x) + gain * src * sin(pi/2 x)
 * (the squares of the two weights sum to 1, so uncorrelated material keeps
 * its power through the fade). Needs xfade <= *len, xfade <= src_N and
 * *len - xfade + src_N <= cap; *len becomes *len - xfade + src_N. src_C as
 * for presto_mix_add. */
presto_status presto_mix_append(float *dst, int C, int64_t cap, int64_t *len, const float *src, int src_C,
				int64_t src_N, double gain, int64_t xfade);

/* Largest absolute value of x[0 .. n-1] (0 for n = 0). */
double presto_mix_peak(const float *x, size_t n);
/* x *= gain. */
void presto_mix_scale(float *x, size_t n, double gain);

/* out = (1 - t) a + t b element-wise, computed in double: t = 0 gives a and
 * t = 1 gives b exactly. out may be a or b. */
void presto_mix_lerp(float *out, const float *a, const float *b, size_t n, double t);

/* Spherical interpolation of a and b taken as two vectors of n elements:
 * with theta the angle between them,
 *   out = sin((1 - t) theta) / sin(theta) a + sin(t theta) / sin(theta) b,
 * which follows the arc from a to b (for vectors of equal norm the norm is
 * kept all the way; otherwise it varies smoothly between the two). t = 0
 * and t = 1 give a and b exactly. Nearly parallel vectors (theta below
 * 1e-4 rad) and a zero vector fall back to presto_mix_lerp; opposite ones
 * (theta within 1e-6 rad of pi) have no unique arc and are PRESTO_EINVAL.
 * out may be a or b. */
presto_status presto_mix_slerp(float *out, const float *a, const float *b, size_t n, double t);

#endif

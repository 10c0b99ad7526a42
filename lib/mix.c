/* mix.c - summing, crossfading and interpolating (see mix.h). */
#include "mix.h"

#include <math.h>

#define HALF_PI 1.57079632679489661923

double presto_mix_db_gain(double db)
{
	return pow(10.0, db / 20.0);
}

static presto_status check_layout(const char *what, int C, int src_C, int64_t src_N)
{
	if (C < 1 || (src_C != C && src_C != 1))
		return presto_error_set(PRESTO_EINVAL, "%s: cannot mix %d channels into %d", what, src_C, C);
	if (src_N < 0)
		return presto_error_set(PRESTO_EINVAL, "%s: negative frame count", what);
	return PRESTO_OK;
}

presto_status presto_mix_add(float *dst, int C, int64_t N, const float *src, int src_C, int64_t src_N, double gain)
{
	PRESTO_TRY(check_layout("mix", C, src_C, src_N));
	if (src_N > N)
		return presto_error_set(PRESTO_EINVAL, "mix: source of %lld frames is longer than the %lld of the mix",
					(long long)src_N, (long long)N);
	for (int c = 0; c < C; c++) {
		float *d = dst + (size_t)c * (size_t)N;
		const float *s = src + (src_C == 1 ? 0 : (size_t)c * (size_t)src_N);
		for (int64_t t = 0; t < src_N; t++)
			d[t] = (float)((double)d[t] + gain * (double)s[t]);
	}
	return PRESTO_OK;
}

presto_status presto_mix_append(float *dst, int C, int64_t cap, int64_t *len, const float *src, int src_C,
				int64_t src_N, double gain, int64_t xfade)
{
	PRESTO_TRY(check_layout("concat", C, src_C, src_N));
	int64_t L = *len;
	if (xfade < 0 || xfade > L || xfade > src_N)
		return presto_error_set(PRESTO_EINVAL,
					"concat: a crossfade of %lld frames needs clips of at least that length "
					"(%lld and %lld frames)", (long long)xfade, (long long)L, (long long)src_N);
	if (L - xfade > cap - src_N)
		return presto_error_set(PRESTO_EINVAL, "concat: %lld + %lld - %lld frames exceed the buffer of %lld",
					(long long)L, (long long)src_N, (long long)xfade, (long long)cap);
	int64_t start = L - xfade;
	for (int c = 0; c < C; c++) {
		float *d = dst + (size_t)c * (size_t)cap + (size_t)start;
		const float *s = src + (src_C == 1 ? 0 : (size_t)c * (size_t)src_N);
		for (int64_t i = 0; i < xfade; i++) {
			double x = HALF_PI * ((double)i + 0.5) / (double)xfade;
			d[i] = (float)((double)d[i] * cos(x) + gain * (double)s[i] * sin(x));
		}
		for (int64_t i = xfade; i < src_N; i++)
			d[i] = (float)(gain * (double)s[i]);
	}
	*len = start + src_N;
	return PRESTO_OK;
}

double presto_mix_peak(const float *x, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs((double)x[i]));
	return m;
}

void presto_mix_scale(float *x, size_t n, double gain)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(gain * (double)x[i]);
}

void presto_mix_lerp(float *out, const float *a, const float *b, size_t n, double t)
{
	double u = 1.0 - t;
	for (size_t i = 0; i < n; i++)
		out[i] = (float)(u * (double)a[i] + t * (double)b[i]);
}

presto_status presto_mix_slerp(float *out, const float *a, const float *b, size_t n, double t)
{
	double na = 0, nb = 0;
	for (size_t i = 0; i < n; i++) {
		na += (double)a[i] * (double)a[i];
		nb += (double)b[i] * (double)b[i];
	}
	na = sqrt(na);
	nb = sqrt(nb);
	if (!(na > 0) || !(nb > 0)) {
		presto_mix_lerp(out, a, b, n, t);
		return PRESTO_OK;
	}
	/* theta = 2 atan2(|a^ - b^|, |a^ + b^|): accurate near 0 and pi,
	 * where acos of the normalised dot product is not */
	double dm = 0, dp = 0;
	for (size_t i = 0; i < n; i++) {
		double x = (double)a[i] / na, y = (double)b[i] / nb;
		dm += (x - y) * (x - y);
		dp += (x + y) * (x + y);
	}
	double theta = 2.0 * atan2(sqrt(dm), sqrt(dp));
	if (theta < 1e-4) {
		presto_mix_lerp(out, a, b, n, t);
		return PRESTO_OK;
	}
	if (theta > M_PI - 1e-6)
		return presto_error_set(PRESTO_EINVAL, "slerp: the two vectors point in opposite directions, so no "
					"single arc joins them (use linear interpolation)");
	double s = sin(theta), wa = sin((1.0 - t) * theta) / s, wb = sin(t * theta) / s;
	for (size_t i = 0; i < n; i++)
		out[i] = (float)(wa * (double)a[i] + wb * (double)b[i]);
	return PRESTO_OK;
}

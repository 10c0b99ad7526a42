/* test_mix.c - lib/mix.c: sums with gains and mono sources, equal-power
 * crossfades, peaks, lerp and slerp (exact end points, arcs, fallbacks,
 * errors). Exit status 0 when every check passes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mix.h"

#include "check.h"


#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

static void test_gain(void)
{
	EXPECT(presto_mix_db_gain(0) == 1.0, "0 dB");
	EXPECT(NEAR(presto_mix_db_gain(-6), 0.501187, 1e-6), "-6 dB");
	EXPECT(NEAR(presto_mix_db_gain(20), 10.0, 1e-12), "+20 dB");
}

static void test_add(void)
{
	/* dst [2, 4]; a stereo source of 4 frames at 0 dB, a mono one of 2 at -6 dB */
	float dst[8] = {0};
	const float st[8] = {1, 2, 3, 4, -1, -2, -3, -4};
	const float mono[2] = {0.5f, 0.25f};
	double g = presto_mix_db_gain(-6);
	EXPECT(!presto_mix_add(dst, 2, 4, st, 2, 4, 1.0), "add stereo: %s", presto_error());
	EXPECT(!memcmp(dst, st, sizeof st), "0 dB into silence is a copy");
	EXPECT(!presto_mix_add(dst, 2, 4, mono, 1, 2, g), "add mono: %s", presto_error());
	EXPECT(NEAR(dst[0], 1 + 0.5 * g, 1e-6) && NEAR(dst[1], 2 + 0.25 * g, 1e-6), "left: %g %g", dst[0], dst[1]);
	EXPECT(NEAR(dst[4], -1 + 0.5 * g, 1e-6) && NEAR(dst[5], -2 + 0.25 * g, 1e-6), "right: %g %g", dst[4], dst[5]);
	EXPECT(dst[2] == 3 && dst[3] == 4 && dst[6] == -3 && dst[7] == -4, "frames past a short source untouched");
	/* errors: 3 channels into 2, a source longer than the mix */
	float three[3] = {0};
	EXPECT(presto_mix_add(dst, 2, 4, three, 3, 1, 1.0) == PRESTO_EINVAL, "3 into 2 channels");
	EXPECT(presto_mix_add(dst, 2, 1, st, 2, 4, 1.0) == PRESTO_EINVAL, "longer source");
}

static void test_append(void)
{
	enum { CAP = 16 };
	float dst[2 * CAP];
	const float a[2 * 6] = {1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2};
	const float b[4] = {1, 1, 1, 1}; /* mono */
	int64_t len = 0;
	for (int i = 0; i < 2 * CAP; i++)
		dst[i] = 99; /* stale content must be overwritten */
	EXPECT(!presto_mix_append(dst, 2, CAP, &len, a, 2, 6, 1.0, 0), "first clip: %s", presto_error());
	EXPECT(len == 6, "len %lld", (long long)len);
	EXPECT(dst[5] == 1 && dst[CAP + 5] == 2, "first clip copied");
	/* crossfade of 2: a 6 + 4 - 2 = 8 frame result */
	EXPECT(!presto_mix_append(dst, 2, CAP, &len, b, 1, 4, 0.5, 2), "second clip: %s", presto_error());
	EXPECT(len == 8, "len %lld", (long long)len);
	for (int i = 0; i < 2; i++) {
		double x = 1.57079632679489661923 * (i + 0.5) / 2;
		double wl = cos(x), wr = sin(x);
		EXPECT(NEAR(wl * wl + wr * wr, 1, 1e-12), "equal power");
		EXPECT(NEAR(dst[4 + i], 1 * wl + 0.5 * wr, 1e-6), "left overlap %d: %g", i, dst[4 + i]);
		EXPECT(NEAR(dst[CAP + 4 + i], 2 * wl + 0.5 * wr, 1e-6), "right overlap %d: %g", i, dst[CAP + 4 + i]);
	}
	EXPECT(dst[3] == 1 && dst[CAP + 3] == 2, "before the overlap untouched");
	EXPECT(dst[6] == 0.5f && dst[7] == 0.5f && dst[CAP + 7] == 0.5f, "after the overlap: the gained source");
	EXPECT(dst[8] == 99, "nothing written past the end");
	/* a crossfade longer than either clip, and overflowing the buffer */
	EXPECT(presto_mix_append(dst, 2, CAP, &len, b, 1, 4, 1.0, 5) == PRESTO_EINVAL, "crossfade > clip");
	EXPECT(strstr(presto_error(), "crossfade of 5 frames"), "message: %s", presto_error());
	len = 14;
	EXPECT(presto_mix_append(dst, 2, CAP, &len, b, 1, 4, 1.0, 1) == PRESTO_EINVAL, "buffer overflow");
	EXPECT(len == 14, "len unchanged on error");
}

static void test_peak(void)
{
	float x[4] = {0.25f, -0.75f, 0.5f, 0};
	EXPECT(presto_mix_peak(x, 4) == 0.75, "peak %g", presto_mix_peak(x, 4));
	EXPECT(presto_mix_peak(x, 0) == 0, "empty peak");
	presto_mix_scale(x, 4, 2.0);
	EXPECT(x[1] == -1.5f && x[0] == 0.5f, "scale");
}

static void test_lerp(void)
{
	const float a[3] = {0.1f, -3.7f, 1e-7f}, b[3] = {0.3f, 2.9f, -5.5f};
	float o[3];
	presto_mix_lerp(o, a, b, 3, 0.0);
	EXPECT(!memcmp(o, a, sizeof a), "lerp t=0 is a bit for bit");
	presto_mix_lerp(o, a, b, 3, 1.0);
	EXPECT(!memcmp(o, b, sizeof b), "lerp t=1 is b bit for bit");
	presto_mix_lerp(o, a, b, 3, 0.25);
	for (int i = 0; i < 3; i++)
		EXPECT(NEAR(o[i], 0.75 * a[i] + 0.25 * b[i], 1e-6), "lerp 0.25 [%d]", i);
	memcpy(o, a, sizeof a);
	presto_mix_lerp(o, o, b, 3, 0.5); /* in place */
	EXPECT(NEAR(o[1], -0.4, 1e-6), "in place: %g", o[1]);
}

static void test_slerp(void)
{
	/* orthogonal vectors of norm 2: the midpoint is on the circle */
	const float a[2] = {2, 0}, b[2] = {0, 2};
	float o[2];
	EXPECT(!presto_mix_slerp(o, a, b, 2, 0.5), "slerp: %s", presto_error());
	EXPECT(NEAR(o[0], sqrt(2), 1e-6) && NEAR(o[1], sqrt(2), 1e-6), "midpoint (%g, %g)", o[0], o[1]);
	EXPECT(!presto_mix_slerp(o, a, b, 2, 1.0 / 3), "slerp 1/3");
	EXPECT(NEAR(o[0], 2 * cos(M_PI / 6), 1e-6) && NEAR(o[1], 2 * sin(M_PI / 6), 1e-6), "a third of the arc");
	/* end points exactly, with arbitrary data */
	const float x[4] = {0.3f, -1.7f, 2.25f, 1e-3f}, y[4] = {-0.9f, 0.4f, 1.5f, 3.0f};
	float z[4];
	EXPECT(!presto_mix_slerp(z, x, y, 4, 0.0) && !memcmp(z, x, sizeof x), "slerp t=0 is a bit for bit");
	EXPECT(!presto_mix_slerp(z, x, y, 4, 1.0) && !memcmp(z, y, sizeof y), "slerp t=1 is b bit for bit");
	/* parallel (and a zero vector): falls back to lerp */
	const float p[2] = {1, 1}, q[2] = {3, 3}, zero[2] = {0, 0};
	EXPECT(!presto_mix_slerp(o, p, q, 2, 0.5) && NEAR(o[0], 2, 1e-6) && NEAR(o[1], 2, 1e-6), "parallel");
	EXPECT(!presto_mix_slerp(o, zero, q, 2, 0.5) && NEAR(o[0], 1.5, 1e-6), "zero vector");
	/* opposite: no arc */
	const float m[2] = {-1, -1};
	EXPECT(presto_mix_slerp(o, p, m, 2, 0.5) == PRESTO_EINVAL, "opposite vectors");
	EXPECT(strstr(presto_error(), "opposite"), "message: %s", presto_error());
	/* in place */
	float w[2] = {2, 0};
	EXPECT(!presto_mix_slerp(w, w, b, 2, 0.5) && NEAR(w[1], sqrt(2), 1e-6), "in place");
}

int main(void)
{
	test_gain();
	test_add();
	test_append();
	test_peak();
	test_lerp();
	test_slerp();
	return check_status();
}

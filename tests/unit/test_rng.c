/* test_rng.c - Philox4x32-10 known answers (Random123 kat_vectors), slice
 * independence of presto_randn / presto_rand, moments of the normals and
 * separation of streams and seeds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#include "check.h"


static void kat(const uint32_t ctr[4], const uint32_t key[2], const uint32_t want[4], const char *what)
{
	uint32_t got[4];
	presto_philox4x32(ctr, key, got);
	int ok = !memcmp(got, want, sizeof got);
	if (!ok)
		printf("     got %08x %08x %08x %08x\n", got[0], got[1], got[2], got[3]);
	CHECK(ok, "%s", what);
}

static void known_answers(void)
{
	static const uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
	static const uint32_t w0[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
	static const uint32_t c1[4] = {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, k1[2] = {0xffffffff, 0xffffffff};
	static const uint32_t w1[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd};
	static const uint32_t c2[4] = {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, k2[2] = {0xa4093822, 0x299f31d0};
	static const uint32_t w2[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
	kat(c0, k0, w0, "philox4x32-10 kat: ctr 0, key 0");
	kat(c1, k1, w1, "philox4x32-10 kat: ctr ffffffff, key ffffffff");
	kat(c2, k2, w2, "philox4x32-10 kat: ctr pi digits, key pi digits");
}

/* The documented mapping, recomputed from raw Philox words. */
static void mapping(void)
{
	const uint64_t seed = 0x0123456789abcdefull, stream = 0xfedcba9876543210ull;
	float z[8], u[8];
	presto_randn(z, 8, seed, stream, 4);
	presto_rand(u, 8, seed, stream, 4);
	int ok = 1;
	for (int blk = 1; blk <= 2; blk++) {
		uint32_t ctr[4] = {(uint32_t)blk, 0, (uint32_t)stream, (uint32_t)(stream >> 32)};
		uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, w[4];
		presto_philox4x32(ctr, key, w);
		for (int p = 0; p < 2; p++) {
			double u1 = ((double)w[2 * p] + 0.5) * 0x1p-32, u2 = ((double)w[2 * p + 1] + 0.5) * 0x1p-32;
			double r = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
			float *zz = z + 4 * (blk - 1) + 2 * p;
			ok &= zz[0] == (float)(r * cos(th)) && zz[1] == (float)(r * sin(th));
		}
		for (int j = 0; j < 4; j++)
			ok &= u[4 * (blk - 1) + j] == (float)(w[j] >> 8) * 0x1p-24f;
	}
	CHECK(ok, "randn/rand follow the documented counter layout and mapping");
}

static void slices(void)
{
	enum { N = 1037 };
	float *all = malloc(sizeof(float) * N), *part = malloc(sizeof(float) * N);
	float *uall = malloc(sizeof(float) * N), *upart = malloc(sizeof(float) * N);
	presto_randn(all, N, 42, 7, 0);
	presto_rand(uall, N, 42, 7, 0);
	int ok = 1, uok = 1;
	/* odd-sized, unaligned pieces */
	static const size_t cuts[] = {0, 1, 2, 3, 5, 9, 10, 14, 100, 101, 333, 334, 700, 1036, N};
	for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++) {
		size_t a = cuts[c], b = cuts[c + 1];
		presto_randn(part + a, b - a, 42, 7, a);
		presto_rand(upart + a, b - a, 42, 7, a);
	}
	ok = !memcmp(all, part, sizeof(float) * N);
	uok = !memcmp(uall, upart, sizeof(float) * N);
	CHECK(ok, "randn: slices at any offset equal the slices of one large draw");
	CHECK(uok, "rand: slices at any offset equal the slices of one large draw");
	/* a high offset spanning the 2^32 block boundary of the counter */
	float hi[8], hi2[8];
	uint64_t off = (1ull << 34) - 3;
	presto_randn(hi, 8, 42, 7, off);
	for (int i = 0; i < 8; i++)
		presto_randn(hi2 + i, 1, 42, 7, off + (uint64_t)i);
	CHECK(!memcmp(hi, hi2, sizeof hi), "randn: elementwise draws equal a block draw across 2^32 blocks");
	free(all);
	free(part);
	free(uall);
	free(upart);
}

static void moments(void)
{
	enum { N = 100000 };
	float *z = malloc(sizeof(float) * N), *u = malloc(sizeof(float) * N);
	presto_randn(z, N, 20240603, 0, 0);
	presto_rand(u, N, 20240603, 1, 0);
	double s = 0, s2 = 0, s4 = 0, us = 0, umin = 1, umax = 0;
	int finite = 1;
	for (int i = 0; i < N; i++) {
		finite &= isfinite(z[i]);
		s += z[i];
		s2 += (double)z[i] * z[i];
		s4 += (double)z[i] * z[i] * z[i] * z[i];
		us += u[i];
		umin = fmin(umin, u[i]);
		umax = fmax(umax, u[i]);
	}
	double mean = s / N, var = s2 / N - mean * mean, kurt = s4 / N / (var * var);
	printf("     normals: mean %.4f var %.4f kurtosis %.3f; uniforms: mean %.4f [%g, %g]\n", mean, var, kurt,
	       us / N, umin, umax);
	CHECK(finite, "randn: 1e5 normals are finite");
	CHECK(fabs(mean) < 0.015, "randn: mean of 1e5 normals ~ 0 (|m| < 0.015, ~5 sd)");
	CHECK(fabs(var - 1) < 0.025, "randn: variance of 1e5 normals ~ 1");
	CHECK(fabs(kurt - 3) < 0.1, "randn: kurtosis of 1e5 normals ~ 3");
	CHECK(fabs(us / N - 0.5) < 0.005 && umin >= 0 && umax < 1, "rand: 1e5 uniforms in [0, 1), mean ~ 0.5");
	free(z);
	free(u);
}

static int nequal(const float *a, const float *b, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		k += a[i] == b[i];
	return k;
}

static void streams(void)
{
	enum { N = 256 };
	float a[N], b[N], c[N], d[N];
	presto_randn(a, N, 1, 0, 0);
	presto_randn(b, N, 1, 1, 0);
	presto_randn(c, N, 2, 0, 0);
	presto_randn(d, N, 1, 1ull << 32, 0);
	CHECK(nequal(a, b, N) == 0, "different streams give different normals");
	CHECK(nequal(a, c, N) == 0, "different seeds give different normals");
	CHECK(nequal(a, d, N) == 0 && nequal(b, d, N) == 0, "the high word of the stream counts");
	presto_randn(b, N, 1, 0, 0);
	CHECK(!memcmp(a, b, sizeof a), "the same (seed, stream) repeats exactly");
}

int main(void)
{
	known_answers();
	mapping();
	slices();
	moments();
	streams();
	return check_status();
}

/* rng.c - Philox4x32-10 and the uniform / normal mappings of rng.h. */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void presto_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
	uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
	uint32_t k0 = key[0], k1 = key[1];

	for (int r = 0; r < 10; r++) {
		uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
		uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
		uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
		uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;

		c0 = hi1 ^ c1 ^ k0;
		c1 = lo1;
		c2 = hi0 ^ c3 ^ k1;
		c3 = lo0;
		k0 += PHILOX_W0;
		k1 += PHILOX_W1;
	}
	out[0] = c0;
	out[1] = c1;
	out[2] = c2;
	out[3] = c3;
}

static void block(uint64_t b, uint64_t seed, uint64_t stream, uint32_t w[4])
{
	const uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
	const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
	presto_philox4x32(ctr, key, w);
}

/* Box-Muller of one lane pair (a, c) -> z[0], z[1] (see rng.h). */
static void box_muller(uint32_t a, uint32_t c, float z[2])
{
	const double two_pi = 6.283185307179586;
	double u1 = ((double)a + 0.5) * 0x1p-32;
	double u2 = ((double)c + 0.5) * 0x1p-32;
	double r = sqrt(-2.0 * log(u1));
	double th = two_pi * u2;
	z[0] = (float)(r * cos(th));
	z[1] = (float)(r * sin(th));
}

void presto_randn(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset)
{
	size_t i = 0;
	while (i < n) {
		uint64_t idx = offset + i;
		uint32_t w[4];
		float z[4];
		block(idx >> 2, seed, stream, w);
		box_muller(w[0], w[1], z);
		box_muller(w[2], w[3], z + 2);
		for (unsigned j = (unsigned)(idx & 3); j < 4 && i < n; j++)
			out[i++] = z[j];
	}
}

void presto_rand(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset)
{
	size_t i = 0;
	while (i < n) {
		uint64_t idx = offset + i;
		uint32_t w[4];
		block(idx >> 2, seed, stream, w);
		for (unsigned j = (unsigned)(idx & 3); j < 4 && i < n; j++)
			out[i++] = (float)(w[j] >> 8) * 0x1p-24f;
	}
}

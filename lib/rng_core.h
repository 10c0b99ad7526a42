/* rng_core.h - one element of presto_randn (rng.h), for rng.c and its CUDA
 * twin (kernels/sampler.cu): Philox4x32-10 and the Box-Muller pairing. */
#ifndef PRESTO_RNG_CORE_H
#define PRESTO_RNG_CORE_H

#include <math.h>
#include <stdint.h>

#include "hostdev.h"

/* Philox4x32-10 of counter c and key k, in place on c (rng.h) */
PRESTO_HD void presto_philox_core(uint32_t c[4], uint32_t k0, uint32_t k1)
{
	for (int r = 0; r < 10; r++) {
		uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
		uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
		uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
		uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
		c[0] = hi1 ^ c[1] ^ k0;
		c[1] = lo1;
		c[2] = hi0 ^ c[3] ^ k1;
		c[3] = lo0;
		k0 += 0x9E3779B9u;
		k1 += 0xBB67AE85u;
	}
}

/* the four words of Philox block b of (seed, stream) */
PRESTO_HD void presto_rng_block(uint64_t b, uint64_t seed, uint64_t stream, uint32_t w[4])
{
	w[0] = (uint32_t)b;
	w[1] = (uint32_t)(b >> 32);
	w[2] = (uint32_t)stream;
	w[3] = (uint32_t)(stream >> 32);
	presto_philox_core(w, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* Box-Muller of one lane pair (a, c) -> z[0], z[1] (rng.h) */
PRESTO_HD void presto_box_muller(uint32_t a, uint32_t c, float z[2])
{
	const double two_pi = 6.283185307179586;
	double u1 = ((double)a + 0.5) * 0x1p-32;
	double u2 = ((double)c + 0.5) * 0x1p-32;
	double r = sqrt(-2.0 * log(u1));
	double th = two_pi * u2;
	z[0] = (float)(r * cos(th));
	z[1] = (float)(r * sin(th));
}

#endif

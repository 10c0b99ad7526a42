/* rng.c - Philox4x32-10 and the uniform / normal mappings of rng.h. */
#include "rng.h"

#include "rng_core.h"

void presto_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
	for (int i = 0; i < 4; i++)
		out[i] = ctr[i];
	presto_philox_core(out, key[0], key[1]);
}

void presto_randn(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset)
{
	size_t i = 0;
	while (i < n) {
		uint64_t idx = offset + i;
		uint32_t w[4];
		float z[4];
		presto_rng_block(idx >> 2, seed, stream, w);
		presto_box_muller(w[0], w[1], z);
		presto_box_muller(w[2], w[3], z + 2);
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
		presto_rng_block(idx >> 2, seed, stream, w);
		for (unsigned j = (unsigned)(idx & 3); j < 4 && i < n; j++)
			out[i++] = (float)(w[j] >> 8) * 0x1p-24f;
	}
}

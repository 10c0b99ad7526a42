/* rng.h - counter-based random numbers (Philox4x32-10).
 *
 * A value depends only on (seed, stream, index): the same seed gives the same
 * noise on CPU and GPU, for any batch size and record order. Streams separate
 * the uses within one record (initial noise, the noise of step i, ...). */
#ifndef PRESTO_RNG_H
#define PRESTO_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Philox4x32-10 block: counter ctr[4], key key[2] -> out[4]. */
void presto_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* n standard normal floats (Box-Muller on Philox output): element i of
 * (seed, stream) for i = offset .. offset + n - 1. */
void presto_randn(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset);
/* n uniform floats in [0, 1). */
void presto_rand(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset);

#endif

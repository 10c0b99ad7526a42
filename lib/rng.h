/* rng.h - counter-based random numbers (Philox4x32-10).
 *
 * A value depends only on (seed, stream, index): the same seed gives the same
 * noise on CPU and GPU, for any batch size, slicing or record order. Streams
 * separate the uses within one record (initial noise, the noise of step i,
 * ...); presto_rand and presto_randn read the same Philox blocks, so use
 * different streams for uniform and normal draws that must be independent.
 *
 * Exact mapping (the CUDA twin reproduces it):
 *   element i of (seed, stream) lies in block b = i / 4, lane j = i % 4:
 *     ctr = { b & 0xffffffff, b >> 32, stream & 0xffffffff, stream >> 32 }
 *     key = { seed & 0xffffffff, seed >> 32 }
 *     w[0..3] = philox4x32_10(ctr, key)
 *   uniform (presto_rand):  (float)(w[j] >> 8) * 2^-24, exactly, in [0, 1)
 *   normal (presto_randn): lanes pair up as (0, 1) and (2, 3); for the pair
 *     (a, c) = (w[2k], w[2k+1]), all in double precision:
 *       u1 = (a + 0.5) * 2^-32        in (0, 1): log(0) cannot occur
 *       u2 = (c + 0.5) * 2^-32
 *       r  = sqrt(-2 * log(u1))
 *       th = 6.283185307179586 * u2   (2 pi rounded to double)
 *       lane 2k   = (float)(r * cos(th))
 *       lane 2k+1 = (float)(r * sin(th))
 *   sqrt is correctly rounded everywhere; log, sin and cos are the platform's
 *   double functions (glibc and CUDA libdevice are both within 1 ulp of
 *   double), so after the rounding to float, CPU and GPU agree except with a
 *   probability of order 2^-28 per element (a 1-ulp float difference). */
#ifndef PRESTO_RNG_H
#define PRESTO_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Philox4x32-10 block (Salmon et al. 2011, Random123): counter ctr[4], key
 * key[2] -> out[4]. Multipliers 0xD2511F53, 0xCD9E8D57, key increments
 * 0x9E3779B9, 0xBB67AE85. */
void presto_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* n standard normal floats: element i of (seed, stream) for
 * i = offset .. offset + n - 1 (so any slice of a draw equals the same slice
 * of a larger draw). */
void presto_randn(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset);
/* n uniform floats in [0, 1), same indexing. */
void presto_rand(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset);

#endif

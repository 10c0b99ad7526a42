/* testrand.h - deterministic random inputs for the unit tests: xorshift64
 * uniforms, Box-Muller normals, and arrays of them. Each test sets its own
 * seed with TEST_RAND_SEED(...) so its inputs do not depend on the others. */
#ifndef PRESTO_TESTRAND_H
#define PRESTO_TESTRAND_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define TEST_RAND_SEED(s) static uint64_t rs = (s)

static uint64_t rs;

static inline double unif(void) /* [0, 1) */
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (double)(rs >> 11) / 9007199254740992.0;
}

static inline float randn(void)
{
	double u = unif(), v = unif();
	return (float)(sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v));
}

/* n normals times scale / n copies of val (malloc'd; at least one float). */
static inline float *vec(size_t n, float scale)
{
	float *v = malloc(sizeof(float) * (n ? n : 1));
	for (size_t i = 0; i < n; i++)
		v[i] = scale * randn();
	return v;
}

static inline float *fill(size_t n, float val)
{
	float *v = malloc(sizeof(float) * (n ? n : 1));
	for (size_t i = 0; i < n; i++)
		v[i] = val;
	return v;
}

#endif

/* arena.h - carving one activation allocation into pieces (llm.c style).
 *
 * A layout function carves every buffer it needs from a presto_carver twice:
 * first with base NULL to measure (used = floats needed), then on the one
 * allocation. Pieces are 64-byte aligned; an overflowing size sets overflow. */
#ifndef PRESTO_ARENA_H
#define PRESTO_ARENA_H

#include <stddef.h>

typedef struct {
	float *base; /* NULL: measuring */
	size_t used; /* floats */
	int overflow;
} presto_carver;

static inline float *presto_carve(presto_carver *cv, size_t n)
{
	size_t s = (n + 15) & ~(size_t)15; /* 64-byte aligned pieces */
	if (s < n || cv->used + s < cv->used) {
		cv->overflow = 1;
		return NULL;
	}
	float *p = cv->base ? cv->base + cv->used : NULL;
	cv->used += s;
	return p;
}

#endif

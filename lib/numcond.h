/* numcond.h - number conditioners (seconds_start, seconds_total, bpm, ...).
 *
 * stable-audio-tools NumberConditioner: v = (clamp(x, min, max) - min) /
 * (max - min) in fp32; features = [v, sin(2 pi v w), cos(2 pi v w)] with w the
 * learned frequencies [F] (F = 128); out = Linear(features) [N, out_dim].
 * Weights: <prefix><id>.embedder.embedding.0.weights [F],
 * .embedding.1.weight [out_dim, 2F+1], .embedding.1.bias [out_dim]. */
#ifndef PRESTO_NUMCOND_H
#define PRESTO_NUMCOND_H

#include <jansson.h>

#include "safetensors.h"

/* Largest number of learned frequencies F accepted (the reference uses 128). */
#define PRESTO_NUMCOND_MAX_FREQ 2048

typedef struct {
	char id[64];
	float min_val, max_val;
	int out_dim, n_freq;
	const float *freq, *w, *b;
} presto_numcond;

/* Load conditioner `id` (prefix e.g. "conditioner.conditioners."). n_freq is
 * taken from the file. */
presto_status presto_numcond_load(presto_st *st, const char *prefix, const char *id, float min_val, float max_val,
				  int out_dim, presto_numcond *nc);
/* Same from one entry of a model_config "conditioning.configs" list
 * ({"id": ..., "type": "number", "config": {"min_val": a, "max_val": b}};
 * defaults 0 and 1 as the reference); out_dim is conditioning.cond_dim. */
presto_status presto_numcond_from_json(presto_st *st, const char *prefix, const json_t *info, int out_dim,
				       presto_numcond *nc);
/* out[N, out_dim]; each value is embedded on its own (the result does not
 * depend on N or on the other values); features[N, 2F+1] (may be NULL)
 * receives the Linear input. */
void presto_numcond_forward(const presto_numcond *nc, float *out, const double *values, int N, float *features);

#endif

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
#include <stdint.h>

#include "params.h"
#include "safetensors.h"

/* Largest number of learned frequencies F accepted (the reference uses 128). */
#define PRESTO_NUMCOND_MAX_FREQ 2048
/* The reference's F: NumberEmbedder(features, dim = 256), F = dim / 2. */
#define PRESTO_NUMCOND_DEFAULT_FREQ 128

typedef struct {
	char id[64];
	float min_val, max_val;
	int out_dim, n_freq;
	const float *freq, *w, *b;
	const presto_params *ps; /* bound to a table (presto_numcond_bind), or NULL */
	const float *pbase;      /* ... the buffer freq, w, b point into */
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

/* ---- parameters (training) ---- */

/* Declare <prefix><id>.embedder.embedding.0.weights [n_freq] (the learned
 * frequencies), .embedding.1.weight [out_dim, 2 n_freq + 1] and
 * .embedding.1.bias [out_dim] in ps, all trainable; weight decay on the
 * weight only. */
presto_status presto_numcond_params(const char *prefix, const char *id, int n_freq, int out_dim, presto_params *ps);
/* Random init into `data` (a buffer of ps's layout), the reference module's
 * own: frequencies ~ N(0, 1) (torch.randn), weight and bias ~ U(-1/sqrt(2F+1),
 * 1/sqrt(2F+1)) (nn.Linear's default, kaiming_uniform_ with a = sqrt(5), whose
 * bound is 1/sqrt(fan_in)). Normals from presto_randn, uniforms from
 * presto_rand (u in [0, 1) -> (2u - 1) bound), stream = 64-bit FNV-1a of the
 * prefix-less key ("<id>.embedder.embedding.0.weights", ...), offset 0. */
presto_status presto_numcond_params_init(const presto_params *ps, float *data, const char *prefix, const char *id,
					 uint64_t seed);
/* A conditioner whose tensors point into `data` (ps->data or another buffer
 * of the layout) of a table with presto_numcond_params()'s tensors; n_freq
 * is taken from the table. ps and data must outlive it. */
presto_status presto_numcond_bind(const presto_params *ps, const float *data, const char *prefix, const char *id,
				  float min_val, float max_val, int out_dim, presto_numcond *nc);
/* Same from a model_config "conditioning.configs" entry (as
 * presto_numcond_from_json). */
presto_status presto_numcond_bind_json(const presto_params *ps, const float *data, const char *prefix,
				       const json_t *info, int out_dim, presto_numcond *nc);
/* Backward of presto_numcond_forward(nc, out, values, N) from dout =
 * dL/d(out) [N, out_dim]: the gradients of the frequencies, weight and bias
 * ACCUMULATE (+=) into dparams, a buffer of the layout of the table nc is
 * bound to (an error for a loaded conditioner); only trainable entries are
 * written. The values get no gradient (the input is data; the clamp is flat
 * outside [min_val, max_val]). Row by row as the forward, so a batch's
 * gradients equal its rows' accumulated one after the other. */
presto_status presto_numcond_backward(const presto_numcond *nc, float *dparams, const float *dout,
				      const double *values, int N);

#endif

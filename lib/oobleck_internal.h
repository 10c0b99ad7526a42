/* oobleck_internal.h - the layers of a loaded Oobleck VAE (lib/oobleck.c),
 * shared with its GPU twin (kernels/oobleck.cu). Not a public interface. */
#ifndef PRESTO_OOBLECK_INTERNAL_H
#define PRESTO_OOBLECK_INTERNAL_H

#include "oobleck.h"

typedef struct {
	float *w, *b;           /* folded weight (torch layout), bias or NULL */
	int cin, cout, k, stride, pad, dil, transposed;
	/* models on a parameter table (presto_vae_from_params): */
	const float *g, *v;     /* weight_g [D0, 1, 1], weight_v (torch layout) */
	size_t wo;              /* offset of w in the folded-weight buffer */
	size_t pg, pv, pb;      /* offsets of weight_g, weight_v, bias in the table */
} vconv;

typedef struct {
	float *alpha, *beta;    /* log-scale SnakeBeta parameters [C] */
	int c;
	size_t pa, pb;          /* offsets of alpha, beta in the table */
} vsnake;

typedef struct {
	vsnake s1, s2;
	vconv c1, c2;           /* k7 dilated, then 1x1 */
} vres;

typedef struct {
	vres ru[3];
	vsnake act;
	vconv conv;             /* strided conv (encoder) / transposed (decoder) */
} vblock;

struct presto_vae {
	presto_oobleck_config c;
	size_t work_limit;
	vconv e_in, e_out;
	vsnake e_act;
	vblock e_blk[PRESTO_OOBLECK_MAX_BLOCKS];
	vconv d_in, d_out;
	vsnake d_act;
	vblock d_blk[PRESTO_OOBLECK_MAX_BLOCKS];
	const presto_params *ps; /* the table the parameters live in, or NULL */
	float *fold;            /* folded weights of a table model */
	size_t fold_n;
	float **allocs;         /* every parameter array, freed with the model */
	int n_allocs, cap_allocs;
	presto_vae_accel_fn accel; /* presto_vae_set_accel() */
	presto_vae_encode_accel_fn accel_enc;
	void *accel_ctx;
};

#endif

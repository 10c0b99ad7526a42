/* t5_internal.h - what lib/t5.c (loading, binding, inference forward) and
 * lib/t5_train.c (the training forward and backward) share: the weight
 * pointers and one forward routine that both passes run, so that the training
 * forward computes the inference forward's very bits. Not a public interface. */
#ifndef PRESTO_T5_INTERNAL_H
#define PRESTO_T5_INTERNAL_H

#include <stdint.h>

#include "params.h"
#include "t5.h"

typedef struct {
	const float *ln0, *q, *k, *v, *o;  /* ln0 [D]; q,k,v [I, D]; o [D, I] */
	const float *ln1, *wi, *wi1, *wo;   /* ln1 [D]; wi (wi_0 when gated), wi1 [F, D]; wo [D, F] */
} t5_block;

struct presto_t5 {
	presto_t5_config c;
	const presto_params *ps; /* bound to a parameter table (presto_t5_bind), or NULL */
	const float *pbase;      /* ... the buffer the pointers point into */
	const float *shared;     /* [V, D] */
	const float *rel_bias;   /* [num_buckets, H] (block 0) */
	const float *final_ln;   /* [D] */
	t5_block *blocks;        /* [num_layers] */
	presto_t5_accel_fn accel; /* presto_t5_set_accel() */
	void *accel_ctx;
};

/* The buffers of one layer's forward (N = B*L token rows). */
typedef struct {
	float *h0, *h1;          /* [N, D] copies of the block input and of the stream after
				  * the attention residual, or NULL (not kept) */
	float *q, *k, *v, *att;  /* [N, I] projections, attention output (before o) */
	float *f1;               /* [N, F] wi (wi_0) output */
	float *f2;               /* [N, F] wi_1 output (gated only) */
	float *hid;              /* [N, F] feed-forward hidden (wo input): f1 itself (in place, the
				  * pre-activation is lost) or another buffer */
} t5_layer_bufs;

typedef struct {
	float *h, *x, *tmp;      /* [N, D] residual stream (ends as the final norm's input), norm
				  * output, branch output */
	float *bias;             /* [H, L, L] position bias */
	int32_t *bk;             /* [L, L] bucket of (query i, key j) */
	const t5_layer_bufs *layer; /* [num_layers], or one entry every layer reuses */
	int per_layer;
} t5_run_bufs;

/* presto_t5_forward's computation into the given buffers (the inference
 * forward passes one reused layer entry; the training forward one per layer,
 * with h0/h1 and a separate hid). Checks the ids. */
presto_status presto_t5_run(const presto_t5 *m, float *out, const int32_t *ids, const float *mask, int B, int L,
			    presto_hook hook, void *hook_ctx, const t5_run_bufs *rb);

#endif

/* dit_internal.h - what lib/dit.c (loading, binding, inference forward) and
 * lib/dit_train.c (the training forward and backward) share: the weight
 * pointers and the forward pieces of a block, so that both passes run the
 * very same arithmetic. Not a public interface. */
#ifndef PRESTO_DIT_INTERNAL_H
#define PRESTO_DIT_INTERNAL_H

#include "dit.h"
#include "params.h"

typedef struct {
	const float *w, *b; /* LayerNorm(d_head) weight, bias (qk_norm ln) */
} qk_ln;

typedef struct {
	const float *pre_g, *pre_b;           /* pre_norm [D] */
	const float *qkv, *sa_out;            /* to_qkv [3D, D]; to_out [D, D] */
	qk_ln sa_qn, sa_kn;
	const float *ca_g, *ca_b;             /* cross_attend_norm [D] */
	const float *ca_q, *ca_kv, *ca_out;   /* to_q [D, D]; to_kv [2Ce, Ce]; to_out [D, D] */
	qk_ln ca_qn, ca_kn;
	const float *ff_g, *ff_b;             /* ff_norm [D] */
	const float *ff_in, *ff_in_b;         /* ff.ff.0.proj [2F, D], [2F] */
	const float *ff_out, *ff_out_b;       /* ff.ff.2 [D, F], [D] */
} dit_block;

struct presto_dit {
	presto_dit_config c;
	presto_st *st;                        /* weights from a file (presto_dit_load), or */
	const presto_params *ps;              /* from a parameter table (presto_dit_bind), */
	const float *pbase;                   /* ... its buffer the pointers point into */
	char prefix[256];
	const float *ts_freq;                 /* timestep_features.weight [256/2, 1] */
	const float *ts_w0, *ts_b0, *ts_w2, *ts_b2;
	const float *cond_w0, *cond_w2;       /* to_cond_embed [Ce, Cc], [Ce, Ce] */
	const float *glob_w0, *glob_w2;       /* to_global_embed [D, G], [D, D] */
	const float *pre_conv, *post_conv;    /* [C, C, 1] */
	const float *proj_in, *proj_out;      /* [D, C], [C, D] */
	const float *inv_freq;                /* [rotary_dim / 2] */
	float *inv_freq_owned;
	dit_block *blocks;
	presto_dit_accel_fn accel;            /* presto_dit_set_accel() */
	void *accel_ctx;
	const struct presto_dit_device *device; /* presto_dit_set_device() (lib/generate.h) */
};

/* y = x W^T + b over B items of `rows` token rows each, one GEMM per item. */
void presto_dit_lin(float *y, const float *x, const float *w, const float *b, int B, int rows, int In, int O);

/* Per-head normalisation of q or k in place (kind 1 LayerNorm(Dh, eps 1e-6)
 * with ln's weight and bias, kind 2 F.normalize): N tokens at x + n*stride,
 * H heads of Dh floats. */
void presto_dit_qk_normalize(float *x, int N, int stride, int H, int Dh, int kind, const qk_ln *ln);

/* The branches of a block on the normalised rows xn [B*T1, D], writing the
 * branch output br [B*T1, D] (before the residual add). Intermediates land
 * in the given buffers: qkv [B*T1, 3D] (after qk-norm and RoPE), ao [B*T1, D]
 * the attention output, raw [B*T1, 3D] (NULL or a copy of the projection
 * before qk-norm); cross: q [B*T1, D], kv [B*S, 2Ce], their pre-norm copies
 * q_raw, kv_raw (NULL or buffers); ff: big [B*T1, 2F] (projection), mid
 * [B*T1, F] (SwiGLU output). */
void presto_dit_self_attn(const presto_dit *m, const dit_block *bl, const float *xn, float *raw, float *qkv,
			  float *ao, float *br, int B, int T1, float scale);
void presto_dit_cross_attn(const presto_dit *m, const dit_block *bl, const float *xn, const float *ctx, float *q_raw,
			   float *q, float *kv_raw, float *kv, float *ao, float *br, int B, int T1, int S, float scale);
void presto_dit_ff(const presto_dit *m, const dit_block *bl, const float *xn, float *big, float *mid, float *br, int B,
		   int T1);

#endif

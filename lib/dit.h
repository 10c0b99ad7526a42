/* dit.h - the SAO-family diffusion transformer ("continuous transformer" DiT).
 *
 * stable-audio-tools DiffusionTransformer: preprocess 1x1 conv (residual),
 * project_in, one prepended global token (to_global_embed(global_cond) +
 * to_timestep_embed(FourierFeatures(t))), pre-LayerNorm blocks of
 * self-attention with partial RoPE, cross-attention to the conditioning tokens
 * (grouped-query when the context is narrower than the model), SwiGLU
 * feed-forward; project_out, token 0 dropped, postprocess 1x1 conv (residual).
 * Weight names are the reference state_dict names under a prefix
 * ("model.model." in SAO checkpoints). */
#ifndef PRESTO_DIT_H
#define PRESTO_DIT_H

#include <jansson.h>

#include "params.h"
#include "safetensors.h"

typedef struct {
	int io_channels;        /* latent channels C */
	int embed_dim;          /* D */
	int depth;              /* blocks */
	int num_heads;          /* H = D / d_head */
	int d_head;             /* derived: D / H */
	int cond_token_dim;     /* width of cross_attn_cond tokens */
	int global_cond_dim;    /* width of global_cond (0: none) */
	int project_cond_tokens;/* to_cond_embed maps to D (else to cond_token_dim) */
	int cond_embed_dim;     /* derived: context width seen by cross-attention */
	int kv_heads_cross;     /* derived: cond_embed_dim / d_head */
	int rotary_dim;         /* derived: max(d_head / 2, 32) rounded up to even; 0 without RoPE */
	int qk_norm;            /* attn_kwargs.qk_norm, per head on q and k before RoPE, self and
				 * cross attention: 0 "none", 1 "ln" (LayerNorm(d_head, eps 1e-6),
				 * <attn>.q_norm/k_norm.weight and .bias), 2 "l2" (F.normalize;
				 * bd6084d's qk_norm=True) */
	int timestep_features_dim; /* 256 */
	int ff_mult;            /* ff_kwargs.mult, 4: SwiGLU inner width F = ff_mult * D */
	int ff_no_bias;         /* ff_kwargs.no_bias (default false) */
	float norm_eps;         /* norm_kwargs.eps, 1e-5 (block LayerNorms) */
	int norm_bias;          /* norm_kwargs.bias: LayerNorm beta is a parameter (default: a buffer) */
	int norm_fix_scale;     /* norm_kwargs.fix_scale: LayerNorm gamma is a buffer (default: a parameter) */
} presto_dit_config;

/* From the SAO model_config "diffusion.config" object (defaults as the
 * reference: project_cond_tokens true, no qk_norm, ...). Unsupported options
 * (patch_size > 1, adaLN global conditioning, input_concat, x-transformers,
 * ...) and unknown keys are an error (PRESTO_EUNSUP). */
presto_status presto_dit_config_from_json(const json_t *cfg, presto_dit_config *c);

typedef struct presto_dit presto_dit;

/* Weights are used in place from the (memory-mapped) file when fp32, or
 * converted once; `st` must outlive the model. */
presto_status presto_dit_load(presto_st *st, const char *prefix, const presto_dit_config *c, presto_dit **out);
void presto_dit_free(presto_dit *m);

/* ---- parameters (training) ---- */

/* Declare every tensor of the DiT in `ps` (names = prefix + the reference
 * state_dict key, shapes from the config), in state_dict order. Trainable:
 * every matrix (weight decay 1), bias, Fourier frequency and qk-norm tensor
 * (decay 0), LayerNorm gamma (decay 0; a buffer with norm fix_scale).
 * Buffers (trainable 0, no gradient): LayerNorm beta (a parameter with norm
 * bias) and the rotary inv_freq. */
presto_status presto_dit_params(const presto_dit_config *c, const char *prefix, presto_params *ps);
/* Write the tensors that have a reference value into `data` (a buffer of
 * ps's layout): LayerNorm gamma and qk-norm weights 1, beta and qk-norm
 * biases 0, inv_freq its fixed frequencies; the others are left alone. */
presto_status presto_dit_params_defaults(const presto_dit_config *c, const char *prefix, const presto_params *ps,
					 float *data);
/* Fill ps->data (allocated) from a checkpoint: every tensor of the table,
 * any float dtype converted; LayerNorm beta and inv_freq, buffers a
 * checkpoint may lack, keep their reference values when absent (as
 * presto_dit_load treats them). Missing or mis-shaped tensors otherwise are
 * errors. */
presto_status presto_dit_params_load(const presto_dit_config *c, const char *prefix, presto_params *ps,
				     presto_st *st);
/* A DiT whose weights point into `data` (ps->data, or another buffer of the
 * layout such as EMA weights) of a table declared by presto_dit_params()
 * with the same config and prefix: every forward, inference and training,
 * runs on the buffer's current values (an optimizer updating it in place
 * needs no rebinding). ps and data must outlive the model; the table's
 * trainable flags decide which gradients the training backward writes. */
presto_status presto_dit_bind(const presto_params *ps, const float *data, const char *prefix,
			      const presto_dit_config *c, presto_dit **out);
const presto_dit_config *presto_dit_get_config(const presto_dit *m);

typedef struct {
	/* depth entries, 1 = run the block, 0 = skip it (Presto-L layer budget);
	 * NULL runs every block. */
	const unsigned char *block_mask;
	/* optional intermediate hook; names as the conformance fixtures:
	 * timestep_features, timestep_embed, global_embed, cond_embed,
	 * preprocess_conv.out, project_in.out, block{i}.in, block{i}.pre_norm,
	 * block{i}.self_attn, block{i}.cross_attend_norm, block{i}.cross_attn,
	 * block{i}.ff_norm, block{i}.ff, block{i}.out, project_out,
	 * postprocess_conv.in, postprocess_conv.out, and also
	 * preprocess_conv.in, project_in.in and rope_freqs ([T+1, rotary_dim]
	 * angles cat(theta, theta)). Shapes as the reference tensors ([B, T+1, D]
	 * for block{i}.*, [B, C, T] for the convolutions). Skipped blocks call
	 * no hook. */
	presto_hook hook;
	void *hook_ctx;
} presto_dit_opts;

/* One network evaluation (the reference's _forward):
 * out[B, C, T] = F(x[B, C, T], t[B], cross[B, S, cond_token_dim],
 *                  global[B, global_cond_dim] or NULL). opts may be NULL.
 * cross NULL or S == 0 skips cross-attention (no context), global NULL
 * prepends the timestep embedding alone, as the reference does. Every item of
 * the batch is computed independently: its output is bit-identical whatever
 * else is in the batch. */
presto_status presto_dit_forward(presto_dit *m, float *out, const float *x, const float *t, const float *cross, int S,
				 const float *global, int B, int T, const presto_dit_opts *opts);

/* Classifier-free guidance as the reference's batched CFG: one forward on
 * [x; x] with context [cross; neg] (neg NULL = zeros), the same t and global
 * for both halves, then out = uncond + (cond - uncond) * scale. scale == 1
 * (or no context) runs a single conditional forward. cond_out/uncond_out, when
 * not NULL, receive the two halves [B, C, T] (with a single forward cond_out
 * receives out and uncond_out is not written). Hooks see the batch of 2B. */
presto_status presto_dit_forward_cfg(presto_dit *m, float *out, const float *x, const float *t, const float *cross,
				     const float *neg, int S, const float *global, int B, int T, float scale,
				     float *cond_out, float *uncond_out, const presto_dit_opts *opts);

/* An accelerator (a GPU) for the inference forward: called by
 * presto_dit_forward_cfg with its arguments (the block mask from opts) when
 * set and no hook is asked for; it must compute what the CPU would, to the
 * accelerator's rounding. */
typedef presto_status (*presto_dit_accel_fn)(void *ctx, float *out, const float *x, const float *t,
					     const float *cross, const float *neg, int S, const float *global, int B,
					     int T, float scale, float *cond_out, float *uncond_out,
					     const unsigned char *block_mask);
/* fn NULL goes back to the CPU. The model keeps fn and ctx, not owning ctx. */
void presto_dit_set_accel(presto_dit *m, presto_dit_accel_fn fn, void *ctx);

/* Floating-point operations of one forward of B items of T frames with S
 * context tokens running `blocks` of the blocks (2 per multiply-add of the
 * matrix products and the attention; norms and element-wise work not
 * counted), and the bytes of the weights it reads (at `wbytes` bytes a
 * weight), for benchmarks' floors. */
double presto_dit_flops(const presto_dit_config *c, int B, int T, int S, int blocks);
double presto_dit_weight_bytes(const presto_dit_config *c, int blocks, int wbytes);

/* ---- training ---- */

/* A training context: the activations one training forward saves for its
 * backward, in one arena allocated for a (B, T, S) shape (re-allocated when a
 * forward comes with another shape). The model must outlive it. */
typedef struct presto_dit_train presto_dit_train;
presto_status presto_dit_train_new(presto_dit *m, presto_dit_train **out);
void presto_dit_train_free(presto_dit_train *ctx);

/* presto_dit_forward's computation (same arguments, bit-identical output),
 * keeping what presto_dit_train_backward needs; the inputs are copied, the
 * caller's buffers may change afterwards. block_mask: depth entries, 0 skips
 * the block (identity, no gradients), NULL runs every block. No CFG:
 * conditioning dropout is the caller's (zero the context). */
presto_status presto_dit_train_forward(presto_dit_train *ctx, float *out, const float *x, const float *t,
				       const float *cross, int S, const float *global, int B, int T,
				       const unsigned char *block_mask);

/* The residual stream after block i of the last training forward, [B, T+1,
 * D] (row 0 of an item is the global token; i = -1: the input of block 0, a
 * skipped block's output equals its input); NULL before a forward or for a
 * bad i. Valid until the next forward. */
const float *presto_dit_train_hidden(const presto_dit_train *ctx, int i);
/* A gradient dh [B, T+1, D] with respect to presto_dit_train_hidden(ctx, i)
 * that the next backward adds to the one coming from the output (e.g. a
 * discriminator head on a middle block). Kept by pointer until that backward
 * (which then forgets it); a forward forgets it too. */
presto_status presto_dit_train_set_dhidden(presto_dit_train *ctx, int i, const float *dh);

/* Backward of the last training forward from dout = dL/d(out) [B, C, T] (NULL:
 * no gradient from the output, only a presto_dit_train_set_dhidden() one).
 * Every gradient ACCUMULATES (+=); NULL = not needed:
 *   dparams: a buffer of the layout of the table the model is bound to
 *            (presto_dit_bind; an error for a loaded model); only trainable
 *            entries are written;
 *   dx [B, C, T], dt [B], dcross [B, S, cond_token_dim] (untouched when the
 *   forward ran without context), dglobal [B, global_cond_dim].
 * The context may run any number of backwards per forward (each adds the
 * same gradients again). */
presto_status presto_dit_train_backward(presto_dit_train *ctx, const float *dout, float *dparams, float *dx, float *dt,
					float *dcross, float *dglobal);

#endif

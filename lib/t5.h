/* t5.h - the T5-family text encoder (Hugging Face T5EncoderModel semantics).
 *
 * Embedding (no scaling); per block h += SelfAttn(RMS(h) ln0) with relative
 * position buckets (bias from block 0, reused), NO 1/sqrt(d_kv) scaling, key
 * mask added as -FLT_MAX; h += FF(RMS(h) ln1) (ReLU, or gated-GELU tanh);
 * final RMSNorm. Weight names are HF's (shared.weight, encoder.block.{i}...)
 * under a prefix. Training: a parameter table (presto_t5_params), random init,
 * binding, a training forward and its backward (lib/t5_train.c). */
#ifndef PRESTO_T5_H
#define PRESTO_T5_H

#include <jansson.h>
#include <stdint.h>

#include "params.h"
#include "safetensors.h"

typedef struct {
	int vocab_size, d_model, d_kv, num_heads, d_ff, num_layers;
	int gated;             /* feed_forward_proj "gated-gelu" */
	int num_buckets;       /* relative_attention_num_buckets (32) */
	int max_distance;      /* relative_attention_max_distance (128) */
	float eps;             /* layer_norm_epsilon (1e-6) */
} presto_t5_config;

/* From an HF T5Config object (t5_config in the fixtures, config.json of t5-base). */
presto_status presto_t5_config_from_json(const json_t *cfg, presto_t5_config *c);

typedef struct presto_t5 presto_t5;
/* Weights are fp32 views into `st` (converted once there when stored as
 * F16/BF16), so st must stay open while the model is used. The embedding is
 * shared.weight, or encoder.embed_tokens.weight where only that is stored. */
presto_status presto_t5_load(presto_st *st, const char *prefix, const presto_t5_config *c, presto_t5 **out);
void presto_t5_free(presto_t5 *m);
const presto_t5_config *presto_t5_get_config(const presto_t5 *m);

/* Relative-position bucket table [L, L] for (query i, key j), r = j - i,
 * bidirectional. T5's 32 buckets / max distance 128 use the exact integer form
 * min(15, 8 + floor(log2(|r|^2 / 64))) for |r| >= 8 (+16 when r > 0); other
 * settings evaluate the reference's float32 formula. */
void presto_t5_buckets(int32_t *buckets, int L, int num_buckets, int max_distance);

/* out[B, L, d_model] = last_hidden_state for ids[B, L] with mask[B, L]
 * (1 = token, 0 = pad; NULL = all tokens). Ids outside [0, vocab_size) are
 * an error (PRESTO_EINVAL). Padded rows hold finite values (the
 * caller multiplies by the mask, as stable-audio-tools does). Hook names:
 * embed, position_bias, block{i}.attn_norm, block{i}.attn, block{i}.attn_res,
 * block{i}.ff_norm, block{i}.ff_act (gated only), block{i}.ff_hidden, block{i}.ff, block{i}.out */
presto_status presto_t5_forward(presto_t5 *m, float *out, const int32_t *ids, const float *mask, int B, int L,
				presto_hook hook, void *hook_ctx);

/* An accelerator (a GPU) for presto_t5_forward: called with its arguments
 * (the ids checked) when set and no hook is asked for. fn NULL goes back to
 * the CPU; the model keeps fn and ctx without owning ctx. */
typedef presto_status (*presto_t5_accel_fn)(void *ctx, float *out, const int32_t *ids, const float *mask, int B,
					    int L);
void presto_t5_set_accel(presto_t5 *m, presto_t5_accel_fn fn, void *ctx);

/* Floating-point operations of one forward of B x L tokens (matrix products
 * and attention, 2 per multiply-add), for benchmarks' floors. */
double presto_t5_flops(const presto_t5_config *c, int B, int L);

/* ---- parameters (training) ---- */

/* Declare every tensor of the encoder in `ps` (names = prefix + the HF
 * T5EncoderModel state_dict key, in state_dict order): shared.weight [V, D];
 * per block i: encoder.block.{i}.layer.0.SelfAttention.{q,k,v}.weight [I, D],
 * .o.weight [D, I] (I = num_heads * d_kv), in block 0 also
 * .relative_attention_bias.weight [num_buckets, H], then
 * encoder.block.{i}.layer.0.layer_norm.weight [D],
 * encoder.block.{i}.layer.1.DenseReluDense.wi.weight [F, D] (gated: wi_0 and
 * wi_1), .wo.weight [D, F], encoder.block.{i}.layer.1.layer_norm.weight [D];
 * encoder.final_layer_norm.weight [D]. encoder.embed_tokens.weight is tied to
 * shared.weight and not declared. Every tensor is trainable; weight decay 1 on
 * the matrices and the embedding, 0 on the layer norms and on the
 * position-bias table (a bias; an AdamW "no decay for biases" rule by name
 * leaves it out too). */
presto_status presto_t5_params(const presto_t5_config *c, const char *prefix, presto_params *ps);
/* Random init for training from scratch into `data` (a buffer of the layout
 * of a table declared by presto_t5_params with the same config and prefix),
 * HF T5PreTrainedModel._init_weights with initializer_factor `factor` (1.0 is
 * HF's default): shared ~ N(0, factor^2); q ~ N(0, (factor (D d_kv)^-1/2)^2);
 * k, v ~ N(0, (factor D^-1/2)^2); o ~ N(0, (factor (H d_kv)^-1/2)^2);
 * relative_attention_bias ~ N(0, (factor D^-1/2)^2); wi (wi_0, wi_1) ~
 * N(0, (factor D^-1/2)^2); wo ~ N(0, (factor F^-1/2)^2); layer norms (final
 * included) = factor. Normals from presto_randn(seed, stream = 64-bit FNV-1a
 * of the prefix-less key, offset 0): a tensor's values depend only on the
 * seed, its key and its shape (not on the prefix nor on the table). */
presto_status presto_t5_params_init(const presto_t5_config *c, const char *prefix, const presto_params *ps,
				    float *data, uint64_t seed, float factor);
/* Fill ps->data (allocated) from a checkpoint as presto_t5_load reads it (any
 * float dtype; encoder.embed_tokens.weight where shared.weight is absent). */
presto_status presto_t5_params_load(const presto_t5_config *c, const char *prefix, presto_params *ps, presto_st *st);
/* An encoder whose weights point into `data` (ps->data, or another buffer of
 * the layout such as EMA weights) of a table declared by presto_t5_params()
 * with the same config and prefix: every forward runs on the buffer's current
 * values. ps and data must outlive the model; the table's trainable flags
 * decide which gradients the training backward writes. */
presto_status presto_t5_bind(const presto_params *ps, const float *data, const char *prefix,
			     const presto_t5_config *c, presto_t5 **out);

/* ---- training ---- */

/* A training context for batches of B sequences of L tokens: the activations
 * one training forward keeps for its backward (per block: the residual stream
 * at the block input and after the attention, q, k, v, the attention output,
 * the wi (wi_0, wi_1) outputs; the norms and activations are recomputed, the
 * attention probabilities too), in one arena. The model must outlive it. */
typedef struct presto_t5_train presto_t5_train;
presto_status presto_t5_train_new(presto_t5 *m, int B, int L, presto_t5_train **out);
void presto_t5_train_free(presto_t5_train *ctx);
/* presto_t5_forward(m, out, ids, mask, B, L) with the context's B and L,
 * bit-identical, keeping what the backward needs (ids and mask are copied). */
presto_status presto_t5_train_forward(presto_t5_train *ctx, float *out, const int32_t *ids, const float *mask);
/* Backward of the last training forward from dout = dL/d(out) [B, L, D]
 * (typically zero on padded rows, as the caller multiplies the output by the
 * mask). Parameter gradients ACCUMULATE (+=) into dparams, a buffer of the
 * layout of the table the model is bound to (an error for a loaded model);
 * only trainable entries are written. The embedding gradient is the
 * scatter-add of the input rows' gradients into shared.weight rows of their
 * token ids (rows of ids that do not occur stay untouched); the
 * relative_attention_bias gradient is the scatter-add of the position-bias
 * gradient [H, L, L], summed over the batch and the blocks, into its
 * [num_buckets, H] table through the bucket matrix. Masked keys get no
 * gradient through attention, as they have no effect in the forward. The ids
 * get none (discrete). The projections are GEMMs over all B*L rows, as the
 * forward's: gradients are deterministic for a given batch. Any number of
 * backwards may follow a forward (each adds the same gradients again). */
presto_status presto_t5_train_backward(presto_t5_train *ctx, const float *dout, float *dparams);

#endif

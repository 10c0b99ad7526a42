/* t5.h - the T5-family text encoder (Hugging Face T5EncoderModel semantics).
 *
 * Embedding (no scaling); per block h += SelfAttn(RMS(h) ln0) with relative
 * position buckets (bias from block 0, reused), NO 1/sqrt(d_kv) scaling, key
 * mask added as -FLT_MAX; h += FF(RMS(h) ln1) (ReLU, or gated-GELU tanh);
 * final RMSNorm. Weight names are HF's (shared.weight, encoder.block.{i}...)
 * under a prefix. */
#ifndef PRESTO_T5_H
#define PRESTO_T5_H

#include <jansson.h>
#include <stdint.h>

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

#endif

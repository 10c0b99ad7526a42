/* dit_init.h - random initial weights of the DiT (training from scratch).
 *
 * What stable-audio-tools' DiffusionTransformer (models/dit.py,
 * models/transformer.py, bd6084d) gets from PyTorch at construction, tensor
 * by tensor:
 *   nn.Linear weights [O, In] and biases [O]: PyTorch's default
 *     kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(In), 1/sqrt(In)), and
 *     the bias U(-1/sqrt(In), 1/sqrt(In)) with the In of its weight:
 *     to_timestep_embed.{0,2}, to_cond_embed.{0,2}, to_global_embed.{0,2},
 *     transformer.project_in/out, to_qkv, to_q, to_kv, ff.ff.0.proj;
 *   zero_init_branch_outputs (ContinuousTransformer's default, true): the
 *     branch outputs start at zero, so every block starts as the identity:
 *     self_attn.to_out.weight, cross_attn.to_out.weight (no bias) and the
 *     last feed-forward linear ff.ff.2.weight and .bias; with false they take
 *     the Linear default above;
 *   preprocess_conv.weight and postprocess_conv.weight [C, C, 1]: zeros
 *     (nn.init.zeros_ in dit.py; both convolutions are residual, so they
 *     start as the identity too);
 *   timestep_features.weight [128, 1]: N(0, 1) (FourierFeatures, std 1);
 *   LayerNorm gamma 1 and beta 0, qk-norm LayerNorm weight 1 and bias 0,
 *     the rotary inv_freq: their reference values
 *     (presto_dit_params_defaults).
 * The draws are counter-based (lib/rng.h): tensor `name` (without the
 * prefix) takes stream FNV-1a-64(name) of `seed`, element i its element i:
 * a tensor's values depend only on (seed, its name, its shape), not on the
 * other tensors of the table or the order they were declared in. */
#ifndef PRESTO_DIT_INIT_H
#define PRESTO_DIT_INIT_H

#include <stdint.h>

#include "dit.h"
#include "params.h"

/* Initialise every DiT tensor of the table (those named prefix + a key of
 * presto_dit_params(c, prefix, ...)) in `data` (ps->data or another buffer
 * of the layout) as above; other tensors of the table are left alone.
 * zero_init_branch_outputs: 1 as the reference's default. Errors: a DiT
 * tensor missing from the table or with another shape (EINVAL). */
presto_status presto_dit_params_init(const presto_params *ps, float *data, const presto_dit_config *c,
				     const char *prefix, uint64_t seed, int zero_init_branch_outputs);

#endif

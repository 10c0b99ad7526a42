/* dit.c - the SAO-family diffusion transformer, fp32 on the CPU: config,
 * loading, the parameter table, binding, the inference forward.
 *
 * Weights are fp32 views into the safetensors handle given to
 * presto_dit_load(), or into a parameter buffer (presto_dit_bind); one list
 * of the tensors (walk()) serves loading, binding and declaring the table.
 * One forward allocates its activations in a single block laid out up front;
 * every projection is one GEMM per batch item (presto_dit_lin), attention
 * reads q/k/v in place from the fused buffers. The block pieces are shared
 * with the training forward (dit_train.c, dit_internal.h). */
#include "dit.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit_internal.h"
#include "ops.h"

/* ---- configuration ---- */

static presto_status cfg_int(const json_t *o, const char *key, int def, int lo, int *out)
{
	const json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v)) {
		*out = def;
		return PRESTO_OK;
	}
	double d = json_is_number(v) ? json_number_value(v) : NAN;
	if (!(d == floor(d) && d >= lo && d <= 1 << 24))
		return presto_error_set(PRESTO_EINVAL, "DiT config: \"%s\" must be an integer >= %d", key, lo);
	*out = (int)d;
	return PRESTO_OK;
}

static presto_status cfg_bool(const json_t *o, const char *key, int def, int *out)
{
	const json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		*out = def;
	else if (json_is_boolean(v))
		*out = json_is_true(v);
	else
		return presto_error_set(PRESTO_EINVAL, "DiT config: \"%s\" must be true or false", key);
	return PRESTO_OK;
}

/* A key whose only supported value is the reference default `def` (false,
 * null and a missing key count as that default). */
static presto_status cfg_default_only(const json_t *o, const char *key, long def, const char *what)
{
	const json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v) || (json_is_false(v) && def == 0) ||
	    (json_is_number(v) && json_number_value(v) == (double)def))
		return PRESTO_OK;
	return presto_error_set(PRESTO_EUNSUP, "DiT config: %s (\"%s\") is not supported", what, key);
}

static presto_status cfg_string_only(const json_t *o, const char *key, const char *allowed)
{
	const json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return PRESTO_OK;
	if (!json_is_string(v) || strcmp(json_string_value(v), allowed))
		return presto_error_set(PRESTO_EUNSUP, "DiT config: \"%s\" must be \"%s\"", key, allowed);
	return PRESTO_OK;
}

static presto_status cfg_check_keys(const json_t *o, const char *where, const char *const *known)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)o, key, v) {
		int ok = 0;
		for (int i = 0; known[i] && !ok; i++)
			ok = !strcmp(key, known[i]);
		if (!ok)
			return presto_error_set(PRESTO_EUNSUP, "DiT config: unsupported option %s\"%s\"", where, key);
	}
	return PRESTO_OK;
}

static presto_status cfg_attn(const json_t *a, presto_dit_config *c)
{
	static const char *const known[] = {"qk_norm", "differential", "feat_scale", "natten_kernel_size", NULL};
	if (!a || json_is_null(a))
		return PRESTO_OK;
	if (!json_is_object(a))
		return presto_error_set(PRESTO_EINVAL, "DiT config: attn_kwargs must be an object");
	PRESTO_TRY(cfg_check_keys(a, "attn_kwargs.", known));
	PRESTO_TRY(cfg_default_only(a, "differential", 0, "differential attention"));
	PRESTO_TRY(cfg_default_only(a, "feat_scale", 0, "attention feature scaling"));
	PRESTO_TRY(cfg_default_only(a, "natten_kernel_size", 0, "neighbourhood attention"));
	const json_t *q = json_object_get(a, "qk_norm");
	if (!q || json_is_null(q) || json_is_false(q))
		c->qk_norm = 0;
	else if (json_is_true(q)) /* bd6084d: qk_norm=True is F.normalize */
		c->qk_norm = 2;
	else if (json_is_string(q) && !strcmp(json_string_value(q), "none"))
		c->qk_norm = 0;
	else if (json_is_string(q) && !strcmp(json_string_value(q), "ln"))
		c->qk_norm = 1;
	else if (json_is_string(q) && !strcmp(json_string_value(q), "l2"))
		c->qk_norm = 2;
	else
		return presto_error_set(PRESTO_EUNSUP, "DiT config: qk_norm must be \"none\", \"ln\" or \"l2\"");
	return PRESTO_OK;
}

static presto_status cfg_ff(const json_t *f, presto_dit_config *c)
{
	static const char *const known[] = {"mult", "no_bias", "glu", "use_conv", "conv_kernel_size",
					    "zero_init_output", NULL};
	if (!f || json_is_null(f))
		return PRESTO_OK;
	if (!json_is_object(f))
		return presto_error_set(PRESTO_EINVAL, "DiT config: ff_kwargs must be an object");
	PRESTO_TRY(cfg_check_keys(f, "ff_kwargs.", known));
	PRESTO_TRY(cfg_default_only(f, "use_conv", 0, "convolutional feed-forward"));
	const json_t *g = json_object_get(f, "glu");
	if (g && !json_is_null(g) && !json_is_true(g))
		return presto_error_set(PRESTO_EUNSUP, "DiT config: only the GLU feed-forward is supported");
	PRESTO_TRY(cfg_int(f, "mult", 4, 1, &c->ff_mult));
	PRESTO_TRY(cfg_bool(f, "no_bias", 0, &c->ff_no_bias));
	return PRESTO_OK;
}

static presto_status cfg_norm(const json_t *n, presto_dit_config *c)
{
	static const char *const known[] = {"eps", "bias", "fix_scale", "force_fp32", NULL};
	if (!n || json_is_null(n))
		return PRESTO_OK;
	if (!json_is_object(n))
		return presto_error_set(PRESTO_EINVAL, "DiT config: norm_kwargs must be an object");
	PRESTO_TRY(cfg_check_keys(n, "norm_kwargs.", known));
	const json_t *e = json_object_get(n, "eps");
	if (e && !json_is_null(e)) {
		if (!json_is_number(e) || !(json_number_value(e) > 0))
			return presto_error_set(PRESTO_EINVAL, "DiT config: norm_kwargs.eps must be a positive number");
		c->norm_eps = (float)json_number_value(e);
	}
	PRESTO_TRY(cfg_bool(n, "bias", 0, &c->norm_bias));
	PRESTO_TRY(cfg_bool(n, "fix_scale", 0, &c->norm_fix_scale));
	return PRESTO_OK;
}

presto_status presto_dit_config_from_json(const json_t *cfg, presto_dit_config *c)
{
	static const char *const known[] = {
		"io_channels", "patch_size", "embed_dim", "cond_token_dim", "project_cond_tokens", "global_cond_dim",
		"project_global_cond", "input_concat_dim", "prepend_cond_dim", "depth", "num_heads",
		"transformer_type", "global_cond_type", "timestep_cond_type", "timestep_embed_dim",
		"diffusion_objective", "attn_kwargs", "ff_kwargs", "norm_kwargs", "rotary_pos_emb",
		"zero_init_branch_outputs", "causal", "conformer", "use_sinusoidal_emb", "use_abs_pos_emb",
		"abs_pos_emb_max_length", "remove_norms", "add_rope", "layer_scale", "num_memory_tokens",
		"sliding_window", "final_cross_attn_ix", NULL};
	memset(c, 0, sizeof *c);
	if (!json_is_object(cfg))
		return presto_error_set(PRESTO_EINVAL, "DiT config: expected the diffusion \"config\" object");
	PRESTO_TRY(cfg_check_keys(cfg, "", known));
	PRESTO_TRY(cfg_int(cfg, "io_channels", 32, 1, &c->io_channels));
	PRESTO_TRY(cfg_int(cfg, "embed_dim", 768, 1, &c->embed_dim));
	PRESTO_TRY(cfg_int(cfg, "depth", 12, 0, &c->depth));
	PRESTO_TRY(cfg_int(cfg, "num_heads", 8, 1, &c->num_heads));
	PRESTO_TRY(cfg_int(cfg, "cond_token_dim", 0, 0, &c->cond_token_dim));
	PRESTO_TRY(cfg_int(cfg, "global_cond_dim", 0, 0, &c->global_cond_dim));
	PRESTO_TRY(cfg_bool(cfg, "project_cond_tokens", 1, &c->project_cond_tokens));
	int project_global = 1;
	PRESTO_TRY(cfg_bool(cfg, "project_global_cond", 1, &project_global));
	int rope = 1;
	PRESTO_TRY(cfg_bool(cfg, "rotary_pos_emb", 1, &rope));
	PRESTO_TRY(cfg_default_only(cfg, "patch_size", 1, "patch_size > 1"));
	PRESTO_TRY(cfg_default_only(cfg, "input_concat_dim", 0, "input concatenation"));
	PRESTO_TRY(cfg_default_only(cfg, "prepend_cond_dim", 0, "prepend conditioning"));
	PRESTO_TRY(cfg_default_only(cfg, "causal", 0, "causal attention"));
	PRESTO_TRY(cfg_default_only(cfg, "conformer", 0, "the conformer module"));
	PRESTO_TRY(cfg_default_only(cfg, "use_sinusoidal_emb", 0, "sinusoidal position embedding"));
	PRESTO_TRY(cfg_default_only(cfg, "use_abs_pos_emb", 0, "absolute position embedding"));
	PRESTO_TRY(cfg_default_only(cfg, "remove_norms", 0, "remove_norms"));
	PRESTO_TRY(cfg_default_only(cfg, "add_rope", 0, "per-block RoPE"));
	PRESTO_TRY(cfg_default_only(cfg, "layer_scale", 0, "layer scale"));
	PRESTO_TRY(cfg_default_only(cfg, "num_memory_tokens", 0, "memory tokens"));
	PRESTO_TRY(cfg_default_only(cfg, "sliding_window", 0, "sliding-window attention"));
	PRESTO_TRY(cfg_default_only(cfg, "final_cross_attn_ix", -1, "final_cross_attn_ix"));
	PRESTO_TRY(cfg_string_only(cfg, "transformer_type", "continuous_transformer"));
	PRESTO_TRY(cfg_string_only(cfg, "global_cond_type", "prepend"));
	PRESTO_TRY(cfg_string_only(cfg, "timestep_cond_type", "global"));
	c->ff_mult = 4;
	c->norm_eps = 1e-5f;
	PRESTO_TRY(cfg_attn(json_object_get(cfg, "attn_kwargs"), c));
	PRESTO_TRY(cfg_ff(json_object_get(cfg, "ff_kwargs"), c));
	PRESTO_TRY(cfg_norm(json_object_get(cfg, "norm_kwargs"), c));

	int D = c->embed_dim;
	if (D % c->num_heads)
		return presto_error_set(PRESTO_EUNSUP, "DiT config: embed_dim %d is not a multiple of num_heads %d", D,
					c->num_heads);
	c->d_head = D / c->num_heads;
	if (!project_global && c->global_cond_dim && c->global_cond_dim != D)
		return presto_error_set(PRESTO_EINVAL,
					"DiT config: project_global_cond false needs global_cond_dim == embed_dim");
	c->cond_embed_dim = c->cond_token_dim ? (c->project_cond_tokens ? D : c->cond_token_dim) : 0;
	if (c->cond_embed_dim) {
		if (c->cond_embed_dim % c->d_head || c->num_heads % (c->cond_embed_dim / c->d_head))
			return presto_error_set(PRESTO_EUNSUP,
						"DiT config: context width %d does not give whole key/value heads of %d "
						"dividing %d query heads",
						c->cond_embed_dim, c->d_head, c->num_heads);
		c->kv_heads_cross = c->cond_embed_dim / c->d_head;
	}
	/* RotaryEmbedding(max(d_head // 2, 32)) has ceil(dim / 2) frequencies and
	 * rotates 2 * ceil(dim / 2) dims */
	int rdim = c->d_head / 2 > 32 ? c->d_head / 2 : 32;
	c->rotary_dim = rope ? 2 * ((rdim + 1) / 2) : 0;
	if (c->rotary_dim > c->d_head)
		return presto_error_set(PRESTO_EUNSUP, "DiT config: rotary dim %d exceeds the head width %d",
					c->rotary_dim, c->d_head);
	c->timestep_features_dim = 256;
	if ((long)D * c->ff_mult > 1 << 24)
		return presto_error_set(PRESTO_EINVAL, "DiT config: feed-forward width too large");
	return PRESTO_OK;
}

/* ---- the tensors: one list for loading, binding and the parameter table ---- */

enum {
	K_MAT,   /* matrix: trainable, weight decay */
	K_VEC,   /* bias, Fourier frequencies: trainable, no decay */
	K_QKW,   /* qk-norm LayerNorm weight (1 by default): trainable, no decay */
	K_QKB,   /* qk-norm LayerNorm bias (0 by default): trainable, no decay */
	K_GAMMA, /* block LayerNorm gamma: trainable unless norm fix_scale, no decay */
	K_BETA,  /* block LayerNorm beta: a buffer unless norm bias; may be absent from a file (zeros) */
	K_FREQ,  /* rotary inv_freq: a buffer; may be absent from a file (computed) */
};

typedef struct {
	/* called for every tensor; slot is where its pointer goes (NULL when
	 * only declaring) */
	presto_status (*fn)(void *ctx, const char *name, int ndim, const int64_t *shape, int kind, const float **slot);
	void *ctx;
	const char *prefix;
} tensor_visitor;

static presto_status visit(const tensor_visitor *v, const float **slot, int kind, int ndim, int64_t d0, int64_t d1,
			   const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static presto_status visit(const tensor_visitor *v, const float **slot, int kind, int ndim, int64_t d0, int64_t d1,
			   const char *fmt, ...)
{
	char sfx[256], name[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sfx, sizeof sfx, fmt, ap);
	va_end(ap);
	snprintf(name, sizeof name, "%s%s", v->prefix, sfx);
	int64_t shape[3] = {d0, d1, 1}; /* the 1x1 convolutions are [C, C, 1] */
	return v->fn(v->ctx, name, ndim, shape, kind, slot);
}

#define SLOT(field) (m ? &(field) : NULL)

static presto_status walk_qk(const tensor_visitor *v, const presto_dit_config *c, qk_ln *q, int i, const char *attn,
			     const char *which)
{
	int Dh = c->d_head;
	PRESTO_TRY(visit(v, q ? &q->w : NULL, K_QKW, 1, Dh, 0, "transformer.layers.%d.%s.%s.weight", i, attn, which));
	return visit(v, q ? &q->b : NULL, K_QKB, 1, Dh, 0, "transformer.layers.%d.%s.%s.bias", i, attn, which);
}

static presto_status walk_block(const tensor_visitor *v, const presto_dit_config *c, presto_dit *m, int i)
{
	dit_block *b = m ? &m->blocks[i] : NULL;
	int D = c->embed_dim, F = D * c->ff_mult, Ce = c->cond_embed_dim;
	const char *L = "transformer.layers";
	PRESTO_TRY(visit(v, SLOT(b->pre_g), K_GAMMA, 1, D, 0, "%s.%d.pre_norm.gamma", L, i));
	PRESTO_TRY(visit(v, SLOT(b->pre_b), K_BETA, 1, D, 0, "%s.%d.pre_norm.beta", L, i));
	PRESTO_TRY(visit(v, SLOT(b->qkv), K_MAT, 2, 3 * D, D, "%s.%d.self_attn.to_qkv.weight", L, i));
	PRESTO_TRY(visit(v, SLOT(b->sa_out), K_MAT, 2, D, D, "%s.%d.self_attn.to_out.weight", L, i));
	if (c->qk_norm == 1) {
		PRESTO_TRY(walk_qk(v, c, b ? &b->sa_qn : NULL, i, "self_attn", "q_norm"));
		PRESTO_TRY(walk_qk(v, c, b ? &b->sa_kn : NULL, i, "self_attn", "k_norm"));
	}
	if (Ce) {
		PRESTO_TRY(visit(v, SLOT(b->ca_g), K_GAMMA, 1, D, 0, "%s.%d.cross_attend_norm.gamma", L, i));
		PRESTO_TRY(visit(v, SLOT(b->ca_b), K_BETA, 1, D, 0, "%s.%d.cross_attend_norm.beta", L, i));
		PRESTO_TRY(visit(v, SLOT(b->ca_q), K_MAT, 2, D, D, "%s.%d.cross_attn.to_q.weight", L, i));
		PRESTO_TRY(visit(v, SLOT(b->ca_kv), K_MAT, 2, 2 * Ce, Ce, "%s.%d.cross_attn.to_kv.weight", L, i));
		PRESTO_TRY(visit(v, SLOT(b->ca_out), K_MAT, 2, D, D, "%s.%d.cross_attn.to_out.weight", L, i));
		if (c->qk_norm == 1) {
			PRESTO_TRY(walk_qk(v, c, b ? &b->ca_qn : NULL, i, "cross_attn", "q_norm"));
			PRESTO_TRY(walk_qk(v, c, b ? &b->ca_kn : NULL, i, "cross_attn", "k_norm"));
		}
	}
	PRESTO_TRY(visit(v, SLOT(b->ff_g), K_GAMMA, 1, D, 0, "%s.%d.ff_norm.gamma", L, i));
	PRESTO_TRY(visit(v, SLOT(b->ff_b), K_BETA, 1, D, 0, "%s.%d.ff_norm.beta", L, i));
	PRESTO_TRY(visit(v, SLOT(b->ff_in), K_MAT, 2, 2 * F, D, "%s.%d.ff.ff.0.proj.weight", L, i));
	if (!c->ff_no_bias)
		PRESTO_TRY(visit(v, SLOT(b->ff_in_b), K_VEC, 1, 2 * F, 0, "%s.%d.ff.ff.0.proj.bias", L, i));
	PRESTO_TRY(visit(v, SLOT(b->ff_out), K_MAT, 2, D, F, "%s.%d.ff.ff.2.weight", L, i));
	if (!c->ff_no_bias)
		PRESTO_TRY(visit(v, SLOT(b->ff_out_b), K_VEC, 1, D, 0, "%s.%d.ff.ff.2.bias", L, i));
	return PRESTO_OK;
}

/* Every tensor of the DiT in the reference's state_dict order; m NULL only
 * declares. */
static presto_status walk(const tensor_visitor *v, const presto_dit_config *c, presto_dit *m)
{
	int C = c->io_channels, D = c->embed_dim, Cc = c->cond_token_dim, Ce = c->cond_embed_dim;
	int G = c->global_cond_dim, TF = c->timestep_features_dim;
	PRESTO_TRY(visit(v, SLOT(m->ts_freq), K_VEC, 2, TF / 2, 1, "timestep_features.weight"));
	PRESTO_TRY(visit(v, SLOT(m->ts_w0), K_MAT, 2, D, TF, "to_timestep_embed.0.weight"));
	PRESTO_TRY(visit(v, SLOT(m->ts_b0), K_VEC, 1, D, 0, "to_timestep_embed.0.bias"));
	PRESTO_TRY(visit(v, SLOT(m->ts_w2), K_MAT, 2, D, D, "to_timestep_embed.2.weight"));
	PRESTO_TRY(visit(v, SLOT(m->ts_b2), K_VEC, 1, D, 0, "to_timestep_embed.2.bias"));
	if (Cc) {
		PRESTO_TRY(visit(v, SLOT(m->cond_w0), K_MAT, 2, Ce, Cc, "to_cond_embed.0.weight"));
		PRESTO_TRY(visit(v, SLOT(m->cond_w2), K_MAT, 2, Ce, Ce, "to_cond_embed.2.weight"));
	}
	if (G) {
		PRESTO_TRY(visit(v, SLOT(m->glob_w0), K_MAT, 2, D, G, "to_global_embed.0.weight"));
		PRESTO_TRY(visit(v, SLOT(m->glob_w2), K_MAT, 2, D, D, "to_global_embed.2.weight"));
	}
	PRESTO_TRY(visit(v, SLOT(m->pre_conv), K_MAT, 3, C, C, "preprocess_conv.weight"));
	PRESTO_TRY(visit(v, SLOT(m->post_conv), K_MAT, 3, C, C, "postprocess_conv.weight"));
	PRESTO_TRY(visit(v, SLOT(m->proj_in), K_MAT, 2, D, C, "transformer.project_in.weight"));
	PRESTO_TRY(visit(v, SLOT(m->proj_out), K_MAT, 2, C, D, "transformer.project_out.weight"));
	if (c->rotary_dim)
		PRESTO_TRY(visit(v, SLOT(m->inv_freq), K_FREQ, 1, c->rotary_dim / 2, 0,
				 "transformer.rotary_pos_emb.inv_freq"));
	for (int i = 0; i < c->depth; i++)
		PRESTO_TRY(walk_block(v, c, m, i));
	return PRESTO_OK;
}

#undef SLOT

/* RotaryEmbedding(dim): 1 / 10000^(arange(0, dim, 2) / dim) in fp32 */
static void rotary_inv_freq(const presto_dit_config *c, float *out)
{
	int dim = c->d_head / 2 > 32 ? c->d_head / 2 : 32;
	for (int j = 0; j < c->rotary_dim / 2; j++)
		out[j] = 1.0f / powf(10000.0f, (float)(2 * j) / (float)dim);
}

static int kind_trainable(const presto_dit_config *c, int kind)
{
	switch (kind) {
	case K_GAMMA: return !c->norm_fix_scale;
	case K_BETA: return c->norm_bias;
	case K_FREQ: return 0;
	default: return 1;
	}
}

/* Loading from a safetensors handle or a parameter table. */
static presto_status get_tensor(void *ctx, const char *name, int ndim, const int64_t *shape, int kind,
				const float **slot)
{
	presto_dit *m = ctx;
	int optional = kind == K_BETA || kind == K_FREQ;
	*slot = NULL;
	if (m->st) {
		if (optional && !presto_st_get(m->st, name))
			return PRESTO_OK;
		return presto_st_f32(m->st, name, ndim, shape, slot);
	}
	int i = presto_params_find(m->ps, name);
	if (i < 0)
		return optional ? PRESTO_OK : presto_error_set(PRESTO_EINVAL, "no parameter %s in the table", name);
	const presto_param_info *pi = &m->ps->p[i];
	int same = pi->ndim == ndim;
	for (int d = 0; same && d < ndim; d++)
		same = pi->shape[d] == shape[d];
	if (!same)
		return presto_error_set(PRESTO_EINVAL, "parameter %s has another shape than the config gives", name);
	*slot = m->pbase + pi->offset;
	return PRESTO_OK;
}

static presto_status load_all(presto_dit *m)
{
	const presto_dit_config *c = &m->c;
	m->blocks = presto_calloc((size_t)(c->depth ? c->depth : 1), sizeof *m->blocks);
	if (!m->blocks)
		return PRESTO_ENOMEM;
	tensor_visitor v = {get_tensor, m, m->prefix};
	PRESTO_TRY(walk(&v, c, m));
	if (c->rotary_dim && !m->inv_freq) {
		m->inv_freq_owned = presto_falloc((size_t)c->rotary_dim / 2);
		if (!m->inv_freq_owned)
			return PRESTO_ENOMEM;
		rotary_inv_freq(c, m->inv_freq_owned);
		m->inv_freq = m->inv_freq_owned;
	}
	return PRESTO_OK;
}

static presto_status dit_new(const presto_dit_config *c, const char *prefix, presto_st *st, const presto_params *ps,
			     const float *data, presto_dit **out)
{
	*out = NULL;
	if (strlen(prefix) >= sizeof((presto_dit *)0)->prefix)
		return presto_error_set(PRESTO_EINVAL, "DiT weight prefix too long");
	presto_dit *m = presto_calloc(1, sizeof *m);
	if (!m)
		return PRESTO_ENOMEM;
	m->c = *c;
	m->st = st;
	m->ps = ps;
	m->pbase = data;
	snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
	presto_status rc = load_all(m);
	if (rc) {
		presto_dit_free(m);
		return presto_error_wrap(rc, "loading the DiT: ");
	}
	*out = m;
	return PRESTO_OK;
}

presto_status presto_dit_load(presto_st *st, const char *prefix, const presto_dit_config *c, presto_dit **out)
{
	return dit_new(c, prefix, st, NULL, NULL, out);
}

presto_status presto_dit_bind(const presto_params *ps, const float *data, const char *prefix,
			      const presto_dit_config *c, presto_dit **out)
{
	*out = NULL;
	if (!ps || !data)
		return presto_error_set(PRESTO_EINVAL, "DiT bind: no parameter table or buffer");
	return dit_new(c, prefix, NULL, ps, data, out);
}

/* Declaring the table. */
static presto_status add_param(void *ctx, const char *name, int ndim, const int64_t *shape, int kind,
			       const float **slot)
{
	const presto_dit_config *c = ((void **)ctx)[0];
	presto_params *ps = ((void **)ctx)[1];
	if (presto_params_add(ps, name, ndim, shape, kind_trainable(c, kind), kind == K_MAT) < 0)
		return presto_error_wrap(PRESTO_EINVAL, "DiT parameters: ");
	return PRESTO_OK;
}

presto_status presto_dit_params(const presto_dit_config *c, const char *prefix, presto_params *ps)
{
	void *ctx[2] = {(void *)c, ps};
	tensor_visitor v = {add_param, ctx, prefix};
	return walk(&v, c, NULL);
}

/* Reference values of the tensors that have one (the buffers, norms). */
static presto_status set_default(void *ctx, const char *name, int ndim, const int64_t *shape, int kind,
				 const float **slot)
{
	const presto_dit_config *c = ((void **)ctx)[0];
	const presto_params *ps = ((void **)ctx)[1];
	float *data = ((void **)ctx)[2];
	float *p = presto_params_ptr(ps, data, name);
	if (!p)
		return presto_error_set(PRESTO_EINVAL, "DiT parameters: %s is not in the table", name);
	size_t n = ps->p[presto_params_find(ps, name)].numel;
	if (kind == K_FREQ)
		rotary_inv_freq(c, p);
	else if (kind == K_GAMMA || kind == K_QKW || kind == K_BETA || kind == K_QKB) {
		float one = kind == K_GAMMA || kind == K_QKW ? 1.0f : 0.0f;
		for (size_t i = 0; i < n; i++)
			p[i] = one;
	}
	return PRESTO_OK;
}

presto_status presto_dit_params_defaults(const presto_dit_config *c, const char *prefix, const presto_params *ps,
					 float *data)
{
	void *ctx[3] = {(void *)c, (void *)ps, data};
	tensor_visitor v = {set_default, ctx, prefix};
	return walk(&v, c, NULL);
}

/* Loading a checkpoint into the table. */
static presto_status load_param(void *ctx, const char *name, int ndim, const int64_t *shape, int kind,
				const float **slot)
{
	const presto_params *ps = ((void **)ctx)[0];
	presto_st *st = ((void **)ctx)[1];
	if ((kind == K_BETA || kind == K_FREQ) && !presto_st_get(st, name))
		return PRESTO_OK; /* keeps its reference value */
	const float *src;
	PRESTO_TRY(presto_st_f32(st, name, ndim, shape, &src));
	int i = presto_params_find(ps, name);
	if (i < 0)
		return presto_error_set(PRESTO_EINVAL, "DiT parameters: %s is not in the table", name);
	memcpy(ps->data + ps->p[i].offset, src, sizeof(float) * ps->p[i].numel);
	return PRESTO_OK;
}

presto_status presto_dit_params_load(const presto_dit_config *c, const char *prefix, presto_params *ps,
				     presto_st *st)
{
	PRESTO_TRY(presto_dit_params_defaults(c, prefix, ps, ps->data));
	void *ctx[2] = {ps, st};
	tensor_visitor v = {load_param, ctx, prefix};
	presto_status rc = walk(&v, c, NULL);
	return rc ? presto_error_wrap(rc, "loading the DiT parameters: ") : PRESTO_OK;
}

void presto_dit_free(presto_dit *m)
{
	if (!m)
		return;
	free(m->blocks);
	free(m->inv_freq_owned);
	free(m);
}

const presto_dit_config *presto_dit_get_config(const presto_dit *m) { return &m->c; }

/* ---- forward ---- */

/* Per-head normalisation of q or k in place: N tokens, token n at x + n*stride,
 * H heads of Dh floats. kind 1: LayerNorm(Dh, eps 1e-6) with weight and bias;
 * kind 2: F.normalize (x / max(||x||, 1e-12)). */
void presto_dit_qk_normalize(float *x, int N, int stride, int H, int Dh, int kind, const qk_ln *ln)
{
#pragma omp parallel for schedule(static) if ((size_t)N * H * Dh > 65536)
	for (int n = 0; n < N; n++) {
		float *xt = x + (size_t)n * stride;
		if (kind == 1) {
			presto_layernorm_forward(xt, xt, ln->w, ln->b, H, Dh, 1e-6f);
			continue;
		}
		for (int h = 0; h < H; h++) {
			float *xh = xt + (size_t)h * Dh;
			double ss = 0;
			for (int d = 0; d < Dh; d++)
				ss += (double)xh[d] * xh[d];
			float nrm = (float)sqrt(ss);
			if (nrm < 1e-12f)
				nrm = 1e-12f;
			for (int d = 0; d < Dh; d++)
				xh[d] /= nrm;
		}
	}
}

typedef struct {
	presto_hook fn;
	void *ctx;
} hook_t;

static void emit(const hook_t *h, const char *name, const float *data, int ndim, int64_t a, int64_t b, int64_t c)
{
	if (!h->fn)
		return;
	int64_t shape[3] = {a, b, c};
	h->fn(h->ctx, name, data, ndim, shape);
}

static void emit_block(const hook_t *h, int i, const char *what, const float *data, int B, int T1, int D)
{
	if (!h->fn)
		return;
	char name[64];
	snprintf(name, sizeof name, "block%d.%s", i, what);
	emit(h, name, data, 3, B, T1, D);
}

/* [B, T, C] rows -> [B, C, T] */
static void to_bct(float *dst, const float *src, int B, int T, int C)
{
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++)
			for (int c = 0; c < C; c++)
				dst[((size_t)b * C + c) * T + t] = src[((size_t)b * T + t) * C + c];
}

/* Activations of one forward, carved from one allocation. */
typedef struct {
	float *h, *xn, *big, *mid, *br;     /* [N, D], [N, D], [N, max(3D, 2F)], [N, max(D, F)], [N, D] */
	float *ctx, *kv;                    /* [B*S, Ce], [B*S, 2Ce] */
	float *tf, *te, *ge, *tmp_d;        /* [B, TF], [B, D] x 3 */
	float *xt, *pc, *po, *io;           /* [B*T, C], [B*T, C], [N, C], [B*T, C] */
} dit_acts;

static presto_status acts_alloc(const presto_dit_config *c, int B, int T, int S, dit_acts *a, float **block)
{
	size_t N = (size_t)B * (T + 1), NT = (size_t)B * T, NS = (size_t)B * S;
	size_t D = (size_t)c->embed_dim, F = D * (size_t)c->ff_mult, C = (size_t)c->io_channels;
	size_t Ce = (size_t)c->cond_embed_dim, TF = (size_t)c->timestep_features_dim;
	size_t wbig = 3 * D > 2 * F ? 3 * D : 2 * F, wmid = D > F ? D : F;
	size_t sizes[] = {N * D, N * D, N * wbig, N * wmid, N * D, NS * Ce, NS * 2 * Ce, B * TF, B * D,
			  B * D, B * D, NT * C, NT * C, N * C, NT * C};
	float **ptrs[] = {&a->h, &a->xn, &a->big, &a->mid, &a->br, &a->ctx, &a->kv, &a->tf, &a->te,
			  &a->ge, &a->tmp_d, &a->xt, &a->pc, &a->po, &a->io};
	size_t n = sizeof sizes / sizeof sizes[0], total = 0;
	for (size_t i = 0; i < n; i++) {
		size_t s = (sizes[i] + 15) & ~(size_t)15; /* 64-byte aligned sub-blocks */
		if (s < sizes[i] || total + s < total)
			return presto_error_set(PRESTO_ENOMEM, "DiT activations: size overflow");
		total += s;
	}
	float *p = presto_falloc(total + 16);
	if (!p)
		return PRESTO_ENOMEM;
	*block = p;
	float *q = (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
	for (size_t i = 0; i < n; i++) {
		*ptrs[i] = q;
		q += (sizes[i] + 15) & ~(size_t)15;
	}
	return PRESTO_OK;
}

/* y = x W^T + b over B items of `rows` token rows each, one GEMM per item:
 * the bits of an item's rows depend on the GEMM's row count (BLAS kernels
 * treat edge rows differently), so per-item calls keep every item's result
 * independent of the rest of the batch. */
void presto_dit_lin(float *y, const float *x, const float *w, const float *b, int B, int rows, int In, int O)
{
	for (int i = 0; i < B; i++)
		presto_linear_forward(y + (size_t)i * rows * O, x + (size_t)i * rows * In, w, b, rows, In, O);
}

#define lin presto_dit_lin

void presto_dit_self_attn(const presto_dit *m, const dit_block *bl, const float *xn, float *raw, float *qkv,
			  float *ao, float *br, int B, int T1, float scale)
{
	const presto_dit_config *c = &m->c;
	int N = B * T1, D = c->embed_dim, H = c->num_heads, Dh = c->d_head;
	lin(qkv, xn, bl->qkv, NULL, B, T1, D, 3 * D);
	if (c->qk_norm) {
		if (raw)
			memcpy(raw, qkv, sizeof(float) * (size_t)N * 3 * D);
		presto_dit_qk_normalize(qkv, N, 3 * D, H, Dh, c->qk_norm, &bl->sa_qn);
		presto_dit_qk_normalize(qkv + D, N, 3 * D, H, Dh, c->qk_norm, &bl->sa_kn);
	}
	if (c->rotary_dim)
		for (int b = 0; b < B; b++) {
			float *base = qkv + (size_t)b * T1 * 3 * D;
			presto_rope_forward(base, T1, H, Dh, 3 * D, c->rotary_dim, m->inv_freq, 0);
			presto_rope_forward(base + D, T1, H, Dh, 3 * D, c->rotary_dim, m->inv_freq, 0);
		}
	presto_attention_forward(ao, qkv, qkv + D, qkv + 2 * D, B, T1, T1, H, H, Dh, 3 * D, 3 * D, 3 * D, scale, NULL,
				 NULL);
	lin(br, ao, bl->sa_out, NULL, B, T1, D, D);
}

void presto_dit_cross_attn(const presto_dit *m, const dit_block *bl, const float *xn, const float *ctx, float *q_raw,
			   float *q, float *kv_raw, float *kv, float *ao, float *br, int B, int T1, int S, float scale)
{
	const presto_dit_config *c = &m->c;
	int N = B * T1, D = c->embed_dim, H = c->num_heads, Dh = c->d_head, Ce = c->cond_embed_dim;
	int KVH = c->kv_heads_cross;
	lin(q, xn, bl->ca_q, NULL, B, T1, D, D);
	lin(kv, ctx, bl->ca_kv, NULL, B, S, Ce, 2 * Ce);
	if (c->qk_norm) {
		if (q_raw)
			memcpy(q_raw, q, sizeof(float) * (size_t)N * D);
		if (kv_raw)
			memcpy(kv_raw, kv, sizeof(float) * (size_t)B * S * 2 * Ce);
		presto_dit_qk_normalize(q, N, D, H, Dh, c->qk_norm, &bl->ca_qn);
		presto_dit_qk_normalize(kv, B * S, 2 * Ce, KVH, Dh, c->qk_norm, &bl->ca_kn);
	}
	presto_attention_forward(ao, q, kv, kv + Ce, B, T1, S, H, KVH, Dh, D, 2 * Ce, 2 * Ce, scale, NULL, NULL);
	lin(br, ao, bl->ca_out, NULL, B, T1, D, D);
}

void presto_dit_ff(const presto_dit *m, const dit_block *bl, const float *xn, float *big, float *mid, float *br, int B,
		   int T1)
{
	int D = m->c.embed_dim, F = D * m->c.ff_mult;
	lin(big, xn, bl->ff_in, bl->ff_in_b, B, T1, D, 2 * F);
	presto_swiglu_forward(mid, big, B * T1, F);
	lin(br, mid, bl->ff_out, bl->ff_out_b, B, T1, F, D);
}

presto_status presto_dit_forward(presto_dit *m, float *out, const float *x, const float *t, const float *cross, int S,
				 const float *global, int B, int T, const presto_dit_opts *opts)
{
	const presto_dit_config *c = &m->c;
	int C = c->io_channels, D = c->embed_dim, TF = c->timestep_features_dim, Ce = c->cond_embed_dim;
	int G = c->global_cond_dim;
	if (B <= 0 || T <= 0 || S < 0)
		return presto_error_set(PRESTO_EINVAL, "DiT forward: bad sizes B=%d T=%d S=%d", B, T, S);
	if ((long long)B * (T + 1) > INT_MAX || (long long)B * S > INT_MAX)
		return presto_error_set(PRESTO_EINVAL, "DiT forward: batch of %d x %d frames is too large", B, T);
	if (!cross || !Ce)
		S = 0;
	if (!G)
		global = NULL;
	hook_t hk = {opts ? opts->hook : NULL, opts ? opts->hook_ctx : NULL};
	const unsigned char *mask = opts ? opts->block_mask : NULL;
	int T1 = T + 1, N = B * T1, NT = B * T;
	float scale = (float)(1.0 / sqrt((double)c->d_head));

	dit_acts a;
	float *block = NULL;
	PRESTO_TRY(acts_alloc(c, B, T, S, &a, &block));

	/* preprocess_conv (1x1, no bias), residual, to token rows [B*T, C] */
	emit(&hk, "preprocess_conv.in", x, 3, B, C, T);
	for (int b = 0; b < B; b++)
		for (int ch = 0; ch < C; ch++)
			for (int i = 0; i < T; i++)
				a.xt[((size_t)b * T + i) * C + ch] = x[((size_t)b * C + ch) * T + i];
	lin(a.pc, a.xt, m->pre_conv, NULL, B, T, C, C);
	if (hk.fn) {
		to_bct(a.io, a.pc, B, T, C);
		emit(&hk, "preprocess_conv.out", a.io, 3, B, C, T);
	}
	presto_add_inplace(a.xt, a.pc, (size_t)NT * C);
	emit(&hk, "project_in.in", a.xt, 3, B, T, C);

	/* timestep and global embeddings -> the prepended token */
	presto_fourier_features_forward(a.tf, t, m->ts_freq, B, TF / 2);
	emit(&hk, "timestep_features", a.tf, 2, B, TF, 0);
	lin(a.tmp_d, a.tf, m->ts_w0, m->ts_b0, B, 1, TF, D);
	presto_silu_forward(a.tmp_d, a.tmp_d, (size_t)B * D);
	lin(a.te, a.tmp_d, m->ts_w2, m->ts_b2, B, 1, D, D);
	emit(&hk, "timestep_embed", a.te, 2, B, D, 0);
	if (global) {
		lin(a.tmp_d, global, m->glob_w0, NULL, B, 1, G, D);
		presto_silu_forward(a.tmp_d, a.tmp_d, (size_t)B * D);
		lin(a.ge, a.tmp_d, m->glob_w2, NULL, B, 1, D, D);
		emit(&hk, "global_embed", a.ge, 2, B, D, 0);
	}
	for (int b = 0; b < B; b++) {
		float *row = a.h + (size_t)b * T1 * D;
		const float *te = a.te + (size_t)b * D, *ge = a.ge + (size_t)b * D;
		for (int d = 0; d < D; d++)
			row[d] = global ? ge[d] + te[d] : te[d];
	}

	/* project_in, after the global token */
	for (int b = 0; b < B; b++)
		presto_linear_forward(a.h + ((size_t)b * T1 + 1) * D, a.xt + (size_t)b * T * C, m->proj_in, NULL, T, C,
				      D);
	if (hk.fn) {
		for (int b = 0; b < B; b++)
			memcpy(a.mid + (size_t)b * T * D, a.h + ((size_t)b * T1 + 1) * D, sizeof(float) * (size_t)T * D);
		emit(&hk, "project_in.out", a.mid, 3, B, T, D);
	}

	/* context tokens */
	if (S) {
		lin(a.kv, cross, m->cond_w0, NULL, B, S, c->cond_token_dim, Ce);
		presto_silu_forward(a.kv, a.kv, (size_t)B * S * Ce);
		lin(a.ctx, a.kv, m->cond_w2, NULL, B, S, Ce, Ce);
		emit(&hk, "cond_embed", a.ctx, 3, B, S, Ce);
	}
	if (hk.fn && c->rotary_dim) {
		/* RoPE angles [T+1, rotary_dim] = cat(theta, theta), theta = p * inv_freq */
		int R = c->rotary_dim, half = R / 2;
		for (int p = 0; p < T1; p++)
			for (int j = 0; j < half; j++)
				a.big[(size_t)p * R + j] = a.big[(size_t)p * R + half + j] = (float)p * m->inv_freq[j];
		emit(&hk, "rope_freqs", a.big, 2, T1, R, 0);
	}

	for (int i = 0; i < c->depth; i++) {
		if (mask && !mask[i])
			continue;
		const dit_block *bl = &m->blocks[i];
		emit_block(&hk, i, "in", a.h, B, T1, D);

		presto_layernorm_forward(a.xn, a.h, bl->pre_g, bl->pre_b, N, D, c->norm_eps);
		emit_block(&hk, i, "pre_norm", a.xn, B, T1, D);
		presto_dit_self_attn(m, bl, a.xn, NULL, a.big, a.mid, a.br, B, T1, scale);
		emit_block(&hk, i, "self_attn", a.br, B, T1, D);
		presto_add_inplace(a.h, a.br, (size_t)N * D);

		if (S) {
			presto_layernorm_forward(a.xn, a.h, bl->ca_g, bl->ca_b, N, D, c->norm_eps);
			emit_block(&hk, i, "cross_attend_norm", a.xn, B, T1, D);
			presto_dit_cross_attn(m, bl, a.xn, a.ctx, NULL, a.big, NULL, a.kv, a.mid, a.br, B, T1, S, scale);
			emit_block(&hk, i, "cross_attn", a.br, B, T1, D);
			presto_add_inplace(a.h, a.br, (size_t)N * D);
		}

		presto_layernorm_forward(a.xn, a.h, bl->ff_g, bl->ff_b, N, D, c->norm_eps);
		emit_block(&hk, i, "ff_norm", a.xn, B, T1, D);
		presto_dit_ff(m, bl, a.xn, a.big, a.mid, a.br, B, T1);
		emit_block(&hk, i, "ff", a.br, B, T1, D);
		presto_add_inplace(a.h, a.br, (size_t)N * D);
		emit_block(&hk, i, "out", a.h, B, T1, D);
	}

	/* project_out, drop the global token, postprocess_conv (residual) */
	lin(a.po, a.h, m->proj_out, NULL, B, T1, D, C);
	emit(&hk, "project_out", a.po, 3, B, T1, C);
	for (int b = 0; b < B; b++)
		memcpy(a.xt + (size_t)b * T * C, a.po + ((size_t)b * T1 + 1) * C, sizeof(float) * (size_t)T * C);
	lin(a.pc, a.xt, m->post_conv, NULL, B, T, C, C);
	if (hk.fn) {
		to_bct(a.io, a.xt, B, T, C);
		emit(&hk, "postprocess_conv.in", a.io, 3, B, C, T);
		to_bct(a.io, a.pc, B, T, C);
		emit(&hk, "postprocess_conv.out", a.io, 3, B, C, T);
	}
	for (int b = 0; b < B; b++)
		for (int i = 0; i < T; i++) {
			const float *o = a.xt + ((size_t)b * T + i) * C, *p = a.pc + ((size_t)b * T + i) * C;
			for (int ch = 0; ch < C; ch++)
				out[((size_t)b * C + ch) * T + i] = p[ch] + o[ch];
		}
	free(block);
	return PRESTO_OK;
}

double presto_dit_flops(const presto_dit_config *c, int B, int T, int S, int blocks)
{
	double D = c->embed_dim, F = D * c->ff_mult, Ce = c->cond_embed_dim, C = c->io_channels;
	double N = (double)B * (T + 1), L = T + 1;
	double blk = 2 * N * D * 3 * D + 4 * B * L * L * D + 2 * N * D * D  /* self-attention */
		     + 2 * N * D * 2 * F + 2 * N * F * D;                     /* feed-forward */
	if (S > 0 && Ce > 0)
		blk += 2 * N * D * D + 2.0 * B * S * Ce * 2 * Ce + 4 * B * L * S * D + 2 * N * D * D;
	double io = 2.0 * B * T * C * C * 2 + 2 * B * (double)T * C * D + 2 * N * D * C; /* convs, projections */
	if (S > 0 && Ce > 0)
		io += 2.0 * B * S * (c->cond_token_dim * Ce + Ce * Ce);
	return blk * blocks + io;
}

double presto_dit_weight_bytes(const presto_dit_config *c, int blocks, int wbytes)
{
	double D = c->embed_dim, F = D * c->ff_mult, Ce = c->cond_embed_dim;
	double per = 3 * D * D + D * D + 2 * D * F + F * D;
	if (Ce > 0)
		per += 2 * D * D + 2 * Ce * Ce;
	return per * blocks * wbytes;
}

void presto_dit_set_accel(presto_dit *m, presto_dit_accel_fn fn, void *ctx)
{
	m->accel = fn;
	m->accel_ctx = fn ? ctx : NULL;
}

presto_status presto_dit_forward_cfg(presto_dit *m, float *out, const float *x, const float *t, const float *cross,
				     const float *neg, int S, const float *global, int B, int T, float scale,
				     float *cond_out, float *uncond_out, const presto_dit_opts *opts)
{
	const presto_dit_config *c = &m->c;
	if (m->accel && !(opts && opts->hook))
		return m->accel(m->accel_ctx, out, x, t, cross, neg, S, global, B, T, scale, cond_out, uncond_out,
				opts ? opts->block_mask : NULL);
	if (scale == 1.0f || !cross || S <= 0 || !c->cond_embed_dim) {
		PRESTO_TRY(presto_dit_forward(m, out, x, t, cross, S, global, B, T, opts));
		if (cond_out)
			memcpy(cond_out, out, sizeof(float) * (size_t)B * c->io_channels * T);
		return PRESTO_OK;
	}
	if (B <= 0 || T <= 0 || B > (1 << 29))
		return presto_error_set(PRESTO_EINVAL, "DiT forward: bad sizes B=%d T=%d", B, T);
	size_t nx = (size_t)B * c->io_channels * T, nc = (size_t)B * S * c->cond_token_dim;
	size_t ng = global && c->global_cond_dim ? (size_t)B * c->global_cond_dim : 0;
	size_t total = 0;
	size_t parts[] = {2 * nx, 2 * (size_t)B, 2 * nc, 2 * ng, 2 * nx};
	for (size_t i = 0; i < 5; i++) {
		if (parts[i] / 2 > SIZE_MAX / 4 || total + parts[i] < total)
			return presto_error_set(PRESTO_ENOMEM, "DiT CFG batch: size overflow");
		total += parts[i];
	}
	float *buf = presto_falloc(total);
	if (!buf)
		return PRESTO_ENOMEM;
	float *x2 = buf, *t2 = x2 + 2 * nx, *c2 = t2 + 2 * B, *g2 = c2 + 2 * nc, *o2 = g2 + 2 * ng;
	memcpy(x2, x, sizeof(float) * nx);
	memcpy(x2 + nx, x, sizeof(float) * nx);
	memcpy(t2, t, sizeof(float) * (size_t)B);
	memcpy(t2 + B, t, sizeof(float) * (size_t)B);
	memcpy(c2, cross, sizeof(float) * nc);
	if (neg)
		memcpy(c2 + nc, neg, sizeof(float) * nc);
	else
		memset(c2 + nc, 0, sizeof(float) * nc);
	if (ng) {
		memcpy(g2, global, sizeof(float) * ng);
		memcpy(g2 + ng, global, sizeof(float) * ng);
	}
	presto_status rc = presto_dit_forward(m, o2, x2, t2, c2, S, ng ? g2 : NULL, 2 * B, T, opts);
	if (!rc) {
		const float *co = o2, *uo = o2 + nx;
		for (size_t i = 0; i < nx; i++)
			out[i] = uo[i] + (co[i] - uo[i]) * scale;
		if (cond_out)
			memcpy(cond_out, co, sizeof(float) * nx);
		if (uncond_out)
			memcpy(uncond_out, uo, sizeof(float) * nx);
	}
	free(buf);
	return rc;
}

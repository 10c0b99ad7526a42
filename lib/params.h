/* params.h - a model's parameter table: every tensor's name (the reference
 * state_dict key), shape and place in ONE float allocation (llm.c style), so
 * that gradients, optimizer moments and EMA weights are buffers of the same
 * layout and an optimizer step is a loop over one array.
 *
 * Models declare their parameters (presto_<model>_params()), the table
 * assigns offsets, and the model binds its weight pointers into the data. */
#ifndef PRESTO_PARAMS_H
#define PRESTO_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "safetensors.h"

typedef struct {
	char *name;        /* full key, e.g. "model.model.transformer.layers.0.pre_norm.gamma" */
	int ndim;
	int64_t shape[4];
	size_t offset;     /* in floats, into data / grad / moments */
	size_t numel;
	int trainable;     /* 0 for buffers (LayerNorm beta of SAO, rotary inv_freq) */
	int decay;         /* 1 when AdamW weight decay applies (matrices), 0 for norms, biases */
} presto_param_info;

typedef struct {
	int n, cap;
	presto_param_info *p;
	size_t total;      /* floats */
	float *data;       /* total floats, 64-byte aligned, or NULL before alloc */
} presto_params;

void presto_params_init(presto_params *ps);
void presto_params_free(presto_params *ps);
/* Declare a parameter (before presto_params_alloc). Returns its index or -1
 * (error set) for a duplicate name, a bad shape or no memory. */
int presto_params_add(presto_params *ps, const char *name, int ndim, const int64_t *shape, int trainable, int decay);
/* Allocate data (zeroed; offsets rounded so every tensor starts 64-byte aligned). */
presto_status presto_params_alloc(presto_params *ps);
/* Index of `name`, or -1. */
int presto_params_find(const presto_params *ps, const char *name);
/* Pointer to tensor `name` in buf (data, a gradient or a moment buffer of
 * the same layout), or NULL. */
float *presto_params_ptr(const presto_params *ps, float *buf, const char *name);
/* The slot in `grad` (a buffer of the layout) of the tensor whose data
 * starts at w, where base is the data buffer w points into (a bound model's
 * weights); NULL when grad or w is NULL, w starts no tensor of the table, or
 * that tensor is not trainable. */
float *presto_params_grad_slot(const presto_params *ps, const float *base, float *grad, const float *w);
/* A new zeroed buffer of the table's layout (gradients, moments). */
float *presto_params_buffer(const presto_params *ps);

/* Copy every declared tensor from st (names = prefix-less table names looked
 * up as written); any float dtype converts. Missing or mis-shaped tensors are
 * errors unless `missing_ok` (then they keep their value). */
presto_status presto_params_load(presto_params *ps, presto_st *st, int missing_ok);
/* Write buf (data or another buffer of the layout) to a safetensors file,
 * names prefixed by `prefix` ("" for none), in dtype (F32, F16, BF16),
 * atomically. Only trainable tensors when trainable_only. */
presto_status presto_params_save(const presto_params *ps, const float *buf, const char *path, const char *prefix,
				 presto_dtype dtype, int trainable_only, int n_meta, const char *const *meta_kv);

#endif

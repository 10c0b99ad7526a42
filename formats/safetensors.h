/* safetensors.h - memory-mapped reader and atomic writer of .safetensors files.
 *
 * File layout: u64 LE header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
 *  "__metadata__": {"k": "v"}}, then the raw little-endian data. */
#ifndef PRESTO_SAFETENSORS_H
#define PRESTO_SAFETENSORS_H

#include "tensor.h"

typedef struct presto_st presto_st;

/* Open and validate a file (every entry's dtype, shape and byte range).
 * The file is mapped read-only; tensors point into the mapping. */
presto_status presto_st_open(const char *path, presto_st **out);
/* Same checks on a buffer in memory (the fuzz target uses this); the buffer
 * must outlive the handle. */
presto_status presto_st_open_buffer(const void *buf, size_t len, const char *label, presto_st **out);
void presto_st_close(presto_st *st);

const char *presto_st_path(const presto_st *st);
int presto_st_count(const presto_st *st);
const char *presto_st_name(const presto_st *st, int i);
/* The tensor with this name, or NULL (no error is set). */
const presto_tensor *presto_st_get(const presto_st *st, const char *name);
/* A __metadata__ string value, or NULL. */
const char *presto_st_metadata(const presto_st *st, const char *key);

/* fp32 view of tensor `name` with exactly this shape. F32 data is used in
 * place when aligned; other float dtypes are converted once into memory owned
 * by the handle. Missing tensor, wrong shape or non-float dtype is an error
 * naming the file and the tensor. */
presto_status presto_st_f32(presto_st *st, const char *name, int ndim, const int64_t *shape, const float **out);
/* As presto_st_f32 with the name built from a printf format. */
presto_status presto_st_f32f(presto_st *st, const float **out, int ndim, const int64_t *shape, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Write tensors to `path` atomically (temp file + rename). metadata is a list
 * of n_meta key/value string pairs (may be NULL). Names must be unique. */
presto_status presto_st_write(const char *path, int n, const char *const *names, const presto_tensor *tensors,
			      int n_meta, const char *const *meta_kv);

/* A list of named tensors being gathered for one file (exports, imports).
 * Zero-initialise; each tensor is owned or borrowed as its .owned says. */
typedef struct {
	int n, cap;
	char **names;
	presto_tensor *t;
	size_t bytes; /* data bytes so far */
} presto_st_list;

void presto_st_list_free(presto_st_list *l);
/* Append t (moved into the list) under the name prefix + name. */
presto_status presto_st_list_push(presto_st_list *l, const char *prefix, const char *name, presto_tensor t);
/* Append a copy of the floats src[numel(shape)] stored as dtype (a float
 * type). A finite value beyond the f16 range is an error naming the tensor
 * (it would be stored as infinity). */
presto_status presto_st_list_add_f32(presto_st_list *l, const char *prefix, const char *name, int ndim,
				     const int64_t *shape, const float *src, presto_dtype dtype);
/* presto_st_write of the list's tensors. */
presto_status presto_st_list_write(const presto_st_list *l, const char *path, int n_meta, const char *const *meta_kv);

#endif

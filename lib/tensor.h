/* tensor.h - a typed, shaped block of memory (the unit the formats carry).
 *
 * Compute in lib/ is fp32 on plain float arrays; presto_tensor is what the
 * safetensors and stream formats hand over: dtype, shape in C order, raw
 * little-endian bytes. */
#ifndef PRESTO_TENSOR_H
#define PRESTO_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PRESTO_MAX_DIMS 8

typedef enum {
	PRESTO_F32 = 0,
	PRESTO_F16,
	PRESTO_BF16,
	PRESTO_F64,
	PRESTO_I64,
	PRESTO_I32,
	PRESTO_I16,
	PRESTO_I8,
	PRESTO_U8,
	PRESTO_BOOL,
	PRESTO_DTYPE_COUNT
} presto_dtype;

typedef struct {
	presto_dtype dtype;
	int ndim;
	int64_t shape[PRESTO_MAX_DIMS];
	void *data;     /* little-endian, C order */
	size_t nbytes;  /* numel * dtype size */
	int owned;      /* data is malloc'd and freed by presto_tensor_free */
} presto_tensor;

size_t presto_dtype_size(presto_dtype t);
/* Names as safetensors writes them: "F32", "F16", "BF16", "F64", "I64", ... */
const char *presto_dtype_name(presto_dtype t);
/* Case-insensitive; returns 0 and sets *t, or -1 for an unknown name. */
int presto_dtype_parse(const char *name, presto_dtype *t);
int presto_dtype_is_float(presto_dtype t);

size_t presto_tensor_numel(const presto_tensor *t);
/* Shape as "[2, 6, 19]" into buf. */
const char *presto_shape_str(const int64_t *shape, int ndim, char *buf, size_t n);
int presto_shape_eq(const presto_tensor *t, int ndim, const int64_t *shape);

/* Allocate an owned tensor (zeroed). */
presto_status presto_tensor_alloc(presto_tensor *t, presto_dtype dtype, int ndim, const int64_t *shape);
/* Wrap existing memory (not owned). */
presto_tensor presto_tensor_wrap(presto_dtype dtype, int ndim, const int64_t *shape, void *data);
void presto_tensor_free(presto_tensor *t);

/* Convert any float or integer tensor to a new fp32 array (caller frees). */
presto_status presto_tensor_to_f32(const presto_tensor *t, float **out);
/* Copy of a float array converted to dtype (F32, F16, BF16, F64) in dst, which
 * must hold n * presto_dtype_size(dtype) bytes. */
presto_status presto_f32_convert(void *dst, presto_dtype dtype, const float *src, size_t n);
/* Return 1 if every element of a float tensor is finite. */
int presto_tensor_finite(const presto_tensor *t);

float presto_half_to_float(uint16_t h);
uint16_t presto_float_to_half(float f);
float presto_bf16_to_float(uint16_t h);
uint16_t presto_float_to_bf16(float f);

/* Intermediate-tensor hook: models call it (when set) with a name such as
 * "block0.out" and the tensor, so tests and presto-sample can inspect every
 * stage. The data is only valid during the call. */
typedef void (*presto_hook)(void *ctx, const char *name, const float *data, int ndim, const int64_t *shape);

#endif

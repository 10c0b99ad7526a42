/* tensor.c - dtypes, shapes and conversions. */
#include "tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	size_t size;
	int is_float;
} dtypes[PRESTO_DTYPE_COUNT] = {
	[PRESTO_F32] = {"F32", 4, 1},  [PRESTO_F16] = {"F16", 2, 1},
	[PRESTO_BF16] = {"BF16", 2, 1}, [PRESTO_F64] = {"F64", 8, 1},
	[PRESTO_I64] = {"I64", 8, 0},  [PRESTO_I32] = {"I32", 4, 0},
	[PRESTO_I16] = {"I16", 2, 0},  [PRESTO_I8] = {"I8", 1, 0},
	[PRESTO_U8] = {"U8", 1, 0},    [PRESTO_BOOL] = {"BOOL", 1, 0},
};

size_t presto_dtype_size(presto_dtype t) { return (unsigned)t < PRESTO_DTYPE_COUNT ? dtypes[t].size : 0; }
const char *presto_dtype_name(presto_dtype t) { return (unsigned)t < PRESTO_DTYPE_COUNT ? dtypes[t].name : "?"; }
int presto_dtype_is_float(presto_dtype t) { return (unsigned)t < PRESTO_DTYPE_COUNT && dtypes[t].is_float; }

int presto_dtype_parse(const char *name, presto_dtype *t)
{
	for (int i = 0; i < PRESTO_DTYPE_COUNT; i++)
		if (!strcasecmp(name, dtypes[i].name)) {
			*t = (presto_dtype)i;
			return 0;
		}
	return -1;
}

size_t presto_tensor_numel(const presto_tensor *t)
{
	size_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= (size_t)t->shape[i];
	return n;
}

const char *presto_shape_str(const int64_t *shape, int ndim, char *buf, size_t n)
{
	size_t off = 0;
	off += (size_t)snprintf(buf + off, n - off, "[");
	for (int i = 0; i < ndim && off < n; i++)
		off += (size_t)snprintf(buf + off, n - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (off < n)
		snprintf(buf + off, n - off, "]");
	return buf;
}

int presto_shape_eq(const presto_tensor *t, int ndim, const int64_t *shape)
{
	if (t->ndim != ndim)
		return 0;
	for (int i = 0; i < ndim; i++)
		if (t->shape[i] != shape[i])
			return 0;
	return 1;
}

presto_status presto_tensor_alloc(presto_tensor *t, presto_dtype dtype, int ndim, const int64_t *shape)
{
	size_t n, bytes;
	memset(t, 0, sizeof *t);
	if (ndim < 0 || ndim > PRESTO_MAX_DIMS)
		return presto_error_set(PRESTO_EINVAL, "tensor has %d dims (at most %d)", ndim, PRESTO_MAX_DIMS);
	if (!presto_numel(shape, ndim, &n) || !presto_mul_size(n, presto_dtype_size(dtype), &bytes))
		return presto_error_set(PRESTO_ENOMEM, "tensor size overflows");
	t->data = presto_calloc(bytes ? bytes : 1, 1);
	if (!t->data)
		return PRESTO_ENOMEM;
	t->dtype = dtype;
	t->ndim = ndim;
	memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
	t->nbytes = bytes;
	t->owned = 1;
	return PRESTO_OK;
}

presto_tensor presto_tensor_wrap(presto_dtype dtype, int ndim, const int64_t *shape, void *data)
{
	presto_tensor t;
	memset(&t, 0, sizeof t);
	t.dtype = dtype;
	t.ndim = ndim;
	memcpy(t.shape, shape, sizeof(int64_t) * (size_t)ndim);
	t.data = data;
	t.nbytes = presto_tensor_numel(&t) * presto_dtype_size(dtype);
	return t;
}

void presto_tensor_free(presto_tensor *t)
{
	if (t->owned)
		free(t->data);
	memset(t, 0, sizeof *t);
}

float presto_half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
	if (exp == 0) {
		if (man == 0)
			bits = sign;
		else { /* subnormal */
			float f = ldexpf((float)man, -24);
			return sign ? -f : f;
		}
	} else if (exp == 31)
		bits = sign | 0x7f800000u | (man << 13);
	else
		bits = sign | ((exp + 112) << 23) | (man << 13);
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t presto_float_to_half(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t ax = x & 0x7fffffffu;
	if (ax >= 0x7f800000u) /* inf or nan */
		return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
	if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
		return (uint16_t)(sign | 0x7c00);
	if (ax < 0x38800000u) { /* subnormal half or zero: round to nearest even */
		float a;
		memcpy(&a, &ax, 4);
		float q = a * 16777216.0f; /* a / 2^-24 */
		uint32_t m = (uint32_t)nearbyintf(q);
		return (uint16_t)(sign | m);
	}
	uint32_t e = ((ax >> 23) - 112) << 10;
	uint32_t m = (ax >> 13) & 0x3ff;
	uint32_t rest = ax & 0x1fff;
	uint32_t h = e | m;
	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++;
	return (uint16_t)(sign | h);
}

float presto_bf16_to_float(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t presto_float_to_bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 0x40);
	x += 0x7fffu + ((x >> 16) & 1);
	return (uint16_t)(x >> 16);
}

presto_status presto_tensor_to_f32(const presto_tensor *t, float **out)
{
	size_t n = presto_tensor_numel(t);
	float *y = presto_falloc(n);
	if (!y)
		return PRESTO_ENOMEM;
	const unsigned char *p = t->data;
	for (size_t i = 0; i < n; i++) {
		switch (t->dtype) {
		case PRESTO_F32: { float v; memcpy(&v, p + 4 * i, 4); y[i] = v; break; }
		case PRESTO_F64: { double v; memcpy(&v, p + 8 * i, 8); y[i] = (float)v; break; }
		case PRESTO_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); y[i] = presto_half_to_float(v); break; }
		case PRESTO_BF16: { uint16_t v; memcpy(&v, p + 2 * i, 2); y[i] = presto_bf16_to_float(v); break; }
		case PRESTO_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); y[i] = (float)v; break; }
		case PRESTO_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); y[i] = (float)v; break; }
		case PRESTO_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); y[i] = (float)v; break; }
		case PRESTO_I8: y[i] = (float)(int8_t)p[i]; break;
		case PRESTO_U8: case PRESTO_BOOL: y[i] = (float)p[i]; break;
		default:
			free(y);
			return presto_error_set(PRESTO_EUNSUP, "cannot convert dtype %d", (int)t->dtype);
		}
	}
	*out = y;
	return PRESTO_OK;
}

presto_status presto_f32_convert(void *dst, presto_dtype dtype, const float *src, size_t n)
{
	unsigned char *p = dst;
	for (size_t i = 0; i < n; i++) {
		switch (dtype) {
		case PRESTO_F32: memcpy(p + 4 * i, &src[i], 4); break;
		case PRESTO_F64: { double v = src[i]; memcpy(p + 8 * i, &v, 8); break; }
		case PRESTO_F16: { uint16_t v = presto_float_to_half(src[i]); memcpy(p + 2 * i, &v, 2); break; }
		case PRESTO_BF16: { uint16_t v = presto_float_to_bf16(src[i]); memcpy(p + 2 * i, &v, 2); break; }
		default:
			return presto_error_set(PRESTO_EUNSUP, "cannot convert to dtype %s", presto_dtype_name(dtype));
		}
	}
	return PRESTO_OK;
}

int presto_tensor_finite(const presto_tensor *t)
{
	size_t n = presto_tensor_numel(t);
	const unsigned char *p = t->data;
	for (size_t i = 0; i < n; i++) {
		float v;
		switch (t->dtype) {
		case PRESTO_F32: memcpy(&v, p + 4 * i, 4); break;
		case PRESTO_F64: { double d; memcpy(&d, p + 8 * i, 8); if (!isfinite(d)) return 0; continue; }
		case PRESTO_F16: { uint16_t h; memcpy(&h, p + 2 * i, 2); v = presto_half_to_float(h); break; }
		case PRESTO_BF16: { uint16_t h; memcpy(&h, p + 2 * i, 2); v = presto_bf16_to_float(h); break; }
		default: return 1;
		}
		if (!isfinite(v))
			return 0;
	}
	return 1;
}

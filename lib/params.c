/* params.c - parameter tables in one allocation. */
#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN_FLOATS 16 /* 64 bytes */

void presto_params_init(presto_params *ps) { memset(ps, 0, sizeof *ps); }

void presto_params_free(presto_params *ps)
{
	for (int i = 0; i < ps->n; i++)
		free(ps->p[i].name);
	free(ps->p);
	free(ps->data);
	memset(ps, 0, sizeof *ps);
}

int presto_params_find(const presto_params *ps, const char *name)
{
	for (int i = 0; i < ps->n; i++)
		if (!strcmp(ps->p[i].name, name))
			return i;
	return -1;
}

int presto_params_add(presto_params *ps, const char *name, int ndim, const int64_t *shape, int trainable, int decay)
{
	if (ps->data) {
		presto_error_set(PRESTO_EINVAL, "parameter '%s' declared after the table was allocated", name);
		return -1;
	}
	if (ndim < 0 || ndim > 4) {
		presto_error_set(PRESTO_EINVAL, "parameter '%s': %d dims (at most 4)", name, ndim);
		return -1;
	}
	if (presto_params_find(ps, name) >= 0) {
		presto_error_set(PRESTO_EINVAL, "parameter '%s' declared twice", name);
		return -1;
	}
	size_t numel;
	if (!presto_numel(shape, ndim, &numel)) {
		presto_error_set(PRESTO_EINVAL, "parameter '%s': bad shape", name);
		return -1;
	}
	if (ps->n == ps->cap) {
		int cap = ps->cap ? 2 * ps->cap : 64;
		presto_param_info *np = realloc(ps->p, sizeof *np * (size_t)cap);
		if (!np) {
			presto_error_set(PRESTO_ENOMEM, "out of memory");
			return -1;
		}
		ps->p = np;
		ps->cap = cap;
	}
	presto_param_info *pi = &ps->p[ps->n];
	memset(pi, 0, sizeof *pi);
	pi->name = strdup(name);
	if (!pi->name) {
		presto_error_set(PRESTO_ENOMEM, "out of memory");
		return -1;
	}
	pi->ndim = ndim;
	memcpy(pi->shape, shape, sizeof(int64_t) * (size_t)ndim);
	pi->numel = numel;
	pi->trainable = trainable;
	pi->decay = decay;
	pi->offset = ps->total;
	size_t padded = (numel + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
	if (ps->total + padded < ps->total) {
		presto_error_set(PRESTO_ENOMEM, "parameter table overflows");
		return -1;
	}
	ps->total += padded;
	return ps->n++;
}

float *presto_params_grad_slot(const presto_params *ps, const float *base, float *grad, const float *w)
{
	if (!grad || !w || w < base)
		return NULL;
	size_t off = (size_t)(w - base);
	int lo = 0, hi = ps->n - 1;
	while (lo <= hi) { /* offsets grow with the index */
		int mid = lo + (hi - lo) / 2;
		if (ps->p[mid].offset == off)
			return ps->p[mid].trainable ? grad + off : NULL;
		if (ps->p[mid].offset < off)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

float *presto_params_buffer(const presto_params *ps)
{
	size_t bytes;
	if (!presto_mul_size(ps->total ? ps->total : 1, sizeof(float), &bytes)) {
		presto_error_set(PRESTO_ENOMEM, "parameter buffer overflows");
		return NULL;
	}
	float *b = aligned_alloc(64, (bytes + 63) / 64 * 64);
	if (!b) {
		presto_error_set(PRESTO_ENOMEM, "out of memory (%zu bytes of parameters)", bytes);
		return NULL;
	}
	memset(b, 0, bytes);
	return b;
}

presto_status presto_params_alloc(presto_params *ps)
{
	free(ps->data);
	ps->data = presto_params_buffer(ps);
	return ps->data ? PRESTO_OK : PRESTO_ENOMEM;
}

float *presto_params_ptr(const presto_params *ps, float *buf, const char *name)
{
	int i = presto_params_find(ps, name);
	return i < 0 || !buf ? NULL : buf + ps->p[i].offset;
}

presto_status presto_params_load(presto_params *ps, presto_st *st, int missing_ok)
{
	for (int i = 0; i < ps->n; i++) {
		presto_param_info *pi = &ps->p[i];
		if (!presto_st_get(st, pi->name) && missing_ok)
			continue;
		const float *src;
		PRESTO_TRY(presto_st_f32(st, pi->name, pi->ndim, pi->shape, &src));
		memcpy(ps->data + pi->offset, src, sizeof(float) * pi->numel);
	}
	return PRESTO_OK;
}

presto_status presto_params_save(const presto_params *ps, const float *buf, const char *path, const char *prefix,
				 presto_dtype dtype, int trainable_only, int n_meta, const char *const *meta_kv)
{
	int n = 0;
	char **names = presto_calloc((size_t)(ps->n ? ps->n : 1), sizeof *names);
	presto_tensor *t = presto_calloc((size_t)(ps->n ? ps->n : 1), sizeof *t);
	presto_status st = names && t ? PRESTO_OK : PRESTO_ENOMEM;
	for (int i = 0; !st && i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		if (trainable_only && !pi->trainable)
			continue;
		size_t len = strlen(prefix) + strlen(pi->name) + 1;
		names[n] = presto_malloc(len);
		if (!names[n]) {
			st = PRESTO_ENOMEM;
			break;
		}
		snprintf(names[n], len, "%s%s", prefix, pi->name);
		if (dtype == PRESTO_F32)
			t[n] = presto_tensor_wrap(PRESTO_F32, pi->ndim, pi->shape, (void *)(buf + pi->offset));
		else {
			st = presto_tensor_alloc(&t[n], dtype, pi->ndim, pi->shape);
			if (!st)
				st = presto_f32_convert(t[n].data, dtype, buf + pi->offset, pi->numel);
		}
		n++;
	}
	if (!st)
		st = presto_st_write(path, n, (const char *const *)names, t, n_meta, meta_kv);
	for (int i = 0; i < n; i++) {
		free(names[i]);
		presto_tensor_free(&t[i]);
	}
	free(names);
	free(t);
	return st;
}

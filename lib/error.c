/* error.c - thread-local error messages and checked allocation. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char err_msg[1024];

presto_status presto_error_set(presto_status code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof err_msg, fmt, ap);
	va_end(ap);
	return code;
}

presto_status presto_error_wrap(presto_status code, const char *fmt, ...)
{
	char prefix[512], old[sizeof err_msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err_msg, sizeof old);
	snprintf(err_msg, sizeof err_msg, "%s%s", prefix, old);
	return code;
}

const char *presto_error(void) { return err_msg[0] ? err_msg : "unknown error"; }
void presto_error_clear(void) { err_msg[0] = 0; }

int presto_mul_size(size_t a, size_t b, size_t *out)
{
	if (a && b > SIZE_MAX / a)
		return 0;
	*out = a * b;
	return 1;
}

int presto_numel(const int64_t *shape, int ndim, size_t *out)
{
	size_t n = 1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX)
			return 0;
		if (!presto_mul_size(n, (size_t)shape[i], &n))
			return 0;
	}
	*out = n;
	return 1;
}

void *presto_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		presto_error_set(PRESTO_ENOMEM, "out of memory (%zu bytes)", n);
	return p;
}

void *presto_calloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		presto_error_set(PRESTO_ENOMEM, "out of memory (%zu x %zu bytes)", count, size);
	return p;
}

float *presto_falloc(size_t n)
{
	size_t bytes;
	if (!presto_mul_size(n, sizeof(float), &bytes)) {
		presto_error_set(PRESTO_ENOMEM, "size overflow (%zu floats)", n);
		return NULL;
	}
	return presto_malloc(bytes);
}

float *presto_fzalloc(size_t n)
{
	return presto_calloc(n, sizeof(float));
}

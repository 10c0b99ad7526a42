/* error.h - status codes and the thread-local error message of the library.
 *
 * Library functions return a presto_status (0 = ok) and set a message with
 * presto_error_set(); only bin/ turns a status into an exit code. */
#ifndef PRESTO_ERROR_H
#define PRESTO_ERROR_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
	PRESTO_OK = 0,
	PRESTO_EINVAL = 1,  /* bad input: malformed data, wrong shape/dtype, NaN */
	PRESTO_EIO = 2,     /* file or stream could not be read/written */
	PRESTO_ENOMEM = 3,  /* allocation failed or a size overflowed */
	PRESTO_EUNSUP = 4,  /* valid but not supported (dtype, config option) */
	PRESTO_EEOF = 5,    /* clean end of input where more was allowed */
} presto_status;

/* Set the message for the current thread (printf-style); returns `code`. */
presto_status presto_error_set(presto_status code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prefix the current message with more context ("loading dit: " + old). */
presto_status presto_error_wrap(presto_status code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *presto_error(void);
void presto_error_clear(void);

/* Overflow-checked size arithmetic: return 0 on overflow. */
int presto_mul_size(size_t a, size_t b, size_t *out);
/* Product of n dims (each >= 0); returns 0 on overflow or negative dim. */
int presto_numel(const int64_t *shape, int ndim, size_t *out);

/* malloc/calloc that set the error message on failure. */
void *presto_malloc(size_t n);
void *presto_calloc(size_t count, size_t size);
/* float array of n elements (overflow-checked), uninitialised / zeroed. */
float *presto_falloc(size_t n);
float *presto_fzalloc(size_t n);

#define PRESTO_TRY(expr) do { presto_status s_ = (expr); if (s_) return s_; } while (0)

#endif

/* stream.h - presto record streams: what presto tools pass through pipes.
 *
 * A stream is a sequence of plain MessagePack maps written back to back
 * (specified in presto-stream(5)):
 *
 *   {"type": "header", "magic": "presto-stream", "version": 1,
 *    "kind": "cond" | "latent" | "audio", "producer": "presto-encode 0.1.0",
 *    "model": "<model id or path>", ...extra fields}
 *   {"type": "record", "id": <uint>, "params": {<name>: <value>, ...},
 *    "tensors": {<name>: {"dtype": "f32", "shape": [1, 64, 215],
 *                         "data": <bin, little-endian, C order>}, ...}}
 *   ... one map per record ...
 *   {"type": "end", "count": <number of records>}
 *
 * The end map tells a finished stream from a truncated one: a producer that
 * fails half-way simply stops (it never writes the end map), and every
 * consumer then fails with "truncated stream: ended after N records without
 * an end record" instead of silently using a partial result.
 *
 * Several complete streams may follow each other on one input (`cat a b`);
 * the reader passes from one to the next transparently (each header is
 * validated, each end count is checked) and reports clean end of input only
 * after the last end map.
 *
 * Typical consumer (a tool that reads latents):
 *
 *	presto_stream_reader *r;
 *	presto_record rec;
 *	presto_status st = presto_stream_reader_open_fd(0, "stdin", PRESTO_KIND_LATENT, &r);
 *	while (!st && !(st = presto_stream_next(r, &rec))) {
 *		float *z;
 *		int64_t shape[3] = {1, -1, -1};       // [B, C, T], any C and T
 *		st = presto_record_f32(&rec, "latent", 3, shape, &z);
 *		...
 *		presto_record_free(&rec);
 *	}
 *	presto_stream_reader_close(r);
 *	if (st != PRESTO_EEOF) -> error, message in presto_error()
 *
 * Typical producer:
 *
 *	presto_stream_writer *w;
 *	presto_stream_header h = {.kind = PRESTO_KIND_LATENT,
 *				  .producer = "presto-sample " PRESTO_VERSION, .model = path};
 *	presto_param p[] = {presto_param_str("prompt", prompt), presto_param_int("seed", seed)};
 *	presto_tensor t = presto_tensor_wrap(PRESTO_F32, 3, shape, z);
 *	const char *name = "latent";
 *	presto_record rec = {.id = 0, .n_params = 2, .params = p,
 *			     .n_tensors = 1, .tensor_names = (char **)&name, .tensors = &t};
 *	presto_stream_writer_open_fd(1, "stdout", &w);
 *	presto_stream_write_header(w, &h);
 *	presto_stream_write_record(w, &rec);      // once per record
 *	presto_stream_write_end(w);               // only when everything succeeded
 *	presto_stream_writer_close(w);
 *
 * All functions return a presto_status and set presto_error() on failure;
 * messages name the input (the label given at open), the record id and the
 * tensor or parameter. */
#ifndef PRESTO_STREAM_H
#define PRESTO_STREAM_H

#include <stdint.h>
#include <stdio.h>

#include "tensor.h"

#define PRESTO_STREAM_MAGIC "presto-stream"
#define PRESTO_STREAM_VERSION 1

/* Limits. Inputs beyond them are refused with an error before anything of
 * that size is allocated (and writers refuse to produce them). */
#define PRESTO_STREAM_MAX_TENSORS 64                        /* tensors per record */
#define PRESTO_STREAM_MAX_PARAMS 256                        /* params per record, extra header fields */
#define PRESTO_STREAM_MAX_TENSOR_BYTES ((1ull << 32) - 1)  /* 4 GiB: a MessagePack bin32 */
#define PRESTO_STREAM_MAX_ARRAY (1u << 20)                  /* numbers in one array param */
#define PRESTO_STREAM_MAX_STRING (1u << 20)                 /* bytes in one string (names, prompts) */
#define PRESTO_STREAM_MAX_DEPTH 8                           /* MessagePack nesting */

typedef enum {
	PRESTO_KIND_ANY = 0, /* reader: accept every kind; never written */
	PRESTO_KIND_COND,    /* conditioning (presto-encode -> presto-sample) */
	PRESTO_KIND_LATENT,  /* latents (presto-sample -> presto-decode) */
	PRESTO_KIND_AUDIO,   /* audio (presto-decode -> ...) */
} presto_stream_kind;

/* "cond", "latent", "audio" ("any" for PRESTO_KIND_ANY). */
const char *presto_stream_kind_name(presto_stream_kind k);
/* Parse one of the names above (not "any"); 0 ok, -1 unknown. */
int presto_stream_kind_parse(const char *name, presto_stream_kind *k);

/* Stream dtype names are lower case: "f32", "f16", "bf16", "f64", "i64",
 * "i32" (the only dtypes a stream may carry). Returns NULL for others. */
const char *presto_stream_dtype_name(presto_dtype t);
/* 0 and *t for one of the six names (exact, lower case), -1 otherwise. */
int presto_stream_dtype_parse(const char *name, presto_dtype *t);

/* A named value: record parameters and extra header fields. */
typedef enum {
	PRESTO_PARAM_NIL = 0,
	PRESTO_PARAM_BOOL,   /* i = 0 or 1 */
	PRESTO_PARAM_INT,    /* i (f holds the same value as a double) */
	PRESTO_PARAM_FLOAT,  /* f */
	PRESTO_PARAM_STRING, /* s: NUL-terminated UTF-8 without NUL bytes inside */
	PRESTO_PARAM_ARRAY,  /* a[n]: numbers (read as doubles; written as float64) */
} presto_param_type;

typedef struct {
	const char *name;
	presto_param_type type;
	int64_t i;
	double f;
	const char *s;
	const double *a;
	size_t n;
} presto_param;

static inline presto_param presto_param_nil(const char *name)
{
	return (presto_param){.name = name, .type = PRESTO_PARAM_NIL};
}
static inline presto_param presto_param_bool(const char *name, int v)
{
	return (presto_param){.name = name, .type = PRESTO_PARAM_BOOL, .i = !!v, .f = !!v};
}
static inline presto_param presto_param_int(const char *name, int64_t v)
{
	return (presto_param){.name = name, .type = PRESTO_PARAM_INT, .i = v, .f = (double)v};
}
static inline presto_param presto_param_float(const char *name, double v)
{
	return (presto_param){.name = name, .type = PRESTO_PARAM_FLOAT, .f = v};
}
static inline presto_param presto_param_str(const char *name, const char *s)
{
	return (presto_param){.name = name, .type = PRESTO_PARAM_STRING, .s = s};
}
static inline presto_param presto_param_array(const char *name, const double *a, size_t n)
{
	return (presto_param){.name = name, .type = PRESTO_PARAM_ARRAY, .a = a, .n = n};
}
/* "nil", "bool", "int", "float", "string", "array". */
const char *presto_param_type_name(presto_param_type t);

/* The header map. Written by presto_stream_write_header; read headers are
 * owned by the reader and stay valid until presto_stream_reader_close. */
typedef struct {
	presto_stream_kind kind;
	int version;              /* read: as found; ignored when writing */
	const char *producer;     /* "presto-encode 0.1.0"; NULL when absent */
	const char *model;        /* model id or path; NULL when absent */
	int n_extra;              /* other fields, in stream order */
	const presto_param *extra;
} presto_stream_header;

/* One record. The reader fills it with memory the record owns (free it with
 * presto_record_free); a writer takes one the caller filled in (nothing is
 * taken over: tensors may be presto_tensor_wrap views). */
typedef struct {
	uint64_t id;              /* unique within a stream; producers count 0, 1, ... */
	int n_params;
	presto_param *params;     /* in stream order, names unique */
	int n_tensors;
	char **tensor_names;      /* names unique, non-empty */
	presto_tensor *tensors;   /* read: owned data, 16-byte aligned */
} presto_record;

void presto_record_free(presto_record *rec);

/* Parameter `name`, or NULL (no error set) when the record has none. */
const presto_param *presto_record_param(const presto_record *rec, const char *name);
/* Typed getters: a missing parameter or another type is an error naming the
 * record id and the parameter ("record 3: param 'seed' is a string, expected
 * an integer"). Use presto_record_param() first for optional ones. */
presto_status presto_record_str(const presto_record *rec, const char *name, const char **out);
/* int or float. */
presto_status presto_record_double(const presto_record *rec, const char *name, double *out);
/* int, or a float with an integral value. */
presto_status presto_record_int(const presto_record *rec, const char *name, int64_t *out);
/* array of numbers (pointer into the record). */
presto_status presto_record_array(const presto_record *rec, const char *name, const double **out, size_t *n);

/* Tensor `name`, or NULL (no error set). */
const presto_tensor *presto_record_tensor(const presto_record *rec, const char *name);
/* Tensor `name` converted to a new fp32 array (caller frees), checked
 * against a shape pattern of ndim dims: entries >= 0 must match, -1 matches
 * anything and is replaced by the actual size. Missing tensor, other rank or
 * size, or a non-float dtype is an error such as "record 3: tensor 'latent'
 * has shape [1, 32, 215], expected [1, 64, *]". */
presto_status presto_record_f32(const presto_record *rec, const char *name, int ndim, int64_t *shape, float **out);

/* Validate one tensor as readers and writers do: stream dtype, at most
 * PRESTO_MAX_DIMS dims, no negative dim, nbytes = numel * dtype size, at most
 * 4 GiB, and (check_finite) no NaN/Inf in a float tensor. The message names
 * the tensor ("tensor 'latent': 2 non-finite values (first: NaN at [0, 3, 7])"). */
presto_status presto_stream_check_tensor(const char *name, const presto_tensor *t, int check_finite);

/* ---- reader ---- */

typedef struct presto_stream_reader presto_stream_reader;

/* Read from a file descriptor (pipes of any size: input is read as it
 * arrives, a record is returned as soon as it is complete). The descriptor
 * is not closed. `label` names the input in messages ("stdin", a path).
 * `expect` is the kind every stream on this input must have (ANY: any). */
presto_status presto_stream_reader_open_fd(int fd, const char *label, presto_stream_kind expect,
					   presto_stream_reader **out);
/* Read from a FILE (never reads past the last map it returns, so the FILE
 * may be used afterwards). Not closed by the reader. */
presto_status presto_stream_reader_open_file(FILE *f, const char *label, presto_stream_kind expect,
					     presto_stream_reader **out);
/* Read from memory (the fuzz target uses this); buf must outlive the reader. */
presto_status presto_stream_reader_open_buffer(const void *buf, size_t len, const char *label,
					       presto_stream_kind expect, presto_stream_reader **out);
void presto_stream_reader_close(presto_stream_reader *r);

/* Check that float tensors hold only finite values (on by default): a NaN
 * or Inf is an error naming the record, the tensor and the first bad
 * element. presto-info --allow-nonfinite turns it off. */
void presto_stream_reader_check_finite(presto_stream_reader *r, int on);

/* Read and validate the header of the (first) stream: magic, version (EUNSUP
 * for a newer one), kind (against `expect`). Optional: presto_stream_next
 * reads it when needed. *h (may be NULL) stays valid until close. Empty input
 * is an error ("empty input: no presto stream"). */
presto_status presto_stream_read_header(presto_stream_reader *r, const presto_stream_header **h);

/* Next record into *rec (owned by the caller afterwards; zeroed on error).
 * Returns PRESTO_OK, PRESTO_EEOF after the end map of the last stream (its
 * count matched and no more bytes follow), or an error: truncated stream,
 * garbage, wrong kind, unknown type, bad dtype/shape/data, NaN/Inf, count
 * mismatch, limits. After an error the reader is unusable (further calls
 * repeat the error). */
presto_status presto_stream_next(presto_stream_reader *r, presto_record *rec);

/* Header of the current stream - the last header read, so the one the
 * record just returned belongs to (NULL before any header). */
const presto_stream_header *presto_stream_reader_header(const presto_stream_reader *r);
/* 0-based index of that stream on the input (> 0 after `cat a b`). */
int presto_stream_reader_stream_index(const presto_stream_reader *r);
/* Number of headers read so far, and header i of them (NULL if out of
 * range): streams without records are only visible this way. */
int presto_stream_reader_streams(const presto_stream_reader *r);
const presto_stream_header *presto_stream_reader_header_at(const presto_stream_reader *r, int i);
/* Records returned so far, all streams together. */
uint64_t presto_stream_reader_count(const presto_stream_reader *r);

/* ---- writer ---- */

typedef struct presto_stream_writer presto_stream_writer;

/* Write to a descriptor (not closed) or a FILE (not closed; flushed after
 * every map so records flow through pipes as soon as they are written). Each
 * map is built in memory and written in one go, so a reader never sees half
 * a record unless the writer dies in the middle of writing one. Write errors
 * (EPIPE when the reader has gone, ENOSPC, ...) are PRESTO_EIO; tools should
 * ignore SIGPIPE so that they get EPIPE rather than being killed. */
presto_status presto_stream_writer_open_fd(int fd, const char *label, presto_stream_writer **out);
presto_status presto_stream_writer_open_file(FILE *f, const char *label, presto_stream_writer **out);
/* Frees the writer; does not write the end map (so closing after a failure
 * leaves a stream every reader rejects as truncated). */
void presto_stream_writer_close(presto_stream_writer *w);
/* Refuse float tensors holding NaN/Inf (on by default). */
void presto_stream_writer_check_finite(presto_stream_writer *w, int on);

/* Exactly once, first. h->kind must not be ANY; extra field names must not
 * be type, magic, version, kind, producer or model. */
presto_status presto_stream_write_header(presto_stream_writer *w, const presto_stream_header *h);
/* Validates like the reader (dtype, shape vs nbytes, limits, unique names,
 * finite values) before writing anything. */
presto_status presto_stream_write_record(presto_stream_writer *w, const presto_record *rec);
/* Writes the end map with the number of records written; the writer accepts
 * a new header afterwards (a second stream on the same output). */
presto_status presto_stream_write_end(presto_stream_writer *w);
uint64_t presto_stream_writer_count(const presto_stream_writer *w);

#endif

/* stream.c - presto streams: names, records, tensor checks and the writer.
 * The reader is in stream_read.c; the format is in presto-stream(5). */
#include "stream.h"

#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const kind_names[] = {"any", "cond", "latent", "audio"};

const char *presto_stream_kind_name(presto_stream_kind k)
{
	return (unsigned)k < sizeof kind_names / sizeof *kind_names ? kind_names[k] : "?";
}

int presto_stream_kind_parse(const char *name, presto_stream_kind *k)
{
	for (int i = PRESTO_KIND_COND; i <= PRESTO_KIND_AUDIO; i++)
		if (!strcmp(name, kind_names[i])) {
			*k = (presto_stream_kind)i;
			return 0;
		}
	return -1;
}

static const struct {
	const char *name;
	presto_dtype t;
} stream_dtypes[] = {
	{"f32", PRESTO_F32}, {"f16", PRESTO_F16}, {"bf16", PRESTO_BF16},
	{"f64", PRESTO_F64}, {"i64", PRESTO_I64}, {"i32", PRESTO_I32},
};
#define N_DTYPES (int)(sizeof stream_dtypes / sizeof *stream_dtypes)

const char *presto_stream_dtype_name(presto_dtype t)
{
	for (int i = 0; i < N_DTYPES; i++)
		if (stream_dtypes[i].t == t)
			return stream_dtypes[i].name;
	return NULL;
}

int presto_stream_dtype_parse(const char *name, presto_dtype *t)
{
	for (int i = 0; i < N_DTYPES; i++)
		if (!strcmp(name, stream_dtypes[i].name)) {
			*t = stream_dtypes[i].t;
			return 0;
		}
	return -1;
}

const char *presto_param_type_name(presto_param_type t)
{
	static const char *const names[] = {"nil", "bool", "int", "float", "string", "array"};
	return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

/* ---- records ---- */

void presto_record_free(presto_record *rec)
{
	if (!rec)
		return;
	for (int i = 0; i < rec->n_params && rec->params; i++) {
		free((char *)rec->params[i].name);
		free((char *)rec->params[i].s);
		free((double *)rec->params[i].a);
	}
	free(rec->params);
	for (int i = 0; i < rec->n_tensors && rec->tensors; i++) {
		if (rec->tensor_names)
			free(rec->tensor_names[i]);
		presto_tensor_free(&rec->tensors[i]);
	}
	free(rec->tensor_names);
	free(rec->tensors);
	memset(rec, 0, sizeof *rec);
}

const presto_param *presto_record_param(const presto_record *rec, const char *name)
{
	for (int i = 0; i < rec->n_params; i++)
		if (!strcmp(rec->params[i].name, name))
			return &rec->params[i];
	return NULL;
}

static presto_status get_param(const presto_record *rec, const char *name, presto_param_type want, const char *what,
			       const presto_param **out)
{
	const presto_param *p = presto_record_param(rec, name);
	if (!p)
		return presto_error_set(PRESTO_EINVAL, "record %llu: missing param '%s'", (unsigned long long)rec->id,
					name);
	if (p->type != want && !(want == PRESTO_PARAM_FLOAT && p->type == PRESTO_PARAM_INT) &&
	    !(want == PRESTO_PARAM_INT && p->type == PRESTO_PARAM_FLOAT && p->f == trunc(p->f) &&
	      fabs(p->f) < 9007199254740992.0))
		return presto_error_set(PRESTO_EINVAL, "record %llu: param '%s' is %s %s, expected %s",
					(unsigned long long)rec->id, name, p->type == PRESTO_PARAM_INT ? "an" : "a",
					presto_param_type_name(p->type), what);
	*out = p;
	return PRESTO_OK;
}

presto_status presto_record_str(const presto_record *rec, const char *name, const char **out)
{
	const presto_param *p;
	PRESTO_TRY(get_param(rec, name, PRESTO_PARAM_STRING, "a string", &p));
	*out = p->s;
	return PRESTO_OK;
}

presto_status presto_record_double(const presto_record *rec, const char *name, double *out)
{
	const presto_param *p;
	PRESTO_TRY(get_param(rec, name, PRESTO_PARAM_FLOAT, "a number", &p));
	*out = p->type == PRESTO_PARAM_INT ? (double)p->i : p->f;
	return PRESTO_OK;
}

presto_status presto_record_int(const presto_record *rec, const char *name, int64_t *out)
{
	const presto_param *p;
	PRESTO_TRY(get_param(rec, name, PRESTO_PARAM_INT, "an integer", &p));
	*out = p->type == PRESTO_PARAM_INT ? p->i : (int64_t)p->f;
	return PRESTO_OK;
}

presto_status presto_record_array(const presto_record *rec, const char *name, const double **out, size_t *n)
{
	const presto_param *p;
	PRESTO_TRY(get_param(rec, name, PRESTO_PARAM_ARRAY, "an array of numbers", &p));
	*out = p->a;
	*n = p->n;
	return PRESTO_OK;
}

const presto_tensor *presto_record_tensor(const presto_record *rec, const char *name)
{
	for (int i = 0; i < rec->n_tensors; i++)
		if (!strcmp(rec->tensor_names[i], name))
			return &rec->tensors[i];
	return NULL;
}

/* "[1, 64, *]" for a pattern with -1 entries. */
static const char *pattern_str(const int64_t *shape, int ndim, char *buf, size_t n)
{
	size_t off = (size_t)snprintf(buf, n, "[");
	for (int i = 0; i < ndim && off < n; i++) {
		if (shape[i] < 0)
			off += (size_t)snprintf(buf + off, n - off, "%s*", i ? ", " : "");
		else
			off += (size_t)snprintf(buf + off, n - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
	}
	if (off < n)
		snprintf(buf + off, n - off, "]");
	return buf;
}

presto_status presto_record_f32(const presto_record *rec, const char *name, int ndim, int64_t *shape, float **out)
{
	const presto_tensor *t = presto_record_tensor(rec, name);
	char want[160], got[160];
	if (!t)
		return presto_error_set(PRESTO_EINVAL, "record %llu: missing tensor '%s'", (unsigned long long)rec->id,
					name);
	int ok = t->ndim == ndim;
	for (int i = 0; ok && i < ndim; i++)
		ok = shape[i] < 0 || shape[i] == t->shape[i];
	if (!ok)
		return presto_error_set(PRESTO_EINVAL, "record %llu: tensor '%s' has shape %s, expected %s",
					(unsigned long long)rec->id, name,
					presto_shape_str(t->shape, t->ndim, got, sizeof got),
					pattern_str(shape, ndim, want, sizeof want));
	if (!presto_dtype_is_float(t->dtype))
		return presto_error_set(PRESTO_EINVAL, "record %llu: tensor '%s' has dtype %s, expected a float type",
					(unsigned long long)rec->id, name, presto_stream_dtype_name(t->dtype));
	PRESTO_TRY(presto_tensor_to_f32(t, out));
	memcpy(shape, t->shape, sizeof(int64_t) * (size_t)ndim);
	return PRESTO_OK;
}

/* ---- checks shared by reader and writer ---- */

static double elem_double(const presto_tensor *t, size_t i)
{
	const unsigned char *p = t->data;
	switch (t->dtype) {
	case PRESTO_F32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
	case PRESTO_F64: { double v; memcpy(&v, p + 8 * i, 8); return v; }
	case PRESTO_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return presto_half_to_float(v); }
	case PRESTO_BF16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return presto_bf16_to_float(v); }
	default: return 0;
	}
}

/* The C-order index of element i as "[0, 3, 17]". */
static const char *index_str(const presto_tensor *t, size_t i, char *buf, size_t n)
{
	int64_t idx[PRESTO_MAX_DIMS];
	for (int d = t->ndim - 1; d >= 0; d--) {
		idx[d] = t->shape[d] ? (int64_t)(i % (size_t)t->shape[d]) : 0;
		i = t->shape[d] ? i / (size_t)t->shape[d] : 0;
	}
	return presto_shape_str(idx, t->ndim, buf, n);
}

presto_status presto_stream_check_tensor(const char *name, const presto_tensor *t, int check_finite)
{
	const char *dn = presto_stream_dtype_name(t->dtype);
	char sh[160];
	size_t numel, bytes;
	if (!dn)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s': dtype %s cannot be stored in a stream", name,
					presto_dtype_name(t->dtype));
	if (t->ndim < 0 || t->ndim > PRESTO_MAX_DIMS)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s': %d dimensions (at most %d)", name, t->ndim,
					PRESTO_MAX_DIMS);
	for (int i = 0; i < t->ndim; i++)
		if (t->shape[i] < 0)
			return presto_error_set(PRESTO_EINVAL, "tensor '%s': negative dimension in shape %s", name,
						presto_shape_str(t->shape, t->ndim, sh, sizeof sh));
	if (!presto_numel(t->shape, t->ndim, &numel) || !presto_mul_size(numel, presto_dtype_size(t->dtype), &bytes) ||
	    bytes > PRESTO_STREAM_MAX_TENSOR_BYTES)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s': shape %s %s is over the 4 GiB tensor limit", name,
					presto_shape_str(t->shape, t->ndim, sh, sizeof sh), dn);
	if (bytes != t->nbytes)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s': shape %s %s needs %zu bytes of data, found %zu", name,
					presto_shape_str(t->shape, t->ndim, sh, sizeof sh), dn, bytes, t->nbytes);
	if (bytes && !t->data)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s': no data", name);
	if (!check_finite || !presto_dtype_is_float(t->dtype))
		return PRESTO_OK;
	size_t bad = 0, first = 0;
	for (size_t i = 0; i < numel; i++)
		if (!isfinite(elem_double(t, i)) && !bad++)
			first = i;
	if (bad) {
		double v = elem_double(t, first);
		return presto_error_set(PRESTO_EINVAL, "tensor '%s': %zu non-finite value%s (first: %s at %s)", name, bad,
					bad == 1 ? "" : "s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf",
					index_str(t, first, sh, sizeof sh));
	}
	return PRESTO_OK;
}

/* Parameter (or extra header field) as a writer accepts it. */
static presto_status check_param(const presto_param *p)
{
	if (!p->name || !p->name[0] || strlen(p->name) > PRESTO_STREAM_MAX_STRING)
		return presto_error_set(PRESTO_EINVAL, "param with an empty or too long name");
	switch (p->type) {
	case PRESTO_PARAM_NIL: case PRESTO_PARAM_BOOL: case PRESTO_PARAM_INT: case PRESTO_PARAM_FLOAT:
		return PRESTO_OK;
	case PRESTO_PARAM_STRING:
		if (!p->s || strlen(p->s) > PRESTO_STREAM_MAX_STRING)
			return presto_error_set(PRESTO_EINVAL, "param '%s': missing or too long string", p->name);
		return PRESTO_OK;
	case PRESTO_PARAM_ARRAY:
		if ((p->n && !p->a) || p->n > PRESTO_STREAM_MAX_ARRAY)
			return presto_error_set(PRESTO_EINVAL, "param '%s': bad array (%zu numbers, at most %u)", p->name,
						p->n, PRESTO_STREAM_MAX_ARRAY);
		return PRESTO_OK;
	}
	return presto_error_set(PRESTO_EINVAL, "param '%s': unknown type %d", p->name, (int)p->type);
}

static presto_status check_params(const presto_param *p, int n, const char *const *reserved)
{
	if (n < 0 || n > PRESTO_STREAM_MAX_PARAMS)
		return presto_error_set(PRESTO_EINVAL, "%d params (at most %d)", n, PRESTO_STREAM_MAX_PARAMS);
	if (n && !p)
		return presto_error_set(PRESTO_EINVAL, "params missing");
	for (int i = 0; i < n; i++) {
		PRESTO_TRY(check_param(&p[i]));
		for (int j = 0; j < i; j++)
			if (!strcmp(p[i].name, p[j].name))
				return presto_error_set(PRESTO_EINVAL, "duplicate param '%s'", p[i].name);
		for (int j = 0; reserved && reserved[j]; j++)
			if (!strcmp(p[i].name, reserved[j]))
				return presto_error_set(PRESTO_EINVAL, "header field '%s' is reserved", p[i].name);
	}
	return PRESTO_OK;
}

/* ---- writer ---- */

struct presto_stream_writer {
	char *label;
	int fd;
	FILE *f;
	int check_finite;
	int in_stream;  /* header written, end not yet */
	int failed;
	uint64_t n_stream, total;
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static presto_status writer_new(int fd, FILE *f, const char *label, presto_stream_writer **out)
{
	presto_stream_writer *w = presto_calloc(1, sizeof *w);
	if (!w)
		return PRESTO_ENOMEM;
	w->label = strdup(label ? label : "output");
	if (!w->label) {
		free(w);
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	}
	w->fd = fd;
	w->f = f;
	w->check_finite = 1;
	msgpack_sbuffer_init(&w->sb);
	msgpack_packer_init(&w->pk, &w->sb, msgpack_sbuffer_write);
	*out = w;
	return PRESTO_OK;
}

presto_status presto_stream_writer_open_fd(int fd, const char *label, presto_stream_writer **out)
{
	return writer_new(fd, NULL, label, out);
}

presto_status presto_stream_writer_open_file(FILE *f, const char *label, presto_stream_writer **out)
{
	return writer_new(-1, f, label, out);
}

void presto_stream_writer_close(presto_stream_writer *w)
{
	if (!w)
		return;
	msgpack_sbuffer_destroy(&w->sb);
	free(w->label);
	free(w);
}

void presto_stream_writer_check_finite(presto_stream_writer *w, int on) { w->check_finite = on; }
uint64_t presto_stream_writer_count(const presto_stream_writer *w) { return w->total; }

/* Write the packed map in one go and empty the buffer. */
static presto_status emit(presto_stream_writer *w)
{
	const char *p = w->sb.data;
	size_t n = w->sb.size;
	int err = 0;
	errno = 0;
	if (w->f) {
		if (fwrite(p, 1, n, w->f) != n || fflush(w->f) != 0)
			err = errno ? errno : EIO;
	} else {
		while (n) {
			ssize_t k = write(w->fd, p, n);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				err = k < 0 ? errno : EIO;
				break;
			}
			p += k;
			n -= (size_t)k;
		}
	}
	msgpack_sbuffer_clear(&w->sb);
	if (err) {
		w->failed = 1;
		return presto_error_set(PRESTO_EIO, "%s: write failed: %s%s", w->label, strerror(err),
					err == EPIPE ? " (the reading side has exited)" : "");
	}
	return PRESTO_OK;
}

static int pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

static int pack_param_value(msgpack_packer *pk, const presto_param *p)
{
	switch (p->type) {
	case PRESTO_PARAM_NIL: return msgpack_pack_nil(pk);
	case PRESTO_PARAM_BOOL: return p->i ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	case PRESTO_PARAM_INT: return msgpack_pack_int64(pk, p->i);
	case PRESTO_PARAM_FLOAT: return msgpack_pack_double(pk, p->f);
	case PRESTO_PARAM_STRING: return pack_str(pk, p->s);
	case PRESTO_PARAM_ARRAY: {
		int rc = msgpack_pack_array(pk, p->n);
		for (size_t i = 0; !rc && i < p->n; i++)
			rc = msgpack_pack_double(pk, p->a[i]);
		return rc;
	}
	}
	return -1;
}

static presto_status pack_failed(presto_stream_writer *w)
{
	msgpack_sbuffer_clear(&w->sb);
	return presto_error_set(PRESTO_ENOMEM, "%s: out of memory while packing a stream map", w->label);
}

presto_status presto_stream_write_header(presto_stream_writer *w, const presto_stream_header *h)
{
	static const char *const reserved[] = {"type", "magic", "version", "kind", "producer", "model", NULL};
	if (w->failed)
		return presto_error_set(PRESTO_EIO, "%s: an earlier write failed", w->label);
	if (w->in_stream)
		return presto_error_set(PRESTO_EINVAL, "%s: header written twice (end the stream first)", w->label);
	if (h->kind <= PRESTO_KIND_ANY || h->kind > PRESTO_KIND_AUDIO)
		return presto_error_set(PRESTO_EINVAL, "%s: header needs a kind (cond, latent or audio)", w->label);
	if (check_params(h->extra, h->n_extra, reserved))
		return presto_error_wrap(PRESTO_EINVAL, "%s: header: ", w->label);
	msgpack_packer *pk = &w->pk;
	int rc = msgpack_pack_map(pk, 4 + (h->producer != NULL) + (h->model != NULL) + (size_t)h->n_extra);
	rc = rc || pack_str(pk, "type") || pack_str(pk, "header");
	rc = rc || pack_str(pk, "magic") || pack_str(pk, PRESTO_STREAM_MAGIC);
	rc = rc || pack_str(pk, "version") || msgpack_pack_int(pk, PRESTO_STREAM_VERSION);
	rc = rc || pack_str(pk, "kind") || pack_str(pk, presto_stream_kind_name(h->kind));
	if (h->producer)
		rc = rc || pack_str(pk, "producer") || pack_str(pk, h->producer);
	if (h->model)
		rc = rc || pack_str(pk, "model") || pack_str(pk, h->model);
	for (int i = 0; !rc && i < h->n_extra; i++)
		rc = pack_str(pk, h->extra[i].name) || pack_param_value(pk, &h->extra[i]);
	if (rc)
		return pack_failed(w);
	PRESTO_TRY(emit(w));
	w->in_stream = 1;
	w->n_stream = 0;
	return PRESTO_OK;
}

static presto_status check_record(const presto_stream_writer *w, const presto_record *rec)
{
	if (check_params(rec->params, rec->n_params, NULL))
		return PRESTO_EINVAL;
	if (rec->n_tensors < 0 || rec->n_tensors > PRESTO_STREAM_MAX_TENSORS)
		return presto_error_set(PRESTO_EINVAL, "%d tensors (at most %d)", rec->n_tensors,
					PRESTO_STREAM_MAX_TENSORS);
	if (rec->n_tensors && (!rec->tensors || !rec->tensor_names))
		return presto_error_set(PRESTO_EINVAL, "tensors missing");
	for (int i = 0; i < rec->n_tensors; i++) {
		const char *name = rec->tensor_names[i];
		if (!name || !name[0] || strlen(name) > PRESTO_STREAM_MAX_STRING)
			return presto_error_set(PRESTO_EINVAL, "tensor with an empty or too long name");
		for (int j = 0; j < i; j++)
			if (!strcmp(name, rec->tensor_names[j]))
				return presto_error_set(PRESTO_EINVAL, "duplicate tensor '%s'", name);
		PRESTO_TRY(presto_stream_check_tensor(name, &rec->tensors[i], w->check_finite));
	}
	return PRESTO_OK;
}

presto_status presto_stream_write_record(presto_stream_writer *w, const presto_record *rec)
{
	if (w->failed)
		return presto_error_set(PRESTO_EIO, "%s: an earlier write failed", w->label);
	if (!w->in_stream)
		return presto_error_set(PRESTO_EINVAL, "%s: record written before the header", w->label);
	if (check_record(w, rec))
		return presto_error_wrap(PRESTO_EINVAL, "%s: record %llu: ", w->label, (unsigned long long)rec->id);
	msgpack_packer *pk = &w->pk;
	int rc = msgpack_pack_map(pk, 4);
	rc = rc || pack_str(pk, "type") || pack_str(pk, "record");
	rc = rc || pack_str(pk, "id") || msgpack_pack_uint64(pk, rec->id);
	rc = rc || pack_str(pk, "params") || msgpack_pack_map(pk, (size_t)rec->n_params);
	for (int i = 0; !rc && i < rec->n_params; i++)
		rc = pack_str(pk, rec->params[i].name) || pack_param_value(pk, &rec->params[i]);
	rc = rc || pack_str(pk, "tensors") || msgpack_pack_map(pk, (size_t)rec->n_tensors);
	for (int i = 0; !rc && i < rec->n_tensors; i++) {
		const presto_tensor *t = &rec->tensors[i];
		rc = pack_str(pk, rec->tensor_names[i]) || msgpack_pack_map(pk, 3);
		rc = rc || pack_str(pk, "dtype") || pack_str(pk, presto_stream_dtype_name(t->dtype));
		rc = rc || pack_str(pk, "shape") || msgpack_pack_array(pk, (size_t)t->ndim);
		for (int d = 0; !rc && d < t->ndim; d++)
			rc = msgpack_pack_int64(pk, t->shape[d]);
		rc = rc || pack_str(pk, "data") || msgpack_pack_bin(pk, t->nbytes) ||
		     (t->nbytes && msgpack_pack_bin_body(pk, t->data, t->nbytes));
	}
	if (rc)
		return pack_failed(w);
	PRESTO_TRY(emit(w));
	w->n_stream++;
	w->total++;
	return PRESTO_OK;
}

presto_status presto_stream_write_end(presto_stream_writer *w)
{
	if (w->failed)
		return presto_error_set(PRESTO_EIO, "%s: an earlier write failed", w->label);
	if (!w->in_stream)
		return presto_error_set(PRESTO_EINVAL, "%s: end written without a header", w->label);
	msgpack_packer *pk = &w->pk;
	int rc = msgpack_pack_map(pk, 2);
	rc = rc || pack_str(pk, "type") || pack_str(pk, "end");
	rc = rc || pack_str(pk, "count") || msgpack_pack_uint64(pk, w->n_stream);
	if (rc)
		return pack_failed(w);
	PRESTO_TRY(emit(w));
	w->in_stream = 0;
	return PRESTO_OK;
}

/* stream_read.c - the presto stream reader.
 *
 * Input is buffered as it arrives and a small resumable scanner finds where
 * the next top-level MessagePack object ends before msgpack-c decodes it.
 * The scanner enforces the limits (nesting, string sizes, no ext types) and
 * makes every container count bounded by bytes actually received, so a
 * corrupt length ("array of 4 billion elements") never turns into a large
 * allocation; the buffer grows at most to twice the data really read. */
#include "stream.h"

#include <errno.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (64u << 10)

typedef struct hdr_node {
	struct hdr_node *next;
	presto_stream_header h;
	presto_param *extra;
	char *producer, *model;
} hdr_node;

enum { S_START, S_IN, S_AFTER_END };

struct presto_stream_reader {
	char *label;
	int fd;
	FILE *f;
	int mem;                /* buf is the caller's memory */
	unsigned char *buf;
	size_t cap, len, pos;   /* unread bytes: buf[pos, len) */
	uint64_t base;          /* input offset of buf[0] */
	int eof;
	/* scanner state for the object at buf[pos] */
	size_t scan;
	int depth;
	uint64_t left[PRESTO_STREAM_MAX_DEPTH];
	msgpack_unpacked unp;
	/* stream state */
	presto_stream_kind expect;
	int check_finite;
	int state;
	presto_status failed;
	char *failmsg;
	uint64_t n_stream, total;
	int stream_index;
	hdr_node *headers, *cur;
};

static presto_status fail(presto_stream_reader *r, presto_status code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Set "label: message", remember it: the reader is unusable afterwards. */
static presto_status fail(presto_stream_reader *r, presto_status code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	presto_error_set(code, "%s: %s", r->label, msg);
	r->failed = code;
	free(r->failmsg);
	r->failmsg = strdup(presto_error());
	return code;
}

/* Fail with the current presto_error() text as the message. */
static presto_status fail_wrap(presto_stream_reader *r, presto_status code, const char *prefix)
{
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", presto_error());
	return fail(r, code, "%s%s", prefix, msg);
}

static presto_status reader_new(const char *label, presto_stream_kind expect, presto_stream_reader **out)
{
	presto_stream_reader *r = presto_calloc(1, sizeof *r);
	if (!r)
		return PRESTO_ENOMEM;
	r->label = strdup(label ? label : "input");
	if (!r->label) {
		free(r);
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	}
	r->fd = -1;
	r->expect = expect;
	r->check_finite = 1;
	r->stream_index = -1;
	msgpack_unpacked_init(&r->unp);
	*out = r;
	return PRESTO_OK;
}

presto_status presto_stream_reader_open_fd(int fd, const char *label, presto_stream_kind expect,
					   presto_stream_reader **out)
{
	PRESTO_TRY(reader_new(label, expect, out));
	(*out)->fd = fd;
	return PRESTO_OK;
}

presto_status presto_stream_reader_open_file(FILE *f, const char *label, presto_stream_kind expect,
					     presto_stream_reader **out)
{
	PRESTO_TRY(reader_new(label, expect, out));
	(*out)->f = f;
	return PRESTO_OK;
}

presto_status presto_stream_reader_open_buffer(const void *buf, size_t len, const char *label,
					       presto_stream_kind expect, presto_stream_reader **out)
{
	PRESTO_TRY(reader_new(label, expect, out));
	(*out)->mem = 1;
	(*out)->buf = (unsigned char *)buf;
	(*out)->len = (*out)->cap = len;
	(*out)->eof = 1;
	return PRESTO_OK;
}

static void free_params(presto_param *p, int n)
{
	for (int i = 0; p && i < n; i++) {
		free((char *)p[i].name);
		free((char *)p[i].s);
		free((double *)p[i].a);
	}
	free(p);
}

void presto_stream_reader_close(presto_stream_reader *r)
{
	if (!r)
		return;
	while (r->headers) {
		hdr_node *h = r->headers;
		r->headers = h->next;
		free_params(h->extra, h->h.n_extra);
		free(h->producer);
		free(h->model);
		free(h);
	}
	msgpack_unpacked_destroy(&r->unp);
	if (!r->mem)
		free(r->buf);
	free(r->failmsg);
	free(r->label);
	free(r);
}

void presto_stream_reader_check_finite(presto_stream_reader *r, int on) { r->check_finite = on; }
const presto_stream_header *presto_stream_reader_header(const presto_stream_reader *r)
{
	return r->cur ? &r->cur->h : NULL;
}
int presto_stream_reader_stream_index(const presto_stream_reader *r) { return r->stream_index; }
int presto_stream_reader_streams(const presto_stream_reader *r) { return r->stream_index + 1; }

const presto_stream_header *presto_stream_reader_header_at(const presto_stream_reader *r, int i)
{
	if (i < 0 || i > r->stream_index)
		return NULL;
	const hdr_node *h = r->headers; /* newest first */
	for (int k = r->stream_index; h && k > i; k--)
		h = h->next;
	return h ? &h->h : NULL;
}
uint64_t presto_stream_reader_count(const presto_stream_reader *r) { return r->total; }

/* ---- input ---- */

/* Read more input; `need` is the least number of bytes the scanner wants.
 * Sets *got to the number read (0 at end of input). */
static presto_status fill(presto_stream_reader *r, size_t need, size_t *got)
{
	*got = 0;
	if (r->mem || r->eof)
		return PRESTO_OK;
	if (r->pos && (r->pos == r->len || r->pos >= r->cap / 2)) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->base += r->pos;
		r->len -= r->pos;
		r->pos = 0;
	}
	/* Grow towards `need`, but at most doubling what is really held, so a
	 * corrupt length cannot make us allocate memory the input never fills. */
	size_t step = r->f ? need : need > CHUNK ? need : CHUNK;
	size_t lim = r->len > CHUNK ? r->len : CHUNK;
	if (step > lim)
		step = lim;
	if (r->cap - r->len < step) {
		size_t ncap = r->len + step;
		if (ncap < r->len) /* overflow */
			return fail(r, PRESTO_ENOMEM, "input too large");
		if (ncap < 2 * r->cap && 2 * r->cap <= r->len + lim) /* geometric growth */
			ncap = 2 * r->cap;
		unsigned char *nb = realloc(r->buf, ncap);
		if (!nb)
			return fail(r, PRESTO_ENOMEM, "out of memory (%zu bytes of buffered input)", ncap);
		r->buf = nb;
		r->cap = ncap;
	}
	if (r->f) {
		size_t n = fread(r->buf + r->len, 1, step, r->f);
		if (n < step) {
			if (ferror(r->f))
				return fail(r, PRESTO_EIO, "read error: %s", strerror(errno));
			r->eof = 1;
		}
		*got = n;
	} else {
		ssize_t n;
		do
			n = read(r->fd, r->buf + r->len, r->cap - r->len);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return fail(r, PRESTO_EIO, "read error: %s", strerror(errno));
		if (n == 0)
			r->eof = 1;
		*got = (size_t)n;
	}
	r->len += *got;
	return PRESTO_OK;
}

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static const char *start_hint(const unsigned char *p, size_t n)
{
	if (n >= 4 && !memcmp(p, "RIFF", 4))
		return " (this looks like a WAV file)";
	if (n >= 9 && p[8] == '{' && !p[5] && !p[6] && !p[7])
		return " (this looks like a safetensors file)";
	if (n >= 1 && (p[0] == '{' || p[0] == '['))
		return " (this looks like JSON)";
	return "";
}

/* Advance the scanner over buf[pos + scan, len). Returns 1 when the object
 * at pos is complete (its size is r->scan), 0 when *need more bytes are
 * required, or an error. */
static int scan(presto_stream_reader *r, size_t *need)
{
	const unsigned char *p = r->buf + r->pos;
	size_t avail = r->len - r->pos;
	for (;;) {
		size_t o = r->scan;
		if (o >= avail) {
			*need = o + 1 - avail;
			return 0;
		}
		unsigned c = p[o];
		size_t hdr = 1;
		int lenb = 0;   /* bytes of a length/count field after the type byte */
		int kind = 0;   /* 0 scalar, 1 str, 2 bin, 3 array, 4 map */
		uint64_t count = 0;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
			;
		else if (c <= 0x8f)
			kind = 4, count = c & 0x0f;
		else if (c <= 0x9f)
			kind = 3, count = c & 0x0f;
		else if (c <= 0xbf)
			kind = 1, count = c & 0x1f;
		else if (c >= 0xc4 && c <= 0xc6)
			kind = 2, lenb = 1 << (c - 0xc4);
		else if (c == 0xca || c == 0xce || c == 0xd2)
			hdr = 5;
		else if (c == 0xcb || c == 0xcf || c == 0xd3)
			hdr = 9;
		else if (c == 0xcc || c == 0xd0)
			hdr = 2;
		else if (c == 0xcd || c == 0xd1)
			hdr = 3;
		else if (c >= 0xd9 && c <= 0xdb)
			kind = 1, lenb = 1 << (c - 0xd9);
		else if (c == 0xdc || c == 0xdd)
			kind = 3, lenb = c == 0xdc ? 2 : 4;
		else if (c == 0xde || c == 0xdf)
			kind = 4, lenb = c == 0xde ? 2 : 4;
		else if (c == 0xc1)
			return fail(r, PRESTO_EINVAL, "byte %llu: invalid MessagePack (byte 0xc1)",
				    (unsigned long long)(r->base + r->pos + o)), -1;
		else /* 0xc7-0xc9, 0xd4-0xd8: ext types */
			return fail(r, PRESTO_EINVAL, "byte %llu: MessagePack extension types are not allowed in a stream",
				    (unsigned long long)(r->base + r->pos + o)), -1;
		if (o == 0 && kind != 4) {
			if (r->base + r->pos == 0)
				return fail(r, PRESTO_EINVAL, "not a presto stream: the input does not start with a "
					    "MessagePack map (first byte 0x%02x)%s", c, start_hint(p, avail)), -1;
			return fail(r, PRESTO_EINVAL, "garbage at byte %llu: expected a MessagePack map, found byte 0x%02x",
				    (unsigned long long)(r->base + r->pos), c), -1;
		}
		hdr += (size_t)lenb;
		if (avail - o < hdr) {
			*need = hdr - (avail - o);
			return 0;
		}
		if (lenb)
			count = be(p + o + 1, lenb);
		uint64_t payload = kind == 1 || kind == 2 ? count : 0;
		if (kind == 1 && payload > PRESTO_STREAM_MAX_STRING)
			return fail(r, PRESTO_EINVAL, "byte %llu: string of %llu bytes (at most %u)",
				    (unsigned long long)(r->base + r->pos + o), (unsigned long long)payload,
				    PRESTO_STREAM_MAX_STRING), -1;
		if (payload > avail - o - hdr) {
			uint64_t want = payload - (avail - o - hdr);
			*need = want > SIZE_MAX ? SIZE_MAX : (size_t)want;
			return 0;
		}
		r->scan = o + hdr + (size_t)payload;
		if ((kind == 3 || kind == 4) && count) {
			if (r->depth == PRESTO_STREAM_MAX_DEPTH)
				return fail(r, PRESTO_EINVAL, "byte %llu: MessagePack nesting deeper than %d",
					    (unsigned long long)(r->base + r->pos + o), PRESTO_STREAM_MAX_DEPTH), -1;
			r->left[r->depth++] = kind == 4 ? 2 * count : count;
			continue;
		}
		while (r->depth > 0 && --r->left[r->depth - 1] == 0)
			r->depth--;
		if (r->depth == 0)
			return 1;
	}
}

/* Frame and decode the next top-level object into r->unp.data. PRESTO_EEOF
 * at a clean end of input (no byte of another object). */
static presto_status next_object(presto_stream_reader *r, uint64_t *offset)
{
	r->scan = 0;
	r->depth = 0;
	for (;;) {
		size_t need = 0, got;
		int rc = scan(r, &need);
		if (rc < 0)
			return r->failed;
		if (rc > 0)
			break;
		PRESTO_TRY(fill(r, need, &got));
		if (!got) {
			if (r->len == r->pos)
				return PRESTO_EEOF;
			return fail(r, PRESTO_EINVAL,
				    "truncated stream: ended after %llu record%s without an end record "
				    "(input ends inside a map that starts at byte %llu)",
				    (unsigned long long)r->n_stream, r->n_stream == 1 ? "" : "s",
				    (unsigned long long)(r->base + r->pos));
		}
	}
	*offset = r->base + r->pos;
	size_t off = 0;
	msgpack_unpack_return ur = msgpack_unpack_next(&r->unp, (const char *)r->buf + r->pos, r->scan, &off);
	r->pos += r->scan;
	if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
		return fail(r, PRESTO_ENOMEM, "out of memory decoding the map at byte %llu", (unsigned long long)*offset);
	if (ur != MSGPACK_UNPACK_SUCCESS || off != r->scan || r->unp.data.type != MSGPACK_OBJECT_MAP)
		return fail(r, PRESTO_EINVAL, "byte %llu: invalid MessagePack map", (unsigned long long)*offset);
	return PRESTO_OK;
}

/* ---- decoding helpers (errors are set without the label; callers wrap) ---- */

/* msgpack-c may give an empty string or bin a NULL pointer. */
static int mem_eq(const char *a, const char *b, size_t n) { return !n || !memcmp(a, b, n); }

static int str_is(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && mem_eq(o->via.str.ptr, s, n);
}

static const char *type_name(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return "nil";
	case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER: case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "an integer";
	case MSGPACK_OBJECT_FLOAT32: case MSGPACK_OBJECT_FLOAT64: return "a float";
	case MSGPACK_OBJECT_STR: return "a string";
	case MSGPACK_OBJECT_ARRAY: return "an array";
	case MSGPACK_OBJECT_MAP: return "a map";
	case MSGPACK_OBJECT_BIN: return "binary data";
	default: return "an extension";
	}
}

/* Printable copy of a string object for messages. */
static const char *show(const msgpack_object *o, char *buf, size_t n)
{
	if (o->type != MSGPACK_OBJECT_STR) {
		snprintf(buf, n, "(%s)", type_name(o));
		return buf;
	}
	size_t k = 0;
	for (uint32_t i = 0; i < o->via.str.size && k + 5 < n; i++) {
		unsigned char c = (unsigned char)o->via.str.ptr[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[k++] = (char)c;
		else
			k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
	}
	buf[k] = 0;
	return buf;
}

/* Check that a map has at most max entries, string keys, no key twice. */
static presto_status check_keys(const msgpack_object *map, const char *what, uint32_t max)
{
	const msgpack_object_map *m = &map->via.map;
	if (m->size > max)
		return presto_error_set(PRESTO_EINVAL, "%s has %u entries (at most %u)", what, m->size, max);
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;
		if (k->type != MSGPACK_OBJECT_STR)
			return presto_error_set(PRESTO_EINVAL, "%s has a key that is %s, not a string", what, type_name(k));
		for (uint32_t j = 0; j < i; j++)
			if (k->via.str.size == m->ptr[j].key.via.str.size &&
			    mem_eq(k->via.str.ptr, m->ptr[j].key.via.str.ptr, k->via.str.size)) {
				char b[80];
				return presto_error_set(PRESTO_EINVAL, "%s has key '%s' twice", what, show(k, b, sizeof b));
			}
	}
	return PRESTO_OK;
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (str_is(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

/* NUL-terminated copy; a NUL inside is an error. */
static presto_status dup_str(const msgpack_object *o, const char *what, char **out)
{
	if (o->via.str.size && memchr(o->via.str.ptr, 0, o->via.str.size))
		return presto_error_set(PRESTO_EINVAL, "%s contains a NUL byte", what);
	char *s = presto_malloc((size_t)o->via.str.size + 1);
	if (!s)
		return PRESTO_ENOMEM;
	if (o->via.str.size)
		memcpy(s, o->via.str.ptr, o->via.str.size);
	s[o->via.str.size] = 0;
	*out = s;
	return PRESTO_OK;
}

static int as_double(const msgpack_object *o, double *v)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER: *v = (double)o->via.u64; return 1;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: *v = (double)o->via.i64; return 1;
	case MSGPACK_OBJECT_FLOAT32: case MSGPACK_OBJECT_FLOAT64: *v = o->via.f64; return 1;
	default: return 0;
	}
}

/* A param value (also extra header fields) into *p (name already set). */
static presto_status parse_value(const msgpack_object *o, presto_param *p)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		p->type = PRESTO_PARAM_NIL;
		return PRESTO_OK;
	case MSGPACK_OBJECT_BOOLEAN:
		p->type = PRESTO_PARAM_BOOL;
		p->i = o->via.boolean;
		p->f = (double)p->i;
		return PRESTO_OK;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return presto_error_set(PRESTO_EINVAL, "param '%s': integer %llu out of range", p->name,
						(unsigned long long)o->via.u64);
		/* fallthrough */
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		p->type = PRESTO_PARAM_INT;
		p->i = o->via.i64;
		p->f = (double)p->i;
		return PRESTO_OK;
	case MSGPACK_OBJECT_FLOAT32: case MSGPACK_OBJECT_FLOAT64:
		p->type = PRESTO_PARAM_FLOAT;
		p->f = o->via.f64;
		return PRESTO_OK;
	case MSGPACK_OBJECT_STR: {
		char what[300];
		snprintf(what, sizeof what, "param '%s'", p->name);
		char *s = NULL;
		presto_status rc = dup_str(o, what, &s);
		p->type = PRESTO_PARAM_STRING;
		p->s = s;
		return rc;
	}
	case MSGPACK_OBJECT_ARRAY: {
		uint32_t n = o->via.array.size;
		if (n > PRESTO_STREAM_MAX_ARRAY)
			return presto_error_set(PRESTO_EINVAL, "param '%s': array of %u values (at most %u)", p->name, n,
						PRESTO_STREAM_MAX_ARRAY);
		double *a = presto_malloc(sizeof(double) * (n ? n : 1));
		if (!a)
			return PRESTO_ENOMEM;
		p->type = PRESTO_PARAM_ARRAY;
		p->a = a;
		p->n = n;
		for (uint32_t i = 0; i < n; i++)
			if (!as_double(&o->via.array.ptr[i], &a[i]))
				return presto_error_set(PRESTO_EINVAL,
							"param '%s': array element %u is %s (arrays hold numbers only)",
							p->name, i, type_name(&o->via.array.ptr[i]));
		return PRESTO_OK;
	}
	default:
		return presto_error_set(PRESTO_EINVAL, "param '%s' is %s (allowed: nil, bool, number, string, array of "
				       "numbers)", p->name, type_name(o));
	}
}

/* Map entries except `skip` keys into a param array. */
static presto_status parse_params(const msgpack_object *map, const char *const *skip, const char *what,
				  presto_param **out, int *n_out)
{
	PRESTO_TRY(check_keys(map, what, PRESTO_STREAM_MAX_PARAMS + 8));
	uint32_t n = map->via.map.size;
	presto_param *p = presto_calloc(n ? n : 1, sizeof *p);
	if (!p)
		return PRESTO_ENOMEM;
	int k = 0;
	presto_status rc = PRESTO_OK;
	for (uint32_t i = 0; i < n && !rc; i++) {
		const msgpack_object *key = &map->via.map.ptr[i].key;
		int skipped = 0;
		for (int j = 0; skip && skip[j] && !skipped; j++)
			skipped = str_is(key, skip[j]);
		if (skipped)
			continue;
		if (k == PRESTO_STREAM_MAX_PARAMS) {
			rc = presto_error_set(PRESTO_EINVAL, "%s has more than %d entries", what, PRESTO_STREAM_MAX_PARAMS);
			break;
		}
		char *name = NULL;
		rc = key->via.str.size ? dup_str(key, "a param name", &name)
				       : presto_error_set(PRESTO_EINVAL, "%s has an entry with an empty name", what);
		if (!rc) {
			p[k++].name = name;
			rc = parse_value(&map->via.map.ptr[i].val, &p[k - 1]);
		}
	}
	if (rc) {
		free_params(p, k);
		return rc;
	}
	*out = p;
	*n_out = k;
	return PRESTO_OK;
}

static presto_status opt_str(const msgpack_object *map, const char *key, char **out)
{
	const msgpack_object *o = get(map, key);
	*out = NULL;
	if (!o || o->type == MSGPACK_OBJECT_NIL)
		return PRESTO_OK;
	if (o->type != MSGPACK_OBJECT_STR)
		return presto_error_set(PRESTO_EINVAL, "header field '%s' is %s, expected a string", key, type_name(o));
	return dup_str(o, key, out);
}

/* ---- maps ---- */

static presto_status read_header_map(presto_stream_reader *r, const msgpack_object *m, uint64_t off)
{
	static const char *const fixed[] = {"type", "magic", "version", "kind", "producer", "model", NULL};
	char b[80];
	if (check_keys(m, "header", PRESTO_STREAM_MAX_PARAMS + 8))
		return fail_wrap(r, PRESTO_EINVAL, "");
	const msgpack_object *magic = get(m, "magic"), *ver = get(m, "version"), *kind = get(m, "kind");
	if (!magic || !str_is(magic, PRESTO_STREAM_MAGIC))
		return fail(r, PRESTO_EINVAL, "not a presto stream: header magic is '%s', expected '%s'",
			    magic ? show(magic, b, sizeof b) : "(missing)", PRESTO_STREAM_MAGIC);
	if (!ver || ver->type != MSGPACK_OBJECT_POSITIVE_INTEGER || ver->via.u64 == 0)
		return fail(r, PRESTO_EINVAL, "header has no valid version");
	if (ver->via.u64 > PRESTO_STREAM_VERSION)
		return fail(r, PRESTO_EUNSUP, "stream version %llu is newer than this build reads (version %d)",
			    (unsigned long long)ver->via.u64, PRESTO_STREAM_VERSION);
	presto_stream_kind k;
	char ks[32];
	if (!kind || kind->type != MSGPACK_OBJECT_STR)
		return fail(r, PRESTO_EINVAL, "header has no kind");
	show(kind, ks, sizeof ks);
	if (kind->via.str.size >= sizeof ks || presto_stream_kind_parse(ks, &k))
		return fail(r, PRESTO_EINVAL, "unknown stream kind '%s' (expected cond, latent or audio)",
			    show(kind, b, sizeof b));
	if (r->expect != PRESTO_KIND_ANY && k != r->expect)
		return fail(r, PRESTO_EINVAL, "stream kind is '%s', expected '%s'%s", ks,
			    presto_stream_kind_name(r->expect), r->stream_index >= 0 ? " (in a later stream)" : "");
	hdr_node *h = presto_calloc(1, sizeof *h);
	if (!h)
		return fail_wrap(r, PRESTO_ENOMEM, "");
	h->next = r->headers;
	r->headers = h;
	presto_status rc = opt_str(m, "producer", &h->producer);
	rc = rc ? rc : opt_str(m, "model", &h->model);
	rc = rc ? rc : parse_params(m, fixed, "header", &h->extra, &h->h.n_extra);
	if (rc)
		return fail_wrap(r, rc, "header: ");
	h->h.kind = k;
	h->h.version = (int)ver->via.u64;
	h->h.producer = h->producer;
	h->h.model = h->model;
	h->h.extra = h->extra;
	r->cur = h;
	r->state = S_IN;
	r->n_stream = 0;
	r->stream_index++;
	(void)off;
	return PRESTO_OK;
}

/* One tensor entry {"dtype", "shape", "data"} into rec slot i. */
static presto_status parse_tensor(const presto_stream_reader *r, const msgpack_object *v, const char *name,
				  presto_tensor *t)
{
	if (v->type != MSGPACK_OBJECT_MAP)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s' is %s, expected a map", name, type_name(v));
	char what[300], b[80];
	snprintf(what, sizeof what, "tensor '%s'", name);
	PRESTO_TRY(check_keys(v, what, 16));
	const msgpack_object *dt = get(v, "dtype"), *sh = get(v, "shape"), *data = get(v, "data");
	if (!dt || dt->type != MSGPACK_OBJECT_STR)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s' has no dtype", name);
	char ds[16];
	show(dt, ds, sizeof ds);
	if (dt->via.str.size >= sizeof ds || presto_stream_dtype_parse(ds, &t->dtype))
		return presto_error_set(PRESTO_EINVAL,
					"tensor '%s': unknown dtype '%s' (expected f32, f16, bf16, f64, i64 or i32)", name,
					show(dt, b, sizeof b));
	if (!sh || sh->type != MSGPACK_OBJECT_ARRAY)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s' has no shape array", name);
	if (sh->via.array.size > PRESTO_MAX_DIMS)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s': %u dimensions (at most %d)", name,
					sh->via.array.size, PRESTO_MAX_DIMS);
	t->ndim = (int)sh->via.array.size;
	for (int i = 0; i < t->ndim; i++) {
		const msgpack_object *d = &sh->via.array.ptr[i];
		if (d->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			return presto_error_set(PRESTO_EINVAL, "tensor '%s': negative dimension %lld in its shape", name,
						(long long)d->via.i64);
		if (d->type != MSGPACK_OBJECT_POSITIVE_INTEGER || d->via.u64 > INT64_MAX)
			return presto_error_set(PRESTO_EINVAL, "tensor '%s': shape entry %d is %s, expected a size", name,
						i, type_name(d));
		t->shape[i] = (int64_t)d->via.u64;
	}
	if (!data || data->type != MSGPACK_OBJECT_BIN)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s' has no binary data", name);
	/* Size checks before any allocation: the claimed shape must fit in the
	 * limit and match the bytes actually present. */
	size_t numel, bytes;
	char shs[160];
	if (!presto_numel(t->shape, t->ndim, &numel) || !presto_mul_size(numel, presto_dtype_size(t->dtype), &bytes) ||
	    bytes > PRESTO_STREAM_MAX_TENSOR_BYTES)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s': shape %s is over the 4 GiB tensor limit", name,
					presto_shape_str(t->shape, t->ndim, shs, sizeof shs));
	if (bytes != data->via.bin.size)
		return presto_error_set(PRESTO_EINVAL, "tensor '%s': shape %s %s needs %zu bytes of data, found %u", name,
					presto_shape_str(t->shape, t->ndim, shs, sizeof shs), ds, bytes,
					data->via.bin.size);
	void *mem = NULL;
	if (posix_memalign(&mem, 16, bytes ? bytes : 1))
		return presto_error_set(PRESTO_ENOMEM, "out of memory (%zu bytes for tensor '%s')", bytes, name);
	if (bytes)
		memcpy(mem, data->via.bin.ptr, bytes);
	t->data = mem;
	t->nbytes = bytes;
	t->owned = 1;
	return presto_stream_check_tensor(name, t, r->check_finite);
}

/* The record map (its id is already in rec->id). */
static presto_status parse_record(presto_stream_reader *r, const msgpack_object *m, presto_record *rec)
{
	static const char *const none[] = {NULL};
	PRESTO_TRY(check_keys(m, "the record map", 64));
	const msgpack_object *params = get(m, "params"), *tensors = get(m, "tensors");
	if (params && params->type != MSGPACK_OBJECT_NIL) {
		if (params->type != MSGPACK_OBJECT_MAP)
			return presto_error_set(PRESTO_EINVAL, "params is %s, expected a map", type_name(params));
		PRESTO_TRY(parse_params(params, none, "params", &rec->params, &rec->n_params));
	}
	if (!tensors || tensors->type == MSGPACK_OBJECT_NIL)
		return PRESTO_OK;
	if (tensors->type != MSGPACK_OBJECT_MAP)
		return presto_error_set(PRESTO_EINVAL, "tensors is %s, expected a map", type_name(tensors));
	uint32_t n = tensors->via.map.size;
	if (n > PRESTO_STREAM_MAX_TENSORS)
		return presto_error_set(PRESTO_EINVAL, "%u tensors (at most %d)", n, PRESTO_STREAM_MAX_TENSORS);
	PRESTO_TRY(check_keys(tensors, "tensors", PRESTO_STREAM_MAX_TENSORS));
	rec->tensor_names = presto_calloc(n ? n : 1, sizeof *rec->tensor_names);
	rec->tensors = presto_calloc(n ? n : 1, sizeof *rec->tensors);
	if (!rec->tensor_names || !rec->tensors)
		return PRESTO_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object_kv *kv = &tensors->via.map.ptr[i];
		if (!kv->key.via.str.size)
			return presto_error_set(PRESTO_EINVAL, "a tensor has an empty name");
		rec->n_tensors++;
		PRESTO_TRY(dup_str(&kv->key, "a tensor name", &rec->tensor_names[i]));
		PRESTO_TRY(parse_tensor(r, &kv->val, rec->tensor_names[i], &rec->tensors[i]));
	}
	return PRESTO_OK;
}

/* ---- the state machine ---- */

/* Read objects until a record (OK), the clean end (EEOF), an error, or -
 * with stop_at_header - the first header. */
static presto_status advance(presto_stream_reader *r, presto_record *rec, int stop_at_header)
{
	if (r->failed) {
		presto_error_set(r->failed, "%s", r->failmsg ? r->failmsg : "stream reader failed earlier");
		return r->failed;
	}
	for (;;) {
		uint64_t off = 0;
		presto_status rc = next_object(r, &off);
		if (rc == PRESTO_EEOF) {
			if (r->state == S_AFTER_END)
				return presto_error_set(PRESTO_EEOF, "%s: end of input", r->label);
			if (r->state == S_START)
				return fail(r, PRESTO_EINVAL, "empty input: no presto stream (did the producing command fail?)");
			return fail(r, PRESTO_EINVAL, "truncated stream: ended after %llu record%s without an end record",
				    (unsigned long long)r->n_stream, r->n_stream == 1 ? "" : "s");
		}
		if (rc)
			return rc;
		const msgpack_object *m = &r->unp.data, *type = get(m, "type");
		char b[80];
		if (m->via.map.size > PRESTO_STREAM_MAX_PARAMS + 8)
			return fail(r, PRESTO_EINVAL, "byte %llu: a map with %u entries is not a presto stream map",
				    (unsigned long long)off, m->via.map.size);
		if (type && str_is(type, "header")) {
			if (r->state == S_IN)
				return fail(r, PRESTO_EINVAL,
					    "byte %llu: a new header after %llu records (the stream before it has no end "
					    "record)", (unsigned long long)off, (unsigned long long)r->n_stream);
			PRESTO_TRY(read_header_map(r, m, off));
			if (stop_at_header)
				return PRESTO_OK;
		} else if (type && str_is(type, "record")) {
			if (r->state != S_IN)
				return fail(r, PRESTO_EINVAL, "byte %llu: %s", (unsigned long long)off,
					    r->state == S_START ? "not a presto stream: a record map before any header"
								: "a record after the end record");
			const msgpack_object *id = get(m, "id");
			if (!id || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				return fail(r, PRESTO_EINVAL, "byte %llu: the record map after %llu records has no valid id",
					    (unsigned long long)off, (unsigned long long)r->n_stream);
			memset(rec, 0, sizeof *rec);
			rec->id = id->via.u64;
			rc = parse_record(r, m, rec);
			if (rc) {
				char pre[64];
				snprintf(pre, sizeof pre, "record %llu: ", (unsigned long long)rec->id);
				presto_record_free(rec);
				return fail_wrap(r, rc, pre);
			}
			r->n_stream++;
			r->total++;
			return PRESTO_OK;
		} else if (type && str_is(type, "end")) {
			const msgpack_object *count = get(m, "count");
			if (r->state != S_IN)
				return fail(r, PRESTO_EINVAL, "byte %llu: an end map without a header",
					    (unsigned long long)off);
			if (!count || count->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				return fail(r, PRESTO_EINVAL, "end record without a valid count");
			if (count->via.u64 != r->n_stream)
				return fail(r, PRESTO_EINVAL, "end record says %llu records but the stream has %llu",
					    (unsigned long long)count->via.u64, (unsigned long long)r->n_stream);
			r->state = S_AFTER_END;
		} else {
			return fail(r, PRESTO_EINVAL, "byte %llu: %s map type '%s' (expected header, record or end)",
				    (unsigned long long)off, type ? "unknown" : "missing",
				    type ? show(type, b, sizeof b) : "");
		}
	}
}

presto_status presto_stream_read_header(presto_stream_reader *r, const presto_stream_header **h)
{
	if (r->state == S_START) {
		presto_record dummy; /* unused: before a header a record is an error */
		PRESTO_TRY(advance(r, &dummy, 1));
	} else if (r->failed) {
		presto_error_set(r->failed, "%s", r->failmsg ? r->failmsg : "stream reader failed earlier");
		return r->failed;
	}
	if (h)
		*h = presto_stream_reader_header(r);
	return PRESTO_OK;
}

presto_status presto_stream_next(presto_stream_reader *r, presto_record *rec)
{
	memset(rec, 0, sizeof *rec);
	return advance(r, rec, 0);
}

/* safetensors.c - memory-mapped safetensors reader and atomic writer. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER (256u << 20)

typedef struct {
	char *name;
	presto_tensor t;
	float *f32; /* converted copy, owned */
} st_entry;

struct presto_st {
	char *path;
	void *map;
	size_t map_len;
	const unsigned char *data; /* start of the data section */
	size_t data_len;
	st_entry *e;
	int n;
	json_t *meta;
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static presto_status parse(presto_st *st, const unsigned char *buf, size_t len)
{
	if (len < 8)
		return presto_error_set(PRESTO_EINVAL, "%s: not a safetensors file (%zu bytes, too short)", st->path, len);
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = (hlen << 8) | buf[i];
	if (hlen < 2 || hlen > ST_MAX_HEADER || hlen > len - 8)
		return presto_error_set(PRESTO_EINVAL, "%s: not a safetensors file (header length %llu, file %zu bytes)",
					st->path, (unsigned long long)hlen, len);
	json_error_t jerr;
	json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return presto_error_set(PRESTO_EINVAL, "%s: bad safetensors header: %s (column %d)", st->path, jerr.text, jerr.column);
	if (!json_is_object(root)) {
		json_decref(root);
		return presto_error_set(PRESTO_EINVAL, "%s: bad safetensors header: not a JSON object", st->path);
	}
	st->data = buf + 8 + hlen;
	st->data_len = len - 8 - (size_t)hlen;
	size_t cap = json_object_size(root);
	st->e = presto_calloc(cap ? cap : 1, sizeof *st->e);
	if (!st->e) {
		json_decref(root);
		return PRESTO_ENOMEM;
	}
	const char *key;
	json_t *val;
	presto_status rc = PRESTO_OK;
	json_object_foreach(root, key, val) {
		if (!strcmp(key, "__metadata__")) {
			if (!json_is_object(val)) {
				rc = presto_error_set(PRESTO_EINVAL, "%s: __metadata__ is not an object", st->path);
				break;
			}
			st->meta = json_incref(val);
			continue;
		}
		json_t *jd = json_object_get(val, "dtype"), *js = json_object_get(val, "shape"),
		       *jo = json_object_get(val, "data_offsets");
		presto_dtype dt;
		if (!json_is_string(jd) || presto_dtype_parse(json_string_value(jd), &dt)) {
			rc = presto_error_set(PRESTO_EINVAL, "%s: tensor '%s': missing or unknown dtype", st->path, key);
			break;
		}
		if (!json_is_array(js) || json_array_size(js) > PRESTO_MAX_DIMS) {
			rc = presto_error_set(PRESTO_EINVAL, "%s: tensor '%s': bad shape", st->path, key);
			break;
		}
		if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
		    !json_is_integer(json_array_get(jo, 1))) {
			rc = presto_error_set(PRESTO_EINVAL, "%s: tensor '%s': bad data_offsets", st->path, key);
			break;
		}
		st_entry *e = &st->e[st->n];
		e->t.dtype = dt;
		e->t.ndim = (int)json_array_size(js);
		for (int i = 0; i < e->t.ndim; i++) {
			json_t *d = json_array_get(js, (size_t)i);
			if (!json_is_integer(d) || json_integer_value(d) < 0) {
				rc = presto_error_set(PRESTO_EINVAL, "%s: tensor '%s': bad shape", st->path, key);
				break;
			}
			e->t.shape[i] = json_integer_value(d);
		}
		if (rc)
			break;
		json_int_t b = json_integer_value(json_array_get(jo, 0)), en = json_integer_value(json_array_get(jo, 1));
		size_t numel, bytes;
		if (!presto_numel(e->t.shape, e->t.ndim, &numel) ||
		    !presto_mul_size(numel, presto_dtype_size(dt), &bytes)) {
			rc = presto_error_set(PRESTO_EINVAL, "%s: tensor '%s': shape overflows", st->path, key);
			break;
		}
		if (b < 0 || en < b || (uint64_t)en > st->data_len || (uint64_t)(en - b) != bytes) {
			rc = presto_error_set(PRESTO_EINVAL,
					      "%s: tensor '%s': data_offsets [%lld, %lld] do not fit its %zu bytes in a "
					      "%zu-byte data section (truncated file?)",
					      st->path, key, (long long)b, (long long)en, bytes, st->data_len);
			break;
		}
		e->t.data = (void *)(st->data + b);
		e->t.nbytes = bytes;
		e->name = strdup(key);
		if (!e->name) {
			rc = presto_error_set(PRESTO_ENOMEM, "out of memory");
			break;
		}
		st->n++;
	}
	json_decref(root);
	if (!rc)
		qsort(st->e, (size_t)st->n, sizeof *st->e, cmp_entry);
	return rc;
}

static presto_st *st_new(const char *label)
{
	presto_st *st = presto_calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->path = strdup(label ? label : "(buffer)");
	if (!st->path) {
		free(st);
		presto_error_set(PRESTO_ENOMEM, "out of memory");
		return NULL;
	}
	return st;
}

presto_status presto_st_open_buffer(const void *buf, size_t len, const char *label, presto_st **out)
{
	presto_st *st = st_new(label);
	if (!st)
		return PRESTO_ENOMEM;
	presto_status rc = parse(st, buf, len);
	if (rc) {
		presto_st_close(st);
		return rc;
	}
	*out = st;
	return PRESTO_OK;
}

presto_status presto_st_open(const char *path, presto_st **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return presto_error_set(PRESTO_EIO, "%s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return presto_error_set(PRESTO_EIO, "%s: not a regular file", path);
	}
	presto_st *st = st_new(path);
	if (!st) {
		close(fd);
		return PRESTO_ENOMEM;
	}
	st->map_len = (size_t)sb.st_size;
	if (st->map_len) {
		st->map = mmap(NULL, st->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (st->map == MAP_FAILED) {
			st->map = NULL;
			close(fd);
			presto_st_close(st);
			return presto_error_set(PRESTO_EIO, "%s: mmap: %s", path, strerror(errno));
		}
	}
	close(fd);
	presto_status rc = parse(st, st->map, st->map_len);
	if (rc) {
		presto_st_close(st);
		return rc;
	}
	*out = st;
	return PRESTO_OK;
}

void presto_st_close(presto_st *st)
{
	if (!st)
		return;
	for (int i = 0; i < st->n; i++) {
		free(st->e[i].name);
		free(st->e[i].f32);
	}
	free(st->e);
	if (st->map)
		munmap(st->map, st->map_len);
	json_decref(st->meta);
	free(st->path);
	free(st);
}

const char *presto_st_path(const presto_st *st) { return st->path; }
int presto_st_count(const presto_st *st) { return st->n; }
const char *presto_st_name(const presto_st *st, int i) { return i >= 0 && i < st->n ? st->e[i].name : NULL; }

static st_entry *find(const presto_st *st, const char *name)
{
	st_entry key = {.name = (char *)name};
	return bsearch(&key, st->e, (size_t)st->n, sizeof *st->e, cmp_entry);
}

const presto_tensor *presto_st_get(const presto_st *st, const char *name)
{
	st_entry *e = find(st, name);
	return e ? &e->t : NULL;
}

const char *presto_st_metadata(const presto_st *st, const char *key)
{
	return st->meta ? json_string_value(json_object_get(st->meta, key)) : NULL;
}

presto_status presto_st_f32(presto_st *st, const char *name, int ndim, const int64_t *shape, const float **out)
{
	st_entry *e = find(st, name);
	char want[128], got[128];
	if (!e)
		return presto_error_set(PRESTO_EINVAL, "%s: missing tensor '%s'", st->path, name);
	if (!presto_shape_eq(&e->t, ndim, shape))
		return presto_error_set(PRESTO_EINVAL, "%s: tensor '%s' has shape %s, expected %s", st->path, name,
					presto_shape_str(e->t.shape, e->t.ndim, got, sizeof got),
					presto_shape_str(shape, ndim, want, sizeof want));
	if (!presto_dtype_is_float(e->t.dtype))
		return presto_error_set(PRESTO_EINVAL, "%s: tensor '%s' has dtype %s, expected a float type", st->path,
					name, presto_dtype_name(e->t.dtype));
	if (e->t.dtype == PRESTO_F32 && ((uintptr_t)e->t.data % sizeof(float)) == 0) {
		*out = e->t.data;
		return PRESTO_OK;
	}
	if (!e->f32)
		PRESTO_TRY(presto_tensor_to_f32(&e->t, &e->f32));
	*out = e->f32;
	return PRESTO_OK;
}

presto_status presto_st_f32f(presto_st *st, const float **out, int ndim, const int64_t *shape, const char *fmt, ...)
{
	char name[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	return presto_st_f32(st, name, ndim, shape, out);
}

presto_status presto_st_write(const char *path, int n, const char *const *names, const presto_tensor *tensors,
			      int n_meta, const char *const *meta_kv)
{
	json_t *hdr = json_object();
	if (!hdr)
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	if (n_meta > 0) {
		json_t *m = json_object();
		for (int i = 0; i < n_meta; i++)
			json_object_set_new(m, meta_kv[2 * i], json_string(meta_kv[2 * i + 1]));
		json_object_set_new(hdr, "__metadata__", m);
	}
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		if (json_object_get(hdr, names[i])) {
			json_decref(hdr);
			return presto_error_set(PRESTO_EINVAL, "%s: duplicate tensor name '%s'", path, names[i]);
		}
		json_t *e = json_object(), *shape = json_array();
		for (int d = 0; d < tensors[i].ndim; d++)
			json_array_append_new(shape, json_integer(tensors[i].shape[d]));
		json_object_set_new(e, "dtype", json_string(presto_dtype_name(tensors[i].dtype)));
		json_object_set_new(e, "shape", shape);
		json_t *offs = json_array();
		json_array_append_new(offs, json_integer((json_int_t)off));
		json_array_append_new(offs, json_integer((json_int_t)(off + tensors[i].nbytes)));
		json_object_set_new(e, "data_offsets", offs);
		json_object_set_new(hdr, names[i], e);
		off += tensors[i].nbytes;
	}
	char *text = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(hdr);
	if (!text)
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	size_t tlen = strlen(text), padded = (tlen + 7) & ~(size_t)7;

	size_t plen = strlen(path);
	char *tmp = presto_malloc(plen + 16);
	if (!tmp) {
		free(text);
		return PRESTO_ENOMEM;
	}
	snprintf(tmp, plen + 16, "%s.tmp%06d", path, (int)(getpid() % 1000000));
	FILE *f = fopen(tmp, "wb");
	if (!f) {
		presto_status rc = presto_error_set(PRESTO_EIO, "%s: %s", tmp, strerror(errno));
		free(text);
		free(tmp);
		return rc;
	}
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)(((uint64_t)padded >> (8 * i)) & 0xff);
	int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(text, 1, tlen, f) == tlen;
	for (size_t i = tlen; ok && i < padded; i++)
		ok = fputc(' ', f) != EOF;
	for (int i = 0; ok && i < n; i++)
		ok = fwrite(tensors[i].data, 1, tensors[i].nbytes, f) == tensors[i].nbytes;
	free(text);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		presto_status rc = presto_error_set(PRESTO_EIO, "%s: write failed: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return rc;
	}
	free(tmp);
	return PRESTO_OK;
}

/* ---- tensor lists ---- */

void presto_st_list_free(presto_st_list *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->names[i]);
		presto_tensor_free(&l->t[i]);
	}
	free(l->names);
	free(l->t);
	memset(l, 0, sizeof *l);
}

presto_status presto_st_list_push(presto_st_list *l, const char *prefix, const char *name, presto_tensor t)
{
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 64;
		char **nn = realloc(l->names, sizeof *nn * (size_t)cap);
		if (nn)
			l->names = nn;
		presto_tensor *nt = nn ? realloc(l->t, sizeof *nt * (size_t)cap) : NULL;
		if (!nt) {
			presto_tensor_free(&t);
			return presto_error_set(PRESTO_ENOMEM, "out of memory");
		}
		l->t = nt;
		l->cap = cap;
	}
	size_t len = strlen(prefix) + strlen(name) + 1;
	char *full = malloc(len);
	if (!full) {
		presto_tensor_free(&t);
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	}
	snprintf(full, len, "%s%s", prefix, name);
	l->names[l->n] = full;
	l->t[l->n++] = t;
	l->bytes += t.nbytes;
	return PRESTO_OK;
}

presto_status presto_st_list_add_f32(presto_st_list *l, const char *prefix, const char *name, int ndim,
				     const int64_t *shape, const float *src, presto_dtype dtype)
{
	presto_tensor t;
	PRESTO_TRY(presto_tensor_alloc(&t, dtype, ndim, shape));
	size_t n = presto_tensor_numel(&t);
	presto_status st = PRESTO_OK;
	for (size_t i = 0; dtype == PRESTO_F16 && i < n; i++)
		if (isfinite(src[i]) && fabsf(src[i]) >= 65520.0f) {
			st = presto_error_set(PRESTO_EINVAL,
					      "tensor '%s%s' holds %g, beyond the f16 range: use bf16 or f32", prefix,
					      name, src[i]);
			break;
		}
	if (!st)
		st = presto_f32_convert(t.data, dtype, src, n);
	if (st) {
		presto_tensor_free(&t);
		return st;
	}
	return presto_st_list_push(l, prefix, name, t);
}

presto_status presto_st_list_write(const presto_st_list *l, const char *path, int n_meta, const char *const *meta_kv)
{
	return presto_st_write(path, l->n, (const char *const *)l->names, l->t, n_meta, meta_kv);
}

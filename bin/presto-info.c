/* presto-info - describe a presto stream, a safetensors file or a model
 * directory: header, records, params, tensors with statistics; optionally
 * draw one tensor as a PNG. The report is built in memory and printed only
 * when the whole input was valid, so a failure leaves stdout empty. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accel.h"
#include "common.h"
#include "device.h"
#include "image.h"
#include "safetensors.h"
#include "stream.h"

enum {
	OPT_JSON = 256, OPT_PNG, OPT_RECORD, OPT_TENSOR, OPT_COLORMAP, OPT_SCALE, OPT_KIND, OPT_STATS,
	OPT_NONFINITE, OPT_DEVICES,
};

static const presto_cli_option options[] = {
	{"json", OPT_JSON, NULL, "print one JSON document instead of text"},
	{"devices", OPT_DEVICES, NULL, "list the CUDA devices this machine has (no FILE)"},
	{"kind", OPT_KIND, "KIND", "fail unless the stream is of KIND (cond, latent, audio)"},
	{"allow-nonfinite", OPT_NONFINITE, NULL, "accept NaN/Inf in stream tensors (they are counted)"},
	{"stats", OPT_STATS, NULL, "safetensors files and models: add tensor statistics"},
	{"png", OPT_PNG, "FILE", "draw one tensor of a stream as a PNG image"},
	{"record", OPT_RECORD, "ID", "with --png: the record with this id (default: the first)"},
	{"tensor", OPT_TENSOR, "NAME", "with --png: the tensor (default: latent, else the first)"},
	{"colormap", OPT_COLORMAP, "NAME", "with --png: viridis (default) or gray"},
	{"scale", OPT_SCALE, "N", "with --png: pixels per value, 1 to 64 (default: automatic)"},
	{0},
};

static const presto_cli_spec spec = {
	"presto-info",
	"[OPTION]... [FILE|MODEL_DIR]",
	"Describe a presto stream (default: stdin), a .safetensors file or a model directory;\n"
	"or list the CUDA devices (--devices).",
	options,
	"Streams are checked completely (see presto-stream(5)); the report is printed\n"
	"only if the input is valid. Exit status: 0 ok, 1 usage error, 2 invalid input.\n",
};

typedef struct {
	int json, stats, allow_nonfinite, devices;
	presto_stream_kind kind;
	const char *png, *tensor, *colormap;
	long long record, scale; /* -1: not given */
} opts_t;

/* ---- statistics ---- */

typedef struct {
	size_t n, nan, inf;
	double min, max, mean, m2; /* over finite values (Welford) */
} stats_t;

static double elem(const presto_tensor *t, size_t i)
{
	const unsigned char *p = t->data;
	switch (t->dtype) {
	case PRESTO_F32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
	case PRESTO_F64: { double v; memcpy(&v, p + 8 * i, 8); return v; }
	case PRESTO_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return presto_half_to_float(v); }
	case PRESTO_BF16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return presto_bf16_to_float(v); }
	case PRESTO_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
	case PRESTO_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
	case PRESTO_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
	case PRESTO_I8: return (int8_t)p[i];
	default: return p[i];
	}
}

static stats_t tensor_stats(const presto_tensor *t)
{
	stats_t s = {0, 0, 0, NAN, NAN, 0, 0};
	size_t n = presto_tensor_numel(t);
	for (size_t i = 0; i < n; i++) {
		double v = elem(t, i);
		if (isnan(v)) {
			s.nan++;
			continue;
		}
		if (isinf(v)) {
			s.inf++;
			continue;
		}
		if (!s.n || v < s.min)
			s.min = v;
		if (!s.n || v > s.max)
			s.max = v;
		s.n++;
		double d = v - s.mean;
		s.mean += d / (double)s.n;
		s.m2 += d * (v - s.mean);
	}
	return s;
}

static double stats_std(const stats_t *s) { return s->n ? sqrt(s->m2 / (double)s->n) : NAN; }

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* A JSON string; bytes that are not valid UTF-8 become '?'. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	char *c = strdup(s);
	if (!c)
		return json_null();
	for (char *p = c; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(c);
	free(c);
	return j ? j : json_null();
}

static void jset(json_t *o, const char *key, json_t *v)
{
	if (json_object_set_new(o, key, v) == 0)
		return;
	json_t *k = jstr(key);
	json_object_set_new(o, json_is_string(k) ? json_string_value(k) : "?", v);
	json_decref(k);
}

static json_t *jshape(const presto_tensor *t)
{
	json_t *a = json_array();
	for (int i = 0; i < t->ndim; i++)
		json_array_append_new(a, json_integer(t->shape[i]));
	return a;
}

/* {"dtype", "shape", stats...} */
static json_t *tensor_json(const char *name, const presto_tensor *t, const char *dtype, int with_stats)
{
	json_t *o = json_object();
	if (name)
		json_object_set_new(o, "name", jstr(name));
	json_object_set_new(o, "dtype", json_string(dtype));
	json_object_set_new(o, "shape", jshape(t));
	if (with_stats) {
		stats_t s = tensor_stats(t);
		json_object_set_new(o, "min", jnum(s.n ? s.min : NAN));
		json_object_set_new(o, "max", jnum(s.n ? s.max : NAN));
		json_object_set_new(o, "mean", jnum(s.n ? s.mean : NAN));
		json_object_set_new(o, "std", jnum(stats_std(&s)));
		json_object_set_new(o, "nan", json_integer((json_int_t)s.nan));
		json_object_set_new(o, "inf", json_integer((json_int_t)s.inf));
	}
	return o;
}

static void print_tensor(FILE *out, const char *indent, const char *name, const presto_tensor *t, const char *dtype,
			 int with_stats)
{
	char sh[200];
	fprintf(out, "%s%s: %s %s", indent, name, dtype, presto_shape_str(t->shape, t->ndim, sh, sizeof sh));
	if (with_stats) {
		stats_t s = tensor_stats(t);
		if (s.n)
			fprintf(out, " min=%.6g max=%.6g mean=%.6g std=%.6g", s.min, s.max, s.mean, stats_std(&s));
		else
			fprintf(out, " min=- max=- mean=- std=-");
		fprintf(out, " nan=%zu inf=%zu", s.nan, s.inf);
	}
	fputc('\n', out);
}

/* ---- params ---- */

static void print_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void print_param(FILE *out, const char *indent, const presto_param *p)
{
	fprintf(out, "%s%s: ", indent, p->name);
	switch (p->type) {
	case PRESTO_PARAM_NIL: fputs("nil", out); break;
	case PRESTO_PARAM_BOOL: fputs(p->i ? "true" : "false", out); break;
	case PRESTO_PARAM_INT: fprintf(out, "%lld", (long long)p->i); break;
	case PRESTO_PARAM_FLOAT: fprintf(out, "%.9g", p->f); break;
	case PRESTO_PARAM_STRING: print_string(out, p->s); break;
	case PRESTO_PARAM_ARRAY:
		fputc('[', out);
		for (size_t i = 0; i < p->n && i < 16; i++)
			fprintf(out, "%s%.9g", i ? ", " : "", p->a[i]);
		if (p->n > 16)
			fprintf(out, ", ... (%zu values)", p->n);
		fputc(']', out);
		break;
	}
	fputc('\n', out);
}

static json_t *param_json(const presto_param *p)
{
	switch (p->type) {
	case PRESTO_PARAM_BOOL: return json_boolean(p->i);
	case PRESTO_PARAM_INT: return json_integer((json_int_t)p->i);
	case PRESTO_PARAM_FLOAT: return jnum(p->f);
	case PRESTO_PARAM_STRING: return jstr(p->s);
	case PRESTO_PARAM_ARRAY: {
		json_t *a = json_array();
		for (size_t i = 0; i < p->n; i++)
			json_array_append_new(a, jnum(p->a[i]));
		return a;
	}
	default: return json_null();
	}
}

static json_t *params_json(const presto_param *p, int n)
{
	json_t *o = json_object();
	for (int i = 0; i < n; i++)
		jset(o, p[i].name, param_json(&p[i]));
	return o;
}

/* ---- PNG ---- */

typedef struct {
	int have;
	float *data;
	int ndim;
	int64_t shape[PRESTO_MAX_DIMS];
	uint64_t id;
	char name[256];
} capture_t;

static void colour(const char *map, double t, png_byte *px)
{
	presto_colormap_rgb(strcmp(map, "gray") ? PRESTO_COLORMAP_VIRIDIS : PRESTO_COLORMAP_GRAY, t, px);
}

/* W x H RGB image of the w-column cell grid, each cell s x sy pixels. */
typedef struct {
	const float *cell;
	int64_t w, s, sy;
	double lo, hi;
	const char *map;
} png_cells;

static void png_row(void *ctx, int64_t y, uint8_t *row)
{
	const png_cells *p = ctx;
	for (int64_t x = 0; x < p->w * p->s; x++) {
		float v = p->cell[(y / p->sy) * p->w + x / p->s];
		double t = isfinite(v) ? (p->hi > p->lo ? (v - p->lo) / (p->hi - p->lo) : 0.5) : NAN;
		colour(p->map, t, row + 3 * x);
	}
}

static int encode_png(FILE *f, const float *cell, int64_t w, int64_t s, int64_t sy, int64_t W, int64_t H, double lo,
		      double hi, const char *map)
{
	png_cells p = {cell, w, s, sy, lo, hi, map};
	return presto_png_write_rgb(f, "--png", W, H, png_row, &p) ? -1 : 0;
}

/* Rows are all leading dims flattened (channels), columns the last (frames);
 * more than 4096 columns or 2048 rows are averaged in bins. */
static presto_status write_png(const opts_t *o, const capture_t *cap, FILE *report, json_t *jroot)
{
	int64_t cols = cap->ndim ? cap->shape[cap->ndim - 1] : 1, rows = 1;
	for (int i = 0; i + 1 < cap->ndim; i++)
		rows *= cap->shape[i];
	if (!rows || !cols)
		return presto_error_set(PRESTO_EINVAL, "--png: tensor '%s' of record %llu is empty", cap->name,
					(unsigned long long)cap->id);
	int64_t bx = (cols + 4095) / 4096, by = (rows + 2047) / 2048;
	int64_t w = (cols + bx - 1) / bx, h = (rows + by - 1) / by;
	float *cell = presto_falloc((size_t)(w * h));
	if (!cell)
		return PRESTO_ENOMEM;
	double lo = INFINITY, hi = -INFINITY;
	for (int64_t y = 0; y < h; y++)
		for (int64_t x = 0; x < w; x++) {
			double sum = 0;
			long k = 0;
			for (int64_t r = y * by; r < (y + 1) * by && r < rows; r++)
				for (int64_t c = x * bx; c < (x + 1) * bx && c < cols; c++) {
					float v = cap->data[r * cols + c];
					if (isfinite(v))
						sum += v, k++;
				}
			float v = k ? (float)(sum / k) : NAN;
			cell[y * w + x] = v;
			if (k) {
				lo = fmin(lo, v);
				hi = fmax(hi, v);
			}
		}
	int64_t s = o->scale > 0 ? o->scale : 1024 / (w > h ? w : h);
	s = s < 1 ? 1 : s > 16 && o->scale <= 0 ? 16 : s;
	int64_t sy = s;
	if (o->scale <= 0 && h * sy < 64)
		sy = (64 + h - 1) / h > 64 ? 64 : (64 + h - 1) / h;
	int64_t W = w * s, H = h * sy;
	presto_output out;
	presto_status st = presto_output_open(&out, o->png, 1);
	if (st) {
		free(cell);
		return st;
	}
	int bad = encode_png(out.f, cell, w, s, sy, W, H, lo, hi, o->colormap);
	free(cell);
	if (bad) {
		presto_output_abort(&out);
		return presto_error_set(PRESTO_EIO, "cannot write PNG '%s'", o->png);
	}
	PRESTO_TRY(presto_output_commit(&out));
	if (jroot) {
		json_t *j = json_object();
		json_object_set_new(j, "file", jstr(o->png));
		json_object_set_new(j, "record", json_integer((json_int_t)cap->id));
		json_object_set_new(j, "tensor", jstr(cap->name));
		json_object_set_new(j, "width", json_integer(W));
		json_object_set_new(j, "height", json_integer(H));
		json_object_set_new(j, "min", jnum(lo));
		json_object_set_new(j, "max", jnum(hi));
		json_object_set_new(jroot, "png", j);
	} else {
		fprintf(report, "png: %s (%lldx%lld, tensor '%s' of record %llu, %lld rows x %lld columns, "
				"values %.6g to %.6g)\n",
			o->png, (long long)W, (long long)H, cap->name, (unsigned long long)cap->id, (long long)rows,
			(long long)cols, lo, hi);
	}
	return PRESTO_OK;
}

/* Keep an fp32 copy of the tensor --png wants, from the first matching record. */
static presto_status maybe_capture(const opts_t *o, const presto_record *rec, capture_t *cap)
{
	if (!o->png || cap->have || (o->record >= 0 && rec->id != (uint64_t)o->record))
		return PRESTO_OK;
	const char *name = o->tensor;
	if (!name)
		name = presto_record_tensor(rec, "latent") ? "latent" : rec->n_tensors ? rec->tensor_names[0] : NULL;
	const presto_tensor *t = name ? presto_record_tensor(rec, name) : NULL;
	if (!t)
		return presto_error_set(PRESTO_EINVAL, "--png: record %llu has no tensor '%s'", (unsigned long long)rec->id,
					name ? name : "(none)");
	PRESTO_TRY(presto_tensor_to_f32(t, &cap->data));
	cap->have = 1;
	cap->ndim = t->ndim;
	memcpy(cap->shape, t->shape, sizeof cap->shape);
	cap->id = rec->id;
	snprintf(cap->name, sizeof cap->name, "%s", name);
	return PRESTO_OK;
}

/* ---- streams ---- */

static void print_header(FILE *out, int index, const presto_stream_header *h)
{
	fprintf(out, "stream %d: kind %s, version %d\n", index, presto_stream_kind_name(h->kind), h->version);
	if (h->producer) {
		fprintf(out, "  producer: ");
		print_string(out, h->producer);
		fputc('\n', out);
	}
	if (h->model) {
		fprintf(out, "  model: ");
		print_string(out, h->model);
		fputc('\n', out);
	}
	for (int i = 0; i < h->n_extra; i++)
		print_param(out, "  ", &h->extra[i]);
}

static json_t *header_json(const presto_stream_header *h)
{
	json_t *o = json_object();
	json_object_set_new(o, "kind", json_string(presto_stream_kind_name(h->kind)));
	json_object_set_new(o, "version", json_integer(h->version));
	json_object_set_new(o, "producer", h->producer ? jstr(h->producer) : json_null());
	json_object_set_new(o, "model", h->model ? jstr(h->model) : json_null());
	json_object_set_new(o, "extra", params_json(h->extra, h->n_extra));
	json_object_set_new(o, "records", json_array());
	return o;
}

/* Printing of consecutive streams: headers are announced as the reader
 * reaches them (streams without records included), each closed with its
 * record count. */
typedef struct {
	FILE *out;
	json_t *jstreams, *jcur;
	int shown;     /* headers printed */
	uint64_t n_in; /* records of the last one */
} listing_t;

static void close_stream(listing_t *l)
{
	if (!l->shown)
		return;
	if (l->jstreams)
		json_object_set_new(l->jcur, "count", json_integer((json_int_t)l->n_in));
	else
		fprintf(l->out, "end: %llu record%s\n", (unsigned long long)l->n_in, l->n_in == 1 ? "" : "s");
}

/* Show headers up to stream `upto`. */
static void show_streams(listing_t *l, const presto_stream_reader *r, int upto)
{
	while (l->shown <= upto) {
		const presto_stream_header *h = presto_stream_reader_header_at(r, l->shown);
		close_stream(l);
		if (l->jstreams)
			json_array_append_new(l->jstreams, l->jcur = header_json(h));
		else
			print_header(l->out, l->shown, h);
		l->shown++;
		l->n_in = 0;
	}
}

static void show_record(listing_t *l, const presto_record *rec)
{
	FILE *out = l->out;
	l->n_in++;
	if (l->jstreams) {
		json_t *jr = json_object(), *jt = json_object();
		json_object_set_new(jr, "id", json_integer((json_int_t)rec->id));
		json_object_set_new(jr, "params", params_json(rec->params, rec->n_params));
		for (int i = 0; i < rec->n_tensors; i++)
			jset(jt, rec->tensor_names[i],
			     tensor_json(NULL, &rec->tensors[i], presto_stream_dtype_name(rec->tensors[i].dtype), 1));
		json_object_set_new(jr, "tensors", jt);
		json_array_append_new(json_object_get(l->jcur, "records"), jr);
		return;
	}
	fprintf(out, "record %llu\n", (unsigned long long)rec->id);
	if (rec->n_params)
		fprintf(out, "  params:\n");
	for (int i = 0; i < rec->n_params; i++)
		print_param(out, "    ", &rec->params[i]);
	if (rec->n_tensors)
		fprintf(out, "  tensors:\n");
	for (int i = 0; i < rec->n_tensors; i++)
		print_tensor(out, "    ", rec->tensor_names[i], &rec->tensors[i],
			     presto_stream_dtype_name(rec->tensors[i].dtype), 1);
}

static presto_status info_stream(const opts_t *o, const char *path, FILE *out, json_t *jroot)
{
	int fd = 0;
	const char *label = "stdin";
	if (path && strcmp(path, "-")) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return presto_error_set(PRESTO_EIO, "cannot open '%s': %s", path, strerror(errno));
		label = path;
	}
	presto_stream_reader *r;
	presto_status st = presto_stream_reader_open_fd(fd, label, o->kind, &r);
	if (st) {
		if (fd)
			close(fd);
		return st;
	}
	presto_stream_reader_check_finite(r, !o->allow_nonfinite);
	capture_t cap = {0};
	listing_t l = {out, NULL, NULL, 0, 0};
	if (jroot) {
		json_object_set_new(jroot, "type", json_string("stream"));
		jset(jroot, "source", jstr(label));
		json_object_set_new(jroot, "streams", l.jstreams = json_array());
	} else {
		fprintf(out, "source: %s\n", label);
	}
	presto_record rec;
	while (!(st = presto_stream_next(r, &rec))) {
		show_streams(&l, r, presto_stream_reader_stream_index(r));
		show_record(&l, &rec);
		st = maybe_capture(o, &rec, &cap);
		presto_record_free(&rec);
		if (st)
			break;
	}
	if (st == PRESTO_EEOF) {
		show_streams(&l, r, presto_stream_reader_streams(r) - 1);
		close_stream(&l);
		st = PRESTO_OK;
	}
	presto_stream_reader_close(r);
	if (fd)
		close(fd);
	if (!st && o->png) {
		if (!cap.have)
			st = o->record >= 0 ? presto_error_set(PRESTO_EINVAL, "--png: no record with id %lld", o->record)
					    : presto_error_set(PRESTO_EINVAL, "--png: the stream has no records");
		else
			st = write_png(o, &cap, out, jroot);
	}
	free(cap.data);
	return st;
}

/* ---- safetensors and models ---- */

static presto_status info_safetensors(const opts_t *o, const char *path, FILE *out, json_t *jfile)
{
	presto_st *st;
	PRESTO_TRY(presto_st_open(path, &st));
	int n = presto_st_count(st);
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += presto_st_get(st, presto_st_name(st, i))->nbytes;
	if (jfile) {
		json_t *jt = json_array();
		json_object_set_new(jfile, "file", jstr(path));
		json_object_set_new(jfile, "data_bytes", json_integer((json_int_t)total));
		for (int i = 0; i < n; i++) {
			const char *name = presto_st_name(st, i);
			const presto_tensor *t = presto_st_get(st, name);
			json_t *e = tensor_json(name, t, presto_dtype_name(t->dtype), o->stats);
			json_array_append_new(jt, e);
		}
		json_object_set_new(jfile, "tensors", jt);
	} else {
		fprintf(out, "safetensors: %s (%d tensors, %zu bytes of data)\n", path, n, total);
		for (int i = 0; i < n; i++) {
			const char *name = presto_st_name(st, i);
			const presto_tensor *t = presto_st_get(st, name);
			print_tensor(out, "  ", name, t, presto_dtype_name(t->dtype), o->stats);
		}
	}
	presto_st_close(st);
	return PRESTO_OK;
}

/* Scalars of a JSON config as dotted paths ("model.diffusion.config.depth: 24"). */
static void print_config(FILE *out, const char *prefix, const json_t *v, int depth)
{
	char key[512];
	if (json_is_object(v) && depth < 8) {
		const char *k;
		json_t *e;
		json_object_foreach((json_t *)v, k, e) {
			snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k);
			print_config(out, key, e, depth + 1);
		}
		return;
	}
	if (json_is_array(v)) {
		size_t n = json_array_size(v), i;
		int scalars = 1;
		for (i = 0; i < n; i++)
			scalars &= !json_is_object(json_array_get(v, i)) && !json_is_array(json_array_get(v, i));
		if (!scalars && depth < 8) {
			for (i = 0; i < n; i++) {
				snprintf(key, sizeof key, "%s[%zu]", prefix, i);
				print_config(out, key, json_array_get(v, i), depth + 1);
			}
			return;
		}
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s && strlen(s) > 100)
		strcpy(s + 90, " ...");
	fprintf(out, "  %s: %s\n", prefix, s ? s : "?");
	free(s);
}

static int is_safetensors_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 12 && !strcmp(d->d_name + n - 12, ".safetensors");
}

static presto_status info_model(const opts_t *o, const char *dir, FILE *out, json_t *jroot)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/config.json", dir);
	json_error_t jerr;
	json_t *cfg = json_load_file(path, 0, &jerr);
	if (!cfg) {
		if (access(path, F_OK))
			return presto_error_set(PRESTO_EINVAL, "'%s' is not a model directory (no config.json)", dir);
		return presto_error_set(PRESTO_EINVAL, "%s: line %d: %s", path, jerr.line, jerr.text);
	}
	struct dirent **list;
	int n = scandir(dir, &list, is_safetensors_name, alphasort);
	if (n < 0) {
		json_decref(cfg);
		return presto_error_set(PRESTO_EIO, "cannot list '%s': %s", dir, strerror(errno));
	}
	json_t *jfiles = NULL;
	if (jroot) {
		json_object_set_new(jroot, "type", json_string("model"));
		json_object_set_new(jroot, "model", jstr(dir));
		json_object_set_new(jroot, "config", json_incref(cfg));
		json_object_set_new(jroot, "files", jfiles = json_array());
	} else {
		fprintf(out, "model: %s\nconfig: %s\n", dir, path);
		print_config(out, "", cfg, 0);
	}
	json_decref(cfg);
	presto_status st = PRESTO_OK;
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
		if (!st) {
			json_t *jf = jroot ? json_object() : NULL;
			st = info_safetensors(o, path, out, jf);
			if (jf)
				json_array_append_new(jfiles, jf);
		}
		free(list[i]);
	}
	free(list);
	return st;
}

/* A regular file: safetensors (u64 header length, then '{') or a stream. */
static int looks_like_safetensors(const char *path)
{
	unsigned char b[9];
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(b, 1, sizeof b, f) : 0;
	if (f)
		fclose(f);
	return n == 9 && b[8] == '{' && !b[5] && !b[6] && !b[7];
}

/* ---- devices ---- */

static int info_devices(int as_json)
{
	presto_gpu_list l;
	presto_gpu_probe(&l);
	char drv[32] = "";
	if (l.driver_version)
		snprintf(drv, sizeof drv, "%d.%d", l.driver_version / 1000, l.driver_version % 1000 / 10);
	if (as_json) {
		json_t *root = json_object(), *arr = json_array();
		for (int i = 0; i < l.count; i++) {
			const presto_gpu *g = &l.gpu[i];
			char id[16], cc[16];
			snprintf(id, sizeof id, "cuda:%d", i);
			snprintf(cc, sizeof cc, "%d.%d", g->major, g->minor);
			json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:s, s:i}", "id", id, "name", g->name,
							     "memory_bytes", (json_int_t)g->memory,
							     "compute_capability", cc, "multiprocessors",
							     g->multiprocessors));
		}
		json_object_set_new(root, "devices", arr);
		json_object_set_new(root, "driver_version", l.driver_version ? json_string(drv) : json_null());
		json_object_set_new(root, "reason", l.reason[0] ? json_string(l.reason) : json_null());
		if (l.count) { /* can presto run there (the backend library on cuda:0) */
			char msg[600];
			int bad = presto_accel_check(0, msg, sizeof msg);
			json_object_set_new(root, "backend", json_pack("{s:b, s:s}", "ready", !bad, "message", msg));
		} else {
			json_object_set_new(root, "backend", json_null());
		}
		char *txt = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
		json_decref(root);
		if (!txt)
			return presto_cli_error("out of memory");
		int bad = printf("%s\n", txt) < 0;
		free(txt);
		if (bad || fflush(stdout))
			return presto_cli_error("write error on stdout: %s", strerror(errno));
		return PRESTO_EXIT_OK;
	}
	if (!l.count)
		printf("no CUDA device: %s\n", l.reason);
	for (int i = 0; i < l.count; i++) {
		const presto_gpu *g = &l.gpu[i];
		printf("cuda:%d  %s  %.1f GiB  sm_%d%d  %d multiprocessors\n", i, g->name,
		       (double)g->memory / (1024.0 * 1024 * 1024), g->major, g->minor, g->multiprocessors);
	}
	if (l.driver_version)
		printf("driver: CUDA %s\n", drv);
	if (l.count && l.reason[0]) /* listed some, then a device failed */
		presto_cli_msg("%s", l.reason);
	if (l.count) {
		char msg[600];
		int bad = presto_accel_check(0, msg, sizeof msg);
		printf("presto: %s%s\n", bad ? "cannot use the GPU: " : "runs on ", msg);
	}
	if (fflush(stdout))
		return presto_cli_error("write error on stdout: %s", strerror(errno));
	return PRESTO_EXIT_OK;
}

/* ---- main ---- */

static int parse_args(int argc, char **argv, opts_t *o, const char **input, int *exit_code)
{
	presto_cli cli;
	const char *arg;
	int c, png_only = 0;
	memset(o, 0, sizeof *o);
	o->record = o->scale = -1;
	o->colormap = "viridis";
	presto_cli_init(&cli, &spec, argc, argv);
	while ((c = presto_cli_next(&cli, &arg)) != PRESTO_CLI_END) {
		switch (c) {
		case PRESTO_CLI_EXIT: *exit_code = cli.exit_code; return 0;
		case OPT_JSON: o->json = 1; break;
		case OPT_STATS: o->stats = 1; break;
		case OPT_DEVICES: o->devices = 1; break;
		case OPT_NONFINITE: o->allow_nonfinite = 1; break;
		case OPT_PNG: o->png = arg; break;
		case OPT_TENSOR: o->tensor = arg, png_only = 1; break;
		case OPT_KIND:
			if (presto_stream_kind_parse(arg, &o->kind)) {
				*exit_code = presto_cli_usage("--kind: unknown kind '%s' (cond, latent or audio)", arg);
				return 0;
			}
			break;
		case OPT_COLORMAP:
			if (strcmp(arg, "viridis") && strcmp(arg, "gray")) {
				*exit_code = presto_cli_usage("--colormap: unknown colormap '%s' (viridis or gray)", arg);
				return 0;
			}
			o->colormap = arg, png_only = 1;
			break;
		case OPT_RECORD:
			if (!presto_cli_int("--record", arg, 0, INT64_MAX, &o->record)) {
				*exit_code = PRESTO_EXIT_USAGE;
				return 0;
			}
			png_only = 1;
			break;
		case OPT_SCALE:
			if (!presto_cli_int("--scale", arg, 1, 64, &o->scale)) {
				*exit_code = PRESTO_EXIT_USAGE;
				return 0;
			}
			png_only = 1;
			break;
		}
	}
	if (png_only && !o->png) {
		*exit_code = presto_cli_usage("--record, --tensor, --colormap and --scale need --png");
		return 0;
	}
	if (argc - cli.optind > 1) {
		*exit_code = presto_cli_usage("too many operands (one FILE or MODEL_DIR)");
		return 0;
	}
	*input = cli.optind < argc ? argv[cli.optind] : NULL;
	if (o->devices && (*input || o->png || o->stats || o->kind || o->allow_nonfinite)) {
		*exit_code = presto_cli_usage("--devices takes no FILE and no other option but --json");
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	opts_t o;
	const char *input;
	int code;
	if (!parse_args(argc, argv, &o, &input, &code))
		return code;
	if (o.devices)
		return info_devices(o.json);

	int is_dir = 0, is_st = 0;
	struct stat sb;
	if (input && strcmp(input, "-")) {
		if (stat(input, &sb) != 0)
			return presto_cli_error("cannot open '%s': %s", input, strerror(errno));
		is_dir = S_ISDIR(sb.st_mode);
		is_st = !is_dir && S_ISREG(sb.st_mode) && looks_like_safetensors(input);
	}
	if ((is_dir || is_st) && o.png)
		return presto_cli_usage("--png draws a tensor of a stream, not of a %s", is_dir ? "model" : "safetensors file");
	if ((is_dir || is_st) && (o.kind || o.allow_nonfinite))
		return presto_cli_usage("--kind and --allow-nonfinite apply to streams only");

	char *text = NULL;
	size_t text_len = 0;
	FILE *out = open_memstream(&text, &text_len);
	json_t *jroot = o.json ? json_object() : NULL;
	if (!out || (o.json && !jroot))
		return presto_cli_error("out of memory");
	presto_status st;
	if (is_dir)
		st = info_model(&o, input, out, jroot);
	else if (is_st) {
		if (jroot)
			json_object_set_new(jroot, "type", json_string("safetensors"));
		st = info_safetensors(&o, input, out, jroot);
	} else
		st = info_stream(&o, input, out, jroot);
	if (!st && jroot) {
		if (json_dumpf(jroot, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) != 0)
			st = presto_error_set(PRESTO_ENOMEM, "cannot format the JSON report");
		fputc('\n', out);
	}
	json_decref(jroot);
	fclose(out);
	if (st) {
		free(text);
		return presto_cli_status(st);
	}
	int bad = fwrite(text, 1, text_len, stdout) != text_len || fflush(stdout) != 0;
	free(text);
	if (bad)
		return presto_cli_error("write error on stdout: %s", strerror(errno));
	return PRESTO_EXIT_OK;
}

/* test_stream.c - presto streams: round trips through a pipe (records bigger
 * than the pipe buffer, records delivered before the writer finishes) and a
 * FILE, concatenated streams, accessors, writer checks, and every defect a
 * reader must reject with a clear message (hand-packed with msgpack-c). */
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stream.h"

#include "check.h"


/* ---- hand packing ---- */

static void pk_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static void raw_header(msgpack_packer *pk, const char *magic, int version, const char *kind)
{
	msgpack_pack_map(pk, 4);
	pk_str(pk, "type"), pk_str(pk, "header");
	pk_str(pk, "magic"), pk_str(pk, magic);
	pk_str(pk, "version"), msgpack_pack_int(pk, version);
	pk_str(pk, "kind"), pk_str(pk, kind);
}

/* A record with one tensor "x" of dtype/shape and nbytes of data. */
static void raw_record(msgpack_packer *pk, unsigned id, const char *dtype, int ndim, const int64_t *shape,
		       const void *data, size_t nbytes)
{
	msgpack_pack_map(pk, 4);
	pk_str(pk, "type"), pk_str(pk, "record");
	pk_str(pk, "id"), msgpack_pack_unsigned_int(pk, id);
	pk_str(pk, "params"), msgpack_pack_map(pk, 1);
	pk_str(pk, "prompt"), pk_str(pk, "test");
	pk_str(pk, "tensors"), msgpack_pack_map(pk, 1);
	pk_str(pk, "x"), msgpack_pack_map(pk, 3);
	pk_str(pk, "dtype"), pk_str(pk, dtype);
	pk_str(pk, "shape"), msgpack_pack_array(pk, (size_t)ndim);
	for (int i = 0; i < ndim; i++)
		msgpack_pack_int64(pk, shape[i]);
	pk_str(pk, "data"), msgpack_pack_bin(pk, nbytes);
	msgpack_pack_bin_body(pk, data, nbytes);
}

static void raw_good_record(msgpack_packer *pk, unsigned id)
{
	static const float v[6] = {1, 2, 3, 4, 5, 6};
	static const int64_t shape[2] = {2, 3};
	raw_record(pk, id, "f32", 2, shape, v, sizeof v);
}

static void raw_end(msgpack_packer *pk, unsigned count)
{
	msgpack_pack_map(pk, 2);
	pk_str(pk, "type"), pk_str(pk, "end");
	pk_str(pk, "count"), msgpack_pack_unsigned_int(pk, count);
}

/* Read a whole buffer: returns the status that ended it, the message in msg,
 * the number of records in *n. */
static presto_status read_all(const void *buf, size_t len, presto_stream_kind expect, int check_finite, char *msg,
			      size_t msg_len, int *n)
{
	presto_stream_reader *r;
	presto_record rec;
	presto_status st = presto_stream_reader_open_buffer(buf, len, "buf", expect, &r);
	*n = 0;
	if (!st)
		presto_stream_reader_check_finite(r, check_finite);
	while (!st && !(st = presto_stream_next(r, &rec))) {
		(*n)++;
		presto_record_free(&rec);
	}
	snprintf(msg, msg_len, "%s", presto_error());
	presto_stream_reader_close(r);
	return st;
}

/* Expect reading sb to fail with status want and a message containing `has`. */
static void expect_error(msgpack_sbuffer *sb, presto_stream_kind expect, presto_status want, const char *has,
			 const char *what)
{
	char msg[1024];
	int n;
	presto_status st = read_all(sb->data, sb->size, expect, 1, msg, sizeof msg, &n);
	int ok = st == want && strstr(msg, has);
	if (!ok)
		printf("     status %d, message: %s\n", (int)st, msg);
	CHECK(ok, "%s", what);
	msgpack_sbuffer_clear(sb);
}

/* ---- round trips ---- */

#define BIG_T 1000 /* latent [1, 64, 1000] f32: 256 KB, over any pipe buffer */

static float big_value(size_t i) { return sinf((float)i * 0.01f) * 3.0f; }

static presto_status write_test_stream(presto_stream_writer *w, int n_records, int sync_fd)
{
	static const double sigmas[4] = {80.0, 10.5, 0.3, 0.0};
	presto_param extra[2] = {presto_param_int("sample_rate", 44100), presto_param_str("note", "unit test")};
	presto_stream_header h = {.kind = PRESTO_KIND_LATENT, .producer = "test_stream " PRESTO_VERSION,
				  .model = "models/tiny", .n_extra = 2, .extra = extra};
	PRESTO_TRY(presto_stream_write_header(w, &h));
	int64_t big_shape[3] = {1, 64, BIG_T}, hs[2] = {2, 3}, is[1] = {3}, zs[2] = {0, 5};
	float *big = presto_falloc(64 * BIG_T);
	if (!big)
		return PRESTO_ENOMEM;
	for (size_t i = 0; i < 64 * BIG_T; i++)
		big[i] = big_value(i);
	uint16_t half[6], bf[6];
	for (int i = 0; i < 6; i++) {
		half[i] = presto_float_to_half(0.5f * (float)i - 1.0f);
		bf[i] = presto_float_to_bf16(0.25f * (float)i);
	}
	int64_t i64[3] = {-1, 0, INT64_MAX};
	int32_t i32[3] = {7, -8, 9};
	double f64s = 3.25;
	presto_tensor t[7] = {
		presto_tensor_wrap(PRESTO_F32, 3, big_shape, big), presto_tensor_wrap(PRESTO_F16, 2, hs, half),
		presto_tensor_wrap(PRESTO_BF16, 2, hs, bf),        presto_tensor_wrap(PRESTO_I64, 1, is, i64),
		presto_tensor_wrap(PRESTO_I32, 1, is, i32),        presto_tensor_wrap(PRESTO_F64, 0, is, &f64s),
		presto_tensor_wrap(PRESTO_F32, 2, zs, NULL),
	};
	const char *names[7] = {"latent", "half", "bf", "mask64", "ids", "scalar", "empty"};
	presto_status st = PRESTO_OK;
	for (int k = 0; k < n_records && !st; k++) {
		presto_param p[8] = {
			presto_param_str("prompt", k ? "second prompt" : "a calm piano, 120 BPM"),
			presto_param_str("negative_prompt", ""),
			presto_param_int("seed", -42 - k),
			presto_param_float("cfg", 6.5),
			presto_param_array("sigmas", sigmas, 4),
			presto_param_bool("flag", 1),
			presto_param_nil("budget"),
			presto_param_float("seconds_total", 11.0),
		};
		presto_record rec = {.id = (uint64_t)k, .n_params = 8, .params = p, .n_tensors = 7,
				     .tensor_names = (char **)names, .tensors = t};
		st = presto_stream_write_record(w, &rec);
		if (!st && sync_fd >= 0 && k == 0) { /* wait until the reader has record 0 */
			char c;
			if (read(sync_fd, &c, 1) != 1)
				st = presto_error_set(PRESTO_EIO, "sync read failed");
		}
	}
	free(big);
	return st ? st : presto_stream_write_end(w);
}

static int check_record(const presto_record *rec, uint64_t id)
{
	int ok = rec->id == id && rec->n_params == 8 && rec->n_tensors == 7;
	const char *s;
	double d;
	int64_t i;
	const double *a;
	size_t n;
	ok = ok && !presto_record_str(rec, "prompt", &s) && !strcmp(s, id ? "second prompt" : "a calm piano, 120 BPM");
	ok = ok && !presto_record_str(rec, "negative_prompt", &s) && !strcmp(s, "");
	ok = ok && !presto_record_int(rec, "seed", &i) && i == -42 - (int64_t)id;
	ok = ok && !presto_record_double(rec, "cfg", &d) && d == 6.5;
	ok = ok && !presto_record_int(rec, "seconds_total", &i) && i == 11; /* integral float */
	ok = ok && !presto_record_array(rec, "sigmas", &a, &n) && n == 4 && a[0] == 80.0 && a[1] == 10.5 && a[3] == 0;
	ok = ok && presto_record_param(rec, "flag")->type == PRESTO_PARAM_BOOL && presto_record_param(rec, "flag")->i;
	ok = ok && presto_record_param(rec, "budget")->type == PRESTO_PARAM_NIL;
	ok = ok && !presto_record_param(rec, "nope");
	int64_t shape[3] = {1, -1, -1};
	float *z = NULL;
	ok = ok && !presto_record_f32(rec, "latent", 3, shape, &z) && shape[1] == 64 && shape[2] == BIG_T;
	for (size_t k = 0; ok && k < 64 * BIG_T; k++)
		ok = z[k] == big_value(k);
	free(z);
	const presto_tensor *t = presto_record_tensor(rec, "half");
	ok = ok && t && t->dtype == PRESTO_F16 && ((uint16_t *)t->data)[5] == presto_float_to_half(1.5f);
	t = presto_record_tensor(rec, "bf");
	ok = ok && t && t->dtype == PRESTO_BF16 && ((uint16_t *)t->data)[2] == presto_float_to_bf16(0.5f);
	t = presto_record_tensor(rec, "mask64");
	ok = ok && t && t->dtype == PRESTO_I64 && ((int64_t *)t->data)[2] == INT64_MAX;
	t = presto_record_tensor(rec, "ids");
	ok = ok && t && t->dtype == PRESTO_I32 && ((int32_t *)t->data)[1] == -8;
	t = presto_record_tensor(rec, "scalar");
	ok = ok && t && t->ndim == 0 && t->nbytes == 8 && *(double *)t->data == 3.25;
	t = presto_record_tensor(rec, "empty");
	ok = ok && t && t->ndim == 2 && t->shape[0] == 0 && t->nbytes == 0;
	ok = ok && ((uintptr_t)presto_record_tensor(rec, "latent")->data % 16) == 0;
	return ok;
}

static int check_header(const presto_stream_header *h)
{
	return h && h->kind == PRESTO_KIND_LATENT && h->version == 1 && h->producer &&
	       !strcmp(h->producer, "test_stream " PRESTO_VERSION) && h->model && !strcmp(h->model, "models/tiny") &&
	       h->n_extra == 2 && !strcmp(h->extra[0].name, "sample_rate") && h->extra[0].i == 44100 &&
	       h->extra[1].type == PRESTO_PARAM_STRING && !strcmp(h->extra[1].s, "unit test");
}

/* Writer in a child process, reader on the pipe; the child waits after the
 * first record until the reader has it (a reader that wanted more input
 * before returning record 0 would hang: alarm fails the test). */
static void pipe_round_trip(int use_file)
{
	int data[2], sync[2];
	if (pipe(data) || pipe(sync)) {
		CHECK(0, "pipe");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(data[0]);
		close(sync[1]);
		presto_stream_writer *w;
		FILE *f = use_file ? fdopen(data[1], "wb") : NULL;
		presto_status st = use_file ? presto_stream_writer_open_file(f, "pipe", &w)
					    : presto_stream_writer_open_fd(data[1], "pipe", &w);
		if (!st)
			st = write_test_stream(w, 2, sync[0]);
		if (st)
			fprintf(stderr, "child: %s\n", presto_error());
		_exit(st ? 1 : 0);
	}
	close(data[1]);
	close(sync[0]);
	alarm(20);
	presto_stream_reader *r;
	FILE *f = use_file ? fdopen(data[0], "rb") : NULL;
	presto_status st = use_file ? presto_stream_reader_open_file(f, "pipe", PRESTO_KIND_LATENT, &r)
				    : presto_stream_reader_open_fd(data[0], "pipe", PRESTO_KIND_LATENT, &r);
	const presto_stream_header *h = NULL;
	st = st ? st : presto_stream_read_header(r, &h);
	int ok = !st && check_header(h);
	presto_record rec;
	for (uint64_t id = 0; ok && id < 2; id++) {
		st = presto_stream_next(r, &rec);
		ok = !st && check_record(&rec, id);
		if (!ok)
			printf("     record %llu: %s\n", (unsigned long long)id, st ? presto_error() : "wrong content");
		presto_record_free(&rec);
		if (id == 0 && write(sync[1], "x", 1) != 1)
			ok = 0;
	}
	ok = ok && presto_stream_next(r, &rec) == PRESTO_EEOF && presto_stream_reader_count(r) == 2;
	ok = ok && presto_stream_next(r, &rec) == PRESTO_EEOF; /* stays at the end */
	alarm(0);
	presto_stream_reader_close(r);
	if (f)
		fclose(f);
	else
		close(data[0]);
	close(sync[1]);
	int status = 0;
	waitpid(pid, &status, 0);
	ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	CHECK(ok, use_file ? "round trip through a pipe (FILE writer and reader, 256 KB records, incremental)"
			   : "round trip through a pipe (fd writer and reader, 256 KB records, incremental)");
}

/* Two streams in one tmpfile (as `cat a b`), read from a FILE. */
static void concat_round_trip(void)
{
	FILE *f = tmpfile();
	presto_stream_writer *w;
	presto_stream_writer_open_file(f, "tmp", &w);
	presto_status st = write_test_stream(w, 1, -1);
	st = st ? st : write_test_stream(w, 2, -1);
	int ok = !st && presto_stream_writer_count(w) == 3;
	presto_stream_writer_close(w);
	rewind(f);
	presto_stream_reader *r;
	presto_stream_reader_open_file(f, "tmp", PRESTO_KIND_LATENT, &r);
	presto_record rec;
	uint64_t want[3] = {0, 0, 1};
	int index[3] = {0, 1, 1};
	for (int k = 0; ok && k < 3; k++) {
		st = presto_stream_next(r, &rec);
		ok = !st && check_record(&rec, want[k]) && presto_stream_reader_stream_index(r) == index[k] &&
		     check_header(presto_stream_reader_header(r));
		presto_record_free(&rec);
	}
	ok = ok && presto_stream_next(r, &rec) == PRESTO_EEOF && presto_stream_reader_count(r) == 3;
	presto_stream_reader_close(r);
	fclose(f);
	CHECK(ok, "two concatenated streams read as one input (tmpfile, FILE reader)");
}

/* ---- accessors and writer checks ---- */

static void accessors(void)
{
	double arr[2] = {1, 2};
	presto_param p[3] = {presto_param_str("prompt", "x"), presto_param_float("cfg", 6.5),
			     presto_param_array("sigmas", arr, 2)};
	float v[6] = {0};
	int64_t shape[3] = {1, 2, 3};
	presto_tensor t = presto_tensor_wrap(PRESTO_F32, 3, shape, v);
	char *names[1] = {"latent"};
	presto_record rec = {.id = 7, .n_params = 3, .params = p, .n_tensors = 1, .tensor_names = names, .tensors = &t};
	int64_t i;
	const char *s;
	CHECK(presto_record_int(&rec, "cfg", &i) &&
		      strstr(presto_error(), "record 7: param 'cfg' is a float, expected an integer"),
	      "int getter on a non-integral float names record and param");
	CHECK(presto_record_str(&rec, "seed", &s) && strstr(presto_error(), "record 7: missing param 'seed'"),
	      "missing param is an error naming it");
	double d;
	CHECK(presto_record_double(&rec, "prompt", &d) && strstr(presto_error(), "is a string, expected a number"),
	      "double getter on a string");
	float *z = NULL;
	int64_t pat[3] = {1, 4, -1};
	CHECK(presto_record_f32(&rec, "latent", 3, pat, &z) &&
		      strstr(presto_error(), "record 7: tensor 'latent' has shape [1, 2, 3], expected [1, 4, *]"),
	      "f32 getter: shape pattern mismatch message");
	CHECK(presto_record_f32(&rec, "nope", 3, pat, &z) && strstr(presto_error(), "missing tensor 'nope'"),
	      "f32 getter: missing tensor");
}

static void writer_checks(void)
{
	FILE *f = tmpfile();
	presto_stream_writer *w;
	presto_stream_writer_open_file(f, "out", &w);
	presto_record rec = {.id = 0};
	CHECK(presto_stream_write_record(w, &rec) == PRESTO_EINVAL, "writer: record before header refused");
	presto_stream_header h = {.kind = PRESTO_KIND_ANY};
	CHECK(presto_stream_write_header(w, &h) == PRESTO_EINVAL, "writer: header without kind refused");
	presto_param bad = presto_param_int("magic", 1);
	h = (presto_stream_header){.kind = PRESTO_KIND_AUDIO, .n_extra = 1, .extra = &bad};
	CHECK(presto_stream_write_header(w, &h) == PRESTO_EINVAL && strstr(presto_error(), "reserved"),
	      "writer: reserved extra header field refused");
	h.n_extra = 0;
	CHECK(!presto_stream_write_header(w, &h), "writer: header");
	float v[2] = {1, NAN};
	int64_t shape[1] = {2};
	presto_tensor t = presto_tensor_wrap(PRESTO_F32, 1, shape, v);
	char *names[2] = {"audio", "audio"};
	rec = (presto_record){.id = 3, .n_tensors = 1, .tensor_names = names, .tensors = &t};
	CHECK(presto_stream_write_record(w, &rec) == PRESTO_EINVAL &&
		      strstr(presto_error(), "record 3: tensor 'audio': 1 non-finite value (first: NaN at [1])"),
	      "writer: NaN refused with record, tensor and index");
	v[1] = 2;
	t.nbytes = 4;
	CHECK(presto_stream_write_record(w, &rec) == PRESTO_EINVAL && strstr(presto_error(), "needs 8 bytes of data, found 4"),
	      "writer: shape/nbytes mismatch refused");
	t.nbytes = 8;
	presto_tensor two[2] = {t, t};
	rec.n_tensors = 2;
	rec.tensors = two;
	CHECK(presto_stream_write_record(w, &rec) == PRESTO_EINVAL && strstr(presto_error(), "duplicate tensor 'audio'"),
	      "writer: duplicate tensor names refused");
	t.dtype = PRESTO_U8;
	t.nbytes = 2;
	rec.n_tensors = 1;
	rec.tensors = &t;
	CHECK(presto_stream_write_record(w, &rec) == PRESTO_EINVAL && strstr(presto_error(), "cannot be stored"),
	      "writer: dtype outside the stream set refused");
	long size = ftell(f);
	CHECK(size > 0 && !presto_stream_write_end(w) && ftell(f) > size, "writer: end after refused records");
	presto_stream_writer_close(w);
	rewind(f);
	presto_stream_reader *r;
	presto_stream_reader_open_file(f, "out", PRESTO_KIND_AUDIO, &r);
	CHECK(presto_stream_next(r, &rec) == PRESTO_EEOF, "writer: refused records left no trace (empty stream reads back)");
	presto_stream_reader_close(r);
	fclose(f);

	/* EPIPE: the reader has gone. */
	int fds[2];
	signal(SIGPIPE, SIG_IGN);
	if (pipe(fds) == 0) {
		close(fds[0]);
		presto_stream_writer_open_fd(fds[1], "stdout", &w);
		h.kind = PRESTO_KIND_AUDIO;
		presto_status st = presto_stream_write_header(w, &h);
		CHECK(st == PRESTO_EIO && strstr(presto_error(), "stdout: write failed: Broken pipe"),
		      "writer: EPIPE reported as PRESTO_EIO");
		CHECK(presto_stream_write_end(w) == PRESTO_EIO, "writer: refuses to go on after a failed write");
		presto_stream_writer_close(w);
		close(fds[1]);
	}
}

/* ---- defects ---- */

static void defects(void)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	char msg[1024];
	int n;

	/* a valid base for comparison */
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_good_record(&pk, 0);
	raw_good_record(&pk, 1);
	raw_end(&pk, 2);
	CHECK(read_all(sb.data, sb.size, PRESTO_KIND_LATENT, 1, msg, sizeof msg, &n) == PRESTO_EEOF && n == 2,
	      "hand-packed valid stream reads");
	/* truncated at every byte: never OK at the end, never a crash */
	int all_truncated = 1;
	for (size_t cut = 0; cut < sb.size; cut++) {
		presto_status st = read_all(sb.data, cut, PRESTO_KIND_LATENT, 1, msg, sizeof msg, &n);
		if (st == PRESTO_EEOF || (cut && !strstr(msg, "truncated stream")))
			all_truncated = 0, printf("     cut %zu: %s\n", cut, msg);
	}
	CHECK(all_truncated, "every proper prefix of a valid stream is a truncated-stream error");
	size_t full = sb.size;
	read_all(sb.data, full - 5, PRESTO_KIND_LATENT, 1, msg, sizeof msg, &n);
	CHECK(strstr(msg, "buf: truncated stream: ended after 2 records without an end record"), "truncated in the end map");
	msgpack_sbuffer_clear(&sb);

	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_good_record(&pk, 0);
	raw_good_record(&pk, 1);
	expect_error(&sb, PRESTO_KIND_LATENT, PRESTO_EINVAL,
		     "buf: truncated stream: ended after 2 records without an end record", "missing end record");

	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_good_record(&pk, 0);
	raw_good_record(&pk, 1);
	raw_end(&pk, 3);
	expect_error(&sb, PRESTO_KIND_LATENT, PRESTO_EINVAL, "end record says 3 records but the stream has 2",
		     "end count mismatch");

	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "audio");
	raw_end(&pk, 0);
	expect_error(&sb, PRESTO_KIND_LATENT, PRESTO_EINVAL, "stream kind is 'audio', expected 'latent'", "wrong kind");

	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "video");
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "unknown stream kind 'video'", "unknown kind");

	raw_header(&pk, "presto-strem", 1, "latent");
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "not a presto stream: header magic is 'presto-strem'",
		     "wrong magic");

	raw_header(&pk, PRESTO_STREAM_MAGIC, 2, "latent");
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EUNSUP, "stream version 2 is newer", "newer version (EUNSUP)");

	msgpack_sbuffer_write(&sb, "RIFF\x24\0\0\0WAVEfmt ", 16);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL,
		     "not a presto stream: the input does not start with a MessagePack map (first byte 0x52) (this looks "
		     "like a WAV file)", "garbage bytes (a WAV file)");

	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_good_record(&pk, 0);
	msgpack_sbuffer_write(&sb, "\x01\x02garbage", 9);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "garbage at byte", "garbage bytes after a record");

	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_end(&pk, 0);
	msgpack_sbuffer_write(&sb, "\xc1", 1);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "invalid MessagePack (byte 0xc1)", "invalid byte after the end");

	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "buf: empty input", "empty input");

	raw_good_record(&pk, 0);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "a record map before any header", "record before header");

	float f6[6] = {0};
	int64_t s23[2] = {2, 3};
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_record(&pk, 5, "f33", 2, s23, f6, sizeof f6);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "record 5: tensor 'x': unknown dtype 'f33'", "bad dtype name");

	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_record(&pk, 5, "F32", 2, s23, f6, sizeof f6);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "unknown dtype 'F32'", "dtype names are lower case");

	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_record(&pk, 6, "f32", 2, s23, f6, 20);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL,
		     "record 6: tensor 'x': shape [2, 3] f32 needs 24 bytes of data, found 20", "shape/data size mismatch");

	int64_t neg[2] = {-2, -3};
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_record(&pk, 7, "f32", 2, neg, f6, sizeof f6);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "record 7: tensor 'x': negative dimension -2", "negative dims");

	int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_record(&pk, 8, "f32", 9, nine, f6, 4);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "tensor 'x': 9 dimensions (at most 8)", "too many dims");

	int64_t huge[2] = {1ll << 31, 1ll << 31};
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_record(&pk, 9, "f32", 2, huge, f6, sizeof f6);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "over the 4 GiB tensor limit", "absurd shape refused");

	float nanv[6] = {0, 1, 2, NAN, 4, INFINITY};
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_record(&pk, 10, "f32", 2, s23, nanv, sizeof nanv);
	raw_end(&pk, 1);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL,
		     "buf: record 10: tensor 'x': 2 non-finite values (first: NaN at [1, 0])", "NaN in a float tensor");
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_record(&pk, 10, "f32", 2, s23, nanv, sizeof nanv);
	raw_end(&pk, 1);
	CHECK(read_all(sb.data, sb.size, PRESTO_KIND_ANY, 0, msg, sizeof msg, &n) == PRESTO_EEOF && n == 1,
	      "NaN accepted with the finite check off");
	msgpack_sbuffer_clear(&sb);

	uint16_t hnan[6] = {0, 0, 0, 0, 0x7e00, 0};
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_record(&pk, 11, "f16", 2, s23, hnan, sizeof hnan);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "NaN at [1, 1]", "NaN in an f16 tensor");

	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	msgpack_pack_map(&pk, 2);
	pk_str(&pk, "type"), pk_str(&pk, "foo");
	pk_str(&pk, "id"), msgpack_pack_int(&pk, 1);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "unknown map type 'foo'", "unknown map type");

	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	msgpack_pack_map(&pk, 2);
	pk_str(&pk, "type"), pk_str(&pk, "record");
	pk_str(&pk, "id"), msgpack_pack_int(&pk, -1);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "has no valid id", "negative record id");

	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "a new header after 0 records", "header inside a stream");

	/* 65 tensors */
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	msgpack_pack_map(&pk, 3);
	pk_str(&pk, "type"), pk_str(&pk, "record");
	pk_str(&pk, "id"), msgpack_pack_int(&pk, 12);
	pk_str(&pk, "tensors"), msgpack_pack_map(&pk, 65);
	for (int i = 0; i < 65; i++) {
		char name[16];
		snprintf(name, sizeof name, "t%d", i);
		pk_str(&pk, name), msgpack_pack_nil(&pk);
	}
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "record 12: 65 tensors (at most 64)", "too many tensors");

	/* param types */
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	msgpack_pack_map(&pk, 3);
	pk_str(&pk, "type"), pk_str(&pk, "record");
	pk_str(&pk, "id"), msgpack_pack_int(&pk, 13);
	pk_str(&pk, "params"), msgpack_pack_map(&pk, 1);
	pk_str(&pk, "sigmas"), msgpack_pack_array(&pk, 2), msgpack_pack_double(&pk, 1), pk_str(&pk, "x");
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "record 13: param 'sigmas': array element 1 is a string",
		     "array param with a string element");

	/* claims of absurd sizes with nothing behind them: no allocation, truncated */
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	msgpack_sbuffer_write(&sb, "\xdf\xff\xff\xff\xff\xa4type", 10);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "truncated stream: ended after 0 records",
		     "map32 of 4 billion entries: truncated, nothing allocated");
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	msgpack_sbuffer_write(&sb, "\x81\xa4" "data" "\xc6\xff\xff\xff\xf0", 11);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "truncated stream", "bin32 of 4 GiB claimed: truncated");
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	msgpack_sbuffer_write(&sb, "\x81\xa4" "type" "\xdb\x10\x00\x00\x00", 11);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "string of 268435456 bytes", "string over the limit");
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	msgpack_sbuffer_write(&sb, "\x81\xa1x\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\xc0", 15);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "nesting deeper than 8", "deep nesting");
	raw_header(&pk, PRESTO_STREAM_MAGIC, 1, "latent");
	msgpack_sbuffer_write(&sb, "\x81\xa1x\xd4\x01\x00", 6);
	expect_error(&sb, PRESTO_KIND_ANY, PRESTO_EINVAL, "extension types are not allowed", "ext type");

	msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
	accessors();
	writer_checks();
	pipe_round_trip(0);
	pipe_round_trip(1);
	concat_round_trip();
	defects();
	return check_status();
}

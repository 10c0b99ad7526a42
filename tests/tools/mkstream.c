/* mkstream.c - write valid and deliberately broken presto streams for tests.
 *
 *   mkstream VARIANT [RECORDS] > file
 *
 *   valid      latent stream, RECORDS records (default 2): params of every
 *              type, tensor "latent" f32 [8, 16] (channels, frames) and "mask" i64 [8]
 *   empty      a latent stream without records
 *   wrongkind  a valid stream of kind "cond" (for consumers of latents)
 *   truncated  valid, cut in the middle of the last record
 *   nocount    valid records but no end record
 *   badcount   an end record whose count is wrong
 *   garbage    a record followed by bytes that are no MessagePack map
 *   baddtype   a tensor with dtype "f33"
 *   shape      a tensor whose data is shorter than its shape says
 *   nan        a NaN in the latent of the last record
 *   badkind    a header with kind "video"
 *   badmagic   a header with the wrong magic
 *   shifted    valid, with 1 added to every latent value (presto-eval frechet)
 *   wide       valid, with a latent of twice the channels: f32 [16, 16]
 *
 * Valid maps are written with the stream writer; broken ones are packed by
 * hand with msgpack-c (the writer refuses to produce them). */
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

#define C 8
#define T 16

static void die(const char *what)
{
	fprintf(stderr, "mkstream: %s: %s\n", what, presto_error());
	exit(2);
}

static void pk_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

/* Latents of the valid records: [lat_c, T], plus lat_shift. */
static int lat_c = C;
static float lat_shift = 0;

static void latent_values(float *z, int id)
{
	for (int i = 0; i < lat_c * T; i++)
		z[i] = sinf(0.37f * (float)i + (float)id) * (1.0f + 0.1f * (float)(i % C)) + lat_shift;
}

static void write_record(presto_stream_writer *w, int id, int with_nan)
{
	static const double sigmas[5] = {INFINITY, 20.0, 2.5, 0.3, 0.0};
	float z[2 * C * T];
	int64_t mask[C];
	latent_values(z, id);
	if (with_nan)
		z[C * T / 2 + 3] = NAN;
	for (int i = 0; i < C; i++)
		mask[i] = i < C - 2;
	int64_t zs[2] = {lat_c, T}, ms[1] = {C};
	presto_tensor t[2] = {presto_tensor_wrap(PRESTO_F32, 2, zs, z), presto_tensor_wrap(PRESTO_I64, 1, ms, mask)};
	char *names[2] = {"latent", "mask"};
	presto_param p[9] = {
		presto_param_str("prompt", id ? "rain on a tin roof \"live\"" : "a calm piano, 120 BPM"),
		presto_param_str("negative_prompt", "noise"),
		presto_param_int("seed", 1000 + id),
		presto_param_str("sampler", "dpmpp-3m-sde"),
		presto_param_int("steps", 4),
		presto_param_array("sigmas", sigmas, 5),
		presto_param_float("cfg", 7.0),
		presto_param_nil("budget"),
		presto_param_float("seconds_total", 1.5),
	};
	presto_record rec = {.id = (uint64_t)id, .n_params = 9, .params = p, .n_tensors = 2,
			     .tensor_names = names, .tensors = t};
	if (presto_stream_write_record(w, &rec))
		die("record");
}

static void write_stream(FILE *f, presto_stream_kind kind, int n, int nan_last, int end)
{
	presto_stream_writer *w;
	presto_param extra[1] = {presto_param_int("sample_rate", 44100)};
	presto_stream_header h = {.kind = kind, .producer = "mkstream " PRESTO_VERSION, .model = "test-model",
				  .n_extra = 1, .extra = extra};
	if (presto_stream_writer_open_file(f, "output", &w) || presto_stream_write_header(w, &h))
		die("header");
	presto_stream_writer_check_finite(w, 0);
	for (int i = 0; i < n; i++)
		write_record(w, i, nan_last && i == n - 1);
	if (end && presto_stream_write_end(w))
		die("end");
	presto_stream_writer_close(w);
}

/* Raw maps for the defects the writer refuses to write. */
static void raw_header(msgpack_packer *pk, const char *magic, const char *kind)
{
	msgpack_pack_map(pk, 4);
	pk_str(pk, "type"), pk_str(pk, "header");
	pk_str(pk, "magic"), pk_str(pk, magic);
	pk_str(pk, "version"), msgpack_pack_int(pk, 1);
	pk_str(pk, "kind"), pk_str(pk, kind);
}

static void raw_record(msgpack_packer *pk, int id, const char *dtype, size_t nbytes)
{
	float z[C * T];
	latent_values(z, id);
	msgpack_pack_map(pk, 3);
	pk_str(pk, "type"), pk_str(pk, "record");
	pk_str(pk, "id"), msgpack_pack_int(pk, id);
	pk_str(pk, "tensors"), msgpack_pack_map(pk, 1);
	pk_str(pk, "latent"), msgpack_pack_map(pk, 3);
	pk_str(pk, "dtype"), pk_str(pk, dtype);
	pk_str(pk, "shape"), msgpack_pack_array(pk, 2);
	msgpack_pack_int(pk, C), msgpack_pack_int(pk, T);
	pk_str(pk, "data"), msgpack_pack_bin(pk, nbytes), msgpack_pack_bin_body(pk, z, nbytes);
}

static void raw_end(msgpack_packer *pk, int count)
{
	msgpack_pack_map(pk, 2);
	pk_str(pk, "type"), pk_str(pk, "end");
	pk_str(pk, "count"), msgpack_pack_int(pk, count);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: mkstream valid|empty|wrongkind|truncated|nocount|badcount|garbage|baddtype|"
				"shape|nan|badkind|badmagic|shifted|wide [RECORDS]\n");
		return 1;
	}
	const char *v = argv[1];
	int n = argc == 3 ? atoi(argv[2]) : 2;
	if (n < 1 || n > 100000) {
		fprintf(stderr, "mkstream: RECORDS must be 1 to 100000\n");
		return 1;
	}
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	if (!strcmp(v, "valid")) {
		write_stream(stdout, PRESTO_KIND_LATENT, n, 0, 1);
	} else if (!strcmp(v, "shifted") || !strcmp(v, "wide")) {
		if (v[0] == 's')
			lat_shift = 1;
		else
			lat_c = 2 * C;
		write_stream(stdout, PRESTO_KIND_LATENT, n, 0, 1);
	} else if (!strcmp(v, "empty")) {
		write_stream(stdout, PRESTO_KIND_LATENT, 0, 0, 1);
	} else if (!strcmp(v, "wrongkind")) {
		write_stream(stdout, PRESTO_KIND_COND, n, 0, 1);
	} else if (!strcmp(v, "nocount")) {
		write_stream(stdout, PRESTO_KIND_LATENT, n, 0, 0);
	} else if (!strcmp(v, "nan")) {
		write_stream(stdout, PRESTO_KIND_LATENT, n, 1, 1);
	} else if (!strcmp(v, "truncated")) {
		char *buf = NULL, *buf1 = NULL;
		size_t len = 0, len1 = 0;
		FILE *m = open_memstream(&buf, &len), *m1 = open_memstream(&buf1, &len1);
		write_stream(m1, PRESTO_KIND_LATENT, n - 1, 0, 0); /* everything before the last record */
		write_stream(m, PRESTO_KIND_LATENT, n, 0, 0);
		fclose(m);
		fclose(m1);
		fwrite(buf, 1, len1 + (len - len1) / 2, stdout);
		free(buf);
		free(buf1);
	} else if (!strcmp(v, "badcount")) {
		write_stream(stdout, PRESTO_KIND_LATENT, n, 0, 0);
		raw_end(&pk, n + 3);
	} else if (!strcmp(v, "garbage")) {
		write_stream(stdout, PRESTO_KIND_LATENT, 1, 0, 0);
		msgpack_sbuffer_write(&sb, "\x01\x02\x03 this is not msgpack", 24);
	} else if (!strcmp(v, "baddtype")) {
		raw_header(&pk, PRESTO_STREAM_MAGIC, "latent");
		raw_record(&pk, 0, "f33", 4 * C * T);
		raw_end(&pk, 1);
	} else if (!strcmp(v, "shape")) {
		raw_header(&pk, PRESTO_STREAM_MAGIC, "latent");
		raw_record(&pk, 0, "f32", 4 * C * T - 100);
		raw_end(&pk, 1);
	} else if (!strcmp(v, "badkind")) {
		raw_header(&pk, PRESTO_STREAM_MAGIC, "video");
		raw_end(&pk, 0);
	} else if (!strcmp(v, "badmagic")) {
		raw_header(&pk, "presto-streem", "latent");
		raw_end(&pk, 0);
	} else {
		fprintf(stderr, "mkstream: unknown variant '%s'\n", v);
		return 1;
	}
	fwrite(sb.data, 1, sb.size, stdout);
	msgpack_sbuffer_destroy(&sb);
	return fflush(stdout) ? 2 : 0;
}

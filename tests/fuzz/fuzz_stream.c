/* fuzz_stream.c - libFuzzer target for the stream reader: reads every
 * record of the input from memory, exercises the record accessors, and
 * re-encodes every accepted record with the writer; the re-encoded stream
 * must read back to the same records. Built by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

static void touch(const presto_record *rec)
{
	const char *s;
	double d;
	int64_t i;
	const double *a;
	size_t n;
	presto_record_str(rec, "prompt", &s);
	presto_record_double(rec, "cfg", &d);
	presto_record_int(rec, "seed", &i);
	presto_record_array(rec, "sigmas", &a, &n);
	for (int k = 0; k < rec->n_tensors; k++) {
		int64_t shape[PRESTO_MAX_DIMS];
		const presto_tensor *t = &rec->tensors[k];
		for (int j = 0; j < t->ndim; j++)
			shape[j] = j % 2 ? -1 : t->shape[j];
		float *f = NULL;
		if (!presto_record_f32(rec, rec->tensor_names[k], t->ndim, shape, &f))
			free(f);
	}
}

/* Same id, params and tensors (bytes). */
static int same(const presto_record *x, const presto_record *y)
{
	if (x->id != y->id || x->n_params != y->n_params || x->n_tensors != y->n_tensors)
		return 0;
	for (int k = 0; k < x->n_params; k++) {
		const presto_param *p = &x->params[k], *q = &y->params[k];
		if (strcmp(p->name, q->name) || p->type != q->type)
			return 0;
		if (p->type == PRESTO_PARAM_STRING && strcmp(p->s, q->s))
			return 0;
		if (p->type == PRESTO_PARAM_INT && p->i != q->i)
			return 0;
	}
	for (int k = 0; k < x->n_tensors; k++) {
		const presto_tensor *s = &x->tensors[k], *t = &y->tensors[k];
		if (strcmp(x->tensor_names[k], y->tensor_names[k]) || s->dtype != t->dtype || s->nbytes != t->nbytes ||
		    !presto_shape_eq(t, s->ndim, s->shape) || (s->nbytes && memcmp(s->data, t->data, s->nbytes)))
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	presto_stream_reader *r;
	if (presto_stream_reader_open_buffer(data, size, "fuzz", PRESTO_KIND_ANY, &r))
		return 0;
	presto_stream_reader_check_finite(r, size % 2);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	presto_stream_writer *w = NULL;
	if (m)
		presto_stream_writer_open_file(m, "re-encoded", &w);
	if (w)
		presto_stream_writer_check_finite(w, 0);
	int headers = 0, ok = w != NULL;
	presto_record recs[4];
	int kept = 0;
	presto_record rec;
	presto_status st;
	while (!(st = presto_stream_next(r, &rec))) {
		touch(&rec);
		if (ok && presto_stream_reader_streams(r) == 1) {
			if (!headers++)
				ok = !presto_stream_write_header(w, presto_stream_reader_header(r));
			ok = ok && !presto_stream_write_record(w, &rec);
		}
		if (kept < 4 && presto_stream_reader_streams(r) == 1)
			recs[kept++] = rec;
		else
			presto_record_free(&rec);
	}
	presto_stream_reader_close(r);
	if (st == PRESTO_EEOF && ok && headers && !presto_stream_write_end(w)) {
		fflush(m);
		/* The first stream, re-encoded, reads back to the same records. */
		presto_stream_reader *r2;
		if (!presto_stream_reader_open_buffer(buf, len, "again", PRESTO_KIND_ANY, &r2)) {
			presto_stream_reader_check_finite(r2, 0);
			for (int k = 0; k < kept; k++) {
				presto_record again;
				if (presto_stream_next(r2, &again) || !same(&recs[k], &again))
					abort();
				presto_record_free(&again);
			}
			presto_stream_reader_close(r2);
		}
	}
	for (int k = 0; k < kept; k++)
		presto_record_free(&recs[k]);
	presto_stream_writer_close(w);
	if (m)
		fclose(m);
	free(buf);
	return 0;
}

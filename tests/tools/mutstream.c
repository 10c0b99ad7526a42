/* mutstream.c - inspect and damage presto streams for the CLI tests.
 *
 *   mutstream dump ID TENSOR < in > raw   the raw bytes of tensor TENSOR of
 *                                         the record with id ID (the first one)
 *   mutstream dumpall TENSOR < in > raw   those of every record, in order
 *   mutstream dtype TENSOR < in > out     TENSOR of the first record as i64
 *   mutstream shape TENSOR DIM < in > out TENSOR of the first record with
 *                                         dimension DIM one shorter
 *   mutstream nan TENSOR < in > out       a NaN in element 1 of TENSOR of the
 *                                         first record
 *   mutstream drop TENSOR < in > out      the first record without TENSOR
 *   mutstream kind KIND < in > out        the same stream as kind KIND
 *   mutstream param NAME VALUE < in > out every record with a string
 *                                         parameter NAME = VALUE added
 *   mutstream unparam NAME < in > out     every record without parameter NAME
 *
 * The input is any complete stream (a single one); the other records are
 * copied unchanged and the end record is written, so the output is a
 * well-formed stream except for the one defect asked for. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

static void die(const char *what)
{
	fprintf(stderr, "mutstream: %s: %s\n", what, presto_error());
	exit(2);
}

static void usage(void)
{
	fprintf(stderr, "usage: mutstream dump ID TENSOR | dumpall TENSOR | dtype TENSOR | shape TENSOR DIM | nan TENSOR |\n"
			"                 drop TENSOR | kind KIND | param NAME VALUE | unparam NAME  < in > out\n");
	exit(1);
}

static int find(const presto_record *rec, const char *name)
{
	for (int i = 0; i < rec->n_tensors; i++)
		if (!strcmp(rec->tensor_names[i], name))
			return i;
	fprintf(stderr, "mutstream: record %llu has no tensor '%s'\n", (unsigned long long)rec->id, name);
	exit(2);
}

/* Apply the defect to tensor k of rec (first record only). */
static void mutate(const char *op, presto_record *rec, int k, int dim)
{
	presto_tensor *t = &rec->tensors[k];
	size_t n = presto_tensor_numel(t);
	if (!strcmp(op, "dtype")) {
		float *f;
		if (presto_tensor_to_f32(t, &f))
			die("dtype");
		int64_t *v = malloc(sizeof(int64_t) * (n ? n : 1));
		if (!v)
			exit(2);
		for (size_t i = 0; i < n; i++)
			v[i] = (int64_t)lrintf(f[i] * 100.0f);
		free(f);
		int ndim = t->ndim;
		int64_t shape[PRESTO_MAX_DIMS];
		memcpy(shape, t->shape, sizeof shape);
		presto_tensor_free(t);
		*t = presto_tensor_wrap(PRESTO_I64, ndim, shape, v);
		t->owned = 1;
	} else if (!strcmp(op, "shape")) {
		if (dim < 0 || dim >= t->ndim || t->shape[dim] < 1) {
			fprintf(stderr, "mutstream: tensor has no dimension %d to shorten\n", dim);
			exit(2);
		}
		/* keep the leading elements: the data just gets shorter */
		t->shape[dim]--;
		t->nbytes = presto_tensor_numel(t) * presto_dtype_size(t->dtype);
	} else if (!strcmp(op, "nan")) {
		if (t->dtype != PRESTO_F32 || n < 2) {
			fprintf(stderr, "mutstream: nan needs an f32 tensor of 2 or more elements\n");
			exit(2);
		}
		((float *)t->data)[1] = NAN;
	} else if (!strcmp(op, "drop")) {
		presto_tensor_free(t);
		free(rec->tensor_names[k]);
		for (int i = k + 1; i < rec->n_tensors; i++) {
			rec->tensors[i - 1] = rec->tensors[i];
			rec->tensor_names[i - 1] = rec->tensor_names[i];
		}
		rec->n_tensors--;
	}
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	const char *op = argv[1];
	int nargs = !strcmp(op, "dump") || !strcmp(op, "shape") || !strcmp(op, "param") ? 2 : 1;
	if (argc != 2 + nargs)
		usage();
	if (strcmp(op, "dump") && strcmp(op, "dumpall") && strcmp(op, "dtype") && strcmp(op, "shape") && strcmp(op, "nan") &&
	    strcmp(op, "drop") && strcmp(op, "kind") && strcmp(op, "param") && strcmp(op, "unparam"))
		usage();

	presto_stream_reader *r;
	const presto_stream_header *h;
	if (presto_stream_reader_open_file(stdin, "stdin", PRESTO_KIND_ANY, &r) || presto_stream_read_header(r, &h))
		die("input");
	presto_record rec;
	presto_status st;

	if (!strcmp(op, "dumpall")) {
		while (!(st = presto_stream_next(r, &rec))) {
			const presto_tensor *t = &rec.tensors[find(&rec, argv[2])];
			if (fwrite(t->data, 1, t->nbytes, stdout) != t->nbytes)
				exit(2);
			presto_record_free(&rec);
		}
		if (st != PRESTO_EEOF)
			die("input");
		return fflush(stdout) ? 2 : 0;
	}

	if (!strcmp(op, "dump")) {
		unsigned long long id = strtoull(argv[2], NULL, 10);
		while (!(st = presto_stream_next(r, &rec))) {
			if (rec.id == id) {
				const presto_tensor *t = &rec.tensors[find(&rec, argv[3])];
				if (fwrite(t->data, 1, t->nbytes, stdout) != t->nbytes || fflush(stdout))
					exit(2);
				return 0;
			}
			presto_record_free(&rec);
		}
		if (st != PRESTO_EEOF)
			die("input");
		fprintf(stderr, "mutstream: no record with id %llu\n", id);
		return 2;
	}

	presto_stream_header oh = *h;
	if (!strcmp(op, "kind") && presto_stream_kind_parse(argv[2], &oh.kind)) {
		fprintf(stderr, "mutstream: unknown kind '%s'\n", argv[2]);
		return 1;
	}
	presto_stream_writer *w;
	if (presto_stream_writer_open_file(stdout, "stdout", &w) || presto_stream_write_header(w, &oh))
		die("output");
	presto_stream_writer_check_finite(w, 0);
	int first = 1;
	while (!(st = presto_stream_next(r, &rec))) {
		presto_param *p = NULL;
		if (!strcmp(op, "param")) {
			p = malloc(sizeof *p * ((size_t)rec.n_params + 1));
			if (!p)
				exit(2);
			memcpy(p, rec.params, sizeof *p * (size_t)rec.n_params);
			p[rec.n_params] = presto_param_str(argv[2], argv[3]);
		} else if (!strcmp(op, "unparam")) {
			int k = 0;
			for (int i = 0; i < rec.n_params; i++) {
				presto_param *q = &rec.params[i];
				if (strcmp(q->name, argv[2])) {
					rec.params[k++] = *q;
					continue;
				}
				free((char *)q->name);
				free((char *)q->s);
				free((double *)q->a);
			}
			rec.n_params = k;
		} else if (first && strcmp(op, "kind")) {
			mutate(op, &rec, find(&rec, argv[2]), nargs == 2 ? atoi(argv[3]) : 0);
		}
		presto_record out = rec;
		if (p) {
			out.params = p;
			out.n_params++;
		}
		if (presto_stream_write_record(w, &out))
			die("output");
		free(p);
		presto_record_free(&rec);
		first = 0;
	}
	if (st != PRESTO_EEOF)
		die("input");
	if (presto_stream_write_end(w))
		die("output");
	presto_stream_writer_close(w);
	presto_stream_reader_close(r);
	return fflush(stdout) ? 2 : 0;
}

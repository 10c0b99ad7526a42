/* test_parallel.c - the CPU fork-join (presto_parallel, lib/ops/parallel.c)
 * and the ops that use it outside the convolutions (test_conv_ref has
 * those): every index runs exactly once, on a worker numbered below
 * presto_parallel_workers; a call from inside a task
 * runs serially; BLAS is single-threaded inside; and the Snake, the
 * in-place add and attention (forward and backward) give the same bits on 1
 * to 4 threads. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#include "check.h"
#include "testrand.h"

TEST_RAND_SEED(0x9a7a11e1f0c4ull);

int openblas_get_num_threads(void);

typedef struct {
	int n, workers;
	atomic_int *runs;     /* per index */
	atomic_int bad_worker; /* tasks whose worker number was out of range */
	atomic_int nested_bad; /* nested calls that did not run serially or missed an index */
	atomic_int blas_threads; /* most BLAS threads seen inside */
	int nest;
} job;

static void nested_task(void *ctx, int i, int w)
{
	int *seen = ctx;
	seen[i] += 1 + w * 1000; /* w must be 0: serial, in this worker */
}

static void task(void *ctx, int i, int w)
{
	job *j = ctx;
	atomic_fetch_add(&j->runs[i], 1);
	if (w < 0 || w >= j->workers)
		atomic_fetch_add(&j->bad_worker, 1);
	int b = openblas_get_num_threads();
	int m = atomic_load(&j->blas_threads);
	while (b > m && !atomic_compare_exchange_weak(&j->blas_threads, &m, b))
		;
	if (j->nest && i % 7 == 0) {
		int seen[5] = {0};
		if (presto_parallel_workers(5) != 1)
			atomic_fetch_add(&j->nested_bad, 1);
		presto_parallel(5, nested_task, seen);
		for (int k = 0; k < 5; k++)
			if (seen[k] != 1)
				atomic_fetch_add(&j->nested_bad, 1);
	}
}

static void run_case(int n, int threads, int nest, int *bad)
{
	presto_set_threads(threads);
	job j = {.n = n, .workers = presto_parallel_workers(n), .nest = nest};
	j.runs = calloc((size_t)(n ? n : 1), sizeof *j.runs);
	presto_parallel(n, task, &j);
	int expect_workers = n < 1 ? 1 : n < threads ? n : threads;
	for (int i = 0; i < n; i++)
		if (atomic_load(&j.runs[i]) != 1)
			(*bad)++;
	if (j.workers != expect_workers || atomic_load(&j.bad_worker) || atomic_load(&j.nested_bad) ||
	    (n > 0 && atomic_load(&j.blas_threads) != 1)) {
		printf("# n %d threads %d nest %d: workers %d (want %d), bad worker %d, nested %d, blas %d\n", n,
		       threads, nest, j.workers, expect_workers, atomic_load(&j.bad_worker), atomic_load(&j.nested_bad),
		       atomic_load(&j.blas_threads));
		(*bad)++;
	}
	free(j.runs);
}

int main(void)
{
	int bad = 0, cases = 0;
	static const int ns[] = {0, 1, 2, 3, 7, 64, 1000};
	for (int t = 1; t <= 4; t++)
		for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
			for (int nest = 0; nest < 2; nest++, cases++)
				run_case(ns[k], t, nest, &bad);
	CHECK(bad == 0, "%d fork-joins (0 to 1000 tasks, 1 to 4 threads, with calls from inside tasks): every "
			"task once, on a worker in range, nested calls serial, BLAS "
			"single-threaded inside (%d wrong)",
	      cases, bad);

	presto_set_threads(3);
	int blas = openblas_get_num_threads();
	CHECK(blas == 3, "presto_set_threads sets the BLAS threads too (%d)", blas);
	int seen[4] = {0};
	presto_parallel(4, nested_task, seen);
	int runs = openblas_get_num_threads();
	CHECK(runs == 3, "the BLAS thread count is restored after a parallel region (%d)", runs);

	/* the Snake over enough channels and frames to run in parallel, and
	 * the add, in place too: the same bits on 1 to 4 threads */
	int C = 37, T = 5003;
	size_t n = (size_t)C * T;
	float *x = vec(n, 3.0f), *al = vec((size_t)C, 0.3f), *be = vec((size_t)C, 0.3f), *y[4], *z[4], *inplace[4];
	for (int t = 0; t < 4; t++) {
		presto_set_threads(t + 1);
		y[t] = malloc(sizeof(float) * n);
		presto_snake_beta_forward(y[t], x, al, be, C, T);
		inplace[t] = malloc(sizeof(float) * n);
		memcpy(inplace[t], x, sizeof(float) * n);
		presto_snake_beta_forward(inplace[t], inplace[t], al, be, C, T);
		z[t] = malloc(sizeof(float) * n);
		memcpy(z[t], x, sizeof(float) * n);
		presto_add_inplace(z[t], y[t], n);
	}
	int same = 1;
	for (int t = 1; t < 4; t++)
		same &= !memcmp(y[0], y[t], sizeof(float) * n) && !memcmp(z[0], z[t], sizeof(float) * n) &&
			!memcmp(inplace[0], y[0], sizeof(float) * n) && !memcmp(inplace[t], y[0], sizeof(float) * n);
	/* and the add is the plain sum */
	for (size_t i = 0; i < n; i++)
		same &= z[0][i] == x[i] + y[0][i];
	CHECK(same, "Snake (%d x %d, out of place and in place) and the in-place add: the same bits on 1 to 4 "
		    "threads",
	      C, T);
	for (int t = 0; t < 4; t++)
		free(y[t]), free(z[t]), free(inplace[t]);
	free(x), free(al), free(be);

	/* attention, heads in parallel: grouped-query heads, a bias, a key
	 * mask with an item all masked; forward and every gradient the same
	 * bits on 1 to 4 threads */
	{
		int B = 3, Tq = 37, Tk = 29, H = 6, KVH = 2, Dh = 8, qs = H * Dh + 5, ks = KVH * Dh + 3, vs = KVH * Dh;
		size_t nq = (size_t)B * Tq * qs, nk = (size_t)B * Tk * ks, nv = (size_t)B * Tk * vs;
		size_t no = (size_t)B * Tq * H * Dh, nb = (size_t)H * Tq * Tk;
		float *q = vec(nq, 1.0f), *k = vec(nk, 1.0f), *v = vec(nv, 1.0f), *bias = vec(nb, 0.5f), *dout = vec(no, 1.0f);
		float *mask = malloc(sizeof(float) * (size_t)B * Tk);
		for (int i = 0; i < B * Tk; i++)
			mask[i] = i / Tk == 2 ? 0.0f : (i % 5 != 1);
		float *o[4], *dq[4], *dk[4], *dv[4], *db[4];
		for (int t = 0; t < 4; t++) {
			presto_set_threads(t + 1);
			o[t] = malloc(sizeof(float) * no);
			presto_attention_forward(o[t], q, k, v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs, 0.35f, bias, mask);
			dq[t] = calloc(nq, sizeof(float)), dk[t] = calloc(nk, sizeof(float));
			dv[t] = calloc(nv, sizeof(float)), db[t] = calloc(nb, sizeof(float));
			presto_attention_backward(dq[t], dk[t], dv[t], db[t], dout, q, k, v, B, Tq, Tk, H, KVH, Dh, qs, ks,
						  vs, 0.35f, bias, mask);
		}
		int same_attn = 1;
		for (int t = 1; t < 4; t++)
			same_attn &= !memcmp(o[0], o[t], sizeof(float) * no) && !memcmp(dq[0], dq[t], sizeof(float) * nq) &&
				     !memcmp(dk[0], dk[t], sizeof(float) * nk) && !memcmp(dv[0], dv[t], sizeof(float) * nv) &&
				     !memcmp(db[0], db[t], sizeof(float) * nb);
		CHECK(same_attn, "attention (3 items, 6 heads on 2 kv heads, bias, key mask): output and gradients the "
				 "same bits on 1 to 4 threads");
		for (int t = 0; t < 4; t++)
			free(o[t]), free(dq[t]), free(dk[t]), free(dv[t]), free(db[t]);
		free(q), free(k), free(v), free(bias), free(dout), free(mask);
	}
	return check_status();
}

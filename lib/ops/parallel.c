/* parallel.c - fork-join over the CPU's cores for the work that OpenBLAS
 * does not thread: element-wise passes over many channels, and the im2col
 * chunks of a convolution (each a small GEMM that is cheaper run whole in one
 * thread than split by OpenBLAS).
 *
 * presto_parallel(n, fn, ctx) runs fn(ctx, i, w) for every i in [0, n) on w
 * workers (the caller is worker 0), handing out the i one at a time, and
 * returns when all are done. Each i must be independent of the others, so
 * the results do not depend on the number of workers or on which ran what.
 * A call from inside fn runs serially in its worker. Inside the region
 * OpenBLAS runs single-threaded (its thread count is restored after). */
#include <pthread.h>
#include <stdatomic.h>

#include "ops.h"

#define MAX_WORKERS 64

void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);

static int n_threads;             /* presto_set_threads' count; 0: OpenBLAS's */
static _Thread_local int nested;  /* inside a worker */

void presto_set_threads(int n)
{
	if (n > 0) {
		n_threads = n;
		openblas_set_num_threads(n);
	}
}

int presto_threads(void)
{
	/* OpenBLAS's own count ($OPENBLAS_NUM_THREADS, else the cores) unless set */
	int n = n_threads > 0 ? n_threads : openblas_get_num_threads();
	return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : n;
}

int presto_parallel_workers(int n)
{
	int p = nested ? 1 : presto_threads(); /* at most MAX_WORKERS */
	return n < p ? (n < 1 ? 1 : n) : p;
}

typedef struct {
	void (*fn)(void *ctx, int i, int w);
	void *ctx;
	int n;
	atomic_int next;
} job;

typedef struct {
	job *j;
	int w;
} worker_arg;

/* worker w's share: the tasks not yet taken, one at a time */
static void work(job *j, int w)
{
	int was = nested;
	nested = 1;
	for (int i; (i = atomic_fetch_add(&j->next, 1)) < j->n;)
		j->fn(j->ctx, i, w);
	nested = was;
}

static void *worker(void *p)
{
	worker_arg *a = p;
	work(a->j, a->w);
	return NULL;
}

void presto_parallel(int n, void (*fn)(void *ctx, int i, int w), void *ctx)
{
	presto_parallel_limited(n, 0, fn, ctx);
}

void presto_parallel_limited(int n, int max_workers, void (*fn)(void *ctx, int i, int w), void *ctx)
{
	int p = presto_parallel_workers(n);
	if (max_workers > 0 && p > max_workers)
		p = max_workers;
	/* BLAS single-threaded in every task, however many workers: the same
	 * results whatever the thread count */
	int blas = nested ? 1 : openblas_get_num_threads();
	if (blas != 1)
		openblas_set_num_threads(1);
	job j = {.fn = fn, .ctx = ctx, .n = n};
	atomic_init(&j.next, 0);
	pthread_t t[MAX_WORKERS];
	worker_arg args[MAX_WORKERS];
	int started = 0;
	/* a worker that cannot start leaves its share to the others */
	for (int w = 1; w < p; w++) {
		args[started] = (worker_arg){&j, started + 1};
		if (pthread_create(&t[started], NULL, worker, &args[started]) == 0)
			started++;
	}
	work(&j, 0);
	for (int w = 0; w < started; w++)
		pthread_join(t[w], NULL);
	if (blas != 1)
		openblas_set_num_threads(blas);
}

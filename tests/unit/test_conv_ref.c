/* test_conv_ref.c - the convolutions of lib/ops/conv.c (im2col / col2im in
 * chunks of columns + GEMM) against a direct double-precision reference, for
 * many shapes: kernel sizes from 1 to past the input length, strides,
 * dilations, paddings from zero to past the input length, one to thousands
 * of frames (several im2col chunks), forward and backward (dx, dw, db
 * accumulating onto prior contents, all together and each alone), with and
 * without a caller's work buffer, for conv1d and conv_transpose1d.
 *
 * Each output is compared with the reference within 1e-5 of the sum of the
 * magnitudes of its terms (the size of its float rounding) plus 1e-6; an
 * index off by one or a dropped edge is off by O(1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#include "check.h"
#include "testrand.h"

TEST_RAND_SEED(0xc0417e57c0417e57ull);

#define REL 1e-5
#define ABS 1e-6

/* reference values and the sums of the magnitudes of their terms */
typedef struct {
	double *v, *mag;
	size_t n;
} ref;

static ref ref_new(size_t n, const float *prior)
{
	ref r = {calloc(n ? n : 1, sizeof(double)), calloc(n ? n : 1, sizeof(double)), n};
	for (size_t i = 0; prior && i < n; i++) {
		r.v[i] = prior[i];
		r.mag[i] = fabs(prior[i]);
	}
	return r;
}

static void ref_add(ref *r, size_t i, double t)
{
	r->v[i] += t;
	r->mag[i] += fabs(t);
}

/* worst |got - ref| / (REL mag + ABS): <= 1 passes */
static double ref_err(const ref *r, const float *got)
{
	double w = 0;
	for (size_t i = 0; i < r->n; i++)
		w = fmax(w, fabs((double)got[i] - r->v[i]) / (REL * r->mag[i] + ABS));
	return w;
}

static void ref_free(ref *r)
{
	free(r->v);
	free(r->mag);
}

static float *copy(const float *p, size_t n)
{
	float *q = malloc(sizeof(float) * (n ? n : 1));
	memcpy(q, p, sizeof(float) * n);
	return q;
}

static int n_cases, n_failed;
static double worst_err;

static void result(const char *op, int Cin, int Cout, int T, int K, int s, int p, int d, int use_work, double e)
{
	n_cases++;
	worst_err = fmax(worst_err, e);
	if (!(e <= 1.0)) {
		n_failed++;
		if (n_failed <= 20)
			printf("# %s Cin %d Cout %d T %d K %d stride %d pad %d dil %d work %d: error %.3g of the bound\n",
			       op, Cin, Cout, T, K, s, p, d, use_work, e);
	}
}

/* The backward with the gradients all at once, then each alone (the others
 * NULL), each from its prior contents; worst error against the references. */
typedef void (*bwd_fn)(const void *args, float *dx, float *dw, float *db, float *work);

static double backward_err(bwd_fn f, const void *args, float *work, const float *dx0, const float *dw0,
			   const float *db0, const ref *rx, const ref *rw, const ref *rb)
{
	float *dx = copy(dx0, rx->n), *dw = copy(dw0, rw->n), *db = copy(db0, rb->n);
	f(args, dx, dw, db, work);
	double e = fmax(fmax(ref_err(rx, dx), ref_err(rw, dw)), ref_err(rb, db));
	memcpy(dx, dx0, sizeof(float) * rx->n);
	memcpy(dw, dw0, sizeof(float) * rw->n);
	memcpy(db, db0, sizeof(float) * rb->n);
	f(args, dx, NULL, NULL, work);
	f(args, NULL, dw, NULL, work);
	f(args, NULL, NULL, db, work);
	e = fmax(e, fmax(fmax(ref_err(rx, dx), ref_err(rw, dw)), ref_err(rb, db)));
	free(dx), free(dw), free(db);
	return e;
}

/* a case's arguments: dy for the backward, b for the forward */
typedef struct {
	const float *dy, *x, *w, *b;
	int Cin, Cout, T, K, s, p, d;
} bargs;

static void conv_bwd(const void *a, float *dx, float *dw, float *db, float *work)
{
	const bargs *g = a;
	presto_conv1d_backward(dx, dw, db, g->dy, g->x, g->w, g->Cin, g->Cout, g->T, g->K, g->s, g->p, g->d, work);
}

static void convt_bwd(const void *a, float *dx, float *dw, float *db, float *work)
{
	const bargs *g = a;
	presto_conv_transpose1d_backward(dx, dw, db, g->dy, g->x, g->w, g->Cin, g->Cout, g->T, g->K, g->s, g->p, work);
}

/* conv1d: x [Cin, T], w [Cout, Cin, K], y [Cout, Tout],
 * y[o, t] = b[o] + sum_{c,k} w[o, c, k] x[c, t s - p + k d] */
/* The forwards run their chunks (groups of channels for the transposed
 * convolution) on several threads: on 1, 2 and 3 the same bits, and with a
 * caller's work buffer nothing written past its documented size (a guard
 * as long again after it keeps its pattern). */
static int n_thread_cases, n_thread_diff, n_guard_broken;
#define GUARD_VALUE 12345.0f

typedef void (*fwd_fn)(const void *args, float *y, float *work);

static void threads_case(fwd_fn f, const void *args, size_t ny, size_t nwork, int use_work)
{
	float *y[3], *work = NULL;
	size_t guard = nwork + 16;
	if (use_work) {
		work = malloc(sizeof(float) * (nwork + guard));
		for (size_t i = 0; i < guard; i++)
			work[nwork + i] = GUARD_VALUE;
	}
	for (int t = 0; t < 3; t++) {
		y[t] = malloc(sizeof(float) * (ny ? ny : 1));
		presto_set_threads(t + 1);
		f(args, y[t], work);
	}
	presto_set_threads(2);
	n_thread_cases++;
	if (memcmp(y[0], y[1], sizeof(float) * ny) || memcmp(y[0], y[2], sizeof(float) * ny))
		n_thread_diff++;
	for (size_t i = 0; use_work && i < guard; i++)
		if (work[nwork + i] != GUARD_VALUE) {
			n_guard_broken++;
			break;
		}
	free(y[0]), free(y[1]), free(y[2]), free(work);
}

static void conv_fwd(const void *a, float *y, float *work)
{
	const bargs *g = a;
	presto_conv1d_forward(y, g->x, g->w, g->b, g->Cin, g->Cout, g->T, g->K, g->s, g->p, g->d, work);
}

static void convt_fwd(const void *a, float *y, float *work)
{
	const bargs *g = a;
	presto_conv_transpose1d_forward(y, g->x, g->w, g->b, g->Cin, g->Cout, g->T, g->K, g->s, g->p, work);
}

static void conv_case(int Cin, int Cout, int T, int K, int s, int p, int d, int use_work)
{
	int To = presto_conv1d_out_len(T, K, s, p, d);
	if (To <= 0)
		return;
	size_t nx = (size_t)Cin * T, nw = (size_t)Cout * Cin * K, ny = (size_t)Cout * To;
	float *x = vec(nx, 1), *w = vec(nw, 1), *b = vec((size_t)Cout, 1), *dy = vec(ny, 1);
	float *y = vec(ny, 1), *dx0 = vec(nx, 1), *dw0 = vec(nw, 1), *db0 = vec((size_t)Cout, 1);
	ref ry = ref_new(ny, NULL), rx = ref_new(nx, dx0), rw = ref_new(nw, dw0), rb = ref_new((size_t)Cout, db0);
	for (int o = 0; o < Cout; o++)
		for (int t = 0; t < To; t++) {
			size_t yi = (size_t)o * To + t;
			ref_add(&ry, yi, b[o]);
			ref_add(&rb, (size_t)o, dy[yi]);
			for (int c = 0; c < Cin; c++)
				for (int k = 0; k < K; k++) {
					long i = (long)t * s - p + (long)k * d;
					if (i < 0 || i >= T)
						continue;
					size_t wi = ((size_t)o * Cin + c) * K + k, xi = (size_t)c * T + (size_t)i;
					ref_add(&ry, yi, (double)w[wi] * x[xi]);
					ref_add(&rx, xi, (double)w[wi] * dy[yi]);
					ref_add(&rw, wi, (double)dy[yi] * x[xi]);
				}
		}
	size_t nf = presto_conv1d_work_size(Cin, T, K, s, p, d), nbk = presto_conv1d_backward_work_size(Cin, T, K, s, p, d);
	float *work = use_work ? malloc(sizeof(float) * ((nf > nbk ? nf : nbk) + 1)) : NULL;
	presto_conv1d_forward(y, x, w, b, Cin, Cout, T, K, s, p, d, work);
	double e = ref_err(&ry, y);
	/* without bias */
	for (int o = 0; o < Cout; o++)
		for (int t = 0; t < To; t++)
			ry.v[(size_t)o * To + t] -= b[o];
	presto_conv1d_forward(y, x, w, NULL, Cin, Cout, T, K, s, p, d, work);
	e = fmax(e, ref_err(&ry, y));
	bargs a = {dy, x, w, b, Cin, Cout, T, K, s, p, d};
	e = fmax(e, backward_err(conv_bwd, &a, work, dx0, dw0, db0, &rx, &rw, &rb));
	result("conv1d", Cin, Cout, T, K, s, p, d, use_work, e);
	threads_case(conv_fwd, &a, ny, nf, use_work);
	ref_free(&ry), ref_free(&rx), ref_free(&rw), ref_free(&rb);
	free(x), free(w), free(b), free(dy), free(y), free(dx0), free(dw0), free(db0), free(work);
}

/* conv_transpose1d: x [Cin, T], w [Cin, Cout, K], y [Cout, Tout],
 * y[o, t s - p + k] += w[c, o, k] x[c, t], plus b[o] */
static void convt_case(int Cin, int Cout, int T, int K, int s, int p, int use_work)
{
	int To = presto_conv_transpose1d_out_len(T, K, s, p);
	if (To <= 0)
		return;
	size_t nx = (size_t)Cin * T, nw = (size_t)Cin * Cout * K, ny = (size_t)Cout * To;
	float *x = vec(nx, 1), *w = vec(nw, 1), *b = vec((size_t)Cout, 1), *dy = vec(ny, 1);
	float *y = vec(ny, 1), *dx0 = vec(nx, 1), *dw0 = vec(nw, 1), *db0 = vec((size_t)Cout, 1);
	ref ry = ref_new(ny, NULL), rx = ref_new(nx, dx0), rw = ref_new(nw, dw0), rb = ref_new((size_t)Cout, db0);
	for (int o = 0; o < Cout; o++)
		for (int i = 0; i < To; i++) {
			ref_add(&ry, (size_t)o * To + i, b[o]);
			ref_add(&rb, (size_t)o, dy[(size_t)o * To + i]);
		}
	for (int c = 0; c < Cin; c++)
		for (int o = 0; o < Cout; o++)
			for (int k = 0; k < K; k++)
				for (int t = 0; t < T; t++) {
					long i = (long)t * s - p + k;
					if (i < 0 || i >= To)
						continue;
					size_t wi = ((size_t)c * Cout + o) * K + k, xi = (size_t)c * T + t;
					size_t yi = (size_t)o * To + (size_t)i;
					ref_add(&ry, yi, (double)w[wi] * x[xi]);
					ref_add(&rx, xi, (double)w[wi] * dy[yi]);
					ref_add(&rw, wi, (double)x[xi] * dy[yi]);
				}
	size_t nf = presto_conv_transpose1d_work_size(Cout, T, K), nbk = presto_conv_transpose1d_backward_work_size(Cout, T, K);
	float *work = use_work ? malloc(sizeof(float) * ((nf > nbk ? nf : nbk) + 1)) : NULL;
	presto_conv_transpose1d_forward(y, x, w, b, Cin, Cout, T, K, s, p, work);
	double e = ref_err(&ry, y);
	bargs a = {dy, x, w, b, Cin, Cout, T, K, s, p, 1};
	e = fmax(e, backward_err(convt_bwd, &a, work, dx0, dw0, db0, &rx, &rw, &rb));
	result("conv_transpose1d", Cin, Cout, T, K, s, p, 1, use_work, e);
	threads_case(convt_fwd, &a, ny, nf, use_work);
	ref_free(&ry), ref_free(&rx), ref_free(&rw), ref_free(&rb);
	free(x), free(w), free(b), free(dy), free(y), free(dx0), free(dw0), free(db0), free(work);
}

int main(void)
{
	/* small shapes, every combination: K past T, pads past T, gaps (K < stride) */
	static const int Ts[] = {1, 2, 3, 5, 8, 13};
	static const int Ks[] = {1, 2, 3, 4, 7, 16};
	static const int Ss[] = {1, 2, 3, 5};
	static const int Ps[] = {0, 1, 2, 6, 20};
	static const int Ds[] = {1, 2, 3};
	for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++)
		for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
			for (size_t si = 0; si < sizeof Ss / sizeof *Ss; si++)
				for (size_t pi = 0; pi < sizeof Ps / sizeof *Ps; pi++) {
					int T = Ts[ti], K = Ks[ki], s = Ss[si], p = Ps[pi], w = (int)((ti + ki + pi) & 1);
					for (size_t di = 0; di < sizeof Ds / sizeof *Ds; di++)
						conv_case(1 + (int)(ki % 3), 1 + (int)(si % 2) * 2, T, K, s, p, Ds[di], w);
					convt_case(1 + (int)(pi % 2) * 2, 1 + (int)(ki % 3), T, K, s, p, !w);
				}
	CHECK(n_failed == 0, "%d small conv1d / conv_transpose1d cases (T 1..13, K 1..16, stride 1..5, pad 0..20, "
			     "dilation 1..3) match the direct reference (worst %.3g of the bound)",
	      n_cases, worst_err);

	/* long inputs: several im2col chunks, the Oobleck kernels (7 dilated,
	 * strided down- and upsampling), pads at both ends of each chunk */
	int before = n_cases, failed = n_failed;
	worst_err = 0;
	conv_case(32, 3, 1500, 8, 1, 3, 1, 1);  /* 256 rows: chunks of 256 columns */
	conv_case(32, 2, 1500, 8, 1, 3, 1, 0);
	conv_case(16, 4, 3001, 7, 1, 27, 9, 1); /* dilated residual conv */
	conv_case(16, 5, 2049, 7, 1, 9, 3, 0);
	conv_case(40, 3, 4100, 8, 4, 2, 1, 1);  /* encoder downsampling */
	conv_case(64, 2, 4096, 16, 8, 4, 1, 0);
	conv_case(3, 6, 2000, 1, 1, 0, 1, 1);   /* pointwise */
	conv_case(20, 3, 1030, 16, 3, 700, 2, 1); /* pads past the chunk */
	convt_case(6, 32, 600, 8, 4, 2, 1);     /* 256 rows per chunk */
	convt_case(4, 20, 700, 16, 8, 4, 0);
	convt_case(5, 17, 1100, 16, 2, 9, 1);
	convt_case(3, 40, 900, 8, 4, 2, 1);      /* five groups of output channels */
	convt_case(3, 9, 5000, 4, 2, 1, 1);      /* a group and a channel, the work for one worker */
	conv_case(8, 5, 70000, 1, 1, 0, 1, 1);  /* pointwise, many chunks */
	conv_case(32, 3, 400, 8, 1, 3, 1, 1);   /* two chunks, the second short: the work for one worker */
	convt_case(3, 9, 1000, 4, 2, 1, 1);      /* two groups, the work for one worker */
	CHECK(n_failed == failed, "%d long cases (up to 70000 frames, several im2col chunks) match the direct "
				  "reference (worst %.3g of the bound)",
	      n_cases - before, worst_err);
	CHECK(n_thread_diff == 0, "%d forwards give the same bits on 1, 2 and 3 threads (%d differ)", n_thread_cases,
	      n_thread_diff);
	CHECK(n_guard_broken == 0, "no forward writes past its documented work size (%d did)", n_guard_broken);
	return check_status();
}

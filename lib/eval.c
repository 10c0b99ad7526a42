/* eval.c - presto-eval's measures (see eval.h). */
#include "eval.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* ---- reconstruction metrics */

presto_status presto_recon_compare(presto_mrstft *L, const float *ref, const float *gen, int C, int T,
				   presto_recon_metrics *m)
{
	if (C < 1 || T < 1)
		return presto_error_set(PRESTO_EINVAL, "recon: %d channels of %d frames", C, T);
	presto_mrstft_terms lr, ms;
	m->mrstft_ms = NAN;
	if (C == 2) {
		double total;
		PRESTO_TRY(presto_mrstft_stereo_forward(L, gen, ref, 1, 2, T, 1.0, 1.0, &lr, &ms, &total));
		m->mrstft_ms = ms.loss;
	} else {
		PRESTO_TRY(presto_mrstft_forward(L, gen, ref, C, T, &lr));
	}
	m->mrstft = lr.loss;
	double s = 0;
	for (int c = 0; c < C; c++)
		s += presto_si_sdr(gen + (size_t)c * T, ref + (size_t)c * T, (size_t)T);
	m->sisdr = s / C;
	m->l1 = presto_l1_loss_forward(ref, gen, (size_t)C * (size_t)T);
	return PRESTO_OK;
}

/* ---- spectrograms */

void presto_spec_defaults(presto_spec_config *c)
{
	c->height = 256;
	c->width = 0;
	c->cols_per_second = 100;
	c->max_width = 8192;
	c->fmin = 30;
}

int presto_spec_width(const presto_spec_config *c, int64_t N, int rate)
{
	if (c->width > 0)
		return c->width;
	double w = ceil((double)N * c->cols_per_second / (rate > 0 ? rate : 1));
	return w < 1 ? 1 : w > c->max_width ? c->max_width : (int)w;
}

static double mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

/* Mel of the top row and the spacing of rows. */
static void mel_axis(const presto_spec_config *c, int rate, double *top, double *step)
{
	double nyq = rate / 2.0, f0 = fmin(c->fmin, nyq / 4);
	*top = mel(nyq);
	*step = (*top - mel(f0)) / (c->height - 1);
}

double presto_spec_row_hz(const presto_spec_config *c, int rate, int row)
{
	double top, step;
	mel_axis(c, rate, &top, &step);
	return mel_hz(top - row * step);
}

static int fft_size(int rate)
{
	int n = 16;
	while (n < rate / 16 && n < (1 << 20))
		n *= 2;
	return n;
}

presto_status presto_spectrogram(const presto_spec_config *c, const float *x, int64_t N, int rate, float **out,
				 int *width)
{
	*out = NULL;
	if (c->height < 2 || c->height > 65536 || !(c->fmin > 0) || !(c->cols_per_second > 0) || c->max_width < 1 ||
	    c->width < 0)
		return presto_error_set(PRESTO_EINVAL, "spectrogram: bad configuration (height %d, fmin %g)", c->height,
					c->fmin);
	if (N < 1 || rate < 1)
		return presto_error_set(PRESTO_EINVAL, "spectrogram: %lld samples at %d Hz", (long long)N, rate);
	int W = presto_spec_width(c, N, rate), H = c->height, n = fft_size(rate), F = n / 2 + 1;
	double df = (double)rate / n, top, step;
	mel_axis(c, rate, &top, &step);
	presto_rfft *fft = NULL;
	presto_status st = presto_rfft_new(n, &fft);
	float *img = NULL, *win = presto_falloc((size_t)n), *frame = presto_falloc((size_t)n);
	float *re = presto_falloc((size_t)F), *im = presto_falloc((size_t)F);
	double *pw = presto_malloc(sizeof(double) * (size_t)F);
	int *k0 = presto_malloc(sizeof(int) * 2 * (size_t)H), *k1 = k0 ? k0 + H : NULL;
	double *wt = presto_malloc(sizeof(double) * (size_t)H);
	size_t nel;
	if (!st && !presto_mul_size((size_t)H, (size_t)W, &nel))
		st = presto_error_set(PRESTO_ENOMEM, "spectrogram: %dx%d is too large", W, H);
	if (!st && (!win || !frame || !re || !im || !pw || !k0 || !wt || !(img = presto_falloc(nel))))
		st = PRESTO_ENOMEM;
	if (st)
		goto done;
	for (int i = 0; i < n; i++)
		win[i] = (float)(0.5 - 0.5 * cos(6.283185307179586 * i / n));
	/* Per row: the bins k0 .. k1-1 inside its band, or (k1 == k0 - 1) the
	 * interpolation between bins k0 and k0 + 1 with weight wt on k0 + 1. */
	for (int r = 0; r < H; r++) {
		double m = top - r * step, flo = mel_hz(m - step / 2), fhi = mel_hz(m + step / 2), fc = mel_hz(m);
		int a = (int)ceil(flo / df), b = (int)ceil(fhi / df);
		a = a < 0 ? 0 : a;
		b = b > F ? F : b;
		if (a < b) {
			k0[r] = a, k1[r] = b, wt[r] = 0;
		} else {
			double kf = fc / df;
			int k = (int)floor(kf);
			k = k < 0 ? 0 : k > F - 2 ? F - 2 : k;
			k0[r] = k, k1[r] = k - 1, wt[r] = fmin(fmax(kf - k, 0), 1);
		}
	}
	double norm = 16.0 / ((double)n * n); /* (2 / sum of the window)^2 */
	for (int col = 0; col < W; col++) {
		int64_t start = (int64_t)floor((col + 0.5) * (double)N / W) - n / 2;
		for (int i = 0; i < n; i++) {
			int64_t t = start + i;
			frame[i] = t >= 0 && t < N ? x[t] : 0.0f;
		}
		presto_rfft_forward(fft, re, im, frame, win);
		for (int k = 0; k < F; k++)
			pw[k] = ((double)re[k] * re[k] + (double)im[k] * im[k]) * norm;
		for (int r = 0; r < H; r++) {
			double p;
			if (k1[r] >= k0[r]) {
				p = 0;
				for (int k = k0[r]; k < k1[r]; k++)
					p += pw[k];
				p /= k1[r] - k0[r];
			} else {
				p = (1 - wt[r]) * pw[k0[r]] + wt[r] * pw[k0[r] + 1];
			}
			img[(size_t)r * W + col] = (float)(10.0 * log10(p + 1e-20));
		}
	}
	*out = img;
	*width = W;
	img = NULL;
done:
	presto_rfft_free(fft);
	free(img);
	free(win);
	free(frame);
	free(re);
	free(im);
	free(pw);
	free(k0);
	free(wt);
	return st;
}

/* ---- symmetric matrices */

static int by_value(const void *a, const void *b)
{
	double x = ((const double *)a)[0], y = ((const double *)b)[0];
	return x < y ? -1 : x > y;
}

presto_status presto_eigh(const double *A, int n, double *d, double *V)
{
	if (n < 1)
		return presto_error_set(PRESTO_EINVAL, "eigh: size %d", n);
	size_t nn = (size_t)n * (size_t)n;
	double *a = presto_malloc(sizeof(double) * nn);
	double *v = presto_malloc(sizeof(double) * nn);
	double *order = presto_malloc(sizeof(double) * 2 * (size_t)n);
	if (!a || !v || !order) {
		free(a);
		free(v);
		free(order);
		return PRESTO_ENOMEM;
	}
	double frob = 0;
	for (int i = 0; i < n; i++)
		for (int j = i; j < n; j++) {
			double x = A[(size_t)i * n + j];
			if (!isfinite(x)) {
				free(a);
				free(v);
				free(order);
				return presto_error_set(PRESTO_EINVAL, "eigh: entry [%d, %d] is not finite", i, j);
			}
			a[(size_t)i * n + j] = a[(size_t)j * n + i] = x;
			frob += (i == j ? 1 : 2) * x * x;
		}
	frob = sqrt(frob);
	memset(v, 0, sizeof(double) * nn);
	for (int i = 0; i < n; i++)
		v[(size_t)i * n + i] = 1;
	double tol = 1e-15 * frob, skip = 1e-20 * frob;
	for (int sweep = 0; sweep < 100 && frob > 0; sweep++) {
		double off = 0;
		for (int p = 0; p < n; p++)
			for (int q = p + 1; q < n; q++)
				off += a[(size_t)p * n + q] * a[(size_t)p * n + q];
		if (sqrt(2 * off) <= tol)
			break;
		int rotated = 0;
		for (int p = 0; p < n; p++)
			for (int q = p + 1; q < n; q++) {
				double apq = a[(size_t)p * n + q];
				if (fabs(apq) <= skip)
					continue;
				double app = a[(size_t)p * n + p], aqq = a[(size_t)q * n + q];
				double theta = (aqq - app) / (2 * apq), t;
				if (fabs(theta) > 1e150)
					t = 1 / (2 * theta);
				else
					t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
				double c = 1 / sqrt(t * t + 1), s = t * c;
				for (int k = 0; k < n; k++) {
					if (k == p || k == q)
						continue;
					double akp = a[(size_t)k * n + p], akq = a[(size_t)k * n + q];
					double np = c * akp - s * akq, nq = s * akp + c * akq;
					a[(size_t)k * n + p] = a[(size_t)p * n + k] = np;
					a[(size_t)k * n + q] = a[(size_t)q * n + k] = nq;
				}
				a[(size_t)p * n + p] = app - t * apq;
				a[(size_t)q * n + q] = aqq + t * apq;
				a[(size_t)p * n + q] = a[(size_t)q * n + p] = 0;
				for (int k = 0; k < n; k++) {
					double vkp = v[(size_t)k * n + p], vkq = v[(size_t)k * n + q];
					v[(size_t)k * n + p] = c * vkp - s * vkq;
					v[(size_t)k * n + q] = s * vkp + c * vkq;
				}
				rotated = 1;
			}
		if (!rotated)
			break;
	}
	for (int i = 0; i < n; i++) {
		order[2 * i] = a[(size_t)i * n + i];
		order[2 * i + 1] = i;
	}
	qsort(order, (size_t)n, 2 * sizeof(double), by_value);
	for (int j = 0; j < n; j++) {
		d[j] = order[2 * j];
		if (V) {
			int src = (int)order[2 * j + 1];
			for (int k = 0; k < n; k++)
				V[(size_t)k * n + j] = v[(size_t)k * n + src];
		}
	}
	free(a);
	free(v);
	free(order);
	return PRESTO_OK;
}

presto_status presto_sqrtm_psd(const double *A, int n, double *out)
{
	size_t nn = (size_t)n * (size_t)n;
	double *d = presto_malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
	double *V = presto_malloc(sizeof(double) * (nn ? nn : 1));
	double *W = presto_malloc(sizeof(double) * (nn ? nn : 1));
	presto_status st = d && V && W ? presto_eigh(A, n, d, V) : PRESTO_ENOMEM;
	if (!st) {
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++)
				W[(size_t)i * n + j] = V[(size_t)i * n + j] * sqrt(d[j] > 0 ? d[j] : 0);
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0, W, n, V, n, 0.0, out, n);
	}
	free(d);
	free(V);
	free(W);
	return st;
}

/* ---- Gaussian fits and the Fréchet distance */

#define FIT_CHUNK 1024 /* frames converted to double at a time */

presto_status presto_gauss_fit_init(presto_gauss_fit *g, int dim)
{
	memset(g, 0, sizeof *g);
	if (dim < 1 || dim > 16384)
		return presto_error_set(PRESTO_EINVAL, "Gaussian fit: %d dimensions (1 to 16384)", dim);
	g->dim = dim;
	g->shift = presto_calloc((size_t)dim, sizeof(double));
	g->sum = presto_calloc((size_t)dim, sizeof(double));
	g->cross = presto_calloc((size_t)dim * (size_t)dim, sizeof(double));
	g->buf = presto_malloc(sizeof(double) * (size_t)dim * FIT_CHUNK);
	if (!g->shift || !g->sum || !g->cross || !g->buf) {
		presto_gauss_fit_free(g);
		return PRESTO_ENOMEM;
	}
	g->buf_cap = FIT_CHUNK;
	return PRESTO_OK;
}

void presto_gauss_fit_free(presto_gauss_fit *g)
{
	free(g->shift);
	free(g->sum);
	free(g->cross);
	free(g->buf);
	memset(g, 0, sizeof *g);
}

presto_status presto_gauss_fit_add(presto_gauss_fit *g, const float *x, int64_t T)
{
	int D = g->dim;
	if (T < 1)
		return PRESTO_OK;
	if (!g->count)
		for (int c = 0; c < D; c++)
			g->shift[c] = x[(size_t)c * (size_t)T];
	for (int64_t t0 = 0; t0 < T; t0 += g->buf_cap) {
		int m = (int)(T - t0 < g->buf_cap ? T - t0 : g->buf_cap);
		for (int c = 0; c < D; c++) {
			const float *row = x + (size_t)c * (size_t)T + (size_t)t0;
			double *b = g->buf + (size_t)c * m, s = 0;
			for (int t = 0; t < m; t++) {
				b[t] = (double)row[t] - g->shift[c];
				s += b[t];
			}
			g->sum[c] += s;
		}
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, D, m, 1.0, g->buf, m, 1.0, g->cross, D);
	}
	g->count += T;
	return PRESTO_OK;
}

presto_status presto_gauss_fit_get(const presto_gauss_fit *g, double *mean, double *cov)
{
	int D = g->dim;
	if (g->count < 2)
		return presto_error_set(PRESTO_EINVAL, "Gaussian fit: %lld sample%s (a covariance needs 2 or more)",
					(long long)g->count, g->count == 1 ? "" : "s");
	double n = (double)g->count;
	for (int i = 0; i < D; i++)
		mean[i] = g->shift[i] + g->sum[i] / n;
	for (int i = 0; i < D; i++)
		for (int j = i; j < D; j++) {
			double v = (g->cross[(size_t)i * D + j] - g->sum[i] * g->sum[j] / n) / (n - 1);
			cov[(size_t)i * D + j] = cov[(size_t)j * D + i] = v;
		}
	return PRESTO_OK;
}

presto_status presto_frechet(const double *ma, const double *Sa, const double *mb, const double *Sb, int n,
			     double *dist, double *mean_term, double *cov_term)
{
	if (n < 1)
		return presto_error_set(PRESTO_EINVAL, "frechet: %d dimensions", n);
	size_t nn = (size_t)n * (size_t)n;
	double *ra = presto_malloc(sizeof(double) * nn), *t = presto_malloc(sizeof(double) * nn);
	double *M = presto_malloc(sizeof(double) * nn), *d = presto_malloc(sizeof(double) * (size_t)n);
	presto_status st = ra && t && M && d ? presto_sqrtm_psd(Sa, n, ra) : PRESTO_ENOMEM;
	if (!st) {
		/* M = Sa^1/2 Sb Sa^1/2, symmetrised against rounding */
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, ra, n, Sb, n, 0.0, t, n);
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, t, n, ra, n, 0.0, M, n);
		for (int i = 0; i < n; i++)
			for (int j = i + 1; j < n; j++)
				M[(size_t)i * n + j] = M[(size_t)j * n + i] =
					0.5 * (M[(size_t)i * n + j] + M[(size_t)j * n + i]);
		st = presto_eigh(M, n, d, NULL);
	}
	if (!st) {
		double mt = 0, tr = 0, root = 0;
		for (int i = 0; i < n; i++) {
			mt += (ma[i] - mb[i]) * (ma[i] - mb[i]);
			tr += Sa[(size_t)i * n + i] + Sb[(size_t)i * n + i];
			root += sqrt(d[i] > 0 ? d[i] : 0);
		}
		double ct = tr - 2 * root;
		ct = ct > 0 ? ct : 0;
		*dist = mt + ct;
		if (mean_term)
			*mean_term = mt;
		if (cov_term)
			*cov_term = ct;
	}
	free(ra);
	free(t);
	free(M);
	free(d);
	return st;
}

presto_status presto_frechet_standardized(const double *ma, const double *Sa, const double *mb, const double *Sb,
					  int n, double *dist)
{
	if (n < 1)
		return presto_error_set(PRESTO_EINVAL, "frechet: %d dimensions", n);
	size_t nn = (size_t)n * (size_t)n;
	double *sa = presto_malloc(sizeof(double) * nn), *sb = presto_malloc(sizeof(double) * nn);
	double *za = presto_malloc(sizeof(double) * (size_t)n), *zb = presto_calloc((size_t)n, sizeof(double));
	double *inv = presto_malloc(sizeof(double) * (size_t)n);
	presto_status st = sa && sb && za && zb && inv ? PRESTO_OK : PRESTO_ENOMEM;
	if (!st) {
		for (int i = 0; i < n; i++) {
			double v = Sb[(size_t)i * n + i];
			inv[i] = v > 0 ? 1 / sqrt(v) : 1;
			za[i] = (ma[i] - mb[i]) * inv[i];
		}
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++) {
				sa[(size_t)i * n + j] = Sa[(size_t)i * n + j] * inv[i] * inv[j];
				sb[(size_t)i * n + j] = Sb[(size_t)i * n + j] * inv[i] * inv[j];
			}
		st = presto_frechet(za, sa, zb, sb, n, dist, NULL, NULL);
	}
	free(sa);
	free(sb);
	free(za);
	free(zb);
	free(inv);
	return st;
}

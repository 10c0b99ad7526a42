/* loss.c - waveform, multi-resolution STFT and SI-SDR losses (see loss.h). */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "ops.h"

/* ---- waveform losses */

static double sgn(double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }

double presto_l1_loss_forward(const float *x, const float *y, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += fabs((double)x[i] - (double)y[i]);
	return n ? s / (double)n : 0.0;
}

void presto_l1_loss_backward(float *dx, float *dy, const float *x, const float *y, size_t n, double dloss)
{
	if (!n)
		return;
	double a = dloss / (double)n;
	for (size_t i = 0; i < n; i++) {
		float g = (float)(a * sgn((double)x[i] - (double)y[i]));
		if (dx)
			dx[i] += g;
		if (dy)
			dy[i] -= g;
	}
}

double presto_l2_loss_forward(const float *x, const float *y, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)x[i] - (double)y[i];
		s += d * d;
	}
	return n ? s / (double)n : 0.0;
}

void presto_l2_loss_backward(float *dx, float *dy, const float *x, const float *y, size_t n, double dloss)
{
	if (!n)
		return;
	double a = 2.0 * dloss / (double)n;
	for (size_t i = 0; i < n; i++) {
		float g = (float)(a * ((double)x[i] - (double)y[i]));
		if (dx)
			dx[i] += g;
		if (dy)
			dy[i] -= g;
	}
}

/* ---- multi-resolution STFT */

struct presto_mrstft {
	presto_mrstft_config c;
	/* n_fft a power of two: a real FFT and the window [N] (centred, zeros
	 * around it); otherwise the DFT as a matrix: basis [2F, N], window * cos
	 * then window * -sin */
	presto_rfft *fft[PRESTO_STFT_MAX_RES];
	float *win[PRESTO_STFT_MAX_RES];
	float *basis[PRESTO_STFT_MAX_RES];
	float *pad, *frames, *zx, *zy, *mx, *my;
	size_t cap_pad, cap_frames, cap_zx, cap_zy, cap_mx, cap_my;
	float *st;                         /* stereo: 8 [B, T] signals */
	size_t cap_st;
};

void presto_mrstft_defaults(presto_mrstft_config *c)
{
	memset(c, 0, sizeof *c);
	static const int n[] = {2048, 1024, 512, 256, 128, 64, 32};
	c->n_res = 7;
	for (int r = 0; r < 7; r++) {
		c->n_fft[r] = n[r];
		c->hop[r] = n[r] / 4;
		c->win[r] = n[r];
	}
	c->w_sc = 1.0;
	c->w_log_mag = 1.0;
	c->w_lin_mag = 0.0;
	c->eps = 1e-8;
	c->pad = PRESTO_STFT_PAD_REFLECT;
}

static presto_status check_config(const presto_mrstft_config *c)
{
	if (c->n_res < 1 || c->n_res > PRESTO_STFT_MAX_RES)
		return presto_error_set(PRESTO_EINVAL, "mrstft: %d resolutions (1 to %d)", c->n_res,
					PRESTO_STFT_MAX_RES);
	for (int r = 0; r < c->n_res; r++) {
		if (c->n_fft[r] < 2 || c->n_fft[r] > (1 << 16) || c->hop[r] < 1 || c->win[r] < 1 ||
		    c->win[r] > c->n_fft[r])
			return presto_error_set(PRESTO_EINVAL, "mrstft: resolution %d: n_fft %d, hop %d, window %d", r,
						c->n_fft[r], c->hop[r], c->win[r]);
	}
	if (!(c->eps > 0) || !isfinite(c->eps) || !(c->w_sc >= 0) || !(c->w_log_mag >= 0) || !(c->w_lin_mag >= 0) ||
	    !isfinite(c->w_sc) || !isfinite(c->w_log_mag) || !isfinite(c->w_lin_mag))
		return presto_error_set(PRESTO_EINVAL, "mrstft: eps must be > 0 and the weights finite and >= 0");
	if (c->pad != PRESTO_STFT_PAD_REFLECT && c->pad != PRESTO_STFT_PAD_ZERO)
		return presto_error_set(PRESTO_EINVAL, "mrstft: unknown padding mode %d", (int)c->pad);
	return PRESTO_OK;
}

presto_status presto_mrstft_new(const presto_mrstft_config *c, presto_mrstft **out)
{
	*out = NULL;
	PRESTO_TRY(check_config(c));
	presto_mrstft *L = presto_calloc(1, sizeof *L);
	if (!L)
		return PRESTO_ENOMEM;
	L->c = *c;
	for (int r = 0; r < c->n_res; r++) {
		int N = c->n_fft[r], F = N / 2 + 1, W = c->win[r], off = (N - W) / 2;
		if (!(N & (N - 1))) {
			presto_status st = presto_rfft_new(N, &L->fft[r]);
			float *w = L->win[r] = presto_falloc((size_t)N);
			if (st || !w) {
				presto_mrstft_free(L);
				return st ? st : PRESTO_ENOMEM;
			}
			for (int n = 0; n < N; n++)
				w[n] = n >= off && n < off + W
					       ? (float)(0.5 - 0.5 * cos(6.283185307179586 * (double)(n - off) / (double)W))
					       : 0.0f;
			continue;
		}
		float *b = presto_falloc((size_t)2 * (size_t)F * (size_t)N);
		if (!b) {
			presto_mrstft_free(L);
			return PRESTO_ENOMEM;
		}
		L->basis[r] = b;
		for (int k = 0; k < F; k++)
			for (int n = 0; n < N; n++) {
				double w = 0;
				if (n >= off && n < off + W)
					w = 0.5 - 0.5 * cos(6.283185307179586 * (double)(n - off) / (double)W);
				int64_t m = ((int64_t)k * n) % N;
				double ang = 6.283185307179586 * (double)m / (double)N;
				b[(size_t)k * N + n] = (float)(w * cos(ang));
				b[(size_t)(F + k) * N + n] = (float)(-w * sin(ang));
			}
	}
	*out = L;
	return PRESTO_OK;
}

void presto_mrstft_free(presto_mrstft *L)
{
	if (!L)
		return;
	for (int r = 0; r < PRESTO_STFT_MAX_RES; r++) {
		presto_rfft_free(L->fft[r]);
		free(L->win[r]);
		free(L->basis[r]);
	}
	free(L->pad);
	free(L->frames);
	free(L->zx);
	free(L->zy);
	free(L->mx);
	free(L->my);
	free(L->st);
	free(L);
}

const presto_mrstft_config *presto_mrstft_get_config(const presto_mrstft *L) { return &L->c; }

static int grow(float **buf, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	float *p = presto_falloc(n);
	if (!p)
		return -1;
	free(*buf);
	*buf = p;
	*cap = n;
	return 0;
}

/* Frames of resolution r for T samples, or -1 (error set). */
static int n_frames(const presto_mrstft_config *c, int r, int T)
{
	int N = c->n_fft[r], p = N / 2;
	if (c->pad == PRESTO_STFT_PAD_REFLECT && p >= T) {
		presto_error_set(PRESTO_EINVAL, "mrstft: %d samples are too few for n_fft %d with reflect padding "
						"(need more than %d)", T, N, p);
		return -1;
	}
	int64_t P = (int64_t)T + 2 * p;
	if (P < N) {
		presto_error_set(PRESTO_EINVAL, "mrstft: %d samples are too few for n_fft %d", T, N);
		return -1;
	}
	int64_t nf = 1 + (P - N) / c->hop[r];
	if (nf > INT32_MAX / 2) {
		presto_error_set(PRESTO_EINVAL, "mrstft: signal too long");
		return -1;
	}
	return (int)nf;
}

/* Spectrum z [nf, 2F] and magnitude m [nf, F] of one signal x [T]. */
static void stft_one(presto_mrstft *L, int r, const float *x, int T, int nf, float *z, float *m)
{
	const presto_mrstft_config *c = &L->c;
	int N = c->n_fft[r], F = N / 2 + 1, p = N / 2, hop = c->hop[r];
	float *pad = L->pad;
	int refl = c->pad == PRESTO_STFT_PAD_REFLECT;
	for (int i = 0; i < p; i++) {
		pad[i] = refl ? x[p - i] : 0.0f;
		pad[p + T + i] = refl ? x[T - 2 - i] : 0.0f;
	}
	memcpy(pad + p, x, sizeof(float) * (size_t)T);
	if (L->fft[r]) {
		for (int f = 0; f < nf; f++) {
			float *re = z + (size_t)f * 2 * F;
			presto_rfft_forward(L->fft[r], re, re + F, pad + (size_t)f * hop, L->win[r]);
		}
	} else {
		for (int f = 0; f < nf; f++)
			memcpy(L->frames + (size_t)f * N, pad + (size_t)f * hop, sizeof(float) * (size_t)N);
		/* z[nf, 2F] = frames[nf, N] basis[2F, N]^T */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nf, 2 * F, N, 1.0f, L->frames, N, L->basis[r], N,
			    0.0f, z, 2 * F);
	}
	float eps = (float)c->eps;
	for (int f = 0; f < nf; f++) {
		const float *re = z + (size_t)f * 2 * F, *im = re + F;
		float *mm = m + (size_t)f * F;
		for (int k = 0; k < F; k++) {
			float pw = re[k] * re[k] + im[k] * im[k];
			mm[k] = sqrtf(pw >= eps ? pw : eps);
		}
	}
}

/* dz (in z's place, [nf, 2F]) holds dL/dRe, dL/dIm: back to dx [T] (+=). */
static void stft_one_backward(presto_mrstft *L, int r, float *dx, const float *dz, int T, int nf)
{
	const presto_mrstft_config *c = &L->c;
	int N = c->n_fft[r], F = N / 2 + 1, p = N / 2, hop = c->hop[r];
	float *dp = L->pad;
	memset(dp, 0, sizeof(float) * ((size_t)T + 2 * (size_t)p));
	if (L->fft[r]) {
		/* the transposed windowed DFT of each frame, overlap-added */
		for (int f = 0; f < nf; f++) {
			const float *g = dz + (size_t)f * 2 * F;
			presto_rfft_backward(L->fft[r], dp + (size_t)f * hop, g, g + F, L->win[r]);
		}
	} else {
		/* dframes[nf, N] = dz[nf, 2F] basis[2F, N] */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nf, N, 2 * F, 1.0f, dz, 2 * F, L->basis[r], N,
			    0.0f, L->frames, N);
		for (int f = 0; f < nf; f++) {
			const float *fr = L->frames + (size_t)f * N;
			float *d = dp + (size_t)f * hop;
			for (int n = 0; n < N; n++)
				d[n] += fr[n];
		}
	}
	for (int t = 0; t < T; t++)
		dx[t] += dp[p + t];
	if (c->pad == PRESTO_STFT_PAD_REFLECT)
		for (int i = 0; i < p; i++) {
			dx[p - i] += dp[i];
			dx[T - 2 - i] += dp[p + T + i];
		}
}

static presto_status mrstft_run(presto_mrstft *L, float *dx, float *dy, const float *x, const float *y, int S,
				int T, double dloss, presto_mrstft_terms *terms, int grad)
{
	const presto_mrstft_config *c = &L->c;
	if (S < 1 || T < 1)
		return presto_error_set(PRESTO_EINVAL, "mrstft: %d signals of %d samples", S, T);
	if (grad && !dx && !dy)
		grad = 0;
	presto_mrstft_terms acc = {0};
	int R = c->n_res;
	float eps = (float)c->eps;
	for (int r = 0; r < R; r++) {
		int nf = n_frames(c, r, T);
		if (nf < 0)
			return PRESTO_EINVAL;
		int N = c->n_fft[r], F = N / 2 + 1;
		size_t nz = (size_t)nf * 2 * F, nm = (size_t)nf * F;
		if (grow(&L->pad, &L->cap_pad, (size_t)T + (size_t)N) ||
		    (!L->fft[r] && grow(&L->frames, &L->cap_frames, (size_t)nf * N)) || grow(&L->zx, &L->cap_zx, nz) ||
		    grow(&L->zy, &L->cap_zy, nz) || grow(&L->mx, &L->cap_mx, nm) || grow(&L->my, &L->cap_my, nm))
			return PRESTO_ENOMEM;
		double cnt = (double)S * (double)nm;
		double sc_sum = 0, log_sum = 0, lin_sum = 0;
		double gr = dloss / R, a_sc = gr * c->w_sc / S, a_log = gr * c->w_log_mag / cnt,
		       a_lin = gr * c->w_lin_mag / cnt;
		for (int s = 0; s < S; s++) {
			const float *xs = x + (size_t)s * T, *ys = y + (size_t)s * T;
			stft_one(L, r, xs, T, nf, L->zx, L->mx);
			stft_one(L, r, ys, T, nf, L->zy, L->my);
			double dd = 0, yy = 0, la = 0, li = 0;
			for (size_t i = 0; i < nm; i++) {
				double X = L->mx[i], Y = L->my[i], d = Y - X;
				dd += d * d;
				yy += Y * Y;
				la += fabs(log(X / Y)); /* one log: |log X - log Y| up to rounding */
				li += fabs(X - Y);
			}
			double nrm = sqrt(dd), den = sqrt(yy);
			sc_sum += nrm / den;
			log_sum += la;
			lin_sum += li;
			if (!grad)
				continue;
			double q = nrm > 0 ? 1.0 / (nrm * den) : 0.0, yk = nrm / (den * den * den);
			for (int pass = 0; pass < 2; pass++) {
				float *dsig = pass ? dy : dx;
				if (!dsig)
					continue;
				float *z = pass ? L->zy : L->zx;
				const float *mo = pass ? L->my : L->mx; /* own magnitude */
				for (int f = 0; f < nf; f++) {
					float *re = z + (size_t)f * 2 * F, *im = re + F;
					const float *X = L->mx + (size_t)f * F, *Y = L->my + (size_t)f * F;
					const float *mm = mo + (size_t)f * F;
					for (int k = 0; k < F; k++) {
						double xv = X[k], yv = Y[k], g;
						double sd = sgn(xv - yv), sl = sd; /* log is increasing */
						if (!pass)
							g = a_sc * (xv - yv) * q + a_log * sl / xv + a_lin * sd;
						else
							g = a_sc * ((yv - xv) * q - yk * yv) - a_log * sl / yv -
							    a_lin * sd;
						float pw = re[k] * re[k] + im[k] * im[k];
						if (pw >= eps) {
							double gm = g / mm[k];
							re[k] = (float)(gm * re[k]);
							im[k] = (float)(gm * im[k]);
						} else {
							re[k] = 0.0f;
							im[k] = 0.0f;
						}
					}
				}
				stft_one_backward(L, r, dsig + (size_t)s * T, z, T, nf);
			}
		}
		double sc = sc_sum / S, lg = log_sum / cnt, ln = lin_sum / cnt;
		acc.sc += sc / R;
		acc.log_mag += lg / R;
		acc.lin_mag += ln / R;
		acc.loss += (c->w_sc * sc + c->w_log_mag * lg + c->w_lin_mag * ln) / R;
	}
	if (terms)
		*terms = acc;
	return PRESTO_OK;
}

presto_status presto_mrstft_forward(presto_mrstft *L, const float *x, const float *y, int S, int T,
				    presto_mrstft_terms *terms)
{
	return mrstft_run(L, NULL, NULL, x, y, S, T, 0.0, terms, 0);
}

presto_status presto_mrstft_backward(presto_mrstft *L, float *dx, float *dy, const float *x, const float *y, int S,
				     int T, double dloss, presto_mrstft_terms *terms)
{
	return mrstft_run(L, dx, dy, x, y, S, T, dloss, terms, 1);
}

/* ---- stereo: per channel + sum and difference */

static presto_status stereo_run(presto_mrstft *L, float *dx, float *dy, const float *x, const float *y, int B, int C,
				int T, double w_lr, double w_ms, double dloss, presto_mrstft_terms *lr,
				presto_mrstft_terms *ms, double *total, int grad)
{
	presto_mrstft_terms tl = {0}, tm = {0};
	if (B < 1 || C < 1 || T < 1)
		return presto_error_set(PRESTO_EINVAL, "mrstft: batch %d x %d channels x %d samples", B, C, T);
	size_t S;
	if (!presto_mul_size((size_t)B * (size_t)C, (size_t)T, &S))
		return presto_error_set(PRESTO_ENOMEM, "mrstft: size overflow");
	if (!grad || w_lr != 0)
		PRESTO_TRY(mrstft_run(L, dx, dy, x, y, B * C, T, dloss * w_lr, &tl, grad));
	if (C == 2 && (!grad || w_ms != 0)) {
		size_t n = (size_t)B * (size_t)T;
		if (grow(&L->st, &L->cap_st, 8 * n))
			return PRESTO_ENOMEM;
		float *xs = L->st, *xd = xs + n, *ys = xd + n, *yd = ys + n;
		float *gxs = yd + n, *gxd = gxs + n, *gys = gxd + n, *gyd = gys + n;
		for (int b = 0; b < B; b++) {
			const float *xl = x + (size_t)b * 2 * T, *xr = xl + T;
			const float *yl = y + (size_t)b * 2 * T, *yr = yl + T;
			for (int t = 0; t < T; t++) {
				size_t i = (size_t)b * T + t;
				xs[i] = xl[t] + xr[t];
				xd[i] = xl[t] - xr[t];
				ys[i] = yl[t] + yr[t];
				yd[i] = yl[t] - yr[t];
			}
		}
		if (grad)
			memset(gxs, 0, sizeof(float) * 4 * n);
		presto_mrstft_terms a, d;
		double g = dloss * w_ms * 0.5;
		PRESTO_TRY(mrstft_run(L, dx ? gxs : NULL, dy ? gys : NULL, xs, ys, B, T, g, &a, grad));
		PRESTO_TRY(mrstft_run(L, dx ? gxd : NULL, dy ? gyd : NULL, xd, yd, B, T, g, &d, grad));
		tm.loss = 0.5 * (a.loss + d.loss);
		tm.sc = 0.5 * (a.sc + d.sc);
		tm.log_mag = 0.5 * (a.log_mag + d.log_mag);
		tm.lin_mag = 0.5 * (a.lin_mag + d.lin_mag);
		if (grad)
			for (int pass = 0; pass < 2; pass++) {
				float *dsig = pass ? dy : dx;
				const float *gs = pass ? gys : gxs, *gd = pass ? gyd : gxd;
				if (!dsig)
					continue;
				for (int b = 0; b < B; b++) {
					float *l = dsig + (size_t)b * 2 * T, *rr = l + T;
					for (int t = 0; t < T; t++) {
						size_t i = (size_t)b * T + t;
						l[t] += gs[i] + gd[i];
						rr[t] += gs[i] - gd[i];
					}
				}
			}
	}
	if (lr)
		*lr = tl;
	if (ms)
		*ms = tm;
	if (total)
		*total = w_lr * tl.loss + w_ms * tm.loss;
	return PRESTO_OK;
}

presto_status presto_mrstft_stereo_forward(presto_mrstft *L, const float *x, const float *y, int B, int C, int T,
					   double w_lr, double w_ms, presto_mrstft_terms *lr, presto_mrstft_terms *ms,
					   double *total)
{
	return stereo_run(L, NULL, NULL, x, y, B, C, T, w_lr, w_ms, 0.0, lr, ms, total, 0);
}

presto_status presto_mrstft_stereo_backward(presto_mrstft *L, float *dx, float *dy, const float *x, const float *y,
					    int B, int C, int T, double w_lr, double w_ms, double dloss,
					    presto_mrstft_terms *lr, presto_mrstft_terms *ms, double *total)
{
	return stereo_run(L, dx, dy, x, y, B, C, T, w_lr, w_ms, dloss, lr, ms, total, 1);
}

/* ---- SI-SDR */

double presto_si_sdr(const float *est, const float *ref, size_t n)
{
	const double eps = 1e-8;
	if (!n)
		return 0.0;
	double me = 0, mr = 0;
	for (size_t i = 0; i < n; i++) {
		me += est[i];
		mr += ref[i];
	}
	me /= (double)n;
	mr /= (double)n;
	double er = 0, rr = 0;
	for (size_t i = 0; i < n; i++) {
		double e = est[i] - me, r = ref[i] - mr;
		er += e * r;
		rr += r * r;
	}
	double a = (er + eps) / (rr + eps), tt = 0, nn = 0;
	for (size_t i = 0; i < n; i++) {
		double e = est[i] - me, t = a * (ref[i] - mr), d = e - t;
		tt += t * t;
		nn += d * d;
	}
	return 10.0 * log10((tt + eps) / (nn + eps));
}

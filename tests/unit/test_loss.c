/* test_loss.c - lib/loss.c: L1 / L2 waveform losses, the multi-resolution
 * STFT loss (per signal and the stereo per-channel + sum/difference form) and
 * SI-SDR.
 *
 * Each loss is compared with a plain double-precision twin written here from
 * the definitions in loss.h (a direct DFT with torch.stft's centring,
 * padding and periodic Hann window); the backward passes are checked against
 * central differences of that double twin (h = 1e-6, an exact reference up
 * to ~1e-9) at every input: the error is max |num - ana| over max |ana|.
 * Gradient buffers start at a non-zero value that is subtracted afterwards,
 * which also checks that the backwards accumulate. The real FFT that computes
 * the power-of-two resolutions (lib/ops/fft.c) is also checked on its own
 * against a direct DFT in double, forward and transposed, at every size. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "ops.h"

#include "check.h"
#include "testrand.h"

#define PRE 0.25f

TEST_RAND_SEED(0x243f6a8885a308d3ull);

/* ---- the double twin */

typedef struct {
	const presto_mrstft_config *c;
	int B, C, T; /* stereo form when C > 0: x, y [B, C, T]; else S = B signals */
	double w_lr, w_ms;
} ref_case;

/* torch.stft(center=True) magnitude of x [T] in double: m [nf * F]. */
static int ref_stft(const presto_mrstft_config *c, int r, const double *x, int T, double *m)
{
	int N = c->n_fft[r], hop = c->hop[r], W = c->win[r], off = (N - W) / 2, p = N / 2, F = N / 2 + 1;
	int nf = 1 + (T + 2 * p - N) / hop;
	double *cs = malloc(sizeof(double) * 2 * F * N), *sn = cs + (size_t)F * N;
	for (int k = 0; k < F; k++)
		for (int n = 0; n < N; n++) {
			double w = (n >= off && n < off + W) ? 0.5 - 0.5 * cos(2 * M_PI * (n - off) / W) : 0;
			cs[(size_t)k * N + n] = w * cos(2 * M_PI * (double)k * n / N);
			sn[(size_t)k * N + n] = w * sin(2 * M_PI * (double)k * n / N);
		}
	for (int f = 0; f < nf; f++)
		for (int k = 0; k < F; k++) {
			double re = 0, im = 0;
			for (int n = 0; n < N; n++) {
				int i = f * hop + n - p; /* index into x */
				double v;
				if (i >= 0 && i < T)
					v = x[i];
				else if (c->pad == PRESTO_STFT_PAD_ZERO)
					v = 0;
				else
					v = i < 0 ? x[-i] : x[2 * (T - 1) - i];
				re += v * cs[(size_t)k * N + n];
				im -= v * sn[(size_t)k * N + n];
			}
			double pw = re * re + im * im;
			m[(size_t)f * F + k] = sqrt(pw > c->eps ? pw : c->eps);
		}
	free(cs);
	return nf;
}

static double ref_mrstft(const presto_mrstft_config *c, const double *x, const double *y, int S, int T)
{
	double tot = 0;
	double *mx = malloc(sizeof(double) * 70000), *my = malloc(sizeof(double) * 70000);
	for (int r = 0; r < c->n_res; r++) {
		int F = c->n_fft[r] / 2 + 1, nf = 0;
		double sc = 0, lg = 0, ln = 0;
		for (int s = 0; s < S; s++) {
			nf = ref_stft(c, r, x + (size_t)s * T, T, mx);
			ref_stft(c, r, y + (size_t)s * T, T, my);
			double dd = 0, yy = 0;
			for (int i = 0; i < nf * F; i++) {
				dd += (my[i] - mx[i]) * (my[i] - mx[i]);
				yy += my[i] * my[i];
				lg += fabs(log(mx[i]) - log(my[i]));
				ln += fabs(mx[i] - my[i]);
			}
			sc += sqrt(dd) / sqrt(yy);
		}
		double cnt = (double)S * nf * F;
		tot += c->w_sc * sc / S + c->w_log_mag * lg / cnt + c->w_lin_mag * ln / cnt;
	}
	free(mx);
	free(my);
	return tot / c->n_res;
}

static double ref_loss(const ref_case *rc, const double *x, const double *y)
{
	if (rc->C <= 0)
		return ref_mrstft(rc->c, x, y, rc->B, rc->T);
	int B = rc->B, T = rc->T;
	double l = rc->w_lr * ref_mrstft(rc->c, x, y, B * rc->C, T);
	if (rc->C == 2) {
		size_t n = (size_t)B * T;
		double *xs = malloc(sizeof(double) * 4 * n), *xd = xs + n, *ys = xd + n, *yd = ys + n;
		for (int b = 0; b < B; b++)
			for (int t = 0; t < T; t++) {
				size_t i = (size_t)b * T + t, l0 = (size_t)b * 2 * T + t, r0 = l0 + T;
				xs[i] = x[l0] + x[r0];
				xd[i] = x[l0] - x[r0];
				ys[i] = y[l0] + y[r0];
				yd[i] = y[l0] - y[r0];
			}
		l += rc->w_ms * 0.5 * (ref_mrstft(rc->c, xs, ys, B, T) + ref_mrstft(rc->c, xd, yd, B, T));
		free(xs);
	}
	return l;
}

/* max |num - ana| / max |ana| over 40 entries spread evenly over the input
 * `which` (0: x, 1: y; |ana| over all entries), central differences of the
 * double twin. */
static double fd_error(const ref_case *rc, const float *x, const float *y, size_t n, int which, const float *ana,
		       double dloss, double *amax_out)
{
	double *xd = malloc(sizeof(double) * n), *yd = malloc(sizeof(double) * n);
	for (size_t i = 0; i < n; i++) {
		xd[i] = x[i];
		yd[i] = y[i];
	}
	double *v = which ? yd : xd, h = 1e-6, err = 0, amax = 0;
	for (size_t i = 0; i < n; i++)
		if (fabs(ana[i]) > amax)
			amax = fabs(ana[i]);
	size_t step = n > 40 ? n / 40 : 1;
	for (size_t i = (size_t)(unif() * step); i < n; i += step) {
		double v0 = v[i];
		v[i] = v0 + h;
		double lp = ref_loss(rc, xd, yd);
		v[i] = v0 - h;
		double lm = ref_loss(rc, xd, yd);
		v[i] = v0;
		double num = dloss * (lp - lm) / (2 * h), e = fabs(num - ana[i]);
		if (e > err)
			err = e;
	}
	free(xd);
	free(yd);
	*amax_out = amax;
	return err / (amax > 1e-30 ? amax : 1e-30);
}

static void small_config(presto_mrstft_config *c, presto_stft_pad pad)
{
	memset(c, 0, sizeof *c);
	/* n_fft, hop, window: hop n/4, a shorter window, a hop that does not
	 * divide n_fft, an odd n_fft */
	static const int n[] = {64, 32, 20, 15}, h[] = {16, 8, 7, 4}, w[] = {64, 24, 20, 15};
	c->n_res = 4;
	for (int r = 0; r < 4; r++) {
		c->n_fft[r] = n[r];
		c->hop[r] = h[r];
		c->win[r] = w[r];
	}
	c->w_sc = 1.0;
	c->w_log_mag = 1.0;
	c->w_lin_mag = 0.5;
	c->eps = 1e-8;
	c->pad = pad;
}

static void test_mrstft(presto_stft_pad pad)
{
	const char *pn = pad == PRESTO_STFT_PAD_REFLECT ? "reflect" : "zero";
	presto_mrstft_config c;
	small_config(&c, pad);
	presto_mrstft *L = NULL;
	if (presto_mrstft_new(&c, &L)) {
		CHECK(0, "mrstft_new: %s", presto_error());
		return;
	}
	enum { S = 3, T = 75 };
	size_t n = (size_t)S * T;
	float *x = vec(n, 0.5f), *y = vec(n, 0.5f);
	/* a near-silent stretch: the clamp of the power is crossed */
	for (int t = 10; t < 40; t++)
		y[T + t] = 0.0f;
	presto_mrstft_terms tf, tb;
	presto_status s = presto_mrstft_forward(L, x, y, S, T, &tf);
	ref_case rc = {.c = &c, .B = S, .C = 0, .T = T};
	double *xd = malloc(sizeof(double) * n), *yd = malloc(sizeof(double) * n);
	for (size_t i = 0; i < n; i++) {
		xd[i] = x[i];
		yd[i] = y[i];
	}
	double ref = ref_loss(&rc, xd, yd);
	CHECK(!s && fabs(tf.loss - ref) < 1e-5 * fabs(ref), "mrstft %s forward %.9f vs double twin %.9f", pn, tf.loss,
	      ref);
	EXPECT(fabs(tf.loss - (tf.sc + tf.log_mag + 0.5 * tf.lin_mag)) < 1e-12, "terms do not add up");
	float *dx = fill(n, PRE), *dy = fill(n, PRE);
	double dloss = 1.7;
	s = presto_mrstft_backward(L, dx, dy, x, y, S, T, dloss, &tb);
	CHECK(!s && tb.loss == tf.loss, "mrstft %s backward returns the forward's loss", pn);
	for (size_t i = 0; i < n; i++) {
		dx[i] -= PRE;
		dy[i] -= PRE;
	}
	double amax, e = fd_error(&rc, x, y, n, 0, dx, dloss, &amax);
	CHECK(e < 1e-4, "mrstft %s dL/dx: rel err %.2e (max |grad| %.3g)", pn, e, amax);
	e = fd_error(&rc, x, y, n, 1, dy, dloss, &amax);
	CHECK(e < 1e-4, "mrstft %s dL/dy: rel err %.2e (max |grad| %.3g)", pn, e, amax);
	/* NULL gradients: only the other one is computed, identically */
	float *dx2 = fill(n, 0.0f), *dx3 = fill(n, 0.0f);
	s = presto_mrstft_backward(L, dx2, NULL, x, y, S, T, dloss, NULL);
	int same = !s && !presto_mrstft_backward(L, dx3, dy, x, y, S, T, dloss, NULL);
	for (size_t i = 0; i < n; i++)
		same = same && dx2[i] == dx3[i];
	free(dx3);
	CHECK(same, "mrstft %s dx alone equals dx computed with dy", pn);
	free(dx2);
	free(x);
	free(y);
	free(dx);
	free(dy);
	free(xd);
	free(yd);
	presto_mrstft_free(L);
}

static void test_stereo(void)
{
	presto_mrstft_config c;
	small_config(&c, PRESTO_STFT_PAD_REFLECT);
	c.n_res = 2;
	presto_mrstft *L = NULL;
	if (presto_mrstft_new(&c, &L)) {
		CHECK(0, "mrstft_new: %s", presto_error());
		return;
	}
	enum { B = 2, C = 2, T = 70 };
	size_t n = (size_t)B * C * T;
	float *x = vec(n, 0.5f), *y = vec(n, 0.5f);
	/* a mono item: its difference signal is silent (clamped magnitudes) */
	memcpy(y + 3 * T, y + 2 * T, sizeof(float) * T);
	ref_case rc = {.c = &c, .B = B, .C = C, .T = T, .w_lr = 1.0, .w_ms = 2.0};
	double *xd = malloc(sizeof(double) * n), *yd = malloc(sizeof(double) * n);
	for (size_t i = 0; i < n; i++) {
		xd[i] = x[i];
		yd[i] = y[i];
	}
	presto_mrstft_terms lr, ms;
	double total = 0, ref = ref_loss(&rc, xd, yd);
	presto_status s = presto_mrstft_stereo_forward(L, x, y, B, C, T, 1.0, 2.0, &lr, &ms, &total);
	CHECK(!s && fabs(total - ref) < 1e-5 * fabs(ref) && fabs(total - (lr.loss + 2 * ms.loss)) < 1e-12,
	      "stereo forward %.9f vs double twin %.9f", total, ref);
	float *dx = fill(n, PRE), *dy = fill(n, PRE);
	double dloss = 0.8, t2;
	s = presto_mrstft_stereo_backward(L, dx, dy, x, y, B, C, T, 1.0, 2.0, dloss, NULL, NULL, &t2);
	CHECK(!s && t2 == total, "stereo backward returns the forward's total");
	for (size_t i = 0; i < n; i++) {
		dx[i] -= PRE;
		dy[i] -= PRE;
	}
	double amax, e = fd_error(&rc, x, y, n, 0, dx, dloss, &amax);
	CHECK(e < 1e-4, "stereo dL/dx: rel err %.2e (max |grad| %.3g)", e, amax);
	e = fd_error(&rc, x, y, n, 1, dy, dloss, &amax);
	CHECK(e < 1e-4, "stereo dL/dy: rel err %.2e (max |grad| %.3g)", e, amax);
	/* mono audio: the per-channel term only */
	s = presto_mrstft_stereo_forward(L, x, y, B * 2, 1, T, 1.0, 2.0, &lr, &ms, &total);
	double r1 = ref_mrstft(&c, xd, yd, B * 2, T);
	CHECK(!s && ms.loss == 0 && fabs(total - r1) < 1e-5 * r1, "mono: per-channel term only");
	free(x);
	free(y);
	free(dx);
	free(dy);
	free(xd);
	free(yd);
	presto_mrstft_free(L);
}

/* presto_rfft_forward / _backward against the direct (transposed) DFT in
 * double, n = 2 .. 4096, with a window; error relative to the largest
 * output. */
static void test_rfft(void)
{
	for (int n = 2; n <= 4096; n *= 2) {
		presto_rfft *p = NULL;
		if (presto_rfft_new(n, &p)) {
			CHECK(0, "rfft_new(%d): %s", n, presto_error());
			return;
		}
		int F = n / 2 + 1;
		float *x = vec((size_t)n, 1.0f), *w = vec((size_t)n, 1.0f), *re = fill((size_t)2 * F, 0.0f),
		      *im = re + F;
		float *g = vec((size_t)2 * F, 1.0f), *dx = fill((size_t)n, PRE), *dx0 = fill((size_t)n, 0.0f);
		presto_rfft_forward(p, re, im, x, w);
		presto_rfft_backward(p, dx, g, g + F, w);
		double ef = 0, mf = 0, eb = 0, mb = 0;
		for (int k = 0; k < F; k++) {
			double sr = 0, si = 0;
			for (int t = 0; t < n; t++) {
				double a = 2 * M_PI * (double)(((int64_t)k * t) % n) / n, v = (double)x[t] * w[t];
				sr += v * cos(a);
				si -= v * sin(a);
			}
			ef = fmax(ef, fmax(fabs(sr - re[k]), fabs(si - im[k])));
			mf = fmax(mf, fmax(fabs(sr), fabs(si)));
		}
		for (int t = 0; t < n; t++) {
			double s = 0;
			for (int k = 0; k < F; k++) {
				double a = 2 * M_PI * (double)(((int64_t)k * t) % n) / n;
				s += g[k] * cos(a) - g[F + k] * sin(a);
			}
			s *= w[t];
			eb = fmax(eb, fabs(s - (dx[t] - PRE)));
			mb = fmax(mb, fabs(s));
		}
		CHECK(ef < 2e-6 * mf && im[0] == 0 && im[n / 2] == 0, "rfft %d forward vs direct DFT: rel err %.2e", n,
		      ef / mf);
		CHECK(eb < 2e-6 * mb, "rfft %d backward vs transposed DFT: rel err %.2e", n, eb / mb);
		/* the imaginary parts of DC and Nyquist do not reach the signal;
		 * no window = window of ones */
		g[F] = 0.0f;
		g[2 * F - 1] = 0.0f;
		for (int t = 0; t < n; t++)
			w[t] = 1.0f;
		float *dx1 = fill((size_t)n, 0.0f);
		presto_rfft_backward(p, dx0, g, g + F, NULL);
		presto_rfft_backward(p, dx1, g, g + F, w);
		g[F] = 3.0f;
		g[2 * F - 1] = -2.0f;
		float *dx2 = fill((size_t)n, 0.0f);
		presto_rfft_backward(p, dx2, g, g + F, NULL);
		int same = 1;
		for (int t = 0; t < n; t++)
			same = same && dx0[t] == dx1[t] && dx0[t] == dx2[t];
		CHECK(same, "rfft %d backward: no window = ones, Im of DC / Nyquist ignored", n);
		free(dx1);
		free(dx2);
		free(x);
		free(w);
		free(re);
		free(g);
		free(dx);
		free(dx0);
		presto_rfft_free(p);
	}
	presto_rfft *p = NULL;
	CHECK(presto_rfft_new(48, &p) == PRESTO_EINVAL && !p, "rfft refuses a length that is not a power of two");
}

/* The default resolutions (2048 .. 32, all through the FFT) against the
 * double twin: forward, and the backward's terms. */
static void test_defaults_forward(void)
{
	presto_mrstft_config c;
	presto_mrstft_defaults(&c);
	c.w_lin_mag = 0.5;
	presto_mrstft *L = NULL;
	if (presto_mrstft_new(&c, &L)) {
		CHECK(0, "mrstft_new: %s", presto_error());
		return;
	}
	enum { S = 2, T = 3000 };
	size_t n = (size_t)S * T;
	float *x = vec(n, 0.5f), *y = vec(n, 0.5f);
	double *xd = malloc(sizeof(double) * n), *yd = malloc(sizeof(double) * n);
	for (size_t i = 0; i < n; i++) {
		xd[i] = x[i];
		yd[i] = y[i];
	}
	double ref = ref_mrstft(&c, xd, yd, S, T);
	presto_mrstft_terms tf, tb;
	float *dx = fill(n, 0.0f);
	presto_status s = presto_mrstft_forward(L, x, y, S, T, &tf);
	CHECK(!s && fabs(tf.loss - ref) < 1e-5 * fabs(ref), "defaults (FFT) forward %.9f vs double twin %.9f",
	      tf.loss, ref);
	s = presto_mrstft_backward(L, dx, NULL, x, y, S, T, 1.0, &tb);
	CHECK(!s && tb.loss == tf.loss, "defaults backward returns the forward's loss");
	free(x);
	free(y);
	free(xd);
	free(yd);
	free(dx);
	presto_mrstft_free(L);
}

static void test_defaults_and_errors(void)
{
	presto_mrstft_config c;
	presto_mrstft_defaults(&c);
	CHECK(c.n_res == 7 && c.n_fft[0] == 2048 && c.hop[0] == 512 && c.win[6] == 32 && c.hop[6] == 8,
	      "defaults: stable-audio-tools' 7 resolutions, hop n/4");
	presto_mrstft *L = NULL;
	c.n_res = 2;
	c.n_fft[0] = 256;
	c.hop[0] = 64;
	c.win[0] = 256;
	c.n_fft[1] = 64;
	c.hop[1] = 16;
	c.win[1] = 64;
	CHECK(!presto_mrstft_new(&c, &L), "new");
	float *x = vec(200, 1.0f), *y = vec(200, 1.0f);
	CHECK(presto_mrstft_forward(L, x, y, 1, 128, NULL) == PRESTO_EINVAL,
	      "reflect padding refuses T <= n_fft / 2: %s", presto_error());
	/* identical signals: zero loss and zero gradient */
	presto_mrstft_terms t;
	float *dx = fill(200, 0.0f);
	CHECK(!presto_mrstft_backward(L, dx, NULL, x, x, 1, 200, 1.0, &t) && t.loss == 0, "x == y: loss 0");
	int zero = 1;
	for (int i = 0; i < 200; i++)
		zero = zero && dx[i] == 0.0f;
	CHECK(zero, "x == y: zero gradient");
	presto_mrstft_free(L);
	L = NULL;
	c.pad = PRESTO_STFT_PAD_ZERO;
	CHECK(!presto_mrstft_new(&c, &L) && !presto_mrstft_forward(L, x, y, 1, 128, &t) && isfinite(t.loss),
	      "zero padding takes T <= n_fft / 2");
	presto_mrstft_free(L);
	c.win[1] = 65;
	CHECK(presto_mrstft_new(&c, &L) == PRESTO_EINVAL, "window longer than n_fft refused");
	c.win[1] = 64;
	c.eps = 0;
	CHECK(presto_mrstft_new(&c, &L) == PRESTO_EINVAL, "eps 0 refused");
	free(x);
	free(y);
	free(dx);
}

static void test_waveform(void)
{
	enum { N = 300 };
	float *x = vec(N, 1.0f), *y = vec(N, 1.0f);
	x[7] = y[7]; /* sign(0) = 0 */
	double l1 = 0, l2 = 0;
	for (int i = 0; i < N; i++) {
		l1 += fabs((double)x[i] - y[i]);
		l2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
	}
	CHECK(fabs(presto_l1_loss_forward(x, y, N) - l1 / N) < 1e-12, "l1 forward");
	CHECK(fabs(presto_l2_loss_forward(x, y, N) - l2 / N) < 1e-12, "l2 forward");
	for (int k = 0; k < 2; k++) {
		float *dx = fill(N, PRE), *dy = fill(N, PRE);
		double dl = 1.3;
		if (k)
			presto_l2_loss_backward(dx, dy, x, y, N, dl);
		else
			presto_l1_loss_backward(dx, dy, x, y, N, dl);
		double err = 0, amax = 0;
		for (int i = 0; i < N; i++) {
			/* exact derivative (both losses are separable) by central
			 * differences in double */
			double h = 1e-4, xv = x[i], yv = y[i];
			double fp = k ? (xv + h - yv) * (xv + h - yv) : fabs(xv + h - yv);
			double fm = k ? (xv - h - yv) * (xv - h - yv) : fabs(xv - h - yv);
			double num = i == 7 && !k ? 0 : dl * (fp - fm) / (2 * h) / N;
			err = fmax(err, fabs(num - (dx[i] - PRE)));
			err = fmax(err, fabs(-num - (dy[i] - PRE)));
			amax = fmax(amax, fabs(dx[i] - PRE));
		}
		CHECK(err < 1e-5 * amax, "%s backward: rel err %.2e", k ? "l2" : "l1", err / amax);
		free(dx);
		free(dy);
	}
	free(x);
	free(y);
}

static void test_si_sdr(void)
{
	enum { N = 4000 };
	float *r = vec(N, 1.0f), *e = malloc(sizeof(float) * N), *nz = vec(N, 1.0f);
	/* remove nz's projection on r so that the SNR is known */
	double rn = 0, dn = 0, mr = 0, mn = 0;
	for (int i = 0; i < N; i++) {
		mr += r[i];
		mn += nz[i];
	}
	mr /= N;
	mn /= N;
	for (int i = 0; i < N; i++) {
		r[i] -= (float)mr;
		nz[i] -= (float)mn;
		rn += (double)r[i] * r[i];
		dn += (double)r[i] * nz[i];
	}
	for (int i = 0; i < N; i++)
		nz[i] -= (float)(dn / rn * r[i]);
	double pn = 0;
	for (int i = 0; i < N; i++)
		pn += (double)nz[i] * nz[i];
	for (int i = 0; i < N; i++)
		e[i] = 3.0f * r[i] + 0.3f * nz[i];
	double want = 10 * log10(rn / (0.01 * pn));
	double got = presto_si_sdr(e, r, N);
	CHECK(fabs(got - want) < 1e-3, "si-sdr %.4f dB (orthogonal noise at %.4f dB)", got, want);
	for (int i = 0; i < N; i++)
		e[i] = -0.5f * e[i] + 2.0f;
	CHECK(fabs(presto_si_sdr(e, r, N) - want) < 1e-3, "si-sdr invariant to offset and scale (%.4f)",
	      presto_si_sdr(e, r, N));
	CHECK(presto_si_sdr(r, r, N) > 100, "si-sdr of the reference itself is large");
	free(r);
	free(e);
	free(nz);
}

int main(void)
{
	test_waveform();
	test_mrstft(PRESTO_STFT_PAD_REFLECT);
	test_mrstft(PRESTO_STFT_PAD_ZERO);
	test_stereo();
	test_rfft();
	test_defaults_forward();
	test_defaults_and_errors();
	test_si_sdr();
	return check_status();
}

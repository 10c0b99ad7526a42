/* test_eval.c - lib/eval.c: the Jacobi eigensolver and matrix square root,
 * Gaussian fits and the Fréchet distance (against closed forms), the
 * reconstruction metrics (SI-SDR at a known SNR, MR-STFT and L1 of
 * identical and noisier copies) and the spectrogram (a sine peaks in the
 * row of its frequency, at its level). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"

#include "check.h"
#include "testrand.h"

TEST_RAND_SEED(0x9e3779b97f4a7c15ull);

static double *dvec(size_t n)
{
	return calloc(n ? n : 1, sizeof(double));
}

/* ---- eigensolver */

static void test_eigh(void)
{
	static const int sizes[] = {1, 2, 3, 5, 17, 40, 64};
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		int n = sizes[si];
		size_t nn = (size_t)n * n;
		double *A = dvec(nn), *V = dvec(nn), *d = dvec((size_t)n);
		double frob = 0;
		for (int i = 0; i < n; i++)
			for (int j = i; j < n; j++) {
				double x = randn();
				A[(size_t)i * n + j] = A[(size_t)j * n + i] = x;
				frob += (i == j ? 1 : 2) * x * x;
			}
		frob = sqrt(frob);
		presto_status st = presto_eigh(A, n, d, V);
		double rec = 0, orth = 0;
		int sorted = 1;
		for (int i = 0; i < n; i++) {
			if (i && d[i] < d[i - 1])
				sorted = 0;
			for (int j = 0; j < n; j++) {
				double s = 0, o = 0;
				for (int k = 0; k < n; k++) {
					s += V[(size_t)i * n + k] * d[k] * V[(size_t)j * n + k];
					o += V[(size_t)k * n + i] * V[(size_t)k * n + j];
				}
				rec = fmax(rec, fabs(s - A[(size_t)i * n + j]));
				orth = fmax(orth, fabs(o - (i == j)));
			}
		}
		double tr = 0, sum = 0;
		for (int i = 0; i < n; i++)
			tr += A[(size_t)i * n + i], sum += d[i];
		CHECK(!st && rec <= 1e-13 * frob && orth <= 1e-13 && sorted && fabs(tr - sum) <= 1e-12 * frob,
		      "eigh n=%d: |V D V^T - A| %.2e (of %.2e), |V^T V - I| %.2e, ascending %d, trace %.2e", n, rec, frob,
		      orth, sorted, fabs(tr - sum));
		free(A);
		free(V);
		free(d);
	}

	/* known spectra: [[2, 1], [1, 2]] -> 1, 3; 3 I + u u^T (|u|^2 = 4) -> 3 (x4), 7 */
	double A2[4] = {2, 1, 1, 2}, d2[2];
	presto_status st = presto_eigh(A2, 2, d2, NULL);
	CHECK(!st && fabs(d2[0] - 1) < 1e-14 && fabs(d2[1] - 3) < 1e-14, "eigh [[2,1],[1,2]]: %.15g %.15g", d2[0],
	      d2[1]);
	double A5[25], d5[5], u[5] = {1, -1, 1, -1, 0};
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 5; j++)
			A5[i * 5 + j] = 3 * (i == j) + u[i] * u[j];
	st = presto_eigh(A5, 5, d5, NULL);
	double e = fabs(d5[4] - 7);
	for (int i = 0; i < 4; i++)
		e = fmax(e, fabs(d5[i] - 3));
	CHECK(!st && e < 1e-13, "eigh 3 I + u u^T: a fourfold eigenvalue 3 and 7 (error %.2e)", e);
	double Z[9] = {0}, dz[3];
	CHECK(!presto_eigh(Z, 3, dz, NULL) && dz[0] == 0 && dz[2] == 0, "eigh of the zero matrix: zeros");
	double bad[4] = {1, NAN, NAN, 1};
	CHECK(presto_eigh(bad, 2, dz, NULL) == PRESTO_EINVAL, "eigh refuses NaN: %s", presto_error());
}

/* B B^T for a random n x m B (rank min(n, m)). */
static double *random_psd(int n, int m, double scale)
{
	double *B = dvec((size_t)n * m), *S = dvec((size_t)n * n);
	for (size_t i = 0; i < (size_t)n * m; i++)
		B[i] = scale * randn();
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double s = 0;
			for (int k = 0; k < m; k++)
				s += B[(size_t)i * m + k] * B[(size_t)j * m + k];
			S[(size_t)i * n + j] = s;
		}
	free(B);
	return S;
}

static void test_sqrtm(void)
{
	const int cases[][2] = {{6, 12}, {20, 20}, {12, 4}}; /* the last one is rank-deficient */
	for (int c = 0; c < 3; c++) {
		int n = cases[c][0];
		double *S = random_psd(n, cases[c][1], 1.0), *R = dvec((size_t)n * n);
		presto_status st = presto_sqrtm_psd(S, n, R);
		double err = 0, asym = 0, norm = 0;
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++) {
				double s = 0;
				for (int k = 0; k < n; k++)
					s += R[(size_t)i * n + k] * R[(size_t)k * n + j];
				err = fmax(err, fabs(s - S[(size_t)i * n + j]));
				asym = fmax(asym, fabs(R[(size_t)i * n + j] - R[(size_t)j * n + i]));
				norm = fmax(norm, fabs(S[(size_t)i * n + j]));
			}
		CHECK(!st && err <= 1e-11 * norm && asym <= 1e-12 * norm,
		      "sqrtm %dx%d (rank %d): |R R - S| %.2e of %.2e, asymmetry %.2e", n, n,
		      cases[c][1] < n ? cases[c][1] : n, err, norm, asym);
		free(S);
		free(R);
	}
}

/* ---- Fréchet distance */

static void test_frechet_closed_forms(void)
{
	/* identical Gaussians */
	int n = 16;
	double *S = random_psd(n, 32, 0.5), *m = dvec((size_t)n), d, dm, dc;
	for (int i = 0; i < n; i++)
		m[i] = randn();
	presto_status st = presto_frechet(m, S, m, S, n, &d, &dm, &dc);
	double tr = 0;
	for (int i = 0; i < n; i++)
		tr += S[(size_t)i * n + i];
	CHECK(!st && d >= 0 && d < 1e-10 * tr && dm == 0, "Frechet of a Gaussian with itself: %.3e (trace %.3g)", d, tr);

	/* two diagonal Gaussians: sum (ma - mb)^2 + sum (sa - sb)^2 */
	double ma[4] = {0, 1, -2, 0.5}, mb[4] = {1, 1, 0, -0.5}, sa[4] = {1, 2, 0.5, 3}, sb[4] = {2, 2, 1.5, 0.1};
	double Sa[16] = {0}, Sb[16] = {0}, want_m = 0, want_c = 0;
	for (int i = 0; i < 4; i++) {
		Sa[i * 5] = sa[i] * sa[i];
		Sb[i * 5] = sb[i] * sb[i];
		want_m += (ma[i] - mb[i]) * (ma[i] - mb[i]);
		want_c += (sa[i] - sb[i]) * (sa[i] - sb[i]);
	}
	st = presto_frechet(ma, Sa, mb, Sb, 4, &d, &dm, &dc);
	CHECK(!st && fabs(dm - want_m) < 1e-12 && fabs(dc - want_c) < 1e-12 && fabs(d - want_m - want_c) < 1e-12,
	      "Frechet of diagonal Gaussians: %.15g = %.15g + %.15g (want %g + %g)", d, dm, dc, want_m, want_c);

	/* 2 x 2, not commuting: tr (Sa^1/2 Sb Sa^1/2)^1/2 = sqrt(tr(Sa Sb) + 2 sqrt(det Sa det Sb)) */
	double A[4] = {2, 0.7, 0.7, 1}, B[4] = {0.5, -0.3, -0.3, 3}, z[2] = {0, 0};
	double trab = A[0] * B[0] + A[1] * B[2] + A[2] * B[1] + A[3] * B[3];
	double dA = A[0] * A[3] - A[1] * A[2], dB = B[0] * B[3] - B[1] * B[2];
	double want = A[0] + A[3] + B[0] + B[3] - 2 * sqrt(trab + 2 * sqrt(dA * dB));
	st = presto_frechet(z, A, z, B, 2, &d, NULL, NULL);
	CHECK(!st && fabs(d - want) < 1e-12, "Frechet of non-commuting 2x2 covariances: %.15g (closed form %.15g)", d,
	      want);
	/* symmetric in its arguments */
	double d2;
	st = presto_frechet(z, B, z, A, 2, &d2, NULL, NULL);
	CHECK(!st && fabs(d - d2) < 1e-12, "Frechet is symmetric: %.15g, %.15g", d, d2);

	/* standardised: a = b shifted by one of b's deviations per channel -> n */
	double sd;
	double mshift[4];
	for (int i = 0; i < 4; i++)
		mshift[i] = mb[i] + sb[i];
	st = presto_frechet_standardized(mshift, Sb, mb, Sb, 4, &sd);
	CHECK(!st && fabs(sd - 4) < 1e-12, "standardised Frechet of a one-sigma shift in 4 channels: %.15g", sd);
	/* scale-free: scaling both by 1000 changes the plain distance, not this one */
	double Sa2[16], Sb2[16], ma2[4], mb2[4], s1, s2;
	for (int i = 0; i < 16; i++)
		Sa2[i] = 1e6 * Sa[i], Sb2[i] = 1e6 * Sb[i];
	for (int i = 0; i < 4; i++)
		ma2[i] = 1e3 * ma[i], mb2[i] = 1e3 * mb[i];
	st = presto_frechet_standardized(ma, Sa, mb, Sb, 4, &s1);
	if (!st)
		st = presto_frechet_standardized(ma2, Sa2, mb2, Sb2, 4, &s2);
	CHECK(!st && fabs(s1 - s2) < 1e-9 * s1, "standardised Frechet is scale-free: %.12g and %.12g", s1, s2);
	free(S);
	free(m);
}

/* Fits of samples: against a two-pass computation, chunked adds, identical
 * sets, and the closed form of two diagonal Gaussians. */
static void test_gauss_fit(void)
{
	enum { D = 5, T1 = 700, T2 = 2500 };
	float *x1 = vec((size_t)D * T1, 2.0f), *x2 = vec((size_t)D * T2, 2.0f);
	for (int c = 0; c < D; c++) /* offsets far from 0 exercise the shifted sums */
		for (int t = 0; t < T1; t++)
			x1[c * T1 + t] += 100.0f * (float)(c + 1);
	for (int c = 0; c < D; c++)
		for (int t = 0; t < T2; t++)
			x2[c * T2 + t] += 100.0f * (float)(c + 1) + 0.5f * x2[((c + 1) % D) * T2 + t];
	presto_gauss_fit g;
	presto_status st = presto_gauss_fit_init(&g, D);
	if (!st)
		st = presto_gauss_fit_add(&g, x1, T1);
	if (!st)
		st = presto_gauss_fit_add(&g, x2, T2);
	double mean[D], cov[D * D];
	if (!st)
		st = presto_gauss_fit_get(&g, mean, cov);
	/* two-pass reference */
	double rm[D] = {0}, rc[D * D] = {0};
	int n = T1 + T2;
#define SAMPLE(c, i) ((i) < T1 ? (double)x1[(c) * T1 + (i)] : (double)x2[(c) * T2 + (i) - T1])
	for (int c = 0; c < D; c++) {
		for (int i = 0; i < n; i++)
			rm[c] += SAMPLE(c, i);
		rm[c] /= n;
	}
	for (int a = 0; a < D; a++)
		for (int b = 0; b < D; b++) {
			for (int i = 0; i < n; i++)
				rc[a * D + b] += (SAMPLE(a, i) - rm[a]) * (SAMPLE(b, i) - rm[b]);
			rc[a * D + b] /= n - 1;
		}
	double em = 0, ec = 0;
	for (int i = 0; i < D; i++)
		em = fmax(em, fabs(mean[i] - rm[i]));
	for (int i = 0; i < D * D; i++)
		ec = fmax(ec, fabs(cov[i] - rc[i]));
	CHECK(!st && g.count == n && em < 1e-9 && ec < 1e-9,
	      "Gaussian fit of %d samples in two adds (chunks of 1024): mean error %.2e, covariance error %.2e", n, em,
	      ec);

	/* the same samples again: distance 0 */
	presto_gauss_fit h;
	double mean2[D], cov2[D * D], d;
	st = presto_gauss_fit_init(&h, D);
	if (!st)
		st = presto_gauss_fit_add(&h, x2, T2);
	if (!st)
		st = presto_gauss_fit_add(&h, x1, T1);
	if (!st)
		st = presto_gauss_fit_get(&h, mean2, cov2);
	if (!st)
		st = presto_frechet(mean, cov, mean2, cov2, D, &d, NULL, NULL);
	CHECK(!st && d < 1e-8, "Frechet of the fits of the same samples (other order): %.3e", d);
	presto_gauss_fit_free(&h);
	presto_gauss_fit_free(&g);
	free(x1);
	free(x2);

	/* one sample is not enough */
	st = presto_gauss_fit_init(&g, 3);
	float one[3] = {1, 2, 3};
	if (!st)
		st = presto_gauss_fit_add(&g, one, 1);
	double m3[3], c3[9];
	CHECK(!st && presto_gauss_fit_get(&g, m3, c3) == PRESTO_EINVAL, "a fit of 1 sample is refused: %s",
	      presto_error());
	presto_gauss_fit_free(&g);

	/* samples of two diagonal Gaussians: near the closed form */
	enum { DD = 3, N = 200000 };
	const double ma[DD] = {0, 1, 2}, mb[DD] = {0.5, 1, 1}, sa[DD] = {1, 2, 0.5}, sb[DD] = {1.5, 1, 0.5};
	float *ya = malloc(sizeof(float) * DD * N), *yb = malloc(sizeof(float) * DD * N);
	for (int c = 0; c < DD; c++)
		for (int t = 0; t < N; t++) {
			ya[c * N + t] = (float)(ma[c] + sa[c] * randn());
			yb[c * N + t] = (float)(mb[c] + sb[c] * randn());
		}
	double want = 0;
	for (int c = 0; c < DD; c++)
		want += (ma[c] - mb[c]) * (ma[c] - mb[c]) + (sa[c] - sb[c]) * (sa[c] - sb[c]);
	presto_gauss_fit fa, fb;
	double xa[DD], xb[DD], Sa[DD * DD], Sb[DD * DD];
	st = presto_gauss_fit_init(&fa, DD);
	if (!st)
		st = presto_gauss_fit_init(&fb, DD);
	if (!st)
		st = presto_gauss_fit_add(&fa, ya, N);
	if (!st)
		st = presto_gauss_fit_add(&fb, yb, N);
	if (!st)
		st = presto_gauss_fit_get(&fa, xa, Sa);
	if (!st)
		st = presto_gauss_fit_get(&fb, xb, Sb);
	if (!st)
		st = presto_frechet(xa, Sa, xb, Sb, DD, &d, NULL, NULL);
	CHECK(!st && fabs(d - want) < 0.02 * want,
	      "Frechet of 200000 samples each of two diagonal Gaussians: %.5f (closed form %.5f)", d, want);
	presto_gauss_fit_free(&fa);
	presto_gauss_fit_free(&fb);
	free(ya);
	free(yb);
}

/* ---- reconstruction metrics */

static void test_recon(void)
{
	enum { T = 44100 };
	presto_mrstft_config cfg;
	presto_mrstft_defaults(&cfg);
	presto_mrstft *L;
	presto_status st = presto_mrstft_new(&cfg, &L);
	CHECK(!st, "MR-STFT object with the defaults");
	if (st)
		return;
	float *ref = malloc(sizeof(float) * 2 * T), *gen = malloc(sizeof(float) * 2 * T);
	float *noise = vec(2 * T, 1.0f);
	for (int c = 0; c < 2; c++)
		for (int t = 0; t < T; t++)
			ref[c * T + t] = (float)(0.4 * sin(2 * M_PI * (220.0 + 110 * c) * t / 44100.0) +
						 0.2 * sin(2 * M_PI * 1234.5 * t / 44100.0));
	presto_recon_metrics m;
	st = presto_recon_compare(L, ref, ref, 2, T, &m);
	CHECK(!st && m.mrstft == 0 && m.mrstft_ms == 0 && m.l1 == 0 && m.sisdr > 100,
	      "a stereo clip against itself: mrstft %g, mid/side %g, l1 %g, SI-SDR %.1f dB", m.mrstft, m.mrstft_ms,
	      m.l1, m.sisdr);

	/* a scaled copy: SI-SDR ignores the scale, the others do not */
	for (int i = 0; i < 2 * T; i++)
		gen[i] = 0.5f * ref[i];
	st = presto_recon_compare(L, ref, gen, 2, T, &m);
	CHECK(!st && m.sisdr > 100 && m.mrstft > 0.1 && m.l1 > 0.05,
	      "half the level: SI-SDR %.1f dB (scale-invariant), mrstft %.4f, l1 %.4f", m.sisdr, m.mrstft, m.l1);

	/* white noise at 20 dB and 10 dB below each channel's power */
	double prev_mrstft = 0, prev_l1 = 0;
	for (int k = 0; k < 2; k++) {
		double snr = k ? 10 : 20;
		for (int c = 0; c < 2; c++) {
			double pr = 0, pn = 0;
			for (int t = 0; t < T; t++) {
				pr += (double)ref[c * T + t] * ref[c * T + t];
				pn += (double)noise[c * T + t] * noise[c * T + t];
			}
			double g = sqrt(pr / pn / pow(10, snr / 10));
			for (int t = 0; t < T; t++)
				gen[c * T + t] = ref[c * T + t] + (float)(g * noise[c * T + t]);
		}
		st = presto_recon_compare(L, ref, gen, 2, T, &m);
		CHECK(!st && fabs(m.sisdr - snr) < 0.1 && m.mrstft > prev_mrstft && m.l1 > prev_l1 &&
			      isfinite(m.mrstft_ms) && m.mrstft_ms > 0,
		      "noise at %g dB SNR: SI-SDR %.3f dB, mrstft %.4f, mid/side %.4f, l1 %.5f (worse than before)", snr,
		      m.sisdr, m.mrstft, m.mrstft_ms, m.l1);
		prev_mrstft = m.mrstft;
		prev_l1 = m.l1;
	}

	/* mono: no mid/side term; l1 is the mean absolute difference */
	for (int t = 0; t < T; t++)
		gen[t] = ref[t] + 0.125f;
	st = presto_recon_compare(L, ref, gen, 1, T, &m);
	CHECK(!st && isnan(m.mrstft_ms) && fabs(m.l1 - 0.125) < 1e-6 && m.sisdr > 100,
	      "mono with a DC offset of 0.125: l1 %.7f, SI-SDR %.1f dB (the mean is removed), mid/side %g", m.l1,
	      m.sisdr, m.mrstft_ms);
	st = presto_recon_compare(L, ref, gen, 1, 1000, &m);
	CHECK(st == PRESTO_EINVAL, "1000 frames are too few for n_fft 2048: %s", presto_error());
	presto_mrstft_free(L);
	free(ref);
	free(gen);
	free(noise);
}

/* ---- spectrograms */

static void test_spectrogram(void)
{
	presto_spec_config c;
	presto_spec_defaults(&c);
	CHECK(fabs(presto_spec_row_hz(&c, 44100, 0) - 22050) < 1e-6 &&
		      fabs(presto_spec_row_hz(&c, 44100, c.height - 1) - 30) < 1e-6 &&
		      presto_spec_width(&c, 441000, 44100) == 1000 && presto_spec_width(&c, 44100 * 3600, 44100) == 8192,
	      "axes: top row %.1f Hz, bottom %.1f Hz, 1000 columns for 10 s, at most 8192",
	      presto_spec_row_hz(&c, 44100, 0), presto_spec_row_hz(&c, 44100, c.height - 1));
	const struct {
		int rate;
		double hz, amp;
	} cases[] = {{44100, 1000, 0.5}, {44100, 5000, 0.25}, {44100, 61, 0.8}, {8000, 300, 0.5}, {8000, 3500, 0.1}};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		int rate = cases[k].rate, N = rate;
		float *x = malloc(sizeof(float) * N), *img = NULL;
		for (int t = 0; t < N; t++)
			x[t] = (float)(cases[k].amp * cos(2 * M_PI * cases[k].hz * t / rate));
		int W = 0;
		presto_status st = presto_spectrogram(&c, x, N, rate, &img, &W);
		int col = W / 2, best = 0, H = c.height;
		for (int r = 1; !st && r < H; r++)
			if (img[r * W + col] > img[best * W + col])
				best = r;
		double f = st ? 0 : presto_spec_row_hz(&c, rate, best);
		double up = st || best == 0 ? f : presto_spec_row_hz(&c, rate, best - 1);
		double down = st || best == H - 1 ? f : presto_spec_row_hz(&c, rate, best + 1);
		/* A row averages the bins of its band: a sine's power (1.5 times its
		 * peak bin's over the Hann main lobe) is spread over nb bins. */
		double df = rate / (rate == 8000 ? 512.0 : 4096.0), nb = (up - down) / 2 / df;
		double level = 20 * log10(cases[k].amp), want = level + 10 * log10(fmin(1, 1.5 / nb));
		double peak = st ? 0 : img[best * W + col], far = -1e9;
		for (int r = 0; !st && r < H; r++) {
			double fr = presto_spec_row_hz(&c, rate, r);
			if (fabs(fr - cases[k].hz) > 8 * df)
				far = fmax(far, img[r * W + col]);
		}
		CHECK(!st && W == 100 && cases[k].hz > (f + down) / 2 - 1e-9 && cases[k].hz < (f + up) / 2 + 1e-9 &&
			      peak <= level + 0.1 && fabs(peak - want) < 3 && far < peak - 50,
		      "a %g Hz sine at %d Hz: %d columns, peak in row %d (%.1f Hz, band %.1f-%.1f = %.1f bins), %.2f dB "
		      "(sine %.2f dBFS, %.2f dB spread over the band), 8 bins away at most %.1f dB",
		      cases[k].hz, rate, W, best, f, (f + down) / 2, (f + up) / 2, nb, peak, level, want, far);
		free(img);
		free(x);
	}
	/* a fixed width, and silence is at the floor */
	float z[500] = {0}, *img = NULL;
	int W = 0;
	c.width = 7;
	presto_status st = presto_spectrogram(&c, z, 500, 8000, &img, &W);
	int floor_ok = !st;
	for (int i = 0; !st && i < W * c.height; i++)
		floor_ok &= img[i] == -200.0f;
	CHECK(!st && W == 7 && floor_ok, "--width 7 gives 7 columns; silence is -200 dB everywhere");
	free(img);
	c.height = 1;
	CHECK(presto_spectrogram(&c, z, 500, 8000, &img, &W) == PRESTO_EINVAL, "height 1 is refused: %s",
	      presto_error());
}

int main(void)
{
	test_eigh();
	test_sqrtm();
	test_frechet_closed_forms();
	test_gauss_fit();
	test_recon();
	test_spectrogram();
	return check_status();
}

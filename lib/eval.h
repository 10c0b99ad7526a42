/* eval.h - the measures of presto-eval: reconstruction metrics of a pair of
 * clips (multi-resolution STFT distance, SI-SDR, L1), mel-spaced log-power
 * spectrograms for pictures, and the Fréchet distance between Gaussians
 * fitted to latent frames, with the symmetric eigensolver it rests on.
 *
 * Audio is fp32 planar as in formats/audio.h: x[c * T + t]. Matrices are
 * row-major doubles. */
#ifndef PRESTO_EVAL_H
#define PRESTO_EVAL_H

#include <stdint.h>

#include "error.h"
#include "loss.h"

/* ---- reconstruction metrics */

typedef struct {
	double mrstft;    /* MR-STFT distance over the channels (lib/loss.h, defaults) */
	double mrstft_ms; /* stereo only: sum-and-difference (mid/side) term; NaN otherwise */
	double sisdr;     /* SI-SDR in dB, mean over the channels */
	double l1;        /* mean |ref - gen| over all samples */
} presto_recon_metrics;

/* Compare gen with ref, both [C, T]. L is an MR-STFT loss object (the
 * defaults of presto_mrstft_defaults are stable-audio-tools' VAE recipe):
 *   mrstft    = presto_mrstft_forward(gen, ref) over the C channel signals
 *               (spectral convergence + log magnitude, mean over the 7
 *               resolutions; 0 for identical signals)
 *   mrstft_ms = for C = 2: (MR(gen_L + gen_R, ref_L + ref_R)
 *               + MR(gen_L - gen_R, ref_L - ref_R)) / 2
 *   sisdr     = mean over channels of presto_si_sdr(gen_c, ref_c)
 *   l1        = presto_l1_loss_forward over all C T samples.
 * EINVAL when T is too short for the STFTs (REFLECT padding needs T >
 * n_fft / 2 for the largest n_fft: 1024 with the defaults) or C < 1. */
presto_status presto_recon_compare(presto_mrstft *L, const float *ref, const float *gen, int C, int T,
				   presto_recon_metrics *m);

/* ---- spectrograms
 *
 * Column x of a spectrogram of N samples and width W is the power spectrum
 * of a Hann-windowed frame of n_fft samples centred on sample
 * (x + 0.5) N / W (zeros beyond the signal), n_fft the smallest power of two
 * >= rate / 16, so that bins are 8 to 16 Hz apart (4096 at 44.1 kHz, 512 at
 * 8 kHz). The power is normalised so
 * that a sine of amplitude A has 20 log10 A dB at its peak bin (dBFS);
 * values are 10 log10(power + 1e-20). Rows are equally spaced on the mel
 * scale, mel(f) = 2595 log10(1 + f / 700), from fmin (the bottom row) to the
 * Nyquist frequency (the top row, row 0); each row averages the power of
 * the FFT bins inside its band (half a row spacing either side of its
 * centre), and a band too narrow to hold a bin interpolates the power
 * linearly between the two nearest bins. */
typedef struct {
	int height;             /* rows, >= 2 (256) */
	int width;              /* columns; 0: cols_per_second per second, clamped to [1, max_width] */
	double cols_per_second; /* 100 */
	int max_width;          /* 8192 */
	double fmin;            /* centre of the bottom row in Hz (30); at most a quarter of Nyquist is used */
} presto_spec_config;

void presto_spec_defaults(presto_spec_config *c);
/* The number of columns for N samples at rate. */
int presto_spec_width(const presto_spec_config *c, int64_t N, int rate);
/* The centre frequency of row (0 = top) in Hz. */
double presto_spec_row_hz(const presto_spec_config *c, int rate, int row);
/* out: a new [height, *width] array (free() it) of dB values, row 0 the
 * highest frequency. EINVAL for a bad config, N < 1 or rate < 1; ENOMEM. */
presto_status presto_spectrogram(const presto_spec_config *c, const float *x, int64_t N, int rate, float **out,
				 int *width);

/* ---- symmetric matrices */

/* Eigendecomposition of the symmetric n x n matrix A (its upper triangle is
 * read) by cyclic Jacobi rotations in double: d [n] the eigenvalues in
 * ascending order, V [n, n] (may be NULL) the eigenvectors as columns, so
 * that A = V diag(d) V^T. Sweeps until the off-diagonal part is below
 * 1e-15 of the Frobenius norm (or a sweep changes nothing); O(n^3) per
 * sweep, about 6 to 10 sweeps. EINVAL for n < 1 or a non-finite entry,
 * ENOMEM. */
presto_status presto_eigh(const double *A, int n, double *d, double *V);

/* Square root of the symmetric positive semi-definite A: V sqrt(D) V^T, with
 * eigenvalues below 0 (rounding) clamped to 0. out [n, n] may be A. */
presto_status presto_sqrtm_psd(const double *A, int n, double *out);

/* ---- Gaussian fits and the Fréchet distance */

/* Mean and covariance of many dim-dimensional samples, accumulated in
 * double around a shift (the first sample) for accuracy. */
typedef struct {
	int dim;
	int64_t count;
	double *shift; /* [dim] */
	double *sum;   /* [dim]: sum of (x - shift) */
	double *cross; /* [dim, dim]: sum of (x - shift)(x - shift)^T (upper triangle) */
	double *buf;   /* scratch */
	int64_t buf_cap;
} presto_gauss_fit;

/* EINVAL for dim < 1 or above 16384, ENOMEM. */
presto_status presto_gauss_fit_init(presto_gauss_fit *g, int dim);
void presto_gauss_fit_free(presto_gauss_fit *g);
/* Add the T samples of x [dim, T]: column t (x[c * T + t], c = 0 .. dim-1)
 * is one sample (a latent frame). ENOMEM. */
presto_status presto_gauss_fit_add(presto_gauss_fit *g, const float *x, int64_t T);
/* mean [dim] and covariance [dim, dim] with the unbiased 1 / (count - 1)
 * normalisation (numpy.cov's); EINVAL with fewer than 2 samples. */
presto_status presto_gauss_fit_get(const presto_gauss_fit *g, double *mean, double *cov);

/* Fréchet (2-Wasserstein) distance between N(ma, Sa) and N(mb, Sb):
 *   mean_term = ||ma - mb||^2
 *   cov_term  = tr(Sa) + tr(Sb) - 2 tr((Sa^1/2 Sb Sa^1/2)^1/2)
 *   dist      = mean_term + cov_term
 * with the matrix square roots by presto_eigh (negative eigenvalues from
 * rounding clamped to 0). A cov_term below 0 from rounding is reported as
 * 0. mean_term and cov_term may be NULL. EINVAL, ENOMEM. */
presto_status presto_frechet(const double *ma, const double *Sa, const double *mb, const double *Sb, int n,
			     double *dist, double *mean_term, double *cov_term);

/* The same after both Gaussians are standardised per channel by b's mean
 * and standard deviation (x -> (x - mb_i) / sb_i, sb_i = sqrt(Sb_ii); a
 * channel where b has no variance is only shifted): a scale-free figure in
 * units of b's per-channel spread. Equal distributions give 0; a shifted
 * by one of b's standard deviations in each of n channels (same
 * covariance) gives n. */
presto_status presto_frechet_standardized(const double *ma, const double *Sa, const double *mb, const double *Sb,
					  int n, double *dist);

#endif

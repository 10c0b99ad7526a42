/* loss.h - the training losses of the VAE (and anything else that compares
 * waveforms): L1 / L2 waveform losses, the multi-resolution STFT loss of
 * stable-audio-tools (auraloss MultiResolutionSTFTLoss and
 * SumAndDifferenceSTFTLoss), and SI-SDR as a validation metric.
 *
 * Conventions (as lib/ops.h): a forward returns the loss value (accumulated
 * in double); its backward takes dloss = dTotal/dloss and ACCUMULATES (+=)
 * dloss * dloss/dx into dx and dloss * dloss/dy into dy (either may be NULL:
 * not needed). x is the first argument of the reference module ("input"),
 * y the second ("target"); the losses are symmetric except the spectral
 * convergence term, which is normalised by y.
 *
 * Signals are rows of T floats: S signals = S * T floats, [S, T]; audio
 * batches [B, C, T] are B * C signals. */
#ifndef PRESTO_LOSS_H
#define PRESTO_LOSS_H

#include <stddef.h>

#include "error.h"

/* ---- waveform losses over n values */

/* mean |x - y| (torch l1_loss, reduction mean). */
double presto_l1_loss_forward(const float *x, const float *y, size_t n);
/* dx += dloss * sign(x - y) / n, dy -= the same (sign(0) = 0, as torch). */
void presto_l1_loss_backward(float *dx, float *dy, const float *x, const float *y, size_t n, double dloss);
/* mean (x - y)^2 (torch mse_loss). */
double presto_l2_loss_forward(const float *x, const float *y, size_t n);
/* dx += dloss * 2 (x - y) / n, dy -= the same. */
void presto_l2_loss_backward(float *dx, float *dy, const float *x, const float *y, size_t n, double dloss);

/* ---- multi-resolution STFT loss
 *
 * For one resolution (n_fft N, hop h, window length W) and S signals:
 *   STFT: torch.stft(center=True, onesided) without normalisation: each
 *     signal is padded by N/2 on both sides (REFLECT: torch's default
 *     "reflect" mode, x[-i] = x[i], needs T > N/2; ZERO: zeros), frame f
 *     covers padded samples [f h, f h + N), nf = 1 + (T + 2 (N/2) - N) / h
 *     frames; the frame is multiplied by a periodic Hann window of length W
 *     (0.5 - 0.5 cos(2 pi n / W)) centred in N samples ((N - W) / 2 zeros on
 *     the left); bins k = 0 .. F - 1, F = N/2 + 1:
 *       Re[f, k] = sum_n frame[n] w[n] cos(2 pi k n / N)
 *       Im[f, k] = -sum_n frame[n] w[n] sin(2 pi k n / N)
 *     computed frame by frame with a real FFT when N is a power of two
 *     (presto_rfft_forward, lib/ops/fft.c: O(N log N) per frame, in double
 *     inside) and otherwise as ONE matrix product per signal: frames [nf, N]
 *     times a [2F, N] basis (window folded in; angles reduced exactly mod N
 *     in integers, evaluated in double, rounded to float) through BLAS; the
 *     backward is the transposed transform (presto_rfft_backward, or the
 *     transposed product) plus overlap-add and the fold-back of the
 *     reflected padding.
 *   Magnitude: M = sqrt(max(Re^2 + Im^2, eps)) (auraloss' clamp, eps 1e-8):
 *     finite everywhere, gradient 0 where the power is below eps.
 *   With X = M(x), Y = M(y) of signal s ([F, nf] each):
 *     SC_s  = ||Y - X||_F / ||Y||_F                 spectral convergence
 *     SC    = mean over signals of SC_s
 *     LOG   = mean over all S F nf elements of |log X - log Y|
 *     LIN   = mean over all elements of |X - Y|
 *     L_res = w_sc SC + w_log_mag LOG + w_lin_mag LIN
 * and the multi-resolution loss is the mean of L_res over the resolutions.
 * In the backward, ||Y - X|| = 0 gives a zero SC gradient (torch's norm
 * subgradient) and |.| has sign(0) = 0.
 * Defaults (presto_mrstft_defaults): stable-audio-tools' VAE recipe, n_fft
 * 2048 1024 512 256 128 64 32, hop n_fft / 4, window n_fft, w_sc = w_log_mag
 * = 1, w_lin_mag = 0, eps 1e-8, REFLECT. Not implemented: auraloss'
 * perceptual (A-weighting FIR) pre-filter, mel / chroma scales, scale
 * invariance and the phase term. */
#define PRESTO_STFT_MAX_RES 16

typedef enum { PRESTO_STFT_PAD_REFLECT = 0, PRESTO_STFT_PAD_ZERO = 1 } presto_stft_pad;

typedef struct {
	int n_res;
	int n_fft[PRESTO_STFT_MAX_RES];
	int hop[PRESTO_STFT_MAX_RES];
	int win[PRESTO_STFT_MAX_RES]; /* <= n_fft */
	double w_sc, w_log_mag, w_lin_mag;
	double eps;                   /* clamp of the power (1e-8) */
	presto_stft_pad pad;
} presto_mrstft_config;

void presto_mrstft_defaults(presto_mrstft_config *c);

/* The unweighted terms, each averaged over the resolutions, and the loss. */
typedef struct {
	double loss; /* mean over resolutions of w_sc SC + w_log LOG + w_lin LIN */
	double sc, log_mag, lin_mag;
} presto_mrstft_terms;

/* A loss object: per resolution an FFT plan and the window (about 30 N bytes)
 * for a power-of-two N, else a DFT basis (about 8 N^2 bytes), and scratch
 * buffers that grow with T.
 * Not thread-safe (one per thread). */
typedef struct presto_mrstft presto_mrstft;
/* EINVAL for a bad config (n_res outside [1, PRESTO_STFT_MAX_RES], n_fft < 2,
 * hop < 1, win outside [1, n_fft], eps <= 0, negative weights). */
presto_status presto_mrstft_new(const presto_mrstft_config *c, presto_mrstft **out);
void presto_mrstft_free(presto_mrstft *L);
const presto_mrstft_config *presto_mrstft_get_config(const presto_mrstft *L);

/* Loss of x against y, both [S, T]; terms may be NULL. EINVAL when T is too
 * short (REFLECT needs T > n_fft / 2 for every resolution) or S < 1; ENOMEM. */
presto_status presto_mrstft_forward(presto_mrstft *L, const float *x, const float *y, int S, int T,
				    presto_mrstft_terms *terms);
/* Gradients: dx += dloss * dL/dx, dy += dloss * dL/dy (NULL: not needed).
 * Recomputes the spectra (nothing is kept between calls) and returns the
 * same terms as the forward (may be NULL), so a trainer calls only this:
 * 3 STFT-sized transforms per signal and resolution in all. */
presto_status presto_mrstft_backward(presto_mrstft *L, float *dx, float *dy, const float *x, const float *y, int S,
				     int T, double dloss, presto_mrstft_terms *terms);

/* ---- the stereo reconstruction loss of stable-audio-tools' VAE recipe
 *
 * For audio x, y [B, C, T]:
 *   lr = MR-STFT over the B C channel signals (per-channel loss: the same as
 *        auraloss' left and right losses weighted 1/2 each)
 *   ms = (MR(x_L + x_R, y_L + y_R) + MR(x_L - x_R, y_L - y_R)) / 2 (auraloss
 *        SumAndDifferenceSTFTLoss, w_sum = w_diff = 1); only for C = 2
 *        (0 otherwise)
 *   total = w_lr lr + w_ms ms.
 * stable-audio-tools' AutoencoderTrainingWrapper adds the sum-and-difference
 * module twice for stereo (it appends the same "mrstft_loss" term before and
 * after the left/right terms), so its objective is w (lr + 2 ms): w_lr = 1,
 * w_ms = 2 reproduce it. lr and ms may be NULL. */
presto_status presto_mrstft_stereo_forward(presto_mrstft *L, const float *x, const float *y, int B, int C, int T,
					   double w_lr, double w_ms, presto_mrstft_terms *lr, presto_mrstft_terms *ms,
					   double *total);
/* dx, dy (+=, NULL: not needed) of dloss * total; also returns the terms. */
presto_status presto_mrstft_stereo_backward(presto_mrstft *L, float *dx, float *dy, const float *x, const float *y,
					    int B, int C, int T, double w_lr, double w_ms, double dloss,
					    presto_mrstft_terms *lr, presto_mrstft_terms *ms, double *total);

/* ---- metrics */

/* Scale-invariant SDR in dB of an estimate against a reference, n samples,
 * zero-mean (Le Roux et al. 2019; torchmetrics' formula with eps = 1e-8):
 *   e = est - mean(est), r = ref - mean(ref)
 *   a = (<e, r> + eps) / (<r, r> + eps), t = a r
 *   si_sdr = 10 log10((|t|^2 + eps) / (|e - t|^2 + eps)). In double. */
double presto_si_sdr(const float *est, const float *ref, size_t n);

#endif

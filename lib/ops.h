/* ops.h - the plain C reference of every op (fp32, no fast-math).
 *
 * One op = one forward and one backward function, in lib/ops/<file>.c;
 * kernels/<op>.cu holds the CUDA twin with the same arguments plus a stream.
 * Layouts are row-major. Shape letters: N rows (tokens), B batch, T frames or
 * tokens, C channels, D width, H heads, Dh head width, K kernel size.
 * Ops never allocate except where noted and cannot fail on valid shapes. */
#ifndef PRESTO_OPS_H
#define PRESTO_OPS_H

#include <stddef.h>

/* Backward passes (training): presto_<op>_backward takes dL/dy and the
 * forward's inputs and ACCUMULATES (+=) into the gradients of the inputs and
 * parameters (llm.c style), so the caller zeroes them once and several uses of
 * a tensor sum up; a NULL gradient pointer means "not needed" (its work is
 * skipped). Gradient outputs must not alias dy or the forward's inputs unless
 * noted (presto_rope_backward works in place). */

/* Number of threads the GEMMs and presto_parallel may use; <= 0 leaves the
 * default (all cores). */
void presto_set_threads(int n);
/* That number (by default OpenBLAS's: $OPENBLAS_NUM_THREADS, else the cores). */
int presto_threads(void);
/* fn(ctx, i, w) for every i in [0, n), on presto_parallel_workers(n)
 * workers, w the worker's index (0: the calling thread), the i handed out
 * one at a time; returns when all are done. The i must be independent of
 * each other (results then do not depend on the number of workers). Calls
 * from inside fn run serially; inside the region BLAS runs single-threaded.
 * (lib/ops/parallel.c) */
void presto_parallel(int n, void (*fn)(void *ctx, int i, int w), void *ctx);
/* How many workers presto_parallel(n, ...) uses, for per-worker scratch. */
int presto_parallel_workers(int n);
/* presto_parallel on at most max_workers workers (<= 0: no cap). */
void presto_parallel_limited(int n, int max_workers, void (*fn)(void *ctx, int i, int w), void *ctx);

/* y[N,O] = x[N,In] W[O,In]^T + b[O] (b may be NULL). GEMM through BLAS. */
void presto_linear_forward(float *y, const float *x, const float *w, const float *b, int N, int In, int O);
/* dx[N,In] += dy W, dW[O,In] += dy^T x, db[O] += sum over rows of dy (GEMMs
 * through BLAS; db summed row by row in order). */
void presto_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int N,
			    int In, int O);

/* LayerNorm over the last dim D: y = (x - mean)/sqrt(var + eps) * gamma + beta
 * (biased variance; gamma/beta may be NULL). */
void presto_layernorm_forward(float *y, const float *x, const float *gamma, const float *beta, int N, int D, float eps);
/* dx, dgamma [D], dbeta [D]; the row statistics are recomputed from x as the
 * forward computes them (nothing saved but x). */
void presto_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
			       const float *gamma, int N, int D, float eps);

/* T5 RMSNorm: y = x * rsqrt(mean(x^2) + eps) * w (w may be NULL). */
void presto_rmsnorm_forward(float *y, const float *x, const float *w, int N, int D, float eps);
void presto_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, int N, int D,
			     float eps);

/* Element-wise activations (y may equal x). */
void presto_silu_forward(float *y, const float *x, size_t n);
void presto_relu_forward(float *y, const float *x, size_t n);
/* tanh approximation: 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3))) */
void presto_gelu_tanh_forward(float *y, const float *x, size_t n);
/* exact erf GELU */
void presto_gelu_forward(float *y, const float *x, size_t n);
/* Their backwards from the forward's input x: dx += dy * f'(x). */
void presto_silu_backward(float *dx, const float *dy, const float *x, size_t n);
void presto_relu_backward(float *dx, const float *dy, const float *x, size_t n);
void presto_gelu_tanh_backward(float *dx, const float *dy, const float *x, size_t n);
void presto_gelu_backward(float *dx, const float *dy, const float *x, size_t n);

/* SwiGLU on the output of one projection: xg [N, 2F] = [x | gate];
 * y[N,F] = x * silu(gate) (stable-audio-tools GLU: x, gate = chunk(2)). */
void presto_swiglu_forward(float *y, const float *xg, int N, int F);
/* dxg [N, 2F] += (dy silu(gate) | dy x silu'(gate)). */
void presto_swiglu_backward(float *dxg, const float *dy, const float *xg, int N, int F);

/* y = a * b element-wise (y may alias a or b). */
void presto_mul_forward(float *y, const float *a, const float *b, size_t n);
/* da += dy b, db += dy a. */
void presto_mul_backward(float *da, float *db, const float *dy, const float *a, const float *b, size_t n);
/* y += x */
void presto_add_inplace(float *y, const float *x, size_t n);

/* Rotary embedding (NeoX rotate_half within the first rot_dim dims of each
 * head), in place. x holds T tokens, token t at x + t*stride, H heads of Dh
 * floats each from there. Angle of token t, pair j: (pos0 + t) * inv_freq[j],
 * j < rot_dim/2; dims [0, rot_dim/2) pair with [rot_dim/2, rot_dim). Angles are
 * computed in fp32 as the reference does. */
void presto_rope_forward(float *x, int T, int H, int Dh, int stride, int rot_dim, const float *inv_freq, int pos0);
/* Its backward IN PLACE (not accumulating): dx holds dL/dy on entry and dL/dx
 * on return (the rotation by the negative angle), same layout and arguments. */
void presto_rope_backward(float *dx, int T, int H, int Dh, int stride, int rot_dim, const float *inv_freq, int pos0);

/* Multi-head attention with grouped-query heads.
 * q: B*Tq tokens, token (b,t) at q + (b*Tq + t)*qs, H heads of Dh floats;
 * k, v: B*Tk tokens at k + (b*Tk + t)*ks and v + (b*Tk + t)*vs, KVH heads
 * (H % KVH == 0; q head h reads kv head h / (H/KVH), as repeat_interleave);
 * o: [B, Tq, H*Dh]. scores = scale * q.k + bias[h, i, j] (bias [H, Tq, Tk] or
 * NULL) + (key_mask[b, j] ? 0 : -FLT_MAX) (key_mask [B, Tk] or NULL); softmax
 * over keys in fp32 (a row whose keys are all masked attends uniformly, as
 * adding finfo.min does); o = p v. The B*H heads run in parallel
 * (presto_parallel), each the same way on any thread count; allocates its
 * score scratch (Tq*Tk floats a worker). */
void presto_attention_forward(float *o, const float *q, const float *k, const float *v, int B, int Tq, int Tk, int H,
			      int KVH, int Dh, int qs, int ks, int vs, float scale, const float *bias,
			      const float *key_mask);
/* Its backward from dout [B, Tq, H*Dh]: dq, dk, dv (laid out as q, k, v, with
 * the same strides qs, ks, vs; the H/KVH query heads of a group sum into
 * their kv head) and dbias [H, Tq, Tk] (summed over the batch) accumulate.
 * The probabilities are recomputed from q and k (flash-attention style: no
 * saved state; scratch of 2*Tq*Tk floats a worker is allocated, abort() if
 * that fails, as the forward). An item whose keys are all masked has constant
 * (uniform) attention: no gradient reaches its q, k or bias; masked keys get
 * none either. The KVH kv heads run in parallel (presto_parallel), each with
 * its query heads: the same bits on any thread count. */
void presto_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout, const float *q,
			       const float *k, const float *v, int B, int Tq, int Tk, int H, int KVH, int Dh, int qs,
			       int ks, int vs, float scale, const float *bias, const float *key_mask);

/* Snake with log-scale parameters (SnakeBeta, alpha_logscale):
 * y = x + 1/(exp(beta[c]) + 1e-9) * sin(exp(alpha[c]) x)^2; x, y [C, T]. */
void presto_snake_beta_forward(float *y, const float *x, const float *alpha, const float *beta, int C, int T);
/* Backward (lib/ops/snake.c): dx [C, T] += dy * dy/dx, dalpha[c] and
 * dbeta[c] += the sums over t of dy times the derivative with respect to the
 * LOG-scale parameters. Any of dx, dalpha, dbeta may be NULL; dx must not
 * alias dy. */
void presto_snake_beta_backward(float *dx, float *dalpha, float *dbeta, const float *dy, const float *x,
				const float *alpha, const float *beta, int C, int T);
/* s[i] = sin(x[i]), c[i] = cos(x[i]) for i < n (s or c may be NULL): the
 * float sine and cosine the snake uses (lib/ops/snake.c), vectorised. For
 * |x| <= 12000 within 4 * 2^-24 of |result| (a few ulp) and 2^-23 absolute
 * (tests/unit/test_sincos.c); libm sinf / cosf beyond, NaN for inf and NaN.
 * The same bits whatever the block size, position or machine. */
void presto_sincosf_block(float *s, float *c, const float *x, size_t n);
/* y[i] = exp(x[i]) for i < n (y may be x): the float exponential of the
 * softmax, SiLU and SwiGLU (lib/ops/expf.c), vectorised. Within 2 ulp of
 * the exact result (tests/unit/test_expf.c); +0 below -103.98 as libm;
 * libm for the subnormal results, overflow, inf and NaN. The same bits
 * whatever the block size, position or machine. */
void presto_expf_block(float *y, const float *x, size_t n);

/* 1-D convolution of one item: x [Cin, Tin] -> y [Cout, Tout],
 * w [Cout, Cin, K] (torch layout), b [Cout] or NULL, zero padding `pad` on
 * both sides, Tout = presto_conv1d_out_len(). Uses `work` of
 * presto_conv1d_work_size() floats (im2col), or allocates if work is NULL. */
int presto_conv1d_out_len(int Tin, int K, int stride, int pad, int dil);
size_t presto_conv1d_work_size(int Cin, int Tin, int K, int stride, int pad, int dil);
void presto_conv1d_forward(float *y, const float *x, const float *w, const float *b, int Cin, int Cout, int Tin,
			   int K, int stride, int pad, int dil, float *work);
/* Backward for dy [Cout, Tout]: dx [Cin, Tin] += d/dx, dw [Cout, Cin, K] +=
 * d/dw, db [Cout] += sum over t of dy (each may be NULL; x is needed for dw,
 * w for dx). work: presto_conv1d_backward_work_size() floats (unused for
 * pointwise convs) or NULL to allocate. dx must not alias dy or x. */
size_t presto_conv1d_backward_work_size(int Cin, int Tin, int K, int stride, int pad, int dil);
void presto_conv1d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
			    int Cin, int Cout, int Tin, int K, int stride, int pad, int dil, float *work);

/* Transposed 1-D convolution of one item: x [Cin, Tin] -> y [Cout, Tout],
 * w [Cin, Cout, K] (torch ConvTranspose1d layout), b [Cout] or NULL,
 * Tout = (Tin - 1)*stride - 2*pad + K. work: presto_conv_transpose1d_work_size() floats or NULL. */
int presto_conv_transpose1d_out_len(int Tin, int K, int stride, int pad);
size_t presto_conv_transpose1d_work_size(int Cout, int Tin, int K);
void presto_conv_transpose1d_forward(float *y, const float *x, const float *w, const float *b, int Cin, int Cout,
				     int Tin, int K, int stride, int pad, float *work);
/* Backward for dy [Cout, Tout]: dx [Cin, Tin], dw [Cin, Cout, K], db [Cout]
 * accumulate (+=; each may be NULL). work:
 * presto_conv_transpose1d_backward_work_size() floats or NULL. */
size_t presto_conv_transpose1d_backward_work_size(int Cout, int Tin, int K);
void presto_conv_transpose1d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
				      const float *w, int Cin, int Cout, int Tin, int K, int stride, int pad,
				      float *work);

/* Weight-norm folding (torch.nn.utils.weight_norm, dim=0):
 * w[i, :] = g[i] * v[i, :] / ||v[i, :]|| for i < D0, rows of `rest` floats. */
void presto_weight_norm_fold(float *w, const float *g, const float *v, int D0, int rest);
/* Backward (lib/ops/conv.c) from dw [D0, rest] (the gradient of the folded
 * weight): dg [D0] += sum_j dw v / ||v||, dv [D0, rest] += (g / ||v||)
 * (dw - (dg_i / ||v||) v) (dg_i the row's own term). Either may be NULL. */
void presto_weight_norm_backward(float *dg, float *dv, const float *dw, const float *g, const float *v, int D0,
				 int rest);

/* Fourier features: y[N, 2*F] = [cos(2 pi t[n] w[f]), sin(2 pi t[n] w[f])]. */
void presto_fourier_features_forward(float *y, const float *t, const float *w, int N, int F);
/* Its backward: dt [N] and dw [F] accumulate. */
void presto_fourier_features_backward(float *dt, float *dw, const float *dy, const float *t, const float *w, int N,
				      int F);

/* Real FFT (lib/ops/fft.c) of n = 2^k points (2 <= n <= 2^24), radix-2:
 * float in and out, computed in double (as cheap as float in this scalar
 * code; about 1 float rounding of error on the outputs). A plan holds the
 * twiddles and an n double scratch, so one plan serves one thread at a time.
 * Allocates (new). */
#include "error.h"
typedef struct presto_rfft presto_rfft;
/* EINVAL when n is not such a power of two; ENOMEM. */
presto_status presto_rfft_new(int n, presto_rfft **out);
void presto_rfft_free(presto_rfft *p);
int presto_rfft_size(const presto_rfft *p);
/* Half spectrum of the windowed x [n] (w [n] or NULL: no window), bins
 * k = 0 .. n/2:  re[k] = sum_t x[t] w[t] cos(2 pi k t / n),
 *                im[k] = -sum_t x[t] w[t] sin(2 pi k t / n)  (im[0] = im[n/2] = 0). */
void presto_rfft_forward(presto_rfft *p, float *re, float *im, const float *x, const float *w);
/* Its transpose: dx[t] += w[t] sum_{k=0..n/2} (dre[k] cos(2 pi k t / n) -
 * dim[k] sin(2 pi k t / n)) (dim[0] and dim[n/2] have no effect). */
void presto_rfft_backward(presto_rfft *p, float *dx, const float *dre, const float *dim, const float *w);

#endif

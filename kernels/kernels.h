/* kernels.h - the CUDA twins of lib/ops.h (the .cu files of kernels/): the same
 * arguments as the CPU reference, device pointers, plus the stream (a
 * cudaStream_t passed as void *, so that C callers need no CUDA header; NULL
 * is the default stream). Each returns 0, or the CUDA error code of the
 * launch. `make test-gpu` (tests/gpu/) checks them against the CPU
 * reference where a GPU is, and make test on the CPU emulator (kernels/emu).
 * Status: not yet run on a GPU. */
#ifndef PRESTO_KERNELS_H
#define PRESTO_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y[N, D] = (x - mean) / sqrt(var + eps) * gamma + beta (beta may be NULL) */
int presto_cuda_layernorm_forward(float *y, const float *x, const float *gamma, const float *beta, int N, int D,
				  float eps, void *stream);
/* y[N, F] = xg[:, :F] * silu(xg[:, F:]) */
int presto_cuda_swiglu_forward(float *y, const float *xg, int N, int F, void *stream);
/* y[C, T] = x + 1 / (exp(beta[c]) + 1e-9) * sin(exp(alpha[c]) x)^2 */
int presto_cuda_snake_beta_forward(float *y, const float *x, const float *alpha, const float *beta, int C, int T,
				   void *stream);

/* y[n] = silu(x[n]) (y may be x); y += x; Fourier features [N, 2F] */
int presto_cuda_silu_forward(float *y, const float *x, size_t n, void *stream);
int presto_cuda_add_inplace(float *y, const float *x, size_t n, void *stream);
int presto_cuda_fourier_features_forward(float *y, const float *t, const float *w, int N, int F, void *stream);

/* ---- the sampling loop's element-wise work (kernels/sampler.cu) ---- */

/* presto_step_apply (lib/sampler.h) on device vectors: the same element
 * function (lib/sampler_step.h), built without contracted multiply-adds, so
 * the floats are the C reference's. */
int presto_cuda_step(const void *step, void *stream); /* step: a const presto_step * */
/* presto_randn (lib/rng.h) into device memory: the same Philox words; the
 * Box-Muller logs, sines and cosines are CUDA's doubles (within an ulp of
 * glibc's), so rarely a float differs in its last bit. */
int presto_cuda_randn(float *out, size_t n, uint64_t seed, uint64_t stream_id, uint64_t offset, void *stream);

/* ---- GEMMs (kernels/linear.cu, cuBLAS) ---- */

/* storage types of the typed entry points */
typedef enum { PRESTO_CUDA_F32 = 0, PRESTO_CUDA_BF16 = 1 } presto_cuda_dtype;

/* y[N, O] = x[N, In] W[O, In]^T + b[O] (b may be NULL), fp32 with fp32
 * arithmetic (no TF32): the parity path. */
int presto_cuda_linear_forward(float *y, const float *x, const float *w, const float *b, int N, int In, int O,
			       void *stream);
/* The typed GEMM under it: y[N, O] = x W^T + beta y (+ b[O], fp32, when b is
 * not NULL), y, x, w each fp32 or bf16, fp32 accumulation; tf32 lets fp32
 * inputs use TF32 tensor cores. beta 0 never reads y. */
int presto_cuda_gemm(void *y, presto_cuda_dtype yt, const void *x, presto_cuda_dtype xt, const void *w,
		     presto_cuda_dtype wt, const float *b, int N, int In, int O, float beta, int tf32, void *stream);
/* The GEMM on strided rows, no bias: row n of y at y + n*ldy, of x at
 * x + n*ldx (elements); y = x W^T + beta y. */
int presto_cuda_gemm_ld(void *y, presto_cuda_dtype yt, int ldy, const void *x, presto_cuda_dtype xt, int ldx,
			const void *w, presto_cuda_dtype wt, int N, int In, int O, float beta, int tf32, void *stream);
/* Drop the cuBLAS handles (before the device is reset or the library
 * unloaded). */
void presto_cuda_blas_release(void);

/* ---- attention (kernels/attention.cu) ---- */

/* presto_attention_forward on the device: the same layouts, strides, GQA,
 * bias [H, Tq, Tk] and key mask [B, Tk] (either NULL), one pass over the
 * keys with an online softmax in fp32 (flash attention); Dh <= 256. */
int presto_cuda_attention_forward(float *o, const float *q, const float *k, const float *v, int B, int Tq, int Tk,
				  int H, int KVH, int Dh, int qs, int ks, int vs, float scale, const float *bias,
				  const float *key_mask, void *stream);
/* the same with q, k, v and o stored in bf16: on tensor cores (P in bf16,
 * fp32 accumulation and softmax) when Dh is a multiple of 16 up to 128, else
 * fp32 arithmetic on CUDA cores */
int presto_cuda_attention_forward_bf16(void *o, const void *q, const void *k, const void *v, int B, int Tq, int Tk,
				       int H, int KVH, int Dh, int qs, int ks, int vs, float scale, const float *bias,
				       const float *key_mask, void *stream);

/* ---- rotary embedding and per-head normalisation (kernels/rope.cu) ---- */

/* presto_rope_forward in place, fp32 or bf16 storage (dt) */
int presto_cuda_rope_forward(void *x, presto_cuda_dtype dt, int T, int H, int Dh, int stride, int rot_dim,
			     const float *inv_freq, int pos0, void *stream);
/* the DiT's qk-norm in place: N tokens at x + n*stride, H heads of Dh;
 * kind 1 LayerNorm(Dh, eps 1e-6) with w, b [Dh]; kind 2 x / max(||x||, 1e-12) */
int presto_cuda_qk_norm(void *x, presto_cuda_dtype dt, int N, int stride, int H, int Dh, int kind, const float *w,
			const float *b, void *stream);

/* ---- the DiT (kernels/dit.cu) ---- */

struct presto_dit;
typedef struct presto_cuda_dit presto_cuda_dit;
/* Upload the weights of a DiT of lib/dit.c: the block matrices as wt (fp32
 * or bf16; bf16 also makes the block activations bf16), everything else
 * fp32. Returns 0 or a CUDA error code (cudaErrorMemoryAllocation: the GPU's
 * memory is too small). */
int presto_cuda_dit_new(const struct presto_dit *m, presto_cuda_dtype wt, presto_cuda_dit **out);
void presto_cuda_dit_free(presto_cuda_dit *g);
/* presto_dit_forward on device buffers: out [B, C, T] = F(x [B, C, T], t [B],
 * cross [B, S, cond_token_dim] or NULL, global [B, G] or NULL); block_mask
 * (host, depth entries, 0 skips the block) or NULL. Activations are sized on
 * the first call of a shape and kept. The context's keys and values of every
 * block are computed once and kept: reuse_context says that cross is what
 * the last forward of this shape had (the sampling loop of one record), so
 * that they need not be computed again. */
int presto_cuda_dit_forward(presto_cuda_dit *g, float *out, const float *x, const float *t, const float *cross, int S,
			    const float *global, int B, int T, const unsigned char *block_mask, int reuse_context,
			    void *stream);

/* ---- the Oobleck VAE decoder (kernels/oobleck.cu) ---- */

struct presto_vae;
typedef struct presto_cuda_vae presto_cuda_vae;
/* Upload the decoder (and the encoder, when loaded) of a VAE
 * (lib/oobleck.c); at fp32 (the parity
 * path, no TF32) or bf16 (weights and the convolutions' inputs bf16,
 * accumulation, residual stream and outputs fp32). EINVAL without a
 * decoder. */
int presto_cuda_vae_new(const struct presto_vae *m, presto_cuda_dtype at, presto_cuda_vae **out);
void presto_cuda_vae_free(presto_cuda_vae *g);
/* presto_vae_decode on device buffers: audio [audio_channels,
 * presto_vae_audio_len(Lz)] for z [latent_dim, Lz]. Activations are sized on
 * the first call of a length and kept. */
int presto_cuda_vae_decode(presto_cuda_vae *g, float *audio, const float *z, int Lz, void *stream);
/* presto_vae_encode on device buffers (a VAE loaded with its encoder):
 * out [encoder_out_dim, presto_vae_latent_len(N)] for audio
 * [audio_channels, N]; cudaErrorInvalidValue without an encoder. */
int presto_cuda_vae_encode(presto_cuda_vae *g, float *out, const float *audio, int N, void *stream);
/* presto_vae_latent_len() of the uploaded encoder (-1: none, or too short) */
int presto_cuda_vae_latent_len(const presto_cuda_vae *g, int N);
/* presto_vae_audio_len() of the uploaded decoder (-1: too short or too long) */
int presto_cuda_vae_audio_len(const presto_cuda_vae *g, int Lz);

/* ---- the T5 encoder (kernels/t5.cu) ---- */

struct presto_t5;
typedef struct presto_cuda_t5 presto_cuda_t5;
/* Upload a T5 encoder (lib/t5.c), fp32; tf32 lets its GEMMs use TF32. */
int presto_cuda_t5_new(const struct presto_t5 *m, int tf32, presto_cuda_t5 **out);
void presto_cuda_t5_free(presto_cuda_t5 *g);
/* presto_t5_forward on device buffers: out [B, L, d_model] for ids [B, L]
 * (checked by the caller), mask [B, L] or NULL, buckets [L, L]
 * (presto_t5_buckets() of the config). */
int presto_cuda_t5_forward(presto_cuda_t5 *g, float *out, const int32_t *ids, const float *mask,
			   const int32_t *buckets, int B, int L, void *stream);

#ifdef __cplusplus
}
#endif

#endif

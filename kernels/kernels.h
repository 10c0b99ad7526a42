/* kernels.h - the CUDA twins of lib/ops.h (the .cu files of kernels/): the same
 * arguments as the CPU reference, device pointers, plus the stream (a
 * cudaStream_t passed as void *, so that C callers need no CUDA header; NULL
 * is the default stream). Each returns 0, or the CUDA error code of the
 * launch. `make test-gpu` (tests/gpu/) checks them against the CPU
 * reference where a GPU is. Status: built, not yet run on a GPU; the tools
 * do not use them yet. */
#ifndef PRESTO_KERNELS_H
#define PRESTO_KERNELS_H

#include <stddef.h>

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

#ifdef __cplusplus
}
#endif

#endif

// elementwise.cu - CUDA twins of the row and element-wise ops of
// lib/ops/{norm,act,snake}.c (see kernels.h). fp32 in and out; the row
// statistics in fp32 with a block reduction (the CPU reference sums in
// double: agreement to a few ulp of the row's scale is what the tests ask).
#include "kernels.h"
#include "launch.h"

using presto_k::grid_for;
using presto_k::kThreads;

namespace {

// sum over the block of v (every thread gets it)
__device__ float block_sum(float v)
{
	__shared__ float part[32];
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	__syncthreads();  // part[] may still be read by a previous call
	if (lane == 0)
		part[warp] = v;
	__syncthreads();
	int nw = (blockDim.x + 31) >> 5;
	v = lane < nw ? part[lane] : 0.0f;
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

// one block per row: two-pass mean and variance (as the reference)
__global__ void layernorm_kernel(float *y, const float *x, const float *gamma, const float *beta, int D, float eps)
{
	const float *xr = x + (size_t)blockIdx.x * D;
	float *yr = y + (size_t)blockIdx.x * D;
	float s = 0;
	for (int i = threadIdx.x; i < D; i += blockDim.x)
		s += xr[i];
	float mean = block_sum(s) / D;
	float q = 0;
	for (int i = threadIdx.x; i < D; i += blockDim.x) {
		float d = xr[i] - mean;
		q += d * d;
	}
	float rstd = rsqrtf(block_sum(q) / D + eps);
	for (int i = threadIdx.x; i < D; i += blockDim.x) {
		float v = (xr[i] - mean) * rstd * gamma[i];
		yr[i] = beta ? v + beta[i] : v;
	}
}

__global__ void swiglu_kernel(float *y, const float *xg, int N, int F)
{
	size_t n = (size_t)N * F;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		size_t r = i / F, f = i % F;
		float a = xg[r * 2 * F + f], g = xg[r * 2 * F + F + f];
		y[i] = a * (g / (1.0f + expf(-g)));
	}
}

__global__ void snake_kernel(float *y, const float *x, const float *alpha, const float *beta, int C, int T)
{
	size_t n = (size_t)C * T;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		int c = (int)(i / T);
		float a = expf(alpha[c]), ib = 1.0f / (expf(beta[c]) + 1e-9f);
		float s = sinf(a * x[i]);
		y[i] = x[i] + ib * s * s;
	}
}

__global__ void silu_kernel(float *y, const float *x, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		float v = x[i];
		y[i] = v / (1.0f + expf(-v));
	}
}

__global__ void add_kernel(float *y, const float *x, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		y[i] += x[i];
}

__global__ void fourier_kernel(float *y, const float *t, const float *w, int N, int F)
{
	const float two_pi = 6.283185307179586f;
	size_t n = (size_t)N * F;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		size_t r = i / F, f = i % F;
		float a = two_pi * t[r] * w[f];
		y[r * 2 * F + f] = cosf(a);
		y[r * 2 * F + F + f] = sinf(a);
	}
}

}  // namespace

extern "C" int presto_cuda_layernorm_forward(float *y, const float *x, const float *gamma, const float *beta, int N,
					     int D, float eps, void *stream)
{
	if (N <= 0 || D <= 0)
		return 0;
	PRESTO_LAUNCH(N, presto_k::row_threads(D), 0, stream, layernorm_kernel)(y, x, gamma, beta, D, eps);
	return presto_k::last_error();
}

extern "C" int presto_cuda_swiglu_forward(float *y, const float *xg, int N, int F, void *stream)
{
	if (N <= 0 || F <= 0)
		return 0;
	PRESTO_LAUNCH(grid_for((size_t)N * F), kThreads, 0, stream, swiglu_kernel)(y, xg, N, F);
	return presto_k::last_error();
}

extern "C" int presto_cuda_snake_beta_forward(float *y, const float *x, const float *alpha, const float *beta, int C,
					      int T, void *stream)
{
	if (C <= 0 || T <= 0)
		return 0;
	PRESTO_LAUNCH(grid_for((size_t)C * T), kThreads, 0, stream, snake_kernel)(y, x, alpha, beta, C, T);
	return presto_k::last_error();
}

extern "C" int presto_cuda_silu_forward(float *y, const float *x, size_t n, void *stream)
{
	if (!n)
		return 0;
	PRESTO_LAUNCH(grid_for(n), kThreads, 0, stream, silu_kernel)(y, x, n);
	return presto_k::last_error();
}

extern "C" int presto_cuda_add_inplace(float *y, const float *x, size_t n, void *stream)
{
	if (!n)
		return 0;
	PRESTO_LAUNCH(grid_for(n), kThreads, 0, stream, add_kernel)(y, x, n);
	return presto_k::last_error();
}

extern "C" int presto_cuda_fourier_features_forward(float *y, const float *t, const float *w, int N, int F,
						    void *stream)
{
	if (N <= 0 || F <= 0)
		return 0;
	PRESTO_LAUNCH(grid_for((size_t)N * F), kThreads, 0, stream, fourier_kernel)(y, t, w, N, F);
	return presto_k::last_error();
}

// rope.cu - rotary embedding (NeoX rotate_half over the first rot_dim dims of
// each head) and the DiT's per-head q/k normalisation, in place, on fp32 or
// bf16 storage with fp32 arithmetic (lib/ops/rope.c, lib/dit.c).
#include "kernels.h"
#include "launch.h"

namespace {

template <class T>
__global__ void rope_kernel(T *x, int T_, int H, int Dh, int stride, int half, const float *inv_freq, int pos0)
{
	using presto_k::from_f;
	using presto_k::to_f;
	size_t n = (size_t)T_ * H * half;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		int j = (int)(i % half), h = (int)(i / half % H), t = (int)(i / ((size_t)half * H));
		float ang = (float)(pos0 + t) * inv_freq[j];
		float c = cosf(ang), s = sinf(ang);
		T *xh = x + (size_t)t * stride + (size_t)h * Dh;
		float a = to_f(xh[j]), b = to_f(xh[j + half]);
		xh[j] = from_f<T>(a * c - b * s);
		xh[j + half] = from_f<T>(b * c + a * s);
	}
}

// one warp per (token, head)
template <class T>
__global__ void qk_norm_kernel(T *x, int N, int stride, int H, int Dh, int kind, const float *w, const float *b)
{
	using presto_k::from_f;
	using presto_k::to_f;
	int lane = threadIdx.x & 31;
	size_t row = (size_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
	if (row >= (size_t)N * H)
		return;  // whole warps leave together
	T *xh = x + row / H * (size_t)stride + row % H * (size_t)Dh;
	if (kind == 1) {
		float s = 0;
		for (int d = lane; d < Dh; d += 32)
			s += to_f(xh[d]);
		float mean = presto_k::warp_sum(s) / Dh, q = 0;
		for (int d = lane; d < Dh; d += 32) {
			float e = to_f(xh[d]) - mean;
			q += e * e;
		}
		float rstd = rsqrtf(presto_k::warp_sum(q) / Dh + 1e-6f);
		for (int d = lane; d < Dh; d += 32)
			xh[d] = from_f<T>((to_f(xh[d]) - mean) * rstd * w[d] + b[d]);
	} else {
		float q = 0;
		for (int d = lane; d < Dh; d += 32) {
			float e = to_f(xh[d]);
			q += e * e;
		}
		float nrm = sqrtf(presto_k::warp_sum(q));
		if (nrm < 1e-12f)
			nrm = 1e-12f;
		for (int d = lane; d < Dh; d += 32)
			xh[d] = from_f<T>(to_f(xh[d]) / nrm);
	}
}

}  // namespace

extern "C" int presto_cuda_rope_forward(void *x, presto_cuda_dtype dt, int T, int H, int Dh, int stride, int rot_dim,
					const float *inv_freq, int pos0, void *stream)
{
	int half = rot_dim / 2;
	if (T <= 0 || H <= 0 || half <= 0)
		return 0;
	if (rot_dim > Dh)
		return (int)cudaErrorInvalidValue;
	unsigned g = presto_k::grid_for((size_t)T * H * half);
	if (dt == PRESTO_CUDA_BF16)
		PRESTO_LAUNCH(g, presto_k::kThreads, 0, stream, rope_kernel<__nv_bfloat16>)(
			(__nv_bfloat16 *)x, T, H, Dh, stride, half, inv_freq, pos0);
	else
		PRESTO_LAUNCH(g, presto_k::kThreads, 0, stream, rope_kernel<float>)((float *)x, T, H, Dh, stride, half,
										  inv_freq, pos0);
	return presto_k::last_error();
}

extern "C" int presto_cuda_qk_norm(void *x, presto_cuda_dtype dt, int N, int stride, int H, int Dh, int kind,
				   const float *w, const float *b, void *stream)
{
	if (N <= 0 || H <= 0 || Dh <= 0 || kind == 0)
		return 0;
	if ((kind == 1 && (!w || !b)) || kind < 0 || kind > 2)
		return (int)cudaErrorInvalidValue;
	size_t rows = (size_t)N * H;
	unsigned g = (unsigned)((rows + 7) / 8);
	if (dt == PRESTO_CUDA_BF16)
		PRESTO_LAUNCH(g, 256, 0, stream, qk_norm_kernel<__nv_bfloat16>)((__nv_bfloat16 *)x, N, stride, H, Dh,
										 kind, w, b);
	else
		PRESTO_LAUNCH(g, 256, 0, stream, qk_norm_kernel<float>)((float *)x, N, stride, H, Dh, kind, w, b);
	return presto_k::last_error();
}

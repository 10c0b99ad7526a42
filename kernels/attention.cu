// attention.cu - flash-style multi-head attention: one pass over the keys in
// tiles of 32, online softmax in fp32, the probabilities never stored. A
// block holds 16 queries of one head (4 warps x 4 queries); a warp scores 32
// keys at once (a key per lane), then accumulates p V with the head's dims
// spread over the lanes. Semantics of presto_attention_forward (lib/ops/
// attention.c): GQA, bias [H, Tq, Tk], key mask [B, Tk] adding -FLT_MAX
// (an all-masked row attends uniformly).
#include <float.h>

#include "kernels.h"
#include "launch.h"

namespace {

constexpr int kWarps = 4, kQPW = 4, kKT = 32;
constexpr int kQPB = kWarps * kQPW;

template <class T, int DPL>
__global__ void __launch_bounds__(kWarps * 32)
	attn_kernel(T *o, const T *q, const T *k, const T *v, int Tq, int Tk, int H, int KVH, int Dh, int qs, int ks,
		    int vs, float scale, const float *bias, const float *key_mask)
{
	using presto_k::to_f;
	int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kQPB;
	int kvh = h / (H / KVH);
	int ld = Dh + 1;
	PRESTO_DYNAMIC_SMEM(float, sm);
	float *Ks = sm, *Vs = Ks + kKT * ld, *Qs = Vs + kKT * Dh;
	int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

	for (int i = tid; i < kQPB * Dh; i += blockDim.x) {
		int r = i / Dh, d = i % Dh, t = q0 + r;
		Qs[i] = t < Tq ? to_f(q[((size_t)b * Tq + t) * qs + (size_t)h * Dh + d]) : 0.0f;
	}
	float m[kQPW], l[kQPW], acc[kQPW][DPL];
	for (int qi = 0; qi < kQPW; qi++) {
		m[qi] = -INFINITY;
		l[qi] = 0.0f;
		for (int i = 0; i < DPL; i++)
			acc[qi][i] = 0.0f;
	}
	for (int k0 = 0; k0 < Tk; k0 += kKT) {
		__syncthreads();  // the last tile is consumed (the queries are loaded)
		for (int i = tid; i < kKT * Dh; i += blockDim.x) {
			int j = i / Dh, d = i % Dh, t = k0 + j;
			bool in = t < Tk;
			Ks[j * ld + d] = in ? to_f(k[((size_t)b * Tk + t) * ks + (size_t)kvh * Dh + d]) : 0.0f;
			Vs[j * Dh + d] = in ? to_f(v[((size_t)b * Tk + t) * vs + (size_t)kvh * Dh + d]) : 0.0f;
		}
		__syncthreads();
		int j = k0 + lane;
		bool valid = j < Tk;
		bool masked = valid && key_mask && key_mask[(size_t)b * Tk + j] == 0.0f;
		int nk = Tk - k0 < kKT ? Tk - k0 : kKT;
		for (int qi = 0; qi < kQPW; qi++) {
			int r = warp * kQPW + qi, t = q0 + r;
			const float *qr = Qs + r * Dh, *kr = Ks + lane * ld;
			float s = 0.0f;
			for (int d = 0; d < Dh; d++)
				s += qr[d] * kr[d];
			s *= scale;
			if (bias && valid && t < Tq)
				s += bias[((size_t)h * Tq + t) * Tk + j];
			if (masked)
				s += -FLT_MAX;
			if (!valid)
				s = -INFINITY;
			float mn = fmaxf(m[qi], presto_k::warp_max(s));
			float p = valid ? expf(s - mn) : 0.0f;
			float corr = expf(m[qi] - mn);
			l[qi] = l[qi] * corr + presto_k::warp_sum(p);
			for (int i = 0; i < DPL; i++)
				acc[qi][i] *= corr;
			for (int jj = 0; jj < nk; jj++) {
				float pj = __shfl_sync(0xffffffffu, p, jj);
				const float *vr = Vs + jj * Dh;
				for (int i = 0; i < DPL; i++) {
					int d = lane + 32 * i;
					if (d < Dh)
						acc[qi][i] += pj * vr[d];
				}
			}
			m[qi] = mn;
		}
	}
	for (int qi = 0; qi < kQPW; qi++) {
		int t = q0 + warp * kQPW + qi;
		if (t >= Tq)
			continue;
		float inv = 1.0f / l[qi];
		T *orow = o + ((size_t)b * Tq + t) * (size_t)H * Dh + (size_t)h * Dh;
		for (int i = 0; i < DPL; i++) {
			int d = lane + 32 * i;
			if (d < Dh)
				orow[d] = presto_k::from_f<T>(acc[qi][i] * inv);
		}
	}
}

template <class T, int DPL>
int launch_dpl(T *o, const T *q, const T *k, const T *v, int B, int Tq, int Tk, int H, int KVH, int Dh, int qs,
	       int ks, int vs, float scale, const float *bias, const float *key_mask, void *stream)
{
	size_t smem = sizeof(float) * ((size_t)kKT * (Dh + 1) + (size_t)kKT * Dh + (size_t)kQPB * Dh);
	if (smem > 48 * 1024) {
		cudaError_t e = cudaFuncSetAttribute((const void *)attn_kernel<T, DPL>,
						     cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
		if (e != cudaSuccess)
			return (int)e;
	}
	dim3 grid((Tq + kQPB - 1) / kQPB, H, B);
	PRESTO_LAUNCH(grid, kWarps * 32, smem, stream, attn_kernel<T, DPL>)(o, q, k, v, Tq, Tk, H, KVH, Dh, qs, ks, vs,
									     scale, bias, key_mask);
	return presto_k::last_error();
}

template <class T>
int attention(T *o, const T *q, const T *k, const T *v, int B, int Tq, int Tk, int H, int KVH, int Dh, int qs, int ks,
	      int vs, float scale, const float *bias, const float *key_mask, void *stream)
{
	if (B <= 0 || Tq <= 0 || H <= 0 || Dh <= 0)
		return 0;
	if (Tk <= 0 || KVH <= 0 || H % KVH || Dh > 256 || B > 65535 || H > 65535)
		return (int)cudaErrorInvalidValue;
	if (Dh <= 32)
		return launch_dpl<T, 1>(o, q, k, v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs, scale, bias, key_mask, stream);
	if (Dh <= 64)
		return launch_dpl<T, 2>(o, q, k, v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs, scale, bias, key_mask, stream);
	if (Dh <= 128)
		return launch_dpl<T, 4>(o, q, k, v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs, scale, bias, key_mask, stream);
	return launch_dpl<T, 8>(o, q, k, v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs, scale, bias, key_mask, stream);
}

}  // namespace

extern "C" int presto_cuda_attention_forward(float *o, const float *q, const float *k, const float *v, int B, int Tq,
					     int Tk, int H, int KVH, int Dh, int qs, int ks, int vs, float scale,
					     const float *bias, const float *key_mask, void *stream)
{
	return attention(o, q, k, v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs, scale, bias, key_mask, stream);
}

extern "C" int presto_cuda_attention_forward_bf16(void *o, const void *q, const void *k, const void *v, int B, int Tq,
						  int Tk, int H, int KVH, int Dh, int qs, int ks, int vs, float scale,
						  const float *bias, const float *key_mask, void *stream)
{
	typedef __nv_bfloat16 bf;
	return attention((bf *)o, (const bf *)q, (const bf *)k, (const bf *)v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs, scale,
			 bias, key_mask, stream);
}

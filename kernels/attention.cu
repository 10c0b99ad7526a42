// attention.cu - flash-style multi-head attention: one pass over the keys in
// tiles of 32, online softmax in fp32, the probabilities never stored. A
// block holds 16 queries of one head (4 warps x 4 queries); a warp scores 32
// keys at once (a key per lane), then accumulates p V with the head's dims
// spread over the lanes. Semantics of presto_attention_forward (lib/ops/
// attention.c): GQA, bias [H, Tq, Tk], key mask [B, Tk] adding -FLT_MAX
// (an all-masked row attends uniformly).
#include <float.h>
#include <stdint.h>

#include <mma.h>

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
	float *Ks = sm, *Vs = Ks + kKT * ld, *Qs = Vs + kKT * Dh, *Ps = Qs + kQPB * Dh + (threadIdx.x >> 5) * kKT;
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
			// the warp's probabilities through shared memory (one
			// broadcast read per key instead of a shuffle each)
			Ps[lane] = p;
			__syncwarp();
			for (int jj = 0; jj < nk; jj++) {
				float pj = Ps[jj];
				const float *vr = Vs + jj * Dh;
				for (int i = 0; i < DPL; i++) {
					int d = lane + 32 * i;
					if (d < Dh)
						acc[qi][i] += pj * vr[d];
				}
			}
			m[qi] = mn;
			__syncwarp();  // Ps is read before the next query overwrites it
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
	size_t smem = sizeof(float) * ((size_t)kKT * (Dh + 1) + (size_t)kKT * Dh + (size_t)kQPB * Dh + kWarps * kKT);
	static size_t opted;  // the opt-in is set once (not while a graph is being captured)
	if (smem > 48 * 1024 && smem > opted) {
		cudaError_t e = cudaFuncSetAttribute((const void *)attn_kernel<T, DPL>,
						     cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
		if (e != cudaSuccess)
			return (int)e;
		opted = smem;
	}
	dim3 grid((Tq + kQPB - 1) / kQPB, H, B);
	PRESTO_LAUNCH(grid, kWarps * 32, smem, stream, attn_kernel<T, DPL>)(o, q, k, v, Tq, Tk, H, KVH, Dh, qs, ks, vs,
									     scale, bias, key_mask);
	return presto_k::last_error();
}

// The bf16 path on tensor cores (wmma), for Dh a multiple of 16 up to 128: a
// block holds 64 queries of one head (a warp 16 of them) and walks the keys
// 64 at a time. Q, K and V tiles are staged in shared memory (zeros past the
// ends); a warp's scores S = Q K^T (16 x 64) land in shared memory, where
// lane pairs run the online softmax over its rows and write P in bf16; the
// output O (16 x Dh, fp32) stays in shared memory, rescaled by the lanes and
// accumulated by O += P V on the tensor cores.
constexpr int kTcQ = 64, kTcK = 64;

template <int DH>
__global__ void __launch_bounds__(128)
	attn_tc_kernel(__nv_bfloat16 *o, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v,
		       int Tq, int Tk, int H, int KVH, int qs, int ks, int vs, float scale, const float *bias,
		       const float *key_mask)
{
	constexpr int Dh = DH;  // a compile-time head size: the fragments' loops unroll, qf stays in registers
	using namespace nvcuda;
	int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kTcQ, kvh = h / (H / KVH);
	int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
	PRESTO_DYNAMIC_SMEM(unsigned char, sm);
	__nv_bfloat16 *Qs = (__nv_bfloat16 *)sm;                 // [64][Dh]
	__nv_bfloat16 *Ks = Qs + kTcQ * Dh, *Vs = Ks + kTcK * Dh; // [64][Dh] each
	float *Ss = (float *)(Vs + kTcK * Dh);                     // [4][16][64]
	__nv_bfloat16 *Ps = (__nv_bfloat16 *)(Ss + 4 * 16 * kTcK); // [4][16][64]
	float *Os = (float *)(Ps + 4 * 16 * kTcK);                 // [4][16][Dh]
	float *Ms = Os + 4 * 16 * Dh, *Ls = Ms + 4 * 16, *Cs = Ls + 4 * 16;  // [4][16] each
	float *S = Ss + warp * 16 * kTcK, *O = Os + warp * 16 * Dh;
	__nv_bfloat16 *P = Ps + warp * 16 * kTcK;
	const __nv_bfloat16 zero = __float2bfloat16(0.0f);

	// staging: 8 elements (16 bytes) a load where the strides allow it
	bool vec = qs % 8 == 0 && ks % 8 == 0 && vs % 8 == 0 && Dh % 8 == 0 && ((uintptr_t)q | (uintptr_t)k | (uintptr_t)v) % 16 == 0;
	int step = vec ? 8 : 1;
	for (int i = tid * step; i < kTcQ * Dh; i += blockDim.x * step) {
		int r = i / Dh, d = i % Dh, t = q0 + r;
		const __nv_bfloat16 *src = q + ((size_t)b * Tq + t) * qs + (size_t)h * Dh + d;
		if (vec)
			*(uint4 *)(Qs + i) = t < Tq ? *(const uint4 *)src : uint4{0, 0, 0, 0};
		else
			Qs[i] = t < Tq ? *src : zero;
	}
	for (int i = lane; i < 16 * Dh; i += 32)
		O[i] = 0.0f;
	if (lane < 16) {
		Ms[warp * 16 + lane] = -INFINITY;
		Ls[warp * 16 + lane] = 0.0f;
	}
	int row = lane >> 1, half = lane & 1;  // a lane pair per query row
	int tq = q0 + warp * 16 + row;
	// the warp's queries as fragments, loaded once (Dh <= 128)
	wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> qf[Dh / 16];
	__syncthreads();  // Q is staged
#pragma unroll
	for (int d = 0; d < Dh; d += 16)
		wmma::load_matrix_sync(qf[d / 16], Qs + warp * 16 * Dh + d, Dh);
	for (int k0 = 0; k0 < Tk; k0 += kTcK) {
		__syncthreads();  // the last tiles are consumed
		for (int i = tid * step; i < kTcK * Dh; i += blockDim.x * step) {
			int j = i / Dh, d = i % Dh, t = k0 + j;
			bool in = t < Tk;
			const __nv_bfloat16 *ksrc = k + ((size_t)b * Tk + t) * ks + (size_t)kvh * Dh + d;
			const __nv_bfloat16 *vsrc = v + ((size_t)b * Tk + t) * vs + (size_t)kvh * Dh + d;
			if (vec) {
				*(uint4 *)(Ks + i) = in ? *(const uint4 *)ksrc : uint4{0, 0, 0, 0};
				*(uint4 *)(Vs + i) = in ? *(const uint4 *)vsrc : uint4{0, 0, 0, 0};
			} else {
				Ks[i] = in ? *ksrc : zero;
				Vs[i] = in ? *vsrc : zero;
			}
		}
		__syncthreads();
		// S = Q_w K^T
		for (int n = 0; n < kTcK / 16; n++) {
			wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
			wmma::fill_fragment(acc, 0.0f);
#pragma unroll
			for (int d = 0; d < Dh; d += 16) {
				wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
				wmma::load_matrix_sync(fb, Ks + n * 16 * Dh + d, Dh);
				wmma::mma_sync(acc, qf[d / 16], fb, acc);
			}
			wmma::store_matrix_sync(S + n * 16, acc, kTcK, wmma::mem_row_major);
		}
		__syncwarp();
		// online softmax of the warp's 16 rows, 32 columns per lane (in
		// registers)
		const float *sr = S + row * kTcK + half * 32;
		float sv[32];
		float mx = -INFINITY;
#pragma unroll
		for (int c = 0; c < 32; c++) {
			int j = k0 + half * 32 + c;
			float s;
			if (j < Tk) {
				s = sr[c] * scale;
				if (bias && tq < Tq)
					s += bias[((size_t)h * Tq + tq) * Tk + j];
				if (key_mask && key_mask[(size_t)b * Tk + j] == 0.0f)
					s += -FLT_MAX;
			} else {
				s = -INFINITY;
			}
			sv[c] = s;
			mx = fmaxf(mx, s);
		}
		mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
		float m_old = Ms[warp * 16 + row], mn = fmaxf(m_old, mx), sum = 0.0f;
		__nv_bfloat16 *pr = P + row * kTcK + half * 32;
#pragma unroll
		for (int c = 0; c < 32; c++) {
			float p = k0 + half * 32 + c < Tk ? expf(sv[c] - mn) : 0.0f;
			sum += p;
			pr[c] = __float2bfloat16(p);
		}
		sum += __shfl_xor_sync(0xffffffffu, sum, 1);
		float corr = expf(m_old - mn);
		__syncwarp();
		if (!half) {
			Ms[warp * 16 + row] = mn;
			Ls[warp * 16 + row] = Ls[warp * 16 + row] * corr + sum;
			Cs[warp * 16 + row] = corr;
		}
		__syncwarp();
		for (int i = lane; i < 16 * Dh; i += 32)
			O[i] *= Cs[warp * 16 + i / Dh];
		__syncwarp();
		// O += P V
		for (int n = 0; n < Dh / 16; n++) {
			wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
			wmma::load_matrix_sync(acc, O + n * 16, Dh, wmma::mem_row_major);
			for (int c = 0; c < kTcK; c += 16) {
				wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
				wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb;
				wmma::load_matrix_sync(fa, P + c, kTcK);
				wmma::load_matrix_sync(fb, Vs + c * Dh + n * 16, Dh);
				wmma::mma_sync(acc, fa, fb, acc);
			}
			wmma::store_matrix_sync(O + n * 16, acc, Dh, wmma::mem_row_major);
		}
		__syncwarp();
	}
	for (int i = lane; i < 16 * Dh; i += 32) {
		int r = i / Dh, d = i % Dh, t = q0 + warp * 16 + r;
		if (t < Tq)
			o[((size_t)b * Tq + t) * (size_t)H * Dh + (size_t)h * Dh + d] =
				__float2bfloat16(O[i] / Ls[warp * 16 + r]);
	}
}

size_t tc_smem(int Dh)
{
	return 2 * ((size_t)kTcQ * Dh + 2 * (size_t)kTcK * Dh + 4 * 16 * kTcK) + 4 * (4 * 16 * (size_t)kTcK) +
	       4 * (4 * 16 * (size_t)Dh + 3 * 4 * 16);
}

template <int DH>
int attention_tc_dh(__nv_bfloat16 *o, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, int B,
		    int Tq, int Tk, int H, int KVH, int qs, int ks, int vs, float scale, const float *bias,
		    const float *key_mask, void *stream)
{
	size_t smem = tc_smem(DH);
	static size_t opted;
	if (smem > 48 * 1024 && smem > opted) {
		cudaError_t e = cudaFuncSetAttribute((const void *)attn_tc_kernel<DH>,
						     cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
		if (e != cudaSuccess)
			return (int)e;
		opted = smem;
	}
	dim3 grid((Tq + kTcQ - 1) / kTcQ, H, B);
	PRESTO_LAUNCH(grid, 128, smem, stream, attn_tc_kernel<DH>)(o, q, k, v, Tq, Tk, H, KVH, qs, ks, vs, scale, bias,
								      key_mask);
	return presto_k::last_error();
}

int attention_tc(__nv_bfloat16 *o, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, int B,
		 int Tq, int Tk, int H, int KVH, int Dh, int qs, int ks, int vs, float scale, const float *bias,
		 const float *key_mask, void *stream)
{
	switch (Dh) {
	case 16: return attention_tc_dh<16>(o, q, k, v, B, Tq, Tk, H, KVH, qs, ks, vs, scale, bias, key_mask, stream);
	case 32: return attention_tc_dh<32>(o, q, k, v, B, Tq, Tk, H, KVH, qs, ks, vs, scale, bias, key_mask, stream);
	case 48: return attention_tc_dh<48>(o, q, k, v, B, Tq, Tk, H, KVH, qs, ks, vs, scale, bias, key_mask, stream);
	case 64: return attention_tc_dh<64>(o, q, k, v, B, Tq, Tk, H, KVH, qs, ks, vs, scale, bias, key_mask, stream);
	case 80: return attention_tc_dh<80>(o, q, k, v, B, Tq, Tk, H, KVH, qs, ks, vs, scale, bias, key_mask, stream);
	case 96: return attention_tc_dh<96>(o, q, k, v, B, Tq, Tk, H, KVH, qs, ks, vs, scale, bias, key_mask, stream);
	case 112: return attention_tc_dh<112>(o, q, k, v, B, Tq, Tk, H, KVH, qs, ks, vs, scale, bias, key_mask, stream);
	case 128: return attention_tc_dh<128>(o, q, k, v, B, Tq, Tk, H, KVH, qs, ks, vs, scale, bias, key_mask, stream);
	}
	return (int)cudaErrorInvalidValue;
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
	if (B > 0 && Tq > 0 && Tk > 0 && H > 0 && KVH > 0 && H % KVH == 0 && Dh % 16 == 0 && Dh <= 128 && B <= 65535 &&
	    H <= 65535)
		return attention_tc((bf *)o, (const bf *)q, (const bf *)k, (const bf *)v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs,
				    scale, bias, key_mask, stream);
	return attention((bf *)o, (const bf *)q, (const bf *)k, (const bf *)v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs, scale,
			 bias, key_mask, stream);
}

// attention.cu - flash-style multi-head attention: one pass over the keys in
// tiles of 32, online softmax in fp32, the probabilities never stored. A
// block holds 16 queries of one head (4 warps x 4 queries); a warp scores 32
// keys at once (a key per lane), then accumulates p V with the head's dims
// spread over the lanes. Semantics of presto_attention_forward (lib/ops/
// attention.c): GQA, bias [H, Tq, Tk], key mask [B, Tk] adding -FLT_MAX
// (an all-masked row attends uniformly).
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	PRESTO_K_TRY(presto_k::smem_opt_in((const void *)attn_kernel<T, DPL>, smem, &opted));
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

// Stage the ROWS queries from q0 of item b, head h into Qs (rows of ld
// elements; zeros past Tq), 16 bytes a load when vec (strides and pointers
// allow it)
template <int ROWS, int DH>
__device__ __forceinline__ void stage_queries(__nv_bfloat16 *Qs, int ld, const __nv_bfloat16 *q, int b, int h, int q0,
					      int Tq, int qs, bool vec)
{
	int step = vec ? 8 : 1;
	for (int i = threadIdx.x * step; i < ROWS * DH; i += blockDim.x * step) {
		int r = i / DH, d = i % DH, t = q0 + r;
		const __nv_bfloat16 *src = q + ((size_t)b * Tq + t) * qs + (size_t)h * DH + d;
		if (vec)
			presto_k::stv(Qs + r * ld + d, t < Tq ? presto_k::ldv<uint4>(src) : uint4{0, 0, 0, 0});
		else
			Qs[r * ld + d] = t < Tq ? *src : __float2bfloat16(0.0f);
	}
}

// Shared rows are padded (Q, K, V: Dh + 8 bf16; S: 64 + 4 floats; P: 64 + 8
// bf16; O: Dh + 4 floats) so that a fragment's 16 rows start on different
// banks: unpadded, rows of 128 or 256 bytes put them all on the same ones.
template <int DH> struct tc_layout {
	static constexpr int LD = DH + 8, LS = kTcK + 4, LP = kTcK + 8, LO = DH + 4;
	static constexpr size_t bytes = 2 * ((size_t)kTcQ * LD + 2 * (size_t)kTcK * LD + 4 * 16 * LP) +
					4 * (4 * 16 * (size_t)LS + 4 * 16 * (size_t)LO + 3 * 4 * 16);
};

template <int DH>
__global__ void __launch_bounds__(128)
	attn_tc_kernel(__nv_bfloat16 *o, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v,
		       int Tq, int Tk, int H, int KVH, int qs, int ks, int vs, float scale, const float *bias,
		       const float *key_mask)
{
	constexpr int Dh = DH;  // a compile-time head size: the fragments' loops unroll, qf stays in registers
	constexpr int LD = tc_layout<DH>::LD, LS = tc_layout<DH>::LS, LP = tc_layout<DH>::LP, LO = tc_layout<DH>::LO;
	using namespace nvcuda;
	int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kTcQ, kvh = h / (H / KVH);
	int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
	PRESTO_DYNAMIC_SMEM(unsigned char, sm);
	__nv_bfloat16 *Qs = (__nv_bfloat16 *)sm;               // [64][LD]
	__nv_bfloat16 *Ks = Qs + kTcQ * LD, *Vs = Ks + kTcK * LD; // [64][LD] each
	__nv_bfloat16 *Ps = Vs + kTcK * LD;                     // [4][16][LP]
	float *Ss = (float *)(Ps + 4 * 16 * LP);                // [4][16][LS]
	float *Os = Ss + 4 * 16 * LS;                           // [4][16][LO]
	float *Ms = Os + 4 * 16 * LO, *Ls = Ms + 4 * 16, *Cs = Ls + 4 * 16;  // [4][16] each
	float *S = Ss + warp * 16 * LS, *O = Os + warp * 16 * LO;
	__nv_bfloat16 *P = Ps + warp * 16 * LP;
	const __nv_bfloat16 zero = __float2bfloat16(0.0f);

	// staging: 8 elements (16 bytes) a load where the strides allow it
	bool vec = qs % 8 == 0 && ks % 8 == 0 && vs % 8 == 0 && Dh % 8 == 0 && ((uintptr_t)q | (uintptr_t)k | (uintptr_t)v) % 16 == 0;
	int step = vec ? 8 : 1;
	stage_queries<kTcQ, DH>(Qs, LD, q, b, h, q0, Tq, qs, vec);
	for (int i = lane; i < 16 * Dh; i += 32)
		O[i / Dh * LO + i % Dh] = 0.0f;
	if (lane < 16) {
		Ms[warp * 16 + lane] = -INFINITY;
		Ls[warp * 16 + lane] = 0.0f;
	}
	int row = lane >> 1, half = lane & 1;  // a lane pair per query row
	int tq = q0 + warp * 16 + row;
	// the warp's queries as fragments, loaded once
	wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> qf[Dh / 16];
	__syncthreads();  // Q is staged
#pragma unroll
	for (int d = 0; d < Dh; d += 16)
		wmma::load_matrix_sync(qf[d / 16], Qs + warp * 16 * LD + d, LD);
	for (int k0 = 0; k0 < Tk; k0 += kTcK) {
		__syncthreads();  // the last tiles are consumed
		for (int i = tid * step; i < kTcK * Dh; i += blockDim.x * step) {
			int j = i / Dh, d = i % Dh, t = k0 + j;
			bool in = t < Tk;
			const __nv_bfloat16 *ksrc = k + ((size_t)b * Tk + t) * ks + (size_t)kvh * Dh + d;
			const __nv_bfloat16 *vsrc = v + ((size_t)b * Tk + t) * vs + (size_t)kvh * Dh + d;
			if (vec) {
				presto_k::stv(Ks + j * LD + d, in ? presto_k::ldv<uint4>(ksrc) : uint4{0, 0, 0, 0});
				presto_k::stv(Vs + j * LD + d, in ? presto_k::ldv<uint4>(vsrc) : uint4{0, 0, 0, 0});
			} else {
				Ks[j * LD + d] = in ? *ksrc : zero;
				Vs[j * LD + d] = in ? *vsrc : zero;
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
				wmma::load_matrix_sync(fb, Ks + n * 16 * LD + d, LD);
				wmma::mma_sync(acc, qf[d / 16], fb, acc);
			}
			wmma::store_matrix_sync(S + n * 16, acc, LS, wmma::mem_row_major);
		}
		__syncwarp();
		// online softmax of the warp's 16 rows, 32 columns per lane (in
		// registers)
		const float *sr = S + row * LS + half * 32;
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
		__nv_bfloat16 *pr = P + row * LP + half * 32;
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
			O[i / Dh * LO + i % Dh] *= Cs[warp * 16 + i / Dh];
		__syncwarp();
		// O += P V
		for (int n = 0; n < Dh / 16; n++) {
			wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
			wmma::load_matrix_sync(acc, O + n * 16, LO, wmma::mem_row_major);
			for (int c = 0; c < kTcK; c += 16) {
				wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
				wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb;
				wmma::load_matrix_sync(fa, P + c, LP);
				wmma::load_matrix_sync(fb, Vs + c * LD + n * 16, LD);
				wmma::mma_sync(acc, fa, fb, acc);
			}
			wmma::store_matrix_sync(O + n * 16, acc, LO, wmma::mem_row_major);
		}
		__syncwarp();
	}
	for (int i = lane; i < 16 * Dh; i += 32) {
		int r = i / Dh, d = i % Dh, t = q0 + warp * 16 + r;
		if (t < Tq)
			o[((size_t)b * Tq + t) * (size_t)H * Dh + (size_t)h * Dh + d] =
				__float2bfloat16(O[r * LO + d] / Ls[warp * 16 + r]);
	}
}

template <int DH>
int attention_tc_dh(__nv_bfloat16 *o, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, int B,
		    int Tq, int Tk, int H, int KVH, int qs, int ks, int vs, float scale, const float *bias,
		    const float *key_mask, void *stream)
{
	size_t smem = tc_layout<DH>::bytes;
	static size_t opted;
	PRESTO_K_TRY(presto_k::smem_opt_in((const void *)attn_tc_kernel<DH>, smem, &opted));
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

// The bf16 path on tensor cores through mma.sync (FlashAttention-2's
// arrangement), for Dh a multiple of 16 up to 128: a block holds 64 queries
// of one head, a warp 16 of them, and walks the keys 64 at a time. A warp's
// query fragments, its scores S = Q K^T (16 x 64), the probabilities P and
// its output O (16 x Dh) all stay in registers: the scores' accumulator
// layout is the A-operand layout of P V, so P goes from one mma to the next
// without shared memory, and each lane rescales its own rows of O. K is
// staged as [key][d] and V transposed as [d][key] (so that a B fragment's
// pairs are adjacent), both with 8 elements of padding a row (a fragment
// load's 8 row groups on different banks).
constexpr int kMmaQ = 64, kMmaK = 64;

template <int DH> size_t mma_smem()
{
	return 2 * ((size_t)kMmaQ * (DH + 8) + (size_t)kMmaK * (DH + 8) + (size_t)DH * (kMmaK + 8));
}

template <int DH>
__global__ void __launch_bounds__(128)
	attn_mma_kernel(__nv_bfloat16 *o, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v,
			int Tq, int Tk, int H, int KVH, int qs, int ks, int vs, float scale, const float *bias,
			const float *key_mask)
{
	constexpr int LQ = DH + 8, LV = kMmaK + 8, ND = DH / 8, NK = DH / 16;
	int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kMmaQ, kvh = h / (H / KVH);
	int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
	PRESTO_DYNAMIC_SMEM(__nv_bfloat16, Qs);  // [64][LQ]
	__nv_bfloat16 *Ks = Qs + kMmaQ * LQ;      // [64][LQ]
	__nv_bfloat16 *Vt = Ks + kMmaK * LQ;      // [DH][LV]
	const __nv_bfloat16 zero = __float2bfloat16(0.0f);
	bool vec = qs % 8 == 0 && ks % 8 == 0 && vs % 8 == 0 && ((uintptr_t)q | (uintptr_t)k | (uintptr_t)v) % 16 == 0;
	int step = vec ? 8 : 1;
	stage_queries<kMmaQ, DH>(Qs, LQ, q, b, h, q0, Tq, qs, vec);
	__syncthreads();
	const __nv_bfloat16 *qw = Qs + warp * 16 * LQ;
	uint32_t qf[NK][4];
#pragma unroll
	for (int kk = 0; kk < NK; kk++) {
		int c = kk * 16 + 2 * t;
		qf[kk][0] = presto_k::ldv<uint32_t>(qw + g * LQ + c);
		qf[kk][1] = presto_k::ldv<uint32_t>(qw + (g + 8) * LQ + c);
		qf[kk][2] = presto_k::ldv<uint32_t>(qw + g * LQ + c + 8);
		qf[kk][3] = presto_k::ldv<uint32_t>(qw + (g + 8) * LQ + c + 8);
	}
	float of[ND][4];
#pragma unroll
	for (int n = 0; n < ND; n++)
		of[n][0] = of[n][1] = of[n][2] = of[n][3] = 0.0f;
	float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // rows g and g + 8 (l: this lane's columns)
	int tq[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
	for (int k0 = 0; k0 < Tk; k0 += kMmaK) {
		__syncthreads();  // the last tiles are consumed
		// K row by row (coalesced)
		for (int i = tid * step; i < kMmaK * DH; i += blockDim.x * step) {
			int j = i / DH, d = i % DH, tk = k0 + j;
			const __nv_bfloat16 *ksrc = k + ((size_t)b * Tk + tk) * ks + (size_t)kvh * DH + d;
			if (vec)
				presto_k::stv(Ks + j * LQ + d, tk < Tk ? presto_k::ldv<uint4>(ksrc) : uint4{0, 0, 0, 0});
			else
				Ks[j * LQ + d] = tk < Tk ? *ksrc : zero;
		}
		// V transposed, consecutive threads on consecutive keys: a warp's
		// stores to one row of Vt are contiguous (no bank conflicts)
		for (int i = tid; i < kMmaK * (DH / 8); i += blockDim.x) {
			int j = i % kMmaK, d = i / kMmaK * 8, tk = k0 + j;
			const __nv_bfloat16 *vsrc = v + ((size_t)b * Tk + tk) * vs + (size_t)kvh * DH + d;
			if (vec) {
				uint4 vv = tk < Tk ? presto_k::ldv<uint4>(vsrc) : uint4{0, 0, 0, 0};
				const uint32_t wv[4] = {vv.x, vv.y, vv.z, vv.w};  // 8 bf16, the lower half first
#pragma unroll
				for (int e = 0; e < 8; e++)
					Vt[(d + e) * LV + j] = __ushort_as_bfloat16((unsigned short)(wv[e >> 1] >> (16 * (e & 1))));
			} else {
#pragma unroll
				for (int e = 0; e < 8; e++)
					Vt[(d + e) * LV + j] = tk < Tk ? vsrc[e] : zero;
			}
		}
		__syncthreads();
		// S = Q K^T: 8 tiles of 8 keys
		float sf[kMmaK / 8][4];
#pragma unroll
		for (int n = 0; n < kMmaK / 8; n++) {
			sf[n][0] = sf[n][1] = sf[n][2] = sf[n][3] = 0.0f;
			const __nv_bfloat16 *kr = Ks + (n * 8 + g) * LQ + 2 * t;
#pragma unroll
			for (int kk = 0; kk < NK; kk++) {
				uint32_t bf[2] = {presto_k::ldv<uint32_t>(kr + kk * 16), presto_k::ldv<uint32_t>(kr + kk * 16 + 8)};
				presto_k::mma_16816(sf[n], qf[kk], bf, sf[n]);
			}
		}
		// scale, bias and mask; the rows' maxima over this tile
		float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
		for (int n = 0; n < kMmaK / 8; n++)
#pragma unroll
			for (int e = 0; e < 4; e++) {
				int r = e >> 1, j = k0 + n * 8 + 2 * t + (e & 1);
				float s;
				if (j < Tk) {
					s = sf[n][e] * scale;
					if (bias && tq[r] < Tq)
						s += bias[((size_t)h * Tq + tq[r]) * Tk + j];
					if (key_mask && key_mask[(size_t)b * Tk + j] == 0.0f)
						s += -FLT_MAX;
				} else {
					s = -INFINITY;
				}
				sf[n][e] = s;
				mx[r] = fmaxf(mx[r], s);
			}
		float corr[2];
#pragma unroll
		for (int r = 0; r < 2; r++) {
			mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
			mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
			float mn = fmaxf(m[r], mx[r]);  // finite: a tile holds at least one key
			corr[r] = expf(m[r] - mn);
			m[r] = mn;
			l[r] *= corr[r];
		}
#pragma unroll
		for (int n = 0; n < ND; n++) {
			of[n][0] *= corr[0], of[n][1] *= corr[0];
			of[n][2] *= corr[1], of[n][3] *= corr[1];
		}
		// P = exp(S - m) in bf16 as A fragments, O += P V
#pragma unroll
		for (int kk = 0; kk < kMmaK / 16; kk++) {
			float p[2][4];
#pragma unroll
			for (int hh = 0; hh < 2; hh++)
#pragma unroll
				for (int e = 0; e < 4; e++) {
					float pv = expf(sf[2 * kk + hh][e] - m[e >> 1]);  // 0 past the keys (-inf)
					p[hh][e] = pv;
					l[e >> 1] += pv;
				}
			uint32_t pa[4] = {presto_k::pack_bf16x2(p[0][0], p[0][1]), presto_k::pack_bf16x2(p[0][2], p[0][3]),
					  presto_k::pack_bf16x2(p[1][0], p[1][1]), presto_k::pack_bf16x2(p[1][2], p[1][3])};
#pragma unroll
			for (int n = 0; n < ND; n++) {
				const __nv_bfloat16 *vr = Vt + (n * 8 + g) * LV + kk * 16 + 2 * t;
				uint32_t bf[2] = {presto_k::ldv<uint32_t>(vr), presto_k::ldv<uint32_t>(vr + 8)};
				presto_k::mma_16816(of[n], pa, bf, of[n]);
			}
		}
	}
#pragma unroll
	for (int r = 0; r < 2; r++) {
		l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
		l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
	}
#pragma unroll
	for (int r = 0; r < 2; r++) {
		if (tq[r] >= Tq)
			continue;
		__nv_bfloat16 *orow = o + ((size_t)b * Tq + tq[r]) * (size_t)H * DH + (size_t)h * DH;
		float inv = 1.0f / l[r];
#pragma unroll
		for (int n = 0; n < ND; n++) {
			orow[n * 8 + 2 * t] = __float2bfloat16(of[n][2 * r] * inv);
			orow[n * 8 + 2 * t + 1] = __float2bfloat16(of[n][2 * r + 1] * inv);
		}
	}
}

template <int DH>
int attention_mma_dh(__nv_bfloat16 *o, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v,
		     int B, int Tq, int Tk, int H, int KVH, int qs, int ks, int vs, float scale, const float *bias,
		     const float *key_mask, void *stream)
{
	size_t smem = mma_smem<DH>();
	static size_t opted;
	PRESTO_K_TRY(presto_k::smem_opt_in((const void *)attn_mma_kernel<DH>, smem, &opted));
	dim3 grid((Tq + kMmaQ - 1) / kMmaQ, H, B);
	PRESTO_LAUNCH(grid, 128, smem, stream, attn_mma_kernel<DH>)(o, q, k, v, Tq, Tk, H, KVH, qs, ks, vs, scale,
								       bias, key_mask);
	return presto_k::last_error();
}

int attention_mma(__nv_bfloat16 *o, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, int B,
		  int Tq, int Tk, int H, int KVH, int Dh, int qs, int ks, int vs, float scale, const float *bias,
		  const float *key_mask, void *stream)
{
#define PRESTO_ATTN_MMA(D)                                                                                            \
	case D:                                                                                                       \
		return attention_mma_dh<D>(o, q, k, v, B, Tq, Tk, H, KVH, qs, ks, vs, scale, bias, key_mask, stream)
	switch (Dh) {
		PRESTO_ATTN_MMA(16);
		PRESTO_ATTN_MMA(32);
		PRESTO_ATTN_MMA(48);
		PRESTO_ATTN_MMA(64);
		PRESTO_ATTN_MMA(80);
		PRESTO_ATTN_MMA(96);
		PRESTO_ATTN_MMA(112);
		PRESTO_ATTN_MMA(128);
	}
#undef PRESTO_ATTN_MMA
	return (int)cudaErrorInvalidValue;
}

// $PRESTO_CUDA_ATTN=mma: the bf16 attention through mma.sync (attn_mma_kernel)
// instead of wmma (attn_tc_kernel), for the lent GPU to measure and check
bool attention_use_mma()
{
	const char *e = getenv("PRESTO_CUDA_ATTN");  // (read at each call: the tests switch it)
	return e && !strcmp(e, "mma");
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
		return (attention_use_mma() ? attention_mma : attention_tc)((bf *)o, (const bf *)q, (const bf *)k,
									      (const bf *)v, B, Tq, Tk, H, KVH, Dh, qs,
									      ks, vs, scale, bias, key_mask, stream);
	return attention((bf *)o, (const bf *)q, (const bf *)k, (const bf *)v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs, scale,
			 bias, key_mask, stream);
}

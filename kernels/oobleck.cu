// oobleck.cu - the Oobleck VAE decoder of lib/oobleck.c on the device.
//
// Activations are time-major, [T, C] (a frame's channels contiguous), with
// kMargin zero frames before and after each convolution input, so that a
// convolution is a sum over its taps of GEMMs on shifted row windows:
//   conv (stride 1, dilation d, padding p):
//     y[t, :] = b + sum_k W_k x[t + k d - p, :]           W_k = W[:, :, k]
//   transposed conv (stride s, padding p):
//     y[t s + k - p, :] += W'_k x[t, :]                   W'_k = W[:, :, k]^T
//     (the rows of one tap are every s-th output row: a GEMM with ldy = s C)
// every tap one cuBLAS call accumulating (beta 1) into an fp32 output. The
// residual stream and every convolution output are fp32; the convolutions'
// inputs (the Snake outputs) and the weights are fp32 or bf16.
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <new>
#include <vector>

#include <cuda_pipeline.h>
#include <mma.h>

#include "kernels.h"
#include "launch.h"
#include "oobleck_internal.h"

using presto_k::from_f;
using presto_k::grid_for;
using presto_k::kThreads;
using presto_k::to_f;

namespace {

struct gconv {
	void *w = nullptr;      // [K, Cout, Cin] of the activation type
	float *b = nullptr;     // [Cout] or NULL
	int cin = 0, cout = 0, k = 0, stride = 1, pad = 0, dil = 1, transposed = 0;
};

struct gsnake {
	float *a = nullptr, *ib = nullptr;  // exp(alpha), 1 / (exp(beta) + 1e-9)
	int c = 0;
};

struct gres {
	gsnake s1, s2;
	gconv c1, c2;
};

struct gblock {
	gsnake act;
	gconv conv;
	gres ru[3];
};

// Snake: x + ib sin(a x)^2 (a = exp(alpha), ib = 1 / (exp(beta) + 1e-9))
__device__ __forceinline__ float snake_f(float v, float a, float ib)
{
	float s = sinf(a * v);
	return v + ib * s * s;
}

// The same with the hardware sine (__sinf: a few instructions instead of a
// few dozen; absolute error about 2^-21 near 0, growing with |a x|, far
// below a bf16 rounding): every path whose Snake output is rounded to bf16
__device__ __forceinline__ float snake_bf16_f(float v, float a, float ib)
{
	float s = __sinf(a * v);
	return v + ib * s * s;
}

// y[t, c] = snake(x[t, c]), fp32 in, T out (the hardware sine for bf16 out)
template <class T> __global__ void snake_tc_kernel(T *y, const float *x, const float *a, const float *ib, int C, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		int c = (int)(i % C);
		y[i] = from_f<T>(sizeof(T) == 2 ? snake_bf16_f(x[i], a[c], ib[c]) : snake_f(x[i], a[c], ib[c]));
	}
}

// rows [T, C] = scale * z [C, T]
__global__ void ct_to_tc_kernel(float *y, const float *z, int C, int T, float scale)
{
	size_t n = (size_t)C * T;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		size_t c = i % C, t = i / C;
		y[i] = z[c * T + t] * scale;
	}
}

// audio [C, T] = (tanh of) rows [T, C]
__global__ void tc_to_ct_kernel(float *audio, const float *x, int C, int T, int final_tanh)
{
	size_t n = (size_t)C * T;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		size_t t = i % T, c = i / T;
		float v = x[t * C + c];
		audio[i] = final_tanh ? tanhf(v) : v;
	}
}

// Stride-1 convolution as an implicit GEMM on tensor cores (bf16 in, fp32
// accumulation): a block computes 128 frames x 64 WC output channels with
// 4 WC warps, each a 32 x 64 corner (2 x 4 fragments). Input channels go 32
// at a time: the block stages in shared memory the rows every tap of its
// frames reads (128 + (K-1) dil of them) and the weights of all K taps for
// those 32 channels, then each tap takes its operand rows from there
// (shifted by k dil). Shared rows are kLd = 48 elements (96 bytes): every
// fragment stays 32-byte aligned and a fragment's 16 rows spread over the
// banks (4 wavefronts, the least 512 bytes take; 64-byte rows took 8). Needs
// Cin % 32 == 0, Cout % (64 WC) == 0, and readable rows from -pad to
// T + 127 + pad (the zero margins and tail of the input).
// With ys, the epilogue applies the Snake (sa, sib) that follows the
// convolution and writes bf16 rows to ys instead of fp32 ones to y: the
// residual units' first convolution, whose output feeds only that Snake.
// Output row t lands at row t ldy (elements) of y or ys; tap k's weights at
// w + k wstride (a transposed convolution's phases read theirs backwards).
// With xf, the input is fp32 rows instead (x unused) and the Snake before the
// convolution (ia, iib) is applied as they are staged: rows outside
// [0, Tin) of the input (row0 is the input row of xf's row 0) read as zeros,
// so such an input needs no margins.
constexpr int kTileT = 128, kChunk = 32, kLd = 48;
// the epilogue's rows: 64 floats and 4 of padding (rows 272 bytes apart
// start 4 banks apart: a fragment's store in the fewest wavefronts)
constexpr int kLdE = 68;

// The output phases of a transposed convolution in one launch (blockIdx.z a
// phase): phase p has T[p] output rows, its input base row0[p], and its
// y, x (or xf) and w at these offsets (elements) from the launch's.
constexpr int kMaxPhases = 8;
struct conv_phases {
	int n = 0;  // 0: one plain convolution
	int T[kMaxPhases] = {0}, row0[kMaxPhases] = {0};
	long long y_off[kMaxPhases] = {0}, x_off[kMaxPhases] = {0}, w_off[kMaxPhases] = {0};
};

// A residual unit's second convolution (kernel 1, C -> C) and its residual
// sum fused into the first's kernel (conv_tc_kernel<2, ST, true>, C = 128:
// a block's tile holds every channel of its frames): the first
// convolution's output goes through its Snake to bf16 rows in shared memory
// (never to global memory), the block multiplies them by w2 [C, C], adds
// b2 and the unit's input row (xf) and writes out [T, C] fp32: a buffer
// other than xf, whose rows neighbouring blocks still read as their halo.
constexpr int kUnitC = 128, kLdH = kUnitC + 8;  // 272-byte rows: fragments 32-byte aligned, banks spread
struct conv_unit {
	const __nv_bfloat16 *w2 = nullptr;
	const float *b2 = nullptr;
	float *out = nullptr;
};

// the shared memory of one stage: the input rows and the weight rows of a chunk
template <int WC> size_t conv_tc_stage(int K, int dil)
{
	return ((size_t)kTileT + (size_t)(K - 1) * dil + (size_t)K * 64 * WC) * kLd * 2;
}

template <int WC, int ST> size_t conv_tc_smem(int K, int dil, bool unit = false)
{
	size_t stage = ST * conv_tc_stage<WC>(K, dil);
	size_t epi = (size_t)4 * WC * 16 * kLdE * 4;  // a 16 x 64 fp32 tile a warp
	if (unit)                                     // and the unit's rows and w2
		epi += (size_t)2 * kUnitC * kLdH * 2;
	return stage > epi ? stage : epi;
}

// 16 bytes into shared memory: a plain copy, or an asynchronous one
// (cp.async) that the double-buffered kernel waits for
template <int ST> __device__ __forceinline__ void stage16(__nv_bfloat16 *dst, const __nv_bfloat16 *src)
{
	if (ST == 2)
		__pipeline_memcpy_async(dst, src, 16);
	else
		presto_k::stv(dst, presto_k::ldv<uint4>(src));
}

// A warp's 32 x 64 accumulators out through its fp32 tile tw (16 x kLdE
// floats of shared memory), 16 rows at a time: out(r, c, v) for each
// element, r its row in the warp's 32, c its column in the warp's 64
template <class Acc, class F> __device__ __forceinline__ void warp_tile_out(Acc (&acc)[2][4], float *tw, int lane, F out)
{
	using namespace nvcuda;
#pragma unroll
	for (int i = 0; i < 2; i++) {
#pragma unroll
		for (int j = 0; j < 4; j++)
			wmma::store_matrix_sync(tw + 16 * j, acc[i][j], kLdE, wmma::mem_row_major);
		__syncwarp();
		for (int e = lane; e < 16 * 64; e += 32)
			out(16 * i + e / 64, e % 64, tw[e / 64 * kLdE + e % 64]);
		__syncwarp();  // tw read before the next rows land there
	}
}

// ST = 1: stage a chunk, compute it, stage the next; ST = 2: two stages in
// shared memory, the next chunk's copies (cp.async) in flight while this
// one is computed. 128-channel tiles are held to 128 registers a thread so
// that two blocks share an SM (ptxas gave the fused unit 134, one block an
// SM; held to 128 it spills a few words in the unit's tail); 64-channel
// tiles are left to ptxas (96)
template <int WC, int ST, bool UNIT = false>
__global__ void __launch_bounds__(128 * WC, WC == 2 ? 2 : 0)
	conv_tc_kernel(float *y, const __nv_bfloat16 *x, const __nv_bfloat16 *w, const float *b, int T, int Cin,
		       int Cout, int K, int dil, int pad, int accumulate, __nv_bfloat16 *ys, const float *sa,
		       const float *sib, int ldy, ptrdiff_t wstride, const float *xf, const float *ia, const float *iib,
		       int row0, int Tin, conv_phases phs, conv_unit un)
{
	using namespace nvcuda;
	constexpr int TC = 64 * WC;
	if (phs.n) {  // this block's phase
		int p = blockIdx.z;
		T = phs.T[p];
		row0 = phs.row0[p];
		y += phs.y_off[p];
		if (xf)
			xf += phs.x_off[p];
		else
			x += phs.x_off[p];
		w += phs.w_off[p];
		if ((int)blockIdx.x * kTileT >= T)  // (the whole block: no barrier passed yet)
			return;
	}
	PRESTO_DYNAMIC_SMEM(__nv_bfloat16, sm);  // per stage: xs [span][kLd], then ws [K][TC][kLd]
	int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
	int wr = warp & 3, wc = warp >> 2;  // 32 frames, 64 channels
	int tb = blockIdx.x * kTileT, cb = blockIdx.y * TC;
	int span = kTileT + (K - 1) * dil;
	size_t stage_elems = ((size_t)span + (size_t)K * TC) * kLd;
	wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][4];
	wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a[2];
	wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> bm;
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 4; j++)
			wmma::fill_fragment(acc[i][j], 0.0f);
	const __nv_bfloat16 *xb = x ? x + ((ptrdiff_t)tb - pad) * Cin : nullptr;  // (null with fp32 input)
	// rows [tb - pad, tb - pad + span) and the K x TC weight rows of
	// channels [ci0, ci0 + 32) into stage st, 16 bytes a copy
	auto stage = [&](int st, int ci0) {
		__nv_bfloat16 *xs = sm + st * stage_elems, *ws = xs + (size_t)span * kLd;
		for (int v = threadIdx.x; v < span * (kChunk / 8); v += blockDim.x) {
			int r = v / (kChunk / 8), c = v % (kChunk / 8) * 8;
			if (!xf) {
				stage16<ST>(xs + r * kLd + c, xb + (ptrdiff_t)r * Cin + ci0 + c);
				continue;
			}
			// fp32 rows through the Snake, 8 channels at a time (plain stores)
			ptrdiff_t tr = (ptrdiff_t)tb - pad + r;
			uint4 packed = {0, 0, 0, 0};
			if (row0 + tr >= 0 && row0 + tr < Tin) {
				const float *src = xf + tr * Cin + ci0 + c;
				float4 lo = presto_k::ldv<float4>(src), hi = presto_k::ldv<float4>(src + 4);
				float f[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
				int ch = ci0 + c;
				packed.x = presto_k::pack_bf16x2(snake_bf16_f(f[0], ia[ch], iib[ch]), snake_bf16_f(f[1], ia[ch + 1], iib[ch + 1]));
				packed.y = presto_k::pack_bf16x2(snake_bf16_f(f[2], ia[ch + 2], iib[ch + 2]), snake_bf16_f(f[3], ia[ch + 3], iib[ch + 3]));
				packed.z = presto_k::pack_bf16x2(snake_bf16_f(f[4], ia[ch + 4], iib[ch + 4]), snake_bf16_f(f[5], ia[ch + 5], iib[ch + 5]));
				packed.w = presto_k::pack_bf16x2(snake_bf16_f(f[6], ia[ch + 6], iib[ch + 6]), snake_bf16_f(f[7], ia[ch + 7], iib[ch + 7]));
			}
			presto_k::stv(xs + r * kLd + c, packed);
		}
		for (int v = threadIdx.x; v < K * TC * (kChunk / 8); v += blockDim.x) {
			int kr = v / (kChunk / 8), c = v % (kChunk / 8) * 8, k = kr / TC, co = kr % TC;
			stage16<ST>(ws + kr * kLd + c, w + (ptrdiff_t)k * wstride + (size_t)(cb + co) * Cin + ci0 + c);
		}
	};
	int nch = Cin / kChunk;
	if (ST == 2) {
		stage(0, 0);
		__pipeline_commit();
	}
	for (int ch = 0; ch < nch; ch++) {
		int st = ST == 2 ? ch & 1 : 0;
		if (ST == 2) {
			if (ch + 1 < nch)  // its stage was last read in chunk ch - 1, before the barrier that ended it
				stage((ch + 1) & 1, (ch + 1) * kChunk);
			__pipeline_commit();       // (an empty batch at the last chunk)
			__pipeline_wait_prior(1);  // this thread's copies of chunk ch have landed
			__syncthreads();           // ... and everyone's
		} else {
			__syncthreads();  // the last chunk is consumed
			stage(0, ch * kChunk);
			__syncthreads();
		}
		const __nv_bfloat16 *xs = sm + st * stage_elems, *ws = xs + (size_t)span * kLd;
		for (int k = 0; k < K; k++) {
			const __nv_bfloat16 *wk = ws + ((size_t)k * TC + wc * 64) * kLd;
#pragma unroll
			for (int cs = 0; cs < kChunk; cs += 16) {
#pragma unroll
				for (int i = 0; i < 2; i++)
					wmma::load_matrix_sync(a[i], xs + (wr * 32 + 16 * i + k * dil) * kLd + cs, kLd);
#pragma unroll
				for (int j = 0; j < 4; j++) {
					wmma::load_matrix_sync(bm, wk + 16 * j * kLd + cs, kLd);
#pragma unroll
					for (int i = 0; i < 2; i++)
						wmma::mma_sync(acc[i][j], a[i], bm, acc[i][j]);
				}
			}
		}
		if (ST == 2)
			__syncthreads();  // stage st is consumed: chunk ch + 2 may land there
	}
	__syncthreads();  // the staging room now holds each warp's output rows
	if constexpr (UNIT) {
		static_assert(64 * WC == kUnitC, "a unit's tile holds all its channels");
		// [kTileT][kLdH] Snake(conv 1) rows, [C][kLdH] w2 rows, then each
		// warp's fp32 tile
		__nv_bfloat16 *hs = sm, *w2s = sm + (size_t)kTileT * kLdH;
		float *tw = (float *)(w2s + (size_t)kUnitC * kLdH) + warp * 16 * kLdE;
		for (int v = threadIdx.x; v < kUnitC * (kUnitC / 8); v += blockDim.x) {
			int r = v / (kUnitC / 8), c = v % (kUnitC / 8) * 8;
			presto_k::stv(w2s + r * kLdH + c, presto_k::ldv<uint4>(un.w2 + (size_t)r * kUnitC + c));
		}
		warp_tile_out(acc, tw, lane, [&](int r, int c, float v) {
			int co = wc * 64 + c;
			v += b ? b[co] : 0.0f;
			hs[(wr * 32 + r) * kLdH + co] = __float2bfloat16(snake_bf16_f(v, sa[co], sib[co]));
		});
		__syncthreads();  // every channel of the rows, and w2
		for (int i = 0; i < 2; i++)
			for (int j = 0; j < 4; j++)
				wmma::fill_fragment(acc[i][j], 0.0f);
#pragma unroll
		for (int cs = 0; cs < kUnitC; cs += 16) {
#pragma unroll
			for (int i = 0; i < 2; i++)
				wmma::load_matrix_sync(a[i], hs + (wr * 32 + 16 * i) * kLdH + cs, kLdH);
#pragma unroll
			for (int j = 0; j < 4; j++) {
				wmma::load_matrix_sync(bm, w2s + (wc * 64 + 16 * j) * kLdH + cs, kLdH);
#pragma unroll
				for (int i = 0; i < 2; i++)
					wmma::mma_sync(acc[i][j], a[i], bm, acc[i][j]);
			}
		}
		warp_tile_out(acc, tw, lane, [&](int r, int c, float v) {
			int t = tb + wr * 32 + r, co = wc * 64 + c;
			if (t < T)
				un.out[(size_t)t * kUnitC + co] = xf[(size_t)t * kUnitC + co] + (v + (un.b2 ? un.b2[co] : 0.0f));
		});
		return;
	}
	float *tw = (float *)sm + warp * 16 * kLdE;
	warp_tile_out(acc, tw, lane, [&](int r, int c, float v) {
		int t = tb + wr * 32 + r, co = cb + wc * 64 + c;
		if (t >= T)
			return;
		v += b ? b[co] : 0.0f;
		if (ys) {
			ys[(size_t)t * ldy + co] = __float2bfloat16(snake_bf16_f(v, sa[co], sib[co]));
			return;
		}
		float *yp = y + (size_t)t * ldy + co;
		*yp = accumulate ? *yp + v : v;
	});
}

// $PRESTO_CUDA_CONV, for measuring the bf16 convolutions' paths against each
// other: "cublas" one cuBLAS GEMM per tap everywhere (the tensor-core
// kernel and its fusions off), "tc64" tiles of 64 channels only, "tc2" the
// double-buffered kernel (cp.async), "unfused" each residual unit as two
// convolutions; anything else (or unset) the default
int conv_mode()
{
	const char *e = getenv("PRESTO_CUDA_CONV");  // (read at each convolution: the tests switch it)
	return !e       ? 0
	       : !strcmp(e, "cublas") ? 1
	       : !strcmp(e, "tc64")   ? 2
	       : !strcmp(e, "tc2")    ? 3
	       : !strcmp(e, "unfused") ? 4
				      : 0;
}

// the widest tile for Cout (2: 128 channels, 1: 64), 0: none
int conv_tc_wc(int Cout)
{
	int m = conv_mode();
	return m == 1 ? 0 : Cout % 128 == 0 && m != 2 ? 2 : Cout % 64 == 0 ? 1 : 0;
}

// conv_tc_kernel's stages: 2 (double-buffered) with PRESTO_CUDA_CONV=tc2
int conv_tc_stages() { return conv_mode() == 3 ? 2 : 1; }

// conv_tc_kernel's shared memory for Cout (0: more than a block may have),
// with a residual unit's second convolution fused in (unit: Cout kUnitC)
size_t conv_tc_bytes(int Cout, int K, int dil, bool unit = false)
{
	int wc = conv_tc_wc(Cout), two = conv_tc_stages() == 2;
	if (unit && (wc != 2 || Cout != kUnitC))
		return 0;
	size_t smem = wc == 2 ? (two ? conv_tc_smem<2, 2>(K, dil, unit) : conv_tc_smem<2, 1>(K, dil, unit))
		      : wc == 1 ? (two ? conv_tc_smem<1, 2>(K, dil) : conv_tc_smem<1, 1>(K, dil))
				: 0;
	return smem <= 220 * 1024 ? smem : 0;
}

// the fp32 input of conv_tc_kernel (xf, ia, iib, row0, Tin; xf NULL: bf16 rows)
struct conv_in32 {
	const float *xf = nullptr, *ia = nullptr, *iib = nullptr;
	int row0 = 0, Tin = 0;
};

// launch conv_tc_kernel over T output rows (arguments as the kernel's)
int conv_tc(float *y, const __nv_bfloat16 *x, const __nv_bfloat16 *w, const float *b, int T, int Cin, int Cout,
	    int K, int dil, int pad, int accumulate, __nv_bfloat16 *ys, const float *sa, const float *sib, int ldy,
	    ptrdiff_t wstride, void *s, const conv_in32 &in = conv_in32(), const conv_phases &phs = conv_phases(),
	    const conv_unit &un = conv_unit())
{
	int wc = conv_tc_wc(Cout);
	bool unit = un.w2 != nullptr;
	size_t smem = conv_tc_bytes(Cout, K, dil, unit);
	if (!wc || !smem || (unit && (!in.xf || !sa || !sib || Cin != kUnitC || phs.n)))
		return (int)cudaErrorInvalidValue;
	int st = conv_tc_stages();
	// the instance, and the dynamic shared memory it may use so far
	const void *fn = unit ? (st == 2 ? (const void *)conv_tc_kernel<2, 2, true>
					 : (const void *)conv_tc_kernel<2, 1, true>)
		       : wc == 2 ? (st == 2 ? (const void *)conv_tc_kernel<2, 2> : (const void *)conv_tc_kernel<2, 1>)
				 : (st == 2 ? (const void *)conv_tc_kernel<1, 2> : (const void *)conv_tc_kernel<1, 1>);
	static size_t opted[2][3][3];
	PRESTO_K_TRY(presto_k::smem_opt_in(fn, smem, &opted[unit][wc][st]));
	dim3 grid((T + kTileT - 1) / kTileT, Cout / (64 * wc), phs.n ? phs.n : 1);  // (T: the most rows of a phase)
#define PRESTO_CONV_TC(WC_, ST_, U_)                                                                                  \
	PRESTO_LAUNCH(grid, 128 * WC_, smem, s, conv_tc_kernel<WC_, ST_, U_>)(                                          \
		y, x, w, b, T, Cin, Cout, K, dil, pad, accumulate, ys, sa, sib, ldy, wstride, in.xf, in.ia, in.iib,     \
		in.row0, in.Tin, phs, un)
	if (unit && st == 2)
		PRESTO_CONV_TC(2, 2, true);
	else if (unit)
		PRESTO_CONV_TC(2, 1, true);
	else if (wc == 2 && st == 2)
		PRESTO_CONV_TC(2, 2, false);
	else if (wc == 2)
		PRESTO_CONV_TC(2, 1, false);
	else if (st == 2)
		PRESTO_CONV_TC(1, 2, false);
	else
		PRESTO_CONV_TC(1, 1, false);
#undef PRESTO_CONV_TC
	return presto_k::last_error();
}

// A convolution to a few channels (the decoder's last, to audio), stride 1:
// fp32 input rows [Tin, Cin] (no margins: rows outside read as zeros)
// through the Snake before it (ia, iib), bf16 weights [K, Cout, Cin], fp32
// output rows [T, Cout] with the bias. A block stages its 64 frames' input
// rows (through the Snake, in fp32, rows padded to Cin + 1 floats against
// bank conflicts) and all the weights in shared memory once; a thread
// computes one output (frame, channel) at a time. One read of the input:
// the matrix products it replaces read it once per tap for two outputs.
constexpr int kNarrowT = 64, kNarrowMax = 8;

size_t conv_narrow_smem(int Cin, int Cout, int K, int dil)
{
	return ((size_t)(kNarrowT + (K - 1) * dil) * (Cin + 1) + (size_t)K * Cout * Cin) * 4;
}

__global__ void __launch_bounds__(256)
	conv_narrow_kernel(float *y, const float *xf, const float *ia, const float *iib, const __nv_bfloat16 *w,
			   const float *b, int T, int Tin, int Cin, int Cout, int K, int dil, int pad)
{
	PRESTO_DYNAMIC_SMEM(float, xs);  // [span][Cin + 1], then ws [K][Cout][Cin]
	int tb = blockIdx.x * kNarrowT, span = kNarrowT + (K - 1) * dil, ld = Cin + 1;
	float *ws = xs + (size_t)span * ld;
	for (int i = threadIdx.x; i < K * Cout * Cin; i += blockDim.x)
		ws[i] = __bfloat162float(w[i]);
	for (int i = threadIdx.x; i < span * Cin; i += blockDim.x) {
		int r = i / Cin, c = i % Cin, tr = tb - pad + r;
		xs[r * ld + c] = tr >= 0 && tr < Tin ? snake_bf16_f(xf[(size_t)tr * Cin + c], ia[c], iib[c]) : 0.0f;
	}
	__syncthreads();
	for (int o = threadIdx.x; o < kNarrowT * Cout; o += blockDim.x) {
		int f = o / Cout, co = o % Cout, t = tb + f;
		if (t >= T)
			continue;
		float acc = b ? b[co] : 0.0f;
		for (int k = 0; k < K; k++) {
			const float *xr = xs + (f + k * dil) * ld, *wr = ws + ((size_t)k * Cout + co) * Cin;
			for (int c = 0; c < Cin; c++)
				acc += xr[c] * wr[c];
		}
		y[(size_t)t * Cout + co] = acc;
	}
}

template <class T> __global__ void cast_rows_kernel(T *y, const float *x, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		y[i] = from_f<T>(x[i]);
}

}  // namespace

struct presto_cuda_vae {
	presto_oobleck_config c;
	presto_cuda_dtype at;
	int margin = 0;
	presto_k::dev_memory mem;
	gconv d_in, d_out, e_in, e_out;
	gsnake d_act, e_act;
	std::vector<gblock> blk, eblk;  // decoder blocks; encoder blocks (when it has one)
	bool has_encoder = false;
	size_t cmax = 0;                // the widest channel count
	// activations for a latent length
	void *act = nullptr;
	size_t cap_frames = 0;    // widest C * (T + 2 margin) over the layers
	float *x, *y;             // fp32 residual stream and conv output
	void *s;                  // conv input (Snake output), activation type
	~presto_cuda_vae() { cudaFree(act); }
};

namespace {

size_t esize(presto_cuda_dtype t) { return t == PRESTO_CUDA_BF16 ? 2 : 4; }

int dev_copy(presto_cuda_vae *g, const void *h, size_t bytes, void **out) { return g->mem.upload(h, bytes, out); }

int up_conv(presto_cuda_vae *g, const vconv *v, gconv *o)
{
	o->cin = v->cin, o->cout = v->cout, o->k = v->k, o->stride = v->stride, o->pad = v->pad, o->dil = v->dil;
	o->transposed = v->transposed;
	size_t n = (size_t)v->k * v->cout * v->cin;
	std::vector<float> w(n);
	// [K, Cout, Cin] from [Cout, Cin, K] (conv) or [Cin, Cout, K] (transposed)
	for (int k = 0; k < v->k; k++)
		for (int co = 0; co < v->cout; co++)
			for (int ci = 0; ci < v->cin; ci++)
				w[((size_t)k * v->cout + co) * v->cin + ci] =
					v->transposed ? v->w[((size_t)ci * v->cout + co) * v->k + k]
						      : v->w[((size_t)co * v->cin + ci) * v->k + k];
	if (g->at == PRESTO_CUDA_BF16) {
		std::vector<__nv_bfloat16> h(n);
		for (size_t i = 0; i < n; i++)
			h[i] = __float2bfloat16(w[i]);
		PRESTO_K_TRY(dev_copy(g, h.data(), n * 2, &o->w));
	} else {
		PRESTO_K_TRY(dev_copy(g, w.data(), n * 4, &o->w));
	}
	if (v->b) {
		void *b;
		PRESTO_K_TRY(dev_copy(g, v->b, sizeof(float) * v->cout, &b));
		o->b = (float *)b;
	}
	// rows a convolution reads past either end of its input (a transposed
	// one as conv_tc_kernel phases: K / stride - 1 before, 1 after)
	int reach = v->transposed ? (v->k + v->stride - 1) / v->stride
		    : v->pad > v->dil * (v->k - 1) - v->pad ? v->pad : v->dil * (v->k - 1) - v->pad;
	if (reach > g->margin)
		g->margin = reach;
	return 0;
}

int up_snake(presto_cuda_vae *g, const vsnake *v, gsnake *o)
{
	o->c = v->c;
	std::vector<float> a(v->c), ib(v->c);
	for (int i = 0; i < v->c; i++) {
		a[i] = expf(v->alpha[i]);
		ib[i] = 1.0f / (expf(v->beta[i]) + 1e-9f);
	}
	void *p;
	PRESTO_K_TRY(dev_copy(g, a.data(), sizeof(float) * v->c, &p));
	o->a = (float *)p;
	PRESTO_K_TRY(dev_copy(g, ib.data(), sizeof(float) * v->c, &p));
	o->ib = (float *)p;
	return 0;
}

// rows of a [T, C] buffer with the margin before it
void *rows(presto_cuda_vae *g, void *base, int C, presto_cuda_dtype t)
{
	return (char *)base + (size_t)g->margin * C * esize(t);
}

// zero the margins of a [T, C] activation (its base, not the rows pointer)
int zero_margins(presto_cuda_vae *g, void *base, int C, int T, presto_cuda_dtype t, void *s)
{
	size_t es = esize(t), m = (size_t)g->margin * C * es;
	if (!m)
		return 0;
	PRESTO_K_TRY((int)cudaMemsetAsync(base, 0, m, (cudaStream_t)s));
	return (int)cudaMemsetAsync((char *)base + m + (size_t)T * C * es, 0, m, (cudaStream_t)s);
}

int snake(presto_cuda_vae *g, const gsnake *sn, const float *x, int T, void *s)
{
	size_t n = (size_t)T * sn->c;
	void *y = rows(g, g->s, sn->c, g->at);
	PRESTO_K_TRY(zero_margins(g, g->s, sn->c, T, g->at, s));
	if (g->at == PRESTO_CUDA_BF16)
		PRESTO_LAUNCH(grid_for(n), kThreads, 0, s, snake_tc_kernel<__nv_bfloat16>)((__nv_bfloat16 *)y, x, sn->a,
											 sn->ib, sn->c, n);
	else
		PRESTO_LAUNCH(grid_for(n), kThreads, 0, s, snake_tc_kernel<float>)((float *)y, x, sn->a, sn->ib, sn->c,
										 n);
	return presto_k::last_error();
}

int fill_bias(float *y, const float *b, int T, int C, void *s)
{
	if (b)
		return presto_cuda_gemm(y, PRESTO_CUDA_F32, nullptr, PRESTO_CUDA_F32, nullptr, PRESTO_CUDA_F32, b, T, 0, C,
					0.0f, 0, s);
	return (int)cudaMemsetAsync(y, 0, sizeof(float) * T * C, (cudaStream_t)s);
}

// whether conv_tc_kernel computes cv on Tin frames
bool conv_tc_ok(const presto_cuda_vae *g, const gconv *cv, int Tin)
{
	int Tout = (Tin + 2 * cv->pad - cv->dil * (cv->k - 1) - 1) / cv->stride + 1;
	return g->at == PRESTO_CUDA_BF16 && !cv->transposed && cv->cin % kChunk == 0 && Tout == Tin &&
	       conv_tc_bytes(cv->cout, cv->k, cv->dil);
}

// whether the phases of the transposed convolution cv run as conv_tc_kernel
// convolutions (K a multiple of the stride, the widths its tiles take)
bool conv_tc_transposed_ok(const presto_cuda_vae *g, const gconv *cv)
{
	return g->at == PRESTO_CUDA_BF16 && cv->transposed && cv->k % cv->stride == 0 && cv->cin % kChunk == 0 &&
	       conv_tc_bytes(cv->cout, cv->k / cv->stride, 1) && cv->k / cv->stride - 1 <= g->margin;
}

// y rows [Tout, cout] (+)= conv of the rows of the activation buffer in
// [Tin, cin] (g->s when NULL; margins zero); accumulate: add to y instead of
// starting from the bias (bias added too). With sn (conv_tc_ok only): the
// Snake sn of the output, as bf16 rows into the buffer ys instead of y.
int conv(presto_cuda_vae *g, const gconv *cv, float *y, int Tin, bool accumulate, void *s, int *Tout_out,
	 const void *in = nullptr, const gsnake *sn = nullptr, void *ys = nullptr, const float *xf = nullptr,
	 const gsnake *sn_in = nullptr)
{
	const void *x = rows(g, in ? (void *)in : g->s, cv->cin, g->at);
	size_t wk = (size_t)cv->cout * cv->cin * esize(g->at);
	if (!cv->transposed) {
		int Tout = (Tin + 2 * cv->pad - cv->dil * (cv->k - 1) - 1) / cv->stride + 1;
		*Tout_out = Tout;
		conv_in32 in32;
		if (xf)
			in32.xf = xf, in32.ia = sn_in->a, in32.iib = sn_in->ib, in32.row0 = 0, in32.Tin = Tin;
		if (conv_tc_ok(g, cv, Tin))
			return conv_tc(y, (const __nv_bfloat16 *)x, (const __nv_bfloat16 *)cv->w, cv->b, Tout, cv->cin,
				       cv->cout, cv->k, cv->dil, cv->pad, accumulate,
				       sn ? (__nv_bfloat16 *)rows(g, ys, cv->cout, PRESTO_CUDA_BF16) : nullptr,
				       sn ? sn->a : nullptr, sn ? sn->ib : nullptr, cv->cout, (ptrdiff_t)cv->cout * cv->cin, s,
				       in32);
		if (sn || xf)
			return (int)cudaErrorInvalidValue;
		if (!accumulate)
			PRESTO_K_TRY(fill_bias(y, cv->b, Tout, cv->cout, s));
		else if (cv->b)
			PRESTO_K_TRY(presto_cuda_gemm(y, PRESTO_CUDA_F32, nullptr, PRESTO_CUDA_F32, nullptr, PRESTO_CUDA_F32, cv->b,
					     Tout, 0, cv->cout, 1.0f, 0, s));
		for (int k = 0; k < cv->k; k++) {  // output t reads row t * stride + k dil - pad
			const char *xk = (const char *)x + (ptrdiff_t)(k * cv->dil - cv->pad) * cv->cin * esize(g->at);
			PRESTO_K_TRY(presto_cuda_gemm_ld(y, PRESTO_CUDA_F32, cv->cout, xk, g->at, cv->stride * cv->cin,
							 (const char *)cv->w + k * wk, g->at, Tout, cv->cin, cv->cout,
							 1.0f, 0, s));
		}
		return 0;
	}
	int st = cv->stride, Tout = (Tin - 1) * st - 2 * cv->pad + cv->k;
	*Tout_out = Tout;
	if (conv_tc_transposed_ok(g, cv)) {
		// One stride-1 convolution per output phase ph: the outputs
		// o = u st + ph - pad take taps ph + j st (j < K / st) of inputs
		// u - j, so y[o] = b + sum_j W'_{ph + j st} x[u - j]: K / st taps
		// reading rows u - (K/st - 1) .. u (pad K/st - 1), the weights of
		// the last of them first, the outputs every st-th row. Each output
		// row is written once, with its bias; nothing accumulates in y.
		// All phases in one launch (kMaxPhases at a time).
		int kp = cv->k / st;
		conv_in32 in32;
		if (xf)
			in32.xf = xf, in32.ia = sn_in->a, in32.iib = sn_in->ib, in32.Tin = Tin;
		for (int p0 = 0; p0 < st; p0 += kMaxPhases) {
			conv_phases phs;
			int Tmax = 0;
			for (int ph = p0; ph < st && ph < p0 + kMaxPhases; ph++) {
				int num = cv->pad - ph, u0 = num > 0 ? (num + st - 1) / st : 0;
				int u1 = (Tout + cv->pad - ph + st - 1) / st;  // exclusive
				if (u1 <= u0)
					continue;
				int i = phs.n++;
				phs.T[i] = u1 - u0;
				phs.row0[i] = u0;
				phs.x_off[i] = (long long)u0 * cv->cin;
				phs.y_off[i] = ((long long)u0 * st + ph - cv->pad) * cv->cout;
				phs.w_off[i] = (long long)(ph + (kp - 1) * st) * cv->cout * cv->cin;
				Tmax = u1 - u0 > Tmax ? u1 - u0 : Tmax;
			}
			if (phs.n)
				PRESTO_K_TRY(conv_tc(y, (const __nv_bfloat16 *)x, (const __nv_bfloat16 *)cv->w, cv->b, Tmax, cv->cin,
						     cv->cout, kp, 1, kp - 1, 0, nullptr, nullptr, nullptr, st * cv->cout,
						     -(ptrdiff_t)st * cv->cout * cv->cin, s, in32, phs));
		}
		return 0;
	}
	if (xf)
		return (int)cudaErrorInvalidValue;
	PRESTO_K_TRY(fill_bias(y, cv->b, Tout, cv->cout, s));
	for (int k = 0; k < cv->k; k++) {
		// output rows t st + k - pad in [0, Tout)
		int off = k - cv->pad;
		int t0 = off >= 0 ? 0 : (-off + st - 1) / st;
		int t1 = (Tout - 1 - off) / st + 1;  // exclusive
		if (t1 > Tin)
			t1 = Tin;
		if (t1 <= t0)
			continue;
		float *yk = y + ((size_t)t0 * st + off) * cv->cout;
		const char *xk = (const char *)x + (size_t)t0 * cv->cin * esize(g->at);
		PRESTO_K_TRY(presto_cuda_gemm_ld(yk, PRESTO_CUDA_F32, st * cv->cout, xk, g->at, cv->cin,
					(const char *)cv->w + k * wk, g->at, t1 - t0, cv->cin, cv->cout, 1.0f, 0, s));
	}
	return 0;
}

// buffers of `frames` elements each (x, y fp32; s of the activation type)
int reserve(presto_cuda_vae *g, size_t frames)
{
	if (g->act && frames <= g->cap_frames)
		return 0;
	size_t bytes = frames * (4 + 4 + esize(g->at)) + 3 * 256;
	if (g->act)
		cudaFree(g->act);
	g->act = nullptr;
	g->cap_frames = 0;
	cudaError_t e = cudaMalloc(&g->act, bytes);
	if (e != cudaSuccess) {
		cudaGetLastError();
		return (int)e;
	}
	char *p = (char *)g->act;
	g->x = (float *)p;
	p += (frames * 4 + 255) & ~(size_t)255;
	g->y = (float *)p;
	p += (frames * 4 + 255) & ~(size_t)255;
	g->s = p;
	g->cap_frames = frames;
	return 0;
}

// room for any layer: the widest C * T, the margins and tail of the widest
// input, the staged input
size_t frames_for(const presto_cuda_vae *g, size_t widest, size_t input)
{
	return widest + (2 * (size_t)g->margin + kTileT) * g->cmax + input;
}

int activations(presto_cuda_vae *g, int Lz)
{
	size_t widest = (size_t)g->d_in.cout * Lz;
	int T = Lz;
	for (const gblock &b : g->blk) {
		T = (T - 1) * b.conv.stride - 2 * b.conv.pad + b.conv.k;
		size_t w = (size_t)(b.conv.cin > b.conv.cout ? b.conv.cin : b.conv.cout) * T;
		if (w > widest)
			widest = w;
	}
	return reserve(g, frames_for(g, widest, (size_t)g->c.latent_dim * Lz));
}

int activations_enc(presto_cuda_vae *g, int N)
{
	size_t widest = (size_t)g->e_in.cout * N;
	int T = N;
	for (const gblock &b : g->eblk) {
		size_t w = (size_t)b.conv.cin * T;
		if (w > widest)
			widest = w;
		T = (T + 2 * b.conv.pad - b.conv.k) / b.conv.stride + 1;
		if ((size_t)b.conv.cout * T > widest)
			widest = (size_t)b.conv.cout * T;
	}
	return reserve(g, frames_for(g, widest, (size_t)g->c.audio_channels * N));
}

}  // namespace

// a block: its three residual units, its Snake and its (strided or
// transposed) convolution
static int up_block(presto_cuda_vae *g, const vblock *b, gblock *o)
{
	int rc = up_snake(g, &b->act, &o->act);
	if (!rc)
		rc = up_conv(g, &b->conv, &o->conv);
	for (int j = 0; !rc && j < 3; j++) {
		rc = up_snake(g, &b->ru[j].s1, &o->ru[j].s1);
		if (!rc)
			rc = up_conv(g, &b->ru[j].c1, &o->ru[j].c1);
		if (!rc)
			rc = up_snake(g, &b->ru[j].s2, &o->ru[j].s2);
		if (!rc)
			rc = up_conv(g, &b->ru[j].c2, &o->ru[j].c2);
	}
	return rc;
}

static int vae_init(presto_cuda_vae *g, const presto_vae *m, presto_cuda_dtype at)
{
	g->c = m->c;
	g->at = at;
	int rc = up_conv(g, &m->d_in, &g->d_in);
	g->blk.resize(m->c.n_blocks);
	for (int i = 0; !rc && i < m->c.n_blocks; i++)
		rc = up_block(g, &m->d_blk[i], &g->blk[i]);
	if (!rc)
		rc = up_snake(g, &m->d_act, &g->d_act);
	if (!rc)
		rc = up_conv(g, &m->d_out, &g->d_out);
	g->has_encoder = m->c.has_encoder;
	if (g->has_encoder) {
		rc = rc ? rc : up_conv(g, &m->e_in, &g->e_in);
		g->eblk.resize(m->c.n_blocks);
		for (int i = 0; !rc && i < m->c.n_blocks; i++)
			rc = up_block(g, &m->e_blk[i], &g->eblk[i]);
		if (!rc)
			rc = up_snake(g, &m->e_act, &g->e_act);
		if (!rc)
			rc = up_conv(g, &m->e_out, &g->e_out);
	}
	g->cmax = (size_t)(m->c.latent_dim > m->c.audio_channels ? m->c.latent_dim : m->c.audio_channels);
	for (int i = 0; i <= m->c.n_blocks; i++) {
		size_t w = (size_t)m->c.channels * (i == 0 ? 1 : m->c.c_mults[i - 1]);
		g->cmax = w > g->cmax ? w : g->cmax;
	}
	return rc;
}

extern "C" int presto_cuda_vae_new(const presto_vae *m, presto_cuda_dtype at, presto_cuda_vae **out)
{
	*out = nullptr;
	if (!m->c.has_decoder)
		return (int)cudaErrorInvalidValue;
	return presto_k::make(out, [&](presto_cuda_vae *g) { return vae_init(g, m, at); });
}

extern "C" int presto_cuda_vae_latent_len(const presto_cuda_vae *g, int N)
{
	if (!g->has_encoder || N < 1)
		return -1;
	long long T = N;
	for (const gblock &b : g->eblk) {
		T = (T + 2LL * b.conv.pad - b.conv.k) / b.conv.stride + 1;
		if (T < 1)
			return -1;
	}
	return (int)T;
}

// the rows of x [C, T] (scaled) staged as the activation type in g->s, margins zeroed
static int stage_input(presto_cuda_vae *g, const float *z, int C, int T, float scale, void *s)
{
	using presto_k::grid_for;
	PRESTO_LAUNCH(grid_for((size_t)C * T), presto_k::kThreads, 0, s, ct_to_tc_kernel)(g->x, z, C, T, scale);
	PRESTO_K_TRY(presto_k::last_error());
	PRESTO_K_TRY(zero_margins(g, g->s, C, T, g->at, s));
	if (g->at == PRESTO_CUDA_BF16)
		PRESTO_LAUNCH(grid_for((size_t)C * T), presto_k::kThreads, 0, s, cast_rows_kernel<__nv_bfloat16>)(
			(__nv_bfloat16 *)rows(g, g->s, C, g->at), g->x, (size_t)C * T);
	else
		PRESTO_K_TRY((int)cudaMemcpyAsync(rows(g, g->s, C, g->at), g->x, sizeof(float) * C * T,
						  cudaMemcpyDeviceToDevice, (cudaStream_t)s));
	return presto_k::last_error();
}

// x += unit(x) at T frames
static int residual(presto_cuda_vae *g, const gres &u, int T, void *s)
{
	int Tn;
	if (conv_tc_ok(g, &u.c1, T) && u.s2.c == u.c1.cout && u.s1.c == u.c1.cin && u.c1.cin == kUnitC &&
	    u.c1.cout == kUnitC && u.c2.cin == kUnitC && u.c2.cout == kUnitC && u.c2.k == 1 && u.c2.pad == 0 &&
	    u.c2.stride == 1 && !u.c2.transposed && conv_mode() != 4 &&
	    conv_tc_bytes(kUnitC, u.c1.k, u.c1.dil, true)) {
		// the whole unit in one kernel: its fp32 input through the first
		// Snake as staged, the first convolution, its Snake, the second
		// convolution and the sum with the input, into y (neighbouring
		// blocks still read x); then y is the residual stream
		conv_in32 in32;
		in32.xf = g->x, in32.ia = u.s1.a, in32.iib = u.s1.ib, in32.Tin = T;
		conv_unit un;
		un.w2 = (const __nv_bfloat16 *)u.c2.w, un.b2 = u.c2.b, un.out = g->y;
		PRESTO_K_TRY(conv_tc(nullptr, nullptr, (const __nv_bfloat16 *)u.c1.w, u.c1.b, T, kUnitC, kUnitC, u.c1.k,
				     u.c1.dil, u.c1.pad, 0, nullptr, u.s2.a, u.s2.ib, kUnitC,
				     (ptrdiff_t)kUnitC * kUnitC, s, in32, conv_phases(), un));
		float *t = g->x;
		g->x = g->y;
		g->y = t;
		return 0;
	}
	if (conv_tc_ok(g, &u.c1, T) && u.s2.c == u.c1.cout && u.s1.c == u.c1.cin) {
		// the first Snake as the first convolution stages its fp32 input,
		// the second in its epilogue, its bf16 rows in the y buffer (twice
		// the room they need): neither Snake's output makes a round trip
		// through memory
		PRESTO_K_TRY(zero_margins(g, g->y, u.c1.cout, T, PRESTO_CUDA_BF16, s));
		PRESTO_K_TRY(conv(g, &u.c1, nullptr, T, false, s, &Tn, nullptr, &u.s2, g->y, g->x, &u.s1));
		return conv(g, &u.c2, g->x, T, true, s, &Tn, g->y);
	}
	PRESTO_K_TRY(snake(g, &u.s1, g->x, T, s));
	PRESTO_K_TRY(conv(g, &u.c1, g->y, T, false, s, &Tn));
	PRESTO_K_TRY(snake(g, &u.s2, g->y, T, s));
	return conv(g, &u.c2, g->x, T, true, s, &Tn);
}

extern "C" int presto_cuda_vae_encode(presto_cuda_vae *g, float *out, const float *audio, int N, void *s)
{
	int Lz = presto_cuda_vae_latent_len(g, N);
	if (Lz < 1)
		return (int)cudaErrorInvalidValue;
	PRESTO_K_TRY(activations_enc(g, N));
	int T = N, Tn;
	PRESTO_K_TRY(stage_input(g, audio, g->c.audio_channels, T, 1.0f, s));
	PRESTO_K_TRY(conv(g, &g->e_in, g->x, T, false, s, &Tn));
	for (const gblock &b : g->eblk) {
		for (const gres &u : b.ru)
			PRESTO_K_TRY(residual(g, u, T, s));
		PRESTO_K_TRY(snake(g, &b.act, g->x, T, s));
		PRESTO_K_TRY(conv(g, &b.conv, g->x, T, false, s, &Tn));
		T = Tn;
	}
	PRESTO_K_TRY(snake(g, &g->e_act, g->x, T, s));
	PRESTO_K_TRY(conv(g, &g->e_out, g->y, T, false, s, &Tn));
	PRESTO_LAUNCH(presto_k::grid_for((size_t)g->e_out.cout * Tn), presto_k::kThreads, 0, s, tc_to_ct_kernel)(
		out, g->y, g->e_out.cout, Tn, 0);
	return presto_k::last_error();
}

extern "C" void presto_cuda_vae_free(presto_cuda_vae *g) { delete g; }

extern "C" int presto_cuda_vae_audio_len(const presto_cuda_vae *g, int Lz)
{
	long long T = Lz + 2LL * g->d_in.pad - (long long)g->d_in.dil * (g->d_in.k - 1);
	for (const gblock &b : g->blk)
		T = (T - 1) * b.conv.stride - 2LL * b.conv.pad + b.conv.k;
	T += 2LL * g->d_out.pad - (long long)g->d_out.dil * (g->d_out.k - 1);
	return Lz < 1 || T < 1 || T > 0x7fffffff ? -1 : (int)T;
}

extern "C" int presto_cuda_vae_decode(presto_cuda_vae *g, float *audio, const float *z, int Lz, void *s)
{
	const presto_oobleck_config *c = &g->c;
	if (presto_cuda_vae_audio_len(g, Lz) < 1)
		return (int)cudaErrorInvalidValue;
	PRESTO_K_TRY(activations(g, Lz));
	int T = Lz, Tn;
	PRESTO_K_TRY(stage_input(g, z, c->latent_dim, T, c->scale != 0.0f ? c->scale : 1.0f, s));
	PRESTO_K_TRY(conv(g, &g->d_in, g->x, T, false, s, &Tn));
	T = Tn;
	for (const gblock &b : g->blk) {
		if (conv_tc_transposed_ok(g, &b.conv) && b.act.c == b.conv.cin) {
			// the Snake as the phases stage their fp32 input; the output
			// in the y buffer, which becomes the residual stream
			PRESTO_K_TRY(conv(g, &b.conv, g->y, T, false, s, &Tn, nullptr, nullptr, nullptr, g->x, &b.act));
			float *t = g->x;
			g->x = g->y;
			g->y = t;
		} else {
			PRESTO_K_TRY(snake(g, &b.act, g->x, T, s));
			PRESTO_K_TRY(conv(g, &b.conv, g->x, T, false, s, &Tn));
		}
		T = Tn;
		for (const gres &u : b.ru)
			PRESTO_K_TRY(residual(g, u, T, s));
	}
	const gconv *o = &g->d_out;
	size_t nsm = conv_narrow_smem(o->cin, o->cout, o->k, o->dil);
	if (g->at == PRESTO_CUDA_BF16 && conv_mode() != 1 && !o->transposed && o->stride == 1 && o->cout <= kNarrowMax &&
	    g->d_act.c == o->cin && nsm <= 96 * 1024) {
		// the last Snake and convolution in one pass over the input
		Tn = T + 2 * o->pad - o->dil * (o->k - 1);
		static size_t opted;
		PRESTO_K_TRY(presto_k::smem_opt_in((const void *)conv_narrow_kernel, nsm, &opted));
		PRESTO_LAUNCH((Tn + kNarrowT - 1) / kNarrowT, 256, nsm, s, conv_narrow_kernel)(
			g->y, g->x, g->d_act.a, g->d_act.ib, (const __nv_bfloat16 *)o->w, o->b, Tn, T, o->cin, o->cout, o->k,
			o->dil, o->pad);
		PRESTO_K_TRY(presto_k::last_error());
	} else {
		PRESTO_K_TRY(snake(g, &g->d_act, g->x, T, s));
		PRESTO_K_TRY(conv(g, &g->d_out, g->y, T, false, s, &Tn));
	}
	T = Tn;
	PRESTO_LAUNCH(grid_for((size_t)g->d_out.cout * T), kThreads, 0, s, tc_to_ct_kernel)(audio, g->y, g->d_out.cout,
											 T, c->final_tanh);
	return presto_k::last_error();
}

/* mma.h (presto's CUDA emulator): the warp matrix functions (nvcuda::wmma)
 * for the 16x16x16 bf16 shape with fp32 accumulators. Every lane holds the
 * whole tile (num_elements = the tile's size, in the logical row-major order
 * of the matrix), so code that treats fragment elements alike, as portable
 * wmma code must, computes what a GPU computes; each call is a warp
 * collective (the lanes must be converged, or the emulator stops). Products
 * are summed in fp32 in k order. Stores touch memory lane by lane. */
#ifndef PRESTO_EMU_MMA_H
#define PRESTO_EMU_MMA_H

#include "cuda_bf16.h"
#include "emu_device.h"

namespace nvcuda {
namespace wmma {

struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K> struct shape_of;
template <int M, int N, int K> struct shape_of<matrix_a, M, N, K> {
	static constexpr int rows = M, cols = K;
};
template <int M, int N, int K> struct shape_of<matrix_b, M, N, K> {
	static constexpr int rows = K, cols = N;
};
template <int M, int N, int K> struct shape_of<accumulator, M, N, K> {
	static constexpr int rows = M, cols = N;
};

template <class Use, int M, int N, int K, class T, class Layout = void> struct fragment {
	static constexpr int rows = shape_of<Use, M, N, K>::rows, cols = shape_of<Use, M, N, K>::cols;
	static constexpr int num_elements = rows * cols;
	T x[num_elements];
};

/* wmma's operand rules: 256-bit aligned pointers, ldm a multiple of 16 bytes */
inline void check_operand(const void *p, unsigned ldm, size_t elem)
{
	if ((uintptr_t)p % 32)
		presto_emu::fail("wmma: operand pointer %p is not 32-byte aligned", p);
	if (ldm * elem % 16)
		presto_emu::fail("wmma: ldm %u elements is not a multiple of 16 bytes", ldm);
}

template <class Use, int M, int N, int K, class T, class L>
inline void fill_fragment(fragment<Use, M, N, K, T, L> &f, T v)
{
	__syncwarp();
	for (int i = 0; i < f.num_elements; i++)
		f.x[i] = v;
}

/* As the CUDA guide has them, wmma loads and stores wait until every lane
 * of the warp has arrived and then load or store: no __syncwarp() is needed
 * before them, but one is after a store before lanes read what it wrote (or
 * write where it wrote), as nothing orders the lanes after it. So a load
 * here meets the other lanes, then the first lane to go on reads the whole
 * tile (as it is when they met) and every lane copies it; a store meets
 * them, then each lane l writes its part (elements i = l mod 32) when it
 * gets there: a lane reading another's part without a __syncwarp() between
 * reads what was there before, in one thread order or the other. */
template <class T, class F> inline void gather_tile(T *x, int n, F elem)
{
	__syncwarp();
	bool fill;
	T *slot = (T *)presto_emu::wmma_slot(&fill);
	if (fill)
		for (int i = 0; i < n; i++)
			slot[i] = elem(i);
	for (int i = 0; i < n; i++)
		x[i] = slot[i];
}

template <class Use, int M, int N, int K, class T>
inline void load_matrix_sync(fragment<Use, M, N, K, T, row_major> &f, const T *p, unsigned ldm)
{
	check_operand(p, ldm, sizeof(T));
	constexpr int C = fragment<Use, M, N, K, T, row_major>::cols;
	gather_tile(f.x, f.num_elements, [&](int i) { return p[(size_t)(i / C) * ldm + i % C]; });
}

template <class Use, int M, int N, int K, class T>
inline void load_matrix_sync(fragment<Use, M, N, K, T, col_major> &f, const T *p, unsigned ldm)
{
	check_operand(p, ldm, sizeof(T));
	constexpr int C = fragment<Use, M, N, K, T, col_major>::cols;
	gather_tile(f.x, f.num_elements, [&](int i) { return p[(size_t)(i % C) * ldm + i / C]; });
}

template <int M, int N, int K>
inline void load_matrix_sync(fragment<accumulator, M, N, K, float> &f, const float *p, unsigned ldm, layout_t l)
{
	check_operand(p, ldm, sizeof(float));
	gather_tile(f.x, M * N, [&](int i) {
		int r = i / N, c = i % N;
		return l == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
	});
}

template <int M, int N, int K>
inline void store_matrix_sync(float *p, const fragment<accumulator, M, N, K, float> &f, unsigned ldm, layout_t l)
{
	check_operand(p, ldm, sizeof(float));
	__syncwarp();  // every lane has arrived
	for (int i = (int)presto_emu::lane_id(); i < M * N; i += 32) {
		int r = i / N, c = i % N;
		(l == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r]) = f.x[i];
	}
}

inline float as_float(float v) { return v; }
inline float as_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <int M, int N, int K, class T, class LA, class LB>
inline void mma_sync(fragment<accumulator, M, N, K, float> &d, const fragment<matrix_a, M, N, K, T, LA> &a,
		     const fragment<matrix_b, M, N, K, T, LB> &b, const fragment<accumulator, M, N, K, float> &c)
{
	__syncwarp();
	float out[M * N];
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			float s = c.x[i * N + j];
			for (int k = 0; k < K; k++)
				s += as_float(a.x[i * K + k]) * as_float(b.x[k * N + j]);
			out[i * N + j] = s;
		}
	for (int i = 0; i < M * N; i++)
		d.x[i] = out[i];
}

}  // namespace wmma
}  // namespace nvcuda

#endif

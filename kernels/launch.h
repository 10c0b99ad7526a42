/* launch.h - what the kernels (kernels/NAME.cu) share: the launch and dynamic shared memory
 * spellings that also compile for the CPU emulator (kernels/emu), error
 * plumbing and the grid-size helper. */
#ifndef PRESTO_KERNELS_LAUNCH_H
#define PRESTO_KERNELS_LAUNCH_H

#include <stdint.h>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#ifndef PRESTO_CUDA_EMU
/* kernel<<<grid, block, smem, stream>>>(args) */
#define PRESTO_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<(grid), (block), (smem), (cudaStream_t)(stream)>>>
#define PRESTO_DYNAMIC_SMEM(type, name)                                                                               \
	extern __shared__ __align__(128) unsigned char presto_dynamic_smem_[];                                         \
	type *name = (type *)presto_dynamic_smem_
#endif

#include <new>
#include <vector>

/* return the CUDA error code of e, when it is one */
#define PRESTO_K_TRY(e)                                                                                               \
	do {                                                                                                          \
		int rc_ = (e);                                                                                        \
		if (rc_)                                                                                              \
			return rc_;                                                                                   \
	} while (0)

namespace presto_k {

/* The device memory of an uploaded model: every allocation, freed with it. */
struct dev_memory {
	std::vector<void *> blocks;
	dev_memory() = default;
	dev_memory(const dev_memory &) = delete;
	dev_memory &operator=(const dev_memory &) = delete;
	~dev_memory()
	{
		for (void *p : blocks)
			cudaFree(p);
	}
	/* a device copy of `bytes` bytes of host memory h (h NULL: *out NULL) */
	int upload(const void *h, size_t bytes, void **out)
	{
		*out = nullptr;
		if (!h)
			return 0;
		cudaError_t e = cudaMalloc(out, bytes ? bytes : 1);
		if (e != cudaSuccess)
			return (int)e;
		blocks.push_back(*out);
		return (int)cudaMemcpy(*out, h, bytes, cudaMemcpyHostToDevice);
	}
};

/* *out = a new G that init(g) fills, or the error of init (g deleted) */
template <class G, class Init> int make(G **out, Init init)
{
	*out = nullptr;
	G *g = new (std::nothrow) G();
	if (!g)
		return (int)cudaErrorMemoryAllocation;
	int rc = init(g);
	if (rc) {
		cudaGetLastError();
		delete g;
		return rc;
	}
	*out = g;
	return 0;
}

constexpr int kThreads = 256;

/* threads for a block that reduces a row of D elements: whole warps, no
 * more than the row needs, at most kThreads */
inline int row_threads(int D)
{
	int t = (D + 31) / 32 * 32;
	return t < 32 ? 32 : t > kThreads ? kThreads : t;
}

/* blocks for a grid-stride loop over n elements */
inline unsigned grid_for(size_t n, int threads = kThreads)
{
	size_t g = (n + threads - 1) / threads;
	return (unsigned)(g < 65535u * 8 ? (g ? g : 1) : 65535u * 8);
}

inline int last_error() { return (int)cudaGetLastError(); }

/* let kernel fn use smem bytes of dynamic shared memory (past 48 KiB it
 * needs the opt-in); *opted keeps the most it was allowed so far */
inline int smem_opt_in(const void *fn, size_t smem, size_t *opted)
{
	if (smem <= 48 * 1024 || smem <= *opted)
		return 0;
	cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
	if (e != cudaSuccess)
		return (int)e;
	*opted = smem;
	return 0;
}

/* element loads and stores in fp32 arithmetic, for fp32 or bf16 storage */
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16(v); }

/* Tensor cores without wmma: d = a b + c for the 16 x 8 x 16 bf16 shape with
 * fp32 accumulators (mma.sync m16n8k16), the fragments in the PTX ISA's
 * register layout (lane = 4 g + t; A: a[0] row g cols 2t, 2t+1; a[1] row g+8;
 * a[2] row g cols 2t+8, 2t+9; a[3] row g+8 cols 2t+8..; B: b[0] k 2t, 2t+1 of
 * column g, b[1] k 2t+8..; C, D: [0..1] row g cols 2t, 2t+1, [2..3] row g+8;
 * in each 32-bit register the lower half holds the lower index). A warp
 * collective: all 32 lanes, converged. */
__device__ __forceinline__ void mma_16816(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4])
{
#ifdef PRESTO_CUDA_EMU
	presto_emu::mma_16816_bf16(d, a, b, c);
#else
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
		     "{%8, %9}, {%10, %11, %12, %13};\n"
		     : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
		     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
		       "f"(c[3]));
#endif
}

/* vector loads and stores (uint4, float4; uint32_t for a bf16 pair) of
 * global or shared memory: on a GPU a plain access, which faults
 * ("misaligned address") unless p is aligned to the vector's size; the
 * emulator stops the program there too. */
template <class V> __device__ __forceinline__ V ldv(const void *p)
{
#ifdef PRESTO_CUDA_EMU
	if ((uintptr_t)p % sizeof(V))
		presto_emu::fail("%zu-byte vector load from %p: misaligned", sizeof(V), p);
#endif
	return *(const V *)p;
}
template <class V> __device__ __forceinline__ void stv(void *p, V v)
{
#ifdef PRESTO_CUDA_EMU
	if ((uintptr_t)p % sizeof(V))
		presto_emu::fail("%zu-byte vector store to %p: misaligned", sizeof(V), p);
#endif
	*(V *)p = v;
}

/* two floats as a bf16 pair in a register (lo in the lower half) */
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi)
{
	return (uint32_t)__bfloat16_as_ushort(__float2bfloat16(lo)) |
	       (uint32_t)__bfloat16_as_ushort(__float2bfloat16(hi)) << 16;
}

/* sum and max over the 32 lanes of a warp (every lane gets it) */
__device__ __forceinline__ float warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}
__device__ __forceinline__ float warp_max(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

}  // namespace presto_k

#endif

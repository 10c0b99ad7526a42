/* emu_device.h (presto's CUDA emulator) - the device side of CUDA C++ as far
 * as kernels/ uses it, for a C++ compiler: each thread of a block is a
 * coroutine with its own stack (its registers and local arrays), blocks run
 * one after the other, __shared__ variables are function statics (one copy,
 * as one block's shared memory), __syncthreads() and the warp collectives
 * (__shfl*_sync, __syncwarp, __ballot_sync, __any_sync, __all_sync) switch
 * coroutines and wait for their partners. A collective that cannot complete
 * (lanes of a warp at different barriers, a lane that has exited while its
 * partners wait, __syncthreads() under divergent control) stops the program
 * with a message: the emulator is a race and divergence checker too.
 *
 * Launches are written PRESTO_LAUNCH(grid, block, smem, stream, kernel)(args)
 * (kernels/launch.h), which is kernel<<<grid, block, smem, stream>>>(args)
 * under nvcc. Dynamic shared memory: PRESTO_DYNAMIC_SMEM(type, name). */
#ifndef PRESTO_EMU_DEVICE_H
#define PRESTO_EMU_DEVICE_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>

#include "cuda_runtime_api.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __constant__ static

struct __attribute__((aligned(16))) uint4 {
	unsigned x, y, z, w;
};
struct __attribute__((aligned(16))) float4 {
	float x, y, z, w;
};

struct dim3 {
	unsigned x, y, z;
	constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
typedef dim3 uint3;

namespace presto_emu {

struct thread_state;
/* the running thread's indices; blockIdx, blockDim, gridDim of the launch */
extern thread_state *cur;
extern dim3 block_idx, block_dim, grid_dim;
const dim3 &thread_idx();
void syncthreads();
void syncwarp(unsigned mask);
/* post v (8 bytes) for the warp's lanes in mask; returns all 32 lanes'
 * posted values in all (lanes outside mask or absent: their own slot holds
 * the caller's v) */
void warp_collective(unsigned mask, uint64_t v, uint64_t all[32]);
unsigned lane_id();
/* mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (a warp collective):
 * each lane's fragments in the PTX ISA's register layout, d = a b + c with
 * the products summed in fp32 in k order */
void mma_16816_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]);
void *dynamic_smem();
/* the calling warp's 1 KB slot for its next wmma load (mma.h); *fill: the
 * caller is the first lane there and reads the tile into it */
void *wmma_slot(bool *fill);
/* the order threads run in between barriers: forward (blocks, warps, lanes
 * in index order) or reverse; $PRESTO_EMU_ORDER=reverse sets it at start */
void set_reverse_order(bool reverse);
[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* run body once per thread of every block (in block order); fn is the
 * kernel (for its cudaFuncSetAttribute limits). On a stream being captured
 * the launch is recorded (body kept by value) instead. */
void run_grid(dim3 grid, dim3 block, size_t smem, const void *fn, const std::function<void()> &body);
/* the stream being captured, or NULL; record work on it */
bool capturing(cudaStream_t s);
void record(std::function<void()> work);

template <class K> struct launcher {
	dim3 g, b;
	size_t smem;
	K k;
	cudaStream_t stream;
	template <class... A> void operator()(A... a) const
	{
		K kk = k;
		if (!stream && capturing(nullptr))
			fail("kernel launched on the legacy stream while a stream is being captured");
		if (stream && capturing(stream)) {
			dim3 gg = g, bb = b;
			size_t sm = smem;
			record([=]() { run_grid(gg, bb, sm, (const void *)kk, [=]() { kk(a...); }); });
			return;
		}
		run_grid(g, b, smem, (const void *)k, [&]() { kk(a...); });
	}
};
template <class K> launcher<K> launch(dim3 g, dim3 b, size_t smem, cudaStream_t s, K k)
{
	return launcher<K>{g, b, smem, k, s};
}

template <class T> T shfl(unsigned mask, T v, int src_of_lane(int, int, int), int arg, int width)
{
	static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
	uint64_t bits = 0, all[32];
	std::memcpy(&bits, &v, sizeof v);
	warp_collective(mask, bits, all);
	int lane = (int)lane_id();
	int src = src_of_lane(lane, arg, width);
	T out;
	std::memcpy(&out, &all[src], sizeof out);
	return out;
}
inline int src_xor(int lane, int m, int w)
{
	int base = lane & ~(w - 1), s = lane ^ m;
	return s < base + w ? s : lane;
}
inline int src_idx(int lane, int s, int w) { return (lane & ~(w - 1)) + (s & (w - 1)); }
inline int src_down(int lane, int d, int w)
{
	int base = lane & ~(w - 1);
	return lane + d < base + w ? lane + d : lane;
}
inline int src_up(int lane, int d, int w)
{
	int base = lane & ~(w - 1);
	return lane - d >= base ? lane - d : lane;
}

}  // namespace presto_emu

#define threadIdx (presto_emu::thread_idx())
#define blockIdx (presto_emu::block_idx)
#define blockDim (presto_emu::block_dim)
#define gridDim (presto_emu::grid_dim)
#define warpSize 32

inline void __syncthreads() { presto_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { presto_emu::syncwarp(mask); }
template <class T> T __shfl_xor_sync(unsigned mask, T v, int m, int w = 32)
{
	return presto_emu::shfl(mask, v, presto_emu::src_xor, m, w);
}
template <class T> T __shfl_sync(unsigned mask, T v, int s, int w = 32)
{
	return presto_emu::shfl(mask, v, presto_emu::src_idx, s, w);
}
template <class T> T __shfl_down_sync(unsigned mask, T v, unsigned d, int w = 32)
{
	return presto_emu::shfl(mask, v, presto_emu::src_down, (int)d, w);
}
template <class T> T __shfl_up_sync(unsigned mask, T v, unsigned d, int w = 32)
{
	return presto_emu::shfl(mask, v, presto_emu::src_up, (int)d, w);
}
inline unsigned __ballot_sync(unsigned mask, int p)
{
	uint64_t all[32];
	presto_emu::warp_collective(mask, p != 0, all);
	unsigned r = 0;
	for (int i = 0; i < 32; i++)
		if ((mask >> i & 1) && all[i])
			r |= 1u << i;
	return r;
}
inline int __any_sync(unsigned mask, int p) { return __ballot_sync(mask, p) != 0; }
inline int __all_sync(unsigned mask, int p) { return __ballot_sync(mask, p) == __ballot_sync(mask, 1); }

/* cooperative threads: atomics are plain read-modify-writes */
inline float atomicAdd(float *p, float v)
{
	float o = *p;
	*p = o + v;
	return o;
}
inline int atomicAdd(int *p, int v)
{
	int o = *p;
	*p = o + v;
	return o;
}
inline unsigned atomicAdd(unsigned *p, unsigned v)
{
	unsigned o = *p;
	*p = o + v;
	return o;
}
inline int atomicMax(int *p, int v)
{
	int o = *p;
	if (v > o)
		*p = v;
	return o;
}

/* device math beyond <cmath> */
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __saturatef(float x) { return x < 0 ? 0 : x > 1 ? 1 : x; }
inline void __sincosf(float x, float *s, float *c)
{
	*s = std::sin(x);
	*c = std::cos(x);
}
template <class T> inline T __ldg(const T *p) { return *p; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline size_t min(size_t a, size_t b) { return a < b ? a : b; }
inline size_t max(size_t a, size_t b) { return a > b ? a : b; }
inline float min(float a, float b) { return a < b ? a : b; }
inline float max(float a, float b) { return a > b ? a : b; }

#define PRESTO_LAUNCH(grid, block, smem, stream, ...)                                                                 \
	presto_emu::launch(dim3(grid), dim3(block), (smem), (cudaStream_t)(stream), __VA_ARGS__)
#define PRESTO_DYNAMIC_SMEM(type, name) type *name = (type *)presto_emu::dynamic_smem()

#endif

// test_emu.cc - the CUDA emulator itself (kernels/emu): thread indices,
// shared memory and barriers, warp shuffles and votes, launch errors, memory
// limits, and that a divergent collective stops the program with a message.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cuda_pipeline.h>
#include <mma.h>

#include "launch.h"

static int failures;
#define EXPECT(cond, ...)                                                                                             \
	do {                                                                                                          \
		bool ok_ = (cond);                                                                                    \
		printf("%s ", ok_ ? "ok  " : "FAIL");                                                                 \
		printf(__VA_ARGS__);                                                                                  \
		printf("\n");                                                                                         \
		if (!ok_)                                                                                             \
			failures++;                                                                                   \
	} while (0)

__global__ void index_kernel(int *out)
{
	int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
	int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
	int nt = blockDim.x * blockDim.y * blockDim.z;
	out[b * nt + t] = b * 1000 + t;
}

// reverse n values through dynamic shared memory (needs the barrier)
__global__ void reverse_kernel(float *y, const float *x, int n)
{
	PRESTO_DYNAMIC_SMEM(float, s);
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		s[i] = x[i];
	__syncthreads();
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		y[i] = s[n - 1 - i];
}

// a race: each thread writes its slot and reads its neighbours' with no
// barrier between, and records which block ran first
__global__ void race_kernel(int *y, int *first)
{
	PRESTO_DYNAMIC_SMEM(int, s);
	int t = threadIdx.x, n = blockDim.x;
	s[t] = t;
	y[blockIdx.x * n + t] = s[(t + 1) % n] + 1000 * s[(t + n - 1) % n];
	if (t == 0 && *first < 0)
		*first = (int)blockIdx.x;
}

// shared memory as a block finds it (the block before it wrote all of it)
__global__ void smem_state_kernel(int *stale)
{
	PRESTO_DYNAMIC_SMEM(int, s);
	int t = threadIdx.x;
	stale[blockIdx.x * blockDim.x + t] = s[t] == 12345;
	__syncthreads();
	s[t] = 12345;
}

// a warp stores a tile of 1s over -1s and each lane reads back element
// lane + 1 (another lane's part), with or without __syncwarp() between;
// then loads a tile whose element 0 lane 31 has just written, and records
// what the load saw
__global__ void wmma_order_kernel(float *got, float *loaded, int sync)
{
	using namespace nvcuda;
	__shared__ __align__(32) float tile[256];
	int lane = threadIdx.x;
	for (int i = lane; i < 256; i += 32)
		tile[i] = -1.0f;
	__syncwarp();
	wmma::fragment<wmma::accumulator, 16, 16, 16, float> f;
	wmma::fill_fragment(f, 1.0f);
	wmma::store_matrix_sync(tile, f, 16, wmma::mem_row_major);
	if (sync)
		__syncwarp();
	got[lane] = tile[(lane + 1) % 256];
	__syncwarp();
	if (lane == 31)
		tile[0] = 5.0f;
	if (sync)
		__syncwarp();
	wmma::load_matrix_sync(f, tile, 16, wmma::mem_row_major);
	float v = 0;
	for (int i = 0; i < f.num_elements; i++)
		v = v > f.x[i] ? v : f.x[i];
	loaded[lane] = v;
}

__global__ void warp_kernel(float *sum, float *bcast, float *down, float *up, unsigned *ballot)
{
	int t = threadIdx.x;
	float v = (float)t;
	float s = v;
	for (int o = 16; o > 0; o >>= 1)
		s += __shfl_xor_sync(0xffffffffu, s, o);
	sum[t] = s;
	bcast[t] = __shfl_sync(0xffffffffu, v, 5);
	down[t] = __shfl_down_sync(0xffffffffu, v, 1);
	up[t] = __shfl_up_sync(0xffffffffu, v, 2);
	ballot[t] = __ballot_sync(0xffffffffu, t % 3 == 0);
}

// a static __shared__ array written by one warp and read by another
__global__ void static_smem_kernel(int *out)
{
	__shared__ int part[4];
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
	int s = lane;
	for (int o = 16; o > 0; o >>= 1)
		s += __shfl_xor_sync(0xffffffffu, s, o);
	if (lane == 0)
		part[w] = s + w;
	__syncthreads();
	out[blockIdx.x * blockDim.x + threadIdx.x] = part[(w + 1) & 3];
}

__global__ void divergent_kernel(float *x)
{
	if (threadIdx.x == 3) {
		__syncthreads();
	} else {
		float v = __shfl_xor_sync(0xffffffffu, x[threadIdx.x], 1);
		x[threadIdx.x] = v;
	}
}

// asynchronous copies to shared memory in two batches: a read before the
// wait sees the old value, after __pipeline_wait_prior the new one
__global__ void pipeline_kernel(int *out, const uint4 *src)
{
	__shared__ uint4 buf[2];
	int t = threadIdx.x;  // one thread
	buf[0] = uint4{1, 1, 1, 1};
	buf[1] = uint4{2, 2, 2, 2};
	__pipeline_memcpy_async(&buf[0], &src[0], 16);
	__pipeline_commit();
	__pipeline_memcpy_async(&buf[1], &src[1], 16);
	__pipeline_commit();
	out[t * 4 + 0] = (int)buf[0].x;  // before any wait
	__pipeline_wait_prior(1);        // the first batch
	out[t * 4 + 1] = (int)buf[0].x;
	out[t * 4 + 2] = (int)buf[1].x;  // the second is not waited for yet
	__pipeline_wait_prior(0);
	out[t * 4 + 3] = (int)buf[1].w;
}

static bool child_aborts(void (*fn)())
{
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		freopen("/dev/null", "w", stderr);
		fn();
		_exit(0);
	}
	int st = 0;
	waitpid(p, &st, 0);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void run_divergent()
{
	float *x;
	cudaMalloc((void **)&x, 32 * sizeof(float));
	PRESTO_LAUNCH(1, 32, 0, nullptr, divergent_kernel)(x);
}

// a 16-byte copy at byte offset off16 of both buffers, then a 4-byte one at
// 64 + off4 (multiples of the size: aligned)
__global__ void vector_kernel(const float *x, float *y, int off16, int off4)
{
	const char *src = (const char *)x;
	char *dst = (char *)y;
	presto_k::stv(dst + off16, presto_k::ldv<float4>(src + off16));
	presto_k::stv(dst + 64 + off4, presto_k::ldv<uint32_t>(src + 64 + off4));
}

static void run_vector(int off16, int off4)
{
	float *x, *y;
	cudaMalloc((void **)&x, 64 * sizeof(float));
	cudaMalloc((void **)&y, 64 * sizeof(float));
	PRESTO_LAUNCH(1, 1, 0, nullptr, vector_kernel)(x, y, off16, off4);
}
static void run_vector_misaligned() { run_vector(8, 0); }
static void run_vector_pair_misaligned() { run_vector(16, 2); }

int main()
{
	// indices over a 3-D grid of 3-D blocks
	{
		dim3 g(3, 2, 2), b(4, 3, 2);
		int nb = 12, nt = 24, *out;
		cudaMalloc((void **)&out, sizeof(int) * nb * nt);
		PRESTO_LAUNCH(g, b, 0, nullptr, index_kernel)(out);
		int bad = 0;
		for (int i = 0; i < nb * nt; i++)
			bad += out[i] != (i / nt) * 1000 + i % nt;
		EXPECT(cudaGetLastError() == cudaSuccess && !bad, "3-D grid and block indices (%d wrong)", bad);
		cudaFree(out);
	}
	{
		int n = 1000;
		float *x, *y;
		cudaMalloc((void **)&x, sizeof(float) * n);
		cudaMalloc((void **)&y, sizeof(float) * n);
		for (int i = 0; i < n; i++)
			x[i] = (float)i;
		PRESTO_LAUNCH(1, 96, sizeof(float) * n, nullptr, reverse_kernel)(y, x, n);
		int bad = 0;
		for (int i = 0; i < n; i++)
			bad += y[i] != (float)(n - 1 - i);
		EXPECT(!bad, "dynamic shared memory and __syncthreads (%d wrong)", bad);
		cudaFree(x);
		cudaFree(y);
	}
	{
		// between barriers the threads run in index order, or (the race
		// check of tests/run.sh) in reverse order: blocks, warps and lanes
		int n = 64, *y, *first, *stale;
		cudaMalloc((void **)&y, sizeof(int) * 2 * n);
		cudaMalloc((void **)&first, sizeof(int));
		cudaMalloc((void **)&stale, sizeof(int) * 2 * n);
		int got[2][3];
		for (int r = 0; r < 2; r++) {
			presto_emu::set_reverse_order(r == 1);
			*first = -1;
			PRESTO_LAUNCH(2, n, sizeof(int) * n, nullptr, race_kernel)(y, first);
			got[r][0] = y[n + 5];       // lane 5: reads lanes 6 and 4
			got[r][1] = y[n + 40];      // warp 1 reads warp 0's lane 39
			got[r][2] = *first;
		}
		presto_emu::set_reverse_order(false);
		// forward: lane 5 finds lane 4's write, not lane 6's; reverse the
		// other way; -1 is the poison (0xffffffff) of unwritten memory
		EXPECT(got[0][0] == -1 + 1000 * 4 && got[1][0] == 6 + 1000 * -1 && got[0][1] == -1 + 1000 * 39 &&
			       got[1][1] == 41 + 1000 * -1 && got[0][2] == 0 && got[1][2] == 1,
		       "threads between barriers in forward and reverse order (%d %d %d / %d %d %d)", got[0][0],
		       got[0][1], got[0][2], got[1][0], got[1][1], got[1][2]);
		PRESTO_LAUNCH(2, n, sizeof(int) * n, nullptr, smem_state_kernel)(stale);
		int st = 0;
		for (int i = 0; i < 2 * n; i++)
			st += stale[i];
		EXPECT(st == 0, "every block finds its shared memory uninitialised (%d stale values)", st);
		cudaFree(y);
		cudaFree(first);
		cudaFree(stale);
	}
	{
		// a wmma store orders nothing after it: without a __syncwarp() a
		// lane may read another's part of the tile before it lands; a
		// load waits for every lane first, so it sees their writes
		float *got, *loaded;
		cudaMalloc((void **)&got, sizeof(float) * 32);
		cudaMalloc((void **)&loaded, sizeof(float) * 32);
		float g[2][2], l[2][2];
		for (int sync = 0; sync < 2; sync++) {
			PRESTO_LAUNCH(1, 32, 0, nullptr, wmma_order_kernel)(got, loaded, sync);
			g[sync][0] = got[0], g[sync][1] = got[31], l[sync][0] = loaded[0], l[sync][1] = loaded[30];
		}
		// without: lane 0 reads lane 1's element before lane 1 stored it
		EXPECT(g[0][0] == -1.0f && g[1][0] == 1.0f && g[1][1] == 1.0f && l[0][0] == 5.0f && l[0][1] == 5.0f &&
			       l[1][0] == 5.0f,
		       "wmma: a store orders nothing after it, a load waits for every lane (%g %g %g / %g %g %g)",
		       g[0][0], l[0][0], l[0][1], g[1][0], l[1][0], l[1][1]);
		cudaFree(got);
		cudaFree(loaded);
	}
	{
		float *m;
		unsigned *ballot;
		cudaMalloc((void **)&m, sizeof(float) * 4 * 32);
		cudaMalloc((void **)&ballot, sizeof(unsigned) * 32);
		PRESTO_LAUNCH(1, 32, 0, nullptr, warp_kernel)(m, m + 32, m + 64, m + 96, ballot);
		int bad = 0;
		unsigned want = 0;
		for (int t = 0; t < 32; t += 3)
			want |= 1u << t;
		for (int t = 0; t < 32; t++) {
			bad += m[t] != 496.0f;
			bad += m[32 + t] != 5.0f;
			bad += m[64 + t] != (float)(t < 31 ? t + 1 : t);
			bad += m[96 + t] != (float)(t >= 2 ? t - 2 : t);
			bad += ballot[t] != want;
		}
		EXPECT(!bad, "warp shuffles (xor, index, down, up) and ballot (%d wrong)", bad);
		cudaFree(m);
		cudaFree(ballot);
	}
	{
		int *out;
		cudaMalloc((void **)&out, sizeof(int) * 2 * 128);
		PRESTO_LAUNCH(2, 128, 0, nullptr, static_smem_kernel)(out);
		int bad = 0;
		for (int i = 0; i < 256; i++) {
			int w = (i % 128) >> 5;
			bad += out[i] != 496 + ((w + 1) & 3);
		}
		EXPECT(!bad, "static __shared__ across warps and blocks (%d wrong)", bad);
		uint4 *src;
		cudaMalloc((void **)&src, sizeof(uint4) * 2);
		src[0] = uint4{10, 11, 12, 13};
		src[1] = uint4{20, 21, 22, 23};
		PRESTO_LAUNCH(1, 1, 0, nullptr, pipeline_kernel)(out, src);
		EXPECT(out[0] == 1 && out[1] == 10 && out[2] == 2 && out[3] == 23,
		       "cuda_pipeline copies land when waited for (%d %d %d %d)", out[0], out[1], out[2], out[3]);
		cudaFree(src);
		cudaFree(out);
	}
	{
		int *out;
		cudaMalloc((void **)&out, 4);
		PRESTO_LAUNCH(1, 2048, 0, nullptr, index_kernel)(out);
		cudaError_t e1 = cudaGetLastError(), e2 = cudaGetLastError();
		EXPECT(e1 == cudaErrorInvalidConfiguration && e2 == cudaSuccess,
		       "2048 threads a block: %s, then cleared", cudaGetErrorName(e1));
		PRESTO_LAUNCH(1, 32, 1 << 20, nullptr, index_kernel)(out);
		e1 = cudaGetLastError();
		EXPECT(e1 == cudaErrorInvalidConfiguration, "1 MiB of shared memory: %s", cudaGetErrorName(e1));
		float *x, *y;
		cudaMalloc((void **)&x, sizeof(float) * 20000);
		cudaMalloc((void **)&y, sizeof(float) * 20000);
		PRESTO_LAUNCH(1, 32, sizeof(float) * 20000, nullptr, reverse_kernel)(y, x, 20000);
		e1 = cudaGetLastError();
		cudaError_t e3 = cudaFuncSetAttribute((const void *)reverse_kernel,
						      cudaFuncAttributeMaxDynamicSharedMemorySize, sizeof(float) * 20000);
		PRESTO_LAUNCH(1, 32, sizeof(float) * 20000, nullptr, reverse_kernel)(y, x, 20000);
		e2 = cudaGetLastError();
		EXPECT(e1 == cudaErrorInvalidValue && e3 == cudaSuccess && e2 == cudaSuccess,
		       "80000 bytes of dynamic shared memory need the opt-in (%s without, %s with)", cudaGetErrorName(e1),
		       cudaGetErrorName(e2));
		cudaFree(x);
		cudaFree(y);
		cudaFree(out);
	}
	{
		presto_emu_set_memory_limit(1 << 20);
		void *a = nullptr, *b = nullptr;
		cudaError_t e1 = cudaMalloc(&a, 600 << 10), e2 = cudaMalloc(&b, 600 << 10);
		size_t fr = 0, tot = 0;
		cudaMemGetInfo(&fr, &tot);
		EXPECT(e1 == cudaSuccess && e2 == cudaErrorMemoryAllocation && !b && tot == 1 << 20 &&
			       fr == (1 << 20) - (600 << 10),
		       "memory limit: the second 600 KiB of 1 MiB is refused (%s)", cudaGetErrorName(e2));
		cudaFree(a);
		presto_emu_set_memory_limit((size_t)1 << 30);
	}
	// vector loads and stores: aligned ones copy, misaligned ones stop the
	// program (they fault on a GPU)
	{
		float h[64], *x, *y, back[64];
		for (int i = 0; i < 64; i++)
			h[i] = (float)i;
		cudaMalloc((void **)&x, sizeof h);
		cudaMalloc((void **)&y, sizeof h);
		cudaMemcpy(x, h, sizeof h, cudaMemcpyHostToDevice);
		cudaMemset(y, 0, sizeof h);
		PRESTO_LAUNCH(1, 1, 0, nullptr, vector_kernel)(x, y, 16, 4);
		cudaMemcpy(back, y, sizeof back, cudaMemcpyDeviceToHost);
		bool ok = back[3] == 0 && back[4] == 4 && back[7] == 7 && back[8] == 0 && back[16] == 0 &&
			  back[17] == 17 && back[18] == 0;
		EXPECT(ok, "16- and 4-byte vector copies at aligned offsets");
		cudaFree(x);
		cudaFree(y);
	}
	EXPECT(child_aborts(run_vector_misaligned), "a 16-byte vector load 8 bytes off its alignment stops the program");
	EXPECT(child_aborts(run_vector_pair_misaligned), "a 4-byte pair load 2 bytes off its alignment stops the program");
	EXPECT(child_aborts(run_divergent), "a warp shuffle beside a __syncthreads() in the same warp stops the program");
	printf("%s: %d failures\n", failures ? "FAILED" : "passed", failures);
	return failures != 0;
}

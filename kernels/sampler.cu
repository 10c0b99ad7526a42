// sampler.cu - the CUDA twins of presto_step_apply (lib/sampler.c) and
// presto_randn (lib/rng.c): the element functions are the C reference's own
// (lib/sampler_step.h, lib/rng_core.h). The Makefile builds this file with
// -fmad=false: a fused multiply-add would round differently from the C code.
#include "kernels.h"
#include "launch.h"
#include "rng_core.h"
#include "sampler_step.h"

using presto_k::grid_for;
using presto_k::kThreads;

namespace {

__global__ void step_kernel(presto_step s)
{
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < s.n; i += (size_t)gridDim.x * blockDim.x)
		presto_step_elem(&s, i);
}

// one thread per Philox block: elements [4b, 4b + 4) within [offset, offset + n)
__global__ void randn_kernel(float *out, size_t n, uint64_t seed, uint64_t stream_id, uint64_t offset,
			     uint64_t blocks)
{
	uint64_t b0 = offset >> 2;
	for (uint64_t j = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; j < blocks;
	     j += (uint64_t)gridDim.x * blockDim.x) {
		uint64_t b = b0 + j;
		uint32_t w[4];
		float z[4];
		presto_rng_block(b, seed, stream_id, w);
		presto_box_muller(w[0], w[1], z);
		presto_box_muller(w[2], w[3], z + 2);
		for (int l = 0; l < 4; l++) {
			uint64_t idx = 4 * b + l;
			if (idx >= offset && idx - offset < n)
				out[idx - offset] = z[l];
		}
	}
}

}  // namespace

int presto_cuda_step(const void *step, void *stream)
{
	const presto_step *s = (const presto_step *)step;
	if (!s->n)
		return 0;
	PRESTO_LAUNCH(grid_for(s->n), kThreads, 0, stream, step_kernel)(*s);
	return presto_k::last_error();
}

int presto_cuda_randn(float *out, size_t n, uint64_t seed, uint64_t stream_id, uint64_t offset, void *stream)
{
	if (!n)
		return 0;
	uint64_t blocks = ((offset + n + 3) >> 2) - (offset >> 2);
	PRESTO_LAUNCH(grid_for((size_t)blocks), kThreads, 0, stream, randn_kernel)(out, n, seed, stream_id, offset,
										  blocks);
	return presto_k::last_error();
}

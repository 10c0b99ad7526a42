/* launch.h - what the kernels (kernels/NAME.cu) share: the launch and dynamic shared memory
 * spellings that also compile for the CPU emulator (kernels/emu), error
 * plumbing and the grid-size helper. */
#ifndef PRESTO_KERNELS_LAUNCH_H
#define PRESTO_KERNELS_LAUNCH_H

#include <cuda_runtime.h>

#ifndef PRESTO_CUDA_EMU
/* kernel<<<grid, block, smem, stream>>>(args) */
#define PRESTO_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<(grid), (block), (smem), (cudaStream_t)(stream)>>>
#define PRESTO_DYNAMIC_SMEM(type, name)                                                                               \
	extern __shared__ __align__(16) unsigned char presto_dynamic_smem_[];                                         \
	type *name = (type *)presto_dynamic_smem_
#endif

namespace presto_k {

constexpr int kThreads = 256;

/* blocks for a grid-stride loop over n elements */
inline unsigned grid_for(size_t n, int threads = kThreads)
{
	size_t g = (n + threads - 1) / threads;
	return (unsigned)(g < 65535u * 8 ? (g ? g : 1) : 65535u * 8);
}

inline int last_error() { return (int)cudaGetLastError(); }

}  // namespace presto_k

#endif

/* hostdev.h - PRESTO_HD marks the static inline functions that lib/ (the C
 * reference) and kernels/ (its CUDA twin, or the CPU emulator) compile from
 * one definition: __host__ __device__ under nvcc and the emulator (C++). */
#ifndef PRESTO_HOSTDEV_H
#define PRESTO_HOSTDEV_H

#if defined(__CUDACC__) || (defined(PRESTO_CUDA_EMU) && defined(__cplusplus))
#define PRESTO_HD __host__ __device__ static inline
#else
#define PRESTO_HD static inline
#endif

#endif

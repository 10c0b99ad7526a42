/* cuda_backend.h - the interface between the tools and the CUDA backend
 * library (libpresto-cuda.so, built from kernels/ by nvcc): the library
 * exports one function, presto_cuda_backend_get(), returning this table. The
 * tools open the library with dlopen only when a GPU is to be used
 * (lib/accel.c), so that a CPU run never loads CUDA. Plain C, host memory
 * on both sides; the table checks that both were built from the same
 * sources (abi and the struct sizes). */
#ifndef PRESTO_CUDA_BACKEND_H
#define PRESTO_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#define PRESTO_CUDA_BACKEND_ABI 2

struct presto_dit;
struct presto_vae;
struct presto_t5;

typedef struct presto_cuda_backend {
	int abi;                     /* PRESTO_CUDA_BACKEND_ABI */
	size_t dit_size, config_size; /* sizeof(struct presto_dit), sizeof(presto_dit_config) */
	/* Make device `index` current and check that it runs kernels. 0 or a
	 * CUDA error code; msg gets the device's name and memory, or why not. */
	int (*init)(int index, char *msg, size_t len);
	/* whether the current device runs bf16 tensor-core GEMMs (sm_80+) */
	int (*has_bf16)(void);
	const char *(*error_string)(int rc);
	int (*is_oom)(int rc);
	/* A DiT on the device (weights uploaded; bf16: bf16 block weights and
	 * activations, else fp32). 0 or a CUDA error code. */
	int (*dit_new)(const struct presto_dit *m, int bf16, void **out);
	void (*dit_free)(void *g);
	/* presto_dit_forward_cfg's computation (lib/dit.h) on host buffers */
	int (*dit_forward_cfg)(void *g, float *out, const float *x, const float *t, const float *cross,
			       const float *neg, int S, const float *global, int B, int T, float scale,
			       float *cond_out, float *uncond_out, const unsigned char *block_mask);
	/* The decoder of a VAE on the device (bf16 as for the DiT), and
	 * presto_vae_decode's computation on host buffers. */
	int (*vae_new)(const struct presto_vae *m, int bf16, void **out);
	void (*vae_free)(void *g);
	int (*vae_decode)(void *g, float *audio, const float *z, int Lz);
	/* presto_vae_encode's computation (a VAE loaded with its encoder) */
	int (*vae_encode)(void *g, float *out, const float *audio, int N);
	size_t vae_size;             /* sizeof(struct presto_vae) */
	/* A T5 encoder on the device (fp32; tf32: TF32 GEMMs) and
	 * presto_t5_forward's computation on host buffers, with the bucket
	 * table [L, L] of presto_t5_buckets(). */
	int (*t5_new)(const struct presto_t5 *m, int tf32, void **out);
	void (*t5_free)(void *g);
	int (*t5_forward)(void *g, float *out, const int *ids, const float *mask, const int *buckets, int B, int L);
	size_t t5_size;              /* sizeof(struct presto_t5) */
	/* The sampling loop on the device (lib/generate.h presto_dit_device):
	 * float vectors in device memory, every operation ordered on the DiT's
	 * stream, the host waiting only in dit_get. */
	int (*dit_alloc)(void *g, size_t n, float **out);
	void (*dit_release)(void *g, float *p);
	int (*dit_step)(void *g, const void *step); /* a const presto_step * (lib/sampler_step.h) */
	int (*dit_get)(void *g, float *host, const float *dev, size_t n);
	int (*dit_put)(void *g, float *dev, const float *host, size_t n);
	int (*dit_wait)(void *g);
	int (*dit_randn)(void *g, float *dev, size_t n, uint64_t seed, uint64_t stream, uint64_t offset);
	/* upload the conditioning of the forwards that follow (host arrays as
	 * for dit_forward_cfg), then forwards on device x and out */
	int (*dit_begin)(void *g, const float *cross, const float *neg, int S, const float *global, int B, int T,
			 float scale);
	int (*dit_forward_dev)(void *g, float *out, const float *x, const float *t, const unsigned char *block_mask);
	/* bytes of device memory in use by this process's allocations, and the
	 * peak since the device was initialised */
	void (*memory)(size_t *used, size_t *peak, size_t *total);
} presto_cuda_backend;

#ifdef __cplusplus
extern "C" {
#endif
const presto_cuda_backend *presto_cuda_backend_get(void);
#ifdef __cplusplus
}
#endif

#endif

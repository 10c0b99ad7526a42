/* test_t5.c - the T5 encoder on the device (kernels/t5.cu) against the CPU
 * reference (lib/t5.c): random weights of HF's initialisation scales, ReLU
 * and gated-GELU feed-forward, a batch of two with padding, exact fp32 GEMMs
 * and TF32 ones. Exits 77 (skipped) without a CUDA device. */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "params.h"
#include "t5.h"

#include "../unit/check.h"
#include "../unit/testrand.h"
#include "gpucheck.h"

TEST_RAND_SEED(0x3c6ef372fe94f82bull);

static void test_case(const char *label, int gated, int B, int L)
{
	presto_t5_config c = {.vocab_size = 50, .d_model = 48, .d_kv = 16, .num_heads = 3, .d_ff = 80,
			      .num_layers = 2, .gated = gated, .num_buckets = 32, .max_distance = 128, .eps = 1e-6f};
	presto_params ps;
	presto_params_init(&ps);
	presto_t5 *m = NULL;
	if (presto_t5_params(&c, "t.", &ps) || presto_params_alloc(&ps) ||
	    presto_t5_params_init(&c, "t.", &ps, ps.data, 7, 1.0f) || presto_t5_bind(&ps, ps.data, "t.", &c, &m)) {
		CHECK(0, "%s: set-up (%s)", label, presto_error());
		return;
	}
	size_t N = (size_t)B * L, no = N * c.d_model;
	int32_t *ids = malloc(sizeof(int32_t) * N), *bk = malloc(sizeof(int32_t) * L * L);
	float *mask = vec(N, 0), *ref = vec(no, 0), *got = vec(no, 0);
	for (size_t i = 0; i < N; i++) {
		ids[i] = (int32_t)(unif() * c.vocab_size);
		mask[i] = (int)(i % L) < L - (int)(i / L) * 3 ? 1.0f : 0.0f; /* item 1 has 3 pads */
	}
	presto_t5_buckets(bk, L, c.num_buckets, c.max_distance);
	CHECK(!presto_t5_forward(m, ref, ids, mask, B, L, NULL, NULL), "%s: CPU forward", label);
	int32_t *dids, *dbk;
	float *dmask, *dout;
	cudaMalloc((void **)&dids, sizeof(int32_t) * N);
	cudaMalloc((void **)&dbk, sizeof(int32_t) * L * L);
	cudaMalloc((void **)&dmask, sizeof(float) * N);
	cudaMalloc((void **)&dout, sizeof(float) * no);
	cudaMemcpy(dids, ids, sizeof(int32_t) * N, cudaMemcpyHostToDevice);
	cudaMemcpy(dbk, bk, sizeof(int32_t) * L * L, cudaMemcpyHostToDevice);
	cudaMemcpy(dmask, mask, sizeof(float) * N, cudaMemcpyHostToDevice);
	for (int tf32 = 0; tf32 < 2; tf32++) {
		presto_cuda_t5 *g = NULL;
		int rc = presto_cuda_t5_new(m, tf32, &g);
		if (!rc)
			rc = presto_cuda_t5_forward(g, dout, dids, dmask, dbk, B, L, NULL);
		if (!rc)
			rc = (int)cudaMemcpy(got, dout, sizeof(float) * no, cudaMemcpyDeviceToHost);
		size_t bad;
		double rel = norm_error(got, ref, no, &bad), tol = tf32 ? 1e-2 : 1e-5;
		CHECK(!rc && !bad && rel <= tol, "%s, %s: normalised error %.2e (tol %.0e)%s (rc %d)", label,
		      tf32 ? "tf32" : "fp32", rel, tol, bad ? ", non-finite" : "", rc);
		presto_cuda_t5_free(g);
	}
	cudaFree(dids), cudaFree(dbk), cudaFree(dmask), cudaFree(dout);
	free(ids), free(bk), free(mask), free(ref), free(got);
	presto_t5_free(m);
	presto_params_free(&ps);
}

int main(void)
{
	require_gpu();
	test_case("relu, padded batch", 0, 2, 11);
	test_case("gated-gelu, padded batch", 1, 2, 9);
	test_case("relu, 40 tokens", 0, 1, 40);
	return check_status();
}

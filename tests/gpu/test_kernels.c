/* test_kernels.c - every CUDA kernel (the .cu files of kernels/) against its CPU
 * reference (lib/ops) on random inputs of several shapes: the error is
 * max |gpu - cpu| over max |cpu| of the output, and the GPU output must be
 * finite where the CPU's is. Exits 77 (skipped) when no CUDA device can be
 * used; `make test-gpu` runs it (tests/gpu/run.sh). */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "ops.h"

#include "../unit/check.h"
#include "../unit/testrand.h"

TEST_RAND_SEED(0x6b8b4567327b23c6ull);

static float *dev(const float *h, size_t n)
{
	float *d = NULL;
	if (cudaMalloc((void **)&d, sizeof(float) * (n ? n : 1)) != cudaSuccess)
		return NULL;
	if (h)
		cudaMemcpy(d, h, sizeof(float) * n, cudaMemcpyHostToDevice);
	return d;
}

/* compare the device output d[n] with the reference ref[n] */
static void compare(const char *what, const float *d, const float *ref, size_t n, double tol)
{
	float *h = malloc(sizeof(float) * (n ? n : 1));
	cudaError_t e = cudaMemcpy(h, d, sizeof(float) * n, cudaMemcpyDeviceToHost);
	double err = 0, mx = 0;
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (isfinite(ref[i]) && !isfinite(h[i]))
			bad++;
		err = fmax(err, fabs((double)h[i] - ref[i]));
		mx = fmax(mx, fabs((double)ref[i]));
	}
	double rel = err / (mx > 0 ? mx : 1);
	CHECK(e == cudaSuccess && !bad && rel <= tol, "%-44s normalised error %.2e (tol %.0e)%s", what, rel, tol,
	      bad ? ", non-finite values" : "");
	free(h);
}

static void test_layernorm(int N, int D, int with_beta)
{
	size_t n = (size_t)N * D;
	float *x = vec(n, 3.0f), *g = vec(D, 1.0f), *b = vec(D, 0.5f), *y = malloc(sizeof(float) * n);
	for (size_t i = 0; i < n; i++)
		x[i] += 2.0f; /* a mean to remove */
	presto_layernorm_forward(y, x, g, with_beta ? b : NULL, N, D, 1e-5f);
	float *dx = dev(x, n), *dg = dev(g, D), *db = dev(b, D), *dy = dev(NULL, n);
	int rc = presto_cuda_layernorm_forward(dy, dx, dg, with_beta ? db : NULL, N, D, 1e-5f, NULL);
	cudaDeviceSynchronize();
	char what[96];
	snprintf(what, sizeof what, "layernorm [%d, %d]%s", N, D, with_beta ? "" : " no beta");
	CHECK(rc == 0, "%s: launch (%d)", what, rc);
	compare(what, dy, y, n, 1e-5);
	cudaFree(dx), cudaFree(dg), cudaFree(db), cudaFree(dy);
	free(x), free(g), free(b), free(y);
}

static void test_swiglu(int N, int F)
{
	size_t n = (size_t)N * F;
	float *xg = vec(2 * n, 3.0f), *y = malloc(sizeof(float) * n);
	presto_swiglu_forward(y, xg, N, F);
	float *dxg = dev(xg, 2 * n), *dy = dev(NULL, n);
	int rc = presto_cuda_swiglu_forward(dy, dxg, N, F, NULL);
	cudaDeviceSynchronize();
	char what[96];
	snprintf(what, sizeof what, "swiglu [%d, %d]", N, F);
	CHECK(rc == 0, "%s: launch (%d)", what, rc);
	compare(what, dy, y, n, 1e-6);
	cudaFree(dxg), cudaFree(dy);
	free(xg), free(y);
}

static void test_snake(int C, int T)
{
	size_t n = (size_t)C * T;
	float *x = vec(n, 2.0f), *a = vec(C, 0.5f), *b = vec(C, 0.5f), *y = malloc(sizeof(float) * n);
	presto_snake_beta_forward(y, x, a, b, C, T);
	float *dx = dev(x, n), *da = dev(a, C), *db = dev(b, C), *dy = dev(NULL, n);
	int rc = presto_cuda_snake_beta_forward(dy, dx, da, db, C, T, NULL);
	cudaDeviceSynchronize();
	char what[96];
	snprintf(what, sizeof what, "snake_beta [%d, %d]", C, T);
	CHECK(rc == 0, "%s: launch (%d)", what, rc);
	compare(what, dy, y, n, 1e-5);
	cudaFree(dx), cudaFree(da), cudaFree(db), cudaFree(dy);
	free(x), free(a), free(b), free(y);
}

int main(void)
{
	int count = 0;
	cudaError_t e = cudaGetDeviceCount(&count);
	if (e != cudaSuccess || count == 0) {
		printf("SKIP: no usable CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "none");
		return 77;
	}
	test_layernorm(1, 1, 1);
	test_layernorm(7, 192, 1);
	test_layernorm(300, 1536, 0);
	test_layernorm(3, 4099, 1);
	test_swiglu(1, 1);
	test_swiglu(216, 768);
	test_swiglu(5, 6145);
	test_snake(1, 1);
	test_snake(16, 65536);
	test_snake(128, 257);
	return check_status();
}

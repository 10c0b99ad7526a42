// cublas.cc - the emulator's cuBLAS (kernels/emu/cublas_v2.h): column-major
// C = alpha op(A) op(B) + beta C, any mix of fp32 and bf16, fp32 sums.
#include <stdlib.h>

#include <vector>

#include "cublas_v2.h"
#include "cuda_bf16.h"
#include "emu_device.h"

struct presto_emu_cublas {
	cudaStream_t stream;
};

namespace {

float load(const void *p, cudaDataType t, long long i)
{
	if (t == CUDA_R_16BF)
		return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
	return ((const float *)p)[i];
}

void store(void *p, cudaDataType t, long long i, float v)
{
	if (t == CUDA_R_16BF)
		((__nv_bfloat16 *)p)[i] = __float2bfloat16(v);
	else
		((float *)p)[i] = v;
}

bool type_ok(cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_16BF; }

}  // namespace

extern "C" {

cublasStatus_t cublasCreate(cublasHandle_t *h)
{
	*h = (cublasHandle_t)calloc(1, sizeof(presto_emu_cublas));
	return *h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

cublasStatus_t cublasDestroy(cublasHandle_t h)
{
	free(h);
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s)
{
	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	h->stream = s;
	return CUBLAS_STATUS_SUCCESS;
}

// C = alpha op(A) op(B) + beta C, fp32 sums in k order; the operands are
// converted to fp32 rows first (op(A) row i and op(B) column j contiguous)
static void gemm_now(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float al, const void *A,
		     cudaDataType at, int lda, long long sa, const void *B, cudaDataType bt, int ldb, long long sb,
		     float be, void *C, cudaDataType ct, int ldc, long long sc, int batch)
{
	std::vector<float> a((size_t)m * k), bb((size_t)n * k);
	for (int b = 0; b < batch; b++) {
		for (int i = 0; i < m; i++)
			for (int l = 0; l < k; l++)
				a[(size_t)i * k + l] = load(A, at, b * sa + (ta == CUBLAS_OP_N ? i + (long long)l * lda
												: l + (long long)i * lda));
		for (int j = 0; j < n; j++)
			for (int l = 0; l < k; l++)
				bb[(size_t)j * k + l] = load(B, bt, b * sb + (tb == CUBLAS_OP_N ? l + (long long)j * ldb
												 : j + (long long)l * ldb));
		for (int j = 0; j < n; j++) {
			const float *bj = bb.data() + (size_t)j * k;
			for (int i = 0; i < m; i++) {
				const float *ai = a.data() + (size_t)i * k;
				float s = 0;
				for (int l = 0; l < k; l++)
					s += ai[l] * bj[l];
				long long ic = b * sc + i + (long long)j * ldc;
				// beta == 0: C is not read (it may hold NaN), as cuBLAS
				store(C, ct, ic, al * s + (be != 0 ? be * load(C, ct, ic) : 0.0f));
			}
		}
	}
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
					  int k, const void *alpha, const void *A, cudaDataType at, int lda,
					  long long sa, const void *B, cudaDataType bt, int ldb, long long sb,
					  const void *beta, void *C, cudaDataType ct, int ldc, long long sc, int batch,
					  cublasComputeType_t ctype, cublasGemmAlgo_t algo)
{
	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (m < 0 || n < 0 || k < 0 || batch < 0 || !type_ok(at) || !type_ok(bt) || !type_ok(ct))
		return CUBLAS_STATUS_INVALID_VALUE;
	// leading dimensions as cuBLAS checks them
	if (lda < (ta == CUBLAS_OP_N ? (m > 1 ? m : 1) : (k > 1 ? k : 1)) ||
	    ldb < (tb == CUBLAS_OP_N ? (k > 1 ? k : 1) : (n > 1 ? n : 1)) || ldc < (m > 1 ? m : 1))
		return CUBLAS_STATUS_INVALID_VALUE;
	float al = *(const float *)alpha, be = *(const float *)beta;  // host scalars, read now
	if (presto_emu::capturing(nullptr)) {
		if (!h->stream)
			presto_emu::fail("cuBLAS call on the legacy stream while a stream is being captured");
		presto_emu::capturing(h->stream);  // (stops on another stream)
		presto_emu::record([=]() { gemm_now(ta, tb, m, n, k, al, A, at, lda, sa, B, bt, ldb, sb, be, C, ct, ldc, sc,
						    batch); });
		return CUBLAS_STATUS_SUCCESS;
	}
	gemm_now(ta, tb, m, n, k, al, A, at, lda, sa, B, bt, ldb, sb, be, C, ct, ldc, sc, batch);
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *ws, size_t bytes)
{
	return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
			    const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
			    int ldb, const void *beta, void *C, cudaDataType ct, int ldc, cublasComputeType_t ctype,
			    cublasGemmAlgo_t algo)
{
	return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct, ldc, 0,
					  1, ctype, algo);
}

}  // extern "C"

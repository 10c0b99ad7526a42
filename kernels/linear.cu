// linear.cu - the GEMMs of kernels.h through cuBLAS: row-major y = x W^T as
// cuBLAS's column-major y^T = W x^T (W^T stored as an In x O matrix).
#include <cublas_v2.h>

#include "kernels.h"
#include "launch.h"

namespace {

constexpr int kMaxDevices = 16;
cublasHandle_t handles[kMaxDevices];
void *workspaces[kMaxDevices];
constexpr size_t kWorkspace = 32 << 20;

cublasHandle_t handle_for_current()
{
	int d = 0;
	if (cudaGetDevice(&d) != cudaSuccess || d < 0 || d >= kMaxDevices)
		return nullptr;
	if (!handles[d]) {
		if (cublasCreate(&handles[d]) != CUBLAS_STATUS_SUCCESS)
			return handles[d] = nullptr;
		// a workspace of its own, so that cuBLAS allocates nothing while a
		// CUDA graph is being captured
		if (cudaMalloc(&workspaces[d], kWorkspace) != cudaSuccess ||
		    cublasSetWorkspace(handles[d], workspaces[d], kWorkspace) != CUBLAS_STATUS_SUCCESS) {
			cudaGetLastError();
			cudaFree(workspaces[d]);
			workspaces[d] = nullptr;
			cublasDestroy(handles[d]);
			return handles[d] = nullptr;
		}
	}
	return handles[d];
}

cudaDataType cuda_type(presto_cuda_dtype t) { return t == PRESTO_CUDA_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

// y[n, :] = b for every row (the GEMM then adds with beta 1)
template <class T> __global__ void fill_rows_kernel(T *y, const float *b, int N, int O)
{
	size_t n = (size_t)N * O;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		y[i] = presto_k::from_f<T>(b[i % O]);
}

// y[n, :] += b (after a GEMM that read y)
template <class T> __global__ void add_rows_kernel(T *y, const float *b, int N, int O)
{
	size_t n = (size_t)N * O;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		y[i] = presto_k::from_f<T>(presto_k::to_f(y[i]) + b[i % O]);
}

template <class T> int bias_rows(T *y, const float *b, int N, int O, bool add, void *stream)
{
	size_t n = (size_t)N * O;
	if (add)
		PRESTO_LAUNCH(presto_k::grid_for(n), presto_k::kThreads, 0, stream, add_rows_kernel<T>)(y, b, N, O);
	else
		PRESTO_LAUNCH(presto_k::grid_for(n), presto_k::kThreads, 0, stream, fill_rows_kernel<T>)(y, b, N, O);
	return presto_k::last_error();
}

int bias(void *y, presto_cuda_dtype yt, const float *b, int N, int O, bool add, void *stream)
{
	return yt == PRESTO_CUDA_BF16 ? bias_rows((__nv_bfloat16 *)y, b, N, O, add, stream)
				      : bias_rows((float *)y, b, N, O, add, stream);
}

}  // namespace

extern "C" int presto_cuda_gemm(void *y, presto_cuda_dtype yt, const void *x, presto_cuda_dtype xt, const void *w,
				presto_cuda_dtype wt, const float *b, int N, int In, int O, float beta, int tf32,
				void *stream)
{
	if (N <= 0 || O <= 0)
		return 0;
	if (In < 0 || (xt != wt))
		return (int)cudaErrorInvalidValue;
	int rc;
	// fp32 output and beta 0: the bias goes in first and the GEMM adds to it
	// (the CPU reference's order); otherwise it is added after
	bool bias_first = b && beta == 0.0f && yt == PRESTO_CUDA_F32;
	if (bias_first) {
		if ((rc = bias(y, yt, b, N, O, false, stream)))
			return rc;
		beta = 1.0f;
	}
	if (In == 0) {
		if (!bias_first && beta == 0.0f && (rc = (int)cudaMemsetAsync(y, 0, (size_t)N * O *
								      (yt == PRESTO_CUDA_BF16 ? 2 : 4), (cudaStream_t)stream)))
			return rc;
	} else if ((rc = presto_cuda_gemm_ld(y, yt, O, x, xt, In, w, wt, N, In, O, beta, tf32, stream))) {
		return rc;
	}
	if (b && !bias_first)
		return bias(y, yt, b, N, O, true, stream);
	return presto_k::last_error();
}

extern "C" int presto_cuda_gemm_ld(void *y, presto_cuda_dtype yt, int ldy, const void *x, presto_cuda_dtype xt,
				   int ldx, const void *w, presto_cuda_dtype wt, int N, int In, int O, float beta,
				   int tf32, void *stream)
{
	if (N <= 0 || O <= 0 || In <= 0)
		return N < 0 || O < 0 || In < 0 ? (int)cudaErrorInvalidValue : 0;
	if (xt != wt || ldy < O || ldx < In)
		return (int)cudaErrorInvalidValue;
	cublasHandle_t h = handle_for_current();
	if (!h)
		return (int)cudaErrorInitializationError;
	if (cublasSetStream(h, (cudaStream_t)stream) != CUBLAS_STATUS_SUCCESS)
		return (int)cudaErrorInvalidValue;
	float alpha = 1.0f;
	cublasComputeType_t ct = xt == PRESTO_CUDA_F32 && tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
	cublasStatus_t st = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, O, N, In, &alpha, w, cuda_type(wt), In, x,
					 cuda_type(xt), ldx, &beta, y, cuda_type(yt), ldy, ct, CUBLAS_GEMM_DEFAULT);
	if (st != CUBLAS_STATUS_SUCCESS)
		return st == CUBLAS_STATUS_ALLOC_FAILED ? (int)cudaErrorMemoryAllocation : (int)cudaErrorLaunchFailure;
	return 0;
}

extern "C" int presto_cuda_linear_forward(float *y, const float *x, const float *w, const float *b, int N, int In,
					  int O, void *stream)
{
	return presto_cuda_gemm(y, PRESTO_CUDA_F32, x, PRESTO_CUDA_F32, w, PRESTO_CUDA_F32, b, N, In, O, 0.0f, 0,
				stream);
}

extern "C" void presto_cuda_blas_release(void)
{
	for (int d = 0; d < kMaxDevices; d++)
		if (handles[d]) {
			cublasDestroy(handles[d]);
			handles[d] = nullptr;
			cudaFree(workspaces[d]);
			workspaces[d] = nullptr;
		}
}

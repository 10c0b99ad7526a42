// t5.cu - the T5 encoder of lib/t5.c on the device, in fp32 (T5's
// activations outgrow half precision; the model is small beside the DiT):
// embedding gather, RMSNorm, attention with the relative-position bias and
// the key mask (kernels/attention.cu), ReLU or gated GELU-tanh feed-forward,
// GEMMs through cuBLAS (TF32 when asked).
#include <math.h>
#include <stdint.h>

#include <new>
#include <vector>

#include "kernels.h"
#include "launch.h"
#include "t5_internal.h"

using presto_k::grid_for;
using presto_k::kThreads;

namespace {

__global__ void gather_kernel(float *h, const float *emb, const int32_t *ids, int N, int D)
{
	size_t n = (size_t)N * D;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		h[i] = emb[(size_t)ids[i / D] * D + i % D];
}

// bias [H, L, L] = rel[bucket[i, j], h]
__global__ void bias_kernel(float *bias, const float *rel, const int32_t *bk, int H, int L)
{
	size_t nl = (size_t)L * L, n = nl * H;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		bias[i] = rel[(size_t)bk[i % nl] * H + i / nl];
}

// one block per row: y = x * rsqrt(mean(x^2) + eps) * w
__global__ void rmsnorm_kernel(float *y, const float *x, const float *w, int D, float eps)
{
	__shared__ float part[32];
	const float *xr = x + (size_t)blockIdx.x * D;
	float *yr = y + (size_t)blockIdx.x * D;
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
	float s = 0;
	for (int i = threadIdx.x; i < D; i += blockDim.x)
		s += xr[i] * xr[i];
	s = presto_k::warp_sum(s);
	if (lane == 0)
		part[warp] = s;
	__syncthreads();
	s = presto_k::warp_sum(lane < nw ? part[lane] : 0.0f);
	float r = rsqrtf(s / D + eps);
	for (int i = threadIdx.x; i < D; i += blockDim.x)
		yr[i] = xr[i] * r * (w ? w[i] : 1.0f);
}

// ReLU in place, or y = gelu_tanh(a) * b (gated)
__global__ void act_kernel(float *a, const float *b, size_t n, int gated)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		float u = a[i];
		if (!gated) {
			a[i] = u > 0.0f ? u : 0.0f;
		} else {
			float g = 0.5f * u * (1.0f + tanhf(0.7978845608028654f * (u + 0.044715f * u * u * u)));
			a[i] = g * b[i];
		}
	}
}

}  // namespace

struct presto_cuda_t5 {
	presto_t5_config c;
	int tf32 = 0;
	presto_k::dev_memory mem;
	float *shared = nullptr, *rel = nullptr, *final_ln = nullptr;
	struct blk {
		float *ln0, *q, *k, *v, *o, *ln1, *wi, *wi1, *wo;
	};
	std::vector<blk> blocks;
	void *act = nullptr;
	size_t cap = 0;
	~presto_cuda_t5() { cudaFree(act); }
};

namespace {

int up(presto_cuda_t5 *g, const float *h, size_t n, float **out)
{
	void *d;
	int rc = g->mem.upload(h, n * sizeof(float), &d);
	*out = (float *)d;
	return rc;
}

int upload(presto_cuda_t5 *g, const presto_t5 *m)
{
	const presto_t5_config *c = &m->c;
	size_t D = c->d_model, I = (size_t)c->num_heads * c->d_kv, F = c->d_ff;
	PRESTO_K_TRY(up(g, m->shared, (size_t)c->vocab_size * D, &g->shared));
	PRESTO_K_TRY(up(g, m->rel_bias, (size_t)c->num_buckets * c->num_heads, &g->rel));
	PRESTO_K_TRY(up(g, m->final_ln, D, &g->final_ln));
	g->blocks.resize(c->num_layers);
	for (int i = 0; i < c->num_layers; i++) {
		const t5_block *b = &m->blocks[i];
		presto_cuda_t5::blk *o = &g->blocks[i];
		PRESTO_K_TRY(up(g, b->ln0, D, &o->ln0));
		PRESTO_K_TRY(up(g, b->q, I * D, &o->q));
		PRESTO_K_TRY(up(g, b->k, I * D, &o->k));
		PRESTO_K_TRY(up(g, b->v, I * D, &o->v));
		PRESTO_K_TRY(up(g, b->o, D * I, &o->o));
		PRESTO_K_TRY(up(g, b->ln1, D, &o->ln1));
		PRESTO_K_TRY(up(g, b->wi, F * D, &o->wi));
		PRESTO_K_TRY(up(g, c->gated ? b->wi1 : nullptr, F * D, &o->wi1));
		PRESTO_K_TRY(up(g, b->wo, D * F, &o->wo));
	}
	return 0;
}

int lin(presto_cuda_t5 *g, float *y, const float *x, const float *w, int N, int In, int O, float beta, void *s)
{
	return presto_cuda_gemm(y, PRESTO_CUDA_F32, x, PRESTO_CUDA_F32, w, PRESTO_CUDA_F32, nullptr, N, In, O, beta,
				g->tf32, s);
}

}  // namespace

extern "C" int presto_cuda_t5_new(const presto_t5 *m, int tf32, presto_cuda_t5 **out)
{
	return presto_k::make(out, [&](presto_cuda_t5 *g) {
		g->c = m->c;
		g->tf32 = tf32;
		return upload(g, m);
	});
}

extern "C" void presto_cuda_t5_free(presto_cuda_t5 *g) { delete g; }

extern "C" int presto_cuda_t5_forward(presto_cuda_t5 *g, float *out, const int32_t *ids, const float *mask,
				      const int32_t *buckets, int B, int L, void *s)
{
	const presto_t5_config *c = &g->c;
	int D = c->d_model, H = c->num_heads, Dh = c->d_kv, I = H * Dh, F = c->d_ff;
	if (B <= 0 || L <= 0)
		return (int)cudaErrorInvalidValue;
	size_t N = (size_t)B * L, NL = (size_t)L * L;
	// floats: h, x, tmp [N, D]; q, k, v, att [N, I]; f1, f2 [N, F]; bias [H, L, L]
	size_t need = N * (3 * (size_t)D + 4 * (size_t)I + 2 * (size_t)F) + NL * H;
	if (need > g->cap) {
		cudaFree(g->act);
		g->act = nullptr;
		g->cap = 0;
		cudaError_t e = cudaMalloc(&g->act, need * sizeof(float));
		if (e != cudaSuccess) {
			cudaGetLastError();
			return (int)e;
		}
		g->cap = need;
	}
	float *h = (float *)g->act, *x = h + N * D, *tmp = x + N * D, *q = tmp + N * D, *k = q + N * I, *v = k + N * I;
	float *att = v + N * I, *f1 = att + N * I, *f2 = f1 + N * F, *bias = f2 + N * F;
	int rows = (int)N;
	PRESTO_LAUNCH(grid_for(NL * H), kThreads, 0, s, bias_kernel)(bias, g->rel, buckets, H, L);
	PRESTO_K_TRY(presto_k::last_error());
	PRESTO_LAUNCH(grid_for(N * D), kThreads, 0, s, gather_kernel)(h, g->shared, ids, rows, D);
	PRESTO_K_TRY(presto_k::last_error());
	for (const presto_cuda_t5::blk &b : g->blocks) {
		PRESTO_LAUNCH(rows, presto_k::row_threads(D), 0, s, rmsnorm_kernel)(x, h, b.ln0, D, c->eps);
		PRESTO_K_TRY(presto_k::last_error());
		PRESTO_K_TRY(lin(g, q, x, b.q, rows, D, I, 0.0f, s));
		PRESTO_K_TRY(lin(g, k, x, b.k, rows, D, I, 0.0f, s));
		PRESTO_K_TRY(lin(g, v, x, b.v, rows, D, I, 0.0f, s));
		PRESTO_K_TRY(presto_cuda_attention_forward(att, q, k, v, B, L, L, H, H, Dh, I, I, I, 1.0f, bias, mask, s));
		PRESTO_K_TRY(lin(g, h, att, b.o, rows, I, D, 1.0f, s));  // h += o(att)
		PRESTO_LAUNCH(rows, presto_k::row_threads(D), 0, s, rmsnorm_kernel)(x, h, b.ln1, D, c->eps);
		PRESTO_K_TRY(presto_k::last_error());
		PRESTO_K_TRY(lin(g, f1, x, b.wi, rows, D, F, 0.0f, s));
		if (c->gated)
			PRESTO_K_TRY(lin(g, f2, x, b.wi1, rows, D, F, 0.0f, s));
		PRESTO_LAUNCH(grid_for(N * F), kThreads, 0, s, act_kernel)(f1, f2, N * F, c->gated);
		PRESTO_K_TRY(presto_k::last_error());
		PRESTO_K_TRY(lin(g, h, f1, b.wo, rows, F, D, 1.0f, s));  // h += wo(hidden)
	}
	PRESTO_LAUNCH(rows, presto_k::row_threads(D), 0, s, rmsnorm_kernel)(out, h, g->final_ln, D, c->eps);
	return presto_k::last_error();
}

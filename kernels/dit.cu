// dit.cu - the DiT forward of lib/dit.c on the device. Weights are uploaded
// once: the block matrices in fp32 or bf16, the small input/output and
// conditioning matrices, biases and norms in fp32. The residual stream stays
// fp32; with bf16 weights the block activations (normalised rows, q/k/v,
// attention and feed-forward outputs) are bf16, and every GEMM accumulates in
// fp32 and adds its residual branch in its epilogue (beta 1).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <new>
#include <vector>

#include "dit_internal.h"
#include "kernels.h"
#include "launch.h"

using presto_k::from_f;
using presto_k::grid_for;
using presto_k::kThreads;
using presto_k::to_f;

namespace {

struct gblock {
	float *pre_g, *pre_b, *ca_g, *ca_b, *ff_g, *ff_b;
	void *qkv, *sa_out, *ca_q, *ca_kv, *ca_out, *ff_in, *ff_out;
	float *ff_in_b, *ff_out_b;
	float *sa_qw, *sa_qb, *sa_kw, *sa_kb, *ca_qw, *ca_qb, *ca_kw, *ca_kb;
};

// rows of x [B, C, T] -> xt [B*T, C]
__global__ void bct_to_rows_kernel(float *xt, const float *x, int B, int C, int T)
{
	size_t n = (size_t)B * C * T;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		size_t c = i % C, bt = i / C, b = bt / T, t = bt % T;
		xt[i] = x[(b * C + c) * T + t];
	}
}

// out [B, C, T] = (p + o) rows [B*T, C] transposed
__global__ void rows_sum_to_bct_kernel(float *out, const float *p, const float *o, int B, int C, int T)
{
	size_t n = (size_t)B * C * T;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		size_t t = i % T, bc = i / T, b = bc / C, c = bc % C;
		size_t r = (b * T + t) * C + c;
		out[i] = p[r] + o[r];
	}
}

// h row 0 of every item = te (+ ge)
__global__ void global_token_kernel(float *h, const float *te, const float *ge, int B, int T1, int D)
{
	size_t n = (size_t)B * D;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		size_t b = i / D, d = i % D;
		h[b * T1 * D + d] = ge ? ge[i] + te[i] : te[i];
	}
}

// xt [B*T, C] = po [B*T1, C] without row 0 of every item
__global__ void drop_token_kernel(float *xt, const float *po, int B, int T, int C)
{
	size_t n = (size_t)B * T * C;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		size_t c = i % C, bt = i / C, b = bt / T, t = bt % T;
		xt[i] = po[(b * (T + 1) + t + 1) * C + c];
	}
}

template <class T> __global__ void cast_kernel(T *y, const float *x, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		y[i] = from_f<T>(x[i]);
}

// LayerNorm of fp32 rows into T rows; one block per row, two passes
template <class T>
__global__ void layernorm_kernel(T *y, const float *x, const float *gamma, const float *beta, int D, float eps)
{
	__shared__ float part[32];
	const float *xr = x + (size_t)blockIdx.x * D;
	T *yr = y + (size_t)blockIdx.x * D;
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
	float s = 0;
	for (int i = threadIdx.x; i < D; i += blockDim.x)
		s += xr[i];
	s = presto_k::warp_sum(s);
	if (lane == 0)
		part[warp] = s;
	__syncthreads();
	s = presto_k::warp_sum(lane < nw ? part[lane] : 0.0f);
	float mean = s / D, q = 0;
	__syncthreads();
	for (int i = threadIdx.x; i < D; i += blockDim.x) {
		float d = xr[i] - mean;
		q += d * d;
	}
	q = presto_k::warp_sum(q);
	if (lane == 0)
		part[warp] = q;
	__syncthreads();
	q = presto_k::warp_sum(lane < nw ? part[lane] : 0.0f);
	float rstd = rsqrtf(q / D + eps);
	for (int i = threadIdx.x; i < D; i += blockDim.x) {
		float v = (xr[i] - mean) * rstd * (gamma ? gamma[i] : 1.0f);
		yr[i] = from_f<T>(beta ? v + beta[i] : v);
	}
}

// y = a silu(g) of xg = [a | g] (+ the feed-forward's input bias b [2F], or
// NULL): the projection's bias added here rather than by a pass of its own
template <class T> __global__ void swiglu_kernel(T *y, const T *xg, const float *b, int N, int F)
{
	size_t n = (size_t)N * F;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		size_t r = i / F, f = i % F;
		float a = to_f(xg[r * 2 * F + f]), g = to_f(xg[r * 2 * F + F + f]);
		if (b) {
			a += b[f];
			g += b[F + f];
		}
		y[i] = from_f<T>(a * (g / (1.0f + expf(-g))));
	}
}

}  // namespace

struct presto_cuda_dit {
	presto_dit_config c;
	presto_cuda_dtype wt;
	presto_k::dev_memory mem;
	float *ts_freq, *ts_w0, *ts_b0, *ts_w2, *ts_b2, *cond_w0, *cond_w2, *glob_w0, *glob_w2;
	float *pre_conv, *post_conv, *proj_in, *proj_out, *inv_freq;
	std::vector<gblock> blocks;
	// activations, for the shape (B, T, S) they were sized for
	int aB = -1, aT = -1, aS = -1;
	bool kv_valid = false;  // kv holds every block's context keys and values of the last context
	void *act = nullptr;
	float *h, *xt, *pc, *po, *tf, *te, *ge, *tmp, *ctx32, *kv32;
	void *xn, *big, *mid, *qkv, *ao, *ctx, *kv;
	~presto_cuda_dit() { cudaFree(act); }
};

namespace {

int upload(presto_cuda_dit *g, const float *h, size_t n, presto_cuda_dtype dt, void **out)
{
	if (dt == PRESTO_CUDA_F32 || !h)
		return g->mem.upload(h, n * 4, out);
	std::vector<__nv_bfloat16> t(n);
	for (size_t i = 0; i < n; i++)
		t[i] = __float2bfloat16(h[i]);
	return g->mem.upload(t.data(), n * 2, out);
}

int up32(presto_cuda_dit *g, const float *h, size_t n, float **out)
{
	void *d;
	int rc = upload(g, h, n, PRESTO_CUDA_F32, &d);
	*out = (float *)d;
	return rc;
}

int upw(presto_cuda_dit *g, const float *h, size_t n, void **out) { return upload(g, h, n, g->wt, out); }

int upload_all(presto_cuda_dit *g, const presto_dit *m)
{
	const presto_dit_config *c = &m->c;
	size_t C = c->io_channels, D = c->embed_dim, F = D * c->ff_mult, Ce = c->cond_embed_dim;
	size_t Cc = c->cond_token_dim, G = c->global_cond_dim, TF = c->timestep_features_dim, Dh = c->d_head;
	PRESTO_K_TRY(up32(g, m->ts_freq, TF / 2, &g->ts_freq));
	PRESTO_K_TRY(up32(g, m->ts_w0, D * TF, &g->ts_w0));
	PRESTO_K_TRY(up32(g, m->ts_b0, D, &g->ts_b0));
	PRESTO_K_TRY(up32(g, m->ts_w2, D * D, &g->ts_w2));
	PRESTO_K_TRY(up32(g, m->ts_b2, D, &g->ts_b2));
	PRESTO_K_TRY(up32(g, Cc ? m->cond_w0 : nullptr, Ce * Cc, &g->cond_w0));
	PRESTO_K_TRY(up32(g, Cc ? m->cond_w2 : nullptr, Ce * Ce, &g->cond_w2));
	PRESTO_K_TRY(up32(g, G ? m->glob_w0 : nullptr, D * G, &g->glob_w0));
	PRESTO_K_TRY(up32(g, G ? m->glob_w2 : nullptr, D * D, &g->glob_w2));
	PRESTO_K_TRY(up32(g, m->pre_conv, C * C, &g->pre_conv));
	PRESTO_K_TRY(up32(g, m->post_conv, C * C, &g->post_conv));
	PRESTO_K_TRY(up32(g, m->proj_in, D * C, &g->proj_in));
	PRESTO_K_TRY(up32(g, m->proj_out, C * D, &g->proj_out));
	PRESTO_K_TRY(up32(g, c->rotary_dim ? m->inv_freq : nullptr, (size_t)c->rotary_dim / 2, &g->inv_freq));
	g->blocks.assign(c->depth, gblock());
	for (int i = 0; i < c->depth; i++) {
		const dit_block *b = &m->blocks[i];
		gblock *o = &g->blocks[i];
		PRESTO_K_TRY(up32(g, b->pre_g, D, &o->pre_g));
		PRESTO_K_TRY(up32(g, b->pre_b, D, &o->pre_b));
		PRESTO_K_TRY(upw(g, b->qkv, 3 * D * D, &o->qkv));
		PRESTO_K_TRY(upw(g, b->sa_out, D * D, &o->sa_out));
		if (c->qk_norm == 1) {
			PRESTO_K_TRY(up32(g, b->sa_qn.w, Dh, &o->sa_qw));
			PRESTO_K_TRY(up32(g, b->sa_qn.b, Dh, &o->sa_qb));
			PRESTO_K_TRY(up32(g, b->sa_kn.w, Dh, &o->sa_kw));
			PRESTO_K_TRY(up32(g, b->sa_kn.b, Dh, &o->sa_kb));
		}
		if (Ce) {
			PRESTO_K_TRY(up32(g, b->ca_g, D, &o->ca_g));
			PRESTO_K_TRY(up32(g, b->ca_b, D, &o->ca_b));
			PRESTO_K_TRY(upw(g, b->ca_q, D * D, &o->ca_q));
			PRESTO_K_TRY(upw(g, b->ca_kv, 2 * Ce * Ce, &o->ca_kv));
			PRESTO_K_TRY(upw(g, b->ca_out, D * D, &o->ca_out));
			if (c->qk_norm == 1) {
				PRESTO_K_TRY(up32(g, b->ca_qn.w, Dh, &o->ca_qw));
				PRESTO_K_TRY(up32(g, b->ca_qn.b, Dh, &o->ca_qb));
				PRESTO_K_TRY(up32(g, b->ca_kn.w, Dh, &o->ca_kw));
				PRESTO_K_TRY(up32(g, b->ca_kn.b, Dh, &o->ca_kb));
			}
		}
		PRESTO_K_TRY(up32(g, b->ff_g, D, &o->ff_g));
		PRESTO_K_TRY(up32(g, b->ff_b, D, &o->ff_b));
		PRESTO_K_TRY(upw(g, b->ff_in, 2 * F * D, &o->ff_in));
		PRESTO_K_TRY(up32(g, c->ff_no_bias ? nullptr : b->ff_in_b, 2 * F, &o->ff_in_b));
		PRESTO_K_TRY(upw(g, b->ff_out, D * F, &o->ff_out));
		PRESTO_K_TRY(up32(g, c->ff_no_bias ? nullptr : b->ff_out_b, D, &o->ff_out_b));
	}
	return 0;
}

// size (or re-size) the activations for (B, T, S)
int activations(presto_cuda_dit *g, int B, int T, int S)
{
	if (g->act && g->aB >= B && g->aT == T && g->aS >= S)
		return 0;
	const presto_dit_config *c = &g->c;
	size_t N = (size_t)B * (T + 1), NT = (size_t)B * T, NS = (size_t)B * S;
	size_t D = c->embed_dim, F = D * c->ff_mult, C = c->io_channels, Ce = c->cond_embed_dim;
	size_t TF = c->timestep_features_dim, es = g->wt == PRESTO_CUDA_BF16 ? 2 : 4;
	size_t wbig = 3 * D > 2 * F ? 3 * D : 2 * F;
	// fp32 parts, then activation-typed parts, each 256-byte aligned
	size_t f32[] = {N * D, NT * C, NT * C, N * C, B * TF, B * D, B * D, B * D, NS * Ce, NS * Ce};
	float **fp[] = {&g->h, &g->xt, &g->pc, &g->po, &g->tf, &g->te, &g->ge, &g->tmp, &g->ctx32, &g->kv32};
	size_t depth = (size_t)c->depth;
	size_t ty[] = {N * D, N * wbig, N * (D > F ? D : F), N * 3 * D, N * D, NS * Ce, depth * NS * 2 * Ce};
	void **tp[] = {&g->xn, &g->big, &g->mid, &g->qkv, &g->ao, &g->ctx, &g->kv};
	size_t total = 0;
	for (size_t i = 0; i < sizeof f32 / sizeof f32[0]; i++)
		total += (f32[i] * 4 + 255) & ~(size_t)255;
	for (size_t i = 0; i < sizeof ty / sizeof ty[0]; i++)
		total += (ty[i] * es + 255) & ~(size_t)255;
	if (g->act)
		cudaFree(g->act);
	g->act = nullptr;
	g->aB = g->aT = g->aS = -1;
	g->kv_valid = false;
	cudaError_t e = cudaMalloc(&g->act, total);
	if (e != cudaSuccess) {
		cudaGetLastError();  // not sticky: the caller may retry smaller
		return (int)e;
	}
	char *p = (char *)g->act;
	for (size_t i = 0; i < sizeof f32 / sizeof f32[0]; i++) {
		*fp[i] = (float *)p;
		p += (f32[i] * 4 + 255) & ~(size_t)255;
	}
	for (size_t i = 0; i < sizeof ty / sizeof ty[0]; i++) {
		*tp[i] = p;
		p += (ty[i] * es + 255) & ~(size_t)255;
	}
	g->aB = B, g->aT = T, g->aS = S;
	return 0;
}

// fp32 GEMM (the small matrices; TF32 when the model runs in bf16)
int lin32(presto_cuda_dit *g, float *y, const float *x, const float *w, const float *b, int N, int In, int O,
	  float beta, void *s)
{
	return presto_cuda_gemm(y, PRESTO_CUDA_F32, x, PRESTO_CUDA_F32, w, PRESTO_CUDA_F32, b, N, In, O, beta,
				g->wt == PRESTO_CUDA_BF16, s);
}

// block GEMM: x activations and w weights of the model's type, y of type yt
int linw(presto_cuda_dit *g, void *y, presto_cuda_dtype yt, const void *x, const void *w, const float *b, int N,
	 int In, int O, float beta, void *s)
{
	return presto_cuda_gemm(y, yt, x, g->wt, w, g->wt, b, N, In, O, beta, 0, s);
}

template <class T> int layernorm(T *y, const float *x, const float *gm, const float *bt, int N, int D, float eps, void *s)
{
	PRESTO_LAUNCH(N, presto_k::row_threads(D), 0, s, layernorm_kernel<T>)(y, x, gm, bt, D, eps);
	return presto_k::last_error();
}

int ln(presto_cuda_dit *g, void *y, const float *x, const float *gm, const float *bt, int N, void *s)
{
	int D = g->c.embed_dim;
	float eps = g->c.norm_eps;
	return g->wt == PRESTO_CUDA_BF16 ? layernorm((__nv_bfloat16 *)y, x, gm, bt, N, D, eps, s)
					 : layernorm((float *)y, x, gm, bt, N, D, eps, s);
}

int attention(presto_cuda_dit *g, void *o, const void *q, const void *k, const void *v, int B, int Tq, int Tk, int H,
	      int KVH, int qs, int ks, int vs, void *s)
{
	int Dh = g->c.d_head;
	float scale = (float)(1.0 / sqrt((double)Dh));
	if (g->wt == PRESTO_CUDA_BF16)
		return presto_cuda_attention_forward_bf16(o, q, k, v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs, scale, nullptr,
							  nullptr, s);
	return presto_cuda_attention_forward((float *)o, (const float *)q, (const float *)k, (const float *)v, B, Tq,
					     Tk, H, KVH, Dh, qs, ks, vs, scale, nullptr, nullptr, s);
}

int cast(presto_cuda_dit *g, void *y, const float *x, size_t n, void *s)
{
	if (g->wt == PRESTO_CUDA_F32)
		return (int)cudaMemcpyAsync(y, x, n * 4, cudaMemcpyDeviceToDevice, (cudaStream_t)s);
	PRESTO_LAUNCH(grid_for(n), kThreads, 0, s, cast_kernel<__nv_bfloat16>)((__nv_bfloat16 *)y, x, n);
	return presto_k::last_error();
}

int swiglu(presto_cuda_dit *g, void *y, const void *xg, const float *b, int N, int F, void *s)
{
	unsigned gr = grid_for((size_t)N * F);
	if (g->wt == PRESTO_CUDA_BF16)
		PRESTO_LAUNCH(gr, kThreads, 0, s, swiglu_kernel<__nv_bfloat16>)((__nv_bfloat16 *)y,
									     (const __nv_bfloat16 *)xg, b, N, F);
	else
		PRESTO_LAUNCH(gr, kThreads, 0, s, swiglu_kernel<float>)((float *)y, (const float *)xg, b, N, F);
	return presto_k::last_error();
}

// element offset in bytes for the model's activation type
void *at(presto_cuda_dit *g, void *p, size_t n) { return (char *)p + n * (g->wt == PRESTO_CUDA_BF16 ? 2 : 4); }

}  // namespace

extern "C" int presto_cuda_dit_new(const presto_dit *m, presto_cuda_dtype wt, presto_cuda_dit **out)
{
	return presto_k::make(out, [&](presto_cuda_dit *g) {
		g->c = m->c;
		g->wt = wt;
		return upload_all(g, m);
	});
}

extern "C" void presto_cuda_dit_free(presto_cuda_dit *g) { delete g; }

extern "C" int presto_cuda_dit_forward(presto_cuda_dit *g, float *out, const float *x, const float *t,
				       const float *cross, int S, const float *global, int B, int T,
				       const unsigned char *block_mask, int reuse_context, void *s)
{
	const presto_dit_config *c = &g->c;
	int C = c->io_channels, D = c->embed_dim, TF = c->timestep_features_dim, Ce = c->cond_embed_dim;
	int G = c->global_cond_dim, H = c->num_heads, Dh = c->d_head, F = D * c->ff_mult, KVH = c->kv_heads_cross;
	if (B <= 0 || T <= 0 || S < 0)
		return (int)cudaErrorInvalidValue;
	if (!cross || !Ce)
		S = 0;
	if (!G)
		global = nullptr;
	int T1 = T + 1, N = B * T1, NT = B * T;
	PRESTO_K_TRY(activations(g, B, T, S));
	size_t n_bct = (size_t)B * C * T;

	// preprocess_conv (1x1, residual) on token rows
	PRESTO_LAUNCH(grid_for(n_bct), kThreads, 0, s, bct_to_rows_kernel)(g->xt, x, B, C, T);
	PRESTO_K_TRY(presto_k::last_error());
	PRESTO_K_TRY(lin32(g, g->pc, g->xt, g->pre_conv, nullptr, NT, C, C, 0.0f, s));
	PRESTO_K_TRY(presto_cuda_add_inplace(g->xt, g->pc, (size_t)NT * C, s));

	// timestep (and global) embedding -> row 0 of every item
	PRESTO_K_TRY(presto_cuda_fourier_features_forward(g->tf, t, g->ts_freq, B, TF / 2, s));
	PRESTO_K_TRY(lin32(g, g->tmp, g->tf, g->ts_w0, g->ts_b0, B, TF, D, 0.0f, s));
	PRESTO_K_TRY(presto_cuda_silu_forward(g->tmp, g->tmp, (size_t)B * D, s));
	PRESTO_K_TRY(lin32(g, g->te, g->tmp, g->ts_w2, g->ts_b2, B, D, D, 0.0f, s));
	if (global) {
		PRESTO_K_TRY(lin32(g, g->tmp, global, g->glob_w0, nullptr, B, G, D, 0.0f, s));
		PRESTO_K_TRY(presto_cuda_silu_forward(g->tmp, g->tmp, (size_t)B * D, s));
		PRESTO_K_TRY(lin32(g, g->ge, g->tmp, g->glob_w2, nullptr, B, D, D, 0.0f, s));
	}
	PRESTO_LAUNCH(grid_for((size_t)B * D), kThreads, 0, s, global_token_kernel)(g->h, g->te, global ? g->ge : nullptr,
										   B, T1, D);
	PRESTO_K_TRY(presto_k::last_error());
	for (int b = 0; b < B; b++)
		PRESTO_K_TRY(lin32(g, g->h + ((size_t)b * T1 + 1) * D, g->xt + (size_t)b * T * C, g->proj_in, nullptr, T, C, D,
			  0.0f, s));

	// context tokens, then every block's context keys and values (after
	// their qk-norm) into its slot of kv; kept for the forwards that reuse
	// this context
	int NS = B * S;
	size_t kv_slot = (size_t)NS * 2 * Ce;
	if (S && !(reuse_context && g->kv_valid)) {
		PRESTO_K_TRY(lin32(g, g->kv32, cross, g->cond_w0, nullptr, NS, c->cond_token_dim, Ce, 0.0f, s));
		PRESTO_K_TRY(presto_cuda_silu_forward(g->kv32, g->kv32, (size_t)NS * Ce, s));
		PRESTO_K_TRY(lin32(g, g->ctx32, g->kv32, g->cond_w2, nullptr, NS, Ce, Ce, 0.0f, s));
		PRESTO_K_TRY(cast(g, g->ctx, g->ctx32, (size_t)NS * Ce, s));
		g->kv_valid = false;
		for (int i = 0; i < c->depth; i++) {
			const gblock *bl = &g->blocks[i];
			void *kv = at(g, g->kv, i * kv_slot);
			PRESTO_K_TRY(linw(g, kv, g->wt, g->ctx, bl->ca_kv, nullptr, NS, Ce, 2 * Ce, 0.0f, s));
			if (c->qk_norm)
				PRESTO_K_TRY(presto_cuda_qk_norm(kv, g->wt, NS, 2 * Ce, KVH, Dh, c->qk_norm, bl->ca_kw, bl->ca_kb,
								 s));
		}
		g->kv_valid = true;
	}

	for (int i = 0; i < c->depth; i++) {
		if (block_mask && !block_mask[i])
			continue;
		const gblock *bl = &g->blocks[i];
		// self-attention
		PRESTO_K_TRY(ln(g, g->xn, g->h, bl->pre_g, bl->pre_b, N, s));
		PRESTO_K_TRY(linw(g, g->qkv, g->wt, g->xn, bl->qkv, nullptr, N, D, 3 * D, 0.0f, s));
		if (c->qk_norm) {
			PRESTO_K_TRY(presto_cuda_qk_norm(g->qkv, g->wt, N, 3 * D, H, Dh, c->qk_norm, bl->sa_qw, bl->sa_qb, s));
			PRESTO_K_TRY(presto_cuda_qk_norm(at(g, g->qkv, D), g->wt, N, 3 * D, H, Dh, c->qk_norm, bl->sa_kw,
						bl->sa_kb, s));
		}
		if (c->rotary_dim)
			for (int b = 0; b < B; b++) {
				void *base = at(g, g->qkv, (size_t)b * T1 * 3 * D);
				PRESTO_K_TRY(presto_cuda_rope_forward(base, g->wt, T1, H, Dh, 3 * D, c->rotary_dim, g->inv_freq, 0,
							     s));
				PRESTO_K_TRY(presto_cuda_rope_forward(at(g, base, D), g->wt, T1, H, Dh, 3 * D, c->rotary_dim,
							     g->inv_freq, 0, s));
			}
		PRESTO_K_TRY(attention(g, g->ao, g->qkv, at(g, g->qkv, D), at(g, g->qkv, 2 * D), B, T1, T1, H, H, 3 * D, 3 * D,
			      3 * D, s));
		PRESTO_K_TRY(linw(g, g->h, PRESTO_CUDA_F32, g->ao, bl->sa_out, nullptr, N, D, D, 1.0f, s));
		// cross-attention
		if (S) {
			PRESTO_K_TRY(ln(g, g->xn, g->h, bl->ca_g, bl->ca_b, N, s));
			PRESTO_K_TRY(linw(g, g->qkv, g->wt, g->xn, bl->ca_q, nullptr, N, D, D, 0.0f, s));
			if (c->qk_norm)
				PRESTO_K_TRY(presto_cuda_qk_norm(g->qkv, g->wt, N, D, H, Dh, c->qk_norm, bl->ca_qw, bl->ca_qb, s));
			void *kv = at(g, g->kv, i * kv_slot);
			PRESTO_K_TRY(attention(g, g->ao, g->qkv, kv, at(g, kv, Ce), B, T1, S, H, KVH, D, 2 * Ce, 2 * Ce, s));
			PRESTO_K_TRY(linw(g, g->h, PRESTO_CUDA_F32, g->ao, bl->ca_out, nullptr, N, D, D, 1.0f, s));
		}
		// feed-forward
		PRESTO_K_TRY(ln(g, g->xn, g->h, bl->ff_g, bl->ff_b, N, s));
		PRESTO_K_TRY(linw(g, g->big, g->wt, g->xn, bl->ff_in, nullptr, N, D, 2 * F, 0.0f, s));
		PRESTO_K_TRY(swiglu(g, g->mid, g->big, bl->ff_in_b, N, F, s));
		PRESTO_K_TRY(linw(g, g->h, PRESTO_CUDA_F32, g->mid, bl->ff_out, bl->ff_out_b, N, F, D, 1.0f, s));
	}

	// project_out, drop the global token, postprocess_conv (residual)
	PRESTO_K_TRY(lin32(g, g->po, g->h, g->proj_out, nullptr, N, D, C, 0.0f, s));
	PRESTO_LAUNCH(grid_for((size_t)NT * C), kThreads, 0, s, drop_token_kernel)(g->xt, g->po, B, T, C);
	PRESTO_K_TRY(presto_k::last_error());
	PRESTO_K_TRY(lin32(g, g->pc, g->xt, g->post_conv, nullptr, NT, C, C, 0.0f, s));
	PRESTO_LAUNCH(grid_for(n_bct), kThreads, 0, s, rows_sum_to_bct_kernel)(out, g->pc, g->xt, B, C, T);
	return presto_k::last_error();
}

// backend.cu - the table of lib/cuda_backend.h: what libpresto-cuda.so
// offers the tools. The models' forwards on host buffers, and the DiT's
// sampling loop on device vectors (dit_begin, dit_forward_dev and the vector
// operations). Classifier-free guidance as lib/dit.c does it: one forward on
// the doubled batch, then uncond + (cond - uncond) * scale in fp32 (on the
// host for host buffers, by the same float arithmetic on the device).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <new>
#include <utility>
#include <vector>

#include "cuda_backend.h"
#include "dit_internal.h"
#include "kernels.h"
#include "launch.h"
#include "oobleck_internal.h"
#include "sampler_step.h"
#include "t5_internal.h"

namespace {

// A DiT forward replayed as a CUDA graph: one per shape and block mask,
// captured on the second forward of that key (the first sizes the
// activations and lets cuBLAS choose its kernels outside any capture).
struct graph_key {
	int B = -1, T = -1, S = -1, has_global = 0, has_mask = 0, reuse = 0;
	unsigned char mask[256] = {0};  // the block mask (depth <= 256)
	bool operator==(const graph_key &o) const
	{
		return B == o.B && T == o.T && S == o.S && has_global == o.has_global && has_mask == o.has_mask &&
		       reuse == o.reuse && !memcmp(mask, o.mask, sizeof mask);
	}
};

struct graph_entry {
	graph_key key;
	int seen = 0;
	cudaGraphExec_t exec = nullptr;
};
constexpr int kGraphs = 16;

// The runner's input and output buffers for a forward of B items of T
// frames with S context tokens: [x; x] [out; out] [t; t] [cross; neg]
// [global; global] (one half without guidance). Their layout is fixed per
// shape: a graph reads them where they were.
struct io {
	bool cfg = false;
	int B = 0, B2 = 0, T = 0, S = 0;
	size_t k = 1, nx = 0, nc = 0, ng = 0;
	float *x2 = nullptr, *o2 = nullptr, *t2 = nullptr, *c2 = nullptr, *g2 = nullptr;
};

struct runner {
	presto_dit_config c;
	presto_cuda_dit *g = nullptr;
	void *buf = nullptr;
	size_t cap = 0;
	std::vector<float> host;
	cudaStream_t stream = nullptr;
	bool graphs = true;
	size_t layout[5] = {0, 0, 0, 0, 0};
	graph_entry ge[kGraphs];
	int next_ge = 0;
	io cur;               // dit_begin's shape and conditioning
	float scale = 1;
	bool begun = false;
	bool fresh = false;   // no forward since dit_begin
	// the sampling loop's released vectors (floats, pointer), kept for the
	// next records: no cudaMalloc or cudaFree (which waits for the device)
	// per record; reuse is ordered on the stream like all the loop's work
	std::vector<std::pair<size_t, float *>> pool;
	std::vector<std::pair<size_t, float *>> live;  // handed out: floats, pointer
};

void drop_graphs(runner *r)
{
	for (graph_entry &e : r->ge) {
		if (e.exec)
			cudaGraphExecDestroy(e.exec);
		e = graph_entry();
	}
}

graph_key make_key(int B, int T, int S, int has_global, const unsigned char *mask, int depth, int reuse)
{
	graph_key k;
	k.B = B, k.T = T, k.S = S, k.has_global = has_global, k.has_mask = mask != nullptr, k.reuse = reuse;
	for (int i = 0; mask && i < depth && i < 256; i++)
		k.mask[i] = mask[i] ? 1 : 0;
	return k;
}

// the forward on r's buffers: replayed, captured then replayed, or run;
// reuse: the context is the last forward's (its keys and values are kept)
int forward(runner *r, float *o2, float *x2, float *t2, float *c2, float *g2, int S, int B2, int T,
	    const unsigned char *mask, int reuse)
{
	cudaStream_t s = r->stream;
	if (!r->graphs || (mask && r->c.depth > 256))  // (a key holds 256 blocks' mask)
		return presto_cuda_dit_forward(r->g, o2, x2, t2, c2, S, g2, B2, T, mask, reuse, s);
	graph_key key = make_key(B2, T, S, g2 != nullptr, mask, r->c.depth, reuse);
	graph_entry *e = nullptr;
	for (graph_entry &c : r->ge)
		if (c.seen && c.key == key)
			e = &c;
	if (e && e->exec)
		return (int)cudaGraphLaunch(e->exec, s);
	if (!e) {  // first forward of this key: run it, remember the key
		e = &r->ge[r->next_ge];
		r->next_ge = (r->next_ge + 1) % kGraphs;
		if (e->exec)
			cudaGraphExecDestroy(e->exec);
		*e = graph_entry();
		e->key = key;
		e->seen = 1;
		return presto_cuda_dit_forward(r->g, o2, x2, t2, c2, S, g2, B2, T, mask, reuse, s);
	}
	cudaGraph_t graph = nullptr;
	cudaError_t ce = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
	int rc = ce == cudaSuccess ? presto_cuda_dit_forward(r->g, o2, x2, t2, c2, S, g2, B2, T, mask, reuse, s)
				     : (int)ce;
	if (ce == cudaSuccess) {
		cudaError_t ee = cudaStreamEndCapture(s, &graph);
		if (!rc)
			rc = (int)ee;
	}
	if (!rc)
		rc = (int)cudaGraphInstantiate(&e->exec, graph, 0);
	if (graph)
		cudaGraphDestroy(graph);
	if (rc) {  // no graph for this process: run forwards directly from now on
		cudaGetLastError();
		e->exec = nullptr;
		r->graphs = false;
		return presto_cuda_dit_forward(r->g, o2, x2, t2, c2, S, g2, B2, T, mask, reuse, s);
	}
	return (int)cudaGraphLaunch(e->exec, s);
}

size_t mem_peak;

void note_memory()
{
	size_t fr = 0, tot = 0;
	if (cudaMemGetInfo(&fr, &tot) == cudaSuccess && tot - fr > mem_peak)
		mem_peak = tot - fr;
}

// *buf holds at least need 4-byte elements: grown when it holds fewer
// (its contents dropped); 0 or the CUDA error (then *buf is NULL)
int grow(void **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	cudaFree(*buf);
	*buf = nullptr;
	*cap = 0;
	cudaError_t e = cudaMalloc(buf, 4 * need);
	if (e != cudaSuccess) {
		cudaGetLastError();
		*buf = nullptr;
		return (int)e;
	}
	*cap = need;
	note_memory();
	return 0;
}

int b_init(int index, char *msg, size_t len)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e == cudaSuccess && (index < 0 || index >= n))
		e = cudaErrorInvalidDevice;
	if (e == cudaSuccess)
		e = cudaSetDevice(index);
	if (e == cudaSuccess)
		e = cudaFree(nullptr);  // create the context now
	cudaDeviceProp p;
	if (e == cudaSuccess)
		e = cudaGetDeviceProperties(&p, index);
	if (e != cudaSuccess) {
		snprintf(msg, len, "CUDA device %d: %s", index, cudaGetErrorString(e));
		cudaGetLastError();
		return (int)e;
	}
	snprintf(msg, len, "cuda:%d %s, %.1f GiB, sm_%d%d", index, p.name, p.totalGlobalMem / 1073741824.0, p.major,
		 p.minor);
	note_memory();
	return 0;
}

int b_has_bf16()
{
	int d = 0;
	cudaDeviceProp p;
	return cudaGetDevice(&d) == cudaSuccess && cudaGetDeviceProperties(&p, d) == cudaSuccess && p.major >= 8;
}

const char *b_error_string(int rc) { return cudaGetErrorString((cudaError_t)rc); }

int b_is_oom(int rc) { return rc == (int)cudaErrorMemoryAllocation; }

int b_dit_new(const presto_dit *m, int bf16, void **out)
{
	*out = nullptr;
	runner *r = new (std::nothrow) runner();
	if (!r)
		return (int)cudaErrorMemoryAllocation;
	r->c = m->c;
	const char *env = getenv("PRESTO_CUDA_GRAPHS");
	r->graphs = !(env && !strcmp(env, "0"));
	if (cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking) != cudaSuccess) {
		cudaGetLastError();
		delete r;
		return (int)cudaErrorInitializationError;
	}
	int rc = presto_cuda_dit_new(m, bf16 ? PRESTO_CUDA_BF16 : PRESTO_CUDA_F32, &r->g);
	note_memory();
	if (rc) {
		cudaStreamDestroy(r->stream);
		delete r;
		return rc;
	}
	*out = r;
	return 0;
}

void b_dit_free(void *p)
{
	runner *r = (runner *)p;
	if (!r)
		return;
	cudaStreamSynchronize(r->stream);
	drop_graphs(r);
	for (auto &b : r->pool)
		cudaFree(b.second);
	for (auto &b : r->live)
		cudaFree(b.second);
	presto_cuda_dit_free(r->g);
	cudaFree(r->buf);
	cudaStreamDestroy(r->stream);
	delete r;
}

int prepare(runner *r, const float *cross, int S, const float *global, int B, int T, float scale, io *b)
{
	const presto_dit_config *c = &r->c;
	if (B <= 0 || T <= 0 || S < 0 || B > (1 << 20))
		return (int)cudaErrorInvalidValue;
	if (!cross || !c->cond_embed_dim)
		S = 0;
	b->cfg = scale != 1.0f && S > 0;
	b->B = B, b->T = T, b->S = S, b->B2 = b->cfg ? 2 * B : B;
	b->k = b->cfg ? 2 : 1;
	b->nx = (size_t)B * c->io_channels * T, b->nc = (size_t)B * S * c->cond_token_dim;
	b->ng = global && c->global_cond_dim ? (size_t)B * c->global_cond_dim : 0;
	size_t k = b->k, need = k * (2 * b->nx + B + b->nc + b->ng);
	size_t layout[5] = {k, b->nx, (size_t)B, b->nc, b->ng};
	if (need > r->cap || memcmp(layout, r->layout, sizeof layout)) {
		cudaStreamSynchronize(r->stream);
		drop_graphs(r);
		memcpy(r->layout, layout, sizeof layout);
	}
	PRESTO_K_TRY(grow(&r->buf, &r->cap, need));
	b->x2 = (float *)r->buf, b->o2 = b->x2 + k * b->nx, b->t2 = b->o2 + k * b->nx, b->c2 = b->t2 + k * B;
	b->g2 = b->c2 + k * b->nc;
	return 0;
}

// the conditioning halves from host arrays (neg NULL: zeros)
int put_cond(runner *r, const io &b, const float *cross, const float *neg, const float *global)
{
	cudaStream_t st = r->stream;
	cudaError_t e = cudaSuccess;
	for (size_t h = 0; h < b.k && e == cudaSuccess; h++) {
		if (b.ng)
			e = cudaMemcpyAsync(b.g2 + h * b.ng, global, sizeof(float) * b.ng, cudaMemcpyHostToDevice, st);
		if (e == cudaSuccess && b.nc) {
			const float *src = h ? neg : cross;
			e = src ? cudaMemcpyAsync(b.c2 + h * b.nc, src, sizeof(float) * b.nc, cudaMemcpyHostToDevice, st)
				: cudaMemsetAsync(b.c2 + h * b.nc, 0, sizeof(float) * b.nc, st);
		}
	}
	return (int)e;
}

int run_forward(runner *r, const io &b, const unsigned char *mask, int reuse)
{
	int rc = forward(r, b.o2, b.x2, b.t2, b.S ? b.c2 : nullptr, b.ng ? b.g2 : nullptr, b.S, b.B2, b.T, mask, reuse);
	note_memory();
	return rc;
}

int b_forward_cfg(void *p, float *out, const float *x, const float *t, const float *cross, const float *neg, int S,
		  const float *global, int B, int T, float scale, float *cond_out, float *uncond_out,
		  const unsigned char *block_mask)
{
	runner *r = (runner *)p;
	r->begun = false;  // the conditioning buffers are overwritten
	io b;
	PRESTO_K_TRY(prepare(r, cross, S, global, B, T, scale, &b));
	cudaStream_t st = r->stream;
	size_t nx = b.nx;
	// copies on the runner's stream: ordered with the forward
	cudaError_t e = cudaSuccess;
	for (size_t h = 0; h < b.k && e == cudaSuccess; h++) {
		e = cudaMemcpyAsync(b.x2 + h * nx, x, sizeof(float) * nx, cudaMemcpyHostToDevice, st);
		if (e == cudaSuccess)
			e = cudaMemcpyAsync(b.t2 + h * B, t, sizeof(float) * B, cudaMemcpyHostToDevice, st);
	}
	if (e != cudaSuccess)
		return (int)e;
	PRESTO_K_TRY(put_cond(r, b, cross, neg, global));
	PRESTO_K_TRY(run_forward(r, b, block_mask, 0));
	r->host.resize(b.k * nx);
	e = cudaMemcpyAsync(r->host.data(), b.o2, sizeof(float) * b.k * nx, cudaMemcpyDeviceToHost, st);
	if (e == cudaSuccess)
		e = cudaStreamSynchronize(st);
	if (e != cudaSuccess)
		return (int)e;
	const float *co = r->host.data(), *uo = co + nx;
	if (b.cfg) {
		for (size_t i = 0; i < nx; i++)
			out[i] = uo[i] + (co[i] - uo[i]) * scale;
		if (uncond_out)
			memcpy(uncond_out, uo, sizeof(float) * nx);
	} else {
		memcpy(out, co, sizeof(float) * nx);
	}
	if (cond_out)
		memcpy(cond_out, co, sizeof(float) * nx);
	return 0;
}

// ---- the sampling loop on the device (lib/generate.h) ----

constexpr size_t kPool = 12;  // released vectors kept (a record takes 3 or 4)

int b_alloc(void *p, size_t n, float **out)
{
	runner *r = (runner *)p;
	n = n ? n : 1;
	size_t best = r->pool.size();  // the smallest released vector that holds n floats, up to 2n
	for (size_t i = 0; i < r->pool.size(); i++)
		if (r->pool[i].first >= n && r->pool[i].first / 2 <= n &&
		    (best == r->pool.size() || r->pool[i].first < r->pool[best].first))
			best = i;
	if (best < r->pool.size()) {
		*out = r->pool[best].second;
		r->live.push_back(r->pool[best]);
		r->pool.erase(r->pool.begin() + (ptrdiff_t)best);
		return 0;
	}
	*out = nullptr;
	cudaError_t e = cudaMalloc((void **)out, sizeof(float) * n);
	if (e == cudaErrorMemoryAllocation && !r->pool.empty()) {  // give the pool back and try again
		cudaGetLastError();
		cudaStreamSynchronize(r->stream);
		for (auto &b : r->pool)
			cudaFree(b.second);
		r->pool.clear();
		e = cudaMalloc((void **)out, sizeof(float) * n);
	}
	if (e != cudaSuccess) {
		cudaGetLastError();
		*out = nullptr;
	} else {
		r->live.push_back({n, *out});
	}
	note_memory();
	return (int)e;
}

void b_release(void *p, float *v)
{
	runner *r = (runner *)p;
	if (!v)
		return;
	size_t n = 0;
	// the size is not passed: the pool remembers it from the allocation
	for (auto &a : r->live)
		if (a.second == v)
			n = a.first;
	r->live.erase(std::remove_if(r->live.begin(), r->live.end(),
				     [v](const std::pair<size_t, float *> &a) { return a.second == v; }),
		      r->live.end());
	if (!n) {  // not one of ours: free it the slow way
		cudaStreamSynchronize(r->stream);
		cudaFree(v);
		return;
	}
	r->pool.push_back({n, v});
	if (r->pool.size() > kPool) {  // records of many lengths: keep the newest
		cudaStreamSynchronize(r->stream);
		cudaFree(r->pool.front().second);
		r->pool.erase(r->pool.begin());
	}
}

int b_step(void *p, const void *step) { return presto_cuda_step(step, ((runner *)p)->stream); }

int b_get(void *p, float *host, const float *dev, size_t n)
{
	runner *r = (runner *)p;
	cudaError_t e = cudaMemcpyAsync(host, dev, sizeof(float) * n, cudaMemcpyDeviceToHost, r->stream);
	if (e == cudaSuccess)
		e = cudaStreamSynchronize(r->stream);
	return (int)e;
}

int b_put(void *p, float *dev, const float *host, size_t n)
{
	runner *r = (runner *)p;
	return (int)cudaMemcpyAsync(dev, host, sizeof(float) * n, cudaMemcpyHostToDevice, r->stream);
}

int b_wait(void *p) { return (int)cudaStreamSynchronize(((runner *)p)->stream); }

int b_randn(void *p, float *dev, size_t n, uint64_t seed, uint64_t stream, uint64_t offset)
{
	return presto_cuda_randn(dev, n, seed, stream, offset, ((runner *)p)->stream);
}

int b_begin(void *p, const float *cross, const float *neg, int S, const float *global, int B, int T, float scale)
{
	runner *r = (runner *)p;
	r->begun = false;
	io b;
	PRESTO_K_TRY(prepare(r, cross, S, global, B, T, scale, &b));
	PRESTO_K_TRY(put_cond(r, b, cross, neg, global));
	r->cur = b;
	r->scale = scale;
	r->begun = true;
	r->fresh = true;  // the first forward computes the context's keys and values
	return 0;
}

int b_forward_dev(void *p, float *out, const float *x, const float *t, const unsigned char *block_mask)
{
	runner *r = (runner *)p;
	if (!r->begun)
		return (int)cudaErrorInvalidValue;
	const io &b = r->cur;
	cudaStream_t st = r->stream;
	for (size_t h = 0; h < b.k; h++)
		PRESTO_K_TRY((int)cudaMemcpyAsync(b.x2 + h * b.nx, x, sizeof(float) * b.nx, cudaMemcpyDeviceToDevice, st));
	// the noise levels by kernel arguments: nothing waits on the host
	for (int i = 0; i < b.B;) {
		int n = 1;
		while (i + n < b.B && t[i + n] == t[i])
			n++;
		for (size_t h = 0; h < b.k; h++) {
			presto_step s = {};
			s.op = PRESTO_STEP_FILL, s.n = (size_t)n, s.out = b.t2 + h * b.B + i, s.k[0] = t[i];
			PRESTO_K_TRY(presto_cuda_step(&s, st));
		}
		i += n;
	}
	PRESTO_K_TRY(run_forward(r, b, block_mask, r->fresh ? 0 : 1));
	r->fresh = false;
	presto_step s = {};
	s.n = b.nx, s.out = out, s.a = b.o2;
	if (b.cfg) {  // out = uncond + (cond - uncond) * scale, as on the host
		s.op = PRESTO_STEP_CFG, s.b = b.o2 + b.nx, s.k[0] = r->scale;
	} else {
		s.op = PRESTO_STEP_AXPBY, s.k[0] = 1;
	}
	return presto_cuda_step(&s, st);
}

struct vae_runner {
	presto_cuda_vae *g = nullptr;
	int C = 0, L = 0;
	presto_oobleck_config c;
	void *buf = nullptr;
	size_t cap = 0;
};

int b_vae_new(const presto_vae *m, int bf16, void **out)
{
	*out = nullptr;
	vae_runner *r = new (std::nothrow) vae_runner();
	if (!r)
		return (int)cudaErrorMemoryAllocation;
	r->c = m->c;
	int rc = presto_cuda_vae_new(m, bf16 ? PRESTO_CUDA_BF16 : PRESTO_CUDA_F32, &r->g);
	note_memory();
	if (rc) {
		delete r;
		return rc;
	}
	*out = r;
	return 0;
}

void b_vae_free(void *p)
{
	vae_runner *r = (vae_runner *)p;
	if (!r)
		return;
	presto_cuda_vae_free(r->g);
	cudaFree(r->buf);
	delete r;
}

int b_vae_decode(void *p, float *audio, const float *z, int Lz)
{
	vae_runner *r = (vae_runner *)p;
	int N = presto_cuda_vae_audio_len(r->g, Lz);
	if (Lz < 1 || N < 1)
		return (int)cudaErrorInvalidValue;
	size_t nz = (size_t)r->c.latent_dim * Lz, na = (size_t)r->c.audio_channels * N;
	PRESTO_K_TRY(grow(&r->buf, &r->cap, nz + na));
	float *dz = (float *)r->buf, *da = dz + nz;
	cudaError_t e = cudaMemcpy(dz, z, sizeof(float) * nz, cudaMemcpyHostToDevice);
	if (e != cudaSuccess)
		return (int)e;
	int rc = presto_cuda_vae_decode(r->g, da, dz, Lz, nullptr);
	note_memory();
	if (rc)
		return rc;
	return (int)cudaMemcpy(audio, da, sizeof(float) * na, cudaMemcpyDeviceToHost);
}

struct t5_runner {
	presto_cuda_t5 *g = nullptr;
	presto_t5_config c;
	void *buf = nullptr;
	size_t cap = 0;
};

int b_t5_new(const presto_t5 *m, int tf32, void **out)
{
	*out = nullptr;
	t5_runner *r = new (std::nothrow) t5_runner();
	if (!r)
		return (int)cudaErrorMemoryAllocation;
	r->c = m->c;
	int rc = presto_cuda_t5_new(m, tf32, &r->g);
	note_memory();
	if (rc) {
		delete r;
		return rc;
	}
	*out = r;
	return 0;
}

void b_t5_free(void *p)
{
	t5_runner *r = (t5_runner *)p;
	if (!r)
		return;
	presto_cuda_t5_free(r->g);
	cudaFree(r->buf);
	delete r;
}

int b_t5_forward(void *p, float *out, const int *ids, const float *mask, const int *buckets, int B, int L)
{
	t5_runner *r = (t5_runner *)p;
	if (B <= 0 || L <= 0)
		return (int)cudaErrorInvalidValue;
	size_t N = (size_t)B * L, NL = (size_t)L * L, no = N * r->c.d_model;
	size_t need = N * 2 + NL + no;  // ids, mask (4 bytes each), buckets, out
	PRESTO_K_TRY(grow(&r->buf, &r->cap, need));
	int32_t *dids = (int32_t *)r->buf, *dbk = dids + N;
	float *dmask = (float *)(dbk + NL), *dout = dmask + N;
	cudaError_t e = cudaMemcpy(dids, ids, N * 4, cudaMemcpyHostToDevice);
	if (e == cudaSuccess)
		e = cudaMemcpy(dbk, buckets, NL * 4, cudaMemcpyHostToDevice);
	if (e == cudaSuccess && mask)
		e = cudaMemcpy(dmask, mask, N * 4, cudaMemcpyHostToDevice);
	if (e != cudaSuccess)
		return (int)e;
	int rc = presto_cuda_t5_forward(r->g, dout, dids, mask ? dmask : nullptr, dbk, B, L, nullptr);
	note_memory();
	if (rc)
		return rc;
	return (int)cudaMemcpy(out, dout, no * 4, cudaMemcpyDeviceToHost);
}

int b_vae_encode(void *p, float *out, const float *audio, int N)
{
	vae_runner *r = (vae_runner *)p;
	int Lz = presto_cuda_vae_latent_len(r->g, N);
	if (Lz < 1)
		return (int)cudaErrorInvalidValue;
	size_t na = (size_t)r->c.audio_channels * N, no = (size_t)r->c.encoder_out_dim * Lz;
	PRESTO_K_TRY(grow(&r->buf, &r->cap, na + no));
	float *da = (float *)r->buf, *dout = da + na;
	cudaError_t e = cudaMemcpy(da, audio, sizeof(float) * na, cudaMemcpyHostToDevice);
	if (e != cudaSuccess)
		return (int)e;
	int rc = presto_cuda_vae_encode(r->g, dout, da, N, nullptr);
	note_memory();
	if (rc)
		return rc;
	return (int)cudaMemcpy(out, dout, sizeof(float) * no, cudaMemcpyDeviceToHost);
}

void b_memory(size_t *used, size_t *peak, size_t *total)
{
	size_t fr = 0, tot = 0;
	cudaMemGetInfo(&fr, &tot);
	*used = tot - fr;
	*total = tot;
	note_memory();
	*peak = mem_peak;
}

const presto_cuda_backend table = {
	PRESTO_CUDA_BACKEND_ABI, sizeof(presto_dit), sizeof(presto_dit_config), b_init, b_has_bf16, b_error_string,
	b_is_oom, b_dit_new, b_dit_free, b_forward_cfg, b_vae_new, b_vae_free, b_vae_decode, b_vae_encode, sizeof(presto_vae),
	b_t5_new, b_t5_free, b_t5_forward, sizeof(presto_t5), b_alloc, b_release, b_step, b_get, b_put, b_wait, b_randn,
	b_begin, b_forward_dev, b_memory,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const presto_cuda_backend *presto_cuda_backend_get(void)
{
	return &table;
}

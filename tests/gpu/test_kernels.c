/* test_kernels.c - every CUDA kernel (the .cu files of kernels/) against its CPU
 * reference (lib/ops) on random inputs of several shapes: the error is
 * max |gpu - cpu| over max |cpu| of the output, and the GPU output must be
 * finite where the CPU's is. Exits 77 (skipped) when no CUDA device can be
 * used; `make test-gpu` runs it (tests/gpu/run.sh). */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit_internal.h"
#include "kernels.h"
#include "ops.h"
#include "rng.h"
#include "sampler.h"

#include "../unit/check.h"
#include "../unit/testrand.h"
#include "gpucheck.h"

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
	size_t bad;
	double rel = norm_error(h, ref, n, &bad);
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

/* ---- bf16 on the host (round to nearest even), for the typed kernels ---- */

static uint16_t bf16_of(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

static float float_of(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* round x[n] to bf16 values in place (the reference then sees the device's inputs) */
static void round_bf16(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = float_of(bf16_of(x[i]));
}

static void *dev_bf16(const float *h, size_t n)
{
	uint16_t *t = malloc(sizeof(uint16_t) * (n ? n : 1));
	for (size_t i = 0; h && i < n; i++)
		t[i] = bf16_of(h[i]);
	void *d = NULL;
	if (cudaMalloc(&d, sizeof(uint16_t) * (n ? n : 1)) == cudaSuccess && h)
		cudaMemcpy(d, t, sizeof(uint16_t) * n, cudaMemcpyHostToDevice);
	free(t);
	return d;
}

/* a device bf16 array as floats on a device fp32 array (for compare) */
static float *widen(const void *d, size_t n)
{
	uint16_t *t = malloc(sizeof(uint16_t) * (n ? n : 1));
	float *f = malloc(sizeof(float) * (n ? n : 1));
	cudaMemcpy(t, d, sizeof(uint16_t) * n, cudaMemcpyDeviceToHost);
	for (size_t i = 0; i < n; i++)
		f[i] = float_of(t[i]);
	float *r = dev(f, n);
	free(t), free(f);
	return r;
}

static void test_linear(int N, int In, int O, int with_bias)
{
	float *x = vec((size_t)N * In, 1.0f), *w = vec((size_t)O * In, 0.2f), *b = vec(O, 1.0f);
	float *y = malloc(sizeof(float) * ((size_t)N * O + 1));
	presto_linear_forward(y, x, w, with_bias ? b : NULL, N, In, O);
	float *dx = dev(x, (size_t)N * In), *dw = dev(w, (size_t)O * In), *db = dev(b, O), *dy = dev(NULL, (size_t)N * O);
	int rc = presto_cuda_linear_forward(dy, dx, dw, with_bias ? db : NULL, N, In, O, NULL);
	char what[96];
	snprintf(what, sizeof what, "linear [%d, %d] -> %d%s", N, In, O, with_bias ? " + bias" : "");
	CHECK(rc == 0, "%s: launch (%d)", what, rc);
	compare(what, dy, y, (size_t)N * O, 1e-5);
	cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dy);
	free(x), free(w), free(b), free(y);
}

/* bf16 inputs: fp32 output accumulating onto y (beta 1, the residual add)
 * plus a bias, and a bf16 output */
static void test_gemm_bf16(int N, int In, int O)
{
	size_t nx = (size_t)N * In, nw = (size_t)O * In, ny = (size_t)N * O;
	float *x = vec(nx, 1.0f), *w = vec(nw, 0.2f), *b = vec(O, 1.0f), *y0 = vec(ny, 1.0f);
	float *y = malloc(sizeof(float) * ny), *p = malloc(sizeof(float) * ny);
	round_bf16(x, nx);
	round_bf16(w, nw);
	presto_linear_forward(p, x, w, NULL, N, In, O);
	for (size_t i = 0; i < ny; i++)
		y[i] = y0[i] + p[i] + b[i % O];
	void *dx = dev_bf16(x, nx), *dw = dev_bf16(w, nw);
	float *db = dev(b, O), *dy = dev(y0, ny);
	int rc = presto_cuda_gemm(dy, PRESTO_CUDA_F32, dx, PRESTO_CUDA_BF16, dw, PRESTO_CUDA_BF16, db, N, In, O, 1.0f, 0,
				  NULL);
	char what[96];
	snprintf(what, sizeof what, "gemm bf16 [%d, %d] -> %d, fp32 y += .. + b", N, In, O);
	CHECK(rc == 0, "%s: launch (%d)", what, rc);
	compare(what, dy, y, ny, 1e-5);
	void *dyb = dev_bf16(NULL, ny);
	rc = presto_cuda_gemm(dyb, PRESTO_CUDA_BF16, dx, PRESTO_CUDA_BF16, dw, PRESTO_CUDA_BF16, NULL, N, In, O, 0.0f, 0,
			      NULL);
	float *wide = widen(dyb, ny);
	snprintf(what, sizeof what, "gemm bf16 [%d, %d] -> %d, bf16 y", N, In, O);
	CHECK(rc == 0, "%s: launch (%d)", what, rc);
	compare(what, wide, p, ny, 8e-3);
	cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dy), cudaFree(dyb), cudaFree(wide);
	free(x), free(w), free(b), free(y0), free(y), free(p);
}

/* q, k, v inside packed rows (strides qs, ks, vs), optional bias and key
 * mask (item 1's keys all masked when mask == 2) */
/* the bf16 tensor-core attention kernel chosen by PRESTO_CUDA_ATTN, for labels */
static const char *attn_variant(void)
{
	const char *e = getenv("PRESTO_CUDA_ATTN");
	return e && !strcmp(e, "mma") ? " (mma.sync)" : "";
}

static void test_attention(int B, int Tq, int Tk, int H, int KVH, int Dh, int with_bias, int mask, int bf16)
{
	int qs = H * Dh + 3, ks = 2 * KVH * Dh + 1, vs = ks;
	size_t nq = (size_t)B * Tq * qs, nk = (size_t)B * Tk * ks, no = (size_t)B * Tq * H * Dh;
	float *q = vec(nq, 1.0f), *kv = vec(nk, 1.0f), *bias = vec((size_t)H * Tq * Tk, 1.0f);
	float *km = vec((size_t)B * Tk, 1.0f), *o = malloc(sizeof(float) * no);
	for (int i = 0; i < B * Tk; i++)
		km[i] = (i % 3 != 1) || (mask == 2 && i / Tk == 1) ? (mask == 2 && i / Tk == 1 ? 0.0f : 1.0f) : 0.0f;
	if (bf16) {
		round_bf16(q, nq);
		round_bf16(kv, nk);
	}
	float scale = 1.0f / sqrtf((float)Dh);
	const float *k = kv, *v = kv + KVH * Dh;
	presto_attention_forward(o, q, k, v, B, Tq, Tk, H, KVH, Dh, qs, ks, vs, scale, with_bias ? bias : NULL,
				 mask ? km : NULL);
	float *dbias = dev(bias, (size_t)H * Tq * Tk), *dkm = dev(km, (size_t)B * Tk);
	char what[128];
	snprintf(what, sizeof what, "attention%s%s B%d Tq%d Tk%d H%d/%d Dh%d%s%s", bf16 ? " bf16" : "", attn_variant(), B, Tq, Tk, H, KVH,
		 Dh, with_bias ? " bias" : "", mask == 2 ? " mask (one item all masked)" : mask ? " mask" : "");
	int rc;
	float *res;
	void *dq, *dkv, *dout;
	if (bf16) {
		dq = dev_bf16(q, nq), dkv = dev_bf16(kv, nk), dout = dev_bf16(NULL, no);
		rc = presto_cuda_attention_forward_bf16(dout, dq, dkv, (uint16_t *)dkv + KVH * Dh, B, Tq, Tk, H, KVH,
							Dh, qs, ks, vs, scale, with_bias ? dbias : NULL,
							mask ? dkm : NULL, NULL);
		res = widen(dout, no);
	} else {
		dq = dev(q, nq), dkv = dev(kv, nk), dout = dev(NULL, no);
		rc = presto_cuda_attention_forward(dout, dq, dkv, (float *)dkv + KVH * Dh, B, Tq, Tk, H, KVH, Dh, qs,
						   ks, vs, scale, with_bias ? dbias : NULL, mask ? dkm : NULL, NULL);
		res = NULL;
	}
	CHECK(rc == 0, "%s: launch (%d)", what, rc);
	compare(what, res ? res : dout, o, no, bf16 ? 8e-3 : 2e-6);
	cudaFree(dq), cudaFree(dkv), cudaFree(dout), cudaFree(dbias), cudaFree(dkm), cudaFree(res);
	free(q), free(kv), free(bias), free(km), free(o);
}

/* packed, aligned rows (the DiT's qkv layout): the tensor-core kernel's
 * 16-byte staging */
static void test_attention_aligned(int B, int Tq, int Tk, int H, int KVH, int Dh)
{
	int qs = H * Dh, ks = 2 * KVH * Dh;
	size_t nq = (size_t)B * Tq * qs, nk = (size_t)B * Tk * ks, no = (size_t)B * Tq * H * Dh;
	float *q = vec(nq, 1.0f), *kv = vec(nk, 1.0f), *o = malloc(sizeof(float) * no);
	round_bf16(q, nq);
	round_bf16(kv, nk);
	float scale = 1.0f / sqrtf((float)Dh);
	presto_attention_forward(o, q, kv, kv + KVH * Dh, B, Tq, Tk, H, KVH, Dh, qs, ks, ks, scale, NULL, NULL);
	void *dq = dev_bf16(q, nq), *dkv = dev_bf16(kv, nk), *dout = dev_bf16(NULL, no);
	int rc = presto_cuda_attention_forward_bf16(dout, dq, dkv, (uint16_t *)dkv + KVH * Dh, B, Tq, Tk, H, KVH, Dh,
						    qs, ks, ks, scale, NULL, NULL, NULL);
	float *res = widen(dout, no);
	char what[128];
	snprintf(what, sizeof what, "attention bf16%s aligned B%d Tq%d Tk%d H%d/%d Dh%d", attn_variant(), B, Tq, Tk, H,
		 KVH, Dh);
	CHECK(rc == 0, "%s: launch (%d)", what, rc);
	compare(what, res, o, no, 8e-3);
	cudaFree(dq), cudaFree(dkv), cudaFree(dout), cudaFree(res);
	free(q), free(kv), free(o);
}

static void test_rope_qknorm(int N, int H, int Dh, int rot, int kind, int bf16)
{
	int stride = 3 * H * Dh;
	size_t n = (size_t)N * stride;
	float *x = vec(n, 2.0f), *w = vec(Dh, 1.0f), *b = vec(Dh, 0.5f), *inv = malloc(sizeof(float) * (rot / 2 + 1));
	for (int j = 0; j < rot / 2; j++)
		inv[j] = powf(10000.0f, -2.0f * j / rot);
	if (bf16)
		round_bf16(x, n);
	float *ref = malloc(sizeof(float) * n);
	memcpy(ref, x, sizeof(float) * n);
	qk_ln ln = {w, b};
	if (kind)
		presto_dit_qk_normalize(ref, N, stride, H, Dh, kind, &ln);
	presto_rope_forward(ref, N, H, Dh, stride, rot, inv, 0);
	float *dw = dev(w, Dh), *db = dev(b, Dh), *dinv = dev(inv, rot / 2 + 1);
	presto_cuda_dtype dt = bf16 ? PRESTO_CUDA_BF16 : PRESTO_CUDA_F32;
	void *dx = bf16 ? dev_bf16(x, n) : (void *)dev(x, n);
	int rc = presto_cuda_qk_norm(dx, dt, N, stride, H, Dh, kind, dw, db, NULL);
	if (!rc)
		rc = presto_cuda_rope_forward(dx, dt, N, H, Dh, stride, rot, dinv, 0, NULL);
	char what[128];
	snprintf(what, sizeof what, "qk-norm %s + rope%s [%d, %d x %d] rot %d", kind == 1 ? "ln" : kind == 2 ? "l2" : "none",
		 bf16 ? " bf16" : "", N, H, Dh, rot);
	CHECK(rc == 0, "%s: launch (%d)", what, rc);
	float *res = bf16 ? widen(dx, n) : NULL;
	compare(what, res ? res : dx, ref, n, bf16 ? 8e-3 : 2e-6);
	cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dinv), cudaFree(res);
	free(x), free(w), free(b), free(inv), free(ref);
}

static void test_small_ops(void)
{
	size_t n = 1001;
	int N = 3, F = 128;
	float *x = vec(n, 3.0f), *y0 = vec(n, 1.0f), *t = vec(N, 1.0f), *w = vec(F, 4.0f);
	float *s = malloc(sizeof(float) * n), *a = malloc(sizeof(float) * n), *ff = malloc(sizeof(float) * 2 * N * F);
	presto_silu_forward(s, x, n);
	memcpy(a, y0, sizeof(float) * n);
	presto_add_inplace(a, x, n);
	presto_fourier_features_forward(ff, t, w, N, F);
	float *dx = dev(x, n), *ds = dev(NULL, n), *da = dev(y0, n), *dt = dev(t, N), *dw = dev(w, F);
	float *dff = dev(NULL, 2 * (size_t)N * F);
	int rc = presto_cuda_silu_forward(ds, dx, n, NULL) | presto_cuda_add_inplace(da, dx, n, NULL) |
		 presto_cuda_fourier_features_forward(dff, dt, dw, N, F, NULL);
	CHECK(rc == 0, "silu, add, fourier features: launch (%d)", rc);
	compare("silu [1001]", ds, s, n, 1e-6);
	compare("add [1001]", da, a, n, 1e-7);
	compare("fourier features [3, 2 x 128]", dff, ff, 2 * (size_t)N * F, 2e-6);
	cudaFree(dx), cudaFree(ds), cudaFree(da), cudaFree(dt), cudaFree(dw), cudaFree(dff);
	free(x), free(y0), free(t), free(w), free(s), free(a), free(ff);
}

/* how many of got[n] differ from ref[n], and by at most how many ulps */
static size_t ulp_diff(const float *got, const float *ref, size_t n, uint32_t *max_ulps)
{
	size_t diff = 0;
	*max_ulps = 0;
	digest("bits", got, n * sizeof *got);
	for (size_t i = 0; i < n; i++) {
		uint32_t a, b;
		memcpy(&a, &got[i], 4);
		memcpy(&b, &ref[i], 4);
		if (a == b)
			continue;
		diff++;
		uint32_t d = (a >> 31) != (b >> 31) ? UINT32_MAX : a > b ? a - b : b - a;
		if (d > *max_ulps)
			*max_ulps = d;
	}
	return diff;
}

/* One sampler step on the device against presto_step_apply: the same floats,
 * bit for bit. Inputs a..e (NULL as given by the mask `use`, bit 0 = b ..
 * bit 3 = e), out in place over a when inplace. */
static void test_step(presto_step_op op, size_t n, unsigned use, int inplace, int out2, const double *k)
{
	float *in[5], *din[5];
	for (int j = 0; j < 5; j++) {
		in[j] = j == 0 || (use >> (j - 1) & 1) ? vec(n, j == 4 ? 1.0f : 2.0f) : NULL;
		din[j] = in[j] ? dev(in[j], n) : NULL;
	}
	float *ref = malloc(sizeof(float) * (n ? n : 1)), *ref2 = malloc(sizeof(float) * (n ? n : 1));
	float *dout = inplace ? din[0] : dev(NULL, n), *dout2 = out2 ? dev(NULL, n) : NULL;
	presto_step s = {.op = op, .n = n, .out = inplace ? in[0] : ref, .out2 = out2 ? ref2 : NULL,
			 .a = in[0], .b = in[1], .c = in[2], .d = in[3], .e = in[4]};
	memcpy(s.k, k, sizeof s.k);
	presto_step ds = s;
	ds.out = dout, ds.out2 = dout2, ds.a = din[0], ds.b = din[1], ds.c = din[2], ds.d = din[3], ds.e = din[4];
	presto_step_apply(&s);
	if (inplace)
		memcpy(ref, in[0], sizeof(float) * n);
	int rc = presto_cuda_step(&ds, NULL);
	float *got = malloc(sizeof(float) * (n ? n : 1)), *got2 = malloc(sizeof(float) * (n ? n : 1));
	cudaError_t e = cudaMemcpy(got, dout, sizeof(float) * n, cudaMemcpyDeviceToHost);
	if (out2 && e == cudaSuccess)
		e = cudaMemcpy(got2, dout2, sizeof(float) * n, cudaMemcpyDeviceToHost);
	uint32_t mu, mu2 = 0;
	size_t diff = ulp_diff(got, ref, n, &mu) + (out2 ? ulp_diff(got2, ref2, n, &mu2) : 0);
	static const char *const names[] = {"axpby", "euler", "heun", "dpm++2m", "dpm++3m", "cfg", "fill"};
	CHECK(rc == 0 && e == cudaSuccess && diff == 0, "sampler step %s [%zu] inputs %#x%s%s: %zu floats differ (up to %u ulp)",
	      names[op], n, use, inplace ? " in place" : "", out2 ? " with d" : "", diff, mu > mu2 ? mu : mu2);
	for (int j = 0; j < 5; j++)
		free(in[j]), cudaFree(din[j]);
	if (!inplace)
		cudaFree(dout);
	cudaFree(dout2);
	free(ref), free(ref2), free(got), free(got2);
}

static void test_sampler_steps(void)
{
	const double k[7] = {0.83, -0.41, 1.7, 0.35, 0.6, 1.3, 0.27};
	test_step(PRESTO_STEP_AXPBY, 1, 0, 0, 0, k);
	test_step(PRESTO_STEP_AXPBY, 70001, 1, 1, 0, k);
	test_step(PRESTO_STEP_EULER, 4099, 1, 1, 0, k);
	test_step(PRESTO_STEP_EULER, 4099, 1, 0, 1, k);
	test_step(PRESTO_STEP_HEUN, 4099, 7, 1, 0, k);
	test_step(PRESTO_STEP_DPM2M, 4099, 1, 1, 0, k);
	test_step(PRESTO_STEP_DPM2M, 4099, 3, 1, 0, k);
	test_step(PRESTO_STEP_DPM3M, 4099, 1, 1, 0, k);
	test_step(PRESTO_STEP_DPM3M, 4099, 3, 1, 0, k);
	test_step(PRESTO_STEP_DPM3M, 4099, 7, 1, 0, k);
	test_step(PRESTO_STEP_DPM3M, 4099, 15, 1, 0, k);
	test_step(PRESTO_STEP_CFG, 4099, 1, 0, 0, (const double[7]){7.0});
	test_step(PRESTO_STEP_FILL, 33, 0, 0, 0, (const double[7]){0.625});
}

/* presto_randn on the device: the same Philox words; Box-Muller's double
 * log, sin and cos may differ from glibc's in the last bit, so a float may
 * rarely be 1 ulp off (never more, and hardly ever). */
static void test_randn(size_t n, uint64_t seed, uint64_t stream, uint64_t offset)
{
	float *ref = malloc(sizeof(float) * (n ? n : 1)), *got = malloc(sizeof(float) * (n ? n : 1));
	presto_randn(ref, n, seed, stream, offset);
	float *d = dev(NULL, n);
	int rc = presto_cuda_randn(d, n, seed, stream, offset, NULL);
	cudaError_t e = cudaMemcpy(got, d, sizeof(float) * n, cudaMemcpyDeviceToHost);
	uint32_t mu;
	size_t diff = ulp_diff(got, ref, n, &mu);
	CHECK(rc == 0 && e == cudaSuccess && mu <= 1 && diff <= 1 + n / 100000,
	      "randn [%zu] seed %llu stream %llu offset %llu: %zu floats differ (up to %u ulp)", n,
	      (unsigned long long)seed, (unsigned long long)stream, (unsigned long long)offset, diff, mu);
	cudaFree(d);
	free(ref), free(got);
}

int main(void)
{
	require_gpu();
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
	test_small_ops();
	test_linear(1, 1, 1, 1);
	test_linear(17, 64, 192, 1);
	test_linear(300, 256, 64, 0);
	test_linear(5, 0, 7, 1);
	test_gemm_bf16(17, 64, 96);
	test_gemm_bf16(1, 33, 5);
	test_attention(2, 37, 37, 4, 4, 32, 0, 0, 0);
	test_attention(2, 21, 5, 8, 2, 64, 0, 2, 0);
	test_attention(1, 19, 19, 4, 4, 16, 1, 1, 0);
	test_attention(1, 9, 70, 2, 1, 80, 0, 0, 0);
	test_attention(1, 3, 33, 1, 1, 256, 0, 0, 0);
	/* bf16 on tensor cores: wmma (the default), then mma.sync (PRESTO_CUDA_ATTN=mma) */
	for (int v = 0; v < 2; v++) {
		if (v)
			setenv("PRESTO_CUDA_ATTN", "mma", 1);
		test_attention(2, 37, 37, 4, 4, 32, 0, 0, 1);
		test_attention(2, 21, 5, 8, 2, 64, 1, 1, 1);
		/* several query and key tiles, Dh 128, an item all masked */
		test_attention(2, 130, 150, 2, 1, 64, 1, 2, 1);
		test_attention(1, 70, 65, 2, 2, 128, 0, 0, 1);
		test_attention(1, 33, 70, 3, 3, 80, 1, 0, 1);
		/* strides and pointers that allow 16-byte staging loads */
		test_attention_aligned(2, 70, 90, 4, 2, 64);
	}
	unsetenv("PRESTO_CUDA_ATTN");
	/* bf16 with Dh not a multiple of 16: the CUDA-core kernel */
	test_attention(1, 19, 33, 2, 1, 40, 1, 1, 1);
	test_rope_qknorm(13, 4, 32, 32, 0, 0);
	test_rope_qknorm(13, 4, 64, 32, 1, 0);
	test_rope_qknorm(5, 3, 48, 24, 2, 0);
	test_rope_qknorm(13, 4, 64, 32, 1, 1);
	test_sampler_steps();
	test_randn(1, 7, 1, 0);
	test_randn(65536, 123456789012345ull, 3, 0);
	test_randn(1001, 42, 0x100000001ull, 6);
	test_randn(5, 1, 2, 0xfffffffffull);
	return check_status();
}

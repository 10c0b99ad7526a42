/* test_dit.c - the DiT forward on the device (kernels/dit.cu) against the CPU
 * reference (lib/dit.c) with random weights of the reference scales, for
 * the configurations the models use: grouped-query context without
 * projection and global conditioning (SAO 1.0), projected context with qk
 * LayerNorm (SAO Small), l2 qk-norm without context, a skipped block, a
 * batch of two. fp32 weights must agree to fp32 rounding; bf16 weights (and
 * activations) within bf16's. Exits 77 (skipped) without a CUDA device. */
#include <cuda_runtime_api.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit.h"
#include "kernels.h"
#include "params.h"

#include "../unit/check.h"
#include "../unit/testrand.h"
#include "gpucheck.h"
#include "../unit/randparams.h"

TEST_RAND_SEED(0x9e3779b97f4a7c15ull);

static float *dev(const float *h, size_t n)
{
	float *d = NULL;
	if (cudaMalloc((void **)&d, sizeof(float) * (n ? n : 1)) != cudaSuccess)
		return NULL;
	if (h && n)
		cudaMemcpy(d, h, sizeof(float) * n, cudaMemcpyHostToDevice);
	return d;
}

static void test_case(const char *label, const char *json, int B, int T, int S, int use_global,
		      const unsigned char *mask)
{
	json_error_t jerr;
	json_t *js = json_loads(json, 0, &jerr);
	presto_dit_config cfg;
	presto_params ps;
	presto_params_init(&ps);
	presto_dit *m = NULL;
	if (!js || presto_dit_config_from_json(js, &cfg) || presto_dit_params(&cfg, "m.", &ps) ||
	    presto_params_alloc(&ps) || presto_dit_params_defaults(&cfg, "m.", &ps, ps.data) ||
	    presto_dit_bind(&ps, ps.data, "m.", &cfg, &m)) {
		CHECK(0, "%s: set-up (%s)", label, js ? presto_error() : jerr.text);
		json_decref(js);
		return;
	}
	json_decref(js);
	randomize_params(&ps);
	int C = cfg.io_channels, Cc = cfg.cond_token_dim, G = cfg.global_cond_dim;
	size_t nx = (size_t)B * C * T, nc = (size_t)B * S * Cc, ng = (size_t)B * G;
	float *x = vec(nx, 1), *t = vec(B, 0), *cross = vec(nc, 1), *global = vec(ng, 1), *y = vec(nx, 0);
	float *yg = vec(nx, 0);
	for (int b = 0; b < B; b++)
		t[b] = 0.1f + 0.8f * (float)unif();
	presto_dit_opts o = {.block_mask = mask};
	presto_status st = presto_dit_forward(m, y, x, t, S ? cross : NULL, S, use_global ? global : NULL, B, T, &o);
	CHECK(!st, "%s: CPU forward", label);
	float *dx = dev(x, nx), *dt = dev(t, B), *dc = dev(cross, nc), *dgl = dev(global, ng), *dy = dev(NULL, nx);
	for (int bf = 0; bf < 2; bf++) {
		presto_cuda_dit *g = NULL;
		int rc = presto_cuda_dit_new(m, bf ? PRESTO_CUDA_BF16 : PRESTO_CUDA_F32, &g);
		if (!rc)
			rc = presto_cuda_dit_forward(g, dy, dx, dt, S ? dc : NULL, S, use_global ? dgl : NULL, B, T, mask, 0,
						     NULL);
		if (!rc)
			rc = (int)cudaMemcpy(yg, dy, sizeof(float) * nx, cudaMemcpyDeviceToHost);
		size_t bad;
		double rel = norm_error(yg, y, nx, &bad), tol = bf ? 3e-2 : 2e-5;
		CHECK(!rc && !bad && rel <= tol, "%s, %s weights: normalised error %.2e (tol %.0e)%s (rc %d)", label,
		      bf ? "bf16" : "fp32", rel, tol, bad ? ", non-finite" : "", rc);
		/* a second call of the same shape reuses the activations; with
		 * reuse_context it also reuses the context's keys and values, so
		 * that it ignores a cross buffer changed since */
		if (!bf && !rc) {
			rc = presto_cuda_dit_forward(g, dy, dx, dt, S ? dc : NULL, S, use_global ? dgl : NULL, B, T, mask, 0,
						     NULL);
			float *y2 = vec(nx, 0);
			cudaMemcpy(y2, dy, sizeof(float) * nx, cudaMemcpyDeviceToHost);
			CHECK(!rc && !memcmp(y2, yg, sizeof(float) * nx), "%s: a second forward gives the same bits",
			      label);
			if (S) {
				cudaMemset(dc, 0, sizeof(float) * nc);
				rc = presto_cuda_dit_forward(g, dy, dx, dt, dc, S, use_global ? dgl : NULL, B, T, mask, 1, NULL);
				cudaMemcpy(y2, dy, sizeof(float) * nx, cudaMemcpyDeviceToHost);
				CHECK(!rc && !memcmp(y2, yg, sizeof(float) * nx),
				      "%s: reuse_context keeps the last context's keys and values", label);
				rc = presto_cuda_dit_forward(g, dy, dx, dt, dc, S, use_global ? dgl : NULL, B, T, mask, 0, NULL);
				cudaMemcpy(y2, dy, sizeof(float) * nx, cudaMemcpyDeviceToHost);
				CHECK(!rc && memcmp(y2, yg, sizeof(float) * nx), "%s: without it a new context is used", label);
				cudaMemcpy(dc, cross, sizeof(float) * nc, cudaMemcpyHostToDevice);
			}
			free(y2);
		}
		presto_cuda_dit_free(g);
	}
	cudaFree(dx), cudaFree(dt), cudaFree(dc), cudaFree(dgl), cudaFree(dy);
	free(x), free(t), free(cross), free(global), free(y), free(yg);
	presto_dit_free(m);
	presto_params_free(&ps);
}

int main(void)
{
	require_gpu();
	static const unsigned char skip_mid[3] = {1, 0, 1};
	test_case("sao-like", "{\"io_channels\": 3, \"embed_dim\": 128, \"depth\": 3, \"num_heads\": 2,"
			      " \"cond_token_dim\": 64, \"global_cond_dim\": 24, \"project_cond_tokens\": false,"
			      " \"ff_kwargs\": {\"mult\": 2}}",
		  2, 37, 3, 1, skip_mid);
	test_case("saos-like", "{\"io_channels\": 2, \"embed_dim\": 64, \"depth\": 2, \"num_heads\": 2,"
			       " \"cond_token_dim\": 20, \"global_cond_dim\": 0, \"attn_kwargs\": {\"qk_norm\": \"ln\"},"
			       " \"norm_kwargs\": {\"bias\": true}, \"ff_kwargs\": {\"mult\": 1}}",
		  2, 20, 5, 0, NULL);
	test_case("l2/no-context", "{\"io_channels\": 2, \"embed_dim\": 64, \"depth\": 1, \"num_heads\": 1,"
				   " \"global_cond_dim\": 8, \"attn_kwargs\": {\"qk_norm\": \"l2\"},"
				   " \"ff_kwargs\": {\"mult\": 1, \"no_bias\": true}}",
		  1, 6, 0, 1, NULL);
	/* the bf16 attention through mma.sync (PRESTO_CUDA_ATTN=mma) */
	setenv("PRESTO_CUDA_ATTN", "mma", 1);
	test_case("sao-like, mma.sync attention", "{\"io_channels\": 3, \"embed_dim\": 128, \"depth\": 3, \"num_heads\": 2,"
			      " \"cond_token_dim\": 64, \"global_cond_dim\": 24, \"project_cond_tokens\": false,"
			      " \"ff_kwargs\": {\"mult\": 2}}",
		  2, 37, 3, 1, skip_mid);
	unsetenv("PRESTO_CUDA_ATTN");
	return check_status();
}

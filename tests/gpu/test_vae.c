/* test_vae.c - the Oobleck decoder and encoder on the device (kernels/oobleck.cu) against
 * the CPU reference (lib/oobleck.c), random weight-normed weights: odd
 * strides with tanh and a latent scale, and SAO's stride pattern (2, 4, 4, 8,
 * 8; 2048x), and widths that take the tensor-core convolution. fp32 must agree to fp32 rounding, bf16 within bf16's. Exits 77
 * (skipped) without a CUDA device. */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "oobleck.h"
#include "params.h"

#include "../unit/check.h"
#include "../unit/testrand.h"
#include "gpucheck.h"

TEST_RAND_SEED(0x2545f4914f6cdd1dull);

static void init_params(presto_params *ps)
{
	for (int i = 0; i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		float *d = ps->data + pi->offset;
		const char *leaf = strrchr(pi->name, '.') + 1;
		float sd = !strcmp(leaf, "weight_v") ? 1.0f : !strcmp(leaf, "bias") ? 0.1f : 0.3f;
		for (size_t j = 0; j < pi->numel; j++)
			d[j] = !strcmp(leaf, "weight_g") ? 0.25f + 0.5f * (float)unif() : sd * randn();
	}
}

/* the last test_case's bf16 decode and encode on the device, for comparing
 * the convolution paths with each other */
static struct {
	float *dec, *enc;
	size_t ndec, nenc;
} kept;

static void keep(float **dst, size_t *n, const float *src, size_t count)
{
	free(*dst);
	*dst = malloc(sizeof(float) * count);
	memcpy(*dst, src, sizeof(float) * count);
	*n = count;
}

static void test_case(const char *label, int channels, int n, const int *mults, const int *strides, int latent,
		      int final_tanh, float scale, int Lz)
{
	presto_oobleck_config c;
	memset(&c, 0, sizeof c);
	c.audio_channels = 2;
	c.channels = channels;
	c.n_blocks = n;
	c.downsampling_ratio = 1;
	for (int i = 0; i < n; i++) {
		c.c_mults[i] = mults[i];
		c.strides[i] = strides[i];
		c.downsampling_ratio *= strides[i];
	}
	c.latent_dim = latent;
	c.encoder_out_dim = 2 * latent;
	c.use_snake = 1;
	c.final_tanh = final_tanh;
	c.has_decoder = c.has_encoder = 1;
	c.scale = scale;
	presto_params ps;
	presto_params_init(&ps);
	presto_vae *m = NULL;
	if (presto_oobleck_params(&c, "p.", 1, 1, &ps) || presto_params_alloc(&ps)) {
		CHECK(0, "%s: parameter table: %s", label, presto_error());
		return;
	}
	init_params(&ps);
	if (presto_vae_from_params(&c, &ps, "p.", 1, 1, &m)) {
		CHECK(0, "%s: model: %s", label, presto_error());
		presto_params_free(&ps);
		return;
	}
	int N = presto_vae_audio_len(&c, Lz);
	size_t nz = (size_t)latent * Lz, na = (size_t)c.audio_channels * N;
	float *z = vec(nz, 1.0f), *ref = vec(na, 0), *got = vec(na, 0);
	CHECK(!presto_vae_decode(m, ref, z, Lz, NULL, NULL), "%s: CPU decode", label);
	float *dz = NULL, *da = NULL;
	cudaMalloc((void **)&dz, sizeof(float) * nz);
	cudaMalloc((void **)&da, sizeof(float) * na);
	cudaMemcpy(dz, z, sizeof(float) * nz, cudaMemcpyHostToDevice);
	for (int bf = 0; bf < 2; bf++) {
		presto_cuda_vae *g = NULL;
		int rc = presto_cuda_vae_new(m, bf ? PRESTO_CUDA_BF16 : PRESTO_CUDA_F32, &g);
		for (int rep = 0; rep < 2 && !rc; rep++) /* the second call reuses the activations */
			rc = presto_cuda_vae_decode(g, da, dz, Lz, NULL);
		if (!rc)
			rc = (int)cudaMemcpy(got, da, sizeof(float) * na, cudaMemcpyDeviceToHost);
		size_t bad;
		double rel = norm_error(got, ref, na, &bad), tol = bf ? 3e-2 : 1e-5;
		CHECK(!rc && !bad && rel <= tol, "%s, %s: %d latent frames -> %d samples, normalised error %.2e (tol %.0e)%s (rc %d)",
		      label, bf ? "bf16" : "fp32", Lz, N, rel, tol, bad ? ", non-finite" : "", rc);
		if (bf)
			keep(&kept.dec, &kept.ndec, got, na);
		/* the encoder on the decoded audio */
		int Le = presto_vae_latent_len(&c, N);
		size_t ne = (size_t)c.encoder_out_dim * (Le > 0 ? Le : 1);
		float *eref = vec(ne, 0), *egot = vec(ne, 0), *de = NULL;
		rc = Le < 1 || presto_vae_encode(m, eref, ref, N, NULL, NULL);
		CHECK(!rc, "%s: CPU encode", label);
		cudaMalloc((void **)&de, sizeof(float) * ne);
		cudaMemcpy(da, ref, sizeof(float) * na, cudaMemcpyHostToDevice);
		if (!rc && g)
			rc = presto_cuda_vae_encode(g, de, da, N, NULL);
		if (!rc)
			rc = (int)cudaMemcpy(egot, de, sizeof(float) * ne, cudaMemcpyDeviceToHost);
		rel = norm_error(egot, eref, ne, &bad);
		tol = bf ? 3e-2 : 1e-5;
		CHECK(!rc && !bad && rel <= tol, "%s, %s: encode %d samples -> %d frames, normalised error %.2e (tol %.0e)%s "
		      "(rc %d)", label, bf ? "bf16" : "fp32", N, Le, rel, tol, bad ? ", non-finite" : "", rc);
		if (bf)
			keep(&kept.enc, &kept.nenc, egot, ne);
		cudaFree(de);
		free(eref), free(egot);
		presto_cuda_vae_free(g);
	}
	cudaFree(dz), cudaFree(da);
	free(z), free(ref), free(got);
	presto_vae_free(m);
	presto_params_free(&ps);
}

int main(void)
{
	require_gpu();
	static const int m2[] = {1, 2}, s23[] = {2, 3};
	test_case("odd strides, tanh, scale 1.5", 4, 2, m2, s23, 3, 1, 1.5f, 7);
	static const int m5[] = {1, 2, 4, 8, 16}, s5[] = {2, 4, 4, 8, 8};
	test_case("SAO strides (2048x)", 2, 5, m5, s5, 8, 0, 1.0f, 3);
	/* widths multiples of 64: the bf16 convolutions on tensor cores */
	static const int m22[] = {1, 2}, s22[] = {2, 2};
	test_case("64 and 128 channels (tensor cores)", 64, 2, m22, s22, 64, 1, 1.0f, 37);
	/* the other paths of the bf16 convolutions (PRESTO_CUDA_CONV) */
	static const char *const modes[] = {"tc2", "tc64", "cublas"};
	for (int i = 0; i < 3; i++) {
		char label[64];
		snprintf(label, sizeof label, "64 and 128 channels, PRESTO_CUDA_CONV=%s", modes[i]);
		setenv("PRESTO_CUDA_CONV", modes[i], 1);
		test_case(label, 64, 2, m22, s22, 64, 1, 1.0f, 37);
	}
	unsetenv("PRESTO_CUDA_CONV");
	/* 128 channels throughout: 128-wide tiles everywhere, several tiles of
	 * frames, each residual unit one kernel (the second convolution and the
	 * sum fused into the first's), in both staging modes; the same bytes as
	 * the unit's two convolutions */
	static const int m11[] = {1, 1}, s32[] = {3, 2};
	static const char *const modes128[] = {"unfused", NULL, "tc2"};
	float *dec0 = NULL, *enc0 = NULL;
	size_t ndec0 = 0, nenc0 = 0;
	for (int i = 0; i < 3; i++) {
		char label[96];
		snprintf(label, sizeof label, "128 channels (128-wide tiles)%s%s", modes128[i] ? ", PRESTO_CUDA_CONV=" : "",
			 modes128[i] ? modes128[i] : "");
		if (modes128[i])
			setenv("PRESTO_CUDA_CONV", modes128[i], 1);
		else
			unsetenv("PRESTO_CUDA_CONV");
		rs = 0x9e3779b97f4a7c15ull; /* the same weights and latents each time */
		test_case(label, 128, 2, m11, s32, 64, 0, 1.0f, 45);
		if (!i) {
			keep(&dec0, &ndec0, kept.dec, kept.ndec);
			keep(&enc0, &nenc0, kept.enc, kept.nenc);
			continue;
		}
		CHECK(kept.ndec == ndec0 && !memcmp(kept.dec, dec0, sizeof(float) * ndec0) && kept.nenc == nenc0 &&
			      !memcmp(kept.enc, enc0, sizeof(float) * nenc0),
		      "%s: bf16 decode and encode bit for bit those of the unfused units", label);
	}
	unsetenv("PRESTO_CUDA_CONV");
	free(dec0), free(enc0), free(kept.dec), free(kept.enc);
	return check_status();
}

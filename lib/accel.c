/* accel.c - the device choice of accel.h: probe (lib/device.c), open the
 * CUDA backend library with dlopen, check that it was built from these
 * sources, upload the DiT and route its forwards there. */
#include "accel.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda_backend.h"
#include "device.h"
#include "dit_internal.h"
#include "error.h"
#include "generate.h"
#include "oobleck_internal.h"
#include "t5_internal.h"

struct presto_accel {
	const presto_cuda_backend *be;
	presto_dit *m;          /* the model it runs: a DiT, or */
	presto_vae *vae;        /* a VAE decoder, or */
	presto_t5 *t5;          /* a T5 encoder */
	int32_t *bk;            /* T5: its bucket table for bk_L tokens */
	int bk_L;
	void *g;
	int index;
	int dev_B, dev_T;       /* DiT: the shape of the last dit_begin */
	presto_dit_device dev;  /* DiT: the sampling loop on the device */
};

presto_status presto_device_parse(const char *s, presto_device_req *r)
{
	memset(r, 0, sizeof *r);
	if (!strcmp(s, "auto")) {
		r->kind = PRESTO_DEVICE_AUTO;
		return PRESTO_OK;
	}
	if (!strcmp(s, "cpu")) {
		r->kind = PRESTO_DEVICE_CPU;
		return PRESTO_OK;
	}
	if (!strncmp(s, "cuda", 4) && (!s[4] || s[4] == ':')) {
		r->kind = PRESTO_DEVICE_CUDA;
		if (!s[4])
			return PRESTO_OK;
		char *end;
		long n = strtol(s + 5, &end, 10);
		if (s[5] >= '0' && s[5] <= '9' && !*end && n >= 0 && n < PRESTO_MAX_GPUS) {
			r->index = (int)n;
			return PRESTO_OK;
		}
	}
	return presto_error_set(PRESTO_EINVAL, "device '%s': expected auto, cpu, cuda or cuda:N (N < %d)", s,
				PRESTO_MAX_GPUS);
}

presto_status presto_precision_parse(const char *s, presto_precision *p)
{
	if (!strcmp(s, "auto"))
		*p = PRESTO_PRECISION_AUTO;
	else if (!strcmp(s, "fp32"))
		*p = PRESTO_PRECISION_FP32;
	else if (!strcmp(s, "bf16"))
		*p = PRESTO_PRECISION_BF16;
	else
		return presto_error_set(PRESTO_EINVAL, "precision '%s': expected auto, fp32 or bf16", s);
	return PRESTO_OK;
}

/* $PRESTO_CUDA_BACKEND, else lib/presto/libpresto-cuda.so beside the
 * tool's bin/ directory (the build tree and an installed prefix alike) */
static void *open_backend(char *why, size_t len)
{
	char path[PATH_MAX + 64];
	const char *env = getenv("PRESTO_CUDA_BACKEND");
	if (env && *env) {
		snprintf(path, sizeof path, "%s", env);
	} else {
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		if (n <= 0) {
			snprintf(why, len, "cannot locate the running program to find the CUDA backend library");
			return NULL;
		}
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
		snprintf(path, sizeof path, "%s/../lib/presto/libpresto-cuda.so", exe);
	}
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(why, len, "the CUDA backend library could not be loaded (%s)%s", e ? e : path,
			 env && *env ? "" : "; presto was built without nvcc?");
	}
	return h;
}

/* an auto choice falls back to the CPU with a note; an explicit one fails */
static presto_status decline(const presto_device_req *r, char *note, size_t note_len, const char *why)
{
	if (r->kind == PRESTO_DEVICE_AUTO) {
		snprintf(note, note_len, "%s; using the CPU", why);
		return PRESTO_OK;
	}
	return presto_error_set(PRESTO_EUNSUP, "cannot use --device cuda:%d: %s", r->index, why);
}

/* The backend on the requested device: *be NULL for the CPU (asked for, or
 * chosen by auto, note saying why when a GPU was present); info names the
 * device, *bf16 the precision to use. */
static presto_status open_device(const presto_device_req *r, const presto_cuda_backend **out, char *info,
				 size_t info_len, char *note, size_t note_len, int *bf16)
{
	*out = NULL;
	if (note_len)
		note[0] = 0;
	if (r->kind == PRESTO_DEVICE_CPU) {
		if (r->precision == PRESTO_PRECISION_BF16)
			return presto_error_set(PRESTO_EUNSUP, "bf16 runs on a GPU only (the CPU computes in fp32)");
		return PRESTO_OK;
	}
	presto_gpu_list l;
	presto_gpu_probe(&l);
	char why[512];
	if (!l.count) {
		if (r->kind == PRESTO_DEVICE_AUTO)
			return PRESTO_OK; /* the common case of a machine without a GPU: no note */
		snprintf(why, sizeof why, "no CUDA device (%s)", l.reason);
		return decline(r, note, note_len, why);
	}
	if (r->index >= l.count) {
		snprintf(why, sizeof why, "there %s %d CUDA device%s", l.count == 1 ? "is" : "are", l.count,
			 l.count == 1 ? "" : "s");
		return decline(r, note, note_len, why);
	}
	void *h = open_backend(why, sizeof why);
	if (!h)
		return decline(r, note, note_len, why);
	const presto_cuda_backend *(*get)(void);
	*(void **)&get = dlsym(h, "presto_cuda_backend_get");
	const presto_cuda_backend *be = get ? get() : NULL;
	if (!be || be->abi != PRESTO_CUDA_BACKEND_ABI || be->dit_size != sizeof(presto_dit) ||
	    be->config_size != sizeof(presto_dit_config) || be->vae_size != sizeof(presto_vae) ||
	    be->t5_size != sizeof(presto_t5))
		return decline(r, note, note_len, "the CUDA backend library was built from other sources than this tool");
	int rc = be->init(r->index, info, info_len);
	if (rc)
		return decline(r, note, note_len, info);
	*bf16 = r->precision == PRESTO_PRECISION_BF16 || (r->precision == PRESTO_PRECISION_AUTO && be->has_bf16());
	if (*bf16 && !be->has_bf16())
		return presto_error_set(PRESTO_EUNSUP, "bf16: the GPU (%s) has no bf16 tensor cores; use --precision fp32",
					info);
	*out = be;
	return PRESTO_OK;
}

/* A GPU call's failure as a status: out of memory (what names the work) or
 * another GPU error. */
static presto_status gpu_error(const presto_accel *a, int rc, const char *what)
{
	if (a->be->is_oom(rc))
		return presto_error_set(PRESTO_ENOMEM, "out of GPU memory %s", what);
	return presto_error_set(PRESTO_EIO, "GPU error %s: %s", what, a->be->error_string(rc));
}

static presto_status accel_decode(void *ctx, float *audio, const float *z, int Lz)
{
	presto_accel *a = ctx;
	int rc = a->be->vae_decode(a->g, audio, z, Lz);
	char what[96];
	snprintf(what, sizeof what, "on cuda:%d decoding %d latent frames", a->index, Lz);
	return rc ? gpu_error(a, rc, what) : PRESTO_OK;
}

static presto_status accel_encode(void *ctx, float *out, const float *audio, int N)
{
	presto_accel *a = ctx;
	int rc = a->be->vae_encode(a->g, out, audio, N);
	char what[96];
	snprintf(what, sizeof what, "on cuda:%d encoding %d audio frames", a->index, N);
	return rc ? gpu_error(a, rc, what) : PRESTO_OK;
}

static presto_status accel_t5(void *ctx, float *out, const int32_t *ids, const float *mask, int B, int L)
{
	presto_accel *a = ctx;
	if (a->bk_L != L) {
		int32_t *bk = presto_malloc(sizeof(int32_t) * (size_t)L * (size_t)L);
		if (!bk)
			return PRESTO_ENOMEM;
		presto_t5_buckets(bk, L, a->t5->c.num_buckets, a->t5->c.max_distance);
		free(a->bk);
		a->bk = bk;
		a->bk_L = L;
	}
	int rc = a->be->t5_forward(a->g, out, ids, mask, a->bk, B, L);
	char what[96];
	snprintf(what, sizeof what, "on cuda:%d encoding %d x %d tokens", a->index, B, L);
	return rc ? gpu_error(a, rc, what) : PRESTO_OK;
}

static presto_status accel_forward(void *ctx, float *out, const float *x, const float *t, const float *cross,
				   const float *neg, int S, const float *global, int B, int T, float scale,
				   float *cond_out, float *uncond_out, const unsigned char *block_mask)
{
	presto_accel *a = ctx;
	int rc = a->be->dit_forward_cfg(a->g, out, x, t, cross, neg, S, global, B, T, scale, cond_out, uncond_out,
					block_mask);
	char what[96];
	snprintf(what, sizeof what, "on cuda:%d running the DiT on %d x %d frames", a->index, B, T);
	return rc ? gpu_error(a, rc, what) : PRESTO_OK;
}

/* ---- the sampling loop on the device (presto_dit_device) ---- */

static presto_status dit_error(const presto_accel *a, int rc, const char *doing)
{
	char what[128];
	snprintf(what, sizeof what, "on cuda:%d %s", a->index, doing);
	return gpu_error(a, rc, what);
}

static float *dev_alloc(void *ctx, size_t n)
{
	presto_accel *a = ctx;
	float *p = NULL;
	int rc = a->be->dit_alloc(a->g, n, &p);
	if (rc) {
		char doing[96];
		snprintf(doing, sizeof doing, "allocating %zu sampler floats", n);
		dit_error(a, rc, doing);
		return NULL;
	}
	return p;
}

static void dev_free(void *ctx, float *p)
{
	presto_accel *a = ctx;
	a->be->dit_release(a->g, p);
}

static presto_status dev_step(void *ctx, const presto_step *s)
{
	presto_accel *a = ctx;
	int rc = a->be->dit_step(a->g, s);
	return rc ? dit_error(a, rc, "in a sampler step") : PRESTO_OK;
}

static presto_status dev_get(void *ctx, float *host, const float *v, size_t n)
{
	presto_accel *a = ctx;
	int rc = a->be->dit_get(a->g, host, v, n);
	return rc ? dit_error(a, rc, "sampling") : PRESTO_OK;
}

static presto_status dev_put(void *ctx, float *v, const float *host, size_t n)
{
	presto_accel *a = ctx;
	int rc = a->be->dit_put(a->g, v, host, n);
	return rc ? dit_error(a, rc, "uploading a latent") : PRESTO_OK;
}

static presto_status dev_wait(void *ctx)
{
	presto_accel *a = ctx;
	int rc = a->be->dit_wait(a->g);
	return rc ? dit_error(a, rc, "sampling") : PRESTO_OK;
}

static presto_status dev_randn(void *ctx, float *v, size_t n, uint64_t seed, uint64_t stream, uint64_t offset)
{
	presto_accel *a = ctx;
	int rc = a->be->dit_randn(a->g, v, n, seed, stream, offset);
	return rc ? dit_error(a, rc, "drawing noise") : PRESTO_OK;
}

static presto_status dev_begin(void *ctx, const float *cross, const float *neg, int S, const float *global, int B,
			       int T, float scale)
{
	presto_accel *a = ctx;
	a->dev_B = B;
	a->dev_T = T;
	int rc = a->be->dit_begin(a->g, cross, neg, S, global, B, T, scale);
	char doing[96]; /* (its buffers are the DiT's inputs and outputs) */
	snprintf(doing, sizeof doing, "running the DiT on %d x %d frames", B, T);
	return rc ? dit_error(a, rc, doing) : PRESTO_OK;
}

static presto_status dev_forward(void *ctx, float *out, const float *x, const float *t,
				 const unsigned char *block_mask)
{
	presto_accel *a = ctx;
	int rc = a->be->dit_forward_dev(a->g, out, x, t, block_mask);
	char doing[96];
	snprintf(doing, sizeof doing, "running the DiT on %d x %d frames", a->dev_B, a->dev_T);
	return rc ? dit_error(a, rc, doing) : PRESTO_OK;
}

enum { DIT, VAE, T5 };

/* Put one model (kind DIT, VAE or T5) on the requested device. */
static presto_status attach(int kind, void *m, const presto_device_req *r, presto_accel **out, char *used,
			    size_t used_len, char *note, size_t note_len)
{
	static const char *const names[] = {"DiT", "VAE decoder", "T5 encoder"};
	*out = NULL;
	snprintf(used, used_len, "cpu");
	const presto_cuda_backend *be;
	char info[256];
	int bf16 = 0;
	PRESTO_TRY(open_device(r, &be, info, sizeof info, note, note_len, &bf16));
	if (!be)
		return PRESTO_OK;
	presto_accel *a = presto_calloc(1, sizeof *a);
	if (!a)
		return PRESTO_ENOMEM;
	a->be = be;
	a->index = r->index;
	/* T5 keeps fp32 storage; "bf16" gives it TF32 GEMMs */
	int rc = kind == DIT ? be->dit_new(a->m = m, bf16, &a->g)
		 : kind == VAE ? be->vae_new(a->vae = m, bf16, &a->g)
			       : be->t5_new(a->t5 = m, bf16, &a->g);
	if (rc) {
		char what[320];
		snprintf(what, sizeof what, "uploading the %s to %s", names[kind], info);
		presto_status st = gpu_error(a, rc, what);
		free(a);
		return st;
	}
	if (kind == DIT) {
		presto_dit_set_accel(a->m, accel_forward, a);
		a->dev = (presto_dit_device){
			.vecs = {.ctx = a, .alloc = dev_alloc, .free = dev_free, .step = dev_step, .get = dev_get,
				 .put = dev_put, .wait = dev_wait, .randn = dev_randn},
			.begin = dev_begin,
			.forward = dev_forward,
			.ctx = a,
		};
		const char *env = getenv("PRESTO_DEVICE_LOOP"); /* 0: the loop on the host, forwards on the GPU */
		if (!(env && !strcmp(env, "0")))
			presto_dit_set_device(a->m, &a->dev);
	}
	else if (kind == VAE) {
		presto_vae_set_accel(a->vae, accel_decode, a);
		if (a->vae->c.has_encoder)
			presto_vae_set_encode_accel(a->vae, accel_encode);
	}
	else
		presto_t5_set_accel(a->t5, accel_t5, a);
	snprintf(used, used_len, "%s, %s", info, !bf16 ? "fp32" : kind == T5 ? "tf32" : "bf16");
	*out = a;
	return PRESTO_OK;
}

presto_status presto_accel_attach(presto_dit *m, const presto_device_req *r, presto_accel **out, char *used,
				  size_t used_len, char *note, size_t note_len)
{
	return attach(DIT, m, r, out, used, used_len, note, note_len);
}

presto_status presto_accel_attach_vae(presto_vae *m, const presto_device_req *r, presto_accel **out, char *used,
				      size_t used_len, char *note, size_t note_len)
{
	return attach(VAE, m, r, out, used, used_len, note, note_len);
}

presto_status presto_accel_attach_t5(presto_t5 *m, const presto_device_req *r, presto_accel **out, char *used,
				     size_t used_len, char *note, size_t note_len)
{
	return attach(T5, m, r, out, used, used_len, note, note_len);
}

void presto_accel_free(presto_accel *a)
{
	if (!a)
		return;
	if (a->m) {
		presto_dit_set_accel(a->m, NULL, NULL);
		presto_dit_set_device(a->m, NULL);
		a->be->dit_free(a->g);
	} else if (a->t5) {
		presto_t5_set_accel(a->t5, NULL, NULL);
		a->be->t5_free(a->g);
		free(a->bk);
	} else {
		presto_vae_set_accel(a->vae, NULL, NULL);
		a->be->vae_free(a->g);
	}
	free(a);
}

int presto_accel_check(int index, char *msg, size_t len)
{
	presto_device_req r = {.kind = PRESTO_DEVICE_CUDA, .index = index, .precision = PRESTO_PRECISION_AUTO};
	const presto_cuda_backend *be = NULL;
	char info[256], note[8];
	int bf16 = 0;
	if (open_device(&r, &be, info, sizeof info, note, sizeof note, &bf16) || !be) {
		const char *why = presto_error(), *colon = strstr(why, ": ");
		/* without decline()'s "cannot use --device cuda:N: " */
		snprintf(msg, len, "%s", !strncmp(why, "cannot use --device", 19) && colon ? colon + 2 : why);
		return 1;
	}
	snprintf(msg, len, "%s, %s by default", info, bf16 ? "bf16" : "fp32");
	return 0;
}

void presto_accel_memory(const presto_accel *a, size_t *used, size_t *peak, size_t *total)
{
	*used = *peak = *total = 0;
	if (a)
		a->be->memory(used, peak, total);
}

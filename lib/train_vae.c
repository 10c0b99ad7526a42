/* train_vae.c - the VAE training loop (see train_vae.h). */
#include "train_vae.h"

#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ops.h"
#include "rng.h"

#define PREFIX "pretransform.model."

/* Random streams of the run's seed (rng.h): data draws, polarity, the
 * initial weights (one stream per tensor), the bottleneck noise (one stream
 * per step). */
#define STREAM_DATA 0x44415441ull        /* "DATA" */
#define STREAM_FLIP 0x464c4950ull        /* "FLIP" */
#define STREAM_INIT (1ull << 48)
#define STREAM_NOISE (1ull << 32)

#define META_PRETRANSFORM "train_vae.pretransform"
#define META_OPTIONS "train_vae.options"
#define META_FREEZE "train_vae.freeze_encoder" /* "1" or "0"; absent (older checkpoints): "0" */

struct presto_train_vae {
	presto_train_vae_options o;
	char **train, **val;
	int64_t *frames;       /* [n_train] */
	int64_t *cum;          /* [n_train] cumulative frames (weight_by_length) */
	int64_t total_frames;
	presto_oobleck_config c;
	int C, L, E, Lz, N, B;
	presto_params ps;
	presto_vae *m;
	presto_vae_train *t;
	presto_adamw opt;
	presto_lr_schedule sched;
	presto_ema ema;
	presto_loss_scale ls;
	presto_train_state st;
	float *grad;
	presto_mrstft *stft;
	float *audio, *pre, *noise, *z, *dec, *ddec, *dz, *dpre; /* batch buffers */
	double *kl;            /* [B] */
	float *val_audio;      /* [n_val_crops, C, N] */
	int n_val_crops;
	float *backup;         /* ps.total: the raw weights during an EMA validation */
	char *pt_json, *opt_json;
	size_t n_trained;      /* floats of the trainable tensors */
	int64_t last_ckpt;     /* steps done at the last checkpoint (-1: none) */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void presto_train_vae_defaults(presto_train_vae_options *o)
{
	memset(o, 0, sizeof *o);
	o->sample_rate = 44100;
	o->chunk = 65536;
	o->batch = 4;
	o->phase_flip = 1;
	presto_mrstft_defaults(&o->stft);
	o->w_stft_lr = 1.0;
	o->w_stft_ms = 2.0;
	o->w_kl = 1e-4;
	o->steps = 1000;
	o->adamw = (presto_adamw_config){.beta1 = 0.8, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.01};
	o->lr = (presto_lr_schedule){.kind = PRESTO_LR_CONSTANT, .lr = 1e-4};
	o->use_ema = 1;
	o->ema_decay = 0.9999;
	o->ema_warmup_power = 0.75;
	o->val_crops = 2;
	o->ckpt_keep = 3;
	o->resume = 1;
	o->log_every = 10;
}

/* ---- audio files */

static presto_status file_info(const char *path, int *channels, int64_t *frames, int *rate)
{
	SF_INFO info;
	memset(&info, 0, sizeof info);
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	if (!sf)
		return presto_error_set(PRESTO_EIO, "%s: not a readable audio file (%s)", path, sf_strerror(NULL));
	*channels = info.channels;
	*frames = (int64_t)info.frames;
	*rate = info.samplerate;
	sf_close(sf);
	return PRESTO_OK;
}

presto_status presto_train_vae_read_crop(const char *path, int64_t offset, int C, int N, float *out)
{
	if (C < 1 || N < 0 || offset < 0)
		return presto_error_set(PRESTO_EINVAL, "%s: bad crop (%d channels, %d frames at %lld)", path, C, N,
					(long long)offset);
	memset(out, 0, sizeof(float) * (size_t)C * (size_t)N);
	SF_INFO info;
	memset(&info, 0, sizeof info);
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	if (!sf)
		return presto_error_set(PRESTO_EIO, "%s: not a readable audio file (%s)", path, sf_strerror(NULL));
	int fc = info.channels;
	presto_status s = PRESTO_OK;
	float *buf = NULL;
	if (fc < 1 || (fc != C && fc != 1 && C != 1)) {
		s = presto_error_set(PRESTO_EINVAL, "%s: %d channels for a %d-channel model", path, fc, C);
		goto done;
	}
	if (offset >= (int64_t)info.frames || N == 0)
		goto done;
	if (offset > 0 && sf_seek(sf, (sf_count_t)offset, SEEK_SET) != (sf_count_t)offset) {
		s = presto_error_set(PRESTO_EIO, "%s: cannot seek to frame %lld (%s)", path, (long long)offset,
				     sf_strerror(sf));
		goto done;
	}
	enum { BLK = 4096 };
	if (!(buf = presto_falloc((size_t)BLK * (size_t)fc))) {
		s = PRESTO_ENOMEM;
		goto done;
	}
	int t = 0;
	while (t < N) {
		sf_count_t want = N - t < BLK ? N - t : BLK;
		sf_count_t got = sf_readf_float(sf, buf, want);
		if (got <= 0)
			break;
		for (sf_count_t i = 0; i < got; i++, t++) {
			const float *v = buf + (size_t)i * fc;
			for (int k = 0; k < fc; k++)
				if (!isfinite(v[k])) {
					s = presto_error_set(PRESTO_EINVAL, "%s: non-finite sample at frame %lld", path,
							     (long long)(offset + t));
					goto done;
				}
			if (fc == C)
				for (int c = 0; c < C; c++)
					out[(size_t)c * N + t] = v[c];
			else if (fc == 1)
				for (int c = 0; c < C; c++)
					out[(size_t)c * N + t] = v[0];
			else {
				double m = 0;
				for (int k = 0; k < fc; k++)
					m += v[k];
				out[t] = (float)(m / fc);
			}
		}
	}
	if (sf_error(sf))
		s = presto_error_set(PRESTO_EINVAL, "%s: corrupt audio data (%s)", path, sf_strerror(sf));
done:
	free(buf);
	sf_close(sf);
	return s;
}

/* File, offset and polarity of draw number idx (= step * B + item). */
static void draw(const presto_train_vae *tv, uint64_t idx, int *file, int64_t *off, int *flip)
{
	uint64_t seed = tv->st.rng.seed;
	uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, w[4];
	uint32_t ctr[4] = {(uint32_t)idx, (uint32_t)(idx >> 32), (uint32_t)STREAM_DATA, (uint32_t)(STREAM_DATA >> 32)};
	presto_philox4x32(ctr, key, w);
	uint64_t a = (uint64_t)w[0] << 32 | w[1], b = (uint64_t)w[2] << 32 | w[3];
	int f;
	if (tv->o.weight_by_length) {
		int64_t pos = (int64_t)(a % (uint64_t)tv->total_frames);
		int lo = 0, hi = tv->o.n_train - 1; /* first file with cum > pos */
		while (lo < hi) {
			int mid = (lo + hi) / 2;
			if (tv->cum[mid] > pos)
				hi = mid;
			else
				lo = mid + 1;
		}
		f = lo;
	} else {
		f = (int)(a % (uint64_t)tv->o.n_train);
	}
	int64_t range = tv->frames[f] - tv->N;
	*file = f;
	*off = range > 0 ? (int64_t)(b % ((uint64_t)range + 1)) : 0;
	ctr[2] = (uint32_t)STREAM_FLIP;
	ctr[3] = (uint32_t)(STREAM_FLIP >> 32);
	presto_philox4x32(ctr, key, w);
	*flip = tv->o.phase_flip ? (int)(w[0] >> 31) : 0;
}

/* ---- initialisation */

static const char *leaf(const char *name)
{
	const char *p = strrchr(name, '.');
	return p ? p + 1 : name;
}

/* The table index of the sibling `suffix` of tensor i (same base name). */
static int sibling(const presto_params *ps, int i, const char *suffix)
{
	const char *name = ps->p[i].name;
	size_t base = (size_t)(leaf(name) - name);
	char buf[512];
	if (base + strlen(suffix) + 1 > sizeof buf)
		return -1;
	memcpy(buf, name, base);
	strcpy(buf + base, suffix);
	return presto_params_find(ps, buf);
}

/* g = L2 norm of every row (dim 0) of v. */
static void row_norms(float *g, const float *v, int64_t rows, size_t rest)
{
	for (int64_t r = 0; r < rows; r++) {
		double s = 0;
		for (size_t j = 0; j < rest; j++)
			s += (double)v[r * rest + j] * v[r * rest + j];
		g[r] = (float)sqrt(s);
	}
}

/* The upsampling convolution of a decoder block (stable-audio-tools'
 * naming: decoder.layers.<block>.layers.1 is its WNConvTranspose1d). */
static int is_upsample(const char *name)
{
	const char *d = strstr(name, "decoder.layers.");
	if (!d)
		return 0;
	d += strlen("decoder.layers.");
	while (*d >= '0' && *d <= '9')
		d++;
	return !strncmp(d, ".layers.1.", strlen(".layers.1."));
}

/* A fresh model. The reference (PyTorch defaults) draws every weight and
 * bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = dims 1.. of the
 * weight; at that initialisation the decoder's output is a loud pattern of
 * its biases, about 40 dB above anything its input changes, and the
 * posterior noise (sd = softplus(0) = 0.69) drowns the encoder's signal, so
 * spectral losses alone train a decoder that ignores its input (measured:
 * outputs of different clips equal to 57 dB after 300 steps). Three changes
 * fix that (the same after 300 steps: -4 dB apart, structure in time):
 *   - biases start at 0;
 *   - a transposed convolution's bound uses the number of inputs an output
 *     sample really sums, Cin * K / stride, instead of torch's Cout * K
 *     (K = 2 stride and Cout = Cin / 2 here: sqrt(stride / 2) larger);
 *   - the bottleneck's scale channels (the second half of the encoder's
 *     last bias) start at -5: posterior sd 0.0068, so the decoder sees the
 *     encoder from the first step and the KL term widens it later.
 * Snake log-alpha and log-beta start at 0 (alpha = beta = 1), g at the row
 * norms of v (W = v). */
static void init_fresh(presto_params *ps, const presto_oobleck_config *c, uint64_t seed)
{
	int last_enc_bias = -1;
	for (int i = 0; i < ps->n; i++) {
		presto_param_info *pi = &ps->p[i];
		float *d = ps->data + pi->offset;
		const char *lf = leaf(pi->name);
		if (strcmp(lf, "weight_v")) {
			memset(d, 0, sizeof(float) * pi->numel); /* biases, Snake, g below */
			if (!strcmp(lf, "bias") && strstr(pi->name, "encoder."))
				last_enc_bias = i;
			continue;
		}
		double fan_in = (double)pi->shape[1] * (double)pi->shape[2];
		if (is_upsample(pi->name) && pi->shape[2] >= 2)
			fan_in = (double)pi->shape[0] * (double)pi->shape[2] / (double)(pi->shape[2] / 2);
		double bound = 1.0 / sqrt(fan_in);
		presto_rand(d, pi->numel, seed, STREAM_INIT + (uint64_t)i, 0);
		for (size_t j = 0; j < pi->numel; j++)
			d[j] = (float)((2.0 * d[j] - 1.0) * bound);
	}
	if (last_enc_bias >= 0 && ps->p[last_enc_bias].numel == (size_t)2 * c->latent_dim)
		for (int j = c->latent_dim; j < 2 * c->latent_dim; j++)
			ps->data[ps->p[last_enc_bias].offset + j] = -5.0f;
	for (int i = 0; i < ps->n; i++) {
		presto_param_info *pi = &ps->p[i];
		if (strcmp(leaf(pi->name), "weight_g"))
			continue;
		int vi = sibling(ps, i, "weight_v");
		if (vi < 0)
			continue;
		const presto_param_info *v = &ps->p[vi];
		row_norms(ps->data + pi->offset, ps->data + v->offset, v->shape[0], v->numel / (size_t)v->shape[0]);
	}
}

/* Every tensor of the table from a vae.safetensors: g / v as stored, or
 * from a folded ".weight" (v = w, g = its row norms). */
static presto_status init_from_file(presto_params *ps, const char *path)
{
	presto_st *st = NULL;
	PRESTO_TRY(presto_st_open(path, &st));
	presto_status s = PRESTO_OK;
	char name[512];
	for (int i = 0; !s && i < ps->n; i++) {
		presto_param_info *pi = &ps->p[i];
		float *d = ps->data + pi->offset;
		const float *src;
		if (presto_st_get(st, pi->name)) {
			s = presto_st_f32(st, pi->name, pi->ndim, pi->shape, &src);
			if (!s)
				memcpy(d, src, sizeof(float) * pi->numel);
			continue;
		}
		const char *lf = leaf(pi->name);
		int is_g = !strcmp(lf, "weight_g"), is_v = !strcmp(lf, "weight_v");
		int vi = is_v ? i : is_g ? sibling(ps, i, "weight_v") : -1;
		size_t base = (size_t)(lf - pi->name);
		if (vi < 0 || base + 7 >= sizeof name) {
			s = presto_error_set(PRESTO_EINVAL, "%s: no tensor %s", path, pi->name);
			break;
		}
		memcpy(name, pi->name, base);
		strcpy(name + base, "weight");
		const presto_param_info *v = &ps->p[vi];
		s = presto_st_f32(st, name, v->ndim, v->shape, &src);
		if (s)
			break;
		if (is_v)
			memcpy(d, src, sizeof(float) * pi->numel);
		else
			row_norms(d, src, v->shape[0], v->numel / (size_t)v->shape[0]);
	}
	presto_st_close(st);
	return s ? presto_error_wrap(s, "initial weights: ") : PRESTO_OK;
}

/* ---- JSON */

static json_t *int_array(const int *v, int n)
{
	json_t *a = json_array();
	for (int i = 0; a && i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

json_t *presto_train_vae_pretransform_json(const presto_oobleck_config *c)
{
	int ratio = 1;
	for (int i = 0; i < c->n_blocks; i++)
		ratio *= c->strides[i];
	json_t *enc = json_pack("{s:s, s:{s:i, s:i, s:o, s:o, s:i, s:b}}", "type", "oobleck", "config", "in_channels",
				c->audio_channels, "channels", c->channels, "c_mults",
				int_array(c->c_mults, c->n_blocks), "strides", int_array(c->strides, c->n_blocks),
				"latent_dim", 2 * c->latent_dim, "use_snake", 1);
	json_t *dec = json_pack("{s:s, s:{s:i, s:i, s:o, s:o, s:i, s:b, s:b}}", "type", "oobleck", "config",
				"out_channels", c->audio_channels, "channels", c->channels, "c_mults",
				int_array(c->c_mults, c->n_blocks), "strides", int_array(c->strides, c->n_blocks),
				"latent_dim", c->latent_dim, "use_snake", 1, "final_tanh", c->final_tanh ? 1 : 0);
	json_t *pt = json_pack("{s:s, s:b, s:{s:o, s:o, s:{s:s}, s:i, s:i, s:i}}", "type", "autoencoder",
			       "iterate_batch", 1, "config", "encoder", enc, "decoder", dec, "bottleneck", "type",
			       "vae",
			       "latent_dim", c->latent_dim, "downsampling_ratio", ratio, "io_channels",
			       c->audio_channels);
	if (pt && c->scale > 0 && c->scale != 1.0f)
		json_object_set_new(pt, "scale", json_real(c->scale));
	if (!pt)
		presto_error_set(PRESTO_ENOMEM, "pretransform json: out of memory");
	return pt;
}

static char *options_json(const presto_train_vae *tv)
{
	const presto_train_vae_options *o = &tv->o;
	json_t *stft = json_object();
	json_t *nf = json_array(), *hop = json_array(), *win = json_array();
	for (int r = 0; r < o->stft.n_res; r++) {
		json_array_append_new(nf, json_integer(o->stft.n_fft[r]));
		json_array_append_new(hop, json_integer(o->stft.hop[r]));
		json_array_append_new(win, json_integer(o->stft.win[r]));
	}
	json_object_set_new(stft, "n_fft", nf);
	json_object_set_new(stft, "hop", hop);
	json_object_set_new(stft, "win", win);
	json_object_set_new(stft, "w_sc", json_real(o->stft.w_sc));
	json_object_set_new(stft, "w_log_mag", json_real(o->stft.w_log_mag));
	json_object_set_new(stft, "w_lin_mag", json_real(o->stft.w_lin_mag));
	json_object_set_new(stft, "pad", json_string(o->stft.pad == PRESTO_STFT_PAD_ZERO ? "zero" : "reflect"));
	json_t *j = json_pack("{s:I, s:i, s:i, s:i, s:b, s:b, s:o, s:f, s:f, s:f, s:f, s:f, s:I, s:i, s:i, s:s, s:f}",
			      "seed", (json_int_t)o->seed, "sample_rate", o->sample_rate, "chunk", o->chunk, "batch",
			      o->batch, "phase_flip", o->phase_flip, "weight_by_length", o->weight_by_length, "stft",
			      stft, "w_stft_lr", o->w_stft_lr, "w_stft_ms", o->w_stft_ms, "w_l1", o->w_l1, "w_l2",
			      o->w_l2, "w_kl", o->w_kl, "steps", (json_int_t)o->steps, "n_train", o->n_train, "n_val",
			      o->n_val, "lr_kind", presto_lr_kind_name(o->lr.kind), "lr", o->lr.lr);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return s;
}

/* ---- construction */

static char **copy_list(const char *const *v, int n)
{
	char **c = presto_calloc((size_t)(n > 0 ? n : 1), sizeof *c);
	for (int i = 0; c && i < n; i++)
		if (!(c[i] = strdup(v[i]))) {
			presto_error_set(PRESTO_ENOMEM, "out of memory");
			for (int k = 0; k < i; k++)
				free(c[k]);
			free(c);
			return NULL;
		}
	return c;
}

static void free_list(char **v, int n)
{
	if (!v)
		return;
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void presto_train_vae_free(presto_train_vae *tv)
{
	if (!tv)
		return;
	free_list(tv->train, tv->o.n_train);
	free_list(tv->val, tv->o.n_val);
	free(tv->frames);
	free(tv->cum);
	presto_vae_train_free(tv->t);
	presto_vae_free(tv->m);
	presto_adamw_free(&tv->opt);
	if (tv->o.use_ema)
		presto_ema_free(&tv->ema);
	presto_params_free(&tv->ps);
	free(tv->grad);
	presto_mrstft_free(tv->stft);
	free(tv->audio);
	free(tv->pre);
	free(tv->noise);
	free(tv->z);
	free(tv->dec);
	free(tv->ddec);
	free(tv->dz);
	free(tv->dpre);
	free(tv->kl);
	free(tv->val_audio);
	free(tv->backup);
	free(tv->pt_json);
	free(tv->opt_json);
	free((char *)tv->o.ckpt_dir);
	free(tv);
}

static void emit(presto_train_vae *tv, presto_train_vae_event ev, const presto_train_vae_stats *s, double items_s,
		 double audio_s, const char *msg)
{
	if (!tv->o.log)
		return;
	presto_train_vae_log rec;
	memset(&rec, 0, sizeof rec);
	rec.event = ev;
	rec.step = tv->st.rng.counter;
	rec.steps = tv->o.steps;
	rec.updates = tv->opt.step;
	if (s)
		rec.stats = *s;
	rec.items_per_s = items_s;
	rec.audio_per_s = audio_s;
	rec.message = msg;
	tv->o.log(tv->o.log_ctx, &rec);
}

static void info(presto_train_vae *tv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void info(presto_train_vae *tv, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	emit(tv, PRESTO_TRAIN_VAE_INFO, NULL, 0, 0, buf);
}

static presto_status check_options(const presto_train_vae_options *o)
{
	if (o->n_train < 1 || !o->train_files)
		return presto_error_set(PRESTO_EINVAL, "train vae: no training files");
	if (o->n_val < 0 || (o->n_val > 0 && !o->val_files))
		return presto_error_set(PRESTO_EINVAL, "train vae: bad validation file list");
	if (o->batch < 1 || o->chunk < 1 || o->sample_rate < 1 || o->steps < 0)
		return presto_error_set(PRESTO_EINVAL, "train vae: batch, chunk and sample rate must be positive");
	if (o->n_val > 0 && o->val_crops < 1)
		return presto_error_set(PRESTO_EINVAL, "train vae: val_crops must be at least 1");
	const double w[] = {o->w_stft_lr, o->w_stft_ms, o->w_l1, o->w_l2, o->w_kl};
	for (int i = 0; i < 5; i++)
		if (!(w[i] >= 0) || !isfinite(w[i]))
			return presto_error_set(PRESTO_EINVAL, "train vae: loss weights must be finite and >= 0");
	if (o->val_every < 0 || o->ckpt_every < 0 || o->log_every < 0)
		return presto_error_set(PRESTO_EINVAL, "train vae: negative interval");
	if (!(o->max_grad_norm >= 0))
		return presto_error_set(PRESTO_EINVAL, "train vae: max_grad_norm must be >= 0");
	if (o->model.latent_dim < 1 || o->model.audio_channels < 1)
		return presto_error_set(PRESTO_EINVAL, "train vae: model latent_dim and audio_channels must be set");
	if (o->model.encoder_out_dim && o->model.encoder_out_dim != 2 * o->model.latent_dim)
		return presto_error_set(PRESTO_EINVAL, "train vae: encoder_out_dim must be 2 * latent_dim");
	return PRESTO_OK;
}

static presto_status scan_files(presto_train_vae *tv)
{
	const presto_train_vae_options *o = &tv->o;
	tv->frames = calloc((size_t)o->n_train, sizeof *tv->frames);
	tv->cum = calloc((size_t)o->n_train, sizeof *tv->cum);
	if (!tv->frames || !tv->cum)
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	for (int k = 0; k < o->n_train + o->n_val; k++) {
		const char *path = k < o->n_train ? tv->train[k] : tv->val[k - o->n_train];
		int ch, rate;
		int64_t fr;
		PRESTO_TRY(file_info(path, &ch, &fr, &rate));
		if (rate != o->sample_rate)
			return presto_error_set(PRESTO_EINVAL, "%s: sample rate %d Hz, the run's is %d Hz", path, rate,
						o->sample_rate);
		if (ch != tv->C && ch != 1 && tv->C != 1)
			return presto_error_set(PRESTO_EINVAL, "%s: %d channels for a %d-channel model", path, ch,
						tv->C);
		if (fr < 1)
			return presto_error_set(PRESTO_EINVAL, "%s: no audio", path);
		if (k < o->n_train) {
			tv->frames[k] = fr;
			if (tv->total_frames > INT64_MAX - fr)
				return presto_error_set(PRESTO_EINVAL, "train vae: corpus too long");
			tv->total_frames += fr;
			tv->cum[k] = tv->total_frames;
		}
	}
	return PRESTO_OK;
}

static presto_status read_val(presto_train_vae *tv)
{
	const presto_train_vae_options *o = &tv->o;
	if (o->n_val == 0)
		return PRESTO_OK;
	size_t per = (size_t)tv->C * (size_t)tv->N, n;
	if (!presto_mul_size((size_t)o->n_val, (size_t)o->val_crops, &n) || !presto_mul_size(n, per, &n))
		return presto_error_set(PRESTO_ENOMEM, "train vae: validation set too large");
	if (!(tv->val_audio = presto_falloc(n)))
		return PRESTO_ENOMEM;
	int k = 0;
	for (int i = 0; i < o->n_val; i++) {
		int ch, rate;
		int64_t fr;
		PRESTO_TRY(file_info(tv->val[i], &ch, &fr, &rate));
		int64_t range = fr - tv->N > 0 ? fr - tv->N : 0;
		for (int j = 0; j < o->val_crops; j++) {
			int64_t off = o->val_crops > 1 ? range * j / (o->val_crops - 1) : range / 2;
			PRESTO_TRY(presto_train_vae_read_crop(tv->val[i], off, tv->C, tv->N, tv->val_audio + k * per));
			k++;
		}
	}
	tv->n_val_crops = k;
	return PRESTO_OK;
}

static presto_status load_checkpoint(presto_train_vae *tv, const char *path)
{
	char *pt = NULL;
	presto_status s = presto_checkpoint_meta(path, META_PRETRANSFORM, &pt);
	if (s)
		return presto_error_wrap(s, "%s: not a VAE training checkpoint: ", path);
	int same = !strcmp(pt, tv->pt_json);
	free(pt);
	if (!same)
		return presto_error_set(PRESTO_EINVAL, "%s: a checkpoint of another VAE configuration", path);
	char *fr = NULL;
	int frozen = 0;
	s = presto_checkpoint_meta(path, META_FREEZE, &fr);
	if (s == PRESTO_EINVAL)
		presto_error_clear(); /* no such key: written before encoders could be frozen */
	else if (s)
		return s;
	else
		frozen = !strcmp(fr, "1");
	free(fr);
	if (frozen != (tv->o.freeze_encoder != 0))
		return presto_error_set(PRESTO_EINVAL,
					frozen ? "%s: a checkpoint of a run with a frozen encoder: resume it with the "
						 "encoder frozen (--freeze-encoder), or start afresh"
					       : "%s: a checkpoint of a run that trains the encoder: resume it without "
						 "freezing the encoder (no --freeze-encoder), or start afresh",
					path);
	uint64_t seed = tv->st.rng.seed;
	PRESTO_TRY(presto_checkpoint_load(path, &tv->st));
	/* the options' hyper-parameters win over the checkpoint's */
	tv->opt.cfg = tv->o.adamw;
	tv->sched = tv->o.lr;
	tv->st.max_grad_norm = tv->o.max_grad_norm;
	if (tv->o.use_ema) {
		tv->ema.decay = tv->o.ema_decay;
		tv->ema.warmup_power = tv->o.ema_warmup_power;
	}
	info(tv, "resumed from %s at step %lld (%lld updates)", path, (long long)tv->st.rng.counter,
	     (long long)tv->opt.step);
	if (tv->st.rng.seed != seed)
		info(tv, "the checkpoint's seed %llu continues (not the options' %llu)",
		     (unsigned long long)tv->st.rng.seed, (unsigned long long)seed);
	tv->last_ckpt = tv->st.rng.counter;
	return PRESTO_OK;
}

static presto_status setup(presto_train_vae *tv)
{
	const presto_train_vae_options *o = &tv->o;
	presto_oobleck_config *c = &tv->c;
	*c = o->model;
	c->encoder_out_dim = 2 * c->latent_dim;
	c->use_snake = 1;
	c->has_encoder = c->has_decoder = 1;
	if (!(c->scale > 0))
		c->scale = 1.0f;
	int64_t ratio = 1;
	for (int i = 0; i < c->n_blocks && i < PRESTO_OOBLECK_MAX_BLOCKS; i++)
		ratio *= c->strides[i] > 0 ? c->strides[i] : 1;
	if (c->n_blocks < 1 || c->n_blocks > PRESTO_OOBLECK_MAX_BLOCKS || ratio > (1 << 24))
		return presto_error_set(PRESTO_EINVAL, "train vae: model has %d blocks", c->n_blocks);
	if (c->downsampling_ratio && c->downsampling_ratio != ratio)
		return presto_error_set(PRESTO_EINVAL, "train vae: downsampling_ratio %d is not the product of the "
						       "strides (%lld)", c->downsampling_ratio, (long long)ratio);
	c->downsampling_ratio = (int)ratio;
	tv->C = c->audio_channels;
	tv->L = c->latent_dim;
	tv->E = c->encoder_out_dim;
	tv->B = o->batch;
	tv->N = o->chunk;
	tv->Lz = presto_vae_latent_len(c, tv->N);
	if (tv->Lz < 1 || presto_vae_audio_len(c, tv->Lz) != tv->N)
		return presto_error_set(PRESTO_EINVAL, "train vae: chunk %d is not a positive multiple of the "
						       "downsampling ratio %d", tv->N, c->downsampling_ratio);
	if (o->stft.pad == PRESTO_STFT_PAD_REFLECT)
		for (int r = 0; r < o->stft.n_res && r < PRESTO_STFT_MAX_RES; r++)
			if (o->stft.n_fft[r] / 2 >= tv->N)
				return presto_error_set(PRESTO_EINVAL, "train vae: chunk %d too short for n_fft %d "
								       "(reflect padding)", tv->N, o->stft.n_fft[r]);
	PRESTO_TRY(presto_mrstft_new(&o->stft, &tv->stft));
	json_t *pt = presto_train_vae_pretransform_json(c);
	tv->pt_json = pt ? json_dumps(pt, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(pt);
	if (!tv->pt_json || !(tv->opt_json = options_json(tv)))
		return presto_error_set(PRESTO_ENOMEM, "train vae: out of memory");
	PRESTO_TRY(scan_files(tv));

	/* model, optimizer, state */
	presto_params_init(&tv->ps);
	PRESTO_TRY(presto_oobleck_params(c, PREFIX, 1, 1, &tv->ps));
	for (int i = 0; i < tv->ps.n; i++) {
		presto_param_info *pi = &tv->ps.p[i];
		if (o->freeze_encoder && !strncmp(pi->name, PREFIX "encoder.", strlen(PREFIX "encoder.")))
			pi->trainable = 0; /* a buffer: no gradient, no update, EMA = weights */
		else
			tv->n_trained += pi->numel;
	}
	PRESTO_TRY(presto_params_alloc(&tv->ps));
	PRESTO_TRY(presto_vae_from_params(c, &tv->ps, PREFIX, 1, 1, &tv->m));
	PRESTO_TRY(presto_vae_train_new(tv->m, &tv->t));
	PRESTO_TRY(presto_adamw_init(&tv->opt, &tv->ps, &o->adamw));
	tv->sched = o->lr;
	presto_loss_scale_init(&tv->ls, 0, 1.0f, 2000);
	if (!(tv->grad = presto_params_buffer(&tv->ps)) || !(tv->backup = presto_falloc(tv->ps.total)))
		return PRESTO_ENOMEM;
	size_t na = (size_t)tv->B * tv->C * tv->N, np = (size_t)tv->B * tv->E * tv->Lz,
	       nz = (size_t)tv->B * tv->L * tv->Lz;
	if (!(tv->audio = presto_falloc(na)) || !(tv->dec = presto_falloc(na)) || !(tv->ddec = presto_falloc(na)) ||
	    !(tv->pre = presto_falloc(np)) || !(tv->dpre = presto_falloc(np)) || !(tv->noise = presto_falloc(nz)) ||
	    !(tv->z = presto_falloc(nz)) || !(tv->dz = presto_falloc(nz)) ||
	    !(tv->kl = presto_calloc((size_t)tv->B, sizeof(double))))
		return PRESTO_ENOMEM;
	PRESTO_TRY(read_val(tv));

	tv->last_ckpt = -1;
	tv->st = (presto_train_state){.ps = &tv->ps, .opt = &tv->opt, .sched = &tv->sched, .ema = NULL,
				      .scale = &tv->ls, .max_grad_norm = o->max_grad_norm,
				      .rng = {.seed = o->seed, .counter = 0},
				      .data = {.seed = o->seed, .epoch = 0, .position = 0}};
	char *latest = NULL;
	if (o->ckpt_dir && o->resume) {
		presto_status s = presto_checkpoint_latest(o->ckpt_dir, &latest);
		if (s == PRESTO_EEOF) {
			presto_error_clear();
			latest = NULL;
		} else if (s) {
			return s;
		}
	}
	presto_status s = PRESTO_OK;
	if (!latest && o->freeze_encoder && !o->init_from)
		s = presto_error_set(PRESTO_EINVAL, "train vae: freezing the encoder needs the weights of a trained "
						    "VAE (init_from) or a checkpoint of a frozen run to resume");
	if (!s && !latest) {
		if (o->init_from)
			s = init_from_file(&tv->ps, o->init_from);
		else
			init_fresh(&tv->ps, &tv->c, o->seed);
	}
	if (!s && o->use_ema) {
		s = presto_ema_init(&tv->ema, &tv->ps, o->ema_decay, o->ema_warmup_power);
		if (!s)
			tv->st.ema = &tv->ema;
	}
	if (!s && latest)
		s = load_checkpoint(tv, latest);
	if (!s && latest && o->init_from)
		info(tv, "the checkpoint's weights go on (%s is not read)", o->init_from);
	free(latest);
	if (!s)
		presto_vae_refold(tv->m);
	return s;
}

presto_status presto_train_vae_new(const presto_train_vae_options *o, presto_train_vae **out)
{
	*out = NULL;
	PRESTO_TRY(check_options(o));
	presto_train_vae *tv = presto_calloc(1, sizeof *tv);
	if (!tv)
		return PRESTO_ENOMEM;
	tv->o = *o;
	tv->o.n_train = 0;
	tv->o.n_val = 0;
	if (!(tv->train = copy_list(o->train_files, o->n_train))) {
		presto_train_vae_free(tv);
		return PRESTO_ENOMEM;
	}
	tv->o.n_train = o->n_train;
	if (!(tv->val = copy_list(o->val_files, o->n_val))) {
		presto_train_vae_free(tv);
		return PRESTO_ENOMEM;
	}
	tv->o.n_val = o->n_val;
	tv->o.train_files = (const char *const *)tv->train;
	tv->o.val_files = (const char *const *)tv->val;
	tv->o.ckpt_dir = NULL;
	if (o->ckpt_dir && !(tv->o.ckpt_dir = strdup(o->ckpt_dir))) {
		presto_train_vae_free(tv);
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	}
	if (o->threads > 0)
		presto_set_threads(o->threads);
	presto_status s = setup(tv);
	tv->o.init_from = NULL; /* the caller's string: used only by setup() */
	if (s) {
		presto_train_vae_free(tv);
		return s;
	}
	*out = tv;
	return PRESTO_OK;
}

/* ---- one step */

/* Losses of decoded y against the reals x ([B, C, N]); d_y += their
 * gradient (scaled by each weight) when dy is not NULL. As in the
 * reference's training wrapper, the decoded audio is the STFT loss' input
 * and the reals its target: the spectral convergence term is normalised by
 * the reals (normalising by the output would reward a loud output). */
static presto_status recon_losses(presto_train_vae *tv, float *dy, const float *x, const float *y, int B,
				  presto_train_vae_stats *st)
{
	const presto_train_vae_options *o = &tv->o;
	size_t n = (size_t)B * tv->C * tv->N;
	presto_mrstft_terms lr, ms;
	double stft = 0;
	if (!dy)
		PRESTO_TRY(presto_mrstft_stereo_forward(tv->stft, y, x, B, tv->C, tv->N, o->w_stft_lr, o->w_stft_ms,
							&lr, &ms, &stft));
	else if (o->w_stft_lr > 0 || o->w_stft_ms > 0)
		PRESTO_TRY(presto_mrstft_stereo_backward(tv->stft, dy, NULL, y, x, B, tv->C, tv->N, o->w_stft_lr,
							 o->w_stft_ms, 1.0, &lr, &ms, &stft));
	else {
		memset(&lr, 0, sizeof lr);
		memset(&ms, 0, sizeof ms);
	}
	st->stft_lr = lr.loss;
	st->stft_ms = ms.loss;
	st->l1 = presto_l1_loss_forward(y, x, n);
	st->l2 = presto_l2_loss_forward(y, x, n);
	if (dy && o->w_l1 > 0)
		presto_l1_loss_backward(dy, NULL, y, x, n, o->w_l1);
	if (dy && o->w_l2 > 0)
		presto_l2_loss_backward(dy, NULL, y, x, n, o->w_l2);
	st->total = stft + o->w_l1 * st->l1 + o->w_l2 * st->l2;
	return PRESTO_OK;
}

/* Loss and gradient (into tv->grad) of the batch of the current step at the
 * current weights; nothing of the state changes. */
static presto_status loss_grad(presto_train_vae *tv, presto_train_vae_stats *st)
{
	const presto_train_vae_options *o = &tv->o;
	memset(st, 0, sizeof *st);
	st->si_sdr = NAN;
	int B = tv->B, C = tv->C, N = tv->N, L = tv->L, E = tv->E, Lz = tv->Lz;
	uint64_t step = tv->st.rng.counter;
	size_t per = (size_t)C * N, na = (size_t)B * per, nz1 = (size_t)L * Lz, np1 = (size_t)E * Lz;

	/* the batch */
	for (int b = 0; b < B; b++) {
		int f, flip;
		int64_t off;
		draw(tv, step * (uint64_t)B + (uint64_t)b, &f, &off, &flip);
		float *a = tv->audio + (size_t)b * per;
		PRESTO_TRY(presto_train_vae_read_crop(tv->train[f], off, C, N, a));
		if (flip)
			for (size_t i = 0; i < per; i++)
				a[i] = -a[i];
	}

	/* forward */
	PRESTO_TRY(presto_vae_encode_train(tv->t, tv->pre, tv->audio, B, N));
	presto_randn(tv->noise, (size_t)B * nz1, tv->st.rng.seed, STREAM_NOISE + step, 0);
	double kl = 0;
	for (int b = 0; b < B; b++) {
		presto_vae_bottleneck(&tv->c, tv->z + b * nz1, tv->pre + b * np1, tv->noise + b * nz1, Lz, &tv->kl[b]);
		kl += tv->kl[b];
	}
	st->kl = kl / B;
	PRESTO_TRY(presto_vae_decode_train(tv->t, tv->dec, tv->z, B, Lz));

	/* losses and their gradient */
	memset(tv->ddec, 0, sizeof(float) * na);
	PRESTO_TRY(recon_losses(tv, tv->ddec, tv->audio, tv->dec, B, st));
	st->total += o->w_kl * st->kl;

	/* backward (a frozen encoder: the decoder's parameters only) */
	presto_grad_zero(&tv->ps, tv->grad);
	if (o->freeze_encoder)
		return presto_vae_decode_backward(tv->t, NULL, tv->grad, tv->ddec);
	memset(tv->dz, 0, sizeof(float) * (size_t)B * nz1);
	PRESTO_TRY(presto_vae_decode_backward(tv->t, tv->dz, tv->grad, tv->ddec));
	memset(tv->dpre, 0, sizeof(float) * (size_t)B * np1);
	for (int b = 0; b < B; b++)
		presto_vae_bottleneck_backward(&tv->c, tv->dpre + b * np1, tv->dz + b * nz1, o->w_kl / B,
					       tv->pre + b * np1, tv->noise + b * nz1, Lz);
	return presto_vae_encode_backward(tv->t, NULL, tv->grad, tv->dpre);
}

presto_status presto_train_vae_eval(presto_train_vae *tv, float *grad, presto_train_vae_stats *stats)
{
	presto_train_vae_stats st;
	double t0 = now();
	PRESTO_TRY(loss_grad(tv, &st));
	if (grad)
		memcpy(grad, tv->grad, sizeof(float) * tv->ps.total);
	st.lr = presto_lr_at(&tv->sched, tv->opt.step);
	st.grad_norm = presto_grad_norm(&tv->ps, tv->grad);
	st.seconds = now() - t0;
	if (stats)
		*stats = st;
	return PRESTO_OK;
}

presto_status presto_train_vae_step(presto_train_vae *tv, presto_train_vae_stats *stats)
{
	presto_train_vae_stats st;
	double t0 = now();
	PRESTO_TRY(loss_grad(tv, &st));
	st.lr = presto_lr_at(&tv->sched, tv->opt.step);
	if (presto_loss_scale_update(&tv->ls, &tv->ps, tv->grad)) {
		st.grad_norm = presto_grad_clip(&tv->ps, tv->grad, tv->st.max_grad_norm);
		presto_adamw_step(&tv->opt, &tv->ps, tv->grad, st.lr);
		if (tv->o.use_ema)
			presto_ema_update(&tv->ema, &tv->ps);
	} else {
		st.grad_norm = NAN;
		st.skipped = 1;
	}
	tv->st.rng.counter++;
	tv->st.data.position += tv->B;
	st.seconds = now() - t0;
	if (stats)
		*stats = st;
	return PRESTO_OK;
}

/* ---- validation */

presto_status presto_train_vae_validate(presto_train_vae *tv, presto_train_vae_stats *stats)
{
	if (!tv->n_val_crops)
		return presto_error_set(PRESTO_EINVAL, "train vae: no validation files");
	const presto_train_vae_options *o = &tv->o;
	double t0 = now();
	int C = tv->C, N = tv->N, Lz = tv->Lz;
	size_t per = (size_t)C * N;
	presto_train_vae_stats acc;
	memset(&acc, 0, sizeof acc);
	int ema = o->use_ema;
	if (ema) {
		memcpy(tv->backup, tv->ps.data, sizeof(float) * tv->ps.total);
		memcpy(tv->ps.data, tv->ema.w, sizeof(float) * tv->ps.total);
	}
	presto_vae_refold(tv->m);
	presto_status s = PRESTO_OK;
	for (int k = 0; !s && k < tv->n_val_crops; k++) {
		const float *x = tv->val_audio + (size_t)k * per;
		presto_train_vae_stats one;
		memset(&one, 0, sizeof one);
		double kl = 0;
		s = presto_vae_encode(tv->m, tv->pre, x, N, NULL, NULL);
		if (s)
			break;
		presto_vae_bottleneck(&tv->c, tv->z, tv->pre, NULL, Lz, &kl);
		s = presto_vae_decode(tv->m, tv->dec, tv->z, Lz, NULL, NULL);
		if (!s)
			s = recon_losses(tv, NULL, x, tv->dec, 1, &one);
		if (s)
			break;
		double sdr = 0;
		for (int c = 0; c < C; c++)
			sdr += presto_si_sdr(tv->dec + (size_t)c * N, x + (size_t)c * N, (size_t)N);
		acc.total += one.total + o->w_kl * kl;
		acc.stft_lr += one.stft_lr;
		acc.stft_ms += one.stft_ms;
		acc.l1 += one.l1;
		acc.l2 += one.l2;
		acc.kl += kl;
		acc.si_sdr += sdr / C;
	}
	if (ema)
		memcpy(tv->ps.data, tv->backup, sizeof(float) * tv->ps.total);
	presto_vae_refold(tv->m);
	if (s)
		return presto_error_wrap(s, "validation: ");
	double n = tv->n_val_crops;
	acc.total /= n;
	acc.stft_lr /= n;
	acc.stft_ms /= n;
	acc.l1 /= n;
	acc.l2 /= n;
	acc.kl /= n;
	acc.si_sdr /= n;
	acc.lr = presto_lr_at(&tv->sched, tv->opt.step);
	acc.grad_norm = NAN;
	acc.seconds = now() - t0;
	if (stats)
		*stats = acc;
	return PRESTO_OK;
}

/* ---- checkpoints, export */

presto_status presto_train_vae_checkpoint(presto_train_vae *tv, char **path_out)
{
	if (path_out)
		*path_out = NULL;
	const char *dir = tv->o.ckpt_dir;
	if (!dir)
		return presto_error_set(PRESTO_EINVAL, "train vae: no checkpoint directory");
	if (mkdir(dir, 0777) && errno != EEXIST)
		return presto_error_set(PRESTO_EIO, "%s: cannot create (%s)", dir, strerror(errno));
	const char *meta[6] = {META_PRETRANSFORM, tv->pt_json, META_OPTIONS, tv->opt_json, META_FREEZE,
			       tv->o.freeze_encoder ? "1" : "0"};
	PRESTO_TRY(presto_checkpoint_save_rotating(dir, &tv->st, tv->o.ckpt_keep, 3, meta, path_out));
	tv->last_ckpt = tv->st.rng.counter;
	return PRESTO_OK;
}

presto_status presto_train_vae_export(presto_train_vae *tv, const char *path, int ema, presto_dtype dtype)
{
	if (dtype != PRESTO_F32 && dtype != PRESTO_F16 && dtype != PRESTO_BF16)
		return presto_error_set(PRESTO_EUNSUP, "train vae export: dtype must be F32, F16 or BF16");
	const float *buf = ema && tv->o.use_ema ? tv->ema.w : tv->ps.data;
	char steps[32];
	snprintf(steps, sizeof steps, "%lld", (long long)tv->st.rng.counter);
	const char *meta[6] = {"presto.vae.pretransform", tv->pt_json, "presto.vae.steps", steps,
			       "presto.vae.weights", buf == tv->ema.w ? "ema" : "raw"};
	return presto_params_save(&tv->ps, buf, path, "", dtype, 0, 3, meta); /* a frozen encoder too */
}

/* ---- the loop */

presto_status presto_train_vae_run(presto_train_vae *tv)
{
	const presto_train_vae_options *o = &tv->o;
	presto_train_vae_stats win;
	memset(&win, 0, sizeof win);
	int nwin = 0, stopped = 0;
	double wsec = 0;
	size_t n_params = 0;
	for (int i = 0; i < tv->ps.n; i++)
		n_params += tv->ps.p[i].numel;
	if ((int64_t)tv->st.rng.counter < o->steps && o->freeze_encoder)
		info(tv, "training the decoder (encoder frozen) from step %lld to %lld: %d x %d frames per step, "
			 "%zu of %zu parameters", (long long)tv->st.rng.counter, (long long)o->steps, tv->B, tv->N,
		     tv->n_trained, n_params);
	else if ((int64_t)tv->st.rng.counter < o->steps)
		info(tv, "training from step %lld to %lld: %d x %d frames per step, %zu parameters",
		     (long long)tv->st.rng.counter, (long long)o->steps, tv->B, tv->N, n_params);
	while ((int64_t)tv->st.rng.counter < o->steps) {
		if (o->stop && *o->stop) {
			stopped = 1;
			break;
		}
		presto_train_vae_stats s;
		PRESTO_TRY(presto_train_vae_step(tv, &s));
		nwin++;
		wsec += s.seconds;
		win.total += s.total;
		win.stft_lr += s.stft_lr;
		win.stft_ms += s.stft_ms;
		win.l1 += s.l1;
		win.l2 += s.l2;
		win.kl += s.kl;
		if (!s.skipped)
			win.grad_norm += s.grad_norm;
		win.skipped += s.skipped;
		win.lr = s.lr;
		int64_t k = tv->st.rng.counter;
		if (o->log_every && (k % o->log_every == 0 || k == o->steps)) {
			presto_train_vae_stats m = win;
			m.total /= nwin;
			m.stft_lr /= nwin;
			m.stft_ms /= nwin;
			m.l1 /= nwin;
			m.l2 /= nwin;
			m.kl /= nwin;
			m.grad_norm = nwin > m.skipped ? m.grad_norm / (nwin - m.skipped) : NAN;
			m.si_sdr = NAN;
			m.seconds = wsec;
			double items = wsec > 0 ? (double)nwin * tv->B / wsec : 0;
			emit(tv, PRESTO_TRAIN_VAE_STEP, &m, items, items * tv->N / o->sample_rate, NULL);
			memset(&win, 0, sizeof win);
			nwin = 0;
			wsec = 0;
		}
		if (o->val_every && tv->n_val_crops && k % o->val_every == 0) {
			presto_train_vae_stats v;
			PRESTO_TRY(presto_train_vae_validate(tv, &v));
			emit(tv, PRESTO_TRAIN_VAE_VAL, &v, 0, 0, NULL);
		}
		if (o->ckpt_dir && o->ckpt_every && k % o->ckpt_every == 0) {
			char *path = NULL;
			PRESTO_TRY(presto_train_vae_checkpoint(tv, &path));
			emit(tv, PRESTO_TRAIN_VAE_CKPT, NULL, 0, 0, path);
			free(path);
		}
	}
	if (o->ckpt_dir && tv->last_ckpt != (int64_t)tv->st.rng.counter) {
		char *path = NULL;
		PRESTO_TRY(presto_train_vae_checkpoint(tv, &path));
		emit(tv, PRESTO_TRAIN_VAE_CKPT, NULL, 0, 0, path);
		free(path);
	}
	if (stopped)
		info(tv, "stopped at step %lld", (long long)tv->st.rng.counter);
	return PRESTO_OK;
}

/* ---- accessors */

const presto_train_state *presto_train_vae_state(const presto_train_vae *tv) { return &tv->st; }
int64_t presto_train_vae_steps_done(const presto_train_vae *tv) { return tv->st.rng.counter; }

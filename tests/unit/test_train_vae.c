/* test_train_vae.c - lib/train_vae.c on a tiny VAE and a few synthetic clips
 * (sines and noise written to a temp directory): crops read by seeking equal
 * the whole file's samples; a short run lowers the validation loss; a run
 * interrupted (killed after a checkpoint, or stopped by the flag) and
 * resumed ends bit-identical to the uninterrupted one; the exported
 * vae.safetensors loads with presto_vae_load and decodes like the trainer's
 * weights; the pretransform JSON reads back; bad inputs are refused; with a
 * frozen encoder only the decoder changes (its gradient that of a full step,
 * the encoder's weights, export and latents bit-identical to the init), and
 * a frozen run resumes exactly.
 * Exit status 0 when every check passes. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio.h"
#include "train_vae.h"

#include "check.h"
#include "testrand.h"

#define SR 16000
#define CHUNK 1024
#define PREFIX "pretransform.model."

static char dir[256];
static char path_a[300], path_b[300], path_c[300], path_d[300], path_v[300], path_r[300];

static void rm_rf(const char *p)
{
	struct stat sb;
	if (lstat(p, &sb))
		return;
	if (S_ISDIR(sb.st_mode)) {
		DIR *d = opendir(p);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char sub[1024];
			snprintf(sub, sizeof sub, "%s/%s", p, e->d_name);
			rm_rf(sub);
		}
		if (d)
			closedir(d);
		rmdir(p);
	} else {
		unlink(p);
	}
}

TEST_RAND_SEED(0x853c49e6748fea9bull);

/* C channels of n frames: sines at f Hz (channel c at f * (1 + c / 2)),
 * amplitude a, plus uniform noise of amplitude nz. */
static int write_clip(const char *path, int C, int n, double f, double a, double nz, int rate)
{
	float *x = malloc(sizeof(float) * (size_t)C * n);
	for (int c = 0; c < C; c++)
		for (int t = 0; t < n; t++)
			x[(size_t)c * n + t] = (float)(a * sin(2 * M_PI * f * (1 + 0.5 * c) * t / rate) +
						       nz * (2 * unif() - 1));
	presto_status s = presto_audio_write(path, x, C, n, rate, PRESTO_AUDIO_PCM16);
	free(x);
	if (s)
		printf("FAIL writing %s: %s\n", path, presto_error());
	return s ? -1 : 0;
}

static presto_oobleck_config tiny_model(void)
{
	presto_oobleck_config c;
	memset(&c, 0, sizeof c);
	c.audio_channels = 2;
	c.channels = 4;
	c.n_blocks = 2;
	c.c_mults[0] = 1;
	c.c_mults[1] = 2;
	c.strides[0] = 2;
	c.strides[1] = 2;
	c.latent_dim = 4;
	c.encoder_out_dim = 8;
	c.use_snake = 1;
	c.final_tanh = 0;
	c.scale = 1.0f;
	return c;
}

static const char *train_list[4];
static const char *val_list[1];

static void tiny_options(presto_train_vae_options *o)
{
	presto_train_vae_defaults(o);
	o->model = tiny_model();
	train_list[0] = path_a;
	train_list[1] = path_b;
	train_list[2] = path_c;
	train_list[3] = path_d;
	val_list[0] = path_v;
	o->train_files = train_list;
	o->n_train = 4;
	o->val_files = val_list;
	o->n_val = 1;
	o->sample_rate = SR;
	o->chunk = CHUNK;
	o->batch = 2;
	o->stft.n_res = 4;
	for (int r = 0; r < 4; r++) {
		o->stft.n_fft[r] = 256 >> r;
		o->stft.hop[r] = o->stft.n_fft[r] / 4;
		o->stft.win[r] = o->stft.n_fft[r];
	}
	o->w_l1 = 0.1;
	o->lr.lr = 3e-3;
	o->max_grad_norm = 10.0;
	o->seed = 1234;
	o->val_crops = 2;
	o->log_every = 0;
	o->threads = 1;
}

/* ---- crops */

static void test_read_crop(void)
{
	float *all = NULL;
	int ch, rate;
	int64_t n;
	const char *paths[2] = {path_a, path_b};
	for (int k = 0; k < 2; k++) {
		if (presto_audio_read(paths[k], &all, &ch, &n, &rate)) {
			CHECK(0, "read %s: %s", paths[k], presto_error());
			return;
		}
		enum { OFF = 1234, N = 2000 };
		float *crop = malloc(sizeof(float) * 2 * N);
		presto_status s = presto_train_vae_read_crop(paths[k], OFF, 2, N, crop);
		int same = !s && ch == 2;
		for (int c = 0; same && c < 2; c++)
			for (int t = 0; t < N; t++)
				same = same && crop[(size_t)c * N + t] == all[(size_t)c * n + OFF + t];
		CHECK(same, "crop of %s by seeking equals the whole file's samples", strrchr(paths[k], '/') + 1);
		/* past the end: zero padding */
		s = presto_train_vae_read_crop(paths[k], n - 100, 2, N, crop);
		int pad = !s;
		for (int c = 0; pad && c < 2; c++)
			for (int t = 0; t < N; t++)
				pad = pad &&
				      crop[(size_t)c * N + t] == (t < 100 ? all[(size_t)c * n + n - 100 + t] : 0.0f);
		CHECK(pad, "crop past the end is zero-padded");
		free(crop);
		free(all);
		all = NULL;
	}
	/* mono file: duplicated into both channels */
	if (presto_audio_read(path_c, &all, &ch, &n, &rate))
		return;
	float crop[2 * 500];
	presto_status s = presto_train_vae_read_crop(path_c, 10, 2, 500, crop);
	int dup = !s && ch == 1;
	for (int t = 0; dup && t < 500; t++)
		dup = crop[t] == all[10 + t] && crop[500 + t] == all[10 + t];
	CHECK(dup, "mono file duplicated to the stereo model's channels");
	float mono[300];
	s = presto_train_vae_read_crop(path_a, 0, 1, 300, mono);
	free(all);
	presto_audio_read(path_a, &all, &ch, &n, &rate);
	int avg = !s;
	for (int t = 0; avg && t < 300; t++)
		avg = fabsf(mono[t] - 0.5f * (all[t] + all[n + t])) < 1e-7f;
	CHECK(avg, "stereo file averaged for a mono model");
	free(all);
	CHECK(presto_train_vae_read_crop("/nonexistent.wav", 0, 2, 10, crop) == PRESTO_EIO, "missing file: EIO");
}

/* ---- the gradient of the whole objective: central differences (fourth
 * order) of presto_train_vae_eval's loss at entries of 16 tensors spread over
 * the table (encoder and decoder g, v, bias, Snake alpha / beta), the error
 * max |num - ana| over max |ana| of those entries. Every term is on but the
 * log-magnitude and L1 ones: test_loss checks their gradients; composed
 * with a network, the bins of near-zero magnitude (curvature 1/|X|^2) and
 * the kinks make the float loss too rough for differences at a step that
 * rises above its rounding. */
static void test_grad(void)
{
	presto_train_vae_options o;
	tiny_options(&o);
	o.w_stft_lr = 1.0;
	o.w_stft_ms = 2.0;
	o.w_l1 = 0.0;
	o.w_l2 = 0.5;
	o.w_kl = 0.05;
	o.stft.w_log_mag = 0.0;
	o.stft.w_lin_mag = 0.2;
	presto_train_vae *tv = NULL;
	if (presto_train_vae_new(&o, &tv)) {
		CHECK(0, "trainer: %s", presto_error());
		return;
	}
	/* two steps first: weights away from their initial values */
	presto_status s = presto_train_vae_step(tv, NULL);
	if (!s)
		s = presto_train_vae_step(tv, NULL);
	const presto_train_state *st = presto_train_vae_state(tv);
	presto_params *ps = st->ps;
	float *grad = malloc(sizeof(float) * ps->total);
	presto_train_vae_stats e0;
	if (!s)
		s = presto_train_vae_eval(tv, grad, &e0);
	double err = 0, amax = 0;
	int checked = 0;
	const double h = 1e-3;
	for (int k = 0; !s && k < 16; k++) {
		int ti = (int)((long)k * ps->n / 16);
		const presto_param_info *pi = &ps->p[ti];
		size_t j = pi->offset + (size_t)(unif() * (double)pi->numel);
		float p0 = ps->data[j];
		double l[4];
		static const double sh[4] = {1, -1, 2, -2};
		for (int q = 0; !s && q < 4; q++) {
			presto_train_vae_stats e;
			ps->data[j] = (float)(p0 + sh[q] * h);
			s = presto_train_vae_eval(tv, NULL, &e);
			l[q] = e.total;
		}
		ps->data[j] = p0;
		double num = (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * h);
		err = fmax(err, fabs(num - grad[j]));
		amax = fmax(amax, fabs(grad[j]));
		checked++;
	}
	presto_train_vae_stats e1;
	if (!s)
		s = presto_train_vae_eval(tv, NULL, &e1);
	CHECK(!s && e1.total == e0.total && presto_train_vae_steps_done(tv) == 2, "eval changes nothing");
	CHECK(!s && err < 2e-3 * amax, "whole objective d/dparams at %d entries: rel err %.2e (max |grad| %.3g)",
	      checked, err / amax, amax);
	free(grad);
	presto_train_vae_free(tv);
}

/* ---- the runs */

typedef struct {
	int n_step;
	double first, last; /* training losses of the first and last STEP records */
	volatile int *stop;
	int stop_at;
	int n_ckpt;
} logbook;

static void log_cb(void *ctx, const presto_train_vae_log *r)
{
	logbook *lb = ctx;
	if (r->event == PRESTO_TRAIN_VAE_STEP) {
		if (!lb->n_step++)
			lb->first = r->stats.total;
		lb->last = r->stats.total;
		if (lb->stop && r->step == lb->stop_at)
			*lb->stop = 1;
	} else if (r->event == PRESTO_TRAIN_VAE_CKPT) {
		lb->n_ckpt++;
	}
}

static void test_learns(void)
{
	presto_train_vae_options o;
	tiny_options(&o);
	o.model.channels = 8;
	o.w_l2 = 1.0;
	o.max_grad_norm = 1.0;
	o.steps = 40;
	o.log_every = 5;
	logbook lb = {0};
	o.log = log_cb;
	o.log_ctx = &lb;
	presto_train_vae *tv = NULL;
	presto_train_vae_stats v0, v1;
	if (presto_train_vae_new(&o, &tv) || presto_train_vae_validate(tv, &v0)) {
		CHECK(0, "trainer: %s", presto_error());
		presto_train_vae_free(tv);
		return;
	}
	presto_status s = presto_train_vae_run(tv);
	CHECK(!s && presto_train_vae_steps_done(tv) == 40, "40 steps run");
	s = presto_train_vae_validate(tv, &v1);
	/* the fixed validation crops tell (the training batches differ too much
	 * from one step to the next: silence, noise, sines) */
	CHECK(!s && v1.total < 0.7 * v0.total && v1.si_sdr > v0.si_sdr + 5,
	      "validation loss %.4f -> %.4f (MR-STFT lr %.3f -> %.3f, ms %.3f -> %.3f; SI-SDR %.2f -> %.2f dB)",
	      v0.total, v1.total, v0.stft_lr, v1.stft_lr, v0.stft_ms, v1.stft_ms, v0.si_sdr, v1.si_sdr);
	CHECK(lb.n_step == 8, "a STEP record every 5 steps (training loss %.4f -> %.4f)", lb.first, lb.last);
	const presto_train_state *st = presto_train_vae_state(tv);
	CHECK(st->opt->step == 40 && st->ema->updates == 40, "40 updates, 40 EMA updates");
	presto_train_vae_free(tv);
}

/* Copies of everything that the run changes. */
typedef struct {
	size_t n;
	float *p, *m, *v, *e;
	int64_t updates, ema_updates;
	uint64_t counter;
} snap;

static void take(snap *s, const presto_train_vae *tv)
{
	const presto_train_state *st = presto_train_vae_state(tv);
	s->n = st->ps->total;
	s->p = malloc(sizeof(float) * s->n);
	s->m = malloc(sizeof(float) * s->n);
	s->v = malloc(sizeof(float) * s->n);
	s->e = malloc(sizeof(float) * s->n);
	memcpy(s->p, st->ps->data, sizeof(float) * s->n);
	memcpy(s->m, st->opt->m, sizeof(float) * s->n);
	memcpy(s->v, st->opt->v, sizeof(float) * s->n);
	memcpy(s->e, st->ema->w, sizeof(float) * s->n);
	s->updates = st->opt->step;
	s->ema_updates = st->ema->updates;
	s->counter = st->rng.counter;
}

static int same(const snap *a, const snap *b)
{
	return a->n == b->n && !memcmp(a->p, b->p, sizeof(float) * a->n) &&
	       !memcmp(a->m, b->m, sizeof(float) * a->n) && !memcmp(a->v, b->v, sizeof(float) * a->n) &&
	       !memcmp(a->e, b->e, sizeof(float) * a->n) && a->updates == b->updates &&
	       a->ema_updates == b->ema_updates && a->counter == b->counter;
}

static void drop(snap *s)
{
	free(s->p);
	free(s->m);
	free(s->v);
	free(s->e);
}

static void test_resume(void)
{
	enum { K = 5, TOTAL = 12 };
	presto_train_vae_options o;
	tiny_options(&o);
	o.steps = TOTAL;
	presto_train_vae *tv = NULL;
	snap ref, got;
	/* uninterrupted */
	if (presto_train_vae_new(&o, &tv) || presto_train_vae_run(tv)) {
		CHECK(0, "reference run: %s", presto_error());
		presto_train_vae_free(tv);
		return;
	}
	take(&ref, tv);
	presto_train_vae_free(tv);

	/* killed: K steps, a checkpoint, 2 more steps lost */
	char ck[400];
	snprintf(ck, sizeof ck, "%s/ckpt-kill", dir);
	o.ckpt_dir = ck;
	presto_status s = presto_train_vae_new(&o, &tv);
	for (int i = 0; !s && i < K; i++)
		s = presto_train_vae_step(tv, NULL);
	if (!s)
		s = presto_train_vae_checkpoint(tv, NULL);
	for (int i = 0; !s && i < 2; i++)
		s = presto_train_vae_step(tv, NULL);
	presto_train_vae_free(tv);
	tv = NULL;
	logbook lb = {0};
	o.log = log_cb;
	o.log_ctx = &lb;
	if (!s)
		s = presto_train_vae_new(&o, &tv);
	CHECK(!s && presto_train_vae_steps_done(tv) == K, "resumed at step %d", K);
	if (!s)
		s = presto_train_vae_run(tv);
	if (s) {
		CHECK(0, "killed run: %s", presto_error());
		presto_train_vae_free(tv);
		drop(&ref);
		return;
	}
	take(&got, tv);
	CHECK(same(&ref, &got),
	      "killed after step %d + resumed == uninterrupted (weights, moments, EMA: bit-identical)", K + 2);
	CHECK(lb.n_ckpt == 1, "a last checkpoint at the end");
	drop(&got);
	presto_train_vae_free(tv);
	tv = NULL;

	/* stopped by the flag at step K (checkpoint on the way out) */
	snprintf(ck, sizeof ck, "%s/ckpt-stop", dir);
	volatile int stop = 0;
	logbook lb2 = {.stop = &stop, .stop_at = K};
	o.log_ctx = &lb2;
	o.log_every = 1;
	o.stop = &stop;
	s = presto_train_vae_new(&o, &tv);
	if (!s)
		s = presto_train_vae_run(tv);
	CHECK(!s && presto_train_vae_steps_done(tv) == K && lb2.n_ckpt == 1, "the stop flag ends the run at step %d "
	      "with a checkpoint", K);
	presto_train_vae_free(tv);
	tv = NULL;
	stop = 0;
	o.stop = NULL;
	if (!s)
		s = presto_train_vae_new(&o, &tv);
	if (!s)
		s = presto_train_vae_run(tv);
	if (!s) {
		take(&got, tv);
		CHECK(same(&ref, &got), "stopped + resumed == uninterrupted");
		drop(&got);
	} else {
		CHECK(0, "stopped run: %s", presto_error());
	}
	presto_train_vae_free(tv);
	tv = NULL;

	/* resume = 0 starts afresh; another model configuration is refused */
	o.resume = 0;
	o.steps = 0;
	s = presto_train_vae_new(&o, &tv);
	CHECK(!s && presto_train_vae_steps_done(tv) == 0, "resume = 0: a fresh start beside a checkpoint");
	presto_train_vae_free(tv);
	tv = NULL;
	o.resume = 1;
	o.model.final_tanh = 1;
	s = presto_train_vae_new(&o, &tv);
	CHECK(s == PRESTO_EINVAL, "checkpoint of another configuration refused: %s", presto_error());
	presto_train_vae_free(tv);
	drop(&ref);
}

/* encode + decode of x [2, CHUNK] with m; out [2, CHUNK] */
static int recon(presto_vae *m, const float *x, float *out)
{
	const presto_oobleck_config *c = presto_vae_get_config(m);
	int Lz = presto_vae_latent_len(c, CHUNK);
	float *pre = malloc(sizeof(float) * (size_t)c->encoder_out_dim * Lz);
	int rc = presto_vae_encode(m, pre, x, CHUNK, NULL, NULL) != 0;
	presto_vae_bottleneck(c, pre, pre, NULL, Lz, NULL);
	rc = rc || presto_vae_decode(m, out, pre, Lz, NULL, NULL) != 0;
	free(pre);
	return rc;
}

static void test_export(void)
{
	presto_train_vae_options o;
	tiny_options(&o);
	o.steps = 6;
	presto_train_vae *tv = NULL;
	if (presto_train_vae_new(&o, &tv) || presto_train_vae_run(tv)) {
		CHECK(0, "export run: %s", presto_error());
		presto_train_vae_free(tv);
		return;
	}
	char raw[400], half[400];
	snprintf(raw, sizeof raw, "%s/vae.safetensors", dir);
	snprintf(half, sizeof half, "%s/vae-f16.safetensors", dir);
	presto_status s = presto_train_vae_export(tv, raw, 0, PRESTO_F32);
	if (!s)
		s = presto_train_vae_export(tv, half, 1, PRESTO_F16);
	CHECK(!s, "export raw F32 and EMA F16: %s", s ? presto_error() : "ok");

	/* the pretransform JSON reads back as the model's config */
	json_t *pt = presto_train_vae_pretransform_json(&o.model);
	presto_oobleck_config back;
	s = presto_oobleck_config_from_json(pt, &back);
	presto_oobleck_config want = tiny_model();
	CHECK(!s && back.audio_channels == 2 && back.channels == want.channels && back.n_blocks == 2 &&
		      back.strides[1] == 2 && back.c_mults[1] == 2 && back.latent_dim == 4 &&
		      back.encoder_out_dim == 8 && back.downsampling_ratio == 4 && back.final_tanh == 0 &&
		      back.has_encoder && back.has_decoder,
	      "pretransform JSON parses back to the config");
	json_decref(pt);

	/* load and decode: the same as the trainer's raw weights */
	float x[2 * CHUNK], y_ref[2 * CHUNK], y[2 * CHUNK];
	presto_train_vae_read_crop(path_v, 0, 2, CHUNK, x);
	const presto_train_state *st = presto_train_vae_state(tv);
	presto_vae *mine = NULL, *loaded = NULL;
	presto_st *f = NULL;
	s = presto_vae_from_params(&want, st->ps, PREFIX, 1, 1, &mine);
	if (!s) {
		presto_vae_refold(mine);
		s = recon(mine, x, y_ref) ? PRESTO_EINVAL : PRESTO_OK;
	}
	if (!s)
		s = presto_st_open(raw, &f);
	if (!s)
		s = presto_vae_load(f, PREFIX, &back, &loaded);
	if (!s)
		s = recon(loaded, x, y) ? PRESTO_EINVAL : PRESTO_OK;
	double err = 0, mag = 0;
	for (int i = 0; !s && i < 2 * CHUNK; i++) {
		err = fmax(err, fabs((double)y[i] - y_ref[i]));
		mag = fmax(mag, fabs((double)y_ref[i]));
	}
	CHECK(!s && err <= 1e-6 * mag && mag > 0, "exported F32 loads with presto_vae_load and decodes as trained "
	      "(max diff %.2e of %.3g)", err, mag);
	presto_vae_free(loaded);
	presto_st_close(f);
	loaded = NULL;
	f = NULL;
	s = presto_st_open(half, &f);
	if (!s)
		s = presto_vae_load(f, PREFIX, &back, &loaded);
	if (!s)
		s = recon(loaded, x, y) ? PRESTO_EINVAL : PRESTO_OK;
	int finite = !s;
	for (int i = 0; finite && i < 2 * CHUNK; i++)
		finite = isfinite(y[i]);
	CHECK(finite, "exported EMA F16 loads and decodes");
	presto_vae_free(loaded);
	presto_st_close(f);
	presto_vae_free(mine);

	/* init_from: the exported weights come back exactly */
	presto_train_vae *tv2 = NULL;
	o.init_from = raw;
	o.steps = 0;
	s = presto_train_vae_new(&o, &tv2);
	const presto_train_state *st2 = s ? NULL : presto_train_vae_state(tv2);
	CHECK(!s && !memcmp(st2->ps->data, st->ps->data, sizeof(float) * st->ps->total),
	      "init_from an exported file restores its weights");
	presto_train_vae_free(tv2);
	presto_train_vae_free(tv);
}

/* ---- frozen encoder */

static int is_enc(const char *name) { return !strncmp(name, PREFIX "encoder.", strlen(PREFIX "encoder.")); }

/* Encoder and decoder tensors of a's and b's table buffers: *enc_same = every
 * encoder tensor bit-identical, returns the number of decoder tensors that
 * differ (*n_dec: how many there are). */
static int cmp_parts(const presto_params *ps, const float *a, const float *b, int *enc_same, int *n_dec)
{
	int diff = 0;
	*enc_same = 1;
	*n_dec = 0;
	for (int i = 0; i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		int eq = !memcmp(a + pi->offset, b + pi->offset, sizeof(float) * pi->numel);
		if (is_enc(pi->name)) {
			*enc_same = *enc_same && eq;
		} else {
			(*n_dec)++;
			diff += !eq;
		}
	}
	return diff;
}

/* Tensors of two safetensors files: *enc_same = every encoder tensor has
 * the same dtype, shape and bytes; returns the number of decoder tensors
 * whose bytes differ (-1 when a file does not open or a tensor is missing). */
static int cmp_files(const char *pa, const char *pb, int *enc_same)
{
	presto_st *a = NULL, *b = NULL;
	int diff = 0;
	*enc_same = 0;
	if (presto_st_open(pa, &a) || presto_st_open(pb, &b)) {
		presto_st_close(a);
		return -1;
	}
	*enc_same = presto_st_count(a) == presto_st_count(b);
	for (int i = 0; diff >= 0 && i < presto_st_count(a); i++) {
		const char *name = presto_st_name(a, i);
		const presto_tensor *ta = presto_st_get(a, name), *tb = presto_st_get(b, name);
		if (!ta || !tb) {
			diff = -1;
			break;
		}
		int eq = ta->dtype == tb->dtype && ta->nbytes == tb->nbytes && !memcmp(ta->data, tb->data, ta->nbytes);
		if (is_enc(name))
			*enc_same = *enc_same && eq;
		else
			diff += !eq;
	}
	presto_st_close(a);
	presto_st_close(b);
	return diff;
}

/* The pre-bottleneck latents (encoder output) and the reconstruction of x
 * by the VAE in file `path`. */
static int file_encode(const char *path, const float *x, float *pre, float *y)
{
	presto_oobleck_config c = tiny_model();
	c.has_encoder = c.has_decoder = 1;
	c.downsampling_ratio = 4;
	presto_st *f = NULL;
	presto_vae *m = NULL;
	int rc = presto_st_open(path, &f) || presto_vae_load(f, PREFIX, &c, &m);
	int Lz = presto_vae_latent_len(&c, CHUNK);
	float *z = malloc(sizeof(float) * (size_t)c.latent_dim * Lz);
	rc = rc || presto_vae_encode(m, pre, x, CHUNK, NULL, NULL);
	if (!rc)
		presto_vae_bottleneck(&c, z, pre, NULL, Lz, NULL);
	rc = rc || presto_vae_decode(m, y, z, Lz, NULL, NULL);
	if (rc)
		printf("# %s: %s\n", path, presto_error());
	free(z);
	presto_vae_free(m);
	presto_st_close(f);
	return rc;
}

static void test_freeze(void)
{
	enum { N = 12, K = 3 };
	presto_train_vae_options o;
	tiny_options(&o);
	/* the trained VAE to start from: 6 full steps, exported raw in F32, with
	 * the posterior's deviation made tiny (the bias of the encoder's last
	 * conv's scale half: softplus(-12)), as a trained encoder's is: the
	 * latents then carry the signal, not the bottleneck's noise, and a
	 * decoder can learn from them */
	char init[400], out_raw[400], out_ema[400], ck[400];
	snprintf(init, sizeof init, "%s/init.safetensors", dir);
	snprintf(out_raw, sizeof out_raw, "%s/frozen-raw.safetensors", dir);
	snprintf(out_ema, sizeof out_ema, "%s/frozen-ema.safetensors", dir);
	o.steps = 6;
	presto_train_vae *tv = NULL, *full = NULL;
	presto_status s = presto_train_vae_new(&o, &tv);
	if (!s)
		s = presto_train_vae_run(tv);
	if (!s) {
		presto_params *ps = presto_train_vae_state(tv)->ps;
		int i = presto_params_find(ps, PREFIX "encoder.layers.4.bias");
		if (i < 0 || ps->p[i].numel != 8)
			s = presto_error_set(PRESTO_EINVAL, "no encoder.layers.4.bias of 8 entries");
		for (int j = 4; !s && j < 8; j++)
			ps->data[ps->p[i].offset + j] = -12.0f;
	}
	if (!s)
		s = presto_train_vae_export(tv, init, 0, PRESTO_F32);
	presto_train_vae_free(tv);
	tv = NULL;
	if (s) {
		CHECK(0, "init run: %s", presto_error());
		return;
	}

	/* a random encoder cannot be frozen */
	o.steps = N;
	o.freeze_encoder = 1;
	s = presto_train_vae_new(&o, &tv);
	CHECK(s == PRESTO_EINVAL && tv == NULL && strstr(presto_error(), "init_from"),
	      "freeze_encoder without init_from or a checkpoint refused: %s", presto_error());

	/* the first step: the same loss as a full step, the decoder's gradient
	 * bit-identical, none for the encoder */
	o.init_from = init;
	presto_train_vae_options of = o;
	of.freeze_encoder = 0;
	s = presto_train_vae_new(&o, &tv);
	if (!s)
		s = presto_train_vae_new(&of, &full);
	if (s) {
		CHECK(0, "frozen trainer: %s", presto_error());
		presto_train_vae_free(tv);
		return;
	}
	const presto_train_state *st = presto_train_vae_state(tv);
	const presto_params *ps = st->ps;
	size_t n = ps->total;
	float *g_frz = malloc(sizeof(float) * n), *g_full = malloc(sizeof(float) * n);
	float *w0 = malloc(sizeof(float) * n);
	memcpy(w0, ps->data, sizeof(float) * n);
	presto_train_vae_stats ef, eu;
	s = presto_train_vae_eval(tv, g_frz, &ef);
	if (!s)
		s = presto_train_vae_eval(full, g_full, &eu);
	int dec_same = !s, enc_zero = !s, enc_nonzero_full = 0;
	for (int i = 0; !s && i < ps->n; i++) {
		const presto_param_info *pi = &ps->p[i];
		const float *a = g_frz + pi->offset, *b = g_full + pi->offset;
		if (!is_enc(pi->name)) {
			dec_same = dec_same && !memcmp(a, b, sizeof(float) * pi->numel);
			continue;
		}
		for (size_t j = 0; j < pi->numel; j++) {
			enc_zero = enc_zero && a[j] == 0.0f;
			enc_nonzero_full += b[j] != 0.0f;
		}
	}
	CHECK(!s && ef.total == eu.total && ef.kl == eu.kl, "frozen: the loss of a full step (%.6g, KL %.4g)",
	      ef.total, ef.kl);
	CHECK(dec_same && enc_zero && enc_nonzero_full > 0,
	      "frozen: the decoder's gradient bit-identical to a full step's, none for the encoder "
	      "(%d nonzero in a full step)", enc_nonzero_full);
	CHECK(!s && ef.grad_norm < eu.grad_norm, "frozen: gradient norm of the decoder only (%.4g < %.4g)",
	      ef.grad_norm, eu.grad_norm);
	presto_train_vae_free(full);
	full = NULL;

	/* N steps: the encoder (weights, EMA) stays the init's, its moments
	 * zero; every decoder tensor moves; validation improves */
	presto_train_vae_stats v0, v1;
	s = presto_train_vae_validate(tv, &v0);
	if (!s)
		s = presto_train_vae_run(tv);
	if (!s)
		s = presto_train_vae_validate(tv, &v1);
	int enc_same = 0, n_dec = 0, moved = -1, ema_moved = -1, ema_enc = 0, mom_zero = !s;
	if (!s) {
		moved = cmp_parts(ps, w0, ps->data, &enc_same, &n_dec);
		ema_moved = cmp_parts(ps, ps->data, st->ema->w, &ema_enc, &n_dec);
		for (int i = 0; i < ps->n; i++) {
			const presto_param_info *pi = &ps->p[i];
			for (size_t j = 0; is_enc(pi->name) && j < pi->numel; j++)
				mom_zero = mom_zero && st->opt->m[pi->offset + j] == 0.0f &&
					   st->opt->v[pi->offset + j] == 0.0f;
		}
	}
	CHECK(!s && presto_train_vae_steps_done(tv) == N && st->opt->step == N, "frozen: %d steps, %d updates", N,
	      N);
	CHECK(enc_same && mom_zero, "frozen: encoder weights bit-identical to the init after %d steps, moments zero",
	      N);
	CHECK(moved == n_dec && n_dec > 0, "frozen: %d of %d decoder tensors changed", moved, n_dec);
	CHECK(ema_enc && ema_moved > 0, "frozen: the EMA of the encoder equals its weights (decoder: %d tensors "
	      "differ from the EMA)", ema_moved);
	CHECK(!s && v1.total < 0.9 * v0.total, "frozen: validation loss %.4f -> %.4f (SI-SDR %.2f -> %.2f dB)", v0.total,
	      v1.total, v0.si_sdr, v1.si_sdr);

	/* the exports: encoder tensors byte-identical to the init file's, the
	 * same latents; the decoder and its reconstruction changed */
	s = s ? s : presto_train_vae_export(tv, out_raw, 0, PRESTO_F32);
	s = s ? s : presto_train_vae_export(tv, out_ema, 1, PRESTO_F32);
	int raw_enc = 0, ema_enc_f = 0;
	int raw_dec = s ? -1 : cmp_files(init, out_raw, &raw_enc);
	int ema_dec = s ? -1 : cmp_files(init, out_ema, &ema_enc_f);
	CHECK(raw_enc && ema_enc_f && raw_dec > 0 && ema_dec > 0,
	      "frozen: exported encoder tensors (raw and EMA) byte-identical to the init's, %d / %d decoder "
	      "tensors differ", raw_dec, ema_dec);
	presto_oobleck_config tc = tiny_model();
	int Lz = presto_vae_latent_len(&tc, CHUNK);
	size_t np = (size_t)8 * Lz;
	float x[2 * CHUNK], y0[2 * CHUNK], y1[2 * CHUNK], *pre0 = malloc(sizeof(float) * np),
						       *pre1 = malloc(sizeof(float) * np);
	presto_train_vae_read_crop(path_v, 0, 2, CHUNK, x);
	int rc = file_encode(init, x, pre0, y0) || file_encode(out_ema, x, pre1, y1);
	CHECK(!rc && !memcmp(pre0, pre1, sizeof(float) * np) && memcmp(y0, y1, sizeof y0),
	      "frozen: latents of the exported VAE identical to the init's (%d x %d), its decoding differs", 8, Lz);
	free(pre0);
	free(pre1);
	presto_train_vae_free(tv);
	tv = NULL;

	/* resume: killed after a checkpoint at step K, resumed == uninterrupted */
	snap ref, got;
	s = presto_train_vae_new(&o, &tv);
	if (!s)
		s = presto_train_vae_run(tv);
	if (s) {
		CHECK(0, "frozen reference run: %s", presto_error());
		presto_train_vae_free(tv);
		free(g_frz);
		free(g_full);
		free(w0);
		return;
	}
	take(&ref, tv);
	presto_train_vae_free(tv);
	tv = NULL;
	snprintf(ck, sizeof ck, "%s/ckpt-frozen", dir);
	o.ckpt_dir = ck;
	s = presto_train_vae_new(&o, &tv);
	for (int i = 0; !s && i < K; i++)
		s = presto_train_vae_step(tv, NULL);
	if (!s)
		s = presto_train_vae_checkpoint(tv, NULL);
	for (int i = 0; !s && i < 2; i++)
		s = presto_train_vae_step(tv, NULL);
	presto_train_vae_free(tv);
	tv = NULL;
	/* resuming needs no init_from (and does not read it) */
	o.init_from = NULL;
	if (!s)
		s = presto_train_vae_new(&o, &tv);
	CHECK(!s && presto_train_vae_steps_done(tv) == K, "frozen: resumed at step %d without init_from", K);
	if (!s)
		s = presto_train_vae_run(tv);
	if (!s) {
		take(&got, tv);
		CHECK(same(&ref, &got), "frozen: killed after step %d + resumed == uninterrupted (bit-identical)",
		      K + 2);
		drop(&got);
	} else {
		CHECK(0, "frozen resumed run: %s", presto_error());
	}
	presto_train_vae_free(tv);
	tv = NULL;
	drop(&ref);

	/* a frozen checkpoint is refused without freeze_encoder, a full one with it */
	o.freeze_encoder = 0;
	o.steps = N + 1;
	s = presto_train_vae_new(&o, &tv);
	CHECK(s == PRESTO_EINVAL && strstr(presto_error(), "frozen encoder"),
	      "a frozen run's checkpoint resumed without freeze_encoder refused: %s", presto_error());
	presto_train_vae_free(tv);
	tv = NULL;
	snprintf(ck, sizeof ck, "%s/ckpt-full", dir);
	o.init_from = init;
	o.steps = 1;
	s = presto_train_vae_new(&o, &tv);
	if (!s)
		s = presto_train_vae_run(tv);
	presto_train_vae_free(tv);
	tv = NULL;
	o.freeze_encoder = 1;
	o.steps = 2;
	if (!s)
		s = presto_train_vae_new(&o, &tv);
	CHECK(s == PRESTO_EINVAL && strstr(presto_error(), "trains the encoder"),
	      "a full run's checkpoint resumed with freeze_encoder refused: %s", presto_error());
	presto_train_vae_free(tv);
	tv = NULL;

	/* a checkpoint written before encoders could be frozen (no
	 * train_vae.freeze_encoder) is a full run's */
	char *latest = NULL, *pt = NULL, old_dir[400];
	snprintf(old_dir, sizeof old_dir, "%s/ckpt-old", dir);
	s = presto_checkpoint_latest(ck, &latest);
	if (!s)
		s = presto_checkpoint_meta(latest, "train_vae.pretransform", &pt);
	o.freeze_encoder = 0;
	o.steps = 1;
	o.ckpt_dir = NULL;
	if (!s)
		s = presto_train_vae_new(&o, &tv);
	if (!s)
		s = presto_train_vae_step(tv, NULL);
	mkdir(old_dir, 0777);
	if (!s) {
		const char *meta[2] = {"train_vae.pretransform", pt};
		s = presto_checkpoint_save_rotating(old_dir, presto_train_vae_state(tv), 3, 1, meta, NULL);
	}
	presto_train_vae_free(tv);
	tv = NULL;
	o.ckpt_dir = old_dir;
	o.steps = 2;
	if (!s)
		s = presto_train_vae_new(&o, &tv);
	CHECK(!s && presto_train_vae_steps_done(tv) == 1, "a checkpoint without the key resumes a full run: %s",
	      s ? presto_error() : "ok");
	presto_train_vae_free(tv);
	tv = NULL;
	o.freeze_encoder = 1;
	s = presto_train_vae_new(&o, &tv);
	CHECK(s == PRESTO_EINVAL && strstr(presto_error(), "trains the encoder"),
	      "... and is refused with freeze_encoder: %s", presto_error());
	presto_train_vae_free(tv);
	free(latest);
	free(pt);
	free(g_frz);
	free(g_full);
	free(w0);
}

static void test_refusals(void)
{
	presto_train_vae_options o;
	presto_train_vae *tv = NULL;
	tiny_options(&o);
	o.chunk = 1022;
	CHECK(presto_train_vae_new(&o, &tv) == PRESTO_EINVAL, "chunk not a multiple of the ratio: %s", presto_error());
	tiny_options(&o);
	train_list[1] = path_r;
	CHECK(presto_train_vae_new(&o, &tv) == PRESTO_EINVAL && strstr(presto_error(), "rate.wav"),
	      "a file of another sample rate: %s", presto_error());
	tiny_options(&o);
	o.chunk = 64;
	CHECK(presto_train_vae_new(&o, &tv) == PRESTO_EINVAL, "chunk too short for the STFT: %s", presto_error());
	tiny_options(&o);
	o.n_train = 0;
	CHECK(presto_train_vae_new(&o, &tv) == PRESTO_EINVAL, "no training files");
}

/* The STFT loss compares the decoded audio (input) with the reals
 * (target), so the spectral convergence term is normalised by the reals: a
 * silent decoder (its last convolution zeroed) scores exactly about 1 per
 * resolution. With the arguments swapped it would be normalised by the
 * silent output and be huge, and training would reward loud output. */
static void test_sc_target(void)
{
	presto_train_vae_options o;
	tiny_options(&o);
	o.w_stft_lr = 1.0;
	o.w_stft_ms = 0.0;
	o.w_l1 = 0.0;
	o.w_kl = 0.0;
	o.stft.w_sc = 1.0;
	o.stft.w_log_mag = 0.0;
	o.stft.w_lin_mag = 0.0;
	presto_train_vae *tv = NULL;
	if (presto_train_vae_new(&o, &tv)) {
		CHECK(0, "trainer: %s", presto_error());
		return;
	}
	presto_params *ps = presto_train_vae_state(tv)->ps;
	int g = -1, b = -1;
	for (int i = 0; i < ps->n; i++) {
		const char *nm = ps->p[i].name;
		if (strncmp(nm, PREFIX "decoder.", strlen(PREFIX "decoder.")))
			continue;
		size_t l = strlen(nm);
		if (l > 8 && !strcmp(nm + l - 8, "weight_g"))
			g = i;
		else if (l > 4 && !strcmp(nm + l - 4, "bias"))
			b = i;
	}
	CHECK(g >= 0 && b >= 0, "the decoder's last convolution found");
	if (g >= 0 && b >= 0) {
		memset(ps->data + ps->p[g].offset, 0, sizeof(float) * ps->p[g].numel);
		memset(ps->data + ps->p[b].offset, 0, sizeof(float) * ps->p[b].numel);
		presto_train_vae_stats st;
		presto_status s = presto_train_vae_eval(tv, NULL, &st);
		CHECK(!s && st.stft_lr > 0.9 && st.stft_lr <= 1.0 + 1e-9,
		      "spectral convergence of a silent decoder is ||X|| / ||X|| = 1 (got %.6g)", st.stft_lr);
		CHECK(!s && st.l1 > 0, "the reals are not silent (l1 %.4g)", st.l1);
	}
	presto_train_vae_free(tv);
}

/* A fresh VAE of the default model's shape decodes different latents
 * into different audio, with no DC: its output follows its input from the
 * first step. (With the reference's PyTorch initialisation the decoder's
 * biases drown its input by about 40 dB and spectral losses alone train it
 * to ignore the input.) Latents: the encoder's posterior means of two
 * different clips. */
static void test_init_follows_input(void)
{
	presto_train_vae_options o;
	tiny_options(&o);
	presto_oobleck_config c;
	memset(&c, 0, sizeof c);
	c.audio_channels = 2;
	c.channels = 16;
	c.n_blocks = 4;
	static const int cm[4] = {1, 2, 4, 8}, sd[4] = {4, 8, 8, 8};
	memcpy(c.c_mults, cm, sizeof cm);
	memcpy(c.strides, sd, sizeof sd);
	c.latent_dim = 32;
	c.encoder_out_dim = 64;
	c.use_snake = 1;
	c.scale = 1.0f;
	o.model = c;
	enum { N = 4096, LZ = N / 2048 };
	o.chunk = N;
	presto_mrstft_defaults(&o.stft);
	presto_train_vae *tv = NULL;
	presto_vae *m = NULL;
	if (presto_train_vae_new(&o, &tv) ||
	    presto_vae_from_params(&c, presto_train_vae_state(tv)->ps, PREFIX, 1, 1, &m)) {
		CHECK(0, "a default-shape VAE: %s", presto_error());
		presto_train_vae_free(tv);
		return;
	}
	presto_vae_refold(m);
	static float x[2][2 * N], pre[2][64 * LZ], z[2][32 * LZ], y[2][2 * N];
	presto_status s = PRESTO_OK;
	const char *clip[2] = {path_a, path_b};
	for (int k = 0; !s && k < 2; k++) {
		s = presto_train_vae_read_crop(clip[k], 0, 2, N, x[k]);
		if (!s)
			s = presto_vae_encode(m, pre[k], x[k], N, NULL, NULL);
		if (!s) {
			presto_vae_bottleneck(&c, z[k], pre[k], NULL, LZ, NULL);
			s = presto_vae_decode(m, y[k], z[k], LZ, NULL, NULL);
		}
	}
	double d = 0, e = 0, mean = 0;
	for (int i = 0; i < 2 * N; i++) {
		d += (double)(y[0][i] - y[1][i]) * (y[0][i] - y[1][i]);
		e += (double)y[0][i] * y[0][i];
		mean += y[0][i];
	}
	mean /= 2 * N;
	double rel = e > 0 ? sqrt(d / e) : 0, rms = sqrt(e / (2 * N));
	CHECK(!s && rel > 0.3, "two clips decode to different audio at initialisation: |y1 - y2| / |y1| = %.3g", rel);
	CHECK(!s && fabs(mean) < 0.1 * rms + 1e-6, "no DC at initialisation: mean %.3g, rms %.3g", mean, rms);
	presto_vae_free(m);
	presto_train_vae_free(tv);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/presto-trainvae-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path_a, sizeof path_a, "%s/a.wav", dir);
	snprintf(path_b, sizeof path_b, "%s/b.flac", dir);
	snprintf(path_c, sizeof path_c, "%s/c.wav", dir);
	snprintf(path_d, sizeof path_d, "%s/d.wav", dir);
	snprintf(path_v, sizeof path_v, "%s/v.wav", dir);
	snprintf(path_r, sizeof path_r, "%s/rate.wav", dir);
	if (write_clip(path_a, 2, 6000, 440, 0.5, 0.05, SR) || write_clip(path_b, 2, 5000, 310, 0.4, 0.1, SR) ||
	    write_clip(path_c, 1, 4000, 0, 0, 0.3, SR) || write_clip(path_d, 2, 800, 700, 0.6, 0.0, SR) ||
	    write_clip(path_v, 2, 3000, 520, 0.5, 0.05, SR) || write_clip(path_r, 2, 3000, 520, 0.5, 0.05, 22050)) {
		rm_rf(dir);
		return 1;
	}
	test_read_crop();
	test_refusals();
	test_grad();
	test_sc_target();
	test_init_follows_input();
	test_learns();
	test_resume();
	test_export();
	test_freeze();
	rm_rf(dir);
	return check_status();
}

/* presto-train - train the parts of a presto model: `presto-train vae`
 * (the autoencoder, on audio files), `presto-train tokenizer` (SentencePiece
 * on captions) and `presto-train dit` (the teacher DiT with its text encoder
 * and conditioners, on a latent stream from presto-ingest). Runs checkpoint
 * into OUT/ckpt and resume from there; the result is exported into OUT. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "model.h"
#include "ops.h"
#include "tokenizer.h"
#include "train_dit.h"
#include "train_vae.h"

enum {
	OPT_DATA = 256, OPT_STEPS, OPT_BATCH, OPT_LR, OPT_WARMUP, OPT_SEED, OPT_THREADS, OPT_LOG_EVERY,
	OPT_VALID_EVERY, OPT_CKPT_EVERY, OPT_KEEP, OPT_DTYPE, OPT_NO_RESUME, OPT_LOG, OPT_CONFIG, OPT_CHUNK, OPT_KL, OPT_L1, OPT_L2,
	OPT_FRAMES, OPT_DROPOUT, OPT_NOISE, OPT_P_MEAN, OPT_P_STD, OPT_FREEZE_TEXT, OPT_FINETUNE, OPT_VOCAB,
	OPT_CLIP, OPT_EMA, OPT_INIT, OPT_FREEZE_ENCODER,
};

/* Every option of every subcommand (--help lists them all); each
 * subcommand accepts its own. */
static const presto_cli_option options[] = {
	{"out", 'o', "DIR", "run directory: checkpoints in DIR/ckpt, the result in DIR (all subcommands)"},
	{"data", OPT_DATA, "FILE", "training data: vae: a table (TSV with file, split); dit: a latent stream; tokenizer: text, a caption per line"},
	{"model", 'm', "DIR", "dit: the model directory giving the architecture, tokenizer and VAE"},
	{"config", OPT_CONFIG, "FILE", "vae: JSON with the autoencoder (a config.json or a pretransform object)"},
	{"steps", OPT_STEPS, "N", "vae, dit: train until N steps are done (default 1000)"},
	{"batch", OPT_BATCH, "N", "vae, dit: batch size (default 8)"},
	{"lr", OPT_LR, "LR", "vae, dit: peak learning rate (default 1e-4)"},
	{"warmup", OPT_WARMUP, "N", "vae, dit: linear learning-rate warm-up steps (default 100 for dit, 0 for vae)"},
	{"clip", OPT_CLIP, "NORM", "vae, dit: clip the gradient's global norm (0: off; default 1 for dit, 0 for vae)"},
	{"ema", OPT_EMA, "DECAY", "vae, dit: EMA decay of the exported weights (0: no EMA)"},
	{"seed", OPT_SEED, "N", "vae, dit: seed of the initial weights, data order and noise (default 0)"},
	{"chunk", OPT_CHUNK, "FRAMES", "vae: audio frames per training crop (default 65536)"},
	{"kl", OPT_KL, "W", "vae: weight of the KL term (default 1e-4)"},
	{"l1", OPT_L1, "W", "vae: weight of the waveform L1 term (default 0)"},
	{"l2", OPT_L2, "W", "vae: weight of the waveform L2 term (default 0)"},
	{"init", OPT_INIT, "FILE", "vae: start from the weights of a vae.safetensors (an earlier run's export)"},
	{"freeze-encoder", OPT_FREEZE_ENCODER, NULL, "vae: train the decoder only, keeping the --init encoder (and its latents)"},
	{"frames", OPT_FRAMES, "N", "dit: train on random windows of N latent frames (default: whole records)"},
	{"cond-dropout", OPT_DROPOUT, "P", "dit: probability of dropping an item's text (for guidance; default 0.1)"},
	{"noise", OPT_NOISE, "DIST", "dit: training noise levels: lognormal, uniform or logit-normal"},
	{"p-mean", OPT_P_MEAN, "M", "dit: mean of the (logit-)normal noise distribution"},
	{"p-std", OPT_P_STD, "S", "dit: standard deviation of the (logit-)normal noise distribution"},
	{"freeze-text", OPT_FREEZE_TEXT, NULL, "dit: keep the model's T5 text encoder as it is"},
	{"finetune", OPT_FINETUNE, NULL, "dit: start from the model's weights instead of a random initialisation"},
	{"vocab", OPT_VOCAB, "N", "tokenizer: vocabulary size (default 1000)"},
	{"log-every", OPT_LOG_EVERY, "N", "report every N steps (default 10)"},
	{"valid-every", OPT_VALID_EVERY, "N", "validate every N steps (default 100; 0: never)"},
	{"ckpt-every", OPT_CKPT_EVERY, "N", "checkpoint every N steps (default 200; 0: only at the end)"},
	{"keep", OPT_KEEP, "N", "checkpoints kept (default 3)"},
	{"dtype", OPT_DTYPE, "TYPE", "exported weights: f32, f16 (default) or bf16"},
	{"no-resume", OPT_NO_RESUME, NULL, "start afresh even when OUT/ckpt holds a checkpoint"},
	{"log", OPT_LOG, "FILE", "append every report as a tab-separated line to FILE"},
	{"threads", OPT_THREADS, "N", "threads for the matrix products (default: all cores)"},
	{0},
};

static const presto_cli_spec spec = {
	"presto-train",
	"vae|tokenizer|dit [OPTION]...",
	"Train the autoencoder, the tokenizer or the teacher DiT of a presto model.",
	options,
	"A run checkpoints into OUT/ckpt and, started again with the same OUT,\n"
	"resumes exactly where it stopped (Ctrl-C checkpoints and stops). At the end\n"
	"the result is exported into OUT: vae.safetensors and pretransform.json (vae),\n"
	"tokenizer.model (tokenizer), a model directory (dit).\n",
};

typedef struct {
	const char *out, *data, *model, *config, *noise, *log_path, *init;
	long long steps, batch, warmup, seed, chunk, frames, vocab, log_every, valid_every, ckpt_every, keep, threads;
	double lr, kl, l1, l2, dropout, p_mean, p_std, clip, ema;
	int freeze_text, finetune, no_resume, freeze_encoder;
	presto_dtype dtype;
	FILE *log;
} args;

static volatile int stop_flag;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static int need(const char *what, const void *v)
{
	return v ? 0 : presto_cli_usage("missing %s", what);
}

static presto_status make_dir(const char *d)
{
	if (mkdir(d, 0777) && errno != EEXIST)
		return presto_error_set(PRESTO_EIO, "cannot create '%s': %s", d, strerror(errno));
	return PRESTO_OK;
}

/* ---- vae ---- */

static void vae_log(void *ctx, const presto_train_vae_log *r)
{
	args *a = ctx;
	const presto_train_vae_stats *s = &r->stats;
	switch (r->event) {
	case PRESTO_TRAIN_VAE_STEP:
		presto_cli_msg("step %lld/%lld loss %.5g (stft %.4g/%.4g l1 %.4g kl %.4g) lr %.3g gnorm %.3g %.2f s/s",
			       (long long)r->step, (long long)r->steps, s->total, s->stft_lr, s->stft_ms, s->l1, s->kl,
			       s->lr, s->grad_norm, r->audio_per_s);
		break;
	case PRESTO_TRAIN_VAE_VAL:
		presto_cli_msg("step %lld valid loss %.5g (stft %.4g/%.4g l1 %.4g) si-sdr %.2f dB", (long long)r->step,
			       s->total, s->stft_lr, s->stft_ms, s->l1, s->si_sdr);
		break;
	case PRESTO_TRAIN_VAE_CKPT:
	case PRESTO_TRAIN_VAE_INFO:
		presto_cli_msg("%s", r->message ? r->message : "");
		break;
	}
	if (a->log && (r->event == PRESTO_TRAIN_VAE_STEP || r->event == PRESTO_TRAIN_VAE_VAL)) {
		fprintf(a->log, "vae\t%s\t%lld\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t%.4g\n",
			r->event == PRESTO_TRAIN_VAE_STEP ? "train" : "valid", (long long)r->step, s->total, s->stft_lr,
			s->stft_ms, s->l1, s->kl, s->si_sdr, s->lr, s->grad_norm);
		fflush(a->log);
	}
}

/* A table with "file" (and optionally "split") columns -> file lists. */
static presto_status read_table(const char *path, char ***train, int *nt, char ***valid, int *nv)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return presto_error_set(PRESTO_EIO, "cannot open '%s': %s", path, strerror(errno));
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) + 1 : 0;
	char *line = NULL;
	size_t cap = 0;
	int file_col = -1, split_col = -1, lineno = 0, ncols = 0;
	presto_status st = PRESTO_OK;
	*nt = *nv = 0;
	*train = *valid = NULL;
	while (!st && getline(&line, &cap, f) >= 0) {
		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		if (!*line)
			continue;
		char *cells[256];
		int n = 0;
		for (char *p = line, *t; n < 256; p = t + 1) {
			cells[n++] = p;
			if (!(t = strchr(p, '\t')))
				break;
			*t = 0;
		}
		if (!ncols) {
			ncols = n;
			for (int i = 0; i < n; i++) {
				if (!strcmp(cells[i], "file"))
					file_col = i;
				if (!strcmp(cells[i], "split"))
					split_col = i;
			}
			if (file_col < 0)
				st = presto_error_set(PRESTO_EINVAL, "%s: the header has no \"file\" column", path);
			continue;
		}
		if (n != ncols) {
			st = presto_error_set(PRESTO_EINVAL, "%s: line %d has %d columns, the header %d", path, lineno, n,
					      ncols);
			break;
		}
		const char *split = split_col >= 0 ? cells[split_col] : "train";
		int is_valid = !strcmp(split, "valid");
		if (!is_valid && strcmp(split, "train"))
			continue; /* test and other splits are not for training */
		char ***list = is_valid ? valid : train;
		int *cnt = is_valid ? nv : nt;
		char **nl = realloc(*list, sizeof **list * (size_t)(*cnt + 1));
		const char *file = cells[file_col];
		size_t plen = (size_t)dirlen + strlen(file) + 1;
		char *p = malloc(plen);
		if (!nl || !p) {
			free(p);
			if (nl)
				*list = nl;
			st = presto_error_set(PRESTO_ENOMEM, "out of memory");
			break;
		}
		snprintf(p, plen, "%.*s%s", file[0] == '/' ? 0 : dirlen, path, file);
		*list = nl;
		(*list)[(*cnt)++] = p;
	}
	free(line);
	fclose(f);
	if (!st && !*nt)
		st = presto_error_set(PRESTO_EINVAL, "%s: no training files", path);
	return st;
}

static presto_status vae_config(const char *path, presto_oobleck_config *c)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);
	if (!j)
		return presto_error_set(PRESTO_EINVAL, "%s: line %d: %s", path, jerr.line, jerr.text);
	json_t *pre = json_object_get(json_object_get(j, "model"), "pretransform");
	presto_status st = presto_oobleck_config_from_json(pre ? pre : j, c);
	json_decref(j);
	return st ? presto_error_wrap(st, "%s: ", path) : PRESTO_OK;
}

static int run_vae(args *a)
{
	if (need("--out DIR", a->out) || need("--data TABLE", a->data) || need("--config FILE", a->config))
		return PRESTO_EXIT_USAGE;
	presto_train_vae_options o;
	presto_train_vae_defaults(&o);
	char **train = NULL, **valid = NULL, ckpt[4096], path[4200];
	int nt = 0, nv = 0;
	presto_train_vae *tv = NULL;
	snprintf(ckpt, sizeof ckpt, "%s/ckpt", a->out);
	if (a->freeze_encoder && !a->init) {
		/* a frozen encoder must be a trained one: --init, or a frozen run's checkpoint to go on from */
		char *latest = NULL;
		presto_status ls = a->no_resume ? PRESTO_EEOF : presto_checkpoint_latest(ckpt, &latest);
		free(latest);
		presto_error_clear();
		if (ls == PRESTO_EEOF)
			return presto_cli_usage("--freeze-encoder needs --init FILE (the trained vae.safetensors whose "
						"encoder to keep), unless resuming from %s", ckpt);
	}
	presto_status st = vae_config(a->config, &o.model);
	if (!st)
		st = read_table(a->data, &train, &nt, &valid, &nv);
	if (!st)
		st = make_dir(a->out);
	if (!st) {
		o.train_files = (const char *const *)train;
		o.n_train = nt;
		o.val_files = (const char *const *)valid;
		o.n_val = nv;
		o.sample_rate = 44100;
		o.init_from = a->init;
		o.freeze_encoder = a->freeze_encoder;
		if (a->chunk)
			o.chunk = (int)a->chunk;
		if (a->batch)
			o.batch = (int)a->batch;
		if (a->kl >= 0)
			o.w_kl = a->kl;
		if (a->l1 >= 0)
			o.w_l1 = a->l1;
		if (a->l2 >= 0)
			o.w_l2 = a->l2;
		o.steps = a->steps ? a->steps : 1000;
		if (a->lr > 0)
			o.lr.lr = a->lr;
		if (a->warmup >= 0)
			o.lr.warmup_steps = a->warmup;
		if (a->clip >= 0)
			o.max_grad_norm = a->clip;
		if (a->ema >= 0) {
			o.use_ema = a->ema > 0;
			o.ema_decay = a->ema;
		}
		o.seed = (uint64_t)a->seed;
		o.val_every = a->valid_every >= 0 ? (int)a->valid_every : 100;
		o.ckpt_dir = ckpt;
		o.ckpt_every = a->ckpt_every >= 0 ? (int)a->ckpt_every : 200;
		o.ckpt_keep = a->keep ? (int)a->keep : 3;
		o.resume = !a->no_resume;
		o.log_every = a->log_every ? (int)a->log_every : 10;
		o.log = vae_log;
		o.log_ctx = a;
		o.stop = &stop_flag;
		o.threads = (int)a->threads;
		st = presto_train_vae_new(&o, &tv);
	}
	if (!st)
		st = presto_train_vae_run(tv);
	if (!st && !stop_flag) {
		snprintf(path, sizeof path, "%s/vae.safetensors", a->out);
		st = presto_train_vae_export(tv, path, 1, a->dtype);
		if (!st) {
			json_t *pj = presto_train_vae_pretransform_json(&o.model);
			snprintf(path, sizeof path, "%s/pretransform.json", a->out);
			if (!pj || json_dump_file(pj, path, JSON_INDENT(2)))
				st = presto_error_set(PRESTO_EIO, "%s: cannot write", path);
			json_decref(pj);
		}
		if (!st)
			presto_cli_msg("exported %s/vae.safetensors and pretransform.json", a->out);
	} else if (!st)
		presto_cli_msg("stopped at step %lld; run again with the same --out to go on",
			       (long long)presto_train_vae_steps_done(tv));
	presto_train_vae_free(tv);
	for (int i = 0; i < nt; i++)
		free(train[i]);
	for (int i = 0; i < nv; i++)
		free(valid[i]);
	free(train);
	free(valid);
	return presto_cli_status(st);
}

/* ---- tokenizer ---- */

static int run_tokenizer(args *a)
{
	if (need("--out DIR", a->out) || need("--data FILE", a->data))
		return PRESTO_EXIT_USAGE;
	char prefix[4096];
	presto_status st = make_dir(a->out);
	snprintf(prefix, sizeof prefix, "%s/tokenizer", a->out);
	if (!st)
		st = presto_tokenizer_train(a->data, prefix, a->vocab ? (int)a->vocab : 1000);
	if (!st) {
		char vocab[4200];
		snprintf(vocab, sizeof vocab, "%s.vocab", prefix);
		unlink(vocab);
		presto_cli_msg("wrote %s.model", prefix);
	}
	return presto_cli_status(st);
}

/* ---- dit ---- */

static void dit_log(void *ctx, const presto_dit_train_stats *s)
{
	args *a = ctx;
	presto_cli_msg("step %lld loss %.5g lr %.3g gnorm %.3g %.2f ex/s epoch %lld%s", (long long)s->step, s->loss,
		       s->lr, s->grad_norm, s->examples_per_s, (long long)s->epoch, s->skipped ? " (skipped)" : "");
	if (a->log) {
		fprintf(a->log, "dit\ttrain\t%lld\t%.6g\t%.6g\t%.4g\t%.4g\n", (long long)s->step, s->loss, s->lr,
			s->grad_norm, s->examples_per_s);
		fflush(a->log);
	}
}

static void dit_valid(void *ctx, int64_t step, double loss, const double *per_sigma, const double *sigmas, int n)
{
	args *a = ctx;
	presto_cli_msg("step %lld valid loss %.5g", (long long)step, loss);
	if (a->log) {
		fprintf(a->log, "dit\tvalid\t%lld\t%.6g", (long long)step, loss);
		for (int i = 0; i < n; i++)
			fprintf(a->log, "\t%.4g:%.6g", sigmas[i], per_sigma[i]);
		fputc('\n', a->log);
		fflush(a->log);
	}
}

static int run_dit(args *a)
{
	if (need("--out DIR", a->out) || need("--data LATENTS", a->data) || need("--model DIR", a->model))
		return PRESTO_EXIT_USAGE;
	presto_model_config mc;
	presto_latent_set data = {0};
	presto_dit_trainer *tr = NULL;
	presto_dit_train_opts o;
	char ckpt[4096];
	presto_status st = presto_model_config_open(a->model, &mc);
	if (st)
		return presto_cli_status(st);
	presto_dit_train_opts_defaults(&o, mc.precond.kind);
	if (a->noise && presto_noise_dist_parse(a->noise, &o.noise)) {
		presto_model_config_free(&mc);
		return presto_cli_usage("--noise: '%s' is not lognormal, uniform or logit-normal", a->noise);
	}
	o.seed = (uint64_t)a->seed;
	if (a->batch)
		o.batch = (int)a->batch;
	if (a->frames)
		o.frames = (int)a->frames;
	if (a->dropout >= 0)
		o.cond_dropout = a->dropout;
	if (a->p_mean > -1e9)
		o.p_mean = a->p_mean;
	if (a->p_std > 0)
		o.p_std = a->p_std;
	if (a->lr > 0)
		o.lr.lr = a->lr;
	if (a->warmup >= 0)
		o.lr.warmup_steps = a->warmup;
	if (a->clip >= 0)
		o.max_grad_norm = a->clip;
	if (a->ema >= 0)
		o.ema_decay = a->ema;
	o.train_text = !a->freeze_text;
	o.init_from_model = a->finetune;
	st = presto_latent_set_load(a->data, &mc, 0, &data);
	if (!st)
		st = make_dir(a->out);
	snprintf(ckpt, sizeof ckpt, "%s/ckpt", a->out);
	if (!st)
		st = presto_dit_trainer_new(&mc, &data, &o, &tr);
	if (!st && !a->no_resume) {
		st = presto_dit_trainer_resume(tr, ckpt);
		if (st == PRESTO_EEOF)
			st = PRESTO_OK;
		else if (!st)
			presto_cli_msg("resumed from %s at step %lld", ckpt, (long long)presto_dit_trainer_step_count(tr));
	}
	if (!st) {
		presto_cli_msg("%d training and %d validation records, latent scale %.4g",
			       presto_dit_trainer_n_train(tr), presto_dit_trainer_n_valid(tr),
			       presto_dit_trainer_latent_scale(tr));
		presto_dit_train_loop l = {
			.steps = a->steps ? a->steps : 1000,
			.log_every = a->log_every ? (int)a->log_every : 10,
			.valid_every = presto_dit_trainer_n_valid(tr) ? (a->valid_every >= 0 ? (int)a->valid_every : 100) : 0,
			.ckpt_every = a->ckpt_every >= 0 ? (int)a->ckpt_every : 200,
			.ckpt_dir = ckpt,
			.keep = a->keep ? (int)a->keep : 3,
			.log = dit_log,
			.valid = dit_valid,
			.ctx = a,
			.stop = &stop_flag,
		};
		st = presto_dit_trainer_run(tr, &l);
	}
	if (!st && !stop_flag) {
		st = presto_dit_trainer_export(tr, a->out, a->dtype, 1);
		if (!st)
			presto_cli_msg("exported the model to %s", a->out);
	} else if (!st)
		presto_cli_msg("stopped at step %lld; run again with the same --out to go on",
			       (long long)presto_dit_trainer_step_count(tr));
	presto_dit_trainer_free(tr);
	presto_latent_set_free(&data);
	presto_model_config_free(&mc);
	return presto_cli_status(st);
}

int main(int argc, char **argv)
{
	presto_cli cli;
	const char *arg;
	int c;
	args a = {.dtype = PRESTO_F16, .kl = -1, .l1 = -1, .l2 = -1, .dropout = -1, .p_mean = -1e10, .p_std = -1, .clip = -1, .ema = -1,
		  .warmup = -1, .valid_every = -1, .ckpt_every = -1};
	const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
	presto_cli_init(&cli, &spec, argc - (sub != NULL), argv + (sub != NULL));
	while ((c = presto_cli_next(&cli, &arg)) != PRESTO_CLI_END) {
		long long *ll = NULL, lo = 0, hi = 1LL << 40;
		double *d = NULL, dlo = 0, dhi = 1e9;
		const char *name = NULL;
		switch (c) {
		case PRESTO_CLI_EXIT: return cli.exit_code;
		case 'o': a.out = arg; break;
		case 'm': a.model = arg; break;
		case OPT_DATA: a.data = arg; break;
		case OPT_CONFIG: a.config = arg; break;
		case OPT_NOISE: a.noise = arg; break;
		case OPT_LOG: a.log_path = arg; break;
		case OPT_INIT: a.init = arg; break;
		case OPT_FREEZE_ENCODER: a.freeze_encoder = 1; break;
		case OPT_FREEZE_TEXT: a.freeze_text = 1; break;
		case OPT_FINETUNE: a.finetune = 1; break;
		case OPT_NO_RESUME: a.no_resume = 1; break;
		case OPT_DTYPE:
			if (!strcmp(arg, "f32"))
				a.dtype = PRESTO_F32;
			else if (!strcmp(arg, "f16"))
				a.dtype = PRESTO_F16;
			else if (!strcmp(arg, "bf16"))
				a.dtype = PRESTO_BF16;
			else
				return presto_cli_usage("--dtype: '%s' is not f32, f16 or bf16", arg);
			break;
		case OPT_STEPS: ll = &a.steps, lo = 1, name = "--steps"; break;
		case OPT_BATCH: ll = &a.batch, lo = 1, hi = 4096, name = "--batch"; break;
		case OPT_WARMUP: ll = &a.warmup, name = "--warmup"; break;
		case OPT_SEED: ll = &a.seed, hi = 1LL << 62, name = "--seed"; break;
		case OPT_CHUNK: ll = &a.chunk, lo = 1, hi = 1 << 26, name = "--chunk"; break;
		case OPT_FRAMES: ll = &a.frames, lo = 1, hi = 1 << 20, name = "--frames"; break;
		case OPT_VOCAB: ll = &a.vocab, lo = 8, hi = 1 << 20, name = "--vocab"; break;
		case OPT_LOG_EVERY: ll = &a.log_every, lo = 1, name = "--log-every"; break;
		case OPT_VALID_EVERY: ll = &a.valid_every, name = "--valid-every"; break;
		case OPT_CKPT_EVERY: ll = &a.ckpt_every, name = "--ckpt-every"; break;
		case OPT_KEEP: ll = &a.keep, lo = 1, hi = 1000, name = "--keep"; break;
		case OPT_THREADS: ll = &a.threads, lo = 1, hi = 1024, name = "--threads"; break;
		case OPT_LR: d = &a.lr, dlo = 1e-12, dhi = 10, name = "--lr"; break;
		case OPT_KL: d = &a.kl, name = "--kl"; break;
		case OPT_L1: d = &a.l1, dhi = 1000, name = "--l1"; break;
		case OPT_L2: d = &a.l2, dhi = 1000, name = "--l2"; break;
		case OPT_DROPOUT: d = &a.dropout, dhi = 1, name = "--cond-dropout"; break;
		case OPT_P_MEAN: d = &a.p_mean, dlo = -20, dhi = 20, name = "--p-mean"; break;
		case OPT_P_STD: d = &a.p_std, dlo = 1e-6, dhi = 20, name = "--p-std"; break;
		case OPT_CLIP: d = &a.clip, name = "--clip"; break;
		case OPT_EMA: d = &a.ema, dhi = 1, name = "--ema"; break;
		}
		if (ll && !presto_cli_int(name, arg, lo, hi, ll))
			return PRESTO_EXIT_USAGE;
		if (d && !presto_cli_double(name, arg, dlo, dhi, d))
			return PRESTO_EXIT_USAGE;
	}
	if (!sub)
		return presto_cli_usage("name what to train: vae, tokenizer or dit");
	if (strcmp(sub, "vae") && strcmp(sub, "tokenizer") && strcmp(sub, "dit"))
		return presto_cli_usage("unknown subcommand '%s' (vae, tokenizer or dit)", sub);
	if (cli.optind < argc - 1)
		return presto_cli_usage("unexpected argument '%s'", argv[cli.optind + 1]);
	if (a.threads)
		presto_set_threads((int)a.threads);
	if (a.log_path && !(a.log = fopen(a.log_path, "a")))
		return presto_cli_error("cannot open '%s': %s", a.log_path, strerror(errno));
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int rc = !strcmp(sub, "vae") ? run_vae(&a) : !strcmp(sub, "tokenizer") ? run_tokenizer(&a) : run_dit(&a);
	if (a.log)
		fclose(a.log);
	return rc;
}

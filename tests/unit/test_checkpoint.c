/* test_checkpoint.c - lib/checkpoint.c: a run killed at any moment resumes
 * exactly (2N uninterrupted steps == N steps, save, a fresh state restored
 * from the file, N steps: bit-identical parameters, moments, EMA, loss-scale
 * state, data cursor and random draws); truncated, corrupt and other-model
 * checkpoints are refused with a clear error and leave the state alone;
 * rotation keeps K files; the latest pointer is replaced atomically.
 * Exit status 0 when every check passes. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "rng.h"

#include "check.h"

/* ---- a tiny training problem: minibatch linear regression with label noise
 * y = W* x + b* + 0.01 noise, minibatches from a per-epoch shuffle of the data
 * cursor, noise from the run's counter-based RNG, a cosine schedule, loss
 * scaling (with one injected Inf gradient), clipping and EMA. */
enum { I = 5, O = 3, N = 32, B = 8 };

typedef struct {
	presto_params ps;
	presto_adamw opt;
	presto_lr_schedule sched;
	presto_ema ema;
	presto_loss_scale ls;
	presto_train_state st;
	float *grad;
	float X[N * I], Y[N * O];
} trainer;

/* layout: W [O, I], b [O] and a buffer; with `extra` one more tensor, `wide`
 * a W of I + 1 inputs, `renamed` another name for b (other models). */
static void trainer_init(trainer *tr, uint64_t seed, int extra, int wide, int renamed)
{
	memset(tr, 0, sizeof *tr);
	presto_params *ps = &tr->ps;
	presto_params_init(ps);
	const int64_t sw[2] = {O, I + (wide ? 1 : 0)}, sb[1] = {O}, sn[1] = {4};
	int ok = presto_params_add(ps, "net.weight", 2, sw, 1, 1) >= 0 &&
		 presto_params_add(ps, renamed ? "net.bias2" : "net.bias", 1, sb, 1, 0) >= 0 &&
		 presto_params_add(ps, "net.buf", 1, sn, 0, 0) >= 0 &&
		 (!extra || presto_params_add(ps, "net.extra", 1, sb, 1, 1) >= 0) && !presto_params_alloc(ps);
	presto_adamw_config cfg = {.beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.01};
	ok = ok && !presto_adamw_init(&tr->opt, ps, &cfg);
	/* initial weights from the seed: a restore must overwrite all of them */
	presto_randn(ps->data, ps->total, seed, 100, 0);
	ok = ok && !presto_ema_init(&tr->ema, ps, 0.95, 1.0);
	tr->sched = (presto_lr_schedule){.kind = PRESTO_LR_COSINE, .lr = 0.05, .warmup_steps = 3, .decay_steps = 40,
					 .min_lr = 0.005};
	presto_loss_scale_init(&tr->ls, 1, 1024.0f, 4);
	tr->grad = presto_params_buffer(ps);
	if (!ok || !tr->grad) {
		printf("FAIL trainer init: %s\n", presto_error());
		exit(1);
	}
	tr->st = (presto_train_state){.ps = ps, .opt = &tr->opt, .sched = &tr->sched, .ema = &tr->ema,
				      .scale = &tr->ls, .max_grad_norm = 1.0, .rng = {.seed = seed, .counter = 0},
				      .data = {.seed = seed ^ 0x5eed, .epoch = 0, .position = 0}};
	/* the data set is fixed (not part of the state) */
	float Wt[O * I], bt[O];
	presto_randn(tr->X, N * I, 7, 0, 0);
	presto_randn(Wt, O * I, 7, 1, 0);
	presto_randn(bt, O, 7, 2, 0);
	for (int n = 0; n < N; n++)
		for (int o = 0; o < O; o++) {
			double s = bt[o];
			for (int i = 0; i < I; i++)
				s += (double)Wt[o * I + i] * tr->X[n * I + i];
			tr->Y[n * O + o] = (float)s;
		}
}

static void trainer_free(trainer *tr)
{
	presto_adamw_free(&tr->opt);
	presto_ema_free(&tr->ema);
	free(tr->grad);
	presto_params_free(&tr->ps);
}

/* The records of the epoch's shuffle at positions pos .. pos + B - 1:
 * a permutation by sorting uniform keys drawn from (data seed, epoch). */
static void batch_indices(const presto_data_cursor *c, int *idx)
{
	float key[N];
	int perm[N];
	presto_rand(key, N, c->seed, (uint64_t)c->epoch, 0);
	for (int i = 0; i < N; i++)
		perm[i] = i;
	for (int i = 1; i < N; i++) /* insertion sort: stable, deterministic */
		for (int j = i; j > 0 && key[perm[j]] < key[perm[j - 1]]; j--) {
			int t = perm[j];
			perm[j] = perm[j - 1];
			perm[j - 1] = t;
		}
	for (int b = 0; b < B; b++)
		idx[b] = perm[c->position + b];
}

static void trainer_step(trainer *tr)
{
	presto_train_state *s = &tr->st;
	presto_params *ps = &tr->ps;
	int idx[B];
	batch_indices(&s->data, idx);
	s->data.position += B;
	if (s->data.position >= N) {
		s->data.epoch++;
		s->data.position = 0;
	}
	float noise[B * O];
	presto_randn(noise, B * O, s->rng.seed, s->rng.counter, 0);
	uint64_t draw = s->rng.counter++;

	const float *W = presto_params_ptr(ps, ps->data, "net.weight");
	const float *bias = ps->data + ps->p[1].offset;
	float *gW = presto_params_ptr(ps, tr->grad, "net.weight"), *gb = tr->grad + ps->p[1].offset;
	presto_grad_zero(ps, tr->grad);
	const double dloss = tr->ls.scale; /* backward of scale * loss */
	for (int b = 0; b < B; b++) {
		const float *x = tr->X + idx[b] * I;
		for (int o = 0; o < O; o++) {
			double r = bias[o] - (tr->Y[idx[b] * O + o] + 0.01 * noise[b * O + o]);
			for (int i = 0; i < I; i++)
				r += (double)W[o * I + i] * x[i];
			gb[o] += (float)(dloss * r / B);
			for (int i = 0; i < I; i++)
				gW[o * I + i] += (float)(dloss * r * x[i] / B);
		}
	}
	if (draw == 5 || draw == 13) /* an overflow in reduced precision */
		gW[2] = INFINITY;
	if (presto_loss_scale_update(&tr->ls, ps, tr->grad)) {
		presto_grad_clip(ps, tr->grad, s->max_grad_norm);
		presto_adamw_step(&tr->opt, ps, tr->grad, presto_lr_at(&tr->sched, tr->opt.step));
		presto_ema_update(&tr->ema, ps);
	}
}

static int same_buf(const presto_params *ps, const float *a, const float *b)
{
	for (int i = 0; i < ps->n; i++)
		if (memcmp(a + ps->p[i].offset, b + ps->p[i].offset, sizeof(float) * ps->p[i].numel))
			return 0;
	return 1;
}

static int sched_eq(const presto_lr_schedule *x, const presto_lr_schedule *y)
{
	return x->kind == y->kind && x->lr == y->lr && x->warmup_steps == y->warmup_steps &&
	       x->decay_steps == y->decay_steps && x->min_lr == y->min_lr && x->inv_gamma == y->inv_gamma &&
	       x->power == y->power && x->exp_warmup == y->exp_warmup;
}

static char tmpdir[64];

static char *tmp_path(const char *name)
{
	static char buf[4][256];
	static int k;
	char *p = buf[k++ % 4];
	snprintf(p, 256, "%s/%s", tmpdir, name);
	return p;
}

/* ---- resume exactly */
static void test_resume(void)
{
	enum { STEPS = 12 }; /* N in the brief: 12 + 12 steps */
	trainer a, b;
	trainer_init(&a, 42, 0, 0, 0);
	for (int i = 0; i < 2 * STEPS; i++)
		trainer_step(&a);

	trainer_init(&b, 42, 0, 0, 0);
	for (int i = 0; i < STEPS; i++)
		trainer_step(&b);
	const char *path = tmp_path("resume.safetensors");
	const char *config = "{\"model\": \"tiny\", \"lr\": 0.05}";
	const char *meta[] = {"config", config};
	presto_status rc = presto_checkpoint_save(path, &b.st, 1, meta);
	CHECK(!rc, "save after %d steps: %s", STEPS, rc ? presto_error() : "ok");
	trainer_free(&b);

	/* a fresh process: other initial weights, seeds and hyper-parameters */
	trainer c;
	trainer_init(&c, 999, 0, 0, 0);
	c.sched.lr = 1;
	c.opt.cfg.beta1 = 0.5;
	c.ema.decay = 0.5;
	c.st.max_grad_norm = 7;
	presto_loss_scale_init(&c.ls, 1, 8.0f, 100);
	rc = presto_checkpoint_load(path, &c.st);
	CHECK(!rc, "restore into a fresh state: %s", rc ? presto_error() : "ok");
	for (int i = 0; i < STEPS; i++)
		trainer_step(&c);

	presto_params *ps = &a.ps;
	CHECK(same_buf(ps, a.ps.data, c.ps.data), "parameters bit-identical after 2N vs N + restore + N steps");
	CHECK(same_buf(ps, a.opt.m, c.opt.m) && same_buf(ps, a.opt.v, c.opt.v), "AdamW moments bit-identical");
	CHECK(same_buf(ps, a.ema.w, c.ema.w) && a.ema.updates == c.ema.updates, "EMA weights bit-identical");
	CHECK(a.opt.step == c.opt.step && a.opt.step == 2 * STEPS - 2, "step counts equal (%lld; 2 steps skipped on Inf)",
	      (long long)c.opt.step);
	CHECK(!memcmp(&a.ls, &c.ls, sizeof a.ls) && a.ls.skipped == 2, "loss-scale state equal (scale %g, skipped %lld)",
	      c.ls.scale, (long long)c.ls.skipped);
	CHECK(a.st.max_grad_norm == c.st.max_grad_norm && sched_eq(&a.sched, &c.sched) &&
		      !memcmp(&a.opt.cfg, &c.opt.cfg, sizeof a.opt.cfg) && a.ema.decay == c.ema.decay,
	      "hyper-parameters restored");
	CHECK(a.st.data.seed == c.st.data.seed && a.st.data.epoch == c.st.data.epoch &&
		      a.st.data.position == c.st.data.position && a.st.data.epoch == 2 * STEPS * B / N,
	      "data cursor equal (epoch %lld, position %lld)", (long long)c.st.data.epoch, (long long)c.st.data.position);
	float da[16], dc[16];
	presto_randn(da, 16, a.st.rng.seed, a.st.rng.counter, 0);
	presto_randn(dc, 16, c.st.rng.seed, c.st.rng.counter, 0);
	CHECK(a.st.rng.seed == c.st.rng.seed && a.st.rng.counter == c.st.rng.counter && !memcmp(da, dc, sizeof da),
	      "RNG state equal: the next draws are bit-identical");
	char *cfg = NULL;
	rc = presto_checkpoint_meta(path, "config", &cfg);
	CHECK(!rc && cfg && !strcmp(cfg, config), "the run's config JSON comes back: %s", cfg ? cfg : presto_error());
	free(cfg);
	EXPECT(presto_checkpoint_meta(path, "nope", &cfg) == PRESTO_EINVAL, "missing metadata key");
	EXPECT(presto_checkpoint_save(tmp_path("x.safetensors"), &c.st, 1, (const char *[]){"presto.step", "1"}) ==
		       PRESTO_EINVAL,
	       "a reserved metadata key is refused");

	/* a run without EMA: not saved; loading it into a run with EMA is refused,
	 * loading a file with EMA into a run without is fine */
	c.st.ema = NULL;
	const char *noema = tmp_path("noema.safetensors");
	EXPECT(!presto_checkpoint_save(noema, &c.st, 0, NULL), "save without EMA: %s", presto_error());
	EXPECT(!presto_checkpoint_load(path, &c.st), "file with EMA into a run without: %s", presto_error());
	c.st.ema = &c.ema;
	rc = presto_checkpoint_load(noema, &c.st);
	CHECK(rc == PRESTO_EINVAL && strstr(presto_error(), "no EMA"), "no EMA in the file, the run keeps one: %s",
	      presto_error());
	unlink(noema);
	trainer_free(&a);
	trainer_free(&c);
}

static int copy_file(const char *src, const char *dst, long truncate_by, long flip_at)
{
	FILE *f = fopen(src, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *buf = malloc((size_t)n);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	if (flip_at < 0)
		flip_at += n;
	if (flip_at >= 0 && flip_at < n)
		buf[flip_at] ^= 0x10;
	f = fopen(dst, "wb");
	fwrite(buf, 1, (size_t)(n - truncate_by), f);
	fclose(f);
	free(buf);
	return 0;
}

/* ---- refused files leave the state alone */
static void test_refuse(void)
{
	trainer t;
	trainer_init(&t, 5, 0, 0, 0);
	for (int i = 0; i < 3; i++)
		trainer_step(&t);
	const char *good = tmp_path("good.safetensors"), *bad = tmp_path("bad.safetensors");
	EXPECT(!presto_checkpoint_save(good, &t.st, 0, NULL), "save: %s", presto_error());
	trainer r;
	trainer_init(&r, 6, 0, 0, 0);
	float *before = presto_params_buffer(&r.ps);
	memcpy(before, r.ps.data, sizeof(float) * r.ps.total);
	const presto_loss_scale ls0 = r.ls;
	const int64_t step0 = r.opt.step;
	struct {
		const char *what;
		long truncate_by, flip_at;
		const char *expect;
	} cases[] = {
		{"truncated by 100 bytes", 100, -1000000, "truncated"},
		{"truncated to 7 bytes", -1, -1000000, "too short"},
		{"a flipped bit in the last parameter byte", 0, -1, "checksum"},
		{"a flipped bit in the header", 0, 8, "header"},
	};
	struct stat sb;
	stat(good, &sb);
	cases[1].truncate_by = (long)sb.st_size - 7;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		copy_file(good, bad, cases[k].truncate_by, cases[k].flip_at);
		presto_status rc = presto_checkpoint_load(bad, &r.st);
		CHECK(rc == PRESTO_EINVAL && strstr(presto_error(), cases[k].expect), "%s refused: %s", cases[k].what,
		      presto_error());
	}
	CHECK(same_buf(&r.ps, before, r.ps.data) && r.opt.step == step0 && !memcmp(&ls0, &r.ls, sizeof ls0),
	      "a refused checkpoint leaves the state unchanged");
	/* a plain weights file is not a training checkpoint */
	EXPECT(!presto_params_save(&t.ps, t.ps.data, bad, "", PRESTO_F32, 0, 0, NULL), "params save: %s", presto_error());
	presto_status rc = presto_checkpoint_load(bad, &r.st);
	CHECK(rc == PRESTO_EINVAL && strstr(presto_error(), "not a presto training checkpoint"), "plain weights refused: %s",
	      presto_error());
	rc = presto_checkpoint_load(tmp_path("does-not-exist"), &r.st);
	CHECK(rc == PRESTO_EIO, "missing file: %s", presto_error());
	unlink(bad);
	trainer_free(&r);

	/* checkpoints of other models */
	struct {
		const char *what;
		int extra, wide, renamed;
		const char *expect;
	} others[] = {
		{"a model with one more tensor", 1, 0, 0, "another model"},
		{"a model with a wider weight", 0, 1, 0, "shape"},
		{"a model with another tensor name", 0, 0, 1, "net.bias"},
	};
	for (size_t k = 0; k < sizeof others / sizeof others[0]; k++) {
		trainer o;
		trainer_init(&o, 6, others[k].extra, others[k].wide, others[k].renamed);
		rc = presto_checkpoint_load(good, &o.st);
		CHECK(rc == PRESTO_EINVAL && strstr(presto_error(), others[k].expect), "%s refused: %s", others[k].what,
		      presto_error());
		trainer_free(&o);
	}
	free(before);
	unlink(good);
	trainer_free(&t);
}

static int count_files(const char *dir, int *n_step, int *n_other)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	*n_step = *n_other = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!strncmp(de->d_name, "step-", 5))
			++*n_step;
		else if (strcmp(de->d_name, "latest"))
			++*n_other;
	}
	closedir(d);
	return *n_step;
}

static void read_all(int fd, char *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = 0;
}

/* ---- rotation and latest */
static void test_rotation(void)
{
	char dir[128];
	snprintf(dir, sizeof dir, "%s/run", tmpdir);
	mkdir(dir, 0755);
	trainer t;
	trainer_init(&t, 9, 0, 0, 0);
	char *p = NULL;
	presto_status rc = presto_checkpoint_latest(dir, &p);
	CHECK(rc == PRESTO_EEOF, "no latest in a fresh directory: %s", presto_error());
	int ok = 1, n_step, n_other, old_fd = -1;
	for (int64_t step = 100; step <= 700; step += 100) {
		t.opt.step = step;
		if (step == 700) {
			char lp[256];
			snprintf(lp, sizeof lp, "%s/latest", dir);
			old_fd = open(lp, O_RDONLY);
		}
		char *written = NULL;
		rc = presto_checkpoint_save_rotating(dir, &t.st, 3, 0, NULL, &written);
		ok &= !rc;
		char *latest = NULL;
		ok &= !presto_checkpoint_latest(dir, &latest) && written && !strcmp(latest, written);
		count_files(dir, &n_step, &n_other);
		ok &= n_step == (step / 100 < 3 ? step / 100 : 3) && n_other == 0;
		free(latest);
		free(written);
	}
	CHECK(ok, "7 saves with keep = 3: latest names the newest each time, at most 3 files, no temp files left");
	struct stat sb;
	CHECK(stat(tmp_path("run/step-000500.safetensors"), &sb) == 0 && stat(tmp_path("run/step-000700.safetensors"), &sb) == 0 &&
		      stat(tmp_path("run/step-000400.safetensors"), &sb) != 0,
	      "the newest 3 (500, 600, 700) remain");
	/* the old latest was replaced by rename, not rewritten in place: a reader
	 * that opened it before the save still reads a complete old name */
	char buf[256];
	read_all(old_fd, buf, sizeof buf);
	CHECK(!strcmp(buf, "step-000600.safetensors\n"), "latest replaced atomically: an old reader sees '%.*s'",
	      (int)strcspn(buf, "\n"), buf);
	close(old_fd);
	/* a restored checkpoint through latest */
	rc = presto_checkpoint_latest(dir, &p);
	trainer r;
	trainer_init(&r, 10, 0, 0, 0);
	CHECK(!rc && !presto_checkpoint_load(p, &r.st) && r.opt.step == 700 && same_buf(&r.ps, r.ps.data, t.ps.data),
	      "resume from latest: step %lld", (long long)r.opt.step);
	free(p);
	trainer_free(&r);

	/* numeric, not lexicographic, order: 1000000 is newer than 999999 */
	t.opt.step = 999999;
	presto_checkpoint_save_rotating(dir, &t.st, 1, 0, NULL, NULL);
	t.opt.step = 1000000;
	rc = presto_checkpoint_save_rotating(dir, &t.st, 1, 0, NULL, NULL);
	CHECK(!rc && count_files(dir, &n_step, &n_other) == 1 && stat(tmp_path("run/step-1000000.safetensors"), &sb) == 0,
	      "keep = 1 keeps step-1000000 over step-999999");
	/* a bad latest */
	char lp[256];
	snprintf(lp, sizeof lp, "%s/latest", dir);
	FILE *f = fopen(lp, "w");
	fputs("../../etc/passwd\n", f);
	fclose(f);
	CHECK(presto_checkpoint_latest(dir, &p) == PRESTO_EINVAL, "malformed latest: %s", presto_error());
	f = fopen(lp, "w");
	fputs("step-000042.safetensors\n", f);
	fclose(f);
	CHECK(presto_checkpoint_latest(dir, &p) == PRESTO_EINVAL && strstr(presto_error(), "missing"),
	      "latest naming a missing file: %s", presto_error());
	/* clean up */
	DIR *d = opendir(dir);
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			char q[512];
			snprintf(q, sizeof q, "%s/%s", dir, de->d_name);
			unlink(q);
		}
	closedir(d);
	rmdir(dir);
	trainer_free(&t);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/presto-ckpt-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_resume();
	test_refuse();
	test_rotation();
	unlink(tmp_path("resume.safetensors"));
	unlink(tmp_path("x.safetensors"));
	rmdir(tmpdir);
	return check_status();
}

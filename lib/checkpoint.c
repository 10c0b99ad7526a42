/* checkpoint.c - training state save / restore in one safetensors file,
 * rotation and the "latest" pointer (format in checkpoint.h). */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_FORMAT "presto-train-state"
#define CKPT_VERSION "1"

/* ---- the tensors of a state, in file order */

enum { G_PARAM, G_M, G_V, G_EMA, G_COUNT };
static const char *const group_prefix[G_COUNT] = {"param.", "adam_m.", "adam_v.", "ema."};

typedef struct {
	int group;
	int index;   /* into the table */
	char *name;  /* prefix + table name */
} ckpt_entry;

typedef struct {
	ckpt_entry *e;
	int n;
} ckpt_list;

static void list_free(ckpt_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
	l->e = NULL;
	l->n = 0;
}

/* Entries of the groups present (param, m and v always; ema when with_ema). */
static presto_status list_build(ckpt_list *l, const presto_params *ps, int with_ema)
{
	size_t cap;
	l->n = 0;
	if (!presto_mul_size((size_t)ps->n + 1, G_COUNT, &cap) || !(l->e = presto_calloc(cap, sizeof *l->e)))
		return PRESTO_ENOMEM;
	for (int g = 0; g < G_COUNT; g++) {
		if (g == G_EMA && !with_ema)
			continue;
		for (int i = 0; i < ps->n; i++) {
			const presto_param_info *pi = &ps->p[i];
			if ((g == G_M || g == G_V) && !pi->trainable)
				continue;
			size_t len = strlen(group_prefix[g]) + strlen(pi->name) + 1;
			char *name = presto_malloc(len);
			if (!name) {
				list_free(l);
				return PRESTO_ENOMEM;
			}
			snprintf(name, len, "%s%s", group_prefix[g], pi->name);
			l->e[l->n++] = (ckpt_entry){.group = g, .index = i, .name = name};
		}
	}
	return PRESTO_OK;
}

/* The buffer a group lives in. */
static float *group_buf(const presto_train_state *s, int g)
{
	switch (g) {
	case G_PARAM: return s->ps->data;
	case G_M: return s->opt->m;
	case G_V: return s->opt->v;
	default: return s->ema ? s->ema->w : NULL;
	}
}

/* ---- checksum: a 64-bit hash of the tensors' bytes. Every step is a
 * bijection of h for a fixed word and of the word for a fixed h, so a single
 * changed word always changes the result. */

#define HASH_MUL 0x9E3779B97F4A7C15ull

static uint64_t hash_mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * HASH_MUL;
	return h ^ (h >> 32);
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, b + i, 8);
		h = hash_mix(h, w);
	}
	for (; i < n; i++)
		h = hash_mix(h, b[i]);
	return hash_mix(h, (uint64_t)n);
}

/* ---- metadata */

typedef struct {
	int n, cap;
	char **kv; /* 2n strings, owned */
} meta_list;

static void meta_free(meta_list *m)
{
	for (int i = 0; i < 2 * m->n; i++)
		free(m->kv[i]);
	free(m->kv);
	memset(m, 0, sizeof *m);
}

static presto_status meta_add(meta_list *m, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static presto_status meta_add(meta_list *m, const char *key, const char *fmt, ...)
{
	if (m->n == m->cap) {
		int cap = m->cap ? 2 * m->cap : 64;
		char **kv = realloc(m->kv, sizeof *kv * 2 * (size_t)cap);
		if (!kv)
			return presto_error_set(PRESTO_ENOMEM, "out of memory");
		m->kv = kv;
		m->cap = cap;
	}
	va_list ap;
	va_start(ap, fmt);
	char *val = NULL;
	int len = vasprintf(&val, fmt, ap);
	va_end(ap);
	char *k = strdup(key);
	if (len < 0 || !k) {
		if (len >= 0)
			free(val);
		free(k);
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	}
	m->kv[2 * m->n] = k;
	m->kv[2 * m->n + 1] = val;
	m->n++;
	return PRESTO_OK;
}

#define F64 "%.17g"

static presto_status meta_state(meta_list *m, const presto_train_state *s, uint64_t checksum)
{
	const presto_adamw_config *a = &s->opt->cfg;
	const presto_lr_schedule *l = s->sched;
	const presto_loss_scale *ls = s->scale;
	PRESTO_TRY(meta_add(m, "presto.format", "%s", CKPT_FORMAT));
	PRESTO_TRY(meta_add(m, "presto.version", "%s", CKPT_VERSION));
	PRESTO_TRY(meta_add(m, "presto.n_tensors", "%d", s->ps->n));
	PRESTO_TRY(meta_add(m, "presto.checksum", "%016" PRIx64, checksum));
	PRESTO_TRY(meta_add(m, "presto.step", "%" PRId64, s->opt->step));
	PRESTO_TRY(meta_add(m, "presto.adamw.beta1", F64, a->beta1));
	PRESTO_TRY(meta_add(m, "presto.adamw.beta2", F64, a->beta2));
	PRESTO_TRY(meta_add(m, "presto.adamw.eps", F64, a->eps));
	PRESTO_TRY(meta_add(m, "presto.adamw.weight_decay", F64, a->weight_decay));
	PRESTO_TRY(meta_add(m, "presto.lr.kind", "%s", presto_lr_kind_name(l->kind)));
	PRESTO_TRY(meta_add(m, "presto.lr.lr", F64, l->lr));
	PRESTO_TRY(meta_add(m, "presto.lr.warmup_steps", "%" PRId64, l->warmup_steps));
	PRESTO_TRY(meta_add(m, "presto.lr.decay_steps", "%" PRId64, l->decay_steps));
	PRESTO_TRY(meta_add(m, "presto.lr.min_lr", F64, l->min_lr));
	PRESTO_TRY(meta_add(m, "presto.lr.inv_gamma", F64, l->inv_gamma));
	PRESTO_TRY(meta_add(m, "presto.lr.power", F64, l->power));
	PRESTO_TRY(meta_add(m, "presto.lr.exp_warmup", F64, l->exp_warmup));
	PRESTO_TRY(meta_add(m, "presto.clip.max_norm", F64, s->max_grad_norm));
	if (s->ema) {
		PRESTO_TRY(meta_add(m, "presto.ema.decay", F64, s->ema->decay));
		PRESTO_TRY(meta_add(m, "presto.ema.warmup_power", F64, s->ema->warmup_power));
		PRESTO_TRY(meta_add(m, "presto.ema.updates", "%" PRId64, s->ema->updates));
	}
	PRESTO_TRY(meta_add(m, "presto.scale.enabled", "%d", ls->enabled ? 1 : 0));
	PRESTO_TRY(meta_add(m, "presto.scale.scale", F64, (double)ls->scale));
	PRESTO_TRY(meta_add(m, "presto.scale.growth", F64, (double)ls->growth));
	PRESTO_TRY(meta_add(m, "presto.scale.backoff", F64, (double)ls->backoff));
	PRESTO_TRY(meta_add(m, "presto.scale.growth_interval", "%d", ls->growth_interval));
	PRESTO_TRY(meta_add(m, "presto.scale.min_scale", F64, (double)ls->min_scale));
	PRESTO_TRY(meta_add(m, "presto.scale.max_scale", F64, (double)ls->max_scale));
	PRESTO_TRY(meta_add(m, "presto.scale.good_steps", "%d", ls->good_steps));
	PRESTO_TRY(meta_add(m, "presto.scale.skipped", "%" PRId64, ls->skipped));
	PRESTO_TRY(meta_add(m, "presto.rng.seed", "%" PRIu64, s->rng.seed));
	PRESTO_TRY(meta_add(m, "presto.rng.counter", "%" PRIu64, s->rng.counter));
	PRESTO_TRY(meta_add(m, "presto.data.seed", "%" PRIu64, s->data.seed));
	PRESTO_TRY(meta_add(m, "presto.data.epoch", "%" PRId64, s->data.epoch));
	PRESTO_TRY(meta_add(m, "presto.data.position", "%" PRId64, s->data.position));
	return PRESTO_OK;
}

static presto_status check_state(const presto_train_state *s, const char *what)
{
	if (!s->ps || !s->ps->data || !s->opt || !s->opt->m || !s->opt->v || !s->sched || !s->scale ||
	    (s->ema && !s->ema->w))
		return presto_error_set(PRESTO_EINVAL, "%s: incomplete training state (a part is missing or not allocated)",
					what);
	return PRESTO_OK;
}

/* ---- save */

presto_status presto_checkpoint_save(const char *path, const presto_train_state *s, int n_meta,
				     const char *const *meta_kv)
{
	PRESTO_TRY(check_state(s, path));
	for (int i = 0; i < n_meta; i++) {
		if (!meta_kv[2 * i] || !meta_kv[2 * i + 1])
			return presto_error_set(PRESTO_EINVAL, "%s: metadata pair %d has a NULL key or value", path, i);
		if (!strncmp(meta_kv[2 * i], "presto.", 7))
			return presto_error_set(PRESTO_EINVAL, "%s: metadata key '%s' is reserved (\"presto.\" prefix)",
						path, meta_kv[2 * i]);
	}
	const presto_params *ps = s->ps;
	ckpt_list l = {0};
	meta_list m = {0};
	presto_tensor *t = NULL;
	const char **names = NULL;
	presto_status rc = list_build(&l, ps, s->ema != NULL);
	if (!rc && (!(t = presto_calloc((size_t)l.n + 1, sizeof *t)) || !(names = presto_calloc((size_t)l.n + 1, sizeof *names))))
		rc = PRESTO_ENOMEM;
	uint64_t h = 0;
	for (int i = 0; !rc && i < l.n; i++) {
		const presto_param_info *pi = &ps->p[l.e[i].index];
		float *buf = group_buf(s, l.e[i].group) + pi->offset;
		t[i] = presto_tensor_wrap(PRESTO_F32, pi->ndim, pi->shape, buf);
		names[i] = l.e[i].name;
		h = hash_bytes(h, buf, t[i].nbytes);
	}
	if (!rc)
		rc = meta_state(&m, s, h);
	for (int i = 0; !rc && i < n_meta; i++)
		rc = meta_add(&m, meta_kv[2 * i], "%s", meta_kv[2 * i + 1]);
	if (!rc)
		rc = presto_st_write(path, l.n, names, t, m.n, (const char *const *)m.kv);
	if (rc && rc != PRESTO_EIO)
		presto_error_wrap(rc, "%s: saving the training state: ", path);
	free(t);
	free(names);
	list_free(&l);
	meta_free(&m);
	return rc;
}

/* ---- load */

static presto_status meta_get(presto_st *st, const char *key, const char **out)
{
	*out = presto_st_metadata(st, key);
	if (!*out)
		return presto_error_set(PRESTO_EINVAL, "%s: checkpoint metadata '%s' is missing", presto_st_path(st), key);
	return PRESTO_OK;
}

static presto_status bad_value(presto_st *st, const char *key, const char *v)
{
	return presto_error_set(PRESTO_EINVAL, "%s: checkpoint metadata '%s' = '%s' is not a valid value",
				presto_st_path(st), key, v);
}

static presto_status meta_u64(presto_st *st, const char *key, uint64_t *out)
{
	const char *v;
	PRESTO_TRY(meta_get(st, key, &v));
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || *end || errno)
		return bad_value(st, key, v);
	*out = (uint64_t)x;
	return PRESTO_OK;
}

static presto_status meta_i64(presto_st *st, const char *key, int64_t lo, int64_t *out)
{
	const char *v;
	PRESTO_TRY(meta_get(st, key, &v));
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (!*v || *end || errno || x < lo)
		return bad_value(st, key, v);
	*out = (int64_t)x;
	return PRESTO_OK;
}

static presto_status meta_int(presto_st *st, const char *key, int lo, int *out)
{
	int64_t x;
	PRESTO_TRY(meta_i64(st, key, lo, &x));
	if (x > 0x7fffffff)
		return bad_value(st, key, presto_st_metadata(st, key));
	*out = (int)x;
	return PRESTO_OK;
}

static presto_status meta_f64(presto_st *st, const char *key, double *out)
{
	const char *v;
	PRESTO_TRY(meta_get(st, key, &v));
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(x))
		return bad_value(st, key, v);
	*out = x;
	return PRESTO_OK;
}

static presto_status meta_f32(presto_st *st, const char *key, float *out)
{
	double x;
	PRESTO_TRY(meta_f64(st, key, &x));
	if (!isfinite((float)x))
		return bad_value(st, key, presto_st_metadata(st, key));
	*out = (float)x;
	return PRESTO_OK;
}

/* Everything small of a state, read before anything is changed. */
typedef struct {
	int64_t step;
	presto_adamw_config adamw;
	presto_lr_schedule sched;
	double max_grad_norm;
	int has_ema;
	double ema_decay, ema_power;
	int64_t ema_updates;
	presto_loss_scale scale;
	presto_rng_state rng;
	presto_data_cursor data;
	uint64_t checksum;
} ckpt_values;

static presto_status read_values(presto_st *st, const presto_params *ps, ckpt_values *c)
{
	const char *path = presto_st_path(st), *v;
	const char *fmt = presto_st_metadata(st, "presto.format");
	if (!fmt || strcmp(fmt, CKPT_FORMAT))
		return presto_error_set(PRESTO_EINVAL, "%s: not a presto training checkpoint (no presto.format = \"%s\")",
					path, CKPT_FORMAT);
	PRESTO_TRY(meta_get(st, "presto.version", &v));
	if (strcmp(v, CKPT_VERSION))
		return presto_error_set(PRESTO_EUNSUP, "%s: checkpoint version %s (this build reads version %s)", path, v,
					CKPT_VERSION);
	int n;
	PRESTO_TRY(meta_int(st, "presto.n_tensors", 0, &n));
	if (n != ps->n)
		return presto_error_set(PRESTO_EINVAL,
					"%s: checkpoint of another model: it holds %d parameter tensors, the model declares %d",
					path, n, ps->n);
	PRESTO_TRY(meta_get(st, "presto.checksum", &v));
	char *end;
	errno = 0;
	c->checksum = (uint64_t)strtoull(v, &end, 16);
	if (strlen(v) != 16 || *end || errno)
		return bad_value(st, "presto.checksum", v);
	PRESTO_TRY(meta_i64(st, "presto.step", 0, &c->step));

	presto_adamw_config *a = &c->adamw;
	PRESTO_TRY(meta_f64(st, "presto.adamw.beta1", &a->beta1));
	PRESTO_TRY(meta_f64(st, "presto.adamw.beta2", &a->beta2));
	PRESTO_TRY(meta_f64(st, "presto.adamw.eps", &a->eps));
	PRESTO_TRY(meta_f64(st, "presto.adamw.weight_decay", &a->weight_decay));
	if (!(a->beta1 >= 0 && a->beta1 < 1) || !(a->beta2 >= 0 && a->beta2 < 1) || !(a->eps > 0) ||
	    !(a->weight_decay >= 0))
		return presto_error_set(PRESTO_EINVAL, "%s: checkpoint AdamW hyper-parameters out of range", path);

	presto_lr_schedule *l = &c->sched;
	PRESTO_TRY(meta_get(st, "presto.lr.kind", &v));
	if (presto_lr_kind_parse(v, &l->kind))
		return bad_value(st, "presto.lr.kind", v);
	PRESTO_TRY(meta_f64(st, "presto.lr.lr", &l->lr));
	PRESTO_TRY(meta_i64(st, "presto.lr.warmup_steps", 0, &l->warmup_steps));
	PRESTO_TRY(meta_i64(st, "presto.lr.decay_steps", 0, &l->decay_steps));
	PRESTO_TRY(meta_f64(st, "presto.lr.min_lr", &l->min_lr));
	PRESTO_TRY(meta_f64(st, "presto.lr.inv_gamma", &l->inv_gamma));
	PRESTO_TRY(meta_f64(st, "presto.lr.power", &l->power));
	PRESTO_TRY(meta_f64(st, "presto.lr.exp_warmup", &l->exp_warmup));
	PRESTO_TRY(meta_f64(st, "presto.clip.max_norm", &c->max_grad_norm));

	c->has_ema = presto_st_metadata(st, "presto.ema.decay") != NULL;
	if (c->has_ema) {
		PRESTO_TRY(meta_f64(st, "presto.ema.decay", &c->ema_decay));
		PRESTO_TRY(meta_f64(st, "presto.ema.warmup_power", &c->ema_power));
		PRESTO_TRY(meta_i64(st, "presto.ema.updates", 0, &c->ema_updates));
		if (!(c->ema_decay >= 0 && c->ema_decay <= 1) || !(c->ema_power >= 0))
			return presto_error_set(PRESTO_EINVAL, "%s: checkpoint EMA settings out of range", path);
	}

	presto_loss_scale *ls = &c->scale;
	PRESTO_TRY(meta_int(st, "presto.scale.enabled", 0, &ls->enabled));
	PRESTO_TRY(meta_f32(st, "presto.scale.scale", &ls->scale));
	PRESTO_TRY(meta_f32(st, "presto.scale.growth", &ls->growth));
	PRESTO_TRY(meta_f32(st, "presto.scale.backoff", &ls->backoff));
	PRESTO_TRY(meta_int(st, "presto.scale.growth_interval", 1, &ls->growth_interval));
	PRESTO_TRY(meta_f32(st, "presto.scale.min_scale", &ls->min_scale));
	PRESTO_TRY(meta_f32(st, "presto.scale.max_scale", &ls->max_scale));
	PRESTO_TRY(meta_int(st, "presto.scale.good_steps", 0, &ls->good_steps));
	PRESTO_TRY(meta_i64(st, "presto.scale.skipped", 0, &ls->skipped));
	if (ls->enabled > 1 || !(ls->scale > 0))
		return presto_error_set(PRESTO_EINVAL, "%s: checkpoint loss-scale state out of range", path);

	PRESTO_TRY(meta_u64(st, "presto.rng.seed", &c->rng.seed));
	PRESTO_TRY(meta_u64(st, "presto.rng.counter", &c->rng.counter));
	PRESTO_TRY(meta_u64(st, "presto.data.seed", &c->data.seed));
	PRESTO_TRY(meta_i64(st, "presto.data.epoch", 0, &c->data.epoch));
	PRESTO_TRY(meta_i64(st, "presto.data.position", 0, &c->data.position));
	return PRESTO_OK;
}

/* Every tensor of the file is one the list expects (no other model's). */
static presto_status check_extra(presto_st *st, const presto_params *ps, int has_ema)
{
	const char *path = presto_st_path(st);
	for (int i = 0; i < presto_st_count(st); i++) {
		const char *name = presto_st_name(st, i);
		int g, k = -1;
		for (g = 0; g < G_COUNT; g++) {
			size_t len = strlen(group_prefix[g]);
			if (!strncmp(name, group_prefix[g], len)) {
				k = presto_params_find(ps, name + len);
				break;
			}
		}
		if (g == G_COUNT)
			return presto_error_set(PRESTO_EINVAL, "%s: unexpected tensor '%s' in a training checkpoint", path,
						name);
		if (k < 0)
			return presto_error_set(PRESTO_EINVAL,
						"%s: checkpoint of another model: tensor '%s' is not a parameter of this model",
						path, name);
		if ((g == G_M || g == G_V) && !ps->p[k].trainable)
			return presto_error_set(PRESTO_EINVAL,
						"%s: checkpoint has AdamW moments for '%s', which this model does not train",
						path, ps->p[k].name);
		if (g == G_EMA && !has_ema)
			return presto_error_set(PRESTO_EINVAL, "%s: tensor '%s' without EMA settings in the metadata", path,
						name);
	}
	return PRESTO_OK;
}

presto_status presto_checkpoint_load(const char *path, presto_train_state *s)
{
	PRESTO_TRY(check_state(s, path));
	presto_st *st;
	PRESTO_TRY(presto_st_open(path, &st));
	const presto_params *ps = s->ps;
	ckpt_values c;
	memset(&c, 0, sizeof c);
	ckpt_list l = {0};
	const presto_tensor **src = NULL;
	presto_status rc = read_values(st, ps, &c);
	if (!rc && s->ema && !c.has_ema)
		rc = presto_error_set(PRESTO_EINVAL, "%s: the checkpoint has no EMA weights and this run keeps them", path);
	if (!rc)
		rc = list_build(&l, ps, c.has_ema);
	if (!rc && !(src = presto_calloc((size_t)l.n + 1, sizeof *src)))
		rc = PRESTO_ENOMEM;
	/* every expected tensor, F32 with the table's shape */
	uint64_t h = 0;
	for (int i = 0; !rc && i < l.n; i++) {
		const presto_param_info *pi = &ps->p[l.e[i].index];
		const presto_tensor *t = presto_st_get(st, l.e[i].name);
		char got[128], want[128];
		if (!t)
			rc = presto_error_set(PRESTO_EINVAL, "%s: missing tensor '%s' (a checkpoint of another model?)", path,
					      l.e[i].name);
		else if (!presto_shape_eq(t, pi->ndim, pi->shape))
			rc = presto_error_set(PRESTO_EINVAL,
					      "%s: tensor '%s' has shape %s, the model's is %s (a checkpoint of another model?)",
					      path, l.e[i].name, presto_shape_str(t->shape, t->ndim, got, sizeof got),
					      presto_shape_str(pi->shape, pi->ndim, want, sizeof want));
		else if (t->dtype != PRESTO_F32)
			rc = presto_error_set(PRESTO_EINVAL, "%s: tensor '%s' is %s, a training checkpoint holds F32", path,
					      l.e[i].name, presto_dtype_name(t->dtype));
		else {
			src[i] = t;
			h = hash_bytes(h, t->data, t->nbytes);
		}
	}
	if (!rc)
		rc = check_extra(st, ps, c.has_ema);
	if (!rc && h != c.checksum)
		rc = presto_error_set(PRESTO_EINVAL,
				      "%s: checksum mismatch (file says %016" PRIx64 ", data hashes to %016" PRIx64
				      "): the checkpoint is corrupt",
				      path, c.checksum, h);
	if (!rc) {
		/* all checked: now change the state */
		for (int i = 0; i < l.n; i++) {
			if (l.e[i].group == G_EMA && !s->ema)
				continue;
			float *dst = group_buf(s, l.e[i].group) + ps->p[l.e[i].index].offset;
			memcpy(dst, src[i]->data, src[i]->nbytes);
		}
		s->opt->step = c.step;
		s->opt->cfg = c.adamw;
		*s->sched = c.sched;
		s->max_grad_norm = c.max_grad_norm;
		if (s->ema) {
			s->ema->decay = c.ema_decay;
			s->ema->warmup_power = c.ema_power;
			s->ema->updates = c.ema_updates;
		}
		*s->scale = c.scale;
		s->rng = c.rng;
		s->data = c.data;
	}
	free(src);
	list_free(&l);
	presto_st_close(st);
	return rc;
}

presto_status presto_checkpoint_meta(const char *path, const char *key, char **value)
{
	presto_st *st;
	PRESTO_TRY(presto_st_open(path, &st));
	const char *v = presto_st_metadata(st, key);
	presto_status rc = PRESTO_OK;
	if (!v)
		rc = presto_error_set(PRESTO_EINVAL, "%s: no metadata '%s'", path, key);
	else if (!(*value = strdup(v)))
		rc = presto_error_set(PRESTO_ENOMEM, "out of memory");
	presto_st_close(st);
	return rc;
}

/* ---- rotation and the latest pointer */

static char *path_join(const char *dir, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", dir, name) < 0) {
		presto_error_set(PRESTO_ENOMEM, "out of memory");
		return NULL;
	}
	return p;
}

static presto_status fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return presto_error_set(PRESTO_EIO, "%s: %s", dir, strerror(errno));
	int r = fsync(fd);
	int err = errno;
	close(fd);
	if (r && err != EINVAL && err != EROFS) /* some file systems cannot sync a directory */
		return presto_error_set(PRESTO_EIO, "%s: fsync: %s", dir, strerror(err));
	return PRESTO_OK;
}

/* Step of a name "step-<digits>.safetensors", or -1. */
static int64_t step_of(const char *name)
{
	if (strncmp(name, "step-", 5))
		return -1;
	const char *p = name + 5, *q = p;
	while (*q >= '0' && *q <= '9')
		q++;
	if (q == p || q - p > 18 || strcmp(q, ".safetensors"))
		return -1;
	return strtoll(p, NULL, 10);
}

static presto_status write_latest(const char *dir, const char *name)
{
	char *path = path_join(dir, "latest"), *tmp = NULL;
	if (!path)
		return PRESTO_ENOMEM;
	if (asprintf(&tmp, "%s.tmp%d", path, (int)getpid()) < 0) {
		free(path);
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	}
	presto_status rc = PRESTO_OK;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		rc = presto_error_set(PRESTO_EIO, "%s: %s", tmp, strerror(errno));
	else {
		size_t len = strlen(name);
		int ok = write(fd, name, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
		int err = errno;
		if (close(fd) != 0 && ok) {
			ok = 0;
			err = errno;
		}
		if (!ok || rename(tmp, path) != 0) {
			rc = presto_error_set(PRESTO_EIO, "%s: write failed: %s", path, strerror(ok ? errno : err));
			unlink(tmp);
		}
	}
	if (!rc)
		rc = fsync_dir(dir);
	free(tmp);
	free(path);
	return rc;
}

typedef struct {
	int64_t step;
	char *name;
} step_file;

static int cmp_step_desc(const void *a, const void *b)
{
	const step_file *x = a, *y = b;
	if (x->step != y->step)
		return x->step > y->step ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Delete the oldest step files so that keep remain, `current` included. */
static presto_status prune(const char *dir, const char *current, int keep)
{
	DIR *d = opendir(dir);
	if (!d)
		return presto_error_set(PRESTO_EIO, "%s: %s", dir, strerror(errno));
	step_file *f = NULL;
	int n = 0, cap = 0;
	presto_status rc = PRESTO_OK;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		int64_t step = step_of(de->d_name);
		if (step < 0 || !strcmp(de->d_name, current))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			step_file *nf = realloc(f, sizeof *nf * (size_t)cap);
			if (!nf) {
				rc = presto_error_set(PRESTO_ENOMEM, "out of memory");
				break;
			}
			f = nf;
		}
		f[n].step = step;
		if (!(f[n].name = strdup(de->d_name)))
			rc = presto_error_set(PRESTO_ENOMEM, "out of memory");
		else
			n++;
	}
	closedir(d);
	if (!rc && n > 0)
		qsort(f, (size_t)n, sizeof *f, cmp_step_desc);
	for (int i = keep - 1; !rc && i < n; i++) {
		char *p = path_join(dir, f[i].name);
		if (!p)
			rc = PRESTO_ENOMEM;
		else if (unlink(p) != 0 && errno != ENOENT)
			rc = presto_error_set(PRESTO_EIO, "%s: cannot delete an old checkpoint: %s", p, strerror(errno));
		free(p);
	}
	for (int i = 0; i < n; i++)
		free(f[i].name);
	free(f);
	return rc;
}

presto_status presto_checkpoint_save_rotating(const char *dir, const presto_train_state *s, int keep, int n_meta,
					      const char *const *meta_kv, char **path_out)
{
	PRESTO_TRY(check_state(s, dir));
	char name[64];
	snprintf(name, sizeof name, "step-%06" PRId64 ".safetensors", s->opt->step);
	char *path = path_join(dir, name);
	if (!path)
		return PRESTO_ENOMEM;
	presto_status rc = presto_checkpoint_save(path, s, n_meta, meta_kv);
	if (!rc)
		rc = fsync_dir(dir);
	if (!rc)
		rc = write_latest(dir, name);
	if (!rc && keep > 0)
		rc = prune(dir, name, keep);
	if (!rc && path_out) {
		*path_out = path;
		path = NULL;
	}
	free(path);
	return rc;
}

presto_status presto_checkpoint_latest(const char *dir, char **path_out)
{
	char *lp = path_join(dir, "latest");
	if (!lp)
		return PRESTO_ENOMEM;
	FILE *f = fopen(lp, "rb");
	if (!f) {
		presto_status rc = errno == ENOENT
					   ? presto_error_set(PRESTO_EEOF, "%s: no checkpoint yet (no 'latest')", dir)
					   : presto_error_set(PRESTO_EIO, "%s: %s", lp, strerror(errno));
		free(lp);
		return rc;
	}
	char buf[256];
	size_t len = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[len] = 0;
	if (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	if (step_of(buf) < 0) {
		presto_status rc = presto_error_set(PRESTO_EINVAL, "%s: malformed (expected a name step-N.safetensors)", lp);
		free(lp);
		return rc;
	}
	free(lp);
	char *p = path_join(dir, buf);
	if (!p)
		return PRESTO_ENOMEM;
	struct stat sb;
	if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		presto_status rc = presto_error_set(PRESTO_EINVAL, "%s/latest names %s, which is missing", dir, buf);
		free(p);
		return rc;
	}
	*path_out = p;
	return PRESTO_OK;
}

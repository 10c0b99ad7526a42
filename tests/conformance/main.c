/* main.c - conformance runner: `conformance DIR [fixture ...]`.
 * Runs every <name>.json/.safetensors pair in DIR through the matching
 * handler and prints one line per fixture with its worst relative error.
 * Exit 0 when every fixture that ran is within tolerance, 1 otherwise. */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel.h"
#include "fixture.h"
#include "ops.h"

typedef struct cache_entry {
	struct cache_entry *next;
	const presto_st *st;
	char *name;
	float *data;
} cache_entry;

typedef struct sibling {
	struct sibling *next;
	presto_st *st;
} sibling;

static sibling *siblings;

static const struct {
	const char *prefix;
	fx_handler fn;
} handlers[] = {
	{"dit_", conf_dit},
	{"sampler_", conf_sampler},
	{"t5_", conf_t5},
	{"oobleck", conf_oobleck},
	{"number_cond", conf_number_cond},
	{"grad_dit", conf_grad_dit},
	{"grad_oobleck", conf_grad_oobleck},
};

const float *fx_ref_in(fixture *fx, presto_st *st, const char *name, int64_t *shape, int *ndim)
{
	const presto_tensor *t = presto_st_get(st, name);
	if (!t) {
		fx_fail(fx, "reference tensor '%s' missing from %s", name, presto_st_path(st));
		return NULL;
	}
	if (shape)
		memcpy(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
	if (ndim)
		*ndim = t->ndim;
	for (cache_entry *c = fx->cache; c; c = c->next)
		if (c->st == st && !strcmp(c->name, name))
			return c->data;
	cache_entry *c = calloc(1, sizeof *c);
	if (!c || presto_tensor_to_f32(t, &c->data)) {
		fx_fail(fx, "cannot convert '%s': %s", name, presto_error());
		free(c);
		return NULL;
	}
	c->st = st;
	c->name = strdup(name);
	c->next = fx->cache;
	fx->cache = c;
	return c->data;
}

const float *fx_ref(fixture *fx, const char *name, int64_t *shape, int *ndim)
{
	return fx_ref_in(fx, fx->st, name, shape, ndim);
}

size_t fx_numel(fixture *fx, const char *name)
{
	const presto_tensor *t = presto_st_get(fx->st, name);
	return t ? presto_tensor_numel(t) : 0;
}

void fx_fail(fixture *fx, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "  %s: ", fx->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fx->failed++;
}

double fx_check_tol(fixture *fx, const char *name, const float *got, size_t n, double tol)
{
	const presto_tensor *t = presto_st_get(fx->st, name);
	if (!t) {
		fx_fail(fx, "reference tensor '%s' missing", name);
		return INFINITY;
	}
	if (presto_tensor_numel(t) != n) {
		fx_fail(fx, "%s: %zu values computed, reference has %zu", name, n, presto_tensor_numel(t));
		return INFINITY;
	}
	const float *ref = fx_ref(fx, name, NULL, NULL);
	if (!ref)
		return INFINITY;
	double maxref = 0, maxerr = 0;
	size_t where = 0;
	for (size_t i = 0; i < n; i++) {
		double r = fabs((double)ref[i]);
		if (r > maxref)
			maxref = r;
		double e = fabs((double)got[i] - (double)ref[i]);
		if (!(e <= maxerr)) { /* also catches NaN */
			maxerr = isnan(e) ? INFINITY : e;
			where = i;
		}
	}
	double rel = maxref > 0 ? maxerr / maxref : maxerr;
	fx->checked++;
	if (rel > fx->worst || fx->checked == 1) {
		fx->worst = rel;
		snprintf(fx->worst_name, sizeof fx->worst_name, "%s", name);
	}
	if (fx->verbose)
		fprintf(stderr, "    %-40s %.3e\n", name, rel);
	if (!(rel <= tol))
		fx_fail(fx, "%s: max rel error %.3e > %.1e (element %zu: got %.7g, ref %.7g)", name, rel, tol, where,
			(double)got[where], (double)ref[where]);
	return rel;
}

double fx_check(fixture *fx, const char *name, const float *got, size_t n)
{
	return fx_check_tol(fx, name, got, n, fx->tol);
}

const presto_device_req *fx_device;

static presto_accel *gpu(fixture *fx, int kind, void *m)
{
	if (!fx_device)
		return NULL;
	presto_accel *a = NULL;
	char used[320], note[600];
	presto_status st = kind == 0   ? presto_accel_attach(m, fx_device, &a, used, sizeof used, note, sizeof note)
			   : kind == 1 ? presto_accel_attach_vae(m, fx_device, &a, used, sizeof used, note, sizeof note)
				       : presto_accel_attach_t5(m, fx_device, &a, used, sizeof used, note, sizeof note);
	if (st)
		fx_fail(fx, "on the GPU: %s", presto_error());
	else if (!a)
		fx_fail(fx, "no GPU: %s", note);
	return a;
}

presto_accel *fx_gpu_dit(fixture *fx, presto_dit *m) { return gpu(fx, 0, m); }
presto_accel *fx_gpu_vae(fixture *fx, presto_vae *m) { return gpu(fx, 1, m); }
presto_accel *fx_gpu_t5(fixture *fx, presto_t5 *m) { return gpu(fx, 2, m); }

presto_st *fx_open_sibling(fixture *fx, const char *file)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", fx->dir, file);
	presto_st *st;
	if (presto_st_open(path, &st)) {
		fx_fail(fx, "%s", presto_error());
		return NULL;
	}
	sibling *s = calloc(1, sizeof *s);
	s->st = st;
	s->next = siblings;
	siblings = s;
	return st;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* 0 passed, 1 failed, 2 skipped */
static int run_one(const char *dir, const char *name, int verbose)
{
	fx_handler fn = NULL;
	size_t best = 0; /* the longest matching prefix wins */
	for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
		size_t l = strlen(handlers[i].prefix);
		if (l > best && !strncmp(name, handlers[i].prefix, l)) {
			fn = handlers[i].fn;
			best = l;
		}
	}
	if (!fn) {
		printf("%-22s skip  (no handler for this fixture kind)\n", name);
		return 2;
	}
	fixture fx = {.dir = dir, .name = name, .tol = 1e-4, .verbose = verbose};
	char path[4096];
	json_error_t jerr;
	snprintf(path, sizeof path, "%s/%s.json", dir, name);
	fx.json = json_load_file(path, 0, &jerr);
	if (!fx.json) {
		printf("%-22s FAIL  %s: %s\n", name, path, jerr.text);
		return 1;
	}
	snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
	if (presto_st_open(path, &fx.st)) {
		printf("%-22s FAIL  %s\n", name, presto_error());
		json_decref(fx.json);
		return 1;
	}
	const char *why = NULL;
	int skipped = fn(&fx, &why);
	int bad = 0;
	if (skipped) {
		printf("%-22s skip  (%s)\n", name, why ? why : "not supported");
		bad = 2;
	}
	else if (fx.failed || !fx.checked) {
		printf("%-22s FAIL  max_rel %.2e  tol %.0e  (%d tensors checked, %d failures)\n", name, fx.worst, fx.tol,
		       fx.checked, fx.failed + !fx.checked);
		bad = 1;
	} else
		printf("%-22s ok    max_rel %.2e  tol %.0e  (%d tensors, worst %s)\n", name, fx.worst, fx.tol,
		       fx.checked, fx.worst_name);
	fflush(stdout);
	for (cache_entry *c = fx.cache, *n; c; c = n) {
		n = c->next;
		free(c->name);
		free(c->data);
		free(c);
	}
	for (sibling *s = siblings, *n; s; s = n) {
		n = s->next;
		presto_st_close(s->st);
		free(s);
	}
	siblings = NULL;
	presto_st_close(fx.st);
	json_decref(fx.json);
	return bad;
}

int main(int argc, char **argv)
{
	int verbose = 0, argi = 1;
	static presto_device_req dev;
	for (; argi < argc && argv[argi][0] == '-'; argi++) {
		if (!strcmp(argv[argi], "-v")) {
			verbose = 1;
		} else if (!strcmp(argv[argi], "--device") && argi + 1 < argc) {
			if (presto_device_parse(argv[++argi], &dev) || dev.kind != PRESTO_DEVICE_CUDA) {
				fprintf(stderr, "conformance: --device takes cuda or cuda:N\n");
				return 2;
			}
			dev.precision = PRESTO_PRECISION_FP32;
			fx_device = &dev;
		} else {
			break;
		}
	}
	if (argi >= argc) {
		fprintf(stderr, "usage: conformance [-v] [--device cuda[:N]] DIR [fixture ...]\n");
		return 2;
	}
	const char *dir = argv[argi++];
	char **names = NULL;
	int n = 0;
	if (argi < argc) {
		names = argv + argi;
		n = argc - argi;
	} else {
		DIR *d = opendir(dir);
		if (!d) {
			perror(dir);
			return 2;
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			size_t l = strlen(de->d_name);
			if (l > 5 && !strcmp(de->d_name + l - 5, ".json")) {
				names = realloc(names, sizeof *names * (size_t)(n + 1));
				names[n++] = strndup(de->d_name, l - 5);
			}
		}
		closedir(d);
		qsort(names, (size_t)n, sizeof *names, cmp_str);
	}
	if (!n) {
		fprintf(stderr, "conformance: no fixtures in %s\n", dir);
		return 2;
	}
	int failed = 0, skipped = 0;
	for (int i = 0; i < n; i++) {
		int r = run_one(dir, names[i], verbose);
		failed += r == 1;
		skipped += r == 2;
	}
	printf("conformance: %d passed, %d failed, %d skipped\n", n - failed - skipped, failed, skipped);
	return failed ? 1 : 0;
}

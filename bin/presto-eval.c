/* presto-eval - measure models: reconstruction metrics of audio pairs (VAE
 * round trips), spectrogram pictures, and the Fréchet distance between two
 * sets of latents (the measures are lib/eval.c; the pictures formats/image.c).
 * Reports are built in memory and printed only when everything succeeded. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio.h"
#include "common.h"
#include "eval.h"
#include "image.h"
#include "stream.h"

enum { OPT_PAIRS = 256, OPT_SUMMARY, OPT_PNG, OPT_WIDTH, OPT_HEIGHT, OPT_DB, OPT_TENSOR };

static const presto_cli_option options[] = {
	{"pairs", OPT_PAIRS, "FILE", "recon: also the pairs of a TSV file whose header names columns ref and gen"},
	{"summary", OPT_SUMMARY, "FILE", "recon: write the count, mean and median of each metric to FILE (JSON)"},
	{"png", OPT_PNG, "DIR", "recon: draw the spectrograms of each pair into DIR/NAME.png"},
	{"output", 'o', "FILE", "spec: write the PNG to FILE (default: stdout)"},
	{"width", OPT_WIDTH, "N", "spec, --png: columns, 1 to 32768 (default: 100 per second of audio, at most 8192)"},
	{"height", OPT_HEIGHT, "N", "spec, --png: frequency rows, 2 to 2048 (default 256)"},
	{"db", OPT_DB, "RANGE", "spec, --png: dB shown below the loudest value, 1 to 300 (default 80)"},
	{"tensor", OPT_TENSOR, "NAME", "frechet: the tensor to fit (default: latent)"},
	{0},
};

static const presto_cli_spec spec = {
	"presto-eval",
	"COMMAND [OPTION]... ARG...",
	"Measure reconstructions, draw spectrograms, compare latent distributions.",
	options,
	"Commands:\n"
	"  recon [OPTION]... [REF GEN]...  per pair: MR-STFT distance, SI-SDR (dB) and\n"
	"                                  mean |ref - gen|, a TSV on stdout\n"
	"  spec [OPTION]... AUDIO          a spectrogram picture of one file (PNG)\n"
	"  frechet [OPTION]... A B         Frechet distance between Gaussians fitted to\n"
	"                                  the latent frames of streams A and B\n"
	"Exit status: 0 ok, 1 usage error, 2 runtime error (nothing written then).\n",
};

typedef struct {
	const char *pairs, *summary, *png, *out, *tensor;
	presto_spec_config sc;
	double db;
	const char *pic_opt; /* the last of --width/--height/--db given */
} opts_t;

static const char *label_of(const char *path) { return strcmp(path, "-") ? path : "stdin"; }

/* ---- audio and pictures ---- */

typedef struct {
	float *data;
	int C, rate;
	int64_t N;
} clip;

static presto_status read_clip(const char *path, clip *k)
{
	memset(k, 0, sizeof *k);
	return presto_audio_read(path, &k->data, &k->C, &k->N, &k->rate);
}

/* The mean of the C channels of x [C, stride], first T frames. */
static float *mono_mix(const float *x, int C, int64_t stride, int64_t T)
{
	float *m = presto_falloc((size_t)T);
	if (!m)
		return NULL;
	for (int64_t t = 0; t < T; t++) {
		double s = 0;
		for (int c = 0; c < C; c++)
			s += x[(size_t)c * (size_t)stride + (size_t)t];
		m[t] = (float)(s / C);
	}
	return m;
}

/* One or two spectrograms [H, W] stacked (the second below a 2-pixel black
 * line), coloured from lo (hi - db) to hi. */
typedef struct {
	const float *img[2];
	int n, W, H;
	double lo, hi;
} spec_pic;

#define SEP 2

static void spec_row(void *ctx, int64_t y, uint8_t *rgb)
{
	const spec_pic *p = ctx;
	int k = (int)(y / (p->H + SEP)), r = (int)(y % (p->H + SEP));
	if (r >= p->H) {
		memset(rgb, 0, (size_t)p->W * 3);
		return;
	}
	const float *row = p->img[k] + (size_t)r * p->W;
	for (int x = 0; x < p->W; x++)
		presto_colormap_rgb(PRESTO_COLORMAP_VIRIDIS, (row[x] - p->lo) / (p->hi - p->lo), rgb + 3 * x);
}

/* Spectrograms of the mono mixes of the first T frames of n clips into the
 * PNG file path (atomic; "-" is stdout). */
static presto_status draw(const opts_t *o, const char *path, const clip *const *x, int n, int64_t T)
{
	spec_pic p = {.n = n, .H = o->sc.height, .hi = -INFINITY};
	float *img[2] = {NULL, NULL};
	presto_status st = PRESTO_OK;
	for (int k = 0; k < n && !st; k++) {
		float *m = mono_mix(x[k]->data, x[k]->C, x[k]->N, T);
		st = m ? presto_spectrogram(&o->sc, m, T, x[k]->rate, &img[k], &p.W) : PRESTO_ENOMEM;
		free(m);
		for (size_t i = 0; !st && i < (size_t)p.W * (size_t)p.H; i++)
			p.hi = fmax(p.hi, img[k][i]);
		p.img[k] = img[k];
	}
	p.hi = fmax(p.hi, -200 + o->db); /* digital silence (the -200 dB floor) stays dark */
	p.lo = p.hi - o->db;
	presto_output out;
	if (!st)
		st = presto_output_open(&out, path, 1);
	if (!st) {
		const char *label = strcmp(path, "-") ? path : "stdout";
		st = presto_png_write_rgb(out.f, label, p.W, (int64_t)n * p.H + (n - 1) * SEP, spec_row, &p);
		if (st)
			presto_output_abort(&out);
		else
			st = presto_output_commit(&out);
	}
	free(img[0]);
	free(img[1]);
	return st;
}

/* ---- recon ---- */

typedef struct {
	char **ref, **gen;
	int n, cap;
	char **owned; /* strings of the --pairs file */
	int n_owned;
} pair_list;

static int pairs_add(pair_list *l, char *ref, char *gen)
{
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		char **r = realloc(l->ref, sizeof(char *) * (size_t)cap);
		if (r)
			l->ref = r;
		char **g = r ? realloc(l->gen, sizeof(char *) * (size_t)cap) : NULL;
		if (g)
			l->gen = g;
		if (!r || !g)
			return -1;
		l->cap = cap;
	}
	l->ref[l->n] = ref;
	l->gen[l->n++] = gen;
	return 0;
}

static void pairs_free(pair_list *l)
{
	for (int i = 0; i < l->n_owned; i++)
		free(l->owned[i]);
	free(l->owned);
	free(l->ref);
	free(l->gen);
}

/* Split line at tabs in place: up to max fields. */
static int split_tabs(char *line, char **f, int max)
{
	int n = 0;
	for (char *p = line; n < max;) {
		f[n++] = p;
		char *t = strchr(p, '\t');
		if (!t)
			break;
		*t = 0;
		p = t + 1;
	}
	return n;
}

#define MAX_FIELDS 256

/* The pairs of a TSV file: a header line naming the columns (ref and gen
 * among them), then one pair per line. Empty lines and lines starting with
 * '#' are skipped. */
static presto_status read_pairs(const char *path, pair_list *l)
{
	FILE *f;
	const char *label;
	PRESTO_TRY(presto_input_open(path, &f, &label));
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int iref = -1, igen = -1, have_header = 0;
	presto_status st = PRESTO_OK;
	char *fld[MAX_FIELDS];
	errno = 0;
	while (!st && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!len || line[0] == '#')
			continue;
		if (strlen(line) != (size_t)len) {
			st = presto_error_set(PRESTO_EINVAL, "%s:%ld: a NUL byte in the line", label, lineno);
			break;
		}
		int n = split_tabs(line, fld, MAX_FIELDS);
		if (!have_header) {
			for (int i = 0; i < n; i++) {
				if (!strcmp(fld[i], "ref") && iref < 0)
					iref = i;
				if (!strcmp(fld[i], "gen") && igen < 0)
					igen = i;
			}
			if (iref < 0 || igen < 0)
				st = presto_error_set(PRESTO_EINVAL, "%s:%ld: the header line names no '%s' column (a "
						      "tab-separated header with columns ref and gen is needed)",
						      label, lineno, iref < 0 ? "ref" : "gen");
			have_header = 1;
			continue;
		}
		int need = (iref > igen ? iref : igen) + 1;
		if (n < need || !*fld[iref] || !*fld[igen]) {
			st = presto_error_set(PRESTO_EINVAL, "%s:%ld: no %s path (%d field%s)", label, lineno,
					      n <= iref || !*fld[iref] ? "ref" : "gen", n, n == 1 ? "" : "s");
			break;
		}
		char **o = realloc(l->owned, sizeof(char *) * ((size_t)l->n_owned + 2));
		if (!o) {
			st = presto_error_set(PRESTO_ENOMEM, "out of memory");
			break;
		}
		l->owned = o;
		char *r = strdup(fld[iref]), *g = strdup(fld[igen]);
		if (r)
			l->owned[l->n_owned++] = r;
		if (g)
			l->owned[l->n_owned++] = g;
		if (!r || !g || pairs_add(l, r, g))
			st = presto_error_set(PRESTO_ENOMEM, "out of memory");
	}
	if (!st && ferror(f))
		st = presto_error_set(PRESTO_EIO, "cannot read '%s': %s", label, strerror(errno ? errno : EIO));
	if (!st && !have_header)
		st = presto_error_set(PRESTO_EINVAL, "%s: no header line (a tab-separated header with columns ref "
					     "and gen is needed)", label);
	free(line);
	presto_input_close(f);
	return st;
}

/* DIR/<basename of ref without extension>.png (a new string). */
static char *png_path(const char *dir, const char *ref)
{
	const char *base = strcmp(ref, "-") ? ref : "stdin", *slash = strrchr(base, '/');
	if (slash)
		base = slash + 1;
	const char *dot = strrchr(base, '.');
	int n = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
	size_t len = strlen(dir) + (size_t)n + 8;
	char *p = presto_malloc(len);
	if (p)
		snprintf(p, len, "%s%s%.*s.png", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", n, base);
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* mean and median of v[0..n-1] (n >= 1); v is sorted. */
static json_t *stat_json(double *v, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += v[i];
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
	json_t *o = json_object();
	json_object_set_new(o, "mean", json_real(s / n));
	json_object_set_new(o, "median", json_real(med));
	return o;
}

static presto_status write_summary(const char *path, presto_recon_metrics *m, int n)
{
	double *v = presto_malloc(sizeof(double) * (size_t)n);
	if (!v)
		return PRESTO_ENOMEM;
	json_t *root = json_object();
	json_object_set_new(root, "count", json_integer(n));
	int stereo = 1;
	for (int i = 0; i < n; i++)
		stereo &= !isnan(m[i].mrstft_ms);
	for (int k = 0; k < 4; k++) {
		static const char *const names[4] = {"mrstft", "sisdr", "l1", "mrstft_ms"};
		if (k == 3 && !stereo)
			break;
		for (int i = 0; i < n; i++)
			v[i] = k == 0 ? m[i].mrstft : k == 1 ? m[i].sisdr : k == 2 ? m[i].l1 : m[i].mrstft_ms;
		json_object_set_new(root, names[k], stat_json(v, n));
	}
	free(v);
	presto_output out;
	presto_status st = presto_output_open(&out, path, 0);
	if (!st) {
		if (json_dumpf(root, out.f, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) || fputc('\n', out.f) == EOF) {
			presto_output_abort(&out);
			st = presto_error_set(PRESTO_EIO, "cannot write '%s'", path);
		} else {
			st = presto_output_commit(&out);
		}
	}
	json_decref(root);
	return st;
}

/* The first T frames of x [C, N] as a contiguous [C, T] array: x itself
 * when T == N, else a copy in *buf. */
static const float *first_frames(const clip *k, int64_t T, float **buf)
{
	if (T == k->N || k->C == 1)
		return k->data;
	*buf = presto_falloc((size_t)k->C * (size_t)T);
	if (*buf)
		for (int c = 0; c < k->C; c++)
			memcpy(*buf + (size_t)c * T, k->data + (size_t)c * k->N, sizeof(float) * (size_t)T);
	return *buf;
}

static presto_status recon_pair(const opts_t *o, presto_mrstft *L, const char *ref, const char *gen,
				const char *png, int *warned, presto_recon_metrics *m)
{
	clip a, b;
	float *ca = NULL, *cb = NULL;
	presto_status st = read_clip(ref, &a);
	if (!st)
		st = read_clip(gen, &b);
	else
		memset(&b, 0, sizeof b);
	if (!st && a.rate != b.rate)
		st = presto_error_set(PRESTO_EINVAL, "%s: sample rate %d Hz, but %s has %d Hz (presto-eval does not "
				      "resample)", label_of(gen), b.rate, label_of(ref), a.rate);
	if (!st && a.C != b.C)
		st = presto_error_set(PRESTO_EINVAL, "%s: %d channel%s, but %s has %d", label_of(gen), b.C,
				      b.C == 1 ? "" : "s", label_of(ref), a.C);
	int64_t T = a.N < b.N ? a.N : b.N;
	if (!st && T > INT32_MAX)
		st = presto_error_set(PRESTO_EINVAL, "%s: too long (%lld frames)", label_of(ref), (long long)T);
	if (!st && !*warned && llabs(a.N - b.N) * 100 > (a.N > b.N ? a.N : b.N)) {
		presto_cli_warn("%s has %lld frames and %s %lld: comparing the first %lld (further pairs of different "
				"lengths are not reported)", label_of(ref), (long long)a.N, label_of(gen),
				(long long)b.N, (long long)T);
		*warned = 1;
	}
	const float *xa = NULL, *xb = NULL;
	if (!st) {
		xa = first_frames(&a, T, &ca);
		xb = first_frames(&b, T, &cb);
		if (!xa || !xb)
			st = PRESTO_ENOMEM;
	}
	if (!st) {
		st = presto_recon_compare(L, xa, xb, a.C, (int)T, m);
		if (st)
			presto_error_wrap(st, "%s vs %s: ", label_of(ref), label_of(gen));
	}
	if (!st && png) {
		const clip *x[2] = {&a, &b};
		st = draw(o, png, x, 2, T);
	}
	free(ca);
	free(cb);
	free(a.data);
	free(b.data);
	return st;
}

static int recon(const opts_t *o, char **args, int n_args)
{
	if (n_args % 2)
		return presto_cli_usage("recon takes pairs REF GEN: %d file%s given", n_args, n_args == 1 ? "" : "s");
	if (o->out || o->tensor)
		return presto_cli_usage("%s is not an option of recon", o->out ? "--output" : "--tensor");
	if (o->pic_opt && !o->png)
		return presto_cli_usage("%s needs --png", o->pic_opt);
	int stdin_uses = o->pairs && !strcmp(o->pairs, "-");
	for (int i = 0; i < n_args; i++)
		stdin_uses += !strcmp(args[i], "-");
	if (stdin_uses > 1)
		return presto_cli_usage("standard input ('-') can be read only once");
	if (!n_args && !o->pairs)
		return presto_cli_usage("recon: no pairs (give REF GEN files or --pairs FILE)");

	pair_list l = {0};
	presto_status st = PRESTO_OK;
	for (int i = 0; i + 1 < n_args && !st; i += 2)
		if (pairs_add(&l, args[i], args[i + 1]))
			st = presto_error_set(PRESTO_ENOMEM, "out of memory");
	if (!st && o->pairs)
		st = read_pairs(o->pairs, &l);
	if (!st && !l.n)
		st = presto_error_set(PRESTO_EINVAL, "%s holds no pairs", label_of(o->pairs));
	for (int i = 0; !st && i < l.n; i++)
		if (!strcmp(l.ref[i], "-") || !strcmp(l.gen[i], "-"))
			for (int j = 0; !st && j < i; j++)
				if (!strcmp(l.ref[j], "-") || !strcmp(l.gen[j], "-"))
					st = presto_error_set(PRESTO_EINVAL, "standard input ('-') can be read only once");

	char **pngs = NULL;
	int n_written = 0;
	if (!st && o->png) {
		struct stat sb;
		if (stat(o->png, &sb))
			st = presto_error_set(PRESTO_EIO, "--png: cannot use '%s': %s", o->png, strerror(errno));
		else if (!S_ISDIR(sb.st_mode))
			st = presto_error_set(PRESTO_EIO, "--png: '%s' is not a directory", o->png);
		else if (access(o->png, W_OK | X_OK))
			st = presto_error_set(PRESTO_EIO, "--png: cannot write into '%s': %s", o->png, strerror(errno));
		if (!st && !(pngs = presto_calloc((size_t)l.n, sizeof *pngs)))
			st = PRESTO_ENOMEM;
		for (int i = 0; !st && i < l.n; i++) {
			if (!(pngs[i] = png_path(o->png, l.ref[i])))
				st = PRESTO_ENOMEM;
			for (int j = 0; !st && j < i; j++)
				if (!strcmp(pngs[i], pngs[j]))
					st = presto_error_set(PRESTO_EINVAL, "--png: %s and %s would both be drawn into "
							      "%s (their names without the extension are equal)",
							      label_of(l.ref[j]), label_of(l.ref[i]), pngs[i]);
		}
	}

	presto_mrstft *L = NULL;
	presto_recon_metrics *m = NULL;
	if (!st) {
		presto_mrstft_config cfg;
		presto_mrstft_defaults(&cfg);
		st = presto_mrstft_new(&cfg, &L);
	}
	if (!st && !(m = presto_calloc((size_t)l.n, sizeof *m)))
		st = PRESTO_ENOMEM;
	int warned = 0, progress = presto_cli_progress_enabled();
	for (int i = 0; !st && i < l.n; i++) {
		st = recon_pair(o, L, l.ref[i], l.gen[i], pngs ? pngs[i] : NULL, &warned, &m[i]);
		if (!st && pngs)
			n_written = i + 1;
		if (progress)
			presto_cli_progress("pairs", i + 1, l.n);
	}

	char *report = NULL;
	size_t report_len = 0;
	if (!st) {
		FILE *r = open_memstream(&report, &report_len);
		if (!r) {
			st = presto_error_set(PRESTO_ENOMEM, "out of memory");
		} else {
			fprintf(r, "ref\tgen\tmrstft\tsisdr\tl1\tmrstft_ms\n");
			for (int i = 0; i < l.n; i++)
				fprintf(r, "%s\t%s\t%.6g\t%.6g\t%.6g\t%.6g\n", l.ref[i], l.gen[i], m[i].mrstft, m[i].sisdr,
					m[i].l1, m[i].mrstft_ms);
			if (fclose(r))
				st = presto_error_set(PRESTO_ENOMEM, "out of memory");
		}
	}
	if (!st && o->summary)
		st = write_summary(o->summary, m, l.n);
	if (st)
		for (int i = 0; i < n_written; i++)
			unlink(pngs[i]);
	if (!st && (fwrite(report, 1, report_len, stdout) != report_len || fflush(stdout)))
		st = presto_error_set(PRESTO_EIO, "write error on stdout: %s", strerror(errno));
	int rc = presto_cli_status(st);
	free(report);
	free(m);
	presto_mrstft_free(L);
	if (pngs)
		for (int i = 0; i < l.n; i++)
			free(pngs[i]);
	free(pngs);
	pairs_free(&l);
	return rc;
}

/* ---- spec ---- */

static int spec_cmd(const opts_t *o, char **args, int n_args)
{
	if (n_args != 1)
		return presto_cli_usage("spec takes one AUDIO file (%d given)", n_args);
	if (o->pairs || o->summary || o->png || o->tensor)
		return presto_cli_usage("%s is not an option of spec",
					o->pairs ? "--pairs" : o->summary ? "--summary" : o->png ? "--png" : "--tensor");
	const char *out = o->out ? o->out : "-";
	if (!strcmp(out, "-") && isatty(STDOUT_FILENO))
		return presto_cli_error("refusing to write binary data to a terminal (redirect stdout or use -o FILE)");
	clip k;
	presto_status st = read_clip(args[0], &k);
	if (!st) {
		const clip *x[1] = {&k};
		st = draw(o, out, x, 1, k.N);
	}
	free(k.data);
	return presto_cli_status(st);
}

/* ---- frechet ---- */

typedef struct {
	presto_gauss_fit fit;
	int64_t records, frames;
	int C; /* 0 until the first record */
} latent_set;

/* Fit every frame of tensor `name` of every record of the stream at path. */
static presto_status fit_stream(const char *path, const char *name, latent_set *s)
{
	FILE *f;
	const char *label;
	presto_stream_reader *r = NULL;
	PRESTO_TRY(presto_input_open(path, &f, &label));
	presto_status st = presto_stream_reader_open_file(f, label, PRESTO_KIND_ANY, &r);
	presto_record rec;
	while (!st && !(st = presto_stream_next(r, &rec))) {
		const presto_tensor *t = presto_record_tensor(&rec, name);
		float *z = NULL;
		if (!t) {
			st = presto_error_set(PRESTO_EINVAL, "%s: record %llu has no tensor '%s'%s", label,
					      (unsigned long long)rec.id, name,
					      strcmp(name, "latent") ? "" : " (not a latent stream? pick one with --tensor)");
		} else if (t->ndim < 1) {
			st = presto_error_set(PRESTO_EINVAL, "%s: record %llu: tensor '%s' is a scalar", label,
					      (unsigned long long)rec.id, name);
		} else {
			int64_t shape[PRESTO_MAX_DIMS];
			for (int i = 0; i < t->ndim; i++)
				shape[i] = -1;
			st = presto_record_f32(&rec, name, t->ndim, shape, &z);
			if (st)
				presto_error_wrap(st, "%s: ", label);
			int64_t C = t->ndim == 1 ? shape[0] : shape[t->ndim - 2], T = t->ndim == 1 ? 1 : shape[t->ndim - 1];
			int64_t batch = 1;
			for (int i = 0; i + 2 < t->ndim; i++)
				batch *= shape[i];
			if (!st && (C < 1 || C > 16384))
				st = presto_error_set(PRESTO_EINVAL, "%s: record %llu: tensor '%s' has %lld channels (1 to "
						      "16384)", label, (unsigned long long)rec.id, name, (long long)C);
			if (!st && s->C && C != s->C)
				st = presto_error_set(PRESTO_EINVAL, "%s: record %llu: tensor '%s' has %lld channels, "
						      "earlier records %d", label, (unsigned long long)rec.id, name,
						      (long long)C, s->C);
			if (!st && !s->C) {
				st = presto_gauss_fit_init(&s->fit, (int)C);
				s->C = (int)C;
			}
			for (int64_t b = 0; !st && b < batch; b++)
				st = presto_gauss_fit_add(&s->fit, z + (size_t)b * (size_t)(C * T), T);
			if (!st) {
				s->frames += batch * T;
				s->records++;
			}
		}
		free(z);
		presto_record_free(&rec);
	}
	if (st == PRESTO_EEOF)
		st = PRESTO_OK;
	presto_stream_reader_close(r);
	presto_input_close(f);
	return st;
}

static int frechet_cmd(const opts_t *o, char **args, int n_args)
{
	if (n_args != 2)
		return presto_cli_usage("frechet takes two latent streams A B (%d given)", n_args);
	if (o->pairs || o->summary || o->png || o->out || o->pic_opt)
		return presto_cli_usage("%s is not an option of frechet",
					o->pairs ? "--pairs" : o->summary ? "--summary" : o->png ? "--png"
					: o->out ? "--output" : o->pic_opt);
	if (!strcmp(args[0], "-") && !strcmp(args[1], "-"))
		return presto_cli_usage("standard input ('-') can be read only once");
	const char *name = o->tensor ? o->tensor : "latent";
	latent_set s[2];
	memset(s, 0, sizeof s);
	double *mean[2] = {NULL, NULL}, *cov[2] = {NULL, NULL};
	presto_status st = PRESTO_OK;
	for (int k = 0; k < 2 && !st; k++) {
		st = fit_stream(args[k], name, &s[k]);
		if (!st && s[k].frames < 2)
			st = presto_error_set(PRESTO_EINVAL, "%s: %lld frame%s of '%s' (a covariance needs at least 2)",
					      label_of(args[k]), (long long)s[k].frames, s[k].frames == 1 ? "" : "s",
					      name);
	}
	if (!st && s[0].C != s[1].C)
		st = presto_error_set(PRESTO_EINVAL, "channel counts differ: '%s' has %d in %s, %d in %s", name, s[0].C,
				      label_of(args[0]), s[1].C, label_of(args[1]));
	int C = s[0].C;
	for (int k = 0; k < 2 && !st; k++) {
		mean[k] = presto_malloc(sizeof(double) * (size_t)C);
		cov[k] = presto_malloc(sizeof(double) * (size_t)C * (size_t)C);
		st = mean[k] && cov[k] ? presto_gauss_fit_get(&s[k].fit, mean[k], cov[k]) : PRESTO_ENOMEM;
	}
	double d = 0, dm = 0, dc = 0, ds = 0;
	if (!st)
		st = presto_frechet(mean[0], cov[0], mean[1], cov[1], C, &d, &dm, &dc);
	if (!st)
		st = presto_frechet_standardized(mean[0], cov[0], mean[1], cov[1], C, &ds);
	if (!st)
		for (int k = 0; k < 2; k++)
			if (s[k].frames <= C)
				presto_cli_warn("%s: %lld frames for %d channels: the covariance is singular and the "
						"distance unreliable", label_of(args[k]), (long long)s[k].frames, C);
	if (!st) {
		printf("frechet\t%.9g\nfrechet_mean\t%.9g\nfrechet_cov\t%.9g\nfrechet_standardized\t%.9g\n"
		       "channels\t%d\nframes_a\t%lld\nframes_b\t%lld\nrecords_a\t%lld\nrecords_b\t%lld\n",
		       d, dm, dc, ds, C, (long long)s[0].frames, (long long)s[1].frames, (long long)s[0].records,
		       (long long)s[1].records);
		if (fflush(stdout) || ferror(stdout))
			st = presto_error_set(PRESTO_EIO, "write error on stdout: %s", strerror(errno));
	}
	for (int k = 0; k < 2; k++) {
		presto_gauss_fit_free(&s[k].fit);
		free(mean[k]);
		free(cov[k]);
	}
	return presto_cli_status(st);
}

int main(int argc, char **argv)
{
	presto_cli cli;
	const char *arg;
	int c;
	long long v;
	opts_t o = {.db = 80};
	presto_spec_defaults(&o.sc);
	presto_cli_init(&cli, &spec, argc, argv);
	while ((c = presto_cli_next(&cli, &arg)) != PRESTO_CLI_END) {
		switch (c) {
		case PRESTO_CLI_EXIT: return cli.exit_code;
		case OPT_PAIRS: o.pairs = arg; break;
		case OPT_SUMMARY: o.summary = arg; break;
		case OPT_PNG: o.png = arg; break;
		case 'o': o.out = arg; break;
		case OPT_TENSOR: o.tensor = arg; break;
		case OPT_WIDTH:
			if (!presto_cli_int("--width", arg, 1, 32768, &v))
				return PRESTO_EXIT_USAGE;
			o.sc.width = (int)v;
			o.pic_opt = "--width";
			break;
		case OPT_HEIGHT:
			if (!presto_cli_int("--height", arg, 2, 2048, &v))
				return PRESTO_EXIT_USAGE;
			o.sc.height = (int)v;
			o.pic_opt = "--height";
			break;
		case OPT_DB:
			if (!presto_cli_double("--db", arg, 1, 300, &o.db))
				return PRESTO_EXIT_USAGE;
			o.pic_opt = "--db";
			break;
		}
	}
	if (cli.optind >= argc)
		return presto_cli_usage("no COMMAND (recon, spec or frechet)");
	const char *cmd = argv[cli.optind];
	char **args = argv + cli.optind + 1;
	int n = argc - cli.optind - 1;
	if (!strcmp(cmd, "recon"))
		return recon(&o, args, n);
	if (!strcmp(cmd, "spec"))
		return spec_cmd(&o, args, n);
	if (!strcmp(cmd, "frechet"))
		return frechet_cmd(&o, args, n);
	return presto_cli_usage("unknown COMMAND '%s' (recon, spec or frechet)", cmd);
}

/* presto-mix - combine clips: sum audio files with gains, concatenate them
 * with equal-power crossfades, or interpolate between two latents (the
 * signal processing is lib/mix.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio.h"
#include "common.h"
#include "mix.h"
#include "stream.h"

enum {
	OPT_SUM = 256, OPT_CONCAT, OPT_CROSSFADE, OPT_NORMALIZE, OPT_PEAK, OPT_SUBTYPE, OPT_INTERP, OPT_SLERP,
	OPT_RECORDS,
};

static const presto_cli_option options[] = {
	{"output", 'o', "FILE", "output file; the extension picks the format (default: WAV on stdout)"},
	{"sum", OPT_SUM, NULL, "add the inputs together, as long as the longest (default)"},
	{"concat", OPT_CONCAT, NULL, "play the inputs one after the other"},
	{"crossfade", OPT_CROSSFADE, "SECONDS", "with --concat: equal-power crossfade between clips (default 0)"},
	{"gain", 'g', "DB", "gain of the next input in order, or of every input if given once (default 0)"},
	{"normalize", OPT_NORMALIZE, NULL, "scale the result so that its peak is at --peak (default -1 dBFS)"},
	{"peak", OPT_PEAK, "DB", "peak level for --normalize, in dBFS (implies --normalize)"},
	{"subtype", OPT_SUBTYPE, "TYPE", "sample format: 16 (default), 24 or float"},
	{"interp", OPT_INTERP, "T[,T]...", "latent mode: interpolate two latents at each T in [0, 1]"},
	{"slerp", OPT_SLERP, NULL, "with --interp: spherical instead of linear interpolation"},
	{"records", OPT_RECORDS, "A,B", "with --interp: the records to interpolate, by position (from 0)"},
	{0},
};

static const presto_cli_spec spec = {
	"presto-mix",
	"[OPTION]... FILE...",
	"Mix or concatenate audio files, or interpolate latent streams.",
	options,
	"Audio inputs must share one sample rate; a mono input mixed with stereo ones\n"
	"is copied to both channels. FILE '-' is standard input (at most once).\n"
	"With --interp the inputs are latent streams (presto-sample output): either\n"
	"two streams, or one stream of two records; one record is written per T.\n",
};

#define MAX_INTERP 4096

typedef struct {
	const char *out;
	int concat, normalize, subtype;
	double crossfade, peak_db;
	double *gains;
	int n_gains;
	/* latent mode */
	double *ts;
	int n_ts, slerp;
	long long rec[2];
} mix_opts;

/* ---- audio ---- */

typedef struct {
	float *data;
	int C, rate;
	int64_t N;
} clip;

/* A presto stream starts with a MessagePack map: fixmap, map 16 or map 32. */
static int looks_like_stream(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : NULL;
	int c = f ? getc(f) : EOF;
	if (f)
		fclose(f);
	return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf;
}

static presto_status read_clips(char **paths, int n, clip *clips, int *C, int *rate)
{
	for (int i = 0; i < n; i++) {
		clip *k = &clips[i];
		presto_status st = presto_audio_read(paths[i], &k->data, &k->C, &k->N, &k->rate);
		if (st == PRESTO_EINVAL && looks_like_stream(paths[i])) {
			char msg[1024];
			snprintf(msg, sizeof msg, "%s", presto_error());
			return presto_error_set(st, "%s (a presto stream? decode it with presto-decode first, or "
						"interpolate latents with --interp)", msg);
		}
		if (st)
			return st;
		const char *name = strcmp(paths[i], "-") ? paths[i] : "stdin";
		const char *first = strcmp(paths[0], "-") ? paths[0] : "stdin";
		if (k->rate != clips[0].rate)
			return presto_error_set(PRESTO_EINVAL, "%s: sample rate %d Hz differs from the %d Hz of %s "
						"(presto-mix does not resample)", name, k->rate, clips[0].rate, first);
	}
	int maxc = 1;
	for (int i = 0; i < n; i++)
		if (clips[i].C > maxc)
			maxc = clips[i].C;
	for (int i = 0; i < n; i++)
		if (clips[i].C != maxc && clips[i].C != 1) {
			const char *name = strcmp(paths[i], "-") ? paths[i] : "stdin";
			return presto_error_set(PRESTO_EINVAL, "%s: %d channels cannot be mixed with %d (only a mono "
						"input is spread over more channels)", name, clips[i].C, maxc);
		}
	*C = maxc;
	*rate = clips[0].rate;
	return PRESTO_OK;
}

static double gain_of(const mix_opts *o, int i)
{
	if (o->n_gains == 0)
		return 1.0;
	return presto_mix_db_gain(o->gains[o->n_gains == 1 ? 0 : i]);
}

/* Sum or concatenate the clips into a new [C, *N] array. */
static presto_status combine(const mix_opts *o, char **paths, int n, const clip *clips, int C, int rate, float **out,
			     int64_t *N)
{
	int64_t total = 0, xf = 0;
	if (!o->concat) {
		for (int i = 0; i < n; i++)
			if (clips[i].N > total)
				total = clips[i].N;
	} else {
		xf = (int64_t)llround(o->crossfade * rate);
		for (int i = 0; i < n; i++) {
			if (xf > clips[i].N)
				return presto_error_set(PRESTO_EINVAL,
							"--crossfade: %g s (%lld frames) is longer than %s (%lld "
							"frames)", o->crossfade, (long long)xf,
							strcmp(paths[i], "-") ? paths[i] : "stdin",
							(long long)clips[i].N);
			if (clips[i].N > INT64_MAX / 2 - total)
				return presto_error_set(PRESTO_ENOMEM, "the result is too long");
			total += clips[i].N - (i ? xf : 0);
		}
	}
	size_t nel;
	if (!presto_mul_size((size_t)C, (size_t)total, &nel))
		return presto_error_set(PRESTO_ENOMEM, "the result is too long");
	float *d = presto_fzalloc(nel);
	if (!d)
		return PRESTO_ENOMEM;
	int64_t len = 0;
	for (int i = 0; i < n; i++) {
		const clip *k = &clips[i];
		presto_status st = o->concat
			? presto_mix_append(d, C, total, &len, k->data, k->C, k->N, gain_of(o, i), i ? xf : 0)
			: presto_mix_add(d, C, total, k->data, k->C, k->N, gain_of(o, i));
		if (st) {
			free(d);
			return st;
		}
	}
	*out = d;
	*N = total;
	return PRESTO_OK;
}

static int audio_mode(const mix_opts *o, char **paths, int n)
{
	const char *out = o->out ? o->out : "-";
	presto_status st;
	if (!strcmp(out, "-")) {
		if (isatty(STDOUT_FILENO))
			return presto_cli_error("refusing to write binary data to a terminal "
						"(redirect stdout or use -o FILE)");
		st = PRESTO_OK;
	} else {
		st = presto_audio_check_output(out, o->subtype);
	}
	if (st)
		return presto_cli_status(st);
	clip *clips = presto_calloc((size_t)n, sizeof *clips);
	if (!clips)
		return presto_cli_status(PRESTO_ENOMEM);
	int C = 0, rate = 0;
	float *mix = NULL;
	int64_t N = 0;
	st = read_clips(paths, n, clips, &C, &rate);
	if (!st)
		st = combine(o, paths, n, clips, C, rate, &mix, &N);
	for (int i = 0; i < n; i++)
		free(clips[i].data);
	free(clips);
	if (!st) {
		size_t nel = (size_t)C * (size_t)N;
		double peak = presto_mix_peak(mix, nel);
		if (o->normalize && peak > 0)
			presto_mix_scale(mix, nel, presto_mix_db_gain(o->peak_db) / peak);
		else if (o->normalize)
			presto_cli_warn("the result is silent: nothing to normalise");
		else if (peak > 1.0 && o->subtype == PRESTO_AUDIO_FLOAT)
			presto_cli_warn("the result peaks at %+.2f dBFS, above full scale (kept in float samples, but "
					"it clips on playback): lower the gains or use --normalize", 20 * log10(peak));
		else if (peak > 1.0)
			presto_cli_warn("the result peaks at %+.2f dBFS and clips: lower the gains or use --normalize",
					20 * log10(peak));
		st = presto_audio_write(out, mix, C, N, rate, o->subtype);
	}
	free(mix);
	return presto_cli_status(st);
}

/* ---- latents ---- */

typedef struct {
	FILE *f;
	const char *label;
	presto_stream_reader *r;
	presto_record recs[2]; /* the records kept, in the order of want[] */
} lat_input;

/* Read the whole stream of in (so a truncated one fails), keeping the
 * records at positions want[0..nw-1]. want[k] < 0: the default choice, which
 * needs exactly nw records in the stream. */
static presto_status read_latents(lat_input *in, const char *path, const long long *want, int nw)
{
	PRESTO_TRY(presto_input_open(path, &in->f, &in->label));
	PRESTO_TRY(presto_stream_reader_open_file(in->f, in->label, PRESTO_KIND_LATENT, &in->r));
	int deflt = want[0] < 0;
	long long pos = 0;
	presto_record rec;
	presto_status st;
	while (!(st = presto_stream_next(in->r, &rec))) {
		int kept = 0;
		if (deflt && pos >= nw) {
			presto_record_free(&rec);
			return presto_error_set(PRESTO_EINVAL,
						"%s holds more than %d record%s: choose with --records A,B",
						in->label, nw, nw > 1 ? "s" : "");
		}
		for (int k = 0; k < nw && !kept; k++)
			if (deflt ? pos == k : pos == want[k]) {
				in->recs[k] = rec;
				kept = 1;
			}
		if (!kept)
			presto_record_free(&rec);
		pos++;
	}
	if (st != PRESTO_EEOF)
		return st;
	if (deflt && pos < nw)
		return presto_error_set(PRESTO_EINVAL, "%s holds %lld record%s; interpolation needs two (%s)",
					in->label, pos, pos == 1 ? "" : "s",
					nw == 2 ? "give a second input or a stream of two records" : "one per input");
	for (int k = 0; k < nw; k++)
		if (!deflt && want[k] >= pos)
			return presto_error_set(PRESTO_EINVAL, "%s: no record at position %lld (the stream holds %lld)",
						in->label, want[k], pos);
	return PRESTO_OK;
}

static void close_latents(lat_input *in)
{
	for (int k = 0; k < 2; k++)
		presto_record_free(&in->recs[k]);
	presto_stream_reader_close(in->r);
	if (in->f)
		presto_input_close(in->f);
}

/* The "latent" tensor of rec as fp32, its shape in t. */
static presto_status get_latent(const presto_record *rec, const char *label, presto_tensor *t, float **z)
{
	const presto_tensor *src = presto_record_tensor(rec, "latent");
	if (!src)
		return presto_error_set(PRESTO_EINVAL, "%s: record %llu has no tensor 'latent'", label,
					(unsigned long long)rec->id);
	*t = *src;
	presto_status st = presto_record_f32(rec, "latent", src->ndim, t->shape, z);
	if (st)
		presto_error_wrap(st, "%s: ", label);
	return st;
}

static int param_eq(const presto_param *a, const presto_param *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case PRESTO_PARAM_NIL: return 1;
	case PRESTO_PARAM_BOOL:
	case PRESTO_PARAM_INT: return a->i == b->i;
	case PRESTO_PARAM_FLOAT: return !memcmp(&a->f, &b->f, sizeof a->f);
	case PRESTO_PARAM_STRING: return !strcmp(a->s, b->s);
	case PRESTO_PARAM_ARRAY: return a->n == b->n && (!a->n || !memcmp(a->a, b->a, a->n * sizeof *a->a));
	}
	return 0;
}

/* Names this tool writes itself: never copied from the sources. */
static int own_param(const char *name)
{
	static const char *const own[] = {"interp", "interp_method", "from_a", "from_b", "source_a", "source_b",
					  "prompt_a", "prompt_b", "seed_a", "seed_b", "seconds_total"};
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
		if (!strcmp(name, own[i]))
			return 1;
	return 0;
}

#define MAX_OUT_PARAMS PRESTO_STREAM_MAX_PARAMS

/* Params of an output record: what both sources share with the same value,
 * then seconds_total (the longer of the two), where each came from, and the
 * interpolation (t is filled in per record at index *t_index). */
static int build_params(presto_param *p, const presto_record *a, const presto_record *b, const char *la,
			const char *lb, int slerp, int *t_index)
{
	int np = 0;
	for (int i = 0; i < a->n_params && np < MAX_OUT_PARAMS - 16; i++) {
		const presto_param *pb = presto_record_param(b, a->params[i].name);
		if (pb && !own_param(a->params[i].name) && param_eq(&a->params[i], pb))
			p[np++] = a->params[i];
	}
	double sa = -1, sb = -1;
	if (presto_record_param(a, "seconds_total") && presto_record_double(a, "seconds_total", &sa))
		sa = -1;
	if (presto_record_param(b, "seconds_total") && presto_record_double(b, "seconds_total", &sb))
		sb = -1;
	if (sa >= 0 || sb >= 0)
		p[np++] = presto_param_float("seconds_total", fmax(sa, sb));
	p[np++] = presto_param_int("from_a", (int64_t)a->id);
	p[np++] = presto_param_int("from_b", (int64_t)b->id);
	p[np++] = presto_param_str("source_a", la);
	p[np++] = presto_param_str("source_b", lb);
	const char *names[2][2] = {{"prompt", "seed"}, {"prompt_a", "seed_a"}};
	for (int k = 0; k < 2; k++) {
		const presto_param *q = presto_record_param(a, names[0][k]);
		if (q) {
			p[np] = *q;
			p[np++].name = names[1][k];
		}
	}
	const char *bnames[2] = {"prompt_b", "seed_b"};
	for (int k = 0; k < 2; k++) {
		const presto_param *q = presto_record_param(b, names[0][k]);
		if (q) {
			p[np] = *q;
			p[np++].name = bnames[k];
		}
	}
	p[np++] = presto_param_str("interp_method", slerp ? "slerp" : "linear");
	*t_index = np;
	p[np++] = presto_param_float("interp", 0);
	return np;
}

static int latent_mode(const mix_opts *o, char **paths, int n)
{
	lat_input in[2] = {{0}};
	presto_output out = {0};
	presto_stream_writer *w = NULL;
	float *za = NULL, *zb = NULL, *zo = NULL;
	const presto_record *ra = NULL, *rb = NULL;
	presto_status st = presto_output_open(&out, o->out, 1);
	if (!st && n == 1) {
		long long want[2] = {o->rec[0], o->rec[1]};
		int same = want[0] >= 0 && want[0] == want[1];
		st = read_latents(&in[0], paths[0], want, same ? 1 : 2);
		ra = &in[0].recs[0];
		rb = same ? ra : &in[0].recs[1];
	} else if (!st) {
		st = read_latents(&in[0], paths[0], &o->rec[0], 1);
		if (!st)
			st = read_latents(&in[1], paths[1], &o->rec[1], 1);
		ra = &in[0].recs[0];
		rb = &in[1].recs[0];
	}
	const char *la = in[0].label, *lb = n == 1 ? in[0].label : in[1].label;
	presto_tensor ta, tb;
	if (!st)
		st = get_latent(ra, la, &ta, &za);
	if (!st)
		st = get_latent(rb, lb, &tb, &zb);
	if (!st && (ta.ndim != tb.ndim || memcmp(ta.shape, tb.shape, sizeof(int64_t) * (size_t)ta.ndim))) {
		char sa[128], sb[128];
		st = presto_error_set(PRESTO_EINVAL, "latent shapes differ: %s in record %llu of %s, %s in record %llu "
				      "of %s (interpolate clips of the same length and model)",
				      presto_shape_str(ta.shape, ta.ndim, sa, sizeof sa), (unsigned long long)ra->id,
				      la, presto_shape_str(tb.shape, tb.ndim, sb, sizeof sb),
				      (unsigned long long)rb->id, lb);
	}
	size_t nel = st ? 0 : presto_tensor_numel(&ta);
	if (!st && !(zo = presto_falloc(nel ? nel : 1)))
		st = PRESTO_ENOMEM;
	const presto_stream_header *ha = st ? NULL : presto_stream_reader_header(in[0].r);
	const presto_stream_header *hb = st ? NULL : presto_stream_reader_header(in[n == 1 ? 0 : 1].r);
	if (!st && ha->model && hb->model && strcmp(ha->model, hb->model))
		presto_cli_warn("the inputs come from different models ('%s' and '%s')", ha->model, hb->model);
	if (!st)
		st = presto_stream_writer_open_file(out.f, out.label, &w);
	if (!st) {
		presto_stream_header h = {.kind = PRESTO_KIND_LATENT, .producer = "presto-mix " PRESTO_VERSION,
					  .model = ha->model ? ha->model : hb->model};
		st = presto_stream_write_header(w, &h);
	}
	presto_param p[MAX_OUT_PARAMS];
	int t_index = 0, np = st ? 0 : build_params(p, ra, rb, la, lb, o->slerp, &t_index);
	for (int i = 0; !st && i < o->n_ts; i++) {
		if (o->slerp)
			st = presto_mix_slerp(zo, za, zb, nel, o->ts[i]);
		else
			presto_mix_lerp(zo, za, zb, nel, o->ts[i]);
		if (st)
			break;
		p[t_index] = presto_param_float("interp", o->ts[i]);
		const char *name = "latent";
		presto_tensor t = presto_tensor_wrap(PRESTO_F32, ta.ndim, ta.shape, zo);
		presto_record rec = {.id = (uint64_t)i, .n_params = np, .params = p, .n_tensors = 1,
				     .tensor_names = (char **)&name, .tensors = &t};
		st = presto_stream_write_record(w, &rec);
	}
	int rc = presto_cli_finish_stream(st, w, &out);
	free(za);
	free(zb);
	free(zo);
	close_latents(&in[0]);
	close_latents(&in[1]);
	return rc;
}

/* ---- options ---- */

/* "0,0.25,1" -> values in [0, 1]; 0 on success, else a usage message. */
static int parse_interp(const char *s, double *v, int *n)
{
	*n = 0;
	const char *p = s;
	for (;;) {
		char *end;
		double x = strtod(p, &end);
		if (end == p || (*end && *end != ',') || isnan(x))
			return presto_cli_usage("--interp: '%s' is not a list of numbers such as 0,0.5,1", s);
		if (x < 0 || x > 1)
			return presto_cli_usage("--interp: %g is outside [0, 1]", x);
		if (*n == MAX_INTERP)
			return presto_cli_usage("--interp: more than %d values", MAX_INTERP);
		v[(*n)++] = x;
		if (!*end)
			return 0;
		p = end + 1;
	}
}

static int parse_records(const char *s, long long rec[2])
{
	char *end;
	const char *p = s;
	for (int k = 0; k < 2; k++) {
		if (*p < '0' || *p > '9')
			break;
		rec[k] = strtoll(p, &end, 10);
		if (rec[k] > (1LL << 40))
			break;
		if (k == 0 && *end == ',')
			p = end + 1;
		else if (k == 1 && !*end)
			return 0;
		else
			break;
	}
	return presto_cli_usage("--records: '%s' is not two positions A,B such as 0,1", s);
}

int main(int argc, char **argv)
{
	presto_cli cli;
	const char *arg;
	int c, sum = 0, interp = 0, rc;
	int seen_audio = 0, seen_latent = 0; /* an option of that mode was given */
	const char *audio_opt = NULL, *latent_opt = NULL;
	static double ts[MAX_INTERP];
	mix_opts o = {.peak_db = -1, .subtype = PRESTO_AUDIO_PCM16, .ts = ts, .rec = {-1, -1}};
	o.gains = presto_calloc((size_t)argc + 1, sizeof *o.gains);
	if (!o.gains)
		return presto_cli_status(PRESTO_ENOMEM);
	presto_cli_init(&cli, &spec, argc, argv);
	while ((c = presto_cli_next(&cli, &arg)) != PRESTO_CLI_END) {
		rc = 0;
		switch (c) {
		case PRESTO_CLI_EXIT: rc = cli.exit_code; goto done;
		case 'o': o.out = arg; break;
		case OPT_SUM: sum = 1; audio_opt = "--sum"; break;
		case OPT_CONCAT: o.concat = 1; audio_opt = "--concat"; break;
		case OPT_CROSSFADE:
			if (!presto_cli_double("--crossfade", arg, 0, 86400, &o.crossfade))
				rc = 1;
			audio_opt = "--crossfade";
			break;
		case 'g':
			if (!presto_cli_double("--gain", arg, -200, 60, &o.gains[o.n_gains++]))
				rc = 1;
			audio_opt = "--gain";
			break;
		case OPT_NORMALIZE: o.normalize = 1; audio_opt = "--normalize"; break;
		case OPT_PEAK:
			if (!presto_cli_double("--peak", arg, -100, 0, &o.peak_db))
				rc = 1;
			o.normalize = 1;
			audio_opt = "--peak";
			break;
		case OPT_SUBTYPE:
			if (presto_audio_subtype_parse(arg, &o.subtype))
				rc = presto_cli_usage("--subtype: '%s' is not 16, 24 or float", arg);
			audio_opt = "--subtype";
			break;
		case OPT_INTERP: interp = 1; rc = parse_interp(arg, o.ts, &o.n_ts); break;
		case OPT_SLERP: o.slerp = 1; latent_opt = "--slerp"; break;
		case OPT_RECORDS: rc = parse_records(arg, o.rec); latent_opt = "--records"; break;
		}
		if (rc)
			goto done;
	}
	seen_audio = audio_opt != NULL;
	seen_latent = latent_opt != NULL;
	int n = argc - cli.optind;
	char **paths = argv + cli.optind;
	int stdin_uses = 0;
	for (int i = 0; i < n; i++)
		stdin_uses += !strcmp(paths[i], "-");
	if (n == 0)
		rc = presto_cli_usage("no input FILE");
	else if (stdin_uses > 1)
		rc = presto_cli_usage("standard input ('-') can be read only once");
	else if (interp && seen_audio)
		rc = presto_cli_usage("%s is for audio and cannot be used with --interp", audio_opt);
	else if (!interp && seen_latent)
		rc = presto_cli_usage("%s needs --interp", latent_opt);
	else if (interp && n > 2)
		rc = presto_cli_usage("--interp takes two latent streams, or one with --records A,B (%d given)", n);
	else if (sum && o.concat)
		rc = presto_cli_usage("--sum and --concat exclude each other");
	else if (o.crossfade > 0 && !o.concat)
		rc = presto_cli_usage("--crossfade needs --concat");
	else if (o.n_gains > 1 && o.n_gains != n)
		rc = presto_cli_usage("--gain given %d times for %d inputs (give it once for all, or once per input)",
				      o.n_gains, n);
	else if (interp)
		rc = latent_mode(&o, paths, n);
	else
		rc = audio_mode(&o, paths, n);
done:
	free(o.gains);
	return rc;
}

/* presto-ingest - audio files to a latent stream (the VAE encoder): training
 * data, and the starting point of variations (presto-sample --init). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accel.h"
#include "audio.h"
#include "common.h"
#include "model.h"
#include "ops.h"
#include "rng.h"
#include "stream.h"

enum { OPT_SAMPLE = 256, OPT_SEED, OPT_SECONDS, OPT_THREADS, OPT_LIST, OPT_DEVICE, OPT_PRECISION };

static const presto_cli_option options[] = {
	{"model", 'm', "DIR", "model directory (default: $PRESTO_MODEL, else the shipped default)"},
	{"output", 'o', "FILE", "write the latent stream to FILE instead of stdout"},
	{"list", 'l', "TSV", "encode the files of a table's \"file\" column; other columns become record params"},
	{"seconds", OPT_SECONDS, "SECONDS", "cut or pad (with silence) every clip to this length"},
	{"sample", OPT_SAMPLE, NULL, "draw the latent from the VAE posterior instead of taking its mean"},
	{"seed", OPT_SEED, "N", "with --sample: seed of the first file; file i uses N+i (default 0)"},
	{"device", OPT_DEVICE, "DEV", "auto, cpu, cuda or cuda:N (default: $PRESTO_DEVICE, else auto)"},
	{"precision", OPT_PRECISION, "P", "on a GPU: auto, fp32 or bf16 (default auto: bf16 where supported)"},
	{"threads", OPT_THREADS, "N", "CPU threads for the matrix products and the encoder (default: all cores)"},
	{0},
};

static const presto_cli_spec spec = {
	"presto-ingest",
	"[OPTION]... FILE... | --list TSV",
	"Encode audio files into a latent stream with the model's VAE encoder.",
	options,
	"One record per FILE (\"-\" reads standard input once), in order. The audio must\n"
	"have the model's sample rate; mono is copied to every channel. Writes a\n"
	"presto-stream(5) of kind latent that presto-decode and presto-sample --init read.\n",
};

/* The files to encode and the extra record parameters of each (from --list). */
typedef struct {
	int n, n_cols, file_col;
	char **path;     /* [n] */
	char **cols;     /* header names [n_cols] */
	char ***cells;   /* [n][n_cols] */
	char *text;      /* the table, split in place */
} job_list;

static int is_number(const char *s, double *v)
{
	char *end;
	if (!*s)
		return 0;
	*v = strtod(s, &end);
	return *end == 0;
}

/* Split `line` at tabs into at most max cells; returns the count. */
static int split_tabs(char *line, char **cells, int max)
{
	int n = 0;
	for (char *p = line;; p++) {
		if (n == max)
			return max + 1;
		cells[n++] = p;
		p = strchr(p, '\t');
		if (!p)
			return n;
		*p = 0;
	}
}

static presto_status read_list(const char *tsv, job_list *jl)
{
	FILE *f = fopen(tsv, "rb");
	if (!f)
		return presto_error_set(PRESTO_EIO, "cannot open '%s': %s", tsv, strerror(errno));
	size_t cap = 1 << 16, len = 0;
	char *text = presto_malloc(cap);
	size_t got;
	while (text && (got = fread(text + len, 1, cap - len - 1, f)) > 0) {
		len += got;
		if (len + 1 == cap) {
			char *t = realloc(text, cap *= 2);
			if (!t)
				free(text);
			text = t;
		}
	}
	int err = ferror(f);
	fclose(f);
	if (!text)
		return presto_error_set(PRESTO_ENOMEM, "out of memory reading '%s'", tsv);
	if (err) {
		free(text);
		return presto_error_set(PRESTO_EIO, "%s: read error", tsv);
	}
	text[len] = 0;
	jl->text = text;
	const char *slash = strrchr(tsv, '/');
	int dirlen = slash ? (int)(slash - tsv) + 1 : 0;
	char *save, *line = strtok_r(text, "\n", &save);
	int lineno = 1;
	for (; line; line = strtok_r(NULL, "\n", &save), lineno++) {
		size_t l = strlen(line);
		if (l && line[l - 1] == '\r')
			line[--l] = 0;
		if (!l)
			continue;
		char *cells[256];
		if (!jl->cols) {
			int n = split_tabs(line, cells, 256);
			if (n > 256)
				return presto_error_set(PRESTO_EINVAL, "%s: more than 256 columns", tsv);
			jl->cols = presto_calloc((size_t)n, sizeof *jl->cols);
			if (!jl->cols)
				return PRESTO_ENOMEM;
			jl->n_cols = n;
			jl->file_col = -1;
			for (int i = 0; i < n; i++) {
				jl->cols[i] = cells[i];
				if (!strcmp(cells[i], "file"))
					jl->file_col = i;
			}
			if (jl->file_col < 0)
				return presto_error_set(PRESTO_EINVAL, "%s: the header has no \"file\" column", tsv);
			continue;
		}
		int n = split_tabs(line, cells, jl->n_cols);
		if (n != jl->n_cols)
			return presto_error_set(PRESTO_EINVAL, "%s: line %d has %d columns, the header %d", tsv, lineno,
						n > jl->n_cols ? n : n, jl->n_cols);
		char ***nc = realloc(jl->cells, sizeof *nc * (size_t)(jl->n + 1));
		char **np = realloc(jl->path, sizeof *np * (size_t)(jl->n + 1));
		if (nc)
			jl->cells = nc;
		if (np)
			jl->path = np;
		if (!nc || !np)
			return presto_error_set(PRESTO_ENOMEM, "out of memory");
		jl->cells[jl->n] = presto_calloc((size_t)n, sizeof(char *));
		const char *file = cells[jl->file_col];
		size_t plen = (size_t)dirlen + strlen(file) + 1;
		jl->path[jl->n] = presto_malloc(plen);
		if (!jl->cells[jl->n] || !jl->path[jl->n])
			return PRESTO_ENOMEM;
		memcpy(jl->cells[jl->n], cells, sizeof(char *) * (size_t)n);
		snprintf(jl->path[jl->n], plen, "%.*s%s", file[0] == '/' ? 0 : dirlen, tsv, file);
		jl->n++;
	}
	if (!jl->cols)
		return presto_error_set(PRESTO_EINVAL, "%s: empty table", tsv);
	return PRESTO_OK;
}

static void free_list(job_list *jl)
{
	for (int i = 0; i < jl->n; i++) {
		free(jl->cells ? jl->cells[i] : NULL);
		free(jl->path ? jl->path[i] : NULL);
	}
	free(jl->cells);
	free(jl->path);
	free(jl->cols);
	free(jl->text);
}

/* audio [ch_in, n] -> [ch, frames]: the first `keep` frames (mono copied to
 * every channel), zeros after */
static float *fit(const float *a, int ch_in, int64_t n, int64_t keep, int ch, int64_t frames)
{
	float *y = presto_fzalloc((size_t)ch * (size_t)frames);
	if (!y)
		return NULL;
	if (keep > n)
		keep = n;
	if (keep > frames)
		keep = frames;
	for (int c = 0; c < ch; c++)
		memcpy(y + (size_t)c * frames, a + (size_t)(ch_in == 1 ? 0 : c) * n, sizeof(float) * (size_t)keep);
	return y;
}

int main(int argc, char **argv)
{
	presto_cli cli;
	const char *arg, *model = NULL, *out = NULL, *list = NULL, *device_arg = NULL, *precision_arg = NULL;
	int sample = 0, c;
	long long seed = 0, threads = 0;
	double seconds = -1;
	presto_cli_init(&cli, &spec, argc, argv);
	while ((c = presto_cli_next(&cli, &arg)) != PRESTO_CLI_END) {
		switch (c) {
		case PRESTO_CLI_EXIT: return cli.exit_code;
		case 'm': model = arg; break;
		case 'o': out = arg; break;
		case OPT_SAMPLE: sample = 1; break;
		case OPT_SEED: if (!presto_cli_int("--seed", arg, 0, (1LL << 62), &seed)) return 1; break;
		case OPT_SECONDS: if (!presto_cli_double("--seconds", arg, 0.001, 3600, &seconds)) return 1; break;
		case OPT_THREADS: if (!presto_cli_int("--threads", arg, 1, 1024, &threads)) return 1; break;
		case 'l': list = arg; break;
		case OPT_DEVICE: device_arg = arg; break;
		case OPT_PRECISION: precision_arg = arg; break;
		}
	}
	presto_device_req dreq;
	if (presto_cli_device(device_arg, precision_arg, &dreq))
		return PRESTO_EXIT_USAGE;
	if (cli.optind >= argc && !list)
		return presto_cli_usage("no audio FILE given (or --list TSV)");
	if (cli.optind < argc && list)
		return presto_cli_usage("give audio FILEs or --list, not both");
	int stdin_uses = 0;
	for (int i = cli.optind; i < argc; i++)
		stdin_uses += !strcmp(argv[i], "-");
	if (stdin_uses > 1)
		return presto_cli_usage("standard input (-) can be read only once");
	presto_set_threads((int)threads);
	job_list jl = {0};
	presto_status st = PRESTO_OK;
	if (list) {
		st = read_list(list, &jl);
		if (!st && !jl.n)
			st = presto_error_set(PRESTO_EINVAL, "%s: no rows", list);
	} else {
		jl.n = argc - cli.optind;
		jl.path = argv + cli.optind;
	}
	if (st) {
		if (list)
			free_list(&jl);
		return presto_cli_status(st);
	}
	presto_model_config mc;
	st = presto_model_config_open(model, &mc);
	if (st)
		return presto_cli_status(st);
	presto_st *wst = NULL;
	presto_vae *vae = NULL;
	presto_stream_writer *w = NULL;
	presto_output o = {0};
	const presto_oobleck_config *vc = &mc.vae;
	st = presto_model_load_vae(&mc, &wst, &vae);
	if (!st && !presto_vae_get_config(vae)->has_encoder)
		st = presto_error_set(PRESTO_EUNSUP, "%s: the model's VAE has no encoder", mc.vae_file);
	presto_accel *accel = NULL;
	char device_used[320], device_note[600];
	if (!st)
		st = presto_accel_attach_vae(vae, &dreq, &accel, device_used, sizeof device_used, device_note,
					     sizeof device_note);
	if (!st)
		presto_cli_device_note(device_note);
	if (!st)
		st = presto_output_open(&o, out, 1);
	if (!st)
		st = presto_stream_writer_open_file(o.f, o.label, &w);
	/* the header goes out with the first record: a failure before it leaves stdout empty */
	presto_stream_header h = {.kind = PRESTO_KIND_LATENT, .producer = "presto-ingest " PRESTO_VERSION, .model = mc.id};
	presto_param *p = presto_calloc((size_t)jl.n_cols + 6, sizeof *p);
	if (!p)
		st = PRESTO_ENOMEM;
	for (int i = 0; !st && i < jl.n; i++) {
		const char *path = jl.path[i];
		float *a = NULL, *x = NULL, *pre = NULL, *noise = NULL;
		int ch_in, rate;
		int64_t n;
		st = presto_audio_read(path, &a, &ch_in, &n, &rate);
		if (!st && rate != mc.sample_rate)
			st = presto_error_set(PRESTO_EINVAL, "%s: %d Hz, the model needs %d Hz (resample it first, e.g. with sox)",
					      path, rate, mc.sample_rate);
		if (!st && ch_in != 1 && ch_in != vc->audio_channels)
			st = presto_error_set(PRESTO_EINVAL, "%s: %d channels, the model takes %d (or mono)", path, ch_in,
					      vc->audio_channels);
		/* the clip is padded with silence to a whole number of latent frames,
		 * so that nothing is lost; seconds_total keeps its true length and
		 * presto-decode crops back to it */
		int64_t frames = seconds > 0 ? (int64_t)llround(seconds * mc.sample_rate) : n;
		int64_t ratio = vc->downsampling_ratio > 0 ? vc->downsampling_ratio : 1;
		int64_t padded = (frames + ratio - 1) / ratio * ratio;
		int Lz = st ? 0 : presto_vae_latent_len(vc, padded > INT32_MAX ? -1 : (int)padded);
		if (!st && Lz <= 0)
			st = presto_error_set(PRESTO_EINVAL, "%s: %lld frames are too short (or too long) for the VAE", path,
					      (long long)frames);
		if (!st && (!(x = fit(a, ch_in, n, frames, vc->audio_channels, padded)) ||
			    !(pre = presto_falloc((size_t)vc->encoder_out_dim * Lz)) ||
			    !(noise = presto_falloc((size_t)vc->latent_dim * Lz))))
			st = PRESTO_ENOMEM;
		if (!st)
			st = presto_vae_encode(vae, pre, x, (int)padded, NULL, NULL);
		if (!st) {
			uint64_t s = (uint64_t)seed + (uint64_t)i;
			if (sample)
				presto_randn(noise, (size_t)vc->latent_dim * Lz, s, 0, 0);
			presto_vae_bottleneck(vc, pre, pre, sample ? noise : NULL, Lz, NULL);
			int np = 0;
			for (int k = 0; k < jl.n_cols; k++) { /* the table's columns, numbers as numbers */
				double v;
				const char *cell = jl.cells[i][k];
				if (k == jl.file_col || !strcmp(jl.cols[k], "seconds_total") || !strcmp(jl.cols[k], "source") ||
				    !strcmp(jl.cols[k], "posterior") || !strcmp(jl.cols[k], "seed") || !strcmp(jl.cols[k], "model"))
					continue;
				p[np++] = is_number(cell, &v) ? presto_param_float(jl.cols[k], v) : presto_param_str(jl.cols[k], cell);
			}
			p[np++] = presto_param_str("source", path);
			p[np++] = presto_param_float("seconds_total", (double)frames / mc.sample_rate);
			p[np++] = presto_param_str("posterior", sample ? "sample" : "mean");
			if (sample)
				p[np++] = presto_param_int("seed", (int64_t)s);
			p[np++] = presto_param_str("model", mc.id);
			const char *name = "latent";
			presto_tensor t = presto_tensor_wrap(PRESTO_F32, 2, (int64_t[]){vc->latent_dim, Lz}, pre);
			presto_record rec = {.id = (uint64_t)i, .n_params = np, .params = p,
					     .n_tensors = 1, .tensor_names = (char **)&name, .tensors = &t};
			if (i == 0)
				st = presto_stream_write_header(w, &h);
			if (!st)
				st = presto_stream_write_record(w, &rec);
		}
		free(a);
		free(x);
		free(pre);
		free(noise);
	}
	int rc = presto_cli_finish_stream(st, w, &o);
	free(p);
	if (list)
		free_list(&jl);
	presto_accel_free(accel);
	presto_vae_free(vae);
	presto_st_close(wst);
	presto_model_config_free(&mc);
	return rc;
}

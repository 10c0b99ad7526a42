/* presto-encode - prompts to a conditioning stream (text encoder + number
 * conditioners). One record per prompt: the arguments, or one prompt per
 * line of standard input. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accel.h"
#include "common.h"
#include "model.h"
#include "ops.h"
#include "stream.h"

enum { OPT_SECONDS_START = 256, OPT_BPM, OPT_THREADS, OPT_DEVICE, OPT_PRECISION };

static const presto_cli_option options[] = {
	{"model", 'm', "DIR", "model directory (default: $PRESTO_MODEL, else the shipped default)"},
	{"output", 'o', "FILE", "write the stream to FILE instead of stdout"},
	{"negative", 'n', "TEXT", "negative prompt for every record (guidance pushes away from it)"},
	{"seconds", 's', "SECONDS", "length of the clip to generate (default 10)"},
	{"seconds-start", OPT_SECONDS_START, "SECONDS", "start offset conditioning (default 0)"},
	{"bpm", OPT_BPM, "BPM", "tempo for models with a bpm conditioner (default: 'N BPM' in the prompt)"},
	{"device", OPT_DEVICE, "DEV", "auto, cpu, cuda or cuda:N (default: $PRESTO_DEVICE, else auto)"},
	{"precision", OPT_PRECISION, "P", "on a GPU: auto or bf16 (TF32 matrix products) or fp32 (default auto)"},
	{"threads", OPT_THREADS, "N", "CPU threads for the matrix products (default: all cores)"},
	{0},
};

static const presto_cli_spec spec = {
	"presto-encode",
	"[OPTION]... [PROMPT]...",
	"Encode prompts into a conditioning stream for presto-sample.",
	options,
	"With no PROMPT, reads one prompt per line from standard input (blank lines\n"
	"are skipped). Writes a presto-stream(5) of kind cond.\n",
};


typedef struct {
	presto_model_config *c;
	presto_cond_encoder *enc;
	presto_stream_writer *w;
	const presto_stream_header *h; /* written with the first record */
	const char *negative;
	double seconds, seconds_start, bpm;
	uint64_t id;
	float *cross, *mask, *global, *neg, *scratch; /* scratch: global of the negative (unused) */
} job;

static presto_status encode_one(job *j, const char *prompt)
{
	presto_model_config *c = j->c;
	int S = presto_cond_encoder_seq_len(j->enc), G = presto_cond_encoder_global_dim(j->enc);
	int has_bpm = presto_model_has_cond(c, "bpm");
	double bpm = !has_bpm ? -1 : j->bpm >= 0 ? j->bpm : presto_bpm_from_prompt(prompt);
	if (has_bpm && bpm < 0)
		return presto_error_set(PRESTO_EINVAL, "prompt %llu has no tempo: add 'N BPM' or use --bpm",
					(unsigned long long)j->id + 1);
	presto_cond_input in = {.prompt = prompt, .seconds_start = j->seconds_start, .seconds_total = j->seconds,
				.bpm = bpm};
	PRESTO_TRY(presto_cond_encode(j->enc, &in, j->cross, j->mask, j->global));
	if (j->negative) {
		presto_cond_input nin = in;
		nin.prompt = j->negative;
		/* the negative only replaces the cross-attention tokens (the
		 * numbers are the same), but the encoder writes a global too */
		PRESTO_TRY(presto_cond_encode(j->enc, &nin, j->neg, NULL, G ? j->scratch : NULL));
	}
	presto_param p[6];
	int np = 0;
	p[np++] = presto_param_str("prompt", prompt);
	if (j->negative)
		p[np++] = presto_param_str("negative_prompt", j->negative);
	p[np++] = presto_param_float("seconds_start", j->seconds_start);
	p[np++] = presto_param_float("seconds_total", j->seconds);
	if (bpm >= 0)
		p[np++] = presto_param_float("bpm", bpm);
	presto_tensor t[4];
	const char *names[4];
	int nt = 0;
	names[nt] = "cross_attn_cond";
	t[nt++] = presto_tensor_wrap(PRESTO_F32, 2, (int64_t[]){S, c->cond_dim}, j->cross);
	names[nt] = "cross_attn_mask";
	t[nt++] = presto_tensor_wrap(PRESTO_F32, 1, (int64_t[]){S}, j->mask);
	if (G) {
		names[nt] = "global_cond";
		t[nt++] = presto_tensor_wrap(PRESTO_F32, 1, (int64_t[]){G}, j->global);
	}
	if (j->negative) {
		names[nt] = "negative_cross_attn_cond";
		t[nt++] = presto_tensor_wrap(PRESTO_F32, 2, (int64_t[]){S, c->cond_dim}, j->neg);
	}
	presto_record rec = {.id = j->id, .n_params = np, .params = p, .n_tensors = nt, .tensor_names = (char **)names,
			     .tensors = t};
	/* The header goes out with the first record, so that a failure before
	 * it (no prompt, a bad first prompt) leaves the output empty. */
	if (j->id == 0)
		PRESTO_TRY(presto_stream_write_header(j->w, j->h));
	PRESTO_TRY(presto_stream_write_record(j->w, &rec));
	j->id++;
	return PRESTO_OK;
}

int main(int argc, char **argv)
{
	presto_cli cli;
	const char *arg, *model = NULL, *out = NULL, *device_arg = NULL, *precision_arg = NULL;
	job j = {.seconds = 10, .bpm = -1};
	long long threads = 0;
	int c;
	presto_cli_init(&cli, &spec, argc, argv);
	while ((c = presto_cli_next(&cli, &arg)) != PRESTO_CLI_END) {
		switch (c) {
		case PRESTO_CLI_EXIT: return cli.exit_code;
		case 'm': model = arg; break;
		case 'o': out = arg; break;
		case 'n': j.negative = arg; break;
		case 's':
			if (!presto_cli_double("--seconds", arg, 0.01, 3600, &j.seconds))
				return PRESTO_EXIT_USAGE;
			break;
		case OPT_SECONDS_START:
			if (!presto_cli_double("--seconds-start", arg, 0, 1e6, &j.seconds_start))
				return PRESTO_EXIT_USAGE;
			break;
		case OPT_BPM:
			if (!presto_cli_double("--bpm", arg, 1, 1000, &j.bpm))
				return PRESTO_EXIT_USAGE;
			break;
		case OPT_THREADS:
			if (!presto_cli_int("--threads", arg, 1, 1024, &threads))
				return PRESTO_EXIT_USAGE;
			break;
		case OPT_DEVICE: device_arg = arg; break;
		case OPT_PRECISION: precision_arg = arg; break;
		}
	}
	presto_device_req dreq;
	if (presto_cli_device(device_arg, precision_arg, &dreq))
		return PRESTO_EXIT_USAGE;
	presto_set_threads((int)threads);
	presto_model_config mc;
	presto_status st = presto_model_config_open(model, &mc);
	if (st)
		return presto_cli_status(st);
	j.c = &mc;
	if (j.bpm >= 0 && !presto_model_has_cond(&mc, "bpm"))
		presto_cli_warn("--bpm ignored: model %s has no bpm conditioner", mc.id);
	presto_output o = {0};
	st = presto_cond_encoder_load(&mc, &j.enc);
	presto_accel *accel = NULL;
	char device_used[320], device_note[600];
	if (!st && presto_cond_encoder_t5(j.enc)) {
		st = presto_accel_attach_t5(presto_cond_encoder_t5(j.enc), &dreq, &accel, device_used, sizeof device_used,
					    device_note, sizeof device_note);
		if (!st)
			presto_cli_device_note(device_note);
	}
	if (!st) {
		int S = presto_cond_encoder_seq_len(j.enc), G = presto_cond_encoder_global_dim(j.enc);
		j.cross = presto_falloc((size_t)S * mc.cond_dim);
		j.neg = presto_falloc((size_t)S * mc.cond_dim);
		j.mask = presto_falloc((size_t)S);
		j.global = presto_falloc((size_t)(G ? G : 1));
		j.scratch = presto_falloc((size_t)(G ? G : 1));
		if (!j.cross || !j.neg || !j.mask || !j.global || !j.scratch)
			st = PRESTO_ENOMEM;
	}
	if (!st)
		st = presto_output_open(&o, out, 1);
	if (!st)
		st = presto_stream_writer_open_file(o.f, o.label, &j.w);
	presto_stream_header h = {.kind = PRESTO_KIND_COND, .producer = "presto-encode " PRESTO_VERSION, .model = mc.id};
	j.h = &h;
	if (!st && cli.optind < argc) {
		for (int i = cli.optind; !st && i < argc; i++)
			st = encode_one(&j, argv[i]);
	} else if (!st) {
		const char *quiet = getenv("PRESTO_QUIET");
		if (isatty(0) && !(quiet && *quiet))
			presto_cli_msg("reading prompts from standard input, one per line (Ctrl-D to end)");
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		unsigned long long lineno = 0;
		while (!st && (len = getline(&line, &cap, stdin)) >= 0) {
			lineno++;
			while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				line[--len] = 0;
			if (strlen(line) != (size_t)len) {
				st = presto_error_set(PRESTO_EINVAL, "stdin: line %llu: NUL byte in prompt", lineno);
				break;
			}
			const char *s = line;
			while (isspace((unsigned char)*s))
				s++;
			if (*s)
				st = encode_one(&j, line);
		}
		if (!st && ferror(stdin))
			st = presto_error_set(PRESTO_EIO, "stdin: read error");
		free(line);
		if (!st && j.id == 0)
			st = presto_error_set(PRESTO_EINVAL, "no prompt given (arguments or lines on stdin)");
	}
	int rc = presto_cli_finish_stream(st, j.w, &o);
	presto_accel_free(accel);
	presto_cond_encoder_free(j.enc);
	free(j.cross);
	free(j.neg);
	free(j.mask);
	free(j.global);
	free(j.scratch);
	presto_model_config_free(&mc);
	return rc;
}

/* presto-decode - latent stream to audio: the VAE decoder, peak
 * normalisation and cropping to each record's requested length. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accel.h"
#include "audio.h"
#include "common.h"
#include "model.h"
#include "ops.h"
#include "stream.h"

enum { OPT_SUBTYPE = 256, OPT_PEAK, OPT_NO_NORMALIZE, OPT_NO_CROP, OPT_STREAM, OPT_THREADS, OPT_DEVICE, OPT_PRECISION };

static const presto_cli_option options[] = {
	{"model", 'm', "DIR", "model directory (default: $PRESTO_MODEL, else the shipped default)"},
	{"output", 'o', "FILE", "output file, or a pattern such as 'out/%04d.wav' for many records (default: WAV on stdout)"},
	{"subtype", OPT_SUBTYPE, "TYPE", "sample format: 16 (default), 24 or float"},
	{"peak", OPT_PEAK, "DB", "normalise each clip's peak to DB dBFS (default -1)"},
	{"no-normalize", OPT_NO_NORMALIZE, NULL, "keep the decoder's levels (samples beyond 1 are clipped)"},
	{"no-crop", OPT_NO_CROP, NULL, "keep the whole decoded length instead of seconds_total"},
	{"stream", OPT_STREAM, NULL, "write an audio stream (presto-stream(5)) instead of audio files"},
	{"device", OPT_DEVICE, "DEV", "auto, cpu, cuda or cuda:N (default: $PRESTO_DEVICE, else auto)"},
	{"precision", OPT_PRECISION, "P", "on a GPU: auto, fp32 or bf16 (default auto: bf16 where supported)"},
	{"threads", OPT_THREADS, "N", "CPU threads (default: all cores); the output is the same on any number"},
	{0},
};

static const presto_cli_spec spec = {
	"presto-decode",
	"[OPTION]... [FILE]",
	"Decode a latent stream (default: stdin) to audio.",
	options,
	"The format follows the extension of the output: .wav, .flac, .aiff, .ogg.\n"
	"A pattern takes one printf conversion (%d, %04d, ...) that is replaced by the\n"
	"record's position in the stream (0, 1, ...). Without a pattern the stream\n"
	"must hold a single record.\n",
};

/* Exactly one %d-style conversion (flags/width allowed), no other '%' but "%%". */
static int valid_pattern(const char *p)
{
	int conv = 0;
	for (const char *s = p; *s; s++) {
		if (*s != '%')
			continue;
		if (s[1] == '%') {
			s++;
			continue;
		}
		s++;
		while (*s == '0' || *s == '-' || *s == '+' || *s == ' ')
			s++;
		while (*s >= '0' && *s <= '9')
			s++;
		if (*s != 'd' && *s != 'i' && *s != 'u')
			return -1;
		conv++;
	}
	return conv;
}

int main(int argc, char **argv)
{
	presto_cli cli;
	const char *arg, *model = NULL, *out = NULL, *device_arg = NULL, *precision_arg = NULL;
	int subtype = PRESTO_AUDIO_PCM16, normalize = 1, crop = 1, as_stream = 0, c;
	double peak_db = -1;
	long long threads = 0;
	presto_cli_init(&cli, &spec, argc, argv);
	while ((c = presto_cli_next(&cli, &arg)) != PRESTO_CLI_END) {
		switch (c) {
		case PRESTO_CLI_EXIT: return cli.exit_code;
		case 'm': model = arg; break;
		case 'o': out = arg; break;
		case OPT_SUBTYPE:
			if (presto_audio_subtype_parse(arg, &subtype))
				return presto_cli_usage("--subtype: '%s' is not 16, 24 or float", arg);
			break;
		case OPT_PEAK: if (!presto_cli_double("--peak", arg, -100, 0, &peak_db)) return 1; break;
		case OPT_NO_NORMALIZE: normalize = 0; break;
		case OPT_NO_CROP: crop = 0; break;
		case OPT_STREAM: as_stream = 1; break;
		case OPT_THREADS: if (!presto_cli_int("--threads", arg, 1, 1024, &threads)) return 1; break;
		case OPT_DEVICE: device_arg = arg; break;
		case OPT_PRECISION: precision_arg = arg; break;
		}
	}
	if (argc - cli.optind > 1)
		return presto_cli_usage("at most one input FILE");
	presto_device_req dreq;
	if (presto_cli_device(device_arg, precision_arg, &dreq))
		return PRESTO_EXIT_USAGE;
	int conv = out && !as_stream ? valid_pattern(out) : 0;
	if (conv < 0 || conv > 1)
		return presto_cli_usage("-o: '%s' must hold at most one %%d conversion", out);
	presto_set_threads((int)threads);
	/* Check the output before any work: a bad extension or sample format
	 * is a usage error, a missing or unwritable directory a runtime one.
	 * A pattern is checked with the name of its first file. */
	char first[4096];
	presto_status st = PRESTO_OK;
	if (!as_stream && (!out || !strcmp(out, "-")) && isatty(STDOUT_FILENO))
		return presto_cli_error("refusing to write audio to a terminal (redirect stdout or use -o FILE)");
	if (out && !as_stream) {
		snprintf(first, sizeof first, out, 0);
		st = presto_audio_check_output(conv ? first : out, subtype);
		if (st == PRESTO_EUNSUP || st == PRESTO_EINVAL) {
			presto_cli_status(st);
			return PRESTO_EXIT_USAGE;
		}
		if (st)
			return presto_cli_status(st);
	}
	presto_model_config mc;
	st = presto_model_config_open(model, &mc);
	if (st)
		return presto_cli_status(st);

	presto_st *wst = NULL;
	presto_vae *vae = NULL;
	FILE *in = NULL;
	const char *in_label;
	presto_stream_reader *r = NULL;
	presto_stream_writer *w = NULL;
	presto_output o = {0};
	presto_record rec = {0};
	if (!st)
		st = presto_input_open(cli.optind < argc ? argv[cli.optind] : NULL, &in, &in_label);
	if (!st)
		st = presto_stream_reader_open_file(in, in_label, PRESTO_KIND_LATENT, &r);
	if (!st)
		st = presto_stream_read_header(r, NULL);
	if (!st)
		st = presto_model_load_vae(&mc, &wst, &vae);
	presto_accel *accel = NULL;
	char device_used[320], device_note[600];
	if (!st)
		st = presto_accel_attach_vae(vae, &dreq, &accel, device_used, sizeof device_used, device_note,
					     sizeof device_note);
	if (!st)
		presto_cli_device_note(device_note);
	if (!st && as_stream) {
		st = presto_output_open(&o, out, 1);
		if (!st)
			st = presto_stream_writer_open_file(o.f, o.label, &w);
	}
	uint64_t index = 0;
	int ch = mc.vae.audio_channels, single = !as_stream && !conv;
	presto_param *p = NULL;
	while (!st && !(st = presto_stream_next(r, &rec))) {
		if (single) {
			/* One output file: make sure the stream holds exactly
			 * this record (and is complete) before writing it. */
			presto_record more;
			presto_status s2 = presto_stream_next(r, &more);
			if (s2 == PRESTO_OK) {
				presto_record_free(&more);
				st = presto_error_set(PRESTO_EINVAL,
						      "%s holds more than one record: give -o a pattern such as 'out/%%04d.wav'",
						      in_label);
			} else if (s2 != PRESTO_EEOF) {
				st = s2;
			}
			if (st) {
				presto_record_free(&rec);
				break;
			}
		}
		int64_t ls[2] = {mc.vae.latent_dim, -1};
		float *z = NULL, *audio = NULL;
		st = presto_record_f32(&rec, "latent", 2, ls, &z);
		if (st) { /* the message names the record; add the input */
			presto_error_wrap(st, "%s: ", in_label);
			presto_record_free(&rec);
			break;
		}
		int Lz = (int)ls[1];
		int64_t N = presto_vae_audio_len(&mc.vae, Lz);
		if (!(audio = presto_falloc((size_t)ch * (size_t)N)))
			st = PRESTO_ENOMEM;
		if (!st)
			st = presto_vae_decode(vae, audio, z, Lz, NULL, NULL);
		int64_t keep = N;
		double secs;
		if (!st && crop && presto_record_param(&rec, "seconds_total") &&
		    !presto_record_double(&rec, "seconds_total", &secs) && secs > 0) {
			int64_t want = (int64_t)llround(secs * mc.sample_rate);
			if (want < keep)
				keep = want;
		}
		if (!st && keep < N) /* crop each channel row in place */
			for (int k = 1; k < ch; k++)
				memmove(audio + (size_t)k * keep, audio + (size_t)k * N, sizeof(float) * (size_t)keep);
		if (!st && normalize) {
			double mx = 0;
			for (size_t i = 0; i < (size_t)ch * keep; i++)
				mx = fmax(mx, fabs(audio[i]));
			if (mx > 0) {
				float g = (float)(pow(10.0, peak_db / 20.0) / mx);
				for (size_t i = 0; i < (size_t)ch * keep; i++)
					audio[i] *= g;
			}
		}
		if (!st) {
			if (as_stream) {
				int np = 0;
				free(p);
				if (!(p = presto_malloc(sizeof *p * ((size_t)rec.n_params + 1))))
					st = PRESTO_ENOMEM;
				for (int i = 0; !st && i < rec.n_params; i++)
					if (strcmp(rec.params[i].name, "sample_rate"))
						p[np++] = rec.params[i];
				if (!st)
					p[np++] = presto_param_int("sample_rate", mc.sample_rate);
				const char *name = "audio";
				presto_tensor t = presto_tensor_wrap(PRESTO_F32, 2, (int64_t[]){ch, keep}, audio);
				presto_record orec = {.id = rec.id, .n_params = np, .params = p, .n_tensors = 1,
						      .tensor_names = (char **)&name, .tensors = &t};
				/* the header goes out with the first record */
				presto_stream_header h = {.kind = PRESTO_KIND_AUDIO,
							  .producer = "presto-decode " PRESTO_VERSION, .model = mc.id};
				if (!st && index == 0)
					st = presto_stream_write_header(w, &h);
				if (!st)
					st = presto_stream_write_record(w, &orec);
			} else if (conv) {
				char path[4096];
				snprintf(path, sizeof path, out, (int)index);
				st = presto_audio_write(path, audio, ch, keep, mc.sample_rate, subtype);
			} else
				st = presto_audio_write(out ? out : "-", audio, ch, keep, mc.sample_rate, subtype);
		}
		if (st)
			presto_error_wrap(st, "record %llu: ", (unsigned long long)rec.id);
		free(z);
		free(audio);
		presto_record_free(&rec);
		index++;
		if (!st && single) {
			st = PRESTO_EEOF; /* the end was read above */
			break;
		}
	}
	if (st == PRESTO_EEOF)
		st = index ? PRESTO_OK : presto_error_set(PRESTO_EINVAL, "%s: the stream holds no record", in_label);
	/* w is NULL unless writing a stream */
	int rc = presto_cli_finish_stream(st, w, as_stream ? &o : NULL);
	presto_stream_reader_close(r);
	if (in)
		presto_input_close(in);
	free(p);
	presto_accel_free(accel);
	presto_vae_free(vae);
	presto_st_close(wst);
	presto_model_config_free(&mc);
	return rc;
}

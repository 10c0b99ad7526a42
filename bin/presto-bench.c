/* presto-bench - time a model's generation stage by stage: the conditioning
 * encoder, every sampling step, the VAE decoder, end to end; real-time
 * factor and peak GPU memory. In one process, after a warm-up, the median
 * of several runs; loading is reported apart. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accel.h"
#include "common.h"
#include "generate.h"
#include "ops.h"

enum { OPT_DEVICE = 256, OPT_PRECISION, OPT_SECONDS, OPT_SAMPLER, OPT_CFG, OPT_KEEP, OPT_RUNS, OPT_WARMUP, OPT_JSON,
       OPT_THREADS, OPT_PROMPT, OPT_PEAK_TFLOPS, OPT_PEAK_GBPS, OPT_BATCH };

static const presto_cli_option options[] = {
	{"model", 'm', "DIR", "model directory (default: $PRESTO_MODEL, else the shipped default)"},
	{"device", OPT_DEVICE, "DEV", "auto, cpu, cuda or cuda:N (default: $PRESTO_DEVICE, else auto)"},
	{"precision", OPT_PRECISION, "P", "on a GPU: auto, fp32 or bf16 (default auto: bf16 where supported)"},
	{"seconds", OPT_SECONDS, "SECONDS", "clip length (default 10, or the model's fixed length)"},
	{"steps", 'n', "N", "sampling steps (default: the model's)"},
	{"sampler", OPT_SAMPLER, "NAME", "euler, heun, dpmpp-2m, dpmpp-3m-sde, pingpong or presto"},
	{"cfg", OPT_CFG, "SCALE", "classifier-free guidance scale, 1 = off (default: the model's)"},
	{"keep", OPT_KEEP, "F", "run this fraction of the DiT blocks at every step, spread evenly (a layer budget)"},
	{"batch", OPT_BATCH, "N", "generate N clips of the prompt at once (presto-sample --batch; default 1)"},
	{"runs", OPT_RUNS, "N", "timed runs; the medians are reported (default 3)"},
	{"warmup", OPT_WARMUP, "N", "untimed runs first (default 1)"},
	{"prompt", OPT_PROMPT, "TEXT", "the prompt (default \"warm lofi piano, 80 BPM\")"},
	{"peak-tflops", OPT_PEAK_TFLOPS, "X", "the device's peak TFLOP/s at the precision used (default: known GPUs)"},
	{"peak-gbps", OPT_PEAK_GBPS, "X", "the device's memory bandwidth in GB/s (default: known GPUs)"},
	{"json", OPT_JSON, NULL, "print one JSON document instead of text"},
	{"threads", OPT_THREADS, "N", "CPU threads for the matrix products and the decoder (default: all cores)"},
	{0},
};

static const presto_cli_spec spec = {
	"presto-bench",
	"[OPTION]...",
	"Time a model's generation: encode, each sampling step, decode, end to end.",
	options,
	"Random-weight models of real sizes come from the test tool mkmodel (see\n"
	"docs/benchmarks.md); a trained model directory works the same.\n",
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
	double *t;   /* [steps] time at the end of each step */
	int n;
} step_clock;

static void on_step(void *ctx, int i, double sigma, const float *x, const float *d)
{
	step_clock *c = ctx;
	if (i >= 0 && i < c->n)
		c->t[i] = now();
}

/* Dense peaks of known GPUs (vendor figures): bf16 tensor-core and fp32
 * TFLOP/s, memory GB/s; matched by a word of the device's name. */
static const struct {
	const char *name;
	double bf16, fp32, gbps;
} known_gpus[] = {
	{"H200", 989, 67, 4800}, {"H100 PCIe", 756, 51, 2000}, {"H100", 989, 67, 3350},
	{"A100", 312, 19.5, 2039}, {"L40S", 362, 91.6, 864},
};

static void device_peaks(const char *used, double *tflops, double *gbps)
{
	int bf16 = strstr(used, "bf16") != NULL;
	for (size_t i = 0; i < sizeof known_gpus / sizeof known_gpus[0]; i++)
		if (strstr(used, known_gpus[i].name)) {
			if (*tflops <= 0)
				*tflops = bf16 ? known_gpus[i].bf16 : known_gpus[i].fp32;
			if (*gbps <= 0)
				*gbps = known_gpus[i].gbps;
			return;
		}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
	presto_cli cli;
	const char *arg, *model = NULL, *device_arg = NULL, *precision_arg = NULL, *sampler = NULL;
	const char *prompt = "warm lofi piano, 80 BPM";
	long long steps = 0, runs = 3, warmup = 1, threads = 0, batch = 1;
	double seconds = -1, cfg = -1, keep = 1, peak_tflops = 0, peak_gbps = 0;
	int json = 0, c;
	presto_cli_init(&cli, &spec, argc, argv);
	while ((c = presto_cli_next(&cli, &arg)) != PRESTO_CLI_END) {
		switch (c) {
		case PRESTO_CLI_EXIT: return cli.exit_code;
		case 'm': model = arg; break;
		case OPT_DEVICE: device_arg = arg; break;
		case OPT_PRECISION: precision_arg = arg; break;
		case OPT_SECONDS: if (!presto_cli_double("--seconds", arg, 0.01, 3600, &seconds)) return 1; break;
		case 'n': if (!presto_cli_int("--steps", arg, 1, 10000, &steps)) return 1; break;
		case OPT_SAMPLER: sampler = arg; break;
		case OPT_CFG: if (!presto_cli_double("--cfg", arg, 0, 100, &cfg)) return 1; break;
		case OPT_KEEP: if (!presto_cli_double("--keep", arg, 0.001, 1, &keep)) return 1; break;
		case OPT_RUNS: if (!presto_cli_int("--runs", arg, 1, 1000, &runs)) return 1; break;
		case OPT_BATCH: if (!presto_cli_int("--batch", arg, 1, 256, &batch)) return 1; break;
		case OPT_WARMUP: if (!presto_cli_int("--warmup", arg, 0, 1000, &warmup)) return 1; break;
		case OPT_PROMPT: prompt = arg; break;
		case OPT_JSON: json = 1; break;
		case OPT_PEAK_TFLOPS: if (!presto_cli_double("--peak-tflops", arg, 0.001, 1e6, &peak_tflops)) return 1; break;
		case OPT_PEAK_GBPS: if (!presto_cli_double("--peak-gbps", arg, 0.001, 1e7, &peak_gbps)) return 1; break;
		case OPT_THREADS: if (!presto_cli_int("--threads", arg, 1, 1024, &threads)) return 1; break;
		}
	}
	if (cli.optind < argc)
		return presto_cli_usage("no FILE is read");
	presto_sampler_kind kind = PRESTO_SAMPLER_EULER;
	if (sampler && presto_sampler_parse(sampler, &kind))
		return presto_cli_usage("--sampler: unknown sampler '%s'", sampler);
	presto_device_req dreq;
	if (presto_cli_device(device_arg, precision_arg, &dreq))
		return PRESTO_EXIT_USAGE;
	presto_set_threads((int)threads);

	presto_model_config mc;
	presto_status st = presto_model_config_open(model, &mc);
	if (st)
		return presto_cli_status(st);
	if (!sampler && presto_sampler_parse(mc.sampler, &kind)) {
		presto_model_config_free(&mc);
		return presto_cli_error("%s/config.json: unknown sampler '%s'", mc.dir, mc.sampler);
	}
	presto_gen_opts g = {.sampler = kind, .steps = steps ? (int)steps : mc.steps,
			     .cfg_scale = cfg >= 0 ? cfg : mc.cfg_scale, .sigma_min = mc.sigma_min,
			     .sigma_max = mc.sigma_max, .rho = mc.rho, .eta = 1, .s_noise = 1, .seed = 1};
	snprintf(g.schedule, sizeof g.schedule, "%s", mc.schedule);
	presto_budget budget = mc.budget;
	int depth = mc.dit.depth, kept = depth;
	if (keep < 1) {
		budget.n = 1;
		budget.e[0].sigma_lo = 0;
		budget.e[0].sigma_hi = INFINITY;
		kept = 0;
		for (int k = 0; k < depth && k < 256; k++) {
			budget.e[0].run[k] = floor((k + 1) * keep + 0.5) > floor(k * keep + 0.5);
			kept += budget.e[0].run[k];
		}
	}
	g.budget = budget.n ? &budget : NULL;
	if (seconds < 0)
		seconds = 10;
	int T = presto_latent_frames(&mc, seconds);
	if (mc.sample_size > 0)
		seconds = (double)mc.sample_size / mc.sample_rate;

	presto_cond_encoder *enc = NULL;
	presto_st *dst = NULL, *vst = NULL;
	presto_dit *dit = NULL;
	presto_vae *vae = NULL;
	presto_accel *adit = NULL, *avae = NULL, *at5 = NULL;
	float *cross = NULL, *mask = NULL, *global = NULL, *latent = NULL, *audio = NULL;
	double *tstep = NULL, *samples = NULL;
	char used[320], note[600], used_vae[320], used_t5[320] = "cpu";
	int C = mc.dit.io_channels, S = 0, N = presto_vae_audio_len(&mc.vae, T), n_runs = (int)runs, B = (int)batch;
	uint64_t *seeds = NULL;
	double t_load = now();
	st = presto_cond_encoder_load(&mc, &enc);
	if (!st && presto_cond_encoder_t5(enc))
		st = presto_accel_attach_t5(presto_cond_encoder_t5(enc), &dreq, &at5, used_t5, sizeof used_t5, note,
					    sizeof note);
	if (!st)
		st = presto_model_load_dit(&mc, &dst, &dit);
	if (!st)
		st = presto_accel_attach(dit, &dreq, &adit, used, sizeof used, note, sizeof note);
	if (!st)
		presto_cli_device_note(note);
	if (!st)
		st = presto_model_load_vae(&mc, &vst, &vae);
	if (!st)
		st = presto_accel_attach_vae(vae, &dreq, &avae, used_vae, sizeof used_vae, note, sizeof note);
	t_load = now() - t_load;
	if (!st && (T < 1 || N < 1))
		st = presto_error_set(PRESTO_EINVAL, "--seconds %g gives no valid latent length", seconds);
	if (!st) {
		S = presto_cond_encoder_seq_len(enc);
		int G = presto_cond_encoder_global_dim(enc);
		cross = presto_falloc((size_t)S * mc.cond_dim * (size_t)B);
		mask = presto_falloc((size_t)S);
		global = presto_falloc((size_t)(G ? G : 1) * (size_t)B);
		latent = presto_falloc((size_t)C * T * (size_t)B);
		seeds = presto_malloc(sizeof *seeds * (size_t)B);
		audio = presto_falloc((size_t)mc.audio_channels * N);
		tstep = presto_malloc(sizeof(double) * (size_t)(g.steps + 1));
		samples = presto_malloc(sizeof(double) * (size_t)n_runs * (size_t)(4 + g.steps));
		if (!cross || !mask || !global || !latent || !audio || !tstep || !samples || !seeds)
			st = PRESTO_ENOMEM;
		for (int b = 0; !st && b < B; b++)
			seeds[b] = g.seed + (uint64_t)b;
		if (!st && !G) {
			free(global);
			global = NULL;
		}
	}
	/* per run: encode, sample, decode, end to end, then every step */
	int stride = 4 + g.steps, used_steps = g.steps;
	for (int r = 0; !st && r < warmup + n_runs; r++) {
		step_clock sc = {tstep + 1, g.steps};
		g.step = on_step;
		g.step_ctx = &sc;
		g.step_need = PRESTO_STEP_DONE; /* the time a step ends on the device: no latent copied */
		for (int i = 0; i < g.steps; i++)
			tstep[i + 1] = NAN;
		double bpm = presto_bpm_from_prompt(prompt);
		presto_cond_input in = {.prompt = prompt, .seconds_start = 0, .seconds_total = seconds,
					.bpm = !presto_model_has_cond(&mc, "bpm") ? -1 : bpm > 0 ? bpm : 120};
		double t0 = now();
		st = presto_cond_encode(enc, &in, cross, mask, global);
		/* the batch: B copies of the conditioning, B seeds */
		size_t ncr = (size_t)S * mc.cond_dim;
		int G = presto_cond_encoder_global_dim(enc);
		for (int b = 1; !st && b < B; b++) {
			memcpy(cross + b * ncr, cross, sizeof(float) * ncr);
			if (global)
				memcpy(global + (size_t)b * G, global, sizeof(float) * (size_t)G);
		}
		double t1 = now();
		tstep[0] = t1;
		if (!st)
			st = presto_generate_batch(dit, &mc, &g, B, seeds, NULL, cross, NULL, S, global, T, latent);
		double t2 = now();
		for (int b = 0; !st && b < B; b++)
			st = presto_vae_decode(vae, audio, latent + (size_t)b * C * T, T, NULL, NULL);
		double t3 = now();
		if (st || r < warmup)
			continue;
		double *row = samples + (size_t)(r - warmup) * stride;
		row[0] = t1 - t0, row[1] = t2 - t1, row[2] = t3 - t2, row[3] = t3 - t0;
		used_steps = 0;
		for (int i = 0; i < g.steps && !isnan(tstep[i + 1]); i++, used_steps++)
			row[4 + i] = tstep[i + 1] - tstep[i];
	}
	if (!st) {
		double med[4], *col = presto_malloc(sizeof(double) * (size_t)n_runs), *stepmed = NULL;
		stepmed = presto_malloc(sizeof(double) * (size_t)(used_steps ? used_steps : 1));
		if (!col || !stepmed) {
			free(col);
			free(stepmed);
			st = PRESTO_ENOMEM;
		} else {
			for (int k = 0; k < 4 + used_steps; k++) {
				for (int r = 0; r < n_runs; r++)
					col[r] = samples[(size_t)r * stride + k];
				double m = median(col, n_runs);
				if (k < 4)
					med[k] = m;
				else
					stepmed[k - 4] = m;
			}
			size_t mem_used = 0, mem_peak = 0, mem_total = 0;
			presto_accel_memory(adit ? adit : avae ? avae : at5, &mem_used, &mem_peak, &mem_total);
			double rtf = seconds * B / med[3];
			/* the work: DiT evaluations (heun evaluates twice but at the
			 * last step; CFG doubles the batch), the decoder */
			int evals = g.sampler == PRESTO_SAMPLER_HEUN ? 2 * used_steps - 1 : used_steps;
			int Bn = (g.cfg_scale != 1.0 && S > 0 ? 2 : 1) * B;
			double f_eval = presto_dit_flops(&mc.dit, Bn, T, S, kept);
			double f_sample = f_eval * evals, f_decode = presto_vae_decode_flops(&mc.vae, T) * B;
			double w_eval = presto_dit_weight_bytes(&mc.dit, kept, strstr(used, "bf16") ? 2 : 4);
			device_peaks(used, &peak_tflops, &peak_gbps);
			double fl_sample = -1, fl_decode = -1;
			if (peak_tflops > 0) {
				double per = f_eval / (peak_tflops * 1e12), wb = peak_gbps > 0 ? w_eval / (peak_gbps * 1e9) : 0;
				fl_sample = evals * (per > wb ? per : wb);
				fl_decode = f_decode / (peak_tflops * 1e12);
			}
			if (json) {
				json_t *o = json_object(), *sv = json_array();
				json_object_set_new(o, "model", json_string(mc.id));
				json_object_set_new(o, "device", json_string(used));
				json_object_set_new(o, "vae_device", json_string(used_vae));
				json_object_set_new(o, "text_device", json_string(used_t5));
				json_object_set_new(o, "sampling_loop",
						    json_string(presto_dit_device_loop(dit) ? "device" : "host"));
				/* the GPU path's variants this run chose (docs/gpu.md) */
				json_t *knobs = json_object();
				static const char *const kn[] = {"PRESTO_DEVICE_LOOP", "PRESTO_CUDA_GRAPHS", "PRESTO_CUDA_CONV",
								 "PRESTO_CUDA_ATTN"};
				for (size_t k = 0; k < sizeof kn / sizeof kn[0]; k++)
					if (getenv(kn[k]))
						json_object_set_new(knobs, kn[k], json_string(getenv(kn[k])));
				json_object_set_new(o, "environment", knobs);
				json_object_set_new(o, "seconds", json_real(seconds));
				json_object_set_new(o, "latent_frames", json_integer(T));
				json_object_set_new(o, "sampler", json_string(presto_sampler_name(g.sampler)));
				json_object_set_new(o, "steps", json_integer(used_steps));
				json_object_set_new(o, "cfg", json_real(g.cfg_scale));
				json_object_set_new(o, "blocks", json_integer(kept));
				json_object_set_new(o, "depth", json_integer(depth));
				json_object_set_new(o, "batch", json_integer(B));
				json_object_set_new(o, "runs", json_integer(n_runs));
				json_object_set_new(o, "load_s", json_real(t_load));
				json_object_set_new(o, "encode_s", json_real(med[0]));
				json_object_set_new(o, "sample_s", json_real(med[1]));
				json_object_set_new(o, "decode_s", json_real(med[2]));
				json_object_set_new(o, "end_to_end_s", json_real(med[3]));
				json_object_set_new(o, "real_time_factor", json_real(rtf));
				json_object_set_new(o, "clips_per_s", json_real(B / med[3]));
				for (int i = 0; i < used_steps; i++)
					json_array_append_new(sv, json_real(stepmed[i]));
				json_object_set_new(o, "step_s", sv);
				json_object_set_new(o, "gpu_peak_bytes", mem_total ? json_integer((json_int_t)mem_peak) : json_null());
				json_object_set_new(o, "dit_evaluations", json_integer(evals));
				json_object_set_new(o, "sample_flop", json_real(f_sample));
				json_object_set_new(o, "decode_flop", json_real(f_decode));
				json_object_set_new(o, "sample_tflops", json_real(f_sample / med[1] * 1e-12));
				json_object_set_new(o, "decode_tflops", json_real(f_decode / med[2] * 1e-12));
				json_object_set_new(o, "peak_tflops", peak_tflops > 0 ? json_real(peak_tflops) : json_null());
				json_object_set_new(o, "peak_gbps", peak_gbps > 0 ? json_real(peak_gbps) : json_null());
				json_object_set_new(o, "sample_floor_s", fl_sample >= 0 ? json_real(fl_sample) : json_null());
				json_object_set_new(o, "decode_floor_s", fl_decode >= 0 ? json_real(fl_decode) : json_null());
				char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
				if (s)
					printf("%s\n", s);
				free(s);
				json_decref(o);
			} else {
				printf("model      %s\n", mc.id);
				printf("device     DiT: %s; VAE: %s; T5: %s; sampling loop on the %s\n", used, used_vae,
				       used_t5, presto_dit_device_loop(dit) ? "device" : "host");
				printf("clip       %.2f s (%d latent frames), %s, %d steps, cfg %g, %d of %d blocks", seconds,
				       T, presto_sampler_name(g.sampler), used_steps, g.cfg_scale, kept, depth);
				if (B > 1)
					printf(", %d clips at once", B);
				printf("\n");
				printf("load       %.3f s (not in the figures below)\n", t_load);
				printf("encode     %.4f s\n", med[0]);
				printf("sample     %.4f s", med[1]);
				if (used_steps) {
					double sum = 0;
					for (int i = 0; i < used_steps; i++)
						sum += stepmed[i];
					printf(" (steps: mean %.4f s, first %.4f s, last %.4f s)", sum / used_steps,
					       stepmed[0], stepmed[used_steps - 1]);
				}
				printf("\ndecode     %.4f s\n", med[2]);
				printf("end to end %.4f s, %.1fx real time (median of %d runs)\n", med[3], rtf, n_runs);
				if (B > 1)
					printf("throughput %.2f clips/s\n", B / med[3]);
				if (mem_total)
					printf("GPU memory peak %.2f GiB of %.1f GiB\n", mem_peak / 1073741824.0,
					       mem_total / 1073741824.0);
				printf("work       sample %.3g TFLOP in %d DiT evaluations (%.3g TFLOP/s), decode %.3g TFLOP "
				       "(%.3g TFLOP/s)\n", f_sample * 1e-12, evals, f_sample / med[1] * 1e-12,
				       f_decode * 1e-12, f_decode / med[2] * 1e-12);
				if (fl_sample >= 0)
					printf("floor      sample %.4f s, decode %.4f s at %g TFLOP/s%s\n", fl_sample, fl_decode,
					       peak_tflops, peak_gbps > 0 ? " and the weights' bytes" : "");
			}
			free(col);
			free(stepmed);
		}
	}
	int rc = st ? presto_cli_status(st) : fflush(stdout) ? presto_cli_error("stdout: write error") : 0;
	presto_accel_free(adit);
	presto_accel_free(avae);
	presto_accel_free(at5);
	presto_dit_free(dit);
	presto_vae_free(vae);
	presto_st_close(dst);
	presto_st_close(vst);
	presto_cond_encoder_free(enc);
	presto_model_config_free(&mc);
	free(cross), free(mask), free(global), free(latent), free(audio), free(tstep), free(samples), free(seeds);
	return rc;
}

/* mksine.c - write test tones and inspect audio files for the CLI tests.
 *
 *   mksine [-r RATE] [-c CHANNELS] [-s SECONDS | -n FRAMES] [-f HZ] [-a AMP]
 *          [-t 16|24|float] FILE
 *       a cosine AMP * cos(2 pi HZ t) on every channel (defaults: 8000 Hz,
 *       1 channel, 1 s, 440 Hz, 0.5, float); HZ 0 gives a constant AMP.
 *       Sample 0 is AMP, so the peak of the file is exactly AMP.
 *   mksine --info FILE [FRAME]
 *       "frames=N channels=C rate=R peak=P rms=R nonfinite=K" (peak and rms
 *       over the finite samples) and, with FRAME, a second line
 *       "frame F: V0 V1 ..." with the samples of every channel there.
 *
 * FILE may be "-" (standard output / input, WAV). Exit 2 on any error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"

static void die(const char *what)
{
	fprintf(stderr, "mksine: %s: %s\n", what, presto_error());
	exit(2);
}

static double num(const char *opt, const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (!*s || *end) {
		fprintf(stderr, "mksine: %s: '%s' is not a number\n", opt, s);
		exit(2);
	}
	return v;
}

static int info(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: mksine --info FILE [FRAME]\n");
		return 2;
	}
	float *d;
	int C, rate;
	int64_t N;
	if (presto_audio_read(argv[2], &d, &C, &N, &rate))
		die(argv[2]);
	double peak = 0, ss = 0;
	long long nonfinite = 0;
	for (size_t i = 0; i < (size_t)C * (size_t)N; i++) {
		if (!isfinite(d[i])) {
			nonfinite++;
			continue;
		}
		peak = fmax(peak, fabs(d[i]));
		ss += (double)d[i] * d[i];
	}
	double rms = N > 0 ? sqrt(ss / ((double)C * (double)N)) : 0;
	printf("frames=%lld channels=%d rate=%d peak=%.6f rms=%.6f nonfinite=%lld\n", (long long)N, C, rate, peak, rms,
	       nonfinite);
	if (argc == 4) {
		long long f = (long long)num("FRAME", argv[3]);
		if (f < 0 || f >= N) {
			fprintf(stderr, "mksine: frame %lld out of range\n", f);
			return 2;
		}
		printf("frame %lld:", f);
		for (int c = 0; c < C; c++)
			printf(" %.6f", d[(size_t)c * (size_t)N + (size_t)f]);
		printf("\n");
	}
	free(d);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--info"))
		return info(argc, argv);
	double rate = 8000, secs = 1, hz = 440, amp = 0.5, frames = -1, ch = 1;
	int subtype = PRESTO_AUDIO_FLOAT, i;
	for (i = 1; i + 1 < argc && argv[i][0] == '-' && argv[i][1]; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];
		if (!strcmp(o, "-r"))
			rate = num(o, v);
		else if (!strcmp(o, "-c"))
			ch = num(o, v);
		else if (!strcmp(o, "-s"))
			secs = num(o, v);
		else if (!strcmp(o, "-n"))
			frames = num(o, v);
		else if (!strcmp(o, "-f"))
			hz = num(o, v);
		else if (!strcmp(o, "-a"))
			amp = num(o, v);
		else if (!strcmp(o, "-t")) {
			if (presto_audio_subtype_parse(v, &subtype))
				die("-t");
		} else {
			fprintf(stderr, "mksine: unknown option '%s'\n", o);
			return 2;
		}
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: mksine [-r RATE] [-c CH] [-s SECONDS | -n FRAMES] [-f HZ] [-a AMP] "
				"[-t 16|24|float] FILE\n       mksine --info FILE [FRAME]\n");
		return 2;
	}
	int64_t N = frames >= 0 ? (int64_t)frames : (int64_t)llround(secs * rate);
	int C = (int)ch;
	float *d = presto_falloc((size_t)C * (size_t)N);
	if (!d)
		die("allocating");
	for (int c = 0; c < C; c++)
		for (int64_t t = 0; t < N; t++)
			d[(size_t)c * (size_t)N + (size_t)t] = (float)(amp * cos(2 * M_PI * hz * (double)t / rate));
	if (presto_audio_write(argv[i], d, C, N, (int)rate, subtype))
		die(argv[i]);
	free(d);
	return 0;
}

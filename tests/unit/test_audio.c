/* test_audio.c - audio file I/O: WAV / FLAC round trips, 24-bit and float
 * subtypes, clipping, atomic failure on a missing directory, garbage input,
 * writing into a pipe. Exit status 0 when every check passes. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio.h"

#include "check.h"


enum { C = 2, N = 3001, RATE = 44100 };

static float sine[C * N];

static void make_sine(void)
{
	for (int c = 0; c < C; c++)
		for (int t = 0; t < N; t++)
			sine[c * N + t] = 0.8f * sinf(2.0f * 3.14159265f * (440.0f + 110.0f * c) * t / RATE);
}

static double max_diff(const float *a, const float *b, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs((double)a[i] - (double)b[i]));
	return m;
}

static void round_trip(const char *dir, const char *name, int subtype, double tol)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	presto_status s = presto_audio_write(path, sine, C, N, RATE, subtype);
	EXPECT(!s, "write %s: %s", name, presto_error());
	if (s)
		return;
	float *d = NULL;
	int ch = 0, rate = 0;
	int64_t n = 0;
	s = presto_audio_read(path, &d, &ch, &n, &rate);
	EXPECT(!s, "read %s: %s", name, presto_error());
	if (s)
		return;
	EXPECT(ch == C && n == N && rate == RATE, "%s: got %d ch, %lld frames, %d Hz", name, ch, (long long)n, rate);
	if (ch == C && n == N) {
		double e = max_diff(d, sine, (size_t)C * N);
		EXPECT(e <= tol, "%s: max error %.3g > %.3g", name, e, tol);
	}
	free(d);
}

/* The same audio gives the same bytes: no time-stamped PEAK chunk in float
 * WAV/AIFF files (a run a second later used to differ). */
static void test_no_timestamp(const char *dir)
{
	const char *names[] = {"stamp.wav", "stamp.aiff"};
	for (int i = 0; i < 2; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		presto_status s = presto_audio_write(path, sine, C, N, RATE, PRESTO_AUDIO_FLOAT);
		FILE *f = fopen(path, "rb");
		char head[4096];
		size_t n = f ? fread(head, 1, sizeof head, f) : 0;
		if (f)
			fclose(f);
		int peak = 0;
		for (size_t k = 0; k + 4 <= n; k++)
			peak |= !memcmp(head + k, "PEAK", 4);
		EXPECT(!s && n > 0 && !peak, "%s: float file with a PEAK chunk (time stamp)", names[i]);
	}
}

static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *de;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_clipping(const char *dir)
{
	char path[4096];
	float loud[2 * 4] = {2.0f, -3.0f, 1.5f, -1.5f, 0.5f, 1e6f, -1e6f, 0.0f};
	snprintf(path, sizeof path, "%s/clip.wav", dir);
	EXPECT(!presto_audio_write(path, loud, 2, 4, 8000, PRESTO_AUDIO_PCM16), "clip write: %s", presto_error());
	float *d = NULL;
	int ch, rate;
	int64_t n;
	if (presto_audio_read(path, &d, &ch, &n, &rate)) {
		EXPECT(0, "clip read: %s", presto_error());
		return;
	}
	float want[8] = {1, -1, 1, -1, 0.5f, 1, -1, 0};
	EXPECT(n == 4 && max_diff(d, want, 8) < 1e-4, "clipped values wrong");
	free(d);
}

static void test_errors(const char *dir)
{
	char path[4096];
	int before = dir_entries(dir);

	snprintf(path, sizeof path, "%s/no/such/dir/out.wav", dir);
	presto_error_clear();
	EXPECT(presto_audio_write(path, sine, C, N, RATE, 0) == PRESTO_EIO, "write into a missing dir did not fail");
	EXPECT(strstr(presto_error(), "out.wav") != NULL, "error does not name the file: %s", presto_error());
	EXPECT(presto_audio_check_output(path, 0) == PRESTO_EIO, "check_output accepted a missing dir");

	snprintf(path, sizeof path, "%s/out.xyz", dir);
	EXPECT(presto_audio_write(path, sine, C, N, RATE, 0) == PRESTO_EUNSUP, "unknown extension accepted");
	EXPECT(presto_audio_check_output(path, 0) == PRESTO_EUNSUP, "check_output accepted .xyz");
	snprintf(path, sizeof path, "%s/out.flac", dir);
	EXPECT(presto_audio_write(path, sine, C, N, RATE, PRESTO_AUDIO_FLOAT) == PRESTO_EUNSUP, "float FLAC accepted");
	EXPECT(presto_audio_check_output(path, PRESTO_AUDIO_PCM24) == PRESTO_OK, "check_output: %s", presto_error());

	float bad[4] = {0, NAN, 0, 0};
	snprintf(path, sizeof path, "%s/nan.wav", dir);
	EXPECT(presto_audio_write(path, bad, 2, 2, RATE, 0) == PRESTO_EINVAL, "NaN sample accepted");
	EXPECT(presto_audio_write(path, sine, 0, N, RATE, 0) == PRESTO_EINVAL, "0 channels accepted");
	EXPECT(dir_entries(dir) == before, "failed writes left files behind (%d -> %d)", before, dir_entries(dir));

	/* garbage and missing input */
	snprintf(path, sizeof path, "%s/garbage.wav", dir);
	FILE *f = fopen(path, "wb");
	for (int i = 0; i < 1000; i++)
		fputc((i * 7919) & 255, f);
	fclose(f);
	float *d = NULL;
	int ch, rate;
	int64_t n;
	EXPECT(presto_audio_read(path, &d, &ch, &n, &rate) == PRESTO_EINVAL && !d, "garbage file read: %s",
	      presto_error());
	snprintf(path, sizeof path, "%s/truncated.wav", dir);
	f = fopen(path, "wb");
	fwrite("RIFF\x24\x00\x00\x00WAVEfmt ", 1, 16, f);
	fclose(f);
	EXPECT(presto_audio_read(path, &d, &ch, &n, &rate) == PRESTO_EINVAL && !d, "truncated header read");
	snprintf(path, sizeof path, "%s/missing.wav", dir);
	EXPECT(presto_audio_read(path, &d, &ch, &n, &rate) == PRESTO_EIO && !d, "missing file read");
	EXPECT(presto_audio_read(dir, &d, &ch, &n, &rate) == PRESTO_EIO && !d, "directory read");
	EXPECT(presto_audio_subtype_parse("24", &ch) == 0 && ch == PRESTO_AUDIO_PCM24, "subtype 24");
	EXPECT(presto_audio_subtype_parse("8", &ch) == PRESTO_EINVAL, "subtype 8 accepted");
}

/* A child writes WAV into a pipe; we read it back through a temp file and
 * through presto_audio_read on /dev/fd of the read end. */
static void test_pipe(const char *dir)
{
	int fds[2];
	if (pipe(fds) < 0) {
		EXPECT(0, "pipe: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		int r = presto_audio_write_fd(fds[1], "wav", sine, C, N, RATE, PRESTO_AUDIO_PCM16);
		close(fds[1]);
		_exit(r ? 1 : 0);
	}
	close(fds[1]);
	char path[4096];
	snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
	float *d = NULL;
	int ch = 0, rate = 0, status = 0;
	int64_t n = 0;
	presto_status s = presto_audio_read(path, &d, &ch, &n, &rate);
	close(fds[0]);
	waitpid(pid, &status, 0);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pipe writer failed");
	EXPECT(!s, "reading the pipe: %s", presto_error());
	if (!s) {
		EXPECT(ch == C && n == N && rate == RATE, "pipe: got %d ch, %lld frames", ch, (long long)n);
		if (ch == C && n == N)
			EXPECT(max_diff(d, sine, (size_t)C * N) <= 1.5 / 32768, "pipe: values differ");
		free(d);
	}
	(void)dir;
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

int main(void)
{
	char dir[] = "/tmp/presto-test-audio-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	make_sine();
	/* libsndfile writes PCM as x * 32767 and reads it back / 32768 */
	round_trip(dir, "sine.wav", PRESTO_AUDIO_PCM16, 1.5 / 32768);
	round_trip(dir, "sine.flac", PRESTO_AUDIO_PCM16, 1.5 / 32768);
	round_trip(dir, "sine24.wav", PRESTO_AUDIO_PCM24, 1.5 / 8388608 + 1e-7);
	round_trip(dir, "sine24.FLAC", PRESTO_AUDIO_PCM24, 1.5 / 8388608 + 1e-7);
	round_trip(dir, "sinef.wav", PRESTO_AUDIO_FLOAT, 0);
	round_trip(dir, "sine.aiff", PRESTO_AUDIO_PCM16, 1.5 / 32768);
	round_trip(dir, "sine.wav", PRESTO_AUDIO_FLOAT, 0); /* overwrite an existing file */
	test_no_timestamp(dir);
	test_clipping(dir);
	test_errors(dir);
	test_pipe(dir);
	remove_tree(dir);
	return check_status();
}

/* test_safetensors.c - the tensor lists that exports and imports gather
 * before writing one .safetensors file (formats/safetensors.c): names with
 * prefixes, conversion of fp32 to f16/bf16, borrowed tensors, the f16 range
 * check, and the file read back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"

#include "check.h"
#include "testrand.h"

TEST_RAND_SEED(0x5deece66dull);

static void test_roundtrip(const char *dir)
{
	presto_st_list l = {0};
	int64_t s1[2] = {3, 5}, s2[1] = {7};
	float *a = vec(15, 2.0f), b[7], c[4] = {1, -2, 3.5f, 1e-3f};
	for (int i = 0; i < 7; i++)
		b[i] = (float)i * 0.25f - 1;
	presto_status st = presto_st_list_add_f32(&l, "model.", "a", 2, s1, a, PRESTO_F16);
	if (!st)
		st = presto_st_list_add_f32(&l, "", "b", 1, s2, b, PRESTO_BF16);
	int64_t s3[1] = {4};
	if (!st) /* borrowed: the list must not free it */
		st = presto_st_list_push(&l, "x.", "c", presto_tensor_wrap(PRESTO_F32, 1, s3, c));
	CHECK(!st && l.n == 3, "three tensors gathered (%s)", st ? presto_error() : "ok");
	CHECK(l.bytes == 15 * 2 + 7 * 2 + 4 * 4, "the list counts %zu data bytes (60 expected)", l.bytes);
	char path[4200];
	snprintf(path, sizeof path, "%s/list.safetensors", dir);
	static const char *const meta[] = {"k", "v"};
	st = presto_st_list_write(&l, path, 1, meta);
	presto_st_list_free(&l);
	CHECK(!st && l.n == 0 && l.names == NULL, "written and freed");
	CHECK(c[2] == 3.5f, "a borrowed tensor's memory is left alone");

	presto_st *f = NULL;
	st = presto_st_open(path, &f);
	CHECK(!st && presto_st_count(f) == 3, "read back: 3 tensors");
	if (st) {
		free(a);
		return;
	}
	const presto_tensor *ta = presto_st_get(f, "model.a"), *tb = presto_st_get(f, "b"), *tc = presto_st_get(f, "x.c");
	CHECK(ta && tb && tc, "names carry their prefixes");
	CHECK(ta && ta->dtype == PRESTO_F16 && ta->ndim == 2 && ta->shape[0] == 3 && ta->shape[1] == 5,
	      "model.a is F16 [3, 5]");
	CHECK(tb && tb->dtype == PRESTO_BF16, "b is BF16");
	double ea = 0, eb = 0, ec = 0;
	const float *fa, *fb, *fc;
	if (!presto_st_f32(f, "model.a", 2, s1, &fa))
		for (int i = 0; i < 15; i++)
			ea = fmax(ea, fabs(fa[i] - a[i]) / fmax(fabs(a[i]), 1e-3));
	else
		ea = 1;
	if (!presto_st_f32(f, "b", 1, s2, &fb))
		for (int i = 0; i < 7; i++)
			eb = fmax(eb, fabs(fb[i] - b[i]));
	else
		eb = 1;
	if (!presto_st_f32(f, "x.c", 1, s3, &fc))
		for (int i = 0; i < 4; i++)
			ec = fmax(ec, fabs(fc[i] - c[i]));
	else
		ec = 1;
	CHECK(ea < 1e-3, "f16 values within half precision (rel err %.1e)", ea);
	CHECK(eb == 0, "bf16 values exact for short binary fractions (err %.1e)", eb);
	CHECK(ec == 0, "f32 values exact (err %.1e)", ec);
	const char *m = presto_st_metadata(f, "k");
	CHECK(m && !strcmp(m, "v"), "metadata kept");
	presto_st_close(f);
	free(a);
}

static void test_f16_range(const char *dir)
{
	presto_st_list l = {0};
	int64_t s[1] = {3};
	float big[3] = {1, 70000.0f, 2}, inf[3] = {1, INFINITY, 2};
	presto_status st = presto_st_list_add_f32(&l, "p.", "w", 1, s, big, PRESTO_F16);
	const char *e = presto_error();
	CHECK(st == PRESTO_EINVAL && l.n == 0 && strstr(e, "p.w") && strstr(e, "f16"),
	      "70000 in f16 is refused, naming the tensor: %s", st ? e : "accepted");
	st = presto_st_list_add_f32(&l, "", "w", 1, s, big, PRESTO_BF16);
	CHECK(!st && l.n == 1, "the same values in bf16 are accepted");
	st = presto_st_list_add_f32(&l, "", "inf", 1, s, inf, PRESTO_F16);
	CHECK(!st && l.n == 2, "an infinity is stored as one (no range error)");
	presto_st_list_free(&l);
	/* an unwritable path: an error and no file */
	char path[4200];
	snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", dir);
	st = presto_st_list_write(&l, path, 0, NULL);
	CHECK(st != PRESTO_OK && access(path, F_OK) != 0, "an unwritable path is an error, no file");
}

int main(void)
{
	char dir[] = "/tmp/presto-st-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	test_roundtrip(dir);
	test_f16_range(dir);
	char cmd[4300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_safetensors: could not remove %s\n", dir);
	return check_status();
}

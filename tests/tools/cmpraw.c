/* cmpraw.c - compare two raw little-endian float32 files (mutstream dump
 * output) for the CLI tests:
 *
 *   cmpraw A B TOL
 *
 * prints max |a - b| / max |a| and exits 0 when the sizes match, every value
 * of B is finite and the error is at most TOL; 1 otherwise, 2 on I/O error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static float *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	size_t cap = 1024, len = 0;
	float *v = malloc(sizeof(float) * cap);
	size_t got;
	while (v && (got = fread(v + len, sizeof(float), cap - len, f)) > 0) {
		len += got;
		if (len == cap)
			v = realloc(v, sizeof(float) * (cap *= 2));
	}
	fclose(f);
	if (!v)
		exit(2);
	*n = len;
	return v;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: cmpraw A B TOL\n");
		return 2;
	}
	size_t na, nb;
	float *a = slurp(argv[1], &na), *b = slurp(argv[2], &nb);
	double tol = atof(argv[3]), err = 0, mx = 0;
	size_t bad = 0;
	if (na != nb) {
		printf("sizes differ: %zu and %zu floats\n", na, nb);
		return 1;
	}
	for (size_t i = 0; i < na; i++) {
		bad += !isfinite(b[i]);
		err = fmax(err, fabs((double)a[i] - b[i]));
		mx = fmax(mx, fabs((double)a[i]));
	}
	double rel = err / (mx > 0 ? mx : 1);
	printf("%zu floats, normalised error %.3g%s\n", na, rel, bad ? ", non-finite values" : "");
	return bad || !(rel <= tol);
}

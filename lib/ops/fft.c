/* fft.c - real FFT of a power-of-two length (see ops.h): a radix-2
 * decimation-in-time complex FFT of n/2 points on the even/odd samples packed
 * as complex numbers, then the split into the n/2 + 1 bins of the real
 * signal. The backward (the transposed real DFT) runs the same steps in
 * reverse: the half spectrum of the gradient is made Hermitian, merged into
 * n/2 complex points and sent through the inverse complex FFT. Arithmetic,
 * twiddles and scratch in double; inputs and outputs float. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"

struct presto_rfft {
	int n, m;     /* n real points, m = n / 2 complex points */
	int *rev;     /* [m] bit reversal of log2(m) bits */
	double *tw;   /* [2 (m - 1)]: stage of half-size h at 2 (h - 1): e^{-i pi j / h}, j < h */
	double *sw;   /* [2 (m + 1)]: e^{-2 pi i k / n}, k = 0 .. m */
	double *z;    /* [2 m] scratch */
};

/* cos and sin of 2 pi k / n in double, k reduced to [0, n) exactly. */
static void angle(long k, long n, double *c, double *s)
{
	k %= n;
	if (k < 0)
		k += n;
	double a = 6.283185307179586 * (double)k / (double)n;
	*c = cos(a);
	*s = sin(a);
	if (4 * k == n || 4 * k == 3 * n) /* exact zeros at the quarter turns */
		*c = 0;
	if (2 * k == n || k == 0)
		*s = 0;
}

presto_status presto_rfft_new(int n, presto_rfft **out)
{
	*out = NULL;
	if (n < 2 || n > (1 << 24) || (n & (n - 1)))
		return presto_error_set(PRESTO_EINVAL, "rfft: length %d is not a power of two in [2, 2^24]", n);
	presto_rfft *p = presto_calloc(1, sizeof *p);
	if (!p)
		return PRESTO_ENOMEM;
	int m = n / 2, bits = 0;
	while ((1 << bits) < m)
		bits++;
	p->n = n;
	p->m = m;
	p->rev = presto_calloc((size_t)m, sizeof *p->rev);
	p->tw = presto_calloc(m > 1 ? (size_t)2 * (size_t)(m - 1) : 1, sizeof(double));
	p->sw = presto_calloc((size_t)2 * (size_t)(m + 1), sizeof(double));
	p->z = presto_calloc((size_t)2 * (size_t)m, sizeof(double));
	if (!p->rev || !p->tw || !p->sw || !p->z) {
		presto_rfft_free(p);
		return PRESTO_ENOMEM;
	}
	for (int i = 0; i < m; i++) {
		int r = 0;
		for (int b = 0; b < bits; b++)
			r |= ((i >> b) & 1) << (bits - 1 - b);
		p->rev[i] = r;
	}
	for (int h = 1; h < m; h <<= 1)
		for (int j = 0; j < h; j++) {
			double c, s;
			angle(j, 2 * h, &c, &s);
			p->tw[2 * (h - 1 + j)] = c;
			p->tw[2 * (h - 1 + j) + 1] = -s;
		}
	for (int k = 0; k <= m; k++) {
		double c, s;
		angle(k, n, &c, &s);
		p->sw[2 * k] = c;
		p->sw[2 * k + 1] = -s;
	}
	*out = p;
	return PRESTO_OK;
}

void presto_rfft_free(presto_rfft *p)
{
	if (!p)
		return;
	free(p->rev);
	free(p->tw);
	free(p->sw);
	free(p->z);
	free(p);
}

int presto_rfft_size(const presto_rfft *p) { return p->n; }

/* In-place complex FFT of m points already in bit-reversed order; inv: the
 * conjugate twiddles (unnormalised inverse). */
static void cfft(double *z, int m, const double *tw, int inv)
{
	/* the first two stages have trivial twiddles (1; 1 and -+i) */
	if (m >= 2)
		for (int s = 0; s < m; s += 2) {
			double *a = z + 2 * s, *b = a + 2;
			double ar = a[0], ai = a[1], br = b[0], bi = b[1];
			a[0] = ar + br;
			a[1] = ai + bi;
			b[0] = ar - br;
			b[1] = ai - bi;
		}
	if (m >= 4)
		for (int s = 0; s < m; s += 4) {
			double *q = z + 2 * s;
			double r0 = q[0], i0 = q[1], r1 = q[2], i1 = q[3], r2 = q[4], i2 = q[5], r3 = q[6], i3 = q[7];
			/* j = 0: twiddle 1; j = 1: twiddle -i (forward) or +i (inverse) */
			double tr = inv ? -i3 : i3, ti = inv ? r3 : -r3;
			q[0] = r0 + r2;
			q[1] = i0 + i2;
			q[4] = r0 - r2;
			q[5] = i0 - i2;
			q[2] = r1 + tr;
			q[3] = i1 + ti;
			q[6] = r1 - tr;
			q[7] = i1 - ti;
		}
	double sg = inv ? -1.0 : 1.0;
	for (int h = 4; h < m; h <<= 1) {
		const double *t = tw + 2 * (h - 1);
		for (int s = 0; s < m; s += 2 * h) {
			double *a = z + 2 * s, *b = a + 2 * h;
			for (int j = 0; j < h; j++) {
				double wr = t[2 * j], wi = sg * t[2 * j + 1];
				double br = b[2 * j] * wr - b[2 * j + 1] * wi, bi = b[2 * j] * wi + b[2 * j + 1] * wr;
				double ar = a[2 * j], ai = a[2 * j + 1];
				a[2 * j] = ar + br;
				a[2 * j + 1] = ai + bi;
				b[2 * j] = ar - br;
				b[2 * j + 1] = ai - bi;
			}
		}
	}
}

void presto_rfft_forward(presto_rfft *p, float *re, float *im, const float *x, const float *w)
{
	int m = p->m;
	double *z = p->z;
	const int *rev = p->rev;
	/* z[m] = x[2m] + i x[2m+1] (windowed), stored bit-reversed */
	for (int j = 0; j < m; j++) {
		int i = 2 * rev[j];
		if (w) {
			z[2 * j] = (double)x[i] * w[i];
			z[2 * j + 1] = (double)x[i + 1] * w[i + 1];
		} else {
			z[2 * j] = x[i];
			z[2 * j + 1] = x[i + 1];
		}
	}
	cfft(z, m, p->tw, 0);
	/* E[k] = (Z[k] + conj Z[m-k]) / 2 (even samples), O[k] = (Z[k] - conj
	 * Z[m-k]) / 2i (odd samples), X[k] = E[k] + e^{-2 pi i k / n} O[k] */
	re[0] = (float)(z[0] + z[1]);
	im[0] = 0.0f;
	re[m] = (float)(z[0] - z[1]);
	im[m] = 0.0f;
	const double *sw = p->sw;
	for (int k = 1; k < m; k++) {
		double zr = z[2 * k], zi = z[2 * k + 1], cr = z[2 * (m - k)], ci = -z[2 * (m - k) + 1];
		double er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
		double orr = 0.5 * (zi - ci), oi = -0.5 * (zr - cr);
		double wr = sw[2 * k], wi = sw[2 * k + 1];
		re[k] = (float)(er + wr * orr - wi * oi);
		im[k] = (float)(ei + wr * oi + wi * orr);
	}
}

void presto_rfft_backward(presto_rfft *p, float *dx, const float *dre, const float *dim, const float *w)
{
	int m = p->m;
	double *z = p->z;
	const int *rev = p->rev;
	const double *sw = p->sw;
	/* dx[t] += w[t] sum_{k<=m} (dre[k] cos(2 pi k t / n) - dim[k] sin(2 pi k t / n))
	 *        = w[t] sum_{k<n} H[k] e^{+2 pi i k t / n} with the Hermitian H:
	 * H[0] = dre[0], H[m] = dre[m] (the imaginary parts of the DC and Nyquist
	 * bins do not reach the signal), H[k] = (dre[k] + i dim[k]) / 2 else.
	 * Its even and odd halves merge into Z[k] = (H[k] + conj H[m-k]) +
	 * i e^{+2 pi i k / n} (H[k] - conj H[m-k]), k < m, whose unnormalised
	 * inverse FFT holds the result (even samples real, odd imaginary). */
	for (int k = 0; k < m; k++) {
		double hr, hi, cr, ci;
		if (k == 0) {
			hr = dre[0];
			hi = 0.0;
			cr = dre[m];
			ci = 0.0;
		} else {
			hr = 0.5 * dre[k];
			hi = 0.5 * dim[k];
			cr = 0.5 * dre[m - k];
			ci = -0.5 * dim[m - k];
		}
		double sr = hr + cr, si = hi + ci, dr = hr - cr, di = hi - ci;
		double wr = sw[2 * k], wi = -sw[2 * k + 1]; /* e^{+2 pi i k / n} */
		double tr = wr * dr - wi * di, ti = wr * di + wi * dr;
		int j = rev[k];
		z[2 * j] = sr - ti;
		z[2 * j + 1] = si + tr;
	}
	cfft(z, m, p->tw, 1);
	for (int j = 0; j < m; j++) {
		if (w) {
			dx[2 * j] += (float)(w[2 * j] * z[2 * j]);
			dx[2 * j + 1] += (float)(w[2 * j + 1] * z[2 * j + 1]);
		} else {
			dx[2 * j] += (float)z[2 * j];
			dx[2 * j + 1] += (float)z[2 * j + 1];
		}
	}
}

/* rope.c - partial rotary position embedding (NeoX rotate_half). */
#include <math.h>

#include "ops.h"

void presto_rope_forward(float *x, int T, int H, int Dh, int stride, int rot_dim, const float *inv_freq, int pos0)
{
	int half = rot_dim / 2;
#pragma omp parallel for schedule(static) if ((size_t)T * H * Dh > 65536)
	for (int t = 0; t < T; t++) {
		float pos = (float)(pos0 + t);
		for (int j = 0; j < half; j++) {
			float ang = pos * inv_freq[j];
			float c = cosf(ang), s = sinf(ang);
			for (int h = 0; h < H; h++) {
				float *xh = x + (size_t)t * stride + (size_t)h * Dh;
				float a = xh[j], b = xh[j + half];
				xh[j] = a * c - b * s;
				xh[j + half] = b * c + a * s;
			}
		}
	}
}

void presto_rope_backward(float *dx, int T, int H, int Dh, int stride, int rot_dim, const float *inv_freq, int pos0)
{
	int half = rot_dim / 2;
	for (int t = 0; t < T; t++) {
		float pos = (float)(pos0 + t);
		for (int j = 0; j < half; j++) {
			float ang = pos * inv_freq[j];
			float c = cosf(ang), s = sinf(ang);
			for (int h = 0; h < H; h++) {
				float *g = dx + (size_t)t * stride + (size_t)h * Dh;
				float a = g[j], b = g[j + half];
				/* the transpose of the rotation: the rotation by -angle */
				g[j] = a * c + b * s;
				g[j + half] = b * c - a * s;
			}
		}
	}
}

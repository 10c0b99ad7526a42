/* attention.c - multi-head attention with grouped-query heads (fp32 softmax). */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

void presto_attention_forward(float *o, const float *q, const float *k, const float *v, int B, int Tq, int Tk, int H,
			      int KVH, int Dh, int qs, int ks, int vs, float scale, const float *bias,
			      const float *key_mask)
{
	int group = H / KVH;
	float *s = malloc(sizeof(float) * (size_t)Tq * (size_t)(Tk > 0 ? Tk : 1));
	if (!s)
		abort(); /* scratch of Tq*Tk floats; sizes are bounded by the model */
	for (int b = 0; b < B; b++) {
		for (int h = 0; h < H; h++) {
			const float *qb = q + (size_t)b * Tq * qs + (size_t)h * Dh;
			const float *kb = k + (size_t)b * Tk * ks + (size_t)(h / group) * Dh;
			const float *vb = v + (size_t)b * Tk * vs + (size_t)(h / group) * Dh;
			float *ob = o + (size_t)b * Tq * H * Dh + (size_t)h * Dh;
			/* s[Tq, Tk] = scale * q k^T */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, Dh, scale, qb, qs, kb, ks, 0.0f, s, Tk);
#pragma omp parallel for schedule(static) if ((size_t)Tq * Tk > 16384)
			for (int i = 0; i < Tq; i++) {
				float *row = s + (size_t)i * Tk;
				if (bias) {
					const float *br = bias + ((size_t)h * Tq + i) * Tk;
					for (int j = 0; j < Tk; j++)
						row[j] += br[j];
				}
				if (key_mask) {
					const float *m = key_mask + (size_t)b * Tk;
					for (int j = 0; j < Tk; j++)
						if (m[j] == 0.0f)
							row[j] += -FLT_MAX;
				}
				float mx = -INFINITY;
				for (int j = 0; j < Tk; j++)
					if (row[j] > mx)
						mx = row[j];
				double sum = 0;
				for (int j = 0; j < Tk; j++) {
					row[j] = expf(row[j] - mx);
					sum += row[j];
				}
				float inv = (float)(1.0 / sum);
				for (int j = 0; j < Tk; j++)
					row[j] *= inv;
			}
			/* o[Tq, Dh] = p[Tq, Tk] v[Tk, Dh] */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, Dh, Tk, 1.0f, s, Tk, vb, vs, 0.0f, ob,
				    H * Dh);
		}
	}
	free(s);
}

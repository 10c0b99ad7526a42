/* randparams.h - random weights of the reference scales for a parameter
 * table (after testrand.h): matrices N(0, 1/fan_in), norm weights
 * 1 + N(0, 0.2^2), biases and Fourier frequencies N(0, 0.2^2); the rotary
 * frequencies stay at their defaults. */
#ifndef PRESTO_RANDPARAMS_H
#define PRESTO_RANDPARAMS_H

#include <math.h>
#include <string.h>

#include "params.h"

static void randomize_params(presto_params *ps)
{
	for (int i = 0; i < ps->n; i++) {
		presto_param_info *pi = &ps->p[i];
		float *d = ps->data + pi->offset;
		if (strstr(pi->name, "inv_freq"))
			continue;
		double fan = pi->ndim >= 2 ? (double)pi->shape[1] * (pi->ndim == 3 ? (double)pi->shape[2] : 1.0) : 0;
		int one = pi->ndim == 1 && (strstr(pi->name, ".gamma") || strstr(pi->name, "_norm.weight"));
		for (size_t j = 0; j < pi->numel; j++) {
			float z = randn();
			d[j] = fan > 0 ? z / (float)sqrt(fan) : one ? 1.0f + 0.2f * z : 0.2f * z;
		}
	}
}

#endif

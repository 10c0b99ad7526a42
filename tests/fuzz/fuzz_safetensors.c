/* fuzz_safetensors.c - libFuzzer target for the safetensors reader: parses
 * the input from memory, then reads every tensor as fp32 with its own shape
 * and a wrong one, and the metadata. Built by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdlib.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	presto_st *st;
	if (presto_st_open_buffer(data, size, "fuzz", &st))
		return 0;
	volatile float sink = 0;
	for (int i = 0; i < presto_st_count(st); i++) {
		const char *name = presto_st_name(st, i);
		const presto_tensor *t = presto_st_get(st, name);
		const float *f;
		if (!t)
			abort(); /* a listed name must be found */
		if (!presto_st_f32(st, name, t->ndim, t->shape, &f) && presto_tensor_numel(t))
			sink += f[0] + f[presto_tensor_numel(t) - 1];
		int64_t wrong[1] = {-1};
		if (!presto_st_f32(st, name, 1, wrong, &f))
			abort(); /* no tensor has a negative dim */
	}
	presto_st_metadata(st, "format");
	presto_st_close(st);
	(void)sink;
	return 0;
}

/* cuda_bf16.h (presto's CUDA emulator): bfloat16 storage and the explicit
 * conversions (round to nearest even), as kernels/ uses them. */
#ifndef PRESTO_EMU_CUDA_BF16_H
#define PRESTO_EMU_CUDA_BF16_H

#include <stdint.h>
#include <string.h>

typedef struct __nv_bfloat16 {
	uint16_t x;
} __nv_bfloat16;

static inline float __bfloat162float(__nv_bfloat16 h)
{
	uint32_t u = (uint32_t)h.x << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static inline __nv_bfloat16 __float2bfloat16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	__nv_bfloat16 h;
	if ((u & 0x7fffffffu) > 0x7f800000u) {
		h.x = (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
		return h;
	}
	u += 0x7fffu + ((u >> 16) & 1);
	h.x = (uint16_t)(u >> 16);
	return h;
}

static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.x; }
static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u)
{
	__nv_bfloat16 h;
	h.x = u;
	return h;
}

#endif

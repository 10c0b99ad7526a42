/* libfakecuda.c - a stand-in for the NVIDIA driver library (libcuda.so.1)
 * with the few driver-API calls presto's device probe makes (lib/device.c),
 * so that `presto-info --devices` can be tested where there is no GPU:
 * PRESTO_LIBCUDA=build/tests/libfakecuda.so. $FAKECUDA picks what it
 * reports: "2" (default) two devices, "0" no device (cuInit fails with
 * CUDA_ERROR_NO_DEVICE), "fail" a device query error on the second device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *mode(void)
{
	const char *m = getenv("FAKECUDA");
	return m && *m ? m : "2";
}

int cuInit(unsigned flags)
{
	(void)flags;
	return strcmp(mode(), "0") ? 0 : 100; /* CUDA_ERROR_NO_DEVICE */
}

int cuDriverGetVersion(int *v)
{
	*v = 13000;
	return 0;
}

int cuDeviceGetCount(int *n)
{
	*n = 2;
	return 0;
}

int cuDeviceGet(int *d, int i)
{
	*d = i;
	return 0;
}

int cuDeviceGetName(char *name, int len, int d)
{
	if (!strcmp(mode(), "fail") && d == 1)
		return 999; /* CUDA_ERROR_UNKNOWN */
	snprintf(name, (size_t)len, "Fake GPU %d", d);
	return 0;
}

int cuDeviceTotalMem_v2(size_t *bytes, int d)
{
	*bytes = (size_t)(d + 2) << 30;
	return 0;
}

int cuDeviceGetAttribute(int *v, int attr, int d)
{
	(void)d;
	switch (attr) {
	case 16: *v = 132; return 0; /* multiprocessors */
	case 75: *v = 9; return 0;   /* compute capability major */
	case 76: *v = 0; return 0;   /* minor */
	default: return 1;           /* CUDA_ERROR_INVALID_VALUE */
	}
}

int cuGetErrorString(int r, const char **s)
{
	*s = r == 999 ? "unknown error" : r == 100 ? "no CUDA-capable device is detected" : NULL;
	return *s ? 0 : 1;
}

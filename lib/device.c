/* device.c - the CUDA device probe (see device.h): the driver API's
 * cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGet,
 * cuDeviceGetName, cuDeviceTotalMem_v2 and cuDeviceGetAttribute, looked up
 * with dlsym in libcuda.so.1. */
#include "device.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the driver API's types and constants, as its header declares them */
typedef int cu_result;
typedef int cu_device;
#define CU_SUCCESS 0
#define CU_ERROR_NO_DEVICE 100
#define CU_ATTR_MULTIPROCESSORS 16
#define CU_ATTR_CC_MAJOR 75
#define CU_ATTR_CC_MINOR 76

typedef struct {
	cu_result (*init)(unsigned);
	cu_result (*driver_version)(int *);
	cu_result (*count)(int *);
	cu_result (*get)(cu_device *, int);
	cu_result (*name)(char *, int, cu_device);
	cu_result (*mem)(size_t *, cu_device);
	cu_result (*attr)(int *, int, cu_device);
	cu_result (*error_string)(cu_result, const char **);
} cu_api;

static int load(void *h, cu_api *a)
{
	/* dlsym returns object pointers; POSIX guarantees they convert */
#define SYM(field, name) *(void **)&a->field = dlsym(h, name)
	SYM(init, "cuInit");
	SYM(driver_version, "cuDriverGetVersion");
	SYM(count, "cuDeviceGetCount");
	SYM(get, "cuDeviceGet");
	SYM(name, "cuDeviceGetName");
	SYM(mem, "cuDeviceTotalMem_v2");
	SYM(attr, "cuDeviceGetAttribute");
	SYM(error_string, "cuGetErrorString");
#undef SYM
	return a->init && a->driver_version && a->count && a->get && a->name && a->mem && a->attr;
}

static void say(presto_gpu_list *l, const cu_api *a, const char *what, cu_result r)
{
	const char *s = NULL;
	if (a->error_string)
		a->error_string(r, &s);
	if (!s && r == 34) /* CUDA_ERROR_STUB_LIBRARY */
		s = "a stub library: no driver installed";
	snprintf(l->reason, sizeof l->reason, "%s: CUDA error %d%s%s", what, r, s ? ", " : "", s ? s : "");
}

void presto_gpu_probe(presto_gpu_list *l)
{
	memset(l, 0, sizeof *l);
	const char *lib = getenv("PRESTO_LIBCUDA");
	if (!lib || !*lib)
		lib = "libcuda.so.1";
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(l->reason, sizeof l->reason, "no NVIDIA driver (%s cannot be loaded)", lib);
		return;
	}
	cu_api a = {0};
	cu_result r;
	int n = 0;
	if (!load(h, &a)) {
		snprintf(l->reason, sizeof l->reason, "%s lacks the CUDA driver API", lib);
		dlclose(h);
		return;
	}
	a.driver_version(&l->driver_version);
	if ((r = a.init(0)) == CU_SUCCESS)
		r = a.count(&n);
	if (r != CU_SUCCESS && r != CU_ERROR_NO_DEVICE)
		say(l, &a, "driver initialisation", r);
	else if (n == 0)
		snprintf(l->reason, sizeof l->reason, "the driver finds no device");
	for (int i = 0; i < n && l->count < PRESTO_MAX_GPUS; i++) {
		cu_device d;
		presto_gpu *g = &l->gpu[l->count];
		if ((r = a.get(&d, i)) != CU_SUCCESS || (r = a.name(g->name, sizeof g->name, d)) != CU_SUCCESS ||
		    (r = a.mem(&g->memory, d)) != CU_SUCCESS ||
		    (r = a.attr(&g->major, CU_ATTR_CC_MAJOR, d)) != CU_SUCCESS ||
		    (r = a.attr(&g->minor, CU_ATTR_CC_MINOR, d)) != CU_SUCCESS ||
		    (r = a.attr(&g->multiprocessors, CU_ATTR_MULTIPROCESSORS, d)) != CU_SUCCESS) {
			char what[32];
			snprintf(what, sizeof what, "cuda:%d", i);
			say(l, &a, what, r);
			break;
		}
		l->count++;
	}
	dlclose(h);
}

/* device.h - which compute devices this machine has, without linking CUDA.
 *
 * The probe loads the NVIDIA driver library (libcuda.so.1) with dlopen only
 * when asked, so a tool that never probes never touches CUDA, and a machine
 * without a driver or a GPU is an ordinary answer (zero devices and the
 * reason), not an error. */
#ifndef PRESTO_DEVICE_H
#define PRESTO_DEVICE_H

#include <stddef.h>

#define PRESTO_MAX_GPUS 16

typedef struct {
	char name[128];
	size_t memory;         /* bytes */
	int major, minor;      /* compute capability */
	int multiprocessors;
} presto_gpu;

typedef struct {
	int count;             /* CUDA devices found (0: see reason) */
	int driver_version;    /* e.g. 13000 for 13.0; 0 without a driver */
	presto_gpu gpu[PRESTO_MAX_GPUS];
	char reason[256];      /* why count is 0, or the error that ended the
				  listing early ("" when all went well) */
} presto_gpu_list;

/* Fill *l. The library name may be overridden by $PRESTO_LIBCUDA (tests).
 * Always succeeds: with no driver, no device or a driver error, count is 0
 * and reason says which. */
void presto_gpu_probe(presto_gpu_list *l);

#endif

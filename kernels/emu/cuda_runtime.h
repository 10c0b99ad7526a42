/* cuda_runtime.h (presto's CUDA emulator): the runtime API and, in C++, the
 * device side (emu_device.h) so that kernels/ compiles with a C++ compiler. */
#ifndef PRESTO_EMU_CUDA_RUNTIME_H
#define PRESTO_EMU_CUDA_RUNTIME_H
#include "cuda_runtime_api.h"
#ifdef __cplusplus
#include "emu_device.h"
#endif
#endif

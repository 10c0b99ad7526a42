/* cuda_pipeline.h (emulated) - the asynchronous copies to shared memory of
 * CUDA's pipeline primitives. A copy is done only once a
 * __pipeline_wait_prior() covers its batch (or the thread exits), so a
 * kernel that reads its destination too early reads what was there before. */
#ifndef PRESTO_EMU_CUDA_PIPELINE_H
#define PRESTO_EMU_CUDA_PIPELINE_H

#include <stddef.h>

#include "emu_device.h"

namespace presto_emu {
void async_issue(void *dst, const void *src, size_t n);
void async_commit();
void async_wait_prior(size_t prior);
}  // namespace presto_emu

inline void __pipeline_memcpy_async(void *dst, const void *src, size_t size, size_t zfill = 0)
{
	if (zfill)
		presto_emu::fail("__pipeline_memcpy_async: zero fill is not emulated");
	presto_emu::async_issue(dst, src, size);
}
inline void __pipeline_commit() { presto_emu::async_commit(); }
inline void __pipeline_wait_prior(size_t prior) { presto_emu::async_wait_prior(prior); }

#endif

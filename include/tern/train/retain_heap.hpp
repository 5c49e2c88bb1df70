#pragma once
// retain_heap(): keep freed memory in the process between training steps.
//
// tern's layers return their results by value, so every training step allocates and frees the
// same activation-sized buffers (N x features floats: 0.5-1.5 MiB at the demo's sizes). With
// glibc's defaults such buffers come from mmap, or from a heap top that free() trims back to the
// kernel, and every step then pays page faults and zeroing of fresh pages on first touch: in
// bench_train this was ~10% of a fake-quantized step with the extra RMSNorm, against ~0% of
// the FP step (measured before bit_linear fused the norm with the activation quantizer).
//
// retain_heap() raises glibc's mmap threshold to its maximum (4 Mi x sizeof(long): 32 MiB on
// 64-bit) and, if that was accepted, disables heap trimming, so freed buffers are reused by the
// next step's allocations of the same sizes. The cost is that the process keeps its peak heap.
// It is a process-wide setting: call it once at the start of a training program (tern_demo and
// bench_train do); a library header never calls it on its own.
// Returns true when glibc accepted both settings. Returns false, changing nothing, outside glibc
// and under a malloc that rejects mallopt (AddressSanitizer's and ThreadSanitizer's do). A
// malloc replaced with LD_PRELOAD may accept mallopt and ignore it: true, and no effect.
#include <cstdlib>  // defines __GLIBC__ on glibc systems
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tern {

inline bool retain_heap() {
#if defined(__GLIBC__)
  if (mallopt(M_MMAP_THRESHOLD, int(4 * 1024 * 1024 * sizeof(long))) != 1) return false;
  return mallopt(M_TRIM_THRESHOLD, -1) == 1;  // -1: never trim
#else
  return false;
#endif
}

}  // namespace tern

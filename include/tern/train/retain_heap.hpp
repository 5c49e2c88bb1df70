#pragma once
// retain_heap(): keep freed memory in the process between training steps.
//
// tern's layers return their results by value, so every training step allocates and frees the
// same activation-sized buffers (N x features floats: 0.5-1.5 MiB at the demo's sizes). With
// glibc's defaults such buffers come from mmap, or from a heap top that free() trims back to the
// kernel, and every step then pays page faults and zeroing of fresh pages on first touch: in
// bench_train this was ~10% of a fake-quantized step with the extra RMSNorm (whose forward
// writes two such buffers per projection), against ~0% of the FP step.
//
// retain_heap() raises glibc's mmap threshold to its maximum (32 MiB on 64-bit) and disables
// heap trimming, so freed buffers are reused by the next step's allocations of the same sizes.
// The cost is that the process keeps its peak heap. It is a process-wide setting: call it
// once at the start of a training program (tern_demo, bench_train and the train_loop example
// do); a library header never calls it on its own. It returns false, and changes nothing,
// where it is not supported (not glibc), or if glibc rejects a setting.
#include <cstdlib>  // defines __GLIBC__ on glibc systems
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tern {

inline bool retain_heap() {
#if defined(__GLIBC__)
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, -1) == 1;  // -1: never trim
  return mmap_ok && trim_ok;
#else
  return false;
#endif
}

}  // namespace tern

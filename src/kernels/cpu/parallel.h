// Splitting a kernel's work over the session's threads: the same OpenMP
// pool (and thread count) oneDNN's primitives run on, so Kestrel's kernels
// and oneDNN's share the pinned workers. No allocation per call.
#pragma once

#include <cstdint>

namespace kestrel::cpu {

using RangeFunction = void (*)(const void* context, int thread, int64_t begin, int64_t end);

// The threads parallel_for uses now (OpenMP's current default).
int max_threads();

// Calls fn(context, thread, begin, end) on contiguous, disjoint pieces of
// [0, count) that cover it, one piece per thread (thread < max_pieces), and
// returns when all are done.
void parallel_for(int64_t count, RangeFunction fn, const void* context, int max_pieces);

}  // namespace kestrel::cpu

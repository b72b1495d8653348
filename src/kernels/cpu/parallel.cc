#include "kernels/cpu/parallel.h"

#include <omp.h>

#include <algorithm>

namespace kestrel::cpu {

int max_threads() { return omp_get_max_threads(); }

void parallel_for(int64_t count, RangeFunction fn, const void* context, int max_pieces) {
  if (count <= 0) return;
  const int threads = static_cast<int>(std::min<int64_t>({omp_get_max_threads(), count, max_pieces}));
  if (threads <= 1) {
    fn(context, 0, 0, count);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    // Outside a real region (a build without the pragma) this is thread 0 of 1.
    const int64_t thread = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t begin = count * thread / team, end = count * (thread + 1) / team;
    if (begin < end) fn(context, static_cast<int>(thread), begin, end);
  }
}

}  // namespace kestrel::cpu

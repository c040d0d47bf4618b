#include "core/parallel.h"

#include <omp.h>

#include <algorithm>

namespace tq {

int num_threads() { return omp_get_max_threads(); }

void set_num_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk) {
  if (n <= 0) return;
  const int64_t max_parts = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
  const int n_threads = static_cast<int>(std::min<int64_t>(num_threads(), max_parts));
  if (n_threads <= 1) {
    fn(0, n);
    return;
  }
#pragma omp parallel num_threads(n_threads)
  {
    const int64_t t = omp_get_thread_num();
    const int64_t nt = omp_get_num_threads();
    const int64_t begin = n * t / nt;
    const int64_t end = n * (t + 1) / nt;
    if (begin < end) fn(begin, end);
  }
}

}  // namespace tq

// Thread control. The runtime uses OpenMP (libgomp); these wrappers keep `#pragma omp` out of
// headers and let the CLI set one thread count for everything.
#pragma once

#include <cstdint>
#include <functional>

namespace tq {

// Number of worker threads used by parallel_for (default: hardware concurrency or OMP_NUM_THREADS).
int num_threads();
void set_num_threads(int n);

// Calls fn(begin, end) over [0, n) split into contiguous chunks, one per thread (static schedule).
// Runs inline when n is small or only one thread is configured. `min_chunk` avoids tiny chunks.
void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn,
                  int64_t min_chunk = 1);

}  // namespace tq

// A STREAM-like read kernel: the memory-bandwidth yardstick `tq bench` prints beside decode speed.
#pragma once

#include <cstdint>

namespace tq {

// Sums n floats with wide vector loads and several accumulators (the sum keeps the loads alive).
// Single-threaded; the caller splits the array over threads.
float stream_read_sum(const float* x, int64_t n);

}  // namespace tq

// A STREAM-like read kernel: the memory-bandwidth yardstick `tq bench` prints beside decode speed.
#pragma once

#include <cstdint>

namespace tq {

// Sums n floats with wide vector loads and several accumulators (the sum keeps the loads alive).
// Single-threaded; the caller splits the array over threads.
float stream_read_sum(const float* x, int64_t n);

// The same over arbitrary bytes (e.g. a model's mapped weights): the sum of the little-endian
// 32-bit words (modulo 2^32 within SIMD lanes), then of the n_bytes % 4 last bytes. Integer adds,
// so no floating-point special values slow it down. Reads exactly [p, p + n_bytes).
uint64_t stream_read_sum_bytes(const uint8_t* p, int64_t n_bytes);

}  // namespace tq

// Matmul kernels on real model shapes: GB/s of weights streamed (decode) and GFLOP/s (prefill).
// Usage: build/release/bin/bench_matmul [--benchmark_filter=...]; threads from OMP_NUM_THREADS.
#include <benchmark/benchmark.h>

#include <vector>

#include "core/half.h"
#include "core/rng.h"
#include "formats/format.h"
#include "kernels/matmul.h"
#include "kernels/stream.h"

namespace tq {
namespace {

void BM_Matmul(benchmark::State& state, TypeId type, int64_t rows, int64_t cols) {
  const int64_t tokens = state.range(0);
  const size_t rb = *row_bytes(type, cols);
  std::vector<uint8_t> w(rb * rows);
  Rng rng(1);
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = static_cast<float>(rng.normal() * 0.02);
    find_format(type)->from_float(row.data(), w.data() + r * rb, cols);
  }
  std::vector<float> x(tokens * cols, 0.5f), y(tokens * rows);
  WeightView view{type, rows, cols, w.data(), rb};
  for (auto _ : state) {
    matmul(view, x.data(), tokens, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(rb * rows),
                                              benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * rows * cols * tokens * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// The memory-read yardstick: GB/s of a plain vector sum over 512 MiB (single thread).
void BM_StreamRead(benchmark::State& state) {
  const int64_t n = int64_t{128} << 20;
  std::vector<float> buf(n);  // distinct values per page (identical pages may be merged by the host)
  for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<float>(i % 1000003);
  for (auto _ : state) benchmark::DoNotOptimize(stream_read_sum(buf.data(), n));
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(n * 4), benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_StreamRead)->UseRealTime();

// Llama-3.2-1B shapes: ffn_up [8192, 2048], ffn_down [2048, 8192], output [128256, 2048].
BENCHMARK_CAPTURE(BM_Matmul, bf16_ffn_up, TypeId::bf16, 8192, 2048)->Arg(1)->Arg(64)->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, bf16_ffn_down, TypeId::bf16, 2048, 8192)
    ->Arg(1)
    ->Arg(64)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, f16_ffn_up, TypeId::f16, 8192, 2048)->Arg(1)->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, f32_ffn_up, TypeId::f32, 8192, 2048)->Arg(1)->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, bf16_output, TypeId::bf16, 128256, 2048)->Arg(1)->UseRealTime();

}  // namespace
}  // namespace tq

BENCHMARK_MAIN();

// Single-token decode attention over a filled KV cache (Llama-3-8B head layout: 32 query heads,
// 8 KV heads, head_dim 128), one layer, by context length and KV type: GB/s of cache read.
// Usage: build/release/bin/bench_attention [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <vector>

#include "core/rng.h"
#include "runtime/kv_cache.h"

namespace tq {
namespace {

void BM_DecodeAttention(benchmark::State& state, const char* type) {
  const int64_t n_ctx = state.range(0);
  const KvCacheShape shape{1, n_ctx, 32, 8, 128};
  KvCacheConfig cfg;
  cfg.k_type = cfg.v_type = type;
  auto kv = make_kv_cache(shape, cfg);
  if (!kv.ok()) {
    state.SkipWithError(kv.status().to_string().c_str());
    return;
  }
  Rng rng(1);
  const int64_t kvd = 8 * 128, chunk = 1024;
  std::vector<float> k(chunk * kvd), v(chunk * kvd);
  for (int64_t p = 0; p < n_ctx; p += chunk) {
    for (auto& x : k) x = static_cast<float>(rng.normal());
    for (auto& x : v) x = static_cast<float>(rng.normal());
    (*kv)->append(0, p, std::min(chunk, n_ctx - p), k.data(), v.data());
  }
  std::vector<float> q(32 * 128), out(32 * 128);
  for (auto& x : q) x = static_cast<float>(rng.normal());
  for (auto _ : state) {
    (*kv)->attend(0, q.data(), 1, n_ctx - 1, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter((*kv)->bytes_per_token() * static_cast<double>(n_ctx),
                                              benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

BENCHMARK_CAPTURE(BM_DecodeAttention, f16, "f16")
    ->Arg(1024)
    ->Arg(4096)
    ->Arg(16384)
    ->Arg(32768)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeAttention, f32, "f32")->Arg(4096)->UseRealTime();

}  // namespace
}  // namespace tq

BENCHMARK_MAIN();

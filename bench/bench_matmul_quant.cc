// Per-format GEMV / GEMM speed of the quantized kernels (kernels/matmul_quant.h) against bf16, on
// Llama-3.2-1B shapes and on the 229,376 × 4,096 GEMV quoted for llama.cpp's ggml vec_dot (bf16
// 31.3 ms, q4_K 15.4 ms, iq4_xs 18.6 ms on this 2-core machine, two threads; issue 4).
//
// Counters: GB/s = weight bytes read per second; GMAC/s = multiply-adds per second; bound_GB/s =
// the read bandwidth of the same weight buffer (integer sum over it, best of 3, same threads);
// pct_bound = GB/s / bound_GB/s. Every GEMV reads more weights than the 32 MB L3 holds (a stack of
// distinct matrices is cycled), so decode numbers are DRAM numbers. Weights are random codes and
// scales (speed does not depend on the values), so no quantizer runs during set-up.
// Usage: build/release/bin/bench_matmul_quant [--benchmark_filter=tq4] ; threads from
// OMP_NUM_THREADS (default: all cores).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "formats/format.h"
#include "formats/ggml_int.h"
#include "formats/quant_baselines.h"
#include "formats/tq_weight.h"
#include "kernels/matmul.h"
#include "kernels/stream.h"

namespace tq {
namespace {

// Random but valid weights of `type`: codes uniform, scales ~0.02 (f16), bf16 values ~N(0, 0.02).
void fill_random(TypeId type, int64_t rows, int64_t cols, uint8_t* w, Rng& rng) {
  const size_t rb = *row_bytes(type, cols);
  const size_t total = rb * rows;
  for (size_t i = 0; i + 8 <= total; i += 8) {
    const uint64_t v = rng.next_u64();
    std::memcpy(w + i, &v, 8);
  }
  const uint16_t scale = f32_to_f16(0.02f);
  if (type == TypeId::bf16) {
    auto* p = reinterpret_cast<uint16_t*>(w);
    for (size_t i = 0; i < total / 2; ++i) p[i] = f32_to_bf16(static_cast<float>(rng.normal() * 0.02));
  } else if (const TqWeightSpec* s = find_tq_weight(type)) {
    // Fractional: the first half of the slots are b+1-bit blocks, the rest b-bit ones.
    const int64_t n_groups = cols / s->group, n_wide = s->fractional() ? n_groups / 2 : 0;
    const int64_t gb_hi = tq_group_bytes(s->bits_hi, s->group), gb = tq_group_bytes(s->bits, s->group);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < n_groups; ++j) {
        const int64_t off = j < n_wide ? j * gb_hi : n_wide * gb_hi + (j - n_wide) * gb;
        std::memcpy(w + r * rb + off, &scale, 2);
      }
  } else if (type == kTypeRtn4) {
    const uint16_t m = f32_to_f16(-0.15f);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t g = 0; g < cols / kRtn4Group; ++g) {
        std::memcpy(w + r * rb + g * sizeof(Rtn4Block), &scale, 2);
        std::memcpy(w + r * rb + g * sizeof(Rtn4Block) + 2, &m, 2);
      }
  } else if (is_ggml_int_type(type)) {  // random codes and sub-block scales, f16 fields ~2^-7
    const int64_t bb = find_format(type)->block_bytes;
    const uint16_t h = f32_to_f16(is_ggml_kquant(type) ? 0.001f : 0.01f);
    for (size_t off = 0; off < total; off += static_cast<size_t>(bb))
      for (int field : ggml_f16_field_offsets(type)) std::memcpy(w + off + field, &h, 2);
  } else if (type == kTypeQ8) {
    const float d = 0.02f / 127;
    for (int64_t r = 0; r < rows; ++r) std::memcpy(w + r * rb, &d, 4);
  }
}

// Read bandwidth of [p, p + n) with the configured threads: best of 3 passes, GB/s.
double read_bandwidth(const uint8_t* p, int64_t n) {
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t chunk = int64_t{1} << 20;
    std::vector<uint64_t> sums(static_cast<size_t>(num_threads()), 0);
    parallel_for((n + chunk - 1) / chunk, [&](int64_t c0, int64_t c1) {
      const int64_t b = c0 * chunk, e = std::min(n, c1 * chunk);
      benchmark::DoNotOptimize(stream_read_sum_bytes(p + b, e - b));
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n) / s * 1e-9);
  }
  return best;
}

// GEMV (tokens = 1) or GEMM over `copies` distinct [rows, cols] matrices, cycled.
void BM_Quant(benchmark::State& state, TypeId type, int64_t rows, int64_t cols, int copies) {
  const int64_t tokens = state.range(0);
  const size_t rb = *row_bytes(type, cols);
  const size_t mat_bytes = rb * rows;
  std::vector<uint8_t> w(mat_bytes * copies);
  Rng rng(1);
  for (int c = 0; c < copies; ++c) fill_random(type, rows, cols, w.data() + c * mat_bytes, rng);
  std::vector<float> x(tokens * cols), y(tokens * rows);
  for (auto& v : x) v = static_cast<float>(rng.normal());
  // Fractional formats: every other input group wide (a scattered map, as calibrated maps are).
  TqGroupMap map;
  const TqWeightSpec* spec = find_tq_weight(type);
  if (spec && spec->fractional()) {
    std::vector<uint8_t> wide(static_cast<size_t>(cols / spec->group));
    for (size_t g = 0; g < wide.size(); ++g) wide[g] = g % 2 == 0;
    map = *tq_group_map(wide);
  }
  std::vector<WeightView> views;
  for (int c = 0; c < copies; ++c) {
    views.push_back({type, rows, cols, w.data() + c * mat_bytes, rb});
    if (spec && spec->fractional()) views.back().aux = &map;
  }
  for (const auto& v : views) matmul(v, x.data(), tokens, y.data());  // warm-up, page-in
  size_t i = 0;
  for (auto _ : state) {
    matmul(views[i], x.data(), tokens, y.data());
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % views.size();
  }
  const double bound = tokens == 1 ? read_bandwidth(w.data(), static_cast<int64_t>(w.size())) : 0.0;
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(mat_bytes),
                                              benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
  state.counters["GMAC/s"] = benchmark::Counter(1e-9 * static_cast<double>(rows * cols * tokens),
                                                benchmark::Counter::kIsIterationInvariantRate);
  if (tokens == 1) state.counters["bound_GB/s"] = bound;
  state.counters["bits/w"] = 8.0 * static_cast<double>(rb) / static_cast<double>(cols);
}

void register_all() {
  struct F {
    const char* name;
    TypeId type;
  };
  std::vector<F> formats = {{"bf16", TypeId::bf16}, {"q8", kTypeQ8}, {"rtn4", kTypeRtn4}};
  for (int b : {2, 3, 4, 5, 6, 8}) formats.push_back({find_tq_weight(b, 128)->name, find_tq_weight(b, 128)->id});
  for (int b : {2, 3, 4, 5})
    formats.push_back({find_tq_weight_fractional(b, 128)->name, find_tq_weight_fractional(b, 128)->id});
  formats.push_back({"tq4g64", find_tq_weight(4, 64)->id});
  formats.push_back({"tq4g32", find_tq_weight(4, 32)->id});
  // llama.cpp's block formats (kernels/matmul_ggml.h).
  for (TypeId t : {TypeId::q4_0, TypeId::q4_1, TypeId::q5_0, TypeId::q5_1, TypeId::q8_0,
                   TypeId::iq4_nl, TypeId::q2_K, TypeId::q3_K, TypeId::q4_K, TypeId::q5_K,
                   TypeId::q6_K, TypeId::iq4_xs})
    formats.push_back({type_name(t), t});
  for (const F& f : formats) {
    // The ggml comparison: one 229,376 × 4,096 GEMV (bf16: 1.88 GB).
    benchmark::RegisterBenchmark((std::string("ggml_229376x4096/") + f.name).c_str(), BM_Quant,
                                 f.type, 229376, 4096, 1)
        ->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
    // Compute-bound: a 256 × 4,096 matrix that stays in L2 (bf16: 2 MiB).
    benchmark::RegisterBenchmark((std::string("l2_256x4096/") + f.name).c_str(), BM_Quant, f.type,
                                 256, 4096, 1)
        ->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);
    // tq-ref-m shapes (hidden 512, FFN 1536): cache-resident, per-call overheads show.
    benchmark::RegisterBenchmark((std::string("refm_up/") + f.name).c_str(), BM_Quant, f.type,
                                 1536, 512, 1)
        ->Arg(1)->Arg(128)->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("refm_down/") + f.name).c_str(), BM_Quant, f.type,
                                 512, 1536, 1)
        ->Arg(1)->Arg(128)->UseRealTime()->Unit(benchmark::kMicrosecond);
    // Llama-3.2-1B: 16 distinct ffn_up [8192, 2048] / ffn_down [2048, 8192] matrices, cycled.
    benchmark::RegisterBenchmark((std::string("l1b_ffn_up_x16/") + f.name).c_str(), BM_Quant,
                                 f.type, 8192, 2048, 16)
        ->Arg(1)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("l1b_ffn_down_x16/") + f.name).c_str(), BM_Quant,
                                 f.type, 2048, 8192, 16)
        ->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
    // SmolLM2-135M (hidden 576, FFN 1536, 30 layers): ffn_up [1536, 576] × 30, cycled; its tied
    // output head [49152, 576]. Small rows: per-row and per-call overheads show.
    if (row_bytes(f.type, 576).ok() && !is_turboquant_type(f.type)) {
      benchmark::RegisterBenchmark((std::string("smol_ffn_up_x30/") + f.name).c_str(), BM_Quant,
                                   f.type, 1536, 576, 30)
          ->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark((std::string("smol_head/") + f.name).c_str(), BM_Quant, f.type,
                                   49152, 576, 1)
          ->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
    // Llama-3.2-1B output head [128256, 2048] (bf16: 525 MB), one matrix.
    benchmark::RegisterBenchmark((std::string("l1b_lm_head/") + f.name).c_str(), BM_Quant, f.type,
                                 128256, 2048, 1)
        ->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace tq

int main(int argc, char** argv) {
  tq::register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

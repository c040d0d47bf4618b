// Single-token decode attention on a quantized KV cache against its memory-bandwidth bound:
// one layer of a synthetic Llama-3-8B head layout (32 query heads, 8 KV heads, head_dim 128),
// filled with Gaussian K/V at contexts 1K, 4K, 16K and 32K, for f16, q8, tq4 and tq3 (K and V of
// the same type). Timing by Google Benchmark (real time); afterwards a markdown table: KV bytes one
// token's attention reads, time per token, effective GB/s, the bound (bytes / read bandwidth
// measured by the STREAM-like test of eval/bench.h right before and after, best of both) and the
// speed-up over f16.
// Usage: bench_kv_attention [--threads N] [--types f16,q8,...] [--contexts 1024,...] [--md FILE]
//        [benchmark flags]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/simd.h"
#include "eval/bench.h"
#include "runtime/kv_cache.h"

namespace tq {
namespace {

constexpr int64_t kHeads = 32, kKvHeads = 8, kHeadDim = 128;

struct Case {
  std::string type;
  int64_t n_ctx = 0;
  double bytes_read = 0;  // per token: bytes_per_token × n_ctx
  double seconds = 0;     // real time per attend() (filled by the reporter)
};

std::unique_ptr<KvCache> filled_cache(const std::string& type, int64_t n_ctx, double* bytes) {
  const KvCacheShape shape{1, n_ctx, kHeads, kKvHeads, kHeadDim};
  KvCacheConfig cfg;
  cfg.k_type = cfg.v_type = type;
  auto kv = make_kv_cache(shape, cfg);
  if (!kv.ok()) {
    std::fprintf(stderr, "%s\n", kv.status().to_string().c_str());
    std::exit(1);
  }
  Rng rng(1);
  const int64_t kvd = kKvHeads * kHeadDim, chunk = 1024;
  std::vector<float> k(static_cast<size_t>(chunk * kvd)), v(k.size());
  for (int64_t p = 0; p < n_ctx; p += chunk) {
    for (auto& x : k) x = static_cast<float>(rng.normal() * 0.5);
    for (auto& x : v) x = static_cast<float>(rng.normal());
    (*kv)->append(0, p, std::min(chunk, n_ctx - p), k.data(), v.data());
  }
  *bytes = (*kv)->bytes_per_token() * static_cast<double>(n_ctx);
  return std::move(*kv);
}

class Collector final : public benchmark::ConsoleReporter {
 public:
  explicit Collector(std::vector<Case>* cases) : cases_(cases) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      for (Case& c : *cases_)
        if (r.benchmark_name().rfind(name(c) + "/", 0) == 0)
          c.seconds = r.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
    }
    ConsoleReporter::ReportRuns(runs);
  }
  static std::string name(const Case& c) {
    return "attend/" + c.type + "/" + std::to_string(c.n_ctx);
  }

 private:
  std::vector<Case>* cases_;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t a = 0;
  while (a <= s.size()) {
    const size_t b = s.find(',', a);
    out.push_back(s.substr(a, b == std::string::npos ? std::string::npos : b - a));
    if (b == std::string::npos) break;
    a = b + 1;
  }
  return out;
}

int run(int argc, char** argv) {
  int threads = 2;
  std::string md_path, types = "f16,q8,tq4,tq3", contexts = "1024,4096,16384,32768";
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    auto take = [&](const char* flag, std::string* v) {
      if (std::strcmp(argv[i], flag) != 0 || i + 1 >= argc) return false;
      *v = argv[++i];
      return true;
    };
    std::string t;
    if (take("--threads", &t)) {
      threads = std::atoi(t.c_str());
    } else if (!take("--md", &md_path) && !take("--types", &types) &&
               !take("--contexts", &contexts)) {
      rest.push_back(argv[i]);
    }
  }
  set_num_threads(threads);
  const Bandwidth bw0 = measure_read_bandwidth();

  std::vector<Case> cases;
  for (const std::string& ctx : split(contexts))
    for (const std::string& type : split(types)) cases.push_back({type, std::atoll(ctx.c_str())});
  for (Case& c : cases) {
    benchmark::RegisterBenchmark(Collector::name(c).c_str(),
                                 [&c](benchmark::State& state) {
                                   auto kv = filled_cache(c.type, c.n_ctx, &c.bytes_read);
                                   Rng rng(2);
                                   std::vector<float> q(kHeads * kHeadDim), out(q.size());
                                   for (auto& x : q) x = static_cast<float>(rng.normal());
                                   for (auto _ : state) {
                                     kv->attend(0, q.data(), 1, c.n_ctx - 1, out.data());
                                     benchmark::DoNotOptimize(out.data());
                                     benchmark::ClobberMemory();
                                   }
                                   state.counters["KV_MiB"] = c.bytes_read / (1 << 20);
                                   state.counters["GB/s"] = benchmark::Counter(
                                       c.bytes_read, benchmark::Counter::kIsIterationInvariantRate,
                                       benchmark::Counter::kIs1000);
                                 })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond)
        ->MinTime(0.5);
  }
  int bargc = static_cast<int>(rest.size());
  benchmark::Initialize(&bargc, rest.data());
  Collector collector(&cases);
  benchmark::RunSpecifiedBenchmarks(&collector);
  const Bandwidth bw1 = measure_read_bandwidth();
  const double gbps = std::max(bw0.gb_per_s, bw1.gb_per_s);

  std::string md;
  char line[512];
  std::snprintf(line, sizeof line,
                "Read bandwidth: %.1f GB/s before, %.1f GB/s after (%d threads; bound uses %.1f). "
                "SIMD target %s.\n\n",
                bw0.gb_per_s, bw1.gb_per_s, threads, gbps, simd_target().c_str());
  md += line;
  md +=
      "| context | KV | KV read / token | time / token | effective GB/s | bound | of bound | vs "
      "f16 |\n";
  md += "|---|---|---|---|---|---|---|---|\n";
  std::map<int64_t, double> f16_time;
  for (const Case& c : cases)
    if (c.type == "f16") f16_time[c.n_ctx] = c.seconds;
  for (const Case& c : cases) {
    if (c.seconds <= 0) continue;  // filtered out
    const double bound = c.bytes_read / (gbps * 1e9);
    const auto f = f16_time.find(c.n_ctx);
    char vs[32] = "";
    if (f != f16_time.end() && f->second > 0)
      std::snprintf(vs, sizeof vs, "%.2fx", f->second / c.seconds);
    std::snprintf(
        line, sizeof line, "| %lldK | %s | %.2f MiB | %.1f µs | %.1f | %.1f µs | %.0f%% | %s |\n",
        static_cast<long long>(c.n_ctx / 1024), c.type.c_str(), c.bytes_read / (1 << 20),
        c.seconds * 1e6, c.bytes_read / c.seconds / 1e9, bound * 1e6, 100 * bound / c.seconds, vs);
    md += line;
  }
  std::fputs(md.c_str(), stdout);
  if (!md_path.empty()) {
    const Status st = write_file_atomic(md_path, md);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.to_string().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace tq

int main(int argc, char** argv) {
  return tq::run(argc, argv);
}

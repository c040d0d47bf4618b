#include "eval/bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

#include "core/parallel.h"
#include "core/rng.h"
#include "core/timer.h"
#include "formats/format.h"
#include "kernels/matmul.h"
#include "kernels/stream.h"
#include "runtime/kv_plan.h"
#include "runtime/session.h"

namespace tq {
namespace {

Stat make_stat(std::vector<double> v) {
  Stat s;
  s.samples = std::move(v);
  if (s.samples.empty()) return s;
  for (double x : s.samples) s.mean += x;
  s.mean /= static_cast<double>(s.samples.size());
  double ss = 0;
  for (double x : s.samples) ss += (x - s.mean) * (x - s.mean);
  s.sd = s.samples.size() > 1 ? std::sqrt(ss / static_cast<double>(s.samples.size() - 1)) : 0.0;
  return s;
}

std::string describe_weight_types(const Model& m) {
  std::map<std::string, double> bytes;
  double total = 0;
  auto add = [&](const WeightView& w) {
    const double b = static_cast<double>(w.row_bytes) * static_cast<double>(w.n_rows);
    // "(generic)": no fast kernel registered, rows are dequantized with the reference to_float.
    const MatmulKernel* k = find_matmul_kernel(w.type);
    const bool generic = k && k->fn == matmul_generic;
    bytes[std::string(type_name(w.type)) + (generic ? " (generic)" : "")] += b;
    total += b;
  };
  for (const auto& l : m.layers)
    for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(*w);
  add(m.output);
  if (m.head_hot().rows.n_rows > 0) add(m.head_hot().rows);
  if (bytes.size() == 1) return bytes.begin()->first;
  std::string s;
  for (const auto& [name, b] : bytes)
    s += fmt::format("{}{} {:.0f}%", s.empty() ? "" : ", ", name, 100 * b / total);
  return s;
}

// Best-of-`reps` GB/s of reading every byte of `ranges` once, split evenly over the threads.
double read_ranges_gb_per_s(const std::vector<std::pair<const uint8_t*, int64_t>>& ranges,
                            int reps) {
  std::vector<int64_t> start(ranges.size() + 1, 0);  // prefix sums of the range sizes
  for (size_t i = 0; i < ranges.size(); ++i) start[i + 1] = start[i] + ranges[i].second;
  const int64_t total = start.back();
  if (total == 0) return 0;
  double best = 0;
  std::atomic<uint64_t> sink{0};
  for (int rep = 0; rep < reps; ++rep) {
    Timer t;
    parallel_for(
        total,
        [&](int64_t a, int64_t b) {
          uint64_t s = 0;
          for (size_t i = 0; i < ranges.size(); ++i) {
            const int64_t lo = std::max(a, start[i]), hi = std::min(b, start[i + 1]);
            if (lo < hi) s += stream_read_sum_bytes(ranges[i].first + (lo - start[i]), hi - lo);
          }
          sink += s;
        },
        int64_t{1} << 20);
    best = std::max(best, static_cast<double>(total) / t.seconds() * 1e-9);
  }
  return best;
}

}  // namespace

Bandwidth measure_read_bandwidth(int64_t bytes, int reps) {
  const int64_t n = bytes / static_cast<int64_t>(sizeof(float));
  std::unique_ptr<float[]> buf(new float[static_cast<size_t>(n)]);
  // First touch by the threads that will read. Distinct values on every page: pages of identical
  // content can be merged by the host (KSM), and reading one shared page runs at cache speed
  // (measured: 74 GB/s with a constant fill against 50 GB/s).
  parallel_for(n, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i)
      buf[i] = static_cast<float>(static_cast<uint32_t>(i * 2654435761u) >> 8);
  });
  Bandwidth r;
  r.bytes = n * static_cast<int64_t>(sizeof(float));
  r.threads = num_threads();
  volatile float sink = 0;
  for (int rep = 0; rep < reps; ++rep) {
    Timer t;
    std::mutex mu;
    float total = 0;
    parallel_for(n, [&](int64_t a, int64_t b) {
      const float part = stream_read_sum(buf.get() + a, b - a);
      std::lock_guard<std::mutex> lock(mu);
      total += part;
    });
    const double s = t.seconds();
    sink = sink + total;
    r.gb_per_s = std::max(r.gb_per_s, static_cast<double>(r.bytes) / s * 1e-9);
  }
  return r;
}

Result<BenchResult> bench_model(const std::string& path, const BenchOptions& o) {
  if (o.n_prompt < 1 || o.n_gen < 1 || o.reps < 1)
    return invalid_argument("bench: prompt length, generation length and repetitions must be >= 1");
  BenchResult r;
  r.path = path;
  Timer load;
  TQ_ASSIGN_OR_RETURN(auto model, load_model(path));
  r.load_seconds = load.seconds();
  r.arch = model->hp.to_string();
  r.weight_types = describe_weight_types(*model);
  for (const auto& t : model->file.tensors) {
    if (!is_side_tensor(t.name)) r.n_params += t.n_elements();
    r.file_bytes += static_cast<int64_t>(t.n_bytes);
  }
  r.weight_bytes_per_token = static_cast<int64_t>(model->weight_bytes_per_token());
  SessionOptions so;
  so.n_ctx = std::max(o.n_prompt, o.n_gen);
  so.n_batch = o.n_batch;
  so.device = o.device;
  if (o.kv_for_model) {
    TQ_ASSIGN_OR_RETURN(so.kv, o.kv_for_model(*model));
  } else {
    so.kv = o.kv;
  }
  TQ_ASSIGN_OR_RETURN(auto session, Session::create(*model, so));
  r.kv = session->kv_cache().describe();
  r.kv_summary = kv_memory_summary(session->kv_cache(), o.kv_budget_bytes);
  r.kv_max_context = kv_max_context(session->kv_cache(), o.kv_budget_bytes);
  r.kv_bytes_per_token = session->kv_cache().bytes_per_token();
  // Decode step i (position i) reads i + 1 cached positions: mean (n_gen + 1) / 2.
  r.decode_bytes_per_token = static_cast<double>(r.weight_bytes_per_token) +
                             r.kv_bytes_per_token * static_cast<double>(o.n_gen + 1) / 2.0;

  Rng rng(o.seed);
  std::vector<int32_t> ids(static_cast<size_t>(std::max(o.n_prompt, o.n_gen)));
  for (auto& id : ids)
    id = static_cast<int32_t>(rng.below(static_cast<uint64_t>(model->hp.n_vocab)));
  std::vector<double> prefill, decode;
  for (int rep = 0; rep <= o.reps; ++rep) {  // rep 0: warm-up (page-in, caches), not recorded
    session->reset();
    Timer t;
    TQ_RETURN_IF_ERROR(
        session->eval({ids.data(), static_cast<size_t>(o.n_prompt)}, LogitsMode::kLast));
    const double tp = t.seconds();
    session->reset();
    t.reset();
    for (int64_t i = 0; i < o.n_gen; ++i)
      TQ_RETURN_IF_ERROR(session->eval({&ids[i], 1}, LogitsMode::kLast));
    const double td = t.seconds();
    if (rep > 0) {
      prefill.push_back(static_cast<double>(o.n_prompt) / tp);
      decode.push_back(static_cast<double>(o.n_gen) / td);
    }
  }
  std::vector<std::pair<const uint8_t*, int64_t>> ranges;
  auto add = [&](const WeightView& w) {
    ranges.emplace_back(w.data, static_cast<int64_t>(w.row_bytes) * w.n_rows);
  };
  for (const auto& l : model->layers)
    for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(*w);
  add(model->output);
  r.weights_read_gb_per_s = read_ranges_gb_per_s(ranges, 5);
  r.prefill_tps = make_stat(std::move(prefill));
  r.decode_tps = make_stat(std::move(decode));
  return r;
}

}  // namespace tq

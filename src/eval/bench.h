// Speed measurement for `tq bench` (DESIGN.md §5): prefill and decode tokens/s over repetitions,
// the bytes a decoded token touches, and the machine's measured read bandwidth, so every result
// is printed beside its memory-bandwidth bound.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/kv_cache.h"
#include "tq/status.h"

namespace tq {

struct Model;

struct BenchOptions {
  int64_t n_prompt = 128;  // prefill test: one eval of this many tokens from an empty cache
  int64_t n_gen = 64;      // decode test: this many single-token evals from an empty cache
  int reps = 5;            // timed repetitions (after one untimed warm-up)
  int64_t n_batch = 512;
  KvCacheConfig kv;
  // When set, builds the KV config from the loaded model (e.g. calibrated channel statistics);
  // replaces `kv`.
  std::function<Result<KvCacheConfig>(const Model&)> kv_for_model;
  int64_t kv_budget_bytes = int64_t{8} << 30;  // for kv_summary / kv_max_context
  uint64_t seed = 1;  // the random token ids fed
  std::string device = "cpu";  // backend (runtime/backend.h)
};

struct Stat {
  double mean = 0, sd = 0;
  std::vector<double> samples;
};

struct BenchResult {
  std::string path;
  std::string arch;                    // "llama, 16 layers, d 2048, ..."
  std::string weight_types;            // "bf16" or "q4_K 71%, q6_K 29%" (share of matrix bytes)
  int64_t n_params = 0;                // elements of all tensors
  int64_t file_bytes = 0;              // bytes of all tensors
  int64_t weight_bytes_per_token = 0;  // every matrix once + one embedding row
  double kv_bytes_per_token = 0;       // stored per position, all layers
  double decode_bytes_per_token = 0;   // weights + mean KV read during the decode test
  std::string kv;                      // KvCache::describe()
  std::string kv_summary;              // kv_memory_summary(): bytes/token, max context at budget
  int64_t kv_max_context = 0;          // positions that fit opts.kv_budget_bytes
  // Read bandwidth over this model's own weight bytes (the pages decode streams), best of 5
  // passes right after the decode test: the bound that matches the placement of these pages.
  double weights_read_gb_per_s = 0;
  double load_seconds = 0;
  Stat prefill_tps;  // tokens/s
  Stat decode_tps;   // tokens/s
};

// Loads the model and runs both tests. Errors: load errors, bad options.
Result<BenchResult> bench_model(const std::string& path, const BenchOptions& opts);

struct Bandwidth {
  double gb_per_s = 0;  // best of the repetitions, 1e9 bytes/s
  int64_t bytes = 0;
  int threads = 0;
};
// STREAM-like read test: num_threads() threads each sum a share of a `bytes` buffer (written
// once first); the best of `reps` runs.
Bandwidth measure_read_bandwidth(int64_t bytes = int64_t{512} << 20, int reps = 7);


}  // namespace tq

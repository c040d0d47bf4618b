// One forward step of the runtime: the rows of one or several sequences (each with its KV cache
// and position) through the model's forward pass (runtime/forward.h) on a backend, logits out.
// Session (one sequence, prefill chunks and decode) and BatchDecoder (one decode token for each of
// N sequences) both run their steps here.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "runtime/backend.h"
#include "runtime/forward.h"

namespace tq {

// Rows [row0, row0 + n_rows) of a step belong to one sequence, at positions [pos0, pos0 + n_rows)
// of its KV cache.
struct StepSequence {
  KvCache* kv = nullptr;
  int64_t row0 = 0, n_rows = 0, pos0 = 0;
};

class StepRunner {
 public:
  // Buffers for steps of up to max_rows rows.
  StepRunner(const Model& model, Backend& backend, int64_t max_rows);

  int64_t max_rows() const { return max_rows_; }

  // Runs tokens [n] (n <= max_rows) of the sequences `seqs` (their rows cover [0, n) in order):
  // every layer's K/V are appended to each sequence's cache and its queries attend there. When
  // `logits` (host memory) is not null, writes the logits of rows [out_first, n) there
  // ([n - out_first, n_vocab]).
  void run(const int32_t* tokens, int64_t n, std::span<const StepSequence> seqs, int64_t out_first,
           float* logits, ForwardObserver* observer);

 private:
  const Model& model_;
  Backend& backend_;
  Forward forward_;
  int64_t max_rows_;
  BlockScratch scratch_;
  DeviceBuffer x_;           // [max_rows, n_embd] residual stream
  DeviceBuffer xn_;          // [max_rows, n_embd] output-normed rows
  DeviceBuffer cos_sin_;     // [max_rows, max(2, n_rot)]
  DeviceBuffer hot_logits_;  // [max_rows, K] residual logits of the head's hot rows
  DeviceBuffer logits_;      // [max_rows, n_vocab] (backends without host memory)
  std::vector<int64_t> positions_;
};

}  // namespace tq

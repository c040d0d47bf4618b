// Calibration: token windows from a user-given text, and the Gram matrices H = XᵀX of every
// distinct linear-layer input of the FLOAT model over them (q/k/v share one, gate/up share one),
// collected through the runtime's forward hook (runtime/forward_observer.h) while a Session runs
// the unmodified model.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/model.h"
#include "runtime/forward_observer.h"
#include "tq/status.h"

namespace tq {

struct CalibrationOptions {
  std::string text_path;           // calibration text (never the evaluation text)
  int64_t n_windows = 128;         // windows for the Hessians
  int64_t n_ctx = 512;             // tokens per window
  uint64_t seed = 0;               // which windows
  int64_t max_text_bytes = 4 << 20;  // tokenize at most this prefix of the file
  bool progress = true;
};

// Non-overlapping windows of n_ctx tokens from the first max_text_bytes of the text (tokenized with
// the model's tokenizer, BOS as the tokenizer adds it), n_windows of them chosen at random (seeded)
// among all aligned window slots, followed by n_extra further distinct windows (e.g. for
// sensitivity: disjoint from the first n_windows). Errors: unreadable file, too little text.
Result<std::vector<std::vector<int32_t>>> calibration_windows(const Model& model,
                                                              const CalibrationOptions& opt,
                                                              int64_t n_extra = 0);

// Key of one distinct linear input: (layer, which); the head is (n_layer, kHead).
using InputKey = std::pair<int64_t, LinearInput>;

// The input that tensor `name` (llama.cpp name, e.g. "blk.3.ffn_up.weight", "output.weight",
// "token_embd.weight" for a tied head) reads; false for tensors that are not linear weights.
bool input_key_of(const std::string& name, int64_t n_layer, InputKey* key);

struct HessianSet {
  struct Entry {
    int64_t n = 0;          // input width
    std::vector<double> H;  // [n, n] Σ over calibration tokens of x xᵀ
  };
  std::map<InputKey, Entry> h;
  int64_t n_tokens = 0;  // tokens accumulated (each window counts n_ctx)
  const Entry* find(const InputKey& k) const {
    auto it = h.find(k);
    return it == h.end() ? nullptr : &it->second;
  }
};

// Runs the float model over `windows` and accumulates H for every key in `keys` (all linear
// inputs when empty). Uses the runtime's threads; progress on stderr.
Result<HessianSet> collect_hessians(const Model& model,
                                    const std::vector<std::vector<int32_t>>& windows,
                                    const std::vector<InputKey>& keys, bool progress = true);

// Bytes the Hessians of `keys` take (to plan passes over layer ranges for large models).
int64_t hessian_bytes(const Model& model, const std::vector<InputKey>& keys);
// Every linear input of the model: 4 per layer plus the head.
std::vector<InputKey> all_input_keys(const Model& model);

}  // namespace tq

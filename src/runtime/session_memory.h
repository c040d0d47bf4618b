// What a Session will need in memory, computed before anything is allocated, so that a context
// that cannot fit (tq run --ctx 100000000) is refused with the numbers instead of ending in
// std::bad_alloc or the OOM killer.
#pragma once

#include <cstdint>

#include "runtime/session.h"
#include "tq/status.h"

namespace tq {

struct SessionMemory {
  int64_t n_ctx = 0;                // positions of the KV cache
  double kv_bytes_per_position = 0; // every layer, keys and values, scales included
  double kv_bytes = 0;              // n_ctx positions
  double activation_bytes = 0;      // one chunk of n_batch tokens, logits, attention scratch
  double attention_bytes_per_position = 0;  // the part of activation_bytes that grows with n_ctx
  double weight_bytes = 0;          // the model's tensors (memory-mapped; read while running)
  double total() const { return kv_bytes + activation_bytes + weight_bytes; }
};

// The memory a Session::create(model, opts) would use. Errors: those of resolve_kv_formats
// (unknown KV types), bad n_ctx / n_batch.
Result<SessionMemory> session_memory(const Model& model, const SessionOptions& opts);

// kOutOfRange when need.total() exceeds available_bytes, with a message that names the model
// file, what is needed (KV cache, activations, weights), what is available and the longest
// context that fits; ok when it fits or available_bytes is 0 (unknown).
Status check_session_memory(const Model& model, const SessionMemory& need,
                            uint64_t available_bytes);

}  // namespace tq

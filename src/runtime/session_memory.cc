#include "runtime/session_memory.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "runtime/kv_plan.h"

namespace tq {
Result<SessionMemory> session_memory(const Model& model, const SessionOptions& opts) {
  const HParams& hp = model.hp;
  if (opts.n_ctx < 0) return invalid_argument("context size {} must be positive", opts.n_ctx);
  if (opts.n_batch <= 0 || opts.n_batch > (int64_t{1} << 16))
    return invalid_argument("batch size {} must be in [1, 65536]", opts.n_batch);
  TQ_ASSIGN_OR_RETURN(const KvLayerFormats f, resolve_kv_formats(hp.n_layer, opts.kv));
  SessionMemory m;
  m.n_ctx = session_context(hp, opts.n_ctx);
  for (int64_t l = 0; l < hp.n_layer; ++l)
    m.kv_bytes_per_position += f.k[l]->bytes_per_token(hp.n_head_kv, hp.head_dim) +
                               f.v[l]->bytes_per_token(hp.n_head_kv, hp.head_dim);
  // Doubles: n_ctx comes from the user and may be any int64; nothing here is an allocation size.
  const double ctx = static_cast<double>(m.n_ctx);
  m.kv_bytes = m.kv_bytes_per_position * ctx;
  const double batch = static_cast<double>(std::min(opts.n_batch, m.n_ctx));
  const double wide = static_cast<double>(std::max({hp.n_embd, hp.q_dim(), hp.kv_dim()}));
  // Session buffers per token of a chunk (x, xn, q, k, v, tmp, gate, up, rope table), the logits
  // of a whole chunk (LogitsMode::kAll), and per thread the attention scores of one query block.
  const double per_token = static_cast<double>(hp.n_embd + hp.q_dim() + 2 * hp.kv_dim() +
                                               2 * hp.n_ff + std::max<int64_t>(2, hp.rope.n_rot)) +
                           2 * wide + static_cast<double>(hp.n_vocab);
  const double group = static_cast<double>(hp.n_head / std::max<int64_t>(1, hp.n_head_kv));
  m.attention_bytes_per_position = 4.0 * static_cast<double>(std::max(1, num_threads())) *
                                   std::min<double>(kKvAttentionQueryBlock, batch) * group;
  m.activation_bytes = 4.0 * batch * per_token + m.attention_bytes_per_position * ctx;
  for (const TensorInfo& t : model.file.tensors) m.weight_bytes += static_cast<double>(t.n_bytes);
  return m;
}

Status check_session_memory(const Model& model, const SessionMemory& need,
                            uint64_t available_bytes) {
  const double avail = static_cast<double>(available_bytes);
  if (available_bytes == 0 || need.total() <= avail) return ok_status();
  const double fixed =
      need.weight_bytes + need.activation_bytes - need.attention_bytes_per_position * static_cast<double>(need.n_ctx);
  const double per_pos = need.kv_bytes_per_position + need.attention_bytes_per_position;
  const double fits = per_pos > 0 ? std::floor((avail - fixed) / per_pos) : 0;
  const std::string what_fits =
      fits >= 1 ? fmt::format("at most {} positions fit (--ctx), or a smaller KV type (--kv-k/--kv-v, "
                              "or --kv auto --kv-budget B) holds more",
                              with_commas(static_cast<int64_t>(std::min(fits, 9.2e18))))
                : std::string("not even one position fits beside the weights");
  return out_of_range(
      "{}: a context of {} positions needs {} of memory (KV cache {} at {} per position, "
      "activations {}, weights {}) but {} is available: {}",
      model.file.path, with_commas(need.n_ctx), format_bytes(need.total()), format_bytes(need.kv_bytes),
      format_bytes(need.kv_bytes_per_position), format_bytes(need.activation_bytes),
      format_bytes(need.weight_bytes), format_bytes(avail), what_fits);
}

}  // namespace tq

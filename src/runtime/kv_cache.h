// The KV cache: storage for every layer's keys and values AND attention over that storage, so a
// quantized cache can score queries directly on its codes (issue 5).
//
// Two levels:
//  * KvCache — what the Session calls: append() the new tokens' K/V, attend() their queries.
//    Implement it directly for a fused design.
//  * KvStore — one layer's keys or values in one format (f32, f16, later q8, tq4, ...): write rows,
//    score queries against keys, mix values with attention weights. StoreKvCache (make_kv_cache)
//    composes a key store and a value store per layer with the generic softmax, so K and V types —
//    and every layer's types — are chosen independently. A new format = one KvFormat entry
//    (runtime/kv_formats.cc) and its KvStore; nothing else to edit.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tq/status.h"

namespace tq {

// Prefill tokens per attention task of StoreKvCache (bounds causal waste); each thread's score
// scratch holds this many tokens x the GQA group x the positions attended.
inline constexpr int64_t kKvAttentionQueryBlock = 16;

struct KvCacheShape {
  int64_t n_layers = 0;
  int64_t n_ctx = 0;       // capacity in positions
  int64_t n_heads = 0;     // query heads
  int64_t n_kv_heads = 0;  // key/value heads (n_heads % n_kv_heads == 0)
  int64_t head_dim = 0;
};

class KvCache {
 public:
  explicit KvCache(const KvCacheShape& shape) : shape_(shape) {}
  virtual ~KvCache() = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const KvCacheShape& shape() const { return shape_; }
  int64_t capacity() const { return shape_.n_ctx; }

  // Stores keys and values of positions [pos0, pos0 + n_tokens) of `layer` (overwriting what was
  // there). k, v: [n_tokens, n_kv_heads * head_dim] f32; keys already rotated (RoPE).
  // Requires 0 <= pos0 and pos0 + n_tokens <= capacity() (the Session checks; TQ_CHECK here).
  virtual void append(int64_t layer, int64_t pos0, int64_t n_tokens, const float* k,
                      const float* v) = 0;

  // Causal attention of n_tokens queries at positions pos0 .. pos0 + n_tokens - 1: query i attends
  // to positions [0, pos0 + i], all of which must have been appended.
  //   out[i, h] = sum_j softmax_j(q[i, h] · K[j, h / n_gqa] / sqrt(head_dim)) V[j, h / n_gqa]
  // q, out: [n_tokens, n_heads * head_dim] f32 (q rotated). Multithreaded inside.
  virtual void attend(int64_t layer, const float* q, int64_t n_tokens, int64_t pos0,
                      float* out) = 0;

  // Forgets every position (a new sequence). Storage stays allocated.
  virtual void clear() = 0;

  // Bytes stored per token over all layers, K and V, including scales / norms.
  virtual double bytes_per_token() const = 0;
  // e.g. "k f16, v f16" or "k tq4 (layers 0, 31: f16), v tq3".
  virtual std::string describe() const = 0;

 protected:
  KvCacheShape shape_;
};

// ---- per-layer stores and the format table ----------------------------------------------------

enum class KvRole { kKey, kValue };

struct KvChannelStats;  // runtime/kv_channel_stats.h

struct KvStoreShape {
  KvRole role = KvRole::kKey;  // keys are scored (scores), values mixed (mix): layouts may differ
  int64_t n_ctx = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t layer = 0;  // for seeding per-layer randomness (rotations)
  uint64_t seed = 0;  // KvCacheConfig::seed
  // Per-channel energies for formats that split outlier channels (KvFormat::needs_channel_stats);
  // null otherwise. Outlives the store (owned by KvCacheConfig).
  const KvChannelStats* channel_stats = nullptr;
};

// One layer's keys or values, all KV heads, positions [0, n_ctx).
class KvStore {
 public:
  virtual ~KvStore() = default;
  // Encodes positions [pos0, pos0 + n_tokens). x: [n_tokens, n_kv_heads * head_dim] f32.
  virtual void write(int64_t pos0, int64_t n_tokens, const float* x) = 0;
  // As keys: s[i * lds + j] = q_i · K[head][j] for i < n_q, j < n_pos. q: [n_q, head_dim] f32.
  // Called concurrently for different heads (must not mutate shared state).
  virtual void scores(int64_t head, const float* q, int64_t n_q, int64_t n_pos, float* s,
                      int64_t lds) const = 0;
  // As values: out[i] = sum_{j < n_pos} p[i * ldp + j] V[head][j]; out: [n_q, head_dim] f32
  // (overwritten). Called concurrently for different heads.
  virtual void mix(int64_t head, const float* p, int64_t ldp, int64_t n_q, int64_t n_pos,
                   float* out) const = 0;
  // Decodes positions [pos0, pos0 + n) of `head` to out: [n, head_dim] (tests and debugging).
  virtual void read(int64_t head, int64_t pos0, int64_t n, float* out) const = 0;
  // Forgets all positions (for formats that keep state, e.g. a recent window in f16).
  virtual void clear() {}
};

struct KvFormat {
  const char* name;  // "f16", "f32", ...; what --kv-k / --kv-v accept
  const char* description;
  // Bytes per token of one layer (all KV heads), including scales / norms.
  double (*bytes_per_token)(int64_t n_kv_heads, int64_t head_dim);
  // Creates one layer's store; errors for unsupported head_dim etc. name the format.
  Result<std::unique_ptr<KvStore>> (*create)(const KvStoreShape& shape);
  // True for formats that choose outlier channels from KvStoreShape::channel_stats.
  bool needs_channel_stats = false;
  // True for formats that also need the second moments in channel_stats (tqw*).
  bool needs_covariance = false;
};

std::span<const KvFormat> kv_formats();
const KvFormat* find_kv_format(std::string_view name);  // nullptr when unknown

struct KvCacheConfig {
  std::string k_type = "f16";
  std::string v_type = "f16";
  struct LayerTypes {
    int64_t layer = 0;           // negative: from the end (-1 = the last layer)
    std::string k_type, v_type;  // empty = keep the default
  };
  std::vector<LayerTypes>
      overrides;                // per-layer types (e.g. first/last layers at higher precision)
  uint64_t seed = 0x7142'5eed;  // passed to every store (rotations of quantized formats)
  // Channel energies for the outlier-split formats (tq2.5, tq3.5, ...). Session::create fills it
  // from the model's weights when a chosen format needs it and it is null.
  std::shared_ptr<const KvChannelStats> channel_stats;
};

// The format of every layer's keys and values under `cfg` ([n_layers] each). Errors: unknown type
// names (listing the known ones), override layers out of range.
struct KvLayerFormats {
  std::vector<const KvFormat*> k, v;
};
Result<KvLayerFormats> resolve_kv_formats(int64_t n_layers, const KvCacheConfig& cfg);
// True when some layer's format needs channel statistics / second moments.
bool kv_needs_channel_stats(const KvLayerFormats& f);
bool kv_needs_covariance(const KvLayerFormats& f);

// A StoreKvCache for `shape` with the types of `cfg`. Errors: those of resolve_kv_formats, missing
// or mismatched channel statistics, a format rejecting the shape.
Result<std::unique_ptr<KvCache>> make_kv_cache(const KvCacheShape& shape, const KvCacheConfig& cfg);

}  // namespace tq

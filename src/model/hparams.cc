#include "model/hparams.h"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

namespace tq {

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::kLlama:
      return "llama";
    case Arch::kQwen2:
      return "qwen2";
    case Arch::kQwen3:
      return "qwen3";
  }
  return "?";
}

std::string HParams::to_string() const {
  return fmt::format("{}, {} layers, d {}, heads {}/{}x{}, ff {}, vocab {}, ctx {}", arch_key,
                     n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx_train);
}

namespace {

constexpr int64_t kMaxDim = int64_t{1} << 24;  // sanity bound on every size

Result<int64_t> req_int(const ModelFile& mf, const std::string& key) {
  const MetaValue* v = mf.meta.find(key);
  int64_t x = 0;
  if (!v) return corrupt_file("{}: metadata key '{}' is missing", mf.path, key);
  if (!v->get_int(&x)) return corrupt_file("{}: metadata key '{}' is not an integer", mf.path, key);
  if (x <= 0 || x > kMaxDim)
    return corrupt_file("{}: metadata '{}' = {} is out of range", mf.path, key, x);
  return x;
}

Result<int64_t> opt_int(const ModelFile& mf, const std::string& key, int64_t dflt) {
  if (!mf.meta.has(key)) return dflt;
  return req_int(mf, key);
}

Result<double> opt_float(const ModelFile& mf, const std::string& key, double dflt) {
  const MetaValue* v = mf.meta.find(key);
  if (!v) return dflt;
  double x = 0;
  if (!v->get_float(&x) || !std::isfinite(x))
    return corrupt_file("{}: metadata key '{}' is not a finite number", mf.path, key);
  return x;
}

}  // namespace

Result<HParams> read_hparams(const ModelFile& mf) {
  HParams hp;
  const std::string arch = mf.architecture();
  if (arch == "llama" || arch == "mistral") {
    hp.arch = Arch::kLlama;
  } else if (arch == "qwen2") {
    hp.arch = Arch::kQwen2;
  } else if (arch == "qwen3") {
    hp.arch = Arch::kQwen3;
  } else {
    return unsupported("{}: architecture '{}' is not supported (llama, mistral, qwen2, qwen3)",
                       mf.path, arch.empty() ? "<missing general.architecture>" : arch);
  }
  hp.arch_key = arch;
  const std::string a = arch + ".";
  TQ_ASSIGN_OR_RETURN(hp.n_embd, req_int(mf, a + "embedding_length"));
  TQ_ASSIGN_OR_RETURN(hp.n_layer, req_int(mf, a + "block_count"));
  TQ_ASSIGN_OR_RETURN(hp.n_head, req_int(mf, a + "attention.head_count"));
  TQ_ASSIGN_OR_RETURN(hp.n_ff, req_int(mf, a + "feed_forward_length"));
  TQ_ASSIGN_OR_RETURN(hp.n_head_kv, opt_int(mf, a + "attention.head_count_kv", hp.n_head));
  TQ_ASSIGN_OR_RETURN(hp.n_ctx_train, opt_int(mf, a + "context_length", 4096));
  if (hp.n_embd % hp.n_head != 0 && !mf.meta.has(a + "attention.key_length"))
    return corrupt_file(
        "{}: embedding_length {} is not a multiple of head_count {} and key_length is absent",
        mf.path, hp.n_embd, hp.n_head);
  TQ_ASSIGN_OR_RETURN(hp.head_dim, opt_int(mf, a + "attention.key_length", hp.n_embd / hp.n_head));
  TQ_ASSIGN_OR_RETURN(int64_t value_length, opt_int(mf, a + "attention.value_length", hp.head_dim));
  if (value_length != hp.head_dim)
    return unsupported("{}: key_length {} != value_length {} is not supported", mf.path,
                       hp.head_dim, value_length);
  if (hp.n_head % hp.n_head_kv != 0)
    return corrupt_file("{}: head_count {} is not a multiple of head_count_kv {}", mf.path,
                        hp.n_head, hp.n_head_kv);
  TQ_ASSIGN_OR_RETURN(double eps, opt_float(mf, a + "attention.layer_norm_rms_epsilon", 1e-5));
  if (!(eps > 0 && eps < 1))
    return corrupt_file("{}: rms epsilon {} is out of range", mf.path, eps);
  hp.rms_eps = static_cast<float>(eps);

  // Vocabulary: the key, else the embedding's rows; the two must agree when both exist.
  const TensorInfo* embd = mf.find("token_embd.weight");
  if (!embd || embd->shape.size() != 2)
    return corrupt_file("{}: tensor token_embd.weight is missing or not 2-D", mf.path);
  if (mf.meta.has(a + "vocab_size")) {
    TQ_ASSIGN_OR_RETURN(hp.n_vocab, req_int(mf, a + "vocab_size"));
  } else {
    hp.n_vocab = embd->shape[0];
  }

  RopeParams& r = hp.rope;
  TQ_ASSIGN_OR_RETURN(r.freq_base, opt_float(mf, a + "rope.freq_base", 10000.0));
  if (!(r.freq_base > 1.0))
    return corrupt_file("{}: rope.freq_base {} must be > 1", mf.path, r.freq_base);
  TQ_ASSIGN_OR_RETURN(r.n_rot, opt_int(mf, a + "rope.dimension_count", hp.head_dim));
  if (r.n_rot > hp.head_dim || r.n_rot % 2 != 0)
    return corrupt_file("{}: rope.dimension_count {} must be even and <= head dim {}", mf.path,
                        r.n_rot, hp.head_dim);
  const std::string type = mf.meta.get_string_or(a + "rope.scaling.type", "none");
  if (type == "none" || type.empty()) {
    r.scaling = RopeScaling::kNone;
  } else if (type == "linear" || type == "llama3") {
    r.scaling = type == "linear" ? RopeScaling::kLinear : RopeScaling::kLlama3;
    TQ_ASSIGN_OR_RETURN(r.factor, opt_float(mf, a + "rope.scaling.factor", 1.0));
    if (!(r.factor > 0))
      return corrupt_file("{}: rope.scaling.factor {} must be positive", mf.path, r.factor);
    if (r.scaling == RopeScaling::kLlama3) {
      TQ_ASSIGN_OR_RETURN(r.low_freq_factor,
                          opt_float(mf, a + "rope.scaling.low_freq_factor", 1.0));
      TQ_ASSIGN_OR_RETURN(r.high_freq_factor,
                          opt_float(mf, a + "rope.scaling.high_freq_factor", 4.0));
      TQ_ASSIGN_OR_RETURN(r.original_context,
                          opt_int(mf, a + "rope.scaling.original_context_length", 8192));
      if (!(r.high_freq_factor > r.low_freq_factor && r.low_freq_factor > 0))
        return corrupt_file("{}: llama3 rope needs high_freq_factor > low_freq_factor > 0",
                            mf.path);
    }
  } else {
    return unsupported("{}: rope scaling '{}' is not supported (none, linear, llama3)", mf.path,
                       type);
  }
  return hp;
}

std::vector<double> rope_inv_freq(const RopeParams& rope, const std::vector<float>& freq_factors) {
  const int64_t half = rope.n_rot / 2;
  std::vector<double> f(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    f[i] = 1.0 /
           std::pow(rope.freq_base, static_cast<double>(2 * i) / static_cast<double>(rope.n_rot));
  if (!freq_factors
           .empty()) {  // GGUF rope_freqs.weight (llama3 scaling precomputed by the converter)
    for (int64_t i = 0; i < half; ++i) f[i] /= static_cast<double>(freq_factors[i]);
    return f;
  }
  switch (rope.scaling) {
    case RopeScaling::kNone:
      break;
    case RopeScaling::kLinear:
      for (auto& x : f) x /= rope.factor;
      break;
    case RopeScaling::kLlama3: {
      // As transformers' _compute_llama3_parameters.
      const double low_wavelen = static_cast<double>(rope.original_context) / rope.low_freq_factor;
      const double high_wavelen =
          static_cast<double>(rope.original_context) / rope.high_freq_factor;
      for (auto& x : f) {
        const double wavelen = 2.0 * std::numbers::pi / x;
        if (wavelen < high_wavelen) continue;
        if (wavelen > low_wavelen) {
          x /= rope.factor;
        } else {
          const double smooth =
              (static_cast<double>(rope.original_context) / wavelen - rope.low_freq_factor) /
              (rope.high_freq_factor - rope.low_freq_factor);
          x = (1.0 - smooth) * x / rope.factor + smooth * x;
        }
      }
      break;
    }
  }
  return f;
}

}  // namespace tq

#include "io/gguf_layout.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "formats/format.h"
#include "formats/tq_weight.h"
#include "io/tokenizer.h"

namespace tq {
namespace {

// (group, layer, name): rope_freqs, token_embd.*, blk.<layer>.*, the rest.
std::tuple<int, int64_t, std::string_view> order_key(std::string_view name) {
  if (name == GgufLayout::kRopeFreqs) return {0, 0, name};
  if (name.starts_with("token_embd.")) return {1, 0, name};
  if (name.starts_with("blk.")) {
    int64_t layer = 0;
    for (size_t i = 4; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i)
      layer = layer * 10 + (name[i] - '0');
    return {2, layer, name};
  }
  return {3, 0, name};
}

}  // namespace

Result<uint32_t> llama_file_type(TypeId type) {
  switch (type) {
    case TypeId::f32:
      return 0u;
    case TypeId::f16:
      return 1u;
    case TypeId::q8_0:
      return 7u;
    case TypeId::bf16:
      return 32u;
    default:
      return invalid_argument("convert writes f32, f16, bf16 or q8_0 files, not {}",
                              type_name(type));
  }
}

Result<std::vector<float>> llama3_rope_freq_factors(const Metadata& meta) {
  const std::string a = meta.get_string_or("general.architecture", "") + ".";
  TQ_ASSIGN_OR_RETURN(double base_d, meta.get_float(a + "rope.freq_base"));
  TQ_ASSIGN_OR_RETURN(int64_t dim, meta.get_int(a + "rope.dimension_count"));
  if (dim <= 0 || dim % 2 != 0)
    return invalid_argument("rope.dimension_count {} must be positive and even", dim);
  // All arithmetic in float32, in torch's order (python scalars are cast to float32).
  const float base = static_cast<float>(base_d);
  const float factor = static_cast<float>(meta.get_float_or(a + "rope.scaling.factor", 8.0));
  const float low_freq_factor =
      static_cast<float>(meta.get_float_or(a + "rope.scaling.low_freq_factor", 1.0));
  const float high_freq_factor =
      static_cast<float>(meta.get_float_or(a + "rope.scaling.high_freq_factor", 4.0));
  const int64_t old_context_len = meta.get_int_or(a + "rope.scaling.original_context_length", 8192);
  const double low_freq_wavelen = static_cast<double>(old_context_len) / low_freq_factor;
  const double high_freq_wavelen = static_cast<double>(old_context_len) / high_freq_factor;
  const float two_pi = static_cast<float>(2 * M_PI);
  const float smooth_den =
      static_cast<float>(static_cast<double>(high_freq_factor) - low_freq_factor);
  std::vector<float> out;
  for (int64_t i = 0; i < dim; i += 2) {
    const float exponent = static_cast<float>(i) / static_cast<float>(dim);
    const float freq = 1.0f / std::pow(base, exponent);
    const float wavelen = two_pi / freq;
    if (wavelen < static_cast<float>(high_freq_wavelen)) {
      out.push_back(1.0f);
    } else if (wavelen > static_cast<float>(low_freq_wavelen)) {
      out.push_back(factor);
    } else {
      const float smooth =
          (static_cast<float>(old_context_len) / wavelen - low_freq_factor) / smooth_den;
      out.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
    }
  }
  return out;
}

Result<GgufLayout> GgufLayout::of(const ModelFile& src) {
  GgufLayout l;
  l.src_ = &src;
  l.arch_ = src.architecture();
  if (l.arch_.empty()) return invalid_argument("{}: no general.architecture", src.path);
  // Q/K permutation only when turning a Hugging Face llama into llama.cpp's layout (a GGUF source
  // already has it).
  l.permute_ = src.kind == SourceKind::kHfFolder && l.arch_ == "llama";
  l.n_head_ = src.meta.get_int_or(l.arch_ + ".attention.head_count", 0);
  l.n_head_kv_ = src.meta.get_int_or(l.arch_ + ".attention.head_count_kv", l.n_head_);
  if (src.meta.get_string_or(l.arch_ + ".rope.scaling.type", "") == "llama3" &&
      !src.find(kRopeFreqs)) {
    TQ_ASSIGN_OR_RETURN(l.rope_freqs_, llama3_rope_freq_factors(src.meta));
  }
  return l;
}

bool GgufLayout::before(std::string_view a, std::string_view b) {
  return order_key(a) < order_key(b);
}

Result<int64_t> GgufLayout::qk_permute_head_dim(std::string_view name, int64_t n_rows) const {
  const bool is_q = name.ends_with(".attn_q.weight") || name.ends_with(".attn_q.bias");
  const bool is_k = name.ends_with(".attn_k.weight") || name.ends_with(".attn_k.bias");
  if (!permute_ || !(is_q || is_k)) return int64_t{0};
  const int64_t heads = is_q ? n_head_ : n_head_kv_;
  if (heads <= 0 || n_rows % heads != 0 || (n_rows / heads) % 2 != 0)
    return corrupt_file("{}: tensor '{}' has {} rows, not a multiple of {} heads of even size",
                        src_->path, name, n_rows, heads);
  return n_rows / heads;
}

Result<Metadata> GgufLayout::metadata(TypeId target) const {
  const ModelFile& src = *src_;
  Metadata m = src.meta;
  const std::string& arch = arch_;
  m.erase("general.file_type_source");
  const std::string scaling_type = m.get_string_or(arch + ".rope.scaling.type", "");
  if (scaling_type == "llama3") {
    // llama.cpp knows no "llama3" scaling type (it would abort) and would apply rope.scaling.factor
    // as linear scaling; llama3 scaling travels as the rope_freqs.weight tensor instead.
    for (const char* k :
         {"type", "factor", "low_freq_factor", "high_freq_factor", "original_context_length"})
      m.erase(arch + ".rope.scaling." + k);
  }
  // Tokenizer: a GGUF source's tokenizer.ggml.* keys came along with its metadata; an HF folder's
  // tokenizer.json / tokenizer.model is exported the way convert_hf_to_gguf does (io/tokenizer.h).
  if (src.kind == SourceKind::kHfFolder) {
    const Status st = export_tokenizer_metadata(src, m);
    if (!st.ok())
      return st.with_context(fmt::format("{}: cannot export the tokenizer for GGUF", src.path));
  }
  if (is_turboquant_type(target)) {
    // Our own weight formats (tq<b>g<G>, q8, rtn4): no llama.cpp file type exists for them.
    m.erase("general.file_type");
    m.set("turboquant.weight.type", MetaValue::str(type_name(target)));
    if (find_tq_weight(target)) m.set(kTqWeightSeedKey, MetaValue::u64(kTqWeightRotationSeed));
  } else {
    TQ_ASSIGN_OR_RETURN(uint32_t file_type, llama_file_type(target));
    m.set("general.file_type", MetaValue::u32(file_type));
  }
  m.set("general.quantization_version", MetaValue::u32(2));  // GGML_QNT_VERSION
  return m;
}


}  // namespace tq

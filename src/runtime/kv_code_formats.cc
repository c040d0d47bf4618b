// The code-domain KV formats (runtime/kv_code_store.h): q8 and TurboQuant. Bits per element at
// head_dim d, scales included: q8 8 + 16/d; tqB B + 16/d; tqB.5 B + 1/4 + 32/d (d/4 outlier
// channels at B+1 bits, split before rotating); tqBp (keys) B + 32/d; tqwX X (transform-coded,
// runtime/kv_transform.h; head_dim a multiple of 16).
#include "core/check.h"
#include "runtime/kv_code_store.h"
#include "runtime/kv_format_families.h"

namespace tq {
namespace {

KvPartSpec lm(int bits, KvScaleRule rule = KvScaleRule::kLeastSquares) {
  return {bits, KvLevelRule::kLloydMax, rule, true};
}

CodeKvSpec tqw(double bits) {
  CodeKvSpec s;
  s.split = KvSplit::kTransform;
  s.transform_bits = bits;
  return s;
}

struct Entry {
  const char* name;
  const char* description;
  CodeKvSpec spec;
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> e = {
      {"q8",
       "int8 per head vector, absmax f16 scale (8 + 16/d bits)",
       {{{8, KvLevelRule::kUniform8, KvScaleRule::kAbsMax, false}}}},
      {"tq2", "TurboQuant 2-bit: rotation + Lloyd-Max codes + least-squares f16 scale", {{lm(2)}}},
      {"tq3", "TurboQuant 3-bit (least-squares scale)", {{lm(3)}}},
      {"tq4", "TurboQuant 4-bit (least-squares scale)", {{lm(4)}}},
      {"tq5", "TurboQuant 5-bit (least-squares scale)", {{lm(5)}}},
      {"tq3n",
       "TurboQuant_mse 3-bit with the norm as scale (the paper's form)",
       {{lm(3, KvScaleRule::kNorm)}}},
      {"tq4n",
       "TurboQuant_mse 4-bit with the norm as scale (the paper's form)",
       {{lm(4, KvScaleRule::kNorm)}}},
      {"tq2.5",
       "outlier split: d/4 highest-energy channels at 3 bits, the rest at 2",
       {{lm(3), lm(2)}, KvSplit::kOutliers}},
      {"tq3.5",
       "outlier split: d/4 highest-energy channels at 4 bits, the rest at 3",
       {{lm(4), lm(3)}, KvSplit::kOutliers}},
      {"tq4.5",
       "outlier split: d/4 highest-energy channels at 5 bits, the rest at 4",
       {{lm(5), lm(4)}, KvSplit::kOutliers}},
      {"tq3p",
       "TurboQuant_prod keys: 2-bit codes + 1-bit QJL of the residual (keys only)",
       {{lm(2), {1, KvLevelRule::kSign, KvScaleRule::kNorm, false}},
        KvSplit::kQjlResidual,
        4,
        true}},
      {"tq4p",
       "TurboQuant_prod keys: 3-bit codes + 1-bit QJL of the residual (keys only)",
       {{lm(3), {1, KvLevelRule::kSign, KvScaleRule::kNorm, false}},
        KvSplit::kQjlResidual,
        4,
        true}},
      {"tqw2.5",
       "transform-coded TurboQuant, 2.5 bits: calibrated whitened PCA + water-filled "
       "bits per 16 coordinates + one f16 scale",
       tqw(2.5)},
      {"tqw3", "transform-coded TurboQuant, 3 bits (see tqw2.5)", tqw(3.0)},
      {"tqw3.5", "transform-coded TurboQuant, 3.5 bits (see tqw2.5)", tqw(3.5)},
      {"tqw4", "transform-coded TurboQuant, 4 bits (see tqw2.5)", tqw(4.0)},
      {"tqw4.5", "transform-coded TurboQuant, 4.5 bits (see tqw2.5)", tqw(4.5)},
  };
  return e;
}

template <int I>
double bytes_per_token(int64_t n_kv_heads, int64_t head_dim) {
  return code_kv_bytes_per_token(entries()[I].spec, n_kv_heads, head_dim);
}
template <int I>
Result<std::unique_ptr<KvStore>> create(const KvStoreShape& s) {
  return make_code_kv_store(entries()[I].spec, entries()[I].name, s);
}

template <int... I>
std::vector<KvFormat> build(std::integer_sequence<int, I...>) {
  return {KvFormat{entries()[I].name, entries()[I].description, bytes_per_token<I>, create<I>,
                   entries()[I].spec.split == KvSplit::kOutliers ||
                       entries()[I].spec.split == KvSplit::kTransform,
                   entries()[I].spec.split == KvSplit::kTransform}...};
}

}  // namespace

std::span<const KvFormat> code_kv_formats() {
  static const std::vector<KvFormat> t = build(std::make_integer_sequence<int, 17>());
  TQ_CHECK(t.size() == entries().size(), "code_kv_formats: {} entries, {} registered",
           entries().size(), t.size());
  return t;
}

}  // namespace tq

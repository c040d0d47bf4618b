// SplitCodec: the outlier-split TurboQuant variant (two VectorCodecs over a channel split) and the
// helpers that choose the split (include/tq/codec.h).

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/rng.h"
#include "tq/codec.h"

namespace tq {

struct SplitCodec::Impl {
  SplitCodecConfig cfg;
  std::vector<int64_t> channels[2];  // ascending channel ids: outliers, rest
  std::vector<VectorCodec> parts;    // [2]

  // dst: [n, channels[p].size()] ← the part-p channels of x: [n, dim].
  void gather(int p, int64_t n, const float* x, float* dst) const {
    const auto& ch = channels[p];
    const int64_t dp = static_cast<int64_t>(ch.size());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < dp; ++j) dst[i * dp + j] = x[i * cfg.dim + ch[j]];
  }
  // Offsets of part p inside the planar buffers.
  int64_t code_offset(int p, int64_t n) const { return p == 0 ? 0 : n * parts[0].code_bytes(); }
};

Result<SplitCodec> SplitCodec::create(const SplitCodecConfig& config) {
  const int64_t d = config.dim;
  if (d < 4) return invalid_argument("split codec dimension must be >= 4 (two parts of >= 2), got {}", d);
  std::vector<char> is_outlier(d, 0);
  for (int64_t c : config.outlier_channels) {
    if (c < 0 || c >= d) return invalid_argument("outlier channel {} outside [0, {})", c, d);
    if (is_outlier[c]) return invalid_argument("outlier channel {} listed twice", c);
    is_outlier[c] = 1;
  }
  const int64_t n_hi = static_cast<int64_t>(config.outlier_channels.size());
  if (n_hi < 2 || d - n_hi < 2)
    return invalid_argument("split codec needs >= 2 outlier and >= 2 other channels; got {} of {}", n_hi, d);
  auto impl = std::make_shared<Impl>();
  impl->cfg = config;
  for (int64_t c = 0; c < d; ++c) impl->channels[is_outlier[c] ? 0 : 1].push_back(c);
  for (int p = 0; p < 2; ++p) {
    CodecConfig cc;
    cc.dim = static_cast<int64_t>(impl->channels[p].size());
    cc.bits = p == 0 ? config.bits_hi : config.bits_lo;
    cc.kind = config.kind;
    cc.seed = mix_seed(config.seed, 0x5157 + p);
    cc.rotation_rounds = config.rotation_rounds;
    cc.kernels = config.kernels;
    auto part = VectorCodec::create(cc);
    if (!part.ok()) return part.status().with_context(p == 0 ? "outlier part" : "regular part");
    impl->parts.push_back(std::move(part).value());
  }
  SplitCodec s;
  s.impl_ = std::move(impl);
  return s;
}

const SplitCodecConfig& SplitCodec::config() const { return impl_->cfg; }
int64_t SplitCodec::dim() const { return impl_->cfg.dim; }
const VectorCodec& SplitCodec::part(int i) const { return impl_->parts[i]; }
const std::vector<int64_t>& SplitCodec::channels(int i) const { return impl_->channels[i]; }
int64_t SplitCodec::code_bytes() const { return impl_->parts[0].code_bytes() + impl_->parts[1].code_bytes(); }
int64_t SplitCodec::scalars_per_vector() const { return impl_->cfg.kind == CodecKind::kProd ? 4 : 2; }
double SplitCodec::bits_per_vector() const {
  return impl_->parts[0].bits_per_vector() + impl_->parts[1].bits_per_vector();
}
double SplitCodec::bits_per_coordinate() const { return bits_per_vector() / static_cast<double>(dim()); }

namespace {

Status check_size(const char* what, size_t have, int64_t need) {
  if (static_cast<int64_t>(have) != need)
    return invalid_argument("split codec {}: buffer has {} elements, expected {}", what, have, need);
  return ok_status();
}

}  // namespace

Status SplitCodec::encode(int64_t n, std::span<const float> x, std::span<uint8_t> codes, std::span<float> norms,
                          std::span<float> gammas) const {
  const Impl& m = *impl_;
  if (n < 0) return invalid_argument("split codec encode: n must be >= 0, got {}", n);
  const bool prod = m.cfg.kind == CodecKind::kProd;
  TQ_RETURN_IF_ERROR(check_size("encode x", x.size(), n * m.cfg.dim));
  TQ_RETURN_IF_ERROR(check_size("encode codes", codes.size(), n * code_bytes()));
  TQ_RETURN_IF_ERROR(check_size("encode norms", norms.size(), 2 * n));
  TQ_RETURN_IF_ERROR(check_size("encode gammas", gammas.size(), prod ? 2 * n : 0));
  for (int p = 0; p < 2; ++p) {
    const VectorCodec& c = m.parts[p];
    std::vector<float> sub(static_cast<size_t>(n * c.dim()));  // [n, d_p]
    m.gather(p, n, x.data(), sub.data());
    Status st = c.encode(n, sub, codes.subspan(m.code_offset(p, n), n * c.code_bytes()), norms.subspan(p * n, n),
                         prod ? gammas.subspan(p * n, n) : std::span<float>());
    if (!st.ok()) return st.with_context(fmt::format("split codec part {} (channels {})", p, p == 0 ? "outliers" : "rest"));
  }
  return ok_status();
}

Status SplitCodec::decode(int64_t n, std::span<const uint8_t> codes, std::span<const float> norms,
                          std::span<const float> gammas, std::span<float> out) const {
  const Impl& m = *impl_;
  if (n < 0) return invalid_argument("split codec decode: n must be >= 0, got {}", n);
  const bool prod = m.cfg.kind == CodecKind::kProd;
  TQ_RETURN_IF_ERROR(check_size("decode codes", codes.size(), n * code_bytes()));
  TQ_RETURN_IF_ERROR(check_size("decode norms", norms.size(), 2 * n));
  TQ_RETURN_IF_ERROR(check_size("decode gammas", gammas.size(), prod ? 2 * n : 0));
  TQ_RETURN_IF_ERROR(check_size("decode out", out.size(), n * m.cfg.dim));
  for (int p = 0; p < 2; ++p) {
    const VectorCodec& c = m.parts[p];
    const int64_t dp = c.dim();
    std::vector<float> sub(static_cast<size_t>(n * dp));  // [n, d_p]
    CodesView v{n, codes.subspan(m.code_offset(p, n), n * c.code_bytes()), norms.subspan(p * n, n),
                prod ? gammas.subspan(p * n, n) : std::span<const float>()};
    TQ_RETURN_IF_ERROR(c.decode(v, sub));
    const auto& ch = m.channels[p];
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < dp; ++j) out[i * m.cfg.dim + ch[j]] = sub[i * dp + j];
  }
  return ok_status();
}

Result<PreparedSplitQuery> SplitCodec::prepare_query(std::span<const float> q) const {
  const Impl& m = *impl_;
  if (static_cast<int64_t>(q.size()) != m.cfg.dim)
    return invalid_argument("query has {} values, split codec dimension is {}", q.size(), m.cfg.dim);
  PreparedSplitQuery out;
  for (int p = 0; p < 2; ++p) {
    std::vector<float> sub(m.channels[p].size());
    m.gather(p, 1, q.data(), sub.data());
    TQ_ASSIGN_OR_RETURN(out.part[p], m.parts[p].prepare_query(sub));
  }
  return out;
}

namespace {

enum class Score { kInnerProduct, kSquaredL2 };

Status score(const SplitCodec& s, Score what, const PreparedSplitQuery& q, int64_t n, std::span<const uint8_t> codes,
             std::span<const float> norms, std::span<const float> gammas, std::span<float> out) {
  if (n < 0) return invalid_argument("split codec scoring: n must be >= 0, got {}", n);
  const bool prod = s.config().kind == CodecKind::kProd;
  TQ_RETURN_IF_ERROR(check_size("scoring codes", codes.size(), n * s.code_bytes()));
  TQ_RETURN_IF_ERROR(check_size("scoring norms", norms.size(), 2 * n));
  TQ_RETURN_IF_ERROR(check_size("scoring gammas", gammas.size(), prod ? 2 * n : 0));
  TQ_RETURN_IF_ERROR(check_size("scoring out", out.size(), n));
  std::vector<float> tmp(static_cast<size_t>(n));
  int64_t offset = 0;
  for (int p = 0; p < 2; ++p) {
    const VectorCodec& c = s.part(p);
    CodesView v{n, codes.subspan(offset, n * c.code_bytes()), norms.subspan(p * n, n),
                prod ? gammas.subspan(p * n, n) : std::span<const float>()};
    offset += n * c.code_bytes();
    std::span<float> dst = p == 0 ? out : std::span<float>(tmp);
    TQ_RETURN_IF_ERROR(what == Score::kInnerProduct ? c.inner_products(q.part[p], v, dst)
                                                    : c.squared_l2(q.part[p], v, dst));
  }
  for (int64_t i = 0; i < n; ++i) out[i] += tmp[i];
  return ok_status();
}

}  // namespace

Status SplitCodec::inner_products(const PreparedSplitQuery& q, int64_t n, std::span<const uint8_t> codes,
                                  std::span<const float> norms, std::span<const float> gammas,
                                  std::span<float> out) const {
  return score(*this, Score::kInnerProduct, q, n, codes, norms, gammas, out);
}

Status SplitCodec::squared_l2(const PreparedSplitQuery& q, int64_t n, std::span<const uint8_t> codes,
                              std::span<const float> norms, std::span<const float> gammas,
                              std::span<float> out) const {
  return score(*this, Score::kSquaredL2, q, n, codes, norms, gammas, out);
}

Result<SplitPlan> split_plan_for_rate(int64_t dim, double rate_bits) {
  if (!(rate_bits > 1.0 && rate_bits < 8.0))
    return invalid_argument("split rate must be strictly between 1 and 8 bits, got {}", rate_bits);
  if (rate_bits == std::floor(rate_bits))
    return invalid_argument("split rate {} is an integer: use a single VectorCodec", rate_bits);
  SplitPlan p;
  p.bits_lo = static_cast<int>(std::floor(rate_bits));
  p.bits_hi = p.bits_lo + 1;
  p.n_outliers = std::llround((rate_bits - p.bits_lo) * static_cast<double>(dim));
  if (p.n_outliers < 2 || dim - p.n_outliers < 2)
    return invalid_argument("rate {} at dimension {} leaves a part with fewer than 2 channels", rate_bits, dim);
  p.rate_bits = static_cast<double>(p.n_outliers * p.bits_hi + (dim - p.n_outliers) * p.bits_lo) /
                static_cast<double>(dim);
  return p;
}

Result<std::vector<int64_t>> choose_outlier_channels(int64_t n, int64_t dim, std::span<const float> sample,
                                                     int64_t count) {
  if (n < 1 || dim < 1) return invalid_argument("outlier channels: need n >= 1 and dim >= 1, got {} x {}", n, dim);
  if (static_cast<int64_t>(sample.size()) != n * dim)
    return invalid_argument("outlier channels: sample has {} values, expected {} x {}", sample.size(), n, dim);
  if (count < 1 || count > dim) return invalid_argument("outlier channels: count {} outside [1, {}]", count, dim);
  std::vector<double> energy(dim, 0.0);  // [dim] Σ x² per channel
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < dim; ++j) {
      const float v = sample[i * dim + j];
      if (!std::isfinite(v)) return invalid_argument("outlier channels: sample[{}][{}] is {}", i, j, v);
      energy[j] += static_cast<double>(v) * v;
    }
  std::vector<int64_t> order(dim);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return energy[a] > energy[b]; });
  order.resize(count);
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace tq

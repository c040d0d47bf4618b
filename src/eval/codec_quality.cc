#include "eval/codec_quality.h"

#include <cmath>
#include <cstring>
#include <numbers>

#include "core/file_util.h"
#include "core/rng.h"
#include "math/lloyd_max.h"
#include "math/qjl.h"
#include "math/stats.h"

namespace tq {
namespace {

void fill_unit_vectors(int64_t n, int64_t d, Rng& rng, std::vector<float>& x) {
  x.resize(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) {
    double norm = 0.0;
    for (int64_t j = 0; j < d; ++j) {
      x[i * d + j] = static_cast<float>(rng.normal());
      norm += static_cast<double>(x[i * d + j]) * x[i * d + j];
    }
    const double inv = 1.0 / std::sqrt(norm);
    for (int64_t j = 0; j < d; ++j) x[i * d + j] = static_cast<float>(x[i * d + j] * inv);
  }
}

}  // namespace

Result<MseMeasurement> measure_unit_mse(int64_t dim, int bits, int64_t n, uint64_t seed) {
  CodecConfig cfg;
  cfg.dim = dim;
  cfg.bits = bits;
  cfg.seed = mix_seed(seed, 1);
  TQ_ASSIGN_OR_RETURN(VectorCodec codec, VectorCodec::create(cfg));
  Rng rng(seed);
  std::vector<float> u, back(static_cast<size_t>(n * dim));
  fill_unit_vectors(n, dim, rng, u);
  TQ_ASSIGN_OR_RETURN(EncodedBatch enc, codec.encode(n, u));
  TQ_RETURN_IF_ERROR(codec.decode(enc.view(), back));
  RunningStats err;
  for (int64_t i = 0; i < n; ++i) err.add(squared_error(back.data() + i * dim, u.data() + i * dim, dim));
  MseMeasurement m;
  m.dim = dim;
  m.bits = bits;
  m.n = n;
  m.measured = err.mean();
  m.std_error = err.std_error();
  m.theory = codec.expected_unit_mse();
  m.lower_bound = std::pow(4.0, -bits);
  return m;
}

Result<InnerProductMeasurement> measure_inner_products(CodecKind kind, int64_t dim, int bits, int64_t pairs,
                                                       uint64_t seed) {
  Rng rng(seed);
  RunningStats err, sq, ratio;
  std::vector<float> x(dim), q(dim), one(1);
  for (int64_t t = 0; t < pairs; ++t) {
    double xn = 0.0;
    for (auto& v : x) {
      v = static_cast<float>(rng.normal());
      xn += static_cast<double>(v) * v;
    }
    const double xs = std::sqrt(static_cast<double>(dim) / xn);
    for (int64_t j = 0; j < dim; ++j) q[j] = static_cast<float>(0.6 * x[j] * xs + 0.8 * rng.normal());
    CodecConfig cfg;
    cfg.dim = dim;
    cfg.bits = bits;
    cfg.kind = kind;
    cfg.seed = rng.next_u64();
    TQ_ASSIGN_OR_RETURN(VectorCodec codec, VectorCodec::create(cfg));
    TQ_ASSIGN_OR_RETURN(EncodedBatch enc, codec.encode(1, x));
    TQ_ASSIGN_OR_RETURN(PreparedQuery pq, codec.prepare_query(q));
    TQ_RETURN_IF_ERROR(codec.inner_products(pq, enc.view(), one));
    const double qn2 = squared_norm_f64(q.data(), dim);
    const double scale = std::sqrt(xn * qn2);
    const double e = (one[0] - dot_f64(q.data(), x.data(), dim)) / scale;
    err.add(e);
    sq.add(e * e);
    if (kind == CodecKind::kProd) {
      const double r2 = static_cast<double>(enc.norms[0]) * enc.norms[0] * enc.gammas[0] * enc.gammas[0];
      const double bound = std::numbers::pi / (2.0 * dim) * r2 * qn2;
      ratio.add(e * e * scale * scale / bound);
    }
  }
  InnerProductMeasurement m;
  m.kind = kind;
  m.dim = dim;
  m.bits = bits;
  m.pairs = pairs;
  m.bias = err.mean();
  m.bias_se = err.std_error();
  m.rmse = std::sqrt(sq.mean());
  m.var_over_bound = ratio.mean();
  return m;
}

Result<QjlMeasurement> measure_qjl(bool structured, int64_t dim, double cos_rq, int trials, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> r(dim), g(dim), q(dim), pr(dim), pq(dim);
  std::vector<uint8_t> signs((dim + 7) / 8);
  for (auto& v : r) v = static_cast<float>(rng.normal());
  for (auto& v : g) v = static_cast<float>(rng.normal());
  // q = cos·r̂ + sin·(g ⊥ r)̂
  const double rn = std::sqrt(squared_norm_f64(r.data(), dim));
  const double gr = dot_f64(g.data(), r.data(), dim) / (rn * rn);
  for (int64_t j = 0; j < dim; ++j) g[j] = static_cast<float>(g[j] - gr * r[j]);
  const double gn = std::sqrt(squared_norm_f64(g.data(), dim));
  const double sin_rq = std::sqrt(std::max(0.0, 1.0 - cos_rq * cos_rq));
  for (int64_t j = 0; j < dim; ++j) q[j] = static_cast<float>(cos_rq * r[j] / rn + sin_rq * g[j] / gn);
  const double truth = dot_f64(q.data(), r.data(), dim);
  const double bound = std::numbers::pi / (2.0 * dim) * rn * rn * squared_norm_f64(q.data(), dim);
  RunningStats err;
  for (int t = 0; t < trials; ++t) {
    TQ_ASSIGN_OR_RETURN(QjlSketch s, QjlSketch::create(dim, rng.next_u64(),
                                                       structured ? QjlKind::kStructured : QjlKind::kGaussian));
    s.project(r.data(), pr.data());
    s.signs_of(pr.data(), signs.data());
    s.project(q.data(), pq.data());
    err.add(rn * s.scale() * s.dot_signs(pq.data(), signs.data()) - truth);
  }
  QjlMeasurement m;
  m.bias_z = err.std_error() > 0 ? err.mean() / err.std_error() : 0.0;
  m.var_over_bound = err.variance() / bound;
  return m;
}

namespace {

double relative_error(const std::vector<float>& x, const std::vector<float>& back) {
  return squared_error(back.data(), x.data(), static_cast<int64_t>(x.size())) /
         squared_norm_f64(x.data(), static_cast<int64_t>(x.size()));
}

}  // namespace

Result<std::vector<RateMeasurement>> measure_fractional_rates(int64_t dim, int64_t n, uint64_t seed) {
  // Vectors with 8 outlier channels (every 16th, 10x the scale), like KV activations.
  Rng rng(seed);
  std::vector<float> x(static_cast<size_t>(n * dim)), back(x.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < dim; ++j)
      x[i * dim + j] = static_cast<float>(rng.normal() * ((j % 16 == 3 && j / 16 < 8) ? 10.0 : 1.0));
  std::vector<RateMeasurement> out;
  for (int bits : {2, 3, 4}) {
    CodecConfig cfg;
    cfg.dim = dim;
    cfg.bits = bits;
    cfg.seed = mix_seed(seed, bits);
    TQ_ASSIGN_OR_RETURN(VectorCodec c, VectorCodec::create(cfg));
    TQ_ASSIGN_OR_RETURN(EncodedBatch e, c.encode(n, x));
    TQ_RETURN_IF_ERROR(c.decode(e.view(), back));
    out.push_back({fmt::format("{} bits", bits), c.bits_per_coordinate(), relative_error(x, back)});
  }
  for (double rate : {2.5, 3.5}) {
    TQ_ASSIGN_OR_RETURN(SplitPlan plan, split_plan_for_rate(dim, rate));
    SplitCodecConfig cfg;
    cfg.dim = dim;
    cfg.bits_hi = plan.bits_hi;
    cfg.bits_lo = plan.bits_lo;
    cfg.seed = mix_seed(seed, static_cast<uint64_t>(rate * 10));
    TQ_ASSIGN_OR_RETURN(cfg.outlier_channels, choose_outlier_channels(n, dim, x, plan.n_outliers));
    TQ_ASSIGN_OR_RETURN(SplitCodec c, SplitCodec::create(cfg));
    std::vector<uint8_t> codes(static_cast<size_t>(n * c.code_bytes()));
    std::vector<float> norms(static_cast<size_t>(2 * n));
    TQ_RETURN_IF_ERROR(c.encode(n, x, codes, norms));
    TQ_RETURN_IF_ERROR(c.decode(n, codes, norms, {}, back));
    out.push_back({fmt::format("{} bits ({} channels at {} by energy, {} at {})", rate, plan.n_outliers,
                               plan.bits_hi, dim - plan.n_outliers, plan.bits_lo),
                   c.bits_per_coordinate(), relative_error(x, back)});
  }
  return out;
}

Result<std::vector<float>> read_fvecs(const std::string& path, int64_t max_n, int64_t* dim, int64_t* n) {
  TQ_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  std::vector<float> out;
  int64_t d = -1, rows = 0;
  size_t pos = 0;
  while (pos < bytes.size() && rows < max_n) {
    int32_t row_dim;
    if (pos + 4 > bytes.size()) return corrupt_file("{}: truncated header of vector {}", path, rows);
    std::memcpy(&row_dim, bytes.data() + pos, 4);
    if (row_dim <= 0 || (d >= 0 && row_dim != d))
      return corrupt_file("{}: vector {} has dimension {} (expected {})", path, rows, row_dim, d);
    d = row_dim;
    if (pos + 4 + 4 * static_cast<size_t>(d) > bytes.size()) return corrupt_file("{}: vector {} is truncated", path, rows);
    const size_t old = out.size();
    out.resize(old + d);
    std::memcpy(out.data() + old, bytes.data() + pos + 4, 4 * static_cast<size_t>(d));
    pos += 4 + 4 * static_cast<size_t>(d);
    ++rows;
  }
  if (rows == 0) return corrupt_file("{}: no vectors", path);
  for (float v : out)
    if (!std::isfinite(v)) return corrupt_file("{}: non-finite value", path);
  *dim = d;
  *n = rows;
  return out;
}

}  // namespace tq

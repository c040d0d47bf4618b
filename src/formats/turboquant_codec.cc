// VectorCodec: TurboQuant_mse / TurboQuant_prod over batches (include/tq/codec.h).

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "core/parallel.h"
#include "core/rng.h"
#include "formats/turboquant_kernels.h"
#include "math/bitpack.h"
#include "math/lloyd_max.h"
#include "math/qjl.h"
#include "math/rotation.h"
#include "tq/codec.h"

namespace tq {

const char* codec_kind_name(CodecKind kind) {
  switch (kind) {
    case CodecKind::kMse: return "mse";
    case CodecKind::kProd: return "prod";
  }
  return "unknown";
}

struct VectorCodec::Impl {
  CodecConfig cfg;
  int mse_bits = 0;
  int64_t mse_bytes = 0, sign_bytes = 0, code_bytes = 0;
  HadamardRotation rotation;
  const Codebook* codebook = nullptr;  // cached, immortal; null when mse_bits == 0
  std::vector<float> centroids;        // [2^mse_bits] float centroids (sphere codebook, unit vectors)
  std::vector<float> boundaries;       // [2^mse_bits − 1]
  QuantizeGrid grid;                   // fast quantize for mse_bits >= 5
  std::optional<QjlSketch> qjl;        // kProd only
  float qjl_scale = 0.0f;              // κ
  const TurboQuantKernels* k = nullptr;
  bool reference = false;

  void rotate(const float* x, float* y, float* scratch) const {
    if (reference) rotation.forward_ref(x, y); else rotation.forward(x, y, scratch);
  }
  void unrotate(const float* y, float* x, float* scratch) const {
    if (reference) rotation.inverse_ref(y, x); else rotation.inverse(y, x, scratch);
  }
  void pack(const uint8_t* idx, uint8_t* out) const {
    if (reference) ref::pack_bits(idx, cfg.dim, mse_bits, out); else pack_bits(idx, cfg.dim, mse_bits, out);
  }
  void unpack(const uint8_t* in, uint8_t* idx) const {
    if (reference) ref::unpack_bits(in, cfg.dim, mse_bits, idx); else unpack_bits(in, cfg.dim, mse_bits, idx);
  }
  float signed_sum_of(const float* x, const uint8_t* signs) const {
    return reference ? ref::signed_sum(x, signs, cfg.dim) : signed_sum(x, signs, cfg.dim);
  }
  // Σ_j q_j·ĉ_j for one vector's codes (0 for a pure-QJL code) + the QJL term for kProd.
  float unit_inner_product(const PreparedQuery& q, const uint8_t* row, float gamma, uint8_t* idx) const {
    float s = 0.0f;
    if (mse_bits > 0) {
      unpack(row, idx);
      s = k->dot_codes(q.rotated.data(), idx, cfg.dim, centroids.data(), mse_bits);
    }
    if (qjl) s += gamma * qjl_scale * signed_sum_of(q.projected.data(), row + mse_bytes);
    return s;
  }
};

namespace {

// Per-thread scratch for one vector.
struct Scratch {
  explicit Scratch(int64_t d) : y(d), r(d), proj(d), rot(d), idx(d) {}
  std::vector<float> y, r, proj, rot;  // [d] each
  std::vector<uint8_t> idx;            // [d]
};

int64_t min_chunk_for(int64_t d) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, d)); }

Status check_rows(const char* what, int64_t n, int64_t row_elems, size_t have, const char* unit) {
  if (n < 0) return invalid_argument("{}: n must be >= 0, got {}", what, n);
  if (row_elems > 0 && n > std::numeric_limits<int64_t>::max() / row_elems)
    return invalid_argument("{}: n = {} rows of {} {} overflow", what, n, row_elems, unit);
  const int64_t need = n * row_elems;
  if (static_cast<int64_t>(have) != need)
    return invalid_argument("{}: buffer has {} {}, expected {} ({} rows x {})", what, have, unit, need, n,
                            row_elems);
  return ok_status();
}

Status check_finite(const char* what, std::span<const float> v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return invalid_argument("{}[{}] is {} (values must be finite)", what, i, v[i]);
  return ok_status();
}

}  // namespace

Result<VectorCodec> VectorCodec::create(const CodecConfig& config) {
  if (config.dim < 2) return invalid_argument("codec dimension must be >= 2, got {}", config.dim);
  if (config.bits < 1 || config.bits > 8) return invalid_argument("codec bits must be in [1, 8], got {}", config.bits);
  if (config.kind != CodecKind::kMse && config.kind != CodecKind::kProd)
    return invalid_argument("unknown codec kind {}", static_cast<int>(config.kind));
  if (config.kernels != KernelPath::kSimd && config.kernels != KernelPath::kReference)
    return invalid_argument("unknown kernel path {}", static_cast<int>(config.kernels));
  auto impl = std::make_shared<Impl>();
  impl->cfg = config;
  impl->mse_bits = config.kind == CodecKind::kProd ? config.bits - 1 : config.bits;
  impl->mse_bytes = packed_bytes(config.dim, impl->mse_bits);
  impl->sign_bytes = config.kind == CodecKind::kProd ? (config.dim + 7) / 8 : 0;
  impl->code_bytes = impl->mse_bytes + impl->sign_bytes;
  TQ_ASSIGN_OR_RETURN(impl->rotation, HadamardRotation::create(config.dim, mix_seed(config.seed, 1),
                                                               config.rotation_rounds));
  if (impl->mse_bits > 0) {
    TQ_ASSIGN_OR_RETURN(impl->codebook, sphere_codebook(config.dim, impl->mse_bits));
    impl->centroids = impl->codebook->centroids_f32;
    impl->boundaries = impl->codebook->boundaries_f32;
    impl->grid = make_quantize_grid(impl->boundaries.data(), impl->mse_bits);
  }
  if (config.kind == CodecKind::kProd) {
    TQ_ASSIGN_OR_RETURN(QjlSketch s, QjlSketch::create(config.dim, mix_seed(config.seed, 2)));
    impl->qjl_scale = static_cast<float>(s.scale());
    impl->qjl = std::move(s);
  }
  impl->reference = config.kernels == KernelPath::kReference;
  impl->k = impl->reference ? &turboquant_reference_kernels() : &turboquant_simd_kernels();
  VectorCodec c;
  c.impl_ = std::move(impl);
  return c;
}

const CodecConfig& VectorCodec::config() const { return impl_->cfg; }
int64_t VectorCodec::dim() const { return impl_->cfg.dim; }
int VectorCodec::bits() const { return impl_->cfg.bits; }
CodecKind VectorCodec::kind() const { return impl_->cfg.kind; }
int VectorCodec::mse_bits() const { return impl_->mse_bits; }
int64_t VectorCodec::mse_code_bytes() const { return impl_->mse_bytes; }
int64_t VectorCodec::sign_bytes() const { return impl_->sign_bytes; }
int64_t VectorCodec::code_bytes() const { return impl_->code_bytes; }
double VectorCodec::bits_per_vector() const {
  return 8.0 * static_cast<double>(impl_->code_bytes) + 32.0 * (impl_->cfg.kind == CodecKind::kProd ? 2 : 1);
}
double VectorCodec::bits_per_coordinate() const { return bits_per_vector() / static_cast<double>(dim()); }
double VectorCodec::expected_unit_mse() const { return impl_->codebook ? impl_->codebook->unit_vector_mse() : 1.0; }
const HadamardRotation& VectorCodec::rotation() const { return impl_->rotation; }
const Codebook* VectorCodec::codebook() const { return impl_->codebook; }
const QjlSketch* VectorCodec::qjl() const { return impl_->qjl ? &*impl_->qjl : nullptr; }

Status VectorCodec::encode(int64_t n, std::span<const float> x, std::span<uint8_t> codes, std::span<float> norms,
                           std::span<float> gammas) const {
  const Impl& m = *impl_;
  const int64_t d = m.cfg.dim;
  TQ_RETURN_IF_ERROR(check_rows("encode: x", n, d, x.size(), "floats"));
  TQ_RETURN_IF_ERROR(check_rows("encode: codes", n, m.code_bytes, codes.size(), "bytes"));
  TQ_RETURN_IF_ERROR(check_rows("encode: norms", n, 1, norms.size(), "floats"));
  TQ_RETURN_IF_ERROR(check_rows("encode: gammas", n, m.qjl ? 1 : 0, gammas.size(), "floats"));
  std::atomic<int64_t> first_bad{std::numeric_limits<int64_t>::max()};
  parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        Scratch s(d);
        for (int64_t i = begin; i < end; ++i) {
          const float* xi = x.data() + i * d;
          uint8_t* row = codes.data() + i * m.code_bytes;
          const double ss = m.k->sum_squares(xi, d);
          const float norm = static_cast<float>(std::sqrt(ss));
          if (!std::isfinite(norm)) {  // NaN/Inf input, or a norm beyond float range
            int64_t prev = first_bad.load();
            while (i < prev && !first_bad.compare_exchange_weak(prev, i)) {
            }
            continue;
          }
          const float inv = norm > 0.0f ? 1.0f / norm : 0.0f;
          m.rotate(xi, s.y.data(), s.rot.data());  // Π·x; the unit vector's coordinates are y·inv
          if (m.mse_bits > 0) {
            m.k->quantize(s.y.data(), d, inv, m.boundaries.data(), m.mse_bits, m.grid, s.idx.data());
            m.pack(s.idx.data(), row);
          }
          norms[i] = norm;
          if (m.qjl) {
            if (m.mse_bits > 0) {
              m.k->residual(s.y.data(), inv, s.idx.data(), d, m.centroids.data(), m.mse_bits, s.r.data());
            } else {
              for (int64_t j = 0; j < d; ++j) s.r[j] = s.y[j] * inv;
            }
            gammas[i] = static_cast<float>(std::sqrt(m.k->sum_squares(s.r.data(), d)));
            if (m.reference) m.qjl->project_ref(s.r.data(), s.proj.data()); else m.qjl->project(s.r.data(), s.proj.data());
            m.qjl->signs_of(s.proj.data(), row + m.mse_bytes);
          }
        }
      },
      min_chunk_for(d));
  const int64_t bad = first_bad.load();
  if (bad != std::numeric_limits<int64_t>::max()) {
    const float* xi = x.data() + bad * d;
    for (int64_t j = 0; j < d; ++j)
      if (!std::isfinite(xi[j]))
        return invalid_argument("encode: x[{}][{}] is {} (vectors must be finite)", bad, j, xi[j]);
    return invalid_argument("encode: the norm of vector {} overflows float", bad);
  }
  return ok_status();
}

Result<EncodedBatch> VectorCodec::encode(int64_t n, std::span<const float> x) const {
  if (n < 0) return invalid_argument("encode: n must be >= 0, got {}", n);
  TQ_RETURN_IF_ERROR(check_rows("encode: x", n, dim(), x.size(), "floats"));
  EncodedBatch b;
  b.n = n;
  b.codes.resize(static_cast<size_t>(n * code_bytes()));
  b.norms.resize(static_cast<size_t>(n));
  if (kind() == CodecKind::kProd) b.gammas.resize(static_cast<size_t>(n));
  TQ_RETURN_IF_ERROR(encode(n, x, b.codes, b.norms, b.gammas));
  return b;
}

namespace {

Status check_view(const char* what, const VectorCodec& c, const CodesView& in) {
  TQ_RETURN_IF_ERROR(check_rows(fmt::format("{}: codes", what).c_str(), in.n, c.code_bytes(), in.codes.size(), "bytes"));
  TQ_RETURN_IF_ERROR(check_rows(fmt::format("{}: norms", what).c_str(), in.n, 1, in.norms.size(), "floats"));
  TQ_RETURN_IF_ERROR(check_rows(fmt::format("{}: gammas", what).c_str(), in.n, c.kind() == CodecKind::kProd ? 1 : 0,
                                in.gammas.size(), "floats"));
  return ok_status();
}

Status check_query(const VectorCodec& c, const PreparedQuery& q) {
  if (static_cast<int64_t>(q.rotated.size()) != c.dim())
    return invalid_argument("prepared query has dimension {}, codec {}", q.rotated.size(), c.dim());
  if (c.kind() == CodecKind::kProd && static_cast<int64_t>(q.projected.size()) != c.dim())
    return invalid_argument("prepared query lacks the QJL projection (prepared by another codec kind?)");
  return ok_status();
}

}  // namespace

Status VectorCodec::decode(const CodesView& in, std::span<float> out) const {
  const Impl& m = *impl_;
  const int64_t d = m.cfg.dim;
  TQ_RETURN_IF_ERROR(check_view("decode", *this, in));
  TQ_RETURN_IF_ERROR(check_rows("decode: out", in.n, d, out.size(), "floats"));
  parallel_for(
      in.n,
      [&](int64_t begin, int64_t end) {
        Scratch s(d);
        for (int64_t i = begin; i < end; ++i) {
          const uint8_t* row = in.codes.data() + i * m.code_bytes;
          const float norm = in.norms[i];
          if (m.mse_bits > 0) {
            m.unpack(row, s.idx.data());
            m.k->dequantize(s.idx.data(), d, m.centroids.data(), m.mse_bits, norm, s.y.data());
          } else {
            std::fill(s.y.begin(), s.y.end(), 0.0f);
          }
          if (m.qjl) {
            if (m.reference) m.qjl->project_transpose_signs_ref(row + m.mse_bytes, s.proj.data());
            else m.qjl->project_transpose_signs(row + m.mse_bytes, s.proj.data());
            const float w = norm * in.gammas[i] * m.qjl_scale;
            for (int64_t j = 0; j < d; ++j) s.y[j] += w * s.proj[j];
          }
          m.unrotate(s.y.data(), out.data() + i * d, s.rot.data());
        }
      },
      min_chunk_for(d));
  return ok_status();
}

Result<PreparedQuery> VectorCodec::prepare_query(std::span<const float> q) const {
  const Impl& m = *impl_;
  if (static_cast<int64_t>(q.size()) != m.cfg.dim)
    return invalid_argument("query has {} values, codec dimension is {}", q.size(), m.cfg.dim);
  TQ_RETURN_IF_ERROR(check_finite("query", q));
  PreparedQuery p;
  p.rotated.resize(m.cfg.dim);
  std::vector<float> scratch(m.cfg.dim);
  m.rotate(q.data(), p.rotated.data(), scratch.data());
  if (m.qjl) {
    p.projected.resize(m.cfg.dim);
    if (m.reference) m.qjl->project_ref(p.rotated.data(), p.projected.data());
    else m.qjl->project(p.rotated.data(), p.projected.data());
  }
  p.norm_sq = m.k->sum_squares(q.data(), m.cfg.dim);
  return p;
}

Status VectorCodec::inner_products(const PreparedQuery& q, const CodesView& in, std::span<float> out) const {
  const Impl& m = *impl_;
  TQ_RETURN_IF_ERROR(check_query(*this, q));
  TQ_RETURN_IF_ERROR(check_view("inner_products", *this, in));
  TQ_RETURN_IF_ERROR(check_rows("inner_products: out", in.n, 1, out.size(), "floats"));
  parallel_for(
      in.n,
      [&](int64_t begin, int64_t end) {
        std::vector<uint8_t> scratch(m.cfg.dim);
        const uint8_t* codes = in.codes.data();
        if (m.mse_bits > 0) {
          m.k->score_rows(q.rotated.data(), codes + begin * m.code_bytes, m.code_bytes, end - begin, m.cfg.dim,
                          m.centroids.data(), m.mse_bits, scratch.data(), out.data() + begin);
        } else {
          std::fill(out.begin() + begin, out.begin() + end, 0.0f);
        }
        for (int64_t i = begin; i < end; ++i) {
          float s = out[i];
          if (m.qjl)
            s += in.gammas[i] * m.qjl_scale * m.signed_sum_of(q.projected.data(), codes + i * m.code_bytes + m.mse_bytes);
          out[i] = in.norms[i] * s;
        }
      },
      min_chunk_for(m.cfg.dim));
  return ok_status();
}

Status VectorCodec::squared_l2(const PreparedQuery& q, const CodesView& in, std::span<float> out) const {
  const Impl& m = *impl_;
  TQ_RETURN_IF_ERROR(check_query(*this, q));
  TQ_RETURN_IF_ERROR(check_view("squared_l2", *this, in));
  TQ_RETURN_IF_ERROR(check_rows("squared_l2: out", in.n, 1, out.size(), "floats"));
  const double qq = q.norm_sq;
  parallel_for(
      in.n,
      [&](int64_t begin, int64_t end) {
        std::vector<uint8_t> idx(m.cfg.dim);
        for (int64_t i = begin; i < end; ++i) {
          const uint8_t* row = in.codes.data() + i * m.code_bytes;
          const double norm = in.norms[i];
          if (!m.qjl) {  // distance to the reconstruction: ‖q‖² − 2‖x‖⟨Πq, c⟩ + ‖x‖²‖c‖²
            float qc, cc;
            m.unpack(row, idx.data());
            m.k->dot_codes_l2(q.rotated.data(), idx.data(), m.cfg.dim, m.centroids.data(), m.mse_bits, &qc, &cc);
            out[i] = static_cast<float>(qq - 2.0 * norm * qc + norm * norm * cc);
          } else {  // unbiased: ‖q‖² + ‖x‖² − 2·(unbiased ⟨q, x⟩)
            const double ip = norm * m.unit_inner_product(q, row, in.gammas[i], idx.data());
            out[i] = static_cast<float>(qq + norm * norm - 2.0 * ip);
          }
        }
      },
      min_chunk_for(m.cfg.dim));
  return ok_status();
}

}  // namespace tq

// TurboQuant codec kernels: Highway SIMD (compiled per target, dispatched at run time) and the
// scalar reference. Centroid lookups use an in-register table (TableLookupLanes) when the codebook
// fits in one vector (≤ 16 levels on AVX-512, ≤ 8 on AVX2), else a gather.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "formats/turboquant_kernels.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "formats/turboquant_kernels.h"
#include "math/bitpack.h"

HWY_BEFORE_NAMESPACE();
namespace tq {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using DU8 = hn::Rebind<uint8_t, DF>;

// Loads Lanes(DF) codes as int32 lane indices.
HWY_INLINE hn::Vec<DI> LoadIndices(const uint8_t* HWY_RESTRICT idx) {
  return hn::PromoteTo(DI(), hn::LoadU(DU8(), idx));
}

// centroids[i] per lane; `table` holds the centroids when they fit in one vector.
HWY_INLINE hn::Vec<DF> Lookup(hn::Vec<DI> i, const float* HWY_RESTRICT centroids, bool in_register,
                              hn::Vec<DF> table) {
  const DF df;
  if (in_register) return hn::TableLookupLanes(table, hn::IndicesFromVec(df, i));
  return hn::GatherIndex(df, centroids, i);
}

// Loads the centroid table into one vector (lanes past the codebook are zero).
HWY_INLINE hn::Vec<DF> CentroidTable(const float* centroids, int bits, bool* in_register) {
  const DF df;
  const size_t n_lanes = hn::Lanes(df);
  const size_t levels = size_t{1} << bits;
  *in_register = levels <= n_lanes;
  if (!*in_register) return hn::Zero(df);
  HWY_ALIGN float buf[hn::MaxLanes(df)];
  for (size_t i = 0; i < n_lanes; ++i) buf[i] = i < levels ? centroids[i] : 0.0f;
  return hn::Load(df, buf);
}

void Quantize(const float* HWY_RESTRICT y, int64_t d, float scale, const float* HWY_RESTRICT boundaries,
              int bits, const QuantizeGrid& grid, uint8_t* HWY_RESTRICT idx) {
  const DF df;
  const DI di;
  const int64_t n_lanes = static_cast<int64_t>(hn::Lanes(df));
  const int levels = 1 << bits;
  const auto vscale = hn::Set(df, scale);
  int64_t j = 0;
  if (bits <= 4) {  // count boundaries below: ≤ 15 compares per vector
    hn::Vec<DF> b[15];
    for (int i = 0; i + 1 < levels; ++i) b[i] = hn::Set(df, boundaries[i]);
    for (; j + n_lanes <= d; j += n_lanes) {
      const auto v = hn::Mul(hn::LoadU(df, y + j), vscale);
      auto count = hn::Zero(di);
      for (int i = 0; i + 1 < levels; ++i)
        count = hn::Sub(count, hn::VecFromMask(di, hn::RebindMask(di, hn::Gt(v, b[i]))));
      hn::StoreU(hn::DemoteTo(DU8(), count), DU8(), idx + j);
    }
  } else if (grid.cells > 0) {  // grid LUT, then at most two steps up
    const auto lo = hn::Set(df, grid.lo), inv_w = hn::Set(df, grid.inv_width);
    const auto last = hn::Set(df, static_cast<float>(grid.cells - 1));
    const auto one = hn::Set(di, 1);
    const float* b = grid.boundaries.data();
    for (; j + n_lanes <= d; j += n_lanes) {
      const auto v = hn::Mul(hn::LoadU(df, y + j), vscale);
      const auto t = hn::Min(hn::Max(hn::Mul(hn::Sub(v, lo), inv_w), hn::Zero(df)), last);
      auto pos = hn::GatherIndex(di, grid.lut.data(), hn::ConvertTo(di, hn::Floor(t)));
      for (int step = 0; step < 2; ++step) {
        const auto probe = hn::GatherIndex(df, b, pos);
        pos = hn::IfThenElse(hn::RebindMask(di, hn::Gt(v, probe)), hn::Add(pos, one), pos);
      }
      hn::StoreU(hn::DemoteTo(DU8(), pos), DU8(), idx + j);
    }
  } else {  // branchless binary search with gathers: idx = #{boundaries < v}
    for (; j + n_lanes <= d; j += n_lanes) {
      const auto v = hn::Mul(hn::LoadU(df, y + j), vscale);
      auto pos = hn::Zero(di);
      for (int step = levels / 2; step >= 1; step /= 2) {
        const auto probe = hn::GatherIndex(df, boundaries, hn::Add(pos, hn::Set(di, step - 1)));
        pos = hn::IfThenElse(hn::RebindMask(di, hn::Gt(v, probe)), hn::Add(pos, hn::Set(di, step)), pos);
      }
      hn::StoreU(hn::DemoteTo(DU8(), pos), DU8(), idx + j);
    }
  }
  for (; j < d; ++j) {
    const float v = y[j] * scale;
    idx[j] = static_cast<uint8_t>(std::lower_bound(boundaries, boundaries + levels - 1, v) - boundaries);
  }
}

void Dequantize(const uint8_t* HWY_RESTRICT idx, int64_t d, const float* HWY_RESTRICT centroids, int bits,
                float scale, float* HWY_RESTRICT out) {
  const DF df;
  const int64_t n_lanes = static_cast<int64_t>(hn::Lanes(df));
  bool in_register;
  const auto table = CentroidTable(centroids, bits, &in_register);
  const auto vscale = hn::Set(df, scale);
  int64_t j = 0;
  for (; j + n_lanes <= d; j += n_lanes)
    hn::StoreU(hn::Mul(Lookup(LoadIndices(idx + j), centroids, in_register, table), vscale), df, out + j);
  for (; j < d; ++j) out[j] = centroids[idx[j]] * scale;
}

float DotCodes(const float* HWY_RESTRICT q, const uint8_t* HWY_RESTRICT idx, int64_t d,
               const float* HWY_RESTRICT centroids, int bits) {
  const DF df;
  const int64_t n_lanes = static_cast<int64_t>(hn::Lanes(df));
  bool in_register;
  const auto table = CentroidTable(centroids, bits, &in_register);
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  int64_t j = 0;
  for (; j + 2 * n_lanes <= d; j += 2 * n_lanes) {
    const auto c0 = Lookup(LoadIndices(idx + j), centroids, in_register, table);
    const auto c1 = Lookup(LoadIndices(idx + j + n_lanes), centroids, in_register, table);
    acc0 = hn::MulAdd(hn::LoadU(df, q + j), c0, acc0);
    acc1 = hn::MulAdd(hn::LoadU(df, q + j + n_lanes), c1, acc1);
  }
  for (; j + n_lanes <= d; j += n_lanes)
    acc0 = hn::MulAdd(hn::LoadU(df, q + j), Lookup(LoadIndices(idx + j), centroids, in_register, table), acc0);
  float total = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
  for (; j < d; ++j) total += q[j] * centroids[idx[j]];
  return total;
}

void DotCodesL2(const float* HWY_RESTRICT q, const uint8_t* HWY_RESTRICT idx, int64_t d,
                const float* HWY_RESTRICT centroids, int bits, float* qc, float* cc) {
  const DF df;
  const int64_t n_lanes = static_cast<int64_t>(hn::Lanes(df));
  bool in_register;
  const auto table = CentroidTable(centroids, bits, &in_register);
  auto acc_qc = hn::Zero(df), acc_cc = hn::Zero(df);
  int64_t j = 0;
  for (; j + n_lanes <= d; j += n_lanes) {
    const auto c = Lookup(LoadIndices(idx + j), centroids, in_register, table);
    acc_qc = hn::MulAdd(hn::LoadU(df, q + j), c, acc_qc);
    acc_cc = hn::MulAdd(c, c, acc_cc);
  }
  float s_qc = hn::GetLane(hn::SumOfLanes(df, acc_qc));
  float s_cc = hn::GetLane(hn::SumOfLanes(df, acc_cc));
  for (; j < d; ++j) {
    const float c = centroids[idx[j]];
    s_qc += q[j] * c;
    s_cc += c * c;
  }
  *qc = s_qc;
  *cc = s_cc;
}

double SumSquares(const float* HWY_RESTRICT x, int64_t d) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> dfh;  // as many floats as doubles per vector
  const int64_t n_lanes = static_cast<int64_t>(hn::Lanes(dd));
  auto acc0 = hn::Zero(dd), acc1 = hn::Zero(dd);
  int64_t j = 0;
  for (; j + 2 * n_lanes <= d; j += 2 * n_lanes) {
    const auto a = hn::PromoteTo(dd, hn::LoadU(dfh, x + j));
    const auto b = hn::PromoteTo(dd, hn::LoadU(dfh, x + j + n_lanes));
    acc0 = hn::MulAdd(a, a, acc0);
    acc1 = hn::MulAdd(b, b, acc1);
  }
  double total = hn::GetLane(hn::SumOfLanes(dd, hn::Add(acc0, acc1)));
  for (; j < d; ++j) total += static_cast<double>(x[j]) * x[j];
  return total;
}

void Residual(const float* HWY_RESTRICT a, float scale, const uint8_t* HWY_RESTRICT idx, int64_t d,
              const float* HWY_RESTRICT centroids, int bits, float* HWY_RESTRICT out) {
  const DF df;
  const int64_t n_lanes = static_cast<int64_t>(hn::Lanes(df));
  bool in_register;
  const auto table = CentroidTable(centroids, bits, &in_register);
  const auto vscale = hn::Set(df, scale);
  int64_t j = 0;
  for (; j + n_lanes <= d; j += n_lanes)
    hn::StoreU(hn::Sub(hn::Mul(hn::LoadU(df, a + j), vscale),
                       Lookup(LoadIndices(idx + j), centroids, in_register, table)),
               df, out + j);
  for (; j < d; ++j) out[j] = a[j] * scale - centroids[idx[j]];
}

// Code j of a packed row (any width), for tails. row_bytes bounds the read.
HWY_INLINE int CodeAt(const uint8_t* row, int64_t row_bytes, int64_t j, int bits) {
  const int64_t bit = j * bits, byte = bit / 8;
  unsigned v = row[byte];
  if (byte + 1 < row_bytes) v |= static_cast<unsigned>(row[byte + 1]) << 8;
  return static_cast<int>((v >> (bit % 8)) & ((1u << bits) - 1u));
}

#if HWY_TARGET != HWY_SCALAR
// Lanes(DF) codes of kBits bits starting at byte p (a chunk is byte aligned), as int32 lanes.
template <int kBits>
HWY_INLINE hn::Vec<DI> UnpackChunk(const uint8_t* HWY_RESTRICT p) {
  const DU8 du8;
  if constexpr (kBits == 8) {
    return LoadIndices(p);
  } else if constexpr (kBits == 4) {
    const hn::Half<DU8> dh;
    const auto v = hn::ZeroExtendVector(du8, hn::LoadU(dh, p));  // Lanes/2 bytes
    const auto lo = hn::And(v, hn::Set(du8, 0x0F));
    const auto hi = hn::ShiftRight<4>(v);
    return hn::PromoteTo(DI(), hn::InterleaveLower(du8, lo, hi));  // low nibble first
  } else {  // kBits == 2
    const hn::Half<DU8> dh;
    const hn::Half<decltype(dh)> dq;
    const auto v = hn::ZeroExtendVector(du8, hn::ZeroExtendVector(dh, hn::LoadU(dq, p)));  // Lanes/4 bytes
    const auto m = hn::Set(du8, 3);
    const auto c0 = hn::And(v, m), c1 = hn::And(hn::ShiftRight<2>(v), m);
    const auto c2 = hn::And(hn::ShiftRight<4>(v), m), c3 = hn::ShiftRight<6>(v);
    const hn::Repartition<uint16_t, DU8> du16;
    const auto a = hn::BitCast(du16, hn::InterleaveLower(du8, c0, c1));
    const auto b = hn::BitCast(du16, hn::InterleaveLower(du8, c2, c3));
    return hn::PromoteTo(DI(), hn::BitCast(du8, hn::InterleaveLower(du16, a, b)));
  }
}
#endif

template <int kBits>
void ScoreRowsT(const float* HWY_RESTRICT q, const uint8_t* HWY_RESTRICT codes, int64_t stride, int64_t n,
                int64_t d, const float* HWY_RESTRICT centroids, float* HWY_RESTRICT out) {
  const DF df;
  const int64_t n_lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t row_bytes = packed_bytes(d, kBits);
  const int64_t d_vec = d - d % n_lanes;
  bool in_register;
  const auto table = CentroidTable(centroids, kBits, &in_register);
  const auto c0 = hn::Set(df, centroids[0]), c1 = hn::Set(df, centroids[kBits == 1 ? 1 : 0]);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* row = codes + i * stride;
    auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
    int64_t j = 0;
#if HWY_TARGET != HWY_SCALAR
    if constexpr (kBits == 1) {
      for (; j < d_vec; j += n_lanes) {
        const auto c = hn::IfThenElse(hn::LoadMaskBits(df, row + j / 8), c1, c0);
        acc0 = hn::MulAdd(hn::LoadU(df, q + j), c, acc0);
      }
    } else {
      for (; j + n_lanes < d_vec; j += 2 * n_lanes) {
        const auto v0 = Lookup(UnpackChunk<kBits>(row + j * kBits / 8), centroids, in_register, table);
        const auto v1 = Lookup(UnpackChunk<kBits>(row + (j + n_lanes) * kBits / 8), centroids, in_register, table);
        acc0 = hn::MulAdd(hn::LoadU(df, q + j), v0, acc0);
        acc1 = hn::MulAdd(hn::LoadU(df, q + j + n_lanes), v1, acc1);
      }
      for (; j < d_vec; j += n_lanes)
        acc0 = hn::MulAdd(hn::LoadU(df, q + j), Lookup(UnpackChunk<kBits>(row + j * kBits / 8), centroids, in_register, table),
                          acc0);
    }
#else
    (void)d_vec, (void)c0, (void)c1, (void)table, (void)in_register;
#endif
    float total = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
    for (; j < d; ++j) total += q[j] * centroids[CodeAt(row, row_bytes, j, kBits)];
    out[i] = total;
  }
}

void ScoreRows(const float* HWY_RESTRICT q, const uint8_t* HWY_RESTRICT codes, int64_t stride, int64_t n, int64_t d,
               const float* HWY_RESTRICT centroids, int bits, uint8_t* HWY_RESTRICT scratch, float* HWY_RESTRICT out) {
  const int64_t n_lanes = static_cast<int64_t>(hn::Lanes(DF()));
  if (n_lanes >= 8) {  // in-register unpacking needs byte-aligned chunks of >= 8 codes
    switch (bits) {
      case 1: return ScoreRowsT<1>(q, codes, stride, n, d, centroids, out);
      case 2: return ScoreRowsT<2>(q, codes, stride, n, d, centroids, out);
      case 4: return ScoreRowsT<4>(q, codes, stride, n, d, centroids, out);
      case 8: return ScoreRowsT<8>(q, codes, stride, n, d, centroids, out);
      default: break;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    unpack_bits(codes + i * stride, d, bits, scratch);
    out[i] = DotCodes(q, scratch, d, centroids, bits);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace tq
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

namespace tq {

HWY_EXPORT(Quantize);
HWY_EXPORT(Dequantize);
HWY_EXPORT(DotCodes);
HWY_EXPORT(DotCodesL2);
HWY_EXPORT(SumSquares);
HWY_EXPORT(Residual);
HWY_EXPORT(ScoreRows);

namespace {

// ---- dispatching wrappers ----------------------------------------------------------------------

void simd_quantize(const float* y, int64_t d, float scale, const float* b, int bits, const QuantizeGrid& grid,
                   uint8_t* idx) {
  HWY_DYNAMIC_DISPATCH(Quantize)(y, d, scale, b, bits, grid, idx);
}
void simd_dequantize(const uint8_t* idx, int64_t d, const float* c, int bits, float scale, float* out) {
  HWY_DYNAMIC_DISPATCH(Dequantize)(idx, d, c, bits, scale, out);
}
float simd_dot_codes(const float* q, const uint8_t* idx, int64_t d, const float* c, int bits) {
  return HWY_DYNAMIC_DISPATCH(DotCodes)(q, idx, d, c, bits);
}
void simd_dot_codes_l2(const float* q, const uint8_t* idx, int64_t d, const float* c, int bits, float* qc,
                       float* cc) {
  HWY_DYNAMIC_DISPATCH(DotCodesL2)(q, idx, d, c, bits, qc, cc);
}
double simd_sum_squares(const float* x, int64_t d) { return HWY_DYNAMIC_DISPATCH(SumSquares)(x, d); }
void simd_residual(const float* a, float scale, const uint8_t* idx, int64_t d, const float* c, int bits, float* out) {
  HWY_DYNAMIC_DISPATCH(Residual)(a, scale, idx, d, c, bits, out);
}
void simd_score_rows(const float* q, const uint8_t* codes, int64_t stride, int64_t n, int64_t d, const float* c,
                     int bits, uint8_t* scratch, float* out) {
  HWY_DYNAMIC_DISPATCH(ScoreRows)(q, codes, stride, n, d, c, bits, scratch, out);
}

// ---- scalar reference --------------------------------------------------------------------------

void ref_quantize(const float* y, int64_t d, float scale, const float* b, int bits, const QuantizeGrid&,
                  uint8_t* idx) {
  const int n_b = (1 << bits) - 1;
  for (int64_t j = 0; j < d; ++j) {
    const float v = y[j] * scale;
    int count = 0;
    while (count < n_b && b[count] < v) ++count;  // boundaries ascending
    idx[j] = static_cast<uint8_t>(count);
  }
}
void ref_dequantize(const uint8_t* idx, int64_t d, const float* c, int, float scale, float* out) {
  for (int64_t j = 0; j < d; ++j) out[j] = c[idx[j]] * scale;
}
float ref_dot_codes(const float* q, const uint8_t* idx, int64_t d, const float* c, int) {
  double s = 0.0;
  for (int64_t j = 0; j < d; ++j) s += static_cast<double>(q[j]) * c[idx[j]];
  return static_cast<float>(s);
}
void ref_dot_codes_l2(const float* q, const uint8_t* idx, int64_t d, const float* c, int, float* qc, float* cc) {
  double s_qc = 0.0, s_cc = 0.0;
  for (int64_t j = 0; j < d; ++j) {
    const double v = c[idx[j]];
    s_qc += q[j] * v;
    s_cc += v * v;
  }
  *qc = static_cast<float>(s_qc);
  *cc = static_cast<float>(s_cc);
}
double ref_sum_squares(const float* x, int64_t d) {
  double s = 0.0;
  for (int64_t j = 0; j < d; ++j) s += static_cast<double>(x[j]) * x[j];
  return s;
}
void ref_residual(const float* a, float scale, const uint8_t* idx, int64_t d, const float* c, int, float* out) {
  for (int64_t j = 0; j < d; ++j) out[j] = a[j] * scale - c[idx[j]];
}
void ref_score_rows(const float* q, const uint8_t* codes, int64_t stride, int64_t n, int64_t d, const float* c,
                    int bits, uint8_t* scratch, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    ref::unpack_bits(codes + i * stride, d, bits, scratch);
    out[i] = ref_dot_codes(q, scratch, d, c, bits);
  }
}

}  // namespace

const TurboQuantKernels& turboquant_reference_kernels() {
  static const TurboQuantKernels k{"reference",      ref_quantize,    ref_dequantize, ref_dot_codes,
                                   ref_dot_codes_l2, ref_sum_squares, ref_residual,   ref_score_rows};
  return k;
}

const TurboQuantKernels& turboquant_simd_kernels() {
  static const TurboQuantKernels k{"simd",            simd_quantize,    simd_dequantize, simd_dot_codes,
                                   simd_dot_codes_l2, simd_sum_squares, simd_residual,   simd_score_rows};
  return k;
}


QuantizeGrid make_quantize_grid(const float* boundaries, int bits) {
  QuantizeGrid g;
  if (bits < 5) return g;
  const int n_b = (1 << bits) - 1;
  double min_gap = INFINITY;
  for (int i = 0; i + 1 < n_b; ++i) min_gap = std::min(min_gap, static_cast<double>(boundaries[i + 1]) - boundaries[i]);
  if (!(min_gap > 0.0)) return g;
  // Cell width ≤ min_gap/3: the three cells a value can land in (its own ± one for rounding) span
  // ≤ min_gap, so they hold at most... two boundaries, which two steps resolve.
  const double width = min_gap / 3.0;
  const double lo = boundaries[0] - 2.0 * width, hi = boundaries[n_b - 1] + 2.0 * width;
  const double cells = std::ceil((hi - lo) / width);
  if (cells > (1 << 16)) return g;  // pathological spacing: keep the binary search
  g.cells = static_cast<int32_t>(cells);
  g.lo = static_cast<float>(lo);
  g.inv_width = static_cast<float>(1.0 / width);
  g.lut.resize(g.cells);
  for (int32_t c = 0; c < g.cells; ++c) {
    const float edge = static_cast<float>(lo + (c - 1) * width);  // lower edge of cell c − 1
    g.lut[c] = static_cast<int32_t>(std::lower_bound(boundaries, boundaries + n_b, edge) - boundaries);
  }
  g.boundaries.assign(boundaries, boundaries + n_b);
  g.boundaries.push_back(INFINITY);
  return g;
}

}  // namespace tq

#endif  // HWY_ONCE

// Highway implementations of kernels/ops.h and kernels/attention.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/ops.cc"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>
// clang-format on

#include "kernels/attention.h"
#include "kernels/ops.h"

HWY_BEFORE_NAMESPACE();
namespace tq {
namespace HWY_NAMESPACE {
namespace {  // internal linkage: per-target code of other files may use the same names
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);

template <class T>
HWY_INLINE VF LoadAsF32(DF df, const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return hn::LoadU(df, p);
  } else {
    const hn::Rebind<T, DF> dt;
    return hn::PromoteTo(df, hn::LoadU(dt, p));
  }
}

// Loads n <= Lanes values zero-filled (no read past p + n).
template <class T>
HWY_INLINE VF LoadTailAsF32(DF df, const T* p, size_t n) {
  HWY_ALIGN T buf[kMaxLanes];
  std::memset(static_cast<void*>(buf), 0, sizeof(buf));
  std::memcpy(static_cast<void*>(buf), p, n * sizeof(T));
  return LoadAsF32(df, buf);
}

HWY_INLINE void StoreTail(DF df, VF v, float* p, size_t n) {
  HWY_ALIGN float buf[kMaxLanes];
  hn::Store(v, df, buf);
  std::memcpy(p, buf, n * sizeof(float));
}

float SumSquares(const float* x, int64_t n) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  VF a0 = hn::Zero(df), a1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const VF v0 = hn::LoadU(df, x + i), v1 = hn::LoadU(df, x + i + N);
    a0 = hn::MulAdd(v0, v0, a0);
    a1 = hn::MulAdd(v1, v1, a1);
  }
  for (; i + N <= n; i += N) {
    const VF v = hn::LoadU(df, x + i);
    a0 = hn::MulAdd(v, v, a0);
  }
  if (i < n) {
    const VF v = LoadTailAsF32(df, x + i, static_cast<size_t>(n - i));
    a1 = hn::MulAdd(v, v, a1);
  }
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, a1)));
}

void RmsNorm(const float* x, const float* w, int64_t n_rows, int64_t n, float eps, float* out) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * n;
    float* o = out + r * n;
    const float scale = 1.0f / std::sqrt(SumSquares(xr, n) / static_cast<float>(n) + eps);
    const VF vs = hn::Set(df, scale);
    int64_t i = 0;
    for (; i + N <= n; i += N)
      hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, xr + i), vs), hn::LoadU(df, w + i)), df, o + i);
    for (; i < n; ++i) o[i] = xr[i] * scale * w[i];
  }
}

// hn::Exp, except that NaN lanes stay NaN without reaching Exp's float-to-int conversion (undefined
// for NaN on the portable targets; the fuzz target of model loading found it). NaN comes from
// damaged weights or an overflow and must propagate, so that Session::eval reports it.
VF ExpKeepNaN(DF df, VF v) {
  const auto nan = hn::IsNaN(v);
  return hn::IfThenElse(nan, v, hn::Exp(df, hn::IfThenZeroElse(nan, v)));
}

void Softmax(float* x, int64_t n) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  float mx = x[0];
  {
    VF m = hn::Set(df, x[0]);
    int64_t i = 0;
    for (; i + N <= n; i += N) m = hn::Max(m, hn::LoadU(df, x + i));
    mx = hn::GetLane(hn::MaxOfLanes(df, m));
    for (; i < n; ++i) mx = std::max(mx, x[i]);
  }
  const VF vmax = hn::Set(df, mx);
  VF sum = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const VF e = ExpKeepNaN(df, hn::Sub(hn::LoadU(df, x + i), vmax));
    hn::StoreU(e, df, x + i);
    sum = hn::Add(sum, e);
  }
  if (i < n) {
    const size_t rem = static_cast<size_t>(n - i);
    // Padding lanes hold -inf so that exp gives 0 and the sum is unaffected.
    HWY_ALIGN float buf[kMaxLanes];
    for (size_t k = 0; k < kMaxLanes; ++k) buf[k] = -INFINITY;
    std::memcpy(buf, x + i, rem * sizeof(float));
    const VF e = ExpKeepNaN(df, hn::Sub(hn::Load(df, buf), vmax));
    StoreTail(df, e, x + i, rem);
    sum = hn::Add(sum, hn::IfThenElseZero(hn::FirstN(df, rem), e));
  }
  const VF inv = hn::Set(df, 1.0f / hn::GetLane(hn::SumOfLanes(df, sum)));
  i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), inv), df, x + i);
  const float invs = hn::GetLane(inv);
  for (; i < n; ++i) x[i] *= invs;
}

double LogSumExp(const float* x, int64_t n) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  VF m = hn::Set(df, x[0]);
  int64_t i = 0;
  for (; i + N <= n; i += N) m = hn::Max(m, hn::LoadU(df, x + i));
  float mx = hn::GetLane(hn::MaxOfLanes(df, m));
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  const VF vmax = hn::Set(df, mx);
  VF s0 = hn::Zero(df), s1 = hn::Zero(df);
  i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    s0 = hn::Add(s0, ExpKeepNaN(df, hn::Sub(hn::LoadU(df, x + i), vmax)));
    s1 = hn::Add(s1, ExpKeepNaN(df, hn::Sub(hn::LoadU(df, x + i + N), vmax)));
  }
  double sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
  for (; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  return mx + std::log(sum);
}

void SiluMul(float* gate, const float* up, int64_t n) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const VF one = hn::Set(df, 1.0f);
  auto f = [&](VF g, VF u) {
    return hn::Mul(hn::Div(g, hn::Add(one, ExpKeepNaN(df, hn::Neg(g)))), u);
  };
  int64_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(f(hn::LoadU(df, gate + i), hn::LoadU(df, up + i)), df, gate + i);
  if (i < n) {
    const size_t rem = static_cast<size_t>(n - i);
    StoreTail(df, f(LoadTailAsF32(df, gate + i, rem), LoadTailAsF32(df, up + i, rem)), gate + i,
              rem);
  }
}

void AddInplace(float* y, const float* x, int64_t n) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::Add(hn::LoadU(df, y + i), hn::LoadU(df, x + i)), df, y + i);
  for (; i < n; ++i) y[i] += x[i];
}

// ---- attention over f32 / f16 rows -------------------------------------------------------------
template <class T>
void Scores(const float* q, int64_t n_q, const T* k, int64_t n_pos, int64_t d, int64_t stride,
            float* s, int64_t lds) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  constexpr int64_t kQ = 4;  // queries sharing one pass over a key row
  for (int64_t j = 0; j < n_pos; ++j) {
    const T* kj = k + j * stride;
    for (int64_t i0 = 0; i0 < n_q; i0 += kQ) {
      const int64_t nq = std::min(kQ, n_q - i0);
      VF acc[kQ] = {hn::Zero(df), hn::Zero(df), hn::Zero(df), hn::Zero(df)};
      int64_t c = 0;
      for (; c + N <= d; c += N) {
        const VF kv = LoadAsF32(df, kj + c);
        for (int64_t i = 0; i < nq; ++i)
          acc[i] = hn::MulAdd(kv, hn::LoadU(df, q + (i0 + i) * d + c), acc[i]);
      }
      if (c < d) {
        const size_t rem = static_cast<size_t>(d - c);
        const VF kv = LoadTailAsF32(df, kj + c, rem);
        for (int64_t i = 0; i < nq; ++i)
          acc[i] = hn::MulAdd(kv, LoadTailAsF32(df, q + (i0 + i) * d + c, rem), acc[i]);
      }
      for (int64_t i = 0; i < nq; ++i)
        s[(i0 + i) * lds + j] = hn::GetLane(hn::SumOfLanes(df, acc[i]));
    }
  }
}

// Scores for one block of kKeyBlock keys (kt layout) and NQ queries: per dimension c, one key
// vector of N positions times the broadcast q[i][c]; two accumulator sets (even / odd c) per query
// keep 2 * NQ FMA chains in flight.
template <class T, int NQ>
HWY_INLINE void ScoresKtBlock(const float* q, int64_t d, const T* kb, int64_t rem, float* s,
                              int64_t lds) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t v0 = 0; v0 < kKeyBlock && v0 < rem; v0 += N) {
    VF a[NQ], b[NQ];
    for (int i = 0; i < NQ; ++i) a[i] = b[i] = hn::Zero(df);
    int64_t c = 0;
    for (; c + 2 <= d; c += 2) {
      const VF k0 = LoadAsF32(df, kb + c * kKeyBlock + v0);
      const VF k1 = LoadAsF32(df, kb + (c + 1) * kKeyBlock + v0);
      for (int i = 0; i < NQ; ++i) {
        a[i] = hn::MulAdd(hn::Set(df, q[i * d + c]), k0, a[i]);
        b[i] = hn::MulAdd(hn::Set(df, q[i * d + c + 1]), k1, b[i]);
      }
    }
    if (c < d) {
      const VF k0 = LoadAsF32(df, kb + c * kKeyBlock + v0);
      for (int i = 0; i < NQ; ++i) a[i] = hn::MulAdd(hn::Set(df, q[i * d + c]), k0, a[i]);
    }
    const int64_t n = std::min(N, rem - v0);
    for (int i = 0; i < NQ; ++i) {
      const VF r = hn::Add(a[i], b[i]);
      if (n == N)
        hn::StoreU(r, df, s + i * lds + v0);
      else
        StoreTail(df, r, s + i * lds + v0, static_cast<size_t>(n));
    }
  }
}

template <class T>
void ScoresKt(const float* q, int64_t n_q, const T* kt, int64_t n_pos, int64_t d, float* s,
              int64_t lds) {
  for (int64_t j0 = 0; j0 < n_pos; j0 += kKeyBlock) {
    const T* kb = kt + j0 * d;  // block j0 / kKeyBlock starts at (j0 / kKeyBlock) * d * kKeyBlock
    const int64_t rem = std::min(kKeyBlock, n_pos - j0);
    int64_t i = 0;
    for (; i + 4 <= n_q; i += 4) ScoresKtBlock<T, 4>(q + i * d, d, kb, rem, s + i * lds + j0, lds);
    switch (n_q - i) {
      case 3:
        ScoresKtBlock<T, 3>(q + i * d, d, kb, rem, s + i * lds + j0, lds);
        break;
      case 2:
        ScoresKtBlock<T, 2>(q + i * d, d, kb, rem, s + i * lds + j0, lds);
        break;
      case 1:
        ScoresKtBlock<T, 1>(q + i * d, d, kb, rem, s + i * lds + j0, lds);
        break;
      default:
        break;
    }
  }
}

// out[i, c0 : c0 + NV*N] for NQ queries: accumulators stay in registers over all positions.
template <class T, int NQ, int NV>
HWY_INLINE void MixSlice(const float* p, int64_t ldp, const T* v, int64_t n_pos, int64_t d,
                         int64_t stride, int64_t c0, float* out) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  VF acc[NQ][NV];
  for (int i = 0; i < NQ; ++i)
    for (int k = 0; k < NV; ++k) acc[i][k] = hn::Zero(df);
  for (int64_t j = 0; j < n_pos; ++j) {
    VF vv[NV];
    for (int k = 0; k < NV; ++k) vv[k] = LoadAsF32(df, v + j * stride + c0 + k * N);
    for (int i = 0; i < NQ; ++i) {
      const VF pij = hn::Set(df, p[i * ldp + j]);
      for (int k = 0; k < NV; ++k) acc[i][k] = hn::MulAdd(pij, vv[k], acc[i][k]);
    }
  }
  for (int i = 0; i < NQ; ++i)
    for (int k = 0; k < NV; ++k) hn::StoreU(acc[i][k], df, out + i * d + c0 + k * N);
}

template <class T, int NQ>
void MixGroup(const float* p, int64_t ldp, const T* v, int64_t n_pos, int64_t d, int64_t stride,
              float* out) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t c = 0;
  for (; c + 4 * N <= d; c += 4 * N) MixSlice<T, NQ, 4>(p, ldp, v, n_pos, d, stride, c, out);
  for (; c + N <= d; c += N) MixSlice<T, NQ, 1>(p, ldp, v, n_pos, d, stride, c, out);
  if (c < d) {  // the last d % N columns
    const size_t rem = static_cast<size_t>(d - c);
    VF acc[NQ];
    for (int i = 0; i < NQ; ++i) acc[i] = hn::Zero(df);
    for (int64_t j = 0; j < n_pos; ++j) {
      const VF vv = LoadTailAsF32(df, v + j * stride + c, rem);
      for (int i = 0; i < NQ; ++i) acc[i] = hn::MulAdd(hn::Set(df, p[i * ldp + j]), vv, acc[i]);
    }
    for (int i = 0; i < NQ; ++i) StoreTail(df, acc[i], out + i * d + c, rem);
  }
}

template <class T>
void Mix(const float* p, int64_t ldp, int64_t n_q, const T* v, int64_t n_pos, int64_t d,
         int64_t stride, float* out) {
  int64_t i = 0;
  for (; i + 4 <= n_q; i += 4) MixGroup<T, 4>(p + i * ldp, ldp, v, n_pos, d, stride, out + i * d);
  switch (n_q - i) {
    case 3:
      MixGroup<T, 3>(p + i * ldp, ldp, v, n_pos, d, stride, out + i * d);
      break;
    case 2:
      MixGroup<T, 2>(p + i * ldp, ldp, v, n_pos, d, stride, out + i * d);
      break;
    case 1:
      MixGroup<T, 1>(p + i * ldp, ldp, v, n_pos, d, stride, out + i * d);
      break;
    default:
      break;
  }
}

void ScoresKtF32(const float* q, int64_t n_q, const float* kt, int64_t n_pos, int64_t d, float* s,
                 int64_t lds) {
  ScoresKt(q, n_q, kt, n_pos, d, s, lds);
}
void ScoresKtF16(const float* q, int64_t n_q, const uint16_t* kt, int64_t n_pos, int64_t d,
                 float* s, int64_t lds) {
  ScoresKt(q, n_q, reinterpret_cast<const hwy::float16_t*>(kt), n_pos, d, s, lds);
}

void ScoresF32(const float* q, int64_t n_q, const float* k, int64_t n_pos, int64_t d,
               int64_t stride, float* s, int64_t lds) {
  Scores(q, n_q, k, n_pos, d, stride, s, lds);
}
void ScoresF16(const float* q, int64_t n_q, const uint16_t* k, int64_t n_pos, int64_t d,
               int64_t stride, float* s, int64_t lds) {
  Scores(q, n_q, reinterpret_cast<const hwy::float16_t*>(k), n_pos, d, stride, s, lds);
}
void MixF32(const float* p, int64_t ldp, int64_t n_q, const float* v, int64_t n_pos, int64_t d,
            int64_t stride, float* out) {
  Mix(p, ldp, n_q, v, n_pos, d, stride, out);
}
void MixF16(const float* p, int64_t ldp, int64_t n_q, const uint16_t* v, int64_t n_pos, int64_t d,
            int64_t stride, float* out) {
  Mix(p, ldp, n_q, reinterpret_cast<const hwy::float16_t*>(v), n_pos, d, stride, out);
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace tq
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tq {
HWY_EXPORT(RmsNorm);
HWY_EXPORT(Softmax);
HWY_EXPORT(SiluMul);
HWY_EXPORT(LogSumExp);
HWY_EXPORT(AddInplace);
HWY_EXPORT(ScoresF32);
HWY_EXPORT(ScoresF16);
HWY_EXPORT(MixF32);
HWY_EXPORT(ScoresKtF32);
HWY_EXPORT(ScoresKtF16);
HWY_EXPORT(MixF16);

void rmsnorm(const float* x, const float* w, int64_t n_rows, int64_t n, float eps, float* out) {
  HWY_DYNAMIC_DISPATCH(RmsNorm)(x, w, n_rows, n, eps, out);
}
void softmax(float* x, int64_t n) {
  HWY_DYNAMIC_DISPATCH(Softmax)(x, n);
}
void silu_mul(float* gate, const float* up, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SiluMul)(gate, up, n);
}
double logsumexp(const float* x, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(LogSumExp)(x, n);
}
void add_inplace(float* y, const float* x, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AddInplace)(y, x, n);
}

void attn_scores_f32(const float* q, int64_t n_q, const float* k, int64_t n_pos, int64_t head_dim,
                     int64_t row_stride, float* s, int64_t lds) {
  HWY_DYNAMIC_DISPATCH(ScoresF32)(q, n_q, k, n_pos, head_dim, row_stride, s, lds);
}
void attn_scores_f16(const float* q, int64_t n_q, const uint16_t* k, int64_t n_pos,
                     int64_t head_dim, int64_t row_stride, float* s, int64_t lds) {
  HWY_DYNAMIC_DISPATCH(ScoresF16)(q, n_q, k, n_pos, head_dim, row_stride, s, lds);
}
void attn_scores_kt_f32(const float* q, int64_t n_q, const float* kt, int64_t n_pos,
                        int64_t head_dim, float* s, int64_t lds) {
  HWY_DYNAMIC_DISPATCH(ScoresKtF32)(q, n_q, kt, n_pos, head_dim, s, lds);
}
void attn_scores_kt_f16(const float* q, int64_t n_q, const uint16_t* kt, int64_t n_pos,
                        int64_t head_dim, float* s, int64_t lds) {
  HWY_DYNAMIC_DISPATCH(ScoresKtF16)(q, n_q, kt, n_pos, head_dim, s, lds);
}
void attn_mix_f32(const float* p, int64_t ldp, int64_t n_q, const float* v, int64_t n_pos,
                  int64_t head_dim, int64_t row_stride, float* out) {
  HWY_DYNAMIC_DISPATCH(MixF32)(p, ldp, n_q, v, n_pos, head_dim, row_stride, out);
}
void attn_mix_f16(const float* p, int64_t ldp, int64_t n_q, const uint16_t* v, int64_t n_pos,
                  int64_t head_dim, int64_t row_stride, float* out) {
  HWY_DYNAMIC_DISPATCH(MixF16)(p, ldp, n_q, v, n_pos, head_dim, row_stride, out);
}

// RoPE is O(heads x head_dim) per token, negligible next to the matmuls: plain C++.
void rope_neox(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin) {
  const int64_t half = n_rot / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* xh = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
      const float x0 = xh[i], x1 = xh[i + half];
      xh[i] = x0 * c - x1 * s;
      xh[i + half] = x0 * s + x1 * c;
    }
  }
}

}  // namespace tq
#endif  // HWY_ONCE

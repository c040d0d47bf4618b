// Fast f32 products over f32 / bf16 / f16 weight rows (Highway, runtime dispatch).
//
// GEMV (one token, decode): memory-bound; each row is one dot product with four independent
// accumulators so the FMA latency is hidden while the weights stream in.
// GEMM (several tokens, prefill): compute-bound; blocked over tokens (kTokenBlock) and columns
// (kColBlock) so the activation panel stays in L2 and a 4-row weight tile stays in L1 while up to 4
// tokens reuse each converted weight vector.
//
// Per output element the arithmetic order depends only on (row, token): tile position, thread split
// and row permutation never change a result (the runtime relies on this: the same model read from
// an HF folder and from a GGUF with permuted Q/K rows gives identical logits).
#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/matmul_float.cc"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "core/check.h"
#include "kernels/matmul.h"

HWY_BEFORE_NAMESPACE();
namespace tq {
namespace HWY_NAMESPACE {
namespace {  // internal linkage: per-target code of other files may use the same names
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);  // lanes of the widest f32 vector

// Loads Lanes(df) consecutive weights as f32.
template <class W>
HWY_INLINE VF LoadW(DF df, const W* p) {
  if constexpr (std::is_same_v<W, float>) {
    return hn::LoadU(df, p);
  } else {
    const hn::Rebind<W, DF> dw;
    return hn::PromoteTo(df, hn::LoadU(dw, p));
  }
}

// Loads n < Lanes(df) values, zero-filled, without reading past p + n (rows may end a mapping).
template <class T>
HWY_INLINE void CopyTail(const T* p, size_t n, T* buf) {
  std::memset(static_cast<void*>(buf), 0, kMaxLanes * sizeof(T));
  std::memcpy(static_cast<void*>(buf), p, n * sizeof(T));
}

template <class W>
HWY_INLINE const W* RowPtr(const WeightView& w, int64_t r) {
  return reinterpret_cast<const W*>(w.row(r));
}

// ---- GEMV -------------------------------------------------------------------------------------
template <class W>
HWY_INLINE float DotRow(const W* HWY_RESTRICT w, const float* HWY_RESTRICT x, int64_t n) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  VF a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  int64_t c = 0;
  for (; c + 4 * N <= n; c += 4 * N) {
    a0 = hn::MulAdd(LoadW(df, w + c), hn::LoadU(df, x + c), a0);
    a1 = hn::MulAdd(LoadW(df, w + c + N), hn::LoadU(df, x + c + N), a1);
    a2 = hn::MulAdd(LoadW(df, w + c + 2 * N), hn::LoadU(df, x + c + 2 * N), a2);
    a3 = hn::MulAdd(LoadW(df, w + c + 3 * N), hn::LoadU(df, x + c + 3 * N), a3);
  }
  for (; c + N <= n; c += N) a0 = hn::MulAdd(LoadW(df, w + c), hn::LoadU(df, x + c), a0);
  if (c < n) {
    HWY_ALIGN W wb[kMaxLanes];
    HWY_ALIGN float xb[kMaxLanes];
    CopyTail(w + c, static_cast<size_t>(n - c), wb);
    CopyTail(x + c, static_cast<size_t>(n - c), xb);
    a1 = hn::MulAdd(LoadW(df, wb), hn::LoadU(df, xb), a1);
  }
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
}

template <class W>
void GemvRows(const WeightView& w, const float* x, float* y, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) y[r] = DotRow(RowPtr<W>(w, r), x, w.n_cols);
}

// ---- GEMM -------------------------------------------------------------------------------------
constexpr int64_t kTokenBlock = 64;  // activation panel kTokenBlock x kColBlock f32 = 128 KiB (L2)
constexpr int64_t kColBlock = 512;   // multiple of every target's lane count
constexpr int kMaxR = 4;
#if HWY_TARGET <= HWY_AVX3
constexpr int kMaxT = 4;  // 16 accumulators + 8 operands fit AVX-512's 32 registers
#else
constexpr int kMaxT = 2;  // 16 registers on AVX2
#endif

// y[t, r] += sum_{c in [c0, c1)} W[r, c] x[t, c] for an R x T tile. One accumulator per (r, t),
// chunks summed in column order: the same arithmetic for every tile shape.
template <class W, int R, int T>
void MicroTile(const W* const* wr, const float* const* xr, int64_t c0, int64_t c1, float* y,
               int64_t ldy) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  VF acc[R][T];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < T; ++j) acc[i][j] = hn::Zero(df);
  int64_t c = c0;
  for (; c + N <= c1; c += N) {
    VF wv[R];
    for (int i = 0; i < R; ++i) wv[i] = LoadW(df, wr[i] + c);
    for (int j = 0; j < T; ++j) {
      const VF xv = hn::LoadU(df, xr[j] + c);
      for (int i = 0; i < R; ++i) acc[i][j] = hn::MulAdd(wv[i], xv, acc[i][j]);
    }
  }
  if (c < c1) {
    const size_t n = static_cast<size_t>(c1 - c);
    VF wv[R];
    for (int i = 0; i < R; ++i) {
      HWY_ALIGN W wb[kMaxLanes];
      CopyTail(wr[i] + c, n, wb);
      wv[i] = LoadW(df, wb);
    }
    for (int j = 0; j < T; ++j) {
      HWY_ALIGN float xb[kMaxLanes];
      CopyTail(xr[j] + c, n, xb);
      const VF xv = hn::LoadU(df, xb);
      for (int i = 0; i < R; ++i) acc[i][j] = hn::MulAdd(wv[i], xv, acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < T; ++j) y[j * ldy + i] += hn::GetLane(hn::SumOfLanes(df, acc[i][j]));
}

template <class W>
using MicroFn = void (*)(const W* const*, const float* const*, int64_t, int64_t, float*, int64_t);

template <class W, int R, int... Ts>
constexpr auto MicroRow(std::integer_sequence<int, Ts...>) {
  return std::array<MicroFn<W>, sizeof...(Ts)>{&MicroTile<W, R, Ts + 1>...};
}
template <class W, int... Rs>
constexpr auto MicroTable(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<MicroFn<W>, kMaxT>, sizeof...(Rs)>{
      MicroRow<W, Rs + 1>(std::make_integer_sequence<int, kMaxT>())...};
}

template <class W>
void GemmRows(const WeightView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy,
              int64_t r0, int64_t r1) {
  static constexpr auto kMicro = MicroTable<W>(std::make_integer_sequence<int, kMaxR>());
  const int64_t n = w.n_cols;
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = r0; r < r1; ++r) y[t * ldy + r] = 0.0f;
  const W* wr[kMaxR];
  const float* xr[kMaxT];
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenBlock) {
    const int64_t t1 = std::min(n_tokens, t0 + kTokenBlock);
    for (int64_t c0 = 0; c0 < n; c0 += kColBlock) {
      const int64_t c1 = std::min(n, c0 + kColBlock);
      for (int64_t r = r0; r < r1; r += kMaxR) {
        const int R = static_cast<int>(std::min<int64_t>(kMaxR, r1 - r));
        for (int i = 0; i < R; ++i) wr[i] = RowPtr<W>(w, r + i);
        for (int64_t t = t0; t < t1; t += kMaxT) {
          const int T = static_cast<int>(std::min<int64_t>(kMaxT, t1 - t));
          for (int j = 0; j < T; ++j) xr[j] = x + (t + j) * n;
          kMicro[R - 1][T - 1](wr, xr, c0, c1, y + t * ldy + r, ldy);
        }
      }
    }
  }
}

template <class W>
void RowsTyped(const WeightView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy,
               int64_t r0, int64_t r1) {
  if (n_tokens == 1) {
    GemvRows<W>(w, x, y, r0, r1);
  } else {
    GemmRows<W>(w, x, n_tokens, y, ldy, r0, r1);
  }
}

void MatmulRowsFloat(const WeightView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy,
                     int64_t r0, int64_t r1) {
  switch (w.type) {
    case TypeId::f32:
      return RowsTyped<float>(w, x, n_tokens, y, ldy, r0, r1);
    case TypeId::bf16:
      return RowsTyped<hwy::bfloat16_t>(w, x, n_tokens, y, ldy, r0, r1);
    case TypeId::f16:
      return RowsTyped<hwy::float16_t>(w, x, n_tokens, y, ldy, r0, r1);
    default:
      TQ_CHECK(false, "matmul_rows_float: type {} is not f32/bf16/f16",
               static_cast<uint32_t>(w.type));
  }
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace tq
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tq {
HWY_EXPORT(MatmulRowsFloat);

void matmul_rows_float(const WeightView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy,
                       int64_t row_begin, int64_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatmulRowsFloat)(w, x, n_tokens, y, ldy, row_begin, row_end);
}
}  // namespace tq
#endif  // HWY_ONCE

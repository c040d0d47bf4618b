// Per-target integer matmul kernels for tq<b>g<G>, q8 and rtn4 (arithmetic: kernels/matmul_quant.h).
//
// AVX3_DL (AVX-512 VNNI + VBMI), the fast path:
//   * activations are prepared once per call: per group rotated (tq), quantized to int8 and stored
//     in "units" of 64 or 128 bytes (a G = 128 group; a G = 64 group; two G = 32 groups), permuted
//     within each group to the order in which the weight decoder produces codes (4-bit codes: even
//     positions then odd ones; 2-bit codes: by position mod 4; others: natural), with per unit a
//     16-lane int32 start vector (−128 × the sum of the activations each lane multiplies) and a
//     16-lane float scale vector (each group's scale in its lanes);
//   * weights are decoded in registers to unsigned bytes c_int + 128 with one vpermb table lookup
//     per 64 codes (4-bit: nibble shift; 2-bit: variable word shifts; 3/5/6-bit: byte spread +
//     vpmultishiftqb; 8-bit codes are the operand itself), then vpdpbusd against the activations;
//   * per unit one int32 → float conversion and one FMA with (weight scale · activation scale);
//     one horizontal sum per row and token at the end.
//   Decode (one token) runs 4 rows at a time sharing the activation loads.
//   Prefill (n_tokens > 1) decodes 16 rows at a time into a row-interleaved block (per group and
//   4-byte chunk one vector of 16 rows' operand bytes, one row per int32 lane) and runs 16-row ×
//   8-token register tiles: one vpdpbusd per chunk and token against the token's 4 activation bytes
//   broadcast, so each lane sums exactly one (row, group) product and per group and token a single
//   conversion + scale product + FMA serves 16 rows; no horizontal sums.
// AVX3 and AVX2: the AVX2 kernels of matmul_quant_avx2.cc (with AVX-VNNI where the CPU has it).
// Other targets (scalar; ARM NEON/SVE): a portable Highway path, natural layout, the same int32 sums.
//
// Every y[t, r] is computed by the same sequence of operations whatever the tile, thread split or
// row order (the runtime relies on it).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/matmul_quant.cc"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "core/check.h"
#include "core/half.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "formats/quant_baselines.h"
#include "formats/tq_weight.h"
#include "kernels/cpu/matmul_quant_x86.h"
#include "kernels/matmul_quant.h"
#include "math/fwht-inl.h"

#if HWY_TARGET == HWY_AVX3_DL
#include <immintrin.h>
#endif
#ifndef TQ_PREFETCH_BYTES
#define TQ_PREFETCH_BYTES 24576
#endif

HWY_BEFORE_NAMESPACE();
namespace tq {
namespace HWY_NAMESPACE {
namespace {  // internal linkage: per-target code of other files may use the same names
namespace hn = hwy::HWY_NAMESPACE;

// ---- step 1: one activation group -------------------------------------------------------------
// q[0..G) natural order, *a, *qsum as in kernels/matmul_quant.h. u: [G] scratch.
void QuantizeGroup(const float* x, int G, bool rotate, const float* sigma, float* u, int8_t* q,
                   float* a, int32_t* qsum) {
  std::memcpy(u, x, sizeof(float) * G);
  if (rotate) SignFwht(u, sigma, static_cast<size_t>(G));
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(di)> d8;
  const size_t N = hn::Lanes(df);
  auto vmax = hn::Zero(df);
  for (size_t i = 0; i < static_cast<size_t>(G); i += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(df, u + i)));
  const float amax = hn::GetLane(hn::MaxOfLanes(df, vmax));
  if (!std::isfinite(amax)) {
    std::memset(q, 0, G);
    *a = NAN;
    *qsum = 0;
    return;
  }
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  const auto vinv = hn::Set(df, inv);
  auto vsum = hn::Zero(di);
  for (size_t i = 0; i < static_cast<size_t>(G); i += N) {
    const auto qi = hn::NearestInt(hn::Mul(hn::LoadU(df, u + i), vinv));
    vsum = hn::Add(vsum, qi);
    hn::StoreU(hn::DemoteTo(d8, qi), d8, q + i);
  }
  *qsum = hn::GetLane(hn::SumOfLanes(di, vsum));
  const float d = amax / 127.0f;
  *a = rotate ? d * (1.0f / std::sqrt(static_cast<float>(G))) : d;
}

// ---- step 1 for a whole call: every activation group, natural order (GroupActs) ---------------
// The portable path reads it directly; the AVX3_DL and AVX2 paths arrange it per layout.
void QuantizeActs(const QuantLayout& L, const float* x, int64_t n_cols, int64_t n_tokens,
                  bool unit_scales, GroupActs& acts) {
  const int G = L.group;
  acts.q.resize(static_cast<size_t>(n_tokens * n_cols));
  acts.a.resize(static_cast<size_t>(n_tokens * L.n_groups));
  acts.qsum.resize(acts.a.size());
  const float* sigma = L.rotate ? tq_rotation_signs(G).data() : nullptr;
  parallel_for(
      n_tokens,
      [&](int64_t t0, int64_t t1) {
        std::vector<float> u(static_cast<size_t>(G));
        for (int64_t t = t0; t < t1; ++t)
          for (int64_t g = 0; g < L.n_groups; ++g) {
            const int64_t k = t * L.n_groups + g;
            QuantizeGroup(x + t * n_cols + g * G, G, L.rotate, sigma, u.data(),
                          acts.q.data() + t * n_cols + g * G, &acts.a[k], &acts.qsum[k]);
            if (unit_scales) acts.a[k] = 1.0f;
          }
      },
      /*min_chunk=*/8);
}

int32_t DotI32(const int32_t* w, const int8_t* q, int G) {
  const hn::ScalableTag<int32_t> d32;
  const hn::Rebind<int8_t, decltype(d32)> d8;
  const size_t N = hn::Lanes(d32);
  auto acc = hn::Zero(d32);
  for (size_t i = 0; i < static_cast<size_t>(G); i += N)
    acc = hn::Add(acc, hn::Mul(hn::LoadU(d32, w + i), hn::PromoteTo(d32, hn::LoadU(d8, q + i))));
  return hn::GetLane(hn::SumOfLanes(d32, acc));
}

void RowsPortable(const QuantLayout& L, const WeightView& w, const GroupActs& acts,
                  int64_t n_tokens, bool unit_scales, float* y, int64_t r0, int64_t r1) {
  const int G = L.group;
  std::vector<int32_t> wint(static_cast<size_t>(G));
  std::vector<uint8_t> idx(static_cast<size_t>(G));
  std::vector<float> ws(static_cast<size_t>(L.n_groups)), wm(ws.size());
  std::vector<int32_t> wint_all(static_cast<size_t>(w.n_cols));
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w.row(r);
    // Decode the row once (codes → integers, scales) in storage order.
    int64_t slot = 0;
    for (int si = 0; si < L.n_segments; ++si) {
      const QuantSegment& S = L.seg[si];
      for (int64_t j = 0; j < S.n_groups; ++j, ++slot) {
        const uint8_t* blk = row + S.byte_offset + j * S.block_bytes;
        int32_t* wi = wint_all.data() + slot * G;
        ws[slot] = 1.0f;
        wm[slot] = 0.0f;
        if (L.kind == QuantKind::kTq) {
          tq_unpack_group(blk, S.bits, G, idx.data(), &ws[slot]);
          for (int i = 0; i < G; ++i) wi[i] = S.codebook[idx[i]];
        } else if (L.kind == QuantKind::kRtn4) {
          uint16_t h[2];
          std::memcpy(h, blk, 4);
          ws[slot] = f16_to_f32(h[0]);
          wm[slot] = f16_to_f32(h[1]);
          for (int i = 0; i < G; ++i) wi[i] = (blk[4 + i / 2] >> (4 * (i & 1))) & 15;
        } else {
          for (int i = 0; i < G; ++i) wi[i] = static_cast<int8_t>(blk[i]);
        }
      }
    }
    float row_scale = 1.0f;
    if (L.kind == QuantKind::kQ8) std::memcpy(&row_scale, row, 4);
    for (int64_t t = 0; t < n_tokens; ++t) {
      float acc = 0.0f;
      slot = 0;
      for (int si = 0; si < L.n_segments; ++si) {
        const QuantSegment& S = L.seg[si];
        float seg_acc = 0.0f;
        for (int64_t j = 0; j < S.n_groups; ++j, ++slot) {
          const int64_t g = L.slot_group ? L.slot_group[slot] : slot;
          const int64_t k = t * L.n_groups + g;
          const int32_t isum = DotI32(wint_all.data() + slot * G, acts.q.data() + k * G, G);
          seg_acc += ws[slot] * acts.a[k] * static_cast<float>(isum);
          if (L.kind == QuantKind::kRtn4)
            seg_acc += wm[slot] * (acts.a[k] * static_cast<float>(acts.qsum[k]));
        }
        acc += (unit_scales ? 1.0f : S.kappa) * seg_acc;
      }
      y[t * w.n_rows + r] = acc * row_scale;
    }
  }
}

void MatmulPortable(const QuantLayout& L, const WeightView& w, const float* x, int64_t n_tokens,
                    float* y, bool unit_scales, int64_t min_rows) {
  // The caller's buffer, reused across calls. Bound to a reference on purpose: a lambda does not
  // capture a thread_local, so naming `tls` inside it would read each worker's own, empty buffer.
  thread_local GroupActs tls;
  const GroupActs& acts = tls;
  QuantizeActs(L, x, w.n_cols, n_tokens, unit_scales, tls);
  parallel_for(
      w.n_rows,
      [&](int64_t r0, int64_t r1) { RowsPortable(L, w, acts, n_tokens, unit_scales, y, r0, r1); },
      min_rows);
}

#if HWY_TARGET == HWY_AVX3_DL
// ================================================================================================
// AVX-512 VNNI + VBMI fast path.
#define TQ_VNNI __attribute__((target(HWY_TARGET_STR ",avx512vnni")))

enum class Perm : uint8_t { kNatural, kNibble, kCrumb };

// Position p of a permuted group of G holds natural input perm(p).
int PermIndex(Perm perm, int G, int p) {
  switch (perm) {
    case Perm::kNibble: return p < G / 2 ? 2 * p : 2 * (p - G / 2) + 1;
    case Perm::kCrumb: return 4 * (p % (G / 4)) + p / (G / 4);
    default: return p;
  }
}

Perm SegmentPerm(const QuantLayout& L, const QuantSegment& S) {
  if (L.kind == QuantKind::kQ8) return Perm::kNatural;
  if (S.bits == 4) return Perm::kNibble;
  if (S.bits == 2) return Perm::kCrumb;
  return Perm::kNatural;
}

// Groups per unit and 64-byte operand vectors per unit.
int UnitGroups(int G) { return G == 32 ? 2 : 1; }
int UnitOps(int G) { return G == 128 ? 2 : 1; }

// ---- weight decoders: one unit → UnitOps(G) vectors of unsigned operands ------------------------
TQ_VNNI inline __m512i Table(const int8_t* cb, int bits) {
  alignas(64) uint8_t t[64];
  for (int i = 0; i < 64; ++i) t[i] = static_cast<uint8_t>(cb[i & ((1 << bits) - 1)] + 128);
  return _mm512_load_si512(t);
}

TQ_VNNI inline __mmask64 ByteMask(int n) {
  return n >= 64 ? ~__mmask64{0} : ((__mmask64{1} << n) - 1);
}

// Activations of one call arranged for one layout. Decode (n_tokens == 1) reads q/corr/scale/mq,
// prefill reads xq/xcorr/xa/xmq (q is then only the source of xq). For a fractional layout (two
// segments) every activation scale already carries its segment's codebook unit κ (unless
// unit_scales), so both segments add into one accumulator per row and one horizontal sum ends it.
struct FastActs {
  int64_t n_units = 0, stride = 0;  // units per token; q bytes per token
  std::vector<int8_t> q;            // [n_tokens, n_units, 64·UnitOps]
  std::vector<int32_t> corr;        // [n_tokens, n_units, 16] (decode only)
  std::vector<float> scale;         // [n_tokens, n_units, 16] (decode only)
  std::vector<float> mq;            // [n_tokens, n_units] rtn4: a·Σq (decode only)
  int64_t seg_unit0[2] = {0, 0};    // first unit of each segment
  // Prefill (n_tokens > 1) only: the same activations per storage slot (group), token-interleaved
  // so that one 4-byte chunk of every token of a tile sits in one cache line.
  int64_t n_tokens = 0, n_slots = 0;
  std::vector<int64_t> slot_off;    // [n_slots] byte offset of the slot's G bytes within a token
  std::vector<int32_t> xq;          // [n_slots, G/4, n_tokens] 4 int8 activations each
  std::vector<int32_t> xcorr;       // [n_slots, n_tokens] vpdpbusd start: −128·Σq (rtn4: 0)
  std::vector<float> xa;            // [n_slots, n_tokens] group scale a (·κ: fractional)
  std::vector<float> xmq;           // [n_slots, n_tokens] rtn4: a·Σq
};

// Per segment: the permutation of a group as two 64-byte vpermt2b index vectors (position p of the
// permuted group takes byte idx[p] of the natural group's 128-byte window), or natural.
struct GroupPerm {
  bool natural = true;
  alignas(64) uint8_t idx[128] = {};
};

TQ_VNNI inline void PermuteGroup(const GroupPerm& P, const int8_t* src, int G, int8_t* dst) {
  if (P.natural) {
    std::memcpy(dst, src, static_cast<size_t>(G));
    return;
  }
  const __mmask64 m = ByteMask(G);
  const __m512i lo = _mm512_maskz_loadu_epi8(m, src);
  const __m512i hi = G > 64 ? _mm512_loadu_si512(src + 64) : _mm512_setzero_si512();
  _mm512_mask_storeu_epi8(dst, m,
                          _mm512_permutex2var_epi8(lo, _mm512_load_si512(P.idx), hi));
  if (G > 64)
    _mm512_storeu_si512(dst + 64,
                        _mm512_permutex2var_epi8(lo, _mm512_load_si512(P.idx + 64), hi));
}

// Step 2, per layout: Q (step 1 for this layout's grouping) → A.
TQ_VNNI void ArrangeActs(const QuantLayout& L, const GroupActs& Q, int64_t n_tokens,
                         bool unit_scales, FastActs& A) {
  const int G = L.group, ug = UnitGroups(G), ub = 64 * UnitOps(G);
  A.n_units = 0;
  for (int si = 0; si < L.n_segments; ++si) {
    A.seg_unit0[si] = A.n_units;
    A.n_units += (L.seg[si].n_groups + ug - 1) / ug;
  }
  A.stride = A.n_units * ub;
  A.n_tokens = n_tokens;
  A.n_slots = L.n_groups;
  A.slot_off.resize(static_cast<size_t>(A.n_slots));
  {
    int64_t slot = 0;
    for (int si = 0; si < L.n_segments; ++si)
      for (int64_t j = 0; j < L.seg[si].n_groups; ++j, ++slot)
        A.slot_off[slot] = (A.seg_unit0[si] + j / ug) * ub + (j % ug) * G;
  }
  const bool gemm = n_tokens > 1;
  A.q.resize(static_cast<size_t>(n_tokens * A.stride));
  if (gemm) {
    A.xq.resize(static_cast<size_t>(n_tokens * A.n_slots * G / 4));
    A.xcorr.resize(static_cast<size_t>(A.n_slots * n_tokens));
    A.xa.resize(A.xcorr.size());
    A.xmq.resize(A.xcorr.size());
  } else {
    // Zero-filled: the lanes of an absent second group of a G = 32 / q8 unit stay 0.
    A.corr.assign(static_cast<size_t>(n_tokens * A.n_units * 16), 0);
    A.scale.assign(A.corr.size(), 0.0f);
    A.mq.assign(static_cast<size_t>(n_tokens * A.n_units), 0.0f);
  }
  GroupPerm perms[2];
  float kf[2] = {1.0f, 1.0f};  // κ folded into the activation scales (fractional layouts)
  for (int si = 0; si < L.n_segments; ++si) {
    const Perm perm = SegmentPerm(L, L.seg[si]);
    perms[si].natural = perm == Perm::kNatural;
    for (int p = 0; p < G; ++p) perms[si].idx[p] = static_cast<uint8_t>(PermIndex(perm, G, p));
    if (L.n_segments == 2 && !unit_scales) kf[si] = L.seg[si].kappa;
  }
  const int64_t n_groups = L.n_groups;
  parallel_for(
      n_tokens,
      [&](int64_t t0, int64_t t1) {
        const __m512i ones = _mm512_set1_epi8(1);
        for (int64_t t = t0; t < t1; ++t) {
          int8_t* qt = A.q.data() + t * A.stride;
          int64_t slot = 0;
          for (int si = 0; si < L.n_segments; ++si) {
            const int64_t ns = L.seg[si].n_groups;
            for (int64_t j = 0; j < ns; ++j, ++slot) {
              const int64_t g = L.slot_group ? L.slot_group[slot] : slot;
              const int64_t kq = t * n_groups + g;
              PermuteGroup(perms[si], Q.q.data() + kq * G, G, qt + A.slot_off[slot]);
              const float a = Q.a[kq];
              const int32_t qsum = Q.qsum[kq];
              if (gemm) {
                const int64_t ks = slot * n_tokens + t;
                A.xa[ks] = a * kf[si];
                A.xmq[ks] = a * static_cast<float>(qsum);
                A.xcorr[ks] = L.kind == QuantKind::kRtn4 ? 0 : -128 * qsum;
              } else {
                const int64_t k = t * A.n_units + A.seg_unit0[si] + j / ug;
                const int half = static_cast<int>(j % ug);
                const int lanes = ug == 2 ? 8 : 16;
                for (int l = 0; l < lanes; ++l) A.scale[k * 16 + half * 8 + l] = a * kf[si];
                A.mq[k] = a * static_cast<float>(qsum);
              }
            }
            if (ug == 2 && ns % 2 == 1)  // the absent second group of the last unit: zeros
              std::memset(qt + (A.seg_unit0[si] + ns / 2) * ub + G, 0, static_cast<size_t>(G));
          }
          // vpdpbusd start values: lane l gets −128 × the activations it multiplies (bytes
          // 4l..4l+3 of each 64-byte chunk), cancelling the +128 of the unsigned weight operand
          // within the lane, so lane values stay as small as the products themselves.
          if (!gemm && L.kind != QuantKind::kRtn4) {
            for (int64_t u = 0; u < A.n_units; ++u) {
              __m512i sum = _mm512_setzero_si512();
              for (int c = 0; c < ub / 64; ++c)
                sum = _mm512_dpbusd_epi32(sum, ones, _mm512_loadu_si512(qt + u * ub + 64 * c));
              _mm512_storeu_si512(A.corr.data() + (t * A.n_units + u) * 16,
                                  _mm512_mullo_epi32(sum, _mm512_set1_epi32(-128)));
            }
          }
        }
      },
      /*min_chunk=*/8);
  if (!gemm) return;
  // xq[s, c, t] = bytes 4c..4c+3 of slot s of token t: 16 tokens per gather.
  const int kq = G / 4;
  parallel_for(
      A.n_slots,
      [&](int64_t s0, int64_t s1) {
        const __m512i vidx = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(static_cast<int32_t>(A.stride)));
        for (int64_t s = s0; s < s1; ++s) {
          int32_t* xs = A.xq.data() + s * kq * n_tokens;
          for (int64_t t = 0; t < n_tokens; t += 16) {
            const __mmask16 m = n_tokens - t >= 16
                                    ? static_cast<__mmask16>(0xFFFF)
                                    : static_cast<__mmask16>((1u << (n_tokens - t)) - 1);
            const int8_t* src = A.q.data() + t * A.stride + A.slot_off[s];
            for (int c = 0; c < kq; ++c) {
              const __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, vidx,
                                                            src + 4 * c, 1);
              _mm512_mask_storeu_epi32(xs + c * n_tokens + t, m, v);
            }
          }
        }
      },
      /*min_chunk=*/4);
}

// Spread indices for 64 codes of `bits` bits from one source register: qword i gets source bytes
// [bits·i, bits·i + 8); G = 32 pairs take qwords 4..7 from the second register (index + 64).
TQ_VNNI inline __m512i SpreadIdx(int bits, bool pair) {
  alignas(64) uint8_t t[64];
  for (int i = 0; i < 8; ++i)
    for (int k = 0; k < 8; ++k) {
      const int src = pair && i >= 4 ? 64 + bits * (i - 4) + k : bits * i + k;
      t[8 * i + k] = static_cast<uint8_t>(src & 127);
    }
  return _mm512_load_si512(t);
}

// vpmultishiftqb control: byte j of each qword takes bits [j·bits, j·bits + 8).
TQ_VNNI inline __m512i ShiftCtrl(int bits) {
  alignas(64) uint8_t t[64];
  for (int i = 0; i < 64; ++i) t[i] = static_cast<uint8_t>((i % 8) * bits);
  return _mm512_load_si512(t);
}

TQ_VNNI inline float LoadF16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

template <int B, int G>
struct TqDec {
  static constexpr int kOps = G == 128 ? 2 : 1;
  static constexpr int kUG = G == 32 ? 2 : 1;
  static constexpr int kCodeBytes = G * B / 8;
  static constexpr int64_t kBlockBytes = 2 + kCodeBytes;
  __m512i table, spread, ctrl, shift_a, shift_b;

  TQ_VNNI explicit TqDec(const int8_t* cb) {
    table = Table(cb, B);
    spread = SpreadIdx(B, G == 32);
    ctrl = ShiftCtrl(B);
    if constexpr (B == 2 && G == 128) {
      shift_a = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
      shift_b = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
    } else if constexpr (B == 2 && G == 64) {
      shift_a = _mm512_set_epi64(6 * 0x0001000100010001LL, 6 * 0x0001000100010001LL,
                                 4 * 0x0001000100010001LL, 4 * 0x0001000100010001LL,
                                 2 * 0x0001000100010001LL, 2 * 0x0001000100010001LL, 0, 0);
    } else if constexpr (B == 2 && G == 32) {
      shift_a = _mm512_set_epi64(6, 4, 2, 0, 6, 4, 2, 0);
    } else if constexpr (B == 4 && G == 64) {
      shift_a = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(4), 1);
    } else if constexpr (B == 4 && G == 32) {
      shift_a = _mm512_set_epi64(4 * 0x0001000100010001LL, 4 * 0x0001000100010001LL, 0, 0,
                                 4 * 0x0001000100010001LL, 4 * 0x0001000100010001LL, 0, 0);
    }
  }

  // Operands of one unit: blocks a (and b for G = 32; nullptr = absent, treated as zero codes).
  TQ_VNNI inline void Ops(const uint8_t* a, const uint8_t* b, __m512i* op) const {
    const uint8_t* ca = a + 2;
    if constexpr (B == 8) {
      if constexpr (G == 128) {
        op[0] = _mm512_loadu_si512(ca);
        op[1] = _mm512_loadu_si512(ca + 64);
      } else if constexpr (G == 64) {
        op[0] = _mm512_loadu_si512(ca);
      } else {
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ca));
        const __m256i hi = b ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2))
                             : _mm256_setzero_si256();
        op[0] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      }
    } else if constexpr (B == 4) {
      if constexpr (G == 128) {
        const __m512i v = _mm512_loadu_si512(ca);
        op[0] = _mm512_permutexvar_epi8(v, table);
        op[1] = _mm512_permutexvar_epi8(_mm512_srli_epi16(v, 4), table);
      } else if constexpr (G == 64) {
        const __m512i v =
            _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ca)));
        op[0] = _mm512_permutexvar_epi8(_mm512_srlv_epi16(v, shift_a), table);
      } else {
        const __m128i va = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ca));
        const __m128i vb =
            b ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2)) : _mm_setzero_si128();
        const __m512i v = _mm512_inserti32x4(_mm512_castsi128_si512(va), vb, 2);
        const __m512i w = _mm512_shuffle_i32x4(v, v, 0xA0);  // lanes a, a, b, b
        op[0] = _mm512_permutexvar_epi8(_mm512_srlv_epi16(w, shift_a), table);
      }
    } else if constexpr (B == 2) {
      if constexpr (G == 128) {
        const __m512i v =
            _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ca)));
        op[0] = _mm512_permutexvar_epi8(_mm512_srlv_epi16(v, shift_a), table);
        op[1] = _mm512_permutexvar_epi8(_mm512_srlv_epi16(v, shift_b), table);
      } else if constexpr (G == 64) {
        const __m512i v =
            _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ca)));
        op[0] = _mm512_permutexvar_epi8(_mm512_srlv_epi16(v, shift_a), table);
      } else {
        int64_t qa, qb = 0;
        std::memcpy(&qa, ca, 8);
        if (b) std::memcpy(&qb, b + 2, 8);
        const __m512i v = _mm512_set_epi64(qb, qb, qb, qb, qa, qa, qa, qa);
        op[0] = _mm512_permutexvar_epi8(_mm512_srlv_epi64(v, shift_a), table);
      }
    } else {  // 3, 5, 6 bits: byte spread + multishift
      if constexpr (G == 128) {
        const __m512i v0 = _mm512_maskz_loadu_epi8(ByteMask(8 * B), ca);
        const __m512i v1 = _mm512_maskz_loadu_epi8(ByteMask(8 * B), ca + 8 * B);
        op[0] = _mm512_permutexvar_epi8(
            _mm512_multishift_epi64_epi8(ctrl, _mm512_permutexvar_epi8(spread, v0)), table);
        op[1] = _mm512_permutexvar_epi8(
            _mm512_multishift_epi64_epi8(ctrl, _mm512_permutexvar_epi8(spread, v1)), table);
      } else if constexpr (G == 64) {
        const __m512i v0 = _mm512_maskz_loadu_epi8(ByteMask(8 * B), ca);
        op[0] = _mm512_permutexvar_epi8(
            _mm512_multishift_epi64_epi8(ctrl, _mm512_permutexvar_epi8(spread, v0)), table);
      } else {
        const __m512i va = _mm512_maskz_loadu_epi8(ByteMask(4 * B), ca);
        const __m512i vb = b ? _mm512_maskz_loadu_epi8(ByteMask(4 * B), b + 2) : _mm512_setzero_si512();
        op[0] = _mm512_permutexvar_epi8(
            _mm512_multishift_epi64_epi8(ctrl, _mm512_permutex2var_epi8(va, spread, vb)), table);
      }
    }
  }

  // Weight scales of one unit in the accumulator lanes (G = 32: a in lanes 0..7, b in 8..15).
  TQ_VNNI inline __m512 Scale(const uint8_t* a, const uint8_t* b) const {
    if constexpr (G == 32) {
      uint16_t ha, hb = 0;
      std::memcpy(&ha, a, 2);
      if (b) std::memcpy(&hb, b, 2);
      const __m256i h = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_set1_epi16(static_cast<short>(ha))),
          _mm_set1_epi16(static_cast<short>(hb)), 1);
      return _mm512_cvtph_ps(h);
    } else {
      return _mm512_set1_ps(LoadF16(a));
    }
  }
  static constexpr bool kHasOffset = false;
  TQ_VNNI inline float Offset(const uint8_t*) const { return 0.0f; }
};

struct Rtn4Dec {
  static constexpr int kOps = 2, kUG = 1;
  static constexpr int64_t kBlockBytes = sizeof(Rtn4Block);
  __m512i nib;
  TQ_VNNI explicit Rtn4Dec(const int8_t*) { nib = _mm512_set1_epi8(0x0F); }
  TQ_VNNI inline void Ops(const uint8_t* a, const uint8_t*, __m512i* op) const {
    const __m512i v = _mm512_loadu_si512(a + 4);
    op[0] = _mm512_and_si512(v, nib);
    op[1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
  }
  TQ_VNNI inline __m512 Scale(const uint8_t* a, const uint8_t*) const {
    return _mm512_set1_ps(LoadF16(a));
  }
  static constexpr bool kHasOffset = true;
  TQ_VNNI inline float Offset(const uint8_t* a) const { return LoadF16(a + 2); }
};

// q8: a unit is 64 weights (two activation groups of 32); the row scale is applied at the end.
struct Q8Dec {
  static constexpr int kOps = 1, kUG = 2;
  static constexpr int64_t kBlockBytes = kQ8BlockElems;
  __m512i flip;
  TQ_VNNI explicit Q8Dec(const int8_t*) { flip = _mm512_set1_epi8(static_cast<char>(0x80)); }
  TQ_VNNI inline void Ops(const uint8_t* a, const uint8_t* b, __m512i* op) const {
    op[0] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(ByteMask(b ? 64 : 32), a), flip);
  }
  TQ_VNNI inline __m512 Scale(const uint8_t*, const uint8_t*) const { return _mm512_set1_ps(1.0f); }
  static constexpr bool kHasOffset = false;
  TQ_VNNI inline float Offset(const uint8_t*) const { return 0.0f; }
};

// Activations of one token, one segment.
struct SegActs {
  const int8_t* q;      // [n_units, 64·kOps]
  const int32_t* corr;  // [n_units, 16]
  const float* scale;   // [n_units, 16]
  const float* mq;      // [n_units]
};

SegActs SegActsOf(const FastActs& A, int64_t t, int si, int ub) {
  const int64_t u0 = t * A.n_units + A.seg_unit0[si];
  return {A.q.data() + t * A.stride + A.seg_unit0[si] * ub, A.corr.data() + u0 * 16,
          A.scale.data() + u0 * 16, A.mq.data() + u0};
}

// ---- decode (one token): R rows at a time ------------------------------------------------------
// Software prefetch distance of the decode kernel. A 4-row tile reads 4 short interleaved streams
// (a 2048-column tq4 row is 1 KiB), too short for the hardware prefetchers to ramp up; so each unit
// step prefetches the bytes the thread will read kPrefetchBytes later in address order (a thread's
// rows are contiguous). Measured with bench_matmul_quant on Llama-3.2-1B FFN shapes, 2 threads:
// without it tq4g128 GEMV reads 18 GB/s (ffn_up) / 23 GB/s (ffn_down), with 12 KiB 43 / 39 GB/s;
// ffn_down (4 KiB rows, 17 KiB tiles) wants >= 20 KiB (6 KiB: 28 GB/s), 20-32 KiB are equal.
constexpr int64_t kPrefetchBytes = TQ_PREFETCH_BYTES;

// One unit u of R rows: facc[r] += cvt(isum)·(ws·as); off[r] += m·(a·Σq) (rtn4). kPair: a G = 32 /
// q8 unit holds two groups (false: the last unit of a segment with an odd group count).
template <class Dec, int R, bool kPair>
TQ_VNNI inline void GemvUnit(const Dec& dec, const uint8_t* const* rows, int64_t u,
                             const SegActs& s, __m512* facc, float* off) {
  constexpr int kOps = Dec::kOps, kUG = Dec::kUG;
  constexpr int64_t blk_bytes = Dec::kBlockBytes;  // RowsFast checks the layout's
  constexpr int64_t unit_bytes = kUG * blk_bytes;
  const __m512i corr = _mm512_loadu_si512(s.corr + 16 * u);
  const __m512 as = _mm512_loadu_ps(s.scale + 16 * u);
  const __m512i x0 = _mm512_loadu_si512(s.q + 64 * kOps * u);
  __m512i x1 = x0;
  if constexpr (kOps == 2) x1 = _mm512_loadu_si512(s.q + 64 * kOps * u + 64);
  for (int r = 0; r < R; ++r) {
    const uint8_t* blk = rows[r] + u * unit_bytes;
    const uint8_t* blk2 = kUG == 2 && kPair ? blk + blk_bytes : nullptr;
    __m512i op[kOps];
    dec.Ops(blk, blk2, op);
    __m512i acc = _mm512_dpbusd_epi32(corr, op[0], x0);
    if constexpr (kOps == 2) acc = _mm512_dpbusd_epi32(acc, op[1], x1);
    const __m512 ws = dec.Scale(blk, blk2);
    facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(ws, as), facc[r]);
    if constexpr (Dec::kHasOffset) off[r] += dec.Offset(blk) * s.mq[u];
  }
}

// The per-call constants of the decode tiles (hoisted out of the row loop).
struct GemvPlan {
  int n_segments = 1;
  int64_t byte_offset[2] = {0, 0};  // segment start within a row
  int64_t n_groups = 0;             // groups per segment (both segments: equal for fractional)
  SegActs acts[2];
  float k = 1.0f;                   // κ for one segment (1 with unit scales or two segments)
};

// Both segments of R rows. A fractional row has as many b+1-bit blocks as b-bit ones (tq_weight.h),
// so one loop walks unit u of the wide segment and unit u of the narrow one together: no second
// loop (the rows of a small model have 2-8 groups per segment) and two independent decode chains
// per step. Every row reads two forward streams; the software prefetch covers the tile's address
// range linearly, kPrefetchBytes ahead of the bytes consumed so far.
template <class D0, class D1, int R>
TQ_VNNI inline void GemvSegments(const D0& d0, const D1& d1, const GemvPlan& P,
                                 const uint8_t* tile, int64_t row_bytes, __m512* facc,
                                 float* off) {
  constexpr int kUG = D0::kUG;
  constexpr int64_t unit0 = kUG * D0::kBlockBytes, unit1 = kUG * D1::kBlockBytes;
  const bool two = P.n_segments == 2;
  const uint8_t* rows0[R];
  const uint8_t* rows1[R];
  for (int r = 0; r < R; ++r) {
    rows0[r] = tile + r * row_bytes + P.byte_offset[0];
    rows1[r] = tile + r * row_bytes + P.byte_offset[1];
  }
  const int64_t n_full = P.n_groups / kUG;
  const uint8_t* pf = tile + kPrefetchBytes;
  if (two) {
    static_assert(D1::kUG == kUG, "segments with different unit shapes");
    for (int64_t u = 0; u < n_full; ++u) {
      if constexpr (kPrefetchBytes > 0) {
        const uint8_t* p = pf + u * R * (unit0 + unit1);
        for (int64_t k = 0; k < R * (unit0 + unit1); k += 64)
          _mm_prefetch(reinterpret_cast<const char*>(p + k), _MM_HINT_T0);
      }
      GemvUnit<D0, R, true>(d0, rows0, u, P.acts[0], facc, off);
      GemvUnit<D1, R, true>(d1, rows1, u, P.acts[1], facc, off);
    }
    if (n_full * kUG < P.n_groups) {  // G = 32: a last unit with one group
      GemvUnit<D0, R, false>(d0, rows0, n_full, P.acts[0], facc, off);
      GemvUnit<D1, R, false>(d1, rows1, n_full, P.acts[1], facc, off);
    }
  } else {
    for (int64_t u = 0; u < n_full; ++u) {
      if constexpr (kPrefetchBytes > 0) {
        const uint8_t* p = pf + P.byte_offset[0] * R + u * R * unit0;
        for (int64_t k = 0; k < R * unit0; k += 64)
          _mm_prefetch(reinterpret_cast<const char*>(p + k), _MM_HINT_T0);
      }
      GemvUnit<D0, R, true>(d0, rows0, u, P.acts[0], facc, off);
    }
    if (n_full * kUG < P.n_groups) GemvUnit<D0, R, false>(d0, rows0, n_full, P.acts[0], facc, off);
  }
}

// D0 decodes segment 0, D1 segment 1 (fractional formats: the wide and the narrow blocks). Both
// segments add into one accumulator per row (for two segments the activation scales carry κ), so a
// row ends with one horizontal sum: y = k·(Σ lanes + off), times the row scale for q8.
template <class D0, class D1, int R>
TQ_VNNI inline void GemvTile(const D0& d0, const D1& d1, const GemvPlan& P, const WeightView& w,
                             int64_t r0, float* y) {
  __m512 facc[R];
  float off[R];
  for (int r = 0; r < R; ++r) {
    facc[r] = _mm512_setzero_ps();
    off[r] = 0.0f;
  }
  GemvSegments<D0, D1, R>(d0, d1, P, w.row(r0), static_cast<int64_t>(w.row_bytes), facc, off);
  for (int r = 0; r < R; ++r) {
    float v = P.k * (_mm512_reduce_add_ps(facc[r]) + off[r]);
    if constexpr (std::is_same_v<D0, Q8Dec>) {
      float d;
      std::memcpy(&d, w.row(r0 + r), 4);
      v *= d;
    }
    y[r0 + r] = v;
  }
}

template <class D0, class D1>
TQ_VNNI void GemvRows(const QuantLayout& L, const D0& d0, const D1& d1, const WeightView& w,
                      const FastActs& A, bool unit_scales, float* y, int64_t r0, int64_t r1) {
  const int ub = 64 * D0::kOps;
  GemvPlan P;
  P.n_segments = L.n_segments;
  P.n_groups = L.seg[0].n_groups;
  for (int si = 0; si < L.n_segments; ++si) {
    P.byte_offset[si] = L.seg[si].byte_offset;
    P.acts[si] = SegActsOf(A, 0, si, ub);
  }
  TQ_CHECK(L.n_segments == 1 || L.seg[1].n_groups == P.n_groups,
           "fractional layout: {} wide and {} narrow groups", P.n_groups, L.seg[1].n_groups);
  P.k = L.n_segments == 1 && !unit_scales ? L.seg[0].kappa : 1.0f;
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) GemvTile<D0, D1, 4>(d0, d1, P, w, r, y);
  for (; r < r1; ++r) GemvTile<D0, D1, 1>(d0, d1, P, w, r, y);
}

// ---- prefill: 16 rows decoded once into a row-interleaved block, then 16-row × T-token tiles -----
// A block holds, per storage slot (group) and 4-byte chunk c, one 64-byte vector: the operand
// bytes 4c..4c+3 of rows 0..15, one row per int32 lane. One vpdpbusd against a 4-byte activation
// chunk broadcast to all lanes then adds 4 products to each of 16 rows, so a lane sums exactly one
// (row, group) product: no horizontal sums, and per group and token one int32 → float conversion,
// one scale product and one FMA serve 16 rows (G/4 vpdpbusd). The decoded block (16·n_cols bytes)
// is read once per token tile from L1/L2.
constexpr int kBlockRows = 16;
constexpr int kTileTokens = 8;

struct DecodedRow {
  std::vector<uint8_t> ops;  // [n_units_total, kOps, 64] operand bytes
  std::vector<float> ws;     // [n_units_total, 16] weight scales per lane
  std::vector<float> m;      // [n_units_total] rtn4 offsets
};

struct DecodedBlock {
  std::vector<int32_t> rows;  // [16, n_slots·G/4] operand chunks per row (staging)
  std::vector<int32_t> ops;   // [n_slots·G/4, 16] operand chunks, row-interleaved
  std::vector<float> ws;      // [n_slots, 16] weight scale of each slot and row
  std::vector<float> m;       // [n_slots, 16] rtn4 offsets
  alignas(64) float d[16];    // q8 row scales (1 otherwise)
};

template <class Dec>
TQ_VNNI inline void DecodeSegment(const Dec& dec, const QuantSegment& S, const uint8_t* row,
                                  int64_t u, DecodedRow& d) {
  constexpr int kOps = Dec::kOps, kUG = Dec::kUG;
  const uint8_t* base = row + S.byte_offset;
  for (int64_t j = 0; j < S.n_groups; j += kUG, ++u) {
    const uint8_t* a = base + j * S.block_bytes;
    const uint8_t* b = (kUG == 2 && j + 1 < S.n_groups) ? a + S.block_bytes : nullptr;
    __m512i op[kOps];
    dec.Ops(a, b, op);
    for (int k = 0; k < kOps; ++k) _mm512_storeu_si512(d.ops.data() + (u * kOps + k) * 64, op[k]);
    _mm512_storeu_ps(d.ws.data() + u * 16, dec.Scale(a, b));
    d.m[u] = dec.Offset(a);
  }
}

template <class D0, class D1>
TQ_VNNI void DecodeRow(const QuantLayout& L, const D0& d0, const D1& d1, const FastActs& A,
                       const uint8_t* row, DecodedRow& d) {
  constexpr int kOps = D0::kOps;
  const int64_t n_units = A.n_units;
  d.ops.resize(static_cast<size_t>(n_units * kOps * 64));
  d.ws.resize(static_cast<size_t>(n_units * 16));
  d.m.resize(static_cast<size_t>(n_units));
  DecodeSegment(d0, L.seg[0], row, A.seg_unit0[0], d);
  if (L.n_segments > 1) DecodeSegment(d1, L.seg[1], row, A.seg_unit0[1], d);
}

// dst[c·16 + j] = src[j·n + c] for c < n (16 × n int32 → n × 16).
TQ_VNNI inline void TransposeRows16(const int32_t* src, int64_t n, int32_t* dst) {
  for (int64_t c = 0; c < n; ++c)
    for (int j = 0; j < 16; ++j) dst[c * 16 + j] = src[j * n + c];
}

// Decodes rows r0..r0+nr (nr <= 16) of w into B; rows nr..15 are zero.
template <class D0, class D1>
TQ_VNNI void DecodeBlock(const QuantLayout& L, const D0& d0, const D1& d1, const WeightView& w,
                         const FastActs& A, int64_t r0, int nr, DecodedRow& tmp, DecodedBlock& B) {
  const int G = L.group, ub = 64 * D0::kOps;
  const int64_t n_chunks = A.n_slots * G / 4;
  B.rows.resize(static_cast<size_t>(16 * n_chunks));
  B.ops.resize(B.rows.size());
  B.ws.resize(static_cast<size_t>(A.n_slots * 16));
  B.m.resize(B.ws.size());
  for (int j = 0; j < 16; ++j) {
    int32_t* dst = B.rows.data() + j * n_chunks;
    B.d[j] = 1.0f;
    if (j >= nr) {
      std::memset(dst, 0, sizeof(int32_t) * n_chunks);
      for (int64_t s = 0; s < A.n_slots; ++s) B.ws[s * 16 + j] = B.m[s * 16 + j] = 0.0f;
      continue;
    }
    const uint8_t* row = w.row(r0 + j);
    if (L.kind == QuantKind::kQ8) std::memcpy(&B.d[j], row, 4);
    DecodeRow(L, d0, d1, A, row, tmp);
    for (int64_t s = 0; s < A.n_slots; ++s) {
      const int64_t off = A.slot_off[s], u = off / ub;
      std::memcpy(dst + s * (G / 4), tmp.ops.data() + off, G);
      B.ws[s * 16 + j] = tmp.ws[u * 16 + ((off % ub) / G) * 8];
      B.m[s * 16 + j] = tmp.m[u];
    }
  }
  TransposeRows16(B.rows.data(), n_chunks, B.ops.data());
}

// y[t0 + t, r0 + j] for t < T, j < nr from a decoded block.
template <int T, bool kOffset>
TQ_VNNI void GemmBlockTile(const QuantLayout& L, const DecodedBlock& B, const FastActs& A,
                           int64_t t0, bool unit_scales, int64_t r0, int nr, int64_t n_rows,
                           float* y) {
  const int kq = L.group / 4;
  const int64_t nt = A.n_tokens;
  // One accumulator over every slot (two segments: κ is in the activation scales xa), then
  // out = k·facc with k = κ for one segment (1 with unit scales or two segments).
  __m512 facc[T];
  for (int t = 0; t < T; ++t) facc[t] = _mm512_setzero_ps();
  for (int64_t s = 0; s < A.n_slots; ++s) {
    const int32_t* xc = A.xcorr.data() + s * nt + t0;
    __m512i acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_set1_epi32(xc[t]);
    const int32_t* wp = B.ops.data() + s * kq * 16;
    const int32_t* xp = A.xq.data() + s * kq * nt + t0;
    for (int c = 0; c < kq; ++c) {
      const __m512i wv = _mm512_loadu_si512(wp + 16 * c);
      for (int t = 0; t < T; ++t)
        acc[t] = _mm512_dpbusd_epi32(acc[t], wv, _mm512_set1_epi32(xp[c * nt + t]));
    }
    const __m512 ws = _mm512_loadu_ps(B.ws.data() + 16 * s);
    const float* xa = A.xa.data() + s * nt + t0;
    for (int t = 0; t < T; ++t)
      facc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]),
                                _mm512_mul_ps(ws, _mm512_set1_ps(xa[t])), facc[t]);
    if constexpr (kOffset) {
      const __m512 mv = _mm512_loadu_ps(B.m.data() + 16 * s);
      const float* xm = A.xmq.data() + s * nt + t0;
      for (int t = 0; t < T; ++t) facc[t] = _mm512_fmadd_ps(mv, _mm512_set1_ps(xm[t]), facc[t]);
    }
  }
  const __m512 k =
      _mm512_set1_ps(L.n_segments == 1 && !unit_scales ? L.seg[0].kappa : 1.0f);
  __m512 out[T];
  for (int t = 0; t < T; ++t) out[t] = _mm512_mul_ps(k, facc[t]);
  const __mmask16 mask = static_cast<__mmask16>((1u << nr) - 1);
  const __m512 d = _mm512_load_ps(B.d);
  for (int t = 0; t < T; ++t) {
    const __m512 v = L.kind == QuantKind::kQ8 ? _mm512_mul_ps(out[t], d) : out[t];
    _mm512_mask_storeu_ps(y + (t0 + t) * n_rows + r0, mask, v);
  }
}

template <bool kOffset>
TQ_VNNI void GemmBlock(const QuantLayout& L, const DecodedBlock& B, const FastActs& A,
                       bool unit_scales, int64_t r0, int nr, int64_t n_rows, float* y) {
  const int64_t n_tokens = A.n_tokens;
  int64_t t = 0;
  for (; t + kTileTokens <= n_tokens; t += kTileTokens)
    GemmBlockTile<kTileTokens, kOffset>(L, B, A, t, unit_scales, r0, nr, n_rows, y);
  switch (n_tokens - t) {
#define TQ_TAIL(n) \
  case n: GemmBlockTile<n, kOffset>(L, B, A, t, unit_scales, r0, nr, n_rows, y); break;
    TQ_TAIL(1) TQ_TAIL(2) TQ_TAIL(3) TQ_TAIL(4) TQ_TAIL(5) TQ_TAIL(6) TQ_TAIL(7)
#undef TQ_TAIL
    default: break;
  }
}

template <class D0, class D1>
TQ_VNNI void GemmRows(const QuantLayout& L, const D0& d0, const D1& d1, const WeightView& w,
                      const FastActs& A, bool unit_scales, float* y, int64_t r0, int64_t r1) {
  static_assert(kTileTokens == 8, "GemmBlock's tail switch covers 1..7 tokens");
  thread_local DecodedRow tmp;
  thread_local DecodedBlock B;
  for (int64_t r = r0; r < r1; r += kBlockRows) {
    const int nr = static_cast<int>(std::min<int64_t>(kBlockRows, r1 - r));
    DecodeBlock(L, d0, d1, w, A, r, nr, tmp, B);
    GemmBlock<D0::kHasOffset>(L, B, A, unit_scales, r, nr, w.n_rows, y);
  }
}

template <class D0, class D1 = D0>
TQ_VNNI void RowsFast(const QuantLayout& L, const WeightView& w, const FastActs& A,
                      int64_t n_tokens, bool unit_scales, float* y, int64_t r0, int64_t r1) {
  TQ_CHECK(L.seg[0].block_bytes == D0::kBlockBytes &&
               (L.n_segments == 1 || L.seg[1].block_bytes == D1::kBlockBytes),
           "segment blocks of {} / {} bytes, decoders' {} / {}", L.seg[0].block_bytes,
           L.seg[1].block_bytes, D0::kBlockBytes, D1::kBlockBytes);
  const D0 d0(L.seg[0].codebook);
  const D1 d1(L.n_segments > 1 ? L.seg[1].codebook : L.seg[0].codebook);
  if (n_tokens == 1) {
    GemvRows<D0, D1>(L, d0, d1, w, A, unit_scales, y, r0, r1);
  } else {
    GemmRows<D0, D1>(L, d0, d1, w, A, unit_scales, y, r0, r1);
  }
}

using RowsFn = void (*)(const QuantLayout&, const WeightView&, const FastActs&, int64_t, bool,
                        float*, int64_t, int64_t);

template <int G>
RowsFn TqRowsFn(int bits) {
  switch (bits) {
    case 2: return RowsFast<TqDec<2, G>>;
    case 3: return RowsFast<TqDec<3, G>>;
    case 4: return RowsFast<TqDec<4, G>>;
    case 5: return RowsFast<TqDec<5, G>>;
    case 6: return RowsFast<TqDec<6, G>>;
    case 8: return RowsFast<TqDec<8, G>>;
    default: return nullptr;
  }
}

// Fractional: wide blocks (bits + 1) first, then narrow ones (bits).
template <int G>
RowsFn TqFractionalRowsFn(int bits) {
  switch (bits) {
    case 2: return RowsFast<TqDec<3, G>, TqDec<2, G>>;
    case 3: return RowsFast<TqDec<4, G>, TqDec<3, G>>;
    case 4: return RowsFast<TqDec<5, G>, TqDec<4, G>>;
    case 5: return RowsFast<TqDec<6, G>, TqDec<5, G>>;
    default: return nullptr;
  }
}

RowsFn SelectRows(const QuantLayout& L) {
  switch (L.kind) {
    case QuantKind::kQ8: return RowsFast<Q8Dec>;
    case QuantKind::kRtn4: return RowsFast<Rtn4Dec>;
    case QuantKind::kTq:
      if (L.n_segments == 2) {
        TQ_CHECK(L.seg[0].bits == L.seg[1].bits + 1, "fractional layout: {} + {} bits",
                 L.seg[0].bits, L.seg[1].bits);
        if (L.group == 32) return TqFractionalRowsFn<32>(L.seg[1].bits);
        if (L.group == 64) return TqFractionalRowsFn<64>(L.seg[1].bits);
        return TqFractionalRowsFn<128>(L.seg[1].bits);
      }
      if (L.group == 32) return TqRowsFn<32>(L.seg[0].bits);
      if (L.group == 64) return TqRowsFn<64>(L.seg[0].bits);
      return TqRowsFn<128>(L.seg[0].bits);
  }
  return nullptr;
}

void MatmulFast(const QuantLayout& L, const WeightView& w, const float* x, int64_t n_tokens,
                float* y, bool unit_scales, int64_t min_rows) {
  thread_local GroupActs groups;
  thread_local FastActs acts;
  QuantizeActs(L, x, w.n_cols, n_tokens, unit_scales, groups);
  ArrangeActs(L, groups, n_tokens, unit_scales, acts);
  const RowsFn rows = SelectRows(L);
  TQ_CHECK(rows != nullptr, "no fast kernel for this layout");
  const FastActs& A = acts;
  // Units of 4 rows (the decode tile), so that thread boundaries never split a tile.
  const int64_t n_units = (w.n_rows + 3) / 4;
  parallel_for(
      n_units,
      [&](int64_t u0, int64_t u1) {
        rows(L, w, A, n_tokens, unit_scales, y, 4 * u0, std::min(w.n_rows, 4 * u1));
      },
      std::max<int64_t>(1, (min_rows + 3) / 4));
}

// Activations prepared for `a` serve `b` too (same x): same grouping, rotation, permutation.
bool SameActs(const QuantLayout& a, const QuantLayout& b) {
  if (a.kind != b.kind || a.group != b.group || a.rotate != b.rotate ||
      a.n_segments != b.n_segments || a.n_groups != b.n_groups || a.slot_group != b.slot_group)
    return false;
  for (int si = 0; si < a.n_segments; ++si)
    if (a.seg[si].bits != b.seg[si].bits || a.seg[si].n_groups != b.seg[si].n_groups) return false;
  return true;
}

// Step 1 done for `a` serves `b` too (same x): same grouping and rotation.
bool SameGroups(const QuantLayout& a, const QuantLayout& b) {
  return a.group == b.group && a.rotate == b.rotate && a.n_groups == b.n_groups;
}

// Several weights over the same x: activation groups quantized once per grouping (step 1) and
// arranged once per distinct layout (step 2; fractional weights with different group maps share
// step 1), then one parallel region over the 4-row tiles of all the weights (tiles never straddle
// two weights).
void MatmulFastMulti(const QuantLayout* Ls, const WeightView* const* ws, int64_t n, const float* x,
                     int64_t n_tokens, float* const* ys, int64_t min_tiles) {
  thread_local std::vector<FastActs> pool;
  thread_local std::vector<GroupActs> group_pool;
  if (static_cast<int64_t>(pool.size()) < n) pool.resize(static_cast<size_t>(n));
  if (static_cast<int64_t>(group_pool.size()) < n) group_pool.resize(static_cast<size_t>(n));
  std::vector<const FastActs*> acts(static_cast<size_t>(n));
  std::vector<const GroupActs*> groups(static_cast<size_t>(n));
  std::vector<RowsFn> fns(static_cast<size_t>(n));
  std::vector<int64_t> first_tile(static_cast<size_t>(n + 1), 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < i && !acts[i]; ++j)
      if (SameActs(Ls[i], Ls[j])) acts[i] = acts[j];
    if (!acts[i]) {
      for (int64_t j = 0; j < i && !groups[i]; ++j)
        if (groups[j] && SameGroups(Ls[i], Ls[j])) groups[i] = groups[j];
      if (!groups[i]) {
        QuantizeActs(Ls[i], x, ws[i]->n_cols, n_tokens, false, group_pool[i]);
        groups[i] = &group_pool[i];
      }
      ArrangeActs(Ls[i], *groups[i], n_tokens, false, pool[i]);
      acts[i] = &pool[i];
    }
    fns[i] = SelectRows(Ls[i]);
    TQ_CHECK(fns[i] != nullptr, "no fast kernel for this layout");
    first_tile[i + 1] = first_tile[i] + (ws[i]->n_rows + 3) / 4;
  }
  parallel_for(
      first_tile[n],
      [&](int64_t u0, int64_t u1) {
        for (int64_t i = 0; i < n; ++i) {
          const int64_t a = std::max(u0, first_tile[i]), b = std::min(u1, first_tile[i + 1]);
          if (a >= b) continue;
          fns[i](Ls[i], *ws[i], *acts[i], n_tokens, false, ys[i], 4 * (a - first_tile[i]),
                 std::min(ws[i]->n_rows, 4 * (b - first_tile[i])));
        }
      },
      min_tiles);
}
#endif  // HWY_TARGET == HWY_AVX3_DL

void QuantMatmulMultiKernel(const QuantLayout* Ls, const WeightView* const* ws, int64_t n,
                            const float* x, int64_t n_tokens, float* const* ys, int64_t min_tiles) {
#if HWY_TARGET == HWY_AVX3_DL
  MatmulFastMulti(Ls, ws, n, x, n_tokens, ys, min_tiles);
#elif HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3
  x86::matmul_multi_avx2(Ls, ws, n, x, n_tokens, ys, min_tiles, &QuantizeActs, simd_avx_vnni());
#else
  for (int64_t i = 0; i < n; ++i)
    MatmulPortable(Ls[i], *ws[i], x, n_tokens, ys[i], false, 4 * min_tiles);
#endif
}

void QuantMatmulKernel(const QuantLayout& L, const WeightView& w, const float* x, int64_t n_tokens,
                       float* y, bool unit_scales, int64_t min_rows) {
#if HWY_TARGET == HWY_AVX3_DL
  MatmulFast(L, w, x, n_tokens, y, unit_scales, min_rows);
#elif HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3
  x86::matmul_avx2(L, w, x, n_tokens, y, unit_scales, min_rows, &QuantizeActs, simd_avx_vnni());
#else
  MatmulPortable(L, w, x, n_tokens, y, unit_scales, min_rows);
#endif
}

const char* QuantPath() {
#if HWY_TARGET == HWY_AVX3_DL
  return "avx512-vnni";
#elif HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3
  return simd_avx_vnni() ? "avx2-vnni" : "avx2";
#else
  return "portable";
#endif
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace tq
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tq {
HWY_EXPORT(QuantMatmulKernel);
HWY_EXPORT(QuantPath);

const char* matmul_quant_path() { return HWY_DYNAMIC_DISPATCH(QuantPath)(); }
HWY_EXPORT(QuantMatmulMultiKernel);

void quant_matmul_multi_dispatch(const QuantLayout* Ls, const WeightView* const* ws, int64_t n,
                                 const float* x, int64_t n_tokens, float* const* ys,
                                 int64_t min_tiles) {
  HWY_DYNAMIC_DISPATCH(QuantMatmulMultiKernel)(Ls, ws, n, x, n_tokens, ys, min_tiles);
}

void quant_matmul_dispatch(const QuantLayout& L, const WeightView& w, const float* x,
                           int64_t n_tokens, float* y, bool unit_scales, int64_t min_rows) {
  HWY_DYNAMIC_DISPATCH(QuantMatmulKernel)(L, w, x, n_tokens, y, unit_scales, min_rows);
}
}  // namespace tq
#endif  // HWY_ONCE

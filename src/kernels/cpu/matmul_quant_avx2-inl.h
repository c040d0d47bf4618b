// The AVX2 kernels of kernels/matmul_quant.h, included twice by matmul_quant_avx2.cc with
//   TQ_AVX2_NS    namespace of this copy (avx2 / avxvnni)
//   TQ_AVX2_VNNI  0: vpmaddubsw + vpmaddwd; 1: vpdpbusd (AVX-VNNI)
//   TQ_AVX2_ATTR  the function target attribute of this copy
// No include guard: each inclusion is a separate copy.
//
// Integer sums (exact, the reference's int32 sums; lane l of an int32 accumulator sums the
// products of bytes 4l..4l+3 of each 32-byte operand vector):
//  * AVX-VNNI: unsigned weight operands (w + 128) × signed int8 activations with vpdpbusd, each
//    lane starting at −128 × the activations it multiplies (rtn4: codes 0..15, start 0) — the
//    AVX3_DL scheme on 256-bit vectors.
//  * plain AVX2: vpmaddubsw (u8 × s8, pairs summed to int16 with saturation) then vpmaddwd with
//    ones (pairs of int16 to int32). The unsigned operand must stay ≤ 128 so that a pair stays
//    below 2^15 (2·128·127 = 32512): tq codebooks (|c| ≤ 127): |x| × sign(c, x), |x| prepared with
//    the activations; 8-bit codes and q8 (c may be −128): |c| × sign(x, c); rtn4: code × x.
// Weights are decoded in registers, 32 codes per vector, with vpshufb lookups of the codebook
// (16 entries per table; 5- and 6-bit codebooks blend 2 / 4 tables on the code's high bits):
//   4-bit: nibble masks of 32 loaded bytes (low nibbles = even positions, high = odd);
//   2-bit: 16-bit shifts by 0/2/4/6 and a mask (vector j holds positions 4i + j);
//   3/5/6-bit: per 16 codes a vpshufb gathers each code's one or two bytes into a 16-bit word,
//     vpmulhuw by 2^(16 − shift) moves the code to the bottom, a mask and vpackuswb give bytes in
//     natural order;
//   8-bit codes and q8: the bytes themselves.
// The activations of each group are stored in the order the decoder produces codes (PermIndex).
// Decode (one token) runs 4 rows at a time sharing the activations; per group and row one int32 →
// float conversion and one FMA with (weight scale · activation scale), one horizontal sum per row.
// Prefill decodes 8 rows into a row-interleaved block (per group and 4-byte chunk one vector of 8
// rows' operand bytes, one row per int32 lane) and runs 8-row × 4-token tiles against broadcast
// 4-byte activation chunks, so per group and token one conversion and one FMA serve 8 rows.

namespace tq::x86::TQ_AVX2_NS {
namespace {

constexpr bool kVnni = TQ_AVX2_VNNI;
constexpr int64_t kPrefetchBytes = TQ_PREFETCH_BYTES;

// How a decoder's operand bytes multiply the activations (plain AVX2; see the top).
enum class Mul { kCodebook, kSigned, kUnsigned };

#include "kernels/cpu/avx2_codes-inl.h"

// acc + the int32 lane sums of op · x (32 bytes each). xabs = |x| (kCodebook on plain AVX2 only).
template <Mul kMul>
TQ_AVX2_ATTR inline __m256i Chain(__m256i acc, __m256i op, const int8_t* xq, const uint8_t* xabs) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
  if constexpr (kVnni) {
    return _mm256_dpbusd_avx_epi32(acc, op, x);
  } else {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p;
    if constexpr (kMul == Mul::kCodebook) {
      p = _mm256_maddubs_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xabs)),
                               _mm256_sign_epi8(op, x));
    } else if constexpr (kMul == Mul::kSigned) {
      p = _mm256_maddubs_epi16(_mm256_abs_epi8(op), _mm256_sign_epi8(x, op));
    } else {
      p = _mm256_maddubs_epi16(op, x);
    }
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
  }
}

// The same for a prefill tile: wv = 8 rows' operand chunk, wabs = |wv| (signed kinds), xb = one
// token's 4-byte activation chunk in every lane.
template <Mul kMul>
TQ_AVX2_ATTR inline __m256i GemmChain(__m256i acc, __m256i wv, __m256i wabs, __m256i xb) {
  if constexpr (kVnni) {
    return _mm256_dpbusd_avx_epi32(acc, wv, xb);
  } else {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p;
    if constexpr (kMul == Mul::kUnsigned) {
      p = _mm256_maddubs_epi16(wv, xb);
    } else {
      p = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(xb, wv));
    }
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
  }
}

// ---- decoders: one group block → G/32 operand vectors -------------------------------------------
// Operand bytes: AVX-VNNI c + 128 (unsigned); plain AVX2 c (signed), rtn4 codes either way.

template <int B, int G>
struct TqDec {
  static constexpr int kVecs = G / 32;
  static constexpr int64_t kBlockBytes = 2 + G * B / 8;
  static constexpr Mul kMul = B == 8 ? Mul::kSigned : Mul::kCodebook;
  static constexpr bool kHasOffset = false;
  // Operand bytes of the codebook: c + 128 (AVX-VNNI) or c.
  std::conditional_t<B == 8, char, CodeTables<B == 8 ? 1 : B>> lookup;
  std::conditional_t<B == 3 || B == 5 || B == 6, Unpack32<B>, char> unpack;
  __m256i nib = _mm256_set1_epi8(0x0F), crumb = _mm256_set1_epi8(0x03);

  TQ_AVX2_ATTR explicit TqDec(const int8_t* cb) : lookup(Table(cb)) {}

  TQ_AVX2_ATTR static auto Table(const int8_t* cb) {
    if constexpr (B == 8) {
      return char{0};
    } else {
      return CodeTables<B>([cb](int k) { return static_cast<uint8_t>(kVnni ? cb[k] + 128 : cb[k]); });
    }
  }
  TQ_AVX2_ATTR inline __m256i Lookup(__m256i codes) const { return lookup(codes); }

  TQ_AVX2_ATTR inline void Ops(const uint8_t* blk, __m256i* op) const {
    const uint8_t* c = blk + 2;
    if constexpr (B == 8) {
      for (int v = 0; v < kVecs; ++v) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 32 * v));
        op[v] = kVnni ? raw : _mm256_xor_si256(raw, _mm256_set1_epi8(static_cast<char>(0x80)));
      }
    } else if constexpr (B == 4) {
      if constexpr (G == 32) {
        const __m256i v =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)));
        op[0] = Lookup(_mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), nib));
      } else {
        for (int h = 0; h < G / 64; ++h) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 32 * h));
          op[2 * h] = Lookup(_mm256_and_si256(v, nib));
          op[2 * h + 1] = Lookup(_mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
        }
      }
    } else if constexpr (B == 2) {
      if constexpr (G == 128) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c));
        op[0] = Lookup(_mm256_and_si256(v, crumb));
        op[1] = Lookup(_mm256_and_si256(_mm256_srli_epi16(v, 2), crumb));
        op[2] = Lookup(_mm256_and_si256(_mm256_srli_epi16(v, 4), crumb));
        op[3] = Lookup(_mm256_and_si256(_mm256_srli_epi16(v, 6), crumb));
      } else if constexpr (G == 64) {
        const __m256i v =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)));
        op[0] = Lookup(_mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2)), crumb));
        op[1] = Lookup(_mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6)), crumb));
      } else {
        int64_t q;
        std::memcpy(&q, c, 8);
        const __m256i v = _mm256_set1_epi64x(q);
        op[0] = Lookup(_mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 2, 4, 6)), crumb));
      }
    } else {  // 3, 5, 6 bits
      for (int v = 0; v < kVecs; ++v) op[v] = Lookup(unpack(c + 4 * B * v));
    }
  }
  TQ_AVX2_ATTR inline float Scale(const uint8_t* blk) const { return LoadF16(blk); }
  TQ_AVX2_ATTR inline float Offset(const uint8_t*) const { return 0.0f; }
};

struct Rtn4Dec {
  static constexpr int kVecs = 4;
  static constexpr int64_t kBlockBytes = sizeof(Rtn4Block);
  static constexpr Mul kMul = Mul::kUnsigned;
  static constexpr bool kHasOffset = true;
  __m256i nib = _mm256_set1_epi8(0x0F);
  TQ_AVX2_ATTR explicit Rtn4Dec(const int8_t*) {}
  TQ_AVX2_ATTR inline void Ops(const uint8_t* blk, __m256i* op) const {
    for (int h = 0; h < 2; ++h) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 4 + 32 * h));
      op[2 * h] = _mm256_and_si256(v, nib);
      op[2 * h + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
    }
  }
  TQ_AVX2_ATTR inline float Scale(const uint8_t* blk) const { return LoadF16(blk); }
  TQ_AVX2_ATTR inline float Offset(const uint8_t* blk) const { return LoadF16(blk + 2); }
};

// q8: groups of 32 int8 weights; the f32 row scale is applied at the end.
struct Q8Dec {
  static constexpr int kVecs = 1;
  static constexpr int64_t kBlockBytes = kQ8BlockElems;
  static constexpr Mul kMul = Mul::kSigned;
  static constexpr bool kHasOffset = false;
  TQ_AVX2_ATTR explicit Q8Dec(const int8_t*) {}
  TQ_AVX2_ATTR inline void Ops(const uint8_t* blk, __m256i* op) const {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
    op[0] = kVnni ? _mm256_xor_si256(raw, _mm256_set1_epi8(static_cast<char>(0x80))) : raw;
  }
  TQ_AVX2_ATTR inline float Scale(const uint8_t*) const { return 1.0f; }
  TQ_AVX2_ATTR inline float Offset(const uint8_t*) const { return 0.0f; }
};

// Position p of a group in decoder order holds natural input PermIndex(...).
int PermIndex(const QuantLayout& L, const QuantSegment& S, int p) {
  const int G = L.group;
  const bool nibbles = L.kind == QuantKind::kRtn4 || (L.kind == QuantKind::kTq && S.bits == 4);
  if (nibbles) {
    if (G == 32) return p < 16 ? 2 * p : 2 * (p - 16) + 1;
    const int v = p / 32, i = p % 32;
    return 64 * (v / 2) + 2 * i + v % 2;
  }
  if (L.kind == QuantKind::kTq && S.bits == 2) {
    if (G == 128) return 4 * (p % 32) + p / 32;
    if (G == 64) return 4 * (p % 16) + p / 16;
    return 4 * (p % 8) + p / 8;
  }
  return p;
}

// ---- activations arranged for one layout --------------------------------------------------------
struct Acts {
  int G = 0;
  int64_t n_tokens = 0, n_slots = 0;
  // Decode (n_tokens == 1), per storage slot (a group of the row, in storage order):
  std::vector<int8_t> q;       // [n_slots, G] decoder order
  std::vector<uint8_t> qabs;   // [n_slots, G] |q| (plain AVX2)
  std::vector<int32_t> corr;   // [n_slots, 8] AVX-VNNI lane start values (rtn4: 0)
  std::vector<float> a;        // [n_slots] activation scale (· κ of the segment: fractional)
  std::vector<float> mq;       // [n_slots] rtn4: a·Σq
  // Prefill (n_tokens > 1): the same per slot, token-interleaved.
  std::vector<int32_t> xq;     // [n_slots, G/4, n_tokens] 4 int8 activations each
  std::vector<int32_t> xcorr;  // [n_slots, n_tokens] AVX-VNNI: −128·Σq (rtn4: 0)
  std::vector<float> xa;       // [n_slots, n_tokens]
  std::vector<float> xmq;      // [n_slots, n_tokens]
};

void ArrangeActs(const QuantLayout& L, const GroupActs& Q, int64_t n_tokens, bool unit_scales,
                 Acts& A) {
  const int G = L.group;
  A.G = G;
  A.n_tokens = n_tokens;
  A.n_slots = L.n_groups;
  const bool gemm = n_tokens > 1;
  const bool rtn4 = L.kind == QuantKind::kRtn4;
  std::vector<int> perm[2];
  float kf[2] = {1.0f, 1.0f};  // κ folded into the activation scales (fractional layouts)
  for (int si = 0; si < L.n_segments; ++si) {
    perm[si].resize(static_cast<size_t>(G));
    for (int p = 0; p < G; ++p) perm[si][p] = PermIndex(L, L.seg[si], p);
    if (L.n_segments == 2 && !unit_scales) kf[si] = L.seg[si].kappa;
  }
  if (gemm) {
    A.xq.resize(static_cast<size_t>(A.n_slots * G / 4 * n_tokens));
    A.xcorr.resize(static_cast<size_t>(A.n_slots * n_tokens));
    A.xa.resize(A.xcorr.size());
    A.xmq.resize(A.xcorr.size());
  } else {
    A.q.resize(static_cast<size_t>(A.n_slots * G));
    if (!kVnni) A.qabs.resize(A.q.size());
    if (kVnni) A.corr.resize(static_cast<size_t>(A.n_slots * 8));
    A.a.resize(static_cast<size_t>(A.n_slots));
    A.mq.resize(A.a.size());
  }
  parallel_for(
      A.n_slots,
      [&](int64_t s0, int64_t s1) {
        std::vector<int8_t> buf(static_cast<size_t>(G));
        for (int64_t slot = s0; slot < s1; ++slot) {
          const int si = slot < L.seg[0].n_groups ? 0 : 1;
          const int64_t g = L.slot_group ? L.slot_group[slot] : slot;
          for (int64_t t = 0; t < n_tokens; ++t) {
            const int64_t k = t * L.n_groups + g;
            const int8_t* src = Q.q.data() + k * G;
            int8_t* dst = gemm ? buf.data() : A.q.data() + slot * G;
            for (int p = 0; p < G; ++p) dst[p] = src[perm[si][p]];
            const float a = Q.a[k];
            const int32_t qsum = Q.qsum[k];
            if (gemm) {
              const int64_t ks = slot * n_tokens + t;
              A.xa[ks] = a * kf[si];
              A.xmq[ks] = a * static_cast<float>(qsum);
              A.xcorr[ks] = kVnni && !rtn4 ? -128 * qsum : 0;
              int32_t* xs = A.xq.data() + slot * (G / 4) * n_tokens + t;
              for (int c = 0; c < G / 4; ++c) std::memcpy(xs + c * n_tokens, dst + 4 * c, 4);
            } else {
              A.a[slot] = a * kf[si];
              A.mq[slot] = a * static_cast<float>(qsum);
              if (!kVnni)
                for (int p = 0; p < G; ++p)
                  A.qabs[slot * G + p] = static_cast<uint8_t>(dst[p] < 0 ? -dst[p] : dst[p]);
              if (kVnni)
                for (int l = 0; l < 8; ++l) {
                  int32_t sum = 0;
                  for (int v = 0; v < G / 32; ++v)
                    for (int b = 0; b < 4; ++b) sum += dst[32 * v + 4 * l + b];
                  A.corr[slot * 8 + l] = rtn4 ? 0 : -128 * sum;
                }
            }
          }
        }
      },
      /*min_chunk=*/16);
}

// ---- decode (one token): R rows at a time -------------------------------------------------------
// Slots of one segment for R rows of the tile starting at `tile`: facc[r] += cvt(isum)·(ws·a) per
// slot, off[r] += m·(a·Σq) (rtn4).
// Everything the loop reads is copied into locals first (the decoder's tables, the activation
// pointers, the accumulators): through the pointer arguments the compiler would have to assume
// that every store aliases them and reload them per row.
template <class Dec, int R>
TQ_AVX2_ATTR __attribute__((always_inline)) inline void GemvSegment(
    const Dec& dec_in, const QuantSegment& S, int64_t slot0, const Acts& A, const uint8_t* tile,
    int64_t row_bytes, __m256* facc_io, float* off_io) {
  constexpr int kVecs = Dec::kVecs;
  constexpr int64_t blk_bytes = Dec::kBlockBytes;
  const Dec dec = dec_in;
  const int G = A.G;
  const int64_t n_groups = S.n_groups;
  const uint8_t* base = tile + S.byte_offset;
  const uint8_t* pf = tile + kPrefetchBytes + S.byte_offset * R;
  const int8_t* q_all = A.q.data() + slot0 * G;
  const uint8_t* qabs_all = kVnni ? nullptr : A.qabs.data() + slot0 * G;
  const int32_t* corr_all = kVnni ? A.corr.data() + slot0 * 8 : nullptr;
  const float* a_all = A.a.data() + slot0;
  const float* mq_all = A.mq.data() + slot0;
  __m256 facc[R];
  float off[R];
  for (int r = 0; r < R; ++r) {
    facc[r] = facc_io[r];
    off[r] = off_io[r];
  }
  for (int64_t j = 0; j < n_groups; ++j) {
    if constexpr (kPrefetchBytes > 0) {
      const uint8_t* p = pf + j * R * blk_bytes;
      for (int64_t k = 0; k < R * blk_bytes; k += 64)
        _mm_prefetch(reinterpret_cast<const char*>(p + k), _MM_HINT_T0);
    }
    const int8_t* xq = q_all + j * G;
    const uint8_t* xabs = kVnni ? nullptr : qabs_all + j * G;
    const __m256i start =
        kVnni ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr_all + j * 8))
              : _mm256_setzero_si256();
    const float as = a_all[j];
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = base + r * row_bytes + j * blk_bytes;
      __m256i op[kVecs];
      dec.Ops(blk, op);
      __m256i acc = start;
      for (int v = 0; v < kVecs; ++v)
        acc = Chain<Dec::kMul>(acc, op[v], xq + 32 * v, kVnni ? nullptr : xabs + 32 * v);
      facc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_set1_ps(dec.Scale(blk) * as),
                                facc[r]);
      if constexpr (Dec::kHasOffset) off[r] += dec.Offset(blk) * mq_all[j];
    }
  }
  for (int r = 0; r < R; ++r) {
    facc_io[r] = facc[r];
    off_io[r] = off[r];
  }
}

template <class D0, class D1, int R>
TQ_AVX2_ATTR void GemvTile(const QuantLayout& L, const D0& d0, const D1& d1, const WeightView& w,
                           const Acts& A, float k, int64_t r0, float* y) {
  __m256 facc[R];
  float off[R];
  for (int r = 0; r < R; ++r) {
    facc[r] = _mm256_setzero_ps();
    off[r] = 0.0f;
  }
  const uint8_t* tile = w.row(r0);
  const int64_t rb = static_cast<int64_t>(w.row_bytes);
  GemvSegment<D0, R>(d0, L.seg[0], 0, A, tile, rb, facc, off);
  if (L.n_segments > 1) GemvSegment<D1, R>(d1, L.seg[1], L.seg[0].n_groups, A, tile, rb, facc, off);
  for (int r = 0; r < R; ++r) {
    float v = k * (HorizontalSum(facc[r]) + off[r]);
    if constexpr (std::is_same_v<D0, Q8Dec>) {
      float d;
      std::memcpy(&d, w.row(r0 + r), 4);
      v *= d;
    }
    y[r0 + r] = v;
  }
}

template <class D0, class D1>
TQ_AVX2_ATTR void GemvRows(const QuantLayout& L, const D0& d0, const D1& d1, const WeightView& w,
                           const Acts& A, bool unit_scales, float* y, int64_t r0, int64_t r1) {
  const float k = L.n_segments == 1 && !unit_scales ? L.seg[0].kappa : 1.0f;
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) GemvTile<D0, D1, 4>(L, d0, d1, w, A, k, r, y);
  for (; r < r1; ++r) GemvTile<D0, D1, 1>(L, d0, d1, w, A, k, r, y);
}

// ---- prefill: 8 rows decoded into a row-interleaved block, then 8-row × 4-token tiles ----------
constexpr int kBlockRows = 8;
constexpr int kTileTokens = 4;

struct Block {
  std::vector<uint8_t> rows;  // [8, n_slots·G] operand bytes of each row, decoder order
  std::vector<int32_t> ops;   // [n_slots·G/4, 8] 4-byte operand chunks, row-interleaved
  std::vector<float> ws;      // [n_slots, 8] weight scale of each slot and row
  std::vector<float> m;       // [n_slots, 8] rtn4 offsets
  alignas(32) float d[8];     // q8 row scales (1 otherwise)
};

template <class Dec>
TQ_AVX2_ATTR inline void DecodeSegmentRow(const Dec& dec, const QuantSegment& S, int64_t slot0,
                                          const uint8_t* row, int G, int j, Block& B) {
  uint8_t* dst = B.rows.data() + static_cast<size_t>(j) * B.rows.size() / kBlockRows;
  for (int64_t i = 0; i < S.n_groups; ++i) {
    const int64_t slot = slot0 + i;
    const uint8_t* blk = row + S.byte_offset + i * Dec::kBlockBytes;
    __m256i op[Dec::kVecs];
    dec.Ops(blk, op);
    for (int v = 0; v < Dec::kVecs; ++v)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + slot * G + 32 * v), op[v]);
    B.ws[slot * 8 + j] = dec.Scale(blk);
    B.m[slot * 8 + j] = dec.Offset(blk);
  }
}

// 8×8 int32 transpose: out[c] = (in[0][c], …, in[7][c]).
TQ_AVX2_ATTR inline void Transpose8(const int32_t* in, int64_t stride, int32_t* out) {
  __m256i r[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i * stride));
  const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  const __m256i o[8] = {_mm256_permute2x128_si256(u0, u4, 0x20), _mm256_permute2x128_si256(u1, u5, 0x20),
                        _mm256_permute2x128_si256(u2, u6, 0x20), _mm256_permute2x128_si256(u3, u7, 0x20),
                        _mm256_permute2x128_si256(u0, u4, 0x31), _mm256_permute2x128_si256(u1, u5, 0x31),
                        _mm256_permute2x128_si256(u2, u6, 0x31), _mm256_permute2x128_si256(u3, u7, 0x31)};
  for (int i = 0; i < 8; ++i) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * i), o[i]);
}

// Decodes rows r0..r0+nr (nr <= 8) of w into B; rows nr..7 get zero operands and scales.
template <class D0, class D1>
TQ_AVX2_ATTR void DecodeBlock(const QuantLayout& L, const D0& d0, const D1& d1, const WeightView& w,
                              int64_t r0, int nr, Block& B) {
  const int G = L.group;
  const int64_t n_slots = L.n_groups, n_chunks = n_slots * G / 4;
  B.rows.resize(static_cast<size_t>(kBlockRows * n_slots * G));
  B.ops.resize(static_cast<size_t>(n_chunks * 8));
  B.ws.assign(static_cast<size_t>(n_slots * 8), 0.0f);
  B.m.assign(B.ws.size(), 0.0f);
  for (int j = 0; j < kBlockRows; ++j) {
    B.d[j] = 1.0f;
    if (j >= nr) {
      std::memset(B.rows.data() + static_cast<size_t>(j) * n_slots * G, 0,
                  static_cast<size_t>(n_slots * G));
      continue;
    }
    const uint8_t* row = w.row(r0 + j);
    if (L.kind == QuantKind::kQ8) std::memcpy(&B.d[j], row, 4);
    DecodeSegmentRow(d0, L.seg[0], 0, row, G, j, B);
    if (L.n_segments > 1) DecodeSegmentRow(d1, L.seg[1], L.seg[0].n_groups, row, G, j, B);
  }
  const auto* rows32 = reinterpret_cast<const int32_t*>(B.rows.data());
  for (int64_t c = 0; c < n_chunks; c += 8) Transpose8(rows32 + c, n_chunks, B.ops.data() + c * 8);
}

// y[t0 + t, r0 + j] for t < T, j < nr from a decoded block.
template <int T, Mul kMul, bool kOffset>
TQ_AVX2_ATTR void GemmTile(const QuantLayout& L, const Block& B, const Acts& A, int64_t t0,
                           float k, int64_t r0, int nr, int64_t n_rows, float* y) {
  const int kq = L.group / 4;
  const int64_t nt = A.n_tokens;
  __m256 facc[T];
  for (int t = 0; t < T; ++t) facc[t] = _mm256_setzero_ps();
  for (int64_t s = 0; s < A.n_slots; ++s) {
    __m256i acc[T];
    const int32_t* xc = A.xcorr.data() + s * nt + t0;
    for (int t = 0; t < T; ++t) acc[t] = kVnni ? _mm256_set1_epi32(xc[t]) : _mm256_setzero_si256();
    const int32_t* wp = B.ops.data() + s * kq * 8;
    const int32_t* xp = A.xq.data() + s * kq * nt + t0;
    for (int c = 0; c < kq; ++c) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 8 * c));
      const __m256i wabs = kVnni || kMul == Mul::kUnsigned ? wv : _mm256_abs_epi8(wv);
      for (int t = 0; t < T; ++t)
        acc[t] = GemmChain<kMul>(acc[t], wv, wabs, _mm256_set1_epi32(xp[c * nt + t]));
    }
    const __m256 ws = _mm256_loadu_ps(B.ws.data() + 8 * s);
    const float* xa = A.xa.data() + s * nt + t0;
    for (int t = 0; t < T; ++t)
      facc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]), _mm256_mul_ps(ws, _mm256_set1_ps(xa[t])),
                                facc[t]);
    if constexpr (kOffset) {
      const __m256 mv = _mm256_loadu_ps(B.m.data() + 8 * s);
      const float* xm = A.xmq.data() + s * nt + t0;
      for (int t = 0; t < T; ++t) facc[t] = _mm256_fmadd_ps(mv, _mm256_set1_ps(xm[t]), facc[t]);
    }
  }
  const __m256 kv = _mm256_set1_ps(k);
  const __m256 d = _mm256_load_ps(B.d);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane);
  for (int t = 0; t < T; ++t) {
    __m256 v = _mm256_mul_ps(kv, facc[t]);
    if (L.kind == QuantKind::kQ8) v = _mm256_mul_ps(v, d);
    _mm256_maskstore_ps(y + (t0 + t) * n_rows + r0, mask, v);
  }
}

template <Mul kMul, bool kOffset>
TQ_AVX2_ATTR void GemmBlock(const QuantLayout& L, const Block& B, const Acts& A, float k,
                            int64_t r0, int nr, int64_t n_rows, float* y) {
  static_assert(kTileTokens == 4, "the tail switch covers 1..3 tokens");
  const int64_t n_tokens = A.n_tokens;
  int64_t t = 0;
  for (; t + kTileTokens <= n_tokens; t += kTileTokens)
    GemmTile<kTileTokens, kMul, kOffset>(L, B, A, t, k, r0, nr, n_rows, y);
  switch (n_tokens - t) {
    case 1: GemmTile<1, kMul, kOffset>(L, B, A, t, k, r0, nr, n_rows, y); break;
    case 2: GemmTile<2, kMul, kOffset>(L, B, A, t, k, r0, nr, n_rows, y); break;
    case 3: GemmTile<3, kMul, kOffset>(L, B, A, t, k, r0, nr, n_rows, y); break;
    default: break;
  }
}

template <class D0, class D1>
TQ_AVX2_ATTR void GemmRows(const QuantLayout& L, const D0& d0, const D1& d1, const WeightView& w,
                           const Acts& A, bool unit_scales, float* y, int64_t r0, int64_t r1) {
  static_assert(D0::kMul == D1::kMul, "segments multiplied differently");
  thread_local Block B;
  const float k = L.n_segments == 1 && !unit_scales ? L.seg[0].kappa : 1.0f;
  for (int64_t r = r0; r < r1; r += kBlockRows) {
    const int nr = static_cast<int>(std::min<int64_t>(kBlockRows, r1 - r));
    DecodeBlock(L, d0, d1, w, r, nr, B);
    GemmBlock<D0::kMul, D0::kHasOffset>(L, B, A, k, r, nr, w.n_rows, y);
  }
}

template <class D0, class D1 = D0>
TQ_AVX2_ATTR void Rows(const QuantLayout& L, const WeightView& w, const Acts& A, int64_t n_tokens,
                       bool unit_scales, float* y, int64_t r0, int64_t r1) {
  TQ_CHECK(L.seg[0].block_bytes == D0::kBlockBytes &&
               (L.n_segments == 1 || L.seg[1].block_bytes == D1::kBlockBytes),
           "segment blocks of {} / {} bytes, decoders' {} / {}", L.seg[0].block_bytes,
           L.seg[1].block_bytes, D0::kBlockBytes, D1::kBlockBytes);
  const D0 d0(L.seg[0].codebook);
  const D1 d1(L.n_segments > 1 ? L.seg[1].codebook : L.seg[0].codebook);
  if (n_tokens == 1)
    GemvRows<D0, D1>(L, d0, d1, w, A, unit_scales, y, r0, r1);
  else
    GemmRows<D0, D1>(L, d0, d1, w, A, unit_scales, y, r0, r1);
}

using RowsFn = void (*)(const QuantLayout&, const WeightView&, const Acts&, int64_t, bool, float*,
                        int64_t, int64_t);

template <int G>
RowsFn TqRowsFn(int bits) {
  switch (bits) {
    case 2: return Rows<TqDec<2, G>>;
    case 3: return Rows<TqDec<3, G>>;
    case 4: return Rows<TqDec<4, G>>;
    case 5: return Rows<TqDec<5, G>>;
    case 6: return Rows<TqDec<6, G>>;
    case 8: return Rows<TqDec<8, G>>;
    default: return nullptr;
  }
}

// Fractional: wide blocks (bits + 1) first, then narrow ones (bits).
template <int G>
RowsFn TqFractionalRowsFn(int bits) {
  switch (bits) {
    case 2: return Rows<TqDec<3, G>, TqDec<2, G>>;
    case 3: return Rows<TqDec<4, G>, TqDec<3, G>>;
    case 4: return Rows<TqDec<5, G>, TqDec<4, G>>;
    case 5: return Rows<TqDec<6, G>, TqDec<5, G>>;
    default: return nullptr;
  }
}

RowsFn SelectRows(const QuantLayout& L) {
  switch (L.kind) {
    case QuantKind::kQ8: return Rows<Q8Dec>;
    case QuantKind::kRtn4: return Rows<Rtn4Dec>;
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

}  // namespace

void Matmul(const QuantLayout& L, const WeightView& w, const float* x, int64_t n_tokens, float* y,
            bool unit_scales, int64_t min_rows, QuantizeActsFn quantize) {
  // The caller's buffers, reused across calls; references, so that the workers read them (a
  // lambda does not capture a thread_local).
  thread_local GroupActs tls_groups;
  thread_local Acts tls_acts;
  GroupActs& groups = tls_groups;
  Acts& acts = tls_acts;
  quantize(L, x, w.n_cols, n_tokens, unit_scales, groups);
  ArrangeActs(L, groups, n_tokens, unit_scales, acts);
  const RowsFn rows = SelectRows(L);
  TQ_CHECK(rows != nullptr, "no AVX2 kernel for this layout");
  // Units of 4 rows (the decode tile), so that thread boundaries never split a tile.
  const int64_t n_units = (w.n_rows + 3) / 4;
  parallel_for(
      n_units,
      [&](int64_t u0, int64_t u1) {
        rows(L, w, acts, n_tokens, unit_scales, y, 4 * u0, std::min(w.n_rows, 4 * u1));
      },
      std::max<int64_t>(1, (min_rows + 3) / 4));
}

void MatmulMulti(const QuantLayout* Ls, const WeightView* const* ws, int64_t n, const float* x,
                 int64_t n_tokens, float* const* ys, int64_t min_tiles, QuantizeActsFn quantize) {
  thread_local std::vector<Acts> tls_pool;
  thread_local std::vector<GroupActs> tls_group_pool;
  std::vector<Acts>& pool = tls_pool;
  std::vector<GroupActs>& group_pool = tls_group_pool;
  if (static_cast<int64_t>(pool.size()) < n) pool.resize(static_cast<size_t>(n));
  if (static_cast<int64_t>(group_pool.size()) < n) group_pool.resize(static_cast<size_t>(n));
  std::vector<const Acts*> acts(static_cast<size_t>(n));
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
        quantize(Ls[i], x, ws[i]->n_cols, n_tokens, false, group_pool[i]);
        groups[i] = &group_pool[i];
      }
      ArrangeActs(Ls[i], *groups[i], n_tokens, false, pool[i]);
      acts[i] = &pool[i];
    }
    fns[i] = SelectRows(Ls[i]);
    TQ_CHECK(fns[i] != nullptr, "no AVX2 kernel for this layout");
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

}  // namespace tq::x86::TQ_AVX2_NS

// The AVX2 kernels of kernels/matmul_ggml.h, included twice by matmul_ggml_avx2.cc with
//   TQ_AVX2_NS / TQ_AVX2_VNNI / TQ_AVX2_ATTR  as in matmul_quant_avx2-inl.h.
// No include guard: each inclusion is a separate copy.
//
// A 32-element group of weights is decoded in registers to 32 bytes in natural order:
//  * unsigned codes u (q4_0, q4_1, q5_0, q5_1 and every k-quant but iq4_xs): vpmaddubsw(u, x) is
//    exact (a pair is at most 2·63·127); the offset o (q4_0 8, q5_0 16) is folded into the int32
//    lane start values (−o × the 4 activations of each lane, prepared per call); AVX-VNNI uses
//    vpdpbusd instead of vpmaddubsw + vpmaddwd;
//  * signed codes (q8_0, iq4_nl, iq4_xs; q8_0 may hold −128): plain AVX2 |c| × sign(x, c);
//    AVX-VNNI (legacy only) c + 128 with the lane start −128 × the lane's activations.
// Legacy formats: per group and row one int32 → float conversion and one FMA with d·a; k-quants:
// the integer sub-block scales multiply the int16 pair sums in vpmaddwd, so a super-block ends with
// one horizontal integer sum and the reference's float step. Decode runs 4 rows at a time sharing
// the activations; prefill repeats it per token over the same 4 rows (kept in L1).

namespace tq::x86::TQ_AVX2_NS {
namespace {

constexpr bool kVnni = TQ_AVX2_VNNI;
using namespace ggml;

#include "kernels/cpu/avx2_codes-inl.h"

TQ_AVX2_ATTR inline int32_t HorizontalSumI32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// 16 bytes of nibbles → 32 codes: low nibbles (elements 0..15) then high ones (16..31).
TQ_AVX2_ATTR inline __m256i Nibbles32(const uint8_t* p) {
  const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
                          _mm256_set1_epi8(0x0F));
}

// Byte j = `value` where bit j of the 32-bit word `bits` is set, else 0.
TQ_AVX2_ATTR inline __m256i BitsToBytes(uint32_t bits, char value) {
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int32_t>(bits)),
      _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202,
                         0x0303030303030303));
  const __m256i sel = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, sel), sel),
                          _mm256_set1_epi8(value));
}

// Byte l = `value` where bit `bit` of byte l of the 32 bytes at p is set, else 0.
TQ_AVX2_ATTR inline __m256i ByteBitsToBytes(const uint8_t* p, int bit, char value) {
  const __m256i m = _mm256_set1_epi8(static_cast<char>(1 << bit));
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, m), m), _mm256_set1_epi8(value));
}

TQ_AVX2_ATTR inline __m256i Load32(const void* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// ---- legacy formats ----------------------------------------------------------------------------
// Dec::Codes(block) → 32 operand bytes; kOffset: the o folded into the lane start values (−o × the
// lane's activations; 0: none); kSigned: signed codes (plain AVX2 sign trick; AVX-VNNI: +128).
struct Q4_0Dec {
  static constexpr int kOffset = 8;
  static constexpr bool kSigned = false, kHasMin = false;
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b) { return Nibbles32(b + 2); }
  TQ_AVX2_ATTR static float Min(const uint8_t*) { return 0.0f; }
};
struct Q4_1Dec {
  static constexpr int kOffset = 0;
  static constexpr bool kSigned = false, kHasMin = true;
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b) { return Nibbles32(b + 4); }
  TQ_AVX2_ATTR static float Min(const uint8_t* b) { return LoadF16(b + 2); }
};
struct Q5_0Dec {
  static constexpr int kOffset = 16;
  static constexpr bool kSigned = false, kHasMin = false;
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b) {
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    return _mm256_or_si256(Nibbles32(b + 6), BitsToBytes(qh, 16));
  }
  TQ_AVX2_ATTR static float Min(const uint8_t*) { return 0.0f; }
};
struct Q5_1Dec {
  static constexpr int kOffset = 0;
  static constexpr bool kSigned = false, kHasMin = true;
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b) {
    uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    return _mm256_or_si256(Nibbles32(b + 8), BitsToBytes(qh, 16));
  }
  TQ_AVX2_ATTR static float Min(const uint8_t* b) { return LoadF16(b + 2); }
};
struct Q8_0Dec {  // signed int8 codes; AVX-VNNI: c + 128 = c ^ 0x80
  static constexpr int kOffset = kVnni ? 128 : 0;
  static constexpr bool kSigned = true, kHasMin = false;
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b) {
    const __m256i c = Load32(b + 2);
    return kVnni ? _mm256_xor_si256(c, _mm256_set1_epi8(static_cast<char>(0x80))) : c;
  }
  TQ_AVX2_ATTR static float Min(const uint8_t*) { return 0.0f; }
};
struct Iq4NlDec {  // table values; AVX-VNNI: value + 128
  static constexpr int kOffset = kVnni ? 128 : 0;
  static constexpr bool kSigned = true, kHasMin = false;
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b) {
    alignas(32) static const int8_t t[32] = {
        -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
        -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    const __m256i v = _mm256_shuffle_epi8(_mm256_load_si256(reinterpret_cast<const __m256i*>(t)),
                                          Nibbles32(b + 2));
    return kVnni ? _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80))) : v;
  }
  TQ_AVX2_ATTR static float Min(const uint8_t*) { return 0.0f; }
};

// acc + the int32 lane sums of codes · x.
template <bool kSigned>
TQ_AVX2_ATTR inline __m256i Dot(__m256i acc, __m256i u, __m256i x) {
  if constexpr (kVnni) {
    return _mm256_dpbusd_avx_epi32(acc, u, x);
  } else {
    const __m256i p = kSigned ? _mm256_maddubs_epi16(_mm256_abs_epi8(u), _mm256_sign_epi8(x, u))
                              : _mm256_maddubs_epi16(u, x);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
  }
}

// Rows [r, r + R) for token t: y[t, r..] (legacy). corr: [n_groups, 8] lane start values of token t
// (null when the format has no offset).
template <class Dec, int R>
TQ_AVX2_ATTR void LegacyTile(const WeightView& w, const GgmlActs& A, const int32_t* corr, int64_t t,
                             int64_t r, float* y) {
  const int64_t block_bytes = static_cast<int64_t>(w.row_bytes) / (w.n_cols / 32);
  const int64_t n_groups = w.n_cols / 32;
  const int8_t* q = A.q.data() + t * w.n_cols;
  const float* a = A.a.data() + t * n_groups;
  const int16_t* s16 = A.sums.data() + t * (w.n_cols / 16);
  __m256 facc[R];
  float off[R];
  for (int i = 0; i < R; ++i) {
    facc[i] = _mm256_setzero_ps();
    off[i] = 0.0f;
  }
  for (int64_t g = 0; g < n_groups; ++g) {
    const __m256i x = Load32(q + 32 * g);
    const __m256i start = Dec::kOffset != 0 ? Load32(corr + 8 * g) : _mm256_setzero_si256();
    const float ag = a[g];
    for (int i = 0; i < R; ++i) {
      const uint8_t* blk = w.row(r + i) + g * block_bytes;
      const __m256i acc = Dot<Dec::kSigned>(start, Dec::Codes(blk), x);
      facc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_set1_ps(LoadF16(blk) * ag), facc[i]);
      if constexpr (Dec::kHasMin)
        off[i] += Dec::Min(blk) * (ag * static_cast<float>(s16[2 * g] + s16[2 * g + 1]));
    }
  }
  for (int i = 0; i < R; ++i) y[t * w.n_rows + r + i] = HorizontalSum(facc[i]) + off[i];
}

// ---- k-quants ----------------------------------------------------------------------------------
// Dec::Unpack(block, sc, mn, &D, &Dmin) reads the scales (int16 sc[16], mn[16]); Dec::Codes(block,
// k) gives group k's 32 codes (unsigned u, or signed values when kSigned).
struct Q2KDec {
  static constexpr int kOffset = 0;
  static constexpr bool kSigned = false, kHasMin = true;
  TQ_AVX2_ATTR static void Unpack(const uint8_t* b, int16_t* sc, int16_t* mn, float* D, float* Dmin) {
    const uint8_t* s = b;
    for (int j = 0; j < 16; ++j) {
      sc[j] = s[j] & 0xF;
      mn[j] = s[j] >> 4;
    }
    *D = LoadF16(b + 80);
    *Dmin = LoadF16(b + 82);
  }
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b, int k) {
    const __m256i v = Load32(b + 16 + 32 * (k / 4));
    return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * (k % 4))), _mm256_set1_epi8(3));
  }
};
struct Q3KDec {
  static constexpr int kOffset = 4;
  static constexpr bool kSigned = false, kHasMin = false;
  TQ_AVX2_ATTR static void Unpack(const uint8_t* b, int16_t* sc, int16_t* mn, float* D, float* Dmin) {
    int8_t s[16];
    ggml_unpack_q3k_scales(b + 96, s);
    for (int j = 0; j < 16; ++j) {
      sc[j] = s[j];
      mn[j] = 0;
    }
    *D = LoadF16(b + 108);
    *Dmin = 0.0f;
  }
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b, int k) {
    const __m256i v = Load32(b + 32 + 32 * (k / 4));
    const __m256i lo = _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * (k % 4))),
                                        _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, ByteBitsToBytes(b, k, 4));
  }
};
struct Q4KDec {
  static constexpr int kOffset = 0;
  static constexpr bool kSigned = false, kHasMin = true;
  TQ_AVX2_ATTR static void Unpack(const uint8_t* b, int16_t* sc, int16_t* mn, float* D, float* Dmin) {
    uint8_t s[8], m[8];
    ggml_unpack_k4_scales(b + 4, s, m);
    for (int j = 0; j < 16; ++j) {
      sc[j] = s[j / 2];
      mn[j] = m[j / 2];
    }
    *D = LoadF16(b);
    *Dmin = LoadF16(b + 2);
  }
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b, int k) {
    const __m256i v = Load32(b + 16 + 32 * (k / 2));
    return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(4 * (k % 2))), _mm256_set1_epi8(0x0F));
  }
};
struct Q5KDec {
  static constexpr int kOffset = 0;
  static constexpr bool kSigned = false, kHasMin = true;
  TQ_AVX2_ATTR static void Unpack(const uint8_t* b, int16_t* sc, int16_t* mn, float* D, float* Dmin) {
    Q4KDec::Unpack(b, sc, mn, D, Dmin);
  }
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b, int k) {
    const __m256i v = Load32(b + 48 + 32 * (k / 2));
    const __m256i lo = _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(4 * (k % 2))),
                                        _mm256_set1_epi8(0x0F));
    return _mm256_or_si256(lo, ByteBitsToBytes(b + 16, k, 16));
  }
};
struct Q6KDec {
  static constexpr int kOffset = 32;
  static constexpr bool kSigned = false, kHasMin = false;
  TQ_AVX2_ATTR static void Unpack(const uint8_t* b, int16_t* sc, int16_t* mn, float* D, float* Dmin) {
    for (int j = 0; j < 16; ++j) {
      sc[j] = static_cast<int8_t>(b[192 + j]);
      mn[j] = 0;
    }
    *D = LoadF16(b + 208);
    *Dmin = 0.0f;
  }
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b, int k) {
    const int n = k / 4, s = k % 4;
    const __m256i l = Load32(b + 64 * n + 32 * (s % 2));
    const __m256i h = Load32(b + 128 + 32 * n);
    const __m256i lo = _mm256_and_si256(_mm256_srl_epi16(l, _mm_cvtsi32_si128(4 * (s / 2))),
                                        _mm256_set1_epi8(0x0F));
    const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(h, _mm_cvtsi32_si128(2 * s)), _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
  }
};
struct Iq4XsDec {
  static constexpr int kOffset = 0;
  static constexpr bool kSigned = true, kHasMin = false;
  TQ_AVX2_ATTR static void Unpack(const uint8_t* b, int16_t* sc, int16_t* mn, float* D, float* Dmin) {
    uint16_t sh;
    std::memcpy(&sh, b + 2, 2);
    for (int k = 0; k < 8; ++k) {
      const int ls = ((b[4 + k / 2] >> (4 * (k % 2))) & 0xF) | (((sh >> (2 * k)) & 3) << 4);
      sc[2 * k] = sc[2 * k + 1] = static_cast<int16_t>(ls - 32);
      mn[2 * k] = mn[2 * k + 1] = 0;
    }
    *D = LoadF16(b);
    *Dmin = 0.0f;
  }
  TQ_AVX2_ATTR static __m256i Codes(const uint8_t* b, int k) {
    alignas(32) static const int8_t t[32] = {
        -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
        -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    return _mm256_shuffle_epi8(_mm256_load_si256(reinterpret_cast<const __m256i*>(t)),
                               Nibbles32(b + 8 + 16 * k));
  }
};

// Rows [r, r + R) for token t (k-quants).
template <class Dec, int R>
TQ_AVX2_ATTR void KquantTile(const WeightView& w, const GgmlActs& A, int64_t t, int64_t r, float* y) {
  const int64_t n_super = w.n_cols / kQK_K;
  const int64_t block_bytes = static_cast<int64_t>(w.row_bytes) / n_super;
  const int8_t* q = A.q.data() + t * w.n_cols;
  const float* a = A.a.data() + t * n_super;
  const int16_t* s16 = A.sums.data() + t * (w.n_cols / 16);
  float acc[R];
  for (int i = 0; i < R; ++i) acc[i] = 0.0f;
  alignas(32) int16_t sc[16], mn[16];
  for (int64_t s = 0; s < n_super; ++s) {
    const int8_t* qs = q + s * kQK_K;
    const __m256i sums = Load32(s16 + 16 * s);
    const float as = a[s];
    for (int i = 0; i < R; ++i) {
      const uint8_t* blk = w.row(r + i) + s * block_bytes;
      float D, Dmin;
      Dec::Unpack(blk, sc, mn, &D, &Dmin);
      __m256i isum = _mm256_setzero_si256();
      for (int k = 0; k < 8; ++k) {
        const __m256i u = Dec::Codes(blk, k), x = Load32(qs + 32 * k);
        const __m256i p = Dec::kSigned
                              ? _mm256_maddubs_epi16(_mm256_abs_epi8(u), _mm256_sign_epi8(x, u))
                              : _mm256_maddubs_epi16(u, x);
        const __m256i scv = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_set1_epi16(sc[2 * k])), _mm_set1_epi16(sc[2 * k + 1]), 1);
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scv));
      }
      const __m256i scs = Load32(sc);
      int32_t total = HorizontalSumI32(isum);
      if constexpr (Dec::kOffset != 0) total -= Dec::kOffset * HorizontalSumI32(_mm256_madd_epi16(sums, scs));
      int32_t msum = 0;
      if constexpr (Dec::kHasMin) msum = HorizontalSumI32(_mm256_madd_epi16(sums, Load32(mn)));
      const float v = (D * as) * static_cast<float>(total) - (Dmin * as) * static_cast<float>(msum);
      acc[i] = acc[i] + v;
    }
  }
  for (int i = 0; i < R; ++i) y[t * w.n_rows + r + i] = acc[i];
}

// ---- rows ----------------------------------------------------------------------------------------
using RowsFn = void (*)(const WeightView&, const GgmlActs&, const int32_t*, int64_t, int64_t,
                        int64_t, float*);

template <class Dec>
TQ_AVX2_ATTR void LegacyRows(const WeightView& w, const GgmlActs& A, const int32_t* corr,
                             int64_t n_tokens, int64_t r0, int64_t r1, float* y) {
  const int64_t n_groups = w.n_cols / 32;
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4)
    for (int64_t t = 0; t < n_tokens; ++t)
      LegacyTile<Dec, 4>(w, A, corr ? corr + t * n_groups * 8 : nullptr, t, r, y);
  for (; r < r1; ++r)
    for (int64_t t = 0; t < n_tokens; ++t)
      LegacyTile<Dec, 1>(w, A, corr ? corr + t * n_groups * 8 : nullptr, t, r, y);
}

template <class Dec>
TQ_AVX2_ATTR void KquantRows(const WeightView& w, const GgmlActs& A, const int32_t*,
                             int64_t n_tokens, int64_t r0, int64_t r1, float* y) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4)
    for (int64_t t = 0; t < n_tokens; ++t) KquantTile<Dec, 4>(w, A, t, r, y);
  for (; r < r1; ++r)
    for (int64_t t = 0; t < n_tokens; ++t) KquantTile<Dec, 1>(w, A, t, r, y);
}

RowsFn SelectRows(TypeId type, int* offset) {
  *offset = 0;
  switch (type) {
    case TypeId::q4_0: *offset = Q4_0Dec::kOffset; return LegacyRows<Q4_0Dec>;
    case TypeId::q4_1: return LegacyRows<Q4_1Dec>;
    case TypeId::q5_0: *offset = Q5_0Dec::kOffset; return LegacyRows<Q5_0Dec>;
    case TypeId::q5_1: return LegacyRows<Q5_1Dec>;
    case TypeId::q8_0: *offset = Q8_0Dec::kOffset; return LegacyRows<Q8_0Dec>;
    case TypeId::iq4_nl: *offset = Iq4NlDec::kOffset; return LegacyRows<Iq4NlDec>;
    case TypeId::q2_K: return KquantRows<Q2KDec>;
    case TypeId::q3_K: return KquantRows<Q3KDec>;
    case TypeId::q4_K: return KquantRows<Q4KDec>;
    case TypeId::q5_K: return KquantRows<Q5KDec>;
    case TypeId::q6_K: return KquantRows<Q6KDec>;
    case TypeId::iq4_xs: return KquantRows<Iq4XsDec>;
    default: return nullptr;
  }
}

// Lane start values of the legacy formats with an offset: corr[t, g, l] = −o × the sum of the
// activations 4l..4l+3 of group g.
TQ_AVX2_ATTR void LaneCorrections(const GgmlActs& A, int64_t n_cols, int64_t n_tokens, int offset,
                                  std::vector<int32_t>& corr) {
  const int64_t n = n_tokens * n_cols / 32;
  corr.resize(static_cast<size_t>(n * 8));
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  const __m256i mo = _mm256_set1_epi32(-offset);
  for (int64_t g = 0; g < n; ++g) {
    const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, Load32(A.q.data() + 32 * g)), ones16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(corr.data() + 8 * g), _mm256_mullo_epi32(s, mo));
  }
}

}  // namespace

void Matmul(const WeightView& w, const GgmlActs& A, int64_t n_tokens, float* y, int64_t min_rows) {
  int offset = 0;
  const RowsFn rows = SelectRows(w.type, &offset);
  TQ_CHECK(rows != nullptr, "no AVX2 ggml kernel for type {}", static_cast<uint32_t>(w.type));
  thread_local std::vector<int32_t> tls_corr;
  std::vector<int32_t>& corr = tls_corr;
  if (offset != 0) LaneCorrections(A, w.n_cols, n_tokens, offset, corr);
  const int32_t* cp = offset != 0 ? corr.data() : nullptr;
  parallel_for(
      (w.n_rows + 3) / 4,
      [&](int64_t u0, int64_t u1) { rows(w, A, cp, n_tokens, 4 * u0, std::min(w.n_rows, 4 * u1), y); },
      std::max<int64_t>(1, (min_rows + 3) / 4));
}

}  // namespace tq::x86::TQ_AVX2_NS

// The AVX2 kernels of kernels/kv_codes.h, included twice by kv_codes_avx2.cc with
//   TQ_AVX2_NS    namespace of this copy (avx2 / avxvnni)
//   TQ_AVX2_VNNI  0: vpmaddubsw / vpmaddwd; 1: vpdpbusd (AVX-VNNI)
//   TQ_AVX2_ATTR  the function target attribute of this copy
// No include guard: each inclusion is a separate copy.
//
// A register holds 32 codes, half of a 64-code chunk of the layouts in kernels/kv_codes.h: keys,
// positions 0..7 or 8..15 of a block × 4 coordinates (int32 lane = one position); values, 8
// coordinates × the block's 4 positions (int32 lane = one coordinate). Codes are unpacked and
// mapped to levels in registers (avx2_codes-inl.h) once per register and used at once by every
// query of the GQA group (up to 4 per pass).
//   scores, AVX-VNNI: u8 (level + 128) × s8 query chunk, −128·Σq removed per query at the end;
//           plain AVX2: vpmaddubsw(|level|, sign(q, level)) + vpmaddwd with ones (a pair is at most
//           2·128·127 < 2^15: no saturation), the level −128 of 8-bit codes included.
//   mix,    AVX-VNNI: u8 weights × s8 levels; plain AVX2: the weights reach 255, too large for
//           vpmaddubsw, so levels are widened to int16 and multiplied by the 4 positions' weights
//           (int16) with vpmaddwd; the two int32 halves of each coordinate are added at the end.
// Integer sums are exact; the float epilogues repeat the reference's operations in its order.
// Levels of 7-bit codes and 8-bit levels other than code − 128 are not handled (returns false).

namespace tq::x86::TQ_AVX2_NS {
namespace {

constexpr bool kVnni = TQ_AVX2_VNNI;

#include "kernels/cpu/avx2_codes-inl.h"

constexpr int64_t kPrefetchBytes = 4096;
TQ_AVX2_ATTR inline void PrefetchAhead(const uint8_t* p, int64_t n) {
  for (int64_t off = 0; off < n; off += 64)
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes + off), _MM_HINT_T0);
}

// 32 codes at src → their level bytes: u8 level + 128 for AVX-VNNI keys, else s8 levels.
template <int B, bool kKey>
struct Expander {
  static constexpr bool kUnsigned = kVnni && kKey;
  Unpack32<B> unpack;
  std::conditional_t<B == 8, char, CodeTables<B == 8 ? 1 : B>> lookup;

  TQ_AVX2_ATTR explicit Expander(const KvLevels& lv) : lookup(Tables(lv)) {}
  TQ_AVX2_ATTR static auto Tables(const KvLevels& lv) {
    if constexpr (B == 8) {
      return char{0};
    } else {
      return CodeTables<B>([&lv](int k) {
        return static_cast<uint8_t>(kUnsigned ? lv.levels[k] + 128 : lv.levels[k]);
      });
    }
  }
  TQ_AVX2_ATTR inline __m256i operator()(const uint8_t* src) const {
    if constexpr (B == 8) {  // levels are code − 128
      const __m256i x = unpack(src);
      return kUnsigned ? x : _mm256_xor_si256(x, _mm256_set1_epi8(static_cast<char>(0x80)));
    } else {
      return lookup(unpack(src));
    }
  }
};

TQ_AVX2_ATTR inline __m256 LoadScales8(const uint16_t* p, int64_t n) {
  if (n >= 8) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  alignas(16) uint16_t buf[8] = {};
  for (int64_t i = 0; i < n; ++i) buf[i] = p[i];
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(buf)));
}

TQ_AVX2_ATTR inline __m256i FirstMask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// acc + the int32 lane sums of e (levels) · qb (one query's 4-byte chunk in every lane).
TQ_AVX2_ATTR inline __m256i ScoreStep(__m256i acc, __m256i e, __m256i eabs, __m256i qb) {
  if constexpr (kVnni) {
    return _mm256_dpbusd_avx_epi32(acc, e, qb);
  } else {
    const __m256i p = _mm256_maddubs_epi16(eabs, _mm256_sign_epi8(qb, e));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
  }
}

// Scores of NQ queries (int32 chunks qr: [NQ, n_chunks]) against the key blocks of [0, n_pos).
template <int B, int NQ>
TQ_AVX2_ATTR void ScoreRows(const Expander<B, true>& ex, const uint8_t* codes,
                            const uint16_t* scales, int64_t n_pos, int64_t n_chunks,
                            const int32_t* qr, const int32_t* corr, const float* q_mul, float* s,
                            int64_t lds, bool accumulate) {
  constexpr int64_t kChunkBytes = 8 * B, kHalfBytes = 4 * B;
  const int64_t block_bytes = n_chunks * kChunkBytes;
  for (int64_t j0 = 0; j0 < n_pos; j0 += kKvKeyBlock) {
    const int64_t nb = std::min(kKvKeyBlock, n_pos - j0);
    const uint8_t* block = codes + (j0 / kKvKeyBlock) * block_bytes;
    PrefetchAhead(block, block_bytes);
    __m256i acc[NQ][2];
    for (int k = 0; k < NQ; ++k) acc[k][0] = acc[k][1] = _mm256_setzero_si256();
    for (int64_t g = 0; g < n_chunks; ++g) {
      const __m256i e0 = ex(block + g * kChunkBytes), e1 = ex(block + g * kChunkBytes + kHalfBytes);
      const __m256i a0 = kVnni ? e0 : _mm256_abs_epi8(e0), a1 = kVnni ? e1 : _mm256_abs_epi8(e1);
      for (int k = 0; k < NQ; ++k) {
        const __m256i qb = _mm256_set1_epi32(qr[k * n_chunks + g]);
        acc[k][0] = ScoreStep(acc[k][0], e0, a0, qb);
        acc[k][1] = ScoreStep(acc[k][1], e1, a1, qb);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const int64_t n = std::clamp<int64_t>(nb - 8 * h, 0, 8);
      if (n == 0) continue;
      const __m256 sc = LoadScales8(scales + j0 + 8 * h, n);
      const __m256i m = FirstMask(n);
      for (int k = 0; k < NQ; ++k) {
        const __m256i dot = kVnni ? _mm256_sub_epi32(acc[k][h], _mm256_set1_epi32(corr[k])) : acc[k][h];
        __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(q_mul[k]), sc), _mm256_cvtepi32_ps(dot));
        float* d = s + k * lds + j0 + 8 * h;
        if (accumulate) v = _mm256_add_ps(_mm256_maskload_ps(d, m), v);
        _mm256_maskstore_ps(d, m, v);
      }
    }
  }
}

template <int B>
TQ_AVX2_ATTR void ScoresBits(const KvLevels& lv, const uint8_t* codes, const uint16_t* scales,
                             int64_t n_pos, int64_t n_chunks, int64_t n_q, const int32_t* q32,
                             const int32_t* corr, const float* q_mul, float* s, int64_t lds,
                             bool accumulate) {
  const Expander<B, true> ex(lv);
  for (int64_t i0 = 0; i0 < n_q; i0 += 4) {
    const int64_t nq = std::min<int64_t>(4, n_q - i0);
    const int32_t* qr = q32 + i0 * n_chunks;
    switch (nq) {
#define TQ_CASE(N)                                                                              \
  case N:                                                                                       \
    ScoreRows<B, N>(ex, codes, scales, n_pos, n_chunks, qr, corr + i0, q_mul + i0, s + i0 * lds, \
                    lds, accumulate);                                                           \
    break;
      TQ_CASE(4)
      TQ_CASE(3)
      TQ_CASE(2)
      default: TQ_CASE(1)
#undef TQ_CASE
    }
  }
}

// ---- mix ------------------------------------------------------------------------------------------
constexpr int64_t kMixBlocks = kKvMixChunk / kKvValueBlock;  // value blocks per weight chunk

// Per query k: w32[k] = 4 u8 weights of one value block (AVX-VNNI operand as is); the plain path
// widens them to the int16 pattern (w0, w1, w2, w3) repeated.
TQ_AVX2_ATTR inline __m256i WeightVec(int32_t w32) {
  if constexpr (kVnni) {
    return _mm256_set1_epi32(w32);
  } else {
    return _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(w32)));
  }
}

// NQ queries × the 2 coordinate halves of chunk g over nblk value blocks: acc[k][h] (AVX-VNNI: one
// int32 per coordinate; plain: [h][0] and [h][1] hold coordinates 0..3 / 4..7 of the half, each
// coordinate in two lanes).
template <int B, int NQ>
TQ_AVX2_ATTR void MixChunk(const Expander<B, false>& ex, const uint8_t* blocks, int64_t block_bytes,
                           int64_t nblk, int64_t g, const int32_t* w32, const float* m, float* out,
                           int64_t n_pad) {
  constexpr int64_t kChunkBytes = 8 * B, kHalfBytes = 4 * B;
  constexpr int kAcc = kVnni ? 1 : 2;
  __m256i acc[NQ][2][kAcc];
  for (int k = 0; k < NQ; ++k)
    for (int h = 0; h < 2; ++h)
      for (int a = 0; a < kAcc; ++a) acc[k][h][a] = _mm256_setzero_si256();
  const uint8_t* src = blocks + g * kChunkBytes;
  for (int64_t b = 0; b < nblk; ++b, src += block_bytes) {
    __m256i w[NQ];
    for (int k = 0; k < NQ; ++k) w[k] = WeightVec(w32[k * kMixBlocks + b]);
    for (int h = 0; h < 2; ++h) {
      const __m256i e = ex(src + h * kHalfBytes);
      if constexpr (kVnni) {
        for (int k = 0; k < NQ; ++k) acc[k][h][0] = _mm256_dpbusd_avx_epi32(acc[k][h][0], w[k], e);
      } else {
        const __m256i lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(e));
        const __m256i hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(e, 1));
        for (int k = 0; k < NQ; ++k) {
          acc[k][h][0] = _mm256_add_epi32(acc[k][h][0], _mm256_madd_epi16(lo, w[k]));
          acc[k][h][1] = _mm256_add_epi32(acc[k][h][1], _mm256_madd_epi16(hi, w[k]));
        }
      }
    }
  }
  for (int k = 0; k < NQ; ++k) {
    if (!(m[k] > 0.0f)) continue;  // all weights of the chunk are 0
    const __m256 mk = _mm256_set1_ps(m[k]);
    for (int h = 0; h < 2; ++h) {
      __m256i dot = acc[k][h][0];
      if constexpr (!kVnni) {
        // hadd → coordinates (0, 1, 4, 5 | 2, 3, 6, 7) in 64-bit pairs; reorder the pairs.
        dot = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[k][h][0], acc[k][h][1]), 0xD8);
      }
      float* dst = out + k * n_pad + g * 16 + 8 * h;
      _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst),
                                          _mm256_mul_ps(_mm256_cvtepi32_ps(dot), mk)));
    }
  }
}

template <int B, int NQ>
TQ_AVX2_ATTR void MixQueries(const Expander<B, false>& ex, const uint8_t* blocks,
                             int64_t block_bytes, int64_t nblk, int64_t n_chunks,
                             const int32_t* w32, const float* m, float* out, int64_t n_pad) {
  for (int64_t g = 0; g < n_chunks; ++g)
    MixChunk<B, NQ>(ex, blocks, block_bytes, nblk, g, w32, m, out, n_pad);
}

template <int B>
TQ_AVX2_ATTR void MixBits(const KvLevels& lv, const float* p, int64_t ldp, int64_t n_q,
                          const uint8_t* codes, const uint16_t* scales, int64_t n_pos,
                          int64_t n_pad, float out_mul, float* out) {
  const Expander<B, false> ex(lv);
  const int64_t n_chunks = n_pad / 16;  // 64-code chunks per value block
  const int64_t block_bytes = kv_value_block_bytes(n_pad, B);
  thread_local std::vector<int32_t> w32_buf;  // [n_q, kMixBlocks] 4 u8 weights each
  thread_local std::vector<float> m_buf;      // [n_q] max weight · out_mul / 255
  w32_buf.resize(static_cast<size_t>(n_q * kMixBlocks));
  m_buf.resize(static_cast<size_t>(n_q));
  int32_t* w32 = w32_buf.data();
  float* m = m_buf.data();
  const float k255 = out_mul / 255.0f;
  std::fill(out, out + n_q * n_pad, 0.0f);
  for (int64_t j0 = 0; j0 < n_pos; j0 += kKvMixChunk) {
    const int64_t n = std::min(kKvMixChunk, n_pos - j0);
    bool any = false;
    for (int64_t i = 0; i < n_q; ++i) {
      // The shared rounding of every path (positions past n_pos get weight 0).
      uint8_t w8[kKvMixChunk] = {};
      const float wmax = kv_quantize_weights(p + i * ldp, scales, j0, j0 + n, w8);
      std::memcpy(w32 + i * kMixBlocks, w8, kKvMixChunk);
      m[i] = wmax * k255;
      any = any || wmax > 0.0f;
    }
    if (!any) continue;
    const int64_t nblk = (n + kKvValueBlock - 1) / kKvValueBlock;
    const uint8_t* blocks = codes + (j0 / kKvValueBlock) * block_bytes;
    PrefetchAhead(blocks, nblk * block_bytes);
    constexpr int kMaxQ = kVnni ? 4 : 2;  // accumulators: NQ · 2 (VNNI) or NQ · 4 registers
    for (int64_t i0 = 0; i0 < n_q; i0 += kMaxQ) {
      const int64_t nq = std::min<int64_t>(kMaxQ, n_q - i0);
      const int32_t* wi = w32 + i0 * kMixBlocks;
      float* o = out + i0 * n_pad;
      switch (nq) {
        case 4: MixQueries<B, 4>(ex, blocks, block_bytes, nblk, n_chunks, wi, m + i0, o, n_pad); break;
        case 3: MixQueries<B, 3>(ex, blocks, block_bytes, nblk, n_chunks, wi, m + i0, o, n_pad); break;
        case 2: MixQueries<B, 2>(ex, blocks, block_bytes, nblk, n_chunks, wi, m + i0, o, n_pad); break;
        default: MixQueries<B, 1>(ex, blocks, block_bytes, nblk, n_chunks, wi, m + i0, o, n_pad);
      }
    }
  }
}

// Calls f(std::integral_constant<int, bits>) for the widths this path covers (1..6, 8 when the
// levels are code − 128); false otherwise.
template <class F>
bool WithBits(const KvLevels& lv, F&& f) {
  if (lv.bits == 8) {
    for (int k = 0; k < 256; ++k)
      if (lv.levels[k] != k - 128) return false;
    f(std::integral_constant<int, 8>{});
    return true;
  }
  return [&]<int... N>(std::integer_sequence<int, N...>) {
    return ((lv.bits == N + 1 ? (f(std::integral_constant<int, N + 1>{}), true) : false) || ...);
  }(std::make_integer_sequence<int, 6>{});
}

}  // namespace

bool Scores(const int8_t* q8, const float* q_mul, int64_t n_q, const uint8_t* codes,
            const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv, float* s,
            int64_t lds, bool accumulate) {
  const int64_t n_chunks = n_pad / 4;
  // Queries as int32 chunks of 4 bytes; AVX-VNNI removes the +128 of the key levels per query.
  thread_local std::vector<int32_t> q32_buf, corr_buf;
  std::vector<int32_t>& q32 = q32_buf;
  std::vector<int32_t>& corr = corr_buf;
  q32.resize(static_cast<size_t>(n_q * n_chunks));
  corr.resize(static_cast<size_t>(n_q));
  for (int64_t i = 0; i < n_q; ++i) {
    std::memcpy(q32.data() + i * n_chunks, q8 + i * n_pad, static_cast<size_t>(n_pad));
    int32_t sum = 0;
    for (int64_t c = 0; c < n_pad; ++c) sum += q8[i * n_pad + c];
    corr[i] = 128 * sum;
  }
  return WithBits(lv, [&](auto bits) {
    ScoresBits<decltype(bits)::value>(lv, codes, scales, n_pos, n_chunks, n_q, q32.data(),
                                      corr.data(), q_mul, s, lds, accumulate);
  });
}

bool Mix(const float* p, int64_t ldp, int64_t n_q, const uint8_t* codes, const uint16_t* scales,
         int64_t n_pos, int64_t n_pad, const KvLevels& lv, float out_mul, float* out) {
  return WithBits(lv, [&](auto bits) {
    MixBits<decltype(bits)::value>(lv, p, ldp, n_q, codes, scales, n_pos, n_pad, out_mul, out);
  });
}

}  // namespace tq::x86::TQ_AVX2_NS

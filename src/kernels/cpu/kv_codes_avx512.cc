// AVX-512 VNNI + VBMI kernels of kernels/kv_codes.h. Per 64 codes (one register): a masked load of
// the 8·b packed bytes, vpermb spreads them so that qword k holds bytes [k·b, k·b + 8), vpmultishiftqb
// pulls code m of the qword from bit m·b, and vpermb / vpermt2b maps codes to levels through a table
// that repeats every 2^b entries (so the bits above each code need no mask). vpdpbusd then
// multiplies 4 unsigned by 4 signed bytes per int32 lane and accumulates:
//   scores  u8 key levels (level + 128) × s8 query, minus 128·Σq8 per query;
//   mix     u8 weights × s8 value levels.
// Every register of codes is expanded once and used at once by all queries of the GQA group (up to
// 8 for scores, 4 for mix; more run in groups), straight from registers: the bit width, the number
// of queries and (mix) of coordinate registers are template parameters, so the loops hold the
// accumulators, query / weight broadcasts and lookup tables in registers without spills.
// Integer sums are exact; the float epilogues repeat the reference's operations in its order.
#include "kernels/cpu/kv_codes_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

// GCC 12 warns about the deliberately undefined registers inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace tq {
namespace {

#define TQ_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi,f16c,fma")))
#define TQ_AVX512_INLINE TQ_AVX512_VNNI inline __attribute__((always_inline))

// Code → byte tables for one KvLevels, in the form the expansion needs.
struct LevelTables {
  int bits = 0;
  bool identity8 = false;         // bits == 8 and levels[k] == k − 128: no lookup
  alignas(64) uint8_t key[128];   // level + 128 (u8) for codes < 2^bits (bits <= 7)
  alignas(64) int8_t value[128];  // level (s8)
};

// False when the levels cannot be looked up in registers (8 bits, not code − 128).
bool make_tables(const KvLevels& lv, LevelTables* t) {
  t->bits = lv.bits;
  t->identity8 = false;
  if (lv.bits == 8) {
    for (int k = 0; k < 256; ++k)
      if (lv.levels[k] != k - 128) return false;
    t->identity8 = true;
    return true;
  }
  const int n = 1 << lv.bits;
  std::memset(t->key, 0, sizeof(t->key));
  std::memset(t->value, 0, sizeof(t->value));
  for (int k = 0; k < n; ++k) {
    t->key[k] = static_cast<uint8_t>(lv.levels[k] + 128);
    t->value[k] = lv.levels[k];
  }
  // vpermb looks at the low 6 bits of an index (vpermt2b at 7): repeat the 2^bits entries over the
  // 64 so that the bits above a code (the next code's, left by vpmultishiftqb) need no mask.
  for (int k = n; k < 64; ++k) {
    t->key[k] = t->key[k % n];
    t->value[k] = t->value[k % n];
  }
  return true;
}

// Registers of the expansion of 64 B-bit codes and their lookup (kept in registers by the loops).
// kKey: the table gives u8 level + 128 (8 bits: the code as is); else s8 levels (8 bits: code ^ 0x80).
template <int B, bool kKey>
struct Expander {
  __mmask64 load_mask;
  __m512i spread, shifts, t0, t1;

  TQ_AVX512_INLINE explicit Expander(const LevelTables& t) {
    constexpr int n_bytes = 8 * B;
    load_mask = n_bytes >= 64 ? ~__mmask64{0} : ((__mmask64{1} << n_bytes) - 1);
    alignas(64) uint8_t sp[64], sh[64];
    for (int k = 0; k < 8; ++k)
      for (int u = 0; u < 8; ++u) {
        sp[8 * k + u] = static_cast<uint8_t>(std::min(k * B + u, 63));
        sh[8 * k + u] = static_cast<uint8_t>(u * B);
      }
    spread = _mm512_load_si512(sp);
    shifts = _mm512_load_si512(sh);
    const void* tab = kKey ? static_cast<const void*>(t.key) : static_cast<const void*>(t.value);
    t0 = _mm512_load_si512(tab);
    t1 = _mm512_load_si512(static_cast<const uint8_t*>(tab) + 64);
  }

  // The 64 codes at src mapped to their table bytes.
  TQ_AVX512_INLINE __m512i operator()(const uint8_t* src) const {
    const __m512i x = B == 8 ? _mm512_loadu_si512(src) : _mm512_maskz_loadu_epi8(load_mask, src);
    if constexpr (B == 8) {
      return kKey ? x : _mm512_xor_si512(x, _mm512_set1_epi8(static_cast<char>(0x80)));
    } else {
      // Byte m of the result holds code m in its low B bits, the next code's bits above them:
      // the table lookup ignores those (tables repeat every 2^B entries).
      const __m512i c = _mm512_multishift_epi64_epi8(shifts, _mm512_permutexvar_epi8(spread, x));
      if constexpr (B <= 6) return _mm512_permutexvar_epi8(c, t0);
      return _mm512_permutex2var_epi8(t0, c, t1);
    }
  }
};

TQ_AVX512_INLINE __m512 load_scales(const uint16_t* p, int64_t n) {
  const __mmask16 m = n >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << n) - 1);
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

// Software prefetch of the bytes kPrefetchBytes ahead of [p, p + n): a cache larger than L3 is
// streamed from DRAM, and the kernels' compute between loads hides the hardware prefetcher's
// distance too little.
constexpr int64_t kPrefetchBytes = 4096;
TQ_AVX512_INLINE void prefetch_ahead(const uint8_t* p, int64_t n) {
  for (int64_t off = 0; off < n; off += 64)
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes + off), _MM_HINT_T0);
}

// Scores of NQ queries (int32 groups qr: [NQ, n_chunks]) against the key blocks of positions
// [0, n_pos): each chunk of codes is expanded once for all NQ queries.
template <int B, int NQ>
TQ_AVX512_VNNI void score_rows(const LevelTables& t, const uint8_t* codes, const uint16_t* scales,
                               int64_t n_pos, int64_t n_chunks, const int32_t* qr,
                               const int32_t* corr, const float* q_mul, float* s, int64_t lds,
                               bool accumulate) {
  const Expander<B, true> ex(t);
  constexpr int64_t kChunkBytes = 8 * B;
  const int64_t block_bytes = n_chunks * kChunkBytes;
  constexpr int kChains = NQ <= 2 ? 2 : 1;  // short dependency chains when few queries
  for (int64_t j0 = 0; j0 < n_pos; j0 += kKvKeyBlock) {
    const int64_t nb = std::min(kKvKeyBlock, n_pos - j0);
    const uint8_t* block = codes + (j0 / kKvKeyBlock) * block_bytes;
    prefetch_ahead(block, block_bytes);
    __m512i acc[kChains][NQ];
    for (int c = 0; c < kChains; ++c)
      for (int k = 0; k < NQ; ++k) acc[c][k] = _mm512_setzero_si512();
    for (int64_t g = 0; g < n_chunks; g += kChains)  // n_chunks is a multiple of 4
      for (int c = 0; c < kChains; ++c) {
        const __m512i e = ex(block + (g + c) * kChunkBytes);
        for (int k = 0; k < NQ; ++k)
          acc[c][k] = _mm512_dpbusd_epi32(acc[c][k], e, _mm512_set1_epi32(qr[k * n_chunks + g + c]));
      }
    const __m512 sc = load_scales(scales + j0, nb);
    const __mmask16 store_mask =
        nb >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << nb) - 1);
    for (int k = 0; k < NQ; ++k) {
      __m512i sum = acc[0][k];
      if constexpr (kChains == 2) sum = _mm512_add_epi32(sum, acc[1][k]);
      const __m512i dot = _mm512_sub_epi32(sum, _mm512_set1_epi32(corr[k]));
      __m512 v =
          _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(q_mul[k]), sc), _mm512_cvtepi32_ps(dot));
      float* d = s + k * lds + j0;
      if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(store_mask, d), v);
      _mm512_mask_storeu_ps(d, store_mask, v);
    }
  }
}

template <int B>
TQ_AVX512_VNNI void scores_bits(const LevelTables& t, const uint8_t* codes, const uint16_t* scales,
                                int64_t n_pos, int64_t n_chunks, int64_t n_q, const int32_t* q32,
                                const int32_t* corr, const float* q_mul, float* s, int64_t lds,
                                bool accumulate) {
  for (int64_t i0 = 0; i0 < n_q; i0 += 8) {
    const int64_t nq = std::min<int64_t>(8, n_q - i0);
    const int32_t* qr = q32 + i0 * n_chunks;
    const int32_t* cr = corr + i0;
    const float* qm = q_mul + i0;
    float* si = s + i0 * lds;
    switch (nq) {
#define TQ_SCORE_CASE(N) \
  case N: score_rows<B, N>(t, codes, scales, n_pos, n_chunks, qr, cr, qm, si, lds, accumulate); break;
      TQ_SCORE_CASE(8)
      TQ_SCORE_CASE(7)
      TQ_SCORE_CASE(6)
      TQ_SCORE_CASE(5)
      TQ_SCORE_CASE(4)
      TQ_SCORE_CASE(3)
      TQ_SCORE_CASE(2)
      default: score_rows<B, 1>(t, codes, scales, n_pos, n_chunks, qr, cr, qm, si, lds, accumulate);
#undef TQ_SCORE_CASE
    }
  }
}

// Mix of NQ queries (u8 weights w32: [NQ, kBlocks] 4 per int32, scale factors m) over the value
// blocks of one weight chunk, coordinate registers [g0, g0 + NG): out rows at stride n_pad.
constexpr int64_t kMixBlocks = kKvMixChunk / kKvValueBlock;  // value blocks per weight chunk

template <int B, int NQ, int NG>
TQ_AVX512_INLINE void mix_group(const Expander<B, false>& ex, const uint8_t* blocks,
                                int64_t block_bytes, int64_t nblk, int64_t g0, const int32_t* w32,
                                const float* m, float* out, int64_t n_pad) {
  constexpr int64_t kChunkBytes = 8 * B;
  __m512i acc[NQ][NG];
  for (int k = 0; k < NQ; ++k)
    for (int g = 0; g < NG; ++g) acc[k][g] = _mm512_setzero_si512();
  const uint8_t* src = blocks + g0 * kChunkBytes;
  for (int64_t b = 0; b < nblk; ++b, src += block_bytes) {
    __m512i w[NQ];
    for (int k = 0; k < NQ; ++k) w[k] = _mm512_set1_epi32(w32[k * kMixBlocks + b]);
    for (int g = 0; g < NG; ++g) {
      const __m512i e = ex(src + g * kChunkBytes);
      for (int k = 0; k < NQ; ++k) acc[k][g] = _mm512_dpbusd_epi32(acc[k][g], w[k], e);
    }
  }
  for (int k = 0; k < NQ; ++k) {
    if (!(m[k] > 0.0f)) continue;  // all weights of the chunk are 0
    const __m512 mk = _mm512_set1_ps(m[k]);
    for (int g = 0; g < NG; ++g) {
      float* dst = out + k * n_pad + (g0 + g) * 16;
      _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst),
                                          _mm512_mul_ps(_mm512_cvtepi32_ps(acc[k][g]), mk)));
    }
  }
}

template <int B, int NQ>
TQ_AVX512_VNNI void mix_chunk(const Expander<B, false>& ex, const uint8_t* blocks,
                              int64_t block_bytes, int64_t nblk, int64_t n_chunks,
                              const int32_t* w32, const float* m, float* out, int64_t n_pad) {
  int64_t g0 = 0;
  for (; g0 + 4 <= n_chunks; g0 += 4)
    mix_group<B, NQ, 4>(ex, blocks, block_bytes, nblk, g0, w32, m, out, n_pad);
  if (g0 + 2 <= n_chunks) {
    mix_group<B, NQ, 2>(ex, blocks, block_bytes, nblk, g0, w32, m, out, n_pad);
    g0 += 2;
  }
  if (g0 < n_chunks) mix_group<B, NQ, 1>(ex, blocks, block_bytes, nblk, g0, w32, m, out, n_pad);
}

// Rounds query i's weights p·scale of positions [j0, j0 + n) (n <= 64) to u8 against their max
// (as kv_quantize_weights): w32 gets 16 int32 of 4 weights; returns the max (0: all zero).
TQ_AVX512_INLINE float quantize_weights(const float* p, const uint16_t* scales, int64_t j0,
                                        int64_t n, int32_t* w32) {
  __m512 w[4];
  __m512 mx = _mm512_setzero_ps();
  for (int v = 0; v < 4; ++v) {
    const int64_t m = std::clamp<int64_t>(n - 16 * v, 0, 16);
    const __mmask16 mk = m >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << m) - 1);
    w[v] = m > 0 ? _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, p + j0 + 16 * v),
                                 load_scales(scales + j0 + 16 * v, m))
                 : _mm512_setzero_ps();
    mx = _mm512_max_ps(mx, w[v]);
  }
  const float wmax = _mm512_reduce_max_ps(mx);
  if (!(wmax > 0.0f)) {
    std::memset(w32, 0, kMixBlocks * sizeof(int32_t));
    return 0.0f;
  }
  const __m512 inv = _mm512_set1_ps(255.0f / wmax);
  for (int v = 0; v < 4; ++v) {
    const __m512i q =
        _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_max_ps(w[v], _mm512_setzero_ps()), inv));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(w32 + 4 * v), _mm512_cvtepi32_epi8(q));
  }
  return wmax;
}

template <int B>
TQ_AVX512_VNNI void mix_bits(const LevelTables& t, const float* p, int64_t ldp, int64_t n_q,
                             const uint8_t* codes, const uint16_t* scales, int64_t n_pos,
                             int64_t n_pad, float out_mul, float* out) {
  const Expander<B, false> ex(t);
  const int64_t n_chunks = n_pad / 16;  // registers per value block
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
      const float wmax = quantize_weights(p + i * ldp, scales, j0, n, w32 + i * kMixBlocks);
      m[i] = wmax * k255;
      any = any || wmax > 0.0f;
    }
    if (!any) continue;
    const int64_t nblk = (n + kKvValueBlock - 1) / kKvValueBlock;
    const uint8_t* blocks = codes + (j0 / kKvValueBlock) * block_bytes;
    prefetch_ahead(blocks, nblk * block_bytes);
    for (int64_t i0 = 0; i0 < n_q; i0 += 4) {
      const int64_t nq = std::min<int64_t>(4, n_q - i0);
      const int32_t* wi = w32 + i0 * kMixBlocks;
      float* o = out + i0 * n_pad;
      switch (nq) {
        case 4: mix_chunk<B, 4>(ex, blocks, block_bytes, nblk, n_chunks, wi, m + i0, o, n_pad); break;
        case 3: mix_chunk<B, 3>(ex, blocks, block_bytes, nblk, n_chunks, wi, m + i0, o, n_pad); break;
        case 2: mix_chunk<B, 2>(ex, blocks, block_bytes, nblk, n_chunks, wi, m + i0, o, n_pad); break;
        default: mix_chunk<B, 1>(ex, blocks, block_bytes, nblk, n_chunks, wi, m + i0, o, n_pad);
      }
    }
  }
}

}  // namespace

namespace {
// Calls f(std::integral_constant<int, bits>) for bits 1..8; false for other widths.
template <class F>
bool with_bits(int bits, F&& f) {
  return [&]<int... N>(std::integer_sequence<int, N...>) {
    return ((bits == N + 1 ? (f(std::integral_constant<int, N + 1>{}), true) : false) || ...);
  }(std::make_integer_sequence<int, 8>{});
}
}  // namespace

bool kv_avx512_vnni_supported() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512vnni") &&
                         __builtin_cpu_supports("avx512vbmi");
  return ok;
}

bool kv_scores_codes_avx512(const int8_t* q8, const float* q_mul, int64_t n_q,
                            const uint8_t* codes, const uint16_t* scales, int64_t n_pos,
                            int64_t n_pad, const KvLevels& lv, float* s, int64_t lds,
                            bool accumulate) {
  LevelTables t;
  if (!make_tables(lv, &t)) return false;
  const int64_t n_chunks = n_pad / 4;
  // Queries as int32 groups of 4 bytes; the +128 offset of the key levels is removed per query.
  thread_local std::vector<int32_t> q32, corr;
  q32.resize(static_cast<size_t>(n_q * n_chunks));
  corr.resize(static_cast<size_t>(n_q));
  for (int64_t i = 0; i < n_q; ++i) {
    std::memcpy(q32.data() + i * n_chunks, q8 + i * n_pad, static_cast<size_t>(n_pad));
    int32_t sum = 0;
    for (int64_t c = 0; c < n_pad; ++c) sum += q8[i * n_pad + c];
    corr[i] = 128 * sum;
  }
  return with_bits(lv.bits, [&](auto bits) {
    scores_bits<decltype(bits)::value>(t, codes, scales, n_pos, n_chunks, n_q, q32.data(), corr.data(), q_mul, s,
                        lds, accumulate);
  });
}

bool kv_mix_codes_avx512(const float* p, int64_t ldp, int64_t n_q, const uint8_t* codes,
                         const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                         float out_mul, float* out) {
  LevelTables t;
  if (!make_tables(lv, &t)) return false;
  return with_bits(lv.bits, [&](auto bits) {
    mix_bits<decltype(bits)::value>(t, p, ldp, n_q, codes, scales, n_pos, n_pad, out_mul, out);
  });
}

}  // namespace tq

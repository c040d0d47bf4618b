// AVX-512 VNNI + VBMI kernels of kernels/kv_codes.h. Per 64 codes (one register): a masked load of
// the 8·b packed bytes, vpermb spreads them so that qword k holds bytes [k·b, k·b + 8), vpmultishiftqb
// pulls code m of the qword from bit m·b, an AND keeps b bits, and vpshufb / vpermb maps codes to
// levels. vpdpbusd then multiplies 4 unsigned by 4 signed bytes per int32 lane and accumulates:
//   scores  u8 key levels (level + 128) × s8 query, minus 128·Σq8 per query;
//   mix     u8 weights × s8 value levels.
// Integer sums are exact; the float epilogues repeat the reference's operations in its order.
#include "kernels/cpu/kv_codes_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

// GCC 12 warns about the deliberately undefined registers inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace tq {
namespace {

struct alignas(64) Reg {  // one expanded register of 64 bytes in a tile buffer
  uint8_t b[64];
};

#define TQ_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi,f16c,fma")))

// Code → byte tables for one KvLevels, in the form the expansion needs.
struct LevelTables {
  int bits = 0;
  bool identity8 = false;  // bits == 8 and levels[k] == k − 128: no lookup
  alignas(64) uint8_t key[128];    // level + 128 (u8) for codes < 2^bits (bits <= 7)
  alignas(64) int8_t value[128];   // level (s8)
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
  if (lv.bits <= 4)  // vpshufb looks up within each 128-bit lane: repeat the 16 entries
    for (int r = 1; r < 4; ++r) {
      std::memcpy(t->key + 16 * r, t->key, 16);
      std::memcpy(t->value + 16 * r, t->value, 16);
    }
  return true;
}

// Constants of the expansion of 64 b-bit codes.
struct Expander {
  __mmask64 load_mask;
  __m512i spread, shifts, mask;
  int bits;
};

TQ_AVX512_VNNI Expander make_expander(int bits) {
  Expander e;
  e.bits = bits;
  const int n_bytes = 8 * bits;
  e.load_mask = n_bytes >= 64 ? ~__mmask64{0} : ((__mmask64{1} << n_bytes) - 1);
  alignas(64) uint8_t spread[64], shifts[64];
  for (int k = 0; k < 8; ++k)
    for (int t = 0; t < 8; ++t) {
      spread[8 * k + t] = static_cast<uint8_t>(std::min(k * bits + t, 63));
      shifts[8 * k + t] = static_cast<uint8_t>(t * bits);
    }
  e.spread = _mm512_load_si512(spread);
  e.shifts = _mm512_load_si512(shifts);
  e.mask = _mm512_set1_epi8(static_cast<char>(bits >= 8 ? 0xff : (1 << bits) - 1));
  return e;
}

// The 64 codes at src as bytes 0 .. 2^b − 1.
TQ_AVX512_VNNI inline __m512i expand(const Expander& e, const uint8_t* src) {
  const __m512i x = _mm512_maskz_loadu_epi8(e.load_mask, src);
  if (e.bits == 8) return x;
  const __m512i y = _mm512_multishift_epi64_epi8(e.shifts, _mm512_permutexvar_epi8(e.spread, x));
  return _mm512_and_si512(y, e.mask);
}

// Byte table lookup of codes (< 2^bits) in a 64-byte table register (or two for 7 bits).
TQ_AVX512_VNNI inline __m512i lookup(int bits, __m512i codes, __m512i t0, __m512i t1) {
  if (bits <= 4) return _mm512_shuffle_epi8(t0, codes);
  if (bits <= 6) return _mm512_permutexvar_epi8(codes, t0);
  return _mm512_permutex2var_epi8(t0, codes, t1);
}

TQ_AVX512_VNNI inline __m512 load_scales(const uint16_t* p, int64_t n) {
  const __mmask16 m = n >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << n) - 1);
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

// Scores of NQ queries (int32 groups qr: [NQ, n_chunks]) against one expanded key block.
template <int NQ>
TQ_AVX512_VNNI inline void score_block(const Reg* tile, int64_t n_chunks, const int32_t* qr,
                                       const int32_t* corr, const float* q_mul, __m512 sc,
                                       float* dst, int64_t lds, __mmask16 store_mask,
                                       bool accumulate) {
  __m512i a0[NQ], a1[NQ];
  for (int k = 0; k < NQ; ++k) a0[k] = a1[k] = _mm512_setzero_si512();
  for (int64_t g = 0; g < n_chunks; g += 2) {  // two accumulators per query: shorter chains
    const __m512i e0 = _mm512_load_si512(tile[g].b), e1 = _mm512_load_si512(tile[g + 1].b);
    for (int k = 0; k < NQ; ++k) {
      a0[k] = _mm512_dpbusd_epi32(a0[k], e0, _mm512_set1_epi32(qr[k * n_chunks + g]));
      a1[k] = _mm512_dpbusd_epi32(a1[k], e1, _mm512_set1_epi32(qr[k * n_chunks + g + 1]));
    }
  }
  for (int k = 0; k < NQ; ++k) {
    const __m512i dot = _mm512_sub_epi32(_mm512_add_epi32(a0[k], a1[k]), _mm512_set1_epi32(corr[k]));
    __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(q_mul[k]), sc), _mm512_cvtepi32_ps(dot));
    float* d = dst + k * lds;
    if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(store_mask, d), v);
    _mm512_mask_storeu_ps(d, store_mask, v);
  }
}

}  // namespace

bool kv_avx512_vnni_supported() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512vnni") &&
                         __builtin_cpu_supports("avx512vbmi");
  return ok;
}

TQ_AVX512_VNNI bool kv_scores_codes_avx512(const int8_t* q8, const float* q_mul, int64_t n_q,
                                           const uint8_t* codes, const uint16_t* scales,
                                           int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                                           float* s, int64_t lds, bool accumulate) {
  LevelTables t;
  if (!make_tables(lv, &t)) return false;
  const Expander ex = make_expander(lv.bits);
  const __m512i t0 = _mm512_load_si512(t.key), t1 = _mm512_load_si512(t.key + 64);
  const int64_t n_chunks = n_pad / 4, chunk_bytes = 8 * lv.bits;
  const int64_t block_bytes = kv_key_block_bytes(n_pad, lv.bits);
  // Queries as int32 groups of 4 bytes; the +128 offset of the key levels is removed per query.
  thread_local std::vector<int32_t> q32, corr;
  thread_local std::vector<Reg> tile;
  q32.resize(static_cast<size_t>(n_q * n_chunks));
  corr.resize(static_cast<size_t>(n_q));
  tile.resize(static_cast<size_t>(n_chunks));
  for (int64_t i = 0; i < n_q; ++i) {
    std::memcpy(q32.data() + i * n_chunks, q8 + i * n_pad, static_cast<size_t>(n_pad));
    int32_t sum = 0;
    for (int64_t c = 0; c < n_pad; ++c) sum += q8[i * n_pad + c];
    corr[i] = 128 * sum;
  }
  for (int64_t j0 = 0; j0 < n_pos; j0 += kKvKeyBlock) {
    const int64_t nb = std::min(kKvKeyBlock, n_pos - j0);
    const uint8_t* block = codes + (j0 / kKvKeyBlock) * block_bytes;
    for (int64_t g = 0; g < n_chunks; ++g) {
      const __m512i c = expand(ex, block + g * chunk_bytes);
      _mm512_store_si512(tile[g].b, t.identity8 ? c : lookup(lv.bits, c, t0, t1));
    }
    const __m512 sc = load_scales(scales + j0, nb);
    const __mmask16 store_mask = nb >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << nb) - 1);
    for (int64_t i0 = 0; i0 < n_q; i0 += 4) {
      const int64_t nq = std::min<int64_t>(4, n_q - i0);
      const int32_t* qr = q32.data() + i0 * n_chunks;
      float* dst = s + i0 * lds + j0;
      switch (nq) {
        case 4: score_block<4>(tile.data(), n_chunks, qr, corr.data() + i0, q_mul + i0, sc, dst, lds, store_mask, accumulate); break;
        case 3: score_block<3>(tile.data(), n_chunks, qr, corr.data() + i0, q_mul + i0, sc, dst, lds, store_mask, accumulate); break;
        case 2: score_block<2>(tile.data(), n_chunks, qr, corr.data() + i0, q_mul + i0, sc, dst, lds, store_mask, accumulate); break;
        default: score_block<1>(tile.data(), n_chunks, qr, corr.data() + i0, q_mul + i0, sc, dst, lds, store_mask, accumulate); break;
      }
    }
  }
  return true;
}

TQ_AVX512_VNNI bool kv_mix_codes_avx512(const float* p, int64_t ldp, int64_t n_q,
                                        const uint8_t* codes, const uint16_t* scales,
                                        int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                                        float out_mul, float* out) {
  LevelTables t;
  if (!make_tables(lv, &t)) return false;
  const Expander ex = make_expander(lv.bits);
  const __m512i t0 = _mm512_load_si512(t.value), t1 = _mm512_load_si512(t.value + 64);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const int64_t n_chunks = n_pad / 16, chunk_bytes = 8 * lv.bits;  // register chunks per block
  const int64_t block_bytes = kv_value_block_bytes(n_pad, lv.bits);
  constexpr int64_t kBlocks = kKvMixChunk / kKvValueBlock;  // value blocks per weight chunk
  thread_local std::vector<Reg> tile;                        // [kBlocks, n_chunks]
  thread_local std::vector<int32_t> w32;                     // [n_q, kBlocks] 4 u8 weights each
  thread_local std::vector<float> wmax;
  tile.resize(static_cast<size_t>(kBlocks * n_chunks));
  w32.resize(static_cast<size_t>(n_q * kBlocks));
  wmax.resize(static_cast<size_t>(n_q));
  const float k255 = out_mul / 255.0f;
  std::fill(out, out + n_q * n_pad, 0.0f);
  for (int64_t j0 = 0; j0 < n_pos; j0 += kKvMixChunk) {
    const int64_t n = std::min(kKvMixChunk, n_pos - j0);
    // Weights: w = p·scale, rounded to u8 against the chunk's max (as kv_quantize_weights).
    bool any = false;
    for (int64_t i = 0; i < n_q; ++i) {
      __m512 w[4];
      __m512 mx = _mm512_setzero_ps();
      for (int v = 0; v < 4; ++v) {
        const int64_t m = std::clamp<int64_t>(n - 16 * v, 0, 16);
        const __mmask16 mk = m >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << m) - 1);
        w[v] = m > 0 ? _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, p + i * ldp + j0 + 16 * v),
                                     load_scales(scales + j0 + 16 * v, m))
                     : _mm512_setzero_ps();
        mx = _mm512_max_ps(mx, w[v]);
      }
      wmax[i] = _mm512_reduce_max_ps(mx);
      if (!(wmax[i] > 0.0f)) {
        wmax[i] = 0.0f;
        continue;
      }
      any = true;
      const __m512 inv = _mm512_set1_ps(255.0f / wmax[i]);
      for (int v = 0; v < 4; ++v) {
        const __m512i q =
            _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_max_ps(w[v], _mm512_setzero_ps()), inv));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(w32.data() + i * kBlocks + 4 * v),
                         _mm512_cvtepi32_epi8(q));
      }
    }
    if (!any) continue;
    const int64_t nblk = (n + kKvValueBlock - 1) / kKvValueBlock;
    const uint8_t* blocks = codes + (j0 / kKvValueBlock) * block_bytes;
    for (int64_t b = 0; b < nblk; ++b)
      for (int64_t g = 0; g < n_chunks; ++g) {
        const __m512i c = expand(ex, blocks + b * block_bytes + g * chunk_bytes);
        _mm512_store_si512(tile[b * n_chunks + g].b,
                           t.identity8 ? _mm512_xor_si512(c, flip) : lookup(lv.bits, c, t0, t1));
      }
    for (int64_t i = 0; i < n_q; ++i) {
      if (wmax[i] <= 0.0f) continue;
      const __m512 m = _mm512_set1_ps(wmax[i] * k255);
      const int32_t* wi = w32.data() + i * kBlocks;
      float* o = out + i * n_pad;
      for (int64_t g0 = 0; g0 < n_chunks; g0 += 4) {
        const int64_t ng = std::min<int64_t>(4, n_chunks - g0);
        __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                          _mm512_setzero_si512()};
        for (int64_t b = 0; b < nblk; ++b) {
          const __m512i w = _mm512_set1_epi32(wi[b]);
          const Reg* e = tile.data() + b * n_chunks + g0;
          for (int64_t k = 0; k < ng; ++k)
            acc[k] = _mm512_dpbusd_epi32(acc[k], w, _mm512_load_si512(e[k].b));
        }
        for (int64_t k = 0; k < ng; ++k) {
          float* dst = o + (g0 + k) * 16;
          _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst),
                                              _mm512_mul_ps(_mm512_cvtepi32_ps(acc[k]), m)));
        }
      }
    }
  }
  return true;
}

}  // namespace tq

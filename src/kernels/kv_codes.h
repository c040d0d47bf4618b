// Attention directly on b-bit KV codes (issue 5): the building blocks of the quantized KV stores
// (runtime/kv_code_store.cc). A cached head vector (or one part of it) is n_pad coordinates, each a
// b-bit code (b = 1..8) whose value is levels[code] — a small signed integer (int8) — times the
// vector's scale (one f16 per position) times a per-format unit the caller folds in. No float copy
// of the cache is ever made: scores and weighted sums run on the integer levels.
//
// Layouts (n_pad a multiple of 16). Codes are an LSB-first bit stream (math/bitpack.h) in chunks of
// 64 codes (= 8·b bytes) that one AVX-512 register holds once expanded to bytes:
//   keys   blocks of kKvKeyBlock = 16 positions, kv_key_block_bytes() each. Chunk g (< n_pad/4) of
//   a
//          block holds, for each position p < 16, coordinates 4g..4g+3: lane 4p + e ↔ (p, 4g + e).
//          One VNNI dot step (vpdpbusd) then adds 4 coordinates of 16 positions at once.
//   values blocks of kKvValueBlock = 4 positions. Chunk g (< n_pad/16) holds coordinates
//          16g..16g+15 of the 4 positions: lane 4c' + p ↔ (p, 16g + c').
//
// Numerics (identical on every path, so SIMD and scalar results agree to float rounding):
//   scores: the query is rounded to int8 (q8 = round(q·127/max|q|), done by quantize_query_i8),
//           the dot Σ_c q8_c·levels[code_c] is an exact integer, s = (q_mul·scale_j)·dot.
//   mix:    per chunk of kKvMixChunk positions and per query, the weights w_j = p_j·scale_j are
//           rounded to u8 (w8 = round(w·255/max w)); the sums Σ_j w8_j·levels[code_jc] are exact
//           integers, out_c += dot_c·(max w·out_mul/255). Weights must be >= 0 (probabilities
//           times non-negative scales).
//   Rounding q to 8 bits adds a relative score error of ~5e-4·‖q‖‖k‖ (d = 128); rounding weights
//   to 8 bits per chunk ~1e-3 of the chunk's largest weight per position. Both are measured in
//   tests/kernels/kv_codes_test.cc and end to end against the reference path in docs/RESULTS.md.
//
// Paths: AVX3_DL (Zen 4, Ice Lake) expands codes with VBMI (vpermb + vpmultishiftqb), maps them to
// levels with vpshufb and accumulates with VNNI (vpdpbusd); AVX2 and AVX3 unpack 32 codes per
// register (vpshufb + vpmulhuw), map them with vpshufb and accumulate with vpmaddubsw/vpmaddwd or
// AVX-VNNI (kv_codes_avx2-inl.h); other targets (and 7-bit codes on AVX2) expand to float tiles and
// use FMAs (exact: every partial sum stays below 2^24); tq::ref is the scalar oracle.
#pragma once

#include <cstdint>

namespace tq {

inline constexpr int64_t kKvKeyBlock = 16;   // positions per key block
inline constexpr int64_t kKvValueBlock = 4;  // positions per value block
inline constexpr int64_t kKvMixChunk = 64;   // positions sharing one weight scale in mix
inline constexpr int64_t kKvDimAlign = 16;   // n_pad must be a multiple of this

// Signed int8 levels of a b-bit code: code k means levels[k]. Entries >= 2^bits are unused.
struct KvLevels {
  int bits = 4;  // 1..8
  int8_t levels[256] = {};
};

constexpr int64_t kv_pad_dim(int64_t n) {
  return (n + kKvDimAlign - 1) / kKvDimAlign * kKvDimAlign;
}
constexpr int64_t kv_key_block_bytes(int64_t n_pad, int bits) {
  return 2 * n_pad * bits;
}
constexpr int64_t kv_value_block_bytes(int64_t n_pad, int bits) {
  return n_pad * bits / 2;
}
// Index of the code of (position p in its block, coordinate c) within the block's stream.
constexpr int64_t kv_key_code_index(int64_t p, int64_t c) {
  return ((c >> 2) * 16 + p) * 4 + (c & 3);
}
constexpr int64_t kv_value_code_index(int64_t p, int64_t c) {
  return c * 4 + p;
}

// Reads / writes code `index` (bits wide) of a block's LSB-first stream.
inline uint32_t kv_get_code(const uint8_t* block, int64_t index, int bits) {
  const int64_t bit = index * bits;
  const uint32_t two =
      block[bit >> 3] |
      (bits + (bit & 7) > 8 ? static_cast<uint32_t>(block[(bit >> 3) + 1]) << 8 : 0u);
  return (two >> (bit & 7)) & ((1u << bits) - 1);
}
inline void kv_put_code(uint8_t* block, int64_t index, int bits, uint32_t code) {
  const int64_t bit = index * bits;
  const int sh = static_cast<int>(bit & 7);
  const uint32_t mask = ((1u << bits) - 1) << sh, v = (code << sh) & mask;
  uint8_t* b = block + (bit >> 3);
  b[0] = static_cast<uint8_t>((b[0] & ~mask) | v);
  if (bits + sh > 8) b[1] = static_cast<uint8_t>((b[1] & ~(mask >> 8)) | (v >> 8));
}

// q8[c] = round(q[c]·127/max|q|) for c < n, 0 for n <= c < n_pad; returns max|q|/127 (0 for a zero
// query). q: [n]; q8: [n_pad].
float quantize_query_i8(const float* q, int64_t n, int64_t n_pad, int8_t* q8);

// Scores of n_q int8 queries against positions [0, n_pos) of one head's key blocks:
//   s[i·lds + j] (+)= (q_mul[i]·f16(scales[j]))·Σ_{c < n_pad} q8[i·n_pad + c]·levels[code(j, c)]
// (overwritten, or added to when `accumulate`). codes: ceil(n_pos/16) key blocks; scales: [n_pos]
// f16.
void kv_scores_codes(const int8_t* q8, const float* q_mul, int64_t n_q, const uint8_t* codes,
                     const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                     float* s, int64_t lds, bool accumulate);

// Weighted sums of n_q rows of weights over positions [0, n_pos) of one head's value blocks:
//   out[i·n_pad + c] = Σ_chunks (max_w·out_mul/255)·Σ_j w8_ij·levels[code(j, c)]   (overwritten)
// with w_ij = p[i·ldp + j]·f16(scales[j]) >= 0 quantized per kKvMixChunk positions (see above).
// codes: ceil(n_pos/4) value blocks; scales: [n_pos] f16.
void kv_mix_codes(const float* p, int64_t ldp, int64_t n_q, const uint8_t* codes,
                  const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                  float out_mul, float* out);

// How a vector's scale is chosen when it is coded against a fixed set of levels.
enum class KvScaleRule : uint8_t {
  kLeastSquares,  // the f16 scale minimizing ‖y − s·c[idx]‖²: from s = 0.9, 1, 1.1 × ‖y‖/√n,
                  // 4 alternations of (nearest codes, s = <y, c>/<c, c>), f16 rounding, best start
  kNorm,    // ‖y‖/√n: TurboQuant_mse's stored norm, in the units of the codebook
  kAbsMax,  // max|y| / 127 (uniform 8-bit; kv_encode_scaled does not take it)
};

// One coding pass of y: [n] at scale s against ascending float levels `centroids` ([2^bits]) with
// decision boundaries `boundaries` ([2^bits − 1], the midpoints): with c = the nearest level of
// y[i]/s, *a = Σ y·c and *b = Σ c²; idx[i] = its index when idx is not null. bits 1..6 compare
// against the boundaries; `uniform` levels (equally spaced, bits 1..8) round instead:
// idx = clamp(round((y/s − c0)·(1/step)), 0, 2^bits − 1) with step = c1 − c0.
void kv_code_pass(const float* y, int64_t n, float s, const float* centroids,
                  const float* boundaries, int bits, bool uniform, uint8_t* idx, double* a,
                  double* b);

// One part of a vector coded with a shared scale s: y ≈ s·sigma·centroids[idx].
struct KvCodePart {
  const float* y = nullptr;  // [n]
  int64_t n = 0;
  float sigma = 1.0f;  // the part's fixed relative scale (> 0)
  const float* centroids = nullptr;
  const float* boundaries = nullptr;
  int bits = 0;
  bool uniform = false;    // equally spaced levels (see kv_code_pass)
  uint8_t* idx = nullptr;  // out [n]
};

// Codes every part with one scale s (returned; f16-representable, >= 0, 0 for a zero vector).
// rule kNorm: s = sqrt(Σ‖y_p‖² / Σ n_p·sigma_p²). kLeastSquares: from 0.9, 1, 1.1 × that, 4
// alternations of (nearest codes, s = Σ sigma_p<y_p, c_p> / Σ sigma_p²<c_p, c_p>), f16 rounding,
// the start with the smallest Σ‖y_p − s·sigma_p·c_p‖². The SIMD and scalar passes sum in different
// orders, so a scale can differ by an f16 step where two candidates tie (tests bound the effect).
float kv_encode_shared(const KvCodePart* parts, int n_parts, KvScaleRule rule);
// One part with sigma 1.
float kv_encode_scaled(const float* y, int64_t n, const float* centroids, const float* boundaries,
                       int bits, KvScaleRule rule, uint8_t* idx);

// Which path kv_scores_codes / kv_mix_codes take on this CPU now: "avx512-vnni", "avx2-vnni",
// "avx2" or "float".
const char* kv_codes_path();

namespace ref {
void kv_code_pass(const float* y, int64_t n, float s, const float* centroids,
                  const float* boundaries, int bits, bool uniform, uint8_t* idx, double* a,
                  double* b);
float kv_encode_shared(const KvCodePart* parts, int n_parts, KvScaleRule rule);
float kv_encode_scaled(const float* y, int64_t n, const float* centroids, const float* boundaries,
                       int bits, KvScaleRule rule, uint8_t* idx);
void kv_scores_codes(const int8_t* q8, const float* q_mul, int64_t n_q, const uint8_t* codes,
                     const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                     float* s, int64_t lds, bool accumulate);
void kv_mix_codes(const float* p, int64_t ldp, int64_t n_q, const uint8_t* codes,
                  const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                  float out_mul, float* out);
}  // namespace ref

// Shared by every path (so they round identically): w8[j - j0] for j in [j0, j1) and the chunk's
// max weight (0: nothing to add). p: one query's weights row; scales: f16 [n_pos].
float kv_quantize_weights(const float* p, const uint16_t* scales, int64_t j0, int64_t j1,
                          uint8_t* w8);

}  // namespace tq

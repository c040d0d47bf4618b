// The TurboQuant vector codec (arXiv 2504.19874; DESIGN.md §1): batches of arbitrary float vectors
// (KV vectors, embeddings) ↔ b-bit codes, and inner products / squared L2 distances between a float
// query and codes without decoding.
//
//   TurboQuant_mse  (CodecKind::kMse), b bits per coordinate:
//       u = x/‖x‖, y = Π·u (seeded randomized Hadamard rotation), idx_j = Q_b(y_j) with the
//       Lloyd–Max codebook of the exact coordinate density of a random unit vector in R^d.
//       Stores idx (d·b bits) and ‖x‖ (float). Decode: x̂ = ‖x‖·Πᵀ·c[idx].
//       E‖x − x̂‖² = ‖x‖²·D_b(d), D_b ≈ 0.3634, 0.1175, 0.03454, 0.009501 for b = 1..4.
//   TurboQuant_prod (CodecKind::kProd), b bits per coordinate: the (b−1)-bit mse code of u plus a
//       1-bit QJL sketch of the rotated residual r = y − c[idx]: sign(P·r) (d bits) and γ = ‖r‖.
//       ⟨q, x⟩ ≈ ‖x‖·(⟨Πq, c[idx]⟩ + γ·κ·⟨P·Πq, sign(P·r)⟩) is unbiased with variance
//       ≤ (π/2d)·‖x‖²·γ²·‖q‖² (math/qjl.h gives P and κ). b = 1 is a pure QJL sketch.
//
// Storage per vector: code_bytes() bytes of packed codes (math/bitpack.h layout: mse indices, then
// for kProd the sign bits) plus one float norm (+ one float γ for kProd); bits_per_vector() counts
// all of it. Norms are float32 in this API; a container may store them narrower.
//
// Query-side trick: prepare_query() rotates (and for kProd projects) the query once; scoring then
// unpacks each vector's codes and dots the rotated query with centroid values looked up in a SIMD
// register. Nothing is rotated back.
//
// Threads: encode/decode/inner_products/squared_l2 split the batch over tq::num_threads() workers
// (core/parallel.h). Objects are immutable after create() and safe to share between threads.
// Errors: bad configuration or input (dim < 2, bits outside 1..8, NaN/Inf values, buffer sizes that
// do not match n) return a Status naming the problem; nothing is written on a configuration or size
// error, and outputs are unspecified after a value error (NaN/Inf found while encoding).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tq/status.h"

namespace tq {

struct Codebook;          // math/lloyd_max.h
class HadamardRotation;   // math/rotation.h
class QjlSketch;          // math/qjl.h

enum class CodecKind : uint8_t { kMse = 1, kProd = 2 };
const char* codec_kind_name(CodecKind kind);  // "mse", "prod"

// Which kernels run: the Highway SIMD ones (runtime dispatch) or the scalar reference oracles.
enum class KernelPath : uint8_t { kSimd = 0, kReference = 1 };

struct CodecConfig {
  int64_t dim = 0;      // d >= 2
  int bits = 4;         // total bits per coordinate, 1..8 (kProd: bits−1 mse bits + 1 QJL bit)
  CodecKind kind = CodecKind::kMse;
  uint64_t seed = 0;    // rotation (and QJL) seed; encoder and decoder must agree
  int rotation_rounds = 0;  // 1..4 randomized Hadamard rounds; 0 = 3 for powers of two, else 2
                            // (math/rotation.h says why)
  KernelPath kernels = KernelPath::kSimd;
};

// A query prepared for scoring against one codec's codes. Produced by prepare_query().
struct PreparedQuery {
  std::vector<float> rotated;    // [dim] Π·q
  std::vector<float> projected;  // [dim] P·Π·q for kProd; empty for kMse
  double norm_sq = 0.0;          // ‖q‖²
};

// Read-only view of n encoded vectors.
struct CodesView {
  int64_t n = 0;
  std::span<const uint8_t> codes;  // [n, code_bytes()]
  std::span<const float> norms;    // [n] ‖x‖
  std::span<const float> gammas;   // [n] γ for kProd; empty for kMse
};

// Owning container of n encoded vectors (the convenience form of encode()).
struct EncodedBatch {
  int64_t n = 0;
  std::vector<uint8_t> codes;  // [n, code_bytes()]
  std::vector<float> norms;    // [n]
  std::vector<float> gammas;   // [n] for kProd; empty for kMse
  CodesView view() const { return {n, codes, norms, gammas}; }
};

class VectorCodec {
 public:
  // Validates the configuration and builds rotation, codebook (cached) and QJL sketch.
  static Result<VectorCodec> create(const CodecConfig& config);

  const CodecConfig& config() const;
  int64_t dim() const;
  int bits() const;
  CodecKind kind() const;
  int mse_bits() const;           // bits for kMse, bits − 1 for kProd (0 = pure QJL)
  int64_t mse_code_bytes() const;  // ceil(dim·mse_bits / 8)
  int64_t sign_bytes() const;      // ceil(dim / 8) for kProd, 0 for kMse
  int64_t code_bytes() const;      // mse_code_bytes() + sign_bytes(): bytes per vector in `codes`
  // Stored bits per vector, norms and γ (32 bits each) included; per coordinate = / dim.
  double bits_per_vector() const;
  double bits_per_coordinate() const;
  // The theory: E‖u − û‖² of the mse part for a unit vector u (codebook's dim·distortion; 1 for
  // mse_bits = 0).
  double expected_unit_mse() const;

  // Encodes x: [n, dim] row-major into codes: [n, code_bytes()], norms: [n], gammas: [n] (kProd;
  // must be empty for kMse). Zero vectors encode with norm 0 (and decode to 0).
  Status encode(int64_t n, std::span<const float> x, std::span<uint8_t> codes, std::span<float> norms,
                std::span<float> gammas = {}) const;
  Result<EncodedBatch> encode(int64_t n, std::span<const float> x) const;
  // Reconstructs out: [n, dim]. kMse: ‖x‖·Πᵀc[idx] (the minimum-MSE estimate). kProd: adds the
  // QJL term γ·κ·Πᵀ·Pᵀ·sign, which makes the reconstruction unbiased (E x̃ = x) but noisier.
  Status decode(const CodesView& in, std::span<float> out) const;

  // Rotates (and for kProd projects) a query q: [dim]. O(d log d).
  Result<PreparedQuery> prepare_query(std::span<const float> q) const;
  // out[i] ≈ ⟨q, x_i⟩, i < in.n. kMse: ⟨q, x̂_i⟩ exactly (biased low by the codebook's shrinkage);
  // kProd: the unbiased estimator.
  Status inner_products(const PreparedQuery& q, const CodesView& in, std::span<float> out) const;
  // out[i] ≈ ‖q − x_i‖². kMse: ‖q − x̂_i‖² exactly (the distance to the reconstruction);
  // kProd: ‖q‖² + ‖x_i‖² − 2·(unbiased ⟨q, x_i⟩), itself unbiased.
  Status squared_l2(const PreparedQuery& q, const CodesView& in, std::span<float> out) const;

  // The pieces, for layers that build their own formats on them.
  const HadamardRotation& rotation() const;
  const Codebook* codebook() const;  // nullptr when mse_bits() == 0
  const QjlSketch* qjl() const;      // nullptr for kMse

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// ---- outlier split: two codecs over a channel split, for fractional rates ----------------------
//
// The channels in `outlier_channels` (e.g. the high-energy ones) are coded by one codec at
// bits_hi, the rest by a second codec at bits_lo, each with its own norm (and γ). E.g. d = 128,
// 64 channels at 3 bits + 64 at 2 bits = 2.5 bits per coordinate before norms.
// Layout is planar: codes = [part 0 (outliers): n × code_bytes(0)][part 1: n × code_bytes(1)],
// norms = [part 0: n][part 1: n], gammas likewise (kProd) or empty.

struct SplitCodecConfig {
  int64_t dim = 0;
  std::vector<int64_t> outlier_channels;  // distinct channels in [0, dim); >= 2 of them, and >= 2 left
  int bits_hi = 3;                        // bits of the outlier part
  int bits_lo = 2;                        // bits of the remaining channels
  CodecKind kind = CodecKind::kMse;
  uint64_t seed = 0;
  int rotation_rounds = 0;
  KernelPath kernels = KernelPath::kSimd;
};

struct PreparedSplitQuery {
  PreparedQuery part[2];  // outliers, rest
};

class SplitCodec {
 public:
  static Result<SplitCodec> create(const SplitCodecConfig& config);

  const SplitCodecConfig& config() const;
  int64_t dim() const;
  const VectorCodec& part(int i) const;              // 0: outlier channels, 1: the rest
  const std::vector<int64_t>& channels(int i) const;  // ascending channel ids of part i
  int64_t code_bytes() const;                         // per vector, both parts
  int64_t scalars_per_vector() const;                 // 2 (kMse) or 4 (kProd) floats
  double bits_per_vector() const;
  double bits_per_coordinate() const;

  // x: [n, dim]; codes: [n·code_bytes()]; norms: [2·n]; gammas: [2·n] (kProd) or empty.
  Status encode(int64_t n, std::span<const float> x, std::span<uint8_t> codes, std::span<float> norms,
                std::span<float> gammas = {}) const;
  Status decode(int64_t n, std::span<const uint8_t> codes, std::span<const float> norms,
                std::span<const float> gammas, std::span<float> out) const;
  Result<PreparedSplitQuery> prepare_query(std::span<const float> q) const;
  // Sums of the two parts' estimates (see VectorCodec).
  Status inner_products(const PreparedSplitQuery& q, int64_t n, std::span<const uint8_t> codes,
                        std::span<const float> norms, std::span<const float> gammas,
                        std::span<float> out) const;
  Status squared_l2(const PreparedSplitQuery& q, int64_t n, std::span<const uint8_t> codes,
                    std::span<const float> norms, std::span<const float> gammas, std::span<float> out) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// A split that reaches `rate_bits` per coordinate (before norms) for dim: bits_lo = floor(rate),
// bits_hi = bits_lo + 1, n_outliers = round((rate − bits_lo)·dim). Error unless 1 < rate < 8, the
// rate is not an integer, and both parts get >= 2 channels.
struct SplitPlan {
  int64_t n_outliers = 0;
  int bits_hi = 0, bits_lo = 0;
  double rate_bits = 0.0;  // the rate actually reached: (n_outliers·bits_hi + rest·bits_lo) / dim
};
Result<SplitPlan> split_plan_for_rate(int64_t dim, double rate_bits);

// The `count` channels with the largest mean square over a sample: [n, dim], ascending.
// Ties go to the lower channel id. Error on NaN/Inf, size mismatch, or count outside [1, dim].
Result<std::vector<int64_t>> choose_outlier_channels(int64_t n, int64_t dim, std::span<const float> sample,
                                                     int64_t count);

}  // namespace tq

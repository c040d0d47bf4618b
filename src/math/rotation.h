// Seeded randomized Hadamard rotation Π for any dimension d (TurboQuant step 1, DESIGN.md §1).
//
// Let P be the largest power of two <= d. Each round applies random ±1 signs and the normalized
// Walsh–Hadamard transform H_P; the rotation is `rounds` rounds with independent randomness:
//   d a power of two (P = d)   round = H·D_r.                         O(d log d) per round
//   any other d (P < d < 2P)   round = Perm_r · H_B·D_B,r · H_A·D_A,r, O(2·P log P) per round
//                              with windows A = [0, P) and B = [d−P, d) (they overlap, so every
//                              coordinate is touched) and a seeded random permutation Perm_r of
//                              all d coordinates that carries energy between rounds.
// All forms are orthogonal and deterministic in (d, seed, rounds).
//
// Non-powers of two (decision, measured in docs/CODEC.md): no bits are spent on padding and the
// exact sphere codebook of dimension d applies. Zero padding to 2^⌈log2 d⌉ would cost up to 2x the
// bits (1536 → 2048: +33%). Fixed block structures without the permutation — block-diagonal
// power-of-two blocks (1536 = 1024 + 512) or a Kronecker form Q_m ⊗ H_p (1536 = 3·512 with a random
// 3×3 orthogonal Q) — leave an input whose energy sits in one block with unequal per-block
// variances after any number of rounds (measured 1.1–1.4x the theoretical MSE), which breaks the
// single per-(d, b) codebook; the random permutation removes that.
//
// Rounds (decision, measured in docs/CODEC.md over 6 seeds of one-hot, 4-hot, outlier-channel and
// Gaussian inputs): one round is enough for dense inputs, but a one-hot input becomes the flat
// vector ±1/√d (2-bit MSE 2.2x the theory), and after two power-of-two rounds it lies on a lattice
// of spacing 2/d that interferes with 4- and 8-bit cells (1.1–1.4x the theory at d = 64, 128). Three
// rounds bring every family to within 5% at d = 64 and 1% at d >= 256. The windows form breaks the
// flatness in its first round and needs only two. So default_rotation_rounds(d) = 3 for powers of
// two, 2 otherwise. (d = 32 stays 1.4x off on sparse inputs at any round count: too few coordinates.)
//
// Hot path for kernels (weight groups, head dims): power-of-two d, rotate a float[d] in place with
// precomputed scaled signs: `sign_fwht(x, rot.scaled_signs(r), d)` per round, or inside Highway code
// tq::HWY_NAMESPACE::SignFwht from math/fwht-inl.h. No allocation, no dispatch in the loop.
#pragma once

#include <cstdint>
#include <vector>

#include "tq/status.h"

namespace tq {

inline constexpr int kMaxRotationRounds = 4;

// True when n is a power of two (n >= 1).
constexpr bool is_power_of_two(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }
// Rounds used when a caller passes rounds = 0: 3 for powers of two, 2 otherwise (see above).
constexpr int default_rotation_rounds(int64_t dim) { return is_power_of_two(dim) ? 3 : 2; }

// ---- in-place primitives (SIMD, runtime dispatch; p a power of two, 1 <= p) ---------------------

// x[i] *= s[i], then x = H_p·x with the unnormalized Walsh–Hadamard matrix (entries ±1).
// With s = ±1/sqrt(p) this is one orthogonal rotation round. x, s: [p]; must not overlap.
void sign_fwht(float* x, const float* s, int64_t p);
// x = H_p·x, then x[i] *= s[i]. The inverse of sign_fwht for s = ±1/sqrt(p).
void fwht_sign(float* x, const float* s, int64_t p);
// x = H_p·x / sqrt(p) (orthonormal, its own inverse). x: [p].
void fwht_normalized(float* x, int64_t p);

// Scalar references (oracles for tests; bitwise equal to the SIMD versions).
namespace ref {
void sign_fwht(float* x, const float* s, int64_t p);
void fwht_sign(float* x, const float* s, int64_t p);
}  // namespace ref

// ---- the rotation object -----------------------------------------------------------------------

enum class RotationForm : uint8_t { kHadamard = 1, kWindows = 2 };
const char* rotation_form_name(RotationForm f);  // "hadamard", "windows"

class HadamardRotation {
 public:
  // dim in [1, 2^30]; rounds in [1, kMaxRotationRounds], or 0 for default_rotation_rounds(dim).
  // Deterministic in (dim, seed, rounds).
  static Result<HadamardRotation> create(int64_t dim, uint64_t seed, int rounds = 0);

  int64_t dim() const { return dim_; }
  RotationForm form() const { return form_; }
  int64_t block() const { return block_; }  // P: the FWHT size, largest power of two <= dim
  int rounds() const { return rounds_; }
  uint64_t seed() const { return seed_; }

  // y = Π·x. x, y: [dim]; x == y (in place) is allowed. scratch: [dim] floats, used by the
  // windows form; nullptr = a thread-local buffer.
  void forward(const float* x, float* y, float* scratch = nullptr) const;
  // x = Πᵀ·y (exact inverse up to float rounding). Same buffer rules.
  void inverse(const float* y, float* x, float* scratch = nullptr) const;
  // Row-wise over a batch, parallel over rows. x, y: [n, dim]; in place allowed.
  void forward_batch(int64_t n, const float* x, float* y) const;
  void inverse_batch(int64_t n, const float* y, float* x) const;

  // Scalar reference of forward/inverse (tests, reference kernel paths).
  void forward_ref(const float* x, float* y) const;
  void inverse_ref(const float* y, float* x) const;

  // Round r's signs already divided by sqrt(block()): [signs_per_round()] = [dim] for kHadamard;
  // [2·block()] for kWindows (window A's, then window B's).
  int64_t signs_per_round() const { return form_ == RotationForm::kHadamard ? dim_ : 2 * block_; }
  const float* scaled_signs(int r) const { return signs_.data() + static_cast<size_t>(r) * signs_per_round(); }
  // Round r's permutation (kWindows): after the round, coordinate i takes the value at perm[i]. [dim].
  const int32_t* permutation(int r) const { return perm_.data() + static_cast<size_t>(r) * dim_; }
  // Its inverse (kWindows): inverse_permutation(r)[permutation(r)[i]] == i. [dim].
  const int32_t* inverse_permutation(int r) const { return iperm_.data() + static_cast<size_t>(r) * dim_; }

 private:
  int64_t dim_ = 0, block_ = 0;
  int rounds_ = 0;
  uint64_t seed_ = 0;
  RotationForm form_ = RotationForm::kHadamard;
  std::vector<float> signs_;     // [rounds, signs_per_round()]  ±1/sqrt(block)
  std::vector<int32_t> perm_;    // [rounds, dim]  kWindows permutations
  std::vector<int32_t> iperm_;   // [rounds, dim]  their inverses
};

// Haar-random m×m orthogonal matrix (Gaussian matrix, Gram–Schmidt in double; the QR factor with
// positive diagonal of a Gaussian matrix is exactly Haar), row-major [m, m]. Deterministic.
std::vector<double> haar_orthogonal(int64_t m, uint64_t seed);

// y = A·x for a row-major [rows, cols] matrix A (e.g. a dense Haar rotation, the ideal baseline
// in tests and reports). x: [cols], y: [rows]; must not overlap. SIMD with runtime dispatch;
// ref::matvec (double accumulation) is the oracle.
void matvec(const float* a, const float* x, int64_t rows, int64_t cols, float* y);
namespace ref {
void matvec(const float* a, const float* x, int64_t rows, int64_t cols, float* y);
}  // namespace ref

}  // namespace tq

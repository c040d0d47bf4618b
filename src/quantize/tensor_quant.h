// Quantizers of one weight matrix W [n_rows, n_cols] (output features x input features, f32,
// original basis), each measurable on its own:
//   (a) data-free TurboQuant: rotate each group, least-squares group scale, nearest code;
//   (b) GPTQ in the rotated basis (H rotated the same way), group scales set when the sweep enters
//       the group (from the error-updated weights, with the same scale search);
//   (c) closed-form learned scales: codes fixed, every row's group scales minimize
//       tr((W − Ŵ) H (W − Ŵ)ᵀ) exactly (a small SPD system per row);
// and the baselines: per-row int8 (q8), asymmetric int4 g128 by round-to-nearest (rtn4) or GPTQ
// with act-order and static groups (gptq4).
#pragma once

#include <cstdint>
#include <vector>

#include "quantize/gptq.h"
#include "quantize/tq_codec.h"
#include "tq/status.h"

namespace tq {

// A tensor in tq<bits>g<group> form: per row, per group of `group` input features, the codebook
// indices of the rotated weights and one fp16-representable scale. A fractional tensor
// (tq<bits>.5g<group>) also has its group map: the input groups marked in `wide` use the
// (bits+1)-bit codebook in every row (formats/tq_weight.h).
struct TqTensor {
  int bits = 0, group = 0;
  int64_t n_rows = 0, n_cols = 0;
  std::vector<uint8_t> codes;  // [n_rows, n_cols] codebook indices (rotated basis)
  std::vector<float> scales;   // [n_rows, n_cols / group] fp16-exact values
  std::vector<uint8_t> wide;   // [n_cols / group] 1 = bits+1 (fractional formats); empty: uniform
  int64_t n_groups() const { return n_cols / group; }
  bool fractional() const { return !wide.empty(); }
  // The width of input group g (the column group, same in every row).
  int group_bits(int64_t g) const { return !wide.empty() && wide[g] ? bits + 1 : bits; }
};

// u [n_rows, n_cols] := the codebook values c[idx] of every code (rotated basis, unscaled), each
// group from its own width's codebook.
void codebook_values(const TqTensor& t, float* u);

// Ŵ in the original basis, w_hat [n_rows, n_cols].
void dequantize(const TqTensor& t, float* w_hat);
// Ŵ in the rotated basis (s · c[idx]), w_hat [n_rows, n_cols].
void dequantize_rotated(const TqTensor& t, float* w_hat);

// Each row's groups rotated (x := R x per group), in and out [n_rows, n_cols].
void rotate_rows(const TqCodec& codec, const float* w, int64_t n_rows, int64_t n_cols, float* out);
// H [n, n] → R_b H R_bᵀ with R_b the block-diagonal of R (the Gram matrix of rotated inputs).
std::vector<double> rotate_hessian(const TqCodec& codec, const std::vector<double>& H, int64_t n);

// The group map of a fractional tensor: the half of the input groups with the largest energy is
// wide. Energy of group g: Σ_{i∈g} H_ii Σ_r W[r,i]² with a Hessian (the expected output error
// weight), Σ_{i∈g} Σ_r W[r,i]² without (the format's data-free default). n_cols / group even.
std::vector<uint8_t> tq_choose_wide_groups(const float* w, int64_t n_rows, int64_t n_cols,
                                           int group, const std::vector<double>* H);

// (a) Data-free. `wide`: the group map of a fractional tensor (empty: uniform tq<bits>).
TqTensor tq_quantize_datafree(const float* w, int64_t n_rows, int64_t n_cols, int bits, int group,
                              ScaleSearch search = ScaleSearch::kLeastSquares,
                              const std::vector<uint8_t>& wide = {});

// (b) GPTQ in the rotated basis; H [n_cols, n_cols] in the original basis. Errors: H not positive
// definite after damping.
Result<TqTensor> tq_quantize_gptq(const float* w, int64_t n_rows, int64_t n_cols,
                                  const std::vector<double>& H, int bits, int group,
                                  const GptqOptions& opt = {},
                                  ScaleSearch search = ScaleSearch::kLeastSquares,
                                  const std::vector<uint8_t>& wide = {});

// (c) Closed-form learned scales: for every row, the group scales minimizing
// (w − Q s)ᵀ (H + λI) (w − Q s) with the codes Q fixed (λ = damp · mean diag H), rounded to fp16;
// a row keeps its old scales when the rounded solution is not better. H in the original basis.
// Returns the summed tr(E H Eᵀ) before and after (rotated basis, undamped H).
struct RefitReport {
  double error_before = 0, error_after = 0;
};
RefitReport tq_refit_scales(TqTensor& t, const float* w, const std::vector<double>& H,
                            double damp = 0.01);

// ---- baselines ------------------------------------------------------------------------------

// Asymmetric int4, group 128 (the rtn4 format, formats/quant_baselines.h): per (row, group) an fp16
// scale s and an fp16 offset m, value q·s + m with q in [0, 15]; m = f16(min), s = f16((max−m)/15).
struct Int4Tensor {
  static constexpr int kGroup = 128;
  int64_t n_rows = 0, n_cols = 0;
  std::vector<uint8_t> q;     // [n_rows, n_cols] 0..15
  std::vector<float> scale;   // [n_rows, n_cols / 128] fp16-exact
  std::vector<float> offset;  // [n_rows, n_cols / 128] fp16-exact
};
void dequantize(const Int4Tensor& t, float* w_hat);
Int4Tensor rtn4_quantize(const float* w, int64_t n_rows, int64_t n_cols);
// GPTQ int4 (act-order, static groups: the group parameters come from the original weights, so
// the stored layout needs no column permutation).
Result<Int4Tensor> gptq4_quantize(const float* w, int64_t n_rows, int64_t n_cols,
                                  const std::vector<double>& H, double damp = 0.01);

}  // namespace tq

// Integer matmul kernels for the quantized weight formats of our own: TurboQuant tq<b>g<G> and
// tq<b>.5g<G> (formats/tq_weight.h; the fractional ones need their group map in WeightView::aux) and the baselines q8 / rtn4 (formats/quant_baselines.h). Internal to the
// kernels layer and its tests/benchmarks; everything else calls matmul() (kernels/matmul.h).
//
// Arithmetic (the same in the fast kernels and in ref::matmul_quant):
//  1. Activations, once per call and token: each input group of `group` values (tq: the group G;
//     rtn4: 128; q8: 32) is, for tq, rotated without normalization, u = H_G·diag(σ_G)·x_group; then
//     quantized to int8: amax = max|u|, q = nearbyint(u · (127/amax)) ∈ [−127, 127], and the group's
//     scale a = (amax/127) · (tq: 1/√G; else 1). A non-finite group gets q = 0 and a = NaN.
//  2. Per row r and group g, an exact int32 sum: tq Σ c_int[idx]·q, rtn4 Σ code·q, q8 Σ w_int8·q.
//  3. Float combination: tq y = κ·Σ_g s_g·a_g·isum_g;  rtn4 y = Σ_g (d_g·a_g·isum_g + m_g·a_g·Σq_g);
//     q8 y = d_row·Σ_g a_g·isum_g. The fast kernels sum the float terms in SIMD-lane order, the
//     reference in group order: equal to float rounding; with unit scales (every a_g = 1, κ = 1,
//     weight scales 1, offsets 0) both are exact integers and bit-identical.
// On AVX3_DL (AVX-512 VNNI + VBMI) the integer sums are vpdpbusd over unsigned weight operands
// (c_int + 128, looked up in registers with vpermb) and signed int8 activations, with the
// −128·Σq correction folded into each lane's start value. AVX3 and AVX2 run the AVX2 kernels
// (kernels/cpu/matmul_quant_avx2-inl.h: vpshufb lookups, vpmaddubsw or AVX-VNNI). Other targets
// (scalar, ARM) run a portable Highway path with the same integer sums.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/matmul.h"

namespace tq {

enum class QuantKind : uint8_t { kTq, kRtn4, kQ8 };

// A run of identically formatted group blocks, at the same place in every row.
struct QuantSegment {
  int bits = 0;                      // tq: code width; rtn4: 4; q8: 8
  int64_t n_groups = 0;              // groups (slots) in this segment
  int64_t byte_offset = 0;           // start of the segment within a row
  int64_t block_bytes = 0;           // bytes per group block (q8: group bytes)
  float kappa = 1.0f;                // tq: the codebook unit κ; else 1
  const int8_t* codebook = nullptr;  // tq: c_int [2^bits]; else null
};

// How a weight type's rows are laid out for the kernels.
struct QuantLayout {
  QuantKind kind = QuantKind::kTq;
  int group = 0;          // inputs per group (activation quantization group)
  bool rotate = false;    // tq: activation groups rotated
  int n_segments = 0;     // 1; 2 for fractional tq (b+1-bit slots first)
  QuantSegment seg[2];
  int64_t n_groups = 0;   // n_cols / group
  int64_t row_header_bytes = 0;         // q8: the f32 row scale
  const int32_t* slot_group = nullptr;  // [n_groups] input group of storage slot j; null: identity
};

// True for the types these kernels handle (tq<b>g<G>, tq<b>.5g<G>, q8, rtn4).
bool is_quant_matmul_type(TypeId type);
// The layout of w (w.type must satisfy is_quant_matmul_type; shapes are TQ_CHECKed).
QuantLayout quant_layout(const WeightView& w);

// The fast kernel (matmul table entry): y = x · Wᵀ, threads over rows.
void matmul_quant(const WeightView& w, const float* x, int64_t n_tokens, float* y);

// Several weights of these types applied to the same x (e.g. q/k/v, gate/up; equal n_cols):
// activations prepared once per distinct layout and one parallel region over all the rows, so a
// decoded token wakes the worker threads once instead of once per weight. ys[i] = x · ws[i]ᵀ,
// bit-identical to separate matmul_quant calls.
void matmul_quant_multi(std::span<const WeightView* const> ws, const float* x, int64_t n_tokens,
                        std::span<float* const> ys);

// Which kernels matmul_quant runs on this CPU now: "avx512-vnni", "avx2-vnni", "avx2" or
// "portable".
const char* matmul_quant_path();

// Rows per thread at least in matmul_quant (the thread policy; tests size matrices from it).
int64_t quant_min_rows_per_thread(const WeightView& w, int64_t n_tokens);

// Test modes of the same kernels. unit_scales: every activation group scale a_g = 1 and κ = 1, so
// with unit weight scales y is an exact integer (see above).
void matmul_quant_mode(const WeightView& w, const float* x, int64_t n_tokens, float* y,
                       bool unit_scales);

namespace ref {
// Scalar reference of the same arithmetic (group order, natural layout). Single-threaded.
void matmul_quant(const WeightView& w, const float* x, int64_t n_tokens, float* y,
                  bool unit_scales = false);
}  // namespace ref

}  // namespace tq

// Matrix multiplication over weights stored in any registered format, read in place.
//
//   y[t, r] = sum_c W[r, c] * x[t, c]     x: [n_tokens, n_cols] f32, y: [n_tokens, n_rows] f32
//
// Dispatch happens once per call, by the weight's TypeId, through the matmul kernel table
// (kernels/matmul_table.cc). A format without an entry runs the generic kernel: blocks of rows are
// dequantized with the format table's to_float into a per-thread scratch buffer (never the whole
// tensor) and multiplied in f32. Adding a fast kernel for a format = one MatmulKernel entry in a
// family function listed in kernels/matmul_families.h; nothing else to edit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "tq/types.h"

namespace tq {

// A 2-D weight matrix in place: n_rows output features, each a row of n_cols input features stored
// contiguously as row_bytes bytes in format `type` (row r starts at data + r * row_bytes).
struct WeightView {
  TypeId type = TypeId::f32;
  int64_t n_rows = 0;             // output features
  int64_t n_cols = 0;             // input features (a multiple of the format's block_elems)
  const uint8_t* data = nullptr;  // [n_rows, row_bytes]
  size_t row_bytes = 0;
  // Per-tensor side data for formats that need more than their blocks (e.g. a rotation seed or
  // precomputed signs), set when the model is bound and owned by the Model; float formats ignore it.
  uint64_t seed = 0;
  const void* aux = nullptr;

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

// A view of the f32 matrix `w` ([like.n_rows, like.n_cols], row-major, owned by the caller) with
// the shape of `like`.
inline WeightView f32_view(const WeightView& like, const float* w) {
  WeightView v = like;
  v.type = TypeId::f32;
  v.data = reinterpret_cast<const uint8_t*>(w);
  v.row_bytes = static_cast<size_t>(like.n_cols) * sizeof(float);
  v.aux = nullptr;
  return v;
}

// A kernel computes the whole product for one weight format, including its own threading
// (core/parallel.h) and any once-per-call preparation of x (e.g. rotating or quantizing the
// activations), so that this work is not repeated per row block. Kernels must make each output
// y[t, r] depend only on row r and token t (not on how rows are split over threads or tiles):
// results are then identical for any thread count and under any permutation of the rows.
using MatmulFn = void (*)(const WeightView& w, const float* x, int64_t n_tokens, float* y);

struct MatmulKernel {
  TypeId type;
  const char* name;  // e.g. "bf16 (highway)", shown by `tq bench`
  MatmulFn fn;
};

// The registered fast kernels (one entry per TypeId at most).
std::span<const MatmulKernel> matmul_kernels();
// The kernel used for `type`: its table entry, else the generic dequantize-rows kernel; nullptr
// when the format table does not know the type.
const MatmulKernel* find_matmul_kernel(TypeId type);

// y = x · Wᵀ with the fast kernel for w.type (see the top of this file). w must be a valid view of
// a type known to the format table (TQ_CHECK). x and y must not overlap.
void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y);

// Several products of the same x (e.g. q, k, v): y_i = x · W_iᵀ. When every weight has a float
// kernel, or every weight is of our quantized types (tq<b>g<G>, q8, rtn4: matmul_quant_multi), one
// parallel region covers all rows (fewer thread wake-ups per decoded token); otherwise one matmul()
// per weight. Results are identical to separate matmul() calls.
void matmul_multi(std::span<const WeightView* const> ws, const float* x, int64_t n_tokens,
                  std::span<float* const> ys);

// Generic kernel (any format with to_float): dequantizes blocks of rows into per-thread scratch.
void matmul_generic(const WeightView& w, const float* x, int64_t n_tokens, float* y);

// Scalar reference (the oracle for tests): each row dequantized with the format's to_float and
// accumulated in double. Single-threaded, slow.
void matmul_ref(const WeightView& w, const float* x, int64_t n_tokens, float* y);

// When true, matmul() runs matmul_ref for every type (a switch to rule out fast kernels when a
// result looks wrong; also TQ_KERNELS=ref in the environment at start-up).
void set_force_reference_kernels(bool on);
bool force_reference_kernels();

// ---- building blocks for kernel authors -------------------------------------------------------
// f32 products over rows held in f32, bf16 or f16 (the fast Highway kernels). Computes
// y[t * ldy + r] for r in [row_begin, row_end) and t in [0, n_tokens), single-threaded; the caller
// splits rows over threads. n_tokens == 1 runs the GEMV kernel, otherwise the blocked GEMM.
void matmul_rows_float(const WeightView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy,
                       int64_t row_begin, int64_t row_end);

}  // namespace tq

// Matmul table entries for llama.cpp's block formats (kernels/matmul_ggml.h): activation
// quantization (step 1, shared by every path), the thread policy, and the choice of kernels.
#include "kernels/matmul_ggml.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "formats/format.h"
#include "formats/ggml_int.h"
#include "kernels/cpu/matmul_ggml_x86.h"
#include "kernels/matmul_families.h"

namespace tq {

bool is_ggml_matmul_type(TypeId type) { return is_ggml_int_type(type); }

void ggml_quantize_acts(int block, const float* x, int64_t n_cols, int64_t n_tokens,
                        GgmlActs& acts) {
  TQ_CHECK((block == 32 || block == 256) && n_cols % block == 0,
           "ggml_quantize_acts: {} columns in blocks of {}", n_cols, block);
  acts.block = block;
  acts.q.resize(static_cast<size_t>(n_tokens * n_cols));
  acts.a.resize(static_cast<size_t>(n_tokens * (n_cols / block)));
  acts.sums.resize(static_cast<size_t>(n_tokens * (n_cols / 16)));
  parallel_for(
      n_tokens * (n_cols / block),
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const float* xb = x + b * block;
          int8_t* q = acts.q.data() + b * block;
          float amax = 0.0f;
          bool finite = true;
          for (int i = 0; i < block; ++i) {
            finite = finite && std::isfinite(xb[i]);
            amax = std::max(amax, std::fabs(xb[i]));
          }
          if (!finite) {
            std::fill(q, q + block, 0);
            acts.a[b] = NAN;
          } else {
            const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
            for (int i = 0; i < block; ++i) q[i] = static_cast<int8_t>(std::nearbyint(xb[i] * inv));
            acts.a[b] = amax / 127.0f;
          }
          for (int s = 0; s < block / 16; ++s) {
            int sum = 0;
            for (int i = 0; i < 16; ++i) sum += q[16 * s + i];
            acts.sums[b * (block / 16) + s] = static_cast<int16_t>(sum);
          }
        }
      },
      /*min_chunk=*/64);
}

namespace {

// Rows per thread at least: >= 1 MiB of weights per thread for decode, >= 2M multiply-adds for
// prefill (as the other quantized kernels).
int64_t min_rows_per_thread(const WeightView& w, int64_t n_tokens) {
  if (n_tokens == 1)
    return std::max<int64_t>(1, ((int64_t{1} << 20) + static_cast<int64_t>(w.row_bytes) - 1) /
                                    static_cast<int64_t>(w.row_bytes));
  const int64_t macs_per_row = w.n_cols * n_tokens;
  return std::max<int64_t>(1, ((int64_t{2} << 20) + macs_per_row - 1) / macs_per_row);
}

bool use_avx2() {
#if defined(__x86_64__) || defined(_M_X64)
  return simd_x86_avx2();
#else
  return false;
#endif
}

}  // namespace

const char* matmul_ggml_path() {
  if (!use_avx2()) return "portable";
  return simd_avx_vnni() ? "avx2-vnni" : "avx2";
}

void matmul_ggml(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  if (n_tokens <= 0 || w.n_rows <= 0) return;
  TQ_CHECK(is_ggml_int_type(w.type), "matmul_ggml: type {}", type_name(w.type));
  TQ_CHECK(w.n_cols % ggml_int_block_elems(w.type) == 0 &&
               w.row_bytes == *row_bytes(w.type, w.n_cols),
           "matmul_ggml: {} row of {} columns, {} bytes", type_name(w.type), w.n_cols, w.row_bytes);
  // The caller's buffer, reused; a reference, so that the workers read it (a lambda does not
  // capture a thread_local).
  thread_local GgmlActs tls_acts;
  GgmlActs& acts = tls_acts;
  ggml_quantize_acts(ggml_int_block_elems(w.type), x, w.n_cols, n_tokens, acts);
  const int64_t min_rows = min_rows_per_thread(w, n_tokens);
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2()) {
    x86::matmul_ggml_avx2(w, acts, n_tokens, y, min_rows, simd_avx_vnni());
    return;
  }
#endif
  // Portable: the reference rows, threaded (4-row units, as the fast kernels).
  parallel_for(
      (w.n_rows + 3) / 4,
      [&](int64_t u0, int64_t u1) {
        ref::matmul_ggml_rows(w, acts, n_tokens, y, 4 * u0, std::min(w.n_rows, 4 * u1));
      },
      std::max<int64_t>(1, (min_rows + 3) / 4));
}

std::span<const MatmulKernel> ggml_matmul_kernels() {
  static const MatmulKernel k[] = {
      {TypeId::q4_0, "q4_0 (integer, avx2 / portable)", matmul_ggml},
      {TypeId::q4_1, "q4_1 (integer, avx2 / portable)", matmul_ggml},
      {TypeId::q5_0, "q5_0 (integer, avx2 / portable)", matmul_ggml},
      {TypeId::q5_1, "q5_1 (integer, avx2 / portable)", matmul_ggml},
      {TypeId::q8_0, "q8_0 (integer, avx2 / portable)", matmul_ggml},
      {TypeId::iq4_nl, "iq4_nl (integer, avx2 / portable)", matmul_ggml},
      {TypeId::q2_K, "q2_K (integer, avx2 / portable)", matmul_ggml},
      {TypeId::q3_K, "q3_K (integer, avx2 / portable)", matmul_ggml},
      {TypeId::q4_K, "q4_K (integer, avx2 / portable)", matmul_ggml},
      {TypeId::q5_K, "q5_K (integer, avx2 / portable)", matmul_ggml},
      {TypeId::q6_K, "q6_K (integer, avx2 / portable)", matmul_ggml},
      {TypeId::iq4_xs, "iq4_xs (integer, avx2 / portable)", matmul_ggml},
  };
  return k;
}

}  // namespace tq

// Host-side launchers of the CUDA codec kernels (one .cu file per operation). Internal to
// src/kernels/cuda; include/tq/codec_cuda.h is the public interface. Every launcher is
// asynchronous on `stream` and returns the launch error (cudaSuccess when queued).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/codec_tables.h"

namespace tq::cuda {

// norms.cu — per row, Σ_j x[i·stride + j]² for j < d, summed in double in index order (the CPU
// reference's order). Writes sqrt as float to norms (if non-null) and the double sum to sum_sq (if non-null).
cudaError_t launch_row_norms(int64_t n, int d, const float* x, int64_t stride, float* norms, double* sum_sq,
                             cudaStream_t stream);

// rotate.cu — y[i] = Π·x[i] for rows of d floats (x stride d; y stride y_stride >= d, the padding
// zero-filled). If projected is non-null (kProd), also projected[i] = R·Π·x[i] (stride y_stride)
// and, if projected_sum is non-null, projected_sum[i] = Σ_j projected[i][j].
cudaError_t launch_rotate(const CodecTables& t, int64_t n, const float* x, float* y, int64_t y_stride,
                          float* projected, float* projected_sum, cudaStream_t stream);

// encode.cu — codes [n, code_bytes] (CPU layout) and gammas [n] from x [n, d] and its norms [n]
// (launch_row_norms). Rows whose norm is not finite are skipped (codes left as they were).
cudaError_t launch_encode(const CodecTables& t, int64_t n, const float* x, const float* norms, uint8_t* codes,
                          float* gammas, cudaStream_t stream);

// decode.cu — out [n, d] from codes [n, code_bytes] (CPU layout), norms [n], gammas [n] (kProd).
cudaError_t launch_decode(const CodecTables& t, int64_t n, const uint8_t* codes, const float* norms,
                          const float* gammas, float* out, cudaStream_t stream);

// layout.cu — CPU rows [n, code_bytes] ↔ the interleaved scoring layout (ScoreArgs). n_alloc: the
// multiple of 128 the interleaved arrays hold (padding vectors must be zeroed by the caller).
cudaError_t launch_interleave(const CodecTables& t, int64_t n, const uint8_t* rows, uint32_t* mse_words,
                              uint32_t* sign_words, cudaStream_t stream);
cudaError_t launch_deinterleave(const CodecTables& t, int64_t n, const uint32_t* mse_words,
                                const uint32_t* sign_words, uint8_t* rows, cudaStream_t stream);
// code_sq[i] = Σ_{j<d} c[idx_ij]² (double sum, rounded to float), from the interleaved layout.
cudaError_t launch_code_sq(const CodecTables& t, int64_t n, const uint32_t* mse_words, float* code_sq,
                           cudaStream_t stream);

// score.cu — inner products or squared L2 distances of m prepared queries against n vectors.
cudaError_t launch_score(const CodecTables& t, const ScoreArgs& a, cudaStream_t stream);

// stream_read.cu — the benchmarks' read-bandwidth yardstick: *out += Σ data[0 .. n_floats) (n_floats
// a multiple of 4, data 16-byte aligned), a kernel that does nothing but read.
cudaError_t launch_stream_read(const float* data, int64_t n_floats, float* out, cudaStream_t stream);

// Threads per block of the warp-per-row kernels, and their dynamic shared memory, for dimension
// dim_pad: as many warps (<= 4) as fit two rows each. 0 warps: the dimension does not fit.
struct RowLaunch {
  int warps = 0;
  size_t smem_bytes = 0;
};
RowLaunch row_launch(int dim_pad, size_t extra_bytes);

}  // namespace tq::cuda

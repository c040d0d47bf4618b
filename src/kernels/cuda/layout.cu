// The scoring layout of GpuCodes and the conversions from/to the CPU layout.
//
// CPU layout: one row of code_bytes per vector: mse codes (LSB-first bit stream, mse_bytes), then
// for kProd the sign bits (sign_bytes). Scoring layout: per block of 32 vectors, the mse stream as
// 32-bit little-endian words, word-major (word w of the 32 vectors is 128 contiguous bytes), padded
// with zero bits to groups·mse_bits words (groups = dim_pad/32: every group of 32 codes is exactly
// mse_bits words); the sign stream likewise in `groups` words. A warp of the scoring kernel reads
// one word of 32 vectors in one coalesced 128-byte access.

#include <cuda_runtime.h>

#include "kernels/cuda/launch.h"

namespace tq::cuda {
namespace {

__device__ __forceinline__ uint32_t word_of(const uint8_t* bytes, int n_bytes, int w) {
  uint32_t v = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const int at = 4 * w + k;
    if (at < n_bytes) v |= static_cast<uint32_t>(bytes[at]) << (8 * k);
  }
  return v;
}

// One thread per (vector, word): words [0, mse_words) then [mse_words, mse_words + groups) (signs).
__global__ void interleave_kernel(CodecTables t, int64_t n, const uint8_t* __restrict__ rows,
                                  uint32_t* __restrict__ mse_words, uint32_t* __restrict__ sign_words) {
  const int groups = t.dim_pad / 32;
  const int n_mse = groups * t.mse_bits, n_sign = t.prod ? groups : 0, per = n_mse + n_sign;
  const int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t n_blk = (n + 31) / 32;
  if (id >= n_blk * 32 * per) return;
  const int lane = static_cast<int>(id & 31);
  const int64_t rest = id >> 5;
  const int w = static_cast<int>(rest % per);
  const int64_t blk = rest / per;
  const int64_t i = blk * 32 + lane;
  const uint8_t* row = rows + i * t.code_bytes;
  if (w < n_mse) {
    mse_words[(blk * n_mse + w) * 32 + lane] = i < n ? word_of(row, t.mse_bytes, w) : 0u;
  } else {
    const int g = w - n_mse;
    sign_words[(blk * n_sign + g) * 32 + lane] = i < n ? word_of(row + t.mse_bytes, t.sign_bytes, g) : 0u;
  }
}

// One thread per (vector, byte of the CPU row).
__global__ void deinterleave_kernel(CodecTables t, int64_t n, const uint32_t* __restrict__ mse_words,
                                    const uint32_t* __restrict__ sign_words, uint8_t* __restrict__ rows) {
  const int groups = t.dim_pad / 32;
  const int n_mse = groups * t.mse_bits, n_sign = t.prod ? groups : 0;
  const int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (id >= n * t.code_bytes) return;
  const int64_t i = id / t.code_bytes;
  const int k = static_cast<int>(id % t.code_bytes);
  const int64_t blk = i >> 5;
  const int lane = static_cast<int>(i & 31);
  uint32_t word;
  int byte;
  if (k < t.mse_bytes) {
    word = mse_words[(blk * n_mse + k / 4) * 32 + lane];
    byte = k % 4;
  } else {
    const int ks = k - t.mse_bytes;
    word = sign_words[(blk * n_sign + ks / 4) * 32 + lane];
    byte = ks % 4;
  }
  rows[id] = static_cast<uint8_t>(word >> (8 * byte));
}

// One thread per vector: Σ_{j<d} c[idx_j]², double sum.
__global__ void code_sq_kernel(CodecTables t, int64_t n, const uint32_t* __restrict__ mse_words,
                               float* __restrict__ code_sq) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int groups = t.dim_pad / 32, bits = t.mse_bits, n_mse = groups * bits;
  const uint32_t* w = mse_words + (i >> 5) * n_mse * 32 + (i & 31);
  const uint32_t mask = (1u << bits) - 1u;
  double s = 0.0;
  for (int j = 0; j < t.dim; ++j) {
    const int bit = j * bits, wi = bit >> 5, off = bit & 31;
    uint32_t v = w[wi * 32] >> off;
    if (off + bits > 32) v |= w[(wi + 1) * 32] << (32 - off);
    const double c = t.centroids[v & mask];
    s = fma(c, c, s);
  }
  code_sq[i] = static_cast<float>(s);
}

unsigned blocks_for(int64_t threads, int per_block) {
  return static_cast<unsigned>((threads + per_block - 1) / per_block);
}

}  // namespace

cudaError_t launch_interleave(const CodecTables& t, int64_t n, const uint8_t* rows, uint32_t* mse_words,
                              uint32_t* sign_words, cudaStream_t stream) {
  const int groups = t.dim_pad / 32;
  const int64_t per = groups * t.mse_bits + (t.prod ? groups : 0);
  const int64_t total = (n + 31) / 32 * 32 * per;
  if (total <= 0) return cudaSuccess;
  interleave_kernel<<<blocks_for(total, 256), 256, 0, stream>>>(t, n, rows, mse_words, sign_words);
  return cudaGetLastError();
}

cudaError_t launch_deinterleave(const CodecTables& t, int64_t n, const uint32_t* mse_words,
                                const uint32_t* sign_words, uint8_t* rows, cudaStream_t stream) {
  const int64_t total = n * t.code_bytes;
  if (total <= 0) return cudaSuccess;
  deinterleave_kernel<<<blocks_for(total, 256), 256, 0, stream>>>(t, n, mse_words, sign_words, rows);
  return cudaGetLastError();
}

cudaError_t launch_code_sq(const CodecTables& t, int64_t n, const uint32_t* mse_words, float* code_sq,
                           cudaStream_t stream) {
  if (n <= 0 || t.mse_bits == 0) return cudaSuccess;
  code_sq_kernel<<<blocks_for(n, 128), 128, 0, stream>>>(t, n, mse_words, code_sq);
  return cudaGetLastError();
}

}  // namespace tq::cuda

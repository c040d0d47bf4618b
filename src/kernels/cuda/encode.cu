// Encode: rotate, nearest centroid, pack (and for kProd: residual, γ, QJL signs). One warp per
// vector, the row in shared memory. Bit for bit the CPU reference path of VectorCodec::encode:
//   v_j = y_j·(1/‖x‖)          __fmul_rn, with 1/‖x‖ from __fdiv_rn (IEEE division, as the CPU)
//   idx_j = #{boundaries < v_j}  branchless binary search (strict <, as ref_quantize)
//   r_j = v_j − c[idx_j]       __fsub_rn
//   γ = sqrt(Σ_j r_j²)         double, index order (all lanes run the same serial sum)
//   sign bit j = (R·r)_j >= 0
// The norms come from launch_row_norms (norms.cu), already in the reference's summation order.

#include <cuda_runtime.h>

#include "kernels/cuda/row_kernels.cuh"

namespace tq::cuda {
namespace {

constexpr int kTableFloats = 512;  // [256] boundaries (+inf padded) + [256] centroids

template <int E>
__global__ void encode_kernel(CodecTables t, int64_t n, const float* __restrict__ x, const float* __restrict__ norms,
                              uint8_t* __restrict__ codes, float* __restrict__ gammas) {
  extern __shared__ float smem[];
  float* s_bound = smem;        // [2^mse_bits]
  float* s_cent = smem + 256;   // [2^mse_bits]
  float* rows = smem + kTableFloats;
  const int levels = t.mse_bits > 0 ? 1 << t.mse_bits : 0;
  for (int k = threadIdx.x; k < levels; k += blockDim.x) {
    s_bound[k] = t.boundaries[k];
    s_cent[k] = t.centroids[k];
  }
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + warp;
  if (i >= n) return;
  const int d = t.dim;
  float* a = rows + static_cast<size_t>(warp) * 2 * t.dim_pad;
  float* b = a + t.dim_pad;
  const float* xi = x + i * d;
  for (int j = lane; j < d; j += 32) a[j] = xi[j];
  __syncwarp();
  float* y = dev::rotate_forward<E>(t.rot, a, b, lane);
  float* other = y == a ? b : a;
  const float norm = norms[i];
  if (!isfinite(norm)) return;  // the host reports the bad row
  const float inv = norm > 0.0f ? __fdiv_rn(1.0f, norm) : 0.0f;
  uint8_t* row = codes + i * t.code_bytes;
  if (t.mse_bits > 0) {
    uint8_t* idx = reinterpret_cast<uint8_t*>(other);
    for (int j = lane; j < d; j += 32) {
      const float v = __fmul_rn(y[j], inv);
      int pos = 0;
      for (int step = levels >> 1; step >= 1; step >>= 1)
        if (s_bound[pos + step - 1] < v) pos += step;
      idx[j] = static_cast<uint8_t>(pos);
      if (t.prod) y[j] = __fsub_rn(v, s_cent[pos]);
    }
    __syncwarp();
    for (int k = lane; k < t.mse_bytes; k += 32) row[k] = dev::packed_byte(idx, d, t.mse_bits, k);
  } else {
    for (int j = lane; j < d; j += 32) y[j] = __fmul_rn(y[j], inv);
  }
  if (!t.prod) return;
  __syncwarp();
  double g = 0.0;
  for (int j = 0; j < d; ++j) {
    const double r = y[j];
    g = fma(r, r, g);
  }
  if (lane == 0) gammas[i] = static_cast<float>(sqrt(g));
  __syncwarp();  // idx (in `other`) fully packed and y read before the projection reuses them
  const float* p = dev::rotate_forward<E>(t.qjl, y, other, lane);
  uint8_t* sign_row = row + t.mse_bytes;
  for (int k = lane; k < t.sign_bytes; k += 32) {
    unsigned byte = 0;
    for (int u = 0; u < 8; ++u) {
      const int j = 8 * k + u;
      if (j < d && p[j] >= 0.0f) byte |= 1u << u;
    }
    sign_row[k] = static_cast<uint8_t>(byte);
  }
}

}  // namespace

cudaError_t launch_encode(const CodecTables& t, int64_t n, const float* x, const float* norms, uint8_t* codes,
                          float* gammas, cudaStream_t stream) {
  return with_rotation_regs(t.rot.block, [&](auto regs) {
    return launch_rows(encode_kernel<decltype(regs)::value>, t.dim_pad, kTableFloats * sizeof(float), n, stream, t, n,
                       x, norms, codes, gammas);
  });
}

}  // namespace tq::cuda

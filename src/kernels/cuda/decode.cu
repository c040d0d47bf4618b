// Decode: dequantize (and for kProd add the QJL term), rotate back. One warp per vector. Bit for
// bit the CPU reference path of VectorCodec::decode:
//   kMse:  y_j = c[idx_j]·‖x‖                            then x = Πᵀ·y
//   kProd: z_j = ±1 from the sign bits, p = Rᵀ·z, w = (‖x‖·γ)·κ,
//          y_j = c[idx_j]·‖x‖ + w·p_j (0 + w·p_j without mse bits), then x = Πᵀ·y

#include <cuda_runtime.h>

#include "kernels/cuda/row_kernels.cuh"

namespace tq::cuda {
namespace {

constexpr int kTableFloats = 256;  // centroids

template <int E>
__global__ void decode_kernel(CodecTables t, int64_t n, const uint8_t* __restrict__ codes,
                              const float* __restrict__ norms, const float* __restrict__ gammas,
                              float* __restrict__ out) {
  extern __shared__ float smem[];
  float* s_cent = smem;
  float* rows = smem + kTableFloats;
  const int levels = t.mse_bits > 0 ? 1 << t.mse_bits : 0;
  for (int k = threadIdx.x; k < levels; k += blockDim.x) s_cent[k] = t.centroids[k];
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + warp;
  if (i >= n) return;
  const int d = t.dim;
  float* a = rows + static_cast<size_t>(warp) * 2 * t.dim_pad;
  float* b = a + t.dim_pad;
  const uint8_t* row = codes + i * t.code_bytes;
  const float norm = norms[i];
  float* y = a;
  if (t.prod) {
    const uint8_t* sg = row + t.mse_bytes;
    for (int j = lane; j < d; j += 32) a[j] = ((sg[j >> 3] >> (j & 7)) & 1) ? 1.0f : -1.0f;
    __syncwarp();
    y = dev::rotate_inverse<E>(t.qjl, a, b, lane);
    const float w = __fmul_rn(__fmul_rn(norm, gammas[i]), t.qjl_scale);
    for (int j = lane; j < d; j += 32) {
      const float base = t.mse_bits > 0 ? __fmul_rn(s_cent[dev::code_at(row, t.mse_bytes, j, t.mse_bits)], norm) : 0.0f;
      y[j] = __fadd_rn(base, __fmul_rn(w, y[j]));
    }
  } else {
    for (int j = lane; j < d; j += 32) a[j] = __fmul_rn(s_cent[dev::code_at(row, t.mse_bytes, j, t.mse_bits)], norm);
  }
  __syncwarp();
  const float* o = dev::rotate_inverse<E>(t.rot, y, y == a ? b : a, lane);
  float* oi = out + i * d;
  for (int j = lane; j < d; j += 32) oi[j] = o[j];
}

}  // namespace

cudaError_t launch_decode(const CodecTables& t, int64_t n, const uint8_t* codes, const float* norms,
                          const float* gammas, float* out, cudaStream_t stream) {
  return with_rotation_regs(t.rot.block, [&](auto regs) {
    return launch_rows(decode_kernel<decltype(regs)::value>, t.dim_pad, kTableFloats * sizeof(float), n, stream, t, n,
                       codes, norms, gammas, out);
  });
}

}  // namespace tq::cuda

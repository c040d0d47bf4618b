// Randomized Hadamard rotation of a batch of rows (and, for prepared kProd queries, the QJL
// projection of the rotated rows): one warp per row, the row in shared memory, bit for bit
// HadamardRotation::forward_ref (warp_rotation.cuh says why).

#include <cuda_runtime.h>

#include "kernels/cuda/row_kernels.cuh"

namespace tq::cuda {
namespace {

template <int E>
__global__ void rotate_kernel(CodecTables t, int64_t n, const float* __restrict__ x, float* __restrict__ y,
                              int64_t y_stride, float* __restrict__ projected, float* __restrict__ projected_sum) {
  extern __shared__ float smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + warp;
  if (i >= n) return;
  const int d = t.dim;
  float* a = smem + static_cast<size_t>(warp) * 2 * t.dim_pad;
  float* b = a + t.dim_pad;
  const float* xi = x + i * d;
  for (int j = lane; j < d; j += 32) a[j] = xi[j];
  __syncwarp();
  float* r = dev::rotate_forward<E>(t.rot, a, b, lane);
  float* yi = y + i * y_stride;
  for (int j = lane; j < y_stride; j += 32) yi[j] = j < d ? r[j] : 0.0f;
  if (!projected) return;
  const float* p = dev::rotate_forward<E>(t.qjl, r, r == a ? b : a, lane);
  float* pi = projected + i * y_stride;
  float sum = 0.0f;
  for (int j = lane; j < y_stride; j += 32) {
    const float v = j < d ? p[j] : 0.0f;
    pi[j] = v;
    sum += v;
  }
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(dev::kFullMask, sum, o);
  if (projected_sum && lane == 0) projected_sum[i] = sum;
}

}  // namespace

cudaError_t launch_rotate(const CodecTables& t, int64_t n, const float* x, float* y, int64_t y_stride,
                          float* projected, float* projected_sum, cudaStream_t stream) {
  return with_rotation_regs(t.rot.block, [&](auto regs) {
    return launch_rows(rotate_kernel<decltype(regs)::value>, t.dim_pad, 0, n, stream, t, n, x, y, y_stride, projected,
                       projected_sum);
  });
}

}  // namespace tq::cuda

// Row norms in double, summed in index order: one thread per row, so the rounding matches the CPU
// reference (ref sum_squares: s += double(x_j)·x_j for j = 0, 1, ...) bit for bit. The product of
// two floats is exact in double, so fma(x, x, s) rounds exactly as s + x·x does.

#include <cuda_runtime.h>

#include "kernels/cuda/launch.h"

namespace tq::cuda {
namespace {

__global__ void row_norms_kernel(int64_t n, int d, const float* __restrict__ x, int64_t stride,
                                 float* __restrict__ norms, double* __restrict__ sum_sq) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float* row = x + i * stride;
  double s = 0.0;
  if ((d & 3) == 0 && (stride & 3) == 0 && (reinterpret_cast<uintptr_t>(x) & 15) == 0) {
    const float4* row4 = reinterpret_cast<const float4*>(row);
    for (int j = 0; j < d / 4; ++j) {
      const float4 v = __ldg(row4 + j);
      s = fma(static_cast<double>(v.x), static_cast<double>(v.x), s);
      s = fma(static_cast<double>(v.y), static_cast<double>(v.y), s);
      s = fma(static_cast<double>(v.z), static_cast<double>(v.z), s);
      s = fma(static_cast<double>(v.w), static_cast<double>(v.w), s);
    }
  } else {
    for (int j = 0; j < d; ++j) {
      const double v = __ldg(row + j);
      s = fma(v, v, s);
    }
  }
  if (norms) norms[i] = static_cast<float>(sqrt(s));
  if (sum_sq) sum_sq[i] = s;
}

}  // namespace

cudaError_t launch_row_norms(int64_t n, int d, const float* x, int64_t stride, float* norms, double* sum_sq,
                             cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  constexpr int kThreads = 128;
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  row_norms_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(n, d, x, stride, norms, sum_sq);
  return cudaGetLastError();
}

}  // namespace tq::cuda

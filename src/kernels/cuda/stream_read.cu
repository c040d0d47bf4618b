// The read-bandwidth yardstick of the GPU benchmarks (bench/bench_codec_cuda.cc): sums a buffer
// with 16-byte loads, a grid-stride loop and one atomic add per block, so the kernel does nothing
// but read. Not part of the codec.

#include <cuda_runtime.h>

#include "kernels/cuda/launch.h"

namespace tq::cuda {
namespace {

__global__ void stream_read_kernel(const float4* __restrict__ p, int64_t n4, float* out) {
  float s = 0.0f;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float4 v = __ldg(p + i);
    s += (v.x + v.y) + (v.z + v.w);
  }
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  __shared__ float part[32];
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.0f;
    for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) t += part[w];
    atomicAdd(out, t);
  }
}

}  // namespace

cudaError_t launch_stream_read(const float* data, int64_t n_floats, float* out, cudaStream_t stream) {
  int device = 0, sms = 132;
  if (cudaGetDevice(&device) == cudaSuccess) cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  stream_read_kernel<<<sms * 8, 256, 0, stream>>>(reinterpret_cast<const float4*>(data), n_floats / 4, out);
  return cudaGetLastError();
}

}  // namespace tq::cuda

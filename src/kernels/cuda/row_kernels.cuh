// Host side of the warp-per-row kernels (rotate.cu, encode.cu, decode.cu): one launcher and one
// dispatch over the rotation window's register count, instead of a copy of each in every file.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/warp_rotation.cuh"

namespace tq::cuda {

// Calls launch(std::integral_constant<int, E>{}) with E = dev::regs_for_block(block): the kernel
// instantiation whose register window fits the rotation's power-of-two block.
template <class F>
cudaError_t with_rotation_regs(int block, F&& launch) {
  switch (dev::regs_for_block(block)) {
    case 1: return launch(std::integral_constant<int, 1>{});
    case 2: return launch(std::integral_constant<int, 2>{});
    case 4: return launch(std::integral_constant<int, 4>{});
    case 8: return launch(std::integral_constant<int, 8>{});
    case 16: return launch(std::integral_constant<int, 16>{});
    case 32: return launch(std::integral_constant<int, 32>{});
    case 64: return launch(std::integral_constant<int, 64>{});
    default: return cudaErrorInvalidValue;
  }
}

// Launches `kernel` over n rows, one warp per row: row_launch's warps per block and dynamic shared
// memory (table_bytes, then two rows of dim_pad floats per warp), opting in above the default
// 48 KiB. Returns the launch error; cudaErrorInvalidValue when two rows do not fit.
template <class... Params, class... Args>
cudaError_t launch_rows(void (*kernel)(Params...), int dim_pad, size_t table_bytes, int64_t n, cudaStream_t stream,
                        Args&&... args) {
  if (n <= 0) return cudaSuccess;
  const RowLaunch l = row_launch(dim_pad, table_bytes);
  if (l.warps == 0) return cudaErrorInvalidValue;
  if (l.smem_bytes > 48 * 1024) {
    const cudaError_t e =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(l.smem_bytes));
    if (e != cudaSuccess) return e;
  }
  const int64_t blocks = (n + l.warps - 1) / l.warps;
  kernel<<<static_cast<unsigned>(blocks), 32 * l.warps, l.smem_bytes, stream>>>(std::forward<Args>(args)...);
  return cudaGetLastError();
}

}  // namespace tq::cuda

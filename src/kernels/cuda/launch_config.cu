// Launch shapes shared by the warp-per-row kernels.

#include <algorithm>
#include <cuda_runtime.h>

#include "kernels/cuda/launch.h"

namespace tq::cuda {

RowLaunch row_launch(int dim_pad, size_t extra_bytes) {
  int device = 0, max_smem = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error; the caller's launch reports the real problem
    max_smem = 48 * 1024;
  }
  const size_t per_warp = 2 * sizeof(float) * static_cast<size_t>(dim_pad);  // two rows per warp
  RowLaunch l;
  if (static_cast<size_t>(max_smem) < extra_bytes + per_warp) return l;
  l.warps = static_cast<int>(std::min<size_t>(4, (max_smem - extra_bytes) / per_warp));
  l.smem_bytes = extra_bytes + per_warp * l.warps;
  return l;
}

}  // namespace tq::cuda

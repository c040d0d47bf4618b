// Host-side CUDA helpers for src/kernels/cuda: errors as Status, an owning device buffer, the
// current-device guard, argument checks worded as the CPU codec's. Internal.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>

#include "tq/status.h"

namespace tq::cuda {

inline Status cuda_error(cudaError_t e, const char* what) {
  return Status(e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver ? StatusCode::kUnsupported
                                                                            : StatusCode::kInternal,
                fmt::format("CUDA {}: {} ({})", what, cudaGetErrorString(e), cudaGetErrorName(e)));
}

#define TQ_CUDA_RETURN_IF_ERROR(expr, what)                 \
  do {                                                      \
    const cudaError_t _tq_cuda_e = (expr);                  \
    if (_tq_cuda_e != cudaSuccess) {                        \
      cudaGetLastError(); /* clear a non-sticky error */    \
      return ::tq::cuda::cuda_error(_tq_cuda_e, what);      \
    }                                                       \
  } while (0)

inline cudaStream_t stream_of(void* stream) {
  return stream ? static_cast<cudaStream_t>(stream) : cudaStreamPerThread;
}

// Makes `device` current for the scope; restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    ok_ = cudaSetDevice(device) == cudaSuccess;
  }
  ~DeviceGuard() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  Status status(int device) const {
    if (ok_) return ok_status();
    const cudaError_t e = cudaGetLastError();
    return cuda_error(e == cudaSuccess ? cudaErrorInvalidDevice : e, fmt::format("set device {}", device).c_str());
  }

 private:
  int previous_ = -1;
  bool ok_ = false;
};

// cudaMalloc'd array of `count` T on the device current at allocation; freed on destruction.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  static Result<DeviceBuffer> alloc(int64_t count, const char* what) {
    DeviceBuffer b;
    if (count <= 0) return b;
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, static_cast<size_t>(count) * sizeof(T));
    if (e != cudaSuccess) {
      cudaGetLastError();
      return Status(StatusCode::kInternal,
                    fmt::format("CUDA: cannot allocate {} bytes for {}: {}", count * static_cast<int64_t>(sizeof(T)),
                                what, cudaGetErrorString(e)));
    }
    cudaGetDevice(&b.device_);
    b.ptr_ = static_cast<T*>(p);
    b.count_ = count;
    return b;
  }
  // Allocates and copies host data in (synchronously).
  static Result<DeviceBuffer> from_host(std::span<const T> host, const char* what) {
    TQ_ASSIGN_OR_RETURN(DeviceBuffer b, alloc(static_cast<int64_t>(host.size()), what));
    if (!host.empty())
      TQ_CUDA_RETURN_IF_ERROR(cudaMemcpy(b.ptr_, host.data(), host.size_bytes(), cudaMemcpyHostToDevice), what);
    return b;
  }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
      device_ = o.device_;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return ptr_; }
  int64_t size() const { return count_; }
  int64_t bytes() const { return count_ * static_cast<int64_t>(sizeof(T)); }

 private:
  void reset() {
    if (!ptr_) return;
    DeviceGuard g(device_);
    cudaFree(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }
  T* ptr_ = nullptr;
  int64_t count_ = 0;
  int device_ = 0;
};

// Argument checks with the CPU codec's wording (formats/turboquant_codec.cc).
inline Status check_rows(const std::string& what, int64_t n, int64_t row_elems, size_t have, const char* unit) {
  if (n < 0) return invalid_argument("{}: n must be >= 0, got {}", what, n);
  if (row_elems > 0 && n > std::numeric_limits<int64_t>::max() / row_elems)
    return invalid_argument("{}: n = {} rows of {} {} overflow", what, n, row_elems, unit);
  const int64_t need = n * row_elems;
  if (static_cast<int64_t>(have) != need)
    return invalid_argument("{}: buffer has {} {}, expected {} ({} rows x {})", what, have, unit, need, n, row_elems);
  return ok_status();
}

// Rows per transfer chunk of the host forms: about 256 MB of `row_bytes` rows, at least 1.
inline int64_t chunk_rows(int64_t row_bytes) {
  return std::max<int64_t>(1, (int64_t{256} << 20) / std::max<int64_t>(1, row_bytes));
}

}  // namespace tq::cuda

// CUDA backend of the TurboQuant vector codec (include/tq/codec.h), built with -DTQ_CUDA=ON
// (library tq_cuda; this header is only usable when linking it). docs/CUDA.md has the design, the
// device layout and the measured numbers.
//
// What it computes, and how close to the CPU codec (tests/kernels/cuda/, label `cuda`):
//   rotate, encode, decode   bit for bit the CPU codec's reference path (KernelPath::kReference):
//                            same rotation butterflies in the same order, no FMA contraction, norms
//                            and γ summed in double in index order. Codes, norms, γ and decoded
//                            floats are identical bytes.
//   inner_products,          the same estimators as VectorCodec::inner_products / squared_l2 with
//   squared_l2               float accumulation in another order: each score is within
//                            3·(d + 4)·2⁻²⁴·Σ|terms| of the CPU's (float summation error bounds).
//
// Two forms of each operation:
//   host spans  (encode, decode, rotate, GpuCodes::upload / inner_products ...): copy in, run, copy
//               out, wait; the same argument checks and error messages as VectorCodec (sizes,
//               NaN/Inf). Thread-safe: each host thread works on its own stream.
//   *_device    device pointers (cudaMalloc'd on the codec's device) and a stream (a cudaStream_t
//               passed as void*; nullptr = the calling thread's default stream): asynchronous,
//               nothing copied, sizes trusted, values not checked (a NaN/Inf row encodes with a
//               non-finite norm). Returned Status reports launch errors only; errors of the work
//               itself surface at the caller's next synchronization.
//
// Limits: dim <= kMaxDim (shared memory holds two rows per warp); kMse and kProd, bits 1..8,
// rotation rounds 1..4, as the CPU codec. Every CUDA error becomes a Status (kInternal, or
// kUnsupported when there is no device); nothing aborts.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "tq/codec.h"
#include "tq/status.h"

namespace tq::cuda {

inline constexpr int64_t kMaxDim = 16384;

struct DeviceInfo {
  int device = 0;
  std::string name;                 // e.g. "NVIDIA H200"
  int sm_major = 0, sm_minor = 0;   // compute capability
  int multiprocessors = 0;
  int64_t memory_bytes = 0;         // global memory
  int64_t l2_bytes = 0;
  double peak_bandwidth_gbs = 0.0;  // 2 × memory clock × bus width: the data-sheet figure
  int driver_version = 0, runtime_version = 0;  // e.g. 13000 = 13.0
};

// Number of CUDA devices; 0 (not an error) when there is no driver or no device.
int device_count();
// Properties of one device. Error: no such device.
Result<DeviceInfo> device_info(int device = 0);

namespace detail {
struct GpuCodecAccess;  // internal: device tables for src/kernels/cuda and benchmarks
}

// A VectorCodec's rotation, codebook and QJL tables on one device. Immutable; cheap to copy (shared).
class GpuCodec {
 public:
  // Uploads the tables. Errors: no device / bad device index, dim > kMaxDim, CUDA errors.
  static Result<GpuCodec> create(const VectorCodec& codec, int device = 0);

  const VectorCodec& codec() const;
  int device() const;

  // y = Π·x row by row (VectorCodec::rotation().forward). x, y: [n, dim]; x == y allowed (host form).
  Status rotate(int64_t n, std::span<const float> x, std::span<float> y) const;
  // VectorCodec::encode: codes [n, code_bytes()] in the CPU layout, norms [n], gammas [n] (kProd;
  // empty for kMse). Error on NaN/Inf input with the CPU codec's message; nothing else written then.
  Status encode(int64_t n, std::span<const float> x, std::span<uint8_t> codes, std::span<float> norms,
                std::span<float> gammas = {}) const;
  Result<EncodedBatch> encode(int64_t n, std::span<const float> x) const;
  // VectorCodec::decode. out: [in.n, dim].
  Status decode(const CodesView& in, std::span<float> out) const;

  // Device-pointer forms (see the header comment). Buffers as in the host forms.
  Status rotate_device(int64_t n, const float* x, float* y, void* stream = nullptr) const;
  Status encode_device(int64_t n, const float* x, uint8_t* codes, float* norms, float* gammas,
                       void* stream = nullptr) const;
  Status decode_device(int64_t n, const uint8_t* codes, const float* norms, const float* gammas, float* out,
                       void* stream = nullptr) const;

 private:
  friend struct detail::GpuCodecAccess;
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// n encoded vectors resident on the device, in a layout for scoring (docs/CUDA.md: 32 vectors
// interleaved word by word, so one warp reads 32 vectors' codes in one 128-byte access). Upload
// once, score many queries. Immutable after creation; movable, not copyable.
class GpuCodes {
 public:
  // From host codes in the CPU layout (validated as VectorCodec::decode does).
  static Result<GpuCodes> upload(const GpuCodec& codec, const CodesView& codes);
  // Encodes x: [n, dim] (host) on the GPU; same codes as GpuCodec::encode.
  static Result<GpuCodes> encode(const GpuCodec& codec, int64_t n, std::span<const float> x);
  // The same from device memory (values not checked; synchronizes `stream` before returning).
  static Result<GpuCodes> encode_device(const GpuCodec& codec, int64_t n, const float* x, void* stream = nullptr);

  GpuCodes(GpuCodes&&) noexcept;
  GpuCodes& operator=(GpuCodes&&) noexcept;
  ~GpuCodes();

  const GpuCodec& codec() const;
  int64_t size() const;          // n
  int64_t device_bytes() const;  // device memory held (codes, norms, γ, per-vector ‖ĉ‖²)
  // Back to the CPU layout (what VectorCodec::encode would have written).
  Result<EncodedBatch> download() const;

  // out[k·n + i] ≈ ⟨q_k, x_i⟩ (VectorCodec::inner_products) for queries: [m, dim] row-major,
  // out: [m, n]. Errors: sizes, NaN/Inf in a query (message as prepare_query's).
  Status inner_products(int64_t m, std::span<const float> queries, std::span<float> out) const;
  // out[k·n + i] ≈ ‖q_k − x_i‖² (VectorCodec::squared_l2).
  Status squared_l2(int64_t m, std::span<const float> queries, std::span<float> out) const;
  // Device-pointer forms: queries [m, dim], out [m, n] on the device.
  Status inner_products_device(int64_t m, const float* queries, float* out, void* stream = nullptr) const;
  Status squared_l2_device(int64_t m, const float* queries, float* out, void* stream = nullptr) const;

  struct Impl;  // internal (src/kernels/cuda/codes_cuda.cc)

 private:
  explicit GpuCodes(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tq::cuda

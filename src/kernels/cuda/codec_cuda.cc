// GpuCodec (include/tq/codec_cuda.h): device queries, the codec tables on the device, and the
// rotate / encode / decode operations in host and device-pointer forms.

#include <cuda_runtime_api.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cuda/cuda_util.h"
#include "kernels/cuda/gpu_codec_access.h"
#include "kernels/cuda/launch.h"
#include "math/lloyd_max.h"
#include "math/qjl.h"
#include "math/rotation.h"
#include "tq/codec_cuda.h"

namespace tq::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

Result<DeviceInfo> device_info(int device) {
  const int n = device_count();
  if (n == 0) return unsupported("no CUDA device (or no driver) on this machine");
  if (device < 0 || device >= n) return invalid_argument("CUDA device {} does not exist ({} devices)", device, n);
  cudaDeviceProp p{};
  TQ_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&p, device), "get device properties");
  DeviceInfo info;
  info.device = device;
  info.name = p.name;
  info.sm_major = p.major;
  info.sm_minor = p.minor;
  info.multiprocessors = p.multiProcessorCount;
  info.memory_bytes = static_cast<int64_t>(p.totalGlobalMem);
  info.l2_bytes = p.l2CacheSize;
  int clock_khz = 0, bus_bits = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device) == cudaSuccess &&
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) == cudaSuccess)
    info.peak_bandwidth_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;  // double data rate
  cudaGetLastError();
  cudaDriverGetVersion(&info.driver_version);
  cudaRuntimeGetVersion(&info.runtime_version);
  return info;
}

struct GpuCodec::Impl {
  VectorCodec codec;
  int device = 0;
  CodecTables tables;
  DeviceBuffer<float> rot_signs, qjl_signs, centroids, boundaries;
  DeviceBuffer<int32_t> rot_perm, rot_iperm, qjl_perm, qjl_iperm;
};

const CodecTables& detail::GpuCodecAccess::tables(const GpuCodec& codec) { return codec.impl_->tables; }

namespace {

Status upload_rotation(const HadamardRotation& r, RotationTables* t, DeviceBuffer<float>* signs,
                       DeviceBuffer<int32_t>* perm, DeviceBuffer<int32_t>* iperm) {
  t->dim = static_cast<int32_t>(r.dim());
  t->block = static_cast<int32_t>(r.block());
  t->rounds = r.rounds();
  t->windows = r.form() == RotationForm::kWindows ? 1 : 0;
  t->signs_per_round = static_cast<int32_t>(r.signs_per_round());
  const size_t n_signs = static_cast<size_t>(r.rounds()) * r.signs_per_round();
  TQ_ASSIGN_OR_RETURN(*signs, DeviceBuffer<float>::from_host({r.scaled_signs(0), n_signs}, "rotation signs"));
  t->signs = signs->get();
  if (t->windows) {
    const size_t n_perm = static_cast<size_t>(r.rounds()) * r.dim();
    TQ_ASSIGN_OR_RETURN(*perm, DeviceBuffer<int32_t>::from_host({r.permutation(0), n_perm}, "rotation permutations"));
    TQ_ASSIGN_OR_RETURN(*iperm,
                        DeviceBuffer<int32_t>::from_host({r.inverse_permutation(0), n_perm}, "rotation permutations"));
    t->perm = perm->get();
    t->iperm = iperm->get();
  }
  return ok_status();
}

}  // namespace

Result<GpuCodec> GpuCodec::create(const VectorCodec& codec, int device) {
  TQ_ASSIGN_OR_RETURN(DeviceInfo info, device_info(device));
  (void)info;
  const int64_t d = codec.dim();
  if (d > kMaxDim) return unsupported("CUDA codec: dimension {} is above the backend's maximum {}", d, kMaxDim);
  DeviceGuard guard(device);
  TQ_RETURN_IF_ERROR(guard.status(device));
  auto impl = std::make_shared<Impl>();
  impl->codec = codec;
  impl->device = device;
  CodecTables& t = impl->tables;
  t.dim = static_cast<int32_t>(d);
  t.dim_pad = static_cast<int32_t>((d + 31) / 32 * 32);
  t.mse_bits = codec.mse_bits();
  t.prod = codec.kind() == CodecKind::kProd ? 1 : 0;
  t.mse_bytes = static_cast<int32_t>(codec.mse_code_bytes());
  t.sign_bytes = static_cast<int32_t>(codec.sign_bytes());
  t.code_bytes = static_cast<int32_t>(codec.code_bytes());
  if (row_launch(t.dim_pad, 512 * sizeof(float)).warps == 0)
    return unsupported("CUDA codec: two rows of dimension {} do not fit in one block's shared memory", d);
  TQ_RETURN_IF_ERROR(upload_rotation(codec.rotation(), &t.rot, &impl->rot_signs, &impl->rot_perm, &impl->rot_iperm));
  if (const Codebook* cb = codec.codebook()) {
    std::vector<float> bounds = cb->boundaries_f32;
    bounds.push_back(std::numeric_limits<float>::infinity());  // [2^bits]: the binary search's sentinel
    TQ_ASSIGN_OR_RETURN(impl->centroids,
                        DeviceBuffer<float>::from_host(std::span<const float>(cb->centroids_f32), "centroids"));
    TQ_ASSIGN_OR_RETURN(impl->boundaries, DeviceBuffer<float>::from_host(std::span<const float>(bounds), "boundaries"));
    t.centroids = impl->centroids.get();
    t.boundaries = impl->boundaries.get();
  }
  if (const QjlSketch* qjl = codec.qjl()) {
    const HadamardRotation* r = qjl->structured_rotation();
    if (!r) return unsupported("CUDA codec: only the structured QJL sketch is implemented");
    TQ_RETURN_IF_ERROR(upload_rotation(*r, &t.qjl, &impl->qjl_signs, &impl->qjl_perm, &impl->qjl_iperm));
    t.qjl_scale = static_cast<float>(qjl->scale());
  }
  GpuCodec c;
  c.impl_ = std::move(impl);
  return c;
}

const VectorCodec& GpuCodec::codec() const { return impl_->codec; }
int GpuCodec::device() const { return impl_->device; }

// ---- device-pointer forms ----------------------------------------------------------------------

Status GpuCodec::rotate_device(int64_t n, const float* x, float* y, void* stream) const {
  if (n < 0) return invalid_argument("rotate: n must be >= 0, got {}", n);
  DeviceGuard guard(impl_->device);
  TQ_RETURN_IF_ERROR(guard.status(impl_->device));
  const CodecTables& t = impl_->tables;
  TQ_CUDA_RETURN_IF_ERROR(launch_rotate(t, n, x, y, t.dim, nullptr, nullptr, stream_of(stream)), "rotate");
  return ok_status();
}

Status GpuCodec::encode_device(int64_t n, const float* x, uint8_t* codes, float* norms, float* gammas,
                               void* stream) const {
  if (n < 0) return invalid_argument("encode: n must be >= 0, got {}", n);
  DeviceGuard guard(impl_->device);
  TQ_RETURN_IF_ERROR(guard.status(impl_->device));
  const CodecTables& t = impl_->tables;
  const cudaStream_t s = stream_of(stream);
  TQ_CUDA_RETURN_IF_ERROR(launch_row_norms(n, t.dim, x, t.dim, norms, nullptr, s), "encode (norms)");
  TQ_CUDA_RETURN_IF_ERROR(launch_encode(t, n, x, norms, codes, gammas, s), "encode");
  return ok_status();
}

Status GpuCodec::decode_device(int64_t n, const uint8_t* codes, const float* norms, const float* gammas, float* out,
                               void* stream) const {
  if (n < 0) return invalid_argument("decode: n must be >= 0, got {}", n);
  DeviceGuard guard(impl_->device);
  TQ_RETURN_IF_ERROR(guard.status(impl_->device));
  TQ_CUDA_RETURN_IF_ERROR(launch_decode(impl_->tables, n, codes, norms, gammas, out, stream_of(stream)), "decode");
  return ok_status();
}

// ---- host forms: copy in, run, copy out, wait --------------------------------------------------

Status GpuCodec::rotate(int64_t n, std::span<const float> x, std::span<float> y) const {
  const int64_t d = impl_->tables.dim;
  TQ_RETURN_IF_ERROR(check_rows("rotate: x", n, d, x.size(), "floats"));
  TQ_RETURN_IF_ERROR(check_rows("rotate: y", n, d, y.size(), "floats"));
  if (n == 0) return ok_status();
  DeviceGuard guard(impl_->device);
  TQ_RETURN_IF_ERROR(guard.status(impl_->device));
  const int64_t chunk = std::min(n, chunk_rows(d * 4));
  TQ_ASSIGN_OR_RETURN(auto dx, DeviceBuffer<float>::alloc(chunk * d, "rotate input"));
  const cudaStream_t s = cudaStreamPerThread;
  for (int64_t i0 = 0; i0 < n; i0 += chunk) {
    const int64_t rows = std::min(chunk, n - i0);
    const size_t bytes = static_cast<size_t>(rows * d) * sizeof(float);
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dx.get(), x.data() + i0 * d, bytes, cudaMemcpyHostToDevice, s), "rotate");
    TQ_RETURN_IF_ERROR(rotate_device(rows, dx.get(), dx.get(), s));
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y.data() + i0 * d, dx.get(), bytes, cudaMemcpyDeviceToHost, s), "rotate");
  }
  TQ_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s), "rotate");
  return ok_status();
}

Status GpuCodec::encode(int64_t n, std::span<const float> x, std::span<uint8_t> codes, std::span<float> norms,
                        std::span<float> gammas) const {
  const CodecTables& t = impl_->tables;
  const int64_t d = t.dim;
  TQ_RETURN_IF_ERROR(check_rows("encode: x", n, d, x.size(), "floats"));
  TQ_RETURN_IF_ERROR(check_rows("encode: codes", n, t.code_bytes, codes.size(), "bytes"));
  TQ_RETURN_IF_ERROR(check_rows("encode: norms", n, 1, norms.size(), "floats"));
  TQ_RETURN_IF_ERROR(check_rows("encode: gammas", n, t.prod ? 1 : 0, gammas.size(), "floats"));
  if (n == 0) return ok_status();
  DeviceGuard guard(impl_->device);
  TQ_RETURN_IF_ERROR(guard.status(impl_->device));
  const int64_t chunk = std::min(n, chunk_rows(d * 4));
  TQ_ASSIGN_OR_RETURN(auto dx, DeviceBuffer<float>::alloc(chunk * d, "encode input"));
  TQ_ASSIGN_OR_RETURN(auto dcodes, DeviceBuffer<uint8_t>::alloc(chunk * t.code_bytes, "encode codes"));
  TQ_ASSIGN_OR_RETURN(auto dnorms, DeviceBuffer<float>::alloc(chunk, "encode norms"));
  TQ_ASSIGN_OR_RETURN(auto dgammas, DeviceBuffer<float>::alloc(t.prod ? chunk : 0, "encode gammas"));
  const cudaStream_t s = cudaStreamPerThread;
  for (int64_t i0 = 0; i0 < n; i0 += chunk) {
    const int64_t rows = std::min(chunk, n - i0);
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dx.get(), x.data() + i0 * d, static_cast<size_t>(rows * d) * sizeof(float),
                                            cudaMemcpyHostToDevice, s),
                            "encode");
    TQ_RETURN_IF_ERROR(encode_device(rows, dx.get(), dcodes.get(), dnorms.get(), dgammas.get(), s));
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(codes.data() + i0 * t.code_bytes, dcodes.get(),
                                            static_cast<size_t>(rows * t.code_bytes), cudaMemcpyDeviceToHost, s),
                            "encode");
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(norms.data() + i0, dnorms.get(), static_cast<size_t>(rows) * sizeof(float),
                                            cudaMemcpyDeviceToHost, s),
                            "encode");
    if (t.prod)
      TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(gammas.data() + i0, dgammas.get(),
                                              static_cast<size_t>(rows) * sizeof(float), cudaMemcpyDeviceToHost, s),
                              "encode");
  }
  TQ_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s), "encode");
  // Non-finite input: the same error as the CPU codec (first bad vector, first bad value).
  for (int64_t i = 0; i < n; ++i) {
    if (std::isfinite(norms[i])) continue;
    const float* xi = x.data() + i * d;
    for (int64_t j = 0; j < d; ++j)
      if (!std::isfinite(xi[j])) return invalid_argument("encode: x[{}][{}] is {} (vectors must be finite)", i, j, xi[j]);
    return invalid_argument("encode: the norm of vector {} overflows float", i);
  }
  return ok_status();
}

Result<EncodedBatch> GpuCodec::encode(int64_t n, std::span<const float> x) const {
  if (n < 0) return invalid_argument("encode: n must be >= 0, got {}", n);
  TQ_RETURN_IF_ERROR(check_rows("encode: x", n, impl_->tables.dim, x.size(), "floats"));
  EncodedBatch b;
  b.n = n;
  b.codes.resize(static_cast<size_t>(n * impl_->tables.code_bytes));
  b.norms.resize(static_cast<size_t>(n));
  if (impl_->tables.prod) b.gammas.resize(static_cast<size_t>(n));
  TQ_RETURN_IF_ERROR(encode(n, x, b.codes, b.norms, b.gammas));
  return b;
}

Status GpuCodec::decode(const CodesView& in, std::span<float> out) const {
  const CodecTables& t = impl_->tables;
  const int64_t d = t.dim, n = in.n;
  TQ_RETURN_IF_ERROR(check_rows("decode: codes", n, t.code_bytes, in.codes.size(), "bytes"));
  TQ_RETURN_IF_ERROR(check_rows("decode: norms", n, 1, in.norms.size(), "floats"));
  TQ_RETURN_IF_ERROR(check_rows("decode: gammas", n, t.prod ? 1 : 0, in.gammas.size(), "floats"));
  TQ_RETURN_IF_ERROR(check_rows("decode: out", n, d, out.size(), "floats"));
  if (n == 0) return ok_status();
  DeviceGuard guard(impl_->device);
  TQ_RETURN_IF_ERROR(guard.status(impl_->device));
  const int64_t chunk = std::min(n, chunk_rows(d * 4));
  TQ_ASSIGN_OR_RETURN(auto dout, DeviceBuffer<float>::alloc(chunk * d, "decode output"));
  TQ_ASSIGN_OR_RETURN(auto dcodes, DeviceBuffer<uint8_t>::alloc(chunk * t.code_bytes, "decode codes"));
  TQ_ASSIGN_OR_RETURN(auto dnorms, DeviceBuffer<float>::alloc(chunk, "decode norms"));
  TQ_ASSIGN_OR_RETURN(auto dgammas, DeviceBuffer<float>::alloc(t.prod ? chunk : 0, "decode gammas"));
  const cudaStream_t s = cudaStreamPerThread;
  for (int64_t i0 = 0; i0 < n; i0 += chunk) {
    const int64_t rows = std::min(chunk, n - i0);
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dcodes.get(), in.codes.data() + i0 * t.code_bytes,
                                            static_cast<size_t>(rows * t.code_bytes), cudaMemcpyHostToDevice, s),
                            "decode");
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dnorms.get(), in.norms.data() + i0, static_cast<size_t>(rows) * sizeof(float),
                                            cudaMemcpyHostToDevice, s),
                            "decode");
    if (t.prod)
      TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dgammas.get(), in.gammas.data() + i0,
                                              static_cast<size_t>(rows) * sizeof(float), cudaMemcpyHostToDevice, s),
                              "decode");
    TQ_RETURN_IF_ERROR(decode_device(rows, dcodes.get(), dnorms.get(), dgammas.get(), dout.get(), s));
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out.data() + i0 * d, dout.get(), static_cast<size_t>(rows * d) * sizeof(float),
                                            cudaMemcpyDeviceToHost, s),
                            "decode");
  }
  TQ_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s), "decode");
  return ok_status();
}

}  // namespace tq::cuda

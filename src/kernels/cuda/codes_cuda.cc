// GpuCodes (include/tq/codec_cuda.h): encoded vectors resident on the device in the interleaved
// scoring layout (layout.cu), and query scoring (score.cu).

#include <cuda_runtime_api.h>

#include <cmath>
#include <vector>

#include "kernels/cuda/cuda_util.h"
#include "kernels/cuda/gpu_codec_access.h"
#include "kernels/cuda/launch.h"
#include "tq/codec_cuda.h"

namespace tq::cuda {

struct GpuCodes::Impl {
  GpuCodec codec;
  int64_t n = 0;
  int64_t n_alloc = 0;                 // n rounded up to kScoreVectorAlign (the scoring kernel's tile)
  DeviceBuffer<uint32_t> mse_words;    // [n_alloc/32, groups·mse_bits, 32]
  DeviceBuffer<uint32_t> sign_words;   // [n_alloc/32, groups, 32] (kProd)
  DeviceBuffer<float> norms;           // [n_alloc]
  DeviceBuffer<float> gammas;          // [n_alloc] (kProd)
  DeviceBuffer<float> code_sq;         // [n_alloc] Σ c[idx]² (kMse)
};

namespace {

const CodecTables& tables_of(const GpuCodec& c) { return detail::GpuCodecAccess::tables(c); }

// Allocates the arrays of impl for n vectors, zeroed (padding vectors score as zeros, never read out).
Status allocate(GpuCodes::Impl* m, const CodecTables& t, int64_t n, cudaStream_t s) {
  m->n = n;
  m->n_alloc = (n + kScoreVectorAlign - 1) / kScoreVectorAlign * kScoreVectorAlign;
  const int64_t groups = t.dim_pad / 32;
  TQ_ASSIGN_OR_RETURN(m->mse_words, DeviceBuffer<uint32_t>::alloc(m->n_alloc * groups * t.mse_bits, "codes"));
  TQ_ASSIGN_OR_RETURN(m->sign_words, DeviceBuffer<uint32_t>::alloc(t.prod ? m->n_alloc * groups : 0, "sign codes"));
  TQ_ASSIGN_OR_RETURN(m->norms, DeviceBuffer<float>::alloc(m->n_alloc, "norms"));
  TQ_ASSIGN_OR_RETURN(m->gammas, DeviceBuffer<float>::alloc(t.prod ? m->n_alloc : 0, "gammas"));
  TQ_ASSIGN_OR_RETURN(m->code_sq, DeviceBuffer<float>::alloc(t.prod || t.mse_bits == 0 ? 0 : m->n_alloc, "code norms"));
  for (auto* b : {&m->mse_words, &m->sign_words})
    if (b->get()) TQ_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(b->get(), 0, b->bytes(), s), "zero codes");
  for (auto* b : {&m->norms, &m->gammas, &m->code_sq})
    if (b->get()) TQ_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(b->get(), 0, b->bytes(), s), "zero norms");
  return ok_status();
}

// From CPU-layout rows already on the device (norms and γ already in place).
Status finish_from_rows(GpuCodes::Impl* m, const CodecTables& t, const uint8_t* rows, cudaStream_t s) {
  TQ_CUDA_RETURN_IF_ERROR(launch_interleave(t, m->n, rows, m->mse_words.get(), m->sign_words.get(), s), "interleave");
  if (m->code_sq.get())
    TQ_CUDA_RETURN_IF_ERROR(launch_code_sq(t, m->n, m->mse_words.get(), m->code_sq.get(), s), "code norms");
  return ok_status();
}

}  // namespace

GpuCodes::GpuCodes(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuCodes::GpuCodes(GpuCodes&&) noexcept = default;
GpuCodes& GpuCodes::operator=(GpuCodes&&) noexcept = default;
GpuCodes::~GpuCodes() = default;

const GpuCodec& GpuCodes::codec() const { return impl_->codec; }
int64_t GpuCodes::size() const { return impl_->n; }
int64_t GpuCodes::device_bytes() const {
  const Impl& m = *impl_;
  return m.mse_words.bytes() + m.sign_words.bytes() + m.norms.bytes() + m.gammas.bytes() + m.code_sq.bytes();
}

Result<GpuCodes> GpuCodes::upload(const GpuCodec& codec, const CodesView& in) {
  const CodecTables& t = tables_of(codec);
  const int64_t n = in.n;
  TQ_RETURN_IF_ERROR(check_rows("upload: codes", n, t.code_bytes, in.codes.size(), "bytes"));
  TQ_RETURN_IF_ERROR(check_rows("upload: norms", n, 1, in.norms.size(), "floats"));
  TQ_RETURN_IF_ERROR(check_rows("upload: gammas", n, t.prod ? 1 : 0, in.gammas.size(), "floats"));
  DeviceGuard guard(codec.device());
  TQ_RETURN_IF_ERROR(guard.status(codec.device()));
  auto m = std::make_unique<Impl>();
  m->codec = codec;
  const cudaStream_t s = cudaStreamPerThread;
  TQ_RETURN_IF_ERROR(allocate(m.get(), t, n, s));
  TQ_ASSIGN_OR_RETURN(auto rows, DeviceBuffer<uint8_t>::alloc(n * t.code_bytes, "upload codes"));
  if (n > 0) {
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(rows.get(), in.codes.data(), in.codes.size_bytes(), cudaMemcpyHostToDevice, s),
                            "upload");
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(m->norms.get(), in.norms.data(), in.norms.size_bytes(), cudaMemcpyHostToDevice, s),
                            "upload");
    if (t.prod)
      TQ_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(m->gammas.get(), in.gammas.data(), in.gammas.size_bytes(), cudaMemcpyHostToDevice, s), "upload");
    TQ_RETURN_IF_ERROR(finish_from_rows(m.get(), t, rows.get(), s));
  }
  TQ_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s), "upload");
  return GpuCodes(std::move(m));
}

Result<GpuCodes> GpuCodes::encode_device(const GpuCodec& codec, int64_t n, const float* x, void* stream) {
  if (n < 0) return invalid_argument("encode: n must be >= 0, got {}", n);
  const CodecTables& t = tables_of(codec);
  DeviceGuard guard(codec.device());
  TQ_RETURN_IF_ERROR(guard.status(codec.device()));
  auto m = std::make_unique<Impl>();
  m->codec = codec;
  const cudaStream_t s = stream_of(stream);
  TQ_RETURN_IF_ERROR(allocate(m.get(), t, n, s));
  TQ_ASSIGN_OR_RETURN(auto rows, DeviceBuffer<uint8_t>::alloc(n * t.code_bytes, "encode codes"));
  if (n > 0) {
    TQ_RETURN_IF_ERROR(codec.encode_device(n, x, rows.get(), m->norms.get(), m->gammas.get(), s));
    TQ_RETURN_IF_ERROR(finish_from_rows(m.get(), t, rows.get(), s));
  }
  TQ_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s), "encode");
  return GpuCodes(std::move(m));
}

Result<GpuCodes> GpuCodes::encode(const GpuCodec& codec, int64_t n, std::span<const float> x) {
  const CodecTables& t = tables_of(codec);
  const int64_t d = t.dim;
  TQ_RETURN_IF_ERROR(check_rows("encode: x", n, d, x.size(), "floats"));
  DeviceGuard guard(codec.device());
  TQ_RETURN_IF_ERROR(guard.status(codec.device()));
  auto m = std::make_unique<Impl>();
  m->codec = codec;
  const cudaStream_t s = cudaStreamPerThread;
  TQ_RETURN_IF_ERROR(allocate(m.get(), t, n, s));
  TQ_ASSIGN_OR_RETURN(auto rows, DeviceBuffer<uint8_t>::alloc(n * t.code_bytes, "encode codes"));
  const int64_t chunk = std::max<int64_t>(1, std::min(n, chunk_rows(d * 4)));
  TQ_ASSIGN_OR_RETURN(auto dx, DeviceBuffer<float>::alloc(n > 0 ? chunk * d : 0, "encode input"));
  for (int64_t i0 = 0; i0 < n; i0 += chunk) {
    const int64_t r = std::min(chunk, n - i0);
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dx.get(), x.data() + i0 * d, static_cast<size_t>(r * d) * sizeof(float),
                                            cudaMemcpyHostToDevice, s),
                            "encode");
    TQ_RETURN_IF_ERROR(codec.encode_device(r, dx.get(), rows.get() + i0 * t.code_bytes, m->norms.get() + i0,
                                           t.prod ? m->gammas.get() + i0 : nullptr, s));
  }
  if (n > 0) TQ_RETURN_IF_ERROR(finish_from_rows(m.get(), t, rows.get(), s));
  std::vector<float> norms(static_cast<size_t>(n));
  if (n > 0)
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(norms.data(), m->norms.get(), norms.size() * sizeof(float),
                                            cudaMemcpyDeviceToHost, s),
                            "encode");
  TQ_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s), "encode");
  for (int64_t i = 0; i < n; ++i) {  // the CPU codec's error for non-finite input
    if (std::isfinite(norms[i])) continue;
    const float* xi = x.data() + i * d;
    for (int64_t j = 0; j < d; ++j)
      if (!std::isfinite(xi[j])) return invalid_argument("encode: x[{}][{}] is {} (vectors must be finite)", i, j, xi[j]);
    return invalid_argument("encode: the norm of vector {} overflows float", i);
  }
  return GpuCodes(std::move(m));
}

Result<EncodedBatch> GpuCodes::download() const {
  const Impl& m = *impl_;
  const CodecTables& t = tables_of(m.codec);
  DeviceGuard guard(m.codec.device());
  TQ_RETURN_IF_ERROR(guard.status(m.codec.device()));
  EncodedBatch b;
  b.n = m.n;
  b.codes.resize(static_cast<size_t>(m.n * t.code_bytes));
  b.norms.resize(static_cast<size_t>(m.n));
  if (t.prod) b.gammas.resize(static_cast<size_t>(m.n));
  if (m.n == 0) return b;
  const cudaStream_t s = cudaStreamPerThread;
  TQ_ASSIGN_OR_RETURN(auto rows, DeviceBuffer<uint8_t>::alloc(m.n * t.code_bytes, "download codes"));
  TQ_CUDA_RETURN_IF_ERROR(launch_deinterleave(t, m.n, m.mse_words.get(), m.sign_words.get(), rows.get(), s),
                          "deinterleave");
  TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(b.codes.data(), rows.get(), b.codes.size(), cudaMemcpyDeviceToHost, s),
                          "download");
  TQ_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(b.norms.data(), m.norms.get(), b.norms.size() * sizeof(float), cudaMemcpyDeviceToHost, s),
      "download");
  if (t.prod)
    TQ_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(b.gammas.data(), m.gammas.get(), b.gammas.size() * sizeof(float), cudaMemcpyDeviceToHost, s),
        "download");
  TQ_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s), "download");
  return b;
}

// ---- scoring -----------------------------------------------------------------------------------

namespace {

// Prepares m device queries (rotate, project, ‖q‖²) into stream-ordered scratch and scores them.
Status score_device(const GpuCodes::Impl& m, int64_t n_queries, const float* queries, float* out, bool l2,
                    cudaStream_t s) {
  const CodecTables& t = tables_of(m.codec);
  if (n_queries < 0) return invalid_argument("score: m must be >= 0, got {}", n_queries);
  if (n_queries == 0 || m.n == 0) return ok_status();
  const size_t q_floats = static_cast<size_t>(n_queries) * t.dim_pad;
  float* rotated = nullptr;
  float* projected = nullptr;
  float* projected_sum = nullptr;
  double* query_sq = nullptr;
  auto release = [&] {
    if (rotated) cudaFreeAsync(rotated, s);
    if (projected) cudaFreeAsync(projected, s);
    if (projected_sum) cudaFreeAsync(projected_sum, s);
    if (query_sq) cudaFreeAsync(query_sq, s);
  };
  cudaError_t e = cudaMallocAsync(reinterpret_cast<void**>(&rotated), q_floats * sizeof(float), s);
  if (e == cudaSuccess && t.prod) e = cudaMallocAsync(reinterpret_cast<void**>(&projected), q_floats * sizeof(float), s);
  if (e == cudaSuccess && t.prod)
    e = cudaMallocAsync(reinterpret_cast<void**>(&projected_sum), n_queries * sizeof(float), s);
  if (e == cudaSuccess) e = cudaMallocAsync(reinterpret_cast<void**>(&query_sq), n_queries * sizeof(double), s);
  if (e == cudaSuccess) e = launch_rotate(t, n_queries, queries, rotated, t.dim_pad, projected, projected_sum, s);
  if (e == cudaSuccess) e = launch_row_norms(n_queries, t.dim, queries, t.dim, nullptr, query_sq, s);
  if (e == cudaSuccess) {
    ScoreArgs a;
    a.n = m.n;
    a.m = n_queries;
    a.groups = t.dim_pad / 32;
    a.l2 = l2 ? 1 : 0;
    a.mse_words = m.mse_words.get();
    a.sign_words = m.sign_words.get();
    a.norms = m.norms.get();
    a.gammas = m.gammas.get();
    a.code_sq = m.code_sq.get();
    a.rotated = rotated;
    a.projected = projected;
    a.projected_sum = projected_sum;
    a.query_sq = query_sq;
    a.out = out;
    e = launch_score(t, a, s);
  }
  release();
  if (e != cudaSuccess) {
    cudaGetLastError();
    return cuda_error(e, l2 ? "squared_l2" : "inner_products");
  }
  return ok_status();
}

Status score_host(const GpuCodes::Impl& m, int64_t n_queries, std::span<const float> queries, std::span<float> out,
                  bool l2) {
  const char* what = l2 ? "squared_l2" : "inner_products";
  const CodecTables& t = tables_of(m.codec);
  const int64_t d = t.dim;
  TQ_RETURN_IF_ERROR(check_rows(fmt::format("{}: queries", what), n_queries, d, queries.size(), "floats"));
  TQ_RETURN_IF_ERROR(check_rows(fmt::format("{}: out", what), n_queries, m.n, out.size(), "floats"));
  for (size_t k = 0; k < queries.size(); ++k)
    if (!std::isfinite(queries[k]))
      return invalid_argument("queries[{}][{}] is {} (values must be finite)", k / d, k % d, queries[k]);
  if (n_queries == 0 || m.n == 0) return ok_status();
  DeviceGuard guard(m.codec.device());
  TQ_RETURN_IF_ERROR(guard.status(m.codec.device()));
  // Query chunks whose scores take about 256 MB on the device.
  const int64_t chunk = std::min(n_queries, chunk_rows(m.n * 4));
  TQ_ASSIGN_OR_RETURN(auto dq, DeviceBuffer<float>::alloc(chunk * d, "queries"));
  TQ_ASSIGN_OR_RETURN(auto dout, DeviceBuffer<float>::alloc(chunk * m.n, "scores"));
  const cudaStream_t s = cudaStreamPerThread;
  for (int64_t q0 = 0; q0 < n_queries; q0 += chunk) {
    const int64_t rows = std::min(chunk, n_queries - q0);
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dq.get(), queries.data() + q0 * d,
                                            static_cast<size_t>(rows * d) * sizeof(float), cudaMemcpyHostToDevice, s),
                            what);
    TQ_RETURN_IF_ERROR(score_device(m, rows, dq.get(), dout.get(), l2, s));
    TQ_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out.data() + q0 * m.n, dout.get(),
                                            static_cast<size_t>(rows * m.n) * sizeof(float), cudaMemcpyDeviceToHost, s),
                            what);
  }
  TQ_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s), what);
  return ok_status();
}

}  // namespace

Status GpuCodes::inner_products(int64_t m, std::span<const float> queries, std::span<float> out) const {
  return score_host(*impl_, m, queries, out, false);
}
Status GpuCodes::squared_l2(int64_t m, std::span<const float> queries, std::span<float> out) const {
  return score_host(*impl_, m, queries, out, true);
}
Status GpuCodes::inner_products_device(int64_t m, const float* queries, float* out, void* stream) const {
  DeviceGuard guard(impl_->codec.device());
  TQ_RETURN_IF_ERROR(guard.status(impl_->codec.device()));
  return score_device(*impl_, m, queries, out, false, stream_of(stream));
}
Status GpuCodes::squared_l2_device(int64_t m, const float* queries, float* out, void* stream) const {
  DeviceGuard guard(impl_->codec.device());
  TQ_RETURN_IF_ERROR(guard.status(impl_->codec.device()));
  return score_device(*impl_, m, queries, out, true, stream_of(stream));
}

}  // namespace tq::cuda

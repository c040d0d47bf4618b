// GPU throughput of the CUDA codec (include/tq/codec_cuda.h), built with TQ_CUDA=ON:
//   encode / decode (mse, prod)   d ∈ {128, 1536}, b ∈ {1, 2, 4, 8}, 256 MB of float vectors
//   score: inner products of m ∈ {1, 16} queries against resident codes (≈1 GB of codes, far
//          more than the L2), d ∈ {128, 1536}, b ∈ {1, 2, 4, 8}; squared L2 at b = 4
//   rotation of a batch, d ∈ {128, 1000, 1536}
//   yardsticks: a kernel that only reads (GB/s) and a device-to-device copy (read + write GB/s)
// Times are GPU times of the device-pointer calls (CUDA events around each call, manual time).
// Counters: items_per_second = vectors/s (score with m queries: vector-query pairs/s);
// bytes_per_second = bytes the operation must move: encode: float input read + codes, norms (γ)
// written; decode: codes, norms (γ) read + floats written; score: resident codes, norms (γ,
// Σc²) read + scores written; rotation: floats read + written.
//
//   build/cuda/bin/bench_codec_cuda --benchmark_out=gpu.json --benchmark_out_format=json
// scripts/results-cuda.sh runs it on a GPU machine and renders the JSON into docs/CUDA.md. (The
// console's "T/s" are 2^40 bytes/s; the rendered tables use decimal GB/s.)

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "core/rng.h"
#include "kernels/cuda/launch.h"
#include "tq/codec.h"
#include "tq/codec_cuda.h"

namespace tq {
namespace {

constexpr int64_t kInputFloats = int64_t{64} << 20;  // 256 MB of float input per encode/decode/rotate batch

// cudaMalloc'd bytes, freed on destruction.
struct DeviceArray {
  void* p = nullptr;
  explicit DeviceArray(size_t bytes) {
    if (cudaMalloc(&p, bytes) != cudaSuccess) p = nullptr;
  }
  ~DeviceArray() {
    if (p) cudaFree(p);
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

// Gaussian floats on the device, generated once: the first kInputFloats, tiled on demand.
const float* random_device_floats() {
  static std::unique_ptr<DeviceArray> buf = [] {
    std::vector<float> host(kInputFloats);
    Rng rng(20250419);
    for (auto& v : host) v = static_cast<float>(rng.normal());
    auto b = std::make_unique<DeviceArray>(host.size() * sizeof(float));
    if (b->p) cudaMemcpy(b->p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice);
    return b;
  }();
  return buf->as<float>();
}

// Times fn() with CUDA events per iteration (GPU time) and reports it as the manual time.
template <class Fn>
void time_gpu(benchmark::State& state, Fn fn) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  if (!fn().ok()) {  // warm-up; also checks the call
    state.SkipWithError("the CUDA call failed");
    return;
  }
  for (auto _ : state) {
    cudaEventRecord(start, cudaStreamPerThread);
    Status st = fn();
    cudaEventRecord(stop, cudaStreamPerThread);
    cudaEventSynchronize(stop);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, start, stop);
    if (!st.ok()) {
      state.SkipWithError(st.to_string().c_str());
      break;
    }
    state.SetIterationTime(ms / 1e3);
  }
  if (cudaGetLastError() != cudaSuccess) state.SkipWithError("CUDA error");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

Result<cuda::GpuCodec> make_codec(int64_t d, int bits, CodecKind kind) {
  CodecConfig cfg;
  cfg.dim = d;
  cfg.bits = bits;
  cfg.kind = kind;
  cfg.seed = 42;
  TQ_ASSIGN_OR_RETURN(VectorCodec c, VectorCodec::create(cfg));
  return cuda::GpuCodec::create(c);
}

void set_rates(benchmark::State& state, int64_t items, int64_t bytes) {
  state.SetItemsProcessed(state.iterations() * items);
  state.SetBytesProcessed(state.iterations() * bytes);
}

void encode_benchmark(benchmark::State& state, CodecKind kind) {
  const int64_t d = state.range(0);
  const int bits = static_cast<int>(state.range(1));
  auto g = make_codec(d, bits, kind);
  if (!g.ok()) return state.SkipWithError(g.status().to_string().c_str());
  const int64_t n = kInputFloats / d, cb = g->codec().code_bytes();
  DeviceArray codes(n * cb), norms(n * 4), gammas(n * 4);
  const float* x = random_device_floats();
  time_gpu(state, [&] { return g->encode_device(n, x, codes.as<uint8_t>(), norms.as<float>(), gammas.as<float>()); });
  set_rates(state, n, n * d * 4 + n * cb + n * (kind == CodecKind::kProd ? 8 : 4));
}

void decode_benchmark(benchmark::State& state, CodecKind kind) {
  const int64_t d = state.range(0);
  const int bits = static_cast<int>(state.range(1));
  auto g = make_codec(d, bits, kind);
  if (!g.ok()) return state.SkipWithError(g.status().to_string().c_str());
  const int64_t n = kInputFloats / d, cb = g->codec().code_bytes();
  DeviceArray codes(n * cb), norms(n * 4), gammas(n * 4), out(n * d * 4);
  const float* x = random_device_floats();
  if (!g->encode_device(n, x, codes.as<uint8_t>(), norms.as<float>(), gammas.as<float>()).ok())
    return state.SkipWithError("encode failed");
  time_gpu(state, [&] {
    return g->decode_device(n, codes.as<uint8_t>(), norms.as<float>(), gammas.as<float>(), out.as<float>());
  });
  set_rates(state, n, n * d * 4 + n * cb + n * (kind == CodecKind::kProd ? 8 : 4));
}

// About 1 GB of resident codes (at most 16 GB of float input to encode them from).
void score_benchmark(benchmark::State& state, CodecKind kind, bool l2) {
  const int64_t d = state.range(0);
  const int bits = static_cast<int>(state.range(1));
  const int64_t m = state.range(2);
  auto g = make_codec(d, bits, kind);
  if (!g.ok()) return state.SkipWithError(g.status().to_string().c_str());
  const int64_t groups = (d + 31) / 32;
  const int64_t resident_row = 4 * groups * g->codec().mse_bits() + (kind == CodecKind::kProd ? 4 * groups + 8 : 4) +
                               (l2 && kind == CodecKind::kMse ? 4 : 0);
  int64_t n = (int64_t{1} << 30) / resident_row;
  n = std::min(n, (int64_t{4} << 30) / d);  // <= 16 GB of floats
  std::optional<cuda::GpuCodes> codes;
  {
    DeviceArray x(static_cast<size_t>(n * d) * 4);
    if (!x.p) return state.SkipWithError("cannot allocate the input");
    for (int64_t off = 0; off < n * d; off += kInputFloats)
      cudaMemcpy(x.as<float>() + off, random_device_floats(), std::min(kInputFloats, n * d - off) * 4,
                 cudaMemcpyDeviceToDevice);
    auto c = cuda::GpuCodes::encode_device(*g, n, x.as<float>());
    if (!c.ok()) return state.SkipWithError(c.status().to_string().c_str());
    codes.emplace(std::move(*c));
  }
  DeviceArray out(static_cast<size_t>(m * n) * 4);
  const float* q = random_device_floats();
  time_gpu(state, [&] {
    return l2 ? codes->squared_l2_device(m, q, out.as<float>()) : codes->inner_products_device(m, q, out.as<float>());
  });
  set_rates(state, n * m, codes->device_bytes() + m * n * 4);
}

void rotate_benchmark(benchmark::State& state) {
  const int64_t d = state.range(0);
  auto g = make_codec(d, 4, CodecKind::kMse);
  if (!g.ok()) return state.SkipWithError(g.status().to_string().c_str());
  const int64_t n = kInputFloats / d;
  DeviceArray y(n * d * 4);
  const float* x = random_device_floats();
  time_gpu(state, [&] { return g->rotate_device(n, x, y.as<float>()); });
  set_rates(state, n, 2 * n * d * 4);
}

// Yardsticks: read-only kernel over 4 GB; device-to-device copy of 2 GB (bytes read + written).
void read_bandwidth_benchmark(benchmark::State& state) {
  const int64_t n = int64_t{1} << 30;
  DeviceArray buf(n * 4), sum(4);
  for (int64_t off = 0; off < n; off += kInputFloats)
    cudaMemcpy(buf.as<float>() + off, random_device_floats(), kInputFloats * 4, cudaMemcpyDeviceToDevice);
  time_gpu(state, [&]() -> Status {
    if (cuda::launch_stream_read(buf.as<float>(), n, sum.as<float>(), cudaStreamPerThread) != cudaSuccess)
      return Status(StatusCode::kInternal, "stream read");
    return ok_status();
  });
  set_rates(state, n, n * 4);
}

void copy_bandwidth_benchmark(benchmark::State& state) {
  const int64_t bytes = int64_t{2} << 30;
  DeviceArray a(bytes), b(bytes);
  time_gpu(state, [&]() -> Status {
    if (cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, cudaStreamPerThread) != cudaSuccess)
      return Status(StatusCode::kInternal, "copy");
    return ok_status();
  });
  set_rates(state, bytes / 4, 2 * bytes);
}

bool register_all() {
  auto info = cuda::device_info(0);
  if (!info.ok()) {
    std::fprintf(stderr, "bench_codec_cuda: %s\n", info.status().to_string().c_str());
    return false;
  }
  benchmark::AddCustomContext("gpu_name", info->name);
  benchmark::AddCustomContext("gpu_sm", fmt::format("{}.{}", info->sm_major, info->sm_minor));
  benchmark::AddCustomContext("gpu_multiprocessors", std::to_string(info->multiprocessors));
  benchmark::AddCustomContext("gpu_memory_gib", fmt::format("{:.1f}", info->memory_bytes / 1073741824.0));
  benchmark::AddCustomContext("gpu_l2_mib", fmt::format("{:.0f}", info->l2_bytes / 1048576.0));
  benchmark::AddCustomContext("gpu_peak_bandwidth_gbs", fmt::format("{:.0f}", info->peak_bandwidth_gbs));
  benchmark::AddCustomContext("cuda_driver", std::to_string(info->driver_version));
  benchmark::AddCustomContext("cuda_runtime", std::to_string(info->runtime_version));
  auto reg = [](const char* name, auto fn) { return benchmark::RegisterBenchmark(name, fn)->UseManualTime(); };
  reg("read_bandwidth", read_bandwidth_benchmark);
  reg("copy_bandwidth", copy_bandwidth_benchmark);
  for (CodecKind kind : {CodecKind::kMse, CodecKind::kProd}) {
    const std::string k = codec_kind_name(kind);
    auto* e = reg(("encode_" + k).c_str(), [kind](benchmark::State& s) { encode_benchmark(s, kind); });
    auto* dec = reg(("decode_" + k).c_str(), [kind](benchmark::State& s) { decode_benchmark(s, kind); });
    auto* ip = reg(("score_ip_" + k).c_str(), [kind](benchmark::State& s) { score_benchmark(s, kind, false); });
    auto* l2 = reg(("score_l2_" + k).c_str(), [kind](benchmark::State& s) { score_benchmark(s, kind, true); });
    for (int64_t d : {128, 1536})
      for (int64_t b : {1, 2, 4, 8}) {
        e->Args({d, b});
        dec->Args({d, b});
        for (int64_t m : {1, 16}) ip->Args({d, b, m});
      }
    for (int64_t d : {128, 1536}) l2->Args({d, 4, 1});
    e->ArgNames({"d", "b"});
    dec->ArgNames({"d", "b"});
    ip->ArgNames({"d", "b", "m"});
    l2->ArgNames({"d", "b", "m"});
  }
  reg("rotate", rotate_benchmark)->Arg(128)->Arg(1000)->Arg(1536)->ArgName("d");
  return true;
}

}  // namespace
}  // namespace tq

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!tq::register_all()) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// TurboQuant codec throughput: encode, decode and query-vs-codes scoring (inner products) for
// d ∈ {64, 128, 1536}, b ∈ {2, 3, 4, 8}, kinds mse and prod, on 1 and 2 threads; plus the
// rotation and bit packing primitives other layers build on.
//
//   build/release/bin/bench_codec [--benchmark_filter=Encode] [--benchmark_format=json]
//
// Counters: items_per_second = vectors/s (rotations or codes for the primitives);
// bytes_per_second = encode: float32 input read; decode: float32 output written;
// score: code bytes + norms (+ γ) read. Batches of n vectors sized to ~8 MB of float input.
// tools/codec_report.sh renders the JSON output into docs/CODEC.md.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "core/rng.h"
#include "math/bitpack.h"
#include "math/rotation.h"
#include "tq/codec.h"

namespace tq {
namespace {

constexpr int64_t kDims[] = {64, 128, 1536};
constexpr int kBits[] = {2, 3, 4, 8};

enum class Op { kEncode, kDecode, kScore };

int64_t batch_for(int64_t d) { return std::max<int64_t>(1024, (int64_t{2} << 20) / d); }  // ~8 MB of floats

std::vector<float> random_vectors(int64_t n, int64_t d, uint64_t seed) {
  std::vector<float> x(static_cast<size_t>(n * d));
  Rng rng(seed);
  for (auto& v : x) v = static_cast<float>(rng.normal());
  return x;
}

void codec_benchmark(benchmark::State& state, Op op, CodecKind kind) {
  const int64_t d = state.range(0);
  const int bits = static_cast<int>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  const int saved_threads = num_threads();
  set_num_threads(threads);
  CodecConfig cfg;
  cfg.dim = d;
  cfg.bits = bits;
  cfg.kind = kind;
  cfg.seed = 42;
  auto codec = VectorCodec::create(cfg);
  if (!codec.ok()) {
    state.SkipWithError(codec.status().to_string().c_str());
    return;
  }
  const int64_t n = batch_for(d);
  const std::vector<float> x = random_vectors(n, d, 7);
  auto enc = codec->encode(n, x);
  if (!enc.ok()) {
    state.SkipWithError(enc.status().to_string().c_str());
    return;
  }
  std::vector<float> out;
  int64_t bytes_per_iter = 0;
  const int64_t side_bytes = (kind == CodecKind::kProd ? 8 : 4) * n;
  switch (op) {
    case Op::kEncode:
      bytes_per_iter = n * d * 4;
      for (auto _ : state) {
        Status st = codec->encode(n, x, enc->codes, enc->norms, enc->gammas);
        benchmark::DoNotOptimize(st);
      }
      break;
    case Op::kDecode:
      out.resize(static_cast<size_t>(n * d));
      bytes_per_iter = n * d * 4;
      for (auto _ : state) {
        Status st = codec->decode(enc->view(), out);
        benchmark::DoNotOptimize(st);
        benchmark::ClobberMemory();
      }
      break;
    case Op::kScore: {
      out.resize(static_cast<size_t>(n));
      auto q = codec->prepare_query(std::span<const float>(x.data(), d));
      bytes_per_iter = n * codec->code_bytes() + side_bytes;
      for (auto _ : state) {
        Status st = codec->inner_products(*q, enc->view(), out);
        benchmark::DoNotOptimize(st);
        benchmark::ClobberMemory();
      }
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * bytes_per_iter);
  state.counters["bits_per_coord"] = codec->bits_per_coordinate();
  set_num_threads(saved_threads);
}

void rotation_benchmark(benchmark::State& state) {
  const int64_t d = state.range(0);
  auto rot = HadamardRotation::create(d, 1);
  std::vector<float> x = random_vectors(1, d, 3);
  for (auto _ : state) {
    rot->forward(x.data(), x.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * d * 4);
  state.counters["rounds"] = rot->rounds();
}

void sign_fwht_benchmark(benchmark::State& state) {  // one round, the per-group kernel primitive
  const int64_t d = state.range(0);
  auto rot = HadamardRotation::create(d, 1, 1);
  std::vector<float> x = random_vectors(1, d, 3);
  for (auto _ : state) {
    sign_fwht(x.data(), rot->scaled_signs(0), d);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * d * 4);
}

void bitpack_benchmark(benchmark::State& state, bool unpack) {
  const int bits = static_cast<int>(state.range(0));
  const int64_t n = 1 << 16;
  std::vector<uint8_t> codes(n), packed(packed_bytes(n, bits));
  Rng rng(5);
  for (auto& c : codes) c = static_cast<uint8_t>(rng.next_u64() & ((1u << bits) - 1));
  pack_bits(codes.data(), n, bits, packed.data());
  for (auto _ : state) {
    if (unpack) unpack_bits(packed.data(), n, bits, codes.data());
    else pack_bits(codes.data(), n, bits, packed.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(packed.size()));
  state.SetLabel(bitpack_path());
}

void codec_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"d", "bits", "threads"});
  for (int64_t d : kDims)
    for (int bits : kBits)
      for (int t : {1, 2}) b->Args({d, bits, t});
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(codec_benchmark, encode_mse, Op::kEncode, CodecKind::kMse)->Apply(codec_args);
BENCHMARK_CAPTURE(codec_benchmark, decode_mse, Op::kDecode, CodecKind::kMse)->Apply(codec_args);
BENCHMARK_CAPTURE(codec_benchmark, score_mse, Op::kScore, CodecKind::kMse)->Apply(codec_args);
BENCHMARK_CAPTURE(codec_benchmark, encode_prod, Op::kEncode, CodecKind::kProd)->Apply(codec_args);
BENCHMARK_CAPTURE(codec_benchmark, decode_prod, Op::kDecode, CodecKind::kProd)->Apply(codec_args);
BENCHMARK_CAPTURE(codec_benchmark, score_prod, Op::kScore, CodecKind::kProd)->Apply(codec_args);
BENCHMARK(rotation_benchmark)->ArgName("d")->Arg(32)->Arg(64)->Arg(128)->Arg(256)->Arg(1024)->Arg(1536)->Arg(4096);
BENCHMARK(sign_fwht_benchmark)->ArgName("d")->Arg(32)->Arg(64)->Arg(128)->Arg(256)->Arg(1024);
BENCHMARK_CAPTURE(bitpack_benchmark, pack, false)->ArgName("bits")->DenseRange(1, 8);
BENCHMARK_CAPTURE(bitpack_benchmark, unpack, true)->ArgName("bits")->DenseRange(1, 8);

}  // namespace
}  // namespace tq

BENCHMARK_MAIN();

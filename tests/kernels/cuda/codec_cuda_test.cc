// The CUDA codec (include/tq/codec_cuda.h) against the CPU codec's reference path, on fresh seeded
// inputs and awkward sizes: n = 1, 7, 33, 1000; d = 64, 100, 128, 1536 (and 2, 3, 7, 33, 1000,
// 4096, 5000, 16384 for the rotation); bits 1..8; kinds mse and prod; and batches of 40001 (d=128)
// and 6007 (d=1536) rows, more than one wave of the row kernels' capped grids.
//
// Tolerances:
//   rotation, encode (codes, norms, γ), decode, upload/download   bit for bit (memcmp).
//   scores   |gpu − cpu| <= 3·(d + 4)·2⁻²⁴·Σ|terms| per score: the bound on the rounding error of
//            a float sum of d terms in any order, d·2⁻²⁴·Σ|terms| (Higham, ch. 4), taken three times
//            because the GPU forms the sign sum as 2·Σ_{z=+1} p̃ − Σ p̃; Σ|terms| =
//            ‖x‖·(Σ_j |q̃_j·c_j| + γκ·Σ_j |p̃_j|).
//
// Without a GPU the tests skip; with TQ_REQUIRE_GPU=1 in the environment a missing GPU fails them.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "../../common/test_seed.h"
#include "core/rng.h"
#include "math/bitpack.h"
#include "math/lloyd_max.h"
#include "math/qjl.h"
#include "math/rotation.h"
#include "tq/codec.h"
#include "tq/codec_cuda.h"

namespace tq {
namespace {

using testing::test_seed;

#define REQUIRE_GPU()                                                                \
  do {                                                                               \
    if (cuda::device_count() == 0) {                                                 \
      if (std::getenv("TQ_REQUIRE_GPU")) FAIL() << "TQ_REQUIRE_GPU is set but there is no CUDA device"; \
      GTEST_SKIP() << "no CUDA device";                                              \
    }                                                                                \
  } while (0)

const int64_t kDims[] = {64, 100, 128, 1536};
const int64_t kCounts[] = {1, 7, 33, 1000};

VectorCodec make(int64_t d, int bits, CodecKind kind, uint64_t seed) {
  CodecConfig c;
  c.dim = d;
  c.bits = bits;
  c.kind = kind;
  c.seed = seed;
  c.kernels = KernelPath::kReference;
  return VectorCodec::create(c).value();
}

// Gaussian rows, with awkward ones mixed in: a zero row, a one-hot row, a tiny and a huge row.
std::vector<float> vectors(int64_t n, int64_t d, Rng& rng) {
  std::vector<float> x(static_cast<size_t>(n * d));
  for (auto& v : x) v = static_cast<float>(rng.normal());
  if (n >= 7) {
    std::fill(x.begin() + 1 * d, x.begin() + 2 * d, 0.0f);
    std::fill(x.begin() + 2 * d, x.begin() + 3 * d, 0.0f);
    x[2 * d + rng.below(d)] = 3.0f;
    for (int64_t j = 0; j < d; ++j) x[3 * d + j] *= 1e-20f;
    for (int64_t j = 0; j < d; ++j) x[4 * d + j] *= 1e15f;
  }
  return x;
}

template <typename T>
int64_t first_difference(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return -2;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) return static_cast<int64_t>(i);
  return -1;
}

TEST(CudaCodec, RotationEqualsCpuReferenceBitForBit) {
  REQUIRE_GPU();
  Rng rng(test_seed("cuda rotation"));
  for (int64_t d : {2, 3, 7, 33, 64, 100, 128, 1000, 1536, 4096, 5000, 16384}) {
    const VectorCodec c = make(d, 4, CodecKind::kMse, rng.next_u64());
    const cuda::GpuCodec g = cuda::GpuCodec::create(c).value();
    for (int64_t n : kCounts) {
      if (d * n > 8'000'000) continue;
      const std::vector<float> x = vectors(n, d, rng);
      std::vector<float> want(x.size()), got(x.size());
      for (int64_t i = 0; i < n; ++i) c.rotation().forward_ref(x.data() + i * d, want.data() + i * d);
      ASSERT_TRUE(g.rotate(n, x, got).ok());
      const int64_t at = first_difference(got, want);
      ASSERT_EQ(at, -1) << "d=" << d << " n=" << n << " rounds=" << c.rotation().rounds() << " row " << at / d
                        << " col " << at % d << ": " << got[at] << " vs " << want[at];
    }
  }
}

TEST(CudaCodec, EncodeEqualsCpuReferenceBitForBit) {
  REQUIRE_GPU();
  Rng rng(test_seed("cuda encode"));
  for (CodecKind kind : {CodecKind::kMse, CodecKind::kProd})
    for (int64_t d : kDims)
      for (int bits = 1; bits <= 8; ++bits)
        for (int64_t n : kCounts) {
          const VectorCodec c = make(d, bits, kind, rng.next_u64());
          const cuda::GpuCodec g = cuda::GpuCodec::create(c).value();
          const std::vector<float> x = vectors(n, d, rng);
          auto want = c.encode(n, x);
          auto got = g.encode(n, x);
          ASSERT_TRUE(want.ok() && got.ok()) << got.status().to_string();
          const std::string where = fmt::format("{} d={} bits={} n={}", codec_kind_name(kind), d, bits, n);
          const int64_t at = first_difference(got->codes, want->codes);
          ASSERT_EQ(at, -1) << where << ": code byte " << at % c.code_bytes() << " of row " << at / c.code_bytes()
                            << " (mse bytes " << c.mse_code_bytes() << ")";
          ASSERT_EQ(first_difference(got->norms, want->norms), -1) << where;
          ASSERT_EQ(first_difference(got->gammas, want->gammas), -1) << where;
          // Resident codes (interleaved layout) come back as the same bytes.
          auto resident = cuda::GpuCodes::encode(g, n, x);
          ASSERT_TRUE(resident.ok()) << resident.status().to_string();
          auto back = resident->download();
          ASSERT_TRUE(back.ok());
          ASSERT_EQ(first_difference(back->codes, want->codes), -1) << where << " (GpuCodes)";
          ASSERT_EQ(first_difference(back->norms, want->norms), -1) << where << " (GpuCodes)";
          ASSERT_EQ(first_difference(back->gammas, want->gammas), -1) << where << " (GpuCodes)";
        }
}

TEST(CudaCodec, DecodeEqualsCpuReferenceBitForBit) {
  REQUIRE_GPU();
  Rng rng(test_seed("cuda decode"));
  for (CodecKind kind : {CodecKind::kMse, CodecKind::kProd})
    for (int64_t d : kDims)
      for (int bits = 1; bits <= 8; ++bits)
        for (int64_t n : kCounts) {
          const VectorCodec c = make(d, bits, kind, rng.next_u64());
          const cuda::GpuCodec g = cuda::GpuCodec::create(c).value();
          EncodedBatch b = c.encode(n, vectors(n, d, rng)).value();
          if (n >= 7)  // arbitrary bytes decode too (every bit pattern is a valid code)
            for (int64_t k = 0; k < c.code_bytes(); ++k) b.codes[5 * c.code_bytes() + k] = rng.next_u64() & 0xFF;
          std::vector<float> want(static_cast<size_t>(n * d)), got(want.size());
          ASSERT_TRUE(c.decode(b.view(), want).ok());
          ASSERT_TRUE(g.decode(b.view(), got).ok());
          const int64_t at = first_difference(got, want);
          ASSERT_EQ(at, -1) << codec_kind_name(kind) << " d=" << d << " bits=" << bits << " n=" << n << " at row "
                            << at / d << " col " << at % d << ": " << got[at] << " vs " << want[at];
        }
}

double score_magnitude(const VectorCodec& c, const PreparedQuery& q, const uint8_t* row, float norm, float gamma);

// Batches larger than one full wave of the row kernels (their grids are capped at what fits on the
// multiprocessors at once, warps then loop over rows) and many scoring tiles: rotation, encode and
// decode still bit for bit, every score still within the bound (checked on a sample of rows).
TEST(CudaCodec, BatchesBeyondOneWaveStillEqualCpu) {
  REQUIRE_GPU();
  Rng rng(test_seed("cuda large batches"));
  for (CodecKind kind : {CodecKind::kMse, CodecKind::kProd})
    for (int64_t d : {int64_t{128}, int64_t{1536}}) {
      const int64_t n = d == 128 ? 40'001 : 6'007;  // > 132 SMs × 16 blocks × 4 warps (d=128), 132 × 4 × 4 (d=1536)
      const VectorCodec c = make(d, 3, kind, rng.next_u64());
      const cuda::GpuCodec g = cuda::GpuCodec::create(c).value();
      const std::vector<float> x = vectors(n, d, rng);
      const std::string where = fmt::format("{} d={} n={}", codec_kind_name(kind), d, n);
      std::vector<float> want_rot(x.size()), got_rot(x.size());
      for (int64_t i = 0; i < n; ++i) c.rotation().forward_ref(x.data() + i * d, want_rot.data() + i * d);
      ASSERT_TRUE(g.rotate(n, x, got_rot).ok());
      ASSERT_EQ(first_difference(got_rot, want_rot), -1) << where << " (rotation)";
      auto want = c.encode(n, x);
      auto got = g.encode(n, x);
      ASSERT_TRUE(want.ok() && got.ok()) << got.status().to_string();
      ASSERT_EQ(first_difference(got->codes, want->codes), -1) << where << " (codes)";
      ASSERT_EQ(first_difference(got->norms, want->norms), -1) << where << " (norms)";
      ASSERT_EQ(first_difference(got->gammas, want->gammas), -1) << where << " (gammas)";
      std::vector<float> want_x(x.size()), got_x(x.size());
      ASSERT_TRUE(c.decode(want->view(), want_x).ok());
      ASSERT_TRUE(g.decode(want->view(), got_x).ok());
      ASSERT_EQ(first_difference(got_x, want_x), -1) << where << " (decode)";
      const int64_t m = 5;
      std::vector<float> queries(static_cast<size_t>(m * d));
      for (auto& v : queries) v = static_cast<float>(rng.normal());
      auto codes = cuda::GpuCodes::upload(g, want->view());
      ASSERT_TRUE(codes.ok()) << codes.status().to_string();
      std::vector<float> ip(static_cast<size_t>(m * n));
      ASSERT_TRUE(codes->inner_products(m, queries, ip).ok());
      for (int64_t k = 0; k < m; ++k) {
        const auto q = c.prepare_query(std::span<const float>(queries.data() + k * d, d)).value();
        std::vector<float> want_ip(n);
        ASSERT_TRUE(c.inner_products(q, want->view(), want_ip).ok());
        for (int64_t i = 0; i < n; i += 1 + static_cast<int64_t>(rng.below(97))) {
          const double sq = std::abs(static_cast<double>(ip[k * n + i]) - want_ip[i]);
          const double mag = score_magnitude(c, q, want->codes.data() + i * c.code_bytes(), want->norms[i],
                                             kind == CodecKind::kProd ? want->gammas[i] : 0.0f);
          ASSERT_LE(sq, 3.0 * (d + 4) * std::ldexp(1.0, -24) * mag + 1e-30)
              << where << " query " << k << " row " << i << ": " << ip[k * n + i] << " vs " << want_ip[i];
        }
      }
    }
}

// Σ|terms| of one score (see the header comment): ‖x‖·(Σ_j |q̃_j·c_j| + γκ·Σ_j |p̃_j|).
double score_magnitude(const VectorCodec& c, const PreparedQuery& q, const uint8_t* row, float norm, float gamma) {
  const int64_t d = c.dim();
  double s = 0.0;
  if (c.mse_bits() > 0) {
    std::vector<uint8_t> idx(d);
    unpack_bits(row, d, c.mse_bits(), idx.data());
    const std::vector<float>& cent = c.codebook()->centroids_f32;
    for (int64_t j = 0; j < d; ++j) s += std::abs(static_cast<double>(q.rotated[j]) * cent[idx[j]]);
  }
  if (c.kind() == CodecKind::kProd) {
    double p = 0.0;
    for (int64_t j = 0; j < d; ++j) p += std::abs(q.projected[j]);
    s += gamma * c.qjl()->scale() * p;
  }
  return norm * s;
}

TEST(CudaCodec, ScoresWithinFloatSummationBoundOfCpu) {
  REQUIRE_GPU();
  Rng rng(test_seed("cuda scores"));
  const double u = std::ldexp(1.0, -24);
  double worst_ratio = 0.0;
  int config = 0;
  for (CodecKind kind : {CodecKind::kMse, CodecKind::kProd})
    for (int64_t d : kDims)
      for (int bits = 1; bits <= 8; ++bits)
        for (int64_t n : kCounts) {
          const int64_t m = std::vector<int64_t>{1, 3, 17}[config++ % 3];
          const VectorCodec c = make(d, bits, kind, rng.next_u64());
          const cuda::GpuCodec g = cuda::GpuCodec::create(c).value();
          const EncodedBatch b = c.encode(n, vectors(n, d, rng)).value();
          std::vector<float> queries(static_cast<size_t>(m * d));
          for (auto& v : queries) v = static_cast<float>(rng.normal());
          auto codes = cuda::GpuCodes::upload(g, b.view());
          ASSERT_TRUE(codes.ok()) << codes.status().to_string();
          std::vector<float> ip(static_cast<size_t>(m * n)), l2(ip.size());
          ASSERT_TRUE(codes->inner_products(m, queries, ip).ok());
          ASSERT_TRUE(codes->squared_l2(m, queries, l2).ok());
          for (int64_t k = 0; k < m; ++k) {
            const auto q = c.prepare_query(std::span<const float>(queries.data() + k * d, d)).value();
            std::vector<float> want_ip(n), want_l2(n);
            ASSERT_TRUE(c.inner_products(q, b.view(), want_ip).ok());
            ASSERT_TRUE(c.squared_l2(q, b.view(), want_l2).ok());
            for (int64_t i = 0; i < n; ++i) {
              const float norm = b.norms[i], gamma = kind == CodecKind::kProd ? b.gammas[i] : 0.0f;
              const double mag = score_magnitude(c, q, b.codes.data() + i * c.code_bytes(), norm, gamma);
              const double tol_ip = 3.0 * (d + 4) * u * mag + 1e-30;
              // L2 = ‖q‖² − 2·ip-like term (+ ‖x‖²·Σc² for mse, whose float rounding adds ‖x‖²·Σc²·2u).
              double extra = 0.0;
              if (kind == CodecKind::kMse) {
                std::vector<uint8_t> idx(d);
                unpack_bits(b.codes.data() + i * c.code_bytes(), d, c.mse_bits(), idx.data());
                double cc = 0.0;
                for (int64_t j = 0; j < d; ++j) cc += std::pow(c.codebook()->centroids_f32[idx[j]], 2);
                extra = 4.0 * u * static_cast<double>(norm) * norm * cc;
              }
              const double tol_l2 = 2.0 * tol_ip + extra + 4.0 * u * std::abs(want_l2[i]) + 1e-30;
              const float gi = ip[k * n + i], gl = l2[k * n + i];
              ASSERT_LE(std::abs(gi - want_ip[i]), tol_ip)
                  << codec_kind_name(kind) << " d=" << d << " bits=" << bits << " n=" << n << " query " << k
                  << " vector " << i << ": " << gi << " vs " << want_ip[i];
              ASSERT_LE(std::abs(gl - want_l2[i]), tol_l2)
                  << codec_kind_name(kind) << " L2 d=" << d << " bits=" << bits << " n=" << n << " query " << k
                  << " vector " << i << ": " << gl << " vs " << want_l2[i];
              if (mag > 0) worst_ratio = std::max(worst_ratio, std::abs(gi - want_ip[i]) / tol_ip);
            }
          }
        }
  std::printf("[ info     ] largest |gpu - cpu| / bound over all inner products: %.3g\n", worst_ratio);
}

TEST(CudaCodec, DevicePointerFormsEqualHostForms) {
  REQUIRE_GPU();
  Rng rng(test_seed("cuda device forms"));
  for (CodecKind kind : {CodecKind::kMse, CodecKind::kProd}) {
    const int64_t n = 1000, d = 100, m = 5;
    const VectorCodec c = make(d, 3, kind, rng.next_u64());
    const cuda::GpuCodec g = cuda::GpuCodec::create(c).value();
    const std::vector<float> x = vectors(n, d, rng);
    std::vector<float> queries(m * d);
    for (auto& v : queries) v = static_cast<float>(rng.normal());
    const EncodedBatch host = g.encode(n, x).value();
    float *dx = nullptr, *dq = nullptr, *dnorms = nullptr, *dgammas = nullptr, *dout = nullptr;
    uint8_t* dcodes = nullptr;
    ASSERT_EQ(cudaMalloc(&dx, x.size() * 4), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&dq, queries.size() * 4), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&dnorms, n * 4), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&dgammas, n * 4), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&dout, std::max(m * n, n * d) * 4), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&dcodes, n * c.code_bytes()), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dq, queries.data(), queries.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_TRUE(g.encode_device(n, dx, dcodes, dnorms, kind == CodecKind::kProd ? dgammas : nullptr).ok());
    std::vector<uint8_t> codes(n * c.code_bytes());
    ASSERT_EQ(cudaMemcpy(codes.data(), dcodes, codes.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(codes, host.codes);
    ASSERT_TRUE(g.decode_device(n, dcodes, dnorms, dgammas, dout).ok());
    std::vector<float> decoded(n * d), want(n * d);
    ASSERT_EQ(cudaMemcpy(decoded.data(), dout, decoded.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    ASSERT_TRUE(g.decode(host.view(), want).ok());
    EXPECT_EQ(first_difference(decoded, want), -1);
    auto resident = cuda::GpuCodes::encode_device(g, n, dx);
    ASSERT_TRUE(resident.ok());
    std::vector<float> scores(m * n), host_scores(m * n);
    for (bool l2 : {false, true}) {
      ASSERT_TRUE((l2 ? resident->squared_l2_device(m, dq, dout) : resident->inner_products_device(m, dq, dout)).ok());
      ASSERT_EQ(cudaMemcpy(scores.data(), dout, scores.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
      ASSERT_TRUE((l2 ? resident->squared_l2(m, queries, host_scores) : resident->inner_products(m, queries, host_scores)).ok());
      EXPECT_EQ(first_difference(scores, host_scores), -1) << "same kernels, same inputs";
    }
    for (void* p : {static_cast<void*>(dx), static_cast<void*>(dq), static_cast<void*>(dnorms),
                    static_cast<void*>(dgammas), static_cast<void*>(dout), static_cast<void*>(dcodes)})
      cudaFree(p);
  }
}

TEST(CudaCodec, ErrorsAreStatusesWithTheCpuMessages) {
  REQUIRE_GPU();
  const VectorCodec c = make(64, 4, CodecKind::kProd, 1);
  EXPECT_FALSE(cuda::GpuCodec::create(c, 1000).ok());
  EXPECT_EQ(cuda::GpuCodec::create(make(cuda::kMaxDim + 1, 2, CodecKind::kMse, 1)).status().code(),
            StatusCode::kUnsupported);
  const cuda::GpuCodec g = cuda::GpuCodec::create(c).value();
  std::vector<float> x(7 * 64, 1.0f);
  // Sizes: the same message as the CPU codec.
  std::vector<uint8_t> codes(7 * c.code_bytes());
  std::vector<float> norms(6), gammas(7);
  const Status cpu = c.encode(7, x, codes, norms, gammas), gpu = g.encode(7, x, codes, norms, gammas);
  ASSERT_FALSE(gpu.ok());
  EXPECT_EQ(gpu.to_string(), cpu.to_string());
  // NaN / Inf / overflowing norms: the same first bad value as the CPU codec.
  x[3 * 64 + 5] = std::numeric_limits<float>::quiet_NaN();
  x[5 * 64 + 1] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(g.encode(7, x).status().to_string(), c.encode(7, x).status().to_string());
  EXPECT_EQ(cuda::GpuCodes::encode(g, 7, x).status().to_string(), c.encode(7, x).status().to_string());
  std::fill(x.begin(), x.end(), 1e38f);  // each value finite, the norm (8e38) is not
  EXPECT_EQ(g.encode(7, x).status().to_string(), c.encode(7, x).status().to_string());
  // Empty batches are fine; wrong sizes are not.
  EXPECT_TRUE(g.encode(0, {}).ok());
  const EncodedBatch b = c.encode(3, std::vector<float>(3 * 64, 0.5f)).value();
  std::vector<float> out(3 * 64);
  EXPECT_TRUE(g.decode(b.view(), out).ok());
  EXPECT_FALSE(g.decode(b.view(), std::span<float>(out.data(), 10)).ok());
  auto resident = cuda::GpuCodes::upload(g, b.view()).value();
  std::vector<float> q(64, 1.0f), s(3);
  EXPECT_TRUE(resident.inner_products(1, q, s).ok());
  EXPECT_FALSE(resident.inner_products(2, q, s).ok());
  q[7] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(resident.squared_l2(1, q, s).ok());
  CodesView bad = b.view();
  bad.codes = bad.codes.subspan(1);
  EXPECT_FALSE(cuda::GpuCodes::upload(g, bad).ok());
}

TEST(CudaCodec, DeviceInfoNamesTheCard) {
  REQUIRE_GPU();
  auto info = cuda::device_info(0);
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->name.empty());
  EXPECT_GT(info->multiprocessors, 0);
  EXPECT_GT(info->peak_bandwidth_gbs, 100.0);
  std::printf("[ info     ] %s, sm_%d%d, %d SMs, %.1f GiB, %.0f GB/s peak, driver %d, runtime %d\n", info->name.c_str(),
              info->sm_major, info->sm_minor, info->multiprocessors, info->memory_bytes / 1073741824.0,
              info->peak_bandwidth_gbs, info->driver_version, info->runtime_version);
  EXPECT_FALSE(cuda::device_info(-1).ok());
}

}  // namespace
}  // namespace tq

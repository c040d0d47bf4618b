// Query-vs-codes scoring, the vector-search hot path: inner products or squared L2 distances of m
// prepared queries (rotated, and for kProd projected) against n vectors in the interleaved layout
// (layout.cu). One thread per vector; a block of 128 vectors walks the coordinates in chunks of 256
// with a tile of kQ queries in shared memory (every lane reads the same query value: a broadcast).
//
// Per vector and query, the same estimators as VectorCodec (formats/turboquant_codec.cc):
//   s  = Σ_j q̃_j·c[idx_j]  (+ γ·κ·Σ_j z_j·p̃_j for kProd; z_j = ±1 from the sign bits)
//   ip = ‖x‖·s
//   L2 = ‖q‖² − 2‖x‖·s + ‖x‖²·Σ_j c[idx_j]²   (kMse: the distance to the reconstruction)
//      = ‖q‖² + ‖x‖² − 2·ip                   (kProd: unbiased)
// Sums are float (FMA) in another order than the CPU's, hence within the float summation bound of it
// (the sign sum as 2·Σ_{z=+1} p̃ − Σ p̃, as the CPU's SIMD path does).

#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/launch.h"

namespace tq::cuda {
namespace {

constexpr int kThreads = 128;  // threads per block; each scores kV vectors (kV·128 vectors per block)
constexpr int kChunk = 256;    // coordinates per shared-memory query chunk (a multiple of 32)

// Code t (0..31) of a group of 32 codes held in kBits consecutive words (compile-time shifts).
template <int kBits>
__device__ __forceinline__ uint32_t group_code(const uint32_t* w, int t) {
  constexpr uint32_t kMask = (1u << kBits) - 1u;
  const int bit = t * kBits, wi = bit >> 5, off = bit & 31;
  uint32_t v = w[wi] >> off;
  if (off + kBits > 32) v |= w[wi + 1] << (32 - off);
  return v & kMask;
}

// kV vectors per thread (vector v0 + s·128, s < kV): more loads in flight per thread, and each
// query value read from shared memory serves kV vectors.
template <int kBits, int kQ, int kV>
__global__ void __launch_bounds__(kThreads) score_kernel(CodecTables t, ScoreArgs a) {
  __shared__ float s_lut[256];
  __shared__ __align__(16) float s_q[kQ][kChunk];
  __shared__ __align__(16) float s_p[kQ][kChunk];
  const int tid = threadIdx.x, lane = tid & 31;
  if (kBits > 0)
    for (int k = tid; k < (1 << kBits); k += kThreads) s_lut[k] = t.centroids[k];
  const int64_t v0 = static_cast<int64_t>(blockIdx.x) * kV * kThreads + tid;  // < the padded vector count
  const int n_mse = a.groups * kBits;
  const uint32_t* mw[kV];
  const uint32_t* sw[kV];
#pragma unroll
  for (int s = 0; s < kV; ++s) {
    const int64_t blk = (v0 + s * kThreads) >> 5;
    mw[s] = a.mse_words + blk * n_mse * 32 + lane;
    sw[s] = t.prod ? a.sign_words + blk * a.groups * 32 + lane : nullptr;
  }
  const int dim_pad = a.groups * 32;
  const int tiles = static_cast<int>((a.m + kQ - 1) / kQ);
  for (int tile = blockIdx.y; tile < tiles; tile += gridDim.y) {
    const int64_t q0 = static_cast<int64_t>(tile) * kQ;
    float acc[kV][kQ], pos[kV][kQ];  // Σ q̃·c and, for kProd, Σ_{sign bit set} p̃
#pragma unroll
    for (int s = 0; s < kV; ++s)
#pragma unroll
      for (int q = 0; q < kQ; ++q) acc[s][q] = pos[s][q] = 0.0f;
    for (int c0 = 0; c0 < dim_pad; c0 += kChunk) {
      const int len = min(kChunk, dim_pad - c0);
      __syncthreads();
      for (int e = tid; e < kQ * len; e += kThreads) {
        const int q = e / len, j = e - q * len;
        const bool live = q0 + q < a.m;
        s_q[q][j] = live ? a.rotated[(q0 + q) * dim_pad + c0 + j] : 0.0f;
        if (t.prod) s_p[q][j] = live ? a.projected[(q0 + q) * dim_pad + c0 + j] : 0.0f;
      }
      __syncthreads();
      const float c_lo = s_lut[0], c_hi = s_lut[kBits == 1 ? 1 : 0];
      for (int g = 0; g < len / 32; ++g) {
        const int gg = c0 / 32 + g;
        if constexpr (kBits > 0) {
          uint32_t w[kV][kBits];
#pragma unroll
          for (int s = 0; s < kV; ++s)
#pragma unroll
            for (int u = 0; u < kBits; ++u) w[s][u] = __ldg(mw[s] + (gg * kBits + u) * 32);
#pragma unroll
          for (int t4 = 0; t4 < 8; ++t4) {
            float c[kV][4];
#pragma unroll
            for (int s = 0; s < kV; ++s)
#pragma unroll
              for (int u = 0; u < 4; ++u) {
                if constexpr (kBits == 1) {
                  c[s][u] = (w[s][0] >> (4 * t4 + u)) & 1u ? c_hi : c_lo;  // a select, no table read
                } else {
                  c[s][u] = s_lut[group_code<kBits>(w[s], 4 * t4 + u)];
                }
              }
#pragma unroll
            for (int q = 0; q < kQ; ++q) {
              const float4 qv = *reinterpret_cast<const float4*>(&s_q[q][g * 32 + 4 * t4]);
#pragma unroll
              for (int s = 0; s < kV; ++s) {
                acc[s][q] = fmaf(qv.x, c[s][0], acc[s][q]);
                acc[s][q] = fmaf(qv.y, c[s][1], acc[s][q]);
                acc[s][q] = fmaf(qv.z, c[s][2], acc[s][q]);
                acc[s][q] = fmaf(qv.w, c[s][3], acc[s][q]);
              }
            }
          }
        }
        if (t.prod) {
          uint32_t sword[kV];
#pragma unroll
          for (int s = 0; s < kV; ++s) sword[s] = __ldg(sw[s] + gg * 32);
#pragma unroll
          for (int t4 = 0; t4 < 8; ++t4) {
#pragma unroll
            for (int q = 0; q < kQ; ++q) {
              const float4 pv = *reinterpret_cast<const float4*>(&s_p[q][g * 32 + 4 * t4]);
#pragma unroll
              for (int s = 0; s < kV; ++s) {  // predicated adds: Σ z·p̃ = 2·Σ_{z=+1} p̃ − Σ p̃
                if (sword[s] & (1u << (4 * t4 + 0))) pos[s][q] += pv.x;
                if (sword[s] & (1u << (4 * t4 + 1))) pos[s][q] += pv.y;
                if (sword[s] & (1u << (4 * t4 + 2))) pos[s][q] += pv.z;
                if (sword[s] & (1u << (4 * t4 + 3))) pos[s][q] += pv.w;
              }
            }
          }
        }
      }
    }
#pragma unroll
    for (int s = 0; s < kV; ++s) {
      const int64_t v = v0 + s * kThreads;
      if (v >= a.n) continue;
      const float norm = a.norms[v];
      const float gamma_kappa = t.prod ? a.gammas[v] * t.qjl_scale : 0.0f;
      const float code_sq = !t.prod && a.l2 ? a.code_sq[v] : 0.0f;
#pragma unroll
      for (int q = 0; q < kQ; ++q) {
        if (q0 + q >= a.m) break;
        const float sc = t.prod ? acc[s][q] + gamma_kappa * (2.0f * pos[s][q] - a.projected_sum[q0 + q]) : acc[s][q];
        float r;
        if (!a.l2) {
          r = norm * sc;
        } else {
          const double qq = a.query_sq[q0 + q], nd = norm;
          r = t.prod ? static_cast<float>(qq + nd * nd - 2.0 * (nd * sc))
                     : static_cast<float>(qq - 2.0 * nd * sc + nd * nd * code_sq);
        }
        a.out[(q0 + q) * a.n + v] = r;
      }
    }
  }
}

template <int kBits, int kQ, int kV>
cudaError_t launch_q(const CodecTables& t, const ScoreArgs& a, cudaStream_t stream) {
  int device = 0, sms = 132;
  if (cudaGetDevice(&device) == cudaSuccess) cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  const int64_t blocks_x = (a.n + kV * kThreads - 1) / (kV * kThreads);
  const int64_t tiles = (a.m + kQ - 1) / kQ;
  // Enough blocks for ~8 per multiprocessor; each block walks its query tiles with stride gridDim.y.
  const int64_t want_y = std::max<int64_t>(1, (8 * sms + blocks_x - 1) / blocks_x);
  const int64_t blocks_y = std::min<int64_t>({tiles, want_y, 65535});
  score_kernel<kBits, kQ, kV><<<dim3(static_cast<unsigned>(blocks_x), static_cast<unsigned>(blocks_y)), kThreads, 0,
                                stream>>>(t, a);
  return cudaGetLastError();
}

template <int kBits>
cudaError_t launch_bits(const CodecTables& t, const ScoreArgs& a, cudaStream_t stream) {
  if (a.m == 1) return launch_q<kBits, 1, 4>(t, a, stream);
  if (a.m <= 4) return launch_q<kBits, 4, 4>(t, a, stream);
  return launch_q<kBits, 16, 2>(t, a, stream);
}

}  // namespace

cudaError_t launch_score(const CodecTables& t, const ScoreArgs& a, cudaStream_t stream) {
  if (a.n <= 0 || a.m <= 0) return cudaSuccess;
  switch (t.mse_bits) {
    case 0: return launch_bits<0>(t, a, stream);
    case 1: return launch_bits<1>(t, a, stream);
    case 2: return launch_bits<2>(t, a, stream);
    case 3: return launch_bits<3>(t, a, stream);
    case 4: return launch_bits<4>(t, a, stream);
    case 5: return launch_bits<5>(t, a, stream);
    case 6: return launch_bits<6>(t, a, stream);
    case 7: return launch_bits<7>(t, a, stream);
    case 8: return launch_bits<8>(t, a, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace tq::cuda

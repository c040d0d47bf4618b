// Device helpers shared by the warp-per-row kernels (rotate.cu, encode.cu, decode.cu): the
// randomized Hadamard rotation of one row in shared memory by one warp, bit for bit the CPU
// reference (math/rotation.cc), and the CPU bit-packing layout (math/bitpack.h).
//
// Exactness: ref::sign_fwht multiplies by the signs, then runs radix-2 stages h = 1, 2, 4, ... with
// butterflies (a, b) → (a + b, a − b). Here lane l holds elements k·32 + l (k < E) of a window in
// registers: stages h < 32 pair lanes (shuffle), stages h >= 32 pair registers, in the same
// ascending order, each butterfly on the same two values. Every operation is an explicitly rounded
// intrinsic (__fadd_rn, __fmul_rn, ...), so nvcc cannot contract any of them into an FMA.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/codec_tables.h"

namespace tq::cuda::dev {

constexpr unsigned kFullMask = 0xffffffffu;
// Largest window kept in registers: 32 lanes × 64 values. Larger windows do 2048-element chunks in
// registers and the remaining stages through shared memory.
constexpr int kMaxRegs = 64;

enum class Sign { kBefore, kAfter, kNone };

// Register count per lane for FWHT windows of size p: max(1, p/32), capped at kMaxRegs.
constexpr int regs_for_block(int p) { return p <= 32 ? 1 : (p / 32 > kMaxRegs ? kMaxRegs : p / 32); }

// One window of p = 32·E floats (or p < 32 with E = 1) at x in shared memory, by one warp.
// kBefore: x ← H·(x∘s) (ref::sign_fwht); kAfter: x ← (H·x)∘s (ref::fwht_sign); kNone: x ← H·x.
template <int E, Sign kSign>
__device__ __forceinline__ void fwht_registers(float* x, const float* __restrict__ s, int p, int lane) {
  __syncwarp();
  float v[E];
  const bool valid = E > 1 || lane < p;
#pragma unroll
  for (int k = 0; k < E; ++k) {
    float t = valid ? x[k * 32 + lane] : 0.0f;
    if (kSign == Sign::kBefore && valid) t = __fmul_rn(t, __ldg(s + k * 32 + lane));
    v[k] = t;
  }
  const int lane_span = E > 1 ? 32 : p;  // stages h < lane_span run across lanes
#pragma unroll
  for (int h = 1; h < 32; h <<= 1) {
    if (h >= lane_span) break;
#pragma unroll
    for (int k = 0; k < E; ++k) {
      const float other = __shfl_xor_sync(kFullMask, v[k], h);
      // lower element: a + b; upper element (holds b, other = a): a − b
      v[k] = (lane & h) ? __fsub_rn(other, v[k]) : __fadd_rn(v[k], other);
    }
  }
#pragma unroll
  for (int hk = 1; hk < E; hk <<= 1) {
#pragma unroll
    for (int k = 0; k < E; ++k) {
      if (!(k & hk)) {
        const float a = v[k], b = v[k + hk];
        v[k] = __fadd_rn(a, b);
        v[k + hk] = __fsub_rn(a, b);
      }
    }
  }
  if (valid) {
#pragma unroll
    for (int k = 0; k < E; ++k) {
      float t = v[k];
      if (kSign == Sign::kAfter) t = __fmul_rn(t, __ldg(s + k * 32 + lane));
      x[k * 32 + lane] = t;
    }
  }
  __syncwarp();
}

// Any power-of-two window p: in registers when p <= 32·E, else (E == kMaxRegs) chunks of 32·E in
// registers, then stages h = 32·E, ..., p/2 through shared memory. Reordering whole chunks before the
// later stages keeps every butterfly's operands, hence the reference's bits.
template <int E, Sign kSign>
__device__ __forceinline__ void fwht_window(float* x, const float* __restrict__ s, int p, int lane) {
  constexpr int kChunk = 32 * E;
  if constexpr (E < kMaxRegs) {
    fwht_registers<E, kSign>(x, s, p, lane);
    return;
  }
  if (p <= kChunk) {
    fwht_registers<E, kSign>(x, s, p, lane);
    return;
  }
  for (int c = 0; c < p; c += kChunk)
    fwht_registers<E, kSign == Sign::kBefore ? Sign::kBefore : Sign::kNone>(x + c, s + c, kChunk, lane);
  for (int h = kChunk; h < p; h <<= 1) {
    for (int t = lane; t < p / 2; t += 32) {
      const int i = ((t & ~(h - 1)) << 1) | (t & (h - 1));
      const float a = x[i], b = x[i + h];
      x[i] = __fadd_rn(a, b);
      x[i + h] = __fsub_rn(a, b);
    }
    __syncwarp();
  }
  if (kSign == Sign::kAfter) {
    for (int i = lane; i < p; i += 32) x[i] = __fmul_rn(x[i], __ldg(s + i));
    __syncwarp();
  }
}

// y = Π·row (HadamardRotation::forward_ref). The row starts in a; b: scratch of the same size.
// Returns the buffer that holds the result (a or b).
template <int E>
__device__ float* rotate_forward(const RotationTables& r, float* a, float* b, int lane) {
  const int d = r.dim, p = r.block;
  for (int k = 0; k < r.rounds; ++k) {
    const float* s = r.signs + static_cast<int64_t>(k) * r.signs_per_round;
    fwht_window<E, Sign::kBefore>(a, s, p, lane);
    if (r.windows) {
      fwht_window<E, Sign::kBefore>(a + d - p, s + p, p, lane);
      const int32_t* perm = r.perm + static_cast<int64_t>(k) * d;
      for (int i = lane; i < d; i += 32) b[i] = a[__ldg(perm + i)];
      __syncwarp();
      float* t = a;
      a = b;
      b = t;
    }
  }
  return a;
}

// x = Πᵀ·row (HadamardRotation::inverse_ref). Same buffer rules as rotate_forward.
template <int E>
__device__ float* rotate_inverse(const RotationTables& r, float* a, float* b, int lane) {
  const int d = r.dim, p = r.block;
  for (int k = r.rounds - 1; k >= 0; --k) {
    const float* s = r.signs + static_cast<int64_t>(k) * r.signs_per_round;
    if (r.windows) {
      const int32_t* iperm = r.iperm + static_cast<int64_t>(k) * d;
      __syncwarp();
      for (int i = lane; i < d; i += 32) b[i] = a[__ldg(iperm + i)];
      __syncwarp();
      float* t = a;
      a = b;
      b = t;
      fwht_window<E, Sign::kAfter>(a + d - p, s + p, p, lane);
    }
    fwht_window<E, Sign::kAfter>(a, s, p, lane);
  }
  return a;
}

// Code j (bits wide) of a packed row of row_bytes bytes (math/bitpack.h: LSB-first bit stream).
__device__ __forceinline__ int code_at(const uint8_t* row, int row_bytes, int j, int bits) {
  const int bit = j * bits, byte = bit >> 3;
  unsigned v = row[byte];
  if (byte + 1 < row_bytes) v |= static_cast<unsigned>(row[byte + 1]) << 8;
  return static_cast<int>((v >> (bit & 7)) & ((1u << bits) - 1u));
}

// Byte k of the packed stream of n codes (idx[j] < 2^bits): the codes overlapping bits [8k, 8k + 8).
// Bits past the last code are zero, as pack_bits writes them.
__device__ __forceinline__ uint8_t packed_byte(const uint8_t* idx, int n, int bits, int k) {
  const int first = (8 * k) / bits;
  const int last = min(n - 1, (8 * k + 7) / bits);
  unsigned acc = 0;
  for (int j = first; j <= last; ++j) {
    const int shift = j * bits - 8 * k;
    const unsigned c = idx[j];
    acc |= shift >= 0 ? (c << shift) : (c >> -shift);
  }
  return static_cast<uint8_t>(acc & 0xFFu);
}

}  // namespace tq::cuda::dev

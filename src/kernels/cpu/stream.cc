#include "kernels/stream.h"

#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/stream.cc"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

HWY_BEFORE_NAMESPACE();
namespace tq {
namespace HWY_NAMESPACE {
namespace {  // internal linkage: per-target code of other files may use the same names
namespace hn = hwy::HWY_NAMESPACE;

float StreamReadSum(const float* x, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::Add(a0, hn::LoadU(df, x + i));
    a1 = hn::Add(a1, hn::LoadU(df, x + i + N));
    a2 = hn::Add(a2, hn::LoadU(df, x + i + 2 * N));
    a3 = hn::Add(a3, hn::LoadU(df, x + i + 3 * N));
  }
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) s += x[i];
  return s;
}

uint64_t StreamReadSumBytes(const uint8_t* p, int64_t n_bytes) {
  const hn::ScalableTag<uint32_t> du;
  const int64_t N = static_cast<int64_t>(hn::Lanes(du));
  const int64_t n = n_bytes / 4;
  const uint32_t* x = reinterpret_cast<const uint32_t*>(p);  // unaligned loads below
  auto a0 = hn::Zero(du), a1 = hn::Zero(du), a2 = hn::Zero(du), a3 = hn::Zero(du);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::Add(a0, hn::LoadU(du, x + i));
    a1 = hn::Add(a1, hn::LoadU(du, x + i + N));
    a2 = hn::Add(a2, hn::LoadU(du, x + i + 2 * N));
    a3 = hn::Add(a3, hn::LoadU(du, x + i + 3 * N));
  }
  uint64_t s = hn::GetLane(hn::SumOfLanes(du, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) {
    uint32_t w;
    std::memcpy(&w, p + 4 * i, 4);
    s += w;
  }
  for (int64_t b = 4 * n; b < n_bytes; ++b) s += p[b];
  return s;
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace tq
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tq {
HWY_EXPORT(StreamReadSum);
HWY_EXPORT(StreamReadSumBytes);
uint64_t stream_read_sum_bytes(const uint8_t* p, int64_t n_bytes) {
  return HWY_DYNAMIC_DISPATCH(StreamReadSumBytes)(p, n_bytes);
}
float stream_read_sum(const float* x, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(StreamReadSum)(x, n);
}
}  // namespace tq
#endif

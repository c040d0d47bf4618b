// Shared helpers for kernel tests: fresh seeds (../common/test_seed.h: printed, overridable with
// TQ_TEST_SEED) and a loop over every SIMD target compiled in and supported by this CPU.
#pragma once

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/rng.h"
#include "../common/simd_targets.h"
#include "../common/test_seed.h"

namespace tq::test {

// Calls fn(target_name) once per supported target with dispatch forced to it; returns the count.
inline int for_each_target(const std::function<void(const char*)>& fn) {
  return testing::for_each_simd_target(fn);
}

inline std::vector<float> normal_vec(Rng& rng, size_t n, double sd = 1.0) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal() * sd);
  return v;
}

}  // namespace tq::test

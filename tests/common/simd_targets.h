// Runs a test body once per SIMD target compiled into the binary and supported by this CPU
// (AVX3_DL/AVX3_ZEN4, AVX3, AVX2, SCALAR), so every dispatched kernel is checked on every target.
#pragma once

#include <gtest/gtest.h>
#include <hwy/targets.h>

namespace tq::testing {

template <class Fn>
void for_each_simd_target(Fn&& fn) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    fn(hwy::TargetName(target));
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the real CPU's targets
}

}  // namespace tq::testing

// Runs a test body once per SIMD target compiled into the binary and supported by this CPU
// (x86: AVX3_DL, AVX3, AVX2, SCALAR; ARM64: SVE2, SVE, NEON, SCALAR; fewer under a TQ_SIMD cap), so
// every dispatched kernel is checked on every target the host can run: an AVX-512 machine tests
// the AVX2 path too. Prints the targets it ran ("[ targets  ] 4: AVX3_DL AVX3 AVX2 SCALAR").
#pragma once

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdio>
#include <string>

namespace tq::testing {

template <class Fn>
int for_each_simd_target(Fn&& fn) {
  int n = 0;
  std::string names;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    fn(hwy::TargetName(target));
    ++n;
    names += std::string(" ") + hwy::TargetName(target);
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the real CPU's targets (and any TQ_SIMD cap)
  std::printf("[ targets  ] %d:%s\n", n, names.c_str());
  return n;
}

}  // namespace tq::testing

// Runs a test body once per SIMD target compiled into the binary and supported by this CPU
// (x86: AVX3_DL, AVX3, AVX2, SCALAR; ARM64: SVE2, SVE, NEON, SCALAR; fewer under a TQ_SIMD cap), so
// every dispatched kernel is checked on every target the host can run: an AVX-512 machine tests
// the AVX2 path too. On a CPU with AVX-VNNI the targets whose kernels can use it (AVX3, AVX2) run
// twice, without and with it. Prints what it ran ("[ targets  ] 6: AVX3_DL AVX3+VNNI AVX3 ...").
#pragma once

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdio>
#include <string>

#include "core/simd.h"

namespace tq::testing {

template <class Fn>
int for_each_simd_target(Fn&& fn) {
  int n = 0;
  std::string names;
  const bool vnni_before = simd_avx_vnni();
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    bool vnni_variants[2] = {false, true};
    int n_variants = 1;
#if HWY_ARCH_X86
    if ((target == HWY_AVX2 || target == HWY_AVX3) && vnni_before) n_variants = 2;
#endif
    for (int v = 0; v < n_variants; ++v) {
      set_simd_avx_vnni(n_variants == 2 ? vnni_variants[v] : vnni_before);
      const std::string name = simd_target();
      SCOPED_TRACE(name);
      fn(name.c_str());
      ++n;
      names += " " + name;
    }
    set_simd_avx_vnni(vnni_before);
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the real CPU's targets (and any TQ_SIMD cap)
  // Once per test (bodies often loop over cases, each looping over the targets).
  static std::string last_test;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "";
  if (test != last_test) std::printf("[ targets  ] %d:%s\n", n, names.c_str());
  last_test = test;
  return n;
}

}  // namespace tq::testing

#include "core/simd.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "core/cpu.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/simd.cc"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

HWY_BEFORE_NAMESPACE();
namespace tq {
namespace HWY_NAMESPACE {
int64_t CurrentTarget() { return HWY_TARGET; }
}  // namespace HWY_NAMESPACE
}  // namespace tq
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tq {
HWY_EXPORT(CurrentTarget);

namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

int64_t g_disabled = 0;                 // targets disabled by set_simd_target
std::atomic<bool> g_vnni_allowed{true};  // AVX-VNNI in the AVX2 kernels (where the CPU has it)

// Targets of HWY_TARGETS this CPU supports, ignoring our cap (but not a test's mock).
std::vector<int64_t> all_targets() {
  hwy::DisableTargets(0);
  std::vector<int64_t> t = hwy::SupportedAndGeneratedTargets();
  hwy::DisableTargets(g_disabled);
  return t;
}

}  // namespace

Status set_simd_target(std::string_view name) {
  std::string want = lower(name);
  const std::vector<int64_t> all = all_targets();
  if (want.empty() || want == "auto" || want == "best") {
    g_disabled = 0;
    g_vnni_allowed = true;
    hwy::DisableTargets(0);
    return ok_status();
  }
  bool vnni = want != "avx2";  // plain "avx2" means without AVX-VNNI
  if (want == "avx2+vnni" || want == "avx2_vnni") {
    if (!cpu_info().avx_vnni)
      return invalid_argument("SIMD target '{}': this CPU has no AVX-VNNI", std::string(name));
    want = "avx2";
    vnni = true;
  }
  for (int64_t t : all) {
    if (lower(hwy::TargetName(t)) != want) continue;
    // Highway orders targets by bit value, better ones lower: disable every better one.
    g_disabled = t - 1;
    g_vnni_allowed = vnni;
    hwy::DisableTargets(g_disabled);
    return ok_status();
  }
  std::string have;
  for (int64_t t : all) {
    have += std::string(have.empty() ? "" : ", ") + hwy::TargetName(t);
    if (t == HWY_AVX2 && cpu_info().avx_vnni) have += ", AVX2+VNNI";
  }
  return invalid_argument("SIMD target '{}' is not available on this CPU and build (available: {})",
                          std::string(name), have);
}

Status apply_simd_env() {
  const char* env = std::getenv("TQ_SIMD");
  if (!env) return ok_status();
  return set_simd_target(env).with_context("TQ_SIMD");
}

std::string simd_target() {
  const int64_t t = HWY_DYNAMIC_DISPATCH(CurrentTarget)();
  std::string name = hwy::TargetName(t);
#if HWY_ARCH_X86
  if ((t == HWY_AVX2 || t == HWY_AVX3) && simd_avx_vnni()) name += "+VNNI";
#endif
  return name;
}

bool simd_avx_vnni() { return g_vnni_allowed && cpu_info().avx_vnni; }

bool simd_x86_avx2() {
#if HWY_ARCH_X86
  const int64_t t = HWY_DYNAMIC_DISPATCH(CurrentTarget)();
  return t <= HWY_AVX2 && t != HWY_SCALAR && t != HWY_EMU128;  // lower bits: better targets
#else
  return false;
#endif
}

namespace {
// TQ_SIMD applies in every program that links the kernels (tq, tests, benchmarks, bindings): a
// static initializer of this file, which the kernels reference. A bad value stops the program.
const bool g_env_applied = [] {
  if (const Status st = apply_simd_env(); !st.ok()) {
    std::fprintf(stderr, "tq: %s\n", st.to_string().c_str());
    std::exit(2);
  }
  return true;
}();
}  // namespace

void set_simd_avx_vnni(bool allowed) { g_vnni_allowed = allowed; }

std::vector<std::string> simd_targets() {
  std::vector<std::string> r;
  for (int64_t t : hwy::SupportedAndGeneratedTargets()) r.emplace_back(hwy::TargetName(t));
  return r;
}

std::vector<std::string> simd_targets_all() {
  std::vector<std::string> r;
  for (int64_t t : all_targets()) {
#if HWY_ARCH_X86
    if (t == HWY_AVX2 && cpu_info().avx_vnni) r.emplace_back("AVX2+VNNI");
#endif
    r.emplace_back(hwy::TargetName(t));
  }
  return r;
}

}  // namespace tq
#endif  // HWY_ONCE

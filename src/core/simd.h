// Which SIMD target the runtime dispatch uses. Every kernel is compiled for several targets
// (Highway: AVX3_DL = AVX-512 VNNI/VBMI, AVX3 = AVX-512, AVX2, the scalar fallback; on ARM64 NEON
// and SVE) and the best one this CPU supports is picked at run time. `TQ_SIMD=<target>` in the
// environment (read by `tq` and by every test executable) or `tq --simd <target>` caps the choice
// at that target, so an AVX-512 machine can run, test and benchmark the AVX2 path.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tq/status.h"

namespace tq {

// Caps dispatch at `name` (case-insensitive Highway target name: "avx3_dl", "avx3", "avx2",
// "scalar", "emu128", "neon", "sve", ...; "auto" or "" = the best supported). The target must be
// compiled in and supported by this CPU; otherwise invalid_argument listing those that are.
Status set_simd_target(std::string_view name);
// Applies TQ_SIMD when it is set (error: as set_simd_target, naming the variable).
Status apply_simd_env();
// The target the dispatch picks now, e.g. "AVX2".
std::string simd_target();
// Targets compiled in and supported by this CPU (after any cap), best first.
std::vector<std::string> simd_targets();
// Every target compiled in and supported by this CPU, ignoring any cap.
std::vector<std::string> simd_targets_all();

}  // namespace tq

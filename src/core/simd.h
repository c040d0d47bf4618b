// Which SIMD target the runtime dispatch uses. Every kernel is compiled for several targets
// (Highway: AVX3_DL = AVX-512 VNNI/VBMI, AVX3 = AVX-512, AVX2, the scalar fallback; on ARM64 NEON
// and SVE) and the best one this CPU supports is picked at run time. `TQ_SIMD=<target>` in the
// environment (read by every program that links the kernels: tq, tests, benchmarks) or
// `tq --simd <target>` caps the choice
// at that target, so an AVX-512 machine can run, test and benchmark the AVX2 path.
//
// AVX-VNNI (vpdpbusd on 256-bit vectors: Alder Lake and later, Sapphire Rapids, Zen 5) is an
// option of the AVX2 kernels (and of AVX3, which runs them), not a Highway target: the name
// "avx2+vnni" caps at AVX2 with AVX-VNNI, "avx2" at AVX2 without it (the plain AVX2 of Haswell …
// Zen 3); the other names leave it on where the CPU has it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tq/status.h"

namespace tq {

// Caps dispatch at `name` (case-insensitive Highway target name: "avx3_dl", "avx3", "avx2",
// "avx2+vnni", "scalar", "emu128", "neon", "sve", ...; "auto" or "" = the best supported). The
// target must be compiled in and supported by this CPU; otherwise invalid_argument listing those
// that are.
Status set_simd_target(std::string_view name);
// Applies TQ_SIMD when it is set (error: as set_simd_target, naming the variable). Runs once by
// itself before main() in every program that links the kernels; a bad value exits with status 2.
Status apply_simd_env();
// The target the dispatch picks now, e.g. "AVX3_DL", "AVX2", "AVX2+VNNI".
std::string simd_target();
// Whether the dispatch target is AVX2 or better on x86 (the AVX2 kernels written with intrinsics
// outside Highway, e.g. kernels/cpu/matmul_ggml_avx2.cc, ask this).
bool simd_x86_avx2();
// Whether the AVX2 kernels may use AVX-VNNI: the CPU has it and the cap allows it.
bool simd_avx_vnni();
// Tests: turn AVX-VNNI off or back on (subject to the CPU) without touching the target cap.
void set_simd_avx_vnni(bool allowed);
// Targets compiled in and supported by this CPU (after any cap), best first.
std::vector<std::string> simd_targets();
// Every target compiled in and supported by this CPU, ignoring any cap.
std::vector<std::string> simd_targets_all();

}  // namespace tq

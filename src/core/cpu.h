// What the CPU offers, for dispatch decisions and for the machine line in benchmark reports.
#pragma once

#include <string>

namespace tq {

struct CpuInfo {
  std::string model_name;  // from /proc/cpuinfo, "unknown" elsewhere
  int n_logical_cpus = 1;
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false, avx512bf16 = false;
  bool avx_vnni = false;
};

const CpuInfo& cpu_info();
// e.g. "AMD EPYC (2 threads) avx2 fma avx512f avx512bw avx512vnni avx512bf16"
std::string cpu_summary();

}  // namespace tq

#include "core/cpu.h"

#include <cpuid.h>

#include <fstream>
#include <thread>

namespace tq {
namespace {

CpuInfo detect() {
  CpuInfo c;
  c.n_logical_cpus = static_cast<int>(std::thread::hardware_concurrency());
  c.model_name = "unknown";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) c.model_name = line.substr(p + 2);
      break;
    }
  }
#if defined(__x86_64__)
  unsigned a, b, cc, d;
  if (__get_cpuid(1, &a, &b, &cc, &d)) {
    c.fma = cc & (1u << 12);
    c.f16c = cc & (1u << 29);
  }
  if (__get_cpuid_count(7, 0, &a, &b, &cc, &d)) {
    c.avx2 = b & (1u << 5);
    c.avx512f = b & (1u << 16);
    c.avx512bw = b & (1u << 30);
    c.avx512vl = b & (1u << 31);
    c.avx512vnni = cc & (1u << 11);
  }
  if (__get_cpuid_count(7, 1, &a, &b, &cc, &d)) {
    c.avx_vnni = a & (1u << 4);
    c.avx512bf16 = a & (1u << 5);
  }
#endif
  return c;
}

}  // namespace

const CpuInfo& cpu_info() {
  static const CpuInfo info = detect();
  return info;
}

std::string cpu_summary() {
  const CpuInfo& c = cpu_info();
  std::string s = c.model_name + " (" + std::to_string(c.n_logical_cpus) + " threads)";
  auto add = [&](bool on, const char* name) {
    if (on) s += std::string(" ") + name;
  };
  add(c.avx2, "avx2");
  add(c.fma, "fma");
  add(c.f16c, "f16c");
  add(c.avx512f, "avx512f");
  add(c.avx512bw, "avx512bw");
  add(c.avx512vnni, "avx512vnni");
  add(c.avx512bf16, "avx512bf16");
  add(c.avx_vnni, "avxvnni");
  return s;
}

}  // namespace tq

#include "core/memory_info.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace tq {
namespace {

// The first number in a file ("max" and unreadable files give nullopt).
std::optional<uint64_t> read_number(const std::string& path) {
  std::ifstream in(path);
  uint64_t v = 0;
  if (!(in >> v)) return std::nullopt;
  return v;
}

// limit − usage of the cgroup this process is in, when a limit is set.
std::optional<uint64_t> cgroup_remaining() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) {  // cgroup v2: "0::/path"
      const std::string dir = "/sys/fs/cgroup" + line.substr(3);
      const auto max = read_number(dir + "/memory.max");
      const auto cur = read_number(dir + "/memory.current");
      if (max && cur) return *max > *cur ? *max - *cur : 0;
      return std::nullopt;
    }
  }
  // cgroup v1 (the limit is a huge number when unset)
  const auto lim = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  const auto use = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  if (lim && use && *lim < (uint64_t{1} << 60)) return *lim > *use ? *lim - *use : 0;
  return std::nullopt;
}

}  // namespace

uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  uint64_t avail = 0;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) == 0) {
      std::istringstream s(line.substr(13));
      uint64_t kib = 0;
      if (s >> kib) avail = kib * 1024;
      break;
    }
  }
  if (avail == 0) return 0;
  if (const auto cg = cgroup_remaining()) avail = std::min(avail, *cg);
  return avail;
}

}  // namespace tq

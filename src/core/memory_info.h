// How much memory this process can still use, for checks before large allocations (a KV cache
// of a user-chosen context): refusing with a message beats std::bad_alloc or the OOM killer.
#pragma once

#include <cstdint>

namespace tq {

// Bytes the process can still allocate and keep resident: MemAvailable of /proc/meminfo (free
// memory plus reclaimable page cache), lowered to the cgroup's remaining limit (v2 memory.max −
// memory.current, or v1 memory.limit_in_bytes − memory.usage_in_bytes) when a cgroup sets one.
// 0 when it cannot be read (no /proc): callers then skip their memory checks.
uint64_t available_memory_bytes();

}  // namespace tq

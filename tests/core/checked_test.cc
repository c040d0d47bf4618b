#include "core/checked.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/memory_info.h"

namespace tq {
namespace {

TEST(Checked, MulAndAddDetectOverflow) {
  EXPECT_EQ(checked_mul<uint64_t>(uint64_t{1} << 31, uint64_t{1} << 32), uint64_t{1} << 63);
  EXPECT_FALSE(checked_mul<uint64_t>(uint64_t{1} << 62, 4));  // 2^64: wrapped to 0 before
  EXPECT_FALSE(checked_mul<int64_t>(INT64_MAX, 2));
  EXPECT_EQ(checked_mul<int64_t>(-3, 4), -12);
  EXPECT_EQ(checked_add<uint64_t>(UINT64_MAX - 1, 1), UINT64_MAX);
  EXPECT_FALSE(checked_add<uint64_t>(UINT64_MAX, 1));
  EXPECT_EQ(checked_align_up<uint64_t>(33, 32), 64u);
  EXPECT_EQ(checked_align_up<uint64_t>(64, 32), 64u);
  EXPECT_FALSE(checked_align_up<uint64_t>(UINT64_MAX - 3, 32));
}

TEST(Checked, Elements) {
  EXPECT_EQ(checked_elements(std::vector<int64_t>{}), 1);
  EXPECT_EQ(checked_elements(std::vector<int64_t>{3, 0, 5}), 0);
  EXPECT_EQ(checked_elements(std::vector<int64_t>{1 << 20, 1 << 20}), int64_t{1} << 40);
  EXPECT_FALSE(checked_elements(std::vector<int64_t>{int64_t{1} << 32, int64_t{1} << 32}));
  EXPECT_FALSE(checked_elements(std::vector<int64_t>{4, -1}));
  EXPECT_FALSE(checked_elements(std::vector<int64_t>{int64_t{1} << 31, 4}, int64_t{1} << 32));
  EXPECT_EQ(checked_elements(std::vector<int64_t>{int64_t{1} << 31, 2}, int64_t{1} << 32),
            int64_t{1} << 32);
}

TEST(MemoryInfo, AvailableMemoryIsKnownOnLinux) {
  const uint64_t avail = available_memory_bytes();
  EXPECT_GT(avail, uint64_t{16} << 20);  // /proc/meminfo is there and holds MemAvailable
  EXPECT_LT(avail, uint64_t{1} << 50);
}

}  // namespace
}  // namespace tq

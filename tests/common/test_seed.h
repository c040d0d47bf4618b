// Fresh random seeds for statistical and randomized tests (STYLE.md §2): every call draws a new
// seed and prints it; set TQ_TEST_SEED=<n> to rerun with a fixed seed. Every randomized test takes
// its seed from here (tests with fixed data use fixed inputs, not a seed of their own).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

namespace tq::testing {

// `what` names the draw in the printed line (default: the running test's name).
inline uint64_t test_seed(const char* what = nullptr) {
  std::string name;
  if (!what) {
    const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
    name = t ? std::string(t->test_suite_name()) + "." + t->name() : "seed";
    what = name.c_str();
  }
  uint64_t seed;
  if (const char* env = std::getenv("TQ_TEST_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    std::random_device rd;
    seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  std::printf("[ seed     ] %s: %llu (rerun with TQ_TEST_SEED=%llu)\n", what, static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  return seed;
}

}  // namespace tq::testing

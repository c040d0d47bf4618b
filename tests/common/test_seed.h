// Fresh random seeds for statistical and randomized tests (STYLE.md §2): every call draws a new
// seed and prints it; set TQ_TEST_SEED=<n> to rerun with a fixed seed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace tq::testing {

inline uint64_t test_seed(const char* what) {
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

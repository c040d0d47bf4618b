// main() of every test executable: GoogleTest, then the tests' scratch folders are removed
// (scratch_dir.h). TQ_SIMD (core/simd.h) is applied before main() by the kernels themselves, so
// `TQ_SIMD=avx2 ctest` runs the whole suite with the AVX2 kernels on an AVX-512 machine.
#include <gtest/gtest.h>

#include "scratch_dir.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  tq::testing::remove_scratch_dirs();
  return rc;
}

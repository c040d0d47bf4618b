// main() of every test executable: GoogleTest, after applying TQ_SIMD (core/simd.h), so that e.g.
// `TQ_SIMD=avx2 ctest` runs the whole suite with the AVX2 kernels on an AVX-512 machine; then the
// tests' scratch folders are removed (scratch_dir.h).
#include <gtest/gtest.h>

#include <cstdio>

#include "core/simd.h"
#include "scratch_dir.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (const tq::Status st = tq::apply_simd_env(); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.to_string().c_str());
    return 2;
  }
  const int rc = RUN_ALL_TESTS();
  tq::testing::remove_scratch_dirs();
  return rc;
}

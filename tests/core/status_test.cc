#include "tq/status.h"

#include <gtest/gtest.h>

namespace tq {
namespace {

Result<int> parse_positive(int x) {
  if (x <= 0) return invalid_argument("value {} is not positive", x);
  return x;
}

Result<int> twice(int x) {
  TQ_ASSIGN_OR_RETURN(int v, parse_positive(x));
  return 2 * v;
}

TEST(Status, OkAndError) {
  EXPECT_TRUE(ok_status().ok());
  Status s = not_found("{}: missing", "a.bin");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.to_string(), "not found: a.bin: missing");
  EXPECT_EQ(s.with_context("loading").message(), "loading: a.bin: missing");
}

TEST(Result, PropagatesThroughMacros) {
  auto r = twice(4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 8);
  auto e = twice(-1);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "value -1 is not positive");
}

}  // namespace
}  // namespace tq

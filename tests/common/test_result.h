// Test helpers that return a value cannot use ASSERT_*: before using *r they call
// ok_or_throw(r.status()), which turns a failure into an exception that GoogleTest reports as a
// failure of the running test with the status message — never a crash at *r. Test bodies use
// ASSERT_TRUE(r.ok()) before *r instead.
#pragma once

#include <stdexcept>
#include <string>

#include "tq/status.h"

namespace tq::testing {

inline void ok_or_throw(const Status& st, const std::string& what = "") {
  if (!st.ok()) throw std::runtime_error((what.empty() ? "" : what + ": ") + st.to_string());
}

}  // namespace tq::testing

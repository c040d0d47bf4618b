// Always-on invariant checks. A failed TQ_CHECK is a bug in the library, never bad user input
// (user input gets a Status). It prints file:line and the message and aborts.
#pragma once

#include <fmt/format.h>

namespace tq::detail {
[[noreturn]] void check_failed(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace tq::detail

#define TQ_CHECK(cond, ...)                                                                    \
  do {                                                                                         \
    if (__builtin_expect(!(cond), 0))                                                          \
      ::tq::detail::check_failed(__FILE__, __LINE__, #cond, ::fmt::format("" __VA_ARGS__));    \
  } while (0)

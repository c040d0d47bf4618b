// Per-process scratch folders for tests: <tmp>/tq_<name>_<pid>. Every folder made here is removed
// when the test program ends (tests/common/test_main.cc), whether the tests passed or failed, so
// test runs leave no tq_*_<pid> folders behind (and a reused pid finds no earlier run's files).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <string>

namespace tq::testing {

namespace detail {
inline std::set<std::filesystem::path>& scratch_registry() {
  static std::set<std::filesystem::path> dirs;
  return dirs;
}
inline std::mutex& scratch_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace detail

// <tmp>/tq_<name>_<pid>, created (with any missing parents) and registered for removal.
inline std::filesystem::path scratch_dir(const std::string& name) {
  const auto d =
      std::filesystem::temp_directory_path() / ("tq_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  std::lock_guard<std::mutex> lock(detail::scratch_mutex());
  detail::scratch_registry().insert(d);
  return d;
}

// Removes every folder scratch_dir() made (test_main.cc calls it after the tests).
inline void remove_scratch_dirs() {
  std::lock_guard<std::mutex> lock(detail::scratch_mutex());
  std::error_code ec;
  for (const auto& d : detail::scratch_registry()) std::filesystem::remove_all(d, ec);
  detail::scratch_registry().clear();
}

}  // namespace tq::testing

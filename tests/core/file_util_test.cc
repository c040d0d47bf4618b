#include "core/file_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace tq {
namespace {

std::string temp_dir() {
  auto d = std::filesystem::temp_directory_path() / ("tq_file_util_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}

TEST(AtomicFile, CommitRenames) {
  const std::string p = temp_dir() + "/out.bin";
  ASSERT_TRUE(write_file_atomic(p, "hello").ok());
  auto r = read_file(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "hello");
}

TEST(AtomicFile, NoCommitLeavesNothing) {
  const std::string p = temp_dir() + "/never.bin";
  std::string tmp;
  {
    auto f = AtomicFile::create(p);
    ASSERT_TRUE(f.ok());
    tmp = (*f)->temp_path();
    ASSERT_TRUE((*f)->write("partial").ok());
    EXPECT_TRUE(file_exists(tmp));
  }
  EXPECT_FALSE(file_exists(p));
  EXPECT_FALSE(file_exists(tmp));
}

TEST(ReadFile, MissingFileNamesPath) {
  auto r = read_file("/nonexistent/dir/x.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/dir/x.json"), std::string::npos);
}

}  // namespace
}  // namespace tq

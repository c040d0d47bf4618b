#include "core/file_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../common/scratch_dir.h"

namespace tq {
namespace {

std::string temp_dir() {
  return testing::scratch_dir("file_util").string();
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
    auto f = AtomicFile::create(p, TempFile::kNamed);
    ASSERT_TRUE(f.ok());
    tmp = (*f)->temp_path();
    ASSERT_TRUE((*f)->write("partial").ok());
    EXPECT_TRUE(file_exists(tmp));
  }
  EXPECT_FALSE(file_exists(p));
  EXPECT_FALSE(file_exists(tmp));
}

namespace fs = std::filesystem;

// Names in a folder (a fresh folder per test keeps the listing exact).
std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string fresh_dir(const std::string& name) {
  const fs::path d = testing::scratch_dir("file_util") / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

// Whether the filesystem of `dir` supports unnamed temporary files (asked directly, not through
// AtomicFile).
bool supports_o_tmpfile(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY, 0600);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// Issue 12: the temporary file is unnamed (O_TMPFILE) where the filesystem supports it, so the
// folder shows nothing until commit().
TEST(AtomicFile, UnnamedTemporaryIsInvisibleUntilCommit) {
  const std::string d = fresh_dir("unnamed");
  if (!supports_o_tmpfile(d)) GTEST_SKIP() << d << ": this filesystem has no O_TMPFILE";
  auto f = AtomicFile::create(d + "/out.bin");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ((*f)->temp_path(), "");
  ASSERT_TRUE((*f)->write("0123456789").ok());
  EXPECT_TRUE(listing(d).empty());
  ASSERT_TRUE((*f)->write_at(2, "ab", 2).ok());  // a header field known only at the end
  EXPECT_FALSE((*f)->write_at(9, "abc", 3).ok());  // beyond what was written
  ASSERT_TRUE((*f)->commit().ok());
  EXPECT_EQ(listing(d), std::vector<std::string>{"out.bin"});
  EXPECT_EQ(*read_file(d + "/out.bin"), "01ab456789");
}

// Forks a child that writes through an AtomicFile and is SIGKILLed before commit().
void killed_writer(const std::string& path, TempFile mode) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto f = AtomicFile::create(path, mode);
    if (!f.ok() || !(*f)->write(std::string(1 << 16, 'x')).ok()) ::_exit(3);
    std::fflush(nullptr);
    ::kill(::getpid(), SIGKILL);
    ::_exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
}

// Issue 12: SIGKILL used to leave "<path>.tmp.<pid>" behind.
TEST(AtomicFile, SigkillLeavesNothingBehind) {
  const std::string d = fresh_dir("sigkill");
  killed_writer(d + "/out.gguf", TempFile::kAuto);
  if (supports_o_tmpfile(d)) {
    EXPECT_TRUE(listing(d).empty());
  } else {  // no O_TMPFILE here: the named temporary is left, and the next writer removes it
    EXPECT_EQ(listing(d).size(), 1u);
  }
  ASSERT_TRUE(write_file_atomic(d + "/out.gguf", "done").ok());
  EXPECT_EQ(listing(d), std::vector<std::string>{"out.gguf"});
}

// Filesystems without O_TMPFILE: the killed process's "<path>.tmp.<pid>" is removed by the next
// AtomicFile for that path; a live process's temporary and other files are kept.
TEST(AtomicFile, StaleNamedTemporariesOfDeadProcessesAreRemoved) {
  const std::string d = fresh_dir("stale");
  killed_writer(d + "/out.gguf", TempFile::kNamed);
  ASSERT_EQ(listing(d).size(), 1u);
  EXPECT_EQ(listing(d)[0].rfind("out.gguf.tmp.", 0), 0u);
  const std::string live = d + "/out.gguf.tmp." + std::to_string(::getppid());  // a live pid
  const std::string other = d + "/other.gguf.tmp.1234567";
  std::ofstream(live) << "x";
  std::ofstream(other) << "x";
  ASSERT_TRUE(write_file_atomic(d + "/out.gguf", "done").ok());
  EXPECT_EQ(listing(d), (std::vector<std::string>{"other.gguf.tmp.1234567", "out.gguf",
                                                  "out.gguf.tmp." + std::to_string(::getppid())}));
}

// Issue 12: -o /dev/null (as root) replaced the device node with a regular file; -o DIR failed
// only after all the work. A FIFO and a folder stand in for devices here (tests must not touch
// /dev); check_output_file also names /dev/null itself.
TEST(AtomicFile, NeverReplacesWhatIsNotARegularFile) {
  const std::string d = fresh_dir("nonregular");
  const std::string fifo = d + "/fifo", dir = d + "/dir";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  fs::create_directories(dir);
  for (const std::string& p : {fifo, dir}) {
    auto f = AtomicFile::create(p);
    ASSERT_FALSE(f.ok()) << p;
    EXPECT_NE(f.status().message().find(p + ": is a"), std::string::npos) << f.status().message();
  }
  struct stat st {};
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  // Turned into a folder while the work ran: commit() refuses too.
  const std::string late = d + "/late.bin";
  auto f = AtomicFile::create(late);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->write("x").ok());
  fs::create_directories(late);
  const Status st2 = (*f)->commit();
  ASSERT_FALSE(st2.ok());
  EXPECT_NE(st2.message().find("is a folder"), std::string::npos) << st2.message();
  EXPECT_TRUE(fs::is_directory(late));
}

TEST(CheckOutputFile, NamesTheOptionAndTheProblem) {
  const std::string d = fresh_dir("check");
  auto msg = [](const Status& s) { return s.ok() ? std::string("ok") : s.message(); };
  EXPECT_EQ(msg(check_output_file("/dev/null", "-o")),
            "-o /dev/null: is a character device; an output must be a regular file (it would be "
            "replaced)");
  EXPECT_EQ(msg(check_output_file(d, "--json")).rfind("--json " + d + ": is a folder", 0), 0u);
  EXPECT_EQ(msg(check_output_file(d + "/", "-o")).rfind("-o " + d + "/: names a folder", 0), 0u);
  EXPECT_NE(msg(check_output_file(d + "/no/such/x.gguf", "-o")).find("does not exist"),
            std::string::npos);
  EXPECT_NE(msg(check_output_file("", "-o")).find("empty"), std::string::npos);
  EXPECT_TRUE(check_output_file(d + "/new.gguf", "-o").ok());
  fs::create_symlink(d + "/missing", d + "/dangling");
  EXPECT_NE(msg(check_output_file(d + "/dangling")).find("dangling"), std::string::npos);
  // Folders for tq synth -o DIR / tq eval --work-dir.
  EXPECT_TRUE(check_output_folder(d, "-o").ok());
  EXPECT_TRUE(check_output_folder(d + "/new", "-o").ok());
  EXPECT_NE(msg(check_output_folder("/dev/null", "-o")).find("is a character device"),
            std::string::npos);
}

// A symbolic link to a regular file: the file it points to is replaced, the link stays.
TEST(AtomicFile, FollowsASymbolicLinkToAFile) {
  const std::string d = fresh_dir("symlink");
  ASSERT_TRUE(write_file_atomic(d + "/target.bin", "old").ok());
  fs::create_symlink("target.bin", d + "/link.bin");
  ASSERT_TRUE(write_file_atomic(d + "/link.bin", "new").ok());
  EXPECT_TRUE(fs::is_symlink(d + "/link.bin"));
  EXPECT_EQ(*read_file(d + "/target.bin"), "new");
}

TEST(ReadFile, MissingFileNamesPath) {
  auto r = read_file("/nonexistent/dir/x.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/dir/x.json"), std::string::npos);
}

}  // namespace
}  // namespace tq

#include "core/file_util.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

namespace tq {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error("{}: read failed", path);
  return ss.str();
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

namespace {

// Live temporary paths, removed by the signal handler. Fixed-size, async-signal-safe.
constexpr int kMaxTemps = 16;
char g_temps[kMaxTemps][4096];
volatile sig_atomic_t g_temp_used[kMaxTemps];
std::once_flag g_handlers_once;

void cleanup_and_reraise(int sig) {
  for (int i = 0; i < kMaxTemps; ++i)
    if (g_temp_used[i]) ::unlink(g_temps[i]);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_handlers() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction sa {};
    sa.sa_handler = cleanup_and_reraise;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

int register_temp(const std::string& p) {
  for (int i = 0; i < kMaxTemps; ++i) {
    if (!g_temp_used[i] && p.size() < sizeof(g_temps[i])) {
      std::memcpy(g_temps[i], p.c_str(), p.size() + 1);
      g_temp_used[i] = 1;
      return i;
    }
  }
  return -1;
}

void unregister_temp(const std::string& p) {
  for (int i = 0; i < kMaxTemps; ++i)
    if (g_temp_used[i] && p == g_temps[i]) g_temp_used[i] = 0;
}

}  // namespace

Result<std::unique_ptr<AtomicFile>> AtomicFile::create(const std::string& path) {
  std::call_once(g_handlers_once, install_handlers);
  std::unique_ptr<AtomicFile> f(new AtomicFile());
  f->path_ = path;
  f->temp_path_ = path + ".tmp." + std::to_string(::getpid());
  f->f_ = std::fopen(f->temp_path_.c_str(), "wb");
  if (!f->f_) return io_error("{}: cannot create: {}", f->temp_path_, std::strerror(errno));
  register_temp(f->temp_path_);
  return f;
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_) {
    ::unlink(temp_path_.c_str());
    unregister_temp(temp_path_);
  }
}

Status AtomicFile::write(const void* data, size_t n_bytes) {
  if (!f_) return io_error("{}: write after close", temp_path_);
  if (n_bytes && std::fwrite(data, 1, n_bytes, f_) != n_bytes)
    return io_error("{}: write failed: {}", temp_path_, std::strerror(errno));
  offset_ += n_bytes;
  return ok_status();
}

Status AtomicFile::pad_to(size_t alignment) {
  static const char zeros[256] = {};
  size_t pad = (alignment - offset_ % alignment) % alignment;
  while (pad) {
    const size_t n = pad < sizeof(zeros) ? pad : sizeof(zeros);
    TQ_RETURN_IF_ERROR(write(zeros, n));
    pad -= n;
  }
  return ok_status();
}

Status AtomicFile::commit() {
  if (!f_) return io_error("{}: commit after close", temp_path_);
  if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0)
    return io_error("{}: flush failed: {}", temp_path_, std::strerror(errno));
  std::fclose(f_);
  f_ = nullptr;
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    return io_error("{}: cannot rename to {}: {}", temp_path_, path_, std::strerror(errno));
  committed_ = true;
  unregister_temp(temp_path_);
  return ok_status();
}

Status write_file_atomic(const std::string& path, std::string_view content) {
  TQ_ASSIGN_OR_RETURN(auto f, AtomicFile::create(path));
  TQ_RETURN_IF_ERROR(f->write(content));
  return f->commit();
}

}  // namespace tq

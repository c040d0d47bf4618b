#include "core/file_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
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

namespace {

const char* file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a folder";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

std::string prefix(std::string_view option, const std::string& path) {
  return option.empty() ? path : std::string(option) + " " + path;
}

std::string parent_dir(const std::string& path) {
  const std::string d = std::filesystem::path(path).parent_path().string();
  return d.empty() ? "." : d;
}

// The destination `path` must be absent or a regular file (after following symbolic links).
Status check_destination(const std::string& path, std::string_view option) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      return invalid_argument("{}: is {}; an output must be a regular file (it would be replaced)",
                              prefix(option, path), file_kind(st.st_mode));
    return ok_status();
  }
  if (errno != ENOENT)
    return io_error("{}: cannot check the output: {}", prefix(option, path), std::strerror(errno));
  struct stat lst {};
  if (::lstat(path.c_str(), &lst) == 0)  // a symbolic link to nothing
    return invalid_argument("{}: is a dangling symbolic link", prefix(option, path));
  return ok_status();
}

}  // namespace

Status check_output_file(const std::string& path, std::string_view option) {
  if (path.empty()) return invalid_argument("{}: the output path is empty", option.empty() ? "output" : option);
  if (path.back() == '/')
    return invalid_argument("{}: names a folder; an output must be a file", prefix(option, path));
  TQ_RETURN_IF_ERROR(check_destination(path, option));
  const std::string dir = parent_dir(path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return not_found("{}: the folder {} does not exist", prefix(option, path), dir);
  if (::access(dir.c_str(), W_OK) != 0)
    return io_error("{}: cannot write in the folder {}: {}", prefix(option, path), dir,
                    std::strerror(errno));
  return ok_status();
}

Status check_output_folder(const std::string& path, std::string_view option) {
  if (path.empty()) return invalid_argument("{}: the output path is empty", option.empty() ? "output" : option);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return invalid_argument("{}: is {}; an output folder is needed", prefix(option, path),
                              S_ISREG(st.st_mode) ? "a regular file" : file_kind(st.st_mode));
    if (::access(path.c_str(), W_OK) != 0)
      return io_error("{}: cannot write in the folder: {}", prefix(option, path), std::strerror(errno));
    return ok_status();
  }
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const std::string dir = parent_dir(p);
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return not_found("{}: the folder {} does not exist", prefix(option, path), dir);
  if (::access(dir.c_str(), W_OK) != 0)
    return io_error("{}: cannot write in the folder {}: {}", prefix(option, path), dir,
                    std::strerror(errno));
  return ok_status();
}

int remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const std::string stem = fs::path(path).filename().string() + ".tmp.";
  std::error_code ec;
  int removed = 0;
  for (const auto& e : fs::directory_iterator(parent_dir(path), ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() <= stem.size() || name.compare(0, stem.size(), stem) != 0) continue;
    const std::string pid_text = name.substr(stem.size());
    if (pid_text.find_first_not_of("0123456789") != std::string::npos || pid_text.size() > 9)
      continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH && e.is_regular_file(ec) &&
        ::unlink(e.path().c_str()) == 0)
      ++removed;
  }
  return removed;
}

Result<std::unique_ptr<AtomicFile>> AtomicFile::create(const std::string& path, TempFile mode) {
  std::call_once(g_handlers_once, install_handlers);
  TQ_RETURN_IF_ERROR(check_output_file(path));
  std::unique_ptr<AtomicFile> f(new AtomicFile());
  f->path_ = path;
  f->target_ = path;
  struct stat lst {};
  if (::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
    std::error_code ec;
    f->target_ = std::filesystem::canonical(path, ec).string();  // the link's regular file
    if (ec) return io_error("{}: cannot resolve the symbolic link: {}", path, ec.message());
  }
  const std::string dir = parent_dir(f->target_);
  remove_stale_temporaries(f->target_);  // of killed runs (named, or killed while linking in)
  // Unnamed needs /proc/self/fd to link the file in at commit (linkat AT_EMPTY_PATH needs a
  // capability), so without /proc it is named from the start.
  if (mode == TempFile::kAuto && ::access("/proc/self/fd", X_OK) == 0) {
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (fd >= 0) {
      f->f_ = ::fdopen(fd, "wb");
      if (!f->f_) {
        ::close(fd);
        return io_error("{}: cannot open the temporary file: {}", path, std::strerror(errno));
      }
      return f;
    }
    // Filesystems without O_TMPFILE say EOPNOTSUPP (or EISDIR / EINVAL on old kernels).
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
      return io_error("{}: cannot create a file in {}: {}", path, dir, std::strerror(errno));
  }
  f->temp_path_ = f->target_ + ".tmp." + std::to_string(::getpid());
  f->f_ = std::fopen(f->temp_path_.c_str(), "wb");
  if (!f->f_) return io_error("{}: cannot create: {}", f->temp_path_, std::strerror(errno));
  register_temp(f->temp_path_);
  return f;
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_ && !temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    unregister_temp(temp_path_);
  }
}

Status AtomicFile::write(const void* data, size_t n_bytes) {
  if (!f_) return io_error("{}: write after close", path_);
  if (n_bytes && std::fwrite(data, 1, n_bytes, f_) != n_bytes)
    return io_error("{}: write failed: {}", path_, std::strerror(errno));
  offset_ += n_bytes;
  return ok_status();
}

Status AtomicFile::write_at(size_t offset, const void* data, size_t n_bytes) {
  if (!f_) return io_error("{}: write after close", path_);
  if (offset > offset_ || n_bytes > offset_ - offset)
    return invalid_argument("{}: write_at [{}, {}) beyond the {} bytes written", path_, offset,
                            offset + n_bytes, offset_);
  if (std::fflush(f_) != 0) return io_error("{}: write failed: {}", path_, std::strerror(errno));
  const auto* p = static_cast<const char*>(data);
  while (n_bytes > 0) {
    const ssize_t w = ::pwrite(::fileno(f_), p, n_bytes, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return io_error("{}: write failed: {}", path_, std::strerror(errno));
    p += w;
    offset += static_cast<size_t>(w);
    n_bytes -= static_cast<size_t>(w);
  }
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
  if (!f_) return io_error("{}: commit after close", path_);
  if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0)
    return io_error("{}: flush failed: {}", path_, std::strerror(errno));
  // What was checked at create() may have changed during the work: never replace a non-file.
  TQ_RETURN_IF_ERROR(check_destination(target_, {}));
  if (temp_path_.empty()) {
    // Unnamed: link it in under a temporary name (only for the instant before the rename).
    temp_path_ = target_ + ".tmp." + std::to_string(::getpid());
    ::unlink(temp_path_.c_str());
    register_temp(temp_path_);
    const std::string proc = "/proc/self/fd/" + std::to_string(::fileno(f_));
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, temp_path_.c_str(), AT_SYMLINK_FOLLOW) != 0 &&
        ::linkat(::fileno(f_), "", AT_FDCWD, temp_path_.c_str(), AT_EMPTY_PATH) != 0) {
      const int err = errno;
      unregister_temp(temp_path_);
      temp_path_.clear();
      return io_error("{}: cannot link the temporary file in: {}", path_, std::strerror(err));
    }
  }
  std::fclose(f_);
  f_ = nullptr;
  if (std::rename(temp_path_.c_str(), target_.c_str()) != 0)
    return io_error("{}: cannot rename to {}: {}", temp_path_, target_, std::strerror(errno));
  committed_ = true;
  unregister_temp(temp_path_);
  // The rename is durable once the folder's entry is.
  const int dfd = ::open(parent_dir(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return ok_status();
}

Status write_file_atomic(const std::string& path, std::string_view content) {
  TQ_ASSIGN_OR_RETURN(auto f, AtomicFile::create(path));
  TQ_RETURN_IF_ERROR(f->write(content));
  return f->commit();
}

}  // namespace tq

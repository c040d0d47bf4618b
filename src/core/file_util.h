// Whole-file reads and crash-safe writes.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "tq/status.h"

namespace tq {

// Reads a whole file into a string. Errors name the path.
Result<std::string> read_file(const std::string& path);

bool file_exists(const std::string& path);

// Checks, before any work is done, that `path` can become an output file: not empty, its folder
// exists and is writable, and `path` is absent or a regular file (or a symbolic link to one) — a
// folder, a device such as /dev/null or /dev/full, a FIFO or a socket is refused, since the file
// would replace it. Errors start with "<option> <path>: " (option e.g. "-o"; may be empty).
Status check_output_file(const std::string& path, std::string_view option = {});

// The same for an output folder (tq synth -o DIR, tq eval --work-dir): `path` is an existing
// writable folder, or absent in an existing writable folder.
Status check_output_folder(const std::string& path, std::string_view option = {});

// How AtomicFile holds its temporary file.
enum class TempFile {
  kAuto,   // unnamed (O_TMPFILE) where the filesystem supports it, else named
  kNamed,  // "<path>.tmp.<pid>" (what filesystems without O_TMPFILE get; tests force it)
};

// Writes a file so that `path` only ever holds a complete file: the data goes to a temporary file
// in the same folder, which commit() renames over `path`. The temporary file is unnamed
// (O_TMPFILE, linked in at commit) where the filesystem supports it, so a killed process
// (SIGKILL, a crash) leaves nothing behind; otherwise it is "<path>.tmp.<pid>", removed when the
// AtomicFile is destroyed without commit() or on SIGINT/SIGTERM/SIGHUP, and — if the process was
// killed — by the next AtomicFile for the same path (temporaries whose process is gone).
// A symbolic link at `path` is followed: the file it points to is replaced. create() and commit()
// refuse a destination that is not a regular file (check_output_file).
class AtomicFile {
 public:
  static Result<std::unique_ptr<AtomicFile>> create(const std::string& path,
                                                    TempFile mode = TempFile::kAuto);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  Status write(const void* data, size_t n_bytes);
  Status write(std::string_view s) { return write(s.data(), s.size()); }
  // Overwrites n_bytes at `offset` (< offset(): bytes already written), e.g. a header field known
  // only at the end. The write position stays at the end.
  Status write_at(size_t offset, const void* data, size_t n_bytes);
  // Pads with zero bytes up to a multiple of `alignment` of the current offset.
  Status pad_to(size_t alignment);
  size_t offset() const { return offset_; }
  // fsyncs, links the file in and renames it onto the final path.
  Status commit();
  const std::string& path() const { return path_; }
  // The named temporary file; empty while the file is unnamed (O_TMPFILE).
  const std::string& temp_path() const { return temp_path_; }

 private:
  AtomicFile() = default;
  std::string path_;       // as given (for messages)
  std::string target_;     // the file replaced at commit (path_ with a symbolic link resolved)
  std::string temp_path_;  // named temporary, or empty
  std::FILE* f_ = nullptr;
  size_t offset_ = 0;
  bool committed_ = false;
};

// The named temporaries "<path>.tmp.<pid>" whose process no longer runs (left by a killed run that
// could not use O_TMPFILE): removed. Returns how many were. AtomicFile::create calls it.
int remove_stale_temporaries(const std::string& path);

// Convenience: writes `content` atomically to `path`.
Status write_file_atomic(const std::string& path, std::string_view content);

}  // namespace tq

// Whole-file reads and crash-safe writes.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "tq/status.h"

namespace tq {

// Reads a whole file into a string. Errors name the path.
Result<std::string> read_file(const std::string& path);

bool file_exists(const std::string& path);

// Writes to "<path>.tmp.<pid>" and renames it over `path` on commit(), so an interrupted run never
// leaves a partial file at `path`. If destroyed without commit(), the temporary file is removed.
// Signal-safe cleanup of temporaries on SIGINT/SIGTERM is installed by the first AtomicFile.
class AtomicFile {
 public:
  static Result<std::unique_ptr<AtomicFile>> create(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  Status write(const void* data, size_t n_bytes);
  Status write(std::string_view s) { return write(s.data(), s.size()); }
  // Pads with zero bytes up to a multiple of `alignment` of the current offset.
  Status pad_to(size_t alignment);
  size_t offset() const { return offset_; }
  // fsyncs, closes and renames onto the final path.
  Status commit();
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  AtomicFile() = default;
  std::string path_, temp_path_;
  std::FILE* f_ = nullptr;
  size_t offset_ = 0;
  bool committed_ = false;
};

// Convenience: writes `content` atomically to `path`.
Status write_file_atomic(const std::string& path, std::string_view content);

}  // namespace tq

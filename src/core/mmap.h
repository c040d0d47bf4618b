// Read-only memory-mapped files. Weights are used in place from the mapping; nothing is copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tq/status.h"

namespace tq {

class MappedFile {
 public:
  // Maps the whole file read-only. Errors name the path. An empty file maps to size 0, data nullptr.
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tq

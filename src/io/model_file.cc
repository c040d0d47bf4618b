#include "io/model_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

namespace tq {

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorInfo::shape_string() const { return fmt::format("[{}]", fmt::join(shape, ", ")); }

const TensorInfo* ModelFile::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

Result<ModelFile> open_model(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return not_found("{}: no such file or folder", path);
  if (S_ISDIR(st.st_mode)) return open_hf_folder(path);
  return unsupported("{}: not a Hugging Face model folder, and GGUF loading is not built in", path);
}

}  // namespace tq

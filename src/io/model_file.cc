#include "io/model_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include "io/gguf_reader.h"

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
  // By magic; a *.gguf name goes to the GGUF reader too, so a damaged header gets its precise error.
  if (is_gguf_file(path) || std::string_view(path).ends_with(".gguf")) return open_gguf(path);
  return unsupported("{}: neither a GGUF file (no 'GGUF' magic) nor a Hugging Face model folder", path);
}

}  // namespace tq

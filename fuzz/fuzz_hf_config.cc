// libFuzzer target: the Hugging Face folder's JSON parsers (config.json -> llama.cpp metadata,
// model.safetensors.index.json -> shard map). Input: config.json text, optionally followed by a
// NUL byte and the index text. Any error is fine; a crash or sanitizer report is a bug, and so is
// an accepted shard name that could leave the model folder.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "io/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  tq::Metadata meta;
  if (tq::hf_config_to_metadata(in.substr(0, nul), "fuzz/config.json", meta).ok()) {
    for (const auto& [key, value] : meta.items()) (void)value.to_string();
    (void)meta.get_int_or("llama.block_count", 0);
  }
  if (nul != std::string_view::npos) {
    auto idx = tq::parse_safetensors_index(in.substr(nul + 1), "fuzz/model.safetensors.index.json");
    if (idx.ok())
      for (const auto& [tensor, file] : *idx)
        if (file.empty() || file.find('/') != std::string::npos ||
            file.find("..") != std::string::npos)
          __builtin_trap();
  }
  return 0;
}

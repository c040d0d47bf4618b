// The real-model fixtures scripts/get-real-models.sh fetches into a git-ignored cache
// ($TQ_CACHE, default <repo>/.cache). Tests that need one skip with TQ_SKIP_IF_MISSING when the
// cache has not been filled (CI runs the script before the tests).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace tq::testing {

inline std::string real_cache_dir() {
  if (const char* env = std::getenv("TQ_CACHE"); env && *env) return env;
  return std::string(TQ_SOURCE_DIR) + "/.cache";
}
// A GGUF of .cache/models ("SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf").
inline std::string real_model_path(const std::string& file) {
  return real_cache_dir() + "/models/" + file;
}
// llama.cpp's vocabulary-only GGUFs with their .inp/.out test files.
inline std::string llamacpp_vocab_dir() {
  return real_cache_dir() + "/llama.cpp-vocab";
}

inline constexpr const char* kSmolLm2 = "SmolLM2-135M-Instruct.Q4_1.gguf";
inline constexpr const char* kGemma3 = "gemma-3-270m-q4_k_m.gguf";

}  // namespace tq::testing

#define TQ_SKIP_IF_MISSING(path)                                                            \
  do {                                                                                      \
    if (!std::filesystem::exists(path))                                                     \
      GTEST_SKIP() << (path) << " is missing: run scripts/get-real-models.sh to fetch the " \
                   << "real-model fixtures";                                                \
  } while (0)

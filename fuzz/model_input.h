// Shared by the model-level fuzz targets (fuzz_load_model, fuzz_convert): the fuzz input as a
// model source, so that one corpus format covers both loaders.
//   byte 0 even: the rest is a GGUF file, parsed in memory (tensor data points into the input);
//   byte 0 odd:  a Hugging Face folder: the rest is config.json, kHfSeparator, model.safetensors
//                [, kHfSeparator, tokenizer.json], written into a per-process scratch folder and
//                opened with open_model (as `tq` opens a folder).
// Seeds (fuzz/seeds/load_model/): tiny synthetic models of each architecture (tq synth --preset
// tiny-*, one layer) in both forms, written by fuzz/make_model_seeds.sh.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "io/gguf_reader.h"
#include "io/model_file.h"

namespace tq::fuzz {

inline constexpr std::string_view kHfSeparator = "\n--tq-fuzz-safetensors--\n";

// For LLVMFuzzerInitialize: whole models need more than the parsers' 64 KiB inputs (the seeds are
// one-layer models of ~100-200 KB), so these targets append -max_len=262144 to their flags (the
// last occurrence of a flag wins, whatever the scripts pass).
inline void raise_max_len(int* argc, char*** argv) {
  static std::vector<char*> args;
  static char flag[] = "-max_len=262144";
  args.assign(*argv, *argv + *argc);
  args.push_back(flag);
  args.push_back(nullptr);
  *argc += 1;
  *argv = args.data();
}

// A per-process scratch folder (in /dev/shm when there is one), removed at exit.
inline const std::string& scratch_dir(const char* target) {
  struct Dir {
    std::string path;
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static Dir d{[&] {
    const std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string p = base + "/fuzz_" + target + "_" + std::to_string(::getpid());
    std::filesystem::create_directories(p);
    return p;
  }()};
  return d.path;
}

inline bool write_bytes(const std::string& path, std::string_view bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

// The model the input describes; an error when it is not one (any error is fine for a fuzzer).
inline Result<ModelFile> model_from_input(const uint8_t* data, size_t size, const char* target) {
  if (size < 1) return invalid_argument("empty input");
  if ((data[0] & 1) == 0) {
    TQ_ASSIGN_OR_RETURN(GgufFile g, parse_gguf(data + 1, size - 1, "fuzz.gguf"));
    ModelFile mf;
    mf.kind = SourceKind::kGguf;
    mf.path = "fuzz.gguf";
    mf.meta = std::move(g.meta);
    mf.tensors = std::move(g.tensors);
    return mf;
  }
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t cut = rest.find(kHfSeparator);
  if (cut == std::string_view::npos) return invalid_argument("no separator");
  const std::string_view weights_and_tok = rest.substr(cut + kHfSeparator.size());
  const size_t cut2 = weights_and_tok.find(kHfSeparator);
  const std::string dir = scratch_dir(target);
  std::error_code ec;
  std::filesystem::remove(dir + "/tokenizer.json", ec);
  if (!write_bytes(dir + "/config.json", rest.substr(0, cut)) ||
      !write_bytes(dir + "/model.safetensors", weights_and_tok.substr(0, cut2)) ||
      (cut2 != std::string_view::npos &&
       !write_bytes(dir + "/tokenizer.json", weights_and_tok.substr(cut2 + kHfSeparator.size()))))
    return io_error("cannot write the scratch folder {}", dir);
  return open_model(dir);
}

}  // namespace tq::fuzz

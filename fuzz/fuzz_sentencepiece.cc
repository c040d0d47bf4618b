// libFuzzer target: a SentencePiece tokenizer.model (protobuf, parsed by libsentencepiece) loaded
// through Tokenizer::from_sentencepiece_model, then the checks of tokenizer_checks.h. Input: the
// model bytes, written to a per-process scratch file (the loader takes a path). Seeds: tiny unigram
// and BPE models (tools/make_spm_seeds.py). A load error is fine; a crash or a hang is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "tokenizer_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/fuzz_sentencepiece_" + std::to_string(::getpid()) + ".model";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return 0;
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  auto tok = tq::Tokenizer::from_sentencepiece_model(path);
  std::remove(path.c_str());
  if (!tok.ok()) return 0;
  tq::fuzz::check_tokenizer(**tok, "Hello, world! It's 2024 \xF0\x9F\x99\x82 <s>\n  ok\xff");
  return 0;
}

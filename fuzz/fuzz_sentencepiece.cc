// libFuzzer target: a SentencePiece tokenizer.model (protobuf, parsed by libsentencepiece) loaded
// through Tokenizer::from_sentencepiece_model, then encode / decode / stream-decode and the export
// to GGUF metadata and back. Input: the model bytes (written to a per-process scratch file, since
// the loader takes a path). Seeds: tiny unigram and BPE models (tools/make_spm_seeds.py).
// Any load error is fine; a crash, a hang, an id outside the vocabulary or a stream decode that
// disagrees with decode is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "io/tokenizer.h"

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
  const tq::Tokenizer& t = **tok;
  const std::string text = "Hello, world! It's 2024 \xF0\x9F\x99\x82 <s>\n  ok\xff";
  for (bool add_special : {false, true}) {
    const std::vector<int32_t> ids = t.encode(text, add_special);
    for (int32_t id : ids)
      if (id < 0 || id >= t.n_vocab()) __builtin_trap();
    const std::string decoded = t.decode(ids);
    tq::StreamDecoder sd(t, /*skip_special=*/false);
    std::string streamed;
    for (int32_t id : ids) streamed += sd.feed(id);
    streamed += sd.flush();
    if (streamed != decoded) __builtin_trap();
  }
  tq::Metadata meta;
  if (t.export_gguf_metadata(meta).ok()) {
    auto back = tq::Tokenizer::from_gguf_metadata(meta, "fuzz/exported.gguf");
    if (back.ok()) (void)(*back)->encode(text, true);
  }
  return 0;
}

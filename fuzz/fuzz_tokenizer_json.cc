// libFuzzer target: tokenizer.json parsing, then encode / decode / stream-decode.
// Input: the tokenizer.json text, optionally followed by a NUL byte and the text to encode.
// Any parse error is fine; a crash, a hang, an id outside the vocabulary or a stream decode that
// disagrees with decode is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "io/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string_view json = in.substr(0, nul);
  const std::string_view text =
      nul == std::string_view::npos
          ? std::string_view("Hello, world! It's 2024 \xF0\x9F\x99\x82 <s>\n  ok")
          : in.substr(nul + 1);
  auto tok = tq::Tokenizer::from_tokenizer_json_text(json, "fuzz/tokenizer.json");
  if (!tok.ok()) return 0;
  const tq::Tokenizer& t = **tok;
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
    // May fail (e.g. a merge token containing a space cannot be written as "a b"), never crash.
    auto back = tq::Tokenizer::from_gguf_metadata(meta, "fuzz/exported.gguf");
    if (back.ok()) (void)(*back)->encode(text, true);
  }
  return 0;
}

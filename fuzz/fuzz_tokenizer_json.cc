// libFuzzer target: tokenizer.json parsing, then encode / decode / stream-decode.
// Input: the tokenizer.json text, optionally followed by a NUL byte and the text to encode.
// Any parse error is fine; a crash, a hang, an id outside the vocabulary or a stream decode that
// disagrees with decode is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer_checks.h"

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
  tq::fuzz::check_tokenizer(**tok, text);
  return 0;
}

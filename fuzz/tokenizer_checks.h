// Checks every tokenizer fuzz target runs on a tokenizer it managed to load: encode with and without
// special tokens (every id in the vocabulary), decode equals the stream decoder's output, and the
// GGUF metadata export loads back (or fails cleanly; e.g. a merge token containing a space cannot
// be written as "a b"). A violated check traps.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "io/tokenizer.h"

namespace tq::fuzz {

inline void check_tokenizer(const Tokenizer& t, std::string_view text) {
  for (bool add_special : {false, true}) {
    const std::vector<int32_t> ids = t.encode(text, add_special);
    for (int32_t id : ids)
      if (id < 0 || id >= t.n_vocab()) __builtin_trap();
    const std::string decoded = t.decode(ids);
    StreamDecoder sd(t, /*skip_special=*/false);
    std::string streamed;
    for (int32_t id : ids) streamed += sd.feed(id);
    streamed += sd.flush();
    if (streamed != decoded) __builtin_trap();
  }
  Metadata meta;
  if (t.export_gguf_metadata(meta).ok()) {
    auto back = Tokenizer::from_gguf_metadata(meta, "fuzz/exported.gguf");
    if (back.ok()) (void)(*back)->encode(text, true);
  }
}

}  // namespace tq::fuzz

// libFuzzer target: the safetensors parser (io/safetensors.h) on arbitrary bytes. Any error is
// fine; a crash, a sanitizer report, or an accepted tensor outside the input is a bug.
#include <cstddef>
#include <cstdint>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto st = tq::parse_safetensors(data, size, "fuzz.safetensors");
  if (!st.ok()) return 0;
  for (const auto& t : st->tensors) {
    if (t.n_bytes && (t.data < data || t.data + t.n_bytes > data + size)) __builtin_trap();
    (void)t.shape_string();
    (void)t.n_elements();
  }
  return 0;
}

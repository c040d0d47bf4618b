// libFuzzer target: the GGUF reader (io/gguf_reader.h) on arbitrary bytes. Any error is fine; a
// crash, a sanitizer report, or an accepted file whose tensors lie outside the input is a bug.
// Accepted files are exercised further: every metadata value re-serialized by the writer, and the
// first row of every tensor (wide rows included) dequantized through the format table.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/format.h"
#include "io/gguf_reader.h"
#include "io/gguf_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto g = tq::parse_gguf(data, size, "fuzz.gguf");
  if (!g.ok()) return 0;
  for (const auto& [key, value] : g->meta.items()) {
    std::string wire;
    if (!tq::append_gguf_value(value, key, &wire).ok())
      __builtin_trap();  // what we read, we can write
    (void)value.to_string(4);
  }
  std::vector<float> row;
  for (const auto& t : g->tensors) {
    if (t.data < data || t.data + t.n_bytes > data + size) __builtin_trap();
    const tq::FormatTraits* f = tq::find_format(t.type);
    if (!f) __builtin_trap();
    // Every row, however wide, is dequantized: its bytes are in the input, so its length is
    // bounded by the input's size (a row whose byte count wrapped would show here).
    const int64_t cols = t.n_cols();
    auto rb = tq::row_bytes(t.type, cols);
    auto nb = tq::tensor_bytes(t.type, t.shape);
    if (!rb.ok() || !nb.ok() || *nb != t.n_bytes || *rb > t.n_bytes) __builtin_trap();
    row.resize(static_cast<size_t>(cols));
    f->to_float(t.data, row.data(), cols);
  }
  return 0;
}

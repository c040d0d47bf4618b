// libFuzzer target: the saved-logits reader (io/saved_logits.h, `tq perplexity --kld-base`) on
// arbitrary bytes. Any error is fine; a crash, a sanitizer report, or an accepted file whose
// tokens or records lie outside the input is a bug. Accepted files: the first records are decoded
// and compared against flat logits (the KLD path).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "io/saved_logits.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = tq::SavedLogitsReader::parse(data, size, "fuzz.tqlogits");
  if (!r.ok()) return 0;
  const auto& h = (*r)->header();
  const auto tokens = (*r)->tokens();
  const auto* tok_begin = reinterpret_cast<const uint8_t*>(tokens.data());
  if (tok_begin < data || tok_begin + tokens.size_bytes() > data + size) __builtin_trap();
  if (h.n_vocab > (1 << 16)) return 0;  // keep each input fast
  std::vector<float> logits(static_cast<size_t>(h.n_vocab), 0.0f);
  for (int64_t i = 0; i < h.n_records && i < 4; ++i) {
    const auto rec = (*r)->record(i);
    const auto* end = reinterpret_cast<const uint8_t*>(rec.codes + h.n_vocab);
    if (reinterpret_cast<const uint8_t*>(rec.codes) < data || end > data + size) __builtin_trap();
    (void)tq::compare_to_saved(rec, logits.data(), h.n_vocab);
  }
  return 0;
}

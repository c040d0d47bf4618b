// libFuzzer target: tq convert — a GGUF file or a Hugging Face folder (model_input.h) converted to
// a GGUF file of one of the output types (chosen by byte 0's upper bits), which must then read
// back with every tensor matching its checksum: what tq writes, tq can read. Any conversion
// error is fine; a crash, a sanitizer report or an unreadable output is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/parallel.h"
#include "formats/format.h"
#include "io/checksum.h"
#include "io/gguf_convert.h"
#include "io/gguf_reader.h"
#include "model_input.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  tq::fuzz::raise_max_len(argc, argv);
  tq::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kTypes[] = {"f32", "f16", "bf16", "q8_0", "q8", "rtn4", "tq4g32", "tq3.5g32"};
  auto mf = tq::fuzz::model_from_input(data, size, "convert");
  if (!mf.ok()) return 0;
  tq::ConvertOptions o;
  o.type = tq::find_format(kTypes[(data[0] >> 1) % (sizeof(kTypes) / sizeof(kTypes[0]))])->id;
  o.progress = false;
  const std::string out = tq::fuzz::scratch_dir("convert") + "/out.gguf";
  auto sum = tq::convert_to_gguf(*mf, out, o);
  if (!sum.ok()) return 0;
  auto back = tq::open_gguf(out);
  if (!back.ok()) __builtin_trap();
  auto verified = tq::verify_tensor_checksums(*back);
  if (!verified.ok() || !verified->present) __builtin_trap();
  return 0;
}

// libFuzzer target: model loading end to end — a GGUF file or a Hugging Face folder
// (model_input.h) → checksum verification (files tq wrote) → bind_model (hyper-parameters, every
// shape, scales, side tensors) → a Session → one prompt token and one decode step. Any error is
// fine; a crash, a sanitizer report, a hang or an allocation beyond the input's size is a bug.
#include <cstddef>
#include <cstdint>

#include "core/parallel.h"
#include "io/checksum.h"
#include "model/model.h"
#include "model_input.h"
#include "runtime/session.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  tq::fuzz::raise_max_len(argc, argv);
  tq::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto mf = tq::fuzz::model_from_input(data, size, "load_model");
  if (!mf.ok()) return 0;
  if (!tq::verify_checksums_at_load(*mf).ok()) return 0;
  auto model = tq::bind_model(std::move(mf).value());
  if (!model.ok()) return 0;
  tq::SessionOptions so;
  so.n_ctx = 4;
  so.n_batch = 2;
  auto session = tq::Session::create(**model, so);
  if (!session.ok()) return 0;
  const int32_t n_vocab = static_cast<int32_t>((*model)->hp.n_vocab);
  const int32_t prompt[2] = {0, static_cast<int32_t>(size % n_vocab)};
  if (!(*session)->eval(prompt, tq::LogitsMode::kAll).ok()) return 0;
  const int32_t next = n_vocab - 1;
  (void)(*session)->eval({&next, 1}, tq::LogitsMode::kLast);
  return 0;
}

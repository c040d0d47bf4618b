// Saved logits: a base (FP) model's next-token distributions over a text, kept on disk so that
// later runs (quantized weights or KV cache) are compared against them token by token (KLD, top-1
// agreement), as llama-perplexity's --kl-divergence-base does.
//
// File layout (little-endian), version 1:
//   header   char magic[8] = "TQLOGIT1"; u32 version = 1; u32 n_vocab; u32 n_ctx; u32 n_chunks;
//            u32 first_scored (window position of the first scored prediction); u32 flags
//            (bit 0: --llamacpp scoring); u64 n_records; then i32 tokens[n_chunks * n_ctx] (the
//            exact windows evaluated, so a comparison run can prove it saw the same text).
//   records  one per scored position, in order: f32 lo; f32 scale; u32 top1 (arg-max id of the
//            exact logits); f32 nll (of the true next token, exact); u16 code[n_vocab] (+ u16 pad
//            when n_vocab is odd).
// Each logit is stored as code = round((clamp(logit, max - 24, max) - lo) / scale) with
// lo = max - 24 and scale = 24 / 65535: 2 bytes per vocabulary entry (llama.cpp's scheme, with a
// 24-nat range). The rounding error is at most 1.8e-4 nats per log-probability; it biases a mean
// KLD by ~1e-8 (measured: a run against its own saved logits gives mean KLD ~1e-8, top-1 100%).
// Logits more than 24 nats below the maximum (probability < 4e-11 each) are clamped.
// Size: (16 + 2 n_vocab) bytes per scored token — 16 KiB per token at n_vocab 8192, e.g. 420 MB for
// 50 windows of 512 tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "core/mmap.h"
#include "tq/status.h"

namespace tq {

struct SavedLogitsHeader {
  int64_t n_vocab = 0;
  int64_t n_ctx = 0;
  int64_t n_chunks = 0;
  int64_t first_scored = 0;
  bool llamacpp = false;
  int64_t n_records = 0;
};

inline constexpr double kSavedLogitRange = 24.0;  // nats kept below each row's maximum

class SavedLogitsWriter {
 public:
  // Creates `path` (through a temporary file; nothing appears at `path` until finish()).
  // `tokens`: [n_chunks * n_ctx], the windows that will be evaluated.
  static Result<std::unique_ptr<SavedLogitsWriter>> create(const std::string& path,
                                                           const SavedLogitsHeader& h,
                                                           std::span<const int32_t> tokens);
  // Appends one scored position: logits [n_vocab] and the id of the true next token.
  Status add(const float* logits, int32_t target);
  // Checks that n_records records were added and commits the file.
  Status finish();

 private:
  SavedLogitsHeader h_;
  std::unique_ptr<AtomicFile> file_;
  int64_t n_added_ = 0;
  std::vector<uint8_t> record_;
};

class SavedLogitsReader {
 public:
  // Maps and validates the file (magic, version, sizes). Errors name the file.
  static Result<std::unique_ptr<SavedLogitsReader>> open(const std::string& path);
  // Validates bytes [data, data + size) (kept by pointer: they must outlive the reader); `path`
  // only names them in errors. open() = map + parse.
  static Result<std::unique_ptr<SavedLogitsReader>> parse(const uint8_t* data, size_t size,
                                                          const std::string& path);
  const SavedLogitsHeader& header() const { return h_; }
  std::span<const int32_t> tokens() const { return tokens_; }
  const std::string& path() const { return path_; }

  struct Record {
    float lo, scale;
    int32_t top1;
    float nll;
    const uint16_t* codes;  // [n_vocab]
  };
  Record record(int64_t i) const;

 private:
  SavedLogitsHeader h_;
  std::string path_;
  std::shared_ptr<MappedFile> map_;  // set by open()
  std::span<const int32_t> tokens_;
  const uint8_t* records_ = nullptr;
  size_t record_bytes_ = 0;
};

// Per-token comparison of a run's logits with a saved base record.
struct TokenKld {
  double kld;      // KL(base || run) in nats
  bool top1_same;  // arg-max of the run == base arg-max
};
TokenKld compare_to_saved(const SavedLogitsReader::Record& base, const float* logits,
                          int64_t n_vocab);

}  // namespace tq

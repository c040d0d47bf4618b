// Text <-> token ids for the models we load: byte-level BPE from a Hugging Face tokenizer.json
// (GPT-2 / Llama-3 / Qwen2 pre-tokenizers), SentencePiece from tokenizer.model (through
// libsentencepiece), and both kinds from GGUF metadata (tokenizer.ggml.*, as llama.cpp reads it).
//
// Encoding follows the source tokenizer exactly: added/special tokens are matched in the text
// first, then normalizer, pre-tokenizer and model run on the text between them, and BOS/EOS are
// added only where the tokenizer's own post-processor / add_bos_token says so.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/metadata.h"
#include "io/model_file.h"
#include "tq/status.h"

namespace tq {

// GGUF token types (llama.cpp's llama_token_type numbering).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

class Tokenizer {
 public:
  // Which algorithm encodes: HF-style BPE (byte-level or with byte fallback), llama.cpp-style
  // SentencePiece score merging over GGUF metadata, or libsentencepiece itself.
  enum class Kind { kBpe, kSpmScores, kSentencePieceLib };

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // From a model: HF folder (tokenizer.json, else tokenizer.model; bos/eos ids from
  // tokenizer_config.json / config.json / generation_config.json) or GGUF metadata.
  static Result<std::unique_ptr<Tokenizer>> from_model_file(const ModelFile& mf);
  // A Hugging Face tokenizer.json (tokenizer_config.json beside it is read when present).
  static Result<std::unique_ptr<Tokenizer>> from_tokenizer_json(const std::string& path);
  // Same, from the file's text; `path_for_errors` names it in messages. No other file is read.
  static Result<std::unique_ptr<Tokenizer>> from_tokenizer_json_text(
      std::string_view json_text, const std::string& path_for_errors);
  // A SentencePiece tokenizer.model; encoding through libsentencepiece.
  static Result<std::unique_ptr<Tokenizer>> from_sentencepiece_model(const std::string& path);
  // tokenizer.ggml.* keys: model "gpt2" (byte-level BPE split by the pre-tokenizer
  // tokenizer.ggml.pre: every name llama.cpp knows, io/tokenizer_pre.cc; an unknown name takes the
  // closest known one with a warning), "gemma4" (SentencePiece-style BPE) or "llama"
  // (SentencePiece scores, byte fallback).
  static Result<std::unique_ptr<Tokenizer>> from_gguf_metadata(const Metadata& meta,
                                                               const std::string& path_for_errors);

  // Text (any bytes; invalid UTF-8 is encoded byte by byte where the vocabulary allows) to ids.
  // add_special: add BOS/EOS exactly where the tokenizer's own post-processor / add_bos_token says.
  // Added and special tokens written in the text are always matched (as HF tokenizers do).
  std::vector<int32_t> encode(std::string_view text, bool add_special) const;
  // parse_special = false: control tokens written in the text are encoded as plain text (as
  // llama.cpp without --special, or libsentencepiece); user-defined added tokens still match.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // Ids to text, through the tokenizer's decoder (byte-level, byte fallback, ▁ -> space, the
  // leading space SentencePiece adds is removed). Special tokens render as their text in BPE
  // tokenizers and as nothing in SentencePiece ones (as their own decoders do). An id outside
  // [0, n_vocab) renders as U+FFFD; use decode_checked to get an error instead.
  std::string decode(std::span<const int32_t> ids) const;
  std::string decode(std::span<const int32_t> ids, bool skip_special) const;
  // Like decode, but an out-of-range id is an out_of_range Status naming the tokenizer's file.
  Result<std::string> decode_checked(std::span<const int32_t> ids) const;

  int32_t n_vocab() const;
  int32_t bos_id() const;             // -1 when the tokenizer has none
  int32_t eos_id() const;             // -1 when the tokenizer has none
  int32_t unk_id() const;             // -1 when the tokenizer has none
  int32_t pad_id() const;             // -1 when the tokenizer has none
  bool adds_bos() const;              // encode(text, true) starts with bos_id()
  bool adds_eos() const;              // encode(text, true) ends with eos_id()
  bool is_eog(int32_t id) const;      // end of generation: eos, eot/eom, <|im_end|>, ...
  bool is_special(int32_t id) const;  // control tokens (and other non-text tokens)

  Kind kind() const;
  const std::string& source() const;  // the file it came from (for messages)
  // What loading warned about (also printed to stderr then), e.g. an unknown pre-tokenizer name
  // replaced by the closest known one.
  const std::vector<std::string>& warnings() const;
  // The vocabulary entry as stored ("Ġthe", "▁the", "<0x0A>", "<|endoftext|>"); "" out of range.
  std::string token_text(int32_t id) const;
  // The bytes this token contributes to decoded text (not counting the leading-space rule).
  std::string token_bytes(int32_t id) const;
  TokenType token_type(int32_t id) const;
  // Id of a vocabulary entry given as stored, or -1.
  int32_t find_token(std::string_view token_text) const;

  // Adds the tokenizer.ggml.* keys describing this tokenizer, as llama.cpp's convert_hf_to_gguf
  // writes them. n_vocab_model > n_vocab() pads the vocabulary with "[PAD<i>]" unused tokens (as
  // the converter does when the embedding has more rows). Unsupported: BPE tokenizers whose
  // pre-tokenizer has no llama.cpp name, and non-byte-level BPE.
  Status export_gguf_metadata(Metadata& out, int64_t n_vocab_model = 0) const;

  // Internal: the factories above build an Impl (io/tokenizer_impl.h) and wrap it.
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
  friend class StreamDecoder;
};

// Streaming detokenizer for `tq run`: feed ids one at a time, get back the complete UTF-8 text
// available so far (holds back partial multi-byte sequences). Bytes that can never become valid
// UTF-8 are passed through as they are once that is certain.
class StreamDecoder {
 public:
  // `tok` must outlive the decoder. skip_special: control tokens produce no text.
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = true);
  // Returns the text newly completed by `id` (possibly empty). Out-of-range ids give U+FFFD.
  std::string feed(int32_t id);
  // Returns whatever is still held back (an incomplete sequence at the end of generation).
  std::string flush();
  // Starts a new text (the leading-space rule applies again).
  void reset();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  bool at_start_ = true;
  std::string pending_;  // bytes of an incomplete UTF-8 sequence
};

// Adds tokenizer.ggml.* keys describing mf's tokenizer, as llama.cpp's convert_hf_to_gguf writes
// them (model "gpt2"/"llama", pre, tokens, token_type, merges, scores, bos/eos/unk/pad ids,
// add_bos_token...). GGUF sources: their tokenizer.ggml.* keys are copied. HF folders: the
// vocabulary is padded to <arch>.vocab_size when the embedding is larger. Used by `tq convert`.
Status export_tokenizer_metadata(const ModelFile& mf, Metadata& out);

}  // namespace tq

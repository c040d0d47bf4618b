// Internal representation shared by the tokenizer sources (tokenizer.json, tokenizer.model, GGUF
// metadata) and the encode/decode code. Not part of the public interface.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "io/tokenizer.h"
#include "io/tokenizer_text.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace tq {

namespace tok {

// Hash/equality that let unordered_map<std::string, V> be searched with a string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// A token matched in the raw text before anything else runs (HF added tokens; GGUF control and
// user-defined tokens).
struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;  // control token: only matched when parse_special
  bool lstrip = false, rstrip = false, single_word = false;
};

struct NormStep {
  enum Type { kNfc, kNfd, kNfkc, kNfkd, kLowercase, kPrepend, kReplace, kStrip } type = kNfc;
  std::string a, b;                  // kPrepend: a; kReplace: pattern string a -> b
  std::unique_ptr<Regex> regex;      // kReplace with a regex pattern
  bool left = false, right = false;  // kStrip
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreStep {
  enum Type { kSplit, kByteLevel, kDigits, kMetaspace, kWhitespaceSplit } type = kSplit;
  // kSplit: regex (or a literal string compiled as an escaped regex), behavior, invert.
  std::unique_ptr<Regex> regex;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  // kByteLevel
  bool add_prefix_space = false;
  bool use_regex = true;
  // kDigits
  bool individual_digits = false;
  // kMetaspace
  std::string replacement = "\xE2\x96\x81";  // ▁
  enum Prepend { kAlways, kFirst, kNever } prepend = kAlways;
  bool split = true;
};

// Byte-pair merges, HF tokenizers semantics: lowest rank first, leftmost first among equals.
struct BpeModel {
  bool byte_level = false;     // input bytes map to the GPT-2 alphabet before lookup
  bool byte_fallback = false;  // unknown characters become <0xXX> tokens
  bool ignore_merges = false;  // a word that is itself a token is emitted whole (Llama-3)
  bool fuse_unk = false;
  std::array<int32_t, 256>
      byte_id{};  // byte_level: id of the mapped character; byte_fallback: <0xXX>
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  std::unordered_map<uint64_t, Merge> merges;           // (left id << 32 | right id) -> merge
  std::vector<std::pair<int32_t, int32_t>> merge_list;  // [n_merges] in rank order (for export)
};

struct SpmOptions {
  bool add_space_prefix = true;  // a leading ▁ before the text (add_dummy_prefix)
  bool byte_fallback = true;
};

}  // namespace tok

struct Tokenizer::Impl {
  Tokenizer::Kind kind = Tokenizer::Kind::kBpe;
  std::string source;  // file name for messages

  // Vocabulary [n_vocab]: entries as stored, their scores (SPM) and GGUF types.
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<TokenType> types;
  tok::TokenMap token_to_id;

  std::vector<tok::AddedToken> added;  // matched before pre-tokenization
  std::array<std::vector<int32_t>, 256>
      added_by_byte;  // first byte -> indices into added, longest first

  std::vector<tok::NormStep> normalizer;
  std::vector<tok::PreStep> pre;
  tok::BpeModel bpe;
  tok::SpmOptions spm;
  std::shared_ptr<sentencepiece::SentencePieceProcessor> sp;  // kSentencePieceLib

  // Post-processing of a single sequence when add_special.
  std::vector<int32_t> prefix_ids, suffix_ids;

  // Decoding: bytes each token contributes [n_vocab], and how many leading spaces the decoder
  // removes from the start of the text (SentencePiece's dummy prefix, HF Strip/Metaspace).
  std::vector<std::string> piece_bytes;
  int strip_leading_spaces = 0;
  // Decoder rules finalize() turns into piece_bytes. Added (control / user-defined) tokens always
  // render as their text, except control tokens when dec_control_empty (SentencePiece).
  bool dec_byte_level = false;     // GPT-2 alphabet -> bytes
  bool dec_byte_fallback = false;  // <0xXX> -> the byte
  bool dec_control_empty = false;
  std::vector<std::pair<std::string, std::string>> dec_replace;  // applied in order
  std::string dec_unknown_text;  // text of the unknown token ("" = its vocabulary entry)

  int32_t bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_bos = false, add_eos = false;
  std::unordered_set<int32_t> eog;
  std::string gguf_pre;  // llama.cpp pre-tokenizer name ("gpt-2", "llama-bpe", "qwen2"), "" unknown
  std::vector<std::string> warnings;  // said while loading (also printed to stderr then)

  // ---- built once after loading (tokenizer_core.cc) ----
  // Fills token_to_id, added_by_byte, piece_bytes and eog; checks ids. Errors name `source`.
  Status finalize();

  // ---- encoding (tokenizer_core.cc / tokenizer_models.cc) ----
  // Per-call scratch: word -> ids already computed in this call ([offset, count) into arena).
  struct EncodeState {
    std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, tok::StringHash, std::equal_to<>>
        cache;
    std::vector<int32_t> arena;
    std::vector<int32_t> syms;
  };
  void encode_text(std::string_view text, bool first_segment, EncodeState& st,
                   std::vector<int32_t>& out) const;
  void pre_tokenize(size_t step, std::string_view piece, bool at_text_start, EncodeState& st,
                    std::vector<int32_t>& out) const;
  void bpe_word(std::string_view word, EncodeState& st, std::vector<int32_t>& out) const;
  void bpe_merge(std::vector<int32_t>& syms) const;
  void spm_encode(std::string_view text, std::vector<int32_t>& out) const;
  void sp_lib_encode(std::string_view text, std::vector<int32_t>& out) const;
  int32_t byte_token(uint8_t b) const;  // <0xXX> id, or unk
};

// Builders used by the factories (tokenizer_json.cc, tokenizer_gguf.cc, tokenizer_spm.cc).
namespace tok {
// The split rules of a BPE GGUF tokenizer by llama.cpp's pre-tokenizer name (tokenizer.ggml.pre):
// one row per group of names that split alike (the table is in tokenizer_pre.cc).
struct PreTokenizerSpec {
  enum Flags : unsigned {
    kIgnoreMerges = 1,  // a word that is itself a token is emitted whole (llama.cpp ignore_merges)
    kAddBos = 2,        // BOS by default when tokenizer.ggml.add_bos_token is absent
    kNfc = 4,           // NFC first, as the HF tokenizer's normalizer (llama.cpp skips it)
    kSpmStyle = 8,      // BPE over raw UTF-8 with spaces as U+2581 and byte fallback (Gemma 4)
  };
  const char* names;                  // space-separated; the first is the canonical one
  std::vector<const char*> regexes;   // applied in order; each splits the previous one's pieces
  unsigned flags = 0;
  std::string_view name() const;      // the canonical name
};
std::span<const PreTokenizerSpec> pre_tokenizer_table();
// The row that lists `name`, or nullptr.
const PreTokenizerSpec* find_pre_tokenizer(std::string_view name);
// For a name no row lists: the longest known name it starts with or contains, else "gpt-2".
std::string closest_pre_tokenizer(std::string_view name);
extern const char* const kGpt2Regex;
extern const char* const kLlama3Regex;
extern const char* const kQwen2Regex;
}  // namespace tok

}  // namespace tq

// The pre-tokenizers of byte-pair-encoding GGUF models, by llama.cpp's name (tokenizer.ggml.pre):
// one row per group of names that split text the same way. The regexes are those of the models'
// own tokenizer.json (Rust/Oniguruma syntax, run by PCRE2 with Unicode properties); where llama.cpp
// rewrites a pattern for std::regex (case-insensitive contractions spelled out, \p{Lu} classes
// approximated by lookaheads) we keep the original, which means the same thing. Each regex splits
// the pieces of the previous one; text between matches stays a piece of its own (HF "Isolated").
// tests/io/tokenizer_pretok_test.cc checks every row against llama.cpp's own tokenization
// (fixtures from tools/make_pretok_fixtures.sh).
#include <algorithm>

#include "io/tokenizer_impl.h"

namespace tq::tok {

namespace {

// Contractions as the HF patterns write them (case-insensitive).
#define TQ_CONTRACTIONS "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
// The tiktoken-style word rules: a word optionally led by one non-letter, split at case changes.
// G guards every letter class (Kimi K2 excludes Han: "(?!\\p{Han})").
#define TQ_UPPER(G) "(?:" G "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}])"
#define TQ_LOWER(G) "(?:" G "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}])"
#define TQ_CASED_WORDS(G, TAIL)                      \
  "[^\\r\\n\\p{L}\\p{N}]?" TQ_UPPER(G) "*" TQ_LOWER( \
      G) "+" TAIL "|[^\\r\\n\\p{L}\\p{N}]?" TQ_UPPER(G) "+" TQ_LOWER(G) "*" TAIL

constexpr const char* kFalconPunct = "[\\p{P}\\$\\+<=>\\^~\\|`]+";
constexpr const char* kDefaultPunct = "[\\p{P}\\$\\+<=>\\^~\\|]+";  // no backtick
constexpr const char* kGpt2NoTail =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr const char* kDigit = "\\p{N}";
constexpr const char* kDigits3 = "\\p{N}{1,3}";
constexpr const char* kNewlineRuns = "[^\\n]+|[\\n]+";
constexpr const char* kBloom =
    " ?[^(\\s|.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81"
    "\xE0\xA5\xA4\xDB\x94\xD8\x8C)]+";  // …。，、।۔،
constexpr const char* kJais2 = TQ_CONTRACTIONS
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
    "|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)"
    "|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}";
constexpr const char* kQwen35 = TQ_CONTRACTIONS
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// DeepSeek LLM: Latin/Greek/Cyrillic/... letter runs written out as ranges by its tokenizer.json.
constexpr const char* kDeepseekLetters =
    "\\s?[A-Za-z\xC2\xB5\xC3\x80-\xC3\x96\xC3\x98-\xC3\xB6\xC3\xB8-\xC6\xBA\xC6\xBC-\xC6\xBF"
    "\xC7\x84-\xCA\x93\xCA\x95-\xCA\xAF\xCD\xB0-\xCD\xB3\xCD\xB6\xCD\xB7\xCD\xBB-\xCD\xBD\xCD\xBF"
    "\xCE\x86\xCE\x88-\xCE\x8A\xCE\x8C\xCE\x8E-\xCE\xA1\xCE\xA3-\xCF\xB5\xCF\xB7-\xD2\x81"
    "\xD2\x8A-\xD4\xAF\xD4\xB1-\xD5\x96\xE1\x82\xA0-\xE1\x83\x85\xE1\x8E\xA0-\xE1\x8F\xB5"
    "\xE1\x8F\xB8-\xE1\x8F\xBD\xE1\xB2\x90-\xE1\xB2\xBA\xE1\xB2\xBD-\xE1\xB2\xBF\xE1\xB4\x80-"
    "\xE1\xB4\xAB\xE1\xB5\xAB-\xE1\xB5\xB7\xE1\xB5\xB9-\xE1\xB6\x9A\xE1\xB8\x80-\xE1\xBC\x95"
    "\xE1\xBC\x98-\xE1\xBC\x9D\xE1\xBC\xA0-\xE1\xBD\x85\xE1\xBD\x88-\xE1\xBD\x8D\xE1\xBD\x90-"
    "\xE1\xBD\x97\xE1\xBD\x99\xE1\xBD\x9B\xE1\xBD\x9D\xE1\xBD\x9F-\xE1\xBD\xBD\xE1\xBE\x80-"
    "\xE1\xBE\xB4\xE1\xBE\xB6-\xE1\xBE\xBC\xE1\xBE\xBE\xE1\xBF\x82-\xE1\xBF\x84\xE1\xBF\x86-"
    "\xE1\xBF\x8C\xE1\xBF\x90-\xE1\xBF\x93\xE1\xBF\x96-\xE1\xBF\x9B\xE1\xBF\xA0-\xE1\xBF\xAC"
    "\xE1\xBF\xB2-\xE1\xBF\xB4\xE1\xBF\xB6-\xE1\xBF\xBC\xE2\x84\x82\xE2\x84\x87\xE2\x84\x8A-"
    "\xE2\x84\x93\xE2\x84\x95\xE2\x84\x99-\xE2\x84\x9D\xE2\x84\xA4\xE2\x84\xA6\xE2\x84\xA8"
    "\xE2\x84\xAA-\xE2\x84\xAD\xE2\x84\xAF-\xE2\x84\xB4\xE2\x84\xB9\xE2\x84\xBC-\xE2\x84\xBF"
    "\xE2\x85\x85-\xE2\x85\x89\xE2\x85\x8E\xE2\x86\x83\xE2\x86\x84\xE2\xB0\x80-\xE2\xB1\xBB"
    "\xE2\xB1\xBE-\xE2\xB3\xA4\xE2\xB3\xAB-\xE2\xB3\xAE\xE2\xB3\xB2\xE2\xB3\xB3\xEA\x99\x80-"
    "\xEA\x99\xAD\xEA\x9A\x80-\xEA\x9A\x9B\xEA\x9C\xA2-\xEA\x9D\xAF\xEA\x9D\xB1-\xEA\x9E\x87"
    "\xEA\x9E\x8B-\xEA\x9E\x8E\xEA\xAD\xB0-\xEA\xAE\xBF\xEF\xAC\x80-\xEF\xAC\x86\xEF\xAC\x93-"
    "\xEF\xAC\x97\xEF\xBC\xA1-\xEF\xBC\xBA\xEF\xBD\x81-\xEF\xBD\x9A\xF0\x90\x90\x80-\xF0\x90\x91"
    "\x8F\xF0\x90\x92\xB0-\xF0\x90\x93\x93\xF0\x90\x93\x98-\xF0\x90\x93\xBB\xF0\x90\xB2\x80-"
    "\xF0\x90\xB2\xB2\xF0\x90\xB3\x80-\xF0\x90\xB3\xB2\xF0\x91\xA2\xA0-\xF0\x91\xA3\x9F"
    "\xF0\x9E\xA4\x80-\xF0\x9E\xA5\x83]+";
// ASCII and full-width punctuation runs; CJK ideographs, the U+0800.. block and Hangul.
constexpr const char* kDeepseekPunct =
    "\\s?[!-/:-~\xEF\xBC\x81-\xEF\xBC\x8F\xEF\xBC\x9A-\xEF\xBD\x9E\xE2\x80\x98-\xE2\x80\x9F"
    "\xE3\x80\x80-\xE3\x80\x82]+";
constexpr const char* kDeepseekCjk =
    "[\xE4\xB8\x80-\xE9\xBE\xA5\xE0\xA0\x80-\xE4\xB8\x80"
    "\xEA\xB0\x80-\xED\x9F\xBF]+";
// DeepSeek V3 family: digits by three, CJK/kana runs, then letters and punctuation.
constexpr const char* kDeepseek3Cjk =
    "[\xE4\xB8\x80-\xE9\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F"
    "\xE3\x82\xA0-\xE3\x83\xBF]+";
constexpr const char* kDeepseek3Words =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?"
    "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kSpark25Words =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?"
    "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\\r\\n]|\\s+(?!\\S)|\\s+";
constexpr const char* kTekken =
    TQ_CASED_WORDS("", "") "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kGpt4o = TQ_CASED_WORDS(
    "", TQ_CONTRACTIONS
    "?") "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kYoutuCjk =
    "[\xEA\xB0\x80-\xED\x9E\xA3\xE3\x84\xB1-\xE3\x86\x8E]+|[\xEF\xBC\x81\xE2\x80\xA6\xE2\x80\x9C"
    "\xE2\x80\x9D\xE2\x80\x98\xE2\x80\x99\xE2\x80\x94\xEF\xBC\x9A\xEF\xBC\x9B\xEF\xBC\x8C\xE3\x80"
    "\x81-\xE3\x80\xBF\xEF\xB8\xB0-\xEF\xB9\x8F]+|[\xE3\x84\x85-\xE3\x84\xAF]+|[\xE4\xB8\x80-\xE9"
    "\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF]+";
constexpr const char* kYoutuWords =
    TQ_CASED_WORDS("", TQ_CONTRACTIONS
                   "?") "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// Kimi K2: Han runs first, then the GPT-4o rules on letters other than Han.
constexpr const char* kKimiK2 = "\\p{Han}+|" TQ_CASED_WORDS(
    "(?!\\p{Han})", TQ_CONTRACTIONS
    "?") "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kChameleonSentinel = "<sentinel:[0-9]+>";
constexpr const char* kChameleonImage = "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z";
constexpr const char* kChameleonSpaces = "([\\t\\n]|    |  )";
constexpr const char* kChameleonPunct = "[\\p{P}!-/:-@\\[-`{-~]";
constexpr const char* kBailing =
    "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
constexpr const char* kSeedCoder = TQ_CONTRACTIONS
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kUfakzeka =
    "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// Digits in groups of three counted from the right (1234567 -> 1 234 567).
constexpr const char* kDigitsBy3FromRight = "\\p{N}{1,3}(?=(?:\\p{N}{3})*(?!\\p{N}))";
constexpr const char* kTinyAyaDigits = "\\d{1,3}(?=(?:\\d{3})*\\b)";
constexpr const char* kAfmoeCjk =
    "[\xE4\xB8\x80-\xE9\xBF\xBF\xE3\x90\x80-\xE4\xB6\xBF\xEF\xA4\x80-\xEF\xAB\xBF\xE3\x81\x80-"
    "\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF\xEF\xBD\xA5-\xEF\xBE\x9F\xE2\xBC\x80-\xE2\xBF\x9F"
    "\xE0\xB9\x80-\xE0\xB9\xBF\xE0\xBA\x80-\xE0\xBB\xBF\xE1\x9E\x80-\xE1\x9F\xBF\xE1\x80\x80-"
    "\xE1\x82\x9F\xEA\xA9\xA0-\xEA\xA9\xBF\xEA\xA7\xA0-\xEA\xA7\xBF\xEA\xB0\x80-\xED\x9E\xAF"
    "\xE1\x84\x80-\xE1\x87\xBF]+";
constexpr const char* kExaoneMoe = TQ_CONTRACTIONS
    "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
constexpr const char* kMiniCpm5 = TQ_CONTRACTIONS
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
#undef TQ_CASED_WORDS
#undef TQ_UPPER
#undef TQ_LOWER
#undef TQ_CONTRACTIONS

using P = PreTokenizerSpec;

// Names are llama.cpp's (llama-vocab.cpp); the first name of a row is what we write back.
const std::vector<PreTokenizerSpec>& table() {
  static const std::vector<PreTokenizerSpec> rows = {
      {"gpt-2 phi-2 jina-es jina-de gigachat jina-v2-es jina-v2-de a.x-4.0 mellum modern-bert "
       "mpt olmo jais trillion granite-docling exaone4 jina-v1-en jina-v2-code roberta-bpe",
       {kGpt2Regex}},
      {"llama-bpe llama3 llama-v3 falcon3 falcon-h1 pixtral midm-2.0 lfm2 jina-v5-nano",
       {kLlama3Regex},
       P::kIgnoreMerges | P::kAddBos},
      {"dbrx smaug-bpe chatglm-bpe", {kLlama3Regex}},
      {"glm4 glm5", {kLlama3Regex}, P::kIgnoreMerges},
      {"qwen2 deepseek-r1-qwen kormo f2llmv2 megrez stablelm2 hunyuan solar-open grok-2",
       {kQwen2Regex},
       P::kNfc},
      {"qwen35", {kQwen35}},
      {"smollm starcoder refact command-r codeshell exaone minerva-7b mellum2",
       {kDigit, kGpt2NoTail}},
      {"default", {kDefaultPunct, kGpt2NoTail, "\\p{N}+", "[0-9][0-9][0-9]"}},
      {"falcon", {kFalconPunct, kGpt2NoTail, "[0-9][0-9][0-9]"}},
      {"deepseek-llm",
       {"[\\r\\n]", kDeepseekLetters, kDeepseekPunct, "\\s+$", kDeepseekCjk, "\\p{N}+"}},
      {"deepseek-coder", {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kDeepseekCjk, kDigit}},
      {"deepseek-v3 hunyuan-dense joyai-llm hy_v4", {kDigits3, kDeepseek3Cjk, kDeepseek3Words}},
      {"spark2_5", {kDigits3, kDeepseek3Cjk, kSpark25Words, kDigit}},
      {"youtu", {kYoutuCjk, kYoutuWords}, P::kIgnoreMerges},
      {"jais-2", {kJais2}},
      {"poro-chat bloom gpt3-finnish", {kBloom}},
      {"viking", {kBloom, kDigit}},
      {"tekken", {kTekken}, P::kIgnoreMerges | P::kAddBos},
      {"chameleon",
       {kChameleonSentinel, kChameleonImage, kChameleonSpaces, kDigit, kChameleonPunct,
        kGpt2NoTail},
       P::kAddBos},
      {"gpt-4o llama4 kanana2 talkie minimax-m2", {kGpt4o}},
      {"granite-embed-multi-97m", {kGpt4o}, P::kIgnoreMerges},
      {"tiny_aya cohere2moe", {kTinyAyaDigits, kGpt4o}},
      {"kimi-k2", {kKimiK2}},
      {"superbpe", {"\\p{N}+", kDigitsBy3FromRight}},
      {"bailingmoe bailingmoe2 llada-moe", {kBailing}},
      {"seed-coder", {kSeedCoder}},
      {"ufakzeka", {kUfakzeka}},
      {"afmoe", {kDigitsBy3FromRight, kAfmoeCjk, kDeepseek3Words}},
      {"laguna", {kNewlineRuns, kQwen2Regex}},
      {"exaone-moe", {kExaoneMoe}},
      {"minicpm5", {kDigits3, kMiniCpm5}, P::kIgnoreMerges},
      // SentencePiece-style BPE on raw UTF-8: spaces become ▁, only newline runs split.
      {"gemma4 granite-embed-multi-311m", {kNewlineRuns}, P::kSpmStyle | P::kAddBos},
      {"sarvam-moe", {kNewlineRuns}, P::kSpmStyle},
  };
  return rows;
}

bool has_name(const PreTokenizerSpec& row, std::string_view name) {
  std::string_view names = row.names;
  while (!names.empty()) {
    const size_t sp = names.find(' ');
    if (names.substr(0, sp) == name) return true;
    if (sp == std::string_view::npos) break;
    names.remove_prefix(sp + 1);
  }
  return false;
}

}  // namespace

const char* const kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::span<const PreTokenizerSpec> pre_tokenizer_table() {
  return table();
}

std::string_view PreTokenizerSpec::name() const {
  std::string_view n = names;
  return n.substr(0, n.find(' '));
}

const PreTokenizerSpec* find_pre_tokenizer(std::string_view name) {
  for (const auto& row : table())
    if (has_name(row, name)) return &row;
  return nullptr;
}

std::string closest_pre_tokenizer(std::string_view name) {
  // The longest known name that the unknown one starts with or contains ("qwen2.5-math" ->
  // "qwen2", "my-llama3" -> "llama3"); else GPT-2's rules, the common ancestor of the others.
  std::string best;
  size_t best_len = 0;
  for (const auto& row : table()) {
    std::string_view names = row.names;
    while (!names.empty()) {
      const size_t sp = names.find(' ');
      const std::string_view n = names.substr(0, sp);
      if (n.size() > best_len && n != "default" && name.find(n) != std::string_view::npos) {
        best = std::string(n);
        best_len = n.size();
      }
      if (sp == std::string_view::npos) break;
      names.remove_prefix(sp + 1);
    }
  }
  return best.empty() ? "gpt-2" : best;
}

}  // namespace tq::tok

// Text helpers for the tokenizers: UTF-8 walking, GPT-2's byte <-> unicode table, Unicode
// normalization (ICU) and PCRE2 regexes in UTF mode with Unicode classes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tq/status.h"

namespace tq::tok {

// Length of the UTF-8 sequence starting at s[i] if it is complete and valid there, else 0.
int utf8_valid_len(std::string_view s, size_t i);
// Length implied by a lead byte (1..4), or 1 for a byte that cannot start a sequence.
inline int utf8_lead_len(uint8_t c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}
bool is_valid_utf8(std::string_view s);
std::string codepoint_to_utf8(uint32_t cp);
// Decodes the (valid) UTF-8 character at s[i]; *len receives its byte length.
uint32_t utf8_decode(std::string_view s, size_t i, int* len);

// Calls f(run, valid) for maximal runs of valid UTF-8 and, separately, for each byte that is not
// part of a valid sequence (valid = false, run of length 1), in order.
template <typename F>
void for_each_utf8_run(std::string_view s, F&& f) {
  size_t start = 0, i = 0;
  while (i < s.size()) {
    const int n = utf8_valid_len(s, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (i > start) f(s.substr(start, i - start), true);
    f(s.substr(i, 1), false);
    start = ++i;
  }
  if (i > start) f(s.substr(start, i - start), true);
}

// GPT-2 byte-level alphabet: byte b <-> the UTF-8 string of one printable code point.
const std::string& byte_to_unicode(uint8_t b);
// The byte whose byte-level code point is cp, or -1.
int unicode_to_byte(uint32_t cp);
// Maps every byte of s to its byte-level form ("Ġthe" for " the").
std::string bytes_to_byte_level(std::string_view s);
// Inverse; false (out untouched) if some character is not in the byte-level alphabet.
bool byte_level_to_bytes(std::string_view s, std::string* out);

enum class NormForm { kNFC, kNFD, kNFKC, kNFKD };
// Unicode normalization of valid UTF-8 text (ICU). Returns false if ICU failed.
bool normalize_unicode(std::string_view s, NormForm form, std::string* out);
// Full Unicode lowercase (ICU, root locale).
bool lowercase_unicode(std::string_view s, std::string* out);

// A compiled PCRE2 pattern (UTF + UCP, JIT when available). Thread-safe for matching.
class Regex {
 public:
  static Result<std::unique_ptr<Regex>> compile(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls f(begin, end) (byte offsets) for each non-empty match in `subject`, which must be
  // valid UTF-8, left to right without overlap (like Rust's/Oniguruma's find_iter).
  template <typename F>
  void for_each_match(std::string_view subject, F&& f) const {
    size_t pos = 0, b = 0, e = 0;
    while (pos <= subject.size() && next_match(subject, pos, &b, &e)) {
      if (e > b) {
        f(b, e);
        pos = e;
      } else {  // empty match: step over one character
        pos = b + (b < subject.size() ? utf8_lead_len(static_cast<uint8_t>(subject[b])) : 1);
      }
    }
  }
  const std::string& pattern() const { return pattern_; }

 private:
  Regex() = default;
  // First match at or after `start`; false when there is none (or on a matching error).
  bool next_match(std::string_view subject, size_t start, size_t* b, size_t* e) const;
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
};

}  // namespace tq::tok

#include "io/tokenizer_text.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <array>
#include <mutex>

namespace tq::tok {

int utf8_valid_len(std::string_view s, size_t i) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  const uint8_t c = p[i];
  if (c < 0x80) return 1;
  auto cont = [&](size_t k) { return i + k < n && (p[i + k] & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if ((c & 0xF0) == 0xE0) {
    if (!cont(1) || !cont(2)) return 0;
    const uint8_t c1 = p[i + 1];
    if (c == 0xE0 && c1 < 0xA0) return 0;   // overlong
    if (c == 0xED && c1 >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const uint8_t c1 = p[i + 1];
    if (c == 0xF0 && c1 < 0x90) return 0;   // overlong
    if (c == 0xF4 && c1 >= 0x90) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const int n = utf8_valid_len(s, i);
    if (!n) return false;
    i += n;
  }
  return true;
}

std::string codepoint_to_utf8(uint32_t cp) {
  std::string r;
  if (cp < 0x80) {
    r += static_cast<char>(cp);
  } else if (cp < 0x800) {
    r += static_cast<char>(0xC0 | (cp >> 6));
    r += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    r += static_cast<char>(0xE0 | (cp >> 12));
    r += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    r += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    r += static_cast<char>(0xF0 | (cp >> 18));
    r += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    r += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    r += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return r;
}

uint32_t utf8_decode(std::string_view s, size_t i, int* len) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data()) + i;
  const int n = utf8_valid_len(s, i);
  if (n <= 1) {
    *len = 1;
    return p[0];
  }
  *len = n;
  if (n == 2) return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
  if (n == 3) return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
  return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
}

namespace {

struct ByteLevelTables {
  std::array<std::string, 256> to_unicode;
  std::array<int16_t, 512> to_byte;  // code points used are < 324
  ByteLevelTables() {
    to_byte.fill(-1);
    // GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes
    // to U+0100 + k in byte order.
    int k = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable =
          (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? b : 256 + k++;
      to_unicode[b] = codepoint_to_utf8(cp);
      to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

const std::string& byte_to_unicode(uint8_t b) {
  return byte_level_tables().to_unicode[b];
}

int unicode_to_byte(uint32_t cp) {
  return cp < 512 ? byte_level_tables().to_byte[cp] : -1;
}

std::string bytes_to_byte_level(std::string_view s) {
  const auto& t = byte_level_tables();
  std::string r;
  r.reserve(s.size() * 2);
  for (char c : s) r += t.to_unicode[static_cast<uint8_t>(c)];
  return r;
}

bool byte_level_to_bytes(std::string_view s, std::string* out) {
  std::string r;
  r.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    int len = 0;
    if (!utf8_valid_len(s, i)) return false;
    const int b = unicode_to_byte(utf8_decode(s, i, &len));
    if (b < 0) return false;
    r += static_cast<char>(b);
    i += len;
  }
  *out = std::move(r);
  return true;
}

bool normalize_unicode(std::string_view s, NormForm form, std::string* out) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case NormForm::kNFC:
      n = icu::Normalizer2::getNFCInstance(err);
      break;
    case NormForm::kNFD:
      n = icu::Normalizer2::getNFDInstance(err);
      break;
    case NormForm::kNFKC:
      n = icu::Normalizer2::getNFKCInstance(err);
      break;
    case NormForm::kNFKD:
      n = icu::Normalizer2::getNFKDInstance(err);
      break;
  }
  if (U_FAILURE(err) || !n) return false;
  const icu::UnicodeString u =
      icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
  // Fast path: most text is already normalized.
  if (n->isNormalized(u, err) && U_SUCCESS(err)) {
    out->assign(s);
    return true;
  }
  err = U_ZERO_ERROR;
  const icu::UnicodeString r = n->normalize(u, err);
  if (U_FAILURE(err)) return false;
  out->clear();
  r.toUTF8String(*out);
  return true;
}

bool lowercase_unicode(std::string_view s, std::string* out) {
  icu::UnicodeString u =
      icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
  u.toLower(icu::Locale::getRoot());
  out->clear();
  u.toUTF8String(*out);
  return true;
}

// ---- Regex -----------------------------------------------------------------------------------

namespace {
// One match-data block per thread: we only read the whole-match offsets.
pcre2_match_data* thread_match_data() {
  struct Holder {
    pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
    ~Holder() { pcre2_match_data_free(md); }
  };
  thread_local Holder h;
  return h.md;
}
}  // namespace

Result<std::unique_ptr<Regex>> Regex::compile(const std::string& pattern) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    return invalid_argument("regex '{}' does not compile at offset {}: {}", pattern, err_off,
                            reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is absent
  std::unique_ptr<Regex> r(new Regex());
  r->pattern_ = pattern;
  r->code_ = code;
  return r;
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

bool Regex::next_match(std::string_view subject, size_t start, size_t* b, size_t* e) const {
  pcre2_match_data* md = thread_match_data();
  const int rc =
      pcre2_match(static_cast<pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(subject.data()),
                  subject.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
  if (rc < 0) return false;  // no match (or a resource limit: treat the rest as unmatched)
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
  *b = ov[0];
  *e = ov[1];
  return *e >= *b && *e <= subject.size();
}

}  // namespace tq::tok

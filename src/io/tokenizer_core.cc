// Tokenizer: the encode pipeline (added tokens -> normalizer -> pre-tokenizer -> model ->
// post-processor), decoding, and the streaming decoder. The models themselves are in
// tokenizer_models.cc; the sources in tokenizer_json.cc, tokenizer_spm.cc, tokenizer_gguf.cc.
#include <fmt/format.h>

#include <algorithm>

#include "io/tokenizer_impl.h"

namespace tq {

using tok::PreStep;
using tok::SplitBehavior;

namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_word_byte(char c) {
  const auto u = static_cast<uint8_t>(c);
  return u >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         c == '_';
}

// A segment of a piece: [b, e) and whether it was matched by the split pattern.
struct Seg {
  size_t b, e;
  bool match;
};

// HF tokenizers' SplitDelimiterBehavior applied to the segments (which cover the piece in order).
void apply_behavior(std::vector<Seg>& segs, SplitBehavior behavior) {
  std::vector<Seg> r;
  r.reserve(segs.size());
  bool prev_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      return;
    case SplitBehavior::kRemoved:
      for (const Seg& s : segs)
        if (!s.match) r.push_back(s);
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Seg& s : segs) {
        if (s.match && !prev_match && !r.empty())
          r.back().e = s.e;
        else
          r.push_back(s);
        prev_match = s.match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (size_t k = segs.size(); k-- > 0;) {
        const Seg& s = segs[k];
        if (s.match && !prev_match && !r.empty())
          r.back().b = s.b;
        else
          r.push_back(s);
        prev_match = s.match;
      }
      std::reverse(r.begin(), r.end());
      break;
    case SplitBehavior::kContiguous:
      for (const Seg& s : segs) {
        if (s.match == prev_match && !r.empty())
          r.back().e = s.e;
        else
          r.push_back(s);
        prev_match = s.match;
      }
      break;
  }
  segs = std::move(r);
}

// Segments of `piece` given the matches [b, e) (sorted, non-overlapping, non-empty).
template <typename ForEachMatch>
std::vector<Seg> segments(std::string_view piece, bool invert, ForEachMatch&& for_each_match) {
  std::vector<Seg> segs;
  size_t last = 0;
  for_each_match([&](size_t b, size_t e) {
    if (b > last) segs.push_back({last, b, invert});
    segs.push_back({b, e, !invert});
    last = e;
  });
  if (last < piece.size()) segs.push_back({last, piece.size(), invert});
  return segs;
}

// Each character satisfying pred is a match of its own (HF's split on a char predicate).
template <typename Pred>
std::vector<Seg> char_segments(std::string_view piece, Pred&& pred) {
  return segments(piece, false, [&](auto&& emit) {
    for (size_t i = 0; i < piece.size();) {
      int len = 1;
      const uint32_t cp = tok::utf8_decode(piece, i, &len);
      if (pred(cp)) emit(i, i + len);
      i += len;
    }
  });
}

bool is_unicode_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string r;
  size_t pos = 0;
  for (size_t k; (k = s.find(from, pos)) != std::string::npos; pos = k + from.size()) {
    r.append(s, pos, k - pos);
    r.append(to);
  }
  if (pos == 0) return;
  r.append(s, pos, std::string::npos);
  s = std::move(r);
}

}  // namespace

// ---- setup -----------------------------------------------------------------------------------

Status Tokenizer::Impl::finalize() {
  const size_t n = tokens.size();
  if (n == 0) return corrupt_file("{}: the vocabulary is empty", source);
  if (n > (size_t{1} << 31) - 1)
    return corrupt_file("{}: vocabulary of {} entries is too large", source, n);
  if (scores.size() < n) scores.resize(n, 0.0f);
  if (types.size() < n) types.resize(n, TokenType::kNormal);
  token_to_id.clear();
  token_to_id.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) token_to_id[tokens[i]] = static_cast<int32_t>(i);

  auto check_id = [&](int32_t id, const char* what) -> Status {
    if (id < -1 || id >= static_cast<int32_t>(n))
      return corrupt_file("{}: {} id {} is outside the vocabulary of {} tokens", source, what, id,
                          n);
    return ok_status();
  };
  TQ_RETURN_IF_ERROR(check_id(bos, "BOS"));
  TQ_RETURN_IF_ERROR(check_id(eos, "EOS"));
  TQ_RETURN_IF_ERROR(check_id(unk, "unknown-token"));
  TQ_RETURN_IF_ERROR(check_id(pad, "padding"));
  for (int32_t id : prefix_ids) TQ_RETURN_IF_ERROR(check_id(id, "post-processor"));
  for (int32_t id : suffix_ids) TQ_RETURN_IF_ERROR(check_id(id, "post-processor"));
  for (auto& list : added_by_byte) list.clear();
  for (size_t k = 0; k < added.size(); ++k) {
    const auto& a = added[k];
    if (a.id < 0 || a.id >= static_cast<int32_t>(n))
      return corrupt_file("{}: added token '{}' has id {} outside the vocabulary of {} tokens",
                          source, a.content, a.id, n);
    if (a.content.empty()) continue;  // cannot be matched in text
    added_by_byte[static_cast<uint8_t>(a.content[0])].push_back(static_cast<int32_t>(k));
  }
  for (auto& list : added_by_byte)
    std::stable_sort(list.begin(), list.end(), [&](int32_t x, int32_t y) {
      return added[x].content.size() > added[y].content.size();
    });

  // Byte ids: the byte-level alphabet, or <0xXX> tokens for byte fallback.
  for (int b = 0; b < 256; ++b) {
    int32_t id = -1;
    if (kind == Kind::kBpe && bpe.byte_level) {
      auto it = token_to_id.find(tok::byte_to_unicode(static_cast<uint8_t>(b)));
      if (it != token_to_id.end()) id = it->second;
    } else {
      auto it = token_to_id.find(fmt::format("<0x{:02X}>", b));
      if (it != token_to_id.end()) id = it->second;
    }
    bpe.byte_id[b] = id;
  }

  // What each token decodes to.
  piece_bytes.assign(n, std::string());
  std::vector<bool> is_added(n, false);
  for (const auto& a : added) is_added[a.id] = true;
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = tokens[i];
    const TokenType ty = types[i];
    std::string& out = piece_bytes[i];
    if (ty == TokenType::kControl) {
      if (!dec_control_empty) out = t;
      continue;
    }
    if (ty == TokenType::kUnknown && !dec_unknown_text.empty()) {
      out = dec_unknown_text;
      continue;
    }
    if (is_added[i] || ty == TokenType::kUserDefined) {
      out = t;
      if (kind != Kind::kBpe) replace_all(out, "\xE2\x96\x81", " ");
      continue;
    }
    if (dec_byte_fallback && t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
      unsigned v = 0;
      if (std::sscanf(t.c_str() + 3, "%2X", &v) == 1) {
        out.assign(1, static_cast<char>(v));
        continue;
      }
    }
    if (dec_byte_level) {
      if (!tok::byte_level_to_bytes(t, &out)) out = t;
    } else {
      out = t;
    }
    for (const auto& [from, to] : dec_replace) replace_all(out, from, to);
  }

  if (eos >= 0) eog.insert(eos);
  static const char* const kEogNames[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>",         "<end_of_turn>", "<|endoftext|>",
      "<|eom_id|>", "</s>",       "<|end_of_text|>", "<EOT>",         "<|return|>"};
  for (const char* name : kEogNames) {
    auto it = token_to_id.find(std::string_view(name));
    if (it != token_to_id.end() && types[it->second] == TokenType::kControl) eog.insert(it->second);
  }
  return ok_status();
}

int32_t Tokenizer::Impl::byte_token(uint8_t b) const {
  return bpe.byte_id[b] >= 0 ? bpe.byte_id[b] : unk;
}

// ---- encoding --------------------------------------------------------------------------------

void Tokenizer::Impl::encode_text(std::string_view text, bool first_segment, EncodeState& st,
                                  std::vector<int32_t>& out) const {
  bool at_start = first_segment;
  tok::for_each_utf8_run(text, [&](std::string_view run, bool valid) {
    if (!valid) {  // a byte that is not UTF-8: its byte token (HF cannot even represent it)
      const int32_t id = byte_token(static_cast<uint8_t>(run[0]));
      if (id >= 0) out.push_back(id);
      at_start = false;
      return;
    }
    std::string_view piece = run;
    std::string norm;
    if (!normalizer.empty()) {
      std::string cur(run), tmp;
      for (const auto& s : normalizer) {
        switch (s.type) {
          case tok::NormStep::kNfc:
            tok::normalize_unicode(cur, tok::NormForm::kNFC, &tmp);
            cur.swap(tmp);
            break;
          case tok::NormStep::kNfd:
            tok::normalize_unicode(cur, tok::NormForm::kNFD, &tmp);
            cur.swap(tmp);
            break;
          case tok::NormStep::kNfkc:
            tok::normalize_unicode(cur, tok::NormForm::kNFKC, &tmp);
            cur.swap(tmp);
            break;
          case tok::NormStep::kNfkd:
            tok::normalize_unicode(cur, tok::NormForm::kNFKD, &tmp);
            cur.swap(tmp);
            break;
          case tok::NormStep::kLowercase:
            tok::lowercase_unicode(cur, &tmp);
            cur.swap(tmp);
            break;
          case tok::NormStep::kPrepend:
            if (!cur.empty()) cur.insert(0, s.a);
            break;
          case tok::NormStep::kReplace:
            if (s.regex) {
              tmp.clear();
              size_t last = 0;
              s.regex->for_each_match(cur, [&](size_t b, size_t e) {
                tmp.append(cur, last, b - last);
                tmp += s.b;
                last = e;
              });
              tmp.append(cur, last, std::string::npos);
              cur.swap(tmp);
            } else {
              replace_all(cur, s.a, s.b);
            }
            break;
          case tok::NormStep::kStrip: {
            size_t b = 0, e = cur.size();
            if (s.left)
              while (b < e && is_ascii_space(cur[b])) ++b;
            if (s.right)
              while (e > b && is_ascii_space(cur[e - 1])) --e;
            cur = cur.substr(b, e - b);
            break;
          }
        }
      }
      norm.swap(cur);
      piece = norm;
    }
    if (!piece.empty()) pre_tokenize(0, piece, at_start, st, out);
    at_start = false;
  });
}

void Tokenizer::Impl::pre_tokenize(size_t step, std::string_view piece, bool at_text_start,
                                   EncodeState& st, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (step == pre.size()) {
    bpe_word(piece, st, out);
    return;
  }
  const PreStep& s = pre[step];
  auto emit_segs = [&](std::string_view p, std::vector<Seg>& segs, SplitBehavior behavior) {
    apply_behavior(segs, behavior);
    for (const Seg& g : segs)
      pre_tokenize(step + 1, p.substr(g.b, g.e - g.b), at_text_start && g.b == 0, st, out);
  };
  switch (s.type) {
    case PreStep::kSplit: {
      if (s.behavior == SplitBehavior::kIsolated &&
          !s.invert) {  // the common case, without a vector
        size_t last = 0;
        s.regex->for_each_match(piece, [&](size_t b, size_t e) {
          if (b > last)
            pre_tokenize(step + 1, piece.substr(last, b - last), at_text_start && last == 0, st,
                         out);
          pre_tokenize(step + 1, piece.substr(b, e - b), at_text_start && b == 0, st, out);
          last = e;
        });
        if (last < piece.size())
          pre_tokenize(step + 1, piece.substr(last), at_text_start && last == 0, st, out);
        return;
      }
      auto segs =
          segments(piece, s.invert, [&](auto&& emit) { s.regex->for_each_match(piece, emit); });
      emit_segs(piece, segs, s.behavior);
      return;
    }
    case PreStep::kByteLevel: {
      std::string with_space;
      std::string_view p = piece;
      if (s.add_prefix_space && p[0] != ' ') {
        with_space = " ";
        with_space += p;
        p = with_space;
      }
      if (!s.use_regex) {
        pre_tokenize(step + 1, p, at_text_start, st, out);
        return;
      }
      size_t last = 0;
      s.regex->for_each_match(p, [&](size_t b, size_t e) {
        if (b > last)
          pre_tokenize(step + 1, p.substr(last, b - last), at_text_start && last == 0, st, out);
        pre_tokenize(step + 1, p.substr(b, e - b), at_text_start && b == 0, st, out);
        last = e;
      });
      if (last < p.size())
        pre_tokenize(step + 1, p.substr(last), at_text_start && last == 0, st, out);
      return;
    }
    case PreStep::kDigits: {
      auto segs = char_segments(piece, [](uint32_t cp) { return cp >= '0' && cp <= '9'; });
      emit_segs(piece, segs,
                s.individual_digits ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
      return;
    }
    case PreStep::kWhitespaceSplit: {
      auto segs = char_segments(piece, is_unicode_space);
      emit_segs(piece, segs, SplitBehavior::kRemoved);
      return;
    }
    case PreStep::kMetaspace: {
      std::string p(piece);
      replace_all(p, " ", s.replacement);
      const bool starts = p.compare(0, s.replacement.size(), s.replacement) == 0;
      if (!starts &&
          (s.prepend == PreStep::kAlways || (s.prepend == PreStep::kFirst && at_text_start)))
        p.insert(0, s.replacement);
      if (!s.split) {
        pre_tokenize(step + 1, p, at_text_start, st, out);
        return;
      }
      const std::string_view pv = p;
      auto segs = segments(pv, false, [&](auto&& emit) {
        for (size_t k = 0; (k = pv.find(s.replacement, k)) != std::string_view::npos;
             k += s.replacement.size())
          emit(k, k + s.replacement.size());
      });
      emit_segs(pv, segs, SplitBehavior::kMergedWithNext);
      return;
    }
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special) const {
  return encode(text, add_special, /*parse_special=*/true);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  const Impl& m = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special) out.insert(out.end(), m.prefix_ids.begin(), m.prefix_ids.end());
  Impl::EncodeState st;
  bool first_segment = true;
  bool prev_token = true;  // SentencePiece: a space prefix at the start and after a special token
  auto emit_text = [&](std::string_view seg) {
    if (seg.empty()) return;
    switch (m.kind) {
      case Kind::kBpe:
        m.encode_text(seg, first_segment, st, out);
        break;
      case Kind::kSpmScores: {
        std::string t;
        if (m.spm.add_space_prefix && prev_token) t = " ";
        t += seg;
        replace_all(t, " ", "\xE2\x96\x81");
        m.spm_encode(t, out);
        break;
      }
      case Kind::kSentencePieceLib:
        m.sp_lib_encode(seg, out);
        break;
    }
    first_segment = false;
    prev_token = false;
  };

  size_t seg_start = 0, pos = 0;
  const size_t n = text.size();
  while (pos < n) {
    const auto& cands = m.added_by_byte[static_cast<uint8_t>(text[pos])];
    const tok::AddedToken* hit = nullptr;
    for (int32_t k : cands) {
      const auto& a = m.added[k];
      if (a.special && !parse_special) continue;
      if (text.compare(pos, a.content.size(), a.content) != 0) continue;
      if (a.single_word) {
        if (pos > 0 && is_word_byte(text[pos - 1])) continue;
        const size_t end = pos + a.content.size();
        if (end < n && is_word_byte(text[end])) continue;
      }
      hit = &a;
      break;
    }
    if (!hit) {
      ++pos;
      continue;
    }
    size_t seg_end = pos;
    if (hit->lstrip)
      while (seg_end > seg_start && is_ascii_space(text[seg_end - 1])) --seg_end;
    emit_text(text.substr(seg_start, seg_end - seg_start));
    out.push_back(hit->id);
    first_segment = false;
    prev_token = true;
    pos += hit->content.size();
    if (hit->rstrip)
      while (pos < n && is_ascii_space(text[pos])) ++pos;
    seg_start = pos;
  }
  emit_text(text.substr(seg_start));
  if (add_special) out.insert(out.end(), m.suffix_ids.begin(), m.suffix_ids.end());
  return out;
}

// ---- decoding --------------------------------------------------------------------------------

namespace {
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Appends token `id`'s text to out; at_start applies the decoder's leading-space removal.
void append_piece(const Tokenizer::Impl& m, int32_t id, bool skip_special, bool* at_start,
                  std::string* out) {
  std::string_view piece;
  if (id < 0 || id >= static_cast<int32_t>(m.tokens.size())) {
    piece = kReplacementChar;
  } else {
    if (skip_special && m.types[id] == TokenType::kControl) return;
    piece = m.piece_bytes[id];
  }
  if (*at_start) {
    if (piece.empty()) return;
    *at_start = false;
    for (int k = 0; k < m.strip_leading_spaces && !piece.empty() && piece[0] == ' '; ++k)
      piece.remove_prefix(1);
  }
  out->append(piece);
}
// True if `tail` (a lead byte and fewer continuation bytes than it needs) can still become valid.
bool could_complete(std::string_view tail) {
  const auto c0 = static_cast<uint8_t>(tail[0]);
  if (c0 < 0xC2 || c0 > 0xF4) return false;
  if (static_cast<int>(tail.size()) >= tok::utf8_lead_len(c0)) return false;
  for (size_t k = 1; k < tail.size(); ++k)
    if ((static_cast<uint8_t>(tail[k]) & 0xC0) != 0x80) return false;
  if (tail.size() >= 2) {
    const auto c1 = static_cast<uint8_t>(tail[1]);
    if ((c0 == 0xE0 && c1 < 0xA0) || (c0 == 0xED && c1 >= 0xA0) || (c0 == 0xF0 && c1 < 0x90) ||
        (c0 == 0xF4 && c1 >= 0x90))
      return false;
  }
  return true;
}
}  // namespace

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  return decode(ids, false);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  out.reserve(ids.size() * 4);
  bool at_start = true;
  for (int32_t id : ids) append_piece(*impl_, id, skip_special, &at_start, &out);
  return out;
}

Result<std::string> Tokenizer::decode_checked(std::span<const int32_t> ids) const {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= n_vocab())
      return out_of_range("{}: token id {} (position {}) is outside the vocabulary of {} tokens",
                          impl_->source, ids[i], i, n_vocab());
  return decode(ids);
}

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool skip_special)
    : tok_(tok), skip_special_(skip_special) {}

std::string StreamDecoder::feed(int32_t id) {
  append_piece(*tok_.impl_, id, skip_special_, &at_start_, &pending_);
  // Hold back the tail only if it is the beginning of a valid sequence that more bytes may finish.
  size_t cut = pending_.size();
  const size_t n = pending_.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<uint8_t>(pending_[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    if (could_complete(std::string_view(pending_).substr(n - back))) cut = n - back;
    break;
  }
  std::string ready = pending_.substr(0, cut);
  pending_.erase(0, cut);
  return ready;
}

std::string StreamDecoder::flush() {
  std::string r;
  r.swap(pending_);
  return r;
}

void StreamDecoder::reset() {
  pending_.clear();
  at_start_ = true;
}

// ---- accessors -------------------------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

int32_t Tokenizer::n_vocab() const {
  return static_cast<int32_t>(impl_->tokens.size());
}
int32_t Tokenizer::bos_id() const {
  return impl_->bos;
}
int32_t Tokenizer::eos_id() const {
  return impl_->eos;
}
int32_t Tokenizer::unk_id() const {
  return impl_->unk;
}
int32_t Tokenizer::pad_id() const {
  return impl_->pad;
}
bool Tokenizer::adds_bos() const {
  return !impl_->prefix_ids.empty() && impl_->prefix_ids[0] == impl_->bos && impl_->bos >= 0;
}
bool Tokenizer::adds_eos() const {
  return !impl_->suffix_ids.empty() && impl_->suffix_ids.back() == impl_->eos && impl_->eos >= 0;
}
bool Tokenizer::is_eog(int32_t id) const {
  return impl_->eog.count(id) != 0;
}
bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < n_vocab() && impl_->types[id] == TokenType::kControl;
}
Tokenizer::Kind Tokenizer::kind() const {
  return impl_->kind;
}
const std::string& Tokenizer::source() const {
  return impl_->source;
}
const std::vector<std::string>& Tokenizer::warnings() const {
  return impl_->warnings;
}
std::string Tokenizer::token_text(int32_t id) const {
  return id >= 0 && id < n_vocab() ? impl_->tokens[id] : std::string();
}
std::string Tokenizer::token_bytes(int32_t id) const {
  return id >= 0 && id < n_vocab() ? impl_->piece_bytes[id] : std::string();
}
TokenType Tokenizer::token_type(int32_t id) const {
  return id >= 0 && id < n_vocab() ? impl_->types[id] : TokenType::kUndefined;
}
int32_t Tokenizer::find_token(std::string_view text) const {
  auto it = impl_->token_to_id.find(text);
  return it == impl_->token_to_id.end() ? -1 : it->second;
}

}  // namespace tq

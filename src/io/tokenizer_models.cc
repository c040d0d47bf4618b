// The token models: HF-style BPE merges (byte-level or with byte fallback), llama.cpp-style
// SentencePiece score merging, and the libsentencepiece wrapper.
#include <sentencepiece_processor.h>

#include <algorithm>
#include <queue>

#include "io/tokenizer_impl.h"

namespace tq {

// ---- BPE -------------------------------------------------------------------------------------

void Tokenizer::Impl::bpe_merge(std::vector<int32_t>& syms) const {
  const int n = static_cast<int>(syms.size());
  if (n < 2 || bpe.merges.empty()) return;
  // Doubly linked list over the symbols; merged-away symbols get id -1.
  std::vector<int32_t> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    int32_t rank, pos, id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto find = [&](int32_t a, int32_t b) -> const tok::BpeModel::Merge* {
    auto it = bpe.merges.find((static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
                              static_cast<uint32_t>(b));
    return it == bpe.merges.end() ? nullptr : &it->second;
  };
  auto push = [&](int32_t i) {
    if (i < 0 || next[i] < 0) return;
    if (const auto* m = find(syms[i], syms[next[i]])) heap.push({m->rank, i, m->id});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    const int32_t i = c.pos;
    if (syms[i] < 0 || next[i] < 0) continue;
    const int32_t j = next[i];
    const auto* m = find(syms[i], syms[j]);
    if (!m || m->id != c.id || m->rank != c.rank) continue;  // stale
    syms[i] = c.id;
    syms[j] = -1;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    push(prev[i]);
    push(i);
  }
  int w = 0;
  for (int i = 0; i < n; ++i)
    if (syms[i] >= 0) syms[w++] = syms[i];
  syms.resize(w);
}

void Tokenizer::Impl::bpe_word(std::string_view word, EncodeState& st,
                               std::vector<int32_t>& out) const {
  if (auto it = st.cache.find(word); it != st.cache.end()) {
    const auto [off, cnt] = it->second;
    out.insert(out.end(), st.arena.begin() + off, st.arena.begin() + off + cnt);
    return;
  }
  std::vector<int32_t>& syms = st.syms;
  syms.clear();
  bool whole = false;
  if (bpe.byte_level) {
    if (bpe.ignore_merges) {
      auto it = token_to_id.find(tok::bytes_to_byte_level(word));
      if (it != token_to_id.end()) {
        syms.push_back(it->second);
        whole = true;
      }
    }
    if (!whole)
      for (char c : word) {
        const int32_t id = bpe.byte_id[static_cast<uint8_t>(c)];
        if (id >= 0)
          syms.push_back(id);
        else if (unk >= 0)
          syms.push_back(unk);
      }
  } else {
    if (bpe.ignore_merges) {
      auto it = token_to_id.find(word);
      if (it != token_to_id.end()) {
        syms.push_back(it->second);
        whole = true;
      }
    }
    for (size_t i = 0; !whole && i < word.size();) {
      int len = tok::utf8_valid_len(word, i);
      if (len <= 0) len = 1;
      auto it = token_to_id.find(word.substr(i, len));
      if (it != token_to_id.end()) {
        syms.push_back(it->second);
      } else if (bpe.byte_fallback &&
                 std::all_of(word.begin() + i, word.begin() + i + len,
                             [&](char c) { return bpe.byte_id[static_cast<uint8_t>(c)] >= 0; })) {
        for (int k = 0; k < len; ++k)
          syms.push_back(bpe.byte_id[static_cast<uint8_t>(word[i + k])]);
      } else if (unk >= 0 && !(bpe.fuse_unk && !syms.empty() && syms.back() == unk)) {
        syms.push_back(unk);
      }
      i += len;
    }
  }
  if (!whole) bpe_merge(syms);
  out.insert(out.end(), syms.begin(), syms.end());
  if (st.cache.size() < (1u << 20)) {
    st.cache.emplace(std::string(word), std::make_pair(static_cast<uint32_t>(st.arena.size()),
                                                       static_cast<uint32_t>(syms.size())));
    st.arena.insert(st.arena.end(), syms.begin(), syms.end());
  }
}

// ---- SentencePiece score merging (llama.cpp's llm_tokenizer_spm) ------------------------------

void Tokenizer::Impl::spm_encode(std::string_view text, std::vector<int32_t>& out) const {
  struct Sym {
    int32_t prev, next;
    uint32_t start, n;  // bytes of text
  };
  std::vector<Sym> sy;
  sy.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    int len = tok::utf8_valid_len(text, i);
    if (len <= 0) len = 1;
    const int32_t k = static_cast<int32_t>(sy.size());
    sy.push_back({k - 1, i + len < text.size() ? k + 1 : -1, static_cast<uint32_t>(i),
                  static_cast<uint32_t>(len)});
    i += len;
  }
  if (sy.empty()) return;
  struct Bigram {
    int32_t left, right;
    float score;
    uint32_t size;
    // Highest score first, then leftmost (as llama.cpp and sentencepiece order their agenda).
    bool operator<(const Bigram& o) const {
      return score < o.score || (score == o.score && left > o.left);
    }
  };
  std::priority_queue<Bigram> agenda;
  auto mergeable = [&](int32_t id) {
    const TokenType t = types[id];
    return t == TokenType::kNormal || t == TokenType::kUserDefined;
  };
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const std::string_view s = text.substr(sy[l].start, sy[l].n + sy[r].n);
    auto it = token_to_id.find(s);
    if (it == token_to_id.end() || !mergeable(it->second)) return;
    agenda.push({l, r, scores[it->second], static_cast<uint32_t>(s.size())});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sy.size()); ++i) try_add(i - 1, i);
  while (!agenda.empty()) {
    const Bigram b = agenda.top();
    agenda.pop();
    Sym& l = sy[b.left];
    Sym& r = sy[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sy[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int32_t i = 0; i >= 0; i = sy[i].next) {
    const std::string_view s = text.substr(sy[i].start, sy[i].n);
    auto it = token_to_id.find(s);
    if (it != token_to_id.end() &&
        (mergeable(it->second) || types[it->second] == TokenType::kUnknown)) {
      out.push_back(it->second);
      continue;
    }
    if (spm.byte_fallback) {
      for (char c : s) {
        const int32_t id = byte_token(static_cast<uint8_t>(c));
        if (id >= 0) out.push_back(id);
      }
    } else if (unk >= 0) {
      out.push_back(unk);
    }
  }
}

// ---- libsentencepiece ------------------------------------------------------------------------

void Tokenizer::Impl::sp_lib_encode(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<int> ids;
  const auto st = sp->Encode(absl::string_view(text.data(), text.size()), &ids);
  if (!st.ok()) return;  // only on an unloaded model, which the factory rules out
  out.insert(out.end(), ids.begin(), ids.end());
}

}  // namespace tq

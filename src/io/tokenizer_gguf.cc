// Tokenizers as GGUF metadata (tokenizer.ggml.*), both directions, with llama.cpp's names:
// model "gpt2" (byte-level BPE; pre-tokenizer by name) and "llama" (SentencePiece scores).
// Also the ModelFile entry points (from_model_file, export_tokenizer_metadata).
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/check.h"
#include "io/tokenizer_impl.h"

namespace tq {

namespace {

// A special token id: absent → dflt (−1 = none; a default outside the vocabulary is none too);
// present → it must be a token of the vocabulary (llama.cpp's converter writes no other), so
// 0xFFFFFFFF or −1 are errors, not a silent "none".
Result<int32_t> special_id(const Metadata& meta, const std::string& key, int32_t dflt, size_t n,
                           const std::string& path) {
  const MetaValue* v = meta.find(key);
  if (!v) return dflt < static_cast<int64_t>(n) ? dflt : -1;
  int64_t x = 0;
  if (!v->get_int(&x) || x < 0 || x >= static_cast<int64_t>(n))
    return corrupt_file("{}: {} = {} is outside the vocabulary of {} tokens", path, key,
                        v->to_string(), n);
  return static_cast<int32_t>(x);
}

// The pre-tokenizer steps, normalizer and BPE flags of llama.cpp's pre-tokenizer `pre`
// (tokenizer_pre.cc). An unknown name takes the closest known row, with a warning.
Status set_bpe_pre_tokenizer(Tokenizer::Impl& m, const std::string& pre, const std::string& path,
                             bool* add_bos) {
  const tok::PreTokenizerSpec* spec = tok::find_pre_tokenizer(pre);
  if (!spec) {
    const std::string closest = tok::closest_pre_tokenizer(pre);
    spec = tok::find_pre_tokenizer(closest);
    TQ_CHECK(spec != nullptr, "closest_pre_tokenizer returned an unknown name");
    m.warnings.push_back(fmt::format(
        "{}: BPE pre-tokenizer '{}' is not one llama.cpp knows; splitting text as '{}' "
        "(tokens may differ from the model's own tokenizer)",
        path, pre, closest));
    m.gguf_pre = closest;
  } else {
    m.gguf_pre = pre;
  }
  using Spec = tok::PreTokenizerSpec;
  const bool spm_style = spec->flags & Spec::kSpmStyle;
  if (spec->flags & Spec::kNfc) {
    tok::NormStep nfc;  // as the model's tokenizer.json (Qwen2) normalizes
    nfc.type = tok::NormStep::kNfc;
    m.normalizer.push_back(std::move(nfc));
  }
  if (spm_style) {
    tok::NormStep space;
    space.type = tok::NormStep::kReplace;
    space.a = " ";
    space.b = "\xE2\x96\x81";
    m.normalizer.push_back(std::move(space));
  }
  for (const char* re : spec->regexes) {
    tok::PreStep split;
    split.type = tok::PreStep::kSplit;
    auto compiled = tok::Regex::compile(re);  // the table's own patterns: a failure is a bug
    TQ_CHECK(compiled.ok(), "pre-tokenizer table regex: {}", compiled.status().to_string());
    split.regex = std::move(compiled).value();
    m.pre.push_back(std::move(split));
  }
  if (!spm_style) {
    tok::PreStep bl;
    bl.type = tok::PreStep::kByteLevel;
    bl.add_prefix_space = false;
    bl.use_regex = false;
    m.pre.push_back(std::move(bl));
    m.bpe.byte_level = true;
    m.dec_byte_level = true;
  } else {
    m.bpe.byte_fallback = true;
    m.dec_byte_fallback = true;
    m.dec_replace.emplace_back("\xE2\x96\x81", " ");
  }
  m.bpe.ignore_merges = spec->flags & Spec::kIgnoreMerges;
  *add_bos = spec->flags & Spec::kAddBos;
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf_metadata(const Metadata& meta,
                                                                 const std::string& path) {
  auto ctx = [&](const Status& s) { return s.with_context(path); };
  auto model_r = meta.get_string("tokenizer.ggml.model");
  if (!model_r.ok())
    return corrupt_file("{}: no tokenizer in the metadata (tokenizer.ggml.model is missing)", path);
  const std::string model = *model_r;
  auto m = std::make_unique<Impl>();
  m->source = path;
  auto tokens = meta.get_string_array("tokenizer.ggml.tokens");
  if (!tokens.ok()) return ctx(tokens.status());
  m->tokens = std::move(tokens).value();
  const size_t n = m->tokens.size();
  if (meta.has("tokenizer.ggml.token_type")) {
    auto t = meta.get_int_array("tokenizer.ggml.token_type");
    if (!t.ok()) return ctx(t.status());
    if (t->size() != n)
      return corrupt_file("{}: tokenizer.ggml.token_type has {} entries for {} tokens", path,
                          t->size(), n);
    m->types.reserve(n);
    for (int64_t v : *t) {
      if (v < 0 || v > 6)
        return corrupt_file("{}: tokenizer.ggml.token_type value {} is not a token type", path, v);
      m->types.push_back(static_cast<TokenType>(v == 0 ? 1 : v));
    }
  }
  if (meta.has("tokenizer.ggml.scores")) {
    auto s = meta.get_float_array("tokenizer.ggml.scores");
    if (!s.ok()) return ctx(s.status());
    if (s->size() != n)
      return corrupt_file("{}: tokenizer.ggml.scores has {} entries for {} tokens", path, s->size(),
                          n);
    m->scores.assign(s->begin(), s->end());
  }
  m->types.resize(n, TokenType::kNormal);

  bool default_add_bos = false;
  if (model == "gpt2" || model == "gemma4") {
    // "gemma4": SentencePiece-style BPE (spaces as U+2581, byte fallback), llama.cpp's
    // pre-tokenizer "gemma4".
    m->kind = Kind::kBpe;
    const std::string pre =
        model == "gemma4" ? model : meta.get_string_or("tokenizer.ggml.pre", "default");
    TQ_RETURN_IF_ERROR(set_bpe_pre_tokenizer(*m, pre, path, &default_add_bos));
    // Merges "a b" (split at the first space after the first character, as llama.cpp does).
    auto merges = meta.get_string_array("tokenizer.ggml.merges");
    if (!merges.ok()) return ctx(merges.status());
    tok::TokenMap index;
    index.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) index[m->tokens[i]] = static_cast<int32_t>(i);
    m->bpe.merges.reserve(merges->size() * 2);
    for (size_t k = 0; k < merges->size(); ++k) {
      const std::string& s = (*merges)[k];
      const size_t sp = s.size() > 1 ? s.find(' ', 1) : std::string::npos;
      if (sp == std::string::npos)
        return corrupt_file("{}: merge #{} '{}' has no space", path, k, s);
      const std::string a = s.substr(0, sp), b = s.substr(sp + 1);
      const std::string* parts[3] = {&a, &b, nullptr};
      const std::string ab = a + b;
      parts[2] = &ab;
      int32_t ids[3];
      for (int p = 0; p < 3; ++p) {
        auto it = index.find(*parts[p]);
        if (it == index.end())
          return corrupt_file("{}: merge #{} '{}' refers to '{}', which is not in the vocabulary",
                              path, k, s, *parts[p]);
        ids[p] = it->second;
      }
      const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(ids[0])) << 32) |
                           static_cast<uint32_t>(ids[1]);
      m->bpe.merges[key] = {static_cast<int32_t>(k), ids[2]};
      m->bpe.merge_list.emplace_back(ids[0], ids[1]);
    }
  } else if (model == "llama") {
    m->kind = Kind::kSpmScores;
    m->spm.add_space_prefix = meta.get_bool_or("tokenizer.ggml.add_space_prefix", true);
    m->spm.byte_fallback = true;
    m->dec_replace.emplace_back("\xE2\x96\x81", " ");
    m->dec_byte_fallback = true;
    m->dec_control_empty = true;
    m->dec_unknown_text = " \xE2\x81\x87 ";
    m->strip_leading_spaces = m->spm.add_space_prefix ? 1 : 0;
    m->gguf_pre = "default";
    default_add_bos = true;
  } else {
    return unsupported("{}: tokenizer model '{}' is not supported (gpt2, gemma4, llama)", path,
                       model);
  }

  // Control and user-defined tokens are matched in the text (control ones when parse_special).
  for (size_t i = 0; i < n; ++i) {
    const TokenType t = m->types[i];
    if (t != TokenType::kControl && t != TokenType::kUserDefined) continue;
    tok::AddedToken a;
    a.id = static_cast<int32_t>(i);
    a.content = m->tokens[i];
    a.special = t == TokenType::kControl;
    if (m->kind == Kind::kSpmScores && a.special)
      continue;  // <s>, </s>: SentencePiece never matches them
    m->added.push_back(std::move(a));
  }
  const bool spm = m->kind == Kind::kSpmScores;
  TQ_ASSIGN_OR_RETURN(m->bos, special_id(meta, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, n, path));
  TQ_ASSIGN_OR_RETURN(m->eos, special_id(meta, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, n, path));
  TQ_ASSIGN_OR_RETURN(m->unk,
                      special_id(meta, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n, path));
  TQ_ASSIGN_OR_RETURN(m->pad, special_id(meta, "tokenizer.ggml.padding_token_id", -1, n, path));
  if (meta.get_bool_or("tokenizer.ggml.add_bos_token", default_add_bos) && m->bos >= 0)
    m->prefix_ids = {m->bos};
  if (meta.get_bool_or("tokenizer.ggml.add_eos_token", false) && m->eos >= 0)
    m->suffix_ids = {m->eos};
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    TQ_ASSIGN_OR_RETURN(const int32_t id, special_id(meta, key, -1, n, path));
    if (id >= 0) m->eog.insert(id);
  }
  TQ_RETURN_IF_ERROR(m->finalize());
  for (const std::string& w : m->warnings) fmt::print(stderr, "warning: {}\n", w);
  return std::make_unique<Tokenizer>(std::move(m));
}

Status Tokenizer::export_gguf_metadata(Metadata& out, int64_t n_vocab_model) const {
  const Impl& m = *impl_;
  const bool spm = m.kind != Kind::kBpe;
  if (m.gguf_pre.empty()) {
    if (spm)
      return unsupported(
          "{}: only BPE SentencePiece models can be written as GGUF 'llama' tokenizers", m.source);
    return unsupported(
        "{}: this pre-tokenizer has no llama.cpp name; cannot write it as GGUF", m.source);
  }
  if (!spm && !m.bpe.byte_level)
    return unsupported("{}: only byte-level BPE can be written as a GGUF 'gpt2' tokenizer",
                       m.source);
  const int64_t n = std::max<int64_t>(n_vocab(), n_vocab_model);
  std::vector<MetaValue> tokens, types, scores;
  tokens.reserve(n);
  types.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    if (i < n_vocab()) {
      tokens.push_back(MetaValue::str(m.tokens[i]));
      types.push_back(MetaValue::i32(static_cast<int32_t>(m.types[i])));
      if (spm) scores.push_back(MetaValue::f32(m.scores[i]));
    } else {
      tokens.push_back(MetaValue::str(fmt::format("[PAD{}]", i)));
      types.push_back(MetaValue::i32(static_cast<int32_t>(TokenType::kUnused)));
      if (spm) scores.push_back(MetaValue::f32(-1000.0f));
    }
  }
  out.set("tokenizer.ggml.model", MetaValue::str(spm ? "llama" : "gpt2"));
  out.set("tokenizer.ggml.pre", MetaValue::str(m.gguf_pre));
  out.set("tokenizer.ggml.tokens", MetaValue::array(MetaType::string, std::move(tokens)));
  out.set("tokenizer.ggml.token_type", MetaValue::array(MetaType::i32, std::move(types)));
  if (spm) {
    out.set("tokenizer.ggml.scores", MetaValue::array(MetaType::f32, std::move(scores)));
    out.set("tokenizer.ggml.add_space_prefix", MetaValue::boolean(m.spm.add_space_prefix));
  } else {
    std::vector<MetaValue> merges;
    merges.reserve(m.bpe.merge_list.size());
    for (const auto& [a, b] : m.bpe.merge_list)
      merges.push_back(MetaValue::str(m.tokens[a] + " " + m.tokens[b]));
    out.set("tokenizer.ggml.merges", MetaValue::array(MetaType::string, std::move(merges)));
  }
  auto set_id = [&](const char* key, int32_t id) {
    if (id >= 0)
      out.set(key, MetaValue::u32(static_cast<uint32_t>(id)));
    else
      out.erase(key);
  };
  set_id("tokenizer.ggml.bos_token_id", m.bos);
  set_id("tokenizer.ggml.eos_token_id", m.eos);
  set_id("tokenizer.ggml.unknown_token_id", m.unk);
  set_id("tokenizer.ggml.padding_token_id", m.pad);
  out.set("tokenizer.ggml.add_bos_token", MetaValue::boolean(adds_bos()));
  out.set("tokenizer.ggml.add_eos_token", MetaValue::boolean(adds_eos()));
  return ok_status();
}

// ---- ModelFile entry points ------------------------------------------------------------------

namespace {
// eos ids from generation_config.json (an int or a list), for end-of-generation.
std::vector<int32_t> generation_eos_ids(const std::string& dir) {
  std::vector<int32_t> ids;
  const std::string p = (std::filesystem::path(dir) / "generation_config.json").string();
  if (!file_exists(p)) return ids;
  auto text = read_file(p);
  if (!text.ok()) return ids;
  const auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("eos_token_id")) return ids;
  const auto& e = j["eos_token_id"];
  if (e.is_number_integer()) ids.push_back(e.get<int32_t>());
  if (e.is_array())
    for (const auto& x : e)
      if (x.is_number_integer()) ids.push_back(x.get<int32_t>());
  return ids;
}
}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_model_file(const ModelFile& mf) {
  if (mf.kind == SourceKind::kGguf) return from_gguf_metadata(mf.meta, mf.path);
  std::unique_ptr<Tokenizer> t;
  if (!mf.tokenizer_json_path.empty()) {
    auto r = from_tokenizer_json(mf.tokenizer_json_path);
    if (!r.ok() &&
        !(r.status().code() == StatusCode::kUnsupported && !mf.tokenizer_model_path.empty()))
      return r.status();
    if (r.ok()) t = std::move(r).value();
  }
  if (!t && !mf.tokenizer_model_path.empty()) {
    TQ_ASSIGN_OR_RETURN(t, from_sentencepiece_model(mf.tokenizer_model_path));
  }
  if (!t) return not_found("{}: no tokenizer.json or tokenizer.model in the model folder", mf.path);
  // config.json's ids fill in what the tokenizer files leave open; generation_config.json's eos
  // ids all end generation.
  Impl& m = *t->impl_;
  const int32_t n = t->n_vocab();
  auto from_meta = [&](const char* key, int32_t* id) {
    const int64_t v = mf.meta.get_int_or(key, -1);
    if (*id < 0 && v >= 0 && v < n) *id = static_cast<int32_t>(v);
  };
  from_meta("tokenizer.ggml.bos_token_id", &m.bos);
  from_meta("tokenizer.ggml.eos_token_id", &m.eos);
  if (m.eos >= 0) m.eog.insert(m.eos);
  for (int32_t id : generation_eos_ids(mf.path)) {
    if (id < 0 || id >= n)
      return corrupt_file("{}/generation_config.json: eos_token_id {} is outside the vocabulary of "
                          "{} tokens",
                          mf.path, id, n);
    m.eog.insert(id);
  }
  return t;
}

Status export_tokenizer_metadata(const ModelFile& mf, Metadata& out) {
  if (mf.kind == SourceKind::kGguf) {
    if (!mf.meta.has("tokenizer.ggml.model"))
      return not_found("{}: the file has no tokenizer metadata", mf.path);
    for (const auto& [k, v] : mf.meta.items())
      if (k.rfind("tokenizer.ggml.", 0) == 0) out.set(k, v);
    return ok_status();
  }
  TQ_ASSIGN_OR_RETURN(auto tok, Tokenizer::from_model_file(mf));
  const int64_t n_vocab_model = mf.meta.get_int_or(mf.architecture() + ".vocab_size", 0);
  Metadata tmp;
  Status st = tok->export_gguf_metadata(tmp, n_vocab_model);
  // llama.cpp's converter writes SentencePiece vocabularies from tokenizer.model; a tokenizer.json
  // that is not byte-level (Llama-2 style) goes the same way when the model file is there.
  if (st.code() == StatusCode::kUnsupported && tok->kind() == Tokenizer::Kind::kBpe &&
      !mf.tokenizer_model_path.empty()) {
    TQ_ASSIGN_OR_RETURN(auto sp, Tokenizer::from_sentencepiece_model(mf.tokenizer_model_path));
    tmp = Metadata();
    st = sp->export_gguf_metadata(tmp, n_vocab_model);
  }
  TQ_RETURN_IF_ERROR(st);
  for (const auto& [k, v] : tmp.items()) out.set(k, v);
  return ok_status();
}

}  // namespace tq

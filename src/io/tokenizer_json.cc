// Hugging Face tokenizer.json -> Tokenizer::Impl: BPE model (vocab, merges in "a b" or ["a","b"]
// form), added tokens, normalizers, pre-tokenizers, post-processor and decoder.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "io/tokenizer_impl.h"

namespace tq {
namespace {
using nlohmann::json;
using tok::NormStep;
using tok::PreStep;
using tok::SplitBehavior;

constexpr int64_t kMaxVocab = int64_t{1} << 24;
// Ids may leave holes (filled with "[PAD<i>]"), but not more than this many beyond the entries
// given: a sparse id would otherwise allocate a huge table.
constexpr int64_t kMaxIdHoles = 1 << 16;
constexpr int kMaxNesting = 16;  // Sequence-in-Sequence depth

std::string regex_escape(std::string_view s) {
  std::string r;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) r += '\\';
    r += c;
  }
  return r;
}

// Reads {"String": s} or {"Regex": r} into a compiled regex.
Result<std::unique_ptr<tok::Regex>> pattern_regex(const json& p, const std::string& where) {
  if (p.is_object() && p.contains("Regex") && p["Regex"].is_string()) {
    auto r = tok::Regex::compile(p["Regex"].get<std::string>());
    if (!r.ok()) return r.status().with_context(where);
    return std::move(r).value();
  }
  if (p.is_object() && p.contains("String") && p["String"].is_string()) {
    const std::string lit = p["String"].get<std::string>();
    if (lit.empty()) return corrupt_file("{}: empty split pattern", where);
    auto r = tok::Regex::compile(regex_escape(lit));
    if (!r.ok()) return r.status().with_context(where);
    return std::move(r).value();
  }
  return corrupt_file("{}: pattern must be {{\"String\": ...}} or {{\"Regex\": ...}}", where);
}

bool get_bool(const json& j, const char* key, bool dflt) {
  return j.is_object() && j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : dflt;
}
std::string get_str(const json& j, const char* key, const std::string& dflt) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : dflt;
}

class JsonLoader {
 public:
  JsonLoader(Tokenizer::Impl& m, const std::string& path) : m_(m), path_(path) {}

  Status load(const json& j, const json* config) {
    if (!j.is_object()) return corrupt_file("{}: not a JSON object", path_);
    if (!j.contains("model") || !j["model"].is_object())
      return corrupt_file("{}: no 'model' object", path_);
    TQ_RETURN_IF_ERROR(load_model(j["model"]));
    if (j.contains("added_tokens")) TQ_RETURN_IF_ERROR(load_added(j["added_tokens"]));
    for (size_t i = 0; i < m_.tokens.size();
         ++i)  // ids nobody uses, as convert_hf_to_gguf names them
      if (!filled_[i]) {
        m_.tokens[i] = "[PAD" + std::to_string(i) + "]";
        m_.types[i] = TokenType::kUnused;
      }
    if (j.contains("normalizer") && !j["normalizer"].is_null())
      TQ_RETURN_IF_ERROR(load_normalizer(j["normalizer"]));
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null())
      TQ_RETURN_IF_ERROR(load_pre(j["pre_tokenizer"]));
    TQ_RETURN_IF_ERROR(check_pre_order());
    m_.bpe.byte_level = has_byte_level_;
    bool has_post = j.contains("post_processor") && !j["post_processor"].is_null();
    if (has_post) TQ_RETURN_IF_ERROR(load_post(j["post_processor"]));
    if (j.contains("decoder") && !j["decoder"].is_null())
      TQ_RETURN_IF_ERROR(load_decoder(j["decoder"]));
    if (!merges_json_) return corrupt_file("{}: model has no 'merges'", path_);
    TQ_RETURN_IF_ERROR(load_merges(*merges_json_));
    TQ_RETURN_IF_ERROR(load_config(config, has_post));
    detect_gguf_pre(j);
    return ok_status();
  }

 private:
  Status load_model(const json& model) {
    const std::string type = get_str(model, "type", "BPE");
    if (type != "BPE")
      return unsupported("{}: tokenizer model type '{}' is not supported (only BPE)", path_, type);
    if (!model.contains("vocab") || !model["vocab"].is_object())
      return corrupt_file("{}: model has no 'vocab' object", path_);
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (model.contains(k) && model[k].is_string() && !model[k].get<std::string>().empty())
        return unsupported("{}: BPE option '{}' is not supported", path_, k);
    const json& vocab = model["vocab"];
    int64_t max_id = -1;
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      if (!it.value().is_number_integer())
        return corrupt_file("{}: vocab entry '{}' has no integer id", path_, it.key());
      const int64_t id = it.value().get<int64_t>();
      if (id < 0 || id >= kMaxVocab)
        return corrupt_file("{}: vocab entry '{}' has id {} out of range", path_, it.key(), id);
      max_id = std::max(max_id, id);
    }
    if (max_id >= static_cast<int64_t>(vocab.size()) + kMaxIdHoles)
      return corrupt_file("{}: vocab ids are sparse (largest {} for {} entries)", path_, max_id,
                          vocab.size());
    resize(max_id + 1);
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      const int64_t id = it.value().get<int64_t>();
      if (filled_[id])
        return corrupt_file("{}: vocab entries '{}' and '{}' share id {}", path_, m_.tokens[id],
                            it.key(), id);
      m_.tokens[id] = it.key();
      filled_[id] = true;
    }
    m_.bpe.byte_fallback = get_bool(model, "byte_fallback", false);
    m_.bpe.ignore_merges = get_bool(model, "ignore_merges", false);
    m_.bpe.fuse_unk = get_bool(model, "fuse_unk", false);
    unk_token_ = get_str(model, "unk_token", "");
    if (model.contains("merges")) merges_json_ = &model["merges"];
    return ok_status();
  }

  void resize(int64_t n) {
    if (n <= static_cast<int64_t>(m_.tokens.size())) return;
    m_.tokens.resize(n);
    m_.types.resize(n, TokenType::kNormal);
    filled_.resize(n, false);
  }

  Status load_merges(const json& merges) {
    if (!merges.is_array()) return corrupt_file("{}: 'merges' is not an array", path_);
    auto& bpe = m_.bpe;
    bpe.merges.reserve(merges.size() * 2);
    bpe.merge_list.reserve(merges.size());
    std::string merged;
    for (size_t k = 0; k < merges.size(); ++k) {
      const json& e = merges[k];
      std::string a, b;
      if (e.is_string()) {
        const std::string s = e.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 >= s.size() ||
            s.find(' ', sp + 1) != std::string::npos)
          return corrupt_file("{}: merge #{} '{}' is not two tokens separated by one space", path_,
                              k, s);
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        a = e[0].get<std::string>();
        b = e[1].get<std::string>();
      } else {
        return corrupt_file("{}: merge #{} is neither \"a b\" nor [\"a\", \"b\"]", path_, k);
      }
      merged = a + b;
      int32_t ids[3];
      const std::string* parts[3] = {&a, &b, &merged};
      for (int p = 0; p < 3; ++p) {
        auto it = vocab_index().find(*parts[p]);
        if (it == vocab_index().end())
          return corrupt_file(
              "{}: merge #{} '{} {}' refers to '{}', which is not in the vocabulary", path_, k, a,
              b, *parts[p]);
        ids[p] = it->second;
      }
      const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(ids[0])) << 32) |
                           static_cast<uint32_t>(ids[1]);
      bpe.merges[key] = {static_cast<int32_t>(k), ids[2]};
      bpe.merge_list.emplace_back(ids[0], ids[1]);
    }
    return ok_status();
  }

  // Vocabulary lookup (model vocab and added tokens) while loading.
  const tok::TokenMap& vocab_index() {
    if (index_.empty())
      for (size_t i = 0; i < m_.tokens.size(); ++i)
        if (filled_[i]) index_.emplace(m_.tokens[i], static_cast<int32_t>(i));
    return index_;
  }

  Status load_added(const json& arr) {
    if (!arr.is_array()) return corrupt_file("{}: 'added_tokens' is not an array", path_);
    for (size_t k = 0; k < arr.size(); ++k) {
      const json& a = arr[k];
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          !a.contains("content") || !a["content"].is_string())
        return corrupt_file("{}: added_tokens[{}] needs an integer 'id' and a string 'content'",
                            path_, k);
      const int64_t id = a["id"].get<int64_t>();
      if (id < 0 || id >= kMaxVocab ||
          id >= static_cast<int64_t>(m_.tokens.size() + arr.size()) + kMaxIdHoles)
        return corrupt_file("{}: added_tokens[{}] has id {} out of range", path_, k, id);
      tok::AddedToken t;
      t.id = static_cast<int32_t>(id);
      t.content = a["content"].get<std::string>();
      t.special = get_bool(a, "special", false);
      t.lstrip = get_bool(a, "lstrip", false);
      t.rstrip = get_bool(a, "rstrip", false);
      t.single_word = get_bool(a, "single_word", false);
      resize(id + 1);
      if (filled_[id] && m_.tokens[id] != t.content && !t.special) {
        // A non-special added token over a different vocab entry: the added one wins, as in HF.
      }
      m_.tokens[id] = t.content;
      filled_[id] = true;
      m_.types[id] = t.special ? TokenType::kControl : TokenType::kUserDefined;
      m_.added.push_back(std::move(t));
    }
    index_.clear();
    return ok_status();
  }

  Status load_normalizer(const json& n, int depth = 0) {
    if (depth > kMaxNesting)
      return corrupt_file("{}: normalizer Sequences nested too deeply", path_);
    const std::string where = path_ + ": normalizer";
    const std::string type = get_str(n, "type", "");
    NormStep s;
    if (type == "Sequence") {
      if (!n.contains("normalizers") || !n["normalizers"].is_array())
        return corrupt_file("{} Sequence has no list", where);
      for (const json& c : n["normalizers"]) TQ_RETURN_IF_ERROR(load_normalizer(c, depth + 1));
      return ok_status();
    }
    if (type == "NFC")
      s.type = NormStep::kNfc;
    else if (type == "NFD")
      s.type = NormStep::kNfd;
    else if (type == "NFKC")
      s.type = NormStep::kNfkc;
    else if (type == "NFKD")
      s.type = NormStep::kNfkd;
    else if (type == "Lowercase")
      s.type = NormStep::kLowercase;
    else if (type == "Prepend") {
      s.type = NormStep::kPrepend;
      s.a = get_str(n, "prepend", "");
    } else if (type == "Replace") {
      s.type = NormStep::kReplace;
      s.b = get_str(n, "content", "");
      if (!n.contains("pattern")) return corrupt_file("{} Replace has no pattern", where);
      const json& p = n["pattern"];
      if (p.is_object() && p.contains("String") && p["String"].is_string()) {
        s.a = p["String"].get<std::string>();
      } else {
        TQ_ASSIGN_OR_RETURN(s.regex, pattern_regex(p, where));
      }
    } else if (type == "Strip") {
      s.type = NormStep::kStrip;
      s.left = get_bool(n, "strip_left", true);
      s.right = get_bool(n, "strip_right", true);
    } else {
      return unsupported("{} type '{}' is not supported", where, type);
    }
    m_.normalizer.push_back(std::move(s));
    return ok_status();
  }

  Status load_pre(const json& p, int depth = 0) {
    if (depth > kMaxNesting) return corrupt_file("{}: pre Sequences nested too deeply", path_);
    const std::string where = path_ + ": pre_tokenizer";
    const std::string type = get_str(p, "type", "");
    PreStep s;
    if (type == "Sequence") {
      if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array())
        return corrupt_file("{} Sequence has no list", where);
      for (const json& c : p["pretokenizers"]) TQ_RETURN_IF_ERROR(load_pre(c, depth + 1));
      return ok_status();
    }
    if (type == "ByteLevel") {
      s.type = PreStep::kByteLevel;
      s.add_prefix_space = get_bool(p, "add_prefix_space", true);
      s.use_regex = get_bool(p, "use_regex", true);
      if (s.use_regex) {
        TQ_ASSIGN_OR_RETURN(s.regex, tok::Regex::compile(tok::kGpt2Regex));
      }
      has_byte_level_ = true;
    } else if (type == "Split") {
      s.type = PreStep::kSplit;
      if (!p.contains("pattern")) return corrupt_file("{} Split has no pattern", where);
      TQ_ASSIGN_OR_RETURN(s.regex, pattern_regex(p["pattern"], where));
      const std::string b = get_str(p, "behavior", "Isolated");
      if (b == "Removed")
        s.behavior = SplitBehavior::kRemoved;
      else if (b == "Isolated")
        s.behavior = SplitBehavior::kIsolated;
      else if (b == "MergedWithPrevious")
        s.behavior = SplitBehavior::kMergedWithPrevious;
      else if (b == "MergedWithNext")
        s.behavior = SplitBehavior::kMergedWithNext;
      else if (b == "Contiguous")
        s.behavior = SplitBehavior::kContiguous;
      else
        return corrupt_file("{} Split behavior '{}' is unknown", where, b);
      s.invert = get_bool(p, "invert", false);
    } else if (type == "Digits") {
      s.type = PreStep::kDigits;
      s.individual_digits = get_bool(p, "individual_digits", false);
    } else if (type == "Metaspace") {
      s.type = PreStep::kMetaspace;
      s.replacement = get_str(p, "replacement", "\xE2\x96\x81");
      if (s.replacement.empty()) return corrupt_file("{} Metaspace replacement is empty", where);
      const std::string scheme =
          get_str(p, "prepend_scheme", get_bool(p, "add_prefix_space", true) ? "always" : "never");
      s.prepend = scheme == "first"   ? PreStep::kFirst
                  : scheme == "never" ? PreStep::kNever
                                      : PreStep::kAlways;
      s.split = get_bool(p, "split", true);
    } else if (type == "WhitespaceSplit") {
      s.type = PreStep::kWhitespaceSplit;
    } else if (type == "Whitespace") {
      s.type = PreStep::kSplit;
      TQ_ASSIGN_OR_RETURN(s.regex, tok::Regex::compile("\\w+|[^\\w\\s]+"));
      s.behavior = SplitBehavior::kRemoved;
      s.invert = true;
    } else {
      return unsupported("{} type '{}' is not supported", where, type);
    }
    m_.pre.push_back(std::move(s));
    return ok_status();
  }

  // We map bytes to the GPT-2 alphabet at the model, so nothing may split after ByteLevel.
  Status check_pre_order() {
    bool seen = false;
    for (const auto& s : m_.pre) {
      if (seen && s.type != PreStep::kByteLevel)
        return unsupported("{}: pre-tokenizer steps after ByteLevel are not supported", path_);
      seen = seen || s.type == PreStep::kByteLevel;
    }
    return ok_status();
  }

  Result<int32_t> special_id(const json& specials, const std::string& name,
                             std::vector<int32_t>& out) {
    if (!specials.is_object() || !specials.contains(name) || !specials[name].is_object() ||
        !specials[name].contains("ids") || !specials[name]["ids"].is_array())
      return corrupt_file(
          "{}: post_processor template uses '{}', which is not in its special_tokens", path_, name);
    for (const json& id : specials[name]["ids"]) {
      if (!id.is_number_integer())
        return corrupt_file("{}: post_processor special token '{}' has a non-integer id", path_,
                            name);
      out.push_back(id.get<int32_t>());
    }
    return 0;
  }

  Status load_post(const json& p, int depth = 0) {
    if (depth > kMaxNesting) return corrupt_file("{}: post Sequences nested too deeply", path_);
    const std::string type = get_str(p, "type", "");
    if (type == "Sequence") {
      if (!p.contains("processors") || !p["processors"].is_array())
        return corrupt_file("{}: post_processor Sequence has no list", path_);
      for (const json& c : p["processors"]) TQ_RETURN_IF_ERROR(load_post(c, depth + 1));
      return ok_status();
    }
    if (type == "ByteLevel") return ok_status();  // offsets only
    if (type == "TemplateProcessing") {
      if (!p.contains("single"))
        return corrupt_file("{}: post_processor TemplateProcessing has no 'single'", path_);
      const json& single = p["single"];
      const json specials = p.contains("special_tokens") ? p["special_tokens"] : json::object();
      m_.prefix_ids.clear();
      m_.suffix_ids.clear();
      bool seen_a = false;
      auto add_item = [&](bool is_seq, const std::string& name) -> Status {
        if (is_seq) {
          seen_a = true;
          return ok_status();
        }
        auto r = special_id(specials, name, seen_a ? m_.suffix_ids : m_.prefix_ids);
        return r.ok() ? ok_status() : r.status();
      };
      if (single.is_array()) {
        for (const json& item : single) {
          if (item.is_object() && item.contains("Sequence")) {
            TQ_RETURN_IF_ERROR(add_item(true, ""));
          } else if (item.is_object() && item.contains("SpecialToken") &&
                     item["SpecialToken"].is_object() && item["SpecialToken"].contains("id") &&
                     item["SpecialToken"]["id"].is_string()) {
            TQ_RETURN_IF_ERROR(add_item(false, item["SpecialToken"]["id"].get<std::string>()));
          } else {
            return corrupt_file("{}: post_processor template item {} is malformed", path_,
                                item.dump());
          }
        }
      } else if (single.is_string()) {  // "<s> $A" form
        std::string s = single.get<std::string>();
        size_t pos = 0;
        while (pos < s.size()) {
          size_t e = s.find(' ', pos);
          if (e == std::string::npos) e = s.size();
          std::string piece = s.substr(pos, e - pos);
          pos = e + 1;
          if (piece.empty()) continue;
          if (const size_t c = piece.rfind(':'); c != std::string::npos && c > 0)
            piece = piece.substr(0, c);
          TQ_RETURN_IF_ERROR(add_item(piece[0] == '$', piece));
        }
      } else {
        return corrupt_file("{}: post_processor 'single' is malformed", path_);
      }
      return ok_status();
    }
    if (type == "RobertaProcessing" || type == "BertProcessing") {
      for (const char* k : {"cls", "sep"})
        if (!p.contains(k) || !p[k].is_array() || p[k].size() != 2 || !p[k][1].is_number_integer())
          return corrupt_file("{}: post_processor {} needs '{}' as [token, id]", path_, type, k);
      m_.prefix_ids = {p["cls"][1].get<int32_t>()};
      m_.suffix_ids = {p["sep"][1].get<int32_t>()};
      return ok_status();
    }
    return unsupported("{}: post_processor type '{}' is not supported", path_, type);
  }

  Status load_decoder(const json& d, int depth = 0) {
    if (depth > kMaxNesting) return corrupt_file("{}: decoder Sequences nested too deeply", path_);
    const std::string type = get_str(d, "type", "");
    if (type == "Sequence") {
      if (!d.contains("decoders") || !d["decoders"].is_array())
        return corrupt_file("{}: decoder Sequence has no list", path_);
      for (const json& c : d["decoders"]) TQ_RETURN_IF_ERROR(load_decoder(c, depth + 1));
      return ok_status();
    }
    if (type == "ByteLevel")
      m_.dec_byte_level = true;
    else if (type == "ByteFallback")
      m_.dec_byte_fallback = true;
    else if (type == "Fuse") {
    } else if (type == "Strip") {
      if (get_str(d, "content", " ") == " " && d.contains("start") &&
          d["start"].is_number_integer())
        m_.strip_leading_spaces =
            static_cast<int>(std::clamp<int64_t>(d["start"].get<int64_t>(), 0, 64));
    } else if (type == "Replace") {
      if (!d.contains("pattern") || !d["pattern"].is_object() || !d["pattern"].contains("String") ||
          !d["pattern"]["String"].is_string())
        return unsupported("{}: decoder Replace supports only a String pattern", path_);
      m_.dec_replace.emplace_back(d["pattern"]["String"].get<std::string>(),
                                  get_str(d, "content", ""));
    } else if (type == "Metaspace") {
      m_.dec_replace.emplace_back(get_str(d, "replacement", "\xE2\x96\x81"), " ");
      const std::string scheme =
          get_str(d, "prepend_scheme", get_bool(d, "add_prefix_space", true) ? "always" : "never");
      if (scheme != "never") m_.strip_leading_spaces = 1;
    } else {
      return unsupported("{}: decoder type '{}' is not supported", path_, type);
    }
    return ok_status();
  }

  // tokenizer_config.json beside the file: bos/eos/unk/pad names; add_bos/eos when no
  // post-processor.
  Status load_config(const json* config, bool has_post) {
    // A special token named in tokenizer_config.json must be in the vocabulary (null: none).
    auto token_id = [&](const json& c, const char* key) -> Result<int32_t> {
      if (!c.is_object() || !c.contains(key)) return -1;
      std::string name;
      if (c[key].is_string())
        name = c[key].get<std::string>();
      else if (c[key].is_object() && c[key].contains("content") && c[key]["content"].is_string())
        name = c[key]["content"].get<std::string>();
      else
        return -1;
      auto it = vocab_index().find(name);
      if (it == vocab_index().end())
        return corrupt_file("{}: tokenizer_config.json {} '{}' is not in the vocabulary", path_,
                            key, name);
      return it->second;
    };
    if (!unk_token_.empty()) {
      auto it = vocab_index().find(unk_token_);
      if (it == vocab_index().end())
        return corrupt_file("{}: unk_token '{}' is not in the vocabulary", path_, unk_token_);
      m_.unk = it->second;
    }
    if (config) {
      TQ_ASSIGN_OR_RETURN(m_.bos, token_id(*config, "bos_token"));
      TQ_ASSIGN_OR_RETURN(m_.eos, token_id(*config, "eos_token"));
      TQ_ASSIGN_OR_RETURN(m_.pad, token_id(*config, "pad_token"));
      if (m_.unk < 0) {
        TQ_ASSIGN_OR_RETURN(m_.unk, token_id(*config, "unk_token"));
      }
      if (!has_post) {
        if (get_bool(*config, "add_bos_token", false) && m_.bos >= 0) m_.prefix_ids = {m_.bos};
        if (get_bool(*config, "add_eos_token", false) && m_.eos >= 0) m_.suffix_ids = {m_.eos};
      }
    }
    if (m_.bos < 0 && !m_.prefix_ids.empty()) m_.bos = m_.prefix_ids.front();
    if (m_.eos < 0 && !m_.suffix_ids.empty()) m_.eos = m_.suffix_ids.back();
    return ok_status();
  }

  // llama.cpp's name for this pre-tokenizer, when it is one llama.cpp knows.
  void detect_gguf_pre(const json& j) {
    const auto& pre = m_.pre;
    if (!has_byte_level_ || m_.normalizer.size() > 1) return;
    const bool nfc = m_.normalizer.size() == 1 && m_.normalizer[0].type == NormStep::kNfc;
    if (pre.size() == 1 && pre[0].use_regex && !pre[0].add_prefix_space && m_.normalizer.empty()) {
      m_.gguf_pre = "gpt-2";
    } else if (pre.size() == 2 && pre[0].type == PreStep::kSplit &&
               pre[0].behavior == SplitBehavior::kIsolated && !pre[0].invert &&
               pre[1].type == PreStep::kByteLevel && !pre[1].use_regex &&
               !pre[1].add_prefix_space) {
      const std::string& re = pre[0].regex->pattern();
      if (re == tok::kLlama3Regex && m_.normalizer.empty() && m_.bpe.ignore_merges)
        m_.gguf_pre = "llama-bpe";
      else if (re == tok::kQwen2Regex && (nfc || m_.normalizer.empty()))
        m_.gguf_pre = "qwen2";
    }
  }

  Tokenizer::Impl& m_;
  const std::string& path_;
  std::vector<bool> filled_;
  tok::TokenMap index_;
  const json* merges_json_ = nullptr;
  std::string unk_token_;
  bool has_byte_level_ = false;
};

Result<std::unique_ptr<Tokenizer>> from_json_value(const json& j, const std::string& path,
                                                   const json* config) {
  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->kind = Tokenizer::Kind::kBpe;
  impl->source = path;
  JsonLoader loader(*impl, path);
  TQ_RETURN_IF_ERROR(loader.load(j, config));
  TQ_RETURN_IF_ERROR(impl->finalize());
  return std::make_unique<Tokenizer>(std::move(impl));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_tokenizer_json_text(
    std::string_view text, const std::string& path_for_errors) {
  const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return corrupt_file("{}: not valid JSON (truncated or corrupted?)", path_for_errors);
  return from_json_value(j, path_for_errors, nullptr);
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_tokenizer_json(const std::string& path) {
  TQ_ASSIGN_OR_RETURN(std::string text, read_file(path));
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return corrupt_file("{}: not valid JSON (truncated or corrupted?)", path);
  const std::string config_path =
      (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
  json config;
  if (file_exists(config_path)) {
    TQ_ASSIGN_OR_RETURN(std::string ctext, read_file(config_path));
    config = json::parse(ctext, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object())
      return corrupt_file("{}: not a valid JSON object", config_path);
  }
  return from_json_value(j, path, config.is_object() ? &config : nullptr);
}

}  // namespace tq

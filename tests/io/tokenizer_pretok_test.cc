// The BPE pre-tokenizer table (src/io/tokenizer_pre.cc) against llama.cpp: every row on awkward
// strings (fixture tests/data/tokenizer/llamacpp_pretok.json, made by
// tools/make_pretok_fixtures.py with llama-tokenize), llama.cpp's own vocabulary test files, and
// the fallback for names llama.cpp does not know.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "../common/real_models.h"
#include "core/file_util.h"
#include "io/gguf_reader.h"
#include "io/tokenizer.h"
#include "io/tokenizer_impl.h"
#include "io/tokenizer_text.h"

namespace tq {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string ids_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

TEST(PreTokenizerTable, EveryRegexCompilesAndEveryNameIsListedOnce) {
  std::set<std::string> names;
  for (const auto& row : tok::pre_tokenizer_table()) {
    EXPECT_FALSE(row.regexes.empty()) << row.names;
    for (const char* re : row.regexes) {
      auto r = tok::Regex::compile(re);
      EXPECT_TRUE(r.ok()) << row.name() << ": " << r.status().to_string();
    }
    std::istringstream in(row.names);
    for (std::string n; in >> n;) EXPECT_TRUE(names.insert(n).second) << n << " is listed twice";
    EXPECT_EQ(tok::find_pre_tokenizer(row.name()), &row);
  }
  EXPECT_GE(names.size(), 90u);  // llama.cpp's names as of the pinned sdist
  for (const char* n :
       {"smollm",      "qwen2",     "llama-bpe", "llama3",       "deepseek-llm", "deepseek-coder",
        "deepseek-v3", "falcon",    "gpt-2",     "starcoder",    "refact",       "command-r",
        "olmo",        "dbrx",      "jais",      "poro-chat",    "chatglm-bpe",  "viking",
        "tekken",      "smaug-bpe", "bloom",     "gpt3-finnish", "exaone",       "chameleon",
        "minerva-7b",  "codeshell", "gpt-4o",    "default"})
    EXPECT_NE(tok::find_pre_tokenizer(n), nullptr) << n;
}

TEST(PreTokenizerTable, UnknownNameTakesTheClosestKnownOne) {
  EXPECT_EQ(tok::closest_pre_tokenizer("qwen2.5-math"), "qwen2");
  EXPECT_EQ(tok::closest_pre_tokenizer("my-llama3-variant"), "llama3");
  EXPECT_EQ(tok::closest_pre_tokenizer("deepseek-v3.2"), "deepseek-v3");
  EXPECT_EQ(tok::closest_pre_tokenizer("smollm3"), "smollm");
  EXPECT_EQ(tok::closest_pre_tokenizer("zzz-unheard-of"), "gpt-2");
}

// A byte-level BPE vocabulary of the 256 byte symbols and one merge, as GGUF metadata.
Metadata tiny_bpe_meta(const std::string& pre) {
  Metadata m;
  std::vector<MetaValue> tokens, merges;
  for (int b = 0; b < 256; ++b)
    tokens.push_back(MetaValue::str(tok::byte_to_unicode(static_cast<uint8_t>(b))));
  tokens.push_back(MetaValue::str("ab"));
  merges.push_back(MetaValue::str("a b"));
  m.set("tokenizer.ggml.model", MetaValue::str("gpt2"));
  m.set("tokenizer.ggml.pre", MetaValue::str(pre));
  m.set("tokenizer.ggml.tokens", MetaValue::array(MetaType::string, std::move(tokens)));
  m.set("tokenizer.ggml.merges", MetaValue::array(MetaType::string, std::move(merges)));
  return m;
}

TEST(PreTokenizerTable, UnknownNameLoadsWithAWarningInsteadOfAnError) {
  auto t = Tokenizer::from_gguf_metadata(tiny_bpe_meta("qwen2.5-unknown"), "x.gguf");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  ASSERT_EQ((*t)->warnings().size(), 1u);
  EXPECT_NE((*t)->warnings()[0].find("x.gguf: BPE pre-tokenizer 'qwen2.5-unknown'"),
            std::string::npos)
      << (*t)->warnings()[0];
  EXPECT_NE((*t)->warnings()[0].find("'qwen2'"), std::string::npos) << (*t)->warnings()[0];
  // Qwen2 splits digits one by one: "12" is two pieces, "ab" one merged token.
  EXPECT_EQ((*t)->encode("ab12", false), (std::vector<int32_t>{256, '1', '2'}));
  auto known = Tokenizer::from_gguf_metadata(tiny_bpe_meta("smollm"), "x.gguf");
  ASSERT_TRUE(known.ok()) << known.status().to_string();
  EXPECT_TRUE((*known)->warnings().empty());
}

// ---- against llama.cpp ------------------------------------------------------------------------

Result<std::unique_ptr<Tokenizer>> with_pre(const GgufFile& base, const std::string& pre) {
  Metadata meta = base.meta;
  meta.set("tokenizer.ggml.pre", MetaValue::str(pre));
  return Tokenizer::from_gguf_metadata(meta, base.path + " (pre " + pre + ")");
}

TEST(PreTokenizerLlamaCpp, EveryRowMatchesLlamaTokenizeOnAwkwardStrings) {
  const std::string dir = testing::llamacpp_vocab_dir();
  TQ_SKIP_IF_MISSING(dir);
  auto text = read_file(std::string(TQ_SOURCE_DIR) + "/tests/data/tokenizer/llamacpp_pretok.json");
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  const json fx = json::parse(*text);
  std::map<bool, GgufFile> bases;
  for (bool spm : {false, true}) {
    auto g = read_gguf(dir + "/" +
                       fx["base_vocab"][spm ? "spm_style" : "byte_level"].get<std::string>());
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    bases.emplace(spm, std::move(g).value());
  }
  const auto strings = fx["strings"].get<std::vector<std::string>>();
  std::set<std::string> covered;
  int n_rows_agree = 0;
  for (const json& row : fx["rows"]) {
    const std::string name = row["name"];
    const tok::PreTokenizerSpec* spec = tok::find_pre_tokenizer(name);
    ASSERT_NE(spec, nullptr) << name << " is in the fixture but not in the table";
    covered.insert(name);
    auto t = with_pre(bases.at((spec->flags & tok::PreTokenizerSpec::kSpmStyle) != 0), name);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    int agree = 0;
    for (size_t i = 0; i < strings.size(); ++i) {
      const auto want = row["ids"][i].get<std::vector<int32_t>>();
      const auto got = (*t)->encode(strings[i], false, false);
      if (got == want) {
        ++agree;
      } else {
        ADD_FAILURE() << name << " on \"" << strings[i] << "\":\n  llama.cpp " << ids_string(want)
                      << "\n  tq        " << ids_string(got);
      }
    }
    n_rows_agree += agree == static_cast<int>(strings.size());
    std::printf("%-16s %2d/%zu strings as llama.cpp\n", name.c_str(), agree, strings.size());
  }
  for (const auto& row : tok::pre_tokenizer_table())
    EXPECT_TRUE(covered.count(std::string(row.name())))
        << row.name() << " has no fixture: rerun tools/make_pretok_fixtures.py";
  std::printf("%d of %zu pre-tokenizers agree with llama.cpp on every string\n", n_rows_agree,
              fx["rows"].size());
}

TEST(PreTokenizerLlamaCpp, RealModelsMatchLlamaTokenize) {
  auto text = read_file(std::string(TQ_SOURCE_DIR) + "/tests/data/tokenizer/llamacpp_pretok.json");
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  const json fx = json::parse(*text);
  const auto strings = fx["strings"].get<std::vector<std::string>>();
  for (const json& m : fx["models"]) {
    const std::string path = testing::real_model_path(m["file"]);
    TQ_SKIP_IF_MISSING(path);
    auto mf = open_gguf(path);
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    auto t = Tokenizer::from_model_file(*mf);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    EXPECT_TRUE((*t)->warnings().empty());
    int agree = 0;
    for (size_t i = 0; i < strings.size(); ++i) {
      const auto want = m["ids"][i].get<std::vector<int32_t>>();
      const auto got = (*t)->encode(strings[i], false, false);
      if (got == want)
        ++agree;
      else
        ADD_FAILURE() << path << " on \"" << strings[i] << "\":\n  llama.cpp " << ids_string(want)
                      << "\n  tq        " << ids_string(got);
    }
    std::printf("%-32s %2d/%zu strings as llama.cpp\n", m["file"].get<std::string>().c_str(), agree,
                strings.size());
  }
}

// llama.cpp's own tokenizer tests: models/ggml-vocab-<name>.gguf with .inp (inputs separated by
// "\n__ggml_vocab_test__\n") and .out (one line of ids per input; no BOS, specials not parsed).
TEST(PreTokenizerLlamaCpp, LlamaCppVocabularyTestFiles) {
  const std::string dir = testing::llamacpp_vocab_dir();
  TQ_SKIP_IF_MISSING(dir);
  // Tokenizer models we do not implement (WordPiece: BERT; llama.cpp has no .out for the rest).
  const std::set<std::string> skip = {"bert-bge"};
  int n_files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string p = e.path().string();
    if (e.path().extension() != ".gguf" || !fs::exists(p + ".out")) continue;
    std::string name = e.path().stem().string().substr(std::string("ggml-vocab-").size());
    if (skip.count(name)) {
      std::printf("%-16s skipped (WordPiece is not implemented)\n", name.c_str());
      continue;
    }
    auto g = read_gguf(p);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    auto t = Tokenizer::from_gguf_metadata(g->meta, p);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    auto inp = read_file(p + ".inp");
    auto out = read_file(p + ".out");
    ASSERT_TRUE(inp.ok() && out.ok());
    std::vector<std::string> inputs;
    const std::string sep = "\n__ggml_vocab_test__\n";
    for (size_t pos = 0; pos < inp->size();) {
      const size_t next = inp->find(sep, pos);
      inputs.push_back(
          inp->substr(pos, next == std::string::npos ? std::string::npos : next - pos));
      if (next == std::string::npos) break;
      pos = next + sep.size();
    }
    std::istringstream lines(*out);
    int agree = 0, i = 0;
    for (std::string line; std::getline(lines, line); ++i) {
      ASSERT_LT(static_cast<size_t>(i), inputs.size()) << p << ": more outputs than inputs";
      std::vector<int32_t> want;
      std::istringstream ids(line);
      for (int32_t id; ids >> id;) want.push_back(id);
      const auto got = (*t)->encode(inputs[i], false, false);
      if (got == want)
        ++agree;
      else
        ADD_FAILURE() << name << " on \"" << inputs[i] << "\":\n  expected " << ids_string(want)
                      << "\n  tq       " << ids_string(got);
    }
    EXPECT_EQ(static_cast<size_t>(i), inputs.size()) << p;
    std::printf("%-16s %2d/%d inputs as llama.cpp's test file\n", name.c_str(), agree, i);
    ++n_files;
  }
  EXPECT_GE(n_files, 10);
}

}  // namespace
}  // namespace tq

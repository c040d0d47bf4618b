// Golden tokenizer tests on the project's shared data: reference model prompts, corpus
// round-trips, tokenizer.json vs exported GGUF metadata, and llama2 SentencePiece (libsentencepiece
// vs our GGUF-metadata SPM path).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "core/file_util.h"
#include "core/rng.h"
#include "io/model_file.h"
#include "io/tokenizer.h"
#include "../common/scratch_dir.h"
#include "../common/test_seed.h"
#include "../common/test_result.h"

namespace tq {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const std::string kData = TQ_SHARED_DATA;
const std::string kCorpus = kData + "/corpus";
const std::string kLlama2Model = kData + "/models/llama2-tokenizer/tokenizer.model";

std::unique_ptr<Tokenizer> load_ref(const std::string& name) {
  auto mf = open_hf_folder(kData + "/models/" + name);
  EXPECT_TRUE(mf.ok()) << mf.status().to_string();
  if (!mf.ok()) return nullptr;
  auto t = Tokenizer::from_model_file(*mf);
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? std::move(t).value() : nullptr;
}

json load_reference(const std::string& name) {
  auto text = read_file(kData + "/models/" + name + "/reference.json");
  testing::ok_or_throw(text.status());
  return json::parse(*text);
}

std::vector<std::string> corpus_files() {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(kCorpus))
    if (e.is_regular_file()) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class RefModelTokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(RefModelTokenizer, PromptsEncodeToReferenceIds) {
  auto tok = load_ref(GetParam());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->n_vocab(), 8192);
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_EQ(tok->eos_id(), 0);
  EXPECT_FALSE(tok->adds_bos());  // the reference models add no BOS
  EXPECT_TRUE(tok->is_eog(0));
  EXPECT_FALSE(tok->is_eog(1));
  const json ref = load_reference(GetParam());
  ASSERT_EQ(ref["cases"].size(), 3u);
  for (const auto& c : ref["cases"]) {
    const std::string prompt = c["prompt"];
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok->encode(prompt, /*add_special=*/true), want) << prompt;
    EXPECT_EQ(tok->encode(prompt, /*add_special=*/false), want) << prompt;
    EXPECT_EQ(tok->decode(want), prompt);
  }
  // The greedy continuation decodes to the reference text.
  const auto greedy = ref["greedy_ids"].get<std::vector<int32_t>>();
  EXPECT_EQ(tok->decode(greedy), ref["greedy_text"].get<std::string>());
  // Special token in text, and the end-of-text id decodes to its text.
  EXPECT_EQ(tok->encode("<|endoftext|>Once", false), (std::vector<int32_t>{0, 47, 1405}));
}

INSTANTIATE_TEST_SUITE_P(Golden, RefModelTokenizer, ::testing::Values("tq-ref-s", "tq-ref-m"));

TEST(RefModelTokenizerCorpus, ValidFileTokenCountMatchesReference) {
  auto tok = load_ref("tq-ref-s");
  ASSERT_TRUE(tok);
  auto text = read_file(kCorpus + "/valid.txt");
  ASSERT_TRUE(text.ok());
  const auto ids = tok->encode(*text, true);
  EXPECT_EQ(static_cast<int64_t>(ids.size()),
            load_reference("tq-ref-s")["valid_tokens_whole_file"].get<int64_t>());
}

// decode(encode(text)) == text on every corpus file, and the same ids through GGUF metadata.
TEST(RefModelTokenizerCorpus, RoundTripAndGgufMetadataPathOnEveryFile) {
  auto tok = load_ref("tq-ref-m");
  ASSERT_TRUE(tok);
  auto mf = open_hf_folder(kData + "/models/tq-ref-m");
  ASSERT_TRUE(mf.ok());
  Metadata meta;
  ASSERT_TRUE(export_tokenizer_metadata(*mf, meta).ok());
  EXPECT_EQ(*meta.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(*meta.get_string("tokenizer.ggml.pre"), "gpt-2");
  EXPECT_FALSE(meta.get_bool_or("tokenizer.ggml.add_bos_token", true));
  EXPECT_EQ(meta.get_string_array("tokenizer.ggml.tokens")->size(), 8192u);
  EXPECT_EQ(meta.get_string_array("tokenizer.ggml.merges")->size(), 7935u);
  auto from_gguf = Tokenizer::from_gguf_metadata(meta, "exported");
  ASSERT_TRUE(from_gguf.ok()) << from_gguf.status().to_string();

  const auto files = corpus_files();
  ASSERT_GE(files.size(), 6u);
  double total_bytes = 0, total_s = 0;
  for (const auto& f : files) {
    auto text = read_file(f);
    ASSERT_TRUE(text.ok());
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok->encode(*text, false);
    const double s = seconds_since(t0);
    total_bytes += text->size();
    total_s += s;
    std::printf("[ encode ] %-14s %6.2f MB  %9zu tokens  %.2f s  %6.1f MB/s\n",
                fs::path(f).filename().c_str(), text->size() / 1e6, ids.size(), s,
                text->size() / 1e6 / s);
    EXPECT_TRUE(tok->decode(ids) == *text) << f << ": decode(encode(text)) differs";
    EXPECT_TRUE((*from_gguf)->encode(*text, false) == ids)
        << f << ": GGUF-metadata tokenizer gives other ids";
  }
  std::printf("[ encode ] total %.1f MB in %.2f s: %.1f MB/s\n", total_bytes / 1e6, total_s,
              total_bytes / 1e6 / total_s);
  RecordProperty("encode_MB_per_s", std::to_string(total_bytes / 1e6 / total_s));
}

// Text samples from the corpus: whole lines and random byte ranges (cut at UTF-8 boundaries).
std::vector<std::string> corpus_samples(size_t n_samples, uint64_t seed) {
  std::vector<std::string> out;
  Rng rng(seed);
  for (const auto& f : corpus_files()) {
    if (f.find(".txt") == std::string::npos) continue;
    auto text = read_file(f);
    if (!text.ok()) continue;
    for (size_t k = 0; k < n_samples; ++k) {
      size_t b = rng.next_u64() % text->size();
      size_t len = 1 + rng.next_u64() % 3000;
      while (b > 0 && (static_cast<uint8_t>((*text)[b]) & 0xC0) == 0x80) --b;
      size_t e = std::min(text->size(), b + len);
      while (e < text->size() && (static_cast<uint8_t>((*text)[e]) & 0xC0) == 0x80) ++e;
      out.push_back(text->substr(b, e - b));
    }
  }
  return out;
}

TEST(Llama2SentencePiece, GgufMetadataPathEqualsLibSentencePiece) {
  auto sp = Tokenizer::from_sentencepiece_model(kLlama2Model);
  ASSERT_TRUE(sp.ok()) << sp.status().to_string();
  EXPECT_EQ((*sp)->n_vocab(), 32000);
  EXPECT_EQ((*sp)->bos_id(), 1);
  EXPECT_EQ((*sp)->eos_id(), 2);
  EXPECT_EQ((*sp)->unk_id(), 0);
  EXPECT_TRUE((*sp)->adds_bos());
  Metadata meta;
  ASSERT_TRUE((*sp)->export_gguf_metadata(meta).ok());
  EXPECT_EQ(*meta.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_TRUE(meta.get_bool_or("tokenizer.ggml.add_space_prefix", false));
  auto gg = Tokenizer::from_gguf_metadata(meta, "llama2.gguf");
  ASSERT_TRUE(gg.ok()) << gg.status().to_string();
  EXPECT_EQ((*gg)->kind(), Tokenizer::Kind::kSpmScores);

  const uint64_t seed = testing::test_seed();
  auto samples = corpus_samples(60, seed);
  // Fixed cases: byte fallback (emoji, CJK), leading/trailing/multiple spaces, newlines, empty.
  for (const char* s :
       {"Hello world", " Hello", "  two  spaces  ", "tab\there\nnew line\n\n", "",
        "emoji 🙂 and 日本語 and e\xCC\x81", "<s> not special </s>", "1234567 3.14159"})
    samples.push_back(s);
  ASSERT_GE(samples.size(), 300u);
  size_t n_tokens = 0;
  for (const auto& s : samples) {
    const auto want = (*sp)->encode(s, true);
    const auto got = (*gg)->encode(s, true, /*parse_special=*/false);
    ASSERT_EQ(got, want) << "text: '" << s << "'";
    EXPECT_EQ((*sp)->decode(want), s);
    EXPECT_EQ((*gg)->decode(got), s);
    n_tokens += want.size();
  }
  EXPECT_GT(n_tokens, 100000u);
}

// An HF folder with only tokenizer.model: libsentencepiece through from_model_file, exported as a
// GGUF "llama" tokenizer.
TEST(Llama2SentencePiece, HfFolderWithOnlyTokenizerModel) {
  const auto d = testing::scratch_dir("tok_golden");
  const std::string ref = kData + "/models/tq-ref-s/";
  fs::create_symlink(ref + "config.json", d / "config.json");
  fs::create_symlink(ref + "model.safetensors", d / "model.safetensors");
  fs::create_symlink(kLlama2Model, d / "tokenizer.model");
  auto mf = open_hf_folder(d.string());
  ASSERT_TRUE(mf.ok()) << mf.status().to_string();
  auto tok = Tokenizer::from_model_file(*mf);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  EXPECT_EQ((*tok)->kind(), Tokenizer::Kind::kSentencePieceLib);
  EXPECT_EQ((*tok)->encode("Hello world", true), (std::vector<int32_t>{1, 15043, 3186}));
  Metadata meta;
  ASSERT_TRUE(export_tokenizer_metadata(*mf, meta).ok());
  EXPECT_EQ(*meta.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(meta.get_string_array("tokenizer.ggml.tokens")->size(), 32000u);
  EXPECT_EQ(meta.get_float_array("tokenizer.ggml.scores")->size(), 32000u);
  EXPECT_EQ(*meta.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_TRUE(meta.get_bool_or("tokenizer.ggml.add_bos_token", false));
  fs::remove_all(d);
}

}  // namespace
}  // namespace tq

// Llama-3-style and Qwen2-style tokenizer.json fixtures (tests/data/tokenizer, made by
// tools/make_tokenizer_fixtures.py with Hugging Face `tokenizers`): our ids must equal theirs on
// tricky text (emoji, CJK, combining marks, digit runs, contractions, whitespace runs, special and
// added tokens), directly and through exported GGUF metadata.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "io/tokenizer.h"

namespace tq {
namespace {
using nlohmann::json;

const std::string kDir = std::string(TQ_SOURCE_DIR) + "/tests/data/tokenizer/";

struct Fixture {
  std::string name, pre;
};

class TokenizerFixture : public ::testing::TestWithParam<Fixture> {
 protected:
  void SetUp() override {
    auto t = Tokenizer::from_tokenizer_json(kDir + GetParam().name + "/tokenizer.json");
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    tok_ = std::move(t).value();
    auto text = read_file(kDir + GetParam().name + "/cases.json");
    ASSERT_TRUE(text.ok());
    cases_ = json::parse(*text);
    ASSERT_GE(cases_.size(), 15u);
  }
  std::unique_ptr<Tokenizer> tok_;
  json cases_;
};

TEST_P(TokenizerFixture, IdsEqualHuggingFaceTokenizers) {
  for (const auto& c : cases_) {
    const std::string text = c["text"];
    EXPECT_EQ(tok_->encode(text, true), c["ids"].get<std::vector<int32_t>>()) << "text: " << text;
    EXPECT_EQ(tok_->encode(text, false), c["ids_plain"].get<std::vector<int32_t>>())
        << "text: " << text;
    EXPECT_EQ(tok_->decode(c["ids"].get<std::vector<int32_t>>()), c["decoded"].get<std::string>())
        << "text: " << text;
  }
}

TEST_P(TokenizerFixture, GgufMetadataGivesTheSameIds) {
  Metadata meta;
  ASSERT_TRUE(tok_->export_gguf_metadata(meta).ok());
  EXPECT_EQ(*meta.get_string("tokenizer.ggml.pre"), GetParam().pre);
  auto gg = Tokenizer::from_gguf_metadata(meta, "fixture.gguf");
  ASSERT_TRUE(gg.ok()) << gg.status().to_string();
  EXPECT_EQ((*gg)->adds_bos(), tok_->adds_bos());
  EXPECT_EQ((*gg)->bos_id(), tok_->bos_id());
  int compared = 0;
  for (const auto& c : cases_) {
    const std::string text = c["text"];
    // GGUF has no lstrip/rstrip flags for added tokens (llama.cpp decides those by name).
    if (text.find("<mask>") != std::string::npos) continue;
    EXPECT_EQ((*gg)->encode(text, true), c["ids"].get<std::vector<int32_t>>()) << "text: " << text;
    ++compared;
  }
  EXPECT_GE(compared, 15);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerFixture,
                         ::testing::Values(Fixture{"llama3_style", "llama-bpe"},
                                           Fixture{"qwen2_style", "qwen2"}),
                         [](const auto& info) { return info.param.name; });

TEST(TokenizerFixtureProps, Llama3StyleSpecials) {
  auto t = Tokenizer::from_tokenizer_json(kDir + "llama3_style/tokenizer.json");
  ASSERT_TRUE(t.ok());
  const int32_t bot = (*t)->find_token("<|begin_of_text|>");
  EXPECT_EQ((*t)->bos_id(), bot);
  EXPECT_TRUE((*t)->adds_bos());
  EXPECT_TRUE((*t)->is_eog((*t)->find_token("<|eot_id|>")));
  EXPECT_TRUE((*t)->is_special(bot));
  EXPECT_FALSE((*t)->is_special((*t)->find_token("[[custom]]")));
  // parse_special=false: control tokens are text, user-defined ones still match.
  const auto ids = (*t)->encode("<|eot_id|>[[custom]]", false, /*parse_special=*/false);
  EXPECT_EQ(ids.back(), (*t)->find_token("[[custom]]"));
  EXPECT_GT(ids.size(), 3u);
  EXPECT_EQ((*t)->decode(ids), "<|eot_id|>[[custom]]");
  EXPECT_EQ((*t)->decode((*t)->encode("x<|eot_id|>", false), /*skip_special=*/true), "x");
}

}  // namespace
}  // namespace tq
